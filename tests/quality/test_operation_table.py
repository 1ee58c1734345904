"""The per-operation rules live in one table (``hooks.protocol.OPERATIONS``): the fast path, the
shell wrapper's generator, the planner's dispatch and the runner all read it. Each row's
answers are pinned here, and each reader is checked to follow the table, not a copy of it.
"""

from __future__ import annotations

import re

import pytest

from hooks import fastpath
from hooks.protocol import ELEMENT, LINUX_VLAN, MAPPING, OPERATIONS, RECORDS, STATE, STATE_TEXT, TEXT
from hooks.wrapper import body, render

WORK = {("qemu", op) for op in ("prepare", "start", "started", "release", "migrate", "restore", "reconnect",
                                 "attach")} | {
    ("network", op) for op in ("start", "started", "stopped", "port-created", "port-deleted")}
READS_STDIN = {("qemu", op) for op in ("prepare", "start", "started", "reconnect", "attach")} | {
    ("network", op) for op in ("start", "started", "port-created", "port-deleted")}
BEST_EFFORT = {("qemu", "stopped"), ("qemu", "release"), ("network", "stopped"), ("network", "port-deleted"),
               ("network", "unplugged")}


def test_the_rows():
    assert {key for key, op in OPERATIONS.items() if op.work} == WORK
    assert {key for key, op in OPERATIONS.items() if op.reads_stdin} == READS_STDIN
    assert {key for key, op in OPERATIONS.items() if op.best_effort} == BEST_EFFORT
    # a clean-up call never aborts what libvirt does
    assert not any(op.aborts for op in OPERATIONS.values() if op.best_effort)
    kinds = {t[0] for op in OPERATIONS.values() for t in op.work}
    assert kinds == {ELEMENT, LINUX_VLAN, MAPPING, RECORDS, STATE, STATE_TEXT, TEXT}


@pytest.mark.parametrize("key", sorted(OPERATIONS))
def test_the_fast_path_reads_the_table(key):
    assert fastpath.reads_stdin(*key) is OPERATIONS[key].reads_stdin


@pytest.mark.parametrize("driver", ["qemu", "network"])
def test_the_wrapper_dispatches_exactly_the_operations_with_work(driver):
    arms = re.findall(r"^    ([a-z-]+)\)$", body(driver), re.M)
    assert arms == [op for drv, op in OPERATIONS if drv == driver and (drv, op) in WORK]
    script = render(driver, "/usr/bin/python3", [], "/run/x", "/etc/x")
    for op in arms:
        arm = script.split(f"\n    {op})\n", 1)[1].split(" ;;\n    ", 1)[0]
        # stdin is read exactly when the decision needs it (libvirt waits for EOF otherwise)
        assert ("xml=$(cat)" in arm) is OPERATIONS[(driver, op)].reads_stdin


def test_the_runner_reads_best_effort_from_the_table():
    from pathlib import Path

    source = (Path(__file__).parents[2] / "hooks" / "run.py").read_text()
    assert "best_effort=op.best_effort" in source
    assert '"port-deleted"' not in source and '"release"' not in source


def test_the_planner_serves_exactly_the_operations_with_work():
    from hooks.planner import PLANNERS

    assert PLANNERS == WORK
