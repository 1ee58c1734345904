"""``hooks repair`` beside a ``release`` of the same domain, both real processes, many times."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.faults.host import state_problems
from tests.faults.kill_runs import host_state, make_host
from tests.faults.procs import run, spawn
from tests.faults.scenarios import VFIO_DOMAIN
from tests.sysfs_tree import KernelSim

QEMU = ["--driver", "qemu"]


@dataclass
class Outcome:
    runs: int = 0
    clean: int = 0
    failures: list[str] = field(default_factory=list)


def race_once(base: Path) -> list[str]:
    """prepare a domain (VF on vfio-pci, claim held), then release and repair at once; the
    host and the state must end as before the prepare, whoever wins each step."""
    tree = make_host(base)
    prior = host_state(tree, base)
    problems: list[str] = []
    with KernelSim(tree):
        rc, err = run(base, "entry", QEMU + ["vfiovm", "prepare", "begin", "-"], VFIO_DOMAIN)
        if rc != 0:
            return [f"prepare failed: {err}"]
        release = spawn(base, "entry", QEMU + ["vfiovm", "release", "end", "-"])
        repair = spawn(base, "repair", [])
        for what, proc in (("release", release), ("repair", repair)):
            out, err_bytes = proc.communicate(b"", timeout=60)
            if proc.returncode != 0 or out:
                problems.append(f"{what}: exit {proc.returncode}: {err_bytes.decode().strip()}")
        problems += state_problems(base / "state")
        # One more repair must find nothing left, and change nothing.
        rc, err = run(base, "repair", [])
        if rc != 0:
            problems.append(f"second repair: exit {rc}: {err.strip()}")
    after = host_state(tree, base)
    if after != prior:
        problems.append(f"host not restored: {after} != {prior}")
    return problems


def race(work: Path, iterations: int) -> Outcome:
    outcome = Outcome()
    for i in range(iterations):
        problems = race_once(work / f"race{i}")
        outcome.runs += 1
        outcome.clean += not problems
        outcome.failures += [f"iteration {i}: {p}" for p in problems]
    return outcome
