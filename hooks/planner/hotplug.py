"""NICs that come and go while a guest runs: libvirt runs no hook for a hot-plug, so
``hooks watch`` (``hooks.watch``) asks here what one interface needs, as the ``start`` and
``reconnect`` hooks would plan it, and what to undo when it leaves.

Nothing here touches the host or libvirt: the live domain XML, the host facts and the domain's
state record in, actions out, like every other planner.
"""

from __future__ import annotations

from lxml import etree

from hooks import actions as A
from hooks.planner.domain import port_vlan_actions
from hooks.planner.facts import HostFacts
from hooks.planner.forwards import interface_forward_actions
from hooks.planner.interfaces import Nic, meta_of, nics, uuid_of
from hooks.state_records import DomainState

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from typing import Any


def alias_of(nic: Nic) -> str | None:
    """libvirt's device alias of the interface (``net1``): what its device events name."""
    alias = nic.node.find("alias")
    return alias.get("name") if alias is not None else None


def nic_by_alias(root: etree._Element, alias: str) -> Nic | None:
    return next((nic for nic in nics(root) if alias_of(nic) == alias), None)


def plug_actions(root: etree._Element, facts: HostFacts, record: dict[str, Any], mac: str) -> list[A.Action]:
    """What the interface with ``mac`` needs now that it is in the running guest: its VLANs and
    OVS settings on its port, and its port forwards, exactly as ``start``/``reconnect`` plan them."""
    mac = mac.lower()
    plan = port_vlan_actions(root, facts, record, only=mac)
    meta = meta_of(root)
    nic = next((n for n in nics(root) if n.mac == mac), None)
    if meta is not None and nic is not None:
        plan += interface_forward_actions(root.findtext("name") or "", uuid_of(root), nic,
                                          meta.interface(mac), facts)
    return plan


def unplug_actions(record: dict[str, Any], mac: str) -> list[A.Action]:
    """What to undo when the interface with ``mac`` has left the guest: its port forwards (their
    rules name its address). Its VLANs and OVS settings went with its port, which libvirt deleted."""
    forwards = DomainState(record).forwards
    return [A.RemoveForwards(key) for key, entry in sorted(forwards.items())
            if isinstance(entry, dict) and (entry.get("mac") or "").lower() == mac.lower()]


def pending(root: etree._Element, record: dict[str, Any]) -> list[Nic]:
    """The running guest's interfaces ``hooks watch`` has not applied yet (by MAC and device):
    after the watch was away, each may have been hot-plugged meanwhile."""
    done = DomainState(record).hotplug
    out = []
    for nic in nics(root):
        if not nic.mac or not nic.dev:
            continue
        entry = done.get(nic.mac)
        if isinstance(entry, dict) and entry.get("dev") == nic.dev:
            continue
        out.append(nic)
    return out


def unplugged(record: dict[str, Any], alias: str) -> str | None:
    """The MAC of the recorded interface whose alias was ``alias`` (it has left the guest)."""
    for mac, entry in DomainState(record).hotplug.items():
        if isinstance(entry, dict) and entry.get("alias") == alias:
            return str(mac)
    return None
