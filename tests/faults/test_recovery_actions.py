"""The hooks/ changes the fault matrix led to, each pinned by a direct test: half-done
actions put back their own first step, claims are never orphaned, the original VF count is
restored by repair only for a start that never finished, and whole calls for one object are
serialised."""

from __future__ import annotations

import io
import time

import pytest

from hooks import actions as A
from hooks.context import Context, Owner
from hooks.deadline import Deadline
from hooks.entry import main
from hooks.errors import Busy, HostError
from hooks.repair import plan_repairs, run_repairs
from hooks.state import StateStore
from tests.fakes import FakeNetlink, FakeOvs, FakeSysfs
from tests.faults.scenarios import SRIOV_NET
from tests.support import held_in_child

POOL_NET = Owner("network", "vfpool")


def _ctx(tmp_path, owner=POOL_NET, **ports):
    return Context(owner, StateStore(str(tmp_path / "state")), Deadline(5), **ports)


def test_numvfs_change_failing_after_the_zero_puts_the_old_count_back(tmp_path):
    fs = FakeSysfs()
    fs.add_pf("enp4s0f0", "0000:04:00.0", 8, numvfs=2)
    writes = []

    def refuse_four(pf, count):
        writes.append(count)
        return Busy(step="set", what="SR-IOV PF", name=pf, detail="busy") if count == 4 else None

    fs.fail_on["set_sriov_numvfs"] = refuse_four
    ctx = _ctx(tmp_path, sysfs=fs)
    with pytest.raises(Busy):
        A.SetSriovNumVfs("enp4s0f0", 4).apply(ctx)
    assert writes == [0, 4, 2] and fs.pfs["enp4s0f0"].numvfs == 2
    assert ctx.state.read("networks", "vfpool") == {}


def test_vf_mac_vlan_failing_halfway_restores_the_mac(tmp_path):
    net = FakeNetlink()
    net.add_pf("enp4s0f0", 4)

    def mac_then_fail(pf, index, mac, vlan):
        if mac is not None and mac != "00:00:00:00:00:00":
            net.links[pf].vfs[index] = net.links[pf].vfs[index].__class__(index, mac, 0)
            return HostError(step="set VF", detail="VLAN refused")
        return None

    net.fail_on["set_vf"] = mac_then_fail
    ctx = _ctx(tmp_path, Owner("domain", "vfvm"), netlink=net)
    with pytest.raises(HostError):
        A.SetVfMacVlan("enp4s0f0", 1, "52:54:00:00:00:05", 100).apply(ctx)
    # The MAC went on before the VLAN was refused; the action itself put the old one back.
    assert net.calls_to("set_vf")[-1] == ("enp4s0f0", 1, "00:00:00:00:00:00", 0)
    assert net.links["enp4s0f0"].vfs[1].mac == "00:00:00:00:00:00"
    assert ctx.state.read("domains", "vfvm") == {}


def test_a_claim_whose_record_cannot_be_written_is_given_back(tmp_path, monkeypatch):
    ctx = _ctx(tmp_path, Owner("domain", "vm1"))
    import hooks.actions.claims as claims

    class Broken:
        def __init__(self, ctx):
            pass

        def __enter__(self):
            raise OSError(28, "No space left on device")

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(claims, "domain_record", Broken)
    with pytest.raises(OSError):
        A.ClaimDevice("pci-0000:04:10.1", "VF").apply(ctx)
    assert ctx.state.holder("pci-0000:04:10.1") is None


def _net_call(tmp_path, op, data, fs):
    err = io.StringIO()
    ports = {"netlink": FakeNetlink(), "ovs": FakeOvs(), "sysfs": fs}
    rc = main(["--driver", "network", "vfpool", op, "begin", "-"], stdin=io.BytesIO(data),
              stdout=io.StringIO(), stderr=err, ports=ports)
    assert rc == 0, err.getvalue()


def test_stopped_forgets_the_count_and_repair_restores_only_an_unfinished_start(tmp_path, monkeypatch):
    monkeypatch.setenv("VIRT_NETXML_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("VIRT_NETXML_CONFIG_DIR", str(tmp_path / "conf"))
    fs = FakeSysfs()
    fs.add_pf("enp4s0f0", "0000:04:00.0", 8, numvfs=2)
    store = StateStore(str(tmp_path / "state"))
    _net_call(tmp_path, "start", SRIOV_NET.encode(), fs)
    assert store.read("networks", "vfpool") == {"name": "vfpool", "numvfs": {"enp4s0f0": 2},
                                                "pool": {"pf": "enp4s0f0"}}
    _net_call(tmp_path, "stopped", b"", fs)
    # The PF keeps its VFs after a clean stop, and nothing is left for repair to undo.
    assert fs.pfs["enp4s0f0"].numvfs == 4 and store.read("networks", "vfpool") == {}
    assert plan_repairs(store, set(), set()) == []
    # A start that never finished (record written, host half changed): repair puts 2 back.
    with store.edit("networks", "vfpool") as rec:
        rec.update(name="vfpool", numvfs={"enp4s0f0": 2})
    fs.set_sriov_numvfs("enp4s0f0", 0)
    repairs = run_repairs(store, plan_repairs(store, set(), set()), ports={"sysfs": fs})
    assert [r.result.ok for r in repairs if r.result] == [True]
    assert fs.pfs["enp4s0f0"].numvfs == 2 and store.read("networks", "vfpool") == {}


def test_whole_calls_for_one_object_wait_for_each_other_within_the_deadline(tmp_path):
    root = str(tmp_path / "state")

    def call_lock():
        return StateStore(root).serialised("domains", "vm1", 5)

    with held_in_child(call_lock, 0.6):
        started = time.monotonic()
        with StateStore(root).serialised("domains", "vm1", 5):   # waits for the holder
            waited = time.monotonic() - started
        assert 0.3 < waited < 3
        with StateStore(root).serialised("domains", "vm2", 0.1):  # another object: no wait
            pass
    with held_in_child(call_lock, 2.0), pytest.raises(Busy, match="held by another process"), \
            StateStore(root).serialised("domains", "vm1", 0.2):
        pass


def test_a_half_done_action_whose_own_cleanup_fails_keeps_its_error_and_sends_to_repair(tmp_path):
    """Bridge VLANs: the second add fails, and so does putting back the first. The message
    keeps the original error and lists what was NOT undone."""
    from hooks.executor import Executor

    net = FakeNetlink()
    net.add_bridge("br0", vlan_filtering=True)
    net.add_link("vnet0", "tun", up=True, master="br0")
    adds = []

    def second_add_fails(port, vid, pvid, untagged):
        adds.append(vid)
        return HostError(step=f"add VLAN {vid}", detail="No buffer space") if len(adds) == 2 else None

    net.fail_on["bridge_vlan_add"] = second_add_fails
    net.fail_on["bridge_vlan_del"] = HostError(step="delete VLAN", detail="netlink socket gone")
    ctx = _ctx(tmp_path, Owner("domain", "vm1"), netlink=net)
    result = Executor(ctx).run([A.BridgePortVlans("vnet0", (20, 30))])
    assert not result.ok and result.error is not None
    assert result.error.message == "add VLAN 30: No buffer space"   # not the cleanup's error
    summary = result.summary()
    assert "NOT undone: restore bridge VLANs of vnet0: delete VLAN: netlink socket gone" in summary
    assert "hooks repair" in summary
