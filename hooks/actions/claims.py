"""Per-device claims: a VF or a passthrough uplink belongs to one domain at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hooks.actions.base import Action, Undo, domain_record

if TYPE_CHECKING:
    from hooks.context import Context


@dataclass(frozen=True)
class ClaimDevice(Action):
    """Record that this domain holds a device; fail if another domain does (per-device lock)."""

    device: str          # state key: 'pci-0000:04:10.0', 'uplink-eth1'
    what: str = "device"

    def describe(self) -> str:
        return f"claim {self.what} {self.device.split('-', 1)[-1]} for this domain"

    def apply(self, ctx: Context) -> Undo | None:
        if not ctx.state.claim(self.device, self.what, ctx.owner.name, ctx.owner.uuid):
            return None
        with domain_record(ctx) as rec:
            rec.setdefault("claims", {})[self.device] = self.what

        def undo() -> None:
            ReleaseClaim(self.device).apply(ctx)

        return Undo(f"release {self.what} {self.device}", undo)


@dataclass(frozen=True)
class PassthroughExclusive(ClaimDevice):
    """A macvtap passthrough uplink serves one guest: refuse a second one while it is in use."""

    what: str = "passthrough uplink"

    @classmethod
    def for_uplink(cls, dev: str, iface: str = "") -> PassthroughExclusive:
        return cls(f"uplink-{dev}", iface=iface)


@dataclass(frozen=True)
class ReleaseClaim(Action):
    device: str

    def describe(self) -> str:
        return f"release claim on {self.device.split('-', 1)[-1]}"

    def apply(self, ctx: Context) -> Undo | None:
        released = ctx.state.release(self.device, ctx.owner.name)
        with domain_record(ctx) as rec:
            what = rec.get("claims", {}).pop(self.device, None)
        if not released:
            return None
        return Undo(f"claim {self.device} again",
                    lambda: ClaimDevice(self.device, what or "device").apply(ctx))
