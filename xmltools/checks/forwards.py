"""Port forwards in a domain's metadata (``<vnx:forward>``, ``<vnx:ip>``): what the hooks would
refuse at the guest's start, found before it.

In one document: each forward's grammar and limits (ports 1-65535, ranges low to high and of
one length, IPv4 addresses and networks), forwards of the domain that claim the same (address,
protocol, host port), a forward on an interface that is not on a libvirt network. Across the
files of a run (per host, like the other checks across files): two domains forwarding the same
host port (the hooks refuse the second start), and, when the network's file is in the run, a
guest address outside the network's subnet, a network that is not NAT, or no address at all (no
``<vnx:ip>`` and no static DHCP host for the MAC).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree

from xmltools.checks.shared import Issue, Report, describe
from xmltools.errors import InvalidValue
from xmltools.metadata import NS as META_NS
from xmltools.metadata import ForwardWish, MetaForward, check_ipv4_address

Q = f"{{{META_NS}}}"


@dataclass(frozen=True, slots=True)
class ForwardFact:
    """One valid ``<vnx:forward>`` of a domain, with what the checks across files need."""

    path: str
    line: int
    label: str            # the element as messages show it
    domain: str
    mac: str
    network: str | None   # the interface's <source network>, if it is type='network'
    guest: str | None     # <vnx:ip address>, if given
    wish: ForwardWish


@dataclass(frozen=True, slots=True)
class NetworkAddresses:
    """A network file's forward mode, IPv4 subnets and static DHCP hosts (MAC -> address)."""

    path: str
    line: int
    mode: str
    subnets: tuple[ipaddress.IPv4Network, ...]
    dhcp: dict[str, str]
    own: frozenset[str] = frozenset()     # the network's own addresses (the host's on it)


def _interfaces(root: etree._Element) -> dict[str, etree._Element]:
    """The domain's NICs by MAC; a <mac> without an address names none (an entry without a MAC
    must not find it)."""
    return {(m.get("address") or "").lower(): m.getparent() for m in root.iterfind("devices/interface/mac")
            if m.get("address") and m.getparent() is not None}


def _wishes(root: etree._Element) -> Iterable[tuple[etree._Element, etree._Element, ForwardWish | None, str]]:
    """(entry, forward element, its meaning or None, why not) for each ``<vnx:forward>``."""
    meta = root.find(f"metadata/{Q}netxml")
    if meta is None:
        return
    for entry in meta.iterfind(Q + "interface"):
        for node in entry.iterfind(Q + "forward"):
            try:
                yield entry, node, MetaForward(node).resolved(), ""
            except InvalidValue as exc:
                yield entry, node, None, exc.message


def check_forwards(root: etree._Element, kind: str, report: Report) -> None:
    """The forwards of one document (see the module's docstring)."""
    if root.find(f"metadata/{Q}netxml") is None:
        return
    nics = _interfaces(root) if kind == "domain" else {}
    seen: list[tuple[ForwardWish, etree._Element]] = []
    for entry, node, wish, why in _wishes(root):
        if wish is None:
            report.error(node, "meta-forward", f"{describe(node)}: {why}")
            continue
        clash = next((n for w, n in seen if w.overlaps(wish)), None)
        if clash is not None:
            report.error(node, "forward-duplicate",
                         f"{describe(node)}: host port {wish.proto} {wish.host_text} is forwarded already "
                         f"on line {clash.sourceline}")
        seen.append((wish, node))
        nic = nics.get((entry.get("mac") or "").lower())
        if nic is not None and nic.get("type") != "network":
            report.error(node, "forward-not-nat",
                         f"{describe(node)}: the hooks forward host ports to guests on a libvirt NAT "
                         f"network; this interface is type='{nic.get('type')}'")
    if kind == "domain":
        for ip in root.iterfind(f"metadata/{Q}netxml/{Q}interface/{Q}ip"):
            try:
                check_ipv4_address(ip.get("address") or "", "guest address")
            except InvalidValue as exc:
                report.error(ip, "meta-forward", f"{describe(ip)}: {exc.message}")


def forward_facts(root: etree._Element, path: str) -> list[ForwardFact]:
    """The valid forwards of a domain document, for the checks across files."""
    nics = _interfaces(root)
    domain = (root.findtext("name") or "").strip()
    out = []
    for entry, node, wish, _ in _wishes(root):
        if wish is None:
            continue
        mac = (entry.get("mac") or "").lower()
        nic = nics.get(mac)
        source = nic.find("source") if nic is not None and nic.get("type") == "network" else None
        ip = entry.find(Q + "ip")
        label = f"<vnx:forward> {wish.spec()} of {mac}"
        out.append(ForwardFact(path, node.sourceline or 1, label, domain, mac,
                               source.get("network") if source is not None else None,
                               ip.get("address") if ip is not None else None, wish))
    return out


def network_addresses(root: etree._Element, path: str) -> NetworkAddresses:
    forward = root.find("forward")
    mode = "none" if forward is None else forward.get("mode", "nat")
    subnets = []
    dhcp = {}
    for ip in root.iterfind("ip"):
        address = ip.get("address") or ""
        if ip.get("family") == "ipv6" or ":" in address:
            continue
        try:
            subnets.append(ipaddress.IPv4Network(f"{address}/{ip.get('prefix') or ip.get('netmask') or 24}",
                                                 strict=False))
        except ValueError:
            continue
        for host in ip.iterfind("dhcp/host"):
            if host.get("mac") and host.get("ip"):
                dhcp[(host.get("mac") or "").lower()] = host.get("ip") or ""
    own = frozenset(ip.get("address") or "" for ip in root.iterfind("ip"))
    return NetworkAddresses(path, root.sourceline or 1, mode, tuple(subnets), dhcp, own)


def forward_findings(forwards: list[tuple[str, ForwardFact]],
                     networks: dict[str, dict[str, NetworkAddresses]]) -> list[tuple[str, Issue]]:
    """(path, issue) for the forwards of a run: ports two domains forward, and addresses."""
    out: list[tuple[str, Issue]] = []
    seen: list[tuple[str, ForwardFact]] = []
    for host, fact in forwards:
        first = next((f for h, f in seen
                      if h == host and f.domain != fact.domain and f.wish.overlaps(fact.wish)), None)
        if first is not None:
            out.append((fact.path, Issue(fact.line, "error", "forward-duplicate", (
                f"{fact.label}: host port {fact.wish.proto} {fact.wish.host_text} is forwarded to domain "
                f"{first.domain} already ({first.path}:{first.line}); the hooks refuse the second start"))))
        seen.append((host, fact))
        if host not in networks or fact.network is None:
            continue
        net = networks[host].get(fact.network)
        if net is None:
            continue   # the cross-file network check reports the unknown network
        where = f"network '{fact.network}' ({net.path}:{net.line})"
        if net.mode != "nat":
            out.append((fact.path, Issue(fact.line, "error", "forward-not-nat", (
                f"{fact.label}: {where} is {'isolated' if net.mode == 'none' else net.mode}, not NAT; "
                "the hooks forward host ports only to guests on a NAT network"))))
            continue
        guest = fact.guest or net.dhcp.get(fact.mac)
        if guest is None:
            out.append((fact.path, Issue(fact.line, "error", "forward-no-address", (
                f"{fact.label}: no guest address: the entry has no <vnx:ip> and {where} no static "
                f"<dhcp><host mac='{fact.mac}'>"))))
            continue
        try:
            address = ipaddress.IPv4Address(guest)
        except ValueError:
            continue   # reported in the domain's own checks
        other = next((mac for mac, ip in net.dhcp.items() if ip == guest and mac != fact.mac), None)
        if guest in net.own or other is not None:
            whose = "the network's own address" if other is None else f"the static DHCP host of {other}"
            out.append((fact.path, Issue(fact.line, "error", "forward-address", (
                f"{fact.label}: guest address {guest} is {whose} in {where}, not this guest's; the hooks "
                "refuse it"))))
            continue
        if net.subnets and not any(address in s for s in net.subnets):
            out.append((fact.path, Issue(fact.line, "error", "forward-address", (
                f"{fact.label}: guest address {guest} is not inside {where}'s subnet "
                f"{', '.join(str(s) for s in net.subnets)}"))))
    return out
