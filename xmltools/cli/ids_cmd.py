"""``virt-netxml mac`` and ``virt-netxml uuid``: generate and check MAC addresses and UUIDs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from xmltools.cli import completion
from xmltools.cli.main import run_command
from xmltools.cli.options import StrictCommand
from xmltools.errors import InvalidValue, UsageError, WrongDocument
from xmltools.fileio import write_stdout
from xmltools.mac import OUIS, generate_macs, macs_in_documents, normalize_mac, parse_oui
from xmltools.uuids import name_uuid, random_uuid, validate_uuid
from xmltools.xmlparse import parse_file

# Documents whose MACs --exclude understands; anything else named explicitly is a mistake.
_MAC_DOCUMENTS = ("domain", "network", "interface", "networkport", "hookData")


def _report_invalid(values: tuple[str, ...], check: Callable[[str], str]) -> None:
    """Print each value normalised, or one error line per bad value; exit 2 if any was bad."""
    bad = 0
    for value in values:
        try:
            write_stdout(check(value) + "\n")
        except InvalidValue as exc:
            click.echo(f"virt-netxml: error: {exc.message}", err=True)
            bad += 1
    if bad:
        raise click.exceptions.Exit(2)


def _exclude_files(paths: tuple[str, ...]) -> set[str]:
    """MACs used in the given files; a folder means every ``*.xml`` below it of a known kind."""
    trees = []
    for path in paths:
        folder = Path(path)
        if path != "-" and folder.is_dir():
            for file in sorted(folder.rglob("*.xml")):
                tree = parse_file(str(file))
                if tree.getroot().tag in _MAC_DOCUMENTS:
                    trees.append(tree)
            continue
        tree = parse_file(path)
        tag = tree.getroot().tag
        if tag not in _MAC_DOCUMENTS:
            raise WrongDocument(source=path, expected="a <domain>, <network> or <interface> document",
                                found=tag)
        trees.append(tree)
    return macs_in_documents(trees)


MAC_EPILOG = """\b
Examples:
  virt-netxml mac -n 3
  virt-netxml mac --seed vm1 --index 0
  virt-netxml mac --exclude vm.xml --oui xen
  virt-netxml mac --check 52-54-00-AA-BB-CC
"""


@click.command(cls=StrictCommand, epilog=MAC_EPILOG)
@click.option("-n", "--count", type=click.IntRange(1, 100_000), default=1, show_default=True,
              help="How many addresses to print.")
@click.option("--oui", default="qemu", show_default=True, metavar="qemu|xen|XX:XX:XX",
              shell_complete=completion.values(OUIS),
              help="Prefix of the addresses: a preset or any unicast 3-octet prefix.")
@click.option("--seed", metavar="TEXT",
              help="Derive the addresses from this domain UUID or name instead of drawing them at "
                   "random: the same seed and index always give the same address.")
@click.option("--index", "first_index", type=click.IntRange(0), default=0, show_default=True,
              help="With --seed: interface index of the first address.")
@click.option("--exclude", "exclude_paths", multiple=True, metavar="FILE|DIR",
              shell_complete=completion.files,
              help="Skip every MAC used in this domain/network XML file (or *.xml below a folder). "
                   "Repeatable.")
@click.option("--connect", "uri", metavar="URI",
              help="Also skip every MAC used by the domains and networks of this libvirt host.")
@click.option("--check", is_flag=True,
              help="Validate the MAC addresses given as arguments and print them normalised.")
@click.argument("values", nargs=-1, metavar="[MAC...]")
@run_command
def mac(count: int, oui: str, seed: str | None, first_index: int, exclude_paths: tuple[str, ...],
        uri: str | None, check: bool, values: tuple[str, ...]) -> None:
    """Print unused unicast MAC addresses, one a line, or check given ones (--check).

    Random by default; with --seed derived from (seed, index) so that a script re-run gives
    the same addresses. Never multicast, never all-zero, never one that is excluded.
    """
    if check:
        if not values:
            raise UsageError(detail="mac --check needs at least one MAC address")
        if seed is not None or exclude_paths or uri is not None or count != 1 or first_index:
            raise UsageError(detail="mac --check takes MAC addresses only, no generation options")
        _report_invalid(values, normalize_mac)
        return
    if values:
        raise UsageError(detail="MAC addresses as arguments are only taken with --check")
    prefix = parse_oui(oui)
    used = _exclude_files(exclude_paths)
    if uri is not None:
        from xmltools.cli.libvirt_conn import macs_in_use

        used |= macs_in_use(uri)
    for address in generate_macs(count, prefix, used, seed=seed, first_index=first_index):
        write_stdout(address + "\n")


UUID_EPILOG = """\b
Examples:
  virt-netxml uuid -n 2
  virt-netxml uuid --name web1
  virt-netxml uuid --check 6695EB01-F6A4-8304-79AA-97F2502E193F
"""


@click.command(cls=StrictCommand, epilog=UUID_EPILOG)
@click.option("-n", "--count", type=click.IntRange(1, 100_000), default=1, show_default=True,
              help="How many random UUIDs to print.")
@click.option("--name", "names", multiple=True, metavar="TEXT",
              help="Print the UUID derived from this name (version 5): the same name always gives "
                   "the same UUID. Repeatable.")
@click.option("--check", is_flag=True,
              help="Validate the UUIDs given as arguments and print them in dashed lower-case form.")
@click.option("--strict", is_flag=True,
              help="With --check: accept only the two spellings libvirt's schema allows.")
@click.argument("values", nargs=-1, metavar="[UUID...]")
@run_command
def uuid(count: int, names: tuple[str, ...], check: bool, strict: bool, values: tuple[str, ...]) -> None:
    """Print random (version 4) or name-derived (version 5) UUIDs, or check given ones."""
    if check:
        if not values:
            raise UsageError(detail="uuid --check needs at least one UUID")
        if names or count != 1:
            raise UsageError(detail="uuid --check takes UUIDs only, not --name or --count")
        _report_invalid(values, lambda text: validate_uuid(text, strict=strict))
        return
    if values:
        raise UsageError(detail="UUIDs as arguments are only taken with --check")
    if strict:
        raise UsageError(detail="--strict only applies to --check")
    if names:
        if count != 1:
            raise UsageError(detail="--count does not combine with --name (a name has one UUID)")
        for name in names:
            write_stdout(name_uuid(name) + "\n")
        return
    for _ in range(count):
        write_stdout(random_uuid() + "\n")
