"""In-place edits of existing documents: the core of ``virt-netxml edit``.

Domains (and standalone ``<interface>`` documents): VLANs, the hook-applied bridge VLAN in the
project's metadata, the source (network -> bridge, bridge <-> Open vSwitch), the model, new
MACs. Networks: portgroups and their VLANs. Every edit goes through the models, which change
only the nodes they name, so the rest of the document is written back as it was read.

All actions are checked first and the final state of every edited interface is validated
before the caller writes anything, so bad input never produces a half-edited file.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from lxml import etree

from xmltools.build_interface import (
    MODEL_RE,
    build_libvirt_vlan,
    build_meta_vlan,
    libvirt_vlan_problem,
    resolve_vlan,
)
from xmltools.common import Vlan
from xmltools.domain import DocumentStyle, Domain, serialize
from xmltools.errors import InvalidValue, UsageError, WrongDocument
from xmltools.interface import BridgeSource, DirectSource, Interface, NetworkSource
from xmltools.mac import random_mac
from xmltools.metadata import MetaPortGroup, VlanWish
from xmltools.names import validate_bridge_name
from xmltools.network import Network, PortGroup
from xmltools.rules import BRIDGE_VLAN_RANGE, LINUX_BRIDGE_VLAN_SINCE, bridge_vid_ok, libvirt_applies_vlan
from xmltools.versions import BASELINE, Version, show

BRIDGE_VLAN_TYPES = ("bridge", "network", "ethernet")


@dataclass
class InterfaceEdits:
    """What to change on each selected interface; None/False means leave it."""

    set_vlan: str | None = None
    clear_vlan: bool = False
    set_bridge_vlan: str | None = None
    clear_bridge_vlan: bool = False
    vlan_native: str | None = None
    vlan_mode: str | None = None
    source_network: str | None = None
    portgroup: str | None = None
    source_bridge: str | None = None
    ovs: bool | None = None
    model: str | None = None
    regenerate_mac: bool = False
    native_vlans: bool = False          # hand Linux-bridge metadata VLANs back to libvirt's <vlan>
    libvirt: Version = BASELINE         # the libvirt the document is written for

    def any(self) -> bool:
        return any((self.set_vlan is not None, self.clear_vlan, self.set_bridge_vlan is not None,
                    self.clear_bridge_vlan, self.source_network is not None,
                    self.portgroup is not None, self.source_bridge is not None,
                    self.ovs is not None, self.model is not None, self.regenerate_mac,
                    self.native_vlans))

    def touches_metadata(self) -> bool:
        return self.set_bridge_vlan is not None or self.clear_bridge_vlan or self.native_vlans


@dataclass
class NetworkEdits:
    """Portgroup changes on a ``<network>``."""

    add_portgroups: tuple[str, ...] = ()        # "NAME[,default]"
    portgroup_vlans: tuple[str, ...] = ()       # "NAME=TAGS"
    remove_portgroups: tuple[str, ...] = ()
    vlan_native: str | None = None
    vlan_mode: str | None = None
    notes: list[str] = field(default_factory=list)
    libvirt: Version = BASELINE

    def any(self) -> bool:
        return bool(self.add_portgroups or self.portgroup_vlans or self.remove_portgroups)


# --------------------------------------------------------------------------- helpers


def _describe(domain_or_none: Domain | None, iface: Interface) -> str:
    if domain_or_none is not None:
        return f"interface {domain_or_none.index_of(iface)} ({iface.mac or 'no MAC'})"
    return f"interface ({iface.mac or 'no MAC'})"


def _check_edits(edits: InterfaceEdits) -> None:
    if edits.set_vlan is not None and edits.clear_vlan:
        raise UsageError(detail="--set-vlan and --clear-vlan contradict each other")
    if edits.set_bridge_vlan is not None and edits.clear_bridge_vlan:
        raise UsageError(detail="--set-bridge-vlan and --clear-bridge-vlan contradict each other")
    if edits.set_vlan is not None and edits.set_bridge_vlan is not None:
        raise UsageError(detail="give either --set-vlan (libvirt applies it) or --set-bridge-vlan "
                                "(the hook applies it), not both")
    if edits.source_network is not None and edits.source_bridge is not None:
        raise UsageError(detail="--source-network and --source-bridge contradict each other")
    if (edits.vlan_native is not None or edits.vlan_mode is not None) and \
            edits.set_vlan is None and edits.set_bridge_vlan is None:
        raise UsageError(detail="--vlan-native/--vlan-mode need --set-vlan or --set-bridge-vlan")
    if edits.model is not None and not MODEL_RE.match(edits.model):
        raise InvalidValue(what="model", value=edits.model, reason="letters, digits, '-' and '_' only")
    if edits.source_bridge is not None:
        validate_bridge_name(edits.source_bridge)
    if edits.source_network is not None and (not edits.source_network.strip()
                                             or "/" in edits.source_network):
        raise InvalidValue(what="network name", value=edits.source_network,
                           reason="must be non-empty and without '/'")


# --------------------------------------------------------------------------- interface edits


def set_source_network(iface: Interface, name: str, portgroup: str | None = None) -> None:
    """Make it ``<interface type='network'><source network=NAME/>``; the live-only attributes
    and the old type's source attributes go, anything unknown stays."""
    src = iface.change_type("network")
    assert isinstance(src, NetworkSource)
    src.network = name
    if portgroup is not None:
        src.portgroup = portgroup


def set_portgroup(iface: Interface, portgroup: str) -> None:
    src = iface.source
    if not isinstance(src, NetworkSource):
        raise InvalidValue(what="portgroup", value=portgroup,
                           reason="only a network interface has a portgroup")
    src.portgroup = portgroup


def set_source_bridge(iface: Interface, bridge: str) -> None:
    src = iface.source_or_create() if iface.type == "bridge" else iface.change_type("bridge")
    assert isinstance(src, BridgeSource)
    src.bridge = bridge


def set_ovs(iface: Interface, on: bool) -> None:
    """Bridge <-> Open vSwitch: add or remove ``<virtualport type='openvswitch'/>``."""
    if iface.type not in ("bridge", "network"):
        raise InvalidValue(what="interface type", value=iface.type or "",
                           reason="only a bridge or network interface can be an Open vSwitch port")
    vport = iface.virtualport
    if on:
        if vport is not None and vport.type != "openvswitch":
            raise InvalidValue(what="virtualport", value=vport.type or "",
                               reason="the interface already has another virtualport type")
        if vport is None:
            from xmltools.common import VirtualPort

            iface.virtualport = VirtualPort(type="openvswitch")
    elif vport is not None and vport.type == "openvswitch":
        iface.virtualport = None


def regenerate_mac(domain: Domain | None, iface: Interface, rng: random.Random | None,
                   exclude: set[str]) -> str:
    """Give the interface a new random MAC and move its metadata entry to the new address."""
    new = random_mac(rng, exclude=exclude)
    old = iface.mac
    iface.mac = new
    if domain is not None and old:
        entry = domain.meta_interface(old)
        if entry is not None:
            entry.mac = new
    return new


def validate_interface(iface: Interface, where: str, libvirt: Version = BASELINE) -> None:
    """Reject a final state libvirt would refuse (a ``<vlan>`` on a Linux bridge port before
    libvirt 11.0, …)."""
    vlan = iface.vlan
    if vlan is None:
        return
    src = iface.source
    mode = src.mode if isinstance(src, DirectSource) else None
    problem = libvirt_vlan_problem(iface.type, iface.is_ovs, mode, libvirt)
    if problem:
        raise InvalidValue(what="edit", value=where, reason=f"it would keep a <vlan>: {problem}")
    if iface.type in ("hostdev", "direct") and (len(vlan.tags) != 1 or vlan.trunk):
        raise InvalidValue(what="edit", value=where,
                           reason="an SR-IOV VF takes a single VLAN tag: no trunk, no native VLAN")


def edit_interfaces(ifaces: list[Interface], edits: InterfaceEdits, domain: Domain | None = None,
                    rng: random.Random | None = None) -> None:
    """Apply ``edits`` to each interface; ``domain`` is needed for metadata and MAC checks."""
    _check_edits(edits)
    if edits.touches_metadata() and domain is None:
        raise UsageError(detail="bridge VLANs are stored in the domain's metadata: edit the domain "
                                "document, not a standalone <interface>")
    if edits.native_vlans and edits.libvirt < LINUX_BRIDGE_VLAN_SINCE:
        raise UsageError(detail=f"--native-vlans: libvirt {show(edits.libvirt)} applies no <vlan> on a "
                                "Linux bridge port (libvirt 11.0 does); give --libvirt-version 11.0 or newer")
    used = domain.used_macs() if domain is not None else set()
    for iface in ifaces:
        where = _describe(domain, iface)
        if edits.clear_vlan:
            iface.vlan = None
        if edits.source_network is not None:
            set_source_network(iface, edits.source_network, edits.portgroup)
        elif edits.portgroup is not None:
            set_portgroup(iface, edits.portgroup)
        if edits.source_bridge is not None:
            set_source_bridge(iface, edits.source_bridge)
        if edits.ovs is not None:
            set_ovs(iface, edits.ovs)
        if edits.model is not None:
            if iface.type == "hostdev":
                raise InvalidValue(what="model", value=edits.model,
                                   reason=f"{where} is a hostdev interface, which has no model")
            iface.model = edits.model
        if edits.set_vlan is not None:
            iface.vlan = build_libvirt_vlan(resolve_vlan(edits.set_vlan, edits.vlan_native,
                                                         edits.vlan_mode))
        if edits.regenerate_mac:
            used.add(regenerate_mac(domain, iface, rng, used))
        if domain is not None and edits.native_vlans:
            _native_vlan(domain, iface, where)
        elif domain is not None and edits.touches_metadata():
            _edit_bridge_vlan(domain, iface, edits, where)
        validate_interface(iface, where, edits.libvirt)


def native_vlan(wish: VlanWish, where: str) -> Vlan:
    """libvirt's <vlan> for a metadata VLAN wish on a Linux bridge port (libvirt 11.0 and newer
    apply it with virNetDevBridgeSetupVlans: the port leaves VLAN 1, a single tag becomes the
    untagged PVID, a trunk's native tag the PVID, untagged unless nativeMode='tagged').

    Refuses, naming the port, what that <vlan> cannot say: an id a Linux bridge does not take
    (0, 4095) and an Open vSwitch ``trunk`` mode that keeps a native id.
    """
    ids = [wish.tag] if wish.tag is not None else wish.trunk_ids()
    if wish.native is not None and wish.native not in ids:
        ids.insert(0, wish.native)
    bad = [vid for vid in ids if not bridge_vid_ok(vid)]
    if bad:
        raise InvalidValue(what="--native-vlans", value=where,
                           reason=f"its VLAN {bad[0]} is not one a Linux bridge takes "
                                  f"({BRIDGE_VLAN_RANGE[0]} to {BRIDGE_VLAN_RANGE[1]})")
    if wish.mode == "access":
        return Vlan.build(ids)
    if wish.mode == "trunk":
        if wish.native is not None:
            raise InvalidValue(what="--native-vlans", value=where,
                               reason=f"mode 'trunk' with native VLAN {wish.native} has no libvirt <vlan> "
                                      "form (use native-untagged or native-tagged)")
        return Vlan.build(ids, trunk=True)
    native_mode = "tagged" if wish.mode == "native-tagged" else "untagged"
    return Vlan.build(ids, native=wish.native, native_mode=native_mode, trunk=True)


def _native_vlan(domain: Domain, iface: Interface, where: str) -> None:
    """Move a Linux bridge port's metadata VLAN wish into libvirt's <vlan>; other ports keep
    theirs (the hook goes on applying them)."""
    entry = domain.meta_interface(iface.mac) if iface.mac else None
    if entry is None or entry.vlan is None or iface.type != "bridge" or iface.is_ovs:
        return
    if iface.vlan is not None:
        raise InvalidValue(what="--native-vlans", value=where,
                           reason="it has both libvirt's <vlan> and a metadata VLAN; keep one "
                                  "(--clear-vlan or --clear-bridge-vlan)")
    iface.vlan = native_vlan(entry.vlan.resolved(), where)
    entry.vlan = None
    domain.prune_meta()


def _edit_bridge_vlan(domain: Domain, iface: Interface, edits: InterfaceEdits, where: str) -> None:
    mac = iface.mac
    if edits.clear_bridge_vlan:
        entry = domain.meta_interface(mac) if mac else None
        if entry is not None:
            entry.vlan = None
            domain.prune_meta()
        return
    assert edits.set_bridge_vlan is not None
    if iface.type not in BRIDGE_VLAN_TYPES:
        raise InvalidValue(what="bridge VLAN", value=edits.set_bridge_vlan,
                           reason=f"{where} is a {iface.type} interface; the hook sets port VLANs "
                                  f"on bridge, network and ethernet interfaces (use --set-vlan)")
    if not mac:
        raise InvalidValue(what="bridge VLAN", value=edits.set_bridge_vlan,
                           reason=f"{where} has no MAC to key the metadata by; add "
                                  f"--regenerate-mac to give it one")
    wish = build_meta_vlan(resolve_vlan(edits.set_bridge_vlan, edits.vlan_native, edits.vlan_mode))
    domain.meta_interface_or_create(mac).vlan = wish


# --------------------------------------------------------------------------- network edits


def _network_allows_libvirt_vlan(network: Network, group: PortGroup, libvirt: Version = BASELINE) -> bool:
    """libvirt applies a portgroup ``<vlan>`` on hostdev/passthrough pools, Open vSwitch
    bridges and, from 11.0, a bridge network's Linux bridge (its network driver refuses the
    definition otherwise)."""
    vport = group.virtualport or network.virtualport
    if vport is None and network.bridge is not None and network.bridge.name:
        return libvirt_applies_vlan(network.forward_mode, False, libvirt)
    return libvirt_applies_vlan(network.forward_mode, vport is not None and vport.type == "openvswitch")


def edit_network(network: Network, edits: NetworkEdits) -> None:
    """Add, change or remove portgroups of a network.

    A portgroup VLAN goes into libvirt's ``<vlan>`` where libvirt can apply it; on a Linux
    bridge (or NAT/route/isolated) network, where libvirt would refuse the definition, it is
    written to the project's metadata (``<vnx:portgroup>``) for the hook, and a note says so.
    """
    if (edits.vlan_native is not None or edits.vlan_mode is not None) and not edits.portgroup_vlans:
        raise UsageError(detail="--vlan-native/--vlan-mode need --portgroup-vlan")
    groups = network.portgroups
    for spec in edits.add_portgroups:
        name, _, flag = spec.partition(",")
        if not name or flag not in ("", "default"):
            raise InvalidValue(what="portgroup", value=spec, reason="expected NAME or NAME,default")
        if network.portgroup(name) is not None:
            raise InvalidValue(what="portgroup", value=name, reason="the network already has it")
        group = PortGroup(name=name)
        if flag:
            current = next((g for g in groups if g.default), None)
            if current is not None:
                raise InvalidValue(what="portgroup", value=spec,
                                   reason=f"{current.name!r} is already the default portgroup")
            group.default = True
        groups.append(group)
    for spec in edits.portgroup_vlans:
        name, eq, tags = spec.partition("=")
        if not eq or not name or not tags:
            raise InvalidValue(what="portgroup VLAN", value=spec, reason="expected NAME=TAGS")
        found = network.portgroup(name)
        if found is None:
            raise InvalidValue(what="portgroup", value=name,
                               reason="no such portgroup (add it with --add-portgroup)")
        if _network_allows_libvirt_vlan(network, found, edits.libvirt):
            found.vlan = build_libvirt_vlan(resolve_vlan(tags, edits.vlan_native, edits.vlan_mode))
            _drop_meta_portgroup(network, name)  # one place says what the VLAN is
        else:
            found.vlan = None
            wish = build_meta_vlan(resolve_vlan(tags, edits.vlan_native, edits.vlan_mode))
            meta = network.meta_or_create()
            entry = meta.portgroup(name)
            if entry is None:
                entry = meta.portgroups.append(MetaPortGroup(name=name))
            entry.vlan = wish
            edits.notes.append(f"portgroup {name}: libvirt applies portgroup VLANs only on Open vSwitch, "
                               f"hostdev and passthrough networks, not on this {network.forward_mode} "
                               f"network; written to the metadata for the hook")
    for name in edits.remove_portgroups:
        gone = network.portgroup(name)
        if gone is None:
            raise InvalidValue(what="portgroup", value=name, reason="no such portgroup")
        groups.remove(gone)
        _drop_meta_portgroup(network, name)


def _drop_meta_portgroup(network: Network, name: str) -> None:
    existing = network.meta()
    stale = existing.portgroup(name) if existing is not None else None
    if existing is not None and stale is not None:
        existing.portgroups.remove(stale)


# --------------------------------------------------------------------------- documents


Document = Domain | Network | Interface


def load_document(data: bytes, source: str) -> tuple[Document, DocumentStyle]:
    """A Domain, a Network or an Interface, by the root element, and how it was written."""
    from xmltools.xmlparse import parse_bytes

    root = parse_bytes(data, source=source).getroot()
    style = DocumentStyle.of(data, root.getroottree())   # before any edit: it pairs text and tree
    if root.tag == "domain":
        return Domain(root), style
    if root.tag == "network":
        return Network(root), style
    if root.tag == "interface":
        return Interface(root), style
    found = etree.QName(root).localname if isinstance(root.tag, str) else "?"
    raise WrongDocument(source=source, expected="<domain>, <network> or <interface>", found=found)


def document_text(doc: Document, style: DocumentStyle | None = None) -> str:
    """The whole edited document (comments around the root included), in the input's style."""
    return serialize(doc.node.getroottree(), style)
