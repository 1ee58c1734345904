"""The building blocks the network and interface checks share, at their edges: where a <vlan>
finding points, each beside its accepted twin. Each case pins the findings exactly: line,
severity, code, message."""

from __future__ import annotations

import pytest
from lxml import etree

from xmltools import checks


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
