"""Port forwards: which host ports go to which guest address, per interface.

An interface's ``<vnx:forward>`` entries (``xmltools.metadata.ForwardWish``) become one
``ForwardPorts`` action for that interface. The guest's address is the entry's ``<vnx:ip>``,
else the static ``<dhcp><host mac=… ip=…>`` of its network for that MAC, read from libvirt's own
files (``HostFacts.network_definition``: never the libvirt API). The network, when known, must
be a NAT network and the address inside its subnet.

Applied at qemu ``start``: the guest's address comes from its definition, not from the running
guest, and libvirt has built its firewall for the network (it is active before any guest is
plugged in), so the forwards are in place before QEMU runs and a refusal (a port another
domain forwards) stops the start before anything else. ``reconnect`` applies them again after a
daemon restart (libvirt rebuilt its chains); network ``started`` re-applies the forwards of
every domain on that network from the state records.

``interface_forward_actions`` plans one interface (``hooks watch`` plans a hot-plugged NIC with
it); ``forward_actions`` every interface of a domain.
"""

from __future__ import annotations

from lxml import etree

from hooks import actions as A
from hooks.planner.facts import HostFacts
from hooks.planner.interfaces import Nic, meta_of, nics
from xmltools.errors import InvalidValue
from xmltools.metadata import ForwardWish, MetaInterface, check_ipv4_address
from xmltools.names import validate_bridge_name

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from typing import Any


def _network_of(nic: Nic) -> str | None:
    source = nic.node.find("source")
    return source.get("network") if nic.type == "network" and source is not None else None


def dhcp_address(net: etree._Element, mac: str) -> str | None:
    """The IPv4 address of the network's static DHCP host for ``mac``, if it has one."""
    for host in net.iterfind("ip/dhcp/host"):
        if (host.get("mac") or "").lower() == mac and host.get("ip") and ":" not in (host.get("ip") or ""):
            return host.get("ip")
    return None


def subnets(net: etree._Element) -> list[Any]:
    """The network's IPv4 subnets (``<ip address netmask|prefix>``)."""
    import ipaddress  # forwards only

    found = []
    for ip in net.iterfind("ip"):
        address, family = ip.get("address"), ip.get("family")
        if not address or family == "ipv6" or ":" in address:
            continue
        mask = ip.get("prefix") or ip.get("netmask") or "24"
        try:
            found.append(ipaddress.IPv4Network(f"{address}/{mask}", strict=False))
        except ValueError:
            continue
    return found


def _wishes(mi: MetaInterface) -> list[ForwardWish]:
    wishes = [f.resolved() for f in mi.forwards]
    for n, one in enumerate(wishes):
        for other in wishes[:n]:
            if one.overlaps(other):
                raise InvalidValue(what="forward", value=one.spec(),
                                   reason=f"interface {mi.mac}: overlaps forward {other.spec()}")
    return wishes


def interface_forward_actions(domain: str, uuid: str | None, nic: Nic, mi: MetaInterface | None,
                              facts: HostFacts) -> list[A.Action]:
    """The forwards of one interface: one ``ForwardPorts``, or none without ``<vnx:forward>``."""
    if mi is None or not mi.forwards:
        return []
    wishes = _wishes(mi)
    if nic.type not in ("network", "bridge") or not nic.bridge:
        raise InvalidValue(what="forward", value=wishes[0].spec(), reason=(
            f"interface {nic.label}: port forwarding needs an interface on a libvirt NAT network "
            "(type='network'), plugged into its bridge"))
    network = _network_of(nic)
    net = facts.network_definition(network) if network else None
    if net is not None:
        fwd = net.find("forward")
        if fwd is None or fwd.get("mode", "nat") != "nat":
            mode = "isolated" if fwd is None else fwd.get("mode")
            raise InvalidValue(what="forward", value=wishes[0].spec(), reason=(
                f"interface {nic.label}: network {network} is {mode}, not NAT; forward ports only "
                "to guests on a NAT network"))
    if mi.ip is not None and mi.ip.address:
        guest = check_ipv4_address(mi.ip.address, "guest address (<vnx:ip>)")
    else:
        found = dhcp_address(net, nic.mac) if net is not None else None
        if found is None:
            where = f"network {network}" if network else "the interface's network"
            raise InvalidValue(what="forward", value=wishes[0].spec(), reason=(
                f"interface {nic.label}: no guest address: give <vnx:ip address='…'/> in the entry "
                f"(--ip), or a static <dhcp><host mac='{nic.mac}' ip='…'/> in {where}"))
        guest = check_ipv4_address(found, f"DHCP host address of {nic.mac}")
    if net is not None:
        import ipaddress  # forwards only

        # The address is the definer's to write: it must not be another guest's (a static DHCP
        # host of another MAC) or the host's own on the network.
        if guest in {ip.get("address") for ip in net.iterfind("ip")}:
            raise InvalidValue(what="guest address", value=guest, reason=(
                f"interface {nic.label}: {guest} is the network's own address (the host on network "
                f"{network}), not a guest's"))
        other = next(((h.get("mac") or "").lower() for h in net.iterfind("ip/dhcp/host")
                      if h.get("ip") == guest and (h.get("mac") or "").lower() != nic.mac), None)
        if other is not None:
            raise InvalidValue(what="guest address", value=guest, reason=(
                f"interface {nic.label}: {guest} is the static DHCP host of {other} in network "
                f"{network}: another guest's address"))
        nets = subnets(net)
        if nets and not any(ipaddress.IPv4Address(guest) in n for n in nets):
            raise InvalidValue(what="guest address", value=guest, reason=(
                f"interface {nic.label}: not inside network {network}'s subnet "
                f"{', '.join(str(n) for n in nets)}"))
    forwards = tuple((w.proto, w.host_ports[0], w.host_ports[1], w.guest_ports[0], w.guest_ports[1],
                      w.host_address, w.source) for w in wishes)
    from hooks.actions.forward import ForwardRules

    rules = ForwardRules(domain, nic.mac, network or "", validate_bridge_name(nic.bridge), guest, forwards)
    return [A.ForwardPorts(rules, uuid, iface=nic.label)]


def forward_actions(root: etree._Element, facts: HostFacts) -> list[A.Action]:
    """The forwards of every interface of a domain (start, reconnect, attach)."""
    meta = meta_of(root)
    if meta is None:
        return []
    domain, uuid = root.findtext("name") or "", root.findtext("uuid")
    plan: list[A.Action] = []
    for nic in nics(root):
        mi = meta.interface(nic.mac) if nic.mac else None
        plan += interface_forward_actions(domain, uuid, nic, mi, facts)
    return plan


def network_forward_actions(net: etree._Element, facts: HostFacts) -> list[A.Action]:
    """Network ``started``: libvirt has (re)built its chains; put back the forwards the state
    records hold for domains on this network."""
    from hooks.actions.forward import ForwardRules

    name = net.findtext("name")
    if not name:      # the forwards of a plain bridge interface are recorded with no network
        return []
    plan: list[A.Action] = []
    for domain, (uuid, forwards) in sorted(facts.forward_records().items()):
        for _key, entry in sorted(forwards.items()):
            if isinstance(entry, dict) and entry.get("network") == name:
                rules = ForwardRules.from_record(entry)
                if rules.domain == domain:
                    plan.append(A.ForwardPorts(rules, uuid, reapply=True, iface=rules.mac))
    return plan
