"""The semantic checks of the project's <vnx:netxml> metadata, each finding with its twin.

Every case pins the exact findings (line, severity, code, message) of a small document, and
beside each refused case stands the nearest accepted one: a known and an unknown MAC, a TAP
wish on an ethernet and on a bridge NIC, a VF given by address, by pf and index, or by half
of them, a wish in the right and in the wrong kind of document.
"""

from __future__ import annotations

import pytest
from lxml import etree

from xmltools import checks

NS = "urn:virt-netxml:hooks:1"
# hex letters in each, so that a MAC in capitals differs from it
MAC1 = "52:54:00:4a:00:01"
MAC2 = "52:54:00:4b:00:02"


def _domain(meta: str, devices: str = "") -> str:
    # one element per line: line numbers in messages and findings are checked
    return ("<domain type='kvm'>\n<name>d</name>\n<metadata>\n"
            f"<vnx:netxml xmlns:vnx='{NS}'>\n{meta}\n</vnx:netxml>\n</metadata>\n"
            f"<devices>\n{devices}\n</devices>\n</domain>")


def _network(meta: str, body: str = "") -> str:
    return (f"<network>\n<name>n</name>\n{body}\n<metadata>\n<vnx:netxml xmlns:vnx='{NS}'>\n{meta}\n"
            "</vnx:netxml>\n</metadata>\n</network>")


def _findings(doc: str, kind: str) -> list[tuple[int, str, str, str]]:
    report = checks.Report()
    checks.check_metadata(etree.fromstring(doc), kind, report)
    return [(i.line, i.severity, i.code, i.message) for i in report.issues]


def _nic(mac: str, kind: str = "bridge") -> str:
    return f"<interface type='{kind}'><mac address='{mac}'/><source bridge='br0'/></interface>"


def test_a_document_without_the_projects_metadata_has_nothing_to_check():
    doc = (f"<domain><name>d</name><metadata><other xmlns='urn:x'><vnx:interface xmlns:vnx='{NS}' "
           "mac='zz'/></other></metadata></domain>")
    assert _findings(doc, "domain") == []


# --------------------------------------------------------------------------- entries per MAC


@pytest.mark.parametrize("second,found", [
    (MAC1, [(6, "error", "meta-duplicate",
             f"<vnx:interface mac='{MAC1}'>: a second entry for MAC {MAC1} (first on line 5)")]),
    (MAC1.upper(), [(6, "error", "meta-duplicate",
                     f"<vnx:interface mac='{MAC1.upper()}'>: a second entry for MAC {MAC1} "
                     "(first on line 5)")]),
    (MAC2, []),
])
def test_a_second_entry_for_one_mac_in_any_case_is_refused(second, found):
    meta = f"<vnx:interface mac='{MAC1}'/>\n<vnx:interface mac='{second}'/>"
    assert _findings(_domain(meta, _nic(MAC1) + "\n" + _nic(MAC2)), "domain") == found


def test_a_third_entry_names_the_latest_one_before_it():
    meta = f"<vnx:interface mac='{MAC1}'/>\n<vnx:interface mac='{MAC1}'/>\n<vnx:interface mac='{MAC1}'/>"
    assert [f[3] for f in _findings(_domain(meta, _nic(MAC1)), "domain")] == [
        f"<vnx:interface mac='{MAC1}'>: a second entry for MAC {MAC1} (first on line 5)",
        f"<vnx:interface mac='{MAC1}'>: a second entry for MAC {MAC1} (first on line 6)",
    ]


@pytest.mark.parametrize("nic_mac,found", [
    (MAC1, []),
    (MAC1.upper(), []),    # the NIC's MAC in capitals is the same address
    (MAC2, [(5, "warning", "meta-unknown-mac",
             f"<vnx:interface mac='{MAC1}'>: no <interface> of this domain has MAC {MAC1}")]),
])
def test_an_entry_must_name_a_mac_of_the_domain(nic_mac, found):
    assert _findings(_domain(f"<vnx:interface mac='{MAC1}'/>", _nic(nic_mac)), "domain") == found


def test_an_entry_in_capitals_matches_a_nic_in_lower_case():
    assert _findings(_domain(f"<vnx:interface mac='{MAC1.upper()}'/>", _nic(MAC1)), "domain") == []


def test_an_entry_without_a_mac_is_neither_a_duplicate_nor_unknown():
    assert _findings(_domain("<vnx:interface/>\n<vnx:interface/>", _nic(MAC1)), "domain") == []


@pytest.mark.parametrize("mac,found", [
    ("01:54:00:40:00:01", [(5, "error", "mac-multicast",
                            "<vnx:interface mac='01:54:00:40:00:01'>: MAC address '01:54:00:40:00:01' is "
                            "multicast (the low bit of the first octet, 0x01, is set)")]),
    ("52:54:00:40:00", [(5, "error", "mac-malformed",
                         "<vnx:interface mac='52:54:00:40:00'>: MAC address '52:54:00:40:00' is malformed: "
                         "expected six colon-separated hex octets such as 52:54:00:12:34:56")]),
])
def test_an_entry_with_a_bad_mac_says_what_is_wrong_with_it(mac, found):
    # a bad MAC is neither a duplicate nor unknown: it is reported once, as what it is
    meta = f"<vnx:interface mac='{mac}'/>\n<vnx:interface mac='{mac}'/>"
    assert _findings(_domain(meta, _nic(MAC1)), "domain") == [*found, (6, *found[0][1:])]


# --------------------------------------------------------------------------- TAP, OVS settings, VF


def _tap_type(nic_kind: str) -> list[tuple[int, str, str, str]]:
    meta = f"<vnx:interface mac='{MAC1}'>\n<vnx:tap bridge='br0'/>\n</vnx:interface>"
    return _findings(_domain(meta, _nic(MAC1, nic_kind)), "domain")


def test_a_tap_wish_is_for_an_ethernet_interface():
    assert _tap_type("ethernet") == []
    assert _tap_type("bridge") == [(6, "warning", "meta-tap-type",
                                    "<vnx:tap bridge='br0'>: a pre-created TAP is for type='ethernet' "
                                    "interfaces, this one is type='bridge'")]


def test_a_tap_wish_for_a_nic_in_capitals_is_matched_to_it():
    meta = f"<vnx:interface mac='{MAC1}'>\n<vnx:tap/>\n</vnx:interface>"
    found = _findings(_domain(meta, _nic(MAC1.upper(), "network")), "domain")
    assert [f[2] for f in found] == ["meta-tap-type"]


@pytest.mark.parametrize("entry,nic_mac", [
    ("", "<mac/>"),                      # neither names a MAC
    ("", "<mac address=''/>"),
    ("", "<mac address='xxxx'/>"),
    (" mac='xxxx'", "<mac/>"),           # a malformed MAC is no MAC either
])
def test_a_tap_wish_is_matched_only_to_a_nic_with_its_mac(entry, nic_mac):
    meta = f"<vnx:interface{entry}>\n<vnx:tap/>\n</vnx:interface>"
    found = _findings(_domain(meta, f"<interface type='bridge'>{nic_mac}<source bridge='br0'/></interface>"),
                      "domain")
    assert [f[2] for f in found] == (["mac-malformed"] if entry else [])


def test_a_tap_wish_for_no_nic_at_all_is_only_the_unknown_mac():
    meta = f"<vnx:interface mac='{MAC2}'>\n<vnx:tap/>\n</vnx:interface>"
    assert [f[2] for f in _findings(_domain(meta, _nic(MAC1)), "domain")] == ["meta-unknown-mac"]


def test_the_tap_type_is_judged_only_in_a_domain():
    meta = f"<vnx:interface mac='{MAC1}'>\n<vnx:tap/>\n</vnx:interface>"
    assert [f[2] for f in _findings(_network(meta), "network")] == ["meta-wrong-kind"]


def test_ovs_settings_outside_the_allowed_list_are_refused():
    meta = (f"<vnx:interface mac='{MAC1}'>\n"
            "<vnx:ovs-setting table='Port' column='other_config' key='priority-tags' value='true'/>\n"
            "<vnx:ovs-setting table='Bridge' column='other_config' key='x' value='1'/>\n"
            "</vnx:interface>")
    [(line, severity, code, message)] = _findings(_domain(meta, _nic(MAC1)), "domain")
    assert (line, severity, code) == (7, "error", "ovs-setting-not-allowed")
    assert message.startswith("<vnx:ovs-setting>: OVS table 'Bridge' is not one a domain may change")


@pytest.mark.parametrize("vf,found", [
    ("<vnx:vf address='0000:04:10.1'/>", []),
    ("<vnx:vf pf='enp4s0f0' index='3'/>", []),
    ("<vnx:vf address='0000:04:10.1' pf='enp4s0f0'/>", []),
    ("<vnx:vf pf='enp4s0f0'/>", [(6, "error", "meta-vf", "<vnx:vf>: give the VF's PCI address, or its pf and "
                                                         "index")]),
    ("<vnx:vf index='3'/>", [(6, "error", "meta-vf", "<vnx:vf>: give the VF's PCI address, or its pf and "
                                                     "index")]),
    ("<vnx:vf/>", [(6, "error", "meta-vf", "<vnx:vf>: give the VF's PCI address, or its pf and index")]),
    ("<vnx:vf address=''/>",
     [(6, "error", "meta-vf", "<vnx:vf address=''>: invalid PCI address '': expected DDDD:BB:SS.F, e.g. "
                              "0000:04:10.0")]),
    ("<vnx:vf address='0000:zz:10.1'/>",
     [(6, "error", "meta-vf", "<vnx:vf address='0000:zz:10.1'>: invalid PCI address '0000:zz:10.1': "
                              "expected DDDD:BB:SS.F, e.g. 0000:04:10.0")]),
])
def test_a_vf_is_given_by_address_or_by_pf_and_index(vf, found):
    meta = f"<vnx:interface mac='{MAC1}'>\n{vf}\n</vnx:interface>"
    assert _findings(_domain(meta, _nic(MAC1, "hostdev")), "domain") == found


# --------------------------------------------------------------------------- VLAN wishes


def test_a_native_vlan_outside_the_trunk_list_is_a_warning():
    ok = f"<vnx:interface mac='{MAC1}'>\n<vnx:vlan trunks='20,30-40' native='35'/>\n</vnx:interface>"
    outside = f"<vnx:interface mac='{MAC1}'>\n<vnx:vlan trunks='20,30-40' native='41'/>\n</vnx:interface>"
    assert _findings(_domain(ok, _nic(MAC1)), "domain") == []
    assert _findings(_domain(outside, _nic(MAC1)), "domain") == [
        (6, "warning", "meta-vlan-native",
         "<vnx:vlan trunks='20,30-40'>: native VLAN 41 is not in the trunk list")]


@pytest.mark.parametrize("tag,found", [
    ("1", []),
    ("4094", []),
    ("4095", [(6, "error", "meta-vlan",
               "<vnx:vlan tag='4095'>: invalid VLAN id '4095': 4095 is reserved by 802.1Q and never sent in "
               "a tag (libvirt and Open vSwitch would pass it on, a Linux bridge refuses it); VLAN ids are 1 "
               "to 4094")]),
    ("0", [(6, "error", "meta-vlan",
            "<vnx:vlan tag='0'>: invalid VLAN id '0': 0 is reserved by 802.1Q for priority-tagged frames, "
            "which belong to no VLAN (Open vSwitch reads it as untagged, a Linux bridge refuses it); VLAN "
            "ids are 1 to 4094")]),
])
def test_a_vlan_wish_is_refused_with_the_hooks_reason(tag, found):
    meta = f"<vnx:interface mac='{MAC1}'>\n<vnx:vlan tag='{tag}'/>\n</vnx:interface>"
    assert _findings(_domain(meta, _nic(MAC1)), "domain") == found


@pytest.mark.parametrize("vlan", ["<vnx:vlan tag='5000'/>", "<vnx:vlan tag='ten'/>",
                                  "<vnx:vlan native='x'/>"])
def test_a_vlan_wish_outside_the_grammar_is_refused_wherever_it_is(vlan):
    in_entry = f"<vnx:interface mac='{MAC1}'>\n{vlan}\n</vnx:interface>"
    in_portgroup = f"<vnx:portgroup name='web'>\n{vlan}\n</vnx:portgroup>"
    assert [f[:3] for f in _findings(_domain(in_entry, _nic(MAC1)), "domain")] == [(6, "error", "meta-vlan")]
    assert [f[:3] for f in _findings(_network(in_portgroup, "<portgroup name='web'/>"), "network")] == [
        (7, "error", "meta-vlan")]


# --------------------------------------------------------------------------- wishes by kind


@pytest.mark.parametrize("portgroup,found", [
    ("web", []),
    ("db", [(6, "warning", "meta-unknown-portgroup",
             "<vnx:portgroup name='db'>: the network has no <portgroup name='db'>")]),
])
def test_a_portgroup_wish_names_a_portgroup_of_the_network(portgroup, found):
    meta = f"<vnx:portgroup name='{portgroup}'/>"
    assert _findings(_network(meta, "<portgroup name='web'/>"), "network") == found


def test_per_interface_wishes_do_not_belong_in_a_network():
    meta = f"<vnx:interface mac='{MAC1}'/>"
    assert _findings(_network(meta), "network") == [
        (6, "warning", "meta-wrong-kind",
         f"<vnx:interface mac='{MAC1}'>: per-interface wishes belong in a domain's metadata")]


@pytest.mark.parametrize("child,found", [
    ("<vnx:bridge vlan-filtering='yes'/>", ["<vnx:bridge>"]),
    ("<vnx:shim name='s0'/>", ["<vnx:shim name='s0'>"]),
    ("<vnx:sriov pf='enp4s0f0'/>", ["<vnx:sriov>"]),
    ("<vnx:portgroup name='web'/>", ["<vnx:portgroup name='web'>"]),
    (f"<vnx:interface mac='{MAC1}'/>", []),
])
def test_network_wishes_do_not_belong_in_a_domain(child, found):
    expected = [(5, "warning", "meta-wrong-kind", f"{d}: this wish belongs in a network's metadata")
                for d in found]
    assert _findings(_domain(child, _nic(MAC1)), "domain") == expected


def test_network_wishes_in_a_standalone_interface_are_not_judged_by_kind():
    assert _findings(_domain("<vnx:sriov pf='enp4s0f0'/>"), "interface") == []


@pytest.mark.parametrize("address,found", [
    ("192.168.50.1/24", []),
    ("fd00::1/64", []),
    ("192.168.50.1", []),          # a lone address is a host route, ADDRESS/32
    ("192.168.50.1/33", [(6, "error", "meta-shim",
                          "<vnx:shim name='s0' address='192.168.50.1/33'>: '192.168.50.1/33' is not "
                          "ADDRESS/PREFIX")]),
    ("", [(6, "error", "meta-shim", "<vnx:shim name='s0' address=''>: '' is not ADDRESS/PREFIX")]),
])
def test_the_shim_address_is_address_and_prefix(address, found):
    meta = f"<vnx:shim name='s0' address='{address}'/>"
    assert _findings(_network(meta), "network") == found


def test_a_shim_without_an_address_has_nothing_to_check():
    assert _findings(_network("<vnx:shim name='s0'/>"), "network") == []
