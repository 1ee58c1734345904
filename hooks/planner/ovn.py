"""OVN: a network's logical switch at network ``start``/``started``, a guest interface's logical
switch port at network ``port-created`` (an OVN network's port, named by the interfaceid libvirt
gives it) and qemu ``prepare`` (an interface with its own ``<vnx:ovn>`` entry), settled on this
chassis at ``started`` when it arrived while another chassis held it (a migration), given up
at ``release`` and ``port-deleted``.

Everything that reaches an ``ovn-nbctl`` argv comes from XML a domain's or network's definer
wrote: the interfaceid must be a UUID, the switch name passes the vocabulary's rule and the
adapter's (never a UUID-like name ovn-nbctl would read as a row), the MAC is normalised; a
value that fails is refused here, while planning, before any change.

``hooks.adapters.ovn`` is imported only once a document has OVN wishes.
"""

from __future__ import annotations

from lxml import etree

from hooks import actions as A
from hooks.planner.interfaces import meta_of, nics, uuid_of
from hooks.state_records import DomainState
from xmltools.errors import InvalidValue

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from typing import Any


def _checked(switch: str, interfaceid: str | None, mac: str | None, label: str) -> tuple[str, str, str]:
    """(switch, port name, MAC) checked and normalised, or one refusal naming the interface."""
    from hooks.adapters.ovn import mac_address, port_name, switch_name

    if not interfaceid:
        raise InvalidValue(what="OVN port", value=label,
                           reason="needs <virtualport type='openvswitch'> with "
                                  "<parameters interfaceid='UUID'/>")
    if not mac:
        raise InvalidValue(what="OVN port", value=label, reason="needs a MAC address")
    return switch_name(switch), port_name(interfaceid), mac_address(mac)


def switch_actions(net: etree._Element) -> list[A.Action]:
    """Network ``start`` (and ``started``): the network's logical switch exists."""
    meta = meta_of(net)
    if meta is None or meta.ovn is None:
        return []
    from hooks.adapters.ovn import switch_name

    wish = meta.ovn.resolved()
    return [A.EnsureOvnSwitch(switch_name(wish.switch), wish.subnet, wish.dhcp)]


def network_port_actions(net: etree._Element, port: etree._Element | None) -> list[A.Action]:
    """Network ``port-created`` on an OVN network: the port libvirt made, as a logical switch
    port named by its interfaceid, for the domain that owns it (recorded in its record)."""
    meta = meta_of(net)
    if port is None or meta is None or meta.ovn is None:
        return []
    wish = meta.ovn.resolved()
    owner = port.find("owner")
    domain = owner.findtext("name") if owner is not None else None
    if not domain:
        raise InvalidValue(what="network port", value=port.findtext("uuid") or "?",
                           reason="an OVN port needs the <owner><name> of its domain")
    mac_node = port.find("mac")
    mac = mac_node.get("address") if mac_node is not None else None
    params = port.find("virtualport/parameters")
    label = f"{mac or '?'} of domain {domain}"
    switch, name, mac = _checked(wish.switch, params.get("interfaceid") if params is not None else None,
                                 mac, label)
    return [A.EnsureOvnPort(name, switch, mac, None, domain, uuid_of(owner), wish.port_security,
                            keep_address=True, iface=mac)]


def domain_port_actions(root: etree._Element) -> list[A.Action]:
    """qemu ``prepare``: each interface with a ``<vnx:ovn>`` entry and its interfaceid in the XML
    (a bridge interface on br-int). An interface of an OVN network without one gets its port at
    ``port-created``, where libvirt names its interfaceid."""
    meta = meta_of(root)
    if meta is None or not any(entry.ovn is not None for entry in meta.interfaces):
        return []
    domain = root.findtext("name") or ""
    plan: list[A.Action] = []
    for nic in nics(root):
        mi = meta.interface(nic.mac) if nic.mac else None
        if mi is None or mi.ovn is None:
            continue
        wish = mi.ovn.resolved()
        vport = nic.model.virtualport
        params = vport.parameters if vport is not None and nic.ovs else None
        interfaceid = params.interfaceid if params is not None else None
        if nic.type == "network" and not interfaceid:
            continue
        switch, name, mac = _checked(wish.switch, interfaceid, nic.mac, nic.label)
        plan.append(A.EnsureOvnPort(name, switch, mac, wish.address, domain, uuid_of(root), iface=nic.label))
    return plan


def settle_port_actions(record: dict[str, Any]) -> list[A.Action]:
    """qemu ``started``: the ports that arrived here while another chassis held them."""
    ports = DomainState(record).ovn_ports
    return [A.SettleOvnPort(name) for name, entry in sorted(ports.items())
            if isinstance(entry, dict) and entry.get("arriving")]


def network_port_deleted(net: etree._Element, port: etree._Element | None) -> list[A.Action]:
    """Network ``port-deleted`` on an OVN network (a guest stopped, or an interface detached):
    the port is given up as at ``release`` (deleted only when this chassis alone holds it)."""
    meta = meta_of(net)
    if port is None or meta is None or meta.ovn is None:
        return []
    from hooks.adapters.ovn import port_name

    owner = port.find("owner")
    domain = owner.findtext("name") if owner is not None else None
    params = port.find("virtualport/parameters")
    interfaceid = params.get("interfaceid") if params is not None else None
    if not domain or not interfaceid:
        return []     # nothing the hooks could have made a port for
    mac = port.find("mac")
    return [A.DeleteOvnPort(port_name(interfaceid), domain, uuid_of(owner),
                            iface=(mac.get("address") or "").lower() if mac is not None else "")]


def release_port_actions(record: dict[str, Any], migrated: bool = False) -> list[A.Action]:
    """Give up the ports the domain's record lists (``migrated``: libvirt's release reason)."""
    state = DomainState(record)
    return [A.DeleteOvnPort(name, state.name or "", state.uuid, migrated=migrated)
            for name in sorted(state.ovn_ports)]
