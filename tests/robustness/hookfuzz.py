"""One hook call under fuzzing: the contract every (argv, stdin) must meet. Shared with fuzz/."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.robustness.hookrun import HookResult, fake_ports, hook_env, run_hook
from xmltools.errors import NetXmlError
from xmltools.xmlparse import parse_bytes

#: Port methods that change the host; a refused call must not have made any of them.
MUTATING = {
    "create_tap", "create_macvlan", "delete_link", "set_up", "set_master", "add_address",
    "set_bridge_vlan_filtering", "bridge_vlan_add", "bridge_vlan_del", "set_vf", "add_port", "del_port",
    "set_port_vlan", "set_column_key", "set_driver_override", "unbind", "drivers_probe", "set_sriov_numvfs",
    "transact",
}


def mutating_calls(ports: dict[str, object]) -> list[tuple[object, ...]]:
    return [c for p in ports.values() for c in getattr(p, "calls", []) if c[0] in MUTATING]


def check_hook_call(argv: list[str], data: bytes, folder: Path | None = None) -> HookResult:
    """Run ``argv`` (full hook argv, ``--driver`` included or not) with ``data``; assert the contract.

    No traceback and no 'internal error' (the entry point's catch-all is a bug report, not a
    pass), at most one line on stderr, exit status 0, 1 or 2, and stdout only for a successful
    migrate/restore, holding a whole <domain>. Returns the result for further checks.
    """
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        env = hook_env(Path(tmp))
        ports = fake_ports()
        result = run_hook("qemu", argv, data, env, ports=ports, raw_argv=True)
    assert "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr, result.stderr
    assert result.code in (0, 1, 2), (result.code, result.stderr)
    assert len(result.stderr.splitlines()) <= 1, result.stderr
    if result.stdout:
        assert result.code == 0, result
        assert any(op in argv for op in ("migrate", "restore")), (argv, result.stdout[:200])
        try:
            root = parse_bytes(result.stdout.encode("utf-8")).getroot()
        except NetXmlError as exc:
            raise AssertionError(f"migrate/restore printed XML the parser refuses: {exc.message}") from None
        assert root.tag == "domain"
    if result.code == 2:
        changed = mutating_calls(ports)
        assert not changed, f"refused as bad input after changing the host: {changed}"
    return result
