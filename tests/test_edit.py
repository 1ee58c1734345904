"""In-place edits of domains, standalone interfaces and networks (xmltools.edit)."""

from __future__ import annotations

import difflib
import random
import re
from pathlib import Path

import pytest

from xmltools.domain import Domain
from xmltools.edit import (
    InterfaceEdits,
    NetworkEdits,
    document_text,
    edit_interfaces,
    edit_network,
    load_document,
)
from xmltools.errors import InvalidValue, UsageError, WrongDocument
from xmltools.interface import BridgeSource, Interface, NetworkSource
from xmltools.network import Network

DOMAINS = Path(__file__).resolve().parent.parent / "fixtures" / "domains"

OVS_NETWORK = """<network>
  <name>packtovs</name>
  <forward mode='bridge'/>
  <bridge name='ovs-br0'/>
  <virtualport type='openvswitch'/>
  <portgroup name='vlan5'>
    <vlan>
      <tag id='5'/>
    </vlan>
  </portgroup>
</network>
"""

LINUX_BRIDGE_NETWORK = """<network>
  <name>lan</name>
  <forward mode='bridge'/>
  <bridge name='br0'/>
  <portgroup name='office'/>
</network>
"""


def keepsake() -> tuple[str, Domain]:
    text = (DOMAINS / "keepsake.xml").read_text()
    return text, Domain.from_xml(text)


def changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.ndiff(before.splitlines(), after.splitlines())
            if line.startswith(("+ ", "- "))]


# --------------------------------------------------------------------------- domains


def test_set_bridge_vlan_writes_metadata_and_nothing_else() -> None:
    text, dom = keepsake()
    edit_interfaces(dom.select(index=0), InterfaceEdits(set_bridge_vlan="10"), dom)
    assert changed_lines(text, dom.to_xml()) == [
        "+     <vnx:netxml xmlns:vnx='urn:virt-netxml:hooks:1'>",
        "+       <vnx:interface mac='52:54:00:10:00:01'>",
        "+         <vnx:vlan tag='10'/>",
        "+       </vnx:interface>",
        "+     </vnx:netxml>",
    ]
    # the new block follows the foreign metadata, inside <metadata>
    assert "</app:inventory>\n    <vnx:netxml" in dom.to_xml()


def test_clear_bridge_vlan_restores_the_file_byte_for_byte() -> None:
    text, dom = keepsake()
    edit_interfaces(dom.select(index=0), InterfaceEdits(set_bridge_vlan="20,30-40", vlan_native="20"), dom)
    assert dom.meta_interface("52:54:00:10:00:01").vlan.trunks == "20,30-40"
    again = Domain.from_xml(dom.to_xml())
    edit_interfaces(again.select(index=0), InterfaceEdits(clear_bridge_vlan=True), again)
    assert again.to_xml() == text


def test_set_vlan_on_network_interface_in_place() -> None:
    text, dom = keepsake()
    edit_interfaces(dom.select(target="guest-lan"), InterfaceEdits(set_vlan="20:untagged,30"), dom)
    assert changed_lines(text, dom.to_xml()) == [
        "+       <vlan trunk='yes'>",
        "+         <tag id='20' nativeMode='untagged'/>",
        "+         <tag id='30'/>",
        "+       </vlan>",
    ]
    edit_interfaces(dom.select(target="guest-lan"), InterfaceEdits(clear_vlan=True), dom)
    assert dom.to_xml() == text


def test_network_to_bridge_to_ovs_and_back() -> None:
    text, dom = keepsake()
    [iface] = dom.select(mac="52:54:00:10:00:02")
    edit_interfaces([iface], InterfaceEdits(source_bridge="br-lan"), dom)
    assert iface.type == "bridge"
    assert isinstance(iface.source, BridgeSource) and iface.source.bridge == "br-lan"
    edit_interfaces([iface], InterfaceEdits(ovs=True, set_vlan="5"), dom)
    assert iface.is_ovs and iface.vlan.ids == [5]
    assert [c.tag for c in iface.node] == ["mac", "source", "vlan", "virtualport", "target", "model"]
    # back to a Linux bridge: the <vlan> would be refused, so it must go too
    with pytest.raises(InvalidValue, match="refuses <vlan> on a Linux bridge"):
        edit_interfaces([iface], InterfaceEdits(ovs=False), dom)
    edit_interfaces([iface], InterfaceEdits(ovs=False, clear_vlan=True), dom)
    edit_interfaces([iface], InterfaceEdits(source_network="default"), dom)
    assert dom.to_xml() == text


def test_source_network_with_portgroup() -> None:
    _, dom = keepsake()
    [iface] = dom.select(index=0)
    edit_interfaces([iface], InterfaceEdits(source_network="packtovs", portgroup="vlan5"), dom)
    src = iface.source
    assert isinstance(src, NetworkSource)
    # the unknown attribute on <source> survives the change of type
    assert dict(src.node.attrib) == {"x-source-extra": "1", "network": "packtovs", "portgroup": "vlan5"}
    with pytest.raises(InvalidValue, match="only a network interface has a portgroup"):
        edit_interfaces(dom.select(index=2), InterfaceEdits(portgroup="p"), dom)


def test_model_on_all_interfaces() -> None:
    _, dom = keepsake()
    edit_interfaces(dom.select(), InterfaceEdits(model="e1000e"), dom)
    assert [i.model for i in dom.interfaces] == ["e1000e"] * 3


def test_regenerate_mac_rekeys_metadata() -> None:
    _, dom = keepsake()
    [iface] = dom.select(index=2)
    edit_interfaces([iface], InterfaceEdits(set_bridge_vlan="7"), dom)
    old = iface.mac
    edit_interfaces([iface], InterfaceEdits(regenerate_mac=True), dom, random.Random(3))
    new = iface.mac
    assert new != old and re.fullmatch(r"52:54:00(:[0-9a-f]{2}){3}", new)
    assert dom.meta_interface(old) is None
    assert dom.meta_interface(new).vlan.tag == 7


def test_regenerated_macs_are_distinct() -> None:
    _, dom = keepsake()
    edit_interfaces(dom.select(), InterfaceEdits(regenerate_mac=True), dom, random.Random(1))
    macs = [i.mac for i in dom.interfaces]
    assert len(set(macs)) == 3
    assert not {"52:54:00:10:00:01", "52:54:00:10:00:02", "52:54:00:10:00:03"} & set(macs)


@pytest.mark.parametrize("edits,exc,reason", [
    (InterfaceEdits(set_vlan="5", clear_vlan=True), UsageError, "contradict"),
    (InterfaceEdits(set_bridge_vlan="5", clear_bridge_vlan=True), UsageError, "contradict"),
    (InterfaceEdits(set_vlan="5", set_bridge_vlan="5"), UsageError, "not both"),
    (InterfaceEdits(source_network="a", source_bridge="b"), UsageError, "contradict"),
    (InterfaceEdits(vlan_native="5"), UsageError, "need --set-vlan"),
    (InterfaceEdits(model="x y"), InvalidValue, "letters"),
    (InterfaceEdits(source_bridge="much-too-long-bridge"), InvalidValue, "at most 15"),
    (InterfaceEdits(set_vlan="4096"), InvalidValue, "VLAN ids are 1 to 4094"),
    (InterfaceEdits(set_bridge_vlan="abc"), InvalidValue, "not an id or a range"),
])
def test_refusals(edits: InterfaceEdits, exc: type, reason: str) -> None:
    _, dom = keepsake()
    with pytest.raises(exc, match=reason):
        edit_interfaces(dom.select(index=1), edits, dom)


def test_vlan_refused_on_linux_bridge_and_ethernet() -> None:
    _, dom = keepsake()
    with pytest.raises(InvalidValue, match="Linux bridge"):
        edit_interfaces(dom.select(index=0), InterfaceEdits(set_vlan="5"), dom)
    with pytest.raises(InvalidValue, match="ethernet"):
        edit_interfaces(dom.select(index=2), InterfaceEdits(set_vlan="5"), dom)


def test_ovs_refused_on_ethernet_and_bridge_vlan_on_hostdev() -> None:
    _, dom = keepsake()
    with pytest.raises(InvalidValue, match="Open vSwitch port"):
        edit_interfaces(dom.select(index=2), InterfaceEdits(ovs=True), dom)
    hostdev = Domain.from_xml(
        "<domain><name>h</name><devices><interface type='hostdev'><mac address='52:54:00:00:00:01'/>"
        "<source><address type='pci' domain='0' bus='4' slot='16' function='0'/></source></interface>"
        "</devices></domain>")
    with pytest.raises(InvalidValue, match="use --set-vlan"):
        edit_interfaces(hostdev.select(), InterfaceEdits(set_bridge_vlan="5"), hostdev)
    with pytest.raises(InvalidValue, match="single VLAN tag"):
        edit_interfaces(hostdev.select(), InterfaceEdits(set_vlan="5,6"), hostdev)
    edit_interfaces(hostdev.select(), InterfaceEdits(set_vlan="5"), hostdev)
    assert hostdev.select()[0].vlan.ids == [5]


def test_bridge_vlan_needs_a_mac() -> None:
    dom = Domain.from_xml("<domain><name>n</name><devices><interface type='bridge'>"
                          "<source bridge='br0'/></interface></devices></domain>")
    with pytest.raises(InvalidValue, match="no MAC"):
        edit_interfaces(dom.select(), InterfaceEdits(set_bridge_vlan="5"), dom)
    edit_interfaces(dom.select(), InterfaceEdits(set_bridge_vlan="5", regenerate_mac=True), dom,
                    random.Random(0))
    [iface] = dom.select()
    assert dom.meta_interface(iface.mac).vlan.tag == 5


def test_standalone_interface_document() -> None:
    doc, style = load_document(b"<interface type='network'>\n  <source network='default'/>\n</interface>\n",
                               "nic.xml")
    assert isinstance(doc, Interface)
    edit_interfaces([doc], InterfaceEdits(source_bridge="br0", model="virtio"))
    assert document_text(doc, style) == ("<interface type='bridge'>\n  <source bridge='br0'/>\n"
                                         "  <model type='virtio'/>\n</interface>\n")
    with pytest.raises(UsageError, match="metadata"):
        edit_interfaces([doc], InterfaceEdits(set_bridge_vlan="5"))


def test_load_document_refuses_other_roots() -> None:
    with pytest.raises(WrongDocument, match="expected <domain>, <network> or <interface>, found <pool>"):
        load_document(b"<pool/>", "p.xml")


# --------------------------------------------------------------------------- networks


def test_add_portgroup_and_vlan_on_ovs_network_uses_libvirt_vlan() -> None:
    net = Network.from_xml(OVS_NETWORK)
    edits = NetworkEdits(add_portgroups=("trunk",), portgroup_vlans=("trunk=10:untagged,20",))
    edit_network(net, edits)
    out = document_text(net, load_document(OVS_NETWORK.encode(), "n")[1])
    assert changed_lines(OVS_NETWORK, out) == [
        "+   <portgroup name='trunk'>",
        "+     <vlan trunk='yes'>",
        "+       <tag id='10' nativeMode='untagged'/>",
        "+       <tag id='20'/>",
        "+     </vlan>",
        "+   </portgroup>",
    ]
    assert edits.notes == []


def test_portgroup_vlan_on_linux_bridge_goes_to_metadata() -> None:
    net = Network.from_xml(LINUX_BRIDGE_NETWORK)
    edits = NetworkEdits(portgroup_vlans=("office=10",))
    edit_network(net, edits)
    assert net.portgroup("office").vlan is None
    assert net.meta().portgroup("office").vlan.tag == 10
    assert edits.notes and "metadata" in edits.notes[0]
    # metadata lands after <name>, where libvirt writes it
    assert [c.tag for c in net.node][:2] == ["name", "metadata"]
    edit_network(net, NetworkEdits(remove_portgroups=("office",)))
    assert net.portgroup("office") is None
    assert net.meta().portgroup("office") is None


def test_default_portgroup_rules() -> None:
    net = Network.from_xml(LINUX_BRIDGE_NETWORK)
    edit_network(net, NetworkEdits(add_portgroups=("guests,default",)))
    assert net.portgroup("guests").default is True
    with pytest.raises(InvalidValue, match="already the default"):
        edit_network(net, NetworkEdits(add_portgroups=("more,default",)))


@pytest.mark.parametrize("edits,reason", [
    (NetworkEdits(add_portgroups=("office",)), "already has it"),
    (NetworkEdits(add_portgroups=("x,sometimes",)), "NAME or NAME,default"),
    (NetworkEdits(portgroup_vlans=("office",)), "NAME=TAGS"),
    (NetworkEdits(portgroup_vlans=("nope=5",)), "no such portgroup"),
    (NetworkEdits(portgroup_vlans=("office=9999",)), "VLAN ids are 1 to 4094"),
    (NetworkEdits(remove_portgroups=("nope",)), "no such portgroup"),
    (NetworkEdits(vlan_native="5"), "need --portgroup-vlan"),
])
def test_network_refusals(edits: NetworkEdits, reason: str) -> None:
    with pytest.raises((InvalidValue, UsageError), match=reason):
        edit_network(Network.from_xml(LINUX_BRIDGE_NETWORK), edits)


def test_virsh_style_is_kept_on_a_real_capture() -> None:
    """virsh writes single quotes, but <metadata> content in double quotes: both are kept."""
    text = (DOMAINS / "capvm-prepare.xml").read_text()
    dom = Domain.from_xml(text)
    edit_interfaces(dom.select(mac="52:54:00:ea:dd:15"), InterfaceEdits(set_bridge_vlan="10"), dom)
    block = ('    <vnx:netxml xmlns:vnx="urn:virt-netxml:hooks:1">\n'
             '      <vnx:interface mac="52:54:00:ea:dd:15">\n'
             '        <vnx:vlan tag="10"/>\n'
             '      </vnx:interface>\n'
             '    </vnx:netxml>\n')
    assert dom.to_xml() == text.replace("  </metadata>", block + "  </metadata>", 1)
