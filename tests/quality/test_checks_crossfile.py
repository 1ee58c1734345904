"""Port forwards in the metadata and the checks across the files of a lint run, to the exact
finding: one document's forwards (grammar, a host port claimed twice, a forward on an interface
that is not on a libvirt network, the guest address), the facts each file brings to the run, and
the run's findings (two domains forwarding one host port, the guest address against the network's
subnets, its own address and its static DHCP hosts; the network and portgroup an interface names).
Each refusal stands beside its accepted twin.
"""

from __future__ import annotations

import ipaddress

import pytest
from lxml import etree

from xmltools import checks
from xmltools.checks.crossfile import CrossIndex, HostScope, NetworkFacts, network_facts, network_ports
from xmltools.checks.forwards import (
    ForwardFact,
    NetworkAddresses,
    check_forwards,
    forward_facts,
    network_addresses,
)
from xmltools.errors import UsageError
from xmltools.metadata import NS, ForwardWish
from xmltools.versions import BASELINE, NEWEST

# hex letters in each, so that a MAC in capitals differs from it
MAC1 = "52:54:00:5a:00:01"
MAC2 = "52:54:00:5b:00:02"
MAC3 = "52:54:00:5c:00:03"


def _domain(name: str, nics: list[tuple[str, str, str]], entries: list[str]) -> etree._Element:
    """A domain whose metadata entries start on line 5, one string per line; ``nics`` are
    (type, MAC, source attributes), one line each after the metadata."""
    head = ["<domain type='kvm'>", f"<name>{name}</name>", "<metadata>", f"<vnx:netxml xmlns:vnx='{NS}'>"]
    devices = [f"<interface type='{kind}'><mac address='{mac}'/><source {source}/></interface>"
               for kind, mac, source in nics]
    tail = ["</vnx:netxml>", "</metadata>", "<devices>", *devices, "</devices>", "</domain>"]
    return etree.fromstring("\n".join([*head, *entries, *tail]))


def _entry(mac: str, *children: str) -> list[str]:
    return [f"<vnx:interface mac='{mac}'>", *children, "</vnx:interface>"]


def _fwd(proto: str, host: str, guest: str, extra: str = "") -> str:
    return f"<vnx:forward proto='{proto}' host-port='{host}' guest-port='{guest}'{extra}/>"


def _found(root: etree._Element, kind: str = "domain") -> list[tuple[int, str, str, str]]:
    report = checks.Report()
    check_forwards(root, kind, report)
    return [(i.line, i.severity, i.code, i.message) for i in report.issues]


# --------------------------------------------------------------------------- one document


def test_a_host_port_claimed_twice_in_one_domain_names_the_first_claim():
    root = _domain("d", [("network", MAC1, "network='n'")], _entry(
        MAC1,
        _fwd("tcp", "2222", "22"),                  # line 6
        _fwd("tcp", "2220-2222", "20-22"),          # overlaps line 6 at its top
        _fwd("udp", "2222", "22"),                  # another protocol: no clash
        _fwd("tcp", "2223", "23"),                  # the next port: no clash
        _fwd("tcp", "2221", "21")))                 # inside line 7's range: line 6 is not in it
    assert _found(root) == [
        (7, "error", "forward-duplicate",
         "<vnx:forward>: host port tcp 2220-2222 is forwarded already on line 6"),
        (10, "error", "forward-duplicate",
         "<vnx:forward>: host port tcp 2221 is forwarded already on line 7")]


def test_one_host_port_on_two_host_addresses_is_no_clash_but_on_every_address_it_is():
    root = _domain("d", [("network", MAC1, "network='n'")], _entry(
        MAC1,
        _fwd("tcp", "80", "80", " host-address='192.0.2.1'"),
        _fwd("tcp", "80", "8080", " host-address='192.0.2.2'"),
        _fwd("tcp", "80", "8081")))
    assert _found(root) == [(8, "error", "forward-duplicate",
                             "<vnx:forward>: host port tcp 80 is forwarded already on line 6")]


@pytest.mark.parametrize("host,guest,message", [
    ("0", "22", "invalid forward host-port '0': ports are 1 to 65535"),
    ("65536", "22", "invalid forward host-port '65536': ports are 1 to 65535"),
    ("2222", "0", "invalid forward guest-port '0': ports are 1 to 65535"),
    ("10-12", "10-11", "invalid forward 'host-port=10-12 guest-port=10-11': the host and guest port ranges "
                       "must have the same length"),
])
def test_a_forward_the_hooks_refuse_is_an_error_with_their_reason(host, guest, message):
    root = _domain("d", [("network", MAC1, "network='n'")], _entry(MAC1, _fwd("tcp", host, guest)))
    assert _found(root) == [(6, "error", "meta-forward", f"<vnx:forward>: {message}")]


@pytest.mark.parametrize("host,guest", [("1", "1"), ("65535", "65535"), ("10-12", "20-22")])
def test_a_forward_at_the_edges_of_the_port_range_is_accepted(host, guest):
    root = _domain("d", [("network", MAC1, "network='n'")], _entry(MAC1, _fwd("tcp", host, guest)))
    assert _found(root) == []


def test_a_refused_forward_claims_no_port():
    root = _domain("d", [("network", MAC1, "network='n'")], _entry(
        MAC1, _fwd("tcp", "2222", "22-23"), _fwd("tcp", "2222", "22")))
    assert [code for _, _, code, _ in _found(root)] == ["meta-forward"]


def test_a_forward_on_an_interface_not_on_a_libvirt_network_is_refused():
    root = _domain("d", [("network", MAC1, "network='n'"), ("bridge", MAC2.upper(), "bridge='br0'")],
                   _entry(MAC1, _fwd("tcp", "2222", "22")) + _entry(MAC2, _fwd("tcp", "2223", "22"))
                   + _entry(MAC3.upper(), _fwd("tcp", "2224", "22")))
    assert _found(root) == [
        (9, "error", "forward-not-nat",
         "<vnx:forward>: the hooks forward host ports to guests on a libvirt NAT network; this interface is "
         "type='bridge'")]


def test_a_forward_entry_matches_its_interface_whatever_the_case_of_the_mac():
    root = _domain("d", [("bridge", MAC2, "bridge='br0'")], _entry(MAC2.upper(), _fwd("tcp", "2223", "22")))
    assert [code for _, _, code, _ in _found(root)] == ["forward-not-nat"]


def test_a_forward_in_a_network_document_is_matched_to_no_interface():
    # A network has no interfaces of its own: what a network's metadata holds is checked there
    # for its grammar alone (the per-interface wish itself is check_metadata's meta-wrong-kind).
    root = etree.fromstring(
        f"<network>\n<name>n</name>\n<metadata>\n<vnx:netxml xmlns:vnx='{NS}'>\n"
        f"<vnx:interface mac='{MAC2}'>\n{_fwd('tcp', '2223', '22')}\n<vnx:ip address='300.1.1.1'/>\n"
        "</vnx:interface>\n</vnx:netxml>\n</metadata>\n"
        f"<devices><interface type='bridge'><mac address='{MAC2}'/></interface></devices>\n</network>")
    assert _found(root, "network") == []
    assert [code for _, _, code, _ in _found(root, "domain")] == ["forward-not-nat", "meta-forward"]


@pytest.mark.parametrize("address,found", [
    ("192.168.150.11", []),
    (" 192.168.150.11 ", []),
    ("192.168.150.256", [(6, "error", "meta-forward",
                          "<vnx:ip address='192.168.150.256'>: invalid guest address '192.168.150.256': "
                          "expected an IPv4 address, e.g. 192.0.2.10")]),
    ("fd00::11", [(6, "error", "meta-forward",
                   "<vnx:ip address='fd00::11'>: invalid guest address 'fd00::11': expected an IPv4 address, "
                   "e.g. 192.0.2.10")]),
])
def test_the_guest_address_is_an_ipv4_address(address, found):
    root = _domain("d", [("network", MAC1, "network='n'")], _entry(MAC1, f"<vnx:ip address='{address}'/>"))
    assert _found(root) == found


def test_a_guest_address_without_a_value_is_refused():
    root = _domain("d", [("network", MAC1, "network='n'")], _entry(MAC1, "<vnx:ip/>"))
    assert _found(root) == [(6, "error", "meta-forward",
                             "<vnx:ip>: invalid guest address '': expected an IPv4 address, e.g. 192.0.2.10")]


def test_a_domain_without_the_projects_metadata_has_no_forwards():
    root = etree.fromstring(f"<domain><name>d</name><vnx:interface xmlns:vnx='{NS}' mac='{MAC1}'>"
                            f"{_fwd('tcp', '0', '0')}<vnx:ip address='x'/></vnx:interface></domain>")
    assert _found(root) == []
    assert forward_facts(root, "d.xml") == []


# --------------------------------------------------------------------------- facts of a file


def test_the_facts_of_a_domains_forwards():
    root = _domain(" vm ", [("network", MAC1.upper(), "network='natnet'"), ("bridge", MAC2, "bridge='br0'")],
                   _entry(MAC1, _fwd("tcp", "2222", "22"), "<vnx:ip address='192.168.150.11'/>")
                   + _entry(MAC2.upper(), _fwd("udp", "53", "53", " host-address='192.0.2.1'"),
                            _fwd("udp", "0", "53"))
                   + _entry(MAC3, _fwd("tcp", "8000-8001", "80-81", " source='198.51.100.0/24'")))
    tcp = ForwardWish("tcp", (2222, 2222), (22, 22))
    udp = ForwardWish("udp", (53, 53), (53, 53), "192.0.2.1")
    web = ForwardWish("tcp", (8000, 8001), (80, 81), None, "198.51.100.0/24")
    assert forward_facts(root, "vm.xml") == [
        ForwardFact("vm.xml", 6, f"<vnx:forward> tcp:2222:22 of {MAC1}", "vm", MAC1, "natnet",
                    "192.168.150.11", tcp),
        ForwardFact("vm.xml", 10, f"<vnx:forward> udp:192.0.2.1:53:53 of {MAC2}", "vm", MAC2, None, None,
                    udp),
        ForwardFact("vm.xml", 14, f"<vnx:forward> tcp:8000-8001:80-81,source=198.51.100.0/24 of {MAC3}", "vm",
                    MAC3, None, None, web)]


def test_a_domain_built_in_memory_places_its_forwards_on_line_1():
    root = etree.Element("domain")
    meta = etree.SubElement(etree.SubElement(root, "metadata"), f"{{{NS}}}netxml")
    entry = etree.SubElement(meta, f"{{{NS}}}interface", mac=MAC1)
    etree.SubElement(entry, f"{{{NS}}}forward", {"proto": "tcp", "host-port": "22", "guest-port": "22"})
    assert [fact.line for fact in forward_facts(root, "d.xml")] == [1]


def test_a_network_interface_without_a_source_forwards_to_no_network():
    root = etree.fromstring(
        f"<domain><metadata><vnx:netxml xmlns:vnx='{NS}'><vnx:interface mac='{MAC1}'>"
        f"{_fwd('tcp', '22', '22')}</vnx:interface></vnx:netxml></metadata><devices>"
        f"<interface type='network'><mac address='{MAC1}'/></interface></devices></domain>")
    [fact] = forward_facts(root, "d.xml")
    assert (fact.domain, fact.network, fact.line) == ("", None, 1)


def _net(body: str) -> etree._Element:
    """A network whose root is on line 2 and whose body starts on line 4."""
    return etree.fromstring(f"<!-- a network -->\n<network>\n<name>n</name>\n{body}\n</network>")


def test_a_networks_addresses_ipv4_only_with_their_static_dhcp_hosts():
    root = _net("<forward/>\n"
                "<ip address='192.168.5.1' netmask='255.255.255.128'><dhcp>"
                f"<host mac='{MAC1.upper()}' ip='192.168.5.11'/><host mac='{MAC2}'/><host ip='192.168.5.13'/>"
                "</dhcp></ip>\n"
                "<ip family='ipv6' address='fd00::1' prefix='64'/>\n"
                "<ip family='ipv6' address='10.6.0.1' prefix='24'/>\n"      # the family decides
                f"<ip address='fd01::1' prefix='64'><dhcp><host mac='{MAC3}' ip='fd01::3'/></dhcp></ip>\n"
                f"<ip address='10.7.0.1' prefix='33'><dhcp><host mac='{MAC2}' ip='10.7.0.2'/></dhcp></ip>\n"
                "<ip address='10.9.0.1' prefix='30'/>\n"
                "<ip address='10.8.0.1'/>")
    assert network_addresses(root, "n.xml") == NetworkAddresses(
        "n.xml", 2, "nat",
        (ipaddress.IPv4Network("192.168.5.0/25"), ipaddress.IPv4Network("10.9.0.0/30"),
         ipaddress.IPv4Network("10.8.0.0/24")),
        {MAC1.lower(): "192.168.5.11"},
        frozenset({"192.168.5.1", "fd00::1", "10.6.0.1", "fd01::1", "10.9.0.1", "10.8.0.1", "10.7.0.1"}))


def test_a_network_built_in_memory_is_placed_on_line_1():
    root = etree.Element("network")
    etree.SubElement(root, "name").text = "n"
    assert network_addresses(root, "n.xml").line == 1
    facts = network_facts(root, "n.xml")
    assert facts is not None and facts.line == 1


@pytest.mark.parametrize("forward,mode", [
    ("", "none"), ("<forward/>", "nat"), ("<forward mode='nat'/>", "nat"),
    ("<forward mode='route'/>", "route")])
def test_a_networks_forward_mode(forward, mode):
    assert network_addresses(_net(forward), "n.xml").mode == mode
    facts = network_facts(_net(forward), "n.xml")
    assert facts is not None and facts.mode == mode


def test_the_facts_of_a_network_file():
    root = _net("<forward mode='bridge'/>\n<bridge name='ovsbr0'/>\n<virtualport type='openvswitch'/>\n"
                "<portgroup name='a'/>\n"
                "<portgroup name='b' default='no'><virtualport type='802.1Qbh'/></portgroup>\n"
                "<portgroup default='yes'/>\n"
                "<portgroup name='c' default='yes'/>\n"
                "<portgroup name='a' default='yes'><virtualport type='openvswitch'/></portgroup>\n"
                "<portgroup name='d' default='yes'/>")
    assert network_facts(root, "n.xml") == NetworkFacts(
        path="n.xml", line=2, mode="bridge", has_bridge=True, virtualport="openvswitch",
        portgroups={"a": None, "b": "802.1Qbh", "c": None, "d": None}, default_portgroup="c")


@pytest.mark.parametrize("bridge,has", [("<bridge name='br0'/>", True), ("<bridge/>", False),
                                        ("<bridge name=''/>", False), ("", False)])
def test_a_network_has_a_bridge_only_with_a_bridge_name(bridge, has):
    facts = network_facts(_net(bridge), "n.xml")
    assert facts is not None
    assert (facts.has_bridge, facts.virtualport, facts.default_portgroup) == (has, None, None)


@pytest.mark.parametrize("name", ["", "<name/>", "<name>  </name>"])
def test_a_network_without_a_name_has_no_facts(name):
    assert network_facts(etree.fromstring(f"<network>{name}<forward/></network>"), "n.xml") is None


def test_the_ports_a_domain_asks_of_its_networks():
    meta = (_entry(MAC1.upper(), "<vnx:vlan tag='10'/>")
            + _entry(MAC2, "<vnx:vlan tag='20'/>", "<vnx:vf pf='up0' index='1'/>")
            + _entry(MAC3, "<vnx:tap/>") + _entry(MAC1, "<vnx:vlan tag='30'/>"))
    root = etree.fromstring("\n".join([
        "<domain>", "<name>d</name>", "<metadata>", f"<vnx:netxml xmlns:vnx='{NS}'>", *meta, "</vnx:netxml>",
        "</metadata>", "<devices>",
        f"<interface type='network'><mac address='{MAC1}'/><source network='a' portgroup='pg'/>"
        "<virtualport type='openvswitch'/><vlan><tag id='5'/></vlan></interface>",
        f"<interface type='network'><mac address='{MAC2}'/><source network='b'/><vlan/></interface>",
        f"<interface type='network'><mac address='{MAC3}'/><source network='c'/></interface>",
        "<interface type='network'><source network='d'/></interface>",
        "<interface type='network'><source/></interface>",
        "<interface type='network'/>",
        "<interface type='bridge'><source network='e' bridge='br0'/></interface>",
        "</devices>", "</domain>"]))
    ports = [(p.path, p.line, p.label, p.network, p.portgroup, p.virtualport, p.vlan, p.meta_vlan)
             for p in network_ports(root, "d.xml")]
    assert ports == [
        ("d.xml", 21, "<interface type='network'>", "a", "pg", "openvswitch", True, MAC1.upper()),
        ("d.xml", 22, "<interface type='network'>", "b", None, None, False, None),
        ("d.xml", 23, "<interface type='network'>", "c", None, None, False, None),
        ("d.xml", 24, "<interface type='network'>", "d", None, None, False, None)]


def test_interfaces_not_on_a_network_hide_none_after_them_and_an_entry_without_a_mac_names_none():
    root = etree.fromstring(
        f"<domain>\n<metadata><vnx:netxml xmlns:vnx='{NS}'><vnx:interface><vnx:vlan tag='7'/></vnx:interface>"
        "</vnx:netxml></metadata>\n<devices>\n<interface type='bridge'><source bridge='br0'/></interface>\n"
        "<interface type='network'><source/></interface>\n"
        "<interface type='network'><mac address='XXXX'/><source network='n'/></interface>\n</devices>\n"
        "</domain>")
    assert [(p.line, p.network, p.meta_vlan) for p in network_ports(root, "d.xml")] == [(6, "n", None)]


def test_a_network_interface_without_a_mac_address_takes_no_vlan_wish():
    root = etree.fromstring(
        f"<domain><metadata><vnx:netxml xmlns:vnx='{NS}'><vnx:interface mac='XXXX'><vnx:vlan tag='7'/>"
        "</vnx:interface></vnx:netxml></metadata><devices>"
        "<interface type='network'><mac/><source network='n'/></interface></devices></domain>")
    assert [(p.network, p.meta_vlan) for p in network_ports(root, "d.xml")] == [("n", None)]


def test_a_network_interface_built_in_memory_is_placed_on_line_1():
    root = etree.Element("domain")
    iface = etree.SubElement(etree.SubElement(root, "devices"), "interface", type="network")
    etree.SubElement(iface, "source", network="n")
    assert [p.line for p in network_ports(root, "d.xml")] == [1]


# --------------------------------------------------------------------------- across files

NATNET = ("<network>\n<name>natnet</name>\n<forward mode='nat'/>\n<bridge name='virbr5'/>\n"
          "<ip address='192.168.150.1' prefix='24'><dhcp>"
          f"<host mac='{MAC2}' ip='192.168.150.12'/></dhcp></ip>\n"
          "<ip address='10.9.0.1' prefix='30'/>\n</network>")


def _run(files: list[tuple[str, str, str]], libvirt=NEWEST) -> list[tuple[str, int, str, str, str]]:
    """Findings across (path, host, document) files, as lint reads them."""
    index = CrossIndex()
    for path, host, text in files:
        root = etree.fromstring(text)
        index.add(root, etree.QName(root).localname, path, host)
    return [(f.path, f.issue.line, f.issue.severity, f.issue.code, f.issue.message)
            for f in index.findings(libvirt)]


def _guest(name: str, mac: str, spec: tuple[str, str, str], ip: str | None = None, network: str = "natnet",
           kind: str = "network") -> str:
    """A domain with one forward, on line 6."""
    entry = _entry(mac, _fwd(*spec), *([f"<vnx:ip address='{ip}'/>"] if ip else []))
    source = f"network='{network}'" if kind == "network" else "bridge='br0'"
    return etree.tostring(_domain(name, [(kind, mac, source)], entry)).decode()


def _label(mac: str, spec: str) -> str:
    return f"<vnx:forward> {spec} of {mac}"


WHERE = "network 'natnet' (net.xml:1)"


def test_two_domains_forwarding_one_host_port_on_one_host():
    found = _run([("net.xml", "", NATNET),
                  ("a.xml", "", _guest("a", MAC1, ("tcp", "2222", "22"), "192.168.150.11")),
                  ("a2.xml", "", _guest("a", MAC3, ("tcp", "2222", "22"), "192.168.150.13")),  # same domain
                  ("b.xml", "", _guest("b", MAC2, ("tcp", "2221-2222", "21-22"))),  # its DHCP address
                  ("c.xml", "", _guest("c", MAC3, ("tcp", "2223", "22"), "192.168.150.13")),
                  ("d.xml", "", _guest("d", MAC3, ("udp", "2222", "22"), "192.168.150.13"))])
    assert found == [("b.xml", 6, "error", "forward-duplicate",
                      f"{_label(MAC2, 'tcp:2221-2222:21-22')}: host port tcp 2221-2222 is forwarded to "
                      "domain a already (a.xml:6); the hooks refuse the second start")]


def test_one_host_port_on_two_hosts_is_no_duplicate_and_a_host_without_networks_still_has_duplicates():
    found = _run([("h1/net.xml", "h1", NATNET),
                  ("h1/a.xml", "h1", _guest("a", MAC1, ("tcp", "2222", "22"), "192.168.150.11")),
                  ("h2/b.xml", "h2", _guest("b", MAC2, ("tcp", "2222", "22"), "10.0.0.2")),
                  ("h2/c.xml", "h2", _guest("c", MAC3, ("tcp", "2222", "22"), "10.0.0.3"))])
    assert found == [("h2/c.xml", 6, "error", "forward-duplicate",
                      f"{_label(MAC3, 'tcp:2222:22')}: host port tcp 2222 is forwarded to domain b already "
                      "(h2/b.xml:6); the hooks refuse the second start")]


@pytest.mark.parametrize("forward,shown", [("", "isolated"), ("<forward mode='route'/>", "route"),
                                           ("<forward mode='open'/>", "open")])
def test_a_forward_to_a_guest_on_a_network_that_is_not_nat(forward, shown):
    net = f"<network>\n<name>natnet</name>\n{forward}\n<ip address='192.168.150.1' prefix='24'/>\n</network>"
    found = _run([("net.xml", "", net), ("a.xml", "", _guest("a", MAC1, ("tcp", "2222", "22")))])
    assert found == [("a.xml", 6, "error", "forward-not-nat",
                      f"{_label(MAC1, 'tcp:2222:22')}: {WHERE} is {shown}, not NAT; the hooks forward host "
                      "ports only to guests on a NAT network")]


def test_a_forward_to_a_guest_without_an_address():
    found = _run([("net.xml", "", NATNET), ("c.xml", "", _guest("c", MAC3, ("udp", "53", "53")))])
    assert found == [("c.xml", 6, "error", "forward-no-address",
                      f"{_label(MAC3, 'udp:53:53')}: no guest address: the entry has no <vnx:ip> and {WHERE} "
                      f"no static <dhcp><host mac='{MAC3}'>")]


@pytest.mark.parametrize("mac,ip", [(MAC2, None), (MAC2, "192.168.150.12"), (MAC1, "192.168.150.254"),
                                    (MAC1, "10.9.0.2"), (MAC1, "10.9.0.3"), (MAC1, "192.168.150.300")])
def test_a_forward_to_a_guest_address_of_its_own_in_the_subnet_is_clean(mac, ip):
    assert _run([("net.xml", "", NATNET), ("a.xml", "", _guest("a", mac, ("tcp", "2222", "22"), ip))]) == []


@pytest.mark.parametrize("ip,whose", [("192.168.150.12", f"the static DHCP host of {MAC2}"),
                                      ("192.168.150.1", "the network's own address"),
                                      ("10.9.0.1", "the network's own address")])
def test_a_guest_address_that_belongs_to_another_is_refused(ip, whose):
    found = _run([("net.xml", "", NATNET), ("a.xml", "", _guest("a", MAC1, ("tcp", "2222", "22"), ip))])
    assert found == [("a.xml", 6, "error", "forward-address",
                      f"{_label(MAC1, 'tcp:2222:22')}: guest address {ip} is {whose} in {WHERE}, not this "
                      "guest's; the hooks refuse it")]


@pytest.mark.parametrize("ip", ["10.0.0.4", "10.9.0.4", "192.168.151.1"])
def test_a_guest_address_outside_every_subnet_of_the_network(ip):
    found = _run([("net.xml", "", NATNET), ("a.xml", "", _guest("a", MAC1, ("tcp", "2222", "22"), ip))])
    assert found == [("a.xml", 6, "error", "forward-address",
                      f"{_label(MAC1, 'tcp:2222:22')}: guest address {ip} is not inside {WHERE}'s subnet "
                      "192.168.150.0/24, 10.9.0.0/30")]


def test_a_nat_network_without_ipv4_subnets_takes_any_guest_address():
    net = ("<network>\n<name>natnet</name>\n<forward/>\n<ip family='ipv6' address='fd00::1' prefix='64'/>\n"
           "</network>")
    guest = _guest("a", MAC1, ("tcp", "2222", "22"), "10.0.0.4")
    assert _run([("net.xml", "", net), ("a.xml", "", guest)]) == []


def test_forwards_not_checked_against_a_network_of_another_host_or_none():
    found = _run([("h1/net.xml", "h1", NATNET),
                  ("h1/a.xml", "h1", _guest("a", MAC1, ("tcp", "1", "1"), "10.0.0.4", kind="bridge")),
                  ("h1/b.xml", "h1", _guest("b", MAC2, ("tcp", "2", "2"), "10.0.0.4", network="other")),
                  ("h2/c.xml", "h2", _guest("c", MAC3, ("tcp", "3", "3"), "10.0.0.4")),
                  ("h3/net.xml", "h3", "<network><forward/></network>"),
                  ("h3/d.xml", "h3", _guest("d", MAC3, ("tcp", "4", "4"), "10.0.0.4"))])
    # the unknown networks are the network check's (a nameless network file still makes h3 a
    # host with networks); no forward finding
    assert [(path, code) for path, _, _, code, _ in found] == [("h1/b.xml", "network-unknown"),
                                                               ("h3/d.xml", "network-unknown")]


def test_the_first_network_of_a_name_is_the_one_checked_against():
    second = NATNET.replace("192.168.150", "172.16.0").replace("virbr5", "virbr6")
    found = _run([("net.xml", "", NATNET), ("net2.xml", "", second),
                  ("a.xml", "", _guest("a", MAC1, ("tcp", "2222", "22"), "172.16.0.5"))])
    assert [(path, code) for path, _, _, code, _ in found] == [("a.xml", "forward-address")]
    second = NATNET.replace("forward mode='nat'", "forward mode='route'")
    found = _run([("net.xml", "", NATNET), ("net2.xml", "", second),
                  ("a.xml", "", _guest("a", MAC1, ("tcp", "2222", "22"), "192.168.150.11"))])
    assert found == []


def _port_domain(source: str, vlan: str = "", meta: str = "", vport: str = "") -> str:
    metadata = (f"<metadata><vnx:netxml xmlns:vnx='{NS}'><vnx:interface mac='{MAC1}'>{meta}</vnx:interface>"
                "</vnx:netxml></metadata>\n" if meta else "\n")
    return (f"<domain type='kvm'>\n<name>vm</name>\n{metadata}<devices>\n<interface type='network'>"
            f"<mac address='{MAC1}'/><source {source}/>{vport}{vlan}</interface>\n</devices>\n</domain>")


def test_the_network_and_the_portgroup_an_interface_names():
    net = ("<network>\n<name>lan</name>\n<forward mode='nat'/>\n<bridge name='virbr5'/>\n"
           "<portgroup name='pg'/>\n</network>")
    assert _run([("lan.xml", "", net), ("vm.xml", "", _port_domain("network='lan' portgroup='pg'"))]) == []
    assert _run([("lan.xml", "", net), ("vm.xml", "", _port_domain("network='lan' portgroup='other'"))]) == [
        ("vm.xml", 5, "warning", "portgroup-unknown",
         "<interface type='network'>: network 'lan' (lan.xml:1) has no portgroup 'other'; libvirt starts the "
         "guest without any portgroup's settings")]
    assert _run([("lan.xml", "", net), ("vm.xml", "", _port_domain("network='wan'"))]) == [
        ("vm.xml", 5, "error", "network-unknown",
         "<interface type='network'>: no network file of this run defines network 'wan', and libvirt refuses "
         "to start a guest on a network it does not have (checked because these files include networks)")]
    found = _run([("h/lan.xml", "/srv/h", net), ("h/vm.xml", "/srv/h", _port_domain("network='wan'"))])
    assert found[0][4] == (
        "<interface type='network'>: no network file of the host folder /srv/h (--scope dir) defines network "
        "'wan', and libvirt refuses to start a guest on a network it does not have (checked because these "
        "files include networks)")


OVS_GROUPS = ("<network>\n<name>lan</name>\n<forward mode='bridge'/>\n<bridge name='br0'/>\n"
              "<portgroup name='ovs'><virtualport type='openvswitch'/></portgroup>\n"
              "<portgroup name='plain' default='yes'/>\n</network>")
VLAN = "<vlan><tag id='10'/></vlan>"


@pytest.mark.parametrize("source,vport,libvirt,refused", [
    ("network='lan' portgroup='ovs'", "", BASELINE, False),
    ("network='lan'", "", BASELINE, True),                          # the default portgroup: a Linux bridge
    ("network='lan' portgroup='nosuch'", "", BASELINE, True),       # unknown: the default one
    ("network='lan'", "<virtualport type='openvswitch'/>", BASELINE, False),
    ("network='lan'", "", NEWEST, False),                           # 11.0 applies it on a Linux bridge
    ("network='lan' portgroup='ovs'", "<virtualport type='802.1Qbh'/>", NEWEST, True),
])
def test_a_vlan_through_the_portgroup_libvirt_gives_the_port(source, vport, libvirt, refused):
    files = [("lan.xml", "", OVS_GROUPS), ("vm.xml", "", _port_domain(source, VLAN, vport=vport))]
    found = [(code, message) for _, _, _, code, message in _run(files, libvirt) if code == "vlan-unsupported"]
    where = "network 'lan' (forward mode='bridge', lan.xml:1)"
    ports = ("hostdev, passthrough, Open vSwitch networks (Linux bridge networks from libvirt 11.0)"
             if libvirt == BASELINE else "hostdev, passthrough, Open vSwitch and Linux bridge networks")
    version = "9.0.0" if libvirt == BASELINE else "11.3.0"
    assert found == ([("vlan-unsupported",
                       f"<interface type='network'>: libvirt {version} refuses its <vlan> when the guest "
                       f"starts on {where}: it applies <vlan> only on {ports}")] if refused else [])


def test_a_vlan_without_a_tag_asks_nothing_of_the_network():
    net = "<network>\n<name>lan</name>\n<forward mode='nat'/>\n<bridge name='virbr5'/>\n</network>"
    assert _run([("lan.xml", "", net), ("vm.xml", "", _port_domain("network='lan'", "<vlan/>"))]) == []
    found = _run([("lan.xml", "", net), ("vm.xml", "", _port_domain("network='lan'", VLAN))])
    assert [code for _, _, _, code, _ in found] == ["vlan-unsupported"]


def test_the_metadata_vlan_on_a_port_the_hooks_do_not_set():
    net = "<network>\n<name>lan</name>\n<forward mode='vepa'><interface dev='eth1'/></forward>\n</network>"
    guest = _port_domain("network='lan'", meta="<vnx:vlan tag='7'/>")
    found = _run([("lan.xml", "", net), ("vm.xml", "", guest)])
    assert found == [("vm.xml", 5, "warning", "meta-vlan-unsupported",
                      f"<interface type='network'>: the hooks do not apply the vnx:vlan metadata of MAC "
                      f"{MAC1} on network 'lan' (forward mode='vepa', lan.xml:1), which gives the guest a "
                      "direct port: they set VLANs on bridge ports (NAT, routed, open, isolated networks and "
                      "bridge networks with a <bridge name>) or through a VF's PF (<vnx:vf>)")]
    isolated = "<network>\n<name>lan</name>\n<bridge name='virbr5'/>\n</network>"
    assert _run([("lan.xml", "", isolated), ("vm.xml", "", guest)]) == []


def test_a_vlan_on_an_isolated_network_names_it_isolated():
    net = "<network>\n<name>lan</name>\n<bridge name='virbr5'/>\n</network>"
    assert _run([("lan.xml", "", net), ("vm.xml", "", _port_domain("network='lan'", VLAN))]) == [
        ("vm.xml", 5, "warning", "vlan-unsupported",
         "<interface type='network'>: libvirt 11.3.0 refuses its <vlan> when the guest starts on network "
         "'lan' (no <forward> (isolated), lan.xml:1): it applies <vlan> only on hostdev, passthrough, Open "
         "vSwitch and Linux bridge networks")]


def test_every_forward_of_a_run_is_judged_whatever_the_findings_before_it():
    isolated = "<network>\n<name>iso</name>\n<bridge name='virbr6'/>\n</network>"
    found = _run([("net.xml", "", NATNET), ("iso.xml", "", isolated),
                  ("a.xml", "", _guest("a", MAC1, ("tcp", "1", "1"), network="other")),   # no such network
                  ("b.xml", "", _guest("b", MAC1, ("tcp", "2", "2"), network="iso")),     # not NAT
                  ("c.xml", "", _guest("c", MAC1, ("tcp", "3", "3"))),                    # no address
                  ("d.xml", "", _guest("d", MAC1, ("tcp", "4", "4"), "192.168.150.300")), # not IPv4
                  ("e.xml", "", _guest("e", MAC1, ("tcp", "5", "5"), "192.168.150.1")),   # the network's
                  ("f.xml", "", _guest("f", MAC1, ("tcp", "6", "6"), "10.0.0.4")),        # outside
                  ("g.xml", "", _guest("g", MAC1, ("tcp", "7", "7"), "10.0.0.5"))])
    assert [(path, code) for path, _, _, code, _ in found] == [
        ("a.xml", "network-unknown"), ("b.xml", "forward-not-nat"), ("c.xml", "forward-no-address"),
        ("e.xml", "forward-address"), ("f.xml", "forward-address"), ("g.xml", "forward-address")]


def test_a_scope_that_does_not_exist_is_refused_by_name():
    with pytest.raises(UsageError) as refused:
        HostScope.of([], "host")
    assert refused.value.message == "--scope must be one of run, dir, not 'host'"


def test_scope_dir_makes_hosts_of_the_folders_given_not_of_files_or_standard_input(tmp_path, monkeypatch):
    (tmp_path / "h1").mkdir()
    (tmp_path / "h2" / "sub").mkdir(parents=True)
    (tmp_path / "-").mkdir()      # a folder named like standard input is not looked at
    (tmp_path / "h2" / "alone.xml").write_text("<domain/>")
    monkeypatch.chdir(tmp_path)
    scope = HostScope.of(["h1", "h2/alone.xml", "-", str(tmp_path / "h2" / "sub")], "dir")
    assert scope.folders == (str(tmp_path / "h1"), str(tmp_path / "h2" / "sub"))
    assert scope.host("h2/alone.xml") == str(tmp_path / "h2")
    assert scope.host("-") == scope.host("<stdin>") == str(tmp_path)
    assert scope.host("h1/x.xml") == str(tmp_path / "h1")


def test_scope_dir_a_folder_holds_only_the_files_inside_it_not_a_sibling_of_a_longer_name(tmp_path):
    for name in ("h1", "h10"):
        (tmp_path / name).mkdir()
    scope = HostScope.of([str(tmp_path / "h1"), str(tmp_path / "h10")], "dir")
    assert scope.host(str(tmp_path / "h10" / "x.xml")) == str(tmp_path / "h10")
    assert scope.host(str(tmp_path / "h1" / "x.xml")) == str(tmp_path / "h1")


OVS_DEFAULT = ("<network>\n<name>lan</name>\n<forward mode='bridge'/>\n<bridge name='br0'/>\n"
               "<portgroup name='plain'/>\n"
               "<portgroup name='ovs' default='yes'><virtualport type='openvswitch'/></portgroup>\n"
               "</network>")


@pytest.mark.parametrize("source,codes", [
    ("network='lan'", []),                                      # the default portgroup: Open vSwitch
    ("network='lan' portgroup='nosuch'", ["portgroup-unknown"]),  # unknown: the default one still
    ("network='lan' portgroup='plain'", ["vlan-unsupported"]),    # a Linux bridge port before 11.0
])
def test_an_interface_without_a_known_portgroup_gets_the_default_ones_port(source, codes):
    found = _run([("lan.xml", "", OVS_DEFAULT), ("vm.xml", "", _port_domain(source, VLAN))], BASELINE)
    assert [code for _, _, _, code, _ in found] == codes


@pytest.mark.parametrize("entry,nic_mac", [
    ("", "<mac/>"),                      # neither names a MAC
    ("", "<mac address=''/>"),
    ("", "<mac address='XXXX'/>"),
])
def test_a_forward_of_an_entry_without_a_mac_is_matched_to_no_interface(entry, nic_mac):
    def guest(nic: str) -> etree._Element:
        return etree.fromstring(
            f"<domain>\n<name>d</name>\n<metadata>\n<vnx:netxml xmlns:vnx='{NS}'>\n<vnx:interface{entry}>\n"
            f"{_fwd('tcp', '2222', '22')}\n</vnx:interface>\n</vnx:netxml>\n</metadata>\n<devices>\n{nic}\n"
            "</devices>\n</domain>")

    assert _found(guest(f"<interface type='bridge'>{nic_mac}<source bridge='br0'/></interface>")) == []
    facts = forward_facts(guest(f"<interface type='network'>{nic_mac}<source network='natnet'/></interface>"),
                          "d.xml")
    assert [(fact.mac, fact.network) for fact in facts] == [("", None)]


def test_scope_dir_standard_input_belongs_to_the_current_folder_even_in_a_host_folder(tmp_path, monkeypatch):
    (tmp_path / "h1" / "sub").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "h1" / "sub")
    scope = HostScope.of([str(tmp_path / "h1")], "dir")
    assert scope.host("-") == scope.host("<stdin>") == str(tmp_path / "h1" / "sub")
    assert scope.host("x.xml") == str(tmp_path / "h1")


def test_a_file_added_without_a_host_is_on_the_runs_one_host():
    index = CrossIndex()
    index.add(etree.fromstring(NATNET), "network", "net.xml")
    index.add(etree.fromstring(_port_domain("network='natnet'")), "domain", "vm.xml", "")
    index.add(etree.fromstring(_port_domain("network='wan'")), "domain", "vm2.xml", "")
    index.add(etree.fromstring(_port_domain("network='wan'")), "domain", "vm3.xml", "other")
    assert [(f.path, f.issue.code) for f in index.findings()] == [("vm2.xml", "network-unknown")]
