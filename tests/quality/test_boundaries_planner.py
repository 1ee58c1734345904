"""Boundaries of the planner's numeric checks, each with a pass and a fail twin.

VLAN ids on a Linux-bridge port and in any metadata wish (1 to 4094: 0 and 4095 are reserved by
802.1Q, xmltools.rules.VLAN_RANGE; an OVS port too, where libvirt and OVS would take them but
neither means a VLAN), and TAP queue counts (one queue is a plain
TAP, two or more make it multi-queue). Expected plans are written out by hand.
"""

from __future__ import annotations

import pytest

from hooks import actions as A
from hooks.planner import StaticFacts, bridge_vlan_action, plan
from hooks.protocol import lookup
from xmltools.errors import InvalidValue
from xmltools.metadata import VlanWish
from xmltools.xmlparse import parse_bytes

NS = "urn:virt-netxml:hooks:1"
MAC = "52:54:00:00:00:01"
FACTS = StaticFacts(ovs_bridges=frozenset({"ovsbr0"}))


def _domain(interface: str, meta: str = "") -> bytes:
    metadata = (f"<metadata><vnx:netxml xmlns:vnx='{NS}'><vnx:interface mac='{MAC}'>{meta}"
                "</vnx:interface></vnx:netxml></metadata>") if meta else ""
    return (f"<domain type='kvm'><name>vm</name><uuid>11111111-2222-3333-4444-555555555555</uuid>"
            f"{metadata}<devices>{interface}</devices></domain>").encode()


def _start(interface: str, meta: str = "", record: dict | None = None) -> list[A.Action]:
    root = parse_bytes(_domain(interface, meta)).getroot()
    return plan(lookup("qemu", "start"), root, FACTS, record or {})


def _linux_port(vlan: str = "") -> str:
    return (f"<interface type='bridge'><mac address='{MAC}'/><source bridge='br0'/>"
            f"{vlan}<target dev='vnet0'/></interface>")


def _ovs_port(vlan: str = "") -> str:
    return (f"<interface type='bridge'><mac address='{MAC}'/><source bridge='ovsbr0'/>{vlan}"
            "<virtualport type='openvswitch'/><target dev='vnet0'/></interface>")


# --------------------------------------------------------------------------- Linux bridge VLANs

@pytest.mark.parametrize("vid", [1, 2, 4093, 4094])
def test_linux_bridge_access_vlan_inside_the_range_is_planned(vid):
    assert _start(_linux_port(), f"<vnx:vlan tag='{vid}'/>") == [
        A.BridgePortVlans("vnet0", (vid,), pvid=vid)]


@pytest.mark.parametrize("vid", [0, 4095])
def test_linux_bridge_access_vlan_outside_the_range_is_refused(vid):
    with pytest.raises(InvalidValue, match="reserved by 802.1Q.*VLAN ids are 1 to 4094"):
        _start(_linux_port(), f"<vnx:vlan tag='{vid}'/>")


@pytest.mark.parametrize("vid,ok", [(0, False), (1, True), (4094, True), (4095, False)])
def test_libvirts_own_vlan_on_a_linux_bridge_port_has_the_same_bounds(vid, ok):
    port = _linux_port(f"<vlan><tag id='{vid}'/></vlan>")
    if ok:
        assert _start(port) == [A.BridgePortVlans("vnet0", (vid,), pvid=vid)]
    else:
        with pytest.raises(InvalidValue, match="1 to 4094"):
            _start(port)


@pytest.mark.parametrize("vid,ok", [(0, False), (1, True), (4094, True), (4095, False)])
def test_recorded_portgroup_wish_on_a_linux_bridge_has_the_same_bounds(vid, ok):
    record = {"port_wishes": {MAC: {"tag": vid, "mode": "access"}}}
    if ok:
        assert _start(_linux_port(), record=record) == [A.BridgePortVlans("vnet0", (vid,), pvid=vid)]
    else:
        with pytest.raises(InvalidValue, match="1 to 4094"):
            _start(_linux_port(), record=record)


@pytest.mark.parametrize("trunks,native,ok", [
    ("1-4094", None, True), ("2-4095", None, False), ("0-10", None, False),
    ("10", 4094, True), ("10", 4095, False), ("10", 1, True), ("10", 0, False),
])
def test_linux_bridge_trunk_ids_and_native_have_the_same_bounds(trunks, native, ok):
    if ok:
        action = bridge_vlan_action("vnet0", VlanWish.from_attrs(None, trunks, native, None))
        assert max(action.vids) <= 4094 and min(action.vids) >= 1
        assert action.pvid == native
    else:
        with pytest.raises(InvalidValue, match="VLAN ids are 1 to 4094"):
            bridge_vlan_action("vnet0", VlanWish.from_attrs(None, trunks, native, None))


@pytest.mark.parametrize("vid", [0, 4095])
def test_a_bridge_port_refuses_reserved_ids_however_the_wish_was_made(vid):
    # A wish made in code (not read from XML) still meets the bridge's limits in the planner.
    with pytest.raises(InvalidValue, match="on a Linux bridge: .*reserved by 802.1Q"):
        bridge_vlan_action("vnet0", VlanWish(vid, (), None, "access"))


@pytest.mark.parametrize("vid", [1, 4094])
def test_ovs_port_takes_every_vlan(vid):
    assert _start(_ovs_port(), f"<vnx:vlan tag='{vid}'/>") == [
        A.OvsPortVlan("vnet0", vid, (), "access")]


@pytest.mark.parametrize("vid", [0, 4095])
def test_ovs_port_refuses_the_ids_802_1q_reserves(vid):
    with pytest.raises(InvalidValue, match="reserved by 802.1Q"):
        _start(_ovs_port(), f"<vnx:vlan tag='{vid}'/>")


@pytest.mark.parametrize("vid", [-1, 4096])
def test_metadata_vlan_beyond_libvirts_range_is_refused_everywhere(vid):
    for port in (_linux_port(), _ovs_port()):
        with pytest.raises(InvalidValue, match="invalid VLAN id"):
            _start(port, f"<vnx:vlan tag='{vid}'/>")


# --------------------------------------------------------------------------- TAP queues

def _prepare_tap(driver: str = "", tap_attrs: str = "") -> A.CreateTap:
    interface = (f"<interface type='ethernet'><mac address='{MAC}'/>"
                 f"<target dev='tap0' managed='no'/><model type='virtio'/>{driver}</interface>")
    root = parse_bytes(_domain(interface, f"<vnx:tap bridge='br0'{tap_attrs}/>")).getroot()
    [create] = [a for a in plan(lookup("qemu", "prepare"), root, FACTS, {}) if isinstance(a, A.CreateTap)]
    return create


@pytest.mark.parametrize("driver,multi", [
    ("", False),
    ("<driver name='vhost'/>", False),
    ("<driver queues='0'/>", False),
    ("<driver queues='1'/>", False),
    ("<driver queues='2'/>", True),
    ("<driver queues='16'/>", True),
])
def test_multi_queue_tap_from_two_queues_up(driver, multi):
    assert _prepare_tap(driver).multi_queue is multi


@pytest.mark.parametrize("driver,attr,multi", [
    ("<driver queues='4'/>", " multi-queue='no'", False),
    ("<driver queues='1'/>", " multi-queue='yes'", True),
])
def test_metadata_multi_queue_wins_over_the_queue_count(driver, attr, multi):
    assert _prepare_tap(driver, attr).multi_queue is multi


def test_tap_plan_is_create_plug_up_then_mark():
    # (a claim on the TAP's name may come first: that is the claims' business, not this test's)
    interface = (f"<interface type='ethernet'><mac address='{MAC}'/>"
                 "<target dev='tap0' managed='no'/><driver queues='2'/></interface>")
    root = parse_bytes(_domain(interface, "<vnx:tap bridge='br0'/>")).getroot()
    actions = plan(lookup("qemu", "prepare"), root, FACTS, {})
    assert [a for a in actions if not isinstance(a, A.ClaimDevice)] == [
        A.CreateTap("tap0", uid=None, gid=None, multi_queue=True, vnet_hdr=False, bridge="br0", ovs=False),
        A.EnslaveLink("tap0", "br0", False),
        A.LinkUp("tap0"),
        A.MarkStarting(),
    ]
