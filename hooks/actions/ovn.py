"""OVN: the logical switch of a network, and the logical switch port of a guest interface.

Each change reads the northbound database first (one read-only ``ovn-nbctl`` run) and then
writes in one transaction (``hooks.adapters.ovn``, through ``ctx.ovn``): a port is written by
the row UUID its read found by exact name, so that a name equal to another port's row UUID
cannot take that row over. The ports a guest's start creates are one change set (the
executor's batch, ``OvnPortTransaction``): one read and one write for all of them, whatever
their number.

A port is this host's while its ``requested-chassis`` is this chassis alone; during a live
migration it is requested on the source and the destination (``src,dst``, activated on the
destination by the guest's RARP). The destination adds itself when it prepares the port; the
source narrows the port to the destination when it releases the guest, and deletes it only
when it alone holds it. What a port's record (in the domain's state record) says is what
``release`` and ``hooks repair`` undo, and only on ports tagged with that domain.
"""

from __future__ import annotations

from hooks.actions.base import Action, Batch, DomainRecord, Undo, undo_own_steps
from hooks.errors import ForeignDevice
from hooks.state_records import DomainState
from xmltools.errors import InvalidValue

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Any

    from hooks.context import Context
else:
    from xmltools.record import dataclass

# The keys of a port's options and external_ids an EnsureOvnPort writes (and its undo restores).
DOMAIN_KEY = "virt-netxml-domain"
INTERFACE_KEY = "virt-netxml-interface"
PORT_KEYS = ("options:requested-chassis", "options:activation-strategy",
             f"external_ids:{DOMAIN_KEY}", f"external_ids:{INTERFACE_KEY}")


def _set_entry(ctx: Context, domain: str, uuid: str | None, name: str, entry: dict[str, Any] | None) -> None:
    """Write (or with None drop) the record of OVN port ``name`` in ``domain``'s state record."""
    with DomainRecord(ctx, domain, uuid) as rec:
        if entry is None:
            rec.part_for_update(DomainState.OVN_PORTS).pop(name, None)
            if not rec.part(DomainState.OVN_PORTS):
                rec.drop(DomainState.OVN_PORTS)
        else:
            rec.part_for_update(DomainState.OVN_PORTS)[name] = entry


def _entry_of(ctx: Context, domain: str, name: str) -> dict[str, Any] | None:
    state = DomainState(ctx.state.read(DomainState.KIND, domain))
    entry = state.ovn_ports.get(name)
    return dict(entry) if isinstance(entry, dict) else None


@dataclass(frozen=True)
class EnsureOvnSwitch(Action):
    """The network's logical switch exists: created when missing (with its subnet and DHCP
    options); an existing switch is left exactly as it is. Switches are shared by every host
    of the fleet: only the undo of this call's own creation deletes one."""

    switch: str
    subnet: str | None = None
    dhcp: bool = False

    def describe(self) -> str:
        extra = f" subnet {self.subnet}" if self.subnet else ""
        extra += " with DHCP" if self.dhcp else ""
        return f"OVN switch {self.switch} exists (created{extra} if missing)"

    def apply(self, ctx: Context) -> Undo | None:
        ovn = ctx.ovn
        if not ovn.ensure_switch(self.switch, self.subnet, self.dhcp):
            return None
        return Undo(f"delete OVN switch {self.switch}", lambda: ovn.delete_switch(self.switch))


def _culprit(actions: list[Any], error: BaseException) -> Any:
    """The action of the port an error names (a refusal's ``name``, an invalid ``value``), else
    the first: the transaction failed as a whole."""
    fields = getattr(error, "fields", {})
    name = fields.get("name") or fields.get("value")
    return next((a for a in actions if a.name == name), actions[0])


class OvnPortTransaction(Batch["EnsureOvnPort"]):
    """Consecutive EnsureOvnPort actions (a guest's OVN interfaces at ``prepare``) applied with
    one read-only run (every port by exact name, the switches' DHCP options) and one write
    transaction, whose undo is one transaction too: each ``ovn-nbctl`` run loads the whole
    port table, which at thousands of ports costs more than everything else a hook does."""

    def commit(self) -> tuple[list[EnsureOvnPort], Undo | None]:
        from hooks.adapters.ovn import PortWrite

        ctx, actions = self.ctx, list(self.actions)
        names = [a.name for a in actions]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise InvalidValue(what="OVN port", value=twice[0],
                               reason="two interfaces of the call share this interfaceid")
        ovn = ctx.ovn
        me = ovn.system_id()
        rows, dhcp = ovn.read_ports(names, [a.switch for a in actions])
        decided = [(a, rows[a.name], a.decide(ctx, rows[a.name], me, dhcp[a.switch])) for a in actions]
        changes = [(a, row, d) for a, row, d in decided if d is not None]
        if not changes:
            return [], None
        # Recorded first: a crash after the write leaves a record that release and repair undo.
        for a, _, (_, entry, _) in changes:
            _set_entry(ctx, a.domain, a.domain_uuid, a.name, entry)

        def forget() -> None:
            for a, _, (_, _, before) in changes:
                _set_entry(ctx, a.domain, a.domain_uuid, a.name, before)

        writes = [PortWrite(row, a.switch, a.name, a.mac, a.address_for(row), chassis, a.domain, entry["mac"],
                            dhcp[a.switch], a.port_security) for a, row, (chassis, entry, _) in changes]
        try:
            ovn.write_ports(writes)
        except BaseException:
            what = f"OVN port{'s' if len(changes) > 1 else ''} " + ", ".join(a.name for a, _, _ in changes)
            undo_own_steps(ctx, f"forget {what} in the record", forget)
            raise

        def undo() -> None:
            ovn.undo_writes(writes, me, PORT_KEYS)
            forget()

        if len(changes) == 1:
            a, row, _ = changes[0]
            step = f"{'delete' if row is None else 'restore'} OVN port {a.name}"
        else:
            step = "undo OVN ports " + ", ".join(a.name for a, _, _ in changes)
        return [a for a, _, _ in changes], Undo(step, undo)

    def culprit(self, error: BaseException) -> EnsureOvnPort:
        return _culprit(self.actions, error)


@dataclass(frozen=True)
class EnsureOvnPort(Action):
    """The logical switch port ``name`` (the interface's interfaceid) on ``switch``, with the
    guest's MAC and address (None: ``dynamic``), tagged with the domain and interface, requested
    on this chassis (added as the second chassis when another holds it: a migration arriving);
    with ``port_security`` the port sends only from that MAC (and static address).

    A port tagged with another domain, or with no domain (not the hooks'), is refused: the
    interfaceid is the domain definer's to write, and must not take over someone else's port.
    """

    batch = OvnPortTransaction

    name: str
    switch: str
    mac: str
    address: str | None
    domain: str
    domain_uuid: str | None = None
    port_security: bool = False
    # Network ``port-created`` cannot see the domain's metadata: a static address that the
    # interface's own <vnx:ovn> entry gave the port at ``prepare`` is kept, not made dynamic.
    keep_address: bool = False

    def describe(self) -> str:
        security = ", port security" if self.port_security else ""
        address = self.address or (
            "dynamic unless it has a static address" if self.keep_address else "dynamic")
        return (f"OVN port {self.name} on switch {self.switch}: {self.mac} {address}"
                f"{security}, domain {self.domain}, requested on this chassis")

    def address_for(self, row: Any) -> str | None:
        """The address to write: this action's, or with ``keep_address`` the static one the
        port (this domain's, as ``decide`` checks) has for this MAC."""
        from hooks.adapters.ovn import mac_address, split_address

        if self.address is not None or not self.keep_address or row is None or not row.addresses:
            return self.address
        mac, address = split_address(row.addresses)
        return address if mac.lower() == mac_address(self.mac) else None

    def chassis(self, row: Any, me: str) -> list[str]:
        """The chassis the port is to be requested on, given the row read (or None)."""
        held = list(row.chassis) if row is not None else []
        if not held or me in held:
            return held or [me]
        if len(held) == 1:
            return [held[0], me]      # a migration to this chassis: both until the source releases
        raise ForeignDevice(step=f"set OVN port {self.name}", what="OVN port", name=self.name,
                            reason=f"is requested on {','.join(held)} (migrating between two other chassis)")

    def decide(self, ctx: Context, row: Any, me: str, dhcp: str | None
               ) -> tuple[list[str], dict[str, Any], dict[str, Any] | None] | None:
        """Given the port's row as read (None: no port), this chassis and the switch's DHCP
        options: None when the port and its record are as wished already, else (the chassis to
        request, the record entry to write, the entry before)."""
        from hooks.adapters.ovn import port_addresses, security_entry

        if row is not None and row.external_ids.get(DOMAIN_KEY) != self.domain:
            owner = row.external_ids.get(DOMAIN_KEY)
            raise ForeignDevice(step=f"set OVN port {self.name}", what="OVN port", name=self.name,
                                reason=f"belongs to domain {owner}" if owner else "was not made by the hooks")
        chassis = self.chassis(row, me)
        wanted = [port_addresses(self.mac, self.address_for(row))]
        before = _entry_of(ctx, self.domain, self.name)
        entry: dict[str, Any] = {"switch": self.switch, "mac": wanted[0].split()[0],
                                 "created": row is None or bool(before and before.get("created"))}
        if len(chassis) > 1:
            entry["arriving"] = True   # settled on this chassis at ``started`` (SettleOvnPort)
        if row is not None and (row.switch, row.addresses, row.chassis, row.dhcp_options) == (
                self.switch, wanted, chassis, dhcp) and row.external_ids.get(INTERFACE_KEY) == entry["mac"] \
                and (len(chassis) == 1 or row.options.get("activation-strategy") == "rarp") \
                and (not self.port_security or row.port_security == [security_entry(wanted[0])]) \
                and before == entry:
            return None
        return chassis, entry, before

    def apply(self, ctx: Context) -> Undo | None:
        return OvnPortTransaction.of(ctx, [self]).commit()[1]


class Giving:
    """What one DeleteOvnPort or SettleOvnPort does, decided from the port's row: the NB
    change (a Handover, or None), and whether the port's record entry goes (``forget``, with
    the ``entry`` to put back on undo)."""

    __slots__ = ("action", "handover", "forget", "entry")

    def __init__(self, action: Any, handover: Any, forget: bool = False,
                 entry: dict[str, Any] | None = None) -> None:
        self.action, self.handover, self.forget, self.entry = action, handover, forget, entry

    def undo_step(self) -> str:
        name, handover = self.action.name, self.handover
        if handover is None:
            return f"record OVN port {name} again"
        if not handover.keep:
            return f"create OVN port {name} again"
        return f"request OVN port {name} on {','.join(handover.row.chassis)} again"


class OvnHandoverSet(Batch["DeleteOvnPort | SettleOvnPort"]):
    """Consecutive DeleteOvnPort (``release``) or SettleOvnPort (``started``) actions: every
    port read in one run, every change to the NB made in one transaction, undone in one."""

    def commit(self) -> tuple[list[Any], Undo | None]:
        ctx = self.ctx
        ovn = ctx.ovn
        me = ovn.system_id()
        rows, _ = ovn.read_ports([a.name for a in self.actions])
        # Each Giving holds the action resolved (a record's port gets the owner's name); the
        # executor is told of the actions as planned.
        pairs = [(action, action.resolved(ctx).giving(ctx, rows[action.name], me)) for action in self.actions]
        givings = [g for _, g in pairs if g is not None]
        if not givings:
            return [], None
        handovers = [g.handover for g in givings if g.handover is not None]
        if handovers:
            ovn.hand_over(handovers, me)
        for g in givings:
            if g.forget:
                _set_entry(ctx, g.action.domain, g.action.domain_uuid, g.action.name, None)

        def undo() -> None:
            if handovers:
                ovn.take_back(handovers)
            for g in givings:
                if g.forget:
                    _set_entry(ctx, g.action.domain, g.action.domain_uuid, g.action.name, g.entry)

        step = givings[0].undo_step() if len(givings) == 1 else (
            "take back OVN ports " + ", ".join(g.action.name for g in givings))
        return [a for a, g in pairs if g is not None], Undo(step, undo)

    def culprit(self, error: BaseException) -> Any:
        return _culprit(self.actions, error)


@dataclass(frozen=True)
class DeleteOvnPort(Action):
    """Give up a guest's logical switch port: delete it when this chassis alone is requested;
    during a migration (two chassis) take this chassis out, leaving the other; a port another
    chassis holds, or another domain's, is left alone. With ``migrated`` (libvirt's release
    reason) the port is never deleted: the guest runs on elsewhere. The record entry goes."""

    batch = OvnHandoverSet

    name: str
    domain: str
    domain_uuid: str | None = None
    migrated: bool = False

    def describe(self) -> str:
        return (f"give up OVN port {self.name} (deleted when this chassis alone holds it"
                f"{'; the guest migrated: never deleted' if self.migrated else ''})")

    def resolved(self, ctx: Context) -> DeleteOvnPort:
        """Planned from a record without its domain's name: the owner's."""
        if self.domain:
            return self
        return DeleteOvnPort(self.name, ctx.owner.name, self.domain_uuid or ctx.owner.uuid,
                             migrated=self.migrated, iface=self.iface)

    def giving(self, ctx: Context, row: Any, me: str) -> Giving | None:
        from hooks.adapters.ovn import Handover, split_address

        entry = _entry_of(ctx, self.domain, self.name)
        ours = row is not None and row.external_ids.get(DOMAIN_KEY) == self.domain and me in row.chassis
        handover = None
        if ours:   # else gone, moved to another chassis, or not this domain's: only the record goes
            others = [c for c in row.chassis if c != me]
            if not others and not self.migrated:
                split_address(row.addresses)   # what its undo makes again: refused before deleting
            if others or not self.migrated:
                handover = Handover(row, self.name, others)
        if handover is None and entry is None:
            return None
        return Giving(self, handover, forget=entry is not None, entry=entry)

    def apply(self, ctx: Context) -> Undo | None:
        return OvnHandoverSet.of(ctx, [self]).commit()[1]


@dataclass(frozen=True)
class SettleOvnPort(Action):
    """The guest runs here now (qemu ``started``: at a migration's destination libvirt runs it
    once the incoming guest's CPUs run): a port requested on another chassis and this one is
    requested on this one alone. Also after a start here while another chassis still held the
    port (its host gone): otherwise OVN would wait for a RARP a freshly booted guest never sends."""

    batch = OvnHandoverSet

    name: str

    def describe(self) -> str:
        return f"request OVN port {self.name} on this chassis alone (the guest runs here)"

    def resolved(self, ctx: Context) -> SettleOvnPort:
        return self

    def giving(self, ctx: Context, row: Any, me: str) -> Giving | None:
        # Only the NB changes: the record's "arriving" note stays until release (a second
        # ``started`` finds the port settled and changes nothing).
        from hooks.adapters.ovn import Handover

        if (row is None or me not in row.chassis or row.chassis == [me]
                or row.external_ids.get(DOMAIN_KEY) != ctx.owner.name):
            return None
        return Giving(self, Handover(row, self.name, [me]))

    def apply(self, ctx: Context) -> Undo | None:
        return OvnHandoverSet.of(ctx, [self]).commit()[1]
