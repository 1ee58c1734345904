"""The fault matrix: run a scenario once to enumerate its steps, then fail each step in turn.

A *step* is one call of the event under test into a port (netlink, OVS, sysfs), in order,
counting reads and writes. For step k the event is run again on a fresh copy of the host with
one fault at k:

* ``error``: the port raises what the real adapter raises there: a netlink error
  (``Operation not permitted``), EBUSY from a sysfs write (``Busy``), an I/O error from a
  sysfs read, or ``ovs-vsctl`` timing out (``HostTimeout``);
* ``error+undo``: as ``error``, and the first call after it (the rollback's first step) fails
  too; what the rollback could not undo must be left to ``hooks repair``;
* ``hang``: the call never returns (an ``ovs-vsctl`` whose database never answers, an unbind
  stuck in a driver); the hook's deadline must end it. Only for OVS calls and the sysfs writes
  that can block in the kernel;
* ``kill``: the process dies before step k (SIGKILL). The event runs in a forked child that,
  at step k, saves the fake host and the state folder as they are and ``os._exit``\\ s; nothing
  of the hook runs after that point, exactly as with SIGKILL.

Then the host is judged. Survived means one of: ``rolled back`` (host as before the event),
``completed`` (as after a fault-free run), ``repaired`` (``hooks repair`` brings it to either),
``re-applied`` (running the event again, as libvirt does at the next start or reconnect,
brings it to the fault-free result). Anything else is ``LOST``. State records must parse and
keep their 0600/0700 modes after every run.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import pickle
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hooks.state
from hooks.errors import Busy, HostError, HostTimeout
from hooks.protocol import lookup
from hooks.repair import plan_repairs, run_repairs
from hooks.run import run_call
from hooks.state import StateStore
from tests.fakes import FakeNetlink, FakeOvs, FakeSysfs
from tests.faults.host import Host, diff, state_problems
from tests.faults.scenarios import Event, Scenario

HANG_DEADLINE = 0.3       # the hook's deadline in hang runs
SYSFS_WRITES = frozenset({"set_driver_override", "unbind", "drivers_probe", "set_sriov_numvfs"})
SYSFS_BLOCKING = frozenset({"unbind", "drivers_probe", "set_sriov_numvfs"})
SURVIVED = ("rolled back", "completed", "repaired", "re-applied")
KILLED_EXIT = 137

# Every action kind (hooks.actions.ACTIONS) -> the scenario whose matrix applies it: in the plan
# of its event, or in the ``hooks repair`` the judge runs after a fault. None: the action makes
# no port call and writes no state record, so there is no step to fault (a test holds it to that).
# tests/structure/test_actions_declared.py fails on an action without an entry or one that its
# scenario never applies.
ACTION_SCENARIOS: dict[str, str | None] = {
    "BridgeVlanFiltering": "bridge VLAN: VLAN filtering at network started",
    "BridgePortVlans": "bridge VLAN: port VLANs at start",
    "OvsPortVlan": "OVS settings: VLAN columns and map keys at start",
    "OvsSetting": "OVS settings: VLAN columns and map keys at start",
    "CreateTap": "TAP: create and plug into a Linux bridge",
    "DeleteTap": "TAP: delete at release",
    "EnslaveLink": "TAP: create and plug into an OVS bridge",
    "LinkUp": "TAP: create and plug into a Linux bridge",
    "CheckUplink": "macvtap shim: uplink check and shim at network start",
    "CreateShim": "macvtap shim: uplink check and shim at network start",
    "DeleteShim": "macvtap shim: remove at network stopped",
    "ClaimDevice": "vfio bind: claim and bind to vfio-pci at prepare",
    "ClaimPoolVf": "VF pool: reserve a VF at prepare",
    "ClaimPluggedVf": "VF pool: claim the VF libvirt plugged at port-created",
    "PassthroughExclusive": "VF MAC/VLAN: set through the PF at prepare",
    "ReleaseClaim": "vfio bind: give back at release",
    "SetSriovNumVfs": "sriov_numvfs: 2 -> 0 -> 4 at network start",
    "BindVfio": "vfio bind: claim and bind to vfio-pci at prepare",
    "RestoreDriver": "vfio bind: give back at release",
    "SetVfMacVlan": "VF MAC/VLAN: set through the PF at prepare",
    "RestoreNumVfs": "sriov_numvfs: 2 -> 0 -> 4 at network start",     # by hooks repair
    "ForgetNumVfs": "sriov_numvfs: forget the pool and the count at network stopped",
    "RestoreVf": "VF MAC/VLAN: restore at release",
    "RecordPortWish": "bridge VLAN: remember a portgroup's VLAN at port-created",
    "ForgetDomain": "TAP: delete at release",
    "MarkStarting": "TAP: create and plug into a Linux bridge",
    "RecordPool": "sriov_numvfs: 2 -> 0 -> 4 at network start",
    "ForgetPool": "sriov_numvfs: forget the pool and the count at network stopped",
    "RewriteXml": None,    # migrate/restore: the XML on stdout only
    "ForwardPorts": "port forward: DNAT and libvirt's filter opened at start",
    "RemoveForwards": "port forward: removed at release",
    "EnsureOvnSwitch": "OVN: the network's logical switch at network start",
    "EnsureOvnPort": "OVN: an interface's logical switch port at prepare",
    "DeleteOvnPort": "OVN: the port given up at release",
    "SettleOvnPort": "OVN: a migrated guest's port settled on this chassis at started",
}


def fault_kinds(port: str, method: str) -> tuple[str, ...]:
    """Which faults a step gets: every step an error, an error whose rollback fails too, and
    a kill; OVS calls and the sysfs writes that can block also a hang."""
    if port in ("ovs", "ovn") or (port == "sysfs" and method in SYSFS_BLOCKING):
        return ("error", "error+undo", "hang", "kill")
    return ("error", "error+undo", "kill")


def error_for(port: str, method: str) -> BaseException:
    """The error the real adapter raises for a failing call of this kind."""
    step = f"{method} (injected)"
    if port == "state":
        return OSError(errno.ENOSPC, "No space left on device (injected)")  # type: ignore[return-value]
    if port == "ovs":
        return HostTimeout(step=f"run ovs-vsctl: {step}", seconds=5)
    if port == "sysfs" and method in SYSFS_WRITES:
        return Busy(step=step, what="PCI device", name="(injected)", detail="Device or resource busy")
    if port == "sysfs":
        return HostError(step=step, detail="Input/output error")
    if port == "firewall":
        return HostError(step=f"run nft: {step}", detail="Operation not permitted")
    if port == "ovn":
        return HostError(step=f"run ovn-nbctl: {step}", detail="OVN northbound database unreachable")
    return HostError(step=f"netlink {step}", detail="Operation not permitted")


class Injector:
    """Counts the port calls of one run and plants one fault at step ``at`` (1-based).

    State record writes (``hooks.state.atomic_write``) are steps too: a full disk there, or
    a kill just before one, must leave nothing behind either. ``close()`` takes that hook out.
    """

    def __init__(self, host: Host, at: int = 0, kind: str = "", on_kill: Callable[[], None] | None = None):
        self.steps: list[tuple[str, str]] = []
        self.at, self.kind, self.on_kill = at, kind, on_kill
        self.host = host
        for port, fake in (("netlink", host.net), ("ovs", host.ovs), ("sysfs", host.sysfs),
                           ("firewall", host.firewall), ("ovn", host.ovn)):
            fake._enter = self._wrap(port, fake._enter)  # type: ignore[method-assign]
        self._write = hooks.state.atomic_write
        enter = self._wrap("state", lambda method, *args: None)

        def write(path: str, data: str, mode: int) -> None:
            enter("write", path)
            self._write(path, data, mode)

        hooks.state.atomic_write = write  # type: ignore[assignment]

    def close(self) -> None:
        hooks.state.atomic_write = self._write  # type: ignore[assignment]
        unwrap(self.host)

    def _wrap(self, port: str, enter: Callable[..., None]) -> Callable[..., None]:
        def wrapped(method: str, *args: Any) -> None:
            if method != "close":
                self.steps.append((port, method))
                second = self.kind == "error+undo" and len(self.steps) == self.at + 1
                if len(self.steps) == self.at or second:
                    self._fire(port, method)
            enter(method, *args)
        return wrapped

    def _fire(self, port: str, method: str) -> None:
        if self.kind == "kill":
            assert self.on_kill is not None
            self.on_kill()
        elif self.kind == "hang":
            time.sleep(3600)     # the hook's deadline (SIGALRM) interrupts this
        else:   # error, and error+undo: the step fails, then the first call after it too
            raise error_for(port, method)


def unwrap(host: Host) -> None:
    for fake in (*host.fakes(), host.firewall, host.ovn):
        fake.__dict__.pop("_enter", None)


@contextlib.contextmanager
def environment(host: Host) -> Iterator[None]:
    """The hook's folders for this host; no overrides of deadline or OVS socket."""
    keys = ("VIRT_NETXML_STATE_DIR", "VIRT_NETXML_CONFIG_DIR", "VIRT_NETXML_DEADLINE", "VIRT_NETXML_OVS_DB")
    saved = {k: os.environ.get(k) for k in keys}
    for k in keys:
        os.environ.pop(k, None)
    os.environ["VIRT_NETXML_STATE_DIR"] = str(host.state_dir)
    os.environ["VIRT_NETXML_CONFIG_DIR"] = str(host.state_dir.parent / "conf")
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_event(host: Host, event: Event, deadline: float = 8.0) -> tuple[int, str]:
    """One hook call through the real dispatcher (``hooks.run.run_call``) on the fake host."""
    driver, operation, name, xml = event
    op = lookup(driver, operation)
    assert op is not None
    out, err = io.StringIO(), io.StringIO()
    with environment(host):
        rc = run_call(op, name, xml.encode() if xml else None, {"deadline": str(deadline)},
                      stdout=out, stderr=err, ports=host.ports())
    return rc, err.getvalue()


def repair(host: Host, active_networks: set[str] | None = None) -> None:
    """What ``virt-netxml hooks repair`` does on the fake host: no domain runs (the event
    under test failed or was a stop), ``active_networks`` are up."""
    store = StateStore(str(host.state_dir))
    run_repairs(store, plan_repairs(store, set(), active_networks or set()), deadline=5.0,
                ports=host.ports())


def run_killed(host: Host, event: Event, at: int) -> tuple[Host, bool]:
    """Run ``event`` in a child killed before step ``at``; return the host it left, and
    whether the kill happened (False when the event has fewer steps)."""
    dump = host.state_dir.parent / "host.pickle"

    def die() -> None:
        unwrap(host)
        dump.write_bytes(pickle.dumps((host.net, host.ovs, host.sysfs, host.firewall, host.ovn)))
        os._exit(KILLED_EXIT)

    pid = os.fork()
    if pid == 0:   # the child: run, die at step ``at``; whatever happens, never return
        code = 0
        try:
            Injector(host, at, "kill", die)
            run_event(host, event)
            unwrap(host)
            dump.write_bytes(pickle.dumps((host.net, host.ovs, host.sysfs, host.firewall, host.ovn)))
        except BaseException:  # noqa: BLE001 - the parent sees the exit status
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    assert code in (0, KILLED_EXIT), f"child failed with {code}"
    net, ovs, sysfs, firewall, ovn = pickle.loads(dump.read_bytes())
    dump.unlink()
    return Host(net, ovs, sysfs, host.state_dir, firewall, ovn), code == KILLED_EXIT


@dataclass
class Outcome:
    scenario: str
    kind: str          # action kind
    step: int
    call: str          # 'port.method'
    fault: str
    result: str        # one of SURVIVED, or 'LOST: ...'
    exit_code: int | None = None
    stderr: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def survived(self) -> bool:
        return self.result in SURVIVED and not self.problems


class Matrix:
    """Runs the matrix of one scenario in folder ``work`` (emptied between runs)."""

    def __init__(self, scenario: Scenario, work: Path) -> None:
        self.scenario = scenario
        self.work = work
        self._before: dict[str, Any] = {}
        self._after: dict[str, Any] = {}

    def fresh(self) -> Host:
        """The host of the scenario, set up by its earlier events, calls forgotten."""
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        host = Host(FakeNetlink(), FakeOvs(), FakeSysfs(), self.work / "state")
        self.scenario.build(*host.fakes())
        if self.scenario.ovn is not None:
            self.scenario.ovn(host.ovn)
        for event in self.scenario.setup:
            rc, err = run_event(host, event)
            assert rc == 0, f"{self.scenario.label}: setup {event[:3]} failed: {err}"
        for fake in (*host.fakes(), host.firewall, host.ovn):
            fake.calls.clear()
        return host

    def steps(self) -> list[tuple[str, str]]:
        """Enumerate the fault points with a fault-free run; remember before/after."""
        host = self.fresh()
        self._before = host.snapshot()
        injector = Injector(host)
        try:
            rc, err = run_event(host, self.scenario.event)
        finally:
            injector.close()
        assert rc == 0 and err == "", f"{self.scenario.label}: fault-free run failed: {err}"
        self._after = host.snapshot()
        assert self._after != self._before, f"{self.scenario.label}: the event changes nothing"
        return list(injector.steps)

    def judge(self, host: Host) -> str:
        now = host.snapshot()
        if now == self._before:
            return "rolled back"
        if now == self._after:
            return "completed"
        repair(host, self.scenario.active_networks())
        now = host.snapshot()
        if now in (self._before, self._after):
            return "repaired"
        run_event(host, self.scenario.event)
        now = host.snapshot()
        if now == self._after:
            return "re-applied"
        return "LOST: " + "; ".join(diff(self._after, now)[:6])

    def run_one(self, step: int, call: tuple[str, str], fault: str) -> Outcome:
        host = self.fresh()
        outcome = Outcome(self.scenario.label, self.scenario.kind, step, ".".join(call), fault, "")
        if fault == "kill":
            host, _ = run_killed(host, self.scenario.event, step)
        else:
            injector = Injector(host, step, fault)
            deadline = HANG_DEADLINE if fault == "hang" else 8.0
            started = time.monotonic()
            try:
                outcome.exit_code, outcome.stderr = run_event(host, self.scenario.event, deadline)
            finally:
                injector.close()
            if fault == "hang" and time.monotonic() - started > deadline + 3.5:
                outcome.problems.append("the hang outlived the deadline plus the rollback grace")
        outcome.problems += state_problems(host.state_dir)
        outcome.result = self.judge(host)
        return outcome

    def run(self) -> list[Outcome]:
        outcomes = []
        for k, call in enumerate(self.steps(), 1):
            for fault in fault_kinds(*call):
                outcomes.append(self.run_one(k, call, fault))
        return outcomes
