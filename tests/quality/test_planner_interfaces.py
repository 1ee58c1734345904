"""What the planner reads from each ``<interface>`` (``hooks.planner.interfaces.nics``), with
fixed answers per kind of interface, and the labels that name an interface in messages.
"""

from __future__ import annotations

import pytest

from hooks import actions as A
from hooks.planner import StaticFacts, plan
from hooks.planner.interfaces import meta_of, nics, uuid_of
from hooks.protocol import lookup
from xmltools.errors import InvalidValue
from xmltools.xmlparse import parse_bytes

NS = "urn:virt-netxml:hooks:1"


def _root(interfaces: str, meta: str = ""):
    metadata = f"<metadata><vnx:netxml xmlns:vnx='{NS}'>{meta}</vnx:netxml></metadata>" if meta else ""
    return parse_bytes(f"<domain><name>vm</name>{metadata}<devices>{interfaces}</devices></domain>"
                       .encode()).getroot()


def _fields(nic) -> tuple:
    return (nic.type, nic.mac, nic.dev, nic.bridge, nic.ovs, nic.source_dev, nic.source_mode, nic.managed,
            nic.label)


@pytest.mark.parametrize("xml,fields", [
    ("<interface type='bridge'><mac address='52:54:00:AA:00:01'/><source bridge='br0'/>"
     "<virtualport type='openvswitch'/><target dev='vnet0'/></interface>",
     ("bridge", "52:54:00:aa:00:01", "vnet0", "br0", True, None, None, None, "52:54:00:aa:00:01 (vnet0)")),
    ("<interface type='network'><mac address='52:54:00:00:00:02'/><source network='n' bridge='virbr0'/>"
     "<virtualport type='802.1Qbh'/></interface>",
     ("network", "52:54:00:00:00:02", None, "virbr0", False, None, None, None, "52:54:00:00:00:02")),
    ("<interface type='direct'><mac address='52:54:00:00:00:03'/><source dev='up0' mode='vepa'/>"
     "<target dev='macvtap0'/></interface>",
     ("direct", "52:54:00:00:00:03", "macvtap0", None, False, "up0", "vepa", None,
      "52:54:00:00:00:03 (macvtap0)")),
    ("<interface type='ethernet'><mac address='52:54:00:00:00:04'/><target dev='tap0' managed='no'/>"
     "</interface>",
     ("ethernet", "52:54:00:00:00:04", "tap0", None, False, None, None, "no", "52:54:00:00:00:04 (tap0)")),
    ("<interface type='user'><target dev='x0'/></interface>",
     ("user", "", "x0", None, False, None, None, None, " (x0)")),
])
def test_each_kind_of_interface_as_the_planner_reads_it(xml, fields):
    [nic] = nics(_root(xml))
    assert _fields(nic) == fields


def test_a_hostdev_names_its_pci_function_and_nothing_else_does():
    pci = ("<interface type='hostdev'><source><address type='pci' domain='0x0001' bus='0x02' slot='0x03' "
           "function='0x4'/></source></interface>")
    usb = "<interface type='hostdev'><source><address type='usb' bus='1' port='2'/></source></interface>"
    bare = "<interface type='hostdev'/>"
    bridge = "<interface type='bridge'><source bridge='br0'/></interface>"
    assert [n.hostdev_address() for n in nics(_root(pci + usb + bare + bridge))] == [
        "0001:02:03.4", None, None, None]


def test_a_bad_target_device_name_is_refused_as_a_target_dev():
    with pytest.raises(InvalidValue) as info:
        nics(_root("<interface type='bridge'><source bridge='br0'/><target dev='../x'/></interface>"))
    assert info.value.message.startswith("invalid target dev '../x'")


def test_an_interface_without_mac_is_labelled_by_its_device_only():
    xml = ("<interface type='direct'><source dev='up0' mode='passthrough'/><target dev='macvtap0'/>"
           "</interface>")
    actions = plan(lookup("qemu", "prepare"), _root(xml), StaticFacts(), {})
    assert [(a, a.iface) for a in actions] == [(A.PassthroughExclusive("uplink-up0"), " (macvtap0)"),
                                              (A.MarkStarting(), "")]


def test_metadata_and_uuid_of_a_document():
    root = _root("", "<vnx:interface mac='52:54:00:00:00:01'/>")
    assert [i.mac for i in meta_of(root).interfaces] == ["52:54:00:00:00:01"]
    assert meta_of(_root("")) is None
    assert uuid_of(parse_bytes(b"<network><uuid>u-1</uuid></network>").getroot()) == "u-1"
    assert uuid_of(parse_bytes(b"<network/>").getroot()) is None
    assert uuid_of(None) is None
