"""Boundaries of the DHCP checks of a <network>, each with a pass and a fail twin.

What libvirt's network driver accepts: a range of one address; two ranges that touch without
sharing an address; on IPv4 subnets up to /30 neither the network nor the broadcast address in a
range, while /31 and /32 have no such reserved addresses (RFC 3021); never the network's own
address; at most 65536 addresses (the last 16 bits). A static host: a MAC or a name on IPv4, an id
or a name on IPv6, an address inside the subnet other than the network's own, no MAC, address or
name used twice.
"""

from __future__ import annotations

import pytest
from lxml import etree

from xmltools import checks


def _codes(ip: str, dhcp: str) -> list[str]:
    report = checks.Report()
    doc = f"<network><name>n</name><ip {ip}><dhcp>{dhcp}</dhcp></ip></network>"
    checks.check_network(etree.fromstring(doc), report)
    return [i.code for i in report.issues]


def _range(start: str, end: str) -> str:
    return f"<range start='{start}' end='{end}'/>"


NET24 = "address='192.168.50.1' prefix='24'"


@pytest.mark.parametrize("start,end,codes", [
    ("192.168.50.10", "192.168.50.10", []),                       # one address
    ("192.168.50.11", "192.168.50.10", ["dhcp-range-reversed"]),  # one below: reversed
    ("192.168.50.10", "192.168.50.11", []),
])
def test_single_address_range_is_accepted_and_reversed_refused(start, end, codes):
    assert _codes(NET24, _range(start, end)) == codes


@pytest.mark.parametrize("second,codes", [
    (("192.168.50.20", "192.168.50.30"), ["dhcp-range-overlap"]),   # shares the endpoint .20
    (("192.168.50.21", "192.168.50.30"), []),                       # touches, shares nothing
    (("192.168.50.2", "192.168.50.10"), ["dhcp-range-overlap"]),    # shares the start .10
    (("192.168.50.2", "192.168.50.9"), []),
    (("192.168.50.12", "192.168.50.12"), ["dhcp-range-overlap"]),   # one address inside
])
def test_ranges_sharing_one_endpoint_overlap(second, codes):
    dhcp = _range("192.168.50.10", "192.168.50.20") + _range(*second)
    assert _codes(NET24, dhcp) == codes


@pytest.mark.parametrize("start,end,codes", [
    ("192.168.50.1", "192.168.50.5", ["dhcp-range-gateway"]),      # the gateway itself, first
    ("192.168.50.2", "192.168.50.5", []),
    ("192.168.50.200", "192.168.50.254", []),
    ("192.168.50.0", "192.168.50.0", ["dhcp-range-reserved"]),     # the network address
    ("192.168.50.255", "192.168.50.255", ["dhcp-range-reserved"]),  # the broadcast address
])
def test_gateway_and_reserved_addresses_of_a_24(start, end, codes):
    assert _codes(NET24, _range(start, end)) == codes


@pytest.mark.parametrize("ip,start,end,codes", [
    # /30: .0 network, .1 gateway, .2 the one address to lease, .3 broadcast
    ("address='10.0.0.1' prefix='30'", "10.0.0.2", "10.0.0.2", []),
    ("address='10.0.0.1' prefix='30'", "10.0.0.0", "10.0.0.0", ["dhcp-range-reserved"]),
    ("address='10.0.0.1' prefix='30'", "10.0.0.3", "10.0.0.3", ["dhcp-range-reserved"]),
    ("address='10.0.0.1' prefix='30'", "10.0.0.2", "10.0.0.3", ["dhcp-range-reserved"]),
    ("address='10.0.0.1' prefix='30'", "10.0.0.4", "10.0.0.4", ["dhcp-range-outside"]),
    ("address='10.0.0.1' netmask='255.255.255.252'", "10.0.0.0", "10.0.0.0", ["dhcp-range-reserved"]),
    # /31 (point to point): both addresses are usable, the lower one as well
    ("address='10.0.0.1' prefix='31'", "10.0.0.0", "10.0.0.0", []),
    ("address='10.0.0.0' prefix='31'", "10.0.0.1", "10.0.0.1", []),
    ("address='10.0.0.1' prefix='31'", "10.0.0.1", "10.0.0.1", ["dhcp-range-gateway"]),
    ("address='10.0.0.1' prefix='31'", "10.0.0.2", "10.0.0.2", ["dhcp-range-outside"]),
    # /32: the only address is the network's own
    ("address='10.0.0.1' prefix='32'", "10.0.0.1", "10.0.0.1", ["dhcp-range-gateway"]),
    ("address='10.0.0.1' prefix='32'", "10.0.0.2", "10.0.0.2", ["dhcp-range-outside"]),
])
def test_reserved_addresses_of_small_subnets(ip, start, end, codes):
    assert _codes(ip, _range(start, end)) == codes


@pytest.mark.parametrize("start,end,codes", [
    ("10.0.0.2", "10.0.255.254", []),
    ("10.0.0.2", "10.1.0.2", ["dhcp-range-too-large"]),
    ("10.0.255.254", "10.1.0.1", ["dhcp-range-too-large"]),   # three addresses, across a 16-bit edge
])
def test_range_size_follows_the_last_16_bits(start, end, codes):
    assert _codes("address='10.0.0.1' prefix='8'", _range(start, end)) == codes


@pytest.mark.parametrize("host_ip,codes", [
    ("192.168.50.2", []),
    ("192.168.50.1", ["dhcp-host-gateway"]),
    ("192.168.50.254", []),
    ("192.168.51.1", ["dhcp-host-outside"]),
])
def test_static_host_address_bounds(host_ip, codes):
    assert _codes(NET24, f"<host mac='52:54:00:00:00:07' ip='{host_ip}'/>") == codes


@pytest.mark.parametrize("second,codes", [
    ("52:54:00:00:00:07", ["dhcp-host-duplicate"]),
    ("52:54:00:00:00:07".upper(), ["dhcp-host-duplicate"]),   # the same MAC in capitals
    ("52:54:00:00:00:08", []),
])
def test_static_hosts_with_the_same_mac_in_any_case_are_duplicates(second, codes):
    dhcp = ("<host mac='52:54:00:00:00:07' ip='192.168.50.2'/>"
            f"<host mac='{second}' ip='192.168.50.3'/>")
    assert _codes(NET24, dhcp) == codes


@pytest.mark.parametrize("expiry,unit,codes", [
    ("2", "minutes", []), ("1", "minutes", ["lease-too-short"]),
    ("120", "seconds", []), ("119", "seconds", ["lease-too-short"]),
    ("1", "hours", []),
])
def test_lease_minimum_is_two_minutes(expiry, unit, codes):
    dhcp = f"<range start='192.168.50.2' end='192.168.50.9'><lease expiry='{expiry}' unit='{unit}'/></range>"
    assert _codes(NET24, dhcp) == codes


def _findings(ip: str, dhcp: str | list[str]) -> list[tuple[int, str, str]]:
    """(line, code, message) of a network whose <dhcp> children stand one per line from line 4."""
    report = checks.Report()
    body = "\n".join(dhcp) if isinstance(dhcp, list) else dhcp
    doc = f"<network>\n<name>n</name>\n<ip {ip}><dhcp>\n{body}\n</dhcp></ip></network>"
    checks.check_network(etree.fromstring(doc), report)
    return [(i.line, i.code, i.message) for i in report.issues]


@pytest.mark.parametrize("ip,start,end,codes", [
    # the gateway as the range's last address, and just outside it on either side
    ("address='192.168.50.10' prefix='24'", "192.168.50.2", "192.168.50.10", ["dhcp-range-gateway"]),
    ("address='192.168.50.10' prefix='24'", "192.168.50.2", "192.168.50.9", []),
    ("address='192.168.50.10' prefix='24'", "192.168.50.11", "192.168.50.20", []),
    ("address='192.168.50.10' prefix='24'", "192.168.50.10", "192.168.50.10", ["dhcp-range-gateway"]),
])
def test_the_gateway_at_either_end_of_a_range(ip, start, end, codes):
    assert _codes(ip, _range(start, end)) == codes


@pytest.mark.parametrize("prefix,start,end,codes", [
    # /29: .0 network, .7 broadcast; .1 the gateway
    ("29", "10.0.0.2", "10.0.0.6", []),
    ("29", "10.0.0.0", "10.0.0.6", ["dhcp-range-reserved"]),
    ("29", "10.0.0.2", "10.0.0.7", ["dhcp-range-reserved"]),
    ("30", "10.0.0.2", "10.0.0.2", []),
    ("31", "10.0.0.0", "10.0.0.0", []),
])
def test_reserved_addresses_stop_at_the_31(prefix, start, end, codes):
    assert _codes(f"address='10.0.0.1' prefix='{prefix}'", _range(start, end)) == codes


def test_an_ipv6_subnet_has_no_reserved_addresses():
    # no network or broadcast address to keep out of an IPv6 range
    assert _codes("family='ipv6' address='fd00::1' prefix='120'", _range("fd00::", "fd00::0")) == []
    assert _codes("family='ipv6' address='fd00::1' prefix='120'", _range("fd00::2", "fd00::ff")) == []
    assert _codes("family='ipv6' address='fd00::1' prefix='120'", _range("fd00::2", "fd00::100")) == [
        "dhcp-range-outside"]


@pytest.mark.parametrize("start,end,message", [
    ("192.168.50.2", "fd00::9", "the range is not in the same address family as 192.168.50.1"),
    ("fd00::2", "192.168.50.9", "the range is not in the same address family as 192.168.50.1"),
    ("192.168.51.2", "192.168.50.9", "the range is not inside the subnet 192.168.50.0/24"),
    ("192.168.50.2", "192.168.51.9", "the range is not inside the subnet 192.168.50.0/24"),
    ("192.168.50.9", "192.168.50.2", "start is after end"),
    ("192.168.50.0", "192.168.50.9", "start is the network address of 192.168.50.0/24"),
    ("192.168.50.2", "192.168.50.255", "end is the broadcast address of 192.168.50.0/24"),
])
def test_each_range_problem_is_named(start, end, message):
    [(line, _code, text)] = _findings(NET24, _range(start, end))
    assert (line, text) == (4, f"<range start='{start}' end='{end}'>: {message}")


@pytest.mark.parametrize("start,end", [("192.168.50.2", None), (None, "192.168.50.9"),
                                       ("192.168.50.x", "192.168.50.9"), ("192.168.50.2", "")])
def test_a_range_end_that_is_not_an_address_is_refused_and_nothing_else(start, end):
    attrs = "".join(f" {k}='{v}'" for k, v in (("start", start), ("end", end)) if v is not None)
    ranges = [f"<range{attrs}/>", "<range start='192.168.50.2' end='192.168.50.9'/>"]
    [(line, code, message)] = _findings(NET24, ranges)
    assert (line, code) == (4, "ip-invalid")
    assert message.endswith(": start and end must be IP addresses")


def test_an_overlap_names_the_first_range_it_meets_only():
    ranges = ["<range start='192.168.50.10' end='192.168.50.20'/>",
              "<range start='192.168.50.30' end='192.168.50.40'/>",
              "<range start='192.168.50.15' end='192.168.50.35'/>"]
    assert _findings(NET24, ranges) == [
        (6, "dhcp-range-overlap", "<range start='192.168.50.15' end='192.168.50.35'>: overlaps "
                                  "<range start='192.168.50.10' end='192.168.50.20'> on line 4")]


def test_a_refused_range_takes_no_part_in_overlaps():
    # the reversed range 20..10 is not a range of addresses: nothing can overlap it
    ranges = ["<range start='192.168.50.20' end='192.168.50.10'/>",
              "<range start='192.168.50.12' end='192.168.50.14'/>"]
    assert [f[1] for f in _findings(NET24, ranges)] == ["dhcp-range-reversed"]


def test_a_lease_is_checked_on_every_range():
    ranges = ["<range start='192.168.50.2' end='192.168.50.9'><lease expiry='1'/></range>",
              "<range start='192.168.50.12' end='192.168.50.14'><lease expiry='1'/></range>"]
    assert _findings(NET24, ranges) == [
        (4, "lease-too-short", "<range start='192.168.50.2' end='192.168.50.9'>: a lease of 1 minutes is "
                               "shorter than dnsmasq's minimum of 2 minutes"),
        (5, "lease-too-short", "<range start='192.168.50.12' end='192.168.50.14'>: a lease of 1 minutes is "
                               "shorter than dnsmasq's minimum of 2 minutes")]


@pytest.mark.parametrize("lease,codes", [
    ("<lease expiry='0'/>", []),                   # 0: an infinite lease
    ("<lease expiry='119' unit='seconds'/>", ["lease-too-short"]),
    ("<lease expiry='1'/>", ["lease-too-short"]),  # minutes by default
    ("<lease expiry='2'/>", []),
    ("<lease expiry='x'/>", []),                   # the schema's business
    ("<lease/>", []),
])
def test_a_static_hosts_lease_has_the_same_minimum(lease, codes):
    host = f"<host mac='52:54:00:00:00:07' ip='192.168.50.2'>{lease}</host>"
    assert _codes(NET24, host) == codes


def test_a_short_lease_names_its_unit():
    host = "<host mac='52:54:00:00:00:07' ip='192.168.50.2'><lease expiry='30' unit='seconds'/></host>"
    assert _findings(NET24, host) == [
        (4, "lease-too-short", "<host mac='52:54:00:00:00:07' ip='192.168.50.2'>: a lease of 30 seconds is "
                               "shorter than dnsmasq's minimum of 2 minutes")]


# --------------------------------------------------------------------------- static hosts

NET6 = "family='ipv6' address='fd00::1' prefix='64'"


@pytest.mark.parametrize("ip,host,found", [
    (NET24, "<host name='web' ip='192.168.50.2'/>", []),
    (NET24, "<host mac='52:54:00:00:00:07' ip='192.168.50.2'/>", []),
    (NET24, "<host id='0:1:2' ip='192.168.50.2'/>",
     [(4, "dhcp-host-incomplete", "<host ip='192.168.50.2' id='0:1:2'>: an IPv4 static host needs a mac or "
                                  "a name")]),
    (NET24, "<host mac='52:54:00:00:00:07'/>",
     [(4, "dhcp-host-incomplete", "<host mac='52:54:00:00:00:07'>: a static host needs an ip")]),
    (NET6, "<host id='0:1:2' ip='fd00::2'/>", []),
    (NET6, "<host name='web' ip='fd00::2'/>", []),
    (NET6, "<host ip='fd00::2'/>",
     [(4, "dhcp-host-incomplete", "<host ip='fd00::2'>: an IPv6 static host needs an id or a name")]),
    (NET6, "<host mac='52:54:00:00:00:07' name='web' ip='fd00::2'/>",
     [(4, "dhcp-host-ipv6-mac", "<host name='web' mac='52:54:00:00:00:07'>: an IPv6 static host is matched "
                                "by id or name, not by MAC")]),
])
def test_what_identifies_a_static_host_in_each_family(ip, host, found):
    assert _findings(ip, host) == found


@pytest.mark.parametrize("mac,found", [
    ("52:54:00:00:00:07", []),
    ("01:54:00:00:00:07", [(4, "mac-multicast", "<host mac='01:54:00:00:00:07' ip='192.168.50.2'>: MAC "
                                                "address '01:54:00:00:00:07' is multicast (the low bit of "
                                                "the first octet, 0x01, is set)")]),
    ("52:54:00:00:07", [(4, "mac-malformed", "<host mac='52:54:00:00:07' ip='192.168.50.2'>: MAC address "
                                             "'52:54:00:00:07' is malformed: expected six colon-separated "
                                             "hex octets such as 52:54:00:12:34:56")]),
])
def test_a_static_hosts_mac_is_a_unicast_mac(mac, found):
    assert _findings(NET24, f"<host mac='{mac}' ip='192.168.50.2'/>") == found


def test_an_ipv6_hosts_mac_is_not_judged_as_a_mac():
    # it is refused as such already; only that finding is reported
    found = _findings(NET6, "<host mac='zz' name='web' ip='fd00::2'/>")
    assert [f[1] for f in found] == ["dhcp-host-ipv6-mac"]


@pytest.mark.parametrize("name,ok", [
    ("web", True), ("1web", True), ("W", True), ("w-1", True), ("w\u00e9", True), ("9.x", True),
    ("-web", False), ("_web", False), ("", False), ("\u00e9cole", False), ("\u0661web", False),
])
def test_a_static_host_name_starts_with_an_ascii_letter_or_digit(name, ok):
    found = _findings(NET24, f"<host name='{name}' ip='192.168.50.2'/>")
    assert found == ([] if ok else [
        (4, "dhcp-host-name", f"<host name='{name}' ip='192.168.50.2'>: host name {name!r} must start with a "
                              "letter or digit")])


@pytest.mark.parametrize("ip,host_ip,found", [
    (NET24, "192.168.50.x", [(4, "ip-invalid", "<host name='web' ip='192.168.50.x'>: '192.168.50.x' is not "
                                               "an IP address")]),
    (NET24, "fd00::2", [(4, "dhcp-host-outside", "<host name='web' ip='fd00::2'>: fd00::2 is not inside the "
                                                 "subnet 192.168.50.0/24")]),
    (NET24, "192.168.50.255", []),
    (NET24, "192.168.49.255", [(4, "dhcp-host-outside", "<host name='web' ip='192.168.49.255'>: "
                                                        "192.168.49.255 is not inside the subnet "
                                                        "192.168.50.0/24")]),
    (NET24, "192.168.50.1", [(4, "dhcp-host-gateway", "<host name='web' ip='192.168.50.1'>: 192.168.50.1 is "
                                                      "the network's own address")]),
    (NET6, "fd00::1", [(4, "dhcp-host-gateway", "<host name='web' ip='fd00::1'>: fd00::1 is the network's "
                                                "own address")]),
    (NET6, "fd00:0::2", []),
    (NET6, "192.168.50.2", [(4, "dhcp-host-outside", "<host name='web' ip='192.168.50.2'>: 192.168.50.2 is "
                                                     "not inside the subnet fd00::/64")]),
])
def test_a_static_hosts_address_is_in_the_subnet_and_not_the_gateway(ip, host_ip, found):
    assert _findings(ip, f"<host name='web' ip='{host_ip}'/>") == found


@pytest.mark.parametrize("first,second,found", [
    ("name='web' ip='192.168.50.2'", "name='Web' ip='192.168.50.3'",
     "name Web is already used by <host name='web' ip='192.168.50.2'> on line 4"),
    ("name='web' ip='192.168.50.2'", "name='db' ip='192.168.50.2'",
     "IP 192.168.50.2 is already used by <host name='web' ip='192.168.50.2'> on line 4"),
    ("mac='52:54:00:00:00:07' ip='192.168.50.2'", "mac='52:54:00:00:00:07' ip='192.168.50.3'",
     "MAC 52:54:00:00:00:07 is already used by <host mac='52:54:00:00:00:07' ip='192.168.50.2'> on line 4"),
    ("name='web' ip='192.168.50.2'", "name='db' ip='192.168.50.3'", None),
    ("mac='52:54:00:00:00:07' ip='192.168.50.2'", "name='52:54:00:00:00:07' ip='192.168.50.3'", None),
])
def test_duplicate_static_hosts_name_the_first(first, second, found):
    findings = _findings(NET24, [f"<host {first}/>", f"<host {second}/>"])
    if found is None:
        assert findings == []
        return
    [(line, code, message)] = findings
    assert (line, code) == (5, "dhcp-host-duplicate")
    assert message.endswith(f">: {found}")


def test_a_host_duplicating_two_others_is_reported_for_each():
    hosts = ["<host name='web' ip='192.168.50.2'/>", "<host name='db' ip='192.168.50.3'/>",
             "<host name='web' ip='192.168.50.3'/>"]
    assert [(f[0], f[2].split(">: ")[1]) for f in _findings(NET24, hosts)] == [
        (6, "IP 192.168.50.3 is already used by <host name='db' ip='192.168.50.3'> on line 5"),
        (6, "name web is already used by <host name='web' ip='192.168.50.2'> on line 4")]


def test_the_first_of_three_duplicates_stays_the_one_named():
    hosts = [f"<host name='web' ip='192.168.50.{n}'/>" for n in (2, 3, 4)]
    assert [f[2].split(">: ")[1] for f in _findings(NET24, hosts)] == [
        "name web is already used by <host name='web' ip='192.168.50.2'> on line 4"] * 2


def test_an_unparsable_host_address_is_no_duplicate():
    hosts = ["<host name='a' ip='x'/>", "<host name='b' ip='x'/>"]
    assert [f[1] for f in _findings(NET24, hosts)] == ["ip-invalid", "ip-invalid"]


# --------------------------------------------------------------------------- one DHCP server per family


def _per_family(*ips: str) -> list[tuple[int, str]]:
    report = checks.Report()
    doc = "<network>\n<name>n</name>\n" + "\n".join(ips) + "\n</network>"
    checks.check_network(etree.fromstring(doc), report)
    return [(i.line, i.message) for i in report.issues if i.code == "dhcp-multiple"]


V4A = "<ip address='192.168.50.1' prefix='24'><dhcp>{}</dhcp></ip>"
V4B = "<ip address='192.168.51.1' prefix='24'><dhcp>{}</dhcp></ip>"
V6 = "<ip family='ipv6' address='fd00::1' prefix='64'><dhcp>{}</dhcp></ip>"


@pytest.mark.parametrize("first,second,found", [
    (V4A.format(_range("192.168.50.2", "192.168.50.9")),
     V4B.format(_range("192.168.51.2", "192.168.51.9")),
     [(4, "<ip address='192.168.51.1'>: DHCP is already served on line 3; libvirt supports DHCP on one IPv4 "
          "address per network")]),
    (V4A.format(_range("192.168.50.2", "192.168.50.9")), V4B.format("<host name='a' ip='192.168.51.2'/>"),
     [(4, "<ip address='192.168.51.1'>: DHCP is already served on line 3; libvirt supports DHCP on one IPv4 "
          "address per network")]),
    (V6.format(_range("fd00::2", "fd00::9")), V6.format(_range("fd00::12", "fd00::19")),
     [(4, "<ip address='fd00::1'>: DHCP is already served on line 3; libvirt supports DHCP on one IPv6 "
          "address per network")]),
    (V4A.format(_range("192.168.50.2", "192.168.50.9")), V4B.format(""), []),    # an empty <dhcp/>
    (V4A.format(""), V4B.format(_range("192.168.51.2", "192.168.51.9")), []),
    (V4A.format(_range("192.168.50.2", "192.168.50.9")), V6.format(_range("fd00::2", "fd00::9")), []),
    (V4A.format(_range("192.168.50.2", "192.168.50.9")), "<ip address='192.168.51.1' prefix='24'/>", []),
    ("<ip address='x'><dhcp><range start='192.168.50.2' end='192.168.50.9'/></dhcp></ip>",
     V4B.format(_range("192.168.51.2", "192.168.51.9")), []),
])
def test_dhcp_on_one_address_per_family(first, second, found):
    assert _per_family(first, second) == found


def test_a_third_dhcp_server_names_the_first():
    third = "<ip address='192.168.52.1' prefix='24'><dhcp><host name='b' ip='192.168.52.2'/></dhcp></ip>"
    found = _per_family(V4A.format(_range("192.168.50.2", "192.168.50.9")),
                        V4B.format(_range("192.168.51.2", "192.168.51.9")), third)
    assert [line for line, _ in found] == [4, 5]
    assert found[1][1].startswith("<ip address='192.168.52.1'>: DHCP is already served on line 3;")


def test_the_ranges_after_one_that_is_not_an_address_are_still_checked():
    ranges = ["<range start='192.168.50.x' end='192.168.50.9'/>",
              "<range start='192.168.50.9' end='192.168.50.2'/>"]
    assert [(f[0], f[1]) for f in _findings(NET24, ranges)] == [(4, "ip-invalid"), (5, "dhcp-range-reversed")]


@pytest.mark.parametrize("first", ["<ip address='192.168.49.1' prefix='24'/>",
                                   V4A.replace("50", "49").format("")])
def test_an_address_without_dhcp_does_not_end_the_count(first):
    found = _per_family(first, V4A.format(_range("192.168.50.2", "192.168.50.9")),
                        V4B.format(_range("192.168.51.2", "192.168.51.9")))
    assert [line for line, _ in found] == [5]
