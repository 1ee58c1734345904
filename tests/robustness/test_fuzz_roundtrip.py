"""Property: parse -> edit -> write never loses a node the edit did not target (issue 5 §2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.robustness.profiles import ci_settings
from tests.robustness.roundtrip import check_domain_edit, check_identity, check_network_edit
from tests.robustness.strategies import domain_documents, ident, ifname, network_documents
from xmltools.edit import InterfaceEdits, NetworkEdits
from xmltools.xmlparse import parse_bytes

pytestmark = pytest.mark.timeout(300)

vlan_tags = st.one_of(
    st.integers(0, 4095).map(str),
    st.lists(st.integers(1, 4094), min_size=2, max_size=4, unique=True).map(lambda v: ",".join(map(str, v))),
    st.sampled_from(["5000", "-1", "10-5", "x", "10:untagged,20", "1-4094"]),
)


@st.composite
def interface_edits(draw: st.DrawFn) -> InterfaceEdits:
    """One to three edits at once, valid or not."""
    edits = InterfaceEdits()
    for _ in range(draw(st.integers(1, 3))):
        which = draw(st.sampled_from(["model", "set_vlan", "clear_vlan", "set_bridge_vlan",
                                      "clear_bridge_vlan", "source_network", "source_bridge", "ovs",
                                      "regenerate_mac"]))
        if which == "model":
            edits.model = draw(st.sampled_from(["virtio", "e1000e", "bad model"]))
        elif which in ("set_vlan", "set_bridge_vlan"):
            setattr(edits, which, draw(vlan_tags))
        elif which == "source_network":
            edits.source_network = draw(ident)
            if draw(st.booleans()):
                edits.portgroup = draw(ident)
        elif which == "source_bridge":
            edits.source_bridge = draw(st.one_of(ifname, st.just("br 0")))
        elif which == "ovs":
            edits.ovs = draw(st.booleans())
        else:
            setattr(edits, which, True)
    return edits


@st.composite
def network_edits(draw: st.DrawFn, data: bytes) -> NetworkEdits:
    names = [g.get("name") for g in parse_bytes(data).getroot().iterfind("portgroup")]
    pool = st.sampled_from(names) if names else ident
    adds, vlans, removes = [], [], []
    for _ in range(draw(st.integers(1, 3))):  # at least one action
        which = draw(st.sampled_from(["add", "vlan", "remove"]))
        if which == "add":
            adds.append(draw(ident) + draw(st.sampled_from(["", ",default"])))
        elif which == "vlan":
            vlans.append(f"{draw(pool)}={draw(vlan_tags)}")
        else:
            removes.append(draw(pool))
    return NetworkEdits(add_portgroups=tuple(adds), portgroup_vlans=tuple(vlans),
                        remove_portgroups=tuple(removes))


@ci_settings(max_examples=200)
@given(data=st.data(), doc=domain_documents())
def test_domain_edit_keeps_untargeted_nodes(data: st.DataObject, doc: bytes) -> None:
    count = len(parse_bytes(doc).getroot().findall("devices/interface"))
    index = data.draw(st.one_of(st.none(), st.integers(0, count - 1)))
    edits = data.draw(interface_edits())
    outcome = check_domain_edit(doc, edits, index)
    if outcome.refused is not None:
        assert "\n" not in outcome.refused and outcome.refused.strip()
        return
    assert outcome.lost == [], f"lost by {edits} on interface {index}:\n" + "\n".join(outcome.lost)
    assert outcome.output is not None
    if edits.model is not None:
        assert f"type='{edits.model}'".encode() in outcome.output.replace(b'"', b"'")
    if edits.source_bridge is not None:
        assert f"bridge='{edits.source_bridge}'".encode() in outcome.output.replace(b'"', b"'")


@ci_settings(max_examples=120)
@given(data=st.data(), doc=network_documents())
def test_network_edit_keeps_untargeted_nodes(data: st.DataObject, doc: bytes) -> None:
    edits = data.draw(network_edits(doc))
    outcome = check_network_edit(doc, edits)
    if outcome.refused is not None:
        assert "\n" not in outcome.refused and outcome.refused.strip()
        return
    assert outcome.lost == [], f"lost by {edits}:\n" + "\n".join(outcome.lost)


@ci_settings(max_examples=100)
@given(doc=st.one_of(domain_documents(), network_documents()))
def test_parse_write_without_edit_is_lossless(doc: bytes) -> None:
    lost, added = check_identity(doc)
    assert lost == [] and added == [], (lost, added)


def test_stray_text_survives_an_added_child() -> None:
    """Found by the round-trip fuzzer: appending a child after one followed by text dropped the text."""
    doc = b"<network>\n  <name>x</name>\n  <forward mode='vepa'/> stray text\n</network>\n"
    outcome = check_network_edit(doc, NetworkEdits(add_portgroups=("pg1",)))
    assert outcome.refused is None and outcome.lost == [], outcome
    assert outcome.output is not None and b"stray text" in outcome.output and b"pg1" in outcome.output


@pytest.mark.parametrize("edits", [
    NetworkEdits(remove_portgroups=("pg1",)),
    NetworkEdits(portgroup_vlans=("pg1=5",)),
], ids=["remove-first-child", "replace-first-grandchild"])
def test_stray_text_survives_a_removed_first_child(edits: NetworkEdits) -> None:
    """Found by the round-trip fuzzer: removing an element's first child overwrote the text in
    front of it (the parent's own text) with the removed child's indentation."""
    doc = (b"<network>stray one\n  <portgroup name='pg1'>stray two\n    <vlan><tag id='3'/></vlan>\n"
           b"  </portgroup>\n  <forward mode='bridge'/>\n  <bridge name='ovs0'/>\n"
           b"  <virtualport type='openvswitch'/>\n</network>\n")
    outcome = check_network_edit(doc, edits)
    assert outcome.refused is None and outcome.lost == [], outcome
    assert outcome.output is not None and b"stray one" in outcome.output
