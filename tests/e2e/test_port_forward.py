"""Port forwarding to guests on a NAT network, proven by traffic on both libvirt releases.

The sandbox host gets an "uplink" (a veth, 10.231.0.1) whose peer lives in a client namespace
(10.231.0.2); libvirt runs a NAT network ``fwnat`` (virbr7, 192.168.157.0/24). Tiny guests
(tests/guests/tiny.py) answer HTTP on port 80 with their name; their port forwards are the
project's metadata (``virt-netxml interface --forward``), applied by the installed hooks at
``start`` and removed at ``release``. libvirt's own filter rejects new connections to NAT
guests (its iptables ``LIBVIRT_FWI`` chain, or ``guest_input`` of its nftables backend), so a
connection only gets through where the hooks opened it. Every address is private and lives in
the test's namespaces.

Here both releases run with their default firewall backend, iptables. libvirt 11.3's nftables
backend puts the TC ``csum`` action on each NAT network's bridge, which this machine's kernel
lacks: with a real libvirtd it is tested by traffic in the kernel lab, whose kernel has it
(tests/kernel_lab/guest/test_libvirt_port_forward.py), and its rules also against a copy of
libvirt's chains (tests/netns/test_firewall_adapter.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from tests.e2e.conftest import Host
from tests.e2e.harness import Netns, run, vnx
from tests.guests.tiny import (
    BootFiles,
    GuestSpec,
    console_text,
    domain_xml,
    probe_results,
    wait_console,
)
from tests.guests.tiny import http_name as ask

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

UPLINK, CLIENT = "10.231.0.1", "10.231.0.2"
SUBNET = "192.168.157"
GUESTS = {"fwa": ("52:54:00:57:00:01", f"{SUBNET}.11"), "fwb": ("52:54:00:57:00:02", f"{SUBNET}.12"),
          "fwc": ("52:54:00:57:00:03", f"{SUBNET}.13")}
OURS = "virt-netxml "    # the comment every rule of ours carries: "virt-netxml <domain> <mac> <key>"


BOOT_WAIT = 240.0      # until a guest's console shows it is up, or its probes are done
PROBE_WAIT = 90        # how long a guest keeps asking a peer that does not answer
ANSWER_WAIT = 60.0     # until a forwarded port answers as expected
CONNECT = 2.0          # one connection attempt


@pytest.fixture
def client(hooks: Host) -> Iterator[Netns]:
    with hooks.uplink_client("vnxfwup0", f"{UPLINK}/24", f"{CLIENT}/24") as ns:
        yield ns


def nat_network(host: Host) -> None:
    vnx("network", "fwnat", "--mode", "nat", "--bridge", "virbr7", "--ip", f"{SUBNET}.1/24",
        "--dhcp-range", f"{SUBNET}.100,{SUBNET}.200",
        "--dhcp-host", f"{GUESTS['fwb'][0]},{GUESTS['fwb'][1]}",   # fwb's address comes from here
        "--connect", host.libvirtd.uri, "--define", "--start")


def start_guest(host: Host, boot: BootFiles, name: str, forwards: list[str], ip: bool = True,
                probes: list[str] | None = None) -> tuple[Path, CompletedProcess[str]]:
    """Define and start a guest; its console file and the start's result."""
    mac, address = GUESTS[name]
    spec = GuestSpec(name, nics=[(mac, f"{address}/24")], probes=probes or [], probe_wait=PROBE_WAIT,
                     gateway=f"{SUBNET}.1")
    console, path = host.tmp / f"{name}.console", host.tmp / f"{name}.xml"
    path.write_text(domain_xml(spec, boot, console))
    args = ["interface", "--type", "network", "--source", "fwnat", "--model", "virtio", "--mac", mac]
    for spec_ in forwards:
        args += ["--forward", spec_]
    if ip:
        args += ["--ip", address]
    vnx(*args, "--domain", path, "-i")
    host.virsh("define", str(path))
    return console, host.virsh("start", name, check=False)


def answer(ns: Netns | Host, port: int, expected: str | None, timeout: float = ANSWER_WAIT) -> str | None:
    """What UPLINK:port answers from ``ns``, waiting up to ``timeout`` for ``expected``."""
    argv = (ns.ns if isinstance(ns, Host) else ns).exec_argv([])
    end = time.monotonic() + timeout
    while True:
        got = ask(argv, UPLINK, timeout=CONNECT, port=port)
        if got == expected or time.monotonic() > end:
            return got
        time.sleep(0.5)


def firewall(host: Host, *argv: str) -> str:
    """A firewall listing by the release's own tools (an older nft cannot read what a newer
    iptables-nft wrote), in the daemon's namespaces."""
    return run(host.libvirtd.in_daemon(argv)).stdout


def our_rules(host: Host) -> list[str]:
    text = firewall(host, "nft", "list", "ruleset") + firewall(host, "iptables-save")
    return [line.strip() for line in text.splitlines() if OURS in line]


def libvirt_backend(host: Host) -> str:
    return "nftables" if "libvirt_network" in firewall(host, "nft", "list", "tables") else "iptables"


def forwarding_scenario(host: Host, client: Netns, boot: BootFiles, backend: str) -> None:
    nat_network(host)
    assert libvirt_backend(host) == backend
    console_a, started = start_guest(host, boot, "fwa", ["tcp:8080:80"])
    assert started.returncode == 0, started.stderr
    # fwb: its address from the network's static DHCP host; it asks fwa through the host's
    # uplink address (hairpin) once it is up
    console_b, started = start_guest(host, boot, "fwb", ["tcp:8081-8082:80-81"], ip=False,
                                     probes=[f"{UPLINK}:8080"])
    assert started.returncode == 0, started.stderr
    wait_console(console_a, "vnx-ready fwa", timeout=BOOT_WAIT)
    shown = console_text(console_a)[-800:]
    assert answer(client, 8080, "fwa") == "fwa", shown + "\n".join(our_rules(host))
    assert answer(host, 8080, "fwa") == "fwa"            # from the host itself
    assert answer(client, 8081, "fwb") == "fwb"          # 8081 -> 80 of fwb (DHCP host address)
    # without a forward libvirt's filter still rejects new connections to its guests
    assert ask(client.exec_argv([]), GUESTS["fwa"][1], timeout=CONNECT) is None
    hairpin = probe_results(wait_console(console_b, "vnx-probes-done fwb", timeout=BOOT_WAIT))
    assert hairpin == {f"{UPLINK}:8080": "fwa"}, console_text(console_b)[-1500:]

    # a second guest asking for a host port fwa forwards: refused at its start, naming fwa
    _, refused = start_guest(host, boot, "fwc", ["tcp:8000-8080:8000-8080"])
    assert refused.returncode != 0
    ours_line = [line for line in refused.stderr.splitlines() if "virt-netxml: domain fwc" in line]
    assert ours_line and "host port 'tcp (any address):8000-8080' is busy (forwarded to domain fwa " \
        "already)" in refused.stderr, refused.stderr
    assert host.virsh("domstate", "fwc").stdout.strip() == "shut off"

    # libvirt builds its firewall afresh when the daemon restarts: reconnect puts ours back
    per_guest = len(our_rules(host))
    host.libvirtd.restart()
    assert answer(client, 8080, "fwa") == "fwa"
    assert answer(client, 8081, "fwb") == "fwb"
    assert len(our_rules(host)) == per_guest           # in place once, not twice

    # and when the network starts again (network started): the guests' ports are plugged back
    # by hand, as libvirt 9.0 does not re-plug a running guest's port
    taps = {name: host.virsh("domiflist", name).stdout.split()[-5] for name in ("fwa", "fwb")}
    host.virsh("net-destroy", "fwnat")
    assert answer(client, 8080, None, timeout=2) is None
    host.virsh("net-start", "fwnat")
    for tap in taps.values():
        host.ns.ip("link", "set", tap, "master", "virbr7")
    assert answer(client, 8080, "fwa") == "fwa"
    assert answer(client, 8081, "fwb") == "fwb"

    # release removes exactly the guest's own rules
    host.virsh("destroy", "fwa")
    assert answer(client, 8080, None, timeout=2) is None
    assert answer(client, 8081, "fwb") == "fwb"
    left = our_rules(host)
    assert left and not [line for line in left if " fwa " in line], left
    host.virsh("destroy", "fwb")
    assert answer(client, 8081, None, timeout=2) is None
    assert our_rules(host) == []


def test_forwarded_ports_reach_nat_guests_from_a_client_the_host_and_another_guest(
        hooks: Host, client: Netns, boot: BootFiles) -> None:
    """libvirt's default firewall backend on these machines: iptables (libvirt 9.0 has no other;
    Debian 13's libvirt 11.3 tries iptables before nftables, as its network.conf says)."""
    forwarding_scenario(hooks, client, boot, "iptables")
