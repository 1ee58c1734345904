"""TAP devices for ``ethernet``/``managed='no'`` interfaces: create, plug, bring up, delete."""

from __future__ import annotations

from hooks.actions.base import Action, Undo, domain_record
from hooks.errors import HostError, NotFound

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Any

    from hooks.context import Context
else:
    from xmltools.record import dataclass


@dataclass(frozen=True)
class CreateTap(Action):
    """A persistent TAP for an ``ethernet``/``managed='no'`` interface, recorded as ours.

    An existing TAP of that name is used as it is and never recorded, so it is never deleted.
    ``bridge``/``ovs`` are kept in the record so release and repair can unplug it.
    """

    name: str
    uid: int | None = None
    gid: int | None = None
    multi_queue: bool = False
    vnet_hdr: bool = False
    bridge: str | None = None
    ovs: bool = False

    def describe(self) -> str:
        flags = [f for f, on in (("multi_queue", self.multi_queue), ("vnet_hdr", self.vnet_hdr)) if on]
        uid, gid = ("-" if v is None else v for v in (self.uid, self.gid))
        owner = f" owner {uid}:{gid}"
        return f"create TAP {self.name}{owner}" + (f" ({', '.join(flags)})" if flags else "")

    def record(self) -> dict[str, Any]:
        return {"uid": self.uid, "gid": self.gid, "multi_queue": self.multi_queue,
                "vnet_hdr": self.vnet_hdr, "bridge": self.bridge, "ovs": self.ovs}

    def apply(self, ctx: Context) -> Undo | None:
        nl = ctx.netlink
        existing = nl.link(self.name)
        if existing is not None:
            if existing.kind not in ("tun", "tap", None):
                raise HostError(step=self.describe(),
                                detail=f"{self.name} exists and is a {existing.kind}, not a TAP")
            return None
        with domain_record(ctx) as rec:
            rec.setdefault("taps", {})[self.name] = self.record()
        try:
            nl.create_tap(self.name, self.uid, self.gid, self.multi_queue, self.vnet_hdr)
        except BaseException:
            _forget_tap(ctx, self.name)
            raise

        def undo() -> None:
            if self.ovs and self.bridge:
                # Normally EnslaveLink's undo has unplugged it already (then this is a no-op);
                # if that failed, the Port row would outlive the TAP and its record.
                ctx.ovs.del_port(self.bridge, self.name)
            if nl.link(self.name) is not None:
                nl.delete_link(self.name)
            _forget_tap(ctx, self.name)

        return Undo(f"delete TAP {self.name}", undo)


def _forget_tap(ctx: Context, name: str) -> None:
    with domain_record(ctx) as rec:
        rec.get("taps", {}).pop(name, None)


@dataclass(frozen=True)
class DeleteTap(Action):
    """Delete a TAP this hook created for the domain (the state record says so), nothing else."""

    name: str

    def describe(self) -> str:
        return f"delete TAP {self.name} (created by the hook)"

    def apply(self, ctx: Context) -> Undo | None:
        made = ctx.state.read("domains", ctx.owner.name).get("taps", {}).get(self.name)
        if made is None:
            return None
        nl = ctx.netlink
        if made.get("ovs") and made.get("bridge"):
            # Also when the TAP is already gone: its Port row would stay behind in OVS.
            ctx.ovs.del_port(made["bridge"], self.name)
        if nl.link(self.name) is not None:
            nl.delete_link(self.name)
        _forget_tap(ctx, self.name)
        again = CreateTap(self.name, made.get("uid"), made.get("gid"), bool(made.get("multi_queue")),
                          bool(made.get("vnet_hdr")), made.get("bridge"), bool(made.get("ovs")))

        def undo() -> None:
            again.apply(ctx)
            if again.bridge:
                EnslaveLink(self.name, again.bridge, again.ovs).apply(ctx)

        return Undo(f"re-create TAP {self.name}", undo)


@dataclass(frozen=True)
class EnslaveLink(Action):
    """Plug a link into a Linux bridge, or add it as a port of an OVS bridge."""

    name: str
    bridge: str
    ovs: bool = False

    def describe(self) -> str:
        return f"plug {self.name} into {'OVS bridge' if self.ovs else 'bridge'} {self.bridge}"

    def apply(self, ctx: Context) -> Undo | None:
        if self.ovs:
            ovs = ctx.ovs
            before = ovs.port_bridge(self.name)
            if before == self.bridge:
                return None
            if before is not None:
                ovs.del_port(before, self.name)
            ovs.add_port(self.bridge, self.name)

            def undo_ovs() -> None:
                ovs.del_port(self.bridge, self.name)
                if before is not None:
                    ovs.add_port(before, self.name)

            return Undo(f"unplug {self.name} from OVS bridge {self.bridge}", undo_ovs)
        nl = ctx.netlink
        link = nl.link(self.name)
        if link is None:
            raise NotFound(step=self.describe(), what="interface", name=self.name)
        if link.master == self.bridge:
            return None
        nl.set_master(self.name, self.bridge)
        return Undo(f"unplug {self.name} from bridge {self.bridge}",
                    lambda: nl.set_master(self.name, link.master))


@dataclass(frozen=True)
class LinkUp(Action):
    name: str

    def describe(self) -> str:
        return f"bring {self.name} up"

    def apply(self, ctx: Context) -> Undo | None:
        nl = ctx.netlink
        link = nl.link(self.name)
        if link is None:
            raise NotFound(step=self.describe(), what="interface", name=self.name)
        if link.up:
            return None
        nl.set_up(self.name, True)
        return Undo(f"bring {self.name} down", lambda: nl.set_up(self.name, False))
