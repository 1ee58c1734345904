"""Rounds of many domains reserving VFs of one pool at once, as separate hook processes."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.faults.host import state_problems, state_records
from tests.faults.procs import run, spawn
from tests.faults.scenarios import domain, network
from tests.sysfs_tree import SysfsTree

POOL = "vfpool"
POOL_NET = network(POOL, "<forward mode='hostdev' managed='yes'><pf dev='enp4s0f0'/></forward>")
QEMU = ["--driver", "qemu"]


def pool_domain(n: int) -> str:
    mac = f"52:54:00:10:00:{n:02x}"
    return domain(f"poolvm{n}", "", f"<interface type='network'><mac address='{mac}'/>"
                  f"<source network='{POOL}'/></interface>")


def make_pool_host(base: Path, vfs: int) -> SysfsTree:
    """A PF with ``vfs`` VFs, and the pool network started (the hook records the pool)."""
    base.mkdir(parents=True)
    tree = SysfsTree(base / "root")
    tree.add_pf("0000:04:00.0", "enp4s0f0", total_vfs=vfs, numvfs=vfs)
    rc, err = run(base, "entry", ["--driver", "network", POOL, "start", "begin", "-"], POOL_NET)
    assert rc == 0 and err == "", err
    return tree


@dataclass
class Round:
    winners: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)    # domain -> its one stderr line
    other: dict[str, tuple[int, str]] = field(default_factory=dict)
    seconds: float = 0.0


def prepare_at_once(base: Path, domains: list[int]) -> Round:
    """Start a prepare hook per domain, all before any finishes; collect the outcomes."""
    started = time.monotonic()
    procs = {n: spawn(base, "entry", QEMU + [f"poolvm{n}", "prepare", "begin", "-"]) for n in domains}
    result = Round()
    for n, proc in procs.items():
        out, err = proc.communicate(pool_domain(n).encode(), timeout=120)
        name, text = f"poolvm{n}", err.decode()
        if proc.returncode == 0 and not out and not text:
            result.winners.append(name)
        elif proc.returncode == 1 and not out and text.count("\n") == 1:
            result.refused[name] = text
        else:
            result.other[name] = (proc.returncode, text)
    result.seconds = time.monotonic() - started
    return result


def release_all(base: Path, names: list[str]) -> list[tuple[str, int, str]]:
    """``release`` for each domain, all at once; returns the ones that did not exit 0 quietly."""
    procs = {name: spawn(base, "entry", QEMU + [name, "release", "end", "-"]) for name in names}
    bad = []
    for name, proc in procs.items():
        out, err = proc.communicate(b"", timeout=120)
        if proc.returncode != 0 or out or err:
            bad.append((name, proc.returncode, err.decode()))
    return bad


def claims(base: Path) -> dict[str, str]:
    """VF address -> holding domain, from the claim records."""
    out = {}
    for key, rec in state_records(base / "state").items():
        if key.startswith("claims/"):
            out[rec["device"].removeprefix("pci-")] = rec["owner"]
    return out


def check_round(base: Path, r: Round, vfs: int) -> list[str]:
    """Everything that must hold after a round; returns the violations (empty = good)."""
    problems = [f"{name}: exit {rc}: {err!r}" for name, (rc, err) in r.other.items()]
    held = claims(base)
    if len(r.winners) != min(vfs, len(r.winners) + len(r.refused)):
        problems.append(f"{len(r.winners)} domains got a VF of {vfs} free")
    if sorted(held.values()) != sorted(r.winners):
        problems.append(f"claims {held} do not match the winners {r.winners}")
    if len(set(held)) != len(held.values()):
        problems.append("a VF is held twice")
    for name, line in r.refused.items():
        if f"VF pool '{POOL}'" not in line or "in use" not in line:
            problems.append(f"{name}: message does not name the pool: {line!r}")
        record = state_records(base / "state").get(f"domains/{name}.json")
        if record is not None:
            problems.append(f"{name} was refused but keeps a record: {json.dumps(record)}")
    for name in r.winners:
        record = state_records(base / "state").get(f"domains/{name}.json", {})
        if len(record.get("claims", {})) != 1:
            problems.append(f"{name} holds {record.get('claims')}")
    return problems + state_problems(base / "state")
