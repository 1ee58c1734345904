"""How soon a hot-plugged NIC has its VLAN: ``virt-netxml attach`` beside ``hooks watch``.

Runs a real libvirtd, QEMU (TCG) and Open vSwitch (userspace datapath) in a private network
namespace (the end-to-end tests' sandbox, tests/e2e/harness.py), with ``virt-netxml hooks watch``
running against it (tests/e2e/watch.py). A running domain on an OVS network gets NICs attached
one after the other with ``virt-netxml attach --live --bridge-vlan TAG`` (a new tag each time).
For each attach it measures:

- the attach itself: from starting the ``virt-netxml attach`` command to its exit (process
  start-up, libvirt connection, metadata written, device attached);
- the VLAN: from the attach command's exit to the moment OVSDB holds the tag on the new Port
  row, as an ``ovsdb-client monitor`` started beforehand reports the row (stamped when its line
  arrives); negative when the tag was in place before the command had exited (libvirt announces
  the device as soon as QEMU has it, while the command still closes its connection and ends);
  and the same from the command's start.

Prints both, every attach and p50/p95 side by side (target: the VLAN's p95 under 1 s). Needs
root. ``--release libvirt-11.3.0`` runs against the Debian 13 root's libvirt (the watch is this
checkout's, connecting to that daemon's socket).

    .venv/bin/python bench/hotplug.py [--attaches N] [--release NAME]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.e2e.harness import RELEASES, VNX, Sandbox, build_domain  # noqa: E402
from tests.e2e.watch import WatchProcess  # noqa: E402

TARGET = 1.0
# "new" rows of the Port table as ovsdb-client prints them in CSV: row,action,name,tag
_ROW = re.compile(r'^[0-9a-f-]*,(?:initial|insert|new),"?([A-Za-z0-9_.-]+)"?,(\d+)\s*$')


class TagMonitor:
    """``ovsdb-client monitor`` of the Port table's name and tag: when each (port, tag) appeared."""

    def __init__(self, db_socket: Path) -> None:
        self.seen: dict[int, tuple[str, float]] = {}   # tag -> (port, monotonic time)
        self.proc = subprocess.Popen(
            ["ovsdb-client", "monitor", f"unix:{db_socket}", "Open_vSwitch", "Port", "name,tag",
             "--format=csv"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.ready.set()
            found = _ROW.match(line.strip())
            if found:
                self.seen.setdefault(int(found.group(2)), (found.group(1), time.monotonic()))

    def wait(self, tag: int, timeout: float = 10.0) -> tuple[str, float]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if tag in self.seen:
                return self.seen[tag]
            time.sleep(0.001)
        raise TimeoutError(f"tag {tag} did not appear in OVSDB within {timeout:g} s")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attaches", type=int, default=20, help="NICs attached (one timing each)")
    parser.add_argument("--release", default="libvirt-9.0.0", choices=sorted(RELEASES))
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("hotplug.py: needs root (network namespace, libvirtd)", file=sys.stderr)
        return 2
    release = RELEASES[args.release]
    missing = release.missing()
    if missing:
        print("hotplug.py: " + "; ".join(missing), file=sys.stderr)
        return 2

    attach_times: list[float] = []
    vlan_times: list[float] = []
    from_start: list[float] = []
    box = Sandbox.create(release)
    try:
        box.start(install_hooks=True, record=False)
        box.ovs.add_bridge("ovs-bench1")
        uri = box.libvirtd.uri
        subprocess.run([VNX, "network", "benchhp", "--mode", "bridge", "--bridge", "ovs-bench1",
                        "--virtualport", "openvswitch", "--connect", uri, "--define", "--start"],
                       check=True, capture_output=True)
        path = build_domain(box.tmp / "hp.xml", "hp-bench")
        box.libvirtd.virsh("define", str(path))
        box.libvirtd.virsh("start", "hp-bench")
        watch = WatchProcess(box, box.tmp)
        watch.start()
        monitor = TagMonitor(box.ovs.db_socket)
        try:
            watch.wait_for("connected to ")
            monitor.ready.wait(10)
            for n in range(args.attaches + 1):   # the first one warms up, not counted
                tag, mac = 100 + n, f"52:54:00:b0:00:{n:02x}"
                started = time.monotonic()
                subprocess.run([VNX, "attach", "hp-bench", "--type", "network", "--source", "benchhp",
                                "--model", "virtio", "--mac", mac, "--bridge-vlan", str(tag),
                                "--connect", uri, "--live"], check=True, capture_output=True)
                returned = time.monotonic()
                port, at = monitor.wait(tag)
                if n == 0:
                    continue
                attach_times.append(returned - started)
                # Negative when the watch had the tag in place before the attach command had
                # even exited (it closes its connection and ends its process after libvirt's reply).
                vlan_times.append(at - returned)
                from_start.append(at - started)
                print(f"attach {n:2d} ({port}, tag {tag}): attach {attach_times[-1] * 1000:6.0f} ms, "
                      f"VLAN in place {vlan_times[-1] * 1000:+6.0f} ms from its return "
                      f"({from_start[-1] * 1000:6.0f} ms from its start)", flush=True)
        finally:
            monitor.stop()
            watch.stop()
    finally:
        box.teardown()

    print(f"{args.attaches} attaches to a running guest on Open vSwitch ({args.release}), "
          "with virt-netxml hooks watch running")
    print(f"  {'':36s} {'p50':>10s} {'p95':>10s} {'max':>10s}")
    for label, values in (("attach (command start to exit)", attach_times),
                          ("VLAN in place, from attach's return", vlan_times),
                          ("VLAN in place, from attach's start", from_start)):
        p50, p95 = percentile(values, 0.5) * 1000, percentile(values, 0.95) * 1000
        print(f"  {label:36s} {p50:+7.0f} ms {p95:+7.0f} ms {max(values) * 1000:+7.0f} ms")
    p95 = percentile(vlan_times, 0.95)
    print(f"  target: VLAN p95 < {TARGET:g} s: {'met' if p95 < TARGET else 'NOT met'} "
          f"(median {statistics.median(vlan_times) * 1000:.0f} ms)")
    print(f"  load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
