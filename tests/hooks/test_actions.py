"""Each action kind against the in-memory fakes: apply, idempotent re-apply, undo, failure."""

from __future__ import annotations

import copy
import re
import time

import pytest

from hooks import actions as A
from hooks.actions.ovs import OvsTransaction
from hooks.context import Context, Owner
from hooks.deadline import Deadline
from hooks.errors import Busy, ForeignDevice, HostError, NotFound
from hooks.ports import BridgeVlan, VfInfo
from hooks.state import StateStore
from tests.fakes import FakeNetlink, FakeOvs, FakeSysfs


class Host:
    def __init__(self, tmp_path, owner: Owner | None = None, **fakes):
        self.net = fakes.get("net") or FakeNetlink()
        self.ovs = fakes.get("ovs") or FakeOvs()
        self.fs = fakes.get("fs") or FakeSysfs()
        self.store = StateStore(str(tmp_path / "state"))
        self.owner = owner or Owner("domain", "vm1", "11111111-2222-3333-4444-555555555555")
        self.ctx = self.context(self.owner)

    def context(self, owner: Owner) -> Context:
        return Context(owner, self.store, Deadline(30), netlink=self.net, ovs=self.ovs, sysfs=self.fs)

    def snapshot(self):
        """The fakes' host model, with differences that mean nothing on a real host removed:
        an empty OVS map column equals a missing one, and re-created VFs get new group numbers."""
        maps = {key: {c: v for c, v in cols.items() if v} for key, cols in self.ovs.maps.items()}
        devices = {a: (d.driver, d.driver_override, d.native_driver, d.pf)
                   for a, d in self.fs.devices.items()}
        return copy.deepcopy((self.net.links, self.ovs.ports, maps, devices, self.fs.pfs))

    def record(self, kind="domains", name=None):
        return self.store.read(kind, name or self.owner.name)


@pytest.fixture
def host(tmp_path):
    return Host(tmp_path)


def check_cycle(host: Host, action: A.Action, changed) -> None:
    """apply changes the host as ``changed`` says, a second apply is a no-op, undo restores it."""
    before = host.snapshot()
    undo = action.apply(host.ctx)
    assert undo is not None, "first apply should change something"
    changed()
    again = host.snapshot()
    assert action.apply(host.ctx) is None, "re-apply should find everything in place"
    assert host.snapshot() == again
    undo.run()
    assert host.snapshot() == before


# --------------------------------------------------------------------------- bridge VLANs


def test_bridge_vlan_filtering(host):
    host.net.add_bridge("br0")

    def changed():
        assert host.net.links["br0"].vlan_filtering is True

    check_cycle(host, A.BridgeVlanFiltering("br0", True), changed)


def test_bridge_vlan_filtering_unsupported_kernel_fails_cleanly(tmp_path):
    host = Host(tmp_path, net=FakeNetlink(vlan_filtering_supported=False))
    host.net.add_bridge("br0")
    with pytest.raises(HostError, match="not supported"):
        A.BridgeVlanFiltering("br0", True).apply(host.ctx)
    assert host.net.links["br0"].vlan_filtering is False


def test_bridge_access_port(host):
    host.net.add_bridge("br0", vlan_filtering=True)
    host.net.add_link("vnet0", "tun", master="br0")

    def changed():
        assert host.net.links["vnet0"].vlans == {10: BridgeVlan(10, pvid=True, untagged=True)}

    check_cycle(host, A.BridgePortVlans("vnet0", (10,), pvid=10), changed)


def test_bridge_trunk_with_native(host):
    host.net.add_bridge("br0", vlan_filtering=True)
    host.net.add_link("vnet0", "tun", master="br0")

    def changed():
        assert host.net.links["vnet0"].vlans == {
            20: BridgeVlan(20, pvid=True, untagged=True), 30: BridgeVlan(30), 31: BridgeVlan(31)}

    check_cycle(host, A.BridgePortVlans("vnet0", (20, 30, 31), pvid=20), changed)


def test_bridge_vlans_keep_default_when_not_asked(host):
    host.net.add_bridge("br0", vlan_filtering=True)
    host.net.add_link("vnet0", "tun", master="br0")
    A.BridgePortVlans("vnet0", (30,), pvid=None, remove_default=False).apply(host.ctx)
    assert set(host.net.links["vnet0"].vlans) == {1, 30}


def test_bridge_vlans_reapply_after_change_only_touches_differences(host):
    host.net.add_bridge("br0", vlan_filtering=True)
    host.net.add_link("vnet0", "tun", master="br0")
    A.BridgePortVlans("vnet0", (20, 30), pvid=20).apply(host.ctx)
    host.net.calls.clear()
    A.BridgePortVlans("vnet0", (20, 40), pvid=20).apply(host.ctx)
    assert host.net.calls_to("bridge_vlan_add") == [("vnet0", 40, False, False)]
    assert host.net.calls_to("bridge_vlan_del") == [("vnet0", 30)]


def test_bridge_vlans_failure_midway_puts_back_own_changes(tmp_path):
    # Removing the default VLAN 1 fails after VLAN 10 was added (and took the pvid from VLAN 1).
    boom = HostError(step="del", detail="boom")
    net = FakeNetlink(fail_on={"bridge_vlan_del": lambda port, vid: boom if vid == 1 else None})
    _refused_and_unchanged(Host(tmp_path, net=net), True, "boom")


def _refused_and_unchanged(host, vlan_filtering: bool, match: str) -> None:
    """VLAN 10 as pvid on vnet0 of br0 fails with ``match`` and leaves the host as it was."""
    host.net.add_bridge("br0", vlan_filtering=vlan_filtering)
    host.net.add_link("vnet0", "tun", master="br0")
    before = host.snapshot()
    with pytest.raises(HostError, match=match):
        A.BridgePortVlans("vnet0", (10,), pvid=10).apply(host.ctx)
    assert host.snapshot() == before


# --------------------------------------------------------------------------- OVS


def test_ovs_port_vlan(host):
    host.ovs.add_bridge("ovsbr0")
    host.ovs.add_port("ovsbr0", "vnet1")

    def changed():
        row = host.ovs.ports["vnet1"]
        assert (row.tag, row.trunks, row.vlan_mode) == (20, (20, 30, 31), "native-untagged")

    check_cycle(host, A.OvsPortVlan("vnet1", 20, (20, 30, 31), "native-untagged"), changed)


def test_ovs_port_vlan_missing_port(host):
    host.ovs.add_bridge("ovsbr0")
    with pytest.raises(NotFound, match="vnet9"):
        A.OvsPortVlan("vnet9", 5, (), "access").apply(host.ctx)


def test_ovs_setting_port_other_config(host):
    host.ovs.add_bridge("ovsbr0")
    host.ovs.add_port("ovsbr0", "vnet1")

    def changed():
        assert host.ovs.maps[("Port", "vnet1")]["other_config"] == {"priority-tags": "true"}

    check_cycle(host, A.OvsSetting("Port", "vnet1", "other_config", "priority-tags", "true"), changed)


def test_ovs_setting_other_table_undo_removes_key(host):
    host.ovs.add_bridge("ovsbr0")
    host.ovs.add_port("ovsbr0", "vnet1")
    undo = A.OvsSetting("Interface", "vnet1", "external_ids", "k", "v").apply(host.ctx)
    assert host.ovs.maps[("Interface", "vnet1")]["external_ids"] == {"k": "v"}
    assert undo is not None
    undo.run()
    assert host.ovs.maps[("Interface", "vnet1")]["external_ids"] == {}


def ovs_host(host, *ports):
    host.ovs.add_bridge("ovsbr0")
    for port in ports:
        host.ovs.add_port("ovsbr0", port)
    host.ovs.calls.clear()


def test_ovs_group_is_one_transaction_and_its_undo_one_more(host):
    ovs_host(host, "vnet1", "vnet2")
    group = [A.OvsPortVlan("vnet1", 10, (), "access"),
             A.OvsSetting("Port", "vnet1", "other_config", "priority-tags", "true"),
             A.OvsPortVlan("vnet2", 20, (20, 30), "native-untagged"),
             A.OvsSetting("Interface", "vnet2", "external_ids", "owner", "vm1")]
    before = host.snapshot()
    changed, undo = OvsTransaction.of(host.ctx, group).commit()
    assert changed == group and undo is not None
    assert [c[0] for c in host.ovs.calls] == ["transact"]
    assert host.ovs.calls[0][1] == ("vnet1", "vnet1", "vnet2")        # the rows compared with
    assert (host.ovs.ports["vnet2"].tag, host.ovs.ports["vnet2"].trunks) == (20, (20, 30))
    assert host.ovs.maps[("Interface", "vnet2")]["external_ids"] == {"owner": "vm1"}
    undo.run()
    assert [c[0] for c in host.ovs.calls] == ["transact", "transact"]
    assert host.snapshot() == before


def test_ovs_group_reapplied_reports_unchanged_and_changes_nothing(host):
    ovs_host(host, "vnet1", "vnet2")
    group = [A.OvsPortVlan("vnet1", 10, (), "access"), A.OvsPortVlan("vnet2", None, (5, 6), "trunk"),
             A.OvsSetting("Port", "vnet2", "other_config", "k", "v")]
    OvsTransaction.of(host.ctx, group).commit()
    again = host.snapshot()
    assert OvsTransaction.of(host.ctx, group).commit() == ([], None)
    assert host.snapshot() == again


def test_ovs_group_only_what_differs_counts_and_is_undone(host):
    ovs_host(host, "vnet1", "vnet2")
    A.OvsPortVlan("vnet1", 10, (), "access").apply(host.ctx)
    before = host.snapshot()
    group = [A.OvsPortVlan("vnet1", 10, (), "access"), A.OvsPortVlan("vnet2", 20, (), "access")]
    changed, undo = OvsTransaction.of(host.ctx, group).commit()
    assert changed == group[1:] and undo is not None
    assert undo.step == "restore VLAN settings of OVS port vnet2"
    undo.run()
    assert host.snapshot() == before


def test_ovs_group_undo_of_one_key_set_twice_restores_the_first_value(host):
    ovs_host(host, "vnet1")
    A.OvsSetting("Port", "vnet1", "other_config", "k", "old").apply(host.ctx)
    group = [A.OvsSetting("Port", "vnet1", "other_config", "k", "a"),
             A.OvsSetting("Port", "vnet1", "other_config", "k", "b")]
    changed, undo = OvsTransaction.of(host.ctx, group).commit()
    assert host.ovs.maps[("Port", "vnet1")]["other_config"] == {"k": "b"} and undo is not None
    undo.run()
    assert host.ovs.maps[("Port", "vnet1")]["other_config"] == {"k": "old"}


def test_ovs_group_with_a_missing_port_changes_nothing_and_names_it(host):
    ovs_host(host, "vnet1")
    before = host.snapshot()
    group = [A.OvsPortVlan("vnet1", 10, (), "access"), A.OvsPortVlan("vnet9", 20, (), "access")]
    with pytest.raises(NotFound, match="vnet9") as info:
        OvsTransaction.of(host.ctx, group).commit()
    assert host.snapshot() == before
    assert OvsTransaction.of(host.ctx, group).culprit(info.value) is group[1]
    assert OvsTransaction.of(host.ctx, group).culprit(HostError(step="s", detail="d")) is group[0]


# --------------------------------------------------------------------------- TAPs


def test_create_tap_records_it_and_undo_deletes(host):
    action = A.CreateTap("tap0", uid=107, gid=108, multi_queue=True, vnet_hdr=True, bridge="br0")

    def changed():
        link = host.net.links["tap0"]
        assert (link.kind, link.uid, link.gid) == ("tun", 107, 108)
        assert (link.multi_queue, link.vnet_hdr) == (True, True)
        assert host.record()["taps"]["tap0"]["bridge"] == "br0"

    check_cycle(host, action, changed)
    assert host.record() == {}


def test_create_tap_takes_a_free_tap_and_never_deletes_it(host):
    host.net.add_link("tap0", "tun")
    undo = A.CreateTap("tap0", bridge="br0").apply(host.ctx)
    assert undo is not None
    entry = host.record()["taps"]["tap0"]
    assert (entry["adopted"], entry["plugged"], entry["index"]) == (True, False, host.net.links["tap0"].index)
    assert A.CreateTap("tap0", bridge="br0").apply(host.ctx) is None     # ours now
    assert A.DeleteTap("tap0").apply(host.ctx) is not None
    assert "tap0" in host.net.links and host.record() == {}


FOREIGN = {
    "a bridge port": (dict(kind="tun", master="br0"), "is attached to br0"),
    "held, single queue": (dict(kind="tun", carrier=True), "is in use"),
    "held, multi-queue": (dict(kind="tun", tun_queues=2), "is in use"),
    "not persistent": (dict(kind="tun", tun_persistent=False), "is in use"),
    "a TUN device": (dict(kind="tun", tun_mode="tun"), "is not a TAP (a tun device)"),
    "loopback or a NIC": (dict(kind=None), "is not a TAP (a device of unknown kind"),
    "a veth": (dict(kind="veth"), "is not a TAP (a veth link)"),
}


@pytest.mark.parametrize("what", sorted(FOREIGN))
def test_create_tap_refuses_a_device_it_may_not_take(host, what):
    attrs, reason = FOREIGN[what]
    host.net.add_bridge("br0")
    host.net.add_link("tap0", **attrs)
    before = host.snapshot()
    with pytest.raises(ForeignDevice, match=re.escape(f"device 'tap0' {reason}")):
        A.CreateTap("tap0").apply(host.ctx)
    assert host.snapshot() == before and host.record() == {}


def test_create_tap_refuses_a_free_tap_open_vswitch_has(host):
    host.net.add_link("tap0", "tun")
    host.ovs.add_bridge("ovsbr0")
    host.ovs.add_port("ovsbr0", "tap0")
    with pytest.raises(ForeignDevice, match="device 'tap0' is an Open vSwitch port"):
        A.CreateTap("tap0").apply(host.ctx)
    assert host.record() == {}


def test_create_tap_refuses_a_tap_another_domain_claimed(host):
    other = host.context(Owner("domain", "vm2"))
    A.ClaimDevice("tap-tap0", "TAP").apply(other)
    host.net.add_link("tap0", "tun")
    with pytest.raises(ForeignDevice, match="device 'tap0' is in use by domain vm2"):
        A.CreateTap("tap0").apply(host.ctx)


def test_delete_tap_leaves_a_device_that_took_the_name(host):
    A.CreateTap("tap0").apply(host.ctx)
    del host.net.links["tap0"]                       # gone behind the hook's back...
    host.net.add_link("tap0", "tun", carrier=True)  # ...and another guest's TAP has the name
    A.DeleteTap("tap0").apply(host.ctx)
    assert "tap0" in host.net.links and host.net.calls_to("delete_link") == []
    assert host.record() == {}


def test_create_tap_failure_leaves_no_record(tmp_path):
    host = Host(tmp_path, net=FakeNetlink(fail_on={"create_tap": HostError(step="tap", detail="EPERM")}))
    with pytest.raises(HostError):
        A.CreateTap("tap0").apply(host.ctx)
    assert host.record() == {}


def test_delete_tap_removes_only_our_tap_and_undo_recreates_it(host):
    host.net.add_bridge("br0")
    A.CreateTap("tap0", uid=5, gid=6, bridge="br0").apply(host.ctx)
    A.EnslaveLink("tap0", "br0").apply(host.ctx)
    undo = A.DeleteTap("tap0").apply(host.ctx)
    assert "tap0" not in host.net.links and host.record() == {}
    assert A.DeleteTap("tap0").apply(host.ctx) is None
    assert undo is not None
    undo.run()
    link = host.net.links["tap0"]
    assert (link.uid, link.gid, link.master) == (5, 6, "br0")
    assert "tap0" in host.record()["taps"]


def test_delete_tap_on_ovs_removes_the_port(host):
    host.ovs.add_bridge("ovsbr0")
    A.CreateTap("tap0", bridge="ovsbr0", ovs=True).apply(host.ctx)
    A.EnslaveLink("tap0", "ovsbr0", True).apply(host.ctx)
    assert host.ovs.port_bridge("tap0") == "ovsbr0"
    A.DeleteTap("tap0").apply(host.ctx)
    assert "tap0" not in host.ovs.ports and "tap0" not in host.net.links


def test_delete_tap_of_another_domain_is_left_alone(host):
    other = host.context(Owner("domain", "vm2"))
    A.CreateTap("tap0").apply(other)
    assert A.DeleteTap("tap0").apply(host.ctx) is None
    assert "tap0" in host.net.links


def own(host, name="tap0", **entry):
    """Record ``name`` as a TAP the hook created for the domain (what CreateTap leaves)."""
    with host.store.edit("domains", host.owner.name) as rec:
        rec.setdefault("taps", {})[name] = {"adopted": False, "plugged": False, **entry}


def test_enslave_linux_bridge(host):
    host.net.add_bridge("br0")
    host.net.add_link("tap0", "tun")
    own(host, bridge="br0")

    def changed():
        assert host.net.links["tap0"].master == "br0"
        assert host.record()["taps"]["tap0"]["plugged"] is True

    check_cycle(host, A.EnslaveLink("tap0", "br0"), changed)
    assert host.record()["taps"]["tap0"]["plugged"] is False


def test_enslave_ovs_and_back(host):
    host.ovs.add_bridge("ovsB")
    host.net.add_link("tap0", "tun")
    own(host, bridge="ovsB", ovs=True)

    def changed():
        assert host.ovs.ports["tap0"].bridge == "ovsB"

    check_cycle(host, A.EnslaveLink("tap0", "ovsB", True), changed)


def test_enslave_never_moves_a_port_of_another_bridge(host):
    host.ovs.add_bridge("ovsA")
    host.ovs.add_bridge("ovsB")
    host.ovs.add_port("ovsA", "tap0")
    host.net.add_bridge("br0")
    host.net.add_bridge("br1")
    host.net.add_link("tap1", "tun", master="br1")
    own(host, bridge="ovsB", ovs=True)
    own(host, "tap1", bridge="br0")
    with pytest.raises(ForeignDevice, match="device 'tap0' is already a port of OVS bridge ovsA"):
        A.EnslaveLink("tap0", "ovsB", True).apply(host.ctx)
    with pytest.raises(ForeignDevice, match="device 'tap1' is attached to br1"):
        A.EnslaveLink("tap1", "br0").apply(host.ctx)
    assert host.ovs.ports["tap0"].bridge == "ovsA" and host.net.links["tap1"].master == "br1"
    # On the right bridge already, but not plugged by the hook: not taken either.
    with pytest.raises(ForeignDevice, match="device 'tap0' is already a port of OVS bridge ovsA"):
        A.EnslaveLink("tap0", "ovsA", True).apply(host.ctx)


@pytest.mark.parametrize("action", [A.EnslaveLink("vnet3", "br0"), A.LinkUp("vnet3")], ids=["plug", "up"])
def test_plug_and_up_refuse_a_device_not_recorded_for_the_domain(host, action):
    host.net.add_bridge("br0")
    host.net.add_bridge("brvic")
    host.net.add_link("vnet3", "tun", master="brvic")
    with pytest.raises(ForeignDevice, match="device 'vnet3' is not a TAP the hook created or took"):
        action.apply(host.ctx)
    assert host.net.links["vnet3"].master == "brvic" and not host.net.links["vnet3"].up


def test_enslave_missing_link(host):
    host.net.add_bridge("br0")
    own(host, bridge="br0")
    with pytest.raises(NotFound, match="tap0"):
        A.EnslaveLink("tap0", "br0").apply(host.ctx)


def test_link_up(host):
    host.net.add_link("tap0", "tun")
    own(host)

    def changed():
        assert host.net.links["tap0"].up is True

    check_cycle(host, A.LinkUp("tap0"), changed)


def test_give_back_unplugs_a_taken_tap_only_where_the_hook_plugged_it(host):
    host.net.add_bridge("br0")
    host.net.add_link("tap0", "tun")
    A.CreateTap("tap0", bridge="br0").apply(host.ctx)
    A.EnslaveLink("tap0", "br0").apply(host.ctx)
    undo = A.DeleteTap("tap0").apply(host.ctx)
    assert host.net.links["tap0"].master is None and host.record() == {}
    assert undo is not None
    undo.run()                                    # taken and plugged again
    assert host.net.links["tap0"].master == "br0" and host.record()["taps"]["tap0"]["adopted"]


def test_bridge_vlans_of_a_tap_only_on_its_own_bridge(host):
    host.net.add_bridge("br0", vlan_filtering=True)
    host.net.add_bridge("brvic", vlan_filtering=True)
    host.net.add_link("tap0", "tun", master="brvic")
    with pytest.raises(HostError, match="tap0 is attached to brvic, not to bridge br0"):
        A.BridgePortVlans("tap0", (10,), pvid=10, bridge="br0").apply(host.ctx)
    assert host.net.calls_to("bridge_vlan_add") == []


# --------------------------------------------------------------------------- macvtap


def test_check_uplink(host):
    host.net.add_link("up0", "veth", up=True)
    host.net.add_link("down0", "veth", up=False)
    assert A.CheckUplink("up0").apply(host.ctx) is None
    with pytest.raises(HostError, match="'down0' is down"):
        A.CheckUplink("down0").apply(host.ctx)
    with pytest.raises(NotFound, match="uplink 'gone0' does not exist"):
        A.CheckUplink("gone0").apply(host.ctx)


def test_create_shim(tmp_path):
    host = Host(tmp_path, owner=Owner("network", "mvnet"))
    host.net.add_link("up0", "veth", up=True)

    def changed():
        link = host.net.links["mvshim0"]
        assert (link.kind, link.macvlan_mode, link.uplink, link.addresses, link.up) == (
            "macvlan", "bridge", "up0", ["192.168.77.1/24"], True)
        assert host.record("networks")["shims"]["mvshim0"]["uplink"] == "up0"

    check_cycle(host, A.CreateShim("mvshim0", "up0", "192.168.77.1/24"), changed)
    assert host.record("networks") == {}


def test_create_shim_failure_removes_half_made_shim(tmp_path):
    net = FakeNetlink(fail_on={"add_address": HostError(step="addr", detail="EADDRINUSE")})
    host = Host(tmp_path, owner=Owner("network", "mvnet"), net=net)
    host.net.add_link("up0", "veth", up=True)
    with pytest.raises(HostError):
        A.CreateShim("mvshim0", "up0", "192.168.77.1/24").apply(host.ctx)
    assert "mvshim0" not in host.net.links and host.record("networks") == {}


def test_delete_shim_and_undo(tmp_path):
    host = Host(tmp_path, owner=Owner("network", "mvnet"))
    host.net.add_link("up0", "veth", up=True)
    host.net.add_link("stranger0", "macvlan")
    A.CreateShim("mvshim0", "up0", "10.0.0.1/24").apply(host.ctx)
    assert A.DeleteShim("stranger0").apply(host.ctx) is None
    undo = A.DeleteShim("mvshim0").apply(host.ctx)
    assert "mvshim0" not in host.net.links and host.record("networks") == {}
    assert undo is not None
    undo.run()
    assert host.net.links["mvshim0"].addresses == ["10.0.0.1/24"]


def test_passthrough_uplink_is_exclusive(host):
    first = A.PassthroughExclusive.for_uplink("up0")
    undo = first.apply(host.ctx)
    assert undo is not None and host.store.holder("uplink-up0") == "vm1"
    assert first.apply(host.ctx) is None
    other = host.context(Owner("domain", "vm2", "uuid-2"))
    with pytest.raises(Busy, match="'up0' is busy \\(in use by domain vm1"):
        first.apply(other)
    undo.run()
    assert host.store.holder("uplink-up0") is None
    assert first.apply(other) is not None


def test_release_claim_and_undo(host):
    A.ClaimDevice("pci-0000:04:10.1", "VF").apply(host.ctx)
    assert host.record()["claims"] == {"pci-0000:04:10.1": "VF"}
    undo = A.ReleaseClaim("pci-0000:04:10.1").apply(host.ctx)
    assert host.store.holder("pci-0000:04:10.1") is None and host.record() == {}
    assert A.ReleaseClaim("pci-0000:04:10.1").apply(host.ctx) is None
    assert undo is not None
    undo.run()
    assert host.store.holder("pci-0000:04:10.1") == "vm1"


# --------------------------------------------------------------------------- SR-IOV and vfio


@pytest.fixture
def pf_host(tmp_path):
    host = Host(tmp_path, owner=Owner("network", "vfpool"))
    host.fs.add_pf("enp4s0f0", "0000:04:00.0", total_vfs=8, numvfs=2)
    return host


def test_sriov_numvfs_goes_through_zero(pf_host):
    def changed():
        assert pf_host.fs.pfs["enp4s0f0"].numvfs == 4
        assert pf_host.fs.calls_to("set_sriov_numvfs") == [("enp4s0f0", 0), ("enp4s0f0", 4)]
        assert pf_host.record("networks")["numvfs"] == {"enp4s0f0": 2}

    check_cycle(pf_host, A.SetSriovNumVfs("enp4s0f0", 4), changed)


def test_sriov_numvfs_above_total_is_refused(pf_host):
    with pytest.raises(HostError, match="at most 8"):
        A.SetSriovNumVfs("enp4s0f0", 9).apply(pf_host.ctx)
    assert pf_host.fs.pfs["enp4s0f0"].numvfs == 2


@pytest.fixture
def vf_host(tmp_path):
    host = Host(tmp_path)
    host.fs.add_pf("enp4s0f0", "0000:04:00.0", total_vfs=4, numvfs=2)
    host.net.add_pf("enp4s0f0", 2)
    # As the kernel reports them: a VF without a MAC shows all zeroes.
    host.net.links["enp4s0f0"].vfs = [VfInfo(i, "00:00:00:00:00:00", 0) for i in range(2)]
    return host


def vf(host: Host, index: int) -> str:
    return host.fs.vf_address("enp4s0f0", index)


def test_bind_vfio_records_original_driver_first(vf_host):
    address = vf(vf_host, 1)

    def changed():
        dev = vf_host.fs.devices[address]
        assert (dev.driver, dev.driver_override) == ("vfio-pci", "vfio-pci")
        assert vf_host.record()["drivers"][address] == {"driver": "igbvf", "override": None}

    check_cycle(vf_host, A.BindVfio(address), changed)
    assert vf_host.record() == {}
    names = [c[0] for c in vf_host.fs.calls if c[0] in ("set_driver_override", "unbind", "drivers_probe")]
    assert names[:3] == ["set_driver_override", "unbind", "drivers_probe"]


def test_bind_vfio_refuses_a_non_viable_iommu_group(vf_host):
    address = vf(vf_host, 0)
    group = vf_host.fs.devices[address].iommu_group
    vf_host.fs.add_device("0000:04:00.5", "snd_hda_intel", group=group)
    vf_host.fs.add_device("0000:00:01.0", "pcieport", group=group, is_bridge=True)
    before = vf_host.snapshot()
    with pytest.raises(HostError, match="not viable: 0000:04:00.5 is bound to snd_hda_intel"):
        A.BindVfio(address).apply(vf_host.ctx)
    assert vf_host.snapshot() == before and vf_host.record() == {}


def test_bind_vfio_without_iommu(tmp_path):
    host = Host(tmp_path, fs=FakeSysfs(iommu=False))
    host.fs.add_device("0000:05:00.0", "e1000e")
    with pytest.raises(HostError, match="no IOMMU group"):
        A.BindVfio("0000:05:00.0").apply(host.ctx)


def _fail_first(count: int):
    calls = []

    def fail(*args):
        calls.append(args)
        if len(calls) <= count:
            return Busy(step="probe", what="PCI device", name=args[0], detail="EBUSY")
        return None

    return fail


def test_bind_vfio_failure_restores_the_driver(tmp_path):
    host = Host(tmp_path, fs=FakeSysfs(fail_on={"drivers_probe": _fail_first(1)}))
    host.fs.add_device("0000:05:00.0", "e1000e")
    with pytest.raises(Busy):
        A.BindVfio("0000:05:00.0").apply(host.ctx)
    dev = host.fs.devices["0000:05:00.0"]
    assert (dev.driver, dev.driver_override) == ("e1000e", None) and host.record() == {}


def test_bind_vfio_failure_that_cannot_be_undone_keeps_the_record_for_repair(tmp_path):
    host = Host(tmp_path, fs=FakeSysfs(fail_on={"drivers_probe": _fail_first(2)}))
    host.fs.add_device("0000:05:00.0", "e1000e")
    with pytest.raises(Busy):
        A.BindVfio("0000:05:00.0").apply(host.ctx)
    assert host.fs.devices["0000:05:00.0"].driver is None
    assert host.record()["drivers"] == {"0000:05:00.0": {"driver": "e1000e", "override": None}}
    assert A.RestoreDriver("0000:05:00.0").apply(host.ctx) is not None   # a later repair succeeds
    assert host.fs.devices["0000:05:00.0"].driver == "e1000e" and host.record() == {}


def test_restore_driver_is_a_no_op_without_record(vf_host):
    assert A.RestoreDriver(vf(vf_host, 0)).apply(vf_host.ctx) is None


def test_restore_driver_and_undo(vf_host):
    address = vf(vf_host, 0)
    A.BindVfio(address).apply(vf_host.ctx)
    undo = A.RestoreDriver(address).apply(vf_host.ctx)
    assert vf_host.fs.devices[address].driver == "igbvf" and vf_host.record() == {}
    assert undo is not None
    undo.run()
    assert vf_host.fs.devices[address].driver == "vfio-pci"


def test_vf_mac_vlan(vf_host):
    def changed():
        assert vf_host.net.links["enp4s0f0"].vfs[1] == VfInfo(1, "52:54:00:00:0f:01", 100)
        assert vf_host.record()["vfs"]["enp4s0f0/1"] == {"pf": "enp4s0f0", "index": 1,
                                                           "mac": "00:00:00:00:00:00", "vlan": 0}

    check_cycle(vf_host, A.SetVfMacVlan("enp4s0f0", 1, "52:54:00:00:0f:01", 100), changed)


def test_restore_vf_and_undo(vf_host):
    A.SetVfMacVlan("enp4s0f0", 1, "52:54:00:00:0f:01", 100).apply(vf_host.ctx)
    undo = A.RestoreVf("enp4s0f0", 1).apply(vf_host.ctx)
    assert vf_host.net.links["enp4s0f0"].vfs[1].vlan == 0 and vf_host.record() == {}
    assert undo is not None
    undo.run()
    assert vf_host.net.links["enp4s0f0"].vfs[1] == VfInfo(1, "52:54:00:00:0f:01", 100)


# --------------------------------------------------------------------------- records and output


def test_record_port_wish_for_the_owning_domain(tmp_path):
    host = Host(tmp_path, owner=Owner("network", "packtovs"))
    wish = (("mode", "access"), ("tag", 5))
    undo = A.RecordPortWish("capvm", "u-1", "52:54:00:61:b5:e0", wish).apply(host.ctx)
    assert host.record("domains", "capvm") == {
        "name": "capvm", "uuid": "u-1", "port_wishes": {"52:54:00:61:b5:e0": {"mode": "access", "tag": 5}}}
    assert A.RecordPortWish("capvm", "u-1", "52:54:00:61:b5:e0", wish).apply(host.ctx) is None
    assert undo is not None
    undo.run()
    assert host.record("domains", "capvm") == {}


def test_forget_domain_and_rewrite_xml(host):
    A.RecordPortWish("vm1", None, "52:54:00:00:00:01", (("tag", 5),)).apply(host.ctx)
    undo = A.ForgetDomain().apply(host.ctx)
    assert host.record() == {}
    assert undo is not None
    undo.run()
    assert host.record()["port_wishes"]
    out = A.RewriteXml("<domain/>\n").apply(host.ctx)
    assert host.ctx.output == ["<domain/>\n"]
    assert out is not None
    out.run()
    assert host.ctx.output == []


def test_render_plan_numbers_actions_and_names_interfaces():
    text = A.render_plan([A.LinkUp("tap0", iface="52:54:00:00:00:01 (tap0)"), A.CheckUplink("up0")])
    assert text == "1. bring tap0 up  [52:54:00:00:00:01 (tap0)]\n2. check uplink up0 exists and is up\n"
    assert A.render_plan([]) == "nothing to do\n"


def test_vf_vlan_only_leaves_the_mac_alone_on_restore(vf_host):
    vf_host.net.set_vf("enp4s0f0", 1, mac="52:54:00:00:0f:03")   # as libvirt left it
    A.SetVfMacVlan("enp4s0f0", 1, None, 42).apply(vf_host.ctx)
    assert vf_host.net.links["enp4s0f0"].vfs[1] == VfInfo(1, "52:54:00:00:0f:03", 42)
    vf_host.net.set_vf("enp4s0f0", 1, mac="00:00:00:00:00:00")   # libvirt restored its original
    A.RestoreVf("enp4s0f0", 1).apply(vf_host.ctx)
    assert vf_host.net.links["enp4s0f0"].vfs[1] == VfInfo(1, "00:00:00:00:00:00", 0)


def test_bridge_port_vlans_refuse_a_bridge_without_vlan_filtering(host):
    _refused_and_unchanged(host, False, "bridge br0 has VLAN filtering off, so VLANs on vnet0 would isolate")


def test_mark_starting_notes_the_daemon_only_when_prepare_left_something(tmp_path):
    host = Host(tmp_path)
    ctx = Context(host.owner, host.store, Deadline(30), netlink=host.net, daemon_pid=4242)
    assert A.MarkStarting().apply(ctx) is None and host.record() == {}   # nothing to protect
    with host.store.edit("domains", "vm1") as rec:
        rec["taps"] = {"tap0": {}}
    undo = A.MarkStarting().apply(ctx)
    assert undo is not None
    note = host.record()["starting"]
    assert note["pid"] == 4242 and abs(note["since"] - time.time()) < 60
    # Applied again (a second prepare), the note is renewed; undone, the earlier one comes back.
    time.sleep(0.01)
    again = A.MarkStarting().apply(ctx)
    assert again is not None and host.record()["starting"]["since"] > note["since"]
    again.run()
    assert host.record()["starting"] == note
    undo.run()
    assert "starting" not in host.record() and host.record()["taps"] == {"tap0": {}}


def test_forget_domain_drops_the_start_note_too(host):
    with host.store.edit("domains", "vm1") as rec:
        rec["starting"] = {"pid": 1, "since": 1.0}
    undo = A.ForgetDomain().apply(host.ctx)
    assert host.record() == {}
    assert undo is not None
    undo.run()
    assert host.record()["starting"] == {"pid": 1, "since": 1.0}
