"""The domain <interface> model and the Domain wrapper: reading, writing, order, round trips."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from xmltools.common import VirtualPort, VirtualPortParameters, Vlan
from xmltools.domain import DocumentStyle, Domain
from xmltools.errors import InvalidValue, UnsafeXmlError, WrongDocument
from xmltools.interface import (
    BridgeSource,
    DirectSource,
    EthernetSource,
    FilterParameter,
    FilterRef,
    HostdevSource,
    Interface,
    InterfaceDriver,
    InterfaceRom,
    NetworkSource,
    VhostUserSource,
)
from xmltools.metadata import MetaInterface, MetaVlan
from xmltools.names import PciAddress

DOMAINS = Path(__file__).resolve().parent.parent / "fixtures" / "domains"


def read(name: str) -> str:
    return (DOMAINS / name).read_text()


def child_tags(iface: Interface) -> list[str]:
    return [c.tag for c in iface.node if isinstance(c.tag, str)]


# --------------------------------------------------------------------------- reading


def test_live_capture_reads_every_interface() -> None:
    dom = Domain.from_xml(read("capvm-start.xml"))
    assert dom.name == "capvm"
    assert dom.uuid == "de3e2b2f-a916-47d3-a681-2d51dd5d3267"
    ifaces = list(dom.interfaces)
    assert [i.type for i in ifaces] == ["network", "bridge", "direct", "bridge", "ethernet", "direct"]
    assert [i.target_dev for i in ifaces] == ["vnet102", "vnet103", "macvtap1", "vnet104", "tapcap0",
                                              "macvtap2"]
    assert [i.alias for i in ifaces] == [f"net{n}" for n in range(6)]

    net = ifaces[0].source
    assert isinstance(net, NetworkSource)
    assert (net.network, net.portid, net.bridge) == ("capnat", "aab10347-5f5e-4c05-990b-e87a32fb2cf6",
                                                     "virbr5")

    ovs = ifaces[1]
    src = ovs.source
    assert isinstance(src, BridgeSource)
    assert (src.bridge, src.network, src.portgroup) == ("ovsbr0", "packtovs", "trunk")
    assert ovs.is_ovs
    assert ovs.virtualport.parameters.interfaceid == "6602cfe5-16e2-4a31-b0c7-a263f86f0ef4"
    assert ovs.vlan.trunk is True
    assert ovs.vlan.ids == [10, 20]
    assert ovs.vlan.native.id == 10 and ovs.vlan.native.native_mode == "untagged"

    macvtap = ifaces[2].source
    assert isinstance(macvtap, DirectSource)
    assert (macvtap.dev, macvtap.mode, macvtap.network) == ("up0", "bridge", "capmvtap")

    tap = ifaces[4]
    assert tap.target_managed is False
    assert tap.source is None
    assert tap.model == "virtio"
    assert tap.rom.enabled is False
    assert tap.mac == "52:54:00:b4:49:09"
    assert tap.pci_address == PciAddress(0, 0, 6, 0)
    assert not ifaces[3].is_ovs


def test_hostdev_source_reads_the_pci_address() -> None:
    iface = Interface.from_xml(
        "<interface type='hostdev' managed='yes'><driver name='vfio'/><source>"
        "<address type='pci' domain='0x0000' bus='0x04' slot='0x10' function='0x0'/>"
        "</source><vlan><tag id='42'/></vlan></interface>")
    assert iface.managed is True
    assert iface.driver.name == "vfio"
    src = iface.source
    assert isinstance(src, HostdevSource)
    assert src.address == PciAddress(0, 4, 0x10, 0)
    assert str(src.address) == "0000:04:10.0"
    assert iface.vlan.ids == [42]


def test_source_class_follows_the_type() -> None:
    cases = {
        "network": NetworkSource, "bridge": BridgeSource, "direct": DirectSource,
        "hostdev": HostdevSource, "ethernet": EthernetSource, "vhostuser": VhostUserSource,
    }
    for kind, cls in cases.items():
        iface = Interface.from_xml(f"<interface type='{kind}'><source/></interface>")
        assert type(iface.source) is cls, kind
    udp = Interface.from_xml("<interface type='udp'><source address='1.2.3.4' port='5'/></interface>")
    assert udp.source is not None and udp.source.node.get("port") == "5"


def test_optional_elements_read_typed_values() -> None:
    iface = Interface.from_xml(
        "<interface type='network'><source network='n'/>"
        "<bandwidth><inbound average='1000' peak='2000' burst='64'/><outbound average='500'/></bandwidth>"
        "<model type='virtio'/><driver name='vhost' queues='4'/>"
        "<filterref filter='clean-traffic'><parameter name='IP' value='10.0.0.5'/></filterref>"
        "<link state='down'/><mtu size='9000'/><boot order='2'/>"
        "<rom bar='off' file='/x.rom'/></interface>")
    assert iface.bandwidth.inbound.average == 1000
    assert iface.bandwidth.inbound.burst == 64
    assert iface.bandwidth.outbound.average == 500
    assert iface.driver.queues == 4
    assert iface.filterref.filter == "clean-traffic"
    assert iface.filter_parameters == {"IP": "10.0.0.5"}
    assert iface.link_state == "down"
    assert iface.mtu == 9000
    assert iface.boot_order == 2
    assert iface.rom.bar is False and iface.rom.file == "/x.rom"


def test_bad_typed_value_is_reported() -> None:
    iface = Interface.from_xml("<interface type='network'><mtu size='big'/></interface>")
    with pytest.raises(InvalidValue, match="not a whole number"):
        _ = iface.mtu


def test_from_xml_refuses_other_documents_and_doctype() -> None:
    with pytest.raises(WrongDocument, match="expected <interface>, found <network>"):
        Interface.from_xml("<network/>", source="x.xml")
    with pytest.raises(WrongDocument, match="expected <domain>"):
        Domain.from_xml("<interface type='network'/>")
    with pytest.raises(UnsafeXmlError):
        Domain.from_xml("<!DOCTYPE d [<!ENTITY e 'x'>]><domain>&e;</domain>")


# --------------------------------------------------------------------------- writing


def test_new_children_land_in_libvirt_order() -> None:
    iface = Interface.from_xml(
        "<interface type='bridge'>\n  <source bridge='br0'/>\n  <model type='virtio'/>\n"
        "  <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>\n</interface>")
    iface.boot_order = 1
    iface.mtu = 1400
    iface.mac = "52:54:00:00:00:01"
    iface.target_dev = "tap7"
    iface.virtualport = VirtualPort(type="openvswitch")
    iface.vlan = Vlan.build([5])
    iface.link_state = "up"
    assert child_tags(iface) == ["mac", "source", "vlan", "virtualport", "target", "model", "link",
                                 "mtu", "boot", "address"]
    # indentation follows the siblings
    assert "\n  <mtu size=\"1400\"/>\n  <boot order=\"1\"/>\n  <address" in iface.to_xml()


def test_hostdev_driver_goes_before_source() -> None:
    iface = Interface(type="hostdev")
    src = iface.source_or_create()
    assert isinstance(src, HostdevSource)
    src.address = PciAddress.parse("0000:04:10.1")
    iface.mac = "52:54:00:aa:bb:cc"
    iface.driver = InterfaceDriver(name="vfio")
    assert child_tags(iface) == ["mac", "driver", "source"]
    address = iface.node.find("source/address")
    assert dict(address.attrib) == {"type": "pci", "domain": "0x0000", "bus": "0x04", "slot": "0x10",
                                    "function": "0x1"}
    src.address = None
    assert iface.node.find("source/address") is None


def test_virtio_driver_goes_after_model() -> None:
    iface = Interface(type="network")
    iface.model = "virtio"
    iface.rom = InterfaceRom(enabled=False)
    iface.driver = InterfaceDriver(queues=2)
    assert child_tags(iface) == ["model", "driver", "rom"]


def test_clearing_a_field_removes_the_element_tidily() -> None:
    text = ("<interface type='network'>\n  <source network='n'/>\n  <mtu size='9000'/>\n"
            "  <model type='virtio'/>\n</interface>")
    iface = Interface.from_xml(text)
    iface.mtu = None
    assert iface.to_xml() == ("<interface type=\"network\">\n  <source network=\"n\"/>\n"
                              "  <model type=\"virtio\"/>\n</interface>\n")


def test_filterref_and_virtualport_parameters_write() -> None:
    iface = Interface(type="bridge")
    ref = FilterRef(filter="clean-traffic")
    ref.parameters.append(FilterParameter(name="IP", value="10.0.0.1"))
    iface.filterref = ref
    iface.virtualport = VirtualPort(type="802.1Qbg",
                                    parameters=VirtualPortParameters(managerid=11, typeid=1193047,
                                                                     typeidversion=2))
    assert iface.node.find("filterref/parameter").get("value") == "10.0.0.1"
    params = iface.node.find("virtualport/parameters")
    assert (params.get("managerid"), params.get("typeid"), params.get("typeidversion")) == \
        ("11", "1193047", "2")


def test_change_type_keeps_unknown_source_attributes() -> None:
    iface = Interface.from_xml("<interface type='network'><source network='n' portgroup='p' "
                               "portid='x' bridge='virbr0' x-keep='1'/></interface>")
    src = iface.change_type("bridge")
    assert isinstance(src, BridgeSource)
    assert dict(src.node.attrib) == {"x-keep": "1"}
    src.bridge = "br1"
    assert iface.to_xml() == '<interface type="bridge"><source x-keep="1" bridge="br1"/></interface>\n'


def test_leaving_hostdev_drops_vf_only_parts() -> None:
    iface = Interface.from_xml(
        "<interface type='hostdev' managed='yes'><mac address='52:54:00:00:00:09'/>"
        "<driver name='vfio'/><source><address type='pci' domain='0' bus='4' slot='16' "
        "function='0'/></source></interface>")
    iface.change_type("network").network = "default"
    assert child_tags(iface) == ["mac", "source"]
    assert iface.managed is None
    assert dict(iface.node.find("source").attrib) == {"network": "default"}


# --------------------------------------------------------------------------- the domain wrapper


def test_select_by_mac_target_and_index() -> None:
    dom = Domain.from_xml(read("capvm-start.xml"))
    assert dom.select(mac="52:54:00:EA:DD:15")[0].target_dev == "vnet104"
    assert dom.select(target="tapcap0")[0].mac == "52:54:00:b4:49:09"
    assert dom.select(index=5)[0].target_dev == "macvtap2"
    assert len(dom.select()) == 6
    assert dom.select(index=1, target="vnet103")[0].is_ovs
    with pytest.raises(InvalidValue, match="no interface of the domain matches"):
        dom.select(mac="52:54:00:00:00:00")
    with pytest.raises(InvalidValue, match="has 6 interface"):
        dom.select(index=6)
    with pytest.raises(InvalidValue, match="no interface"):
        dom.select(index=0, target="vnet103")


def test_first_interface_lands_before_inputs() -> None:
    dom = Domain.from_xml(
        "<domain type='test'>\n  <name>a</name>\n  <devices>\n    <disk type='file'/>\n"
        "    <input type='mouse'/>\n  </devices>\n</domain>")
    dom.add_interface(Interface(type="user"))
    assert [c.tag for c in dom.node.find("devices")] == ["disk", "interface", "input"]
    assert "    <disk type='file'/>\n    <interface type='user'/>\n    <input" in dom.to_xml()


def test_interface_added_after_the_last_one() -> None:
    dom = Domain.from_xml(read("capvm-prepare.xml"))
    dom.add_interface(Interface(type="user"))
    devices = [c.tag for c in dom.node.find("devices") if isinstance(c.tag, str)]
    assert devices.index("interface") == 3
    assert devices[3:10] == ["interface"] * 7
    assert devices[10] == "input"
    assert list(dom.interfaces)[-1].type == "user"


def test_domain_without_devices_gets_them_in_place() -> None:
    dom = Domain.from_xml("<domain type='test'><name>a</name><os><type>hvm</type></os>"
                          "<seclabel type='none'/></domain>")
    dom.add_interface(Interface(type="user"))
    assert [c.tag for c in dom.node] == ["name", "os", "devices", "seclabel"]


def test_metadata_created_in_libvirt_order_and_beside_foreign_metadata() -> None:
    dom = Domain.from_xml("<domain><name>a</name><uuid>u</uuid><memory>1</memory></domain>")
    dom.meta_interface_or_create("52:54:00:AA:00:01").vlan = MetaVlan(tag=10)
    assert [c.tag for c in dom.node] == ["name", "uuid", "metadata", "memory"]
    assert dom.meta_interface("52:54:00:aa:00:01").vlan.resolved().tag == 10

    capture = Domain.from_xml(read("capvm-prepare.xml"))
    capture.meta_interface_or_create("52:54:00:ea:dd:15")
    metadata = capture.node.find("metadata")
    assert [c.tag for c in metadata] == ["{urn:example:capture}note", "{urn:virt-netxml:hooks:1}netxml"]


def test_remove_interface_drops_its_metadata_and_empty_husks() -> None:
    dom = Domain.from_xml(read("capvm-prepare.xml"))
    iface = dom.select(mac="52:54:00:ea:dd:15")[0]
    entry = dom.meta_interface_or_create(iface.mac)
    entry.vlan = MetaVlan(tag=3)
    dom.meta_or_create().interfaces.append(MetaInterface(mac="52:54:00:00:00:77"))
    dom.remove_interface(iface)
    assert len(dom.interfaces) == 5
    assert dom.meta_interface("52:54:00:ea:dd:15") is None
    assert dom.meta() is None  # the other entry was empty, so nothing of ours remains
    assert dom.node.find("metadata") is not None  # the foreign note stays


def test_prune_removes_metadata_it_emptied() -> None:
    text = "<domain>\n  <name>a</name>\n  <memory>1</memory>\n</domain>\n"
    dom = Domain.from_xml(text)
    dom.meta_interface_or_create("52:54:00:00:00:01").vlan = MetaVlan(tag=1)
    assert "<metadata>" in dom.to_xml()
    dom.drop_meta_interface("52:54:00:00:00:01")
    assert dom.to_xml() == text


def test_seed_prefers_uuid_then_name() -> None:
    assert Domain.from_xml("<domain><name>n</name><uuid>u-1</uuid></domain>").seed == "u-1"
    assert Domain.from_xml("<domain><name>n</name></domain>").seed == "n"
    assert Domain.from_xml("<domain/>").seed is None


# --------------------------------------------------------------------------- writing back


@pytest.mark.parametrize("name", ["keepsake.xml", "capvm-prepare.xml", "capvm-start.xml"])
def test_unedited_round_trip_is_byte_identical(name: str) -> None:
    text = read(name)
    assert Domain.from_xml(text).to_xml() == text


def test_style_detection() -> None:
    style = DocumentStyle.of(read("capvm-start.xml"))
    # virsh: single quotes, but <metadata> content copied by libxml2 in double quotes
    assert (style.quote, style.metadata_quote) == ("'", '"')
    assert style.root_tag == "<domain type='kvm' id='27'>"
    keepsake = DocumentStyle.of(read("keepsake.xml"))
    assert keepsake.declaration == "<?xml version='1.0' encoding='UTF-8'?>"
    assert DocumentStyle.of('<domain type="kvm"/>').quote == '"'


def test_single_quote_style_escapes_apostrophes() -> None:
    dom = Domain.from_xml("<domain type='kvm'><name>a</name></domain>\n")
    dom.node.find("name").set("note", "it's")
    assert dom.to_xml() == "<domain type='kvm'><name note='it&apos;s'>a</name></domain>\n"
    again = Domain.from_xml(dom.to_xml())
    assert again.node.find("name").get("note") == "it's"


def test_edit_changes_only_the_edited_lines() -> None:
    """parse -> edit one interface -> write: every other byte of the document is kept."""
    text = read("keepsake.xml")
    dom = Domain.from_xml(text)
    iface = dom.select(mac="52:54:00:10:00:02")[0]
    iface.model = "virtio"
    iface.mtu = 1400
    out = dom.to_xml()
    diff = [line for line in difflib.ndiff(text.splitlines(), out.splitlines())
            if line.startswith(("+ ", "- "))]
    assert diff == ["-       <model type='e1000e'/>", "+       <model type='virtio'/>",
                    "+       <mtu size='1400'/>"]
