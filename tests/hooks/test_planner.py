"""The planner, table-tested from libvirt's real hook inputs and metadata-bearing variants.

Expected plans are written out by hand from the XML (what each interface asks for), not
produced by the planner.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hooks import actions as A
from hooks.errors import ForeignDevice
from hooks.planner import StaticFacts, plan, release_actions, wish_from_record
from hooks.protocol import lookup
from hooks.transform import parse_mapping
from xmltools.errors import InvalidValue, NetXmlError
from xmltools.xmlparse import parse_bytes

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "hooks"
CAPVM_UUID = "de3e2b2f-a916-47d3-a681-2d51dd5d3267"
FACTS = StaticFacts(ovs_bridges=frozenset({"ovsbr0"}), vfs={("enp4s0f0", 1): "0000:04:10.1"})


def _root(relpath: str):
    return parse_bytes((FIX / relpath).read_bytes()).getroot()


def _plan(driver: str, op: str, relpath: str, record: dict | None = None, facts=FACTS, mapping=None):
    return plan(lookup(driver, op), _root(relpath), facts, record or {}, mapping)


# Every real capture under the operation it was recorded for, and the domain captures under
# the other domain operations too: only the macvtap network's uplink needs anything.
CAPTURE_CASES = [
    ("network", "start", "01-network-capnat-start-begin.xml", []),
    ("network", "started", "02-network-capnat-started-begin.xml", []),
    ("network", "start", "03-network-isotest-start-begin.xml", []),
    ("network", "started", "04-network-isotest-started-begin.xml", []),
    ("network", "start", "05-network-packtovs-start-begin.xml", []),
    ("network", "started", "06-network-packtovs-started-begin.xml", []),
    ("network", "start", "07-network-capmvtap-start-begin.xml", [A.CheckUplink("up0", "capmvtap")]),
    ("network", "started", "08-network-capmvtap-started-begin.xml", []),
    ("qemu", "prepare", "09-qemu-capvm-prepare-begin.xml", []),
    ("network", "port-created", "10-network-capnat-port-created-begin.xml", []),
    ("network", "port-created", "11-network-packtovs-port-created-begin.xml", []),
    ("network", "port-created", "12-network-capmvtap-port-created-begin.xml", []),
    # libvirt applied the OVS trunk itself; the Linux bridge and TAP ports ask for nothing.
    ("qemu", "start", "13-qemu-capvm-start-begin.xml", []),
    ("qemu", "reconnect", "13-qemu-capvm-start-begin.xml", []),
    ("qemu", "started", "14-qemu-capvm-started-begin.xml", []),
    ("qemu", "stopped", "14-qemu-capvm-started-begin.xml", []),
    ("network", "stopped", "07-network-capmvtap-start-begin.xml", []),
    ("network", "port-deleted", "11-network-packtovs-port-created-begin.xml", []),
    ("network", "updated", "05-network-packtovs-start-begin.xml", []),
]


def _ids(value):
    return value if isinstance(value, str) else ""


# The same scenario recorded from each libvirt release (the newer ones by
# tests/e2e/record_capvm.py): the plans must not depend on the release.
CAPTURE_SETS = {"libvirt-9.0.0": "captures", "libvirt-11.3.0": "captures-libvirt-11.3.0"}


@pytest.mark.parametrize("release", list(CAPTURE_SETS))
@pytest.mark.parametrize("driver,op,name,expected", CAPTURE_CASES, ids=_ids)
def test_plan_for_real_captures(driver, op, name, expected, release):
    assert _plan(driver, op, f"{CAPTURE_SETS[release]}/{name}") == expected


def test_every_release_recorded_the_same_calls():
    """Each set holds exactly the calls the table names, so no capture goes untested."""
    for folder in CAPTURE_SETS.values():
        recorded = sorted(p.name for p in (FIX / folder).glob("*.xml"))
        assert recorded == sorted({name for _, _, name, _ in CAPTURE_CASES}), folder


WISH_TRUNK = {"tag": None, "trunks": "20,100-102", "native": 10, "mode": "native-untagged",
              "network": "packtovs", "portgroup": "trunk"}

VARIANT_CASES = [
    ("qemu", "prepare", "qemu-capvm-prepare-meta.xml", [
        A.ClaimDevice("tap-tapcap0", "TAP"),
        A.CreateTap("tapcap0", uid=0, gid=0, multi_queue=False, vnet_hdr=True, bridge="brcap", ovs=False),
        A.EnslaveLink("tapcap0", "brcap", False),
        A.LinkUp("tapcap0"),
        A.PassthroughExclusive("uplink-up0"),
        A.MarkStarting(),
    ]),
    ("qemu", "start", "qemu-capvm-start-meta.xml", [
        A.OvsPortVlan("vnet103", 10, (), "access"),
        A.OvsSetting("Port", "vnet103", "other_config", "priority-tags", "true"),
        A.BridgePortVlans("vnet104", (20, 30, 31, 32), pvid=20, untagged_pvid=True),
        A.BridgePortVlans("tapcap0", (40,), pvid=40, bridge="brcap"),
    ]),
    ("qemu", "reconnect", "qemu-capvm-start-meta.xml", [
        A.OvsPortVlan("vnet103", 10, (), "access"),
        A.OvsSetting("Port", "vnet103", "other_config", "priority-tags", "true"),
        A.BridgePortVlans("vnet104", (20, 30, 31, 32), pvid=20, untagged_pvid=True),
        A.BridgePortVlans("tapcap0", (40,), pvid=40, bridge="brcap"),
    ]),
    ("qemu", "start", "qemu-capvm-start-linux-portgroup-vlan.xml", [
        A.BridgePortVlans("vnet104", (7,), pvid=7),
    ]),
    ("qemu", "prepare", "qemu-vfvm-prepare-meta.xml", [
        A.ClaimDevice("pci-0000:04:10.1", "VF"),
        A.SetVfMacVlan("enp4s0f0", 1, "52:54:00:00:0f:01", 100, "0000:04:10.1"),
        A.PassthroughExclusive("uplink-enp4s0f0v1"),
        A.ClaimDevice("pci-0000:04:10.2", "VF"),
        A.BindVfio("0000:04:10.2"),
        A.MarkStarting(),
    ]),
    ("network", "port-created", "network-packtovs-port-created-meta.xml", [
        A.RecordPortWish("capvm", CAPVM_UUID, "52:54:00:61:b5:e0", tuple(sorted(WISH_TRUNK.items()))),
    ]),
    ("network", "start", "network-capmvtap-start-meta.xml", [
        A.CheckUplink("up0", "capmvtap"),
        A.CreateShim("mvshim0", "up0", "192.168.77.1/24"),
    ]),
    ("network", "started", "network-capnat-started-meta.xml", [A.BridgeVlanFiltering("virbr5", True)]),
    ("network", "start", "network-vfpool-start-meta.xml", [A.SetSriovNumVfs("enp4s0f0", 4),
                                                             A.RecordPool("enp4s0f0")]),
]


# What prepare records for capvm's TAP: start and reconnect set VLANs only on a recorded TAP.
TAPCAP0 = {"taps": {"tapcap0": {"bridge": "brcap", "ovs": False, "adopted": False, "plugged": True}}}


@pytest.mark.parametrize("driver,op,name,expected", VARIANT_CASES, ids=_ids)
def test_plan_for_metadata_variants(driver, op, name, expected):
    record = TAPCAP0 if op in ("start", "reconnect") else None
    assert _plan(driver, op, f"variants/{name}", record) == expected


def test_actions_carry_the_interface_for_messages():
    actions = _plan("qemu", "start", "variants/qemu-capvm-start-meta.xml", TAPCAP0)
    assert actions[0].iface == "52:54:00:61:b5:e0 (vnet103)"


def test_port_wish_recorded_by_network_hook_is_applied_at_domain_start():
    record = {"port_wishes": {"52:54:00:61:b5:e0": WISH_TRUNK}}
    actions = _plan("qemu", "start", "captures/13-qemu-capvm-start-begin.xml", record)
    assert actions == [A.OvsPortVlan("vnet103", 10, (10, 20, 100, 101, 102), "native-untagged")]


def test_domain_metadata_wins_over_recorded_portgroup_wish():
    record = {"port_wishes": {"52:54:00:61:b5:e0": WISH_TRUNK}, **TAPCAP0}
    actions = _plan("qemu", "start", "variants/qemu-capvm-start-meta.xml", record)
    assert actions[0] == A.OvsPortVlan("vnet103", 10, (), "access")


def test_ovs_trunk_without_native_and_native_tagged_modes():
    root = _root("captures/13-qemu-capvm-start-begin.xml")
    for mode, expected in (
        ({"trunks": "20,30-31", "mode": "trunk"}, A.OvsPortVlan("vnet103", None, (20, 30, 31), "trunk")),
        ({"trunks": "20", "native": 5, "mode": "native-tagged"},
         A.OvsPortVlan("vnet103", 5, (5, 20), "native-tagged")),
    ):
        record = {"port_wishes": {"52:54:00:61:b5:e0": mode}}
        assert plan(lookup("qemu", "start"), root, FACTS, record) == [expected]


def test_linux_bridge_native_tagged_keeps_pvid_tagged():
    record = {"port_wishes": {"52:54:00:ea:dd:15": {"trunks": "8", "native": 9, "mode": "native-tagged"}}}
    actions = _plan("qemu", "start", "captures/13-qemu-capvm-start-begin.xml", record)
    assert actions == [A.BridgePortVlans("vnet104", (8, 9), pvid=9, untagged_pvid=False)]


def test_release_undoes_what_the_record_lists_in_order():
    record = {"taps": {"tapb": {}, "tapa": {}}, "vfs": {"pf0/2": {"pf": "pf0", "index": 2}},
              "drivers": {"0000:04:10.2": {"driver": "igbvf"}}, "claims": {"pci-0000:04:10.2": "VF"},
              "port_wishes": {"52:54:00:00:00:01": {"tag": 5}}}
    assert plan(lookup("qemu", "release"), None, FACTS, record) == [
        A.DeleteTap("tapa"), A.DeleteTap("tapb"), A.RestoreVf("pf0", 2), A.RestoreDriver("0000:04:10.2"),
        A.ReleaseClaim("pci-0000:04:10.2"), A.ForgetDomain()]
    assert release_actions({}) == []


def test_prepare_first_cleans_up_leftovers_of_a_crashed_run():
    record = {"taps": {"tapcap0": {}}, "claims": {"uplink-up0": "passthrough uplink"}}
    actions = _plan("qemu", "prepare", "variants/qemu-capvm-prepare-meta.xml", record)
    assert actions[:2] == [A.DeleteTap("tapcap0"), A.ReleaseClaim("uplink-up0")]
    assert actions[2:4] == [A.ClaimDevice("tap-tapcap0", "TAP"),
                            A.CreateTap("tapcap0", 0, 0, False, True, "brcap", False)]


def test_network_stopped_removes_recorded_shims_only():
    assert plan(lookup("network", "stopped"), None, FACTS, {"shims": {"mvshim0": {}}}) == [
        A.DeleteShim("mvshim0")]
    assert plan(lookup("network", "stopped"), None, FACTS, {}) == []


def test_tap_on_ovs_bridge_is_added_as_ovs_port():
    facts = StaticFacts(ovs_bridges=frozenset({"brcap"}))
    actions = _plan("qemu", "prepare", "variants/qemu-capvm-prepare-meta.xml", facts=facts)
    assert actions[2] == A.EnslaveLink("tapcap0", "brcap", True)
    assert actions[1].ovs is True


def test_multi_queue_follows_driver_queues_when_metadata_is_silent():
    text = (FIX / "variants/qemu-capvm-prepare-meta.xml").read_text()
    target = "<target dev='tapcap0' managed='no'/>"
    text = text.replace(' multi-queue="no"', "").replace(target, target + "\n      <driver queues='4'/>")
    actions = plan(lookup("qemu", "prepare"), parse_bytes(text).getroot(), FACTS, {})
    assert actions[1].multi_queue is True


def test_prepare_refuses_a_device_the_hook_may_not_take_before_any_action():
    facts = StaticFacts(taken={"tapcap0": "is attached to brvic"})
    with pytest.raises(ForeignDevice, match=re.escape(
            "interface 52:54:00:b4:49:09 (tapcap0): create or take TAP tapcap0: device 'tapcap0' "
            "is attached to brvic")) as info:
        _plan("qemu", "prepare", "variants/qemu-capvm-prepare-meta.xml", facts=facts)
    assert info.value.exit_code == 1
    # A TAP of the domain's own earlier run is given back first, then taken again.
    actions = _plan("qemu", "prepare", "variants/qemu-capvm-prepare-meta.xml", {"taps": {"tapcap0": {}}},
                    facts=facts)
    assert actions[0] == A.DeleteTap("tapcap0")


@pytest.mark.parametrize("record", [{}, {"taps": {"tapcap0": {"ovs": False}}},
                                    {"taps": {"tapcap0": {"bridge": "brcap", "plugged": False}}}],
                         ids=["none", "no bridge", "not plugged"])
def test_start_sets_vlans_only_on_a_tap_recorded_as_plugged_by_the_hook(record):
    with pytest.raises(ForeignDevice, match="device 'tapcap0' is not a TAP the hook created or took"):
        _plan("qemu", "start", "variants/qemu-capvm-start-meta.xml", record)
    # Without a wish for it the TAP is left out, and the other interfaces are planned.
    text = (FIX / "variants/qemu-capvm-start-meta.xml").read_text().replace('<vnx:vlan tag="40"/>', "")
    actions = plan(lookup("qemu", "start"), parse_bytes(text).getroot(), FACTS, record)
    assert [a.port for a in actions if hasattr(a, "port")] == ["vnet103", "vnet104"]


def test_start_takes_the_tap_bridge_from_the_record_not_the_xml():
    record = {"taps": {"tapcap0": {"bridge": "ovsbr0", "ovs": True, "plugged": True}}}
    actions = _plan("qemu", "start", "variants/qemu-capvm-start-meta.xml", record)
    assert actions[-1] == A.OvsPortVlan("tapcap0", 40, (), "access")


@pytest.mark.parametrize("old,new,reason", [
    ("<target dev='tapcap0' managed='no'/>", "<target dev='tapcap0'/>", "managed='no'"),
    ('<vnx:tap bridge="brcap"', '<vnx:tap bridge="a-very-long-bridge-name"', "bytes long"),
    ("<target dev='tapcap0' managed='no'/>", "<target dev='../x' managed='no'/>", "not allowed"),
])
def test_bad_domain_metadata_is_refused_with_a_reason(old, new, reason):
    text = (FIX / "variants/qemu-capvm-prepare-meta.xml").read_text().replace(old, new)
    with pytest.raises(NetXmlError, match=reason):
        plan(lookup("qemu", "prepare"), parse_bytes(text).getroot(), FACTS, {})


def test_ovs_setting_on_a_linux_bridge_port_is_refused():
    text = (FIX / "variants/qemu-capvm-start-meta.xml").read_text().replace(
        '<vnx:vlan trunks="30-32" native="20"/>',
        '<vnx:ovs-setting table="Port" column="other_config" key="k" value="v"/>')
    with pytest.raises(InvalidValue, match="not on an Open vSwitch bridge"):
        plan(lookup("qemu", "start"), parse_bytes(text).getroot(), FACTS, {})


def test_vf_needs_an_access_vlan_and_an_existing_vf():
    text = (FIX / "variants/qemu-vfvm-prepare-meta.xml").read_text()
    with pytest.raises(InvalidValue, match="not trunks"):
        plan(lookup("qemu", "prepare"),
             parse_bytes(text.replace('tag="100"', 'trunks="100-101"')).getroot(), FACTS, {})
    with pytest.raises(InvalidValue, match="no such VF"):
        plan(lookup("qemu", "prepare"), parse_bytes(text).getroot(), StaticFacts(), {})


def test_vlan_zero_cannot_go_on_a_linux_bridge():
    record = {"port_wishes": {"52:54:00:ea:dd:15": {"tag": 0}}}
    with pytest.raises(InvalidValue, match="1 to 4094"):
        _plan("qemu", "start", "captures/13-qemu-capvm-start-begin.xml", record)


def test_wrong_document_for_the_driver():
    with pytest.raises(NetXmlError, match="expected"):
        _plan("network", "start", "captures/09-qemu-capvm-prepare-begin.xml")
    with pytest.raises(NetXmlError, match="expected <domain>"):
        from hooks.planner import owner_of

        owner_of(lookup("qemu", "start"), _root("captures/01-network-capnat-start-begin.xml"))


def test_migrate_and_restore_rewrite_by_mapping_and_stay_silent_otherwise():
    mapping = parse_mapping("bridge brcap = br-vlan10\n", "map")
    for op in ("migrate", "restore"):
        actions = _plan("qemu", op, "captures/09-qemu-capvm-prepare-begin.xml", mapping=mapping)
        assert len(actions) == 1 and isinstance(actions[0], A.RewriteXml)
        assert "<source bridge=\"br-vlan10\"/>" in actions[0].xml
        assert _plan("qemu", op, "captures/09-qemu-capvm-prepare-begin.xml") == []
    unrelated = parse_mapping("bridge elsewhere = br9\n", "map")
    assert _plan("qemu", "migrate", "captures/09-qemu-capvm-prepare-begin.xml", mapping=unrelated) == []


def test_wish_records_round_trip():
    wish = wish_from_record(WISH_TRUNK)
    assert (wish.native, wish.mode, wish.trunk_ids()) == (10, "native-untagged", [20, 100, 101, 102])


HOSTDEV_VF = """<domain><name>vm</name><metadata>
  <vnx:netxml xmlns:vnx="urn:virt-netxml:hooks:1">
    <vnx:interface mac="52:54:00:00:0f:03">
      <vnx:vlan tag="42"/><vnx:vf pf="enp4s0f0" index="1"/>
    </vnx:interface>
  </vnx:netxml></metadata>
  <devices><interface type='hostdev' managed='{managed}'><mac address='52:54:00:00:0f:03'/>
    <source><address type='pci' domain='0x0000' bus='0x04' slot='0x10' function='0x1'/></source>
  </interface></devices></domain>"""


@pytest.mark.parametrize("managed,bind", [("no", True), ("yes", False)])
def test_hostdev_vf_is_bound_at_prepare_and_gets_its_vlan_at_start(managed, bind):
    root = parse_bytes(HOSTDEV_VF.format(managed=managed)).getroot()
    prepare = plan(lookup("qemu", "prepare"), root, FACTS, {})
    bound = [A.BindVfio("0000:04:10.1")] if bind else []
    assert prepare == [A.ClaimDevice("pci-0000:04:10.1", "VF"), *bound, A.MarkStarting()]
    # libvirt sets the VF's MAC between prepare and start; the hook adds only the VLAN after it.
    assert plan(lookup("qemu", "start"), root, FACTS, {}) == [
        A.SetVfMacVlan("enp4s0f0", 1, None, 42, "0000:04:10.1")]


TWO_VFS = StaticFacts(vfs={("enp4s0f0", 1): "0000:04:10.1", ("enp4s0f0", 2): "0000:04:10.2"})


@pytest.mark.parametrize("vf,named", [
    ('pf="enp4s0f0" index="1" address="0000:04:10.2"', "VF 1 of enp4s0f0 is 0000:04:10.1, not 0000:04:10.2"),
    ('pf="enp4s0f0" index="2"', "<source><address> is 0000:04:10.1 but its metadata names 0000:04:10.2"),
    ('address="0000:04:10.2"', "<source><address> is 0000:04:10.1 but its metadata names 0000:04:10.2"),
])
def test_every_name_of_a_vf_must_be_the_same_function(vf, named):
    root = parse_bytes(HOSTDEV_VF.format(managed="no").replace('pf="enp4s0f0" index="1"', vf)).getroot()
    for op in ("prepare", "start"):
        with pytest.raises(InvalidValue, match=re.escape(named)):
            plan(lookup("qemu", op), root, TWO_VFS, {})


def test_the_same_vf_in_another_spelling_is_one_function():
    xml = HOSTDEV_VF.format(managed="no").replace(
        'pf="enp4s0f0" index="1"', 'pf="enp4s0f0" index="1" address="4:10.1"')
    root = parse_bytes(xml).getroot()
    assert plan(lookup("qemu", "prepare"), root, TWO_VFS, {})[0] == A.ClaimDevice("pci-0000:04:10.1", "VF")


@pytest.mark.parametrize("op", ["prepare", "start", "reconnect"])
def test_an_ovs_setting_outside_the_allowlist_refuses_the_whole_plan(op):
    xml = (FIX / "variants/qemu-capvm-start-meta.xml").read_text().replace(
        'table="Port" column="other_config" key="priority-tags"',
        'table="Bridge" column="other_config" key="k"')
    with pytest.raises(InvalidValue, match="OVS table 'Bridge' is not one a domain may change"):
        plan(lookup("qemu", op), parse_bytes(xml.encode()).getroot(), FACTS, {})
