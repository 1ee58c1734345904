"""State records and output: VLAN wishes of ports, and the rewritten XML."""

from __future__ import annotations

import time

from hooks.actions.base import Action, DomainRecord, Undo, domain_record, network_record

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Any

    from hooks.context import Context
else:
    from xmltools.record import dataclass


@dataclass(frozen=True)
class RecordPortWish(Action):
    """Remember, for the owning domain, the VLAN a network's portgroup wants on a port.

    The network hook sees the portgroup (``port-created``) but not the device name; the domain
    hook sees the device (``start``, ``reconnect``) but not the network's metadata. This record
    joins them, by MAC.
    """

    domain: str
    uuid: str | None
    mac: str
    wish: tuple[tuple[str, Any], ...]   # sorted (key, value) pairs of the VLAN wish

    def describe(self) -> str:
        values = dict(self.wish)
        return (f"remember VLAN {_wish_text(values)} for port {self.mac} of domain {self.domain} "
                f"(portgroup {values.get('portgroup')})")

    def apply(self, ctx: Context) -> Undo | None:
        wanted = dict(self.wish)
        with DomainRecord(ctx, self.domain, self.uuid) as rec:
            wishes = rec.part_for_update(rec.PORT_WISHES)
            before = wishes.get(self.mac)
            if before == wanted:
                return None
            wishes[self.mac] = wanted

        def undo() -> None:
            with DomainRecord(ctx, self.domain, self.uuid) as rec:
                if before is None:
                    rec.port_wishes.pop(self.mac, None)
                else:
                    rec.part_for_update(rec.PORT_WISHES)[self.mac] = before

        return Undo(f"forget VLAN wish for port {self.mac}", undo)


def _wish_text(values: dict[str, Any]) -> str:
    if values.get("tag") is not None:
        return f"access {values['tag']}"
    text = f"trunks {values.get('trunks')}"
    if values.get("native") is not None:
        text += f" native {values['native']}"
    return text


@dataclass(frozen=True)
class MarkStarting(Action):
    """Note in the domain's record that libvirt is starting it, and which daemon does.

    Between ``prepare`` and QEMU's start no pid file shows the domain as running, so ``hooks
    repair`` would take what prepare just did for leftovers; the note tells it otherwise while
    that daemon lives (``hooks.repair.in_flight``). ``release`` drops it with the record.
    """

    def describe(self) -> str:
        return "note that the libvirt daemon is starting the domain"

    def apply(self, ctx: Context) -> Undo | None:
        with domain_record(ctx) as rec:
            if rec.only_labels(rec.STARTING):
                return None   # prepare left nothing on the host to protect
            before = rec.starting
            rec.replace(rec.STARTING, {"pid": ctx.daemon_pid, "since": round(time.time(), 3)})

        def undo() -> None:
            with domain_record(ctx) as rec:
                rec.drop(rec.STARTING)
                if before is not None:
                    rec.replace(rec.STARTING, before)

        return Undo("drop the note that the domain is starting", undo)


@dataclass(frozen=True)
class ForgetDomain(Action):
    """Drop what is left of a stopped domain's record: VLAN wishes of its ports, the start note,
    the interfaces ``hooks watch`` applied."""

    def describe(self) -> str:
        return "forget the domain's port records"

    def apply(self, ctx: Context) -> Undo | None:
        with domain_record(ctx) as rec:
            dropped = {key: rec.drop(key) for key in (rec.PORT_WISHES, rec.STARTING, rec.HOTPLUG)
                       if rec.data.get(key)}
        if not dropped:
            return None

        def undo() -> None:
            with domain_record(ctx) as rec:
                for key, value in dropped.items():
                    rec.replace(key, value)

        return Undo("restore the domain's port records", undo)


@dataclass(frozen=True)
class RewriteXml(Action):
    """Hand the rewritten domain XML back to libvirt on stdout (migrate, restore)."""

    xml: str
    changes: tuple[str, ...] = ()

    def describe(self) -> str:
        return "rewrite the domain XML: " + ("; ".join(self.changes) or "no change")

    def apply(self, ctx: Context) -> Undo | None:
        ctx.output.append(self.xml)
        return Undo("drop the rewritten XML", ctx.output.clear)


@dataclass(frozen=True)
class RecordPool(Action):
    """Remember that this network is a pool of the VFs of ``pf`` (network ``start``), so that
    domain ``prepare`` can reserve VFs for interfaces on it (``ClaimPoolVf``)."""

    pf: str

    def describe(self) -> str:
        return f"record the network as a pool of the VFs of {self.pf}"

    def apply(self, ctx: Context) -> Undo | None:
        with network_record(ctx) as rec:
            before = rec.drop(rec.POOL)
            rec.replace(rec.POOL, {"pf": self.pf})
            if before == {"pf": self.pf}:
                return None

        def undo() -> None:
            with network_record(ctx) as rec:
                rec.replace(rec.POOL, before)

        return Undo("forget the network's VF pool", undo)


@dataclass(frozen=True)
class ForgetPool(Action):
    """Network ``stopped``: its VFs are no pool any more (claims stay with their domains)."""

    def describe(self) -> str:
        return "forget the network's VF pool"

    def apply(self, ctx: Context) -> Undo | None:
        with network_record(ctx) as rec:
            before = rec.drop(rec.POOL)
        if before is None:
            return None

        def undo() -> None:
            with network_record(ctx) as rec:
                rec.replace(rec.POOL, before)

        return Undo("record the network's VF pool again", undo)
