"""The migrate/restore mapping: parsing and rewriting, preserving everything else."""

from __future__ import annotations

from pathlib import Path

import pytest

from hooks.transform import BridgeRule, load_mapping, parse_mapping, rewrite
from xmltools.errors import InputError
from xmltools.xmlparse import parse_bytes, to_string

CAPTURE = Path(__file__).resolve().parents[2] / "fixtures/hooks/captures/13-qemu-capvm-start-begin.xml"


def _root():
    return parse_bytes(CAPTURE.read_bytes()).getroot()


def _iface(xml: str, mac: str):
    return parse_bytes(xml).getroot().xpath(f"devices/interface[mac/@address='{mac}']")[0]


def test_parse_mapping_kinds_and_comments():
    mapping = parse_mapping("# host B\nbridge br0 = br-vlan10\n\nnetwork A = B  # rename\n"
                            "bridge brcap = ovs:ovsbr1\nbridge ovs:ovsbr0 = br7\n", "m")
    assert mapping.networks == {"A": "B"}
    assert mapping.bridges == [BridgeRule("br0", False, "br-vlan10", None),
                               BridgeRule("brcap", False, "ovsbr1", True),
                               BridgeRule("ovsbr0", True, "br7", False)]


@pytest.mark.parametrize("line,reason", [
    ("bridge br0 br1", "expected"),
    ("switch br0 = br1", "unknown kind"),
    ("bridge br0 = a b", "expected"),
    ("bridge br0 = this-name-is-far-too-long", "bytes long"),
    ("bridge ../x = br1", "not allowed"),
])
def test_bad_mapping_lines_name_file_and_line(line, reason):
    with pytest.raises(InputError, match=f"^m:2: .*{reason}"):
        parse_mapping("# ok\n" + line + "\n", "m")


def test_missing_mapping_file_means_no_mapping(tmp_path):
    assert load_mapping(str(tmp_path / "nope.conf")) is None
    (tmp_path / "m.conf").write_text("network a = b\n")
    assert load_mapping(str(tmp_path / "m.conf")).networks == {"a": "b"}


def test_linux_bridge_rename_changes_only_that_attribute():
    xml, changes = rewrite(_root(), parse_mapping("bridge brcap = br-vlan10\n", "m"))
    assert changes == ["52:54:00:ea:dd:15: bridge brcap -> br-vlan10"]
    original = to_string(_root())
    assert xml == original.replace("<source bridge=\"brcap\"/>", "<source bridge=\"br-vlan10\"/>")


def test_linux_bridge_to_ovs_adds_virtualport_after_source():
    xml, changes = rewrite(_root(), parse_mapping("bridge brcap = ovs:ovsbr1\n", "m"))
    assert changes[-1] == "52:54:00:ea:dd:15: now an Open vSwitch port"
    iface = _iface(xml, "52:54:00:ea:dd:15")
    assert [c.tag for c in iface][:3] == ["mac", "source", "virtualport"]
    assert iface.find("virtualport").get("type") == "openvswitch"
    assert iface.find("source").get("bridge") == "ovsbr1"


def test_ovs_to_linux_bridge_removes_the_virtualport():
    xml, changes = rewrite(_root(), parse_mapping("bridge ovs:ovsbr0 = br-lan\n", "m"))
    iface = _iface(xml, "52:54:00:61:b5:e0")
    assert iface.find("virtualport") is None and iface.find("source").get("bridge") == "br-lan"
    assert iface.find("vlan") is not None   # everything else stays


def test_ovs_prefixed_source_does_not_match_a_linux_port():
    assert rewrite(_root(), parse_mapping("bridge ovs:brcap = br9\n", "m")) == ("", [])


def test_network_rename():
    prepare = CAPTURE.parent / "09-qemu-capvm-prepare-begin.xml"
    root = parse_bytes(prepare.read_bytes()).getroot()
    xml, changes = rewrite(root, parse_mapping("network capnat = lan\n", "m"))
    assert changes == ["52:54:00:af:99:3d: network capnat -> lan"]
    assert "<source network=\"lan\"/>" in xml and "urn:example:capture" in xml


def test_input_tree_is_not_modified():
    root = _root()
    before = to_string(root)
    rewrite(root, parse_mapping("bridge brcap = ovs:ovsbr1\n", "m"))
    assert to_string(root) == before
