"""From (operation, XML, host facts, recorded state) to a list of actions. Nothing here changes
the host: the few facts the plan depends on (is this bridge an OVS bridge? which PCI address
has VF 3 of enp4s0f0?) come through a ``HostFacts`` object, a table in tests.

Where the wishes come from:

* the domain's ``<vnx:netxml>`` metadata, per interface by MAC (VLAN, TAP, OVS settings, VF);
* the network's metadata (VLAN filtering, shim, SR-IOV, per-portgroup VLAN), which reaches the
  domain's hooks through the state record written at ``port-created``;
* libvirt's own ``<vlan>`` on an interface plugged into a Linux bridge, which libvirt cannot
  apply itself (on OVS it does, so the hook leaves those alone unless the metadata asks more).

Event mapping (see the README's operations table): qemu ``prepare`` makes TAPs and binds VFs;
``start`` (TAPs exist, QEMU not running yet) sets per-port VLANs; ``reconnect`` and ``attach``
set them again; ``release`` undoes what the state record lists; network ``start`` checks
uplinks, sets sriov_numvfs and creates the shim; ``started`` turns on VLAN filtering (libvirt
has made the bridge by then); ``stopped`` removes the shim; ``port-created`` records the
portgroup's VLAN; ``migrate``/``restore`` rewrite the XML by the host's mapping file.
"""

from __future__ import annotations

import grp
import pwd
from collections.abc import Callable

from lxml import etree

from hooks import actions as A
from hooks.errors import ForeignDevice, HostError
from hooks.protocol import Operation
from xmltools.common import Vlan
from xmltools.errors import InvalidValue, WrongDocument
from xmltools.metadata import NetXmlMeta, VlanWish, find_meta, ovs_setting_problem
from xmltools.names import PciAddress, validate_bridge_name, validate_interface_name
from xmltools.rules import BRIDGE_VLAN_RANGE, bridge_vid_ok, format_vlan_ranges, is_macvtap_forward

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from dataclasses import dataclass, field
    from typing import Any, Protocol
else:
    from xmltools.record import dataclass, field

    Protocol = object   # the ports are only ever named in annotations

MAX_VF_INDEX = 255      # as the CLI's --vf-index
MAX_NUMVFS = 65535      # PCIe TotalVFs is a 16-bit field


class HostFacts(Protocol):
    """Read-only questions about the host that a plan depends on."""

    def is_ovs_bridge(self, name: str) -> bool: ...
    def vf_address(self, pf: str, index: int) -> str | None: ...
    def pf_of_vf(self, address: str) -> tuple[str, int] | None: ...
    def uid_of(self, user: str) -> int: ...
    def gid_of(self, group: str) -> int: ...
    def vf_pool(self, network: str) -> str | None: ...   # the PF of a hostdev network's pool
    def tap_conflict(self, name: str, ovs_bridge: bool) -> str | None: ...  # why TAP name is not ours to use


def _id_of(value: str, table: dict[str, int], lookup: Callable[[str], int], what: str) -> int:
    if value.isdigit():
        return int(value)
    if value in table:
        return table[value]
    try:
        return lookup(value)
    except KeyError:
        raise InvalidValue(what=what, value=value, reason="no such name on this host") from None


@dataclass
class StaticFacts:
    """HostFacts from tables: for tests and for ``hooks plan`` without touching the host."""

    ovs_bridges: frozenset[str] = frozenset()
    vfs: dict[tuple[str, int], str] = field(default_factory=dict)   # (pf, index) -> PCI address
    users: dict[str, int] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    pools: dict[str, str] = field(default_factory=dict)            # network -> PF
    taken: dict[str, str] = field(default_factory=dict)            # device -> why no TAP of it

    def tap_conflict(self, name: str, ovs_bridge: bool) -> str | None:
        return self.taken.get(name)

    def vf_pool(self, network: str) -> str | None:
        return self.pools.get(network)

    def is_ovs_bridge(self, name: str) -> bool:
        return name in self.ovs_bridges

    def vf_address(self, pf: str, index: int) -> str | None:
        return self.vfs.get((pf, index))

    def pf_of_vf(self, address: str) -> tuple[str, int] | None:
        return next((key for key, addr in self.vfs.items() if addr == address), None)

    def uid_of(self, user: str) -> int:
        return _id_of(user, self.users, lambda n: pwd.getpwnam(n).pw_uid, "user")

    def gid_of(self, group: str) -> int:
        return _id_of(group, self.groups, lambda n: grp.getgrnam(n).gr_gid, "group")


class LiveFacts:
    """HostFacts answered by the ports (read-only calls only), each asked at most once."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self._ovs: dict[str, bool] = {}

    def is_ovs_bridge(self, name: str) -> bool:
        if name not in self._ovs:
            # A Linux bridge answers the question without asking OVS, which a host with only
            # Linux bridges may not run at all (ovs-vsctl would fail: no database socket).
            link = self.ctx.netlink.link(name)
            if link is not None and link.kind == "bridge":
                self._ovs[name] = False
            else:
                # No OVS on this host (or not running): then it is no OVS bridge either, and
                # the step that uses the bridge reports it missing, by name.
                try:
                    self._ovs[name] = bool(self.ctx.ovs.bridge_exists(name))
                except HostError:
                    self._ovs[name] = False
        return self._ovs[name]

    def vf_address(self, pf: str, index: int) -> str | None:
        return self.ctx.sysfs.vf_address(pf, index)

    def vf_pool(self, network: str) -> str | None:
        pool = self.ctx.state.read("networks", network).get("pool")
        return pool.get("pf") if isinstance(pool, dict) else None

    def pf_of_vf(self, address: str) -> tuple[str, int] | None:
        return self.ctx.sysfs.pf_of_vf(address)

    def uid_of(self, user: str) -> int:
        return _id_of(user, {}, lambda n: pwd.getpwnam(n).pw_uid, "user")

    def gid_of(self, group: str) -> int:
        return _id_of(group, {}, lambda n: grp.getgrnam(n).gr_gid, "group")

    def tap_conflict(self, name: str, ovs_bridge: bool) -> str | None:
        from hooks.actions.tap import tap_conflict

        return tap_conflict(self.ctx, name, ovs_bridge)


# --------------------------------------------------------------------------- VLAN wishes


def wish_from_vlan(vlan: Vlan) -> VlanWish:
    """libvirt's ``<vlan>`` as a VlanWish (access tag, or trunk with optional native)."""
    ids = vlan.ids
    if not ids:
        raise InvalidValue(what="VLAN", value="<vlan/>", reason="has no <tag id>")
    native = vlan.native
    if not vlan.trunk and len(ids) == 1 and native is None:
        return VlanWish(ids[0], (), None, "access")
    mode = f"native-{native.native_mode}" if native is not None else "trunk"
    native_id = native.id if native is not None else None
    ranges = tuple((i, i) for i in ids if i != native_id)
    return VlanWish.from_attrs(None, format_vlan_ranges(list(ranges)) if ranges else str(native_id),
                               native_id, mode)


def wish_record(wish: VlanWish) -> dict[str, Any]:
    return {"tag": wish.tag, "trunks": format_vlan_ranges(list(wish.trunks)) if wish.trunks else None,
            "native": wish.native, "mode": wish.mode}


def wish_from_record(record: dict[str, Any]) -> VlanWish:
    return VlanWish.from_attrs(record.get("tag"), record.get("trunks"), record.get("native"),
                               record.get("mode"))


def _bridge_vid(vid: int) -> int:
    if not bridge_vid_ok(vid):
        raise InvalidValue(what="bridge VLAN id", value=str(vid),
                           reason="must be {} to {} on a Linux bridge".format(*BRIDGE_VLAN_RANGE))
    return vid


def bridge_vlan_action(dev: str, wish: VlanWish, iface: str = "",
                       bridge: str | None = None) -> A.BridgePortVlans:
    """Access: pvid + untagged. Trunk: tagged list; the native id is the (untagged) pvid.
    ``bridge``: the bridge ``dev`` must be a port of when the VLANs are set."""
    if wish.tag is not None:
        return A.BridgePortVlans(dev, (_bridge_vid(wish.tag),), pvid=wish.tag, bridge=bridge, iface=iface)
    vids = tuple(sorted({_bridge_vid(v) for v in wish.trunk_ids()}
                        | ({_bridge_vid(wish.native)} if wish.native is not None else set())))
    return A.BridgePortVlans(dev, vids, pvid=wish.native,
                             untagged_pvid=wish.mode != "native-tagged", bridge=bridge, iface=iface)


def ovs_vlan_action(dev: str, wish: VlanWish, iface: str = "") -> A.OvsPortVlan:
    """OVS columns as libvirt sets them: the native id is ``tag`` and also in ``trunks``."""
    if wish.tag is not None:
        return A.OvsPortVlan(dev, wish.tag, (), "access", iface=iface)
    ids = set(wish.trunk_ids())
    if wish.native is not None:
        ids.add(wish.native)
    return A.OvsPortVlan(dev, wish.native, tuple(sorted(ids)), wish.mode, iface=iface)


# --------------------------------------------------------------------------- reading XML


@dataclass(frozen=True)
class Nic:
    """What the planner needs from one domain ``<interface>``."""

    node: etree._Element
    type: str
    mac: str
    dev: str | None
    managed: str | None
    bridge: str | None
    ovs: bool
    source_dev: str | None
    source_mode: str | None

    @property
    def label(self) -> str:
        return f"{self.mac} ({self.dev})" if self.dev else self.mac


def _nics(root: etree._Element) -> list[Nic]:
    out = []
    for node in root.iterfind("devices/interface"):
        mac_node = node.find("mac")
        mac = (mac_node.get("address") if mac_node is not None else "") or ""
        target = node.find("target")
        source = node.find("source")
        vport = node.find("virtualport")
        dev = target.get("dev") if target is not None else None
        out.append(Nic(
            node=node, type=node.get("type", ""), mac=mac.lower(),
            dev=validate_interface_name(dev, "target dev") if dev else None,
            managed=target.get("managed") if target is not None else None,
            bridge=source.get("bridge") if source is not None else None,
            ovs=vport is not None and vport.get("type") == "openvswitch",
            source_dev=source.get("dev") if source is not None else None,
            source_mode=source.get("mode") if source is not None else None,
        ))
    return out


def _meta(root: etree._Element) -> NetXmlMeta | None:
    return find_meta(root)


def _uuid(node: etree._Element | None) -> str | None:
    return node.findtext("uuid") if node is not None else None


# --------------------------------------------------------------------------- domain events


def _allowed_ovs_settings(label: str, settings: Any) -> None:
    """Refuse any ``<vnx:ovs-setting>`` outside ``OVS_SETTINGS_ALLOWED``."""
    for setting in settings:
        problem = ovs_setting_problem(setting.table, setting.column, setting.key, setting.value)
        if problem:
            raise InvalidValue(what="OVS setting", value=f"{setting.table} {setting.column}:{setting.key}",
                               reason=f"interface {label}: {problem}")


def _ovs_setting_actions(nic: Nic, settings: Any, ovs: bool) -> list[A.Action]:
    """The domain's ``<vnx:ovs-setting>`` wishes, on its own Port/Interface row (``nic.dev``).

    Only the (table, column, key) entries of ``OVS_SETTINGS_ALLOWED`` are accepted; anything
    else refuses the whole call here, while planning, before any change.
    """
    assert nic.dev is not None   # the caller plans only interfaces with a device
    plan: list[A.Action] = []
    for setting in settings:
        if not ovs:
            raise InvalidValue(what="OVS setting", value=f"{setting.column}:{setting.key}",
                               reason=f"interface {nic.label} is not on an Open vSwitch bridge")
        if not (setting.table and setting.column and setting.key):
            raise InvalidValue(what="OVS setting", value=str(setting.key),
                               reason="needs table, column and key")
        _allowed_ovs_settings(nic.label, [setting])
        from hooks.adapters.ovs import check_column_key

        # The adapter's own check of the row name and value: refuse a bad one here, before any
        # action, rather than in the middle of the run.
        check_column_key(setting.table, nic.dev, setting.column, setting.key, setting.value)
        plan.append(A.OvsSetting(setting.table, nic.dev, setting.column, setting.key,
                                 setting.value, iface=nic.label))
    return plan


def _vlan_actions(root: etree._Element, facts: HostFacts, record: dict[str, Any]) -> list[A.Action]:
    """Per-port VLANs and OVS settings on the devices the live XML names (start, reconnect)."""
    meta = _meta(root)
    wishes = record.get("port_wishes", {})
    plan: list[A.Action] = []
    for nic in _nics(root):
        mi = meta.interface(nic.mac) if meta is not None and nic.mac else None
        if nic.type in ("bridge", "network") and nic.dev and nic.bridge:
            bridge, ovs = nic.bridge, nic.ovs
        elif nic.type == "ethernet" and nic.dev and mi is not None and mi.tap is not None and mi.tap.bridge:
            # The device name is the definer's: only the TAP the hook created or took for this
            # domain at prepare, on the bridge it plugged it into (its record, not the XML).
            made = record.get("taps", {}).get(nic.dev)
            if not isinstance(made, dict) or not made.get("bridge") or made.get("plugged") is False:
                if (mi.vlan is not None or mi.ovs_settings or nic.mac in wishes
                        or nic.node.find("vlan") is not None):
                    from hooks.actions.tap import NOT_OURS

                    raise ForeignDevice(step=f"interface {nic.label}: VLANs of {nic.dev}", what="device",
                                        name=nic.dev, reason=f"{NOT_OURS} and plugged into a bridge")
                continue
            bridge, ovs = validate_bridge_name(made["bridge"]), bool(made.get("ovs"))
        else:
            continue
        wish: VlanWish | None = None
        if mi is not None and mi.vlan is not None:
            wish = mi.vlan.resolved()
        elif nic.mac in wishes:
            wish = wish_from_record(wishes[nic.mac])
        elif not ovs and nic.node.find("vlan") is not None:
            # libvirt passes the VLAN on (from a portgroup) but cannot apply it on a Linux bridge.
            wish = wish_from_vlan(Vlan(nic.node.find("vlan")))
        assert nic.dev is not None
        if wish is not None:
            plan.append(ovs_vlan_action(nic.dev, wish, nic.label) if ovs
                        else bridge_vlan_action(nic.dev, wish, nic.label,
                                                bridge if nic.type == "ethernet" else None))
        if mi is not None:
            plan += _ovs_setting_actions(nic, mi.ovs_settings, ovs)
    return plan


def _tap_actions(nic: Nic, mi: Any, facts: HostFacts, record: dict[str, Any]) -> list[A.Action]:
    tap = mi.tap
    if not nic.dev:
        raise InvalidValue(what="interface", value=nic.mac,
                           reason="a TAP to create needs <target dev='NAME' managed='no'/>")
    bridge = validate_bridge_name(tap.bridge) if tap.bridge else None
    ovs = facts.is_ovs_bridge(bridge) if bridge else False
    # The name is the definer's: refuse another guest's TAP, lo, a NIC, an OVS port... here,
    # before any change. A TAP of this domain's own earlier run is given back first (release
    # actions head the plan), and CreateTap asks again when it applies.
    if nic.dev not in record.get("taps", {}):
        reason = facts.tap_conflict(nic.dev, ovs)
        if reason is not None:
            raise ForeignDevice(step=f"interface {nic.label}: create or take TAP {nic.dev}",
                                what="device", name=nic.dev, reason=reason)
    queues = nic.node.find("driver[@queues]")
    multi = queues is not None and queues.get("queues", "").isdigit() and int(queues.get("queues", "1")) > 1
    model = nic.node.find("model")
    virtio = model is not None and model.get("type") == "virtio"
    from hooks.actions.tap import claim_key

    plan: list[A.Action] = [A.ClaimDevice(claim_key(nic.dev), "TAP", iface=nic.label), A.CreateTap(
        nic.dev,
        uid=facts.uid_of(tap.owner) if tap.owner else None,
        gid=facts.gid_of(tap.group) if tap.group else None,
        multi_queue=tap.multi_queue if tap.multi_queue is not None else multi,
        vnet_hdr=tap.vnet_hdr if tap.vnet_hdr is not None else virtio,
        bridge=bridge, ovs=ovs, iface=nic.label)]
    if bridge:
        plan.append(A.EnslaveLink(nic.dev, bridge, ovs, iface=nic.label))
    plan.append(A.LinkUp(nic.dev, iface=nic.label))
    return plan


def _hostdev_address(nic: Nic) -> str | None:
    addr = nic.node.find("source/address")
    if addr is None or addr.get("type", "pci") != "pci":
        return None
    return str(PciAddress.from_attrs(addr.get("domain"), addr.get("bus"), addr.get("slot"),
                                     addr.get("function")))


def _vf_ref(nic: Nic, mi: Any, facts: HostFacts) -> tuple[str | None, tuple[str, int] | None]:
    """PCI address and (PF, VF index) of the function an interface uses, as far as known.

    A VF has two names: its PCI address, which the claim holds and vfio binds, and its PF and
    index, through which MAC and VLAN are set; a hostdev also names the function libvirt gives
    QEMU (``<source><address>``). Every name given must resolve to one and the same function,
    else a domain could claim a free VF while its changes land on one another domain holds.
    """
    vf = mi.vf if mi is not None else None
    source = _hostdev_address(nic) if nic.type == "hostdev" else None
    address = None
    pf_index: tuple[str, int] | None = None
    if vf is not None:
        given = str(PciAddress.parse(vf.address)) if vf.address else None
        if vf.pf and vf.index is not None:
            if not 0 <= vf.index <= MAX_VF_INDEX:
                raise InvalidValue(what="VF index", value=str(vf.index),
                                   reason=f"must be 0 to {MAX_VF_INDEX}")
            pf_index = (validate_interface_name(vf.pf, "PF name"), vf.index)
            found = facts.vf_address(*pf_index)
            if found is None:
                raise InvalidValue(what="VF", value=f"{vf.pf} index {vf.index}",
                                   reason="the PF has no such VF (is sriov_numvfs set?)")
            address = str(PciAddress.parse(found))
            if given is not None and given != address:
                raise InvalidValue(what="VF", value=f"{vf.pf} index {vf.index} address {given}",
                                   reason=f"VF {vf.index} of {vf.pf} is {address}, not {given}: "
                                          "pf/index and address must name the same VF")
        elif given is not None:
            address = given
            pf_index = facts.pf_of_vf(address)
        if source is not None and address is not None and source != address:
            raise InvalidValue(what="VF", value=nic.label,
                               reason=f"the hostdev's <source><address> is {source} but its metadata "
                                      f"names {address}: they must be the same VF")
    elif nic.type == "hostdev" and nic.node.get("managed") == "no":
        address = source
    return address, pf_index


def _vf_vlan(mi: Any) -> int:
    if mi is None or mi.vlan is None:
        return 0
    wish = mi.vlan.resolved()
    if wish.tag is None:
        raise InvalidValue(what="VF VLAN", value=str(wish.trunks),
                           reason="a VF takes one access VLAN, not trunks")
    return wish.tag


def _vf_actions(nic: Nic, mi: Any, facts: HostFacts) -> list[A.Action]:
    """prepare: claim the function, bind it to vfio-pci, set a macvtap VF's MAC and VLAN."""
    vf = mi.vf if mi is not None else None
    address, pf_index = _vf_ref(nic, mi, facts)
    plan: list[A.Action] = []
    if address and (vf is not None or nic.type == "hostdev"):
        plan.append(A.ClaimDevice(f"pci-{address}", "VF", iface=nic.label))
    # libvirt binds managed hostdevs itself; a VF used through macvtap keeps its net driver.
    if address and nic.type == "hostdev" and nic.node.get("managed") != "yes":
        plan.append(A.BindVfio(address, iface=nic.label))
    if vf is not None and pf_index is not None and nic.type != "hostdev":
        # Imported here: xmltools.mac pulls in hashlib and random, which most hook calls never need.
        from xmltools.mac import normalize_mac

        mac = normalize_mac(nic.mac) if nic.mac else None  # set through the PF: never multicast
        plan.append(A.SetVfMacVlan(pf_index[0], pf_index[1], mac, _vf_vlan(mi), address,
                                   iface=nic.label))
    return plan


def _hostdev_vlan_actions(root: etree._Element, facts: HostFacts) -> list[A.Action]:
    """start: the metadata VLAN of a hostdev VF. libvirt sets the VF's MAC (and its own
    <vlan>) between prepare and start, so the hook sets only the VLAN, and only after it."""
    meta = _meta(root)
    if meta is None:
        return []
    plan: list[A.Action] = []
    for nic in _nics(root):
        mi = meta.interface(nic.mac) if nic.mac else None
        if nic.type != "hostdev" or mi is None or mi.vf is None or mi.vlan is None:
            continue
        address, pf_index = _vf_ref(nic, mi, facts)
        if pf_index is None:
            raise InvalidValue(what="VF", value=nic.label, reason="cannot tell its PF: add pf and index")
        plan.append(A.SetVfMacVlan(pf_index[0], pf_index[1], None, _vf_vlan(mi), address,
                                   iface=nic.label))
    return plan


def release_actions(record: dict[str, Any]) -> list[A.Action]:
    """Undo, from the state record alone, what earlier calls did for a domain."""
    plan: list[A.Action] = [A.DeleteTap(name) for name in sorted(record.get("taps", {}))]
    plan += [A.RestoreVf(v["pf"], int(v["index"])) for _, v in sorted(record.get("vfs", {}).items())]
    plan += [A.RestoreDriver(addr) for addr in sorted(record.get("drivers", {}))]
    plan += [A.ReleaseClaim(dev) for dev in sorted(record.get("claims", {}))]
    if record.get("port_wishes") or record.get("starting"):
        plan.append(A.ForgetDomain())
    return plan


def _pool_of(nic: Nic, facts: HostFacts) -> tuple[str, str] | None:
    """(network, PF) when the interface is plugged into a hostdev network recorded as a VF pool."""
    if nic.type != "network":
        return None
    source = nic.node.find("source")
    network = source.get("network") if source is not None else None
    pf = facts.vf_pool(network) if network else None
    return (network, validate_interface_name(pf, "PF name")) if network and pf else None


def _prepare(root: etree._Element, facts: HostFacts, record: dict[str, Any]) -> list[A.Action]:
    # Leftovers of an earlier run of this domain (a crash before release) are undone first;
    # VLAN wishes of its ports are dropped too: port-created records them afresh after prepare.
    plan = release_actions(record)
    meta = _meta(root)
    for entry in meta.interfaces if meta is not None else ():
        _allowed_ovs_settings(entry.mac or "", entry.ovs_settings)   # refused before the guest starts
    for nic in _nics(root):
        mi = meta.interface(nic.mac) if meta is not None and nic.mac else None
        if nic.type == "ethernet" and mi is not None and mi.tap is not None:
            if nic.managed != "no":
                raise InvalidValue(what="interface", value=nic.label,
                                   reason="a TAP made by the hook needs <target ... managed='no'/>")
            plan += _tap_actions(nic, mi, facts, record)
        plan += _vf_actions(nic, mi, facts)
        pool = _pool_of(nic, facts)
        if pool is not None:
            plan.append(A.ClaimPoolVf(pool[0], pool[1], nic.mac, iface=nic.label))
        if nic.type == "direct" and nic.source_mode == "passthrough" and nic.source_dev:
            plan.append(A.PassthroughExclusive.for_uplink(
                validate_interface_name(nic.source_dev, "uplink"), iface=nic.label))
    if plan:
        plan.append(A.MarkStarting())   # hooks repair: leave this alone until QEMU runs
    return plan


# --------------------------------------------------------------------------- network events


def _network_parts(root: etree._Element) -> tuple[etree._Element, etree._Element | None]:
    if root.tag == "network":
        return root, None
    if root.tag != "hookData" or root.find("network") is None:
        raise WrongDocument(source="<stdin>", expected="<hookData> with a <network>", found=root.tag)
    return root.find("network"), root.find("networkport")  # type: ignore[return-value]


def _uplinks(net: etree._Element) -> list[str]:
    fwd = net.find("forward")
    if fwd is None or not is_macvtap_forward(fwd.get("mode"), net.find("bridge") is not None):
        return []   # no macvtap pool (mode bridge with a <bridge> is a host bridge)
    names = [i.get("dev") for i in fwd.iterfind("interface")]
    if fwd.get("dev"):
        names.insert(0, fwd.get("dev"))
    seen: list[str] = []
    for name in names:
        if name and name not in seen:
            seen.append(validate_interface_name(name, "uplink"))
    return seen


def _network_start(net: etree._Element) -> list[A.Action]:
    name = net.findtext("name") or ""
    meta = _meta(net)
    plan: list[A.Action] = [A.CheckUplink(dev, name) for dev in _uplinks(net)]
    if meta is not None and meta.sriov is not None:
        sriov = meta.sriov
        pf = sriov.pf
        if pf is None:
            pf_node = net.find("forward/pf")
            pf = pf_node.get("dev") if pf_node is not None else None
        if not pf or sriov.numvfs is None:
            raise InvalidValue(what="sriov metadata", value=str(pf), reason="needs pf and numvfs")
        if not 0 <= sriov.numvfs <= MAX_NUMVFS:
            raise InvalidValue(what="sriov numvfs", value=str(sriov.numvfs),
                               reason=f"must be 0 to {MAX_NUMVFS}")
        plan.append(A.SetSriovNumVfs(validate_interface_name(pf, "PF name"), sriov.numvfs))
    # A hostdev network over a PF is a pool: domains reserve its VFs at prepare (ClaimPoolVf).
    fwd = net.find("forward")
    pool_pf = fwd.find("pf") if fwd is not None and fwd.get("mode") == "hostdev" else None
    if pool_pf is not None and pool_pf.get("dev"):
        plan.append(A.RecordPool(validate_interface_name(pool_pf.get("dev", ""), "PF name")))
    if meta is not None and meta.shim is not None:
        uplinks = _uplinks(net)
        shim = meta.shim
        if not uplinks:
            raise InvalidValue(what="shim", value=str(shim.name),
                               reason="a host shim needs a macvtap network with an uplink (<forward dev>)")
        if not shim.name or not shim.address:
            raise InvalidValue(what="shim", value=str(shim.name), reason="needs name and address")
        import ipaddress  # network start only

        try:
            ipaddress.ip_interface(shim.address)
        except ValueError:
            raise InvalidValue(what="shim address", value=shim.address,
                               reason="expected ADDRESS/PREFIX, e.g. 192.168.50.1/24") from None
        plan.append(A.CreateShim(validate_interface_name(shim.name, "shim name"), uplinks[0], shim.address))
    return plan


def _network_started(net: etree._Element) -> list[A.Action]:
    meta = _meta(net)
    if meta is None or meta.bridge is None or meta.bridge.vlan_filtering is None:
        return []
    bridge = net.find("bridge")
    if bridge is None or not bridge.get("name"):
        raise InvalidValue(what="bridge metadata", value="vlan-filtering",
                           reason="the network has no <bridge name>")
    return [A.BridgeVlanFiltering(validate_bridge_name(bridge.get("name", "")), meta.bridge.vlan_filtering)]


def _network_stopped(record: dict[str, Any]) -> list[A.Action]:
    plan: list[A.Action] = [A.DeleteShim(name) for name in sorted(record.get("shims", {}))]
    if record.get("pool"):
        plan.append(A.ForgetPool())
    if record.get("numvfs"):
        plan.append(A.ForgetNumVfs())
    return plan


def _port_created(net: etree._Element, port: etree._Element | None) -> list[A.Action]:
    meta = _meta(net)
    if port is None or meta is None:
        return []
    group = port.findtext("group")
    pg = meta.portgroup(group) if group else None
    if pg is None or pg.vlan is None:
        return []
    owner = port.find("owner")
    mac_node = port.find("mac")
    if owner is None or mac_node is None or not owner.findtext("name"):
        return []
    mac = (mac_node.get("address") or "").lower()
    values = wish_record(pg.vlan.resolved())
    values.update(network=net.findtext("name"), portgroup=group)
    return [A.RecordPortWish(owner.findtext("name") or "", owner.findtext("uuid"), mac,
                             tuple(sorted(values.items())), iface=mac)]


def _pool_port(net: etree._Element, port: etree._Element | None, record: dict[str, Any]) -> list[A.Action]:
    """The VF libvirt plugged for a port of a network recorded as a pool, claimed for its domain."""
    plug = port.find("plug") if port is not None else None
    if not record.get("pool") or plug is None or plug.get("type") != "hostdev-pci":
        return []
    assert port is not None
    owner, mac_node, node = port.find("owner"), port.find("mac"), plug.find("address")
    if owner is None or not owner.findtext("name") or mac_node is None or node is None:
        raise InvalidValue(what="network port", value=port.findtext("uuid") or "?",
                           reason="a hostdev-pci plug needs <owner><name>, <mac> and <address>")
    address = PciAddress.from_attrs(node.get("domain"), node.get("bus"), node.get("slot"),
                                    node.get("function"))
    mac = (mac_node.get("address") or "").lower()
    return [A.ClaimPluggedVf(owner.findtext("name") or "", owner.findtext("uuid"), str(address),
                             net.findtext("name") or "", mac, iface=mac)]


# --------------------------------------------------------------------------- entry


def owner_of(op: Operation, root: etree._Element) -> tuple[str, str | None]:
    """Name and UUID of the domain or network the document describes."""
    if op.driver == "qemu":
        if root.tag != "domain":
            raise WrongDocument(source="<stdin>", expected="<domain>", found=root.tag)
        return root.findtext("name") or "", _uuid(root)
    net, _ = _network_parts(root)
    return net.findtext("name") or "", _uuid(net)


def plan(op: Operation, root: etree._Element | None, facts: HostFacts, record: dict[str, Any],
         mapping: Any = None) -> list[A.Action]:
    """The actions for one hook call. ``record`` is the owner's state record ({} if none).

    ``root`` may be None for operations that work from the state record alone (release,
    network stopped). ``mapping`` is the parsed migrate/restore mapping, if the host has one.
    """
    name = op.name
    if op.driver == "qemu":
        if name == "release":
            return release_actions(record)
        if root is None:
            return []
        if name == "prepare":
            return _prepare(root, facts, record)
        if name == "start":
            return _vlan_actions(root, facts, record) + _hostdev_vlan_actions(root, facts)
        if name in ("reconnect", "attach"):
            return _vlan_actions(root, facts, record)
        if name in ("migrate", "restore") and mapping is not None:
            from hooks.transform import rewrite

            xml, changes = rewrite(root, mapping)
            return [A.RewriteXml(xml, tuple(changes))] if changes else []
        return []
    if name == "stopped":
        return _network_stopped(record)
    if root is None:
        return []
    net, port = _network_parts(root)
    if name == "start":
        return _network_start(net)
    if name == "started":
        return _network_started(net)
    if name == "port-created":
        return _port_created(net, port) + _pool_port(net, port, record)
    return []
