"""The program libvirt runs: ``<hook> <object> <operation> <sub-operation> <extra>``, XML on stdin.

Start-up cost is paid on every guest start and stop, so this module imports almost nothing:
it looks the operation up, reads stdin only when the decision needs it, asks ``fastpath``
whether any work is possible, and only then imports the planner (lxml) via ``hooks.run``.
pyroute2 is imported later still, by the first action that needs netlink.

Usage (the installed wrapper adds ``--driver``; otherwise the folder name ``qemu.d`` or
``network.d`` of the program decides)::

    python -m hooks.entry [--driver qemu|network] [--dry-run] [--] OBJECT OPERATION [SUB [EXTRA]]

Options are read only before the object (the first other argument, or whatever follows ``--``).

Exit status: 0 on success, for unknown operations and objects, and for ``reconnect`` even on
failure (libvirt would kill the running guest); otherwise 1 when a host change failed (after
rolling back) and 2 when the XML or metadata is invalid. stdout carries XML only for
``migrate``/``restore``, and only when it changed.
"""

from __future__ import annotations

import os
import sys

from hooks import fastpath
from hooks.protocol import driver_from_path, lookup

# typing is not imported at run time: it is a large share of the start-up this module saves.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO, TextIO

MAX_STDIN = 8 * 1024 * 1024


def _parse(argv: list[str]) -> tuple[str | None, bool, list[str]] | str:
    # Options only before the object, and never after "--" (which the installed wrapper always
    # passes): the object is a domain or network name, and libvirt accepts "--dry-run" as one.
    driver: str | None = None
    dry_run = False
    n = 0
    while n < len(argv):
        arg = argv[n]
        if arg == "--driver":
            if n + 1 == len(argv):
                return "--driver needs a value"
            driver = argv[n + 1]
            n += 1
        elif arg.startswith("--driver="):
            driver = arg.split("=", 1)[1]
        elif arg == "--dry-run":
            dry_run = True
        elif arg == "--":
            n += 1
            break
        else:
            break
        n += 1
    return driver, dry_run, argv[n:]


def main(argv: list[str] | None = None, *, stdin: BinaryIO | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None, ports: dict[str, Any] | None = None,
         program: str | None = None) -> int:
    """Run one hook call and return its exit status (never raises for expected problems)."""
    argv = sys.argv[1:] if argv is None else argv
    stdin = stdin if stdin is not None else sys.stdin.buffer
    stdout = stdout if stdout is not None else sys.stdout
    stderr = stderr if stderr is not None else sys.stderr
    parsed = _parse(argv)
    if isinstance(parsed, str):
        stderr.write(f"virt-netxml hook: {parsed}\n")
        return 2
    driver, dry_run, rest = parsed
    driver = driver or driver_from_path(program if program is not None else sys.argv[0])
    if driver is None or len(rest) < 2:
        # Not a call from libvirt we understand (no driver, or e.g. the daemon driver): nothing to do.
        return 0
    name, operation = rest[0], rest[1]
    op = lookup(driver, operation)
    if op is None:
        return 0
    from hooks.config import load_config, mapping_path, state_dir

    try:
        config = load_config()
    except Exception as exc:  # noqa: BLE001 - a broken or untrusted config file: one line, no traceback
        # Nothing from a refused file is used, not even its log file: stderr and syslog only.
        stderr.write(f"virt-netxml hook: {driver} {name} {operation}: {exc}\n")
        import syslog

        syslog.openlog("virt-netxml", syslog.LOG_PID, syslog.LOG_DAEMON)
        syslog.syslog(syslog.LOG_ERR, f"{driver}={name} op={operation} refused: {exc}")
        return 0 if op.fail_exit == 0 else 2
    states, mapping = state_dir(config), mapping_path()
    data: bytes | None = None
    if dry_run or fastpath.reads_stdin(driver, operation):
        data = stdin.read(MAX_STDIN + 1)
    if not dry_run and not fastpath.needs_work(driver, operation, name, data, states, mapping):
        return 0
    if op.filters_xml and data is None:
        data = stdin.read(MAX_STDIN + 1)
    from hooks.etree_loader import load_etree

    load_etree()  # before hooks.run imports it the ordinary way
    from hooks.run import run_call

    return run_call(op, name, data, config, dry_run=dry_run, stdout=stdout, stderr=stderr, ports=ports,
                    reason=rest[3] if len(rest) > 3 else "-")


def run_and_exit() -> None:
    """What the installed hook runs: ``main()``, then end the process at once.

    The interpreter's own clean-up (tearing down the hundred-odd modules a call with work
    imports) costs about 10 ms of CPU per call and frees nothing the kernel would not:
    ``main`` has closed its files and sockets, released its locks and reaped its children by
    the time it returns. Only the standard streams need flushing first.
    """
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105 - contextlib would pull in collections and functools for calls without work
            stream.flush()
        except (OSError, ValueError):
            pass   # the reader is gone (run_call flushed migrate/restore output itself)
    os._exit(code)


if __name__ == "__main__":
    run_and_exit()
