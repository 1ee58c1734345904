"""Domain events: ``prepare`` (TAPs, VFs, pool reservations, leftovers undone), the per-port
VLANs and OVS settings of ``start``/``reconnect``/``attach``, and ``release``."""

from __future__ import annotations

from lxml import etree

from hooks import actions as A
from hooks.errors import ForeignDevice, VlanConflict
from hooks.planner.facts import HostFacts
from hooks.planner.interfaces import Nic, meta_of, nics
from hooks.planner.ovn import domain_port_actions, release_port_actions
from hooks.planner.sriov import pool_of, vf_actions
from hooks.planner.vlans import bridge_vlan_action, ovs_vlan_action, wish_from_record, wish_from_vlan
from hooks.state_records import DomainState
from xmltools.common import Vlan
from xmltools.errors import InvalidValue
from xmltools.metadata import VlanWish, ovs_setting_problem
from xmltools.names import validate_bridge_name, validate_interface_name
from xmltools.rules import BRIDGE_PORT_TYPES, LINUX_BRIDGE_VLAN_SINCE

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from typing import Any


def check_ovs_settings(label: str, settings: Any) -> None:
    """Refuse any ``<vnx:ovs-setting>`` outside ``OVS_SETTINGS_ALLOWED``."""
    for setting in settings:
        problem = ovs_setting_problem(setting.table, setting.column, setting.key, setting.value)
        if problem:
            raise InvalidValue(what="OVS setting", value=f"{setting.table} {setting.column}:{setting.key}",
                               reason=f"interface {label}: {problem}")


def _ovs_setting_actions(nic: Nic, settings: Any, ovs: bool) -> list[A.Action]:
    """The domain's ``<vnx:ovs-setting>`` wishes, on its own Port/Interface row (``nic.dev``).

    Only the (table, column, key) entries of ``OVS_SETTINGS_ALLOWED`` are accepted; anything
    else refuses the whole call here, while planning, before any change.
    """
    assert nic.dev is not None   # the caller plans only interfaces with a device
    plan: list[A.Action] = []
    for setting in settings:
        if not ovs:
            raise InvalidValue(what="OVS setting", value=f"{setting.column}:{setting.key}",
                               reason=f"interface {nic.label} is not on an Open vSwitch bridge")
        if not (setting.table and setting.column and setting.key):
            raise InvalidValue(what="OVS setting", value=str(setting.key),
                               reason="needs table, column and key")
        check_ovs_settings(nic.label, [setting])
        from hooks.adapters.ovs import check_column_key

        # The adapter's own check of the row name and value: refuse a bad one here, before any
        # action, rather than in the middle of the run.
        check_column_key(setting.table, nic.dev, setting.column, setting.key, setting.value)
        plan.append(A.OvsSetting(setting.table, nic.dev, setting.column, setting.key,
                                 setting.value, iface=nic.label))
    return plan


def port_vlan_actions(root: etree._Element, facts: HostFacts, record: dict[str, Any],
                      only: str | None = None) -> list[A.Action]:
    """Per-port VLANs and OVS settings on the devices the live XML names (start, reconnect).

    ``only``: plan the interface with this MAC alone (a NIC hot-plugged into a running guest).
    """
    meta = meta_of(root)
    state = DomainState(record)
    wishes = state.port_wishes
    plan: list[A.Action] = []
    for nic in nics(root):
        if only is not None and nic.mac != only.lower():
            continue
        mi = meta.interface(nic.mac) if meta is not None and nic.mac else None
        if nic.type in BRIDGE_PORT_TYPES and nic.dev and nic.bridge:
            bridge, ovs = nic.bridge, nic.ovs
        elif nic.type == "ethernet" and nic.dev and mi is not None and mi.tap is not None and mi.tap.bridge:
            # The device name is the definer's: only the TAP the hook created or took for this
            # domain at prepare, on the bridge it plugged it into (its record, not the XML).
            made = state.taps.get(nic.dev)
            if not isinstance(made, dict) or not made.get("bridge") or made.get("plugged") is False:
                if (mi.vlan is not None or mi.ovs_settings or nic.mac in wishes
                        or nic.node.find("vlan") is not None):
                    from hooks.actions.tap import NOT_OURS

                    raise ForeignDevice(step=f"interface {nic.label}: VLANs of {nic.dev}", what="device",
                                        name=nic.dev, reason=f"{NOT_OURS} and plugged into a bridge")
                continue
            bridge, ovs = validate_bridge_name(made["bridge"]), bool(made.get("ovs"))
        else:
            continue
        wish: VlanWish | None = None
        if mi is not None and mi.vlan is not None:
            wish = mi.vlan.resolved()
        elif nic.mac in wishes:
            wish = wish_from_record(wishes[nic.mac])
        assert nic.dev is not None
        vlan = nic.node.find("vlan")
        if not ovs and vlan is not None and nic.type in BRIDGE_PORT_TYPES and libvirt_sets(facts):
            # libvirt 11.0 and later set this port's VLANs from its <vlan> when they plugged it:
            # verified, never re-applied or changed; a metadata wish must say the same.
            plan.append(_libvirt_bridge_vlan(nic, wish, wish_from_vlan(Vlan(vlan)), facts))
        else:
            if wish is None and not ovs and vlan is not None:
                # libvirt before 11.0 passes the VLAN on (from a portgroup) but cannot apply it
                # on a Linux bridge.
                wish = wish_from_vlan(Vlan(vlan))
            if wish is not None:
                plan.append(ovs_vlan_action(nic.dev, wish, nic.label) if ovs
                            else bridge_vlan_action(nic.dev, wish, nic.label,
                                                    bridge if nic.type == "ethernet" else None))
        if mi is not None:
            plan += _ovs_setting_actions(nic, mi.ovs_settings, ovs)
    return plan


def libvirt_sets(facts: HostFacts) -> bool:
    """Does the libvirt beside the hook set a Linux-bridge port's VLANs from its ``<vlan>``?

    An unknown version counts as older: the hook then applies the ``<vlan>`` itself, which on
    a libvirt that already did finds everything in place.
    """
    version = facts.libvirt_version()
    return version is not None and version[:2] >= LINUX_BRIDGE_VLAN_SINCE


def _show(action: A.BridgePortVlans) -> str:
    return action.describe().split(": ", 1)[1]


def _libvirt_bridge_vlan(nic: Nic, wish: VlanWish | None, libvirts: VlanWish,
                         facts: HostFacts) -> A.BridgePortVlans:
    assert nic.dev is not None
    applied = bridge_vlan_action(nic.dev, libvirts, nic.label)
    if wish is not None:
        asked = bridge_vlan_action(nic.dev, wish, nic.label)
        if asked.wanted() != applied.wanted():
            version = facts.libvirt_version()
            raise VlanConflict(iface=nic.label, wish=_show(asked), vlan=_show(applied),
                               libvirt=".".join(str(p) for p in version) if version else "")
    return A.BridgePortVlans(applied.port, applied.vids, pvid=applied.pvid,
                             untagged_pvid=applied.untagged_pvid, verify=True, iface=nic.label)


def _tap_actions(nic: Nic, mi: Any, facts: HostFacts, record: dict[str, Any]) -> list[A.Action]:
    tap = mi.tap
    if not nic.dev:
        raise InvalidValue(what="interface", value=nic.mac,
                           reason="a TAP to create needs <target dev='NAME' managed='no'/>")
    bridge = validate_bridge_name(tap.bridge) if tap.bridge else None
    ovs = facts.is_ovs_bridge(bridge) if bridge else False
    # The name is the definer's: refuse another guest's TAP, lo, a NIC, an OVS port... here,
    # before any change. A TAP of this domain's own earlier run is given back first (release
    # actions head the plan), and CreateTap asks again when it applies.
    if nic.dev not in DomainState(record).taps:
        reason = facts.tap_conflict(nic.dev, ovs)
        if reason is not None:
            raise ForeignDevice(step=f"interface {nic.label}: create or take TAP {nic.dev}",
                                what="device", name=nic.dev, reason=reason)
    queues = nic.node.find("driver[@queues]")
    multi = queues is not None and queues.get("queues", "").isdigit() and int(queues.get("queues", "1")) > 1
    model = nic.node.find("model")
    virtio = model is not None and model.get("type") == "virtio"
    from hooks.actions.tap import claim_key

    plan: list[A.Action] = [A.ClaimDevice(claim_key(nic.dev), "TAP", iface=nic.label), A.CreateTap(
        nic.dev,
        uid=facts.uid_of(tap.owner) if tap.owner else None,
        gid=facts.gid_of(tap.group) if tap.group else None,
        multi_queue=tap.multi_queue if tap.multi_queue is not None else multi,
        vnet_hdr=tap.vnet_hdr if tap.vnet_hdr is not None else virtio,
        bridge=bridge, ovs=ovs, iface=nic.label)]
    if bridge:
        plan.append(A.EnslaveLink(nic.dev, bridge, ovs, iface=nic.label))
    plan.append(A.LinkUp(nic.dev, iface=nic.label))
    return plan


def release_actions(record: dict[str, Any], migrated: bool = False) -> list[A.Action]:
    """Undo, from the state record alone, what earlier calls did for a domain. ``migrated``:
    libvirt's release reason says the guest runs on at the migration's destination."""
    state = DomainState(record)
    plan: list[A.Action] = release_port_actions(record, migrated)
    plan += [A.DeleteTap(name) for name in sorted(state.taps)]
    plan += [A.RemoveForwards(key) for key in sorted(state.forwards)]
    plan += [A.RestoreVf(v["pf"], int(v["index"])) for _, v in sorted(state.vfs.items())]
    plan += [A.RestoreDriver(addr) for addr in sorted(state.drivers)]
    plan += [A.ReleaseClaim(dev) for dev in sorted(state.claims)]
    if state.port_wishes or state.starting or state.hotplug:
        plan.append(A.ForgetDomain())
    return plan


def prepare_actions(root: etree._Element, facts: HostFacts, record: dict[str, Any]) -> list[A.Action]:
    # Leftovers of an earlier run of this domain (a crash before release) are undone first;
    # VLAN wishes of its ports are dropped too: port-created records them afresh after prepare.
    plan = release_actions(record)
    meta = meta_of(root)
    for entry in meta.interfaces if meta is not None else ():
        check_ovs_settings(entry.mac or "", entry.ovs_settings)   # refused before the guest starts
    for nic in nics(root):
        mi = meta.interface(nic.mac) if meta is not None and nic.mac else None
        if nic.type == "ethernet" and mi is not None and mi.tap is not None:
            if nic.managed != "no":
                raise InvalidValue(what="interface", value=nic.label,
                                   reason="a TAP made by the hook needs <target ... managed='no'/>")
            plan += _tap_actions(nic, mi, facts, record)
        plan += vf_actions(nic, mi, facts)
        pool = pool_of(nic, facts)
        if pool is not None:
            plan.append(A.ClaimPoolVf(pool[0], pool[1], nic.mac, iface=nic.label))
        if nic.type == "direct" and nic.source_mode == "passthrough" and nic.source_dev:
            plan.append(A.PassthroughExclusive.for_uplink(
                validate_interface_name(nic.source_dev, "uplink"), iface=nic.label))
    plan += domain_port_actions(root)
    if plan:
        plan.append(A.MarkStarting())   # hooks repair: leave this alone until QEMU runs
    return plan
