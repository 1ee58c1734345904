"""Model of libvirt's ``<network>`` document, one small class per element.

Every class wraps the parsed element and maps its fields once (see ``xmltools.fields``), so a
document read with :meth:`Network.from_xml`, edited through these objects and written with
:meth:`Network.to_xml` keeps everything the model does not declare: other elements and
attributes, comments, and metadata in other namespaces.

Forward modes: no ``<forward>`` element means an isolated network; ``<forward>`` without a
``mode`` attribute means NAT (libvirt's default). :attr:`Network.forward_mode` resolves both.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from lxml import etree

from xmltools.common import Bandwidth, VirtualPort, Vlan
from xmltools.errors import WrongDocument
from xmltools.fields import INT, IP, ONOFF, STR, YESNO, Child, Children, Field, XmlModel
from xmltools.metadata import NetXmlMeta, find_meta, meta_or_create
from xmltools.names import PciAddress
from xmltools.rules import classful_prefix

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

FORWARD_MODES = ("nat", "route", "open", "bridge", "private", "vepa", "passthrough", "hostdev")
# Modes in which libvirt creates and owns a Linux bridge with an address on the host.
BRIDGED_L3_MODES = ("nat", "route", "open", "isolated")


# --------------------------------------------------------------------------- <forward>


class NatAddress(XmlModel):
    """``<nat><address start end/>``: the IPv4 range used for masquerading."""

    TAG = "address"
    start = Field("@start", IP)
    end = Field("@end", IP)


class NatPort(XmlModel):
    """``<nat><port start end/>``: the source port range used for masquerading."""

    TAG = "port"
    start = Field("@start", INT)
    end = Field("@end", INT)


class Nat(XmlModel):
    TAG = "nat"
    ORDER = ("address", "port")
    ipv6 = Field("@ipv6", YESNO)
    address = Child(NatAddress, "address")
    port = Child(NatPort, "port")


class ForwardInterface(XmlModel):
    """``<interface dev/>``: an uplink of a forward pool (or the route/NAT device)."""

    TAG = "interface"
    dev = Field("@dev", STR)
    connections = Field("@connections", INT)


class ForwardPf(XmlModel):
    """``<pf dev/>``: the SR-IOV physical function whose VFs form a hostdev pool."""

    TAG = "pf"
    dev = Field("@dev", STR)


class ForwardAddress(XmlModel):
    """``<address type='pci' domain bus slot function/>``: one VF of a hostdev pool."""

    TAG = "address"
    type = Field("@type", STR)
    domain = Field("@domain", STR)
    bus = Field("@bus", STR)
    slot = Field("@slot", STR)
    function = Field("@function", STR)

    @classmethod
    def from_pci(cls, pci: PciAddress) -> ForwardAddress:
        return cls(type="pci", **pci.attrs())

    @property
    def pci(self) -> PciAddress:
        """The address as a checked value (raises InvalidValue when a field is malformed)."""
        return PciAddress.from_attrs(self.domain, self.bus, self.slot, self.function)


class Forward(XmlModel):
    TAG = "forward"
    ORDER = ("driver", "nat", "pf", "interface", "address")
    mode = Field("@mode", STR)
    dev = Field("@dev", STR)
    managed = Field("@managed", YESNO)
    driver_name = Field("driver/@name", STR)
    nat = Child(Nat, "nat")
    pf = Child(ForwardPf, "pf")
    interfaces = Children(ForwardInterface, "interface")
    addresses = Children(ForwardAddress, "address")

    @property
    def uplinks(self) -> list[str]:
        """Device names of the ``<interface dev>`` entries, in document order."""
        return [i.dev for i in self.interfaces if i.dev]


# --------------------------------------------------------------------------- bridge, domain, dns


class Bridge(XmlModel):
    TAG = "bridge"
    name = Field("@name", STR)
    stp = Field("@stp", ONOFF)
    delay = Field("@delay", INT)
    mac_table_manager = Field("@macTableManager", STR)
    zone = Field("@zone", STR)


class NetworkDomain(XmlModel):
    """``<domain name localOnly/>``: the DNS domain dnsmasq serves for the network."""

    TAG = "domain"
    name = Field("@name", STR)
    local_only = Field("@localOnly", YESNO)


class Hostname(XmlModel):
    TAG = "hostname"
    text = Field("", STR)


class DnsHost(XmlModel):
    """``<host ip><hostname>…</hostname>…</host>`` inside ``<dns>``."""

    TAG = "host"
    ip = Field("@ip", IP)
    hostname_nodes = Children(Hostname, "hostname")

    @property
    def hostnames(self) -> list[str]:
        return [h.text for h in self.hostname_nodes if h.text]

    def add_hostname(self, name: str) -> None:
        self.hostname_nodes.append(Hostname(text=name))


class DnsForwarder(XmlModel):
    TAG = "forwarder"
    addr = Field("@addr", IP)
    domain = Field("@domain", STR)


class Dns(XmlModel):
    TAG = "dns"
    ORDER = ("forwarder", "txt", "srv", "host")
    enable = Field("@enable", YESNO)
    forward_plain_names = Field("@forwardPlainNames", YESNO)
    forwarders = Children(DnsForwarder, "forwarder")
    hosts = Children(DnsHost, "host")


# --------------------------------------------------------------------------- <ip>


class DhcpRange(XmlModel):
    TAG = "range"
    start = Field("@start", IP)
    end = Field("@end", IP)


class DhcpHost(XmlModel):
    """A static lease: ``<host mac|id name ip/>``."""

    TAG = "host"
    mac = Field("@mac", STR)
    id = Field("@id", STR)
    name = Field("@name", STR)
    ip = Field("@ip", IP)


class Ip(XmlModel):
    TAG = "ip"
    ORDER = ("tftp", "dhcp")
    address = Field("@address", IP)
    netmask = Field("@netmask", IP)
    prefix = Field("@prefix", INT)
    family = Field("@family", STR)
    local_ptr = Field("@localPtr", YESNO)
    tftp_root = Field("tftp/@root", STR)
    ranges = Children(DhcpRange, "dhcp/range")
    hosts = Children(DhcpHost, "dhcp/host")

    def prefix_length(self) -> int | None:
        """The prefix length from ``prefix`` or ``netmask`` (or libvirt's default)."""
        address = self.address
        if address is None:
            return None
        if self.prefix is not None:
            return self.prefix
        netmask = self.netmask
        if netmask is not None:
            return ipaddress.IPv4Network(f"0.0.0.0/{netmask}").prefixlen
        if isinstance(address, ipaddress.IPv4Address):
            # libvirt's class A/B/C default, so the subnet is the one libvirt uses
            return classful_prefix(int(address) >> 24)
        return 64

    def network(self) -> IPNetwork | None:
        """The subnet this element serves, e.g. ``IPv4Network('192.168.122.0/24')``."""
        address = self.address
        length = self.prefix_length()
        if address is None or length is None:
            return None
        return ipaddress.ip_network(f"{address}/{length}", strict=False)


# --------------------------------------------------------------------------- <portgroup>


class PortGroup(XmlModel):
    TAG = "portgroup"
    ORDER = ("vlan", "virtualport", "bandwidth")
    name = Field("@name", STR)
    default = Field("@default", YESNO)
    trust_guest_rx_filters = Field("@trustGuestRxFilters", YESNO)
    vlan = Child(Vlan, "vlan")
    virtualport = Child(VirtualPort, "virtualport")
    bandwidth = Child(Bandwidth, "bandwidth")


# --------------------------------------------------------------------------- <network>


class Network(XmlModel):
    TAG = "network"
    # libvirt's own output order (network_conf.c), so added children land where it puts them.
    ORDER = ("name", "uuid", "title", "description", "metadata", "forward", "bridge", "mtu",
             "mac", "domain", "dns", "vlan", "bandwidth", "port", "ip", "route", "virtualport",
             "portgroup")
    name = Field("name", STR)
    uuid = Field("uuid", STR)
    title = Field("title", STR)
    description = Field("description", STR)
    ipv6 = Field("@ipv6", YESNO)
    trust_guest_rx_filters = Field("@trustGuestRxFilters", YESNO)
    forward = Child(Forward, "forward")
    bridge = Child(Bridge, "bridge")
    mtu = Field("mtu/@size", INT)
    mac = Field("mac/@address", STR)
    domain = Child(NetworkDomain, "domain")
    dns = Child(Dns, "dns")
    vlan = Child(Vlan, "vlan")
    bandwidth = Child(Bandwidth, "bandwidth")
    ips = Children(Ip, "ip")
    virtualport = Child(VirtualPort, "virtualport")
    portgroups = Children(PortGroup, "portgroup")

    @classmethod
    def from_xml(cls, data: str | bytes, source: str = "<input>") -> Network:
        """Parse a ``<network>`` document (safely, see xmlparse); refuse any other root."""
        from xmltools.xmlparse import parse_bytes

        root = parse_bytes(data, source=source).getroot()
        if root.tag != cls.TAG:
            raise WrongDocument(source=source, expected="<network>", found=_display_tag(root))
        return cls(root)

    def to_xml(self) -> str:
        """The whole document, with the comments and processing instructions around the root.

        libxml2 keeps no whitespace between top-level nodes, so each gets a line of its own.
        """
        before = [etree.tostring(n, encoding="unicode") + "\n"
                  for n in reversed(list(self.node.itersiblings(preceding=True)))]
        after = ["\n" + etree.tostring(n, encoding="unicode") for n in self.node.itersiblings()]
        text = "".join([*before, etree.tostring(self.node, encoding="unicode"), *after])
        return text if text.endswith("\n") else text + "\n"

    @property
    def forward_mode(self) -> str:
        """``isolated`` without ``<forward>``, libvirt's default ``nat`` without a mode."""
        forward = self.forward
        if forward is None:
            return "isolated"
        return forward.mode or "nat"

    @property
    def metadata(self) -> etree._Element | None:
        """The raw ``<metadata>`` element; other namespaces' content is left to its owners."""
        return self.node.find("metadata")

    def meta(self) -> NetXmlMeta | None:
        """The project's ``<vnx:netxml>`` metadata, if present."""
        return find_meta(self.node)

    def meta_or_create(self) -> NetXmlMeta:
        return meta_or_create(self.node, self.ORDER)

    def portgroup(self, name: str) -> PortGroup | None:
        return next((p for p in self.portgroups if p.name == name), None)

    def ip_for(self, address: Any) -> Ip | None:
        """The ``<ip>`` whose subnet contains ``address`` (an ipaddress object), if any."""
        for ip in self.ips:
            net = ip.network()
            if net is not None and net.version == address.version and address in net:
                return ip
        return None


def _display_tag(node: etree._Element) -> str:
    qname = etree.QName(node)
    return qname.localname if qname.namespace is None else f"{{{qname.namespace}}}{qname.localname}"
