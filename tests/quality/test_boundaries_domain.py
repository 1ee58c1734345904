"""The domain model under ``edit``: reading the right document, choosing interfaces, adding and
removing them with their metadata, and the messages of each refusal, written out in full."""

from __future__ import annotations

import random

import pytest

from xmltools.domain import Domain
from xmltools.edit import InterfaceEdits, NetworkEdits, edit_interfaces, edit_network, load_document
from xmltools.errors import NetXmlError
from xmltools.interface import Interface
from xmltools.network import Network

NS = "urn:virt-netxml:hooks:1"


def _message(call, *args, **kwargs) -> str:
    with pytest.raises(NetXmlError) as info:
        call(*args, **kwargs)
    return info.value.message


@pytest.mark.parametrize("data,message", [
    (b"<network><name>n</name></network>", "f.xml: expected <domain>, found <network>"),
    (b"<x:domain xmlns:x='urn:x'/>", "f.xml: expected <domain>, found <{urn:x}domain>"),
    (b"<domain>", "f.xml:1: malformed XML: Premature end of data in tag domain line 1, line 1, column 9"),
])
def test_domain_from_the_wrong_document(data, message):
    assert _message(Domain.from_xml, data, source="f.xml") == message


@pytest.mark.parametrize("data,message", [
    (b"<foo/>", "src.xml: expected <domain>, <network> or <interface>, found <foo>"),
    (b"<x:foo xmlns:x='urn:x'/>", "src.xml: expected <domain>, <network> or <interface>, found <foo>"),
    (b"<domain>", "src.xml:1: malformed XML: Premature end of data in tag domain line 1, line 1, column 9"),
])
def test_load_document_refusals(data, message):
    assert _message(load_document, data, "src.xml") == message


@pytest.mark.parametrize("data,kind", [
    (b"<domain><name>d</name></domain>", Domain),
    (b"<network><name>n</name></network>", Network),
    (b"<interface type='user'/>", Interface),
])
def test_load_document_by_root(data, kind):
    doc, _ = load_document(data, "x.xml")
    assert type(doc) is kind and doc.node.tag == data[1:].split(b">")[0].split(b" ")[0].decode()


def test_selection_messages():
    empty = Domain.from_xml("<domain><name>vm</name><devices/></domain>")
    assert empty.select() == []
    assert _message(empty.select, index=0) == ("invalid interface index '0': the domain has 0 interface(s), "
                                                "counted from 0")
    one = Domain.from_xml("<domain><name>vm</name><devices><interface type='user'/></devices></domain>")
    assert _message(one.select, mac="xxxx") == ("invalid MAC address 'xxxx': expected 6 octets separated "
                                                "by ':' or '-', found 1")
    assert _message(one.select, target="vnet9") == ("invalid interface selection 'target vnet9': no "
                                                    "interface of the domain matches; its interfaces: "
                                                    "0 (no MAC, user)")
    assert _message(one.select, mac="52:54:00:00:00:01", target="t", index=0) == (
        "invalid interface selection 'MAC 52:54:00:00:00:01, target t, index 0': no interface of the "
        "domain matches; its interfaces: 0 (no MAC, user)")


def _domain_with_meta() -> Domain:
    return Domain.from_xml(
        "<domain><name>vm</name><metadata><app:note xmlns:app='urn:example'>keep</app:note>"
        f"<vnx:netxml xmlns:vnx='{NS}'><vnx:interface mac='52:54:00:00:00:01'><vnx:vlan tag='5'/>"
        "</vnx:interface></vnx:netxml></metadata><devices><emulator>/x</emulator>"
        "<interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='br0'/></interface>"
        "<input type='tablet'/></devices></domain>")


def test_removing_an_interface_removes_its_metadata():
    dom = _domain_with_meta()
    [iface] = dom.select()
    dom.remove_interface(iface)
    assert dom.select() == [] and dom.meta_interface("52:54:00:00:00:01") is None
    assert "<app:note" in dom.to_xml()


def test_an_added_interface_goes_after_the_others_before_other_devices():
    dom = _domain_with_meta()
    dom.add_interface(Interface.from_xml("<interface type='network'><source network='n'/></interface>"))
    devices = [c.tag for c in dom.node.find("devices")]
    assert devices == ["emulator", "interface", "interface", "input"]
    assert [i.type for i in dom.select()] == ["bridge", "network"]


def test_clearing_the_last_wish_keeps_other_metadata():
    dom = _domain_with_meta()
    edit_interfaces(dom.select(), InterfaceEdits(clear_bridge_vlan=True), dom)
    assert dom.meta() is None
    assert dom.node.find("metadata") is not None and "<app:note" in dom.to_xml()


def test_clearing_the_only_wish_removes_the_metadata_element():
    dom = Domain.from_xml(
        f"<domain><name>vm</name><metadata><vnx:netxml xmlns:vnx='{NS}'><vnx:interface "
        "mac='52:54:00:00:00:01'><vnx:vlan tag='5'/></vnx:interface></vnx:netxml></metadata><devices>"
        "<interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='br0'/></interface>"
        "</devices></domain>")
    edit_interfaces(dom.select(), InterfaceEdits(clear_bridge_vlan=True), dom)
    assert dom.node.find("metadata") is None


def test_a_new_mac_takes_its_metadata_along_and_follows_the_generator():
    macs = []
    for _ in range(2):
        dom = _domain_with_meta()
        edit_interfaces(dom.select(), InterfaceEdits(regenerate_mac=True), dom, random.Random(7))
        [iface] = dom.select()
        macs.append(iface.mac)
        assert dom.meta_interface(iface.mac).vlan.tag == 5
        assert dom.meta_interface("52:54:00:00:00:01") is None
    assert macs[0] == macs[1] != "52:54:00:00:00:01"


def test_bridge_vlan_with_native_and_mode():
    dom = _domain_with_meta()
    edit_interfaces(dom.select(), InterfaceEdits(set_bridge_vlan="10,20", vlan_native="20",
                                                 vlan_mode="native-tagged"), dom)
    wish = dom.meta_interface("52:54:00:00:00:01").vlan
    assert (wish.trunks, wish.native, wish.mode) == ("10,20", 20, "native-tagged")


def test_libvirt_vlan_with_native_and_mode_on_ovs():
    dom = _domain_with_meta()
    edit_interfaces(dom.select(), InterfaceEdits(ovs=True, set_vlan="10,20", vlan_native="20",
                                                 vlan_mode="native-tagged"), dom)
    vlan = dom.select()[0].vlan
    assert vlan.trunk and vlan.native.id == 20 and vlan.native.native_mode == "tagged"


@pytest.mark.parametrize("doc,native_mode", [
    ("<network><name>o</name><forward mode='bridge'/><bridge name='ovsbr0'/>"
     "<virtualport type='openvswitch'/><portgroup name='a'/></network>", "libvirt"),
    ("<network><name>n</name><forward mode='nat'/><portgroup name='a'/></network>", "metadata"),
])
def test_portgroup_vlan_with_native_and_mode(doc, native_mode):
    net = Network.from_xml(doc)
    edit_network(net, NetworkEdits(portgroup_vlans=("a=10,20",), vlan_native="20", vlan_mode="native-tagged"))
    if native_mode == "libvirt":
        vlan = net.portgroup("a").vlan
        assert vlan.native.id == 20 and vlan.native.native_mode == "tagged"
    else:
        wish = net.meta().portgroup("a").vlan
        assert (wish.trunks, wish.native, wish.mode) == ("10,20", 20, "native-tagged")


def test_portgroup_vlan_spec_splits_at_the_first_equals_sign():
    net = Network.from_xml("<network><name>n</name><forward mode='nat'/><portgroup name='a'/></network>")
    assert _message(edit_network, net, NetworkEdits(portgroup_vlans=("a=1=2",))) == (
        "invalid VLAN list '1=2': '1=2' is not an id or a range LO-HI (ASCII digits only)")


@pytest.mark.parametrize("xml,start", [
    ("<interface type='bridge'><source bridge='br0'/></interface>",
     "invalid edit 'interface (no MAC)': it would keep a <vlan>: libvirt "),
    ("<interface type='bridge'><mac address='52:54:00:00:00:09'/><source bridge='br0'/></interface>",
     "invalid edit 'interface (52:54:00:00:00:09)': it would keep a <vlan>: libvirt "),
])
def test_a_standalone_interface_is_named_by_its_mac(xml, start):
    # (the reason after the colon is libvirt_vlan_problem's, pinned where that is tested)
    message = _message(edit_interfaces, [Interface.from_xml(xml)], InterfaceEdits(set_vlan="5"), None)
    assert message.startswith(start) and "Linux bridge port" in message


@pytest.mark.parametrize("xml,message", [
    ("<interface type='bridge'><source bridge='br0'/><virtualport type='802.1Qbg'/></interface>",
     "invalid virtualport '802.1Qbg': the interface already has another virtualport type"),
    ("<interface><source bridge='br0'/></interface>",
     "invalid interface type '': only a bridge or network interface can be an Open vSwitch port"),
    ("<interface type='direct'><source dev='up0' mode='bridge'/></interface>",
     "invalid interface type 'direct': only a bridge or network interface can be an Open vSwitch port"),
])
def test_ovs_refusals(xml, message):
    assert _message(edit_interfaces, [Interface.from_xml(xml)], InterfaceEdits(ovs=True), None) == message


@pytest.mark.parametrize("xml", [
    "<interface type='network'><source network='n'/></interface>",
    "<interface type='bridge'><source bridge='br0'/><virtualport type='openvswitch'/></interface>",
])
def test_ovs_on_and_off(xml):
    iface = Interface.from_xml(xml)
    edit_interfaces([iface], InterfaceEdits(ovs=True), None)
    assert iface.virtualport.type == "openvswitch"
    edit_interfaces([iface], InterfaceEdits(ovs=False), None)
    assert iface.virtualport is None


def test_ovs_off_leaves_another_virtualport():
    iface = Interface.from_xml("<interface type='bridge'><source bridge='br0'/>"
                               "<virtualport type='802.1Qbg'/></interface>")
    edit_interfaces([iface], InterfaceEdits(ovs=False), None)
    assert iface.virtualport.type == "802.1Qbg"


def test_pruning_the_metadata_keeps_a_metadata_element_that_still_holds_text() -> None:
    dom = Domain.from_xml(f"<domain><metadata>note<vnx:netxml xmlns:vnx='{NS}'><vnx:interface "
                          "mac='52:54:00:00:00:01'/></vnx:netxml></metadata></domain>")
    dom.prune_meta()
    assert dom.node.find("metadata") is not None and dom.node.find("metadata").text == "note"
    assert len(dom.node.find("metadata")) == 0
    dom = Domain.from_xml(f"<domain><metadata><vnx:netxml xmlns:vnx='{NS}'><vnx:interface "
                          "mac='52:54:00:00:00:01'/></vnx:netxml></metadata></domain>")
    dom.prune_meta()
    assert dom.node.find("metadata") is None


def test_domain_from_the_wrong_document_without_a_source_name() -> None:
    assert _message(Domain.from_xml, b"<network/>") == "<input>: expected <domain>, found <network>"


def test_document_style_skips_processing_instructions_and_ends_the_declaration_at_its_own_end() -> None:
    from xmltools.domain import DocumentStyle

    style = DocumentStyle.of("<?xml version='1.0'?>\n<domain><?pi a='x'?><name b=\"1\">a</name></domain>")
    assert style.declaration == "<?xml version='1.0'?>"
    assert style.quote == '"'


def test_bandwidth_of_a_hostdev_is_refused_naming_the_interface() -> None:
    dom = Domain.from_xml("<domain><devices><interface type='hostdev'><mac address='52:54:00:00:00:02'/>"
                          "<source/></interface></devices></domain>")
    assert _message(edit_interfaces, dom.select(index=0), InterfaceEdits(bandwidth=("in=5",)), dom) == (
        "invalid bandwidth 'interface 0 (52:54:00:00:00:02)': libvirt sets no bandwidth limits on a "
        "hostdev interface")


def test_change_of_type_of_a_standalone_interface() -> None:
    iface = Interface.from_xml("<interface type='network'><mac address='52:54:00:00:00:01'/>"
                               "<source network='n'/></interface>")
    edit_interfaces([iface], InterfaceEdits(source_bridge="br1"))
    assert iface.type == "bridge" and iface.source.bridge == "br1"


def test_edit_of_a_foreign_hypervisors_interface_keeps_its_bridge_name() -> None:
    """VMware's port group names are no Linux interface names; an edit of something else is not
    refused for them."""
    dom = Domain.from_xml("<domain type='vmware'><devices><interface type='bridge'>"
                          "<mac address='00:50:56:00:00:01'/><source bridge='VM Network'/></interface>"
                          "</devices></domain>")
    edit_interfaces(dom.select(index=0), InterfaceEdits(model="e1000"), dom)
    assert dom.interfaces[0].model == "e1000"


def test_document_style_reads_past_a_nameless_end_tag() -> None:
    """The style is read from any text: an end tag without a name is skipped, not a failure."""
    from xmltools.domain import DocumentStyle

    style = DocumentStyle.of("<domain><x></><metadata><a b=\"1\"/></metadata><name c='2'/></domain>")
    assert (style.quote, style.metadata_quote) == ("'", '"')
