"""The <vlan> check of networks, portgroups and NICs at its edges: ids 0/1/4094/4095/4096 on a
Linux bridge port (an error at 0 and 4095) and elsewhere (a warning), spaces and spellings of an
id, duplicates and native tags, and which ports count as a Linux bridge's."""

from __future__ import annotations

import pytest
from lxml import etree

from xmltools import checks
from xmltools.checks.shared import check_vlan

ZERO = ("0 is reserved by 802.1Q for priority-tagged frames, which belong to no VLAN (Open vSwitch reads it "
        "as untagged, a Linux bridge refuses it); VLAN ids are 1 to 4094")
TOP = ("4095 is reserved by 802.1Q and never sent in a tag (libvirt and Open vSwitch would pass it on, a "
       "Linux bridge refuses it); VLAN ids are 1 to 4094")


def _vlan(xml: str, linux_bridge: bool) -> list[tuple[int, str, str, str]]:
    report = checks.Report()
    check_vlan(etree.fromstring(xml), report, "here", linux_bridge)
    return [(i.line, i.severity, i.code, i.message) for i in report.issues]


@pytest.mark.parametrize("raw,bridge,other", [
    ("1", [], []),
    ("4094", [], []),
    ("0", [("error", "vlan-id-range", f"here: on a Linux bridge port, VLAN id {ZERO}")],
     [("warning", "vlan-id-reserved", f"here: VLAN id {ZERO}")]),
    ("4095", [("error", "vlan-id-range", f"here: on a Linux bridge port, VLAN id {TOP}")],
     [("warning", "vlan-id-reserved", f"here: VLAN id {TOP}")]),
    ("4096", [("error", "vlan-id-range", "here: VLAN id '4096' is not a number from 0 to 4095")],
     [("error", "vlan-id-range", "here: VLAN id '4096' is not a number from 0 to 4095")]),
    (" 10 ", [], []),
    ("010", [], []),
    ("+10", [("error", "vlan-id-range", "here: VLAN id '+10' is not a number from 0 to 4095")],
     [("error", "vlan-id-range", "here: VLAN id '+10' is not a number from 0 to 4095")]),
    ("", [("error", "vlan-id-range", "here: VLAN id '' is not a number from 0 to 4095")],
     [("error", "vlan-id-range", "here: VLAN id '' is not a number from 0 to 4095")]),
])
def test_vlan_ids_at_the_edges(raw, bridge, other):
    xml = f"<vlan>\n<tag id='{raw}'/></vlan>"
    assert _vlan(xml, True) == [(2, *f) for f in bridge]
    assert _vlan(xml, False) == [(2, *f) for f in other]


def test_a_tag_without_an_id_is_refused():
    assert _vlan("<vlan>\n<tag/></vlan>", False) == [
        (2, "error", "vlan-id-range", "here: VLAN id None is not a number from 0 to 4095")]


def test_the_linux_bridge_rule_is_off_by_default():
    report = checks.Report()
    check_vlan(etree.fromstring("<vlan><tag id='0'/></vlan>"), report, "here")
    assert [i.code for i in report.issues] == ["vlan-id-reserved"]


def test_a_reserved_id_listed_twice_is_also_a_duplicate():
    xml = "<vlan trunk='yes'>\n<tag id='0'/>\n<tag id='0'/></vlan>"
    assert [f[:3] for f in _vlan(xml, False)] == [(2, "warning", "vlan-id-reserved"),
                                                  (3, "warning", "vlan-id-reserved"),
                                                  (3, "error", "vlan-duplicate")]


def test_an_id_listed_three_times_names_the_first_each_time():
    xml = "<vlan trunk='yes'>\n<tag id='7'/>\n<tag id='07'/>\n<tag id='7'/></vlan>"
    assert _vlan(xml, False) == [
        (3, "error", "vlan-duplicate", "here: VLAN id 7 is listed twice in one <vlan> (first on line 2)"),
        (4, "error", "vlan-duplicate", "here: VLAN id 7 is listed twice in one <vlan> (first on line 2)")]


def test_a_refused_id_is_neither_a_duplicate_nor_a_native_tag():
    xml = "<vlan>\n<tag id='x' nativeMode='untagged'/>\n<tag id='x' nativeMode='tagged'/></vlan>"
    assert [f[2] for f in _vlan(xml, False)] == ["vlan-id-range", "vlan-id-range"]


def test_three_native_tags_are_reported_once_at_the_second():
    xml = ("<vlan>\n<tag id='5' nativeMode='untagged'/>\n<tag id='6' nativeMode='tagged'/>\n"
           "<tag id='7' nativeMode='untagged'/></vlan>")
    assert _vlan(xml, False) == [(3, "error", "vlan-native-duplicate", "here: more than one tag has "
                                                                       "nativeMode; "
                                                                       "a trunk has at most one native VLAN")]


@pytest.mark.parametrize("trunk,tags,codes", [
    ("yes", "<tag id='5'/>", []),
    ("no", "<tag id='5'/>", []),
    ("no", "<tag id='5'/><tag id='6'/>", ["vlan-trunk-no"]),
    ("no", "<tag id='5' nativeMode='untagged'/>", ["vlan-trunk-no"]),
    ("maybe", "<tag id='5' nativeMode='untagged'/>", ["vlan-native-no-trunk"]),
    ("yes", "<tag id='5' nativeMode='untagged'/><tag id='6'/>", []),
    ("no", "", []),
])
def test_trunk_flags(trunk, tags, codes):
    assert [f[2] for f in _vlan(f"<vlan trunk='{trunk}'>{tags}</vlan>", False)] == codes


def _network(body: str) -> list[str]:
    report = checks.Report()
    checks.check_network(etree.fromstring(f"<network><name>n</name>{body}</network>"), report)
    return [i.code for i in report.issues]


@pytest.mark.parametrize("body,codes", [
    # a named host bridge without a virtualport: a Linux bridge, 4095 refused
    ("<forward mode='bridge'/><bridge name='br0'/>", ["vlan-id-range"]),
    ("<forward mode='bridge'/><bridge name='br0'/><virtualport type='openvswitch'/>", ["vlan-id-reserved"]),
    ("<forward mode='bridge'><interface dev='up0'/></forward>", ["vlan-id-reserved"]),
    ("<forward mode='hostdev'><pf dev='up0'/></forward>", ["vlan-id-reserved"]),
])
def test_which_networks_are_linux_bridges_for_their_vlan(body, codes):
    assert _network(body + "<vlan><tag id='4095'/></vlan>") == codes


@pytest.mark.parametrize("vport,codes", [
    ("", ["vlan-id-range"]),
    ("<virtualport type='openvswitch'/>", ["vlan-id-reserved"]),
])
def test_a_portgroup_on_a_linux_bridge_network(vport, codes):
    body = (f"<forward mode='bridge'/><bridge name='br0'/><portgroup name='pg'>{vport}"
            "<vlan><tag id='0'/></vlan>")
    assert _network(body + "</portgroup>") == codes


def test_a_portgroup_on_an_ovs_network_is_no_linux_bridge():
    body = ("<forward mode='bridge'/><bridge name='br0'/><virtualport type='openvswitch'/>"
            "<portgroup name='pg'><vlan><tag id='0'/></vlan></portgroup>")
    assert _network(body) == ["vlan-id-reserved"]


def _nic(xml: str) -> list[str]:
    report = checks.Report()
    checks.check_interface(etree.fromstring(xml), report)
    return [i.code for i in report.issues]


@pytest.mark.parametrize("xml,codes", [
    ("<interface type='bridge'><source bridge='br0'/><vlan><tag id='0'/></vlan></interface>",
     ["vlan-id-range"]),
    ("<interface type='bridge'><source bridge='br0'/><virtualport type='openvswitch'/><vlan><tag "
     "id='0'/></vlan>"
     "</interface>", ["vlan-id-reserved"]),
    ("<interface type='bridge'><source bridge='br0'/><virtualport type='802.1Qbg'/><vlan><tag id='0'/></vlan>"
     "</interface>", ["vlan-id-range"]),
    ("<interface type='network'><source network='n'/><vlan><tag id='0'/></vlan></interface>",
     ["vlan-id-reserved"]),
    ("<interface type='hostdev'><vlan><tag id='4095'/></vlan></interface>", ["vlan-id-reserved"]),
])
def test_which_nics_are_linux_bridge_ports_for_their_vlan(xml, codes):
    assert _nic(xml) == codes
