"""Run the hook program (``hooks.entry``) in-process with fake host ports, or as a process.

In-process calls pass fakes for every port (tests.fakes), so whatever a payload makes the
planner do never touches the host; process calls are used only with inputs that must be
refused before any action, and still run with a private state and configuration folder.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: (driver, operation) pairs libvirt calls, as the brief lists them.
QEMU_OPS = ("prepare", "start", "started", "stopped", "release", "migrate", "restore", "reconnect")
NETWORK_OPS = ("start", "started", "stopped", "port-created", "port-deleted", "updated")
ALL_OPS = [("qemu", op) for op in QEMU_OPS] + [("network", op) for op in NETWORK_OPS]


@dataclass
class HookResult:
    code: int
    stdout: str
    stderr: str


def hook_env(folder: Path, mapping: bool = True) -> dict[str, str]:
    """Private state and configuration folders (with a migrate mapping so migrate/restore read stdin)."""
    conf = folder / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    (folder / "state").mkdir(exist_ok=True)
    if mapping:
        (conf / "migrate-map.conf").write_text("network capnat = lan\n")
    return {"VIRT_NETXML_STATE_DIR": str(folder / "state"), "VIRT_NETXML_CONFIG_DIR": str(conf),
            "VIRT_NETXML_DEADLINE": "5"}


def fake_ports(shaped: bool = True) -> dict[str, object]:
    """In-memory host ports; ``shaped``: with the links and bridges of the capture machine, so
    the captured inputs' actions find what they expect and the executor's paths run."""
    from tests.fakes import FakeNetlink, FakeOvs, FakeSysfs

    net, ovs, fs = FakeNetlink(), FakeOvs(), FakeSysfs()
    if shaped:
        net.add_bridge("brcap", vlan_filtering=True)
        net.add_link("vnet104", "tun", master="brcap")
        net.add_link("up0", "veth", up=True)
        ovs.add_bridge("ovsbr0")
        ovs.add_port("ovsbr0", "vnet103")
        for port in (net, ovs, fs):
            port.calls.clear()  # the set-up is not the hook's doing
    return {"netlink": net, "ovs": ovs, "sysfs": fs}


class _QuietLog:
    """hooks.run's HookLog without syslog: thousands of fuzz calls must not flood the journal."""

    def __init__(self, real: type) -> None:
        self.real = real

    def __call__(self, owner: object, operation: str, log_file: str | None = None,
                 use_syslog: bool = True) -> object:
        return self.real(owner, operation, log_file, use_syslog=False)


def run_hook(driver: str, argv: list[str], data: bytes, env: dict[str, str],
             ports: dict[str, object] | None = None, raw_argv: bool = False) -> HookResult:
    """``hooks.entry.main`` in this process with fake ports; ``env`` is applied for the call.

    ``raw_argv``: pass ``argv`` as is (no ``--driver``), for fuzzing the argument parsing too.
    """
    import hooks.run
    from hooks.entry import main

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    real_log = hooks.run.HookLog
    hooks.run.HookLog = _QuietLog(real_log)  # type: ignore[assignment,misc]
    out, err = io.StringIO(), io.StringIO()
    try:
        code = main(argv if raw_argv else ["--driver", driver, *argv], stdin=io.BytesIO(data), stdout=out,
                    stderr=err, ports=ports if ports is not None else fake_ports(),
                    program=f"/etc/libvirt/hooks/{driver}.d/50-virt-netxml")
    finally:
        hooks.run.HookLog = real_log  # type: ignore[misc]
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return HookResult(code, out.getvalue(), err.getvalue())


def run_hook_process(driver: str, argv: list[str], data: bytes, env: dict[str, str],
                     timeout: float = 30.0) -> HookResult:
    """``python -m hooks.entry --driver DRIVER ARGV`` with ``data`` on stdin."""
    full = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", **env)
    proc = subprocess.run([sys.executable, "-m", "hooks.entry", "--driver", driver, *argv], input=data,
                          capture_output=True, timeout=timeout, cwd=ROOT, env=full, check=False)
    return HookResult(proc.returncode, proc.stdout.decode("utf-8", "replace"),
                      proc.stderr.decode("utf-8", "replace"))
