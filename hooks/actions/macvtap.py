"""macvtap pools: uplink checks and the host-side macvlan shim."""

from __future__ import annotations

from hooks.actions.base import Action, Undo, network_record, network_state, undo_own_steps
from hooks.errors import HostError, NotFound

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Any

    from hooks.context import Context
else:
    from xmltools.record import dataclass


@dataclass(frozen=True)
class CheckUplink(Action):
    """The uplink of a macvtap pool must exist and be up before guests are plugged into it."""

    dev: str
    network: str = ""

    def describe(self) -> str:
        return f"check uplink {self.dev} exists and is up"

    def apply(self, ctx: Context) -> Undo | None:
        link = ctx.netlink.link(self.dev)
        if link is None:
            raise NotFound(step=self.describe(), what="uplink", name=self.dev)
        if not link.up:
            raise HostError(step=self.describe(), detail=f"uplink {self.dev!r} is down")
        return None


@dataclass(frozen=True)
class CreateShim(Action):
    """A macvlan in bridge mode on the uplink, with an address: the host's way to its guests."""

    name: str
    uplink: str
    address: str

    def describe(self) -> str:
        return f"create host shim {self.name} (macvlan bridge on {self.uplink}, {self.address})"

    def apply(self, ctx: Context) -> Undo | None:
        nl = ctx.netlink
        link = nl.link(self.name)
        if link is not None:
            if link.kind != "macvlan":
                raise HostError(step=self.describe(),
                                detail=f"{self.name} exists and is a {link.kind}, not a macvlan")
            return None
        with network_record(ctx) as rec:
            rec.part_for_update(rec.SHIMS)[self.name] = {"uplink": self.uplink, "address": self.address}

        def undo() -> None:
            made = network_state(ctx).shims.get(self.name)
            _delete_own_shim(ctx, self.name, made or {})
            with network_record(ctx) as rec:
                rec.shims.pop(self.name, None)

        try:
            nl.create_macvlan(self.name, self.uplink, "bridge")
            made = nl.link(self.name)
            if made is None:
                raise NotFound(step=self.describe(), what="shim", name=self.name)
            # From now on network stopped deletes this device only, not whatever has the name then.
            with network_record(ctx) as rec:
                rec.shims.get(self.name, {})["index"] = made.index
            nl.add_address(self.name, self.address)
            nl.set_up(self.name, True)
        except BaseException:
            undo_own_steps(ctx, f"delete host shim {self.name}", undo)
            raise
        return Undo(f"delete host shim {self.name}", undo)


def _delete_own_shim(ctx: Context, name: str, made: dict[str, Any]) -> None:
    """Delete the shim the record describes: a macvlan of that name and, once noted, that
    ifindex; a device that took the name since (anyone's) is left alone."""
    nl = ctx.netlink
    link = nl.link(name)
    if link is None or link.kind != "macvlan":
        return
    if made.get("index") not in (None, link.index):
        return
    nl.delete_link(name)


@dataclass(frozen=True)
class DeleteShim(Action):
    """Remove a shim this hook created for the network (recorded in state), and only that device."""

    name: str

    def describe(self) -> str:
        return f"delete host shim {self.name}"

    def apply(self, ctx: Context) -> Undo | None:
        made = network_state(ctx).shims.get(self.name)
        if made is None:
            return None
        _delete_own_shim(ctx, self.name, made)
        with network_record(ctx) as rec:
            rec.shims.pop(self.name, None)
        again = CreateShim(self.name, made["uplink"], made["address"])
        return Undo(f"re-create host shim {self.name}", lambda: again.apply(ctx))
