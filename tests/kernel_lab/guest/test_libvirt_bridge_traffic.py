"""Linux-bridge port VLANs proven by traffic between real guests, with libvirtd of each release.

The tiny guests run on the host (tests/kernel_lab/wires.py): booting them here, TCG inside TCG,
takes longer than any run may. Each one's NIC is wired to a NIC of the lab. Here, a libvirt domain
is started paused with its ports on a VLAN-filtering bridge in the sandbox's namespace (the hooks
run at its start as always; QEMU holds its TAPs; none of its guest code runs), and each guest's
wire NIC is joined to one of those TAPs with tc: what arrives on the wire enters the bridge as if
the domain sent it on its TAP, and what the bridge sends to the TAP leaves on the wire. The VLANs
on the TAP ports are the real ones: the hook's from the project's metadata on 9.0, libvirt's own
``<vlan>`` on 11.3.

Each guest asks the others for their name (its ``vnx.probe``, for as long as the lab runs) and
prints each answer on its console, which the host writes into the results folder. One paused
domain per release has five ports: ga's in VLAN 10, gb's in 20, gc's in 30, a second one for gb in
VLAN 10, and gt's, a trunk of 10 and 20 tagged with 30 native (untagged). Claims:
- the control: ga, gb and gc, in one subnet, each on a port of its own VLAN: none hears from any
  other (without it, the claims below could hold on a bridge that filters nothing);
- the trunk guest reaches ga in VLAN 10 and gb in VLAN 20 through its sub-interfaces, and gc in
  VLAN 30 untagged (each through a subnet only that VLAN's link of the trunk guest has);
- gb's wire moved to its port in VLAN 10: ga and gb answer each other, and gc, still in VLAN 30,
  hears from neither.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Sandbox, build_domain, domain_interfaces, domain_skeleton, run
from tests.guests.tiny import console_text, probe_results
from tests.kernel_lab.guest.kernel import modprobe
from tests.kernel_lab.wires import PLAN_FILE, TRUNK_NATIVE, TRUNK_TAGGED, PlannedGuest, read_plan

pytestmark = pytest.mark.timeout(900)   # libvirtd probes QEMU under TCG inside TCG: minutes

BRIDGE = "labbrt"
OUT = Path(os.environ.get("KERNEL_LAB_OUT", "/run/kernel-lab"))
# tc's ingress/egress hook, its match-all filter and its redirect action; virtio_net for the wires.
TC_MODULES = ("sch_ingress", "cls_matchall", "act_mirred", "virtio_net")
# A guest asks a silent peer again every 1-4 s (nc's 2 s timeout, ARP's 3 s, a 1 s pause): a
# window of this many seconds holds several tries of each.
SILENCE = 10.0
BOOT = 240.0            # a host guest reaching vnx-ready (they boot while the lab boots)
REACH = 60.0            # a probe answered once the path is there


@pytest.fixture(scope="module")
def planned() -> dict[str, list[PlannedGuest]]:
    assert (OUT / PLAN_FILE).is_file(), (
        f"no {PLAN_FILE} in {OUT}: the host guests were not started (tests/kernel_lab/wires.py, "
        "started by tests/kernel_lab/test_lab.py when this module is selected)")
    for name in TC_MODULES:
        modprobe(name)
    return read_plan(OUT, __name__.rsplit(".", 1)[-1])


def lab_nic(mac: str) -> str | None:
    """The lab's link with this MAC in the lab's own namespace, if it is there."""
    for dev in Path("/sys/class/net").iterdir():
        try:
            if (dev / "address").read_text().strip() == mac:
                return dev.name
        except OSError:
            continue
    return None


class Wiring:
    """The release's guests: their wire NICs moved into the sandbox's namespace, each joined to
    its domain's TAP while the domain runs."""

    def __init__(self, box: Sandbox, guests: list[PlannedGuest]) -> None:
        self.box = box
        self.guests = {g.name[:2]: g for g in guests}
        self.wires: dict[str, str] = {}
        self.joined: dict[str, str] = {}
        self.started = time.monotonic()
        self.log = OUT / f"bridge-traffic-{box.release.name}.log"

    def mark(self, what: str) -> None:
        """Note how long the run took to get here (kept with the lab's reports, for tuning)."""
        with self.log.open("a") as f:
            f.write(f"{time.monotonic() - self.started:6.1f} s  {what}\n")

    def take_wires(self) -> None:
        deadline = time.monotonic() + 30
        for short, guest in self.guests.items():
            while (dev := lab_nic(guest.lab_mac)) is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert dev is not None, f"no lab NIC with MAC {guest.lab_mac} (the wire of {guest.name})"
            run(["ip", "link", "set", "dev", dev, "netns", self.box.ns.name])
            # The wire carries other guests' frames: its NIC must take every destination MAC.
            self.box.ns.ip("link", "set", dev, "promisc", "on", "up")
            self.wires[short] = dev

    def give_back(self) -> None:
        for dev in self.wires.values():
            self.box.ns.ip("link", "set", "dev", dev, "netns", "1", check=False)

    def console(self, short: str) -> str:
        return console_text(OUT / self.guests[short].console)

    def probes(self, short: str) -> dict[str, str]:
        return probe_results(self.console(short))

    def consoles(self) -> str:
        return "\n".join(f"--- {g.name} console:\n" + "\n".join(self.console(s).splitlines()[-8:])
                         for s, g in self.guests.items())

    def wait_ready(self) -> None:
        deadline = time.monotonic() + BOOT
        for short, guest in self.guests.items():
            while f"vnx-ready {guest.name}" not in self.console(short):
                assert time.monotonic() < deadline, f"{guest.name} not ready:\n{self.consoles()}"
                time.sleep(0.5)

    def start_domain(self, ports: dict[str, tuple[str, Vlan]]) -> dict[str, str]:
        """Define and start, paused, one domain with a port on the bridge for each of ``ports``
        (label -> (MAC, VLAN)), each VLAN asked for the way the release allows; return each
        label's TAP. One domain: each QEMU start costs tens of seconds under TCG inside TCG."""
        name = f"wired-{self.box.release.version[0]}"
        path = self.box.tmp / f"{name}.xml"
        if self.box.release.version >= (11, 0):
            path.write_text(domain_skeleton(name).replace("<devices>", "<devices>" + "".join(
                f"<interface type='bridge'><mac address='{mac}'/><source bridge='{BRIDGE}'/>"
                f"{libvirt_vlan(vlan)}<model type='virtio'/></interface>" for mac, vlan in ports.values())))
        else:
            build_domain(path, name, *(["--type", "bridge", "--source", BRIDGE, "--model", "virtio",
                                        "--mac", mac, *metadata_vlan(vlan)] for mac, vlan in ports.values()))
        virsh = self.box.libvirtd.virsh
        virsh("define", str(path))
        virsh("start", "--paused", name)
        taps = {nic["mac"]: nic["target"] for nic in domain_interfaces(virsh("dumpxml", name).stdout)}
        out = {label: taps[mac] for label, (mac, _) in ports.items()}
        for label, (_, vlan) in ports.items():
            # The port's VLANs are what the hook (9.0) or libvirt (11.3) set: the traffic below is
            # decided by exactly these.
            shown = vlan_show(self.box, out[label])
            assert shown == bridge_entries(vlan), (label, out[label], shown)
        return out

    def join(self, short: str, tap: str) -> None:
        """Join guest ``short``'s wire to ``tap`` (and only to it) with tc."""
        tc = self.box.ns.run
        wire = self.wires[short]
        old = self.joined.get(short)
        for dev in (wire, old):
            if dev is not None:
                tc("tc", "qdisc", "del", "dev", dev, "clsact", check=False)
        for dev in (wire, tap):
            tc("tc", "qdisc", "add", "dev", dev, "clsact")
        # Frames from the guest enter the bridge as if the domain sent them on its TAP ...
        tc("tc", "filter", "add", "dev", wire, "ingress", "matchall",
           "action", "mirred", "ingress", "redirect", "dev", tap)
        # ... and what the bridge sends to the TAP goes to the guest.
        tc("tc", "filter", "add", "dev", tap, "egress", "matchall",
           "action", "mirred", "egress", "redirect", "dev", wire)
        self.joined[short] = tap

    def wait_answer(self, short: str, peer: str, timeout: float = REACH, address: str = "") -> None:
        address = (address or self.guests[peer].address).split("/")[0]
        deadline = time.monotonic() + timeout
        while self.probes(short).get(address) != self.guests[peer].name:
            assert time.monotonic() < deadline, (
                f"{self.guests[short].name} did not reach {self.guests[peer].name} in {timeout:.0f} s:\n"
                + self.consoles() + "\n" + self.box.ns.run("bridge", "fdb", "show", "br", BRIDGE).stdout)
            time.sleep(0.5)

    def assert_silent(self, shorts: list[str], seconds: float) -> None:
        """Watch ``shorts``' consoles for ``seconds``: none of them hears from any guest."""
        deadline = time.monotonic() + seconds
        while True:
            heard = {self.guests[s].name: self.probes(s) for s in shorts if self.probes(s)}
            assert not heard, f"heard across VLANs: {heard}\n{self.consoles()}"
            if time.monotonic() >= deadline:
                return
            time.sleep(0.5)


PVID_UNTAGGED = frozenset({"PVID", "Egress Untagged"})
# A port's VLAN: an access VLAN, or a trunk (tagged VLANs, native VLAN untagged).
Vlan = int | tuple[tuple[int, ...], int]


def libvirt_vlan(vlan: Vlan) -> str:
    """libvirt's own <vlan> for the port (11.x on a Linux bridge)."""
    if isinstance(vlan, int):
        return f"<vlan><tag id='{vlan}'/></vlan>"
    tagged, native = vlan
    return ("<vlan trunk='yes'>" + "".join(f"<tag id='{vid}'/>" for vid in tagged)
            + f"<tag id='{native}' nativeMode='untagged'/></vlan>")


def metadata_vlan(vlan: Vlan) -> list[str]:
    """``virt-netxml interface`` options for the project's metadata VLAN (what 9.0 needs)."""
    if isinstance(vlan, int):
        return ["--bridge-vlan", str(vlan)]
    tagged, native = vlan
    return ["--bridge-vlan", ",".join(str(v) for v in (*tagged, native)), "--vlan-native", str(native)]


def bridge_entries(vlan: Vlan) -> list[tuple[int, frozenset[str]]]:
    """What ``bridge vlan show`` must read back on the port."""
    if isinstance(vlan, int):
        return [(vlan, PVID_UNTAGGED)]
    tagged, native = vlan
    return sorted([(vid, frozenset()) for vid in tagged] + [(native, PVID_UNTAGGED)])
# gb's second port (in ga's VLAN): a MAC of its own, as every port of a domain has.
SECOND_PORT_MAC = {"libvirt-9.0.0": "52:54:00:79:01:02", "libvirt-11.3.0": "52:54:00:79:02:02"}


def vlan_show(box: Sandbox, port: str) -> list[tuple[int, frozenset[str]]]:
    data = json.loads(box.ns.run("bridge", "-j", "vlan", "show", "dev", port).stdout or "[]")
    return sorted((v["vlan"], frozenset(v.get("flags", ()))) for entry in data
                  if entry.get("ifname") == port for v in entry["vlans"])


@pytest.fixture
def wiring(box: Sandbox, planned: dict[str, list[PlannedGuest]]) -> Iterator[Wiring]:
    box.ns.ip("link", "add", BRIDGE, "type", "bridge", "vlan_filtering", "1")
    box.ns.ip("link", "set", BRIDGE, "up")
    wiring = Wiring(box, planned[box.release.name])
    wiring.mark("sandbox up")
    try:
        wiring.take_wires()
        yield wiring
    finally:
        box.clear_libvirt()
        wiring.give_back()
        box.ns.ip("link", "del", BRIDGE, check=False)


def test_access_vlans_carry_traffic_between_real_guests_on_a_linux_bridge(wiring: Wiring) -> None:
    w = wiring
    g = w.guests
    # One paused domain, a port for each guest, and a second port for gb in ga's VLAN.
    taps = w.start_domain({"ga": (g["ga"].mac, 10), "gb": (g["gb"].mac, 20), "gc": (g["gc"].mac, 30),
                           "gb-in-10": (SECOND_PORT_MAC[w.box.release.name], 10),
                           "gt": (g["gt"].mac, (TRUNK_TAGGED, TRUNK_NATIVE))})
    w.mark("domain started, ports up")
    w.wait_ready()
    w.mark("guests ready")
    # Before any wire is joined nobody has heard from anybody (a stale answer would prove nothing).
    w.assert_silent(["ga", "gb", "gc"], 0)
    # The control: the same guests, each in a VLAN of its own.
    for short in ("ga", "gb", "gc"):
        w.join(short, taps[short])
    w.assert_silent(["ga", "gb", "gc"], SILENCE)
    w.mark("control: silent")
    # The trunk guest (joined now, while gb is still in VLAN 20) reaches ga in VLAN 10 and gb in
    # VLAN 20 through its sub-interfaces, and gc in the native VLAN 30 untagged: each address
    # is in a subnet that only that VLAN's link of the trunk guest has.
    w.join("gt", taps["gt"])
    for peer in ("ga", "gb", "gc"):
        w.wait_answer("gt", peer, address=w.guests[peer].more[0])
    w.mark("trunk: answered")
    # gb on its port in ga's VLAN: they answer each other; gc, in a third VLAN, hears neither.
    w.join("gb", taps["gb-in-10"])
    w.wait_answer("ga", "gb")
    w.wait_answer("gb", "ga")
    w.mark("same VLAN: answered")
    assert w.probes("ga") == {g["gb"].address.split("/")[0]: g["gb"].name}, w.consoles()
    assert w.probes("gb") == {g["ga"].address.split("/")[0]: g["ga"].name}, w.consoles()
    w.assert_silent(["gc"], SILENCE)
    w.mark("other VLAN: silent")
