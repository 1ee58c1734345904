"""OVN at scale, simulated: K chassis, M guest ports each, through the hooks' own OVN action.

Brings up the OVN lab of the tests (tests/ovn/harness.py: a central namespace with the NB, SB
and ovn-northd, and K chassis namespaces, each with its own Open vSwitch and ovn-controller).
On one logical switch (made by the hooks' ``EnsureOvnSwitch``, as network ``start`` does), it
then gives each chassis M guest ports, one port at a time, round-robin over the chassis, so
that every port meets an NB and SB already holding the ports before it. For each port:

1. what qemu ``prepare`` (or network ``port-created``) runs on that chassis: ``EnsureOvnPort``
   through the hooks' ``Executor``, from inside the chassis's namespace, with the chassis's own
   OVS (the system-id comes from it) and the NB at its TCP address, as a host reaches it;
2. what libvirt then does for the guest's TAP: a port on that chassis's ``br-int`` with
   ``external_ids:iface-id`` = the port's name (a stand-in: an OVS internal port, link up);
3. until the NB's ``Logical_Switch_Port.up`` is true.

Measured per port:

- the hook's added time: the executor's run of the action (one ``ovs-vsctl`` read of the
  system-id, two read-only ``ovn-nbctl`` runs, one write transaction, the state record);
- from the start of ``prepare`` to the SB binding naming the chassis (ovn-controller claimed
  the port) and to the NB's ``up`` (northd's copy of the binding's ``up``, which ovn-controller
  sets only once the port's flows are installed in that chassis's OVS: the moment the guest's
  packets go anywhere, and what a CMS waits for before it calls a port active). Both stamped
  by ``ovsdb-client monitor`` processes watching the NB and SB, started beforehand.

Then, on a one-chassis lab, the hook's added time against the size of the NB: the NB filled
with unbound ports in bulk up to each of ``--nb-sizes``, and a few new ports timed at each size
(ovn-nbctl fetches the tables a command needs before it runs it: Logical_Switch_Port whole).

Prints p50/p95 for K = FROM, 2*FROM, ... up to K (each K on a fresh lab), side by side, the
ratio of the largest K to the smallest, each lab's bring-up time and the load average (the
machine is shared: compare ratios of one run, not absolute times). Everything it starts is
stopped by PID and every namespace deleted on the way out, also after a failure or Ctrl-C.
``--rounds R`` runs every K R times, alternating, and pools them. Needs root. Not part of CI.

    .venv/bin/python bench/ovn_scale.py [--chassis K] [--ports M] [--from K0] [--rounds R]
                                        [--nb-sizes N1,N2,...] [--samples S]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hooks import actions as A  # noqa: E402
from hooks.adapters import proc  # noqa: E402
from hooks.adapters.ovn import OvnAdapter, OvnConfig  # noqa: E402
from hooks.config import DEFAULT_DEADLINE  # noqa: E402
from hooks.context import OVN_TIMEOUT, Context, Owner  # noqa: E402
from hooks.deadline import Deadline  # noqa: E402
from hooks.executor import Executor  # noqa: E402
from hooks.state import StateStore  # noqa: E402
from tests.netns.harness import entered, ip  # noqa: E402
from tests.ovn.harness import Chassis, OvnLab, ovn_lab, tools_present  # noqa: E402

SWITCH = "scale-ls"
SUBNET = "10.128.0.0/16"
UP_TIMEOUT = 30.0
# ovsdb-client monitor --format=csv rows: row,action,name,value; a "new" row (after its "old")
# has no row UUID, and a UUID-like string name comes in tripled quotes
_ROW = re.compile(r'^[0-9a-f-]*,(initial|insert|new),"*([^",]*)"*,([^,]*)$')


class Monitor:
    """``ovsdb-client monitor`` of one table: when each row's name first had a wanted value."""

    def __init__(self, socket: Path, db: str, table: str, name_col: str, value_col: str,
                 wanted: re.Pattern[str]) -> None:
        self.seen: dict[str, float] = {}
        self.wanted = wanted
        self.proc = subprocess.Popen(
            ["ovsdb-client", "monitor", f"unix:{socket}", db, table, f"{name_col},{value_col}",
             "--format=csv"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.ready = threading.Event()
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            now = time.monotonic()
            self.ready.set()
            found = _ROW.match(line.strip())
            if found and self.wanted.search(found.group(3)):
                with self.cond:
                    self.seen.setdefault(found.group(2), now)
                    self.cond.notify_all()

    def wait(self, name: str, timeout: float = UP_TIMEOUT) -> float:
        end = time.monotonic() + timeout
        with self.cond:
            while name not in self.seen:
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{name}: not seen in {timeout:g} s")
                self.cond.wait(left)
            return self.seen[name]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Spent:
    """Time and count of the hooks' subprocesses by program (wraps ``proc.run``)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._run = proc.run

        def run(argv, timeout, input=None):  # type: ignore[no-untyped-def]
            started = time.monotonic()
            try:
                return self._run(argv, timeout, input)
            finally:
                name = os.path.basename(argv[0])
                self.seconds[name] = self.seconds.get(name, 0.0) + time.monotonic() - started
                self.calls[name] = self.calls.get(name, 0) + 1

        proc.run = run  # type: ignore[assignment]

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def close(self) -> None:
        proc.run = self._run  # type: ignore[assignment]


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))]


def context(lab: OvnLab, chassis: Chassis, state: Path, domain: str, domain_uuid: str) -> Context:
    """What the hook on ``chassis`` would have: the NB as ovn.conf names it, this chassis's OVS."""
    deadline = Deadline(DEFAULT_DEADLINE)
    adapter = OvnAdapter(OvnConfig(lab.nb_tcp), ovs_db=str(chassis.db), timeout=deadline.timeout(OVN_TIMEOUT))
    return Context(Owner("domain", domain, domain_uuid), StateStore(str(state)), deadline, ovn=adapter)


def plug(chassis: Chassis, dev: str, lsp: str, mac: str) -> None:
    """What libvirt does with a guest's TAP on an OVN interface, with an internal port instead."""
    chassis.vsctl("add-port", "br-int", dev, "--", "set", "Interface", dev, "type=internal",
                  f"external_ids:iface-id={lsp}", f"external_ids:attached-mac={mac}")
    ip("link", "set", dev, "address", mac, "up", ns=chassis.ns)


@dataclass
class Run:
    """One K's measurements (seconds)."""

    k: int
    hook: list[float] = field(default_factory=list)
    bound: list[float] = field(default_factory=list)
    up: list[float] = field(default_factory=list)
    bring_up: float = 0.0
    down: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)
    nb_ports: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    rounds: int = 1

    def merge(self, other: Run) -> None:
        """Pool another round's measurements of the same K into this one."""
        self.hook += other.hook
        self.bound += other.bound
        self.up += other.up
        self.bring_up = (self.bring_up * self.rounds + other.bring_up) / (self.rounds + 1)
        self.down = max(self.down, other.down)
        self.load = (min(self.load[0], other.load[0]), max(self.load[1], other.load[1]))
        for p, n in other.calls.items():
            self.calls[p] = self.calls.get(p, 0) + n
            self.seconds[p] = self.seconds.get(p, 0.0) + other.seconds[p]
        self.rounds += 1


def run_k(k: int, ports: int, tmp: Path, spent: Spent) -> Run:
    """One lab of ``k`` chassis, ``ports`` ports each; the measurements."""
    load_before = os.getloadavg()[0]
    run = Run(k)
    hook, bound, up = run.hook, run.bound, run.up
    with ovn_lab(tmp / f"k{k}", chassis=k) as lab:
        run.bring_up = lab.timings["up"]
        monitors = []
        try:
            first = lab.chassis[0]
            with entered(first.ns):
                ctx = context(lab, first, tmp / f"k{k}-state", "scale-net", str(uuid.uuid4()))
                result = Executor(ctx).run([A.EnsureOvnSwitch(SWITCH, SUBNET, True)])
            if not result.ok:
                raise RuntimeError(f"network start: {result.error}")
            up_mon = Monitor(lab.nb_socket, "OVN_Northbound", "Logical_Switch_Port", "name", "up",
                             re.compile(r"^true$"))
            monitors.append(up_mon)
            bind_mon = Monitor(lab.sb_socket, "OVN_Southbound", "Port_Binding", "logical_port", "chassis",
                               re.compile(r"^[0-9a-f]{8}-"))
            monitors.append(bind_mon)
            # A monitor prints nothing for an empty table: a port of no chassis shows both are
            # connected (its NB row, then northd's SB row), and goes again before the measurement.
            time.sleep(0.2)
            lab.nbctl("lsp-add", SWITCH, "scale-sentinel")
            for mon in monitors:
                if not mon.ready.wait(10):
                    raise RuntimeError("ovsdb-client monitor gave no output")
            lab.nbctl("lsp-del", "scale-sentinel")
            spent.reset()
            total = k * ports
            for n in range(total):
                chassis = lab.chassis[n % k]
                name = str(uuid.UUID(int=(k << 64) | n + 1))
                mac = f"52:54:00:{k:02x}:{(n >> 8) & 0xff:02x}:{n & 0xff:02x}"
                address = f"10.128.{1 + n // 250}.{1 + n % 250}"
                domain = f"guest{n}"
                state = tmp / f"k{k}-state-c{chassis.index}"
                with entered(chassis.ns):
                    ctx = context(lab, chassis, state, domain, str(uuid.uuid4()))
                    action = A.EnsureOvnPort(name, SWITCH, mac, address, domain, ctx.owner.uuid, iface=mac)
                    started = time.monotonic()
                    result = Executor(ctx).run([action])
                    applied = time.monotonic()
                    if not result.ok:
                        raise RuntimeError(f"prepare of port {n}: {result.error}")
                    plug(chassis, f"vnet{n}", name, mac)
                hook.append(applied - started)
                up.append(up_mon.wait(name) - started)
                bound.append(bind_mon.wait(name) - started)
            run.nb_ports = len(lab.nbctl("--bare", "--columns=_uuid", "list", "Logical_Switch_Port").split())
        finally:
            for mon in monitors:
                mon.stop()
    run.down = lab.timings.get("down", 0.0)
    run.load = (load_before, os.getloadavg()[0])
    run.calls, run.seconds = dict(spent.calls), dict(spent.seconds)
    return run


def ks(largest: int, smallest: int) -> list[int]:
    out = [smallest]
    while out[-1] * 2 < largest:
        out.append(out[-1] * 2)
    if out[-1] != largest:
        out.append(largest)
    return out


@dataclass
class Size:
    """The hook's cost on an NB holding ``ports`` ports (seconds, per sample)."""

    ports: int
    hook: list[float] = field(default_factory=list)
    guest_set: list[float] = field(default_factory=list)    # a guest's NICs as one change set
    guest_each: list[float] = field(default_factory=list)   # the same, one port at a time (baseline)
    nbctl: float = 0.0      # mean time of one ovn-nbctl run of the hook
    vsctl: float = 0.0      # mean time of its one ovs-vsctl run (local OVS: the in-run baseline)
    load: float = 0.0


def guest_start(lab: OvnLab, chassis: Chassis, state: Path, tag: str, nics: int, each: bool) -> float:
    """The hook's time for a guest with ``nics`` OVN interfaces: its EnsureOvnPort actions as
    the hooks run them (one change set: one read, one write), or with ``each`` one port at a
    time (a read and a write per port), the baseline."""
    with entered(chassis.ns):
        ctx = context(lab, chassis, state, tag, str(uuid.uuid4()))
        ids = [uuid.uuid5(uuid.NAMESPACE_URL, f"{tag}/{i}") for i in range(nics)]
        plan = [A.EnsureOvnPort(str(iid), SWITCH, "52:54:00:" + ":".join(f"{b:02x}" for b in iid.bytes[:3]),
                                None, tag, ctx.owner.uuid, iface=str(i)) for i, iid in enumerate(ids)]
        started = time.monotonic()
        results = [Executor(ctx).run([a]) for a in plan] if each else [Executor(ctx).run(plan)]
        elapsed = time.monotonic() - started
    failed = [r for r in results if not r.ok]
    if failed:
        raise RuntimeError(f"guest start {tag}: {failed[0].error}")
    return elapsed


def nb_sweep(sizes: list[int], samples: int, tmp: Path, spent: Spent, nics: int = 4) -> list[Size]:
    """One chassis; the NB filled with unbound ports (on another switch, in bulk) up to each of
    ``sizes``, then ``samples`` new ports through ``EnsureOvnPort`` at each size, and guests with
    ``nics`` OVN interfaces started both ways (alternating, so drifting load is shared)."""
    out: list[Size] = []
    with ovn_lab(tmp / "sweep", chassis=1) as lab:
        chassis = lab.chassis[0]
        with entered(chassis.ns):
            ctx = context(lab, chassis, tmp / "sweep-state", "scale-net", str(uuid.uuid4()))
            if not Executor(ctx).run([A.EnsureOvnSwitch(SWITCH, SUBNET, True)]).ok:
                raise RuntimeError("network start failed")
        lab.nbctl("ls-add", "scale-fill")
        filled = 0
        for size in sizes:
            while filled < size:
                chunk = min(1000, size - filled)
                cmds: list[str] = []
                for i in range(filled, filled + chunk):
                    cmds += ["--", "lsp-add", "scale-fill", str(uuid.UUID(int=(0xF << 64) | i))]
                lab.nbctl(*cmds, timeout=120)
                filled += chunk
            lab.nbctl("--wait=sb", "sync", timeout=120)
            entry = Size(size, load=os.getloadavg()[0])
            spent.reset()
            for n in range(samples):
                name = str(uuid.UUID(int=(0xE << 64) | (size << 16) | n))
                mac = f"52:54:00:e0:{(n >> 8) & 0xff:02x}:{n & 0xff:02x}"
                with entered(chassis.ns):
                    ctx = context(lab, chassis, tmp / "sweep-state", f"sweep{size}-{n}", str(uuid.uuid4()))
                    started = time.monotonic()
                    result = Executor(ctx).run([A.EnsureOvnPort(name, SWITCH, mac, None, ctx.owner.name,
                                                                ctx.owner.uuid, iface=mac)])
                    entry.hook.append(time.monotonic() - started)
                if not result.ok:
                    raise RuntimeError(f"prepare at NB size {size}: {result.error}")
            entry.nbctl = spent.seconds["ovn-nbctl"] / spent.calls["ovn-nbctl"]
            entry.vsctl = spent.seconds["ovs-vsctl"] / spent.calls["ovs-vsctl"]
            for n in range(max(1, samples // 2)):
                for each in (n % 2 == 1, n % 2 == 0):
                    tag = f"guest{size}-{n}-{'each' if each else 'set'}"
                    took = guest_start(lab, chassis, tmp / "sweep-state", tag, nics, each)
                    (entry.guest_each if each else entry.guest_set).append(took)
            out.append(entry)
            print(f"  NB of {size} ports: hook p50 {percentile(entry.hook, .5) * 1000:.0f} ms", flush=True)
    return out


def report_sweep(sizes: list[Size], samples: int, nics: int = 4) -> None:
    print()
    print(f"The hook's added time against NB size: one chassis, {samples} new ports at each size (ms)")
    print(f"  {'ports in the NB':>16s}{'hook p50':>10s}{'hook p95':>10s}{'ovn-nbctl':>11s}"
          f"{'ovs-vsctl':>11s}{'ratio':>8s}{'load':>7s}")
    for e in sizes:
        print(f"  {e.ports:16d}{percentile(e.hook, .5) * 1000:10.1f}{percentile(e.hook, .95) * 1000:10.1f}"
              f"{e.nbctl * 1000:11.1f}{e.vsctl * 1000:11.1f}{e.nbctl / e.vsctl:8.2f}{e.load:7.1f}")
    print("  (ovn-nbctl, ovs-vsctl: mean time of one run; ratio: ovn-nbctl ÷ ovs-vsctl, the local OVS "
          "read whose cost does not depend on the NB, as the baseline for the machine's load)")
    print()
    print(f"A guest with {nics} OVN interfaces, one change set (the hooks) against one port at a time "
          f"(baseline), {len(sizes[0].guest_set) if sizes else 0} guests each way at each size (ms)")
    print(f"  {'ports in the NB':>16s}{'set p50':>10s}{'set p95':>10s}{'each p50':>10s}{'each p95':>10s}"
          f"{'each ÷ set':>12s}")
    for e in sizes:
        one, each = percentile(e.guest_set, .5), percentile(e.guest_each, .5)
        print(f"  {e.ports:16d}{one * 1000:10.1f}{percentile(e.guest_set, .95) * 1000:10.1f}"
              f"{each * 1000:10.1f}{percentile(e.guest_each, .95) * 1000:10.1f}{each / one:11.2f}x")


def report(runs: list[Run], ports: int) -> None:
    print()
    print(f"OVN, {ports} ports a chassis on one logical switch, one at a time round-robin, "
          f"{runs[0].rounds} round(s) of each K pooled (ms; load average on {os.cpu_count()} CPUs)")
    head = f"  {'':38s}" + "".join(f"{'K=' + str(r.k):>14s}" for r in runs)
    if len(runs) > 1:
        head += f"{'ratio K=' + str(runs[-1].k) + '/K=' + str(runs[0].k):>16s}"
    print(head)
    rows: list[tuple[str, list[float], str]] = [
        ("ports in the NB at the end", [float(r.nb_ports) for r in runs], "{:14.0f}")]
    for label, series in (("hook's added time (executor run)", [r.hook for r in runs]),
                          ("prepare start to SB binding", [r.bound for r in runs]),
                          ("prepare start to NB up", [r.up for r in runs])):
        for share, tag in ((0.5, "p50"), (0.95, "p95")):
            rows.append((f"{label} {tag}", [percentile(v, share) * 1000 for v in series], "{:14.1f}"))
    rows.append(("lab bring-up (s, mean of the rounds)", [r.bring_up for r in runs], "{:14.2f}"))
    for label, values, fmt in rows:
        line = f"  {label:38s}" + "".join(fmt.format(v) for v in values)
        if len(runs) > 1 and values[0]:
            line += f"{values[-1] / values[0]:15.2f}x"
        print(line)
    print(f"  {'load average (lowest start/highest end)':38s}"
          + "".join(f"{r.load[0]:9.1f}/{r.load[1]:<4.1f}" for r in runs))
    for r in runs:
        n = len(r.hook)
        per = ", ".join(f"{r.calls[p] / n:.1f} {p} ({r.seconds[p] / r.calls[p] * 1000:.1f} ms each)"
                        for p in sorted(r.calls))
        nbctl, vsctl = (r.seconds[p] / r.calls[p] for p in ("ovn-nbctl", "ovs-vsctl"))
        ratio = nbctl / vsctl
        print(f"  K={r.k}: per port {per}, ovn-nbctl ÷ ovs-vsctl {ratio:.2f}; lab down in {r.down:.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chassis", type=int, default=8, help="the largest number of chassis (K)")
    parser.add_argument("--ports", type=int, default=32, help="guest ports per chassis (M)")
    parser.add_argument("--from", dest="smallest", type=int, default=2,
                        help="the smallest K; K doubles from there up to --chassis")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every K this many times, alternating (pooled: drifting load is shared)")
    parser.add_argument("--nb-sizes", default="1000,3000,10000",
                        help="NB sizes (ports) for the hook's cost against NB size; '' for none")
    parser.add_argument("--samples", type=int, default=10, help="new ports timed at each NB size")
    parser.add_argument("--nics", type=int, default=4,
                        help="OVN interfaces of the guests started at each NB size (half as many guests "
                             "as --samples, each way)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("ovn_scale.py: needs root (network namespaces)", file=sys.stderr)
        return 2
    if not tools_present():
        print("ovn_scale.py: needs OVN and Open vSwitch (ovn-central, ovn-host, openvswitch-switch)",
              file=sys.stderr)
        return 2
    if (not 1 <= args.smallest <= args.chassis or args.ports < 1 or args.rounds < 1
            or args.chassis * args.ports > 60000 or not 1 <= args.nics <= 64):
        print("ovn_scale.py: expected 1 <= --from <= --chassis, --ports >= 1, --rounds >= 1, "
              "1 <= --nics <= 64", file=sys.stderr)
        return 2

    def interrupted(signum: int, frame: object) -> None:
        # Through every finally (daemons and namespaces go); a second signal must not cut
        # that tear-down short, so from here on they are ignored.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    started = time.monotonic()
    runs: list[Run] = []
    sizes = sorted(int(v) for v in args.nb_sizes.split(",") if v.strip())
    sweep: list[Size] = []
    spent = Spent()
    try:
        with tempfile.TemporaryDirectory(prefix="ovn-scale-") as tmp:
            for round_ in range(args.rounds):
                for k in ks(args.chassis, args.smallest):
                    print(f"K={k}: {k} chassis, {k * args.ports} ports ...", flush=True)
                    folder = Path(tmp) / f"round{round_}"
                    folder.mkdir(exist_ok=True)
                    r = run_k(k, args.ports, folder, spent)
                    print(f"  bring-up {r.bring_up:.2f} s; hook p50 {percentile(r.hook, .5) * 1000:.0f} ms, "
                          f"up p50 {percentile(r.up, .5) * 1000:.0f} ms", flush=True)
                    same = [run for run in runs if run.k == k]
                    if same:
                        same[0].merge(r)
                    else:
                        runs.append(r)
            if sizes:
                print(f"NB sizes {', '.join(map(str, sizes))}: one chassis ...", flush=True)
                sweep = nb_sweep(sizes, args.samples, Path(tmp), spent, args.nics)
    except KeyboardInterrupt:
        print("ovn_scale.py: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    finally:
        spent.close()
    report(runs, args.ports)
    if sweep:
        report_sweep(sweep, args.samples, args.nics)
    print(f"  whole run: {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
