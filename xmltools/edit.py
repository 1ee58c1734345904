"""In-place edits of existing documents: the core of ``virt-netxml edit``.

Domains (and standalone ``<interface>`` documents): VLANs, the hook-applied bridge VLAN in the
project's metadata, the source (network, bridge, macvtap uplink; bridge <-> Open vSwitch), the
model, the MAC, MTU, link state and bandwidth, removal. Networks: portgroups and their VLANs.
Every edit goes through the models, which change only the nodes they name, so the rest of the
document is written back as it was read.

Which interfaces an edit touches is said, never guessed: on a domain with several interfaces a
change needs a selector or ``--all`` (:func:`select_interfaces`). All actions are checked first
and the final state of every edited interface is validated (our rules, our grammar for the
target libvirt, libvirt's own schema when the installed one is the target's) before the caller
writes anything, so bad input never produces a half-edited file.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field

from lxml import etree

from xmltools.build_interface import (
    MODEL_RE,
    build_libvirt_vlan,
    build_meta_vlan,
    libvirt_vlan_problem,
    parse_bandwidth,
    resolve_vlan,
)
from xmltools.common import BandwidthLimit, Vlan
from xmltools.domain import DocumentStyle, Domain, same_mac_key, serialize
from xmltools.errors import InvalidValue, UsageError, WrongDocument
from xmltools.interface import LINK_STATES, BridgeSource, DirectSource, Interface, NetworkSource
from xmltools.mac import normalize_mac, random_mac
from xmltools.metadata import MetaForward, MetaPortGroup, VlanWish, parse_forward_spec
from xmltools.names import validate_bridge_name, validate_interface_name
from xmltools.network import Network, PortGroup
from xmltools.rules import LINUX_BRIDGE_VLAN_SINCE, MTU_RANGE, libvirt_applies_vlan, vlan_id_problem
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
    source_dev: str | None = None       # a macvtap uplink: type='direct'
    set_mac: str | None = None
    mtu: int | None = None
    link: str | None = None             # up | down
    bandwidth: tuple[str, ...] = ()     # "in=AVG[,PEAK[,BURST]]", "out=…" (or both in one), "none"
    remove: bool = False                # the interface goes, with its metadata entry
    add_forwards: tuple[str, ...] = ()     # port forwards (metadata): "tcp:2222:22", ...
    remove_forwards: tuple[str, ...] = ()
    libvirt: Version = BASELINE         # the libvirt the document is written for
    notes: list[str] = field(default_factory=list)   # what was dropped on the way, for stderr

    def any(self) -> bool:
        return any((self.set_vlan is not None, self.clear_vlan, self.set_bridge_vlan is not None,
                    self.clear_bridge_vlan, self.source_network is not None,
                    self.portgroup is not None, self.source_bridge is not None,
                    self.ovs is not None, self.model is not None, self.regenerate_mac,
                    self.native_vlans, self.source_dev is not None, self.set_mac is not None,
                    self.mtu is not None, self.link is not None, bool(self.bandwidth), self.remove,
                    bool(self.add_forwards or self.remove_forwards)))

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
    sources = [name for name, value in (("--source-network", edits.source_network),
                                        ("--source-bridge", edits.source_bridge),
                                        ("--source-dev", edits.source_dev)) if value is not None]
    if len(sources) > 1:
        raise UsageError(detail=f"{' and '.join(sources)} contradict each other")
    if edits.remove and any(v for k, v in vars(edits).items() if k not in ("remove", "libvirt", "notes")):
        raise UsageError(detail="--remove takes the interface out: give no other change with it")
    if edits.set_mac is not None and edits.regenerate_mac:
        raise UsageError(detail="--set-mac and --regenerate-mac contradict each other")
    if edits.set_mac is not None:
        normalize_mac(edits.set_mac)
    if edits.mtu is not None and not MTU_RANGE[0] <= edits.mtu <= MTU_RANGE[1]:
        raise InvalidValue(what="MTU", value=str(edits.mtu), reason="must be {} to {}".format(*MTU_RANGE))
    if edits.link is not None and edits.link not in LINK_STATES:
        raise InvalidValue(what="link state", value=edits.link, reason="expected up or down")
    if edits.source_dev is not None:
        validate_interface_name(edits.source_dev, "uplink device")
    parse_bandwidth_edit(edits.bandwidth)
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


def set_source_network(iface: Interface, name: str, portgroup: str | None = None,
                       dropped: list[str] | None = None) -> None:
    """Make it ``<interface type='network'><source network=NAME/>``; the live-only attributes,
    the old type's source attributes and what a network interface does not take go (named in
    ``dropped``, see Interface.change_type); unknown attributes stay."""
    src = iface.change_type("network", dropped)
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


def set_source_bridge(iface: Interface, bridge: str, dropped: list[str] | None = None) -> None:
    src = iface.source_or_create() if iface.type == "bridge" else iface.change_type("bridge", dropped)
    assert isinstance(src, BridgeSource)
    src.bridge = bridge


def set_source_dev(iface: Interface, dev: str, dropped: list[str] | None = None) -> None:
    """Make it a macvtap on uplink ``dev`` (``type='direct'``; libvirt's default mode, vepa,
    unless the interface already names one)."""
    validate_interface_name(dev, "uplink device")
    src = iface.source_or_create() if iface.type == "direct" else iface.change_type("direct", dropped)
    assert isinstance(src, DirectSource)
    src.dev = dev


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
    _move_mac(domain, iface, new)
    return new


def set_mac(domain: Domain | None, iface: Interface, text: str, where: str) -> str:
    """Give the interface the MAC ``text`` (any spelling ``mac --check`` takes; never multicast,
    broadcast or all-zero); its metadata entry follows. Refused when another device of the
    domain has that address, or the metadata already holds a wish for it."""
    new = normalize_mac(text)
    if domain is not None:
        for node in domain.node.iterfind("devices/*/mac"):
            if node.getparent() is not iface.node and same_mac_key(node.get("address") or "") == new:
                raise InvalidValue(what="MAC address", value=text,
                                   reason=f"another device of the domain has it "
                                          f"(line {node.sourceline})")
        old = same_mac_key(iface.mac) if iface.mac else None
        if old != new and domain.meta_interface(new) is not None:
            raise InvalidValue(what="MAC address", value=text,
                               reason="the domain's metadata already holds a wish for this MAC; "
                                      "remove that entry first")
    _move_mac(domain, iface, new)
    return new


def _move_mac(domain: Domain | None, iface: Interface, new: str) -> None:
    old = iface.mac
    iface.mac = new
    if domain is not None and old:
        entry = domain.meta_interface(old)
        if entry is not None:
            entry.mac = new


def validate_interface(iface: Interface, where: str, libvirt: Version = BASELINE) -> None:
    """Reject a final state libvirt would refuse (a ``<vlan>`` on a Linux bridge port before
    libvirt 11.0, an unmanaged TAP target off an ethernet interface, …)."""
    if iface.target_managed is False and iface.type != "ethernet":
        # virDomainNetDefParseXML: "unmanaged target dev is not supported on interfaces of type …"
        raise InvalidValue(what="edit", value=where,
                           reason=f"it would keep <target managed='no'>, which libvirt takes only on an "
                                  f"ethernet interface, not on {iface.type}")
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


def select_interfaces(domain: Domain, mac: str | None = None, target: str | None = None,
                      index: int | None = None, every: bool = False,
                      source: str = "the domain") -> list[Interface]:
    """The interfaces an edit of ``domain`` touches, as the command line selects them.

    Selectors combine (every one given must match). Without one, a domain with a single
    interface means that one; with several, the edit must say which (``every`` means all):
    changing every NIC of a guest by accident is worse than one more option. Raises UsageError
    listing the interfaces (index, MAC, type and source, target) when the choice is open or
    the domain has none, InvalidValue naming them when the selectors match nothing.
    """
    given = [name for name, value in (("--mac", mac), ("--target", target), ("--index", index))
             if value is not None]
    if every and given:
        raise UsageError(detail=f"--all selects every interface: drop {', '.join(given)}")
    summaries = domain.interface_summaries()
    if not summaries:
        raise UsageError(detail=f"{source}: the domain has no interface to edit")
    if not given and not every and len(summaries) > 1:
        raise UsageError(detail=f"{source}: the domain has {len(summaries)} interfaces: select one with "
                                f"--mac, --target or --index, or all with --all; its interfaces: "
                                + ", ".join(summaries))
    return domain.select(mac=mac, target=target, index=index)


def parse_bandwidth_edit(values: tuple[str, ...]) -> dict[str, dict[str, int]] | None:
    """``("in=1000,2000,512", "out=500")`` (or both in one value, space-separated) -> the
    limits per direction, each ``{"average": …, "peak": …, "burst": …}`` (libvirt's units:
    kilobytes per second, burst in kilobytes; each 1 to 4294967295 as libvirt's schema says).
    ``("none",)`` -> None: remove the interface's limits. ``()`` -> {} (no change)."""
    items = [item for value in values for item in value.split()]
    if values and not items:
        raise InvalidValue(what="bandwidth", value=" ".join(values), reason="empty")
    if "none" in items:
        if len(items) > 1:
            raise InvalidValue(what="bandwidth", value=" ".join(values),
                               reason="'none' removes the limits: give it alone")
        return None
    limits: dict[str, dict[str, int]] = {}
    for item in items:
        key, eq, spec = item.partition("=")
        direction = {"in": "inbound", "out": "outbound"}.get(key)
        if direction is None or not eq:
            raise InvalidValue(what="bandwidth", value=item,
                               reason="expected in=AVG[,PEAK[,BURST]] or out=AVG[,PEAK[,BURST]], or none")
        if direction in limits:
            raise InvalidValue(what="bandwidth", value=item, reason=f"{key}= given twice")
        limits[direction] = parse_bandwidth(spec, direction)
    return limits


def set_bandwidth(iface: Interface, limits: dict[str, dict[str, int]] | None, where: str) -> None:
    """Set each given direction's average, peak and burst (one not given is removed; a
    network interface's floor stays); None removes ``<bandwidth>``."""
    if iface.type == "hostdev":
        raise InvalidValue(what="bandwidth", value=where,
                           reason="libvirt sets no bandwidth limits on a hostdev interface")
    if limits is None:
        iface.bandwidth = None
        return
    bandwidth = Interface.bandwidth.get_or_create(iface)
    for direction, values in limits.items():
        limit = getattr(bandwidth, direction)
        if limit is None:
            limit = BandwidthLimit()
            limit.node.tag = direction
            setattr(bandwidth, direction, limit)
        for key in ("average", "peak", "burst"):
            setattr(limit, key, values.get(key))


def remove_interfaces(domain: Domain | None, ifaces: list[Interface]) -> None:
    """Take the interfaces out of the domain, each with its metadata entry."""
    if domain is None:
        raise UsageError(detail="--remove takes an interface out of a domain; a standalone <interface> "
                                "file is the interface itself")
    for iface in ifaces:
        domain.remove_interface(iface)


def edit_interfaces(ifaces: list[Interface], edits: InterfaceEdits, domain: Domain | None = None,
                    rng: random.Random | None = None) -> None:
    """Apply ``edits`` to each interface; ``domain`` is needed for metadata and MAC checks.

    What a change of type drops (Interface.change_type) is said in ``edits.notes``. Each
    interface is checked before and after: an edit that leaves a problem the interface did not
    have (libvirt's or our schema, our rules for the target libvirt) is refused, naming it.
    """
    _check_edits(edits)
    if edits.touches_metadata() and domain is None:
        raise UsageError(detail="bridge VLANs are stored in the domain's metadata: edit the domain "
                                "document, not a standalone <interface>")
    if edits.native_vlans and edits.libvirt < LINUX_BRIDGE_VLAN_SINCE:
        raise UsageError(detail=f"--native-vlans: libvirt {show(edits.libvirt)} applies no <vlan> on a "
                                "Linux bridge port (libvirt 11.0 does); give --libvirt-version 11.0 or newer")
    if edits.remove:
        remove_interfaces(domain, ifaces)
        return
    if edits.set_mac is not None and len(ifaces) > 1:
        raise UsageError(detail=f"--set-mac gives one interface its address, {len(ifaces)} are selected")
    limits = parse_bandwidth_edit(edits.bandwidth)
    used = domain.used_macs() if domain is not None else set()
    domain_type = domain.type if domain is not None else None
    for iface in ifaces:
        where = _describe(domain, iface)
        before = interface_problems(iface, edits.libvirt, domain_type)
        old_type = iface.type
        dropped: list[str] = []
        if edits.clear_vlan:
            iface.vlan = None
        if edits.source_network is not None:
            set_source_network(iface, edits.source_network, edits.portgroup, dropped)
        elif edits.portgroup is not None:
            set_portgroup(iface, edits.portgroup)
        if edits.source_bridge is not None:
            set_source_bridge(iface, edits.source_bridge, dropped)
        if edits.source_dev is not None:
            set_source_dev(iface, edits.source_dev, dropped)
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
        if edits.set_mac is not None:
            set_mac(domain, iface, edits.set_mac, where)
        if edits.mtu is not None:
            if iface.type == "hostdev":
                raise InvalidValue(what="MTU", value=str(edits.mtu),
                                   reason=f"{where} is a hostdev interface: a VF's MTU is the guest driver's")
            iface.mtu = edits.mtu
        if edits.link is not None:
            iface.link_state = edits.link
        if limits != {}:
            set_bandwidth(iface, limits, where)
        if domain is not None and edits.native_vlans:
            _native_vlan(domain, iface, where)
        elif domain is not None and edits.touches_metadata():
            _edit_bridge_vlan(domain, iface, edits, where)
        if edits.add_forwards or edits.remove_forwards:
            _edit_forwards(domain, iface, edits, where)
        if domain is not None and iface.type != old_type:
            _metadata_leftovers(domain, iface, where, dropped)
        if dropped:
            edits.notes.append(f"{where}: dropped {', '.join(dropped)}: a {iface.type} interface "
                               f"does not take {'it' if len(dropped) == 1 else 'them'}")
        validate_interface(iface, where, edits.libvirt)
        _refuse_new_problems(before, interface_problems(iface, edits.libvirt, domain_type), where)


def _metadata_leftovers(domain: Domain, iface: Interface, where: str, dropped: list[str]) -> None:
    """After a change of type: the hook's wishes the new type cannot have. A pre-created TAP
    (ethernet) and a VF's PF (hostdev) described the old connection and go; a VLAN or Open
    vSwitch settings are the user's intent for the port, so a type that cannot carry them is
    refused instead of silently losing them."""
    entry = domain.meta_interface(iface.mac) if iface.mac else None
    if entry is None:
        return
    if entry.tap is not None and iface.type != "ethernet":
        entry.tap = None
        dropped.append("the pre-created TAP (<vnx:tap>) from the metadata")
    if entry.vf is not None and iface.type != "hostdev":
        entry.vf = None
        dropped.append("the VF (<vnx:vf>) from the metadata")
    if entry.vlan is not None and iface.type not in BRIDGE_VLAN_TYPES:
        raise InvalidValue(what="edit", value=where,
                           reason=f"it keeps the hook's VLAN (<vnx:vlan> in the metadata), which the hook "
                                  f"applies on bridge, network and ethernet ports, not on {iface.type}; "
                                  "add --clear-bridge-vlan")
    if len(entry.ovs_settings) and iface.type not in ("bridge", "network"):
        raise InvalidValue(what="edit", value=where,
                           reason=f"it keeps Open vSwitch settings (<vnx:ovs-setting> in the metadata), "
                                  f"which a {iface.type} interface cannot have")
    domain.prune_meta()


# --------------------------------------------------------------------------- schema checks


def interface_problems(iface: Interface, libvirt: Version = BASELINE,
                       domain_type: str | None = None) -> list[str]:
    """What libvirt or the project would refuse in one interface: our grammar (rng/) and the
    features the target libvirt lacks, the semantic checks' errors, and libvirt's own schema
    when the installed one is the target's release. Each problem once, as a message."""
    from xmltools import checks, schema, versions

    found = [f"<interface> schema: {err.message}" for err in schema.validate("interface", iface.node)]
    report = checks.Report(libvirt=libvirt)
    checks.check_interface(iface.node, report, domain_type)
    found += [f"{issue.code}: {issue.message}" for issue in report.issues if issue.severity == "error"]
    installed = versions.installed_once()
    theirs = _libvirt_interface_schema() if installed is not None and installed[:2] == libvirt[:2] else None
    if theirs is not None and not theirs.validate(iface.node):
        found.append(f"libvirt's schema: {schema.explain(theirs.error_log, iface.node).message}")
    return found


def _refuse_new_problems(before: list[str], after: list[str], where: str) -> None:
    """Refuse the first problem the edit brought. One the interface had already is not the
    edit's doing (an edit should not have to fix everything to change one thing): a check is
    compared by its code (its message names the interface by a type the edit may change), a
    grammar by whether it accepted the interface before (it names only the first problem it
    meets, which an edit elsewhere in the element can change)."""
    old = {p.partition(":")[0] for p in before}
    for problem in after:
        if problem.partition(":")[0] not in old:
            raise InvalidValue(what="edit", value=where, reason=f"libvirt would refuse the result: {problem}")


@functools.cache
def _libvirt_interface_schema() -> etree.RelaxNG | None:
    """libvirt's installed grammar of one domain ``<interface>`` (its domaincommon.rng with
    ``interface`` as the start), or None when libvirt's schemas are not installed."""
    from xmltools.schema import LIBVIRT_SCHEMA_DIR

    common = LIBVIRT_SCHEMA_DIR / "domaincommon.rng"
    if not common.is_file():
        return None
    wrapper = ('<grammar xmlns="http://relaxng.org/ns/structure/1.0" '
               'datatypeLibrary="http://www.w3.org/2001/XMLSchema-datatypes">'
               '<start><ref name="interface"/></start><include href="domaincommon.rng"/></grammar>')
    try:
        # A trusted file of libvirt's package; its includes resolve against its own folder.
        base = str(LIBVIRT_SCHEMA_DIR / "interface-only.rng")
        return etree.RelaxNG(etree.fromstring(wrapper, base_url=base))
    except (etree.RelaxNGParseError, etree.XMLSyntaxError):
        return None   # a broken or partial install: our own grammar and checks still judge


def native_vlan(wish: VlanWish, where: str) -> Vlan:
    """libvirt's <vlan> for a metadata VLAN wish on a Linux bridge port (libvirt 11.0 and newer
    apply it with virNetDevBridgeSetupVlans: the port leaves VLAN 1, a single tag becomes the
    untagged PVID, a trunk's native tag the PVID, untagged unless nativeMode='tagged').

    Refuses, naming the port, what that <vlan> cannot say: an id a Linux bridge does not take
    (0, 4095: the VLAN grammar's limits) and an Open vSwitch ``trunk`` mode that keeps a native id.
    """
    ids = [wish.tag] if wish.tag is not None else wish.trunk_ids()
    if wish.native is not None and wish.native not in ids:
        ids.insert(0, wish.native)
    problem = next(filter(None, map(vlan_id_problem, ids)), None)
    if problem:
        raise InvalidValue(what="--native-vlans", value=where, reason=f"its VLAN {problem}")
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
    try:
        wish = entry.vlan.resolved()
    except InvalidValue as exc:
        raise InvalidValue(what="--native-vlans", value=where,
                           reason=f"its metadata VLAN: {exc.fields['reason']}") from None
    iface.vlan = native_vlan(wish, where)
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


def _edit_forwards(domain: Domain | None, iface: Interface, edits: InterfaceEdits, where: str) -> None:
    """--remove-forward, then --add-forward, on the interface's metadata entry."""
    shown = (edits.add_forwards or edits.remove_forwards)[0]
    if domain is None:
        raise UsageError(detail="--add-forward/--remove-forward are stored in a domain's metadata: "
                                "edit the domain")
    if not iface.mac:
        raise InvalidValue(what="forward", value=shown, reason=f"{where} has no MAC to key the metadata by")
    entry = domain.meta_interface(iface.mac)
    for text in edits.remove_forwards:
        wish = parse_forward_spec(text)
        found = [f for f in (entry.forwards if entry is not None else ()) if f.resolved() == wish]
        if not found or entry is None:
            raise InvalidValue(what="forward", value=text, reason=f"{where} has no such forward")
        entry.forwards.remove(found[0])
    if edits.add_forwards:
        if iface.type != "network":
            raise InvalidValue(what="forward", value=shown, reason=(
                f"{where} is a {iface.type} interface; the hooks forward host ports to guests on a "
                "libvirt NAT network (type network)"))
        entry = domain.meta_interface_or_create(iface.mac)
        have = [f.resolved() for f in entry.forwards]
        for text in edits.add_forwards:
            wish = parse_forward_spec(text)
            clash = next((h for h in have if h.overlaps(wish)), None)
            if clash is not None:
                raise InvalidValue(what="forward", value=text,
                                   reason=f"{where}: overlaps forward {clash.spec()}")
            entry.forwards.append(MetaForward.of(wish))
            have.append(wish)
    domain.prune_meta()


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
