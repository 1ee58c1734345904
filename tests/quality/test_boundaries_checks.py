"""Semantic checks at the edges the lint fixtures do not reach: <vlan> trunk flags, bandwidth
rates and floors, uplink names, generated target names in a definition and in live XML, MACs
shared within a domain, PCI address fields. Each case with its exact findings (code, message)."""

from __future__ import annotations

import pytest
from lxml import etree

from xmltools import checks

OVS = "<forward mode='bridge'/><bridge name='ovsbr0'/><virtualport type='openvswitch'/>"
NEEDS_IP = ("forward-needs-ip", "<forward mode='nat'>: nat forwarding needs an <ip> on the network")
FLOOR = "floor is only allowed on the <inbound> of a type='network' interface"


def _network(body: str) -> list[tuple[str, str]]:
    report = checks.Report()
    checks.check_network(etree.fromstring(f"<network><name>n</name>{body}</network>"), report)
    return [(i.code, i.message) for i in report.issues]


def _domain(devices: str, attrs: str = "") -> list[tuple[str, str]]:
    report = checks.Report()
    checks.check_domain(etree.fromstring(f"<domain type='kvm'{attrs}><name>d</name><devices>{devices}"
                                         "</devices></domain>"), report)
    return [(i.code, i.message) for i in report.issues]


@pytest.mark.parametrize("vlan,found", [
    ("<vlan trunk='no'><tag id='5' nativeMode='untagged'/><tag id='6'/></vlan>",
     [("vlan-trunk-no", "network: several tags make a trunk, but trunk='no' is set")]),
    ("<vlan trunk='no'><tag id='5'/><tag id='6'/></vlan>",
     [("vlan-trunk-no", "network: several tags make a trunk, but trunk='no' is set")]),
    ("<vlan trunk='no'><tag id='5' nativeMode='untagged'/></vlan>",
     [("vlan-trunk-no", "network: a native VLAN needs a trunk, but trunk='no' is set")]),
    ("<vlan trunk='no'><tag id='5'/></vlan>", []),
    ("<vlan trunk='yes'><tag id='5' nativeMode='untagged'/></vlan>", []),
    ("<vlan><tag id='5' nativeMode='untagged'/></vlan>",
     [("vlan-native-no-trunk", "network: nativeMode only means something on a trunk: add trunk='yes' or "
                               "more tags")]),
    ("<vlan><tag id='5' nativeMode='untagged'/><tag id='6'/></vlan>", []),
    ("<vlan><tag id='5'/></vlan>", []),
])
def test_vlan_trunk_flags(vlan, found):
    assert _network(OVS + vlan) == found


@pytest.mark.parametrize("bandwidth,found", [
    ("<inbound peak='10'/>", [("bandwidth-rate", "network: <inbound> needs an average or a floor")]),
    ("<inbound burst='10'/>", [("bandwidth-rate", "network: <inbound> needs an average or a floor")]),
    ("<outbound peak='10'/>", [("bandwidth-rate", "network: <outbound> needs an average or a floor")]),
    ("<inbound average='10' peak='20' burst='5'/>", []),
    ("<outbound average='10' floor='5'/>", [("bandwidth-floor", f"network: {FLOOR}")]),
    ("<inbound average='10' floor='5'/>", [("bandwidth-floor", f"network: {FLOOR}")]),
])
def test_network_bandwidth(bandwidth, found):
    assert _network(f"<forward mode='nat'/><bandwidth>{bandwidth}</bandwidth>") == [NEEDS_IP, *found]


@pytest.mark.parametrize("interface,found", [
    ("<interface type='network'><source network='n'/><bandwidth><inbound average='1' floor='5'/>"
     "</bandwidth></interface>", []),
    ("<interface type='network'><source network='n'/><bandwidth><outbound average='1' floor='5'/>"
     "</bandwidth></interface>", [("bandwidth-floor", f"<interface type='network'>: {FLOOR}")]),
    ("<interface type='bridge'><source bridge='br0'/><bandwidth><inbound average='1' floor='5'/>"
     "</bandwidth></interface>", [("bandwidth-floor", f"<interface type='bridge'>: {FLOOR}")]),
    ("<interface type='bridge'><source bridge='br0'/><bandwidth><inbound peak='5'/></bandwidth></interface>",
     [("bandwidth-rate", "<interface type='bridge'>: <inbound> needs an average or a floor")]),
])
def test_interface_bandwidth(interface, found):
    assert _domain(interface) == found


@pytest.mark.parametrize("interface,found", [
    ("<interface type='direct'><source dev='a-very-long-uplink-name' mode='bridge'/></interface>",
     [("device-name", "<source mode='bridge' dev='a-very-long-uplink-name'>: uplink "
                      "'a-very-long-uplink-name' is not a valid Linux interface name: 23 bytes long, the "
                      "kernel allows at most 15")]),
    ("<interface type='direct'><source dev='eth-up.15' mode='bridge'/></interface>", []),
    # only a direct interface's source dev is an uplink name
    ("<interface type='bridge'><source dev='a-very-long-uplink-name' bridge='br0'/></interface>", []),
])
def test_uplink_name_of_a_direct_interface(interface, found):
    assert _domain(interface) == found


GENERATED = ("target-generated", "<interface type='bridge'>: libvirt drops target dev 'vnet3' when the "
             "guest is defined: names starting with vnet, macvtap, macvlan are reserved for the ones it "
             "generates (a pre-created TAP needs managed='no')")


@pytest.mark.parametrize("attrs,found", [("", [GENERATED]), (" id='4'", [])])
def test_generated_target_names_matter_only_in_a_definition(attrs, found):
    assert _domain("<interface type='bridge'><source bridge='br0'/><target dev='vnet3'/></interface>",
                   attrs) == found


def _two(first: str, second: str, extra: str = "") -> str:
    return (f"<interface type='bridge'><mac address='{first}'/><source bridge='br0'/></interface>"
            f"<interface type='bridge'><mac address='{second}'/><source bridge='br0'/>{extra}</interface>")


@pytest.mark.parametrize("devices,found", [
    (_two("52:54:00:00:00:01", "52:54:00:00:00:01"),
     [("mac-duplicate-in-domain", "<interface type='bridge'>: MAC 52:54:00:00:00:01 is also used by the "
                                  "interface on line 1 of this domain")]),
    (_two("52:54:00:AA:00:01", "52:54:00:aa:00:01"),
     [("mac-duplicate-in-domain", "<interface type='bridge'>: MAC 52:54:00:aa:00:01 is also used by the "
                                  "interface on line 1 of this domain")]),
    (_two("52:54:00:00:00:01", "52:54:00:00:00:02"), []),
    (_two("52:54:00:00:00:01", "52:54:00:00:00:01", "<teaming type='transient' persistent='ua-x'/>"), []),
    ("<interface type='bridge'><source bridge='br0'/></interface><interface type='user'/>"
     + _two("52:54:00:00:00:01", "52:54:00:00:00:02"), []),
])
def test_macs_shared_within_a_domain(devices, found):
    assert _domain(devices) == found


def test_teaming_on_the_first_of_the_pair_also_allows_it():
    devices = ("<interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='br0'/>"
               "<teaming type='persistent'/></interface>" + _two("52:54:00:00:00:03", "52:54:00:00:00:01"))
    assert _domain(devices) == []


@pytest.mark.parametrize("address,found", [
    ("type='pci' domain='0x0000' bus='0x100' slot='0x10' function='0x1'",
     [("pci-address", "<address type='pci'>: invalid PCI address '0:100:10.1': field out of range")]),
    ("type='pci' domain='0x10000' bus='0x04' slot='0x10' function='0x1'",
     [("pci-address", "<address type='pci'>: invalid PCI address '10000:4:10.1': field out of range")]),
    ("type='pci' domain='0xffff' bus='0xff' slot='0x1f' function='0x7'", []),
    ("type='usb' bus='0x100'", []),
])
def test_pci_address_fields_of_a_hostdev_interface(address, found):
    assert _domain(f"<interface type='hostdev'><source><address {address}/></source></interface>") == found
