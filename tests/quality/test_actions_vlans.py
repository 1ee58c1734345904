"""Bridge and OVS VLAN actions at their edges: the port's bridge, the order of changes, what
verify reports, and exactly what undo puts back."""

from __future__ import annotations

import pytest

from hooks import actions as A
from hooks.actions.ovs import OvsTransaction
from hooks.errors import HostError, NotFound
from hooks.ports import BridgeVlan, OvsKeyChange, OvsVlanChange
from tests.fakes import FakeNetlink
from tests.hooks.test_actions import Host


@pytest.fixture
def host(tmp_path):
    return Host(tmp_path)


def port(host: Host, vlan_filtering: bool = True) -> None:
    host.net.add_bridge("br0", vlan_filtering=vlan_filtering)
    host.net.add_link("vnet0", "tun", master="br0")


# --------------------------------------------------------------------------- bridge


def test_vlan_filtering_undo_steps_name_the_state_they_restore(host):
    host.net.add_bridge("br0")
    host.net.add_bridge("br1", vlan_filtering=True)
    on = A.BridgeVlanFiltering("br0", True).apply(host.ctx)
    off = A.BridgeVlanFiltering("br1", False).apply(host.ctx)
    assert on is not None and on.step == "restore VLAN filtering off on br0"
    assert off is not None and off.step == "restore VLAN filtering on on br1"
    off.run()
    assert host.net.links["br1"].vlan_filtering is True


@pytest.mark.parametrize(("setup", "detail"), [
    (lambda h: None, "tap0 does not exist, not to bridge br0"),
    (lambda h: h.net.add_link("tap0", "tun"), "tap0 is attached to nothing, not to bridge br0"),
])
def test_port_vlans_of_a_tap_that_is_not_on_its_bridge(host, setup, detail):
    host.net.add_bridge("br0", vlan_filtering=True)
    setup(host)
    with pytest.raises(HostError) as info:
        A.BridgePortVlans("tap0", (10,), pvid=10, bridge="br0").apply(host.ctx)
    assert info.value.message == f"set bridge VLANs of tap0: pvid 10 untagged: {detail}"


def test_port_vlans_on_its_own_bridge_are_set(host):
    port(host)
    assert A.BridgePortVlans("vnet0", (10,), pvid=10, bridge="br0").apply(host.ctx) is not None
    assert host.net.links["vnet0"].vlans == {10: BridgeVlan(10, pvid=True, untagged=True)}


def test_port_vlans_refusal_on_a_bridge_without_filtering_is_exact(host):
    port(host, vlan_filtering=False)
    with pytest.raises(HostError) as info:
        A.BridgePortVlans("vnet0", (10,), pvid=10).apply(host.ctx)
    assert info.value.message == (
        "set bridge VLANs of vnet0: pvid 10 untagged: bridge br0 has VLAN filtering off, so VLANs on "
        "vnet0 would isolate nothing; turn it on (<vnx:bridge vlan-filtering='yes'/> in the network's "
        "metadata, or 'ip link set br0 type bridge vlan_filtering 1')")


def test_port_vlans_of_the_bridge_itself_need_no_master(host):
    host.net.add_bridge("br0", vlan_filtering=True)
    assert A.BridgePortVlans("br0", (10,), pvid=10).apply(host.ctx) is not None
    assert host.net.calls_to("bridge_vlan_filtering") == []


def test_the_pvid_is_added_last_and_the_default_dropped_after_the_adds(host):
    port(host)
    A.BridgePortVlans("vnet0", (30, 20, 10), pvid=20).apply(host.ctx)
    assert host.net.calls_to("bridge_vlan_add") == [
        ("vnet0", 10, False, False), ("vnet0", 30, False, False), ("vnet0", 20, True, True)]
    assert host.net.calls_to("bridge_vlan_del") == [("vnet0", 1)]
    names = [c[0] for c in host.net.calls if c[0].startswith("bridge_vlan_")]
    assert names.index("bridge_vlan_del") > names.index("bridge_vlan_add")


def test_a_pvid_outside_the_vid_list_is_still_carried(host):
    port(host)
    A.BridgePortVlans("vnet0", (30,), pvid=20, untagged_pvid=False).apply(host.ctx)
    assert host.net.links["vnet0"].vlans == {20: BridgeVlan(20, pvid=True, untagged=False),
                                             30: BridgeVlan(30)}


def test_verify_reports_what_the_port_holds_and_changes_nothing(host):
    port(host)
    host.net.bridge_vlan_add("vnet0", 30, False, False)
    host.net.calls.clear()
    with pytest.raises(HostError) as info:
        A.BridgePortVlans("vnet0", (10,), pvid=10, verify=True).apply(host.ctx)
    assert info.value.message == (
        "verify bridge VLANs libvirt set on vnet0: pvid 10 untagged: vnet0 holds VLANs 1 pvid untagged, "
        "30, not what libvirt's <vlan> sets; the hook does not change VLANs libvirt applies (restart the "
        "guest, or fix whatever changed them)")
    assert host.net.calls_to("bridge_vlan_add") == [] and host.net.calls_to("bridge_vlan_del") == []


def test_verify_lists_the_vlans_by_id_whatever_order_the_port_gives(host):
    port(host)
    host.net.links["vnet0"].vlans = {30: BridgeVlan(30), 1: BridgeVlan(1, pvid=True, untagged=True),
                                     20: BridgeVlan(20, untagged=True)}
    host.net.bridge_vlans = lambda name: list(host.net.links[name].vlans.values())
    with pytest.raises(HostError, match="vnet0 holds VLANs 1 pvid untagged, 20 untagged, 30, not what"):
        A.BridgePortVlans("vnet0", (10,), pvid=10, verify=True).apply(host.ctx)


def test_verify_of_a_port_without_vlans_says_none(host):
    port(host)
    host.net.links["vnet0"].vlans = {}
    with pytest.raises(HostError, match="vnet0 holds VLANs none, not what"):
        A.BridgePortVlans("vnet0", (10,), pvid=10, verify=True).apply(host.ctx)


def test_verify_of_what_libvirt_set_passes(host):
    port(host)
    host.net.links["vnet0"].vlans = {10: BridgeVlan(10, pvid=True, untagged=True), 20: BridgeVlan(20)}
    assert A.BridgePortVlans("vnet0", (10, 20), pvid=10, verify=True).apply(host.ctx) is None


def test_undo_puts_back_the_pvid_flag_the_change_moved(host):
    port(host)
    host.net.links["vnet0"].vlans = {1: BridgeVlan(1, pvid=True, untagged=True), 5: BridgeVlan(5),
                                     7: BridgeVlan(7, pvid=False, untagged=True)}
    before = dict(host.net.links["vnet0"].vlans)
    undo = A.BridgePortVlans("vnet0", (7, 10), pvid=10, remove_default=False).apply(host.ctx)
    assert undo is not None and undo.step == "restore bridge VLANs of vnet0"
    assert host.net.links["vnet0"].vlans == {1: BridgeVlan(1, untagged=True), 7: BridgeVlan(7),
                                             10: BridgeVlan(10, pvid=True, untagged=True)}
    host.net.calls.clear()
    undo.run()
    assert host.net.links["vnet0"].vlans == before
    # Only what differs is touched: 10 removed, 5 added back, 7 untagged again, pvid 1 last.
    assert host.net.calls_to("bridge_vlan_del") == [("vnet0", 10)]
    assert host.net.calls_to("bridge_vlan_add") == [("vnet0", 5, False, False), ("vnet0", 7, False, True),
                                                    ("vnet0", 1, True, True)]


def test_undo_leaves_vlans_the_change_did_not_touch(host):
    port(host)
    host.net.bridge_vlan_add("vnet0", 30, False, False)
    undo = A.BridgePortVlans("vnet0", (30, 10), pvid=10, remove_default=False).apply(host.ctx)
    host.net.calls.clear()
    assert undo is not None
    undo.run()
    assert host.net.calls_to("bridge_vlan_del") == [("vnet0", 10)]
    assert host.net.calls_to("bridge_vlan_add") == [("vnet0", 1, True, True)]


def test_a_failure_midway_whose_undo_fails_too_is_left_for_repair(tmp_path):
    net = FakeNetlink(fail_on={"bridge_vlan_del": HostError(step="vlan del", detail="EPERM")})
    host = Host(tmp_path, net=net)
    port(host)
    with pytest.raises(HostError, match="EPERM"):
        A.BridgePortVlans("vnet0", (10,), pvid=10).apply(host.ctx)
    assert host.ctx.left_over == ["restore bridge VLANs of vnet0: vlan del: EPERM"]


# --------------------------------------------------------------------------- OVS


def ovs(host: Host, *ports: str) -> None:
    host.ovs.add_bridge("ovsbr0")
    for name in ports:
        host.ovs.add_port("ovsbr0", name)
    host.ovs.calls.clear()


def test_one_ovs_action_is_one_transaction_reading_its_port(host):
    ovs(host, "vnet1")
    undo = A.OvsPortVlan("vnet1", 10, (), "access").apply(host.ctx)
    assert host.ovs.calls == [("transact", ("vnet1",), (OvsVlanChange("vnet1", 10, (), "access"),))]
    assert undo is not None and undo.step == "restore VLAN settings of OVS port vnet1"
    undo.run()
    assert host.ovs.calls[-1] == ("transact", (), (OvsVlanChange("vnet1", None, (), None),))


def test_ovs_vlan_undo_restores_every_column_it_had(host):
    ovs(host, "vnet1")
    row = host.ovs.ports["vnet1"]
    row.tag, row.trunks, row.vlan_mode = 5, (5, 6), "native-untagged"
    undo = A.OvsPortVlan("vnet1", 10, (), "access").apply(host.ctx)
    assert (row.tag, row.trunks, row.vlan_mode) == (10, (), "access")
    assert undo is not None
    undo.run()
    assert (row.tag, row.trunks, row.vlan_mode) == (5, (5, 6), "native-untagged")


def test_ovs_vlan_compare_ignores_trunk_order_and_repeats(host):
    ovs(host, "vnet1")
    host.ovs.ports["vnet1"].trunks, host.ovs.ports["vnet1"].vlan_mode = (30, 20), "trunk"
    assert A.OvsPortVlan("vnet1", None, (20, 30, 30), "trunk").apply(host.ctx) is None
    assert A.OvsPortVlan("vnet1", None, (20, 30), "native-tagged").apply(host.ctx) is not None
    assert A.OvsPortVlan("vnet1", 20, (20, 30), "native-tagged").apply(host.ctx) is not None


def test_ovs_setting_of_a_port_reads_its_value_and_restores_it(host):
    ovs(host, "vnet1")
    host.ovs.maps[("Port", "vnet1")]["other_config"] = {"k": "old"}
    undo = A.OvsSetting("Port", "vnet1", "other_config", "k", "new").apply(host.ctx)
    assert host.ovs.calls[0][1] == ("vnet1",)
    assert undo is not None and undo.step == "restore OVS Port vnet1 other_config:k"
    undo.run()
    restore = OvsKeyChange("Port", "vnet1", "other_config", "k", "old")
    assert host.ovs.calls[-1] == ("transact", (), (restore,))


def test_ovs_settings_not_read_back_always_count_and_undo_removes_the_key(host):
    ovs(host, "vnet1")
    for table, column in (("Interface", "other_config"), ("Port", "external_ids")):
        undo = A.OvsSetting(table, "vnet1", column, "k", "v").apply(host.ctx)
        assert host.ovs.calls[-1][1] == ()                     # nothing read
        assert undo is not None and undo.step == f"restore OVS {table} vnet1 {column}:k"
        assert A.OvsSetting(table, "vnet1", column, "k", "v").apply(host.ctx) is not None
        undo.run()
        assert host.ovs.calls[-1] == ("transact", (), (OvsKeyChange(table, "vnet1", column, "k", None),))


def test_a_transaction_of_several_ports_names_each_once_and_undoes_newest_first(host):
    ovs(host, "vnet1", "vnet2")
    group = [A.OvsPortVlan("vnet1", 10, (), "access"),
             A.OvsSetting("Port", "vnet1", "other_config", "k", "v"),
             A.OvsPortVlan("vnet2", 20, (), "access")]
    changed, undo = OvsTransaction.of(host.ctx, group).commit()
    assert changed == group
    assert undo is not None and undo.step == "restore OVS settings of vnet1, vnet2"
    undo.run()
    assert host.ovs.calls[-1] == ("transact", (), (
        OvsVlanChange("vnet2", None, (), None),
        OvsKeyChange("Port", "vnet1", "other_config", "k", None),
        OvsVlanChange("vnet1", None, (), None)))


def test_the_culprit_of_a_missing_record_nobody_named_is_the_first(host):
    group = [A.OvsPortVlan("vnet1", 10, ()), A.OvsPortVlan("vnet2", 20, ())]
    batch = OvsTransaction.of(host.ctx, group)
    assert batch.culprit(NotFound(step="s", what="port", name="vnet2")) is group[1]
    assert batch.culprit(NotFound(step="s", what="port", name="vnet9")) is group[0]
    assert batch.actions == group
