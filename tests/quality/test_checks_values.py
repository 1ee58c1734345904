"""The value readers under the semantic checks, at their edges: MAC problems word for word,
spaces around addresses, netmasks and numbers (libvirt trims them), decimal numbers only, and
the element description every message starts with."""

from __future__ import annotations

import pytest
from lxml import etree

from xmltools import checks
from xmltools.checks import shared


@pytest.mark.parametrize("mac,problem", [
    ("52:54:00:12:34:56", None),
    ("FE:FF:FF:FF:FF:FF", None),                    # one bit short of broadcast: unicast
    ("00:00:00:00:00:01", None),
    ("FF:FF:FF:FF:FF:FF", "the broadcast address"),
    ("ff:ff:ff:ff:ff:ff", "the broadcast address"),
    ("Ff:ff:ff:ff:ff:fF", "the broadcast address"),
    ("ff:ff:ff:ff:ff:fe", "multicast (the low bit of the first octet, 0xff, is set)"),
    ("03:00:00:00:00:00", "multicast (the low bit of the first octet, 0x03, is set)"),
    ("00:00:00:00:00:00", "all zero"),
    ("52:54:00:12:34:5", "malformed: expected six colon-separated hex octets such as 52:54:00:12:34:56"),
    ("52:54:00:12:34:56:", "malformed: expected six colon-separated hex octets such as 52:54:00:12:34:56"),
    (" 52:54:00:12:34:56", "malformed: expected six colon-separated hex octets such as 52:54:00:12:34:56"),
])
def test_mac_problem_in_words(mac, problem):
    assert checks.mac_problem(mac) == problem


def _network(body: str) -> list[tuple[str, str]]:
    report = checks.Report()
    checks.check_network(etree.fromstring(f"<network><name>n</name>{body}</network>"), report)
    return [(i.code, i.message) for i in report.issues]


@pytest.mark.parametrize("ip", [
    "address=' 192.168.60.1 ' prefix='24'",
    "address='192.168.60.1' prefix=' 24 '",
    "address='192.168.60.1' netmask=' 255.255.255.0 '",
])
def test_spaces_around_values_are_trimmed_as_libvirt_does(ip):
    # the subnet is the /24 all the same: a host at .200 is inside it, one at 61.1 not
    inside = f"<ip {ip}><dhcp><host name='a' ip='192.168.60.200'/></dhcp></ip>"
    outside = f"<ip {ip}><dhcp><host name='a' ip='192.168.61.1'/></dhcp></ip>"
    assert _network(inside) == []
    assert [code for code, _ in _network(outside)] == ["dhcp-host-outside"]


@pytest.mark.parametrize("prefix", ["a", "0x18", "1e1", "24.0", ""])
def test_a_prefix_is_a_decimal_number(prefix):
    assert _network(f"<ip address='192.168.60.1' prefix='{prefix}'/>") == [
        ("ip-prefix-range", f"<ip address='192.168.60.1'>: prefix {prefix!r} must be 0 to 32")]


@pytest.mark.parametrize("text,value", [("24", 24), (" 7 ", 7), ("09", 9), ("a", None), ("0x18", None),
                                        ("", None), (None, None)])
def test_int_or_none(text, value):
    assert shared.int_or_none(text) == value


@pytest.mark.parametrize("text,prefix", [
    ("255.255.255.255", 32), ("255.255.255.254", 31), ("255.255.255.0", 24), ("128.0.0.0", 1),
    ("0.0.0.0", 0), (" 255.0.0.0 ", 8), ("255.255.255.253", None), ("0.255.255.255", None),
    ("255.255.255", None), ("ffff::", None),
])
def test_netmask_prefix(text, prefix):
    assert shared.netmask_prefix(text) == prefix


@pytest.mark.parametrize("text,address", [
    ("192.168.60.1", "192.168.60.1"), (" fd00::1 ", "fd00::1"), ("\t10.0.0.1\n", "10.0.0.1"),
    ("192.168.60.256", None), ("", None), (None, None),
])
def test_parse_ip(text, address):
    parsed = shared.parse_ip(text)
    assert (str(parsed) if parsed is not None else None) == address


@pytest.mark.parametrize("xml,described", [
    ("<range start='a' end='b' name='x'/>", "<range name='x' start='a'>"),    # the first two, in key order
    ("<tag id='5' nativeMode='untagged'/>", "<tag id='5'>"),
    ("<interface type='bridge' trunks='1' bridge='br0' network='n'/>",
     "<interface type='bridge' trunks='1'>"),
    ("<source bridge='br0' network='n'/>", "<source bridge='br0' network='n'>"),
    ("<host mac='m' ip='i' id='d'/>", "<host mac='m' ip='i'>"),
    ("<forward dev='up0' mode='nat'/>", "<forward mode='nat' dev='up0'>"),
    ("<address start='a' end='b'/>", "<address start='a' end='b'>"),
    ("<tag/>", "<tag>"),
    ("<x:e xmlns:x='urn:x' name='n'/>", "<x:e name='n'>"),
    ("<e xmlns='urn:x' name='n'/>", "<e name='n'>"),
])
def test_describe_names_an_element_by_its_first_two_identifying_attributes(xml, described):
    assert checks.describe(etree.fromstring(xml)) == described


def test_report_lines():
    report = checks.Report()
    node = etree.fromstring("<a>\n<b/></a>")[0]
    report.error(node, "c1", "m1")
    report.warning(None, "c2", "m2")
    report.add_line(0, "error", "c3", "m3")
    report.add_line(7, "warning", "c4", "m4")
    assert [(i.line, i.severity, i.code, i.message) for i in report.issues] == [
        (2, "error", "c1", "m1"), (1, "warning", "c2", "m2"), (1, "error", "c3", "m3"),
        (7, "warning", "c4", "m4")]


def test_an_element_built_in_memory_is_reported_on_line_one():
    report = checks.Report()
    report.error(etree.Element("a"), "c", "m")
    assert report.issues[0].line == 1
