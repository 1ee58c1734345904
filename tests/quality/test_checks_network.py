"""Semantic checks of a <network> at their edges, each refusal beside its accepted twin.

NAT address and port ranges (one address or port is a range), bandwidth rates (peak and burst
need an average, a floor does not stand in for one), <ip> prefixes at 0 and at the family's
width, the classful default prefix, route gateways per family, SRV service names at dnsmasq's
length limit. Each case pins the findings exactly: line, severity, code, message.
"""

from __future__ import annotations

import pytest
from lxml import etree

from xmltools import checks

NAT_IP = "<ip address='192.168.60.1' prefix='24'/>"


def _network(body: str) -> list[tuple[int, str, str, str]]:
    """Findings of a network whose body starts on line 3."""
    report = checks.Report()
    checks.check_network(etree.fromstring(f"<network>\n<name>n</name>\n{body}\n</network>"), report)
    return [(i.line, i.severity, i.code, i.message) for i in report.issues]


def _nat(nat: str) -> list[tuple[int, str, str, str]]:
    return _network(f"<forward mode='nat'>\n<nat>\n{nat}\n</nat>\n</forward>\n{NAT_IP}")


# --------------------------------------------------------------------------- NAT


@pytest.mark.parametrize("start,end,found", [
    ("203.0.113.10", "203.0.113.20", []),
    ("203.0.113.10", "203.0.113.10", []),       # one address
    ("203.0.113.11", "203.0.113.10", [(5, "error", "nat-range-reversed",
                                       "<address start='203.0.113.11' end='203.0.113.10'>: start is after "
                                       "end")]),
    ("2001:db8::1", "2001:db8::2", [(5, "error", "ip-invalid",
                                     "<address start='2001:db8::1' end='2001:db8::2'>: start and end must be "
                                     "IPv4 addresses")]),
    ("203.0.113.10", "2001:db8::2", [(5, "error", "ip-invalid",
                                      "<address start='203.0.113.10' end='2001:db8::2'>: start and end "
                                      "must be "
                                      "IPv4 addresses")]),
    ("2001:db8::1", "203.0.113.10", [(5, "error", "ip-invalid",
                                      "<address start='2001:db8::1' end='203.0.113.10'>: start and end "
                                      "must be "
                                      "IPv4 addresses")]),
    ("203.0.113.x", "203.0.113.10", [(5, "error", "ip-invalid",
                                      "<address start='203.0.113.x' end='203.0.113.10'>: start and end "
                                      "must be "
                                      "IPv4 addresses")]),
])
def test_nat_address_range(start, end, found):
    assert _nat(f"<address start='{start}' end='{end}'/>") == found


def test_a_nat_address_range_needs_both_ends():
    assert [f[2] for f in _nat("<address start='203.0.113.10'/>")] == ["ip-invalid"]
    assert [f[2] for f in _nat("<address end='203.0.113.10'/>")] == ["ip-invalid"]


@pytest.mark.parametrize("start,end,found", [
    ("1024", "65535", []),
    ("1024", "1024", []),                        # one port
    ("1025", "1024", [(5, "error", "nat-range-reversed", "<port start='1025' end='1024'>: start is after "
                                                         "end")]),
    ("1025", None, []),
    (None, "1024", []),
    ("x", "1024", []),                           # not a number: the schema's business
])
def test_nat_port_range(start, end, found):
    attrs = "".join(f" {k}='{v}'" for k, v in (("start", start), ("end", end)) if v is not None)
    assert _nat(f"<port{attrs}/>") == found


def test_nat_outside_nat_mode_is_refused_and_still_checked():
    body = ("<forward mode='route'>\n<nat>\n<port start='2' end='1'/>\n</nat>\n</forward>\n" + NAT_IP)
    assert _network(body) == [
        (4, "error", "nat-wrong-mode", "<forward mode='route'>: <nat> is only meaningful with mode='nat'"),
        (5, "error", "nat-range-reversed", "<port start='2' end='1'>: start is after end")]


# --------------------------------------------------------------------------- bandwidth


def _interface_bandwidth(kind: str, rate: str) -> list[tuple[int, str, str, str]]:
    report = checks.Report()
    checks.check_interface(etree.fromstring(f"<interface type='{kind}'><source network='n'/>\n<bandwidth>\n"
                                            f"{rate}\n</bandwidth></interface>"), report)
    return [(i.line, i.severity, i.code, i.message) for i in report.issues]


PEAK_BURST = "<interface type='network'>: <inbound> peak and burst need an average"


@pytest.mark.parametrize("rate,found", [
    ("<inbound floor='5'/>", []),
    ("<inbound average='10' floor='5' peak='20' burst='5'/>", []),
    ("<inbound floor='5' peak='20'/>", [(3, "error", "bandwidth-rate", PEAK_BURST)]),
    ("<inbound floor='5' burst='20'/>", [(3, "error", "bandwidth-rate", PEAK_BURST)]),
    ("<inbound floor='5' peak='20' burst='5'/>", [(3, "error", "bandwidth-rate", PEAK_BURST)]),
    ("<inbound/>", [(3, "error", "bandwidth-rate", "<interface type='network'>: <inbound> needs an average "
                                                   "or a "
                                                   "floor")]),
])
def test_peak_and_burst_need_an_average_even_beside_a_floor(rate, found):
    assert _interface_bandwidth("network", rate) == found


@pytest.mark.parametrize("rate,found", [
    ("<outbound average='10' floor='5'/>", [(3, "error", "bandwidth-floor",
                                             "<interface type='network'>: floor is only allowed on the "
                                             "<inbound> "
                                             "of a type='network' interface")]),
    ("<outbound floor='5'/>", [(3, "error", "bandwidth-floor",
                                "<interface type='network'>: floor is only allowed on the <inbound> of a "
                                "type='network' interface")]),
    ("<outbound average='10'/>", []),
])
def test_a_floor_is_never_on_the_outbound(rate, found):
    assert _interface_bandwidth("network", rate) == found


def test_rates_are_only_inbound_and_outbound():
    assert _interface_bandwidth("network", "<inbound average='1'/><sideways peak='1'/>") == []


@pytest.mark.parametrize("attrs,found", [
    ("", []),
    (" classID='3'", [(4, "error", "bandwidth-class", "network: classID is set by libvirt, not in a "
                                                      "definition")]),
])
def test_the_class_id_is_libvirts_own(attrs, found):
    body = (f"<forward mode='bridge'/><bridge name='br0'/>\n<bandwidth{attrs}><inbound average='10'/>"
            "</bandwidth>")
    assert _network(body) == found


def test_each_rate_of_a_bandwidth_is_checked():
    rates = "<inbound peak='1'/>\n<outbound burst='1'/>"
    assert [(f[0], f[3]) for f in _interface_bandwidth("bridge", rates)] == [
        (3, "<interface type='bridge'>: <inbound> needs an average or a floor"),
        (4, "<interface type='bridge'>: <outbound> needs an average or a floor")]


# --------------------------------------------------------------------------- <ip>


@pytest.mark.parametrize("ip,found", [
    ("address='192.168.60.1' prefix='0'", []),
    ("address='192.168.60.1' prefix='32'", []),
    ("address='192.168.60.1' prefix='33'", ["prefix '33' must be 0 to 32"]),
    ("address='192.168.60.1' prefix='-1'", ["prefix '-1' must be 0 to 32"]),
    ("address='192.168.60.1' prefix='x'", ["prefix 'x' must be 0 to 32"]),
    ("address='fd00::1' prefix='128'", []),
    ("address='fd00::1' prefix='0'", []),
    ("address='fd00::1' prefix='129'", ["prefix '129' must be 0 to 128"]),
    ("address='fd00::1' prefix='-1'", ["prefix '-1' must be 0 to 128"]),
])
def test_a_prefix_runs_from_zero_to_the_address_width(ip, found):
    assert [f[3].split(">: ")[1] for f in _network(f"<ip {ip}/>")] == found


@pytest.mark.parametrize("ip,family,ok", [
    ("192.168.60.1", "ipv4", True), ("192.168.60.1", "ipv6", False),
    ("fd00::1", "ipv6", True), ("fd00::1", "ipv4", False), ("fd00::1", "inet6", False),
])
def test_the_family_matches_the_address(ip, family, ok):
    found = _network(f"<ip family='{family}' address='{ip}' prefix='24'/>")
    version = 6 if ":" in ip else 4
    assert found == ([] if ok else [(3, "error", "ip-family", f"<ip address='{ip}'>: "
                                                             f"family='{family}' does not match an "
                                                             f"IPv{version} "
                                                             "address")])


def test_a_refused_ip_is_not_a_subnet_for_routes_or_dhcp():
    body = ("<ip family='ipv6' address='192.168.60.1' prefix='24'><dhcp><range start='192.168.60.0' "
            "end='192.168.60.0'/></dhcp></ip>\n"
            "<route address='10.9.0.0' prefix='16' gateway='192.168.60.2'/>")
    assert [f[2] for f in _network(body)] == ["ip-family", "route-gateway-unreachable"]


@pytest.mark.parametrize("netmask,prefix_text,found", [
    ("255.255.255.0", None, []),
    ("255.255.255.0", "24", ["ip-netmask-and-prefix"]),
    ("255.255.0.255", "24", ["ip-netmask-and-prefix", "ip-netmask-invalid"]),
])
def test_netmask_and_prefix_together_are_refused_and_the_netmask_still_judged(netmask, prefix_text, found):
    attrs = f" netmask='{netmask}'" + (f" prefix='{prefix_text}'" if prefix_text else "")
    assert [f[2] for f in _network(f"<ip address='192.168.60.1'{attrs}/>")] == found


@pytest.mark.parametrize("address,gateway_ok,gateway_outside", [
    # classful defaults: 10.x a /8, 172.16.x a /16, 192.168.x a /24
    ("10.1.2.3", "10.200.0.1", "11.0.0.1"),
    ("127.1.2.3", "127.200.0.1", "128.0.0.1"),
    ("128.1.2.3", "128.1.200.1", "128.2.0.1"),
    ("191.1.2.3", "191.1.200.1", "191.2.0.1"),
    ("192.168.60.1", "192.168.60.200", "192.168.61.1"),
    ("223.1.2.3", "223.1.2.200", "223.1.3.1"),
])
def test_the_classful_default_prefix_sets_the_subnet(address, gateway_ok, gateway_outside):
    def route(gw):
        return f"<ip address='{address}'/>\n<route address='10.250.0.0' prefix='16' gateway='{gw}'/>"
    assert _network(route(gateway_ok)) == []
    assert [f[2] for f in _network(route(gateway_outside))] == ["route-gateway-unreachable"]


@pytest.mark.parametrize("address", ["224.0.0.1", "240.0.0.1"])
def test_class_d_and_e_have_no_default_prefix(address):
    assert _network(f"<ip address='{address}'/>") == [
        (3, "error", "ip-prefix-missing", f"<ip address='{address}'>: give a prefix or netmask; {address} "
                                          "has no "
                                          "classful default")]


def test_an_ipv6_address_without_a_prefix_is_a_64():
    body = "<ip address='fd00::1'/>\n<route address='fd01::' prefix='64' gateway='fd00::ffff:1'/>"
    assert _network(body) == []
    for outside in ("fd00:0:0:1::1", "fd00:0:0:ffff::1"):
        body = f"<ip address='fd00::1'/>\n<route address='fd01::' prefix='64' gateway='{outside}'/>"
        assert [f[2] for f in _network(body)] == ["route-gateway-unreachable"]
    # the upper half of the /64: inside it, outside a /65
    body = "<ip address='fd00::1'/>\n<route address='fd01::' prefix='64' gateway='fd00::8000:0:0:1'/>"
    assert _network(body) == []


@pytest.mark.parametrize("address,found", [
    ("192.168.60.1", []),
    ("fd00::1", [(4, "error", "tftp-ipv6", "<ip address='fd00::1'>: <tftp> is only supported on an IPv4 "
                                           "<ip>")]),
])
def test_tftp_only_on_ipv4(address, found):
    assert _network(f"<ip address='{address}' prefix='24'>\n<tftp root='/srv/tftp'/></ip>") == found


# --------------------------------------------------------------------------- routes


@pytest.mark.parametrize("gateway,ok", [
    ("192.168.60.254", True), ("192.168.61.1", False),
    ("fd00::9", True), ("fd01::9", False),
    ("::ffff:c0a8:3c09", False),     # 192.168.60.9 mapped into IPv6 is not in the IPv4 subnet
])
def test_a_route_gateway_is_inside_a_subnet_of_its_own_family(gateway, ok):
    body = (f"{NAT_IP}\n<ip family='ipv6' address='fd00::1' prefix='64'/>\n"
            f"<route address='10.9.0.0' prefix='16' gateway='{gateway}'/>")
    expected = [] if ok else [(5, "error", "route-gateway-unreachable",
                               f"<route address='10.9.0.0'>: gateway {gateway} is not inside any <ip> "
                               "subnet of "
                               "the network")]
    assert _network(body) == expected


@pytest.mark.parametrize("route", ["<route address='10.9.0.0' prefix='16'/>",
                                   "<route gateway='192.168.60.9' prefix='16'/>",
                                   "<route address='10.9.0.x' gateway='192.168.60.9'/>"])
def test_a_route_needs_an_address_and_a_gateway(route):
    assert [f[2:] for f in _network(f"{NAT_IP}\n{route}")] == [
        ("ip-invalid", f"{checks.describe(etree.fromstring(route))}: address and gateway must be IP "
                       "addresses")]


def test_each_route_is_checked():
    body = (f"{NAT_IP}\n<route address='10.9.0.0' prefix='16' gateway='10.0.0.1'/>\n"
            "<route address='10.8.0.0' prefix='16' gateway='10.0.0.2'/>")
    assert [f[0] for f in _network(body)] == [4, 5]


# --------------------------------------------------------------------------- DNS


def _dns(records: str, attrs: str = "") -> list[tuple[int, str, str, str]]:
    return _network(f"<forward mode='nat'/>{NAT_IP}<dns{attrs}>\n{records}\n</dns>")


@pytest.mark.parametrize("length,ok", [(482, True), (483, False)])
def test_an_srv_service_name_is_at_most_482_bytes(length, ok):
    service = "a" * length
    found = _dns(f"<srv service='{service}' protocol='tcp'/>")
    assert found == ([] if ok else [(4, "error", "dns-srv",
                                     "<srv>: service is longer than 482 bytes")])


def test_the_srv_length_counts_bytes_not_characters():
    # not an allowed character either: both findings, the length one first
    found = _dns(f"<srv service='{'é' * 242}' protocol='tcp'/>")    # 484 bytes, 242 characters
    assert [f[3][:40] for f in found] == ["<srv>: service is longer than 482 bytes",
                                          "<srv>: service '" + "é" * 24]


@pytest.mark.parametrize("service,bad", [
    ("ldap", None), ("_a-b+c/d*E9", None), ("", None),
    ("ldap.tcp", "."), ("a b", " "), ("x.y:z.", ".:"),
])
def test_srv_service_characters(service, bad):
    found = _dns(f"<srv service='{service}' protocol='tcp'/>")
    assert found == ([] if bad is None else [
        (4, "error", "dns-srv", f"<srv>: service {service!r} contains {bad!r}; only letters, digits and "
                                "_-+/* "
                                "are allowed")])


@pytest.mark.parametrize("attrs,found", [
    ("target='ldap.example.com' port='389' priority='1' weight='2'", []),
    ("", []),
    ("port='389'", ["<srv>: port needs a target"]),
    ("priority='1'", ["<srv>: priority needs a target"]),
    ("weight='2'", ["<srv>: weight needs a target"]),
    ("priority='1' weight='2'", ["<srv>: priority needs a target"]),     # said once per <srv>
])
def test_srv_port_priority_and_weight_need_a_target(attrs, found):
    assert [f[3] for f in _dns(f"<srv service='ldap' protocol='tcp' {attrs}/>")] == found


@pytest.mark.parametrize("forwarder,found", [
    ("<forwarder addr='192.0.2.53'/>", []),
    ("<forwarder domain='example.com'/>", []),
    ("<forwarder domain='example.com' addr='192.0.2.53'/>", []),
    ("<forwarder/>", [(4, "error", "dns-forwarder-empty", "<forwarder> needs an addr, a domain or both")]),
    ("<forwarder addr='192.0.2.x'/>", [(4, "error", "ip-invalid", "<forwarder>: addr is not an IP address")]),
    ("<forwarder domain='example.com' addr='x'/>", [(4, "error", "ip-invalid",
                                                     "<forwarder>: addr is not an IP address")]),
])
def test_a_forwarder_needs_an_address_or_a_domain(forwarder, found):
    assert _dns(forwarder) == found


@pytest.mark.parametrize("host,found", [
    ("<host ip='192.168.60.9'><hostname>a</hostname></host>", []),
    ("<host ip='192.168.60.x'><hostname>a</hostname></host>",
     [(4, "error", "ip-invalid", "<host ip='192.168.60.x'>: ip is not an IP address")]),
    ("<host><hostname>a</hostname></host>", [(4, "error", "ip-invalid", "<host>: ip is not an IP address")]),
])
def test_a_dns_host_has_an_ip(host, found):
    assert _dns(host) == found


@pytest.mark.parametrize("attrs,records,found", [
    (" enable='no'", "", []),
    (" enable='no'", "<forwarder domain='example.com'/>", ["dns-disabled-extra"]),
    (" enable='no'", "<txt name='a' value='b'/>", ["dns-disabled-extra"]),
    (" enable='yes'", "<txt name='a' value='b'/>", []),
    ("", "<txt name='a' value='b'/>", []),
])
def test_a_disabled_dns_server_carries_no_records(attrs, records, found):
    assert [f[2] for f in _dns(records, attrs)] == found


def test_a_disabled_dns_server_names_its_first_record():
    found = _dns("<txt name='a' value='b'/>\n<srv service='ldap' protocol='tcp'/>", " enable='no'")
    assert found == [(4, "error", "dns-disabled-extra",
                      "<dns enable='no'> cannot also carry <txt name='a'>: the DNS server is off")]


# --------------------------------------------------------------------------- versions, forward dev


@pytest.mark.parametrize("libvirt,found", [
    ((9, 6, 0), [(3, "error", "needs-libvirt",
                  "<title> of a network needs libvirt 9.7.0 or newer; the target is libvirt 9.6.0")]),
    ((9, 7, 0), []),
])
def test_a_network_feature_is_judged_against_the_target_libvirt(libvirt, found):
    report = checks.Report(libvirt=libvirt)
    checks.check_network(etree.fromstring("<network>\n<name>n</name>\n<title>t</title>\n</network>"), report)
    assert [(i.line, i.severity, i.code, i.message) for i in report.issues] == found


@pytest.mark.parametrize("dev,found", [
    ("up0", []),
    ("eth 0", [(3, "error", "device-name", "<forward mode='passthrough' dev='eth 0'>: forward dev 'eth 0' "
                                           "is not a valid Linux interface name: contains ' ', which is not "
                                           "allowed")]),
])
def test_the_forward_dev_is_a_linux_interface_name(dev, found):
    assert _network(f"<forward mode='passthrough' dev='{dev}'/>") == found


@pytest.mark.parametrize("uplinks,found", [
    # an uplink without dev is the schema's finding; it is no duplicate of another without one
    ("<interface/>\n<interface/>", []),
    ("<interface dev='up0'/>\n<interface/>", []),
    ("<interface/>\n<interface dev='up0'/>\n<interface dev='up0'/>",     # and the next ones are compared
     [(6, "error", "uplink-duplicate",
       "<interface dev='up0'>: uplink up0 is listed twice (first on line 5)")]),
    ("<interface dev='up0'/>\n<interface dev='up0'/>",
     [(5, "error", "uplink-duplicate",
       "<interface dev='up0'>: uplink up0 is listed twice (first on line 4)")]),
])
def test_only_uplinks_that_name_a_device_can_be_duplicates(uplinks, found):
    assert _network(f"<forward mode='vepa'>\n{uplinks}\n</forward>") == found


@pytest.mark.parametrize("record", ["<forwarder addr='192.0.2.53'/>",
                                    "<host ip='192.168.60.9'><hostname>a</hostname></host>",
                                    "<srv service='ldap' protocol='tcp'/>", "<txt name='a' value='b'/>"])
@pytest.mark.parametrize("enable,refused", [("no", True), ("yes", False)])
def test_each_kind_of_dns_record_alone_needs_the_server(record, enable, refused):
    found = _dns(record, f" enable='{enable}'")
    first = checks.describe(etree.fromstring(record))
    expected = [(4, "error", "dns-disabled-extra",
                 f"<dns enable='no'> cannot also carry {first}: the DNS server is off")]
    assert found == (expected if refused else [])


# --------------------------------------------------------------------------- routes, lines


def test_a_route_that_is_not_addresses_is_found_on_its_line_and_the_next_route_still_checked():
    body = (f"{NAT_IP}\n<route address='10.9.0.x' gateway='192.168.60.9'/>\n"
            "<route address='10.8.0.0' prefix='16' gateway='10.0.0.2'/>")
    assert _network(body) == [
        (4, "error", "ip-invalid", "<route address='10.9.0.x'>: address and gateway must be IP addresses"),
        (5, "error", "route-gateway-unreachable",
         "<route address='10.8.0.0'>: gateway 10.0.0.2 is not inside any <ip> subnet of the network")]


# --------------------------------------------------------------------------- portgroups


@pytest.mark.parametrize("portgroups,found", [
    # a portgroup without a name is the schema's finding; it is no duplicate of another
    ("<portgroup/>\n<portgroup/>", []),
    ("<portgroup name='XXXX'/>\n<portgroup/>", []),
    ("<portgroup name='web'/>\n<portgroup name='web'/>",
     [(5, "error", "portgroup-duplicate",
       "<portgroup name='web'>: a portgroup of that name is already on line 4")]),
])
def test_only_portgroups_with_a_name_can_be_duplicates(portgroups, found):
    assert _network(f"<forward mode='bridge'/><bridge name='br0'/>\n{portgroups}") == found


@pytest.mark.parametrize("libvirt,where", [
    ((10, 10, 0), "Open vSwitch bridges, hostdev and passthrough networks (Linux bridges from libvirt 11.0)"),
    ((11, 0, 0), "Open vSwitch and Linux bridge networks (forward mode='bridge'), hostdev and passthrough "
                 "networks"),
])
def test_where_libvirt_applies_a_vlan_changes_at_11_0(libvirt, where):
    report = checks.Report(libvirt=libvirt)
    checks.check_network(etree.fromstring(f"<network>\n<name>n</name>\n<forward mode='nat'/>{NAT_IP}\n"
                                          "<vlan><tag id='10'/></vlan>\n</network>"), report)
    version = ".".join(map(str, libvirt))
    assert [(i.line, i.code, i.message) for i in report.issues] == [
        (4, "vlan-unsupported", f"<vlan> on a nat network: libvirt {version} applies it only on {where}")]


def test_each_srv_without_a_target_is_reported():
    found = _dns("<srv service='ldap' protocol='tcp' port='389'/>\n"
                 "<srv service='kdc' protocol='udp' weight='1'/>")
    assert found == [(4, "error", "dns-srv", "<srv>: port needs a target"),
                     (5, "error", "dns-srv", "<srv>: weight needs a target")]
