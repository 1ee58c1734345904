"""One hook call that has work to do: parse, plan, apply, report.

Every failure ends here as one line on stderr naming the domain or network, the interface
(MAC and device) and the step, plus what was rolled back; the exit status follows the
operation's row in ``hooks.protocol``.
"""

from __future__ import annotations

import contextlib
import sys

from hooks.actions import render_plan
from hooks.config import check_config_paths, deadline_seconds, mapping_path, ovs_db, read_trusted, state_dir
from hooks.context import Context, Owner
from hooks.deadline import Deadline, armed
from hooks.executor import Executor
from hooks.log import HookLog
from hooks.planner import LiveFacts, owner_of, plan
from hooks.protocol import Operation
from hooks.state import StateStore
from xmltools.errors import NetXmlError
from xmltools.xmlparse import parse_bytes

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from typing import Any, TextIO


def _exit(op: Operation, code: int) -> int:
    return 0 if op.fail_exit == 0 else code


def run_call(op: Operation, name: str, data: bytes | None, config: dict[str, str], *,
             dry_run: bool = False, stdout: TextIO, stderr: TextIO,
             ports: dict[str, Any] | None = None, reason: str = "-") -> int:
    """Plan and apply one call; returns the exit status for libvirt.

    ``config`` comes from ``hooks.config.load_config``, which refuses a configuration others
    could have written. The log file it names is used only once the mapping file and the state
    folder are trusted too: a refusal goes to stderr and syslog only.
    """
    kind = "domain" if op.driver == "qemu" else "network"
    # The name comes from argv: a control character in it must not split the one-line message.
    label = f"{kind} {''.join(c if c.isprintable() else repr(c)[1:-1] for c in name)}"
    log = HookLog(Owner(kind, name), op.name, None, use_syslog=not dry_run)
    # Nothing but migrate/restore output may reach libvirt's stdout, whatever a library prints.
    saved_stdout, sys.stdout = sys.stdout, sys.stderr
    ctx: Context | None = None
    store: StateStore | None = None
    serial = contextlib.ExitStack()   # the per-object lock, held from planning to the end
    try:
        try:
            # Before anything is read from them: paths others can write must not steer root.
            check_config_paths()
            store = StateStore(state_dir(config))
            store.check()
            log.attach_file(config.get("log-file"), stderr.write)
            root = parse_bytes(data, source=f"{op.driver} {op.name} input") if data else None
            uuid = None
            if root is not None:
                xml_name, uuid = owner_of(op, root.getroot())
                name = xml_name or name
            deadline = Deadline(deadline_seconds(config))
            ctx = Context(Owner(kind, name, uuid), store, deadline, ovs_db=ovs_db(config), **(ports or {}))
            if not dry_run:
                serial.enter_context(ctx.state.serialised(kind + "s", name, deadline.remaining()))
            record = ctx.state.read(kind + "s", name)
            mapping = None
            if op.filters_xml:
                from hooks.transform import parse_mapping  # migrate/restore only

                text = read_trusted(mapping_path(), "mapping file", 1024 * 1024,
                                    folder_what="configuration directory")
                mapping = parse_mapping(text, mapping_path()) if text is not None else None
            with armed(deadline, lambda: "plan"):
                actions = plan(op, root.getroot() if root is not None else None, LiveFacts(ctx),
                               record, mapping, reason)
        except NetXmlError as exc:
            stderr.write(f"virt-netxml: {label}: {op.name}: {exc.message}\n")
            log.error(f"refused: {exc.message}")
            return _exit(op, exc.exit_code)
        if dry_run:
            stderr.write(f"virt-netxml: {label}: {op.name}: plan (dry run, nothing changed):\n")
            stderr.write(render_plan(actions))
            return 0
        if not actions:
            return 0
        result = Executor(ctx, log).run(actions, best_effort=op.best_effort)
        if result.ok:
            if op.filters_xml and ctx.output:
                stdout.write(ctx.output[-1])
                stdout.flush()
            log.event(f"done: {result.summary()}")
            return 0
        assert result.error is not None
        where = f": interface {result.failed.iface}" if result.failed and result.failed.iface else ""
        message = f"{label}: {op.name}{where}: {result.error.message}; {result.summary()}"
        stderr.write(f"virt-netxml: {message}\n")
        log.error(f"failed: {message}")
        return _exit(op, result.error.exit_code)
    except Exception as exc:  # noqa: BLE001 - a bug must still end in one line, not a traceback
        stderr.write(f"virt-netxml: {label}: {op.name}: internal error: {type(exc).__name__}: {exc}\n")
        log.error(f"internal error: {type(exc).__name__}: {exc}")
        return _exit(op, 1)
    finally:
        serial.close()
        sys.stdout = saved_stdout
        log.close()
        if ctx is not None:
            with contextlib.suppress(Exception):   # closing a socket must not change the outcome
                ctx.close()
        if store is not None:
            store.close()
