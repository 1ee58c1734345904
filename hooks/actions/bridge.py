"""Linux bridge VLANs: VLAN filtering on a bridge, the VLAN set of one port."""

from __future__ import annotations

from hooks.actions.base import Action, Undo, undo_own_steps
from hooks.errors import HostError
from hooks.ports import BridgeVlan
from xmltools.rules import format_vlan_ids

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from dataclasses import dataclass

    from hooks.context import Context
else:
    from xmltools.record import dataclass


@dataclass(frozen=True)
class BridgeVlanFiltering(Action):
    bridge: str
    on: bool

    def describe(self) -> str:
        return f"set VLAN filtering {'on' if self.on else 'off'} for bridge {self.bridge}"

    def apply(self, ctx: Context) -> Undo | None:
        nl = ctx.netlink
        before = nl.bridge_vlan_filtering(self.bridge)
        if before == self.on:
            return None
        nl.set_bridge_vlan_filtering(self.bridge, self.on)
        return Undo(f"restore VLAN filtering {'on' if before else 'off'} on {self.bridge}",
                    lambda: nl.set_bridge_vlan_filtering(self.bridge, before))


@dataclass(frozen=True)
class BridgePortVlans(Action):
    """The exact VLAN set of one bridge port.

    Access port: ``vids=(10,)``, ``pvid=10``: VLAN 10 is pvid and leaves untagged. Trunk:
    every vid tagged, except the native one (``pvid``), which is untagged unless
    ``untagged_pvid`` is false (native-tagged). Without a pvid untagged frames are dropped.
    ``remove_default`` also removes VLAN 1, which the kernel gives every new port. With
    ``bridge`` the port must be a port of that bridge (a hook TAP: the one it was plugged into).

    ``verify``: libvirt (11.0 and later) set these VLANs itself from the port's ``<vlan>``; the
    hook only checks that the bridge filters VLANs and that the port holds exactly this set,
    and changes nothing: re-applying or "correcting" them would fight libvirt.
    """

    port: str
    vids: tuple[int, ...]
    pvid: int | None = None
    untagged_pvid: bool = True
    remove_default: bool = True
    bridge: str | None = None
    verify: bool = False

    def wanted(self) -> dict[int, BridgeVlan]:
        vids = set(self.vids) | ({self.pvid} if self.pvid is not None else set())
        return {v: BridgeVlan(v, pvid=v == self.pvid, untagged=v == self.pvid and self.untagged_pvid)
                for v in sorted(vids)}

    def describe(self) -> str:
        tagged = [v for v in sorted(set(self.vids)) if v != self.pvid]
        parts = []
        if self.pvid is not None:
            parts.append(f"pvid {self.pvid} {'untagged' if self.untagged_pvid else 'tagged'}")
        if tagged:
            parts.append("tagged " + format_vlan_ids(tagged))
        if self.verify:
            return f"verify bridge VLANs libvirt set on {self.port}: {', '.join(parts) or 'none'}"
        return f"set bridge VLANs of {self.port}: {', '.join(parts) or 'none'}"

    def apply(self, ctx: Context) -> Undo | None:
        nl = ctx.netlink
        link = nl.link(self.port)
        if self.bridge is not None and (link is None or link.master != self.bridge):
            where = "does not exist" if link is None else f"is attached to {link.master or 'nothing'}"
            raise HostError(step=self.describe(), detail=f"{self.port} {where}, not to bridge {self.bridge}")
        if link is not None and link.master and not nl.bridge_vlan_filtering(link.master):
            # The kernel accepts VLAN entries on such a bridge and then ignores them: refuse,
            # rather than start a guest that looks isolated and is not.
            raise HostError(step=self.describe(), detail=(
                f"bridge {link.master} has VLAN filtering off, so VLANs on {self.port} would "
                "isolate nothing; turn it on (<vnx:bridge vlan-filtering='yes'/> in the network's "
                f"metadata, or 'ip link set {link.master} type bridge vlan_filtering 1')"))
        before = {v.vid: v for v in nl.bridge_vlans(self.port)}
        wanted = self.wanted()
        adds = [w for vid, w in wanted.items() if before.get(vid) != w]
        # The pvid goes last: adding it moves the pvid flag away from any other VLAN.
        adds.sort(key=lambda w: w.pvid)
        drops = [vid for vid in before if vid not in wanted and (vid != 1 or self.remove_default)]
        if not adds and not drops:
            return None
        if self.verify:
            have = ", ".join(f"{v.vid}{' pvid' if v.pvid else ''}{' untagged' if v.untagged else ''}"
                             for v in sorted(before.values(), key=lambda b: b.vid)) or "none"
            raise HostError(step=self.describe(), detail=(
                f"{self.port} holds VLANs {have}, not what libvirt's <vlan> sets; the hook does not "
                "change VLANs libvirt applies (restart the guest, or fix whatever changed them)"))
        def undo() -> None:
            # Re-read rather than replay: adding a pvid silently moved the flag off another VLAN.
            now = {v.vid: v for v in nl.bridge_vlans(self.port)}
            for vid in now:
                if vid not in before:
                    nl.bridge_vlan_del(self.port, vid)
            for vlan in sorted(before.values(), key=lambda b: (b.pvid, b.vid)):
                if now.get(vlan.vid) != vlan:
                    nl.bridge_vlan_add(self.port, vlan.vid, vlan.pvid, vlan.untagged)

        try:
            for w in adds:
                nl.bridge_vlan_add(self.port, w.vid, w.pvid, w.untagged)
            for vid in drops:
                nl.bridge_vlan_del(self.port, vid)
        except BaseException:
            # Half of this action's own changes would otherwise stay behind.
            undo_own_steps(ctx, f"restore bridge VLANs of {self.port}", undo)
            raise
        return Undo(f"restore bridge VLANs of {self.port}", undo)
