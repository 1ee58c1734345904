"""Undo what the state records hold for domains and networks that are no longer running.

A hook killed between two steps (or a host where ``release`` never ran) leaves records of TAPs,
drivers, VF settings and claims behind; the next ``prepare`` of that domain cleans its own, and
``virt-netxml hooks repair`` cleans all of them. Whether a domain still runs is read from
libvirt's pid files, never by calling libvirt. A domain whose ``prepare`` has run but whose QEMU
has not started yet has no pid file either: its record carries a start note (``MarkStarting``)
and is left alone while the daemon that is starting it lives (``in_flight``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hooks import actions as A
from hooks.context import Context, Owner
from hooks.deadline import Deadline
from hooks.errors import HostError
from hooks.executor import Executor, Result
from hooks.planner import release_actions
from hooks.state import StateStore
from hooks.state_records import DomainState, NetworkState


@dataclass
class Repair:
    owner: Owner
    plan: list[A.Action]
    result: Result | None = None
    notes: list[str] = field(default_factory=list)


# Longer than any start between prepare and QEMU's pid file: a note older than this is a start
# that never finished (the daemon lived on, the hook's release never came) and is repaired.
STARTING_GRACE = 300.0


def in_flight(record: dict[str, Any], now: float, daemon_alive: Callable[[int], bool]) -> str | None:
    """Why a domain without a running QEMU must be left alone: libvirt is still starting it."""
    note = DomainState(record).starting
    if note is None:
        return None
    pid, since = note.get("pid"), note.get("since")
    if not isinstance(pid, int) or not isinstance(since, (int, float)):
        return None
    age = now - since
    if abs(age) > STARTING_GRACE or not daemon_alive(pid):
        return None
    return f"being started by the libvirt daemon (pid {pid}, prepared {max(age, 0):.0f} s ago)"


def starting_domains(store: StateStore, now: float,
                     daemon_alive: Callable[[int], bool]) -> dict[str, str]:
    """Domains whose start is in progress, with the reason, by name."""
    notes = {}
    for name in store.names("domains"):
        reason = in_flight(store.read("domains", name), now, daemon_alive)
        if reason is not None:
            notes[name] = reason
    return notes


def plan_repairs(store: StateStore, running: set[str], active: set[str],
                 only: str | None = None) -> list[Repair]:
    """What repair would do: release plans for stopped domains, shim removal for stopped networks."""
    repairs: list[Repair] = []
    for name in store.names("domains"):
        if (only is not None and name != only) or (only is None and name in running):
            continue
        record = store.read(DomainState.KIND, name)
        repairs.append(Repair(Owner("domain", name, DomainState(record).uuid), release_actions(record)))
    for name in store.names("networks"):
        if (only is not None and name != only) or (only is None and name in active):
            continue
        state = NetworkState(store.read(NetworkState.KIND, name))
        plan: list[A.Action] = [A.DeleteShim(s) for s in sorted(state.shims)]
        if state.pool:
            plan.append(A.ForgetPool())
        # Network stopped forgets the original count (the PF keeps its VFs); one still recorded
        # belongs to a start that never finished: put it back.
        plan += [A.RestoreNumVfs(pf) for pf in sorted(state.numvfs)]
        repairs.append(Repair(Owner("network", name), plan))
    # Claims not listed in their holder's record: killed between taking the claim and noting it.
    by_owner = {r.owner.name: r for r in repairs if r.owner.kind == "domain"}
    for device in store.names("claims"):
        holder = store.holder(device)
        if not holder or (only is not None and holder != only) or (only is None and holder in running):
            continue
        if device in DomainState(store.read(DomainState.KIND, holder)).claims:
            continue   # the holder's release plan already has it
        if holder not in by_owner:
            by_owner[holder] = Repair(Owner("domain", holder), [])
            repairs.append(by_owner[holder])
        by_owner[holder].plan.append(A.ReleaseClaim(device))
    return repairs


def run_repairs(store: StateStore, repairs: list[Repair], deadline: float = 30.0,
                ports: dict[str, Any] | None = None, log: Any = None) -> list[Repair]:
    """Apply each repair plan; one object's failure does not stop the others."""
    for repair in repairs:
        ctx = Context(repair.owner, store, Deadline(deadline), **(ports or {}))
        try:
            # One at a time with the hooks for the same object (a release running right now);
            # the actions re-read the records, so what that call already undid is skipped.
            with store.serialised(repair.owner.kind + "s", repair.owner.name, deadline):
                repair.result = Executor(ctx, log).run(repair.plan, best_effort=True)
        except HostError as exc:    # the lock: another call held it past our deadline
            repair.result = Result(error=exc, skipped=[exc.message])
        finally:
            ctx.close()
    return repairs
