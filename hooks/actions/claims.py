"""Per-device claims: a VF or a passthrough uplink belongs to one domain at a time."""

from __future__ import annotations

from hooks.actions.base import Action, DomainRecord, Undo, domain_record, domain_state, undo_own_steps
from hooks.errors import Busy

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from dataclasses import dataclass

    from hooks.context import Context
else:
    from xmltools.record import dataclass


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
        _note_claim(ctx, self.device, self.what)

        def undo() -> None:
            ReleaseClaim(self.device).apply(ctx)

        return Undo(f"release {self.what} {self.device}", undo)


def _note_claim(ctx: Context, device: str, what: str) -> None:
    """List a claim just taken in the domain's record; if that fails, give the claim back
    rather than leave a device held that nothing of the domain mentions."""
    try:
        with domain_record(ctx) as rec:
            rec.part_for_update(rec.CLAIMS)[device] = what
    except BaseException:
        undo_own_steps(ctx, f"release claim on {device.split('-', 1)[-1]}",
                       lambda: ctx.state.release(device, ctx.owner.name))
        raise


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
            what = rec.claims.pop(self.device, None)
        if not released:
            return None
        return Undo(f"claim {self.device} again",
                    lambda: ClaimDevice(self.device, what or "device").apply(ctx))


@dataclass(frozen=True)
class ClaimPoolVf(Action):
    """Reserve one free VF of a hostdev network's pool for an interface of this domain.

    The network hook records the pool (its PF) at network ``start``; at domain ``prepare`` each
    interface on that network takes the first VF no other domain holds (``StateStore.claim``:
    flock plus an atomic record per VF), so concurrent starts never share a VF and the ones
    that find the pool exhausted fail before libvirt plugs anything.
    """

    network: str
    pf: str
    mac: str

    def describe(self) -> str:
        return f"reserve a VF of pool {self.network} (PF {self.pf}) for {self.mac}"

    def apply(self, ctx: Context) -> Undo | None:
        fs = ctx.sysfs
        mine = domain_state(ctx).claims
        what = pool_claim_what(self.network, self.mac)
        if what in mine.values():
            return None   # this interface already holds one (re-applied plan)
        count = fs.sriov_numvfs(self.pf)
        for index in range(count):
            address = fs.vf_address(self.pf, index)
            if address is None:
                continue
            device = f"pci-{address}"
            if device in mine:
                continue   # held by this domain for another interface
            try:
                if not ctx.state.claim(device, what, ctx.owner.name, ctx.owner.uuid):
                    continue
            except Busy:
                continue   # another domain holds it (or is taking it right now)
            _note_claim(ctx, device, what)

            def undo(device: str = device) -> None:
                ReleaseClaim(device).apply(ctx)

            return Undo(f"release VF {address} of pool {self.network}", undo)
        raise Busy(step=self.describe(), what="VF pool", name=self.network,
                   detail=f"all {count} VFs of {self.pf} are in use by other domains")


def pool_claim_what(network: str, mac: str) -> str:
    """How a domain's record names the VF one of its interfaces holds in a pool."""
    return f"VF of pool {network} for {mac}"


@dataclass(frozen=True)
class ClaimPluggedVf(Action):
    """Claim, for the domain, the very VF libvirt picked from a pool for one of its ports.

    ``ClaimPoolVf`` at prepare reserves *a* VF, but libvirt chooses the one it plugs by its own
    count of the pool, blind to VFs the hooks gave out by address (``<vnx:vf>``). The network's
    ``port-created`` names the VF (``<plug type='hostdev-pci'>``) before libvirt takes it from its
    driver: a VF another domain holds is refused there, so the start fails instead of two guests
    sharing one function; otherwise the domain's reservation moves to the VF it really got.
    """

    domain: str
    uuid: str | None
    address: str
    network: str
    mac: str

    def describe(self) -> str:
        return f"claim VF {self.address} of pool {self.network} for port {self.mac} of domain {self.domain}"

    def apply(self, ctx: Context) -> Undo | None:
        device, what = f"pci-{self.address}", pool_claim_what(self.network, self.mac)
        taken = ctx.state.claim(device, what, self.domain, self.uuid)   # Busy: another domain's
        try:
            with DomainRecord(ctx, self.domain, self.uuid) as rec:
                claims = rec.part_for_update(rec.CLAIMS)
                before = dict(claims)
                claims[device] = what
                stale = [d for d, w in before.items() if w == what and d != device]
                for old in stale:
                    claims.pop(old)
        except BaseException:
            if taken:
                undo_own_steps(ctx, f"release claim on {self.address}",
                               lambda: ctx.state.release(device, self.domain))
            raise
        for old in stale:
            ctx.state.release(old, self.domain)
        if not taken and not stale:
            return None

        def undo() -> None:
            for old in stale:
                ctx.state.claim(old, what, self.domain, self.uuid)
            with DomainRecord(ctx, self.domain, self.uuid) as rec:
                rec.replace(rec.CLAIMS, before)
            if taken:
                ctx.state.release(device, self.domain)

        return Undo(f"give VF {self.address} back to pool {self.network}", undo)
