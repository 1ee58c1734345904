"""Figures for faults, time bounds and concurrency of the hooks; prints Markdown tables.

1. The fault matrix (``tests/faults/matrix.py``): for every action kind, each port call and
   state write of the event fails in turn: an error, an error whose rollback fails too, a
   hang (OVS and blocking sysfs writes), a SIGKILL. Counts the fault points, the faults
   injected and how the host survived.
2. The real hook process SIGKILLed before and after each host change, on a fake sysfs tree
   and (as root) with real TAPs in a network namespace; recovered by ``hooks repair`` or the
   next event (``tests/faults/kill_runs.py``).
3. Calls that never return: the hook ends within its deadline, rolls back, leaves no process
   on its pipes (``tests/concurrency/hang.py``).
4. Rounds of 16 domains preparing at once against a pool of 8 VFs, then releasing; and
   ``hooks repair`` racing a ``release`` of the same domain (``tests/concurrency``).

    .venv/bin/python bench/fault_matrix.py [--pool-rounds N] [--races N] [--no-netns]

Exit status 1 if anything was lost.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.chdir(REPO)   # the hook processes import the project from here

from tests.concurrency.hang import DEADLINE, parked_adapter, silent_ovsdb, stuck_sysfs_write  # noqa: E402
from tests.concurrency.pool import (  # noqa: E402
    check_round,
    claims,
    make_pool_host,
    prepare_at_once,
    release_all,
)
from tests.concurrency.same_domain import race  # noqa: E402
from tests.faults.kill_runs import CASES, kill_real_tap, kill_sysfs_case  # noqa: E402
from tests.faults.matrix import SURVIVED, Matrix  # noqa: E402
from tests.faults.scenarios import SCENARIOS  # noqa: E402

FAULTS = ("error", "error+undo", "hang", "kill")


def fault_matrix(work: Path) -> tuple[list[str], int]:
    rows: dict[str, Counter] = {}
    lost_lines = []
    for i, scenario in enumerate(SCENARIOS):
        matrix = Matrix(scenario, work / f"m{i}")
        steps = matrix.steps()
        outcomes = matrix.run()
        row = rows.setdefault(scenario.kind, Counter())
        row["scenarios"] += 1
        row["points"] += len(steps)
        for o in outcomes:
            row[o.fault] += 1
            row[o.result if o.survived else "lost"] += 1
            if not o.survived:
                lost_lines.append(f"{o.scenario}: step {o.step} {o.call} {o.fault}: {o.result} {o.problems}")
    head = ["action kind", "scenarios", "fault points", "errors", "errors, undo fails too", "hangs", "kills",
            "injected",
            *SURVIVED, "lost"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    total: Counter = Counter()
    for kind, row in rows.items():
        total.update(row)
        lines.append(_row(kind, row))
    lines.append(_row("**all**", total))
    return lines + [f"LOST: {line}" for line in lost_lines], total["lost"]


def _row(name: str, row: Counter) -> str:
    injected = sum(row[f] for f in FAULTS)
    cells = [name, row["scenarios"], row["points"], row["error"], row["error+undo"], row["hang"], row["kill"],
             injected,
             *(row[s] for s in SURVIVED), row["lost"]]
    return "| " + " | ".join(str(c) for c in cells) + " |"


def kills(work: Path, netns: bool) -> tuple[list[str], int]:
    results = [kill_sysfs_case(case, work / f"k{i}") for i, case in enumerate(sorted(CASES))]
    if netns:
        results.append(kill_real_tap(work / "ktap"))
    lines = ["| killed process | host changes | kill points | kills (x recoveries) | restored | lost |",
             "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.case} | {r.writes} | {2 * r.writes} | {r.killed} | {r.survived} | "
                     f"{r.killed - r.survived} |")
        lines += [f"LOST: {f}" for f in r.failures]
    return lines, sum(len(r.failures) for r in results)


def hangs(work: Path) -> tuple[list[str], int]:
    results = [parked_adapter(work), stuck_sysfs_write(work)]
    ovs = silent_ovsdb(work)
    if ovs is not None:
        results.append(ovs)
    lines = [f"| call that never returns (deadline {DEADLINE:g}s) | hook ended after | exit | rolled back, "
             "no process left |", "|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.case} | {r.seconds:.2f}s | {r.exit_code} | {'yes' if not r.problems else 'NO'} |")
        lines += [f"PROBLEM: {p}" for p in r.problems]
    return lines, sum(bool(r.problems) for r in results)


def pool(work: Path, rounds: int, vfs: int = 8, domains: int = 16) -> tuple[list[str], int]:
    base = work / "pool"
    make_pool_host(base, vfs)
    bad = 0
    given, refused, slowest = 0, 0, 0.0
    problems: list[str] = []
    for n in range(rounds):
        r = prepare_at_once(base, list(range(domains)))
        problems += [f"round {n}: {p}" for p in check_round(base, r, vfs)]
        given += len(r.winners)
        refused += len(r.refused)
        slowest = max(slowest, r.seconds)
        everyone = [f"poolvm{i}" for i in range(domains)]
        problems += [f"round {n}: release {x}" for x in release_all(base, everyone)]
        if claims(base):
            problems.append(f"round {n}: VFs still claimed after release: {claims(base)}")
    bad += len(problems)
    lines = [f"| {domains} domains prepare at once, pool of {vfs} VFs | rounds | VFs given | refused "
             "(message names the pool) | VF given twice | VFs left claimed after release | slowest round |",
             "|---|---|---|---|---|---|---|",
             f"| real processes, real flock | {rounds} | {given} | {refused} | "
             f"{sum('twice' in p for p in problems)} | {sum('still claimed' in p for p in problems)} | "
             f"{slowest:.1f}s |"]
    return lines + [f"PROBLEM: {p}" for p in problems], bad


def races(work: Path, iterations: int) -> tuple[list[str], int]:
    outcome = race(work / "race", iterations)
    lines = ["| hooks repair beside a release of the same domain | runs | host and state restored "
             "| problems |",
             "|---|---|---|---|",
             f"| real processes | {outcome.runs} | {outcome.clean} | {len(outcome.failures)} |"]
    return lines + [f"PROBLEM: {p}" for p in outcome.failures], len(outcome.failures)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool-rounds", type=int, default=5)
    parser.add_argument("--races", type=int, default=30)
    parser.add_argument("--no-netns", action="store_true", help="skip the real-TAP kills (needs root and ip)")
    args = parser.parse_args()
    netns = not args.no_netns and os.geteuid() == 0
    bad = 0
    with tempfile.TemporaryDirectory(prefix="vnx-faults-") as tmp:
        work = Path(tmp)
        for title, run in (("Fault matrix (fake host: every port call and state write fails in turn)",
                            lambda: fault_matrix(work / "matrix")),
                           ("The real hook process killed between two host changes",
                            lambda: kills(work / "kills", netns)),
                           ("Time bounds", lambda: hangs(work / "hangs")),
                           ("VF pool under concurrency", lambda: pool(work, args.pool_rounds)),
                           ("Two hooks for the same domain at once", lambda: races(work, args.races))):
            started = time.monotonic()
            lines, lost = run()
            bad += lost
            print(f"### {title}\n")
            print("\n".join(lines))
            print(f"\n({time.monotonic() - started:.1f}s)\n", flush=True)
    print("nothing lost" if not bad else f"{bad} problems: see above")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
