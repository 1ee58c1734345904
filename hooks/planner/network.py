"""Network events: ``start`` (uplinks, sriov_numvfs, VF pool, host shim), ``started`` (VLAN
filtering), ``stopped``, and ``port-created`` (a portgroup's VLAN for the domain, a pool VF
claimed for it)."""

from __future__ import annotations

from lxml import etree

from hooks import actions as A
from hooks.planner.interfaces import meta_of
from hooks.planner.vlans import wish_record
from hooks.state_records import NetworkState
from xmltools.errors import InvalidValue, WrongDocument
from xmltools.names import PciAddress, validate_bridge_name, validate_interface_name
from xmltools.rules import MAX_NUMVFS, is_macvtap_forward

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from typing import Any


def network_parts(root: etree._Element) -> tuple[etree._Element, etree._Element | None]:
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


def network_start(net: etree._Element) -> list[A.Action]:
    name = net.findtext("name") or ""
    meta = meta_of(net)
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


def network_started(net: etree._Element) -> list[A.Action]:
    meta = meta_of(net)
    if meta is None or meta.bridge is None or meta.bridge.vlan_filtering is None:
        return []
    bridge = net.find("bridge")
    if bridge is None or not bridge.get("name"):
        raise InvalidValue(what="bridge metadata", value="vlan-filtering",
                           reason="the network has no <bridge name>")
    return [A.BridgeVlanFiltering(validate_bridge_name(bridge.get("name", "")), meta.bridge.vlan_filtering)]


def network_stopped(record: dict[str, Any]) -> list[A.Action]:
    state = NetworkState(record)
    plan: list[A.Action] = [A.DeleteShim(name) for name in sorted(state.shims)]
    if state.pool:
        plan.append(A.ForgetPool())
    if state.numvfs:
        plan.append(A.ForgetNumVfs())
    return plan


def port_created(net: etree._Element, port: etree._Element | None) -> list[A.Action]:
    meta = meta_of(net)
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


def pool_port(net: etree._Element, port: etree._Element | None, record: dict[str, Any]) -> list[A.Action]:
    """The VF libvirt plugged for a port of a network recorded as a pool, claimed for its domain."""
    plug = port.find("plug") if port is not None else None
    if not NetworkState(record).pool or plug is None or plug.get("type") != "hostdev-pci":
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
