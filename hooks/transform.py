"""Rewriting an incoming domain at ``migrate`` and ``restore`` by a host-local mapping file.

Hosts name their bridges and networks differently; the mapping file of the destination host
(``/etc/virt-netxml/migrate-map.conf``) says what the guest's interfaces should use here::

    # kind  source           = destination
    bridge  br0              = br-vlan10
    network default          = lan
    bridge  br0              = ovs:ovs-br0    # Linux bridge -> OVS: adds <virtualport type='openvswitch'/>
    bridge  ovs:ovs-br0      = br0            # OVS -> Linux bridge: removes that virtualport

``ovs:`` on the source side matches only interfaces that carry an openvswitch virtualport; a
plain source matches any. Without ``ovs:`` on either side the bridge is renamed and the
virtualport left as it is. Everything the mapping does not name is kept as it was; when
nothing changes the hook prints nothing (libvirt then keeps its XML).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from lxml import etree

from xmltools.errors import InputError
from xmltools.fields import detach
from xmltools.names import validate_bridge_name
from xmltools.xmlparse import to_string

OVS_PREFIX = "ovs:"


@dataclass(frozen=True)
class BridgeRule:
    source: str
    source_ovs: bool       # the source side said ovs: (match only OVS ports)
    target: str
    target_ovs: bool | None  # True: make it OVS, False: make it a Linux bridge, None: keep


@dataclass
class Mapping:
    bridges: list[BridgeRule] = field(default_factory=list)
    networks: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.bridges or self.networks)


def _side(text: str) -> tuple[str, bool]:
    if text.startswith(OVS_PREFIX):
        return validate_bridge_name(text[len(OVS_PREFIX):]), True
    return validate_bridge_name(text), False


def parse_mapping(text: str, source: str) -> Mapping:
    """Parse the mapping file; a bad line is an error naming the file and line."""
    mapping = Mapping()
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{source}:{number}"
        left, sep, right = line.partition("=")
        words = left.split()
        target = right.strip()
        if not sep or len(words) != 2 or not target or len(target.split()) != 1:
            raise InputError(source=where, detail="expected 'bridge SRC = DST' or 'network SRC = DST'")
        kind, src = words
        try:
            if kind == "bridge":
                src_name, src_ovs = _side(src)
                dst_name, dst_ovs = _side(target)
                target_kind = True if dst_ovs else (False if src_ovs else None)
                mapping.bridges.append(BridgeRule(src_name, src_ovs, dst_name, target_kind))
            elif kind == "network":
                mapping.networks[src] = target
            else:
                raise InputError(source=where, detail=f"unknown kind {kind!r}: use bridge or network")
        except InputError:
            raise
        except Exception as exc:  # InvalidValue from name validation, with the line added
            raise InputError(source=where, detail=str(exc)) from None
    return mapping


def load_mapping(path: str) -> Mapping | None:
    """The host's mapping, or None when the file does not exist."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read(1024 * 1024)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError(source=path, detail=exc.strerror or str(exc)) from None
    return parse_mapping(text, path)


def _is_ovs(iface: etree._Element) -> bool:
    vport = iface.find("virtualport")
    return vport is not None and vport.get("type") == "openvswitch"


def _make_ovs(iface: etree._Element, source: etree._Element) -> None:
    if _is_ovs(iface):
        return
    old = iface.find("virtualport")
    if old is not None:
        detach(old)   # another kind of virtualport cannot stay on an OVS port
    vport = etree.Element("virtualport", type="openvswitch")
    vport.tail = source.tail
    source.addnext(vport)


def rewrite(root: etree._Element, mapping: Mapping) -> tuple[str, list[str]]:
    """The rewritten domain XML and the list of changes made (empty: leave libvirt's XML)."""
    doc = copy.deepcopy(root)
    changes: list[str] = []
    for iface in doc.iterfind("devices/interface"):
        source = iface.find("source")
        if source is None:
            continue
        mac = iface.find("mac")
        label = mac.get("address") if mac is not None else "?"
        kind = iface.get("type")
        if kind == "network" and source.get("network") in mapping.networks:
            new = mapping.networks[source.get("network", "")]
            changes.append(f"{label}: network {source.get('network')} -> {new}")
            source.set("network", new)
        elif kind == "bridge" and source.get("bridge"):
            ovs = _is_ovs(iface)
            rule = next((r for r in mapping.bridges
                         if r.source == source.get("bridge") and (ovs or not r.source_ovs)), None)
            if rule is None:
                continue
            if rule.target != source.get("bridge"):
                changes.append(f"{label}: bridge {source.get('bridge')} -> {rule.target}")
                source.set("bridge", rule.target)
            if rule.target_ovs is True and not ovs:
                _make_ovs(iface, source)
                changes.append(f"{label}: now an Open vSwitch port")
            elif rule.target_ovs is False and ovs:
                detach(iface.find("virtualport"))  # type: ignore[arg-type]
                changes.append(f"{label}: now a Linux bridge port")
    if not changes:
        return "", []
    return to_string(doc), changes
