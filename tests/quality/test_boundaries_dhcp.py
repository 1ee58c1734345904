"""Boundaries of the DHCP checks of a <network>, each with a pass and a fail twin.

What libvirt's network driver accepts: a range of one address; two ranges that touch without
sharing an address; on IPv4 subnets up to /30 neither the network nor the broadcast address in a
range, while /31 and /32 have no such reserved addresses (RFC 3021); never the network's own
address; at most 65536 addresses (the last 16 bits).
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
