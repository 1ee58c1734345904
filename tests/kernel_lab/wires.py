"""Tiny guests on this machine wired into the kernel lab, to prove Linux-bridge VLANs and port
forwards by traffic.

Tiny guests (tests/guests/tiny.py) boot in seconds under TCG here, but not inside the lab (TCG
inside TCG). So they run here, as plain QEMU processes, each NIC a "wire": a pair of UDP sockets on
the loopback, one end the guest's NIC, the other a virtio NIC of the lab VM. Nothing else is on a
wire, and nothing leaves the machine. Inside the lab, a guest test joins each wire NIC to the TAP
libvirt made for a paused domain (tc mirred both ways), so the guest's frames enter the bridge
through a port whose VLANs are set the way libvirt and the hooks set them.

Each wired guest test module has guests of its own, planned per release (``PLANS``). The host
test that boots the lab (tests/kernel_lab/test_lab.py) starts the guests of the selected modules
only, before the lab, and stops them by PID afterwards. The plan (module -> release -> guests:
which wire NIC, where each console is) is written as ``wires.json`` into the lab's results folder,
which the guest test reads at ``/run/kernel-lab``; the consoles are written there too, so the
guest reads them uncached.
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.guests.tiny import BootFiles, GuestSpec, boot_files, qemu_argv

PLAN_FILE = "wires.json"
# The lab's wire NICs sit at these PCI slots, away from the functions the VFIO tests use (00:03,
# 00:04) and from the slots QEMU fills on its own: each is a device of its own, in its own group.
FIRST_SLOT = 0x10
MAX_WIRES = 12
# Seconds a guest keeps asking a silent peer: longer than any lab run, so a peer that becomes
# reachable while the lab runs is answered, and "none" never appears within a run.
PROBE_WAIT = 1800

SUBNET = "10.77.0"
RELEASE_SETS = ("libvirt-9.0.0", "libvirt-11.3.0")


@dataclass(frozen=True)
class PlannedGuest:
    """One host guest with one wire, as the guest test sees it in wires.json."""

    name: str
    mac: str              # the guest's own NIC (the source of its frames on the bridge)
    address: str          # ADDR/PREFIX on that NIC
    probes: tuple[str, ...]
    lab_mac: str          # the lab's NIC at the other end of the wire
    console: str          # file name of its console in the results folder
    more: tuple[str, ...] = ()                # more ADDR/PREFIX on the same NIC, untagged
    vlans: tuple[tuple[int, str], ...] = ()   # (VID, ADDR/PREFIX): sub-interfaces NIC.VID
    gateway: str | None = None                # the default route (a NAT network's guest)

    def spec(self, probe_wait: int) -> GuestSpec:
        return GuestSpec(self.name, nics=[(self.mac, a) for a in (self.address, *self.more)],
                         vlans=[(self.mac, vid, a) for vid, a in self.vlans], probes=list(self.probes),
                         probe_wait=probe_wait, gateway=self.gateway)


# The trunk guest's VLANs: tagged 10 and 20 (sub-interfaces), native 30 (untagged); each VLAN
# has a subnet of its own there, 10.77.VID.0/24, which ga (10), gb (20) and gc (30) also have.
TRUNK_TAGGED = (10, 20)
TRUNK_NATIVE = 30


def bridge_traffic_plan(release: str, index: int) -> list[PlannedGuest]:
    """Four guests for one release's test: ga, gb and gc in one subnet ask each other; gt, the
    trunk guest, asks ga in VLAN 10, gb in VLAN 20 and gc in its native VLAN 30."""
    out = []
    names = ("ga", "gb", "gc")
    for n, (short, vid) in enumerate(zip(names, (*TRUNK_TAGGED, TRUNK_NATIVE), strict=True), start=1):
        name = f"{short}{index}"
        probes = tuple(f"{SUBNET}.{m}" for m in range(1, len(names) + 1) if m != n)
        out.append(PlannedGuest(
            name=name, mac=f"52:54:00:77:{index:02x}:{n:02x}", address=f"{SUBNET}.{n}/24",
            probes=probes, lab_mac=f"52:54:00:78:{index:02x}:{n:02x}", console=f"{name}.console",
            more=(f"10.77.{vid}.{n}/24",)))
    name = f"gt{index}"
    out.append(PlannedGuest(
        name=name, mac=f"52:54:00:77:{index:02x}:09", address=f"10.77.{TRUNK_NATIVE}.9/24",
        probes=tuple(f"10.77.{vid}.{n}" for n, vid in enumerate((*TRUNK_TAGGED, TRUNK_NATIVE), start=1)),
        lab_mac=f"52:54:00:78:{index:02x}:09", console=f"{name}.console",
        vlans=tuple((vid, f"10.77.{vid}.9/24") for vid in TRUNK_TAGGED)))
    return out


# The port forward test's NAT network (test_libvirt_port_forward): its subnet and gateway, and the
# sandbox's uplink address and the host port forwarded to fa (which fb asks through the uplink).
FORWARD_SUBNET = "192.168.158"
FORWARD_GATEWAY = f"{FORWARD_SUBNET}.1"
FORWARD_UPLINK = "10.232.0.1"
FORWARD_PORT = 8080


def port_forward_plan(release: str, index: int) -> list[PlannedGuest]:
    """Two guests on a NAT network: fa, whose port 80 the host forwards from FORWARD_PORT, and fb,
    which asks the host's uplink address on that port (one guest reaching another through a
    forwarded host port). Both route through the network's gateway."""
    out = []
    for n, short in enumerate(("fa", "fb"), start=1):
        name = f"{short}{index}"
        probes = (f"{FORWARD_UPLINK}:{FORWARD_PORT}",) if short == "fb" else ()
        out.append(PlannedGuest(
            name=name, mac=f"52:54:00:7a:{index:02x}:{n:02x}", address=f"{FORWARD_SUBNET}.{10 + n}/24",
            probes=probes, lab_mac=f"52:54:00:7b:{index:02x}:{n:02x}", console=f"{name}.console",
            gateway=FORWARD_GATEWAY))
    return out


# The guest test modules that need wires: each one's planner and the releases it runs on. The
# lab gets wire NICs only for the selected modules. (libvirt 9.0 has no nftables backend: the
# port forward test runs on 11.3 only.)
PLANS: dict[str, tuple[Callable[[str, int], list[PlannedGuest]], tuple[str, ...]]] = {
    "test_libvirt_bridge_traffic": (bridge_traffic_plan, RELEASE_SETS),
    "test_libvirt_port_forward": (port_forward_plan, ("libvirt-11.3.0",)),
}
WIRED_GUEST_MODULES = tuple(PLANS)


def full_plan(modules: Sequence[str] = WIRED_GUEST_MODULES) -> dict[str, dict[str, list[PlannedGuest]]]:
    """module -> release -> its guests, for ``modules``; a release's index (in its MACs) is its
    place in RELEASE_SETS, whichever modules are planned."""
    out = {}
    for module in modules:
        planner, releases = PLANS[module]
        out[module] = {release: planner(release, RELEASE_SETS.index(release) + 1) for release in releases}
    return out


def read_plan(folder: Path, module: str) -> dict[str, list[PlannedGuest]]:
    """The plan a host run wrote into ``folder`` for guest test ``module`` (release -> guests)."""
    data = json.loads((folder / PLAN_FILE).read_text())
    assert module in data, f"no guests for {module} in {folder / PLAN_FILE} (planned: {sorted(data)})"
    return {release: [PlannedGuest(**{**g, "probes": tuple(g["probes"]), "more": tuple(g["more"]),
                                      "vlans": tuple((v, a) for v, a in g["vlans"])}) for g in guests]
            for release, guests in data[module].items()}


def wanted(selected_test_ids: Sequence[str]) -> list[str]:
    """The wired modules among the selected guest tests (``module::test``), in PLANS' order."""
    modules = {t.split("::", 1)[0] for t in selected_test_ids}
    return [m for m in WIRED_GUEST_MODULES if m in modules]


def _free_udp_ports(count: int) -> list[int]:
    """Distinct loopback UDP ports free right now (bound together, then released)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class Wires:
    """Running host guests and the lab's side of their wires."""

    lab_args: list[str]
    pids: list[int]
    folder: Path


@contextmanager
def host_guests(folder: Path, modules: Sequence[str] = WIRED_GUEST_MODULES,
                boot: BootFiles | None = None) -> Iterator[Wires]:
    """Start the planned guests of ``modules`` on this machine, consoles and wires.json in
    ``folder``; yield the QEMU arguments that give the lab VM the other end of each wire. Every
    guest is stopped by its PID on the way out, also when the lab run fails."""
    folder.mkdir(parents=True, exist_ok=True)
    boot = boot or boot_files(folder / "boot")
    planned = full_plan(modules)
    guests = [g for releases in planned.values() for gs in releases.values() for g in gs]
    assert len(guests) <= MAX_WIRES
    ports = _free_udp_ports(2 * len(guests))
    lab_args: list[str] = []
    procs: list[subprocess.Popen[bytes]] = []
    with ExitStack() as stack:
        @stack.callback
        def stop() -> None:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
            for proc in procs:
                proc.wait()

        for n, guest in enumerate(guests):
            here, there = ports[2 * n], ports[2 * n + 1]
            spec = guest.spec(PROBE_WAIT)
            console = folder / guest.console
            console.write_bytes(b"")
            wire = f"socket,udp=127.0.0.1:{there},localaddr=127.0.0.1:{here}"
            with (folder / f"{guest.name}.qemu.log").open("wb") as log:
                procs.append(subprocess.Popen(qemu_argv(spec, boot, console, [(guest.mac, wire)]),
                                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                              stderr=log))
            lab_args += ["-netdev", f"socket,id=w{n},udp=127.0.0.1:{here},localaddr=127.0.0.1:{there}",
                         "-device", f"virtio-net-pci,netdev=w{n},mac={guest.lab_mac},"
                                    f"addr={FIRST_SLOT + n:#x}.0,romfile="]
        (folder / PLAN_FILE).write_text(json.dumps(
            {module: {release: [asdict(g) for g in gs] for release, gs in releases.items()}
             for module, releases in planned.items()}, indent=1))
        yield Wires(lab_args, [p.pid for p in procs], folder)
