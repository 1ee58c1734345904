"""VLAN wishes in the planner with fixed answers: libvirt's ``<vlan>`` read as a wish (access,
trunk, native untagged or tagged, implicit trunk), the state record's form and back, and the
bridge and OVS actions that set a wish, with the interface label they carry.
"""

from __future__ import annotations

import pytest

from hooks import actions as A
from hooks.planner import bridge_vlan_action, ovs_vlan_action, wish_from_record, wish_from_vlan, wish_record
from xmltools.common import Vlan
from xmltools.errors import InvalidValue
from xmltools.metadata import VlanWish
from xmltools.xmlparse import parse_bytes


def _vlan(xml: str) -> Vlan:
    return Vlan(parse_bytes(xml.encode()).getroot())


def _shape(wish: VlanWish) -> tuple:
    return wish.tag, wish.trunk_ids(), wish.native, wish.mode


# --------------------------------------------------------------------------- libvirt's <vlan>

def test_a_single_tag_is_an_access_wish():
    wish = wish_from_vlan(_vlan("<vlan><tag id='10'/></vlan>"))
    assert wish == VlanWish(10, (), None, "access")
    assert wish_record(wish) == {"tag": 10, "trunks": None, "native": None, "mode": "access"}


@pytest.mark.parametrize("xml,shape", [
    # trunk='yes' with one tag: a trunk of that one VLAN, not an access port
    ("<vlan trunk='yes'><tag id='10'/></vlan>", (None, [10], None, "trunk")),
    # several tags make a trunk even without trunk='yes' (libvirt reads them so)
    ("<vlan><tag id='10'/><tag id='20'/></vlan>", (None, [10, 20], None, "trunk")),
    ("<vlan trunk='yes'><tag id='10'/><tag id='20'/><tag id='21'/></vlan>",
     (None, [10, 20, 21], None, "trunk")),
    # the native id is the native, not also a trunk entry
    ("<vlan trunk='yes'><tag id='10' nativeMode='untagged'/><tag id='20'/></vlan>",
     (None, [20], 10, "native-untagged")),
    ("<vlan trunk='yes'><tag id='30'/><tag id='5' nativeMode='tagged'/></vlan>",
     (None, [30], 5, "native-tagged")),
    # a native id alone: its trunk is the native id
    ("<vlan trunk='yes'><tag id='7' nativeMode='untagged'/></vlan>", (None, [7], 7, "native-untagged")),
    ("<vlan><tag id='7' nativeMode='tagged'/></vlan>", (None, [7], 7, "native-tagged")),
])
def test_trunks_and_natives_of_libvirts_vlan(xml, shape):
    assert _shape(wish_from_vlan(_vlan(xml))) == shape


def test_a_native_trunk_in_the_record_form():
    wish = wish_from_vlan(_vlan("<vlan trunk='yes'><tag id='10' nativeMode='untagged'/><tag id='20'/>"
                                "<tag id='22'/></vlan>"))
    assert wish_record(wish) == {"tag": None, "trunks": "20,22", "native": 10, "mode": "native-untagged"}
    assert wish_from_record(wish_record(wish)) == wish


@pytest.mark.parametrize("xml", ["<vlan/>", "<vlan trunk='yes'/>", "<vlan><tag/></vlan>"])
def test_a_vlan_without_a_tag_id_is_refused(xml):
    with pytest.raises(InvalidValue) as info:
        wish_from_vlan(_vlan(xml))
    assert info.value.message == "invalid VLAN '<vlan/>': has no <tag id>"


# --------------------------------------------------------------------------- the record's form

@pytest.mark.parametrize("record,shape", [
    ({"tag": 5}, (5, [], None, "access")),
    ({"tag": 5, "mode": "access"}, (5, [], None, "access")),
    ({"trunks": "20,30-31"}, (None, [20, 30, 31], None, "trunk")),
    ({"trunks": "20", "native": 4}, (None, [20], 4, "native-untagged")),
    ({"trunks": "20", "native": 4, "mode": "native-tagged"}, (None, [20], 4, "native-tagged")),
])
def test_record_wishes_read_back(record, shape):
    assert _shape(wish_from_record(record)) == shape


def test_a_trunk_record_without_a_native():
    wish = VlanWish.from_attrs(None, "100-102", None, None)
    assert wish_record(wish) == {"tag": None, "trunks": "100-102", "native": None, "mode": "trunk"}


# --------------------------------------------------------------------------- actions

def test_bridge_access_action_with_and_without_bridge_and_label():
    wish = VlanWish(12, (), None, "access")
    action = bridge_vlan_action("vnet0", wish)
    assert (action, action.iface, action.bridge) == (A.BridgePortVlans("vnet0", (12,), pvid=12), "", None)
    action = bridge_vlan_action("tap0", wish, "lbl", "br0")
    assert (action, action.iface) == (A.BridgePortVlans("tap0", (12,), pvid=12, bridge="br0"), "lbl")


@pytest.mark.parametrize("trunks,native,mode,vids,untagged", [
    ("20,30-31", None, None, (20, 30, 31), True),
    ("30,20", 10, None, (10, 20, 30), True),
    ("20", 20, None, (20,), True),                # the native also listed: once
    ("20", 9, "native-tagged", (9, 20), False),
    ("20", 9, "native-untagged", (9, 20), True),
])
def test_bridge_trunk_action(trunks, native, mode, vids, untagged):
    action = bridge_vlan_action("vnet0", VlanWish.from_attrs(None, trunks, native, mode), "lbl", "br1")
    assert action == A.BridgePortVlans("vnet0", vids, pvid=native, untagged_pvid=untagged, bridge="br1")
    assert action.iface == "lbl"


def test_a_trunk_without_a_native_has_no_pvid_but_stays_untagged_by_default():
    action = bridge_vlan_action("vnet0", VlanWish.from_attrs(None, "5", None, "trunk"))
    assert (action.pvid, action.untagged_pvid, action.iface) == (None, True, "")


@pytest.mark.parametrize("wish,shown", [
    (VlanWish(4095, (), None, "access"), "4095"),
    (VlanWish(0, (), None, "access"), "0"),
    (VlanWish(None, ((1, 4095),), None, "trunk"), "4095"),
    (VlanWish(None, ((10, 10),), 0, "native-untagged"), "0"),
])
def test_a_linux_bridge_refuses_reserved_ids_naming_the_id(wish, shown):
    with pytest.raises(InvalidValue) as info:
        bridge_vlan_action("vnet0", wish)
    assert info.value.message.startswith(
        f"invalid bridge VLAN id '{shown}': on a Linux bridge: {shown} is reserved by 802.1Q")
    assert info.value.message.endswith("; VLAN ids are 1 to 4094")


def test_ovs_access_and_trunk_actions_with_their_label():
    action = ovs_vlan_action("vnet1", VlanWish(0, (), None, "access"))
    assert (action, action.iface) == (A.OvsPortVlan("vnet1", 0, (), "access"), "")
    action = ovs_vlan_action("vnet1", VlanWish(4095, (), None, "access"), "lbl")
    assert (action, action.iface) == (A.OvsPortVlan("vnet1", 4095, (), "access"), "lbl")
    trunk = VlanWish.from_attrs(None, "30,20-21", 10, "native-tagged")
    action = ovs_vlan_action("vnet1", trunk, "lbl")
    assert (action, action.iface) == (A.OvsPortVlan("vnet1", 10, (10, 20, 21, 30), "native-tagged"), "lbl")
    action = ovs_vlan_action("vnet1", VlanWish.from_attrs(None, "30,20", None, None))
    assert (action, action.iface) == (A.OvsPortVlan("vnet1", None, (20, 30), "trunk"), "")
    action = ovs_vlan_action("vnet1", VlanWish.from_attrs(None, "20", 20, None))
    assert action == A.OvsPortVlan("vnet1", 20, (20,), "native-untagged")
