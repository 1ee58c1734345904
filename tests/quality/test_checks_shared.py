"""The building blocks the network and interface checks share, at their edges: where a <vlan>
finding points, each beside its accepted twin. Each case pins the findings exactly: line,
severity, code, message."""

from __future__ import annotations

import pytest
from lxml import etree

from xmltools import checks
from xmltools.checks.shared import check_mac_attr


def _vlan(vlan: str) -> list[tuple[int, str, str, str]]:
    """Findings of an Open vSwitch network whose <vlan> starts on line 6."""
    report = checks.Report()
    doc = ("<network>\n<name>n</name>\n<forward mode='bridge'/>\n<bridge name='ovsbr0'/>\n"
           f"<virtualport type='openvswitch'/>\n{vlan}\n</network>")
    checks.check_network(etree.fromstring(doc), report)
    return [(i.line, i.severity, i.code, i.message) for i in report.issues]


@pytest.mark.parametrize("trunk,found", [
    ("yes", []),
    ("no", [(6, "error", "vlan-trunk-no", "network: a native VLAN needs a trunk, but trunk='no' is set")]),
])
def test_a_native_tag_under_trunk_no_points_at_the_vlan(trunk, found):
    assert _vlan(f"<vlan trunk='{trunk}'>\n<tag id='10' nativeMode='untagged'/>\n</vlan>") == found


@pytest.mark.parametrize("tags,found", [
    ("<tag id='10'/>", []),
    ("<tag id='10'/>\n<tag id='20'/>",
     [(6, "error", "vlan-trunk-no", "network: several tags make a trunk, but trunk='no' is set")]),
])
def test_several_tags_under_trunk_no_point_at_the_vlan(tags, found):
    assert _vlan(f"<vlan trunk='no'>\n{tags}\n</vlan>") == found


# --------------------------------------------------------------------------- describe


@pytest.mark.parametrize("xml,shown", [
    ("<vlan tag='10'/>", "<vlan tag='10'>"),
    ("<vlan trunks='10-20'/>", "<vlan trunks='10-20'>"),
    ("<vlan tag='10' trunks='20' native='10'/>", "<vlan tag='10' trunks='20'>"),     # two keys at most
    ("<vlan native='10'/>", "<vlan>"),
    ("<x name='a' type='b' mode='c'/>", "<x name='a' type='b'>"),
])
def test_describe_names_an_element_by_its_first_two_identifying_attributes(xml, shown):
    assert checks.describe(etree.fromstring(xml)) == shown


# --------------------------------------------------------------------------- MAC attributes


@pytest.mark.parametrize("mac,returned,found", [
    ("52:54:00:AB:CD:EF", "52:54:00:ab:cd:ef", []),
    ("52:54:00:ab:cd:ef", "52:54:00:ab:cd:ef", []),
    ("00:00:00:00:00:00", None, [("warning", "mac-zero")]),
    ("53:54:00:ab:cd:ef", None, [("error", "mac-multicast")]),
    ("52:54:00:ab:cd", None, [("error", "mac-malformed")]),
])
def test_a_usable_mac_comes_back_in_lower_case(mac, returned, found):
    report = checks.Report()
    node = etree.fromstring(f"<mac address='{mac}'/>")
    assert check_mac_attr(node, report, "here") == returned
    assert [(i.severity, i.code) for i in report.issues] == found
