"""Entry point of ``virt-netxml``.

Subcommands live in their own modules and are imported only when invoked, so ``virt-netxml
mac`` does not pay for libvirt, pyroute2 or xmlschema. Every project error becomes one line on
stderr and its documented exit code here, in one place.

The core's commands are listed here. Any other command (``hooks``) comes from an entry point of
the ``virt_netxml.commands`` group that its distribution declares (pyproject.toml), so this
package never names the packages layered above it: ``xmltools`` <- ``hooks`` <- the command line.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from xmltools.errors import NetXmlError

# name -> "module:attribute"; each module defines one click command or group.
COMMANDS: dict[str, str] = {
    "network": "xmltools.cli.network_cmd:network",
    "interface": "xmltools.cli.interface_cmd:interface",
    "edit": "xmltools.cli.edit_cmd:edit",
    "lint": "xmltools.cli.lint_cmd:lint",
    "mac": "xmltools.cli.ids_cmd:mac",
    "uuid": "xmltools.cli.ids_cmd:uuid",
    "attach": "xmltools.cli.attach_cmd:attach",
    "detach": "xmltools.cli.attach_cmd:detach",
}

COMMAND_GROUP = "virt_netxml.commands"   # entry points of other commands (``hooks``)


def plugin_commands(group: str = COMMAND_GROUP, path: list[str] | None = None) -> dict[str, str]:
    """name -> "module:attribute" of the entry points in ``group`` of the installed distributions.

    What ``importlib.metadata.entry_points(group=...)`` returns (the first distribution of a name
    on ``sys.path`` counts, as there), read straight from the ``entry_points.txt`` files of the
    ``.dist-info``/``.egg-info`` folders: importing ``importlib.metadata`` alone costs more than
    click (about 25 ms), paid by every ``--help`` and ``hooks`` call. Read only when a command is
    not a core one, or all are listed. A test holds the two to the same answer.
    """
    found: dict[str, str] = {}
    seen: set[str] = set()
    for entry in sys.path if path is None else path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue   # a zip file, or a folder that is gone: nothing of ours is installed there
        for name in names:
            stem, dot, suffix = name.rpartition(".")
            if suffix not in ("dist-info", "egg-info") or not dot:
                continue
            dist = stem.split("-")[0].lower().replace(".", "_")   # as importlib.metadata compares
            if dist in seen:
                continue
            seen.add(dist)
            try:
                with open(os.path.join(entry or ".", name, "entry_points.txt"), encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                continue
            section = None
            for line in text.splitlines():
                line = line.strip()
                if line.startswith("[") and line.endswith("]"):
                    section = line[1:-1].strip()
                elif section == group and "=" in line and not line.startswith(("#", ";")):
                    key, _, value = line.partition("=")
                    found.setdefault(key.strip(), value.strip())
    return found


class WholeSummaries(click.Group):
    """A group whose command list shows each command's whole first sentence."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click cuts each summary to what fits beside the names on one line ("Edit the
        # interfaces of a domain (or an <interface> file), or..."); the whole first sentence
        # is shown instead, wrapped.
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class LazyGroup(WholeSummaries):
    _plugins: dict[str, str] | None = None

    def plugins(self) -> dict[str, str]:
        if self._plugins is None:
            self._plugins = {n: t for n, t in plugin_commands().items() if n not in COMMANDS}
        return self._plugins

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.plugins()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name) or self.plugins().get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                return None  # that command is not part of this installation
            raise
        command: click.Command = getattr(module, attr)
        return command


EPILOG = """\b
Examples:
  virt-netxml network lab --ip 192.168.130.1/24 \\
      --dhcp-range 192.168.130.10,192.168.130.99 -o lab.xml
  virt-netxml interface --type network --source lab --domain vm.xml -i
  virt-netxml lint lab.xml
  virt-netxml COMMAND --help        (each command's options and examples)

\b
Shell completion (bash; zsh and fish: zsh_source, fish_source):
  eval "$(_VIRT_NETXML_COMPLETE=bash_source virt-netxml)"
"""


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="virt-netxml")
def cli() -> None:
    """Generate, edit and lint libvirt network and interface XML; manage the hooks."""


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI, turning project errors into one line on stderr and their exit code."""
    try:
        result = cli.main(args=argv, prog_name="virt-netxml", standalone_mode=False)
        sys.stdout.flush()  # what is still buffered fails here, in one line, not at exit
        return result
    except NetXmlError as exc:
        click.echo(f"virt-netxml: error: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("virt-netxml: aborted", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except OSError as exc:
        # Output the commands print line by line (click.echo) to a closed pipe or a full
        # device, or a file operation outside the project's own error handling: one line.
        import errno

        from xmltools.errors import OutputError
        from xmltools.fileio import silence_stdout

        reason = exc.strerror or str(exc)
        if exc.filename is None and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
            silence_stdout()  # (click itself handles EPIPE: commands print through write_stdout)
            message = OutputError(target="standard output", detail=reason).message
        else:
            message = f"{exc.filename}: {reason}" if exc.filename is not None else reason
        click.echo(f"virt-netxml: error: {message}", err=True)
        sys.exit(2)


def run_command(func: Any) -> Any:
    """Decorator for subcommands: project errors raised inside become ClickExceptions.

    Needed for click's test runner and for nested invocations, where ``main`` is not on the
    stack to translate them.
    """
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NetXmlError as exc:
            raise ProjectError(exc) from None

    return wrapper


class ProjectError(click.ClickException):
    def __init__(self, error: NetXmlError) -> None:
        super().__init__(error.message)
        self.exit_code = error.exit_code  # type: ignore[misc]

    def show(self, file: Any = None) -> None:
        click.echo(f"virt-netxml: error: {self.message}", err=True)


if __name__ == "__main__":
    # click hands a command's exit status back as main's result (standalone_mode=False): the
    # console script passes it to sys.exit, and so must ``python -m xmltools.cli.main``
    sys.exit(main())
