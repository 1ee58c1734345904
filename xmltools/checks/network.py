"""Semantic checks of a <network> document, following libvirt's parser and network driver."""

from __future__ import annotations

import ipaddress

from lxml import etree

from xmltools.checks.shared import (
    IPAddress,
    IPNetwork,
    Report,
    check_bandwidth,
    check_device_name,
    check_mac_attr,
    check_pci,
    check_versions,
    check_vlan,
    describe,
    int_or_none,
    netmask_prefix,
    parse_ip,
)
from xmltools.names import PciAddress
from xmltools.rules import (
    LINUX_BRIDGE_VLAN_SINCE,
    MACVTAP_ONLY_MODES,
    classful_prefix,
    libvirt_applies_vlan,
)
from xmltools.versions import show

L3_MODES = ("nat", "route", "open")
# dnsmasq's limits on an SRV record's service name, as libvirt enforces them.
SRV_SERVICE_MAX = 512 - 30
SRV_SERVICE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+/*")


def check_network(root: etree._Element, report: Report) -> None:
    """All semantic checks of a <network> document."""
    check_versions(root, "network", report)
    name = root.findtext("name")
    if name is not None and "/" in name:
        report.error(root.find("name"), "network-name", f"network name {name!r} must not contain '/'")
    mac = root.find("mac")
    if mac is not None:
        check_mac_attr(mac, report, "bridge <mac>")
    bridge = root.find("bridge")
    if bridge is not None:
        check_device_name(bridge, "name", report, "bridge name", "bridge-name")
    forward = root.find("forward")
    mode = "none" if forward is None else (forward.get("mode") or "nat")
    subnets = [s for s in (_check_ip(ip, report) for ip in root.iterfind("ip")) if s is not None]
    _check_dhcp_per_family(root, report)
    _check_routes(root, subnets, report)
    _check_dns(root, report)
    if forward is not None:
        _check_forward(forward, mode, report)
    _check_mode_rules(root, forward, mode, report)
    _check_portgroups(root, mode, report)
    # A bridge network naming a host bridge, with no <virtualport>, is a Linux bridge: its ports
    # take VLAN ids 1 to 4094 (libvirt 11 and the hooks set them with the bridge's filtering).
    linux_bridge = mode == "bridge" and bridge is not None and bool(bridge.get("name")) and \
        root.find("virtualport") is None
    vlan = root.find("vlan")
    if vlan is not None:
        check_vlan(vlan, report, "network", linux_bridge)
    vport = root.find("virtualport")
    if vport is not None and vport.get("type") is None:
        report.error(vport, "virtualport-type", "the network's <virtualport> needs a type")
    for bw in root.findall("bandwidth"):
        check_bandwidth(bw, report, allow_floor=False, where="network")
    for bw in root.iterfind("portgroup/bandwidth"):
        check_bandwidth(bw, report, allow_floor=False, where=describe(bw.getparent()))
    for vlan in root.iterfind("portgroup/vlan"):
        pg_vport = vlan.getparent().find("virtualport")
        check_vlan(vlan, report, describe(vlan.getparent()), linux_bridge and pg_vport is None)


def _check_ip(ip: etree._Element, report: Report) -> IPNetwork | None:
    """The subnet of one <ip> element, or None when the element is refused."""
    where = describe(ip)
    text = ip.get("address")
    if text is None:
        report.error(ip, "ip-address-missing", "<ip> needs an address attribute")
        return None
    addr = parse_ip(text)
    if addr is None:
        report.error(ip, "ip-invalid", f"{where}: {text!r} is not an IPv4 or IPv6 address")
        return None
    family = ip.get("family")
    if family is not None and family != f"ipv{addr.version}":
        report.error(ip, "ip-family",
                     f"{where}: family='{family}' does not match an IPv{addr.version} address")
        return None
    netmask, prefix_text = ip.get("netmask"), ip.get("prefix")
    prefix: int | None = None
    if netmask is not None and prefix_text is not None:
        report.error(ip, "ip-netmask-and-prefix", f"{where}: give a netmask or a prefix, not both")
    if netmask is not None:
        if addr.version == 6:
            report.error(ip, "ip-netmask-ipv6", f"{where}: an IPv6 address takes a prefix, not a netmask")
            return None
        prefix = netmask_prefix(netmask)
        if prefix is None:
            report.error(ip, "ip-netmask-invalid",
                         f"{where}: netmask {netmask!r} is not a valid IPv4 netmask (contiguous one bits)")
            return None
    elif prefix_text is not None:
        prefix = int_or_none(prefix_text)
        limit = 32 if addr.version == 4 else 128
        if prefix is None or not 0 <= prefix <= limit:
            report.error(ip, "ip-prefix-range", f"{where}: prefix {prefix_text!r} must be 0 to {limit}")
            return None
    elif isinstance(addr, ipaddress.IPv4Address):
        prefix = classful_prefix(int(addr) >> 24)
        if prefix is None:
            report.error(ip, "ip-prefix-missing",
                         f"{where}: give a prefix or netmask; {addr} has no classful default")
            return None
    else:
        prefix = 64
    net = ipaddress.ip_network(f"{addr}/{prefix}", strict=False)
    if ip.find("tftp") is not None and addr.version == 6:
        report.error(ip.find("tftp"), "tftp-ipv6", f"{where}: <tftp> is only supported on an IPv4 <ip>")
    dhcp = ip.find("dhcp")
    if dhcp is not None:
        _check_dhcp(dhcp, addr, net, report)
    return net


def _check_lease(node: etree._Element, report: Report) -> None:
    lease = node.find("lease")
    if lease is None:
        return
    expiry = int_or_none(lease.get("expiry"))
    unit = lease.get("unit") or "minutes"
    if expiry and ((unit == "seconds" and expiry < 120) or (unit == "minutes" and expiry < 2)):
        report.error(lease, "lease-too-short",
                     f"{describe(node)}: a lease of {expiry} {unit} is shorter than dnsmasq's "
                     "minimum of 2 minutes")


def _range_problem(start: IPAddress, end: IPAddress, gateway: IPAddress,
                   net: IPNetwork) -> tuple[str, str] | None:
    if start.version != gateway.version or end.version != gateway.version:
        return "dhcp-range-family", f"the range is not in the same address family as {gateway}"
    if start not in net or end not in net:
        return "dhcp-range-outside", f"the range is not inside the subnet {net}"
    if int(start) > int(end):
        return "dhcp-range-reversed", "start is after end"
    if net.version == 4 and net.prefixlen < 31:
        if start == net.network_address:
            return "dhcp-range-reserved", f"start is the network address of {net}"
        if end == net.broadcast_address:
            return "dhcp-range-reserved", f"end is the broadcast address of {net}"
    # libvirt only accepts ranges whose addresses differ in the last 16 bits.
    if int(start) >> 16 != int(end) >> 16:
        return "dhcp-range-too-large", "the range spans more than 65536 addresses, which libvirt refuses"
    return None


def _check_dhcp(dhcp: etree._Element, gateway: IPAddress, net: IPNetwork, report: Report) -> None:
    # Same family as the gateway once _range_problem passed, so plain integers compare.
    ranges: list[tuple[int, int, etree._Element]] = []
    for rng in dhcp.iterfind("range"):
        where = describe(rng)
        start, end = parse_ip(rng.get("start")), parse_ip(rng.get("end"))
        if start is None or end is None:
            report.error(rng, "ip-invalid", f"{where}: start and end must be IP addresses")
            continue
        problem = _range_problem(start, end, gateway, net)
        if problem:
            report.error(rng, problem[0], f"{where}: {problem[1]}")
            continue
        lo, hi = int(start), int(end)
        if lo <= int(gateway) <= hi:
            report.error(rng, "dhcp-range-gateway",
                         f"{where}: the range holds the network's own address {gateway}")
        for other_lo, other_hi, other in ranges:
            if lo <= other_hi and other_lo <= hi:
                report.error(rng, "dhcp-range-overlap",
                             f"{where}: overlaps {describe(other)} on line {other.sourceline}")
                break
        ranges.append((lo, hi, rng))
        _check_lease(rng, report)
    seen: dict[tuple[str, str], etree._Element] = {}
    for host in dhcp.iterfind("host"):
        _check_dhcp_host(host, gateway, net, report, seen)


def _check_dhcp_host(host: etree._Element, gateway: IPAddress, net: IPNetwork, report: Report,
                     seen: dict[tuple[str, str], etree._Element]) -> None:
    where = describe(host)
    mac, name, hid = host.get("mac"), host.get("name"), host.get("id")
    if net.version == 6:
        if mac is not None:
            report.error(host, "dhcp-host-ipv6-mac",
                         f"{where}: an IPv6 static host is matched by id or name, not by MAC")
        elif hid is None and name is None:
            report.error(host, "dhcp-host-incomplete", f"{where}: an IPv6 static host needs an id or a name")
    elif mac is None and name is None:
        report.error(host, "dhcp-host-incomplete", f"{where}: an IPv4 static host needs a mac or a name")
    if mac is not None and net.version == 4:
        mac = check_mac_attr(host, report, where, "mac")
    if name is not None and not (name[:1].isascii() and name[:1].isalnum()):
        report.error(host, "dhcp-host-name", f"{where}: host name {name!r} must start with a letter or digit")
    ip_text = host.get("ip")
    addr = parse_ip(ip_text)
    if ip_text is None:
        report.error(host, "dhcp-host-incomplete", f"{where}: a static host needs an ip")
    elif addr is None:
        report.error(host, "ip-invalid", f"{where}: {ip_text!r} is not an IP address")
    elif addr.version != net.version or addr not in net:
        report.error(host, "dhcp-host-outside", f"{where}: {addr} is not inside the subnet {net}")
    elif addr == gateway:
        report.error(host, "dhcp-host-gateway", f"{where}: {addr} is the network's own address")
    for kind, value in (("MAC", mac), ("IP", str(addr) if addr else None), ("name", name)):
        if value is None:
            continue
        first = seen.get((kind, value.lower()))
        if first is not None:
            report.error(host, "dhcp-host-duplicate",
                         f"{where}: {kind} {value} is already used by {describe(first)} "
                         f"on line {first.sourceline}")
        else:
            seen[(kind, value.lower())] = host
    _check_lease(host, report)


def _check_dhcp_per_family(root: etree._Element, report: Report) -> None:
    seen: dict[int, etree._Element] = {}
    for ip in root.iterfind("ip"):
        dhcp = ip.find("dhcp")
        addr = parse_ip(ip.get("address"))
        if dhcp is None or addr is None or (dhcp.find("range") is None and dhcp.find("host") is None):
            continue
        if addr.version in seen:
            report.error(ip, "dhcp-multiple",
                         f"{describe(ip)}: DHCP is already served on line {seen[addr.version].sourceline}; "
                         f"libvirt supports DHCP on one IPv{addr.version} address per network")
        else:
            seen[addr.version] = ip


def _check_routes(root: etree._Element, subnets: list[IPNetwork], report: Report) -> None:
    for route in root.iterfind("route"):
        where = describe(route)
        dest, gw = parse_ip(route.get("address")), parse_ip(route.get("gateway"))
        if dest is None or gw is None:
            report.error(route, "ip-invalid", f"{where}: address and gateway must be IP addresses")
            continue
        if not any(gw.version == s.version and gw in s for s in subnets):
            report.error(route, "route-gateway-unreachable",
                         f"{where}: gateway {gw} is not inside any <ip> subnet of the network")


def _check_dns(root: etree._Element, report: Report) -> None:
    dns = root.find("dns")
    if dns is None:
        return
    records = [c for c in dns if c.tag in ("forwarder", "host", "srv", "txt")]
    if dns.get("enable") == "no" and records:
        report.error(records[0], "dns-disabled-extra",
                     f"<dns enable='no'> cannot also carry {describe(records[0])}: the DNS server is off")
    for fwd in dns.iterfind("forwarder"):
        if fwd.get("addr") is None and fwd.get("domain") is None:
            report.error(fwd, "dns-forwarder-empty", "<forwarder> needs an addr, a domain or both")
        elif fwd.get("addr") is not None and parse_ip(fwd.get("addr")) is None:
            report.error(fwd, "ip-invalid", f"{describe(fwd)}: addr is not an IP address")
    for host in dns.iterfind("host"):
        if parse_ip(host.get("ip")) is None:
            report.error(host, "ip-invalid", f"{describe(host)}: ip is not an IP address")
    for srv in dns.iterfind("srv"):
        service = srv.get("service") or ""
        if len(service.encode()) > SRV_SERVICE_MAX:
            report.error(srv, "dns-srv", f"{describe(srv)}: service is longer than {SRV_SERVICE_MAX} bytes")
        bad = sorted({c for c in service if c not in SRV_SERVICE_CHARS})
        if bad:
            report.error(srv, "dns-srv", f"{describe(srv)}: service {service!r} contains {''.join(bad)!r}; "
                                         "only letters, digits and _-+/* are allowed")
        if srv.get("target") is None:
            for attr in ("port", "priority", "weight"):
                if srv.get(attr) is not None:
                    report.error(srv, "dns-srv", f"{describe(srv)}: {attr} needs a target")
                    break


def _check_forward(forward: etree._Element, mode: str, report: Report) -> None:
    where = f"<forward mode='{mode}'>"
    dev = forward.get("dev")
    uplinks = forward.findall("interface")
    addresses = forward.findall("address")
    pfs = forward.findall("pf")
    if dev is not None:
        check_device_name(forward, "dev", report, "forward dev")
        if addresses or pfs:
            report.error(forward, "forward-dev-with-pool",
                         f"{where}: dev cannot be combined with <address> or <pf> children")
        if uplinks and uplinks[0].get("dev") != dev:
            listed = any(u.get("dev") == dev for u in uplinks)
            report.error(forward, "forward-dev-mismatch",
                         f"{where}: dev='{dev}' must be the first <interface> of the uplink list"
                         + ("" if listed else " (it is not in the list at all)"))
    seen: dict[str, etree._Element] = {}
    for uplink in uplinks:
        name = uplink.get("dev")
        check_device_name(uplink, "dev", report, "uplink")
        if name is None:     # libvirt's schema requires the dev; nothing to compare here
            continue
        if name in seen:
            report.error(uplink, "uplink-duplicate",
                         f"{describe(uplink)}: uplink {name} is listed twice "
                         f"(first on line {seen[name].sourceline})")
        else:
            seen[name] = uplink
    pci_seen: dict[PciAddress, etree._Element] = {}
    for addr in addresses:
        pci = check_pci(addr, report)
        if pci is None:
            continue
        if pci in pci_seen:
            report.error(addr, "pci-duplicate",
                         f"PCI device {pci} is listed twice in the pool "
                         f"(first on line {pci_seen[pci].sourceline})")
        else:
            pci_seen[pci] = addr
    if len(pfs) > 1:
        report.error(pfs[1], "pf-multiple", f"{where}: only one <pf> is allowed")
    for pf in pfs:
        check_device_name(pf, "dev", report, "PF")
    if sum(1 for group in (uplinks, addresses, pfs) if group) > 1:
        report.error(forward, "pool-mixed",
                     f"{where}: <interface>, <address> and <pf> children are mutually exclusive")
    nat = forward.find("nat")
    if nat is not None:
        if mode != "nat":
            report.error(nat, "nat-wrong-mode", f"{where}: <nat> is only meaningful with mode='nat'")
        _check_nat(nat, report)
    if addresses and mode != "hostdev":
        # Parsed by libvirt (tests/networkxml2xmlin/passthrough-address-crash.xml), refused by
        # its network driver at define time.
        report.warning(addresses[0], "pool-address-mode",
                       f"{where}: libvirt's network driver accepts a pool of PCI addresses only "
                       "with mode='hostdev'")
    if mode == "hostdev":
        if uplinks:
            report.error(uplinks[0], "hostdev-pool",
                         f"{where}: a hostdev pool lists VFs by PCI <address> or one <pf>, "
                         "not <interface dev>")
        elif not addresses and not pfs:
            report.error(forward, "hostdev-pool",
                         f"{where}: a hostdev pool needs a <pf dev> or PCI <address>es")
    if mode in MACVTAP_ONLY_MODES and not (uplinks or pfs or dev or addresses):
        report.error(forward, "macvtap-no-uplink",
                     f"{where}: a macvtap network needs at least one <interface dev> uplink, a dev or a <pf>")


def _check_nat(nat: etree._Element, report: Report) -> None:
    addr = nat.find("address")
    if addr is not None:
        start, end = parse_ip(addr.get("start")), parse_ip(addr.get("end"))
        if start is None or end is None or start.version != 4 or end.version != 4:
            report.error(addr, "ip-invalid", f"{describe(addr)}: start and end must be IPv4 addresses")
        elif start > end:
            report.error(addr, "nat-range-reversed", f"{describe(addr)}: start is after end")
    port = nat.find("port")
    if port is not None:
        lo, hi = int_or_none(port.get("start")), int_or_none(port.get("end"))
        if lo is not None and hi is not None and lo > hi:
            report.error(port, "nat-range-reversed", f"{describe(port)}: start is after end")


def _check_mode_rules(root: etree._Element, forward: etree._Element | None, mode: str,
                      report: Report) -> None:
    """Which elements a forward mode allows, as libvirt's parser and network driver decide."""
    where = f"<forward mode='{mode}'>"
    bridge = root.find("bridge")
    uplinks = forward.findall("interface") if forward is not None else []
    pfs = forward.findall("pf") if forward is not None else []
    dev = forward.get("dev") if forward is not None else None
    ips = root.findall("ip")
    if mode in L3_MODES:
        if not ips:
            report.error(forward, "forward-needs-ip",
                         f"{where}: {mode} forwarding needs an <ip> on the network")
        devs = {u.get("dev") for u in uplinks} | ({dev} if dev else set())
        if len(devs) > 1:
            report.error(forward, "forward-multiple-devs",
                         f"{where}: only one forwarding interface is supported in {mode} mode")
        if mode == "open" and (uplinks or dev):
            report.error(forward, "forward-open-dev",
                         f"{where}: an open network cannot restrict traffic to a forward dev")
        return
    if mode == "none":
        return
    if bridge is not None:
        if mode in MACVTAP_ONLY_MODES + ("hostdev",):
            for attr in ("name", "zone", "macTableManager"):
                if bridge.get(attr) is not None:
                    report.error(bridge, "bridge-not-allowed",
                                 f"<bridge {attr}='{bridge.get(attr)}'> is not allowed in {mode} mode")
        for attr in ("stp", "delay", "zone"):
            if bridge.get(attr) is not None and not (attr == "delay" and int_or_none(bridge.get(attr)) == 0):
                report.error(bridge, "bridge-options-mode",
                             f"<bridge {attr}='{bridge.get(attr)}'>: stp, delay and zone only apply to "
                             f"route, nat, open and isolated networks, not {mode}")
                break
        if mode == "bridge" and bridge.get("name") and (uplinks or pfs or dev):
            report.error(bridge, "bridge-and-uplinks",
                         f"{where}: give either a host bridge name or uplink devices, not both")
    if mode == "bridge" and (bridge is None or not bridge.get("name")) and not (uplinks or pfs or dev):
        # libvirt parses this (tests/networkxml2xmlin/openvswitch-net.xml) and fails at start.
        report.warning(forward, "bridge-no-uplink",
                       f"{where}: the network cannot start without a <bridge name> or at least one "
                       "<interface dev> uplink")
    if root.find("mtu") is not None:
        report.error(root.find("mtu"), "mtu-mode",
                     f"<mtu> only applies to route, nat, open and isolated networks, not {mode}")
    for ip in ips:
        # libvirt's parser accepts this (its own tests do), its network driver refuses it.
        report.warning(ip, "ip-mode",
                       f"{describe(ip)}: libvirt's network driver refuses <ip> on a {mode} network "
                       "(the host has no address on it)")
    if root.find("mac") is not None:
        report.error(root.find("mac"), "unsupported-in-mode", f"<mac> is not supported on a {mode} network")
    if root.find("domain") is not None:
        report.error(root.find("domain"), "unsupported-in-mode",
                     f"<domain> is not supported on a {mode} network")
    dns = root.find("dns")
    if dns is not None and any(c.tag in ("host", "srv", "txt") for c in dns):
        report.error(dns, "unsupported-in-mode", f"<dns> records are not supported on a {mode} network")
    bandwidth_ok = mode == "bridge" and bridge is not None and bridge.get("name")
    if not bandwidth_ok:
        for bw in [root.find("bandwidth"), *root.findall("portgroup/bandwidth")]:
            if bw is not None:
                report.error(bw, "bandwidth-mode",
                             f"{describe(bw.getparent())}: <bandwidth> is not supported on a {mode} network")


def _check_portgroups(root: etree._Element, mode: str, report: Report) -> None:
    names: dict[str, etree._Element] = {}
    default: etree._Element | None = None
    vport = root.find("virtualport")
    ovs = vport is not None and vport.get("type") == "openvswitch"
    # A Linux bridge (libvirt 11.0) only without any <virtualport>: an 802.1Qbg/Qbh profile
    # keeps <vlan> out (vlanAllowed in libvirt's bridge_driver.c).
    vlan_ok = libvirt_applies_vlan(mode, ovs, report.libvirt) and (vport is None or ovs)
    where_ok = ("Open vSwitch and Linux bridge networks (forward mode='bridge'), hostdev and passthrough "
                "networks" if report.libvirt >= LINUX_BRIDGE_VLAN_SINCE else
                "Open vSwitch bridges, hostdev and passthrough networks (Linux bridges from libvirt 11.0)")
    for pg in root.iterfind("portgroup"):
        name = pg.get("name")
        if name is None:     # libvirt's schema requires the name; nothing to compare here
            pass
        elif name in names:
            report.error(pg, "portgroup-duplicate",
                         f"{describe(pg)}: a portgroup of that name is already on line "
                         f"{names[name].sourceline}")
        else:
            names[name] = pg
        if pg.get("default") == "yes":
            if default is not None:
                report.error(pg, "portgroup-default",
                             f"{describe(pg)}: only one portgroup can be the default "
                             f"({describe(default)} on line {default.sourceline} already is)")
            else:
                default = pg
        pg_vport = pg.find("virtualport")
        pg_vport_type = pg_vport.get("type") if pg_vport is not None else None
        if pg.find("vlan") is not None and pg_vport_type not in (None, "openvswitch"):
            report.warning(pg, "vlan-unsupported",
                           f"{describe(pg)}: a <vlan> needs an Open vSwitch port, not {pg_vport.get('type')}")
        elif pg.find("vlan") is not None and not vlan_ok and (pg_vport is None or mode != "bridge"):
            report.warning(pg.find("vlan"), "vlan-unsupported",
                           f"{describe(pg)}: libvirt {show(report.libvirt)} applies <vlan> only on "
                           f"{where_ok}")
    vlan = root.find("vlan")
    if vlan is not None and not vlan_ok and default is None:
        report.warning(vlan, "vlan-unsupported",
                       f"<vlan> on a {mode} network: libvirt {show(report.libvirt)} applies it only "
                       f"on {where_ok}")
