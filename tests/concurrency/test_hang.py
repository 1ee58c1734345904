"""A hook whose host call never returns fails within its deadline, rolls back, and leaves no
process holding libvirt's pipes. See ``hang.py`` for the cases."""

from __future__ import annotations

import pytest

from tests.concurrency.hang import DEADLINE, SLACK, parked_adapter, silent_ovsdb, stuck_sysfs_write
from tests.support import require

pytestmark = pytest.mark.timeout(120)


def test_a_port_call_that_never_returns(tmp_path):
    result = parked_adapter(tmp_path)
    assert result.problems == [] and result.exit_code == 1
    assert result.seconds < DEADLINE + SLACK


def test_a_sysfs_write_stuck_in_the_kernel(tmp_path):
    result = stuck_sysfs_write(tmp_path)
    assert result.problems == [] and result.exit_code == 1
    assert result.seconds < DEADLINE + SLACK


def test_an_ovsdb_that_never_answers(tmp_path):
    result = silent_ovsdb(tmp_path)
    require(result is not None, "ovs-vsctl")
    assert result is not None and result.problems == [] and result.exit_code == 1
    assert "rolled back 0 of 0" in result.stderr
