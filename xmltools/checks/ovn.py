"""Semantic checks of the OVN vocabulary (``<vnx:ovn>``, see xmltools.metadata) in one document,
and the facts the checks across files need (xmltools.checks.crossfile).

A network with ``<vnx:ovn switch=...>`` is an OVN logical switch: a bridge network on an Open
vSwitch bridge, whose ports libvirt plugs in with an ``interfaceid`` that ovn-controller binds.
A domain interface with an entry ``<vnx:interface mac><vnx:ovn switch [address]/>`` is a port
on such a switch: a ``bridge`` interface with ``<virtualport type='openvswitch'>`` or a
``network`` interface on an OVN network. The names, subnets and addresses follow the rules of
xmltools.rules and xmltools.metadata, the same the builders and the hooks use.

Codes: ``ovn-switch-name``, ``ovn-subnet``, ``ovn-dhcp-no-subnet``, ``ovn-address``,
``ovn-network`` (an OVN network that is not a bridge network with a bridge name),
``ovn-virtualport`` (no Open vSwitch virtualport), ``ovn-interface-type``, ``ovn-bridge``
(warning: a bridge other than br-int); across files ``ovn-network-not-ovn``,
``ovn-switch-mismatch`` and ``ovn-address-subnet``.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from xmltools.checks.shared import Issue, Report, describe
from xmltools.errors import InvalidValue
from xmltools.metadata import NS, ovn_address_problem, parse_ovn_address, parse_ovn_subnet
from xmltools.rules import OVN_BRIDGE, ovn_name_problem

Q = f"{{{NS}}}"
OVS = "openvswitch"


def label(node: etree._Element) -> str:
    """``<vnx:ovn switch='ls-web'>`` (the name as Python shows it: control characters escaped)."""
    switch = node.get("switch")
    return "<vnx:ovn>" if switch is None else f"<vnx:ovn switch={switch!r}>"


def _vport_type(node: etree._Element) -> str | None:
    vport = node.find("virtualport")
    return vport.get("type") if vport is not None else None


def _bridge_warning(node: etree._Element, bridge: str, what: str, report: Report) -> None:
    if bridge != OVN_BRIDGE:
        report.warning(node, "ovn-bridge",
                       f"{what}: bridge '{bridge}' is not {OVN_BRIDGE}, the integration bridge "
                       "ovn-controller binds ports on unless the chassis names another "
                       "(Open_vSwitch external_ids:ovn-bridge)")


def _check_switch(node: etree._Element, report: Report) -> str | None:
    """The element's switch name if it is one the project takes, else report it."""
    switch = node.get("switch")
    if switch is None:
        report.error(node, "ovn-switch-name",
                     f"{label(node)}: needs switch='NAME' (the OVN logical switch)")
        return None
    problem = ovn_name_problem(switch)
    if problem:
        report.error(node, "ovn-switch-name", f"{label(node)}: {problem}")
        return None
    return switch


def switch_subnet(node: etree._Element) -> str | None:
    """A network's ``<vnx:ovn subnet>`` in canonical form, None when absent or malformed."""
    text = node.get("subnet")
    if text is None:
        return None
    try:
        return parse_ovn_subnet(text)
    except InvalidValue:
        return None


def check_ovn_network(root: etree._Element, meta: etree._Element, report: Report) -> None:
    """A network's ``<vnx:ovn>``: its values, and that the network can be an OVN switch."""
    node = meta.find(Q + "ovn")
    if node is None:
        return
    _check_switch(node, report)
    subnet = node.get("subnet")
    if subnet is not None:
        try:
            parse_ovn_subnet(subnet)
        except InvalidValue as exc:
            report.error(node, "ovn-subnet", f"{label(node)}: {exc}")
    if node.get("dhcp") == "yes" and subnet is None:
        report.error(node, "ovn-dhcp-no-subnet",
                     f"{label(node)}: dhcp='yes' needs a subnet for OVN's DHCP to serve addresses from")
    forward = root.find("forward")
    bridge = root.find("bridge")
    name = bridge.get("name") if bridge is not None else None
    if forward is None or forward.get("mode") != "bridge" or not name:
        report.error(node, "ovn-network",
                     f"{label(node)}: an OVN network is a bridge network (<forward mode='bridge'>) on "
                     f"an Open vSwitch bridge (<bridge name='{OVN_BRIDGE}'>)")
        return
    if _vport_type(root) != OVS:
        report.error(node, "ovn-virtualport",
                     f"{label(node)}: the network needs <virtualport type='openvswitch'>: OVN binds "
                     "Open vSwitch ports by the interfaceid libvirt gives them")
    _bridge_warning(bridge if bridge is not None else node, name, label(node), report)


def check_ovn_domain(root: etree._Element, meta: etree._Element, report: Report) -> None:
    """The OVN entries of a domain's interfaces: values, and the interface each one names."""
    nics: dict[str, etree._Element] = {}
    for mac in root.iterfind("devices/interface/mac"):
        parent = mac.getparent()
        if parent is not None:
            nics.setdefault((mac.get("address") or "").lower(), parent)
    for entry in meta.iterfind(Q + "interface"):
        node = entry.find(Q + "ovn")
        if node is None:
            continue
        _check_switch(node, report)
        if node.get("address") is not None:
            try:
                parse_ovn_address(node.get("address") or "")
            except InvalidValue as exc:
                report.error(node, "ovn-address", f"{label(node)}: {exc}")
        nic = nics.get((entry.get("mac") or "").lower())
        if nic is None:
            continue   # meta-unknown-mac says so
        kind = nic.get("type")
        where = describe(nic)
        if kind not in ("bridge", "network"):
            report.error(node, "ovn-interface-type",
                         f"{label(node)}: {where} cannot be an OVN port: OVN binds Open vSwitch ports "
                         "of bridge or network interfaces")
            continue
        vport = _vport_type(nic)
        if kind == "bridge" and vport != OVS:
            report.error(nic, "ovn-virtualport",
                         f"{where}: an OVN port on a bridge needs <virtualport type='openvswitch'> "
                         "(OVN binds the Open vSwitch port by its interfaceid)")
        elif kind == "network" and vport not in (None, OVS):
            report.error(nic, "ovn-virtualport",
                         f"{where}: an OVN port is an Open vSwitch port, not virtualport type '{vport}'")
        source = nic.find("source")
        bridge = source.get("bridge") if source is not None else None
        if kind == "bridge" and bridge:
            _bridge_warning(source if source is not None else nic, bridge, where, report)


# --------------------------------------------------------------------------- across files


@dataclass(frozen=True, slots=True)
class OvnPort:
    """A domain interface with an OVN entry, as the checks across files need it."""

    path: str
    line: int
    label: str
    kind: str                  # the interface's type: bridge or network
    network: str | None        # its <source network>
    switch: str
    address: str | None


@dataclass(frozen=True, slots=True)
class OvnSwitch:
    """A network's ``<vnx:ovn>``: the switch and its subnet (None: none, or malformed)."""

    path: str
    line: int
    switch: str | None
    subnet: str | None


def ovn_switch_of(root: etree._Element, path: str) -> OvnSwitch | None:
    """The OVN switch a network document is, if any."""
    node = root.find(f"metadata/{Q}netxml/{Q}ovn")
    if node is None:
        return None
    switch = node.get("switch")
    return OvnSwitch(path, root.sourceline or 1, switch if switch and not ovn_name_problem(switch) else None,
                     switch_subnet(node))


def ovn_ports(root: etree._Element, path: str) -> list[OvnPort]:
    """The domain's interfaces that have an OVN entry with a well-formed switch name."""
    entries: dict[str, etree._Element] = {}
    for entry in root.iterfind(f"metadata/{Q}netxml/{Q}interface"):
        node = entry.find(Q + "ovn")
        switch = node.get("switch") if node is not None else None
        if node is not None and switch and not ovn_name_problem(switch):
            entries.setdefault((entry.get("mac") or "").lower(), node)
    found = []
    for iface in root.iterfind("devices/interface"):
        mac = iface.find("mac")
        node = entries.get((mac.get("address") or "").lower() if mac is not None else "")
        if node is None or iface.get("type") not in ("bridge", "network"):
            continue
        source = iface.find("source")
        address = node.get("address")
        try:
            address = parse_ovn_address(address) if address is not None else None
        except InvalidValue:
            address = None   # ovn-address says so
        found.append(OvnPort(path, iface.sourceline or 1, describe(iface), iface.get("type") or "",
                             source.get("network") if source is not None else None,
                             node.get("switch") or "", address))
    return found


def ovn_findings(port: OvnPort, networks: dict[str, OvnSwitch | None]) -> list[Issue]:
    """What is wrong with ``port`` given the OVN switches of its host's networks (by network name,
    None for a network that is not an OVN switch)."""
    issues: list[Issue] = []
    subnet: str | None = None
    if port.kind == "network":
        if port.network is None or port.network not in networks:
            return issues   # network-unknown says so
        net = networks[port.network]
        if net is None:
            return [Issue(port.line, "error", "ovn-network-not-ovn",
                          f"{port.label}: its metadata puts it on OVN switch '{port.switch}', but network "
                          f"'{port.network}' is no OVN switch (no <vnx:ovn> in its metadata)")]
        if net.switch is not None and net.switch != port.switch:
            issues.append(Issue(port.line, "error", "ovn-switch-mismatch",
                                f"{port.label}: its metadata names OVN switch '{port.switch}', but network "
                                f"'{port.network}' ({net.path}:{net.line}) is switch '{net.switch}'"))
            return issues
        subnet, where = net.subnet, f"network '{port.network}' ({net.path}:{net.line})"
    else:
        known = next((n for n in networks.values() if n is not None and n.switch == port.switch
                      and n.subnet is not None), None)
        if known is None:
            return issues
        subnet, where = known.subnet, f"the network of switch '{port.switch}' ({known.path}:{known.line})"
    if port.address is not None and subnet is not None:
        problem = ovn_address_problem(port.address, subnet)
        if problem:
            issues.append(Issue(port.line, "error", "ovn-address-subnet",
                                f"{port.label}: static address {problem} ({where})"))
    return issues
