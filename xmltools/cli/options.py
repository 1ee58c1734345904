"""Helpers shared by the subcommands: one-line argv errors, integer options, writing output."""

from __future__ import annotations

from typing import Any

import click

from xmltools.cli.main import ProjectError
from xmltools.errors import InvalidValue, UsageError
from xmltools.fileio import write_file, write_stdout


class StrictCommand(click.Command):
    """A command whose single-valued options may be given once: ``--index 0 --index 1`` is an
    error ("--index given twice"), not "the last one wins". Repeatable options
    (``multiple=True``) and counters stay repeatable."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not ctx.resilient_parsing:   # shell completion parses half-typed lines: no verdicts
            # A first pass only to see which options were given how often (the parser consumes
            # the list it is given); the real parse below reports every other mistake.
            _, _, order = self.make_parser(ctx).parse_args(args=list(args))
            seen: set[int] = set()
            for param in order:
                if not isinstance(param, click.Option) or param.multiple or param.count \
                        or param.is_eager:
                    continue
                if id(param) in seen:
                    raise click.UsageError(f"{option_name(param)} given twice", ctx)
                seen.add(id(param))
        return super().parse_args(ctx, args)


def option_name(param: click.Option) -> str:
    """How help shows an option: its long name, with the negative form of a flag pair."""
    longs = [o for o in param.opts if o.startswith("--")] or list(param.opts)
    return "/".join([longs[0], *param.secondary_opts])


class OneLineCommand(StrictCommand):
    """Report argv mistakes (unknown option, missing value, a single-valued option given twice)
    as one line and exit 2, like bad values.

    ``sections``: the options' help in named groups, ``[("Select", ["mac", "index"]), ...]`` by
    parameter name, in that order; options no group names follow under "Other options". A long
    flat list hides what belongs together (which options select, which change, which write).
    """

    def __init__(self, *args: Any, sections: list[tuple[str, list[str]]] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sections = sections or []

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if not self.sections:
            super().format_options(ctx, formatter)
            return
        records = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None and param.name is not None and isinstance(param, click.Option):
                records[param.name] = record
        for title, names in [*self.sections, ("Other options", list(records))]:
            rows = [records.pop(name) for name in names if name in records]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise ProjectError(UsageError(detail=exc.format_message())) from None


def int_option(text: str | None, option: str) -> int | None:
    """Options are taken as text so a bad number is reported like every other bad value."""
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidValue(what=option, value=text, reason="not a whole number") from None


def write_document(text: str, path: str | None, output: str | None, in_place: bool) -> None:
    """Print ``text``, or replace ``output``/``path`` atomically.

    An existing file keeps its owner, group and permission bits (never setuid/setgid/sticky);
    a symlink is written through, a device or FIFO written into (see xmltools.fileio). The
    bytes are in the encoding the document's XML declaration names, wherever they go.
    """
    from xmltools.preserve import encode_document

    data = encode_document(text)
    target = path if in_place else output
    if target is None or target == "-":
        write_stdout(data)
        return
    write_file(target, data, keep=True)


def check_output_options(path: str | None, output: str | None, in_place: bool, what: str) -> None:
    if in_place and output is not None:
        raise UsageError(detail="-i (in place) and -o contradict each other")
    if in_place and path is None:
        raise UsageError(detail=f"-i edits {what} in place: give {what}")
    if in_place and path == "-":
        raise UsageError(detail="-i cannot edit standard input in place; use -o FILE")


LIBVIRT_VERSION_HELP = ("The libvirt version to write or check for (X.Y or X.Y.Z). Default: "
                        "$VIRT_NETXML_LIBVIRT_VERSION, else the daemon's with --connect, else the "
                        "libvirt installed here, else the newest virt-netxml knows.")


def libvirt_version_option(command: Any) -> Any:
    """``--libvirt-version X.Y[.Z]``, shared by network, interface, edit and lint."""
    return click.option("--libvirt-version", "libvirt_version", metavar="X.Y[.Z]", default=None,
                        help=LIBVIRT_VERSION_HELP)(command)
