"""Hook calls whose host call never returns; used by the tests and ``bench/fault_matrix.py``.

Each case runs the real hook process with a short deadline and reports how long it took to
end (``communicate()`` returns only at EOF on stdout and stderr: no process left holding the
pipes libvirt waits on), what it said, and what is wrong, if anything.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.faults.host import state_records
from tests.faults.kill_runs import host_state, make_host
from tests.faults.procs import hook_env, spawn
from tests.faults.scenarios import OVS_PORT, VFIO_DOMAIN
from tests.sysfs_tree import KernelSim

DEADLINE = 1.5
# Python start-up and the imports of the hook process, plus at most the rollback grace.
SLACK = 3.5
PREPARE = ["--driver", "qemu", "vfiovm", "prepare", "begin", "-"]


@dataclass
class HangResult:
    case: str
    exit_code: int = -1
    seconds: float = 0.0
    stderr: str = ""
    problems: list[str] = field(default_factory=list)


def _run_timed(result: HangResult, base: Path, argv: list[str], stdin: str, pause: int = 0,
               **env: str) -> None:
    started = time.monotonic()
    proc = spawn(base, "entry", argv, pause=pause, env=hook_env(base, DEADLINE, **env))
    out, err = proc.communicate(stdin.encode(), timeout=60)   # returns at EOF of stdout and stderr
    result.seconds = time.monotonic() - started
    result.exit_code, result.stderr = proc.returncode, err.decode()
    if proc.returncode != 1 or out or result.stderr.count("\n") != 1:
        result.problems.append(f"expected exit 1 and one line: {proc.returncode} {out!r} {result.stderr!r}")
    if result.seconds > DEADLINE + SLACK:
        result.problems.append(f"took {result.seconds:.2f}s with a deadline of {DEADLINE:g}s")


def processes_mentioning(text: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if text.encode() in cmdline:
                pids.append(int(entry))
    return pids


def parked_adapter(work: Path) -> HangResult:
    """The adapter parks forever at the unbind (after driver_override was set): the deadline
    interrupts it, the override and the claim are put back."""
    result = HangResult("adapter call never returns (vfio bind)")
    base = work / "parked"
    tree = make_host(base)
    prior = host_state(tree, base)
    with KernelSim(tree):
        _run_timed(result, base, PREPARE, VFIO_DOMAIN, pause=2)
    if not (base / "paused").exists():
        result.problems.append("never reached the second write")
    if f"the hook's deadline of {DEADLINE:g}s passed" not in result.stderr or "rolled back 1 of 1" not in \
            result.stderr:
        result.problems.append(f"message: {result.stderr!r}")
    if host_state(tree, base) != prior:
        result.problems.append("host not rolled back")
    return result


def stuck_sysfs_write(work: Path) -> HangResult:
    """The driver's unbind file is a FIFO nobody reads: the write blocks as a stuck driver's
    would. The writer child is killed, the hook fails on time, the device is as before."""
    result = HangResult("sysfs write stuck in the kernel (unbind)")
    base = work / "stuck"
    tree = make_host(base)
    unbind = tree.root / "sys/bus/pci/drivers/igbvf/unbind"
    unbind.unlink()
    os.mkfifo(unbind)
    prior = host_state(tree, base)
    _run_timed(result, base, PREPARE, VFIO_DOMAIN)
    if "bind 0000:04:10.2 to vfio-pci" not in result.stderr or not (
            "timed out" in result.stderr or "deadline" in result.stderr):
        result.problems.append(f"message: {result.stderr!r}")
    if host_state(tree, base) != prior or state_records(base / "state") != {}:
        result.problems.append("host or state not rolled back")
    return result


def silent_ovsdb(work: Path) -> HangResult | None:
    """The real ovs-vsctl against a socket that accepts connections and never replies.
    None when ovs-vsctl is not installed."""
    if shutil.which("ovs-vsctl") is None:
        return None
    result = HangResult("ovsdb never answers (real ovs-vsctl)")
    base = work / "ovsdb"
    (base / "root").mkdir(parents=True)
    sock_path = str(base / "silent.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(16)
    try:
        _run_timed(result, base, ["--driver", "qemu", "ovsvm", "start", "begin", "-"], OVS_PORT,
                   VIRT_NETXML_OVS_DB=sock_path)
    finally:
        listener.close()
    err = result.stderr
    if "interface 52:54:00:00:00:02 (vnet1)" not in err or not ("deadline" in err or "timed out" in err):
        result.problems.append(f"message: {err!r}")
    if processes_mentioning(sock_path):
        result.problems.append("an ovs-vsctl outlived the hook")
    return result
