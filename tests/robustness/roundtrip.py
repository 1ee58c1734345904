"""The parse -> edit -> write round trip as one function, shared by the tests and fuzz/.

``check_domain_edit`` / ``check_network_edit`` apply an edit with the project's models the way
``virt-netxml edit`` does, write the document, parse the output again and return the input's
nodes that went missing outside what the edit targeted (an empty list is a pass). An edit the
project refuses must raise a NetXmlError (one-line message); anything else propagates.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from lxml import etree

from tests.robustness.treediff import SUBTREE, Exemptions, added_nodes, lost_nodes
from xmltools.domain import Domain
from xmltools.edit import (
    InterfaceEdits,
    NetworkEdits,
    document_text,
    edit_interfaces,
    edit_network,
    load_document,
)
from xmltools.errors import NetXmlError
from xmltools.network import Network
from xmltools.xmlparse import parse_bytes

VNX = "urn:virt-netxml:hooks:1"


@dataclass
class Outcome:
    refused: str | None        # the one-line message when the edit was refused
    output: bytes | None       # the written document
    lost: list[str]            # input nodes missing from the output


def _exemptions_for_interface(iface: etree._Element, edits: InterfaceEdits,
                              root: etree._Element) -> Exemptions:
    """The nodes of the input an interface edit may change or remove."""
    ex: Exemptions = {}

    def child(tag: str, how: str | frozenset[str]) -> None:
        # Every such child: in a document with two <source>s, removing the first makes the
        # second one "the" source, which the edit then changes.
        for node in iface.findall(tag):
            ex[node] = how

    if edits.model is not None:
        child("model", frozenset({"type"}))
    if edits.set_vlan is not None or edits.clear_vlan:
        child("vlan", SUBTREE)
    if edits.source_network is not None or edits.source_bridge is not None:
        ex[iface] = frozenset({"type", "managed"})
        child("source", SUBTREE)
        child("driver", SUBTREE)
        # what the new type does not take goes (Interface.change_type)
        for tag in ("virtualport", "target", "bandwidth", "backend", "portForward"):
            child(tag, SUBTREE)
        for meta in root.iterfind(f"metadata/{{{VNX}}}netxml"):
            ex[meta] = SUBTREE
    if edits.ovs is not None:
        child("virtualport", SUBTREE)
    if edits.regenerate_mac:
        child("mac", frozenset({"address"}))
    if edits.regenerate_mac or edits.touches_metadata():
        for meta in root.iterfind(f"metadata/{{{VNX}}}netxml"):
            ex[meta] = SUBTREE
    return ex


def check_domain_edit(data: bytes, edits: InterfaceEdits, index: int | None, seed: int = 0) -> Outcome:
    """Edit interface ``index`` (all when None) of the domain in ``data``; report what was lost."""
    before = parse_bytes(data).getroot()
    doc, style = load_document(data, source="<fuzz>")
    assert isinstance(doc, Domain)
    try:
        chosen = doc.select(index=index)
        edit_interfaces(chosen, edits, doc, rng=random.Random(seed))
    except NetXmlError as exc:
        return Outcome(exc.message, None, [])
    out = document_text(doc, style).encode("utf-8")
    after = parse_bytes(out, source="<output>").getroot()
    targets = before.findall("devices/interface")
    if index is not None:
        targets = [targets[index]]
    ex: Exemptions = {}
    for iface in targets:
        ex.update(_exemptions_for_interface(iface, edits, before))
    return Outcome(None, out, lost_nodes(before, after, ex))


def check_network_edit(data: bytes, edits: NetworkEdits) -> Outcome:
    """Apply portgroup edits to the network in ``data``; report what was lost."""
    before = parse_bytes(data).getroot()
    doc, style = load_document(data, source="<fuzz>")
    assert isinstance(doc, Network)
    try:
        edit_network(doc, edits)
    except NetXmlError as exc:
        return Outcome(exc.message, None, [])
    out = document_text(doc, style).encode("utf-8")
    after = parse_bytes(out, source="<output>").getroot()
    ex: Exemptions = {}
    for group in before.iterfind("portgroup"):
        name = group.get("name")
        if name in edits.remove_portgroups:
            ex[group] = SUBTREE
        elif any(spec.partition("=")[0] == name for spec in edits.portgroup_vlans):
            vlan = group.find("vlan")
            if vlan is not None:
                ex[vlan] = SUBTREE
    for meta in before.iterfind(f"metadata/{{{VNX}}}netxml"):
        ex[meta] = SUBTREE
    return Outcome(None, out, lost_nodes(before, after, ex))


def check_identity(data: bytes) -> tuple[list[str], list[str]]:
    """Parse and write without an edit: (lost, added) nodes; both must be empty."""
    before = parse_bytes(data).getroot()
    doc, style = load_document(data, source="<fuzz>")
    after = parse_bytes(document_text(doc, style).encode("utf-8")).getroot()
    return lost_nodes(before, after), added_nodes(before, after)
