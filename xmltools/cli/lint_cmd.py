"""``virt-netxml lint FILE|DIR...``: check libvirt network, domain and interface XML.

Exit status: 0 when no error was found (warnings are printed but do not fail the run unless
``--strict`` is given), 1 when there are findings that fail the run, 2 on a usage error or an
input that cannot be read (a path that does not exist).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO

import click

from xmltools.cli import completion
from xmltools.cli.main import run_command
from xmltools.cli.options import StrictCommand, libvirt_version_option
from xmltools.errors import NetXmlError, OutputError

# Findings whose verdict depends on the target libvirt version.
VERSION_CODES = ("needs-libvirt", "vlan-unsupported")
# Below this many files a progress bar only flickers.
PROGRESS_MIN_FILES = 50


def json_array_on_error(func: Callable[..., None]) -> Callable[..., None]:
    """With --format json, standard output is a JSON array even when the run stops on bad
    input (a missing path): ``[]``, while the error goes to stderr with exit status 2."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            func(*args, **kwargs)
        except NetXmlError as exc:
            if kwargs.get("fmt") == "json" and not isinstance(exc, OutputError):
                from xmltools.fileio import write_stdout

                write_stdout("[]\n")
            raise

    return wrapper


EPILOG = """\b
Examples:
  virt-netxml lint vm.xml
  virt-netxml lint --format json --strict vm.xml
  virt-netxml lint --libvirt-version 11.3 /etc/libvirt/qemu
"""


@click.command("lint", cls=StrictCommand, epilog=EPILOG)
@click.argument("paths", nargs=-1, required=True, metavar="FILE|DIR...", shell_complete=completion.files)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="One line per finding, or a JSON array of objects.")
@click.option("--strict", is_flag=True, help="Warnings fail the run too (exit 1).")
@click.option("--libvirt-schemas/--no-libvirt-schemas", "libvirt_schemas", default=None,
              help="Also validate whole documents against libvirt's installed schemas. Default: "
                   "networks yes (cheap), domains no (libvirt's domain.rng dominates the cost; "
                   "the domain's interfaces are always checked against virt-netxml's grammar).")
@click.option("--quiet", "-q", is_flag=True, help="Print only errors, not warnings.")
@click.option("--scope", type=click.Choice(["run", "dir"]), default="run", show_default=True,
              help="What one host is, for duplicate names, UUIDs and MACs and for the networks "
                   "domains name: 'run', every file of the run; 'dir', each folder named on the "
                   "command line (with everything below it), and for a file named by itself its "
                   "own folder.")
@click.option("--verbose", "-v", is_flag=True,
              help="Also note the files passed over: *.xml files that are not XML or not libvirt documents.")
@click.option("--libvirt-schema-dir", "libvirt_schema_dir", metavar="DIR",
              envvar="VIRT_NETXML_LIBVIRT_SCHEMAS",
              help="libvirt's schemas of the target release (e.g. another release's "
                   "usr/share/libvirt/schemas). Default: the installed ones, used for the kinds "
                   "without virt-netxml's own grammar (nwfilter, storage, secret, snapshot, ...) "
                   "when they are the target's release or newer. Environment: VIRT_NETXML_LIBVIRT_SCHEMAS.")
@libvirt_version_option
@run_command
@json_array_on_error
def lint(paths: tuple[str, ...], fmt: str, scope: str, strict: bool, libvirt_schemas: bool | None,
         quiet: bool,
         libvirt_version: str | None, verbose: bool = False, libvirt_schema_dir: str | None = None) -> None:
    """Lint libvirt network, domain and standalone interface documents, and every other libvirt
    document kind (nwfilter, storage pool and volume, secret, snapshot, ...) against libvirt's
    schema for it.

    Folders are searched recursively for *.xml files; '-' reads standard input. Names, UUIDs
    and MAC addresses must be unique on each host (--scope). When a host's files include
    networks, each domain interface must name one of them (and one of its portgroups), and a
    <vlan> or vnx:vlan on it must be one its network's ports can carry. Only regular files are
    read: a FIFO, device or socket, and a symbolic link inside a folder, are skipped with a note
    on stderr (a link to a file the run lints anyway, quietly). libvirt's tree (/etc/libvirt or
    a copy) is understood: autostart/ links are checked, never read; nwfilter references are
    checked when the run has an nwfilter/ folder; *.xml files that are not XML or not libvirt
    documents are passed over (named with --verbose).
    """
    from xmltools import versions
    from xmltools.checks.crossfile import HostScope
    from xmltools.fileio import write_stdout
    from xmltools.lint import Linter, collect

    target = versions.resolve(libvirt_version)
    found = collect(paths)
    files = found.files
    linter = Linter(libvirt_schemas=libvirt_schemas, libvirt_version=target.version,
                    libvirt_schema_dir=libvirt_schema_dir)
    linter.hosts = HostScope.of(paths, scope)
    findings = []
    if want_progress(len(files), sys.stderr):
        with click.progressbar(files, label="linting", file=sys.stderr) as bar:
            for path, named in bar:
                findings.extend(linter.lint_file(path, named))
    else:
        for path, named in files:
            findings.extend(linter.lint_file(path, named))
    findings.extend(linter.finish(found.layout))
    findings.extend(linter.crossfile_findings())
    # Not findings (they change no exit status), but a *.xml that was not read is said aloud.
    for path, why in found.skipped + linter.skipped + (linter.passed_over if verbose else []):
        click.echo(f"virt-netxml: note: {path}: skipped: {why}", err=True)
    for note in linter.notes():
        click.echo(f"virt-netxml: note: {note}", err=True)
    failing = any(f.severity == "error" or strict for f in findings)
    if quiet:
        findings = [f for f in findings if f.severity == "error"]
    if fmt == "json":
        import json

        write_stdout(json.dumps([f.to_dict() for f in findings], indent=2) + "\n")
    else:
        write_stdout("".join(f"{f}\n" for f in findings))
        if not target.given and any(f.code in VERSION_CODES for f in findings):
            # The verdict depends on the version: say which one was assumed, and how to choose.
            click.echo(f"virt-netxml: note: checked for {target.describe()}; "
                       "--libvirt-version X.Y checks for another", err=True)
    if failing:
        click.get_current_context().exit(1)


def want_progress(count: int, stream: TextIO) -> bool:
    """A progress bar only helps a person watching a terminal, and only for many files."""
    return count >= PROGRESS_MIN_FILES and stream.isatty()
