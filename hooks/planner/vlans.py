"""VLAN wishes: libvirt's ``<vlan>``, the metadata and the state record's form, and the actions
that set them on a Linux bridge port or an Open vSwitch port."""

from __future__ import annotations

from hooks import actions as A
from xmltools.common import Vlan
from xmltools.errors import InvalidValue
from xmltools.metadata import VlanWish
from xmltools.rules import format_vlan_ranges, vlan_id_problem

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from typing import Any


def wish_from_vlan(vlan: Vlan) -> VlanWish:
    """libvirt's ``<vlan>`` as a VlanWish (access tag, or trunk with optional native)."""
    ids = vlan.ids
    if not ids:
        raise InvalidValue(what="VLAN", value="<vlan/>", reason="has no <tag id>")
    native = vlan.native
    if not vlan.trunk and len(ids) == 1 and native is None:
        return VlanWish(ids[0], (), None, "access")
    mode = f"native-{native.native_mode}" if native is not None else "trunk"
    native_id = native.id if native is not None else None
    ranges = tuple((i, i) for i in ids if i != native_id)
    return VlanWish.from_attrs(None, format_vlan_ranges(list(ranges)) if ranges else str(native_id),
                               native_id, mode)


def wish_record(wish: VlanWish) -> dict[str, Any]:
    return {"tag": wish.tag, "trunks": format_vlan_ranges(list(wish.trunks)) if wish.trunks else None,
            "native": wish.native, "mode": wish.mode}


def wish_from_record(record: dict[str, Any]) -> VlanWish:
    return VlanWish.from_attrs(record.get("tag"), record.get("trunks"), record.get("native"),
                               record.get("mode"))


def _bridge_vid(vid: int) -> int:
    # A Linux bridge takes what the VLAN grammar takes (BRIDGE_VLAN_RANGE is VLAN_RANGE); libvirt's
    # own <vlan> reaches here unchecked, the metadata was checked when it was read.
    problem = vlan_id_problem(vid)
    if problem:
        raise InvalidValue(what="bridge VLAN id", value=str(vid), reason=f"on a Linux bridge: {problem}")
    return vid


def bridge_vlan_action(dev: str, wish: VlanWish, iface: str = "",
                       bridge: str | None = None) -> A.BridgePortVlans:
    """Access: pvid + untagged. Trunk: tagged list; the native id is the (untagged) pvid.
    ``bridge``: the bridge ``dev`` must be a port of when the VLANs are set."""
    if wish.tag is not None:
        return A.BridgePortVlans(dev, (_bridge_vid(wish.tag),), pvid=wish.tag, bridge=bridge, iface=iface)
    vids = tuple(sorted({_bridge_vid(v) for v in wish.trunk_ids()}
                        | ({_bridge_vid(wish.native)} if wish.native is not None else set())))
    return A.BridgePortVlans(dev, vids, pvid=wish.native,
                             untagged_pvid=wish.mode != "native-tagged", bridge=bridge, iface=iface)


def ovs_vlan_action(dev: str, wish: VlanWish, iface: str = "") -> A.OvsPortVlan:
    """OVS columns as libvirt sets them: the native id is ``tag`` and also in ``trunks``."""
    if wish.tag is not None:
        return A.OvsPortVlan(dev, wish.tag, (), "access", iface=iface)
    ids = set(wish.trunk_ids())
    if wish.native is not None:
        ids.add(wish.native)
    return A.OvsPortVlan(dev, wish.native, tuple(sorted(ids)), wish.mode, iface=iface)
