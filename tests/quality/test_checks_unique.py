"""Names, UUIDs and MACs unique across the files of one host in a lint run: what counts as the
same (UUID spellings, MAC case, trimmed names), what is left to other checks (a MAC repeated in
one document, an unusable MAC), and that two hosts never clash. Each with its twin."""

from __future__ import annotations

import pytest
from lxml import etree

from xmltools import checks

UUID = "00112233-4455-6677-8899-aabbccddeeff"


def _ids(xml: str, kind: str) -> list[tuple[str, str, int]]:
    return [(category, key, node.sourceline) for category, key, node in
            checks.identities(etree.fromstring(xml), kind)]


def test_a_networks_identities():
    xml = (f"<network>\n<name> net1 </name>\n<uuid> {UUID.upper()} </uuid>\n"
           "<mac address='52:54:00:AA:00:01'/>\n</network>")
    assert _ids(xml, "network") == [("network name", "net1", 2),
                                    ("network UUID", UUID.replace("-", ""), 3),
                                    ("MAC address", "52:54:00:aa:00:01", 4)]


def test_a_domains_identities_are_its_nics_macs_each_once():
    xml = (f"<domain>\n<name>vm</name>\n<uuid>{UUID.replace('-', '')}</uuid>\n<devices>\n"
           "<interface type='user'><mac address='52:54:00:00:00:01'/></interface>\n"
           "<interface type='user'><mac address='52:54:00:00:00:01'/></interface>\n"
           "<interface type='user'><mac address='52:54:00:00:00:02'/></interface>\n"
           "<hostdev><mac address='52:54:00:00:00:03'/></hostdev>\n"
           "<interface type='user'><mac address='01:00:5e:00:00:01'/></interface>\n"
           "<interface type='user'><mac/></interface>\n"
           "</devices>\n<mac address='52:54:00:00:00:04'/>\n</domain>")
    assert _ids(xml, "domain") == [("domain name", "vm", 2), ("domain UUID", UUID.replace("-", ""), 3),
                                   ("MAC address", "52:54:00:00:00:01", 5),
                                   ("MAC address", "52:54:00:00:00:02", 7)]


def test_a_standalone_interface_has_only_its_mac():
    xml = ("<interface type='user'>\n<name>x</name>\n<uuid>u</uuid>\n<mac address='52:54:00:00:00:05'/>"
           "</interface>")
    assert _ids(xml, "interface") == [("MAC address", "52:54:00:00:00:05", 4)]


@pytest.mark.parametrize("body", ["<name/><uuid/>", "<name></name>", ""])
def test_empty_names_and_uuids_identify_nothing(body):
    assert _ids(f"<network>{body}</network>", "network") == []


def _run(*docs: tuple[str, str, str], index: checks.RunIndex | None = None) -> list[tuple[str, int, str]]:
    index = index or checks.RunIndex()
    found = []
    for path, kind, xml in docs:
        report = checks.Report()
        host = ""
        if "@" in path:
            path, host = path.split("@")
        checks.check_unique(etree.fromstring(xml), kind, path, index, report, host)
        found += [(path, i.line, i.message) for i in report.issues if i.code == "duplicate"]
    return found


def _net(name: str, uuid: str = UUID, mac: str = "52:54:00:00:00:09") -> str:
    return f"<network>\n<name>{name}</name>\n<uuid>{uuid}</uuid>\n<mac address='{mac}'/></network>"


def test_the_second_file_is_told_where_each_identity_was_first_seen():
    assert _run(("a.xml", "network", _net("n")), ("b.xml", "network", _net("n", UUID.upper().replace("-", ""),
                                                                           "52:54:00:00:00:09".upper()))) == [
        ("b.xml", 2, "network name n is already used at a.xml:2"),
        ("b.xml", 3, f"network UUID {UUID.upper().replace('-', '')} is already used at a.xml:3"),
        ("b.xml", 4, "MAC address 52:54:00:00:00:09 is already used at a.xml:4")]


def test_different_identities_do_not_clash():
    assert _run(("a.xml", "network", _net("n")),
                ("b.xml", "network", _net("m", UUID.replace("f", "e"), "52:54:00:00:00:08"))) == []


def test_a_network_and_a_domain_of_one_name_do_not_clash_but_their_macs_do():
    dom = (f"<domain>\n<name>n</name>\n<uuid>{UUID}</uuid>\n<devices><interface type='user'>"
           "<mac address='52:54:00:00:00:09'/></interface></devices></domain>")
    assert _run(("a.xml", "network", _net("n")), ("b.xml", "domain", dom)) == [
        ("b.xml", 4, "MAC address 52:54:00:00:00:09 is already used at a.xml:4")]


def test_two_hosts_never_clash_and_the_first_stays_the_one_named():
    assert _run(("a.xml@h1", "network", _net("n")), ("b.xml@h2", "network", _net("n")),
                ("c.xml@h1", "network", _net("n"))) == [
        ("c.xml", 2, "network name n is already used at a.xml:2"),
        ("c.xml", 3, f"network UUID {UUID} is already used at a.xml:3"),
        ("c.xml", 4, "MAC address 52:54:00:00:00:09 is already used at a.xml:4")]


def test_claim_returns_the_first_place_and_keeps_it():
    index = checks.RunIndex()
    assert index.claim("c", "k", "a.xml", 3) is None
    assert index.claim("c", "k", "b.xml", 5) == ("a.xml", 3)
    assert index.claim("c", "k", "c.xml", 7) == ("a.xml", 3)
    assert index.claim("c", "k", "d.xml", 9, host="other") is None
    assert index.claim("c2", "k", "e.xml", 1) is None
    assert index.claim("c", "k", "f.xml", 2, host="") == ("a.xml", 3)    # the default: the run's one host


def test_check_unique_without_a_host_is_the_runs_one_host():
    index, report = checks.RunIndex(), checks.Report()
    checks.check_unique(etree.fromstring(_net("n")), "network", "a.xml", index, report)
    checks.check_unique(etree.fromstring(_net("n")), "network", "b.xml", index, report, "")
    assert [i.line for i in report.issues] == [2, 3, 4]


def test_a_tree_built_in_memory_is_placed_on_line_1():
    index, report = checks.RunIndex(), checks.Report()
    for path in ("a.xml", "b.xml"):
        root = etree.Element("network")
        etree.SubElement(root, "name").text = "n"
        checks.check_unique(root, "network", path, index, report)
    assert [i.message for i in report.issues] == ["network name n is already used at a.xml:1"]
