"""OVN with real libvirtds and real guests: two chassis, each with its own libvirtd.

The OVN lab (tests/ovn/harness.py) with a libvirtd of each supported release on each chassis
(``libvirt_on_chassis``). Tiny guests (tests/guests/tiny.py) get their NIC from
``virt-netxml interface --type bridge --source br-int --virtualport openvswitch --ovn-switch LS``,
as a user writes it: libvirt adds the tap to the chassis's ``br-int`` with ``iface-id`` = the
derived ``interfaceid``, and that chassis's ovn-controller binds the logical switch port of that
name. Proven by traffic: the guests of one logical switch, one per chassis, reach each other
through the geneve tunnel; a guest on another switch (same subnet, same chassis as one of them)
reaches neither, while its own switch carries its traffic across the tunnel. Then, in order (the
tests share the guests): save on one chassis and restore on the other, a live migration back (the
port bound throughout), a NIC attached to a running guest on a libvirt network that is an OVN
switch, and destroy, after which no guest port is left in the northbound database.

The logical switches are the administrator's (``logical_switches``); the ports are the installed
hooks' (qemu ``prepare`` on the guest's chassis, given up at ``release``). ``northbound_ports``
makes them with ``ovn-nbctl`` instead, as the hooks do, for hooks that do not: it is off while
``HOOKS_CREATE_PORTS`` is True, and turning that to False is all the test needs to run against
such hooks (the hooks then must not be installed, or must leave OVN ports alone: they refuse a
port they did not make).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.harness import (
    RELEASES,
    VNX,
    Release,
    Sandbox,
    build_domain,
    missing_programs,
    pid_alive,
    run,
    vnx,
)
from tests.guests.tiny import (
    BootFiles,
    GuestSpec,
    boot_files,
    checksums_in_guest,
    console_text,
    domain_xml,
    http_name,
    probe_results,
    wait_console,
)
from tests.kernel_lab.lab import find_kernel
from tests.ovn.conftest import require_ovn
from tests.ovn.harness import OvnLab, StandIn, libvirt_on_chassis, ovn_lab
from tests.support import require

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

# The hooks create the guests' logical switch ports: ``northbound_ports`` is off.
HOOKS_CREATE_PORTS = True

PREFIX = 24
PROBE_WAIT = 40


@dataclass
class Guest:
    name: str
    chassis: int          # index into lab.chassis / the sandboxes
    switch: str
    mac: str
    address: str
    interfaceid: str = ""
    console: Path = Path()


def plan() -> dict[str, Guest]:
    """ga and gb on ls-a, one per chassis; gc on ls-b in the same subnet, on ga's chassis."""
    return {g.name: g for g in (
        Guest("ga", 0, "ls-a", "52:54:00:0a:00:01", "10.0.0.1"),
        Guest("gb", 1, "ls-a", "52:54:00:0a:00:02", "10.0.0.2"),
        Guest("gc", 0, "ls-b", "52:54:00:0a:00:03", "10.0.0.3"),
    )}


@dataclass
class Fleet:
    lab: OvnLab
    hosts: list[Sandbox]
    release: Release
    tmp: Path

    def virsh(self, chassis: int, *args: str, check: bool = True):
        return self.hosts[chassis].libvirtd.virsh(*args, check=check)


@pytest.fixture(scope="module", params=list(RELEASES), ids=str)
def release(request: pytest.FixtureRequest) -> Release:
    return RELEASES[request.param]


def require_prerequisites(release: Release) -> None:
    require_ovn()
    missing = missing_programs(release)
    require(not missing, "programs: " + ", ".join(missing))
    require(VNX.exists(), f"{VNX} (run the setup command)")
    require(Path("/dev/net/tun").exists(), "/dev/net/tun")
    # The hooks reach the NB with the host's own ovn-nbctl: on the Debian 13 release, the root's.
    nbctl = (release.sysroot or Path("/")) / "usr/bin/ovn-nbctl"
    require(nbctl.exists(), f"{nbctl}, which the hooks run (Debian's ovn-common; for the Debian 13 "
                            "root: in tests/e2e/debian13-root.sh's package list)")


@pytest.fixture(scope="module")
def fleet(release: Release, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """The OVN lab with two chassis, each with a libvirtd of ``release``; all torn down after."""
    require_prerequisites(release)
    tmp = tmp_path_factory.mktemp(f"ovn-{release}")
    with ovn_lab(tmp, chassis=2) as lab, libvirt_on_chassis(lab, release) as hosts:
        yield Fleet(lab, hosts, release, tmp)
    print(f"\n[{release}] OVN up {lab.timings['up']:.2f} s, both libvirtds up "
          f"{lab.timings['libvirtd']:.2f} s after it")


@pytest.fixture(scope="session")
def boot(tmp_path_factory: pytest.TempPathFactory) -> BootFiles:
    require(find_kernel() is not None, "the kernel lab's kernel under .cache/kernel (setup.sh)")
    return boot_files(tmp_path_factory.mktemp("tiny-guest"))


def make_domain(tmp: Path, name: str) -> Path:
    """A diskless TCG domain with one OVN NIC on br-int (QEMU runs; nothing boots)."""
    return build_domain(tmp / f"{name}.xml", name, [
        "--type", "bridge", "--source", "br-int", "--virtualport", "openvswitch", "--ovn-switch", "ls-x",
        "--mac", "52:54:00:0a:00:99"])


def domain_file(fleet: Fleet, boot: BootFiles, guest: Guest, probes: list[str]) -> Path:
    """The guest's domain with its OVN NIC written by ``virt-netxml interface``; sets its
    ``interfaceid`` (derived from the switch and the MAC) and console."""
    guest.console = fleet.tmp / f"{guest.name}.console"
    spec = GuestSpec(guest.name, nics=[(guest.mac, f"{guest.address}/{PREFIX}")], probes=probes,
                     probe_wait=PROBE_WAIT)
    path = fleet.tmp / f"{guest.name}.xml"
    path.write_text(domain_xml(spec, boot, guest.console))
    vnx("interface", "--type", "bridge", "--source", "br-int", "--virtualport", "openvswitch",
        "--ovn-switch", guest.switch, "--ip", guest.address, "--model", "virtio", "--mac", guest.mac,
        "--domain", path, "-i")
    checksums_in_guest(path)
    from lxml import etree

    params = etree.parse(str(path)).find("devices/interface/virtualport/parameters")
    assert params is not None and params.get("interfaceid"), path.read_text()
    guest.interfaceid = params.get("interfaceid")
    return path


def logical_switches(fleet: Fleet, guests: list[Guest]) -> None:
    """The administrator's part: the logical switches the guests' interfaces name (a per-interface
    OVN port goes on a switch that exists; a libvirt network's switch is the hooks' to make)."""
    for switch in sorted({g.switch for g in guests}):
        fleet.lab.nbctl("--may-exist", "ls-add", switch)


def northbound_ports(fleet: Fleet, guests: list[Guest]) -> None:
    """What the hooks do at ``prepare`` (issue 12 §2), done here while they do not: the port named
    by the interface's ``interfaceid`` with the guest's MAC and address, requested on the guest's
    chassis. Off with ``HOOKS_CREATE_PORTS``."""
    if HOOKS_CREATE_PORTS:
        return
    for guest in guests:
        chassis = fleet.lab.chassis[guest.chassis]
        lsp = guest.interfaceid
        fleet.lab.nbctl("--may-exist", "lsp-add", guest.switch, lsp,
                        "--", "lsp-set-addresses", lsp, f"{guest.mac} {guest.address}",
                        "--", "lsp-set-options", lsp, f"requested-chassis={chassis.system_id}")


@dataclass
class Started:
    guests: dict[str, Guest]
    standin: StandIn
    answers: dict[str, dict[str, str]]
    first_answer: float
    attached: str = ""    # the port of the NIC attached to gb on the OVN network
    near: StandIn | None = None   # a stand-in on ls-a on chassis 1 (the save/restore test's)


@pytest.fixture(scope="module")
def started(fleet: Fleet, boot: BootFiles) -> Started:
    """The three guests defined and started on their chassis, their probes finished; and a
    stand-in port on ls-b on the other chassis (gc's switch, to show it carries traffic)."""
    guests = plan()
    paths = {}
    for guest in guests.values():
        others = [g.address for g in guests.values() if g is not guest]
        paths[guest.name] = domain_file(fleet, boot, guest, others)
    logical_switches(fleet, list(guests.values()))
    northbound_ports(fleet, list(guests.values()))
    for guest in guests.values():
        fleet.virsh(guest.chassis, "define", str(paths[guest.name]))
    begin = time.monotonic()
    for guest in guests.values():
        fleet.virsh(guest.chassis, "start", guest.name)
    # guest boot to the first answer across chassis: ga's from gb or gb's from ga
    marks = {"ga": f"vnx-probe {guests['gb'].address} gb", "gb": f"vnx-probe {guests['ga'].address} ga"}
    first = None
    deadline = begin + 240
    while first is None and time.monotonic() < deadline:
        if any(mark in console_text(guests[name].console) for name, mark in marks.items()):
            first = time.monotonic() - begin
        else:
            time.sleep(0.2)
    answers = {name: probe_results(wait_console(g.console, f"vnx-probes-done {name}", timeout=240))
               for name, g in guests.items()}
    print(f"\n[{fleet.release}] three guests started, first answer across chassis after "
          f"{first if first is not None else float('nan'):.1f} s")
    standin_mac = "52:54:00:0a:00:04"
    # not a libvirt guest: its port is the test's own whoever makes the guests'
    fleet.lab.nbctl("--may-exist", "ls-add", "ls-b", "--", "lsp-add", "ls-b", "lsp-standin",
                    "--", "lsp-set-addresses", "lsp-standin", f"{standin_mac} 10.0.0.4")
    standin = fleet.lab.standin(fleet.lab.chassis[1], "lsp-standin", standin_mac, f"10.0.0.4/{PREFIX}")
    fleet.lab.wait_up("lsp-standin")
    fleet.lab.sync_chassis()
    return Started(guests, standin, answers, first if first is not None else -1.0)


def shown(fleet: Fleet, started: Started) -> str:
    """What a failure shows: the consoles' ends, NB, and each chassis's OVS."""
    text = "\n".join(f"--- {g.name}\n" + console_text(g.console)[-1200:] for g in started.guests.values())
    text += "\n--- NB\n" + fleet.lab.nbctl("show")
    for chassis in fleet.lab.chassis:
        text += f"\n--- {chassis.system_id}\n" + chassis.vsctl("show")
    return text


class Boom(Exception):
    pass


def test_the_chassis_libvirtds_are_torn_down_even_when_the_body_fails(release: Release,
                                                                      tmp_path: Path) -> None:
    """libvirtd, its launcher and QEMU gone by PID, its folders and mounts removed, the chassis's
    own daemons left running for the lab to stop; then the lab goes too."""
    require_prerequisites(release)
    lab_pids: list[int] = []
    box_pids: list[int] = []
    folders: list[Path] = []
    with pytest.raises(Boom), ovn_lab(tmp_path, chassis=1) as lab:
        with pytest.raises(Boom), libvirt_on_chassis(lab, release) as hosts:
            box = hosts[0]
            lab.nbctl("ls-add", "ls-x")
            box.libvirtd.virsh("define", str(make_domain(tmp_path, "gx")))
            box.libvirtd.virsh("start", "gx")
            lab_pids += [pid for _, pid in lab.daemons.pids]
            box_pids += [box.libvirtd.pid, *(p.pid for p in box.libvirtd.procs), *box.own_pids()]
            folders.append(box.tmp)
            assert len(box_pids) >= 3 and all(pid_alive(pid) for pid in box_pids)
            raise Boom()
        assert [pid for pid in box_pids if pid_alive(pid)] == []
        assert [f for f in folders if f.exists()] == []
        assert all(pid_alive(pid) for pid in lab_pids), "the chassis's daemons are the lab's to stop"
        with open("/proc/self/mountinfo") as f:
            assert [line for line in f if str(folders[0]) in line] == []
        raise Boom()
    assert [pid for pid in lab_pids if pid_alive(pid)] == []


def test_the_hooks_see_the_lab_s_northbound_database_and_their_own_chassis(fleet: Fleet) -> None:
    """``hooks status`` run as the administrator of each chassis (in its libvirtd's namespaces):
    ovn.conf parses, the NB answers over the fabric, and the system-id is that chassis's."""
    for box, chassis in zip(fleet.hosts, fleet.lab.chassis, strict=True):
        out = run(box.libvirtd.in_daemon([box.vnx_path, "hooks", "status"]), check=False)
        line = [ln for ln in out.stdout.splitlines() if ln.startswith("ovn:")]
        assert line, out.stdout + out.stderr
        assert f"{fleet.lab.nb_tcp} reachable" in line[0], out.stdout
        assert line[0].endswith(f"this chassis: {chassis.system_id}"), line


def test_each_guest_s_port_is_up_and_bound_to_its_own_chassis(fleet: Fleet, started: Started) -> None:
    """libvirt put each tap on its chassis's br-int with the interfaceid as iface-id, and the SB
    binds each logical switch port to the chassis its guest runs on."""
    for guest in started.guests.values():
        chassis = fleet.lab.chassis[guest.chassis]
        fleet.lab.wait_up(guest.interfaceid)
        assert fleet.lab.nbctl("lsp-get-up", guest.interfaceid).strip() == "up", guest.name
        assert fleet.lab.bound_chassis(guest.interfaceid) == chassis.system_id, guest.name
        if HOOKS_CREATE_PORTS:   # the hooks' port: the guest's domain, this chassis requested
            port = fleet.lab.nbctl("--bare", "--columns=options,external_ids", "list",
                                   "Logical_Switch_Port", guest.interfaceid)
            assert f"requested-chassis={chassis.system_id}" in port, port
            assert f"virt-netxml-domain={guest.name}" in port, port
            records = [p.name for p in (fleet.hosts[guest.chassis].hooks_state / "domains").glob("*")]
            assert any(name.startswith(guest.name) for name in records), records   # for release
        iface = chassis.vsctl("--bare", "--columns=name,external_ids", "find", "Interface",
                              f"external_ids:iface-id={guest.interfaceid}")
        assert "vnet" in iface and guest.mac in iface, (guest.name, iface)
        other = fleet.lab.chassis[1 - guest.chassis]
        assert other.vsctl("--bare", "--columns=name", "find", "Interface",
                           f"external_ids:iface-id={guest.interfaceid}").strip() == "", guest.name


def test_guests_on_one_switch_reach_each_other_across_the_tunnel(fleet: Fleet, started: Started) -> None:
    a, b = started.guests["ga"], started.guests["gb"]
    assert started.answers["ga"].get(b.address) == "gb", shown(fleet, started)
    assert started.answers["gb"].get(a.address) == "ga", shown(fleet, started)
    assert started.first_answer > 0


def test_a_guest_on_another_switch_reaches_neither(fleet: Fleet, started: Started) -> None:
    """gc (ls-b, same subnet, on ga's chassis) and the guests of ls-a do not reach each other;
    gc itself answers across the tunnel on its own switch (so the silence is the boundary)."""
    a, b, c = (started.guests[n] for n in ("ga", "gb", "gc"))
    assert started.answers["gc"] == {a.address: "none", b.address: "none"}, shown(fleet, started)
    assert started.answers["ga"].get(c.address) == "none"
    assert started.answers["gb"].get(c.address) == "none"
    ask = ["ip", "netns", "exec", started.standin.ns]
    assert http_name(ask, c.address, timeout=5) == "gc", shown(fleet, started)
    assert http_name(ask, a.address, timeout=2) is None


def test_save_on_one_chassis_and_restore_on_the_other_moves_the_binding(
        fleet: Fleet, started: Started) -> None:
    """``virsh save`` of ga on chassis 1, ``virsh restore`` of that file by chassis 2's libvirtd
    (a path both see): the port is bound to chassis 2 and ga answers again over ls-a, from a
    stand-in on chassis 1 (so now across the tunnel)."""
    lab, ga = fleet.lab, started.guests["ga"]
    source, target = lab.chassis[ga.chassis], lab.chassis[1 - ga.chassis]
    mac = "52:54:00:0a:00:05"
    lab.nbctl("lsp-add", "ls-a", "lsp-standin-a", "--", "lsp-set-addresses", "lsp-standin-a",
              f"{mac} 10.0.0.5")
    here = lab.standin(source, "lsp-standin-a", mac, f"10.0.0.5/{PREFIX}")
    lab.wait_up("lsp-standin-a")
    lab.sync_chassis()
    started.near = here
    ask = ["ip", "netns", "exec", here.ns]
    assert http_name(ask, ga.address, timeout=5) == "ga", shown(fleet, started)

    saved = fleet.tmp / "ga.save"
    fleet.virsh(ga.chassis, "save", "ga", str(saved))
    assert target.vsctl("--bare", "--columns=name", "find", "Interface",
                        f"external_ids:iface-id={ga.interfaceid}").strip() == ""
    ga.chassis = 1 - ga.chassis
    northbound_ports(fleet, [ga])          # the destination's prepare, while the hooks do not
    begin = time.monotonic()
    fleet.virsh(ga.chassis, "restore", str(saved))
    lab.wait_up(ga.interfaceid)
    answer = None
    deadline = time.monotonic() + 60
    while answer != "ga" and time.monotonic() < deadline:
        answer = http_name(ask, ga.address, timeout=2)
    moved = time.monotonic() - begin
    print(f"\n[{fleet.release}] restored on {target.system_id}: answering again after {moved:.1f} s")
    assert lab.bound_chassis(ga.interfaceid) == target.system_id, shown(fleet, started)
    assert answer == "ga", shown(fleet, started)
    assert "vnet" in target.vsctl("--bare", "--columns=name", "find", "Interface",
                                  f"external_ids:iface-id={ga.interfaceid}")
    assert source.vsctl("--bare", "--columns=name", "find", "Interface",
                        f"external_ids:iface-id={ga.interfaceid}").strip() == ""


def test_live_migration_moves_the_binding_and_the_guest_answers_after(fleet: Fleet, started: Started) -> None:
    """``virsh migrate --live`` of ga from the chassis it was restored on back to the other
    (migration stream over the fabric, between the chassis's namespaces): the port ends bound to
    the destination, requested there alone, and ga answers the stand-in near it."""
    lab, ga, near = fleet.lab, started.guests["ga"], started.near
    assert near is not None, "runs after the save/restore test, which made the stand-in"
    source, target = ga.chassis, 1 - ga.chassis
    ask = ["ip", "netns", "exec", near.ns]
    assert http_name(ask, ga.address, timeout=5) == "ga", shown(fleet, started)
    ga.chassis = target
    northbound_ports(fleet, [ga])          # what the hooks do on the way, while they do not
    # the SB binding, read every 0.1 s from before the migration until after it
    bindings: list[str | None] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            bindings.append(lab.bound_chassis(ga.interfaceid))
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    begin = time.monotonic()
    try:
        run(["virsh", "-q", "-c", fleet.hosts[source].libvirtd.uri, "migrate", "--live", "ga",
             fleet.hosts[target].libvirtd.uri, f"tcp://{lab.chassis[target].encap_ip}"], timeout=240)
        took = time.monotonic() - begin
        time.sleep(1)
    finally:
        done.set()
        watcher.join()
    names = {lab.chassis[source].system_id, lab.chassis[target].system_id}
    assert bindings and set(bindings) <= names, bindings      # bound throughout, never unbound
    assert bindings[-1] == lab.chassis[target].system_id, bindings
    assert fleet.virsh(target, "domstate", "ga").stdout.strip() == "running"
    lab.wait_up(ga.interfaceid)
    answer = None
    deadline = time.monotonic() + 60
    while answer != "ga" and time.monotonic() < deadline:
        answer = http_name(ask, ga.address, timeout=2)
    print(f"\n[{fleet.release}] live migration {took:.1f} s, answering "
          f"{time.monotonic() - begin:.1f} s after it began")
    assert answer == "ga", shown(fleet, started)
    assert lab.bound_chassis(ga.interfaceid) == lab.chassis[target].system_id
    options = lab.nbctl("--bare", "--columns=options", "list", "Logical_Switch_Port", ga.interfaceid)
    assert f"requested-chassis={lab.chassis[target].system_id}" in options.split(), options


def test_an_interface_attached_to_an_ovn_network_gets_its_port(fleet: Fleet, started: Started) -> None:
    """A libvirt network on br-int that is OVN switch ls-net (``virt-netxml network …
    --ovn-switch``), on gb's chassis: its start makes the switch, and ``virsh attach-interface``
    of a NIC on it to the running gb gets the port libvirt names (its generated interfaceid),
    up and bound to gb's chassis, tagged with gb."""
    lab, gb = fleet.lab, started.guests["gb"]
    box = fleet.hosts[gb.chassis]
    vnx("network", "ovnnet", "--mode", "bridge", "--bridge", "br-int", "--virtualport", "openvswitch",
        "--ovn-switch", "ls-net", "--connect", box.libvirtd.uri, "--define", "--start")
    mac = "52:54:00:0a:00:06"
    fleet.virsh(gb.chassis, "attach-interface", "gb", "network", "ovnnet", "--mac", mac,
                "--model", "virtio")
    live = fleet.virsh(gb.chassis, "dumpxml", "gb").stdout
    from lxml import etree

    nic = [i for i in etree.fromstring(live.encode()).iterfind("devices/interface")
           if i.find("mac").get("address") == mac]
    assert len(nic) == 1, live
    params = nic[0].find("virtualport/parameters")
    assert params is not None and params.get("interfaceid"), live
    lsp = params.get("interfaceid")
    if not HOOKS_CREATE_PORTS:   # the network's switch and the port, as the hooks make them
        lab.nbctl("--may-exist", "ls-add", "ls-net", "--", "lsp-add", "ls-net", lsp,
                  "--", "lsp-set-addresses", lsp, mac)
    lab.wait_up(lsp)
    assert lab.bound_chassis(lsp) == lab.chassis[gb.chassis].system_id
    port = lab.nbctl("--bare", "--columns=external_ids", "list", "Logical_Switch_Port", lsp)
    switch = lab.nbctl("lsp-get-ls", lsp)
    assert "ls-net" in switch, switch
    if HOOKS_CREATE_PORTS:
        assert "virt-netxml-domain=gb" in port, port
    started.attached = lsp


def test_destroy_gives_each_port_back_and_leaves_nothing_in_the_northbound_database(
        fleet: Fleet, started: Started) -> None:
    """``virsh destroy`` of every guest (ga where it was restored): the hooks' ``release`` deletes
    each guest's port (its chassis alone held it); what is left in NB is the test's stand-ins."""
    lab = fleet.lab
    for guest in started.guests.values():
        fleet.virsh(guest.chassis, "destroy", guest.name)
    guest_ports = {g.interfaceid for g in started.guests.values()} | {started.attached}

    def ports() -> set[str]:
        return set(lab.nbctl("--bare", "--columns=name", "list", "Logical_Switch_Port").split())

    deadline = time.monotonic() + 10
    while ports() & guest_ports and time.monotonic() < deadline:
        time.sleep(0.2)
    if HOOKS_CREATE_PORTS:
        assert ports() == {"lsp-standin", "lsp-standin-a"}, lab.nbctl("show")
    for guest in started.guests.values():
        assert lab.bound_chassis(guest.interfaceid) is None, guest.name
    for chassis in lab.chassis:
        assert "vnet" not in chassis.vsctl("list-ports", "br-int")
    for box in fleet.hosts:   # the hooks' records of the guests' ports went with them
        assert sorted(p.name for p in (box.hooks_state / "domains").glob("*")) == [], box.release


# The hooks' deadline for one call (hooks.conf's default) and what a loaded machine adds around it.
HOOK_DEADLINE = 8.0
SLACK = 12.0


def test_a_northbound_database_that_stopped_answering_fails_a_start_in_one_line_within_the_deadline(
        fleet: Fleet, started: Started) -> None:
    """NB's ovsdb-server frozen (SIGSTOP: connections are accepted by the kernel and never
    answered, the worst case for a client): a guest with an OVN port fails to start, within the
    hook's deadline, with one line naming the database; nothing is left behind (no port in NB
    once it answers again, no TAP on br-int, no record). Thawed, the same guest starts."""
    lab = fleet.lab
    (nb_pid,) = [pid for name, pid in lab.daemons.pids if name == "nb"]
    lab.nbctl("--may-exist", "ls-add", "ls-x")     # make_domain's switch: the administrator's
    path = make_domain(fleet.tmp, "gd")
    fleet.virsh(0, "define", str(path))
    from lxml import etree

    lsp = etree.parse(str(path)).find("devices/interface/virtualport/parameters").get("interfaceid")
    ports_before = lab.chassis[0].vsctl("list-ports", "br-int")
    os.kill(nb_pid, signal.SIGSTOP)
    try:
        begin = time.monotonic()
        result = fleet.virsh(0, "start", "gd", check=False)
        took = time.monotonic() - begin
    finally:
        os.kill(nb_pid, signal.SIGCONT)
    print(f"\n[{fleet.release}] start against a frozen NB failed after {took:.1f} s")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert f"OVN northbound database {lab.nb_tcp}" in result.stderr, result.stderr
    assert took < HOOK_DEADLINE + SLACK, took
    assert fleet.virsh(0, "domstate", "gd").stdout.strip() == "shut off"
    box = fleet.hosts[0]
    assert not (box.hooks_state / "domains" / "gd.json").exists()
    assert lab.chassis[0].vsctl("list-ports", "br-int") == ports_before    # gd's TAP went with QEMU
    names = set(lab.nbctl("--bare", "--columns=name", "list", "Logical_Switch_Port").split())
    assert lsp not in names, lab.nbctl("show")
    # the database back: the same guest starts and its port is made
    fleet.virsh(0, "start", "gd")
    try:
        lab.wait_up(lsp)
    finally:
        fleet.virsh(0, "destroy", "gd")
