"""The real hook entry point, as its own process, SIGKILLed between two host changes:
``hooks repair`` (or the domain's next event) puts the host back. See ``kill_runs.py``."""

from __future__ import annotations

import os

import pytest

from tests.faults.kill_runs import CASES, kill_real_tap, kill_sysfs_case
from tests.netns.harness import have_tools
from tests.support import require

pytestmark = pytest.mark.timeout(180)


@pytest.mark.parametrize("case", sorted(CASES))
def test_killed_between_steps_then_repaired(case, tmp_path):
    result = kill_sysfs_case(case, tmp_path)
    assert result.failures == []
    assert result.writes >= 2
    recoveries = 2 if CASES[case][2] else 1
    assert result.killed == result.survived == 2 * result.writes * recoveries


def test_real_tap_killed_between_steps_then_repaired(tmp_path):
    require(os.geteuid() == 0 and have_tools("ip"), "root and ip (network namespaces)")
    result = kill_real_tap(tmp_path)
    assert result.failures == []
    assert result.writes == 3   # create, plug, up
    assert result.killed == result.survived == 6
