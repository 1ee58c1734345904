"""Every step of every action kind fails in turn (error, hang, kill): nothing is lost.

See ``tests/faults/matrix.py`` for how steps are found and faults planted, and
``tests/faults/scenarios.py`` for the hosts and events.
"""

from __future__ import annotations

import pytest

from hooks.protocol import lookup
from tests.faults.matrix import SURVIVED, Matrix
from tests.faults.scenarios import SCENARIOS

pytestmark = pytest.mark.timeout(120)

KINDS = ("bridge VLAN", "OVS settings", "TAP", "macvtap shim", "vfio bind", "VF MAC/VLAN", "sriov_numvfs")


def test_every_action_kind_has_a_scenario():
    assert set(KINDS) <= {s.kind for s in SCENARIOS}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.label)
def test_fault_matrix(scenario, tmp_path):
    matrix = Matrix(scenario, tmp_path / "host")
    steps = matrix.steps()
    assert steps, "no fault points"
    # Every kind of port the event uses is faulted, and state writes are steps too.
    ports = {port for port, _ in steps}
    outcomes = matrix.run()
    assert {o.call.split(".")[0] for o in outcomes} == ports
    assert len(outcomes) >= 3 * len(steps)
    lost = [f"step {o.step} {o.call} {o.fault}: {o.result} {o.problems}" for o in outcomes if not o.survived]
    assert not lost, "\n".join(lost)
    op = lookup(scenario.event[0], scenario.event[1])
    assert op is not None
    for o in outcomes:
        if o.fault == "kill":
            continue
        # A failed call says so on exactly one line, with the status libvirt expects (0 where
        # libvirt's reaction to a failure would be out of proportion: reconnect, qemu started).
        assert o.exit_code == (1 if op.fail_exit else 0), (o.step, o.call, o.fault, o.exit_code, o.stderr)
        assert o.stderr.count("\n") == 1 and o.stderr.startswith("virt-netxml: "), o.stderr
        if not scenario.teardown and o.fault != "error+undo":
            # Start-up events roll back on their own; only a kill or a failing rollback may
            # leave work for later.
            assert o.result == "rolled back", (o.step, o.call, o.fault, o.result, o.stderr)
        elif o.result != "rolled back":
            # What is left is announced, and hooks repair (or the next event) finishes it.
            assert "hooks repair" in o.stderr, (o.step, o.call, o.fault, o.stderr)
    assert {o.result for o in outcomes} <= set(SURVIVED)
