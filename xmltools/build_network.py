"""Build a libvirt ``<network>`` from command-line style options, checking them first.

:func:`build_network` is pure: it takes a :class:`NetworkSpec` (every option of
``virt-netxml network`` as the user spelled it) and an optional ``random.Random`` for the
generated MAC and UUID, and returns a :class:`~xmltools.network.Network`. Everything libvirt
would refuse later (at ``net-define`` or at ``net-start``) is refused here with a reason.

Option spellings parsed here (documented for users in the README):

- ``--ip ADDRESS/PREFIX``  e.g. ``192.168.122.1/24``, ``fd00:1::1/64``
- ``--dhcp-range START,END``  placed in the ``<ip>`` whose subnet holds both ends
- ``--dhcp-host MAC,IP[,NAME]``  (IPv6: ``,IP,NAME`` since libvirt matches IPv6 hosts by name)
- ``--dns-host IP,NAME[,NAME...]``
- ``--nat-ports START-END``, ``--nat-addresses START-END``
- VLAN ``TAGS``: ``ID[:MODE][,ID[:MODE]|,LO-HI...]``; one id is an access tag, several ids a
  trunk; ``:untagged`` or ``:tagged`` marks the one native VLAN of a trunk (its nativeMode).
- ``--portgroup NAME[,default][,trunk][,virtualport=TYPE][,in=AVG[:PEAK[:BURST]]]``
  ``[,out=...][,vlan=TAGS]`` with ``vlan=`` last: it takes the rest of the text, commas included.
- ``--bandwidth-in/--bandwidth-out AVG[,PEAK[,BURST]]`` in KiB/s and KiB.
- ``--ovn-switch LS [--ovn-subnet CIDR [--ovn-dhcp]] [--ovn-port-security]``: the network is an
  OVN logical switch on an Open vSwitch integration bridge (``<vnx:ovn>`` in its metadata).
"""

from __future__ import annotations

import ipaddress
import random
import re
from collections.abc import Collection
from dataclasses import dataclass, field

from xmltools.common import Bandwidth, VirtualPort, Vlan
from xmltools.errors import InvalidValue, UsageError
from xmltools.mac import normalize_mac, random_mac
from xmltools.metadata import (
    MetaBridge,
    MetaOvnSwitch,
    MetaPortGroup,
    MetaVlan,
    OvnSwitchWish,
    parse_ovn_subnet,
)
from xmltools.names import PciAddress, validate_bridge_name, validate_interface_name
from xmltools.network import (
    BRIDGED_L3_MODES,
    Bridge,
    DhcpHost,
    DhcpRange,
    Dns,
    DnsHost,
    Forward,
    ForwardAddress,
    ForwardInterface,
    ForwardPf,
    Ip,
    Nat,
    NatAddress,
    NatPort,
    Network,
    NetworkDomain,
    PortGroup,
)
from xmltools.rules import (
    BRIDGE_VLAN_RANGE,
    MTU_RANGE,
    bridge_vid_ok,
    format_vlan_ids,
    is_macvtap_forward,
    libvirt_applies_vlan,
    parse_ovn_name,
    parse_vlan_list,
)
from xmltools.rules import NETWORK_VIRTUALPORT_TYPES as VIRTUALPORT_TYPES
from xmltools.uuids import random_uuid, validate_uuid
from xmltools.versions import BASELINE, Version, show

MODES = ("nat", "route", "open", "isolated", "bridge", "private", "vepa", "passthrough", "hostdev")

HOSTDEV_DRIVERS = ("vfio", "kvm")   # <forward mode='hostdev'><driver name>
QEMU_OUI = "52:54:00"

# libvirt's schema patterns for a DNS name and for a portgroup (device) name.
_DNS_NAME = re.compile(r"[a-zA-Z0-9.\-]+")
_DEVICE_NAME = re.compile(r"[a-zA-Z0-9_.\-\\:/]+")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


@dataclass
class NetworkSpec:
    """Every option of ``virt-netxml network``, as text the user typed (None = not given)."""

    name: str
    mode: str = "nat"
    bridge: str | None = None
    ips: list[str] = field(default_factory=list)
    dhcp_ranges: list[str] = field(default_factory=list)
    dhcp_hosts: list[str] = field(default_factory=list)
    forward_dev: str | None = None
    uplinks: list[str] = field(default_factory=list)
    pf: str | None = None
    vf_addresses: list[str] = field(default_factory=list)
    managed: bool | None = None
    driver: str | None = None
    domain_name: str | None = None
    mtu: int | None = None
    stp: bool | None = None
    delay: int | None = None
    nat_ports: str | None = None
    nat_addresses: str | None = None
    virtualport: str | None = None
    portgroups: list[str] = field(default_factory=list)
    vlan: str | None = None
    vlan_trunk: bool = False
    mac: str = "auto"
    uuid: str = "auto"
    dns_hosts: list[str] = field(default_factory=list)
    bandwidth_in: str | None = None
    bandwidth_out: str | None = None
    ovn_switch: str | None = None
    ovn_subnet: str | None = None
    ovn_dhcp: bool = False
    ovn_port_security: bool = False
    libvirt: Version = BASELINE   # the libvirt the network is written for (xmltools.versions)


def linux_bridge_vlans(mode: str, has_bridge: bool, virtualport: str | None, libvirt: Version) -> bool:
    """Does libvirt apply <vlan> on this network's Linux bridge? From 11.0 on a ``bridge``
    network naming a host bridge with no <virtualport> (vlanAllowed in its bridge_driver.c)."""
    return mode == "bridge" and has_bridge and virtualport is None and \
        libvirt_applies_vlan(mode, False, libvirt)


@dataclass(frozen=True)
class VlanSpec:
    """A parsed ``TAGS`` value: ids in the order given, the native id and its mode."""

    ids: tuple[int, ...]
    native: int | None = None
    native_mode: str | None = None
    trunk: bool = False

    @property
    def is_trunk(self) -> bool:
        return self.trunk or len(self.ids) > 1 or self.native is not None

    def to_vlan(self) -> Vlan:
        return Vlan.build(list(self.ids), native=self.native, native_mode=self.native_mode,
                          trunk=self.is_trunk or None)

    def to_meta(self) -> MetaVlan:
        """The same wish in the project's metadata, for the hooks to apply on a Linux bridge."""
        if not self.is_trunk:
            return MetaVlan(tag=self.ids[0])
        meta = MetaVlan(trunks=format_vlan_ids(self.ids))
        if self.native is not None:
            meta.native = self.native
            meta.mode = f"native-{self.native_mode or 'untagged'}"
        return meta



@dataclass(frozen=True)
class PortGroupSpec:
    name: str
    default: bool = False
    virtualport: str | None = None
    inbound: dict[str, int] | None = None
    outbound: dict[str, int] | None = None
    vlan: VlanSpec | None = None


# --------------------------------------------------------------------------- small parsers


def parse_vlan_tags(text: str, trunk: bool = False) -> VlanSpec:
    """Parse ``ID[:tagged|:untagged][,ID|LO-HI...]`` (xmltools.rules.parse_vlan_list): the one
    marked id is the trunk's native VLAN.

    Ranges are expanded (libvirt lists every tag); the metadata writes them compactly again.
    """
    ranges, native, native_mode = parse_vlan_list(text, "VLAN tags", native=True)
    ids = tuple(vid for lo, hi in ranges for vid in range(lo, hi + 1))
    return VlanSpec(ids, native, native_mode, trunk)


def _split_range(text: str, what: str, sep: str) -> tuple[str, str]:
    start, found, end = text.partition(sep)
    if not found or not start.strip() or not end.strip() or sep in end:
        raise InvalidValue(what=what, value=text, reason=f"expected START{sep}END")
    return start.strip(), end.strip()


def _ip_address(text: str, what: str) -> IPAddress:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise InvalidValue(what=what, value=text, reason="not an IPv4 or IPv6 address") from None


def parse_ip_interface(text: str) -> IPInterface:
    """``ADDRESS/PREFIX`` (a netmask after the slash is accepted for IPv4)."""
    if "/" not in text:
        raise InvalidValue(what="IP", value=text, reason="expected ADDRESS/PREFIX, e.g. 192.168.122.1/24")
    try:
        iface = ipaddress.ip_interface(text.strip())
    except ValueError:
        raise InvalidValue(what="IP", value=text,
                           reason="not an address with a valid prefix, e.g. 192.168.122.1/24") from None
    net = iface.network
    host_bits = net.max_prefixlen - net.prefixlen
    if host_bits >= 2 and iface.ip == net.network_address:
        raise InvalidValue(what="IP", value=text,
                           reason=f"{iface.ip} is the subnet's own address; give the host address, "
                                  f"e.g. {net.network_address + 1}/{net.prefixlen}")
    if net.version == 4 and host_bits >= 2 and iface.ip == net.broadcast_address:
        raise InvalidValue(what="IP", value=text, reason=f"{iface.ip} is the subnet's broadcast address")
    return iface


def parse_bandwidth(text: str, what: str, sep: str = ",") -> dict[str, int]:
    """``AVG[,PEAK[,BURST]]`` as positive integers (KiB/s, KiB/s, KiB)."""
    parts = text.split(sep)
    if not 1 <= len(parts) <= 3:
        raise InvalidValue(what=what, value=text, reason=f"expected AVG[{sep}PEAK[{sep}BURST]]")
    values: dict[str, int] = {}
    for key, part in zip(("average", "peak", "burst"), parts, strict=False):
        if not part.strip().isdigit() or int(part) <= 0:
            raise InvalidValue(what=what, value=text, reason=f"{key} must be a positive whole number")
        values[key] = int(part)
    return values


def parse_portgroup(text: str) -> PortGroupSpec:
    """``NAME[,default][,trunk][,virtualport=TYPE][,in=..][,out=..][,vlan=TAGS]``."""
    head, sep, vlan_text = text.partition("vlan=")
    if sep and head and not head.endswith(","):
        raise InvalidValue(what="portgroup", value=text, reason="'vlan=' must follow a comma")
    items = [i.strip() for i in head.rstrip(",").split(",")] if head else [""]
    name = items[0]
    if not name or not _DEVICE_NAME.fullmatch(name):
        raise InvalidValue(what="portgroup", value=text,
                           reason="starts with a name made of letters, digits and _ . - : /")
    default = trunk = False
    virtualport = None
    bandwidth: dict[str, dict[str, int]] = {}
    for item in items[1:]:
        key, has_value, value = item.partition("=")
        if item == "default":
            default = True
        elif item == "trunk":
            trunk = True
        elif key == "virtualport" and has_value:
            virtualport = value
        elif key in ("in", "out") and has_value:
            bandwidth[key] = parse_bandwidth(value, f"portgroup {name} bandwidth", sep=":")
        else:
            raise InvalidValue(what="portgroup", value=text,
                               reason=f"unknown item {item!r}; expected default, trunk, virtualport=TYPE, "
                                      "in=AVG[:PEAK[:BURST]], out=..., vlan=TAGS (last)")
    if trunk and not sep:
        raise InvalidValue(what="portgroup", value=text, reason="'trunk' needs vlan=TAGS")
    vlan = parse_vlan_tags(vlan_text, trunk) if sep else None
    return PortGroupSpec(name, default, virtualport, bandwidth.get("in"), bandwidth.get("out"), vlan)


# --------------------------------------------------------------------------- the builder


def _refuse(what: str, value: object, reason: str) -> InvalidValue:
    return InvalidValue(what=what, value=str(value), reason=reason)


def build_network(spec: NetworkSpec, rng: random.Random | None = None,
                  exclude_macs: Collection[str] = ()) -> Network:
    """Check ``spec`` and return the network it describes.

    ``rng`` draws the generated MAC and UUID (``--mac auto``/``--uuid auto``); pass a seeded
    ``random.Random`` for reproducible output. A generated MAC is never one of
    ``exclude_macs`` (those in use on the host). Raises InvalidValue or UsageError naming the
    offending option and why libvirt (or the network's mode) would refuse it.
    """
    rng = rng if rng is not None else random.SystemRandom()
    mode = spec.mode
    if mode not in MODES:
        raise _refuse("mode", mode, "expected one of " + ", ".join(MODES))
    if not spec.name or "/" in spec.name:
        raise _refuse("network name", spec.name, "must be non-empty and may not contain '/'")

    l3 = mode in BRIDGED_L3_MODES
    host_bridge = mode == "bridge" and spec.bridge is not None
    _check_mode_options(spec, mode, l3)
    ovn = _ovn_wish(spec, mode)

    net = Network()
    net.name = spec.name
    # Draw the MAC before the UUID so a given seed always yields the same pair.
    mac = _network_mac(spec, l3, rng, exclude_macs)
    net.uuid = random_uuid(rng) if spec.uuid == "auto" else validate_uuid(spec.uuid)

    _build_forward(net, spec, mode)
    if l3:
        bridge = Bridge()
        if spec.bridge is not None:
            bridge.name = validate_bridge_name(spec.bridge)
        bridge.stp = True if spec.stp is None else spec.stp
        bridge.delay = 0 if spec.delay is None else spec.delay
        net.bridge = bridge
    elif host_bridge:
        assert spec.bridge is not None
        net.bridge = Bridge(name=validate_bridge_name(spec.bridge))
    if spec.mtu is not None:
        net.mtu = spec.mtu
    if mac is not None:
        net.mac = mac
    if spec.domain_name is not None:
        if not _DNS_NAME.fullmatch(spec.domain_name):
            raise _refuse("domain name", spec.domain_name, "use letters, digits, '.' and '-'")
        net.domain = NetworkDomain(name=spec.domain_name)
    if spec.dns_hosts:
        net.dns = _build_dns(spec.dns_hosts)
    linux = linux_bridge_vlans(mode, spec.bridge is not None, spec.virtualport, spec.libvirt)
    ovs = spec.bridge is not None and spec.virtualport == "openvswitch"
    vlan_ok = linux or libvirt_applies_vlan(mode, ovs=ovs)
    if spec.vlan is not None:
        if not vlan_ok:
            raise _refuse("--vlan", spec.vlan,
                          f"libvirt {show(spec.libvirt)} applies a network-wide VLAN only on Open vSwitch, "
                          f"passthrough and hostdev networks (and Linux bridge networks from libvirt 11.0), "
                          f"not in mode {mode}; on a Linux bridge before 11.0 use "
                          f"--portgroup NAME,vlan=TAGS (applied by the hooks)")
        net.vlan = parse_vlan_tags(spec.vlan, spec.vlan_trunk).to_vlan()
        if linux:
            _check_bridge_ids(net.vlan, spec.vlan)
            _want_vlan_filtering(net)
    elif spec.vlan_trunk:
        raise UsageError(detail="--vlan-trunk needs --vlan TAGS")
    if spec.bandwidth_in or spec.bandwidth_out:
        _check_bandwidth_allowed(mode, host_bridge, "network-wide bandwidth")
        net.bandwidth = Bandwidth.build(
            parse_bandwidth(spec.bandwidth_in, "--bandwidth-in") if spec.bandwidth_in else None,
            parse_bandwidth(spec.bandwidth_out, "--bandwidth-out") if spec.bandwidth_out else None)
    _build_ips(net, spec)
    if spec.virtualport is not None:
        net.virtualport = VirtualPort(type=spec.virtualport)
    _build_portgroups(net, spec, mode, vlan_ok)
    if ovn is not None:
        net.meta_or_create().ovn = MetaOvnSwitch.of(ovn)
    return net


def _ovn_wish(spec: NetworkSpec, mode: str) -> OvnSwitchWish | None:
    """The ``--ovn-*`` options checked together: the OVN logical switch the network is, or None.

    An OVN network is a bridge network on an Open vSwitch bridge (libvirt plugs each guest's
    port into it with an interfaceid that ovn-controller binds). Any bridge name is taken: OVN's
    integration bridge is br-int unless a chassis names another (its Open_vSwitch
    external_ids:ovn-bridge), which this pure builder cannot know; lint warns about a bridge
    other than br-int instead.
    """
    if spec.ovn_switch is None:
        given = [o for o, v in (("--ovn-subnet", spec.ovn_subnet is not None), ("--ovn-dhcp", spec.ovn_dhcp),
                                ("--ovn-port-security", spec.ovn_port_security)) if v]
        if given:
            raise UsageError(detail=f"{'/'.join(given)} need{'s' if len(given) == 1 else ''} "
                                    "--ovn-switch LS (the OVN logical switch the network is)")
        return None
    switch = parse_ovn_name(spec.ovn_switch, "--ovn-switch")
    if mode != "bridge" or spec.bridge is None:
        raise UsageError(detail=f"--ovn-switch needs --mode bridge with --bridge (OVN's integration "
                                f"bridge, br-int), not mode {mode}" + ("" if mode != "bridge" else
                                                                       " without --bridge"))
    if spec.virtualport != "openvswitch":
        raise UsageError(detail="--ovn-switch needs --virtualport openvswitch: OVN binds Open vSwitch "
                                "ports by the interfaceid libvirt gives them")
    if spec.ovn_dhcp and spec.ovn_subnet is None:
        raise UsageError(detail="--ovn-dhcp needs --ovn-subnet CIDR (the addresses OVN's DHCP serves)")
    if spec.vlan is not None or any("vlan=" in p for p in spec.portgroups):
        raise UsageError(detail="an OVN network carries no VLAN tag on its br-int ports: OVN separates "
                                "traffic by logical switch (a VLAN reaches a physical network through "
                                "the switch's localnet port)")
    subnet = parse_ovn_subnet(spec.ovn_subnet, "--ovn-subnet") if spec.ovn_subnet is not None else None
    return OvnSwitchWish(switch, subnet, spec.ovn_dhcp, spec.ovn_port_security)


def _check_mode_options(spec: NetworkSpec, mode: str, l3: bool) -> None:
    """Refuse options that libvirt does not accept in ``mode``."""
    macvtap = is_macvtap_forward(mode, has_bridge=spec.bridge is not None)
    if not l3:
        for option, given in (("--ip", spec.ips), ("--dhcp-range", spec.dhcp_ranges),
                              ("--dhcp-host", spec.dhcp_hosts), ("--domain-name", spec.domain_name),
                              ("--dns-host", spec.dns_hosts), ("--mtu", spec.mtu is not None),
                              ("--stp/--no-stp", spec.stp is not None), ("--delay", spec.delay is not None)):
            if given:
                raise UsageError(detail=f"{option} is only for nat, route, open and isolated networks "
                                        f"(libvirt refuses it in mode {mode})")
        if spec.mac not in ("auto", None):
            raise UsageError(detail=f"--mac is only for nat, route, open and isolated networks "
                                    f"(libvirt refuses it in mode {mode})")
    if mode in ("nat", "route", "open") and not spec.ips:
        raise UsageError(detail=f"mode {mode} needs at least one --ip ADDRESS/PREFIX")
    if (spec.nat_ports or spec.nat_addresses) and mode != "nat":
        raise UsageError(detail="--nat-ports and --nat-addresses are only for mode nat")
    if spec.forward_dev is not None and mode in ("open", "isolated", "hostdev"):
        raise UsageError(detail=f"--forward-dev is not allowed in mode {mode}")
    if mode == "bridge" and spec.bridge is not None and (spec.uplinks or spec.forward_dev):
        raise UsageError(detail="mode bridge takes either --bridge (a host bridge) or --uplink "
                                "(a macvtap pool), not both")
    if spec.uplinks and not macvtap:
        hint = " (use --forward-dev)" if mode in ("nat", "route") else ""
        raise UsageError(detail=f"--uplink is only for macvtap pools (vepa, private, passthrough, "
                                f"bridge without --bridge){hint}")
    if macvtap and not spec.uplinks and spec.forward_dev is None:
        raise UsageError(detail=f"mode {mode} needs at least one --uplink DEV (or --bridge for a "
                                f"host bridge)" if mode == "bridge" else
                         f"mode {mode} needs at least one --uplink DEV")
    if spec.bridge is not None and not (l3 or mode == "bridge"):
        raise UsageError(detail=f"--bridge is not allowed in mode {mode} "
                                "(libvirt refuses a bridge name there)")
    if mode != "hostdev":
        for option, given in (("--pf", spec.pf), ("--vf-address", spec.vf_addresses),
                              ("--managed/--unmanaged", spec.managed is not None),
                              ("--driver", spec.driver)):
            if given:
                raise UsageError(detail=f"{option} is only for mode hostdev")
    else:
        if bool(spec.pf) == bool(spec.vf_addresses):
            raise UsageError(detail="mode hostdev needs either --pf DEV or --vf-address PCI (not both)")
        if spec.driver is not None and spec.driver not in HOSTDEV_DRIVERS:
            raise _refuse("driver", spec.driver, "expected " + " or ".join(HOSTDEV_DRIVERS))
    if spec.virtualport is not None:
        vp = spec.virtualport
        if vp not in VIRTUALPORT_TYPES:
            raise _refuse("virtualport", vp, "expected one of " + ", ".join(VIRTUALPORT_TYPES))
        if vp == "openvswitch" and not (mode == "bridge" and spec.bridge is not None):
            raise UsageError(detail="--virtualport openvswitch needs mode bridge with --bridge "
                                    "(an Open vSwitch bridge)")
        if vp != "openvswitch" and not macvtap:
            raise UsageError(detail=f"--virtualport {vp} is only for macvtap pools (vepa, private, "
                                    "passthrough, bridge with --uplink)")
    if spec.mtu is not None and not MTU_RANGE[0] <= spec.mtu <= MTU_RANGE[1]:
        raise _refuse("MTU", spec.mtu, "must be {} to {}".format(*MTU_RANGE))
    if spec.delay is not None and spec.delay < 0:
        raise _refuse("bridge delay", spec.delay, "must be 0 or more seconds")


def _network_mac(spec: NetworkSpec, l3: bool, rng: random.Random,
                 exclude: Collection[str]) -> str | None:
    if spec.mac in ("auto", None):
        return random_mac(rng, oui=QEMU_OUI, exclude=exclude) if l3 else None
    return normalize_mac(spec.mac)


def _build_forward(net: Network, spec: NetworkSpec, mode: str) -> None:
    if mode == "isolated":
        return
    fwd = Forward()
    net.forward = fwd
    if mode in ("nat", "route"):
        if spec.forward_dev is not None:
            dev = validate_interface_name(spec.forward_dev, "forward device")
            fwd.dev = dev
        fwd.mode = mode
        if spec.forward_dev is not None:
            # libvirt stores the device as the pool's only interface and prints both forms.
            fwd.interfaces.append(ForwardInterface(dev=fwd.dev))
        if mode == "nat" and (spec.nat_addresses or spec.nat_ports):
            fwd.nat = _build_nat(spec)
        return
    if mode == "hostdev":
        fwd.mode = mode
        fwd.managed = True if spec.managed is None else spec.managed
        if spec.driver is not None:
            fwd.driver_name = spec.driver
        if spec.pf:
            fwd.pf = ForwardPf(dev=validate_interface_name(spec.pf, "PF device"))
        seen: set[PciAddress] = set()
        for text in spec.vf_addresses:
            pci = PciAddress.parse(text)
            if pci in seen:
                raise _refuse("--vf-address", text, "listed twice")
            seen.add(pci)
            fwd.addresses.append(ForwardAddress.from_pci(pci))
        return
    if mode == "open" or (mode == "bridge" and spec.bridge is not None):
        fwd.mode = mode
        return
    # A macvtap pool: libvirt prints the first uplink as forward dev, then the whole list.
    uplinks = [validate_interface_name(u, "uplink") for u in spec.uplinks]
    if spec.forward_dev is not None:
        dev = validate_interface_name(spec.forward_dev, "forward device")
        if not uplinks:
            uplinks = [dev]
        elif uplinks[0] != dev:
            raise UsageError(detail=f"--forward-dev {dev} must be the first --uplink "
                                    f"({uplinks[0]}), as libvirt requires")
    dupes = sorted({u for u in uplinks if uplinks.count(u) > 1})
    if dupes:
        raise _refuse("--uplink", dupes[0], "listed twice; each uplink can be in the pool once")
    fwd.dev = uplinks[0]
    fwd.mode = mode
    for dev in uplinks:
        fwd.interfaces.append(ForwardInterface(dev=dev))


def _port_number(text: str, option: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise _refuse(option, text, "ports are 1 to 65535")
    return int(text)


def _build_nat(spec: NetworkSpec) -> Nat:
    nat = Nat()
    if spec.nat_addresses:
        start_text, end_text = _split_range(spec.nat_addresses, "--nat-addresses", "-")
        start = _ip_address(start_text, "--nat-addresses start")
        end = _ip_address(end_text, "--nat-addresses end")
        if start.version != 4 or end.version != 4:
            raise _refuse("--nat-addresses", spec.nat_addresses, "libvirt masquerades to IPv4 addresses only")
        if int(end) < int(start):
            raise _refuse("--nat-addresses", spec.nat_addresses, "the range runs backwards")
        nat.address = NatAddress(start=start, end=end)
    if spec.nat_ports:
        start_text, end_text = _split_range(spec.nat_ports, "--nat-ports", "-")
        first = _port_number(start_text, "--nat-ports")
        last = _port_number(end_text, "--nat-ports")
        if last < first:
            raise _refuse("--nat-ports", spec.nat_ports, "the range runs backwards")
        nat.port = NatPort(start=first, end=last)
    return nat


def _build_dns(entries: list[str]) -> Dns:
    dns = Dns()
    for text in entries:
        ip_text, _, names_text = text.partition(",")
        names = [n.strip() for n in names_text.split(",")] if names_text else []
        if not names or not all(names):
            raise _refuse("--dns-host", text, "expected IP,NAME[,NAME...]")
        host = DnsHost(ip=_ip_address(ip_text, "--dns-host address"))
        for name in names:
            if not _DNS_NAME.fullmatch(name):
                raise _refuse("--dns-host name", name, "use letters, digits, '.' and '-'")
            host.add_hostname(name)
        dns.hosts.append(host)
    return dns


def _build_ips(net: Network, spec: NetworkSpec) -> None:
    seen_versions_with_dhcp: set[int] = set()
    interfaces: list[IPInterface] = []
    for text in spec.ips:
        iface = parse_ip_interface(text)
        for other in interfaces:
            if other.network.overlaps(iface.network):
                raise _refuse("--ip", text, f"overlaps {other.with_prefixlen}")
        interfaces.append(iface)
        if iface.version == 4:
            ip = Ip(address=iface.ip, netmask=iface.netmask)
        else:
            ip = Ip(family="ipv6", address=iface.ip, prefix=iface.network.prefixlen)
        # Attributes in libvirt's order: family, address, netmask, prefix.
        net.ips.append(ip)

    def owner(address: IPAddress, option: str, text: str) -> tuple[Ip, IPInterface]:
        for ip, iface in zip(net.ips, interfaces, strict=True):
            if address.version == iface.version and address in iface.network:
                return ip, iface
        raise _refuse(option, text, f"{address} is in no subnet given with --ip")

    def check_host_address(address: IPAddress, iface: IPInterface, option: str, text: str) -> None:
        net_ = iface.network
        if address == iface.ip:
            raise _refuse(option, text, f"{address} is the network's own address (the host side)")
        if net_.max_prefixlen - net_.prefixlen >= 2 and address == net_.network_address:
            raise _refuse(option, text, f"{address} is the subnet's own address")
        if net_.version == 4 and net_.prefixlen <= 30 and address == net_.broadcast_address:
            raise _refuse(option, text, f"{address} is the subnet's broadcast address")

    taken_ranges: list[tuple[IPAddress, IPAddress]] = []
    for text in spec.dhcp_ranges:
        start_text, end_text = _split_range(text, "--dhcp-range", ",")
        start = _ip_address(start_text, "--dhcp-range start")
        end = _ip_address(end_text, "--dhcp-range end")
        if start.version != end.version:
            raise _refuse("--dhcp-range", text, "start and end are of different IP versions")
        ip, iface = owner(start, "--dhcp-range", text)
        if end not in iface.network:
            raise _refuse("--dhcp-range", text, f"{end} is outside {iface.network} where {start} lies")
        if int(end) < int(start):
            raise _refuse("--dhcp-range", text, "the range runs backwards")
        check_host_address(start, iface, "--dhcp-range", text)
        check_host_address(end, iface, "--dhcp-range", text)
        if int(start) <= int(iface.ip) <= int(end):
            raise _refuse("--dhcp-range", text, f"holds the network's own address {iface.ip}")
        for lo, hi in taken_ranges:
            if lo.version == start.version and int(start) <= int(hi) and int(lo) <= int(end):
                raise _refuse("--dhcp-range", text, f"overlaps {lo},{hi}")
        taken_ranges.append((start, end))
        _claim_dhcp(ip, iface, seen_versions_with_dhcp, text)
        ip.ranges.append(DhcpRange(start=start, end=end))

    taken_hosts: set[IPAddress] = set()
    taken_macs: set[str] = set()
    for text in spec.dhcp_hosts:
        parts = text.split(",")
        if len(parts) not in (2, 3) or not parts[1].strip():
            raise _refuse("--dhcp-host", text, "expected MAC,IP[,NAME]")
        mac_text, ip_text = parts[0].strip(), parts[1].strip()
        name = parts[2].strip() if len(parts) == 3 else ""
        address = _ip_address(ip_text, "--dhcp-host address")
        ip, iface = owner(address, "--dhcp-host", text)
        check_host_address(address, iface, "--dhcp-host", text)
        if address in taken_hosts:
            raise _refuse("--dhcp-host", text, f"{address} is already given to another host")
        taken_hosts.add(address)
        host = DhcpHost()
        if mac_text:
            if address.version == 6:
                raise _refuse("--dhcp-host", text,
                              "libvirt matches IPv6 hosts by name, not MAC: write ,IP,NAME")
            mac = normalize_mac(mac_text)
            if mac in taken_macs:
                raise _refuse("--dhcp-host", text, f"MAC {mac} is already given to another host")
            taken_macs.add(mac)
            host.mac = mac
        elif not name:
            raise _refuse("--dhcp-host", text, "needs a MAC or a NAME")
        if name:
            if not name[0].isalnum() or not _DNS_NAME.fullmatch(name):
                raise _refuse("--dhcp-host name", name, "use letters, digits, '.' and '-', starting "
                                                       "with a letter or digit")
            host.name = name
        host.ip = address
        _claim_dhcp(ip, iface, seen_versions_with_dhcp, text)
        ip.hosts.append(host)


def _claim_dhcp(ip: Ip, iface: IPInterface, claimed: set[int], text: str) -> None:
    """libvirt runs DHCP on one IPv4 and one IPv6 subnet per network, no more."""
    if ip.ranges or ip.hosts:
        return
    if iface.version in claimed:
        raise _refuse("DHCP", text, f"libvirt serves DHCP on only one IPv{iface.version} subnet per "
                                    f"network, and another --ip already has it")
    claimed.add(iface.version)



def _uses_linux_bridge(mode: str, spec: NetworkSpec) -> bool:
    return mode in BRIDGED_L3_MODES or (
        mode == "bridge" and spec.bridge is not None and spec.virtualport != "openvswitch")


def _check_bandwidth_allowed(mode: str, host_bridge: bool, what: str) -> None:
    if not (mode in BRIDGED_L3_MODES or host_bridge):
        raise UsageError(detail=f"{what} is only for nat, route, open, isolated and host-bridge "
                                f"networks (libvirt refuses it in mode {mode})")


def _build_portgroups(net: Network, spec: NetworkSpec, mode: str, vlan_ok: bool) -> None:
    groups = [parse_portgroup(text) for text in spec.portgroups]
    names = [g.name for g in groups]
    for name in names:
        if names.count(name) > 1:
            raise _refuse("--portgroup", name, "two portgroups have this name")
    defaults = [g.name for g in groups if g.default]
    if len(defaults) > 1:
        raise _refuse("--portgroup", ",".join(defaults), "only one portgroup can be the default")
    host_bridge = mode == "bridge" and spec.bridge is not None
    for group in groups:
        pg = PortGroup(name=group.name)
        if group.default:
            pg.default = True
        if group.virtualport is not None:
            if group.virtualport not in VIRTUALPORT_TYPES:
                raise _refuse("portgroup virtualport", group.virtualport,
                              "expected one of " + ", ".join(VIRTUALPORT_TYPES))
            if spec.virtualport is None or spec.virtualport != group.virtualport:
                raise _refuse("portgroup virtualport", group.virtualport,
                              "must match the network's --virtualport")
        if group.vlan is not None:
            if vlan_ok:
                pg.vlan = group.vlan.to_vlan()
                if mode == "bridge" and spec.virtualport is None:
                    _check_bridge_ids(pg.vlan, group.name)
                    _want_vlan_filtering(net)
            elif _uses_linux_bridge(mode, spec):
                # libvirt refuses <vlan> here; the hooks apply it with bridge VLAN filtering.
                meta = net.meta_or_create()
                if meta.bridge is None:
                    meta.bridge = MetaBridge(vlan_filtering=True)
                mpg = MetaPortGroup(name=group.name)
                mpg.vlan = group.vlan.to_meta()
                meta.portgroups.append(mpg)
            else:
                raise _refuse("portgroup VLAN", group.name,
                              f"a macvtap {mode} pool cannot carry VLANs; tag on the uplink instead")
        if group.virtualport is not None:
            pg.virtualport = VirtualPort(type=group.virtualport)
        if group.inbound or group.outbound:
            if mode == "hostdev":
                raise UsageError(detail="portgroup bandwidth is not supported in mode hostdev")
            _check_bandwidth_allowed(mode, host_bridge, "portgroup bandwidth")
            pg.bandwidth = Bandwidth.build(group.inbound, group.outbound)
        net.portgroups.append(pg)


def _check_bridge_ids(vlan: Vlan, shown: str) -> None:
    """libvirt 11 applies a Linux bridge network's <vlan> with bridge(8): ids 1 to 4094. It
    switches the host bridge's vlan_filtering on only for bridges it manages itself, so the
    caller also asks the hook to (the metadata's <vnx:bridge vlan-filtering='yes'>)."""
    for tag in vlan.tags:
        if not bridge_vid_ok(tag.id):
            raise _refuse("VLAN", shown, f"a Linux bridge takes VLAN ids {BRIDGE_VLAN_RANGE[0]} to "
                                         f"{BRIDGE_VLAN_RANGE[1]}, not {tag.id}")


def _want_vlan_filtering(net: Network) -> None:
    meta = net.meta_or_create()
    if meta.bridge is None:
        meta.bridge = MetaBridge(vlan_filtering=True)
