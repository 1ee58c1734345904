"""Kill the real hook process between two host changes, then recover; used by the tests and
by ``bench/fault_matrix.py``.

The process runs ``tests/faults/hookproc.py`` (the real ``hooks.entry.main`` with the sysfs
adapter on a fake tree, or real netlink inside a namespace) and parks at the chosen write;
the test SIGKILLs it there, then runs ``hooks repair`` or the domain's next event, and
compares the host with how it was before.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.faults.host import state_problems, state_records
from tests.faults.procs import run, spawn
from tests.faults.scenarios import SRIOV_NET, VFIO_DOMAIN, domain
from tests.netns.harness import ip, netns
from tests.sysfs_tree import KernelSim, SysfsTree

QEMU = ["--driver", "qemu"]
NETWORK = ["--driver", "network"]

# name -> (argv, stdin, the next event that also recovers, or None)
CASES = {
    "vfio bind at prepare": (QEMU + ["vfiovm", "prepare", "begin", "-"], VFIO_DOMAIN,
                             QEMU + ["vfiovm", "release", "end", "-"]),
    "sriov_numvfs at network start": (NETWORK + ["vfpool", "start", "begin", "-"],
                                      SRIOV_NET.replace("numvfs='4'", "numvfs='2'"), None),
}

TAP_DOMAIN = domain("tapvm",
                    "<vnx:interface mac='52:54:00:00:00:03'><vnx:tap bridge='brk0'/></vnx:interface>",
                    "<interface type='ethernet'><mac address='52:54:00:00:00:03'/>"
                    "<target dev='tapk0' managed='no'/></interface>")


@dataclass
class KillResult:
    case: str
    writes: int = 0            # host changes in a fault-free run
    killed: int = 0            # runs SIGKILLed at a pause point
    survived: int = 0          # ... after which the recovery restored the prior host
    failures: list[str] = field(default_factory=list)


def run_and_kill(base: Path, argv: list[str], stdin: str, pause: int, ns: str | None = None) -> bool:
    """Start the hook, wait until it parks at ``pause``, SIGKILL it. False if it never parked."""
    (base / "paused").unlink(missing_ok=True)
    proc = spawn(base, "entry", argv, pause=pause, ns=ns)
    assert proc.stdin is not None
    proc.stdin.write(stdin.encode())
    proc.stdin.close()
    end = time.monotonic() + 30
    while not (base / "paused").exists():
        if proc.poll() is not None:
            return False
        if time.monotonic() > end:
            proc.kill()
            raise TimeoutError("the hook neither parked nor ended")
        time.sleep(0.01)
    time.sleep(0.01)   # the pid is written: the hook is parked
    # The hook itself, not `ip netns exec` (which execs it anyway: the same pid).
    os.kill(int((base / "paused").read_text()), signal.SIGKILL)
    proc.wait(10)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    return True


def make_host(base: Path) -> SysfsTree:
    """A PF with four VFs (0000:04:10.0-3, on igbvf) in a fake sysfs tree under ``base/root``."""
    base.mkdir(parents=True)
    tree = SysfsTree(base / "root")
    tree.add_pf("0000:04:00.0", "enp4s0f0", total_vfs=8, numvfs=4)
    return tree


def host_state(tree: SysfsTree, base: Path) -> dict:
    """What the hooks could change on the tree: drivers, overrides, VF counts, vfio groups, state."""
    devices = {}
    for dev in sorted((tree.root / "sys/bus/pci/devices").iterdir()):
        override = (dev / "driver_override").read_text().strip()
        numvfs = dev / "sriov_numvfs"
        devices[dev.name] = (tree.driver_of(dev.name), None if override in ("", "(null)") else override,
                             numvfs.read_text().strip() if numvfs.exists() else None)
    return {"devices": devices, "vfio": sorted(os.listdir(tree.root / "dev/vfio")),
            "state": state_records(base / "state")}


def kill_sysfs_case(case: str, work: Path) -> KillResult:
    """Kill before and after each write of ``case``; recover by repair (and the next event)."""
    argv, stdin, next_event = CASES[case]
    result = KillResult(case)
    clean = work / "clean"
    tree = make_host(clean)
    prior = host_state(tree, clean)
    with KernelSim(tree):
        rc, err = run(clean, "entry", argv, stdin)
    if rc != 0 or err:
        result.failures.append(f"fault-free run failed: {err}")
        return result
    result.writes = int((clean / "count").read_text())
    recoveries = ["repair"] + (["next event"] if next_event else [])
    for point in [p for k in range(1, result.writes + 1) for p in (k, -k)]:
        for recovery in recoveries:
            base = work / f"kill{point}-{recovery.replace(' ', '-')}"
            tree = make_host(base)
            with KernelSim(tree):
                if not run_and_kill(base, argv, stdin, point):
                    result.failures.append(f"point {point}: the hook never got there")
                    continue
                result.killed += 1
                problems = state_problems(base / "state")
                rc, err = run(base, "repair", []) if recovery == "repair" else run(
                    base, "entry", next_event or [], "")
                time.sleep(0.05)   # let KernelSim finish a probe the recovery asked for
            if rc != 0:
                problems.append(f"{recovery} failed: {err.strip()}")
            if host_state(tree, base) != prior:
                problems.append(f"host not restored by {recovery}")
            result.survived += not problems
            result.failures += [f"point {point}, {recovery}: {p}" for p in problems]
    return result


def _links(ns: str) -> dict[str, str]:
    """name -> 'master,UP|DOWN' of every link in the namespace."""
    links = {}
    for line in ip("-o", "link", "show", ns=ns).stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        master = line.split(" master ")[1].split()[0] if " master " in line else "-"
        links[name] = f"{master},{'UP' if '<UP' in line or ',UP' in line else 'DOWN'}"
    return links


def kill_real_tap(work: Path) -> KillResult:
    """A real TAP and Linux bridge in a throw-away namespace: kill before and after each of
    create, plug and up; ``hooks repair`` must leave the namespace as it was."""
    result = KillResult("TAP (real, in a network namespace)")
    argv = QEMU + ["tapvm", "prepare", "begin", "-"]
    with netns("vnxkill") as ns:
        ip("link", "add", "brk0", "type", "bridge", ns=ns)
        ip("link", "set", "brk0", "up", ns=ns)
        prior = _links(ns)
        clean = work / "clean"
        (clean / "root").mkdir(parents=True)
        rc, err = run(clean, "entry", argv, TAP_DOMAIN, ns=ns)
        if rc != 0 or _links(ns).get("tapk0") != "brk0,UP":
            result.failures.append(f"fault-free run failed: {err} {_links(ns)}")
            return result
        result.writes = int((clean / "count").read_text())
        rc, err = run(clean, "entry", QEMU + ["tapvm", "release", "end", "-"], "", ns=ns)
        if rc != 0 or _links(ns) != prior:
            result.failures.append(f"fault-free release failed: {err}")
            return result
        for point in [p for k in range(1, result.writes + 1) for p in (k, -k)]:
            base = work / f"kill{point}"
            (base / "root").mkdir(parents=True)
            if not run_and_kill(base, argv, TAP_DOMAIN, point, ns):
                result.failures.append(f"point {point}: the hook never got there")
                continue
            result.killed += 1
            problems = state_problems(base / "state")
            rc, err = run(base, "repair", [], ns=ns)
            if rc != 0:
                problems.append(f"repair failed: {err.strip()}")
            if _links(ns) != prior:
                problems.append(f"namespace not restored: {_links(ns)}")
            result.survived += not problems
            result.failures += [f"point {point}: {p}" for p in problems]
    return result
