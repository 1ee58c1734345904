"""Per-port VLANs and OVS settings at ``start`` (and ``reconnect``/``attach``) with fixed answers:
which interfaces are planned (Linux bridge, network and OVS ports, the hook's own TAPs), which
wish wins (the domain's metadata, the recorded portgroup wish, libvirt's ``<vlan>``), what a
libvirt that sets Linux-bridge VLANs itself (11.0 and later) changes, and the OVS settings'
checks, each refusal with its whole message.
"""

from __future__ import annotations

import pytest

from hooks import actions as A
from hooks.errors import ForeignDevice, VlanConflict
from hooks.planner import StaticFacts, plan
from hooks.planner.domain import libvirt_sets
from hooks.protocol import lookup
from xmltools.errors import InvalidValue
from xmltools.xmlparse import parse_bytes

NS = "urn:virt-netxml:hooks:1"
MAC, MAC2 = "52:54:00:00:00:01", "52:54:00:00:00:02"
LABEL, LABEL2 = f"{MAC} (vnet0)", f"{MAC2} (vnet9)"
OLD = StaticFacts(ovs_bridges=frozenset({"ovsbr0"}))                      # libvirt not known
NEW = StaticFacts(ovs_bridges=frozenset({"ovsbr0"}), libvirt=(11, 3, 0))  # sets bridge VLANs itself
TAP_RECORD = {"taps": {"tap0": {"bridge": "br0", "ovs": False, "plugged": True}}}
OVS_TAP_RECORD = {"taps": {"tap0": {"bridge": "ovsbr0", "ovs": True, "plugged": True}}}


def _meta(*entries: tuple[str, str]) -> str:
    body = "".join(f"<vnx:interface mac='{mac}'>{inner}</vnx:interface>" for mac, inner in entries)
    return f"<metadata><vnx:netxml xmlns:vnx='{NS}'>{body}</vnx:netxml></metadata>" if entries else ""


def _start(interfaces: str, *meta: tuple[str, str], record: dict | None = None, facts=OLD,
           op: str = "start") -> list[tuple[A.Action, str]]:
    doc = f"<domain><name>vm</name>{_meta(*meta)}<devices>{interfaces}</devices></domain>"
    actions = plan(lookup("qemu", op), parse_bytes(doc.encode()).getroot(), facts, record or {})
    return [(a, a.iface) for a in actions]


def _bridge(kind: str = "bridge", source: str = "bridge='br0'", vlan: str = "", dev: str = "vnet0",
            mac: str = MAC, ovs: bool = False) -> str:
    target = f"<target dev='{dev}'/>" if dev else ""
    vport = "<virtualport type='openvswitch'/>" if ovs else ""
    return (f"<interface type='{kind}'><mac address='{mac}'/><source {source}/>{vlan}{vport}{target}"
            "</interface>")


def _tap(vlan: str = "", dev: str = "tap0", mac: str = MAC) -> str:
    return (f"<interface type='ethernet'><mac address='{mac}'/>{vlan}<target dev='{dev}' managed='no'/>"
            "</interface>")


# A second port after the one under test: a skipped interface must not end the loop.
AFTER = _bridge(dev="vnet9", mac=MAC2)
AFTER_META = (MAC2, "<vnx:vlan tag='99'/>")
AFTER_PLAN = (A.BridgePortVlans("vnet9", (99,), pvid=99), LABEL2)


# --------------------------------------------------------------------------- which interfaces

@pytest.mark.parametrize("kind,source", [("bridge", "bridge='br0'"),
                                         ("network", "network='default' bridge='br0'")])
def test_a_linux_bridge_or_network_port_gets_the_metadata_vlan(kind, source):
    assert _start(_bridge(kind, source), (MAC, "<vnx:vlan tag='10'/>")) == [
        (A.BridgePortVlans("vnet0", (10,), pvid=10), LABEL)]


@pytest.mark.parametrize("kind,source", [("bridge", "bridge='ovsbr0'"),
                                         ("network", "network='ovsnet' bridge='ovsbr0'")])
def test_an_ovs_port_gets_the_metadata_vlan(kind, source):
    assert _start(_bridge(kind, source, ovs=True), (MAC, "<vnx:vlan trunks='20-21' native='10'/>")) == [
        (A.OvsPortVlan("vnet0", 10, (10, 20, 21), "native-untagged"), LABEL)]


@pytest.mark.parametrize("interface", [
    _bridge(dev=""),                                          # no target device (yet)
    _bridge(source="network='default'"),                      # no bridge named
    _bridge("direct", "dev='up0' mode='bridge'"),             # macvtap
    "<interface type='user'><mac address='52:54:00:00:00:01'/><target dev='vnet0'/></interface>",
    _tap(),                                                   # a TAP the metadata does not make
])
def test_interfaces_that_are_no_bridge_port_are_left_alone(interface):
    assert _start(interface + AFTER, (MAC, "<vnx:vlan tag='10'/>"), AFTER_META) == [AFTER_PLAN]


def test_a_port_without_any_wish_plans_nothing():
    assert _start(_bridge() + _bridge(source="bridge='ovsbr0'", dev="vnet1", ovs=True)) == []


def test_a_mac_written_in_capitals_finds_its_metadata():
    assert _start(_bridge(mac=MAC.upper()), (MAC, "<vnx:vlan tag='10'/>")) == [
        (A.BridgePortVlans("vnet0", (10,), pvid=10), LABEL)]


def test_an_interface_without_mac_takes_no_metadata():
    iface = "<interface type='bridge'><source bridge='br0'/><target dev='vnet0'/></interface>"
    assert _start(iface, ("", "<vnx:vlan tag='10'/>")) == []


# --------------------------------------------------------------------------- which wish

WISH_30 = {"port_wishes": {MAC: {"tag": 30, "mode": "access"}}}


def test_the_recorded_portgroup_wish_applies_without_metadata():
    assert _start(_bridge(), record=WISH_30) == [(A.BridgePortVlans("vnet0", (30,), pvid=30), LABEL)]
    assert _start(_bridge(), (MAC, "<vnx:tap/>"), record=WISH_30) == [
        (A.BridgePortVlans("vnet0", (30,), pvid=30), LABEL)]


def test_the_metadata_wins_over_the_record_and_libvirts_vlan():
    port = _bridge(vlan="<vlan><tag id='40'/></vlan>")
    assert _start(port, (MAC, "<vnx:vlan tag='10'/>"), record=WISH_30) == [
        (A.BridgePortVlans("vnet0", (10,), pvid=10), LABEL)]
    assert _start(port, record=WISH_30) == [(A.BridgePortVlans("vnet0", (30,), pvid=30), LABEL)]
    assert _start(port) == [(A.BridgePortVlans("vnet0", (40,), pvid=40), LABEL)]


def test_libvirts_trunk_vlan_on_a_linux_bridge_before_11():
    port = _bridge(vlan="<vlan trunk='yes'><tag id='5' nativeMode='tagged'/><tag id='6'/></vlan>")
    assert _start(port) == [(A.BridgePortVlans("vnet0", (5, 6), pvid=5, untagged_pvid=False), LABEL)]


def test_libvirts_vlan_on_an_ovs_port_is_libvirts_business():
    port = _bridge(source="bridge='ovsbr0'", vlan="<vlan><tag id='40'/></vlan>", ovs=True)
    for facts in (OLD, NEW):
        assert _start(port, facts=facts) == []
        assert _start(port, (MAC, "<vnx:vlan tag='41'/>"), facts=facts) == [
            (A.OvsPortVlan("vnet0", 41, (), "access"), LABEL)]


# --------------------------------------------------------------------------- the hook's TAPs

def test_a_recorded_tap_gets_its_vlan_on_the_recorded_bridge():
    assert _start(_tap(), (MAC, "<vnx:vlan tag='10'/><vnx:tap bridge='brX'/>"), record=TAP_RECORD) == [
        (A.BridgePortVlans("tap0", (10,), pvid=10, bridge="br0"), f"{MAC} (tap0)")]
    assert _start(_tap(), (MAC, "<vnx:vlan tag='10'/><vnx:tap bridge='brX'/>"), record=OVS_TAP_RECORD) == [
        (A.OvsPortVlan("tap0", 10, (), "access"), f"{MAC} (tap0)")]


def test_a_recorded_taps_own_vlan_element_is_applied_by_the_hook_whatever_libvirt():
    for facts in (OLD, NEW):
        assert _start(_tap("<vlan><tag id='12'/></vlan>"), (MAC, "<vnx:tap bridge='br0'/>"),
                      record=TAP_RECORD, facts=facts) == [
            (A.BridgePortVlans("tap0", (12,), pvid=12, bridge="br0"), f"{MAC} (tap0)")]


def test_a_tap_whose_metadata_names_no_bridge_is_no_bridge_port():
    assert _start(_tap() + AFTER, (MAC, "<vnx:vlan tag='10'/><vnx:tap/>"), AFTER_META,
                  record=TAP_RECORD) == [AFTER_PLAN]


def test_a_recorded_taps_bridge_name_is_checked():
    record = {"taps": {"tap0": {"bridge": "a/b", "plugged": True}}}
    with pytest.raises(InvalidValue, match="a/b"):
        _start(_tap(), (MAC, "<vnx:vlan tag='10'/><vnx:tap bridge='br0'/>"), record=record)


NOT_OURS = ("interface 52:54:00:00:00:01 (tap0): VLANs of tap0: device 'tap0' is not a TAP the hook created "
            "or took for this domain and plugged into a bridge; refusing to touch a device the hook did "
            "not create or take")


@pytest.mark.parametrize("record", [
    {}, {"taps": {"tap0": "yes"}}, {"taps": {"tap0": {"plugged": True}}},
    {"taps": {"tap0": {"bridge": "", "plugged": True}}},
    {"taps": {"tap0": {"bridge": "br0", "plugged": False}}},
    {"taps": {"tap1": {"bridge": "br0", "plugged": True}}},
], ids=["none", "not-a-dict", "no-bridge", "empty-bridge", "unplugged", "another-tap"])
@pytest.mark.parametrize("inner,vlan,wishes", [
    ("<vnx:vlan tag='10'/>", "", {}),
    ("<vnx:ovs-setting table='Port' column='other_config' key='priority-tags' value='true'/>", "", {}),
    ("", "", {MAC: {"tag": 10}}),
    ("", "<vlan><tag id='10'/></vlan>", {}),
], ids=["meta-vlan", "ovs-setting", "recorded-wish", "libvirt-vlan"])
def test_vlans_on_a_tap_the_hook_did_not_plug_are_refused(record, inner, vlan, wishes):
    record = {**record, "port_wishes": wishes}
    with pytest.raises(ForeignDevice) as info:
        _start(_tap(vlan) + AFTER, (MAC, f"{inner}<vnx:tap bridge='br0'/>"), AFTER_META, record=record)
    assert info.value.message == NOT_OURS


@pytest.mark.parametrize("record", [{}, {"taps": {"tap0": {"bridge": "br0", "plugged": False}}}])
def test_a_tap_the_hook_did_not_plug_without_any_wish_is_skipped(record):
    assert _start(_tap() + AFTER, (MAC, "<vnx:tap bridge='br0'/>"), AFTER_META, record=record) == [AFTER_PLAN]


def test_a_tap_recorded_without_the_plugged_flag_counts_as_plugged():
    record = {"taps": {"tap0": {"bridge": "br0"}}}
    assert _start(_tap(), (MAC, "<vnx:vlan tag='10'/><vnx:tap bridge='br0'/>"), record=record) == [
        (A.BridgePortVlans("tap0", (10,), pvid=10, bridge="br0"), f"{MAC} (tap0)")]


# --------------------------------------------------------------------------- libvirt 11.0 and later

@pytest.mark.parametrize("version,sets", [(None, False), ((10, 10, 0), False), ((10, 99, 99), False),
                                          ((11, 0, 0), True), ((11, 0, 1), True), ((12, 0, 0), True)])
def test_libvirt_sets_linux_bridge_vlans_from_11_0(version, sets):
    assert libvirt_sets(StaticFacts(libvirt=version)) is sets


@pytest.mark.parametrize("kind,source", [("bridge", "bridge='br0'"),
                                         ("network", "network='default' bridge='br0'")])
def test_from_11_0_libvirts_linux_bridge_vlan_is_only_verified(kind, source):
    vlan = "<vlan trunk='yes'><tag id='5' nativeMode='tagged'/><tag id='6'/></vlan>"
    port = _bridge(kind, source, vlan=vlan)
    assert _start(port + AFTER, AFTER_META, facts=NEW) == [
        (A.BridgePortVlans("vnet0", (5, 6), pvid=5, untagged_pvid=False, verify=True), LABEL), AFTER_PLAN]
    assert _start(port, facts=StaticFacts(libvirt=(11, 0, 0))) == [
        (A.BridgePortVlans("vnet0", (5, 6), pvid=5, untagged_pvid=False, verify=True), LABEL)]
    assert _start(port, facts=StaticFacts(libvirt=(10, 10, 0))) == [
        (A.BridgePortVlans("vnet0", (5, 6), pvid=5, untagged_pvid=False), LABEL)]


def test_from_11_0_a_verified_vlan_is_checked_against_the_linux_bridge_range():
    with pytest.raises(InvalidValue, match="1 to 4094"):
        _start(_bridge(vlan="<vlan><tag id='4095'/></vlan>"), facts=NEW)


def test_from_11_0_a_metadata_vlan_without_libvirts_vlan_is_applied_by_the_hook():
    assert _start(_bridge(), (MAC, "<vnx:vlan tag='10'/>"), facts=NEW) == [
        (A.BridgePortVlans("vnet0", (10,), pvid=10), LABEL)]


@pytest.mark.parametrize("inner,record", [
    ("<vnx:vlan tag='7'/>", {}),
    ("<vnx:vlan trunks='7' native='7'/>", {}),             # the same set, written as a trunk
    ("", {"port_wishes": {MAC: {"tag": 7}}}),
])
def test_from_11_0_a_wish_that_agrees_with_libvirt_is_verified(inner, record):
    port = _bridge(vlan="<vlan><tag id='7'/></vlan>")
    assert _start(port, (MAC, inner), record=record, facts=NEW) == [
        (A.BridgePortVlans("vnet0", (7,), pvid=7, verify=True), LABEL)]


@pytest.mark.parametrize("inner,record,wish", [
    ("<vnx:vlan tag='8'/>", {}, "pvid 8 untagged"),
    ("<vnx:vlan trunks='7' native='7' mode='native-tagged'/>", {}, "pvid 7 tagged"),
    ("<vnx:vlan trunks='7-8' native='7'/>", {}, "pvid 7 untagged, tagged 8"),
    ("", {"port_wishes": {MAC: {"tag": 9}}}, "pvid 9 untagged"),
])
def test_from_11_0_a_wish_that_disagrees_with_libvirt_is_refused_naming_both(inner, record, wish):
    port = _bridge(vlan="<vlan><tag id='7'/></vlan>")
    with pytest.raises(VlanConflict) as info:
        _start(port, (MAC, inner), record=record, facts=NEW)
    assert info.value.message == (
        f"interface {LABEL}: the metadata asks for VLAN {wish} but libvirt 11.3.0 applies the port's own "
        "<vlan> (pvid 7 untagged) on this Linux bridge; the hook does not fight libvirt: make them agree "
        "or drop the metadata wish")


# --------------------------------------------------------------------------- OVS settings

PRIO = "<vnx:ovs-setting table='Port' column='other_config' key='priority-tags' value='always'/>"
STEER = "<vnx:ovs-setting table='Interface' column='other_config' key='tx-steering' value='hash'/>"
OVS_PORT = _bridge(source="bridge='ovsbr0'", ovs=True)


def test_ovs_settings_on_an_ovs_port_after_its_vlan():
    assert _start(OVS_PORT, (MAC, f"<vnx:vlan tag='3'/>{PRIO}{STEER}")) == [
        (A.OvsPortVlan("vnet0", 3, (), "access"), LABEL),
        (A.OvsSetting("Port", "vnet0", "other_config", "priority-tags", "always"), LABEL),
        (A.OvsSetting("Interface", "vnet0", "other_config", "tx-steering", "hash"), LABEL)]


def test_an_ovs_setting_without_a_value_removes_the_key():
    setting = "<vnx:ovs-setting table='Port' column='other_config' key='mcast-snooping-flood'/>"
    assert _start(OVS_PORT, (MAC, setting)) == [
        (A.OvsSetting("Port", "vnet0", "other_config", "mcast-snooping-flood", None), LABEL)]


def test_ovs_settings_on_the_hooks_tap_on_an_ovs_bridge():
    assert _start(_tap(), (MAC, f"{PRIO}<vnx:tap bridge='ovsbr0'/>"), record=OVS_TAP_RECORD) == [
        (A.OvsSetting("Port", "tap0", "other_config", "priority-tags", "always"), f"{MAC} (tap0)")]


@pytest.mark.parametrize("op", ["start", "reconnect", "attach"])
def test_an_ovs_setting_on_a_linux_bridge_port_is_refused(op):
    with pytest.raises(InvalidValue) as info:
        _start(_bridge(), (MAC, PRIO), op=op)
    assert info.value.message == ("invalid OVS setting 'other_config:priority-tags': interface "
                                  f"{LABEL} is not on an Open vSwitch bridge")


@pytest.mark.parametrize("setting,shown", [
    ("column='other_config' key='priority-tags' value='true'", "priority-tags"),
    ("table='Port' key='priority-tags' value='true'", "priority-tags"),
    ("table='Port' column='other_config' value='true'", "None"),
    ("table='' column='other_config' key='priority-tags'", "priority-tags"),
], ids=["no-table", "no-column", "no-key", "empty-table"])
def test_an_ovs_setting_needs_table_column_and_key(setting, shown):
    with pytest.raises(InvalidValue) as info:
        _start(OVS_PORT, (MAC, f"<vnx:ovs-setting {setting}/>"))
    assert info.value.message == f"invalid OVS setting '{shown}': needs table, column and key"


@pytest.mark.parametrize("setting,message", [
    ("table='Bridge' column='other_config' key='k' value='v'",
     "invalid OVS setting 'Bridge other_config:k': interface 52:54:00:00:00:01 (vnet0): OVS table 'Bridge' "
     "is not one a domain may change (only its own Port/Interface rows)"),
    ("table='Port' column='other_config' key='priority-tags' value='sometimes'",
     "invalid OVS setting 'Port other_config:priority-tags': interface 52:54:00:00:00:01 (vnet0): Port "
     "other_config:priority-tags takes never, if-nonzero, always, true, false"),
])
def test_an_ovs_setting_outside_the_allowlist_is_refused_naming_the_interface(setting, message):
    with pytest.raises(InvalidValue) as info:
        _start(OVS_PORT, (MAC, f"<vnx:ovs-setting {setting}/>"))
    assert info.value.message == message


# --------------------------------------------------------------------------- one hot-plugged NIC

def test_only_the_named_nic_is_planned_whatever_the_case_of_its_mac():
    from hooks.planner.domain import port_vlan_actions

    meta = _meta((MAC, "<vnx:vlan tag='10'/>"), AFTER_META)
    doc = f"<domain><name>vm</name>{meta}<devices>{_bridge()}{AFTER}</devices></domain>"
    root = parse_bytes(doc.encode()).getroot()
    assert port_vlan_actions(root, OLD, {}, only=MAC2.upper()) == [AFTER_PLAN[0]]
    assert port_vlan_actions(root, OLD, {}, only=MAC) == [A.BridgePortVlans("vnet0", (10,), pvid=10)]
    assert port_vlan_actions(root, OLD, {}, only="52:54:00:00:00:09") == []


def test_only_a_nic_with_letters_in_its_mac_is_found_in_any_case():
    from hooks.planner.domain import port_vlan_actions

    mac = "52:54:00:ab:cd:ef"
    meta = _meta((mac, "<vnx:vlan tag='12'/>"))
    doc = f"<domain><name>vm</name>{meta}<devices>{_bridge(mac=mac.upper())}</devices></domain>"
    root = parse_bytes(doc.encode()).getroot()
    for only in (mac, mac.upper()):
        assert port_vlan_actions(root, OLD, {}, only=only) == [A.BridgePortVlans("vnet0", (12,), pvid=12)]
