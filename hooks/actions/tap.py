"""TAP devices for ``ethernet``/``managed='no'`` interfaces: create or take, plug, bring up, give back.

The device name comes from the domain XML, which whoever defines the guest writes: it can name
another guest's ``vnet3``, ``lo``, a NIC or an Open vSwitch patch port. So the hook acts only on
a TAP it created, or on a TAP that exists, is attached nowhere (no master, no OVS row), is held
by no process and is claimed by no other domain: such a TAP it *takes* (records as adopted) and
at release gives back unplugged, never deleting it. What the hook did to a TAP is in the domain's
record (``taps``: created or adopted, its ifindex, the bridge, whether the hook plugged it), and
release undoes exactly that, on the device with that ifindex only.
"""

from __future__ import annotations

from hooks.actions.base import Action, Undo, domain_record, domain_state, undo_own_steps
from hooks.errors import ForeignDevice, HostError, HostTimeout, NotFound

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Any

    from hooks.context import Context
    from hooks.ports import LinkInfo, OvsPort
else:
    from xmltools.record import dataclass

NOT_OURS = "is not a TAP the hook created or took for this domain"


def claim_key(name: str) -> str:
    """The state claim that keeps a TAP to one domain from prepare to release."""
    return f"tap-{name}"


def in_use(link: LinkInfo) -> str | None:
    """Why a TAP is held by some process (QEMU, another hook, anything), None when nothing holds it.

    A non-persistent TAP exists only while its process holds it; a multi-queue one reports the
    queues held (attached or disabled); a single-queue one has carrier from the first attach to
    the last close. Carrier set by hand on a free TAP makes it look used: refused, the safe side.
    """
    if not link.tun_persistent:
        return "is in use (not persistent: it lives only while a process holds it)"
    if link.tun_queues:
        return f"is in use ({link.tun_queues} queue(s) held by a process)"
    if link.carrier:
        return "is in use (it has carrier: a process holds it open)"
    return None


def link_conflict(link: LinkInfo) -> str | None:
    """Why an existing link may not be taken as a domain's TAP; None when it is a free TAP."""
    if link.kind != "tun":
        kind = f"a {link.kind} link" if link.kind else "a device of unknown kind: loopback, a NIC..."
        return f"is not a TAP ({kind})"
    if link.tun_mode != "tap":
        return f"is not a TAP (a {link.tun_mode or 'tun/tap of unknown'} device)"
    if link.master:
        return f"is attached to {link.master}"
    return in_use(link)


def owner_mark(ctx: Context) -> str:
    """What marks the OVS Port rows the hook adds for this domain (its UUID, stable across
    renames; the name when the call has no XML)."""
    return ctx.owner.uuid or ctx.owner.name


def ovs_conflict(ovs: OvsPort, name: str, owner: str | None = None, link: bool = True) -> str | None:
    """Why OVS forbids the name: it has a Port or Interface row of it (a patch port has no link).

    One exception: a Port row the hook added for this same domain (``owner``) whose TAP is gone.
    That is what a reboot leaves (the OVS database survives, the TAP and the hook's records in
    /run do not); refusing it would keep the guest from ever starting again.
    """
    try:
        row = ovs.port_or_interface(name)
        if row == "port" and owner is not None and not link and ovs.port_owner(name) == owner:
            return None
    except HostTimeout:
        raise
    except HostError:
        return None   # no Open vSwitch running: nothing of it uses the name now
    return f"is an Open vSwitch {row}" if row else None


def tap_conflict(ctx: Context, name: str, ovs_bridge: bool) -> str | None:
    """Why the hook may neither create nor take TAP ``name`` for the domain; None when it may.

    Asked by the planner before any change, and again by CreateTap when it applies. Open vSwitch
    is asked when the name exists as a link or the TAP goes onto an OVS bridge.
    """
    holder = ctx.state.holder(claim_key(name))
    if holder and holder != ctx.owner.name:
        return f"is in use by domain {holder}"
    link = ctx.netlink.link(name)
    reason = link_conflict(link) if link is not None else None
    if reason is None and (link is not None or ovs_bridge):
        reason = ovs_conflict(ctx.ovs, name, owner_mark(ctx), link is not None)
    return reason


def _taps(ctx: Context) -> dict[str, Any]:
    return domain_state(ctx).taps


def _plugged(entry: dict[str, Any]) -> bool:
    # Records written before "plugged" existed listed only created TAPs, plugged when bridged.
    return bool(entry.get("plugged", not entry.get("adopted") and entry.get("bridge")))


def _note(ctx: Context, name: str, **values: Any) -> None:
    with domain_record(ctx) as rec:
        entry = rec.taps.get(name)
        if entry is not None:
            entry.update(values)


def _unplugged(ctx: Context, name: str) -> None:
    _note(ctx, name, plugged=False)


def _forget_tap(ctx: Context, name: str) -> None:
    with domain_record(ctx) as rec:
        rec.taps.pop(name, None)


def is_recorded_device(link: LinkInfo, entry: dict[str, Any]) -> bool:
    """Is ``link`` the very device the record describes (not another one that took its name)?"""
    if link.kind != "tun" or link.tun_mode != "tap":
        return False
    if "index" in entry:
        return bool(link.index == entry["index"])
    # Killed between creating the TAP and noting its index: ours is free, or on our bridge.
    return link.master in (None, entry.get("bridge"), "ovs-system") and in_use(link) is None


def give_back(ctx: Context, name: str, entry: dict[str, Any]) -> None:
    """Undo what ``entry`` says the hook did to TAP ``name``, then forget it: unplug it where
    the hook plugged it, delete it if the hook created it; nothing else, on no other device."""
    nl = ctx.netlink
    link = nl.link(name)
    ours = link is not None and is_recorded_device(link, entry)
    bridge = entry.get("bridge")
    if bridge and _plugged(entry):
        if entry.get("ovs"):
            # Also when the TAP is gone: the Port row the hook added would stay behind in OVS.
            try:
                ctx.ovs.del_port(bridge, name)
            except HostError:
                if ctx.ovs.port_bridge(name) in (None, bridge):
                    raise
                # Now a port of another bridge: not the row the hook added.
        elif ours and entry.get("adopted") and link is not None and link.master == bridge:
            nl.set_master(name, None)
    if ours and not entry.get("adopted"):
        nl.delete_link(name)
    _forget_tap(ctx, name)


@dataclass(frozen=True)
class CreateTap(Action):
    """A persistent TAP for an ``ethernet``/``managed='no'`` interface, recorded as the domain's.

    A free TAP of that name (see ``tap_conflict``) is taken as it is and recorded as adopted, so
    it is never deleted; any other device of that name is refused. ``bridge``/``ovs`` are kept
    in the record so release and repair can unplug it.
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
                "vnet_hdr": self.vnet_hdr, "bridge": self.bridge, "ovs": self.ovs,
                "adopted": False, "plugged": False}

    def apply(self, ctx: Context) -> Undo | None:
        nl = ctx.netlink
        existing = nl.link(self.name)
        if existing is not None:
            mine = _taps(ctx).get(self.name)
            if mine is not None and is_recorded_device(existing, mine):
                return None
            reason = tap_conflict(ctx, self.name, False)
            if reason is not None:
                raise ForeignDevice(step=self.describe(), what="device", name=self.name, reason=reason)
            with domain_record(ctx) as rec:
                rec.part_for_update(rec.TAPS)[self.name] = dict(self.record(), adopted=True,
                                                             index=existing.index)
            return Undo(f"give back TAP {self.name}", lambda: _forget_tap(ctx, self.name))
        with domain_record(ctx) as rec:
            rec.part_for_update(rec.TAPS)[self.name] = self.record()
        try:
            nl.create_tap(self.name, self.uid, self.gid, self.multi_queue, self.vnet_hdr)
        except BaseException:
            undo_own_steps(ctx, f"forget TAP {self.name}", lambda: _forget_tap(ctx, self.name))
            raise

        def undo() -> None:
            entry = _taps(ctx).get(self.name)
            if entry is not None:
                give_back(ctx, self.name, entry)

        try:
            made = nl.link(self.name)
            if made is None:
                raise NotFound(step=self.describe(), what="TAP", name=self.name)
            # From now on release deletes this device only, not whatever has the name then.
            _note(ctx, self.name, index=made.index)
        except BaseException:
            undo_own_steps(ctx, f"delete TAP {self.name}", undo)
            raise
        return Undo(f"delete TAP {self.name}", undo)


@dataclass(frozen=True)
class DeleteTap(Action):
    """Give back a TAP the record lists for the domain: delete it if the hook created it,
    unplug it if the hook only took it; never anything else."""

    name: str

    def describe(self) -> str:
        return f"delete TAP {self.name} (created by the hook)"

    def apply(self, ctx: Context) -> Undo | None:
        entry = _taps(ctx).get(self.name)
        if entry is None:
            return None
        give_back(ctx, self.name, entry)
        again = CreateTap(self.name, entry.get("uid"), entry.get("gid"), bool(entry.get("multi_queue")),
                          bool(entry.get("vnet_hdr")), entry.get("bridge"), bool(entry.get("ovs")))
        plugged = _plugged(entry)

        def undo() -> None:
            again.apply(ctx)
            if again.bridge and plugged:
                EnslaveLink(self.name, again.bridge, again.ovs).apply(ctx)

        return Undo(f"re-create TAP {self.name}", undo)


def _own_tap(ctx: Context, name: str, step: str) -> dict[str, Any]:
    entry = _taps(ctx).get(name)
    if entry is None:
        raise ForeignDevice(step=step, what="device", name=name, reason=NOT_OURS)
    return entry


@dataclass(frozen=True)
class EnslaveLink(Action):
    """Plug the domain's TAP into a Linux bridge, or add it as a port of an OVS bridge.

    Only a TAP the record lists for the domain, and only one attached nowhere: a device that
    already has a master or an OVS row is never moved.
    """

    name: str
    bridge: str
    ovs: bool = False

    def describe(self) -> str:
        return f"plug {self.name} into {'OVS bridge' if self.ovs else 'bridge'} {self.bridge}"

    def apply(self, ctx: Context) -> Undo | None:
        entry = _own_tap(ctx, self.name, self.describe())
        if self.ovs:
            ovs = ctx.ovs
            before = ovs.port_bridge(self.name)
            if before == self.bridge and _plugged(entry):
                return None
            if before is not None:
                if ovs.port_owner(self.name) != owner_mark(ctx):
                    raise ForeignDevice(step=self.describe(), what="device", name=self.name,
                                        reason=f"is already a port of OVS bridge {before}")
                return self._take_back(ctx, before)
            _note(ctx, self.name, plugged=True)   # before the change: release must find it
            try:
                ovs.add_port(self.bridge, self.name, owner_mark(ctx))
            except BaseException:
                undo_own_steps(ctx, f"note {self.name} unplugged", lambda: _unplugged(ctx, self.name))
                raise

            def undo_ovs() -> None:
                ovs.del_port(self.bridge, self.name)
                _unplugged(ctx, self.name)

            return Undo(f"unplug {self.name} from OVS bridge {self.bridge}", undo_ovs)
        nl = ctx.netlink
        link = nl.link(self.name)
        if link is None:
            raise NotFound(step=self.describe(), what="interface", name=self.name)
        if link.master == self.bridge and _plugged(entry):
            return None
        if link.master is not None:
            raise ForeignDevice(step=self.describe(), what="device", name=self.name,
                                reason=f"is attached to {link.master}")
        _note(ctx, self.name, plugged=True)
        try:
            nl.set_master(self.name, self.bridge)
        except BaseException:
            undo_own_steps(ctx, f"note {self.name} unplugged", lambda: _unplugged(ctx, self.name))
            raise

        def undo() -> None:
            nl.set_master(self.name, None)
            _unplugged(ctx, self.name)

        return Undo(f"unplug {self.name} from bridge {self.bridge}", undo)

    def _take_back(self, ctx: Context, before: str) -> Undo:
        """The domain's own Port row from before a reboot: record it as plugged by the hook (so
        release removes it), moved to this bridge if the wish names another one now."""
        ovs = ctx.ovs
        _note(ctx, self.name, plugged=True)
        if before != self.bridge:
            ovs.del_port(before, self.name)
            try:
                ovs.add_port(self.bridge, self.name, owner_mark(ctx))
            except BaseException:
                undo_own_steps(ctx, f"put {self.name} back on OVS bridge {before}",
                               lambda: ovs.add_port(before, self.name, owner_mark(ctx)))
                raise

        def undo() -> None:
            if before != self.bridge:
                ovs.del_port(self.bridge, self.name)
                ovs.add_port(before, self.name, owner_mark(ctx))
            _unplugged(ctx, self.name)

        return Undo(f"leave {self.name}'s earlier OVS port as it was", undo)


@dataclass(frozen=True)
class LinkUp(Action):
    """Bring the domain's TAP up (only a TAP the record lists for the domain)."""

    name: str

    def describe(self) -> str:
        return f"bring {self.name} up"

    def apply(self, ctx: Context) -> Undo | None:
        _own_tap(ctx, self.name, self.describe())
        nl = ctx.netlink
        link = nl.link(self.name)
        if link is None:
            raise NotFound(step=self.describe(), what="interface", name=self.name)
        if link.up:
            return None
        nl.set_up(self.name, True)
        return Undo(f"bring {self.name} down", lambda: nl.set_up(self.name, False))
