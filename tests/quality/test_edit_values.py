"""Edits of one interface, checked to the exact value and message: a portgroup set alone, a
macvtap uplink refused by name, a virtualport of no type, a MAC taken by another device or by a
metadata entry, a regenerated MAC that avoids the addresses in use, and what a change of type
keeps in the metadata."""

from __future__ import annotations

import random

import pytest

from xmltools.domain import Domain
from xmltools.edit import (
    InterfaceEdits,
    edit_interfaces,
    regenerate_mac,
    set_mac,
    set_ovs,
    set_portgroup,
    set_source_dev,
)
from xmltools.errors import NetXmlError
from xmltools.interface import Interface
from xmltools.mac import random_mac

VNX = "urn:virt-netxml:hooks:1"


def _msg(func, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(NetXmlError) as caught:
        func(*args, **kwargs)
    return caught.value.message


def test_portgroup_alone_is_set() -> None:
    iface = Interface.from_xml("<interface type='network'><source network='default'/></interface>")
    set_portgroup(iface, "vlan-5")
    assert iface.source.portgroup == "vlan-5"
    assert iface.node.find("source").attrib == {"network": "default", "portgroup": "vlan-5"}


def test_portgroup_of_a_bridge_is_refused() -> None:
    iface = Interface.from_xml("<interface type='bridge'><source bridge='br0'/></interface>")
    assert _msg(set_portgroup, iface, "pg") == (
        "invalid portgroup 'pg': only a network interface has a portgroup")


def test_uplink_device_name_is_checked_as_such() -> None:
    iface = Interface.from_xml("<interface type='bridge'><source bridge='br0'/></interface>")
    assert _msg(set_source_dev, iface, "a/b").startswith("invalid uplink device 'a/b': ")
    assert iface.type == "bridge"


def test_virtualport_without_type_is_not_made_openvswitch() -> None:
    iface = Interface.from_xml("<interface type='bridge'><source bridge='br0'/><virtualport/></interface>")
    assert _msg(set_ovs, iface, True) == (
        "invalid virtualport '': the interface already has another virtualport type")


DOMAIN = (f"<domain><metadata><vnx:netxml xmlns:vnx='{VNX}'>"
          "<vnx:interface mac='52:54:00:00:00:01'><vnx:vlan tag='5'/></vnx:interface>"
          "<vnx:interface mac='52:54:00:00:00:09'><vnx:vlan tag='9'/></vnx:interface>"
          "</vnx:netxml></metadata><devices>\n"
          "<interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='br0'/></interface>\n"
          "<interface type='bridge'><mac address='52:54:00:00:00:02'/><source bridge='br0'/></interface>\n"
          "<interface type='user'/>\n"
          "</devices></domain>")


def test_mac_of_another_device_is_refused_with_its_line() -> None:
    dom = Domain.from_xml(DOMAIN)
    first = dom.select(index=0)[0]
    assert _msg(set_mac, dom, first, "52:54:00:00:00:02", "interface 0") == (
        "invalid MAC address '52:54:00:00:00:02': another device of the domain has it (line 3)")


def test_mac_with_a_wish_in_the_metadata_is_refused() -> None:
    dom = Domain.from_xml(DOMAIN)
    second = dom.select(index=1)[0]
    assert _msg(set_mac, dom, second, "52-54-00-00-00-09", "interface 1") == (
        "invalid MAC address '52-54-00-00-00-09': the domain's metadata already holds a wish for this "
        "MAC; remove that entry first")
    assert second.mac == "52:54:00:00:00:02"


def test_own_mac_respelled_keeps_its_wish() -> None:
    dom = Domain.from_xml(DOMAIN)
    first = dom.select(index=0)[0]
    assert set_mac(dom, first, "52-54-00-00-00-01", "interface 0") == "52:54:00:00:00:01"
    assert first.mac == "52:54:00:00:00:01"
    assert dom.meta_interface("52:54:00:00:00:01").vlan.tag == 5


def test_interface_without_mac_is_given_one() -> None:
    dom = Domain.from_xml(DOMAIN)
    user = dom.select(index=2)[0]
    assert set_mac(dom, user, "52:54:00:00:00:03", "interface 2") == "52:54:00:00:00:03"
    assert user.mac == "52:54:00:00:00:03"


def test_regenerated_mac_avoids_the_excluded_addresses() -> None:
    first = random_mac(random.Random(7))
    iface = Interface.from_xml("<interface type='user'/>")
    new = regenerate_mac(None, iface, random.Random(7), {first})
    assert new != first and iface.mac == new
    assert regenerate_mac(None, iface, random.Random(7), set()) == first


LEFTOVERS = (f"<domain><metadata><vnx:netxml xmlns:vnx='{VNX}'>"
             "<vnx:interface mac='52:54:00:00:00:01'><vnx:forward proto='tcp' host-port='2222' "
             "guest-port='22'/></vnx:interface>"
             "<vnx:interface mac='52:54:00:00:00:02'><vnx:ovs-setting table='Interface' "
             "column='external_ids' key='k' value='v'/></vnx:interface>"
             "</vnx:netxml></metadata><devices>"
             "<interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='br0'/></interface>"
             "<interface type='network'><mac address='52:54:00:00:00:02'/><source network='n'/></interface>"
             "<interface type='bridge'><source bridge='br0'/></interface>"
             "</devices></domain>")


def test_change_of_type_keeps_what_the_new_type_can_have() -> None:
    dom = Domain.from_xml(LEFTOVERS)
    before = len(dom.meta_interface("52:54:00:00:00:01").forwards)
    edit_interfaces(dom.select(index=0), InterfaceEdits(source_dev="eno1"), dom)
    assert dom.select(index=0)[0].type == "direct"
    assert len(dom.meta_interface("52:54:00:00:00:01").forwards) == before == 1
    edit_interfaces(dom.select(index=1), InterfaceEdits(source_bridge="br1"), dom)
    assert dom.select(index=1)[0].type == "bridge"
    assert len(dom.meta_interface("52:54:00:00:00:02").ovs_settings) == 1
    edits = InterfaceEdits(source_network="default")
    edit_interfaces(dom.select(index=2), edits, dom)
    assert dom.select(index=2)[0].type == "network" and edits.notes == []


def test_change_of_type_to_network_keeps_open_vswitch_settings() -> None:
    dom = Domain.from_xml(LEFTOVERS.replace("<interface type='network'><mac address='52:54:00:00:00:02'/>"
                                            "<source network='n'/>",
                                            "<interface type='bridge'><mac address='52:54:00:00:00:02'/>"
                                            "<source bridge='br0'/>"))
    edits = InterfaceEdits(source_network="default")
    edit_interfaces(dom.select(index=1), edits, dom)
    assert dom.select(index=1)[0].type == "network"
    assert len(dom.meta_interface("52:54:00:00:00:02").ovs_settings) == 1


# ---------------------------------------------------------------------------- port forwards

FORWARDS = ("<domain><devices>"
            "<interface type='network'><mac address='52:54:00:00:00:01'/><source network='n'/></interface>"
            "<interface type='network'><source network='n'/></interface>"
            "</devices></domain>")


def test_forwards_of_a_standalone_interface_are_refused() -> None:
    iface = Interface.from_xml("<interface type='network'><source network='n'/></interface>")
    assert _msg(edit_interfaces, [iface], InterfaceEdits(add_forwards=("tcp:2222:22",))) == (
        "--add-forward/--remove-forward are stored in a domain's metadata: edit the domain")


def test_forward_of_an_interface_without_mac_is_refused() -> None:
    dom = Domain.from_xml(FORWARDS)
    assert _msg(edit_interfaces, dom.select(index=1), InterfaceEdits(remove_forwards=("tcp:2222:22",)),
                dom) == ("invalid forward 'tcp:2222:22': interface 1 (no MAC) has no MAC to key the "
                         "metadata by")


def test_removing_a_forward_that_is_not_there_is_refused() -> None:
    dom = Domain.from_xml(FORWARDS)
    edits = InterfaceEdits(remove_forwards=("tcp:2222:22",))
    assert _msg(edit_interfaces, dom.select(index=0), edits, dom) == (
        "invalid forward 'tcp:2222:22': interface 0 (52:54:00:00:00:01) has no such forward")
    edit_interfaces(dom.select(index=0), InterfaceEdits(add_forwards=("tcp:2222:22",)), dom)
    assert _msg(edit_interfaces, dom.select(index=0), InterfaceEdits(remove_forwards=("udp:2222:22",)),
                dom) == "invalid forward 'udp:2222:22': interface 0 (52:54:00:00:00:01) has no such forward"
    edit_interfaces(dom.select(index=0), edits, dom)
    assert dom.meta_interface("52:54:00:00:00:01") is None


def test_forward_of_an_interface_not_on_a_network_is_refused_by_name() -> None:
    dom = Domain.from_xml(FORWARDS.replace("type='network'><mac", "type='bridge'><mac", 1)
                          .replace("<source network='n'/>", "<source bridge='br0'/>", 1))
    assert _msg(edit_interfaces, dom.select(index=0), InterfaceEdits(add_forwards=("tcp:2222:22",)),
                dom) == ("invalid forward 'tcp:2222:22': interface 0 (52:54:00:00:00:01) is a bridge "
                         "interface; the hooks forward host ports to guests on a libvirt NAT network "
                         "(type network)")
    assert dom.meta() is None


def test_overlapping_forward_is_refused_naming_the_one_it_overlaps() -> None:
    dom = Domain.from_xml(FORWARDS)
    edit_interfaces(dom.select(index=0), InterfaceEdits(add_forwards=("tcp:2222:22",)), dom)
    edits = InterfaceEdits(add_forwards=("tcp:2220-2230:20-30",))
    assert _msg(edit_interfaces, dom.select(index=0), edits, dom) == (
        "invalid forward 'tcp:2220-2230:20-30': interface 0 (52:54:00:00:00:01): overlaps forward "
        "tcp:2222:22")
    assert [f.resolved().spec() for f in dom.meta_interface("52:54:00:00:00:01").forwards] == ["tcp:2222:22"]


# ---------------------------------------------------------------------------- --native-vlans

def _native(wish: str, mac: str = "<mac address='52:54:00:00:00:01'/>", vlan: str = "") -> Domain:
    dom = Domain.from_xml(
        f"<domain><metadata><vnx:netxml xmlns:vnx='{VNX}'><vnx:interface mac='52:54:00:00:00:01'>"
        f"<vnx:vlan {wish}/></vnx:interface></vnx:netxml></metadata><devices><interface type='bridge'>"
        f"{mac}<source bridge='br0'/>{vlan}</interface></devices></domain>")
    edit_interfaces(list(dom.interfaces), InterfaceEdits(native_vlans=True, libvirt=(11, 0)), dom)
    return dom


def _vlan_of(dom: Domain) -> list[tuple[str, dict[str, str]]]:
    vlan = dom.node.find("devices/interface/vlan")
    return [(vlan.tag, dict(vlan.attrib))] + [(t.tag, dict(t.attrib)) for t in vlan]


TRUNK = ("vlan", {"trunk": "yes"})


@pytest.mark.parametrize("wish,expected", [
    ("tag='5'", [("vlan", {}), ("tag", {"id": "5"})]),
    ("trunks='10,20' mode='trunk'", [TRUNK, ("tag", {"id": "10"}), ("tag", {"id": "20"})]),
    ("trunks='20,30' native='10'", [TRUNK, ("tag", {"id": "10", "nativeMode": "untagged"}),
                                    ("tag", {"id": "20"}), ("tag", {"id": "30"})]),
    ("trunks='20,30' native='30'", [TRUNK, ("tag", {"id": "30", "nativeMode": "untagged"}),
                                    ("tag", {"id": "20"})]),
    ("trunks='20,30' native='20' mode='native-tagged'",
     [TRUNK, ("tag", {"id": "20", "nativeMode": "tagged"}), ("tag", {"id": "30"})]),
    # one id is still a trunk port when the wish says trunk or names a native VLAN
    ("trunks='10' mode='trunk'", [TRUNK, ("tag", {"id": "10"})]),
    ("trunks='10' native='10'", [TRUNK, ("tag", {"id": "10", "nativeMode": "untagged"})]),
])
def test_native_vlans_become_libvirts_vlan(wish: str, expected: list) -> None:
    dom = _native(wish)
    assert _vlan_of(dom) == expected
    assert dom.meta() is None


def test_native_vlan_refuses_an_id_a_linux_bridge_does_not_take() -> None:
    from xmltools.edit import native_vlan
    from xmltools.metadata import VlanWish

    wish = VlanWish(tag=None, trunks=((20, 20), (4095, 4095)), native=None, mode="trunk")
    assert _msg(native_vlan, wish, "interface 3") == (
        "invalid --native-vlans 'interface 3': its VLAN 4095 is reserved by 802.1Q and never sent in a "
        "tag (libvirt and Open vSwitch would pass it on, a Linux bridge refuses it); VLAN ids are 1 to 4094")


def test_native_vlan_names_a_bad_native_id_before_the_trunks() -> None:
    from xmltools.edit import native_vlan
    from xmltools.metadata import VlanWish

    wish = VlanWish(tag=None, trunks=((4095, 4095),), native=0, mode=None)
    assert _msg(native_vlan, wish, "interface 3").startswith(
        "invalid --native-vlans 'interface 3': its VLAN 0 is reserved by 802.1Q for priority-tagged frames")


def test_bridge_vlan_of_an_interface_without_mac_is_refused() -> None:
    dom = Domain.from_xml("<domain><devices><interface type='bridge'><source bridge='br0'/></interface>"
                          "</devices></domain>")
    assert _msg(edit_interfaces, dom.select(index=0), InterfaceEdits(set_bridge_vlan="10"), dom) == (
        "invalid bridge VLAN '10': interface 0 (no MAC) has no MAC to key the metadata by; add "
        "--regenerate-mac to give it one")
    assert dom.meta() is None


def test_native_vlans_refuse_two_vlans_for_one_port() -> None:
    with pytest.raises(NetXmlError) as caught:
        _native("tag='5'", vlan="<vlan><tag id='6'/></vlan>")
    assert caught.value.message == (
        "invalid --native-vlans 'interface 0 (52:54:00:00:00:01)': it has both libvirt's <vlan> and a "
        "metadata VLAN; keep one (--clear-vlan or --clear-bridge-vlan)")


def test_native_vlans_pass_over_an_interface_without_mac() -> None:
    dom = _native("tag='5'", mac="")
    assert dom.node.find("devices/interface/vlan") is None
    assert dom.meta_interface("52:54:00:00:00:01").vlan.tag == 5


def test_clear_bridge_vlan_of_an_interface_without_mac_changes_nothing() -> None:
    dom = Domain.from_xml(
        f"<domain><metadata><vnx:netxml xmlns:vnx='{VNX}'><vnx:interface mac='52:54:00:00:00:01'>"
        "<vnx:vlan tag='5'/></vnx:interface></vnx:netxml></metadata><devices><interface type='bridge'>"
        "<source bridge='br0'/></interface></devices></domain>")
    edit_interfaces(list(dom.interfaces), InterfaceEdits(clear_bridge_vlan=True), dom)
    assert dom.meta_interface("52:54:00:00:00:01").vlan.tag == 5


def test_regenerated_mac_avoids_the_addresses_of_the_domains_other_interfaces() -> None:
    taken = random_mac(random.Random(7))
    dom = Domain.from_xml(f"<domain><devices><interface type='user'><mac address='{taken}'/></interface>"
                          "<interface type='user'/></devices></domain>")
    edit_interfaces(dom.select(index=1), InterfaceEdits(regenerate_mac=True), dom, random.Random(7))
    new = dom.select(index=1)[0].mac
    assert new is not None and new != taken
