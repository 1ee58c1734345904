"""Port forwards to a guest on a NAT network: DNAT in the project's nftables table, and the rule
that lets the forwarded connections through libvirt's own filter (``hooks.adapters.firewall``).

One ``ForwardPorts`` per interface (the planner's unit, so a hot-plugged NIC is planned alone).
The domain's state record holds each interface's forwards under ``forwards`` (key -> what was
applied) before the firewall changes, so ``release`` and ``hooks repair`` remove exactly those
rules, and network ``started`` (libvirt rebuilt its chains) re-applies them. Two domains may not
forward the same (address, protocol, host port): all records are compared under one host-wide
lock, and the second start is refused with a line naming the first domain.
"""

from __future__ import annotations

from hooks.actions.base import Action, DomainRecord, Undo, undo_own_steps
from hooks.errors import Busy, ForeignAddress
from hooks.state import LOCK_TIMEOUT
from hooks.state_records import DomainState

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Any

    from hooks.context import Context
else:
    from xmltools.record import dataclass

# One lock for every domain's forwards: the check for a port another domain forwards and the
# record of this domain's must not interleave with another start.
LOCK = ("forwards", "host")
SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-:")


@dataclass(frozen=True)
class ForwardRules:
    """The forwards of one interface of one domain, everything the firewall needs.

    Every value is validated before it gets here (the planner, or a record the hooks wrote);
    names become firewall tokens only through ``protos`` and the sanitised ``comment``.
    """

    domain: str
    mac: str
    network: str
    bridge: str
    guest: str
    # (proto, host low, host high, guest low, guest high, host address or None, source or None)
    forwards: tuple[tuple[Any, ...], ...]

    protos = {"tcp": "tcp", "udp": "udp"}   # the only protocol tokens that reach a rule

    @property
    def key(self) -> str:
        """The interface's chain suffix and record key: the same for the same domain and MAC."""
        import hashlib  # forwards only

        ident = f"{self.domain}\0{self.mac}".encode("utf-8", "surrogateescape")
        return hashlib.sha256(ident).hexdigest()[:16]

    @property
    def digest(self) -> str:
        import hashlib  # forwards only

        text = repr((self.bridge, self.guest, self.forwards))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def comment(self) -> str:
        """``virt-netxml <domain> <mac> <key>``: names the project and the guest (the domain name
        cut and made safe for a firewall comment; the key identifies it exactly)."""
        name = "".join(c if c in SAFE else "_" for c in self.domain)[:48]
        return f"virt-netxml {name} {self.mac} {self.key}"

    def describe_forwards(self) -> str:
        parts = []
        for proto, h_lo, h_hi, g_lo, g_hi, address, source in self.forwards:
            host = f"{address or '*'}:{h_lo}" + (f"-{h_hi}" if h_hi != h_lo else "")
            guest = f"{self.guest}:{g_lo}" + (f"-{g_hi}" if g_hi != g_lo else "")
            parts.append(f"{proto} {host} -> {guest}" + (f" from {source}" if source else ""))
        return ", ".join(parts)

    def record(self) -> dict[str, Any]:
        return {"domain": self.domain, "mac": self.mac, "network": self.network, "bridge": self.bridge,
                "guest": self.guest, "rules": [list(f) for f in self.forwards]}

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> ForwardRules:
        """Back from a state record; checked again, since it becomes firewall rules."""
        from xmltools.metadata import check_ipv4_address, check_ipv4_network
        from xmltools.names import validate_bridge_name

        forwards = []
        for f in data.get("rules") or []:
            proto, h_lo, h_hi, g_lo, g_hi, address, source = f
            if proto not in cls.protos or not all(isinstance(p, int) and 0 < p < 65536
                                                  for p in (h_lo, h_hi, g_lo, g_hi)):
                raise ValueError(f"bad forward in the state record: {f!r}")
            forwards.append((proto, h_lo, h_hi, g_lo, g_hi,
                             check_ipv4_address(address, "host address") if address else None,
                             check_ipv4_network(source, "source") if source else None))
        return cls(str(data["domain"]), str(data["mac"]), str(data.get("network") or ""),
                   validate_bridge_name(str(data["bridge"])), check_ipv4_address(str(data["guest"]), "guest"),
                   tuple(forwards))


def _label(f: tuple[Any, ...]) -> str:
    proto, h_lo, h_hi, _g_lo, _g_hi, address, _source = f
    return f"{proto} {address or '(any address)'}:{h_lo}" + (f"-{h_hi}" if h_hi != h_lo else "")


def _overlap(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    if a[0] != b[0]:
        return False
    if a[5] and b[5] and a[5] != b[5]:
        return False
    return bool(a[1] <= b[2] and b[1] <= a[2])


def taken_by(ctx: Context, rules: ForwardRules, step: str) -> tuple[str, str] | None:
    """(the first other domain forwarding one of these host ports, which) or None; an address
    another domain's forwards go to is refused outright (ForeignAddress): it is that guest's."""
    for name in ctx.state.names(DomainState.KIND):
        if name == rules.domain:
            continue
        for entry in DomainState(ctx.state.read(DomainState.KIND, name)).forwards.values():
            if entry.get("guest") == rules.guest:
                raise ForeignAddress(step=step, address=rules.guest, holder=name)
            for theirs in entry.get("rules") or []:
                for ours in rules.forwards:
                    if _overlap(tuple(ours), tuple(theirs)):
                        return name, _label(tuple(ours))
    return None


@dataclass(frozen=True)
class ForwardPorts(Action):
    """Forward host ports to one interface of a domain (start, reconnect), or put them back
    after libvirt rebuilt its firewall (``reapply``: network started; only while the domain's
    record still holds them)."""

    rules: ForwardRules
    uuid: str | None = None
    reapply: bool = False

    def describe(self) -> str:
        what = "re-apply" if self.reapply else "forward"
        return (f"{what} host ports to domain {self.rules.domain} on {self.rules.bridge}: "
                f"{self.rules.describe_forwards()}")

    def apply(self, ctx: Context) -> Undo | None:
        rules, fw = self.rules, ctx.firewall
        with ctx.state.serialised(*LOCK, ctx.deadline.timeout(LOCK_TIMEOUT)):
            recorded = DomainState(ctx.state.read(DomainState.KIND, rules.domain)).forwards.get(rules.key)
            if self.reapply and recorded != rules.record():
                return None   # released (or changed) since the plan was made
            if not self.reapply:
                taken = taken_by(ctx, rules, self.describe())
                if taken is not None:
                    raise Busy(step=self.describe(), what="host port", name=taken[1],
                               detail=f"forwarded to domain {taken[0]} already")
            nat, allow = fw.in_place(rules)
            if nat and allow and recorded == rules.record():
                return None
            with DomainRecord(ctx, rules.domain, self.uuid) as rec:
                rec.part_for_update(rec.FORWARDS)[rules.key] = rules.record()

            def undo() -> None:
                fw.remove(rules, not nat, not allow)
                with DomainRecord(ctx, rules.domain, self.uuid) as rec:
                    if recorded is None:
                        rec.forwards.pop(rules.key, None)
                    else:
                        rec.part_for_update(rec.FORWARDS)[rules.key] = recorded

            try:
                fw.apply(rules, not nat, not allow)
            except BaseException:
                undo_own_steps(ctx, f"remove the forwards of {rules.mac}", undo)
                raise
        return Undo(f"remove the forwards of {rules.mac} (domain {rules.domain})", undo)


@dataclass(frozen=True)
class RemoveForwards(Action):
    """Remove the forwards recorded under ``key`` for the owning domain (release, repair):
    exactly the chains and rules the record names, then the record entry."""

    key: str

    def describe(self) -> str:
        return f"remove port forwards {self.key}"

    def apply(self, ctx: Context) -> Undo | None:
        with ctx.state.serialised(*LOCK, ctx.deadline.timeout(LOCK_TIMEOUT)):
            entry = DomainState(ctx.state.read(DomainState.KIND, ctx.owner.name)).forwards.get(self.key)
            if entry is None:
                return None
            rules = ForwardRules.from_record(entry)
            ctx.firewall.remove(rules, True, True)
            with DomainRecord(ctx) as rec:
                rec.forwards.pop(self.key, None)
        again = ForwardPorts(rules, ctx.owner.uuid)
        return Undo(f"forward host ports to {rules.mac} again", lambda: again.apply(ctx))
