"""Building blocks of the semantic checks.

The report that collects issues, parsers for the values libvirt writes, and the element
checks networks and interfaces share (VLANs, MACs, device names, PCI addresses, bandwidth).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Literal

from lxml import etree

from xmltools.errors import InvalidValue
from xmltools.names import PciAddress, interface_name_problem
from xmltools.rules import vid_digits, vlan_id_ok, vlan_id_problem
from xmltools.versions import NEWEST, Version, needs, show

Severity = Literal["error", "warning"]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in a document."""

    line: int
    severity: Severity
    code: str
    message: str


@dataclass
class Report:
    """Collects the issues of one document; ``libvirt`` is the version the document targets."""

    issues: list[Issue] = field(default_factory=list)
    libvirt: Version = NEWEST

    def add(self, node: etree._Element | None, severity: Severity, code: str, message: str) -> None:
        line = (node.sourceline if node is not None else None) or 1
        self.issues.append(Issue(line, severity, code, message))

    def add_line(self, line: int, severity: Severity, code: str, message: str) -> None:
        self.issues.append(Issue(line or 1, severity, code, message))

    def error(self, node: etree._Element | None, code: str, message: str) -> None:
        self.add(node, "error", code, message)

    def warning(self, node: etree._Element | None, code: str, message: str) -> None:
        self.add(node, "warning", code, message)


def describe(node: etree._Element) -> str:
    """``<tag key='value'>`` with the attributes that identify the element, for messages."""
    tag = etree.QName(node).localname
    if node.prefix:
        tag = f"{node.prefix}:{tag}"
    keys = [k for k in ("name", "type", "mode", "dev", "address", "start", "end", "mac", "ip", "id", "tag",
                        "trunks", "bridge", "network")
            if node.get(k) is not None][:2]
    attrs = "".join(f" {k}='{node.get(k)}'" for k in keys)
    return f"<{tag}{attrs}>"


_MAC_RE = re.compile(r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}")


def mac_problem(text: str) -> str | None:
    """Why ``text`` is not a usable unicast MAC address, or None."""
    if _MAC_RE.fullmatch(text) is None:
        return "malformed: expected six colon-separated hex octets such as 52:54:00:12:34:56"
    first = int(text[:2], 16)
    if first & 1:
        if text.lower() == "ff:ff:ff:ff:ff:ff":
            return "the broadcast address"
        return f"multicast (the low bit of the first octet, 0x{first:02x}, is set)"
    if text == "00:00:00:00:00:00":
        return "all zero"
    return None


def parse_ip(text: str | None) -> IPAddress | None:
    if text is None:
        return None
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None



def netmask_prefix(text: str) -> int | None:
    """Prefix length of a dotted netmask, or None unless it is leading one bits then zeros."""
    try:
        mask = int(ipaddress.IPv4Address(text.strip()))
    except ValueError:
        return None
    host_bits = ~mask & 0xFFFFFFFF
    if host_bits & (host_bits + 1):  # the zeros must all be at the end
        return None
    return 32 - host_bits.bit_length()


def int_or_none(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip(), 10)
    except ValueError:
        return None


def check_vlan(vlan: etree._Element, report: Report, where: str, linux_bridge: bool = False) -> None:
    """Tag ids in range, no duplicates, at most one native tag, native only on a trunk.

    Ids follow the project's VLAN rules (xmltools.rules, VLAN_RANGE): an id libvirt cannot parse
    (not ASCII digits, above 4095) is an error; 0 and 4095, reserved by 802.1Q, are an error on
    a Linux bridge port (``linux_bridge``: the bridge refuses them, so the guest does not start)
    and a warning elsewhere, where libvirt passes them on to Open vSwitch or a VF.
    """
    tags = vlan.findall("tag")
    seen: dict[int, etree._Element] = {}
    natives = []
    for tag in tags:
        raw = tag.get("id")
        vid = vid_digits((raw or "").strip())
        if vid is None or not vlan_id_ok(vid):
            report.error(tag, "vlan-id-range", f"{where}: VLAN id {raw!r} is not a number from 0 to 4095")
            continue
        problem = vlan_id_problem(vid)
        if problem and linux_bridge:
            report.error(tag, "vlan-id-range", f"{where}: on a Linux bridge port, VLAN id {problem}")
        elif problem:
            report.warning(tag, "vlan-id-reserved", f"{where}: VLAN id {problem}")
        if vid in seen:
            report.error(tag, "vlan-duplicate",
                         f"{where}: VLAN id {vid} is listed twice in one <vlan> "
                         f"(first on line {seen[vid].sourceline})")
        else:
            seen[vid] = tag
        if tag.get("nativeMode") is not None:
            natives.append(tag)
    if len(natives) > 1:
        report.error(natives[1], "vlan-native-duplicate",
                     f"{where}: more than one tag has nativeMode; a trunk has at most one native VLAN")
    trunk = vlan.get("trunk")
    if trunk == "no" and len(tags) > 1:
        report.error(vlan, "vlan-trunk-no", f"{where}: several tags make a trunk, but trunk='no' is set")
    elif trunk == "no" and natives:
        report.error(vlan, "vlan-trunk-no", f"{where}: a native VLAN needs a trunk, but trunk='no' is set")
    elif natives and len(tags) == 1 and trunk != "yes":
        # libvirt parses this; the native mode only takes effect once the port is a trunk.
        report.warning(natives[0], "vlan-native-no-trunk",
                       f"{where}: nativeMode only means something on a trunk: add trunk='yes' or more tags")


def check_mac_attr(node: etree._Element, report: Report, where: str, attr: str = "address") -> str | None:
    """Report a malformed or multicast MAC; return it normalised when it is usable."""
    text = node.get(attr)
    if text is None:
        return None
    problem = mac_problem(text)
    if problem is None:
        return text.lower()
    if problem == "all zero":
        # libvirt accepts it, but the kernel refuses it as a device address.
        report.warning(node, "mac-zero", f"{where}: MAC address {text!r} is all zero; no NIC can use it")
        return None
    code = "mac-malformed" if problem.startswith("malformed") else "mac-multicast"
    report.error(node, code, f"{where}: MAC address {text!r} is {problem}")
    return None


def check_device_name(node: etree._Element, attr: str, report: Report, what: str,
                      code: str = "device-name") -> None:
    name = node.get(attr)
    if name is None:
        return
    problem = interface_name_problem(name)
    if problem:
        report.error(node, code, f"{describe(node)}: {what} {name!r} is not a valid Linux interface name: "
                                 f"{problem}")


def check_pci(node: etree._Element, report: Report) -> PciAddress | None:
    try:
        return PciAddress.from_attrs(node.get("domain"), node.get("bus"), node.get("slot"),
                                     node.get("function"))
    except InvalidValue as exc:
        report.error(node, "pci-address", f"{describe(node)}: {exc}")
        return None


def check_bandwidth(bw: etree._Element, report: Report, *, allow_floor: bool, where: str) -> None:
    """libvirt's rules for <inbound>/<outbound> rates, which its schema leaves optional."""
    if bw.get("classID") is not None:
        # libvirt records the class it assigned in its status XML; a definition cannot set it.
        report.error(bw, "bandwidth-class", f"{where}: classID is set by libvirt, not in a definition")
    for rate in bw:
        if rate.tag not in ("inbound", "outbound"):
            continue
        if rate.get("average") is None and rate.get("floor") is None:
            report.error(rate, "bandwidth-rate", f"{where}: <{rate.tag}> needs an average or a floor")
        elif rate.get("average") is None and (rate.get("peak") is not None or rate.get("burst") is not None):
            report.error(rate, "bandwidth-rate", f"{where}: <{rate.tag}> peak and burst need an average")
        if rate.get("floor") is not None and (rate.tag == "outbound" or not allow_floor):
            report.error(rate, "bandwidth-floor",
                         f"{where}: floor is only allowed on the <inbound> of a type='network' interface")


def check_versions(node: etree._Element, kind: str, report: Report) -> None:
    """``needs-libvirt``: what ``node`` (a <network> or an <interface>) uses that the target
    libvirt does not know yet (xmltools.versions.FEATURES)."""
    for feature in needs(kind, report.libvirt):
        for found in node.xpath(feature.xpath):
            report.error(found, "needs-libvirt",
                         f"{feature.what} needs libvirt {show(feature.since)} or newer; "
                         f"the target is libvirt {show(report.libvirt)}")
