"""The project's own metadata vocabulary: networking wishes the hooks apply.

It lives in a domain's or a network's ``<metadata>`` under one element in the project's
namespace, so libvirt stores it untouched and hands it to every hook call::

    <metadata>
      <vnx:netxml xmlns:vnx="urn:virt-netxml:hooks:1">
        <!-- domain: one entry per interface, matched by MAC -->
        <vnx:interface mac="52:54:00:12:34:56">
          <vnx:vlan tag="10"/>                                   (access port)
          <vnx:vlan trunks="20,30-40" native="20" mode="native-untagged"/>
          <vnx:tap bridge="br0" owner="root" group="root" multi-queue="yes" vnet-hdr="yes"/>
          <vnx:ovs-setting table="Port" column="other_config" key="k" value="v"/>
          <vnx:vf pf="enp4s0f0" index="3" address="0000:04:10.0"/>
          <vnx:ip address="192.168.122.50"/>                     (the guest's address, for forwards)
          <vnx:forward proto="tcp" host-port="2222" guest-port="22" host-address="192.0.2.1"
                       source="198.51.100.0/24"/>                 (a host port forwarded to the guest)
          <vnx:ovn switch="ls-web" address="10.10.0.20"/>        (its OVN logical switch port)
        </vnx:interface>
        <!-- network -->
        <vnx:bridge vlan-filtering="yes"/>
        <vnx:shim name="mvshim0" address="192.168.50.1/24"/>
        <vnx:sriov pf="enp4s0f0" numvfs="8"/>
        <vnx:portgroup name="trunk"><vnx:vlan trunks="20,30-40" native="20"/></vnx:portgroup>
        <vnx:ovn switch="ls-web" subnet="10.10.0.0/24" dhcp="yes" port-security="yes"/>
      </vnx:netxml>
    </metadata>

Each VLAN is either an access ``tag`` or a ``trunks`` list (ids and ranges) with an optional
``native`` id; ``mode`` is Open vSwitch's vlan_mode (access, trunk, native-tagged,
native-untagged) and defaults from the other attributes.

``<vnx:ovn>`` makes a network an OVN logical switch (on Open vSwitch's integration bridge) and
gives an interface its logical switch port; the names, subnets and addresses it takes are
xmltools.rules' OVN rules and the parsers below.
"""

from __future__ import annotations

from lxml import etree

from xmltools.errors import InvalidValue
from xmltools.fields import INT, YESNO, Child, Children, Conv, Field, XmlModel, attach
from xmltools.rules import (
    OVN_SUBNET_MAX_PREFIX,
    VLAN_MODES,
    parse_ovn_name,
    parse_vlan_id,
    parse_vlan_list,
    vlan_id_problem,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from dataclasses import dataclass
else:
    from xmltools.record import dataclass

NS = "urn:virt-netxml:hooks:1"
PREFIX = "vnx"


def q(tag: str) -> str:
    """Clark-notation name of a tag in the project's namespace."""
    return f"{{{NS}}}{tag}"


def parse_vlan_ranges(text: str) -> list[tuple[int, int]]:
    """'20,30-40' -> [(20, 20), (30, 40)]: the project's VLAN list grammar
    (xmltools.rules.parse_vlan_list), without native marks."""
    return list(parse_vlan_list(text)[0])


# A VLAN id attribute of the metadata (tag, native): the same ids as every VLAN list.
VID: Conv[int] = Conv("VLAN id", parse_vlan_id, str)


def _check_vid(vid: int, what: str) -> None:
    problem = vlan_id_problem(vid)
    if problem:
        raise InvalidValue(what=what, value=str(vid), reason=problem)


class MetaVlan(XmlModel):
    TAG = q("vlan")
    tag = Field("@tag", VID)
    trunks = Field("@trunks")
    native = Field("@native", VID)
    mode = Field("@mode")

    def resolved(self) -> VlanWish:
        """Check the element and return its meaning as a plain value."""
        return VlanWish.from_attrs(self.tag, self.trunks, self.native, self.mode)


@dataclass(frozen=True)
class VlanWish:
    """An access tag, or trunk ranges with an optional native id, plus the OVS vlan_mode."""

    tag: int | None
    trunks: tuple[tuple[int, int], ...]
    native: int | None
    mode: str

    @classmethod
    def from_attrs(cls, tag: int | None, trunks: str | None, native: int | None,
                   mode: str | None) -> VlanWish:
        if tag is not None and trunks is not None:
            raise InvalidValue(what="VLAN", value=f"tag={tag} trunks={trunks}",
                               reason="give either an access tag or trunks, not both")
        if tag is None and trunks is None:
            raise InvalidValue(what="VLAN", value="", reason="needs a tag or trunks")
        if tag is not None:
            _check_vid(tag, "VLAN id")
        ranges = tuple(parse_vlan_ranges(trunks)) if trunks is not None else ()
        if native is not None:
            if tag is not None:
                raise InvalidValue(what="VLAN", value=f"native={native}",
                                   reason="a native VLAN needs trunks")
            _check_vid(native, "native VLAN")
        if mode is None:
            mode = "access" if tag is not None else (
                "native-untagged" if native is not None else "trunk")
        if mode not in VLAN_MODES:
            raise InvalidValue(what="VLAN mode", value=mode, reason="expected " + ", ".join(VLAN_MODES))
        if mode == "access" and tag is None:
            raise InvalidValue(what="VLAN mode", value=mode, reason="access mode needs a tag")
        if mode.startswith("native") and native is None:
            raise InvalidValue(what="VLAN mode", value=mode, reason=f"{mode} needs a native id")
        return cls(tag, ranges, native, mode)

    def trunk_ids(self) -> list[int]:
        return [v for lo, hi in self.trunks for v in range(lo, hi + 1)]


class MetaTap(XmlModel):
    TAG = q("tap")
    bridge = Field("@bridge")
    owner = Field("@owner")
    group = Field("@group")
    multi_queue = Field("@multi-queue", YESNO)
    vnet_hdr = Field("@vnet-hdr", YESNO)


# What a domain may set with <vnx:ovs-setting>: (table, column, key) -> the values allowed.
# The hooks run as root and write what the domain's XML asks for into the guest's own Port and
# Interface rows; an entry belongs here only if it changes what happens on that one port and
# cannot reach other ports, the bridge or the controller's view of who is plugged where
# (Open vSwitch manual, ovs-vswitchd.conf.db(5)). Not here, on purpose:
#   Bridge, Open_vSwitch, QoS, Mirror... rows - shared by every port (a Bridge's other_config
#       sets its datapath id, STP/RSTP, MAC table, forward-bpdu);
#   Port stp-*/rstp-* - the bridge's spanning tree (a port claiming to be an edge can loop it);
#   Port bond-*/lacp-* - bonds of uplinks, never a guest's port;
#   Port qinq-ethtype - the service tag of frames that leave through other (trunk) ports;
#   Port mcast-snooping-flood-reports - other hosts' IGMP/MLD reports: who is in which group;
#   Interface options:* - tunnel endpoints, keys and patch peers connect a port to other
#       networks and bridges;
#   Interface pmd-rxq-affinity - pins queues to PMD threads that other ports share;
#   external_ids:* (Port and Interface) - OVS ignores them, but controllers (OVN, Neutron) read
#       iface-id, attached-mac, vm-id to decide which logical port, and whose traffic, a row is.
OVS_SETTINGS_ALLOWED: dict[tuple[str, str, str], tuple[str, ...]] = {
    # 802.1p priority tags on frames with VLAN 0 that this port sends to the guest. ("true" and
    # "false" are the older spellings of if-nonzero and never.)
    ("Port", "other_config", "priority-tags"): ("never", "if-nonzero", "always", "true", "false"),
    # Flood multicast (not reports) to this port even with snooping on: what the port gets on a
    # bridge without snooping; it changes only what this port receives.
    ("Port", "other_config", "mcast-snooping-flood"): ("true", "false"),
    # How the userspace datapath spreads this interface's own transmit queues.
    ("Interface", "other_config", "tx-steering"): ("thread", "hash"),
}


def ovs_setting_problem(table: str | None, column: str | None, key: str | None,
                        value: str | None) -> str | None:
    """Why a domain may not ask for this OVS setting (None: it may); see OVS_SETTINGS_ALLOWED."""
    allowed = OVS_SETTINGS_ALLOWED.get((table or "", column or "", key or ""))
    tables = tuple(dict.fromkeys(t for t, _, _ in OVS_SETTINGS_ALLOWED))
    if table not in tables:
        return f"OVS table {table!r} is not one a domain may change (only its own {'/'.join(tables)} rows)"
    if allowed is None:
        names = ", ".join(f"{t} {c}:{k}" for t, c, k in OVS_SETTINGS_ALLOWED)
        return (f"{table} {column}:{key} is not a setting a domain may change "
                f"(allowed: {names})")
    if value is not None and value not in allowed:
        return f"{table} {column}:{key} takes " + ", ".join(allowed)
    return None


class MetaOvsSetting(XmlModel):
    TAG = q("ovs-setting")
    table = Field("@table")
    column = Field("@column")
    key = Field("@key")
    value = Field("@value")


class MetaVf(XmlModel):
    TAG = q("vf")
    pf = Field("@pf")
    index = Field("@index", INT)
    address = Field("@address")


# A forward's host port range may be this long at most: each port is a firewall rule.
MAX_FORWARD_PORTS = 1024
FORWARD_PROTOS = ("tcp", "udp")


@dataclass(frozen=True)
class ForwardWish:
    """A host port range forwarded to the same-length range of the guest's ports.

    ``host_address`` None: every local address of the host; ``source`` None: any client.
    IPv4 only, like libvirt's NAT.
    """

    proto: str
    host_ports: tuple[int, int]
    guest_ports: tuple[int, int]
    host_address: str | None = None
    source: str | None = None

    @classmethod
    def from_attrs(cls, proto: str | None, host_port: str | None, guest_port: str | None,
                   host_address: str | None = None, source: str | None = None) -> ForwardWish:
        if proto not in FORWARD_PROTOS:
            raise InvalidValue(what="forward proto", value=str(proto), reason="expected tcp or udp")
        if host_port is None or guest_port is None:
            raise InvalidValue(what="forward", value=f"{proto}", reason="needs host-port and guest-port")
        host = parse_port_range(host_port, "forward host-port")
        guest = parse_port_range(guest_port, "forward guest-port")
        if host[1] - host[0] != guest[1] - guest[0]:
            raise InvalidValue(what="forward", value=f"host-port={host_port} guest-port={guest_port}",
                               reason="the host and guest port ranges must have the same length")
        if host[1] - host[0] + 1 > MAX_FORWARD_PORTS:
            raise InvalidValue(what="forward host-port", value=host_port,
                               reason=f"at most {MAX_FORWARD_PORTS} ports in one forward")
        if host_address is not None:
            host_address = check_ipv4_address(host_address, "forward host-address")
        if source is not None:
            source = check_ipv4_network(source, "forward source")
        return cls(proto, host, guest, host_address, source)

    @property
    def host_text(self) -> str:
        return port_range_text(self.host_ports)

    @property
    def guest_text(self) -> str:
        return port_range_text(self.guest_ports)

    def overlaps(self, other: ForwardWish) -> bool:
        """Do both claim some (address, proto, host port)? No address means every address."""
        if self.proto != other.proto:
            return False
        if self.host_address and other.host_address and self.host_address != other.host_address:
            return False
        return self.host_ports[0] <= other.host_ports[1] and other.host_ports[0] <= self.host_ports[1]

    def spec(self) -> str:
        """The command line's spelling: ``tcp:[ADDR:]2222[-2230]:22[-30][,source=CIDR]``."""
        address = f"{self.host_address}:" if self.host_address else ""
        text = f"{self.proto}:{address}{self.host_text}:{self.guest_text}"
        return text + (f",source={self.source}" if self.source else "")


def port_range_text(ports: tuple[int, int]) -> str:
    return str(ports[0]) if ports[0] == ports[1] else f"{ports[0]}-{ports[1]}"


def parse_port_range(text: str, what: str = "port") -> tuple[int, int]:
    """'2222' -> (2222, 2222); '5000-5010' -> (5000, 5010); ports 1 to 65535, low to high."""
    parts = text.strip().split("-")
    if len(parts) > 2 or not all(p.isdigit() and p.isascii() for p in parts):
        raise InvalidValue(what=what, value=text, reason="expected PORT or LOW-HIGH, e.g. 2222 or 5000-5010")
    lo, hi = int(parts[0]), int(parts[-1])
    for port in (lo, hi):
        if not 1 <= port <= 65535:
            raise InvalidValue(what=what, value=text, reason="ports are 1 to 65535")
    if lo > hi:
        raise InvalidValue(what=what, value=text, reason="the range must go from low to high")
    return lo, hi


def check_ipv4_address(text: str, what: str) -> str:
    import ipaddress  # forwards only

    try:
        return str(ipaddress.IPv4Address(text.strip()))
    except ValueError:
        raise InvalidValue(what=what, value=text,
                           reason="expected an IPv4 address, e.g. 192.0.2.10") from None


def check_ipv4_network(text: str, what: str) -> str:
    import ipaddress  # forwards only

    try:
        return str(ipaddress.IPv4Network(text.strip(), strict=False))
    except ValueError:
        raise InvalidValue(what=what, value=text,
                           reason="expected an IPv4 address or network, e.g. 198.51.100.0/24") from None


def parse_forward_spec(text: str) -> ForwardWish:
    """The command line's forward: ``PROTO:[ADDR:]HOSTPORT[-END]:GUESTPORT[-END][,source=CIDR]``,
    e.g. ``tcp:2222:22``, ``udp:5000-5010:5000-5010``, ``tcp:192.0.2.1:8080:80,source=10.0.0.0/8``."""
    spec, *options = text.split(",")
    source = None
    for option in options:
        key, _, value = option.partition("=")
        if key.strip() != "source" or not value:
            raise InvalidValue(what="forward", value=text,
                               reason=f"unknown option {option!r} (only source=CIDR)")
        source = value.strip()
    parts = spec.split(":")
    if len(parts) == 3:
        proto, host, guest = parts
        address = None
    elif len(parts) == 4:
        proto, address, host, guest = parts
    else:
        raise InvalidValue(what="forward", value=text,
                           reason="expected PROTO:[ADDR:]HOSTPORT[-END]:GUESTPORT[-END], e.g. tcp:2222:22")
    return ForwardWish.from_attrs(proto.strip().lower(), host, guest, address, source)


class MetaForward(XmlModel):
    TAG = q("forward")
    proto = Field("@proto")
    host_port = Field("@host-port")
    guest_port = Field("@guest-port")
    host_address = Field("@host-address")
    source = Field("@source")

    def resolved(self) -> ForwardWish:
        """Check the element and return its meaning as a plain value."""
        return ForwardWish.from_attrs(self.proto, self.host_port, self.guest_port, self.host_address,
                                      self.source)

    @classmethod
    def of(cls, wish: ForwardWish) -> MetaForward:
        return cls(proto=wish.proto, host_port=wish.host_text, guest_port=wish.guest_text,
                   host_address=wish.host_address, source=wish.source)


class MetaIp(XmlModel):
    TAG = q("ip")
    address = Field("@address")


# --------------------------------------------------------------------------- OVN


def parse_ovn_subnet(text: str, what: str = "OVN subnet") -> str:
    """An OVN switch's IPv4 subnet, ``ADDRESS/PREFIX`` with no host bits set (OVN's
    other_config:subnet), prefix at most OVN_SUBNET_MAX_PREFIX; returned in canonical form."""
    import ipaddress  # OVN networks only

    prefix = text.partition("/")[2]
    if not (prefix.isascii() and prefix.isdigit()):
        raise InvalidValue(what=what, value=text, reason="expected an IPv4 network ADDRESS/PREFIX, "
                                                         "e.g. 10.10.0.0/24")
    try:
        net = ipaddress.IPv4Network(text)
    except ipaddress.NetmaskValueError:
        raise InvalidValue(what=what, value=text, reason="the prefix is not 0 to 32") from None
    except ValueError as exc:
        if "host bits set" in str(exc):
            net = ipaddress.IPv4Network(text, strict=False)
            raise InvalidValue(what=what, value=text,
                               reason=f"host bits are set: the subnet is {net}") from None
        raise InvalidValue(what=what, value=text, reason="expected an IPv4 network ADDRESS/PREFIX, "
                                                         "e.g. 10.10.0.0/24 (OVN's switch subnet is "
                                                         "IPv4)") from None
    if net.prefixlen > OVN_SUBNET_MAX_PREFIX:
        raise InvalidValue(what=what, value=text,
                           reason=f"a /{net.prefixlen} leaves no address for guests; the prefix is at "
                                  f"most {OVN_SUBNET_MAX_PREFIX}")
    return str(net)


def parse_ovn_address(text: str, what: str = "OVN port address") -> str:
    """A logical switch port's static address: one unicast IPv4 or IPv6 address."""
    import ipaddress  # OVN ports only

    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidValue(what=what, value=text,
                           reason="expected one IPv4 or IPv6 address, e.g. 10.10.0.20") from None
    if address.is_multicast or address.is_unspecified or address.is_loopback:
        raise InvalidValue(what=what, value=text, reason="not a unicast address a guest can have")
    return str(address)


def ovn_address_problem(address: str, subnet: str) -> str | None:
    """Why ``address`` cannot be a port's static address on a switch of ``subnet`` (None: it can)."""
    import ipaddress  # OVN ports only

    ip = ipaddress.ip_address(address)
    net = ipaddress.IPv4Network(subnet)
    if ip.version != 4 or ip not in net:
        return f"{address} is outside the switch's subnet {subnet}"
    if ip == net.network_address:
        return f"{address} is the subnet's own address"
    if ip == net.broadcast_address:
        return f"{address} is the subnet's broadcast address"
    return None


OVN_SWITCH: Conv[str] = Conv("OVN logical switch", parse_ovn_name, str)
OVN_SUBNET: Conv[str] = Conv("OVN subnet", parse_ovn_subnet, str)
OVN_ADDRESS: Conv[str] = Conv("OVN port address", parse_ovn_address, str)


@dataclass(frozen=True)
class OvnSwitchWish:
    """A network that is an OVN logical switch: its name, IPv4 subnet (for OVN's dynamic
    addresses), whether OVN serves DHCP on it, and whether its ports get port security."""

    switch: str
    subnet: str | None = None
    dhcp: bool = False
    port_security: bool = False

    @classmethod
    def from_attrs(cls, switch: str | None, subnet: str | None = None, dhcp: bool | None = None,
                   port_security: bool | None = None) -> OvnSwitchWish:
        if switch is None:
            raise InvalidValue(what="OVN switch", value="", reason="needs a switch name")
        if dhcp and subnet is None:
            raise InvalidValue(what="OVN switch", value=switch,
                               reason="dhcp='yes' needs a subnet to serve addresses from")
        return cls(switch, subnet, bool(dhcp), bool(port_security))


@dataclass(frozen=True)
class OvnPortWish:
    """An interface's OVN logical switch port: the switch, and a static address or None
    (none: the address is OVN's to give, when its switch has a subnet)."""

    switch: str
    address: str | None = None

    @classmethod
    def from_attrs(cls, switch: str | None, address: str | None = None) -> OvnPortWish:
        if switch is None:
            raise InvalidValue(what="OVN port", value=address or "", reason="needs a switch name")
        return cls(switch, address)


class MetaOvnSwitch(XmlModel):
    """A network's ``<vnx:ovn switch subnet dhcp port-security>``."""

    TAG = q("ovn")
    switch = Field("@switch", OVN_SWITCH)
    subnet = Field("@subnet", OVN_SUBNET)
    dhcp = Field("@dhcp", YESNO)
    port_security = Field("@port-security", YESNO)

    def resolved(self) -> OvnSwitchWish:
        """Check the element and return its meaning as a plain value."""
        return OvnSwitchWish.from_attrs(self.switch, self.subnet, self.dhcp, self.port_security)

    @classmethod
    def of(cls, wish: OvnSwitchWish) -> MetaOvnSwitch:
        return cls(switch=wish.switch, subnet=wish.subnet, dhcp=True if wish.dhcp else None,
                   port_security=True if wish.port_security else None)


class MetaOvnPort(XmlModel):
    """An interface entry's ``<vnx:ovn switch address>``."""

    TAG = q("ovn")
    switch = Field("@switch", OVN_SWITCH)
    address = Field("@address", OVN_ADDRESS)

    def resolved(self) -> OvnPortWish:
        """Check the element and return its meaning as a plain value."""
        return OvnPortWish.from_attrs(self.switch, self.address)


class MetaInterface(XmlModel):
    TAG = q("interface")
    ORDER = (q("vlan"), q("tap"), q("ovs-setting"), q("vf"), q("ip"), q("forward"), q("ovn"))
    mac = Field("@mac")
    vlan = Child(MetaVlan, q("vlan"))
    tap = Child(MetaTap, q("tap"))
    ovs_settings = Children(MetaOvsSetting, q("ovs-setting"))
    vf = Child(MetaVf, q("vf"))
    ip = Child(MetaIp, q("ip"))
    forwards = Children(MetaForward, q("forward"))
    ovn = Child(MetaOvnPort, q("ovn"))


class MetaBridge(XmlModel):
    TAG = q("bridge")
    vlan_filtering = Field("@vlan-filtering", YESNO)


class MetaShim(XmlModel):
    TAG = q("shim")
    name = Field("@name")
    address = Field("@address")


class MetaSriov(XmlModel):
    TAG = q("sriov")
    pf = Field("@pf")
    numvfs = Field("@numvfs", INT)


class MetaPortGroup(XmlModel):
    TAG = q("portgroup")
    name = Field("@name")
    vlan = Child(MetaVlan, q("vlan"))


class NetXmlMeta(XmlModel):
    """The ``<vnx:netxml>`` element, in a domain's or a network's ``<metadata>``."""

    TAG = q("netxml")
    ORDER = (q("interface"), q("bridge"), q("shim"), q("sriov"), q("portgroup"), q("ovn"))
    interfaces = Children(MetaInterface, q("interface"))
    bridge = Child(MetaBridge, q("bridge"))
    shim = Child(MetaShim, q("shim"))
    sriov = Child(MetaSriov, q("sriov"))
    portgroups = Children(MetaPortGroup, q("portgroup"))
    ovn = Child(MetaOvnSwitch, q("ovn"))

    def __init__(self, node: etree._Element | None = None, **values: object) -> None:
        if node is None:
            node = etree.Element(self.TAG, nsmap={PREFIX: NS})
        super().__init__(node, **values)

    def interface(self, mac: str) -> MetaInterface | None:
        mac = mac.lower()
        return next((i for i in self.interfaces if (i.mac or "").lower() == mac), None)

    def interface_or_create(self, mac: str) -> MetaInterface:
        found = self.interface(mac)
        if found is None:
            found = self.interfaces.append(MetaInterface(mac=mac.lower()))
        return found

    def portgroup(self, name: str) -> MetaPortGroup | None:
        return next((p for p in self.portgroups if p.name == name), None)


def find_meta(root: etree._Element) -> NetXmlMeta | None:
    """The project's metadata element of a ``<domain>`` or ``<network>``, if any."""
    node = root.find(f"metadata/{q('netxml')}")
    return None if node is None else NetXmlMeta(node)


def meta_or_create(root: etree._Element, order: tuple[str, ...] = ()) -> NetXmlMeta:
    """Find or add ``<metadata><vnx:netxml/></metadata>`` under a domain or network root."""
    metadata = root.find("metadata")
    if metadata is None:
        metadata = etree.Element("metadata")
        attach(root, metadata, order)
    node = metadata.find(q("netxml"))
    if node is None:
        meta = NetXmlMeta()
        attach(metadata, meta.node)
        return meta
    return NetXmlMeta(node)
