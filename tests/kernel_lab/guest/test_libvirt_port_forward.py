"""Port forwards to guests on a NAT network beside libvirt 11.3's nftables backend, proven by traffic.

libvirt 11.3 runs here with ``firewall_backend = "nftables"`` in its network.conf. That backend
puts the TC ``csum`` action on each NAT network's bridge, which the kernel of the machines the
end-to-end tests run on lacks (no ``act_csum``): there they run on the iptables backend
(tests/e2e/test_port_forward.py). The lab's kernel has it. libvirt 9.0 has no nftables backend,
so this module runs on 11.3 only.

The tiny guests run on the host (tests/kernel_lab/wires.py): booting them here, TCG inside TCG,
takes longer than any run may. Here one domain is started paused on the NAT network with two
ports, whose metadata (``virt-netxml interface --forward``) asks the hooks to forward host port
8080 to fa's port 80 (fa's address from ``--ip``) and 8081 to fb's (fb's address from the
network's static DHCP host); tc joins each guest's wire NIC to its TAP both ways, so the guests'
frames enter the NAT network's bridge as if the domain sent them. Each guest routes through the
network's gateway. Claims, all by traffic:
- libvirt really runs its nftables backend: its ``table ip libvirt_network``, the ``csum``
  action on the bridge, and no ``LIBVIRT_`` iptables chain;
- a client namespace on an uplink veth connects to the sandbox's uplink address on 8080 and gets
  fa's name, on 8081 fb's; the sandbox host itself gets fa's name on 8080;
- fb, asking the uplink address on 8080 from the bridge (its ``vnx.probe``), gets fa's name: one
  guest reaches another through the forwarded host port;
- the control: the client, routed to the guests' subnet through the sandbox, cannot connect to
  fa's port 80 directly: libvirt's ``guest_input`` rejects new connections to its guests, so the
  answers above came through the hooks' DNAT and the rules they put above libvirt's reject;
- the network destroyed and started again: libvirt inserts its own rules afresh at the top of
  ``guest_input`` (its reject above the hooks' accepts, which it leaves in place), and the hooks'
  network ``started`` moves theirs back above it: the client gets both guests' names again;
- after the domain is destroyed (hook ``release``) the client's connections fail, no rule with
  the hooks' ``virt-netxml`` comment is left anywhere, and libvirt's own table and reject are
  still there.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

import pytest

from tests.e2e.harness import NS_PREFIX, Netns, Sandbox, build_domain, domain_interfaces, run, vnx
from tests.kernel_lab.guest.kernel import modprobe
from tests.kernel_lab.guest.test_libvirt_bridge_traffic import OUT, TC_MODULES, Wiring
from tests.kernel_lab.wires import (
    FORWARD_GATEWAY,
    FORWARD_PORT,
    FORWARD_SUBNET,
    FORWARD_UPLINK,
    PLAN_FILE,
    PlannedGuest,
    read_plan,
)

pytestmark = [pytest.mark.timeout(900),   # libvirtd probes QEMU under TCG inside TCG: minutes
              # libvirt 9.0 has no nftables backend
              pytest.mark.parametrize("box", ["libvirt-11.3.0"], indirect=True)]

# Read by the ``box`` fixture (conftest.py): appended to the sandbox libvirtd's network.conf.
LIBVIRT_NETWORK_CONF = 'firewall_backend = "nftables"\n'

NETWORK, BRIDGE = "fwnat", "virbr8"
UPLINK_LINK = "vnxfwup0"
CLIENT = "10.232.0.2"
SECOND_PORT = FORWARD_PORT + 1          # forwarded to fb's port 80
OURS = "virt-netxml "                   # every rule of the hooks: "virt-netxml <domain> <mac> <key>"
# What libvirt's nftables backend and the hooks' rules need of the kernel (nothing loads modules
# on demand in the lab): nf_tables with NAT, conntrack matches, fib, reject and masquerade; the
# TC csum action on the bridge (under an htb qdisc, a u32 filter).
NF_MODULES = ("nf_tables", "nft_chain_nat", "nft_nat", "nft_masq", "nft_ct", "nft_fib_ipv4",
              "nft_reject_ipv4", "nft_reject_ipv6", "sch_htb", "cls_u32", "act_csum")
CONNECT = 3.0           # one connection attempt (the lab runs some fifty times slower)
REACH = 60.0            # a forwarded port answers once the path is there


@pytest.fixture(scope="module")
def planned() -> dict[str, list[PlannedGuest]]:
    assert (OUT / PLAN_FILE).is_file(), (
        f"no {PLAN_FILE} in {OUT}: the host guests were not started (tests/kernel_lab/wires.py, "
        "started by tests/kernel_lab/test_lab.py when this module is selected)")
    for name in (*TC_MODULES, *NF_MODULES):
        modprobe(name)
    return read_plan(OUT, __name__.rsplit(".", 1)[-1])


def ask(ns_argv: list[str], address: str, port: int, timeout: float = CONNECT) -> str | None:
    """What ``address:port`` answers to an HTTP GET from a namespace, or None when nothing does."""
    script = ("import socket,sys\n"
              "try:\n"
              f" s=socket.create_connection(({address!r},{port}),timeout={timeout})\n"
              " s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); data=b''\n"
              " while (b:=s.recv(4096)): data+=b\n"
              " print(data.split(b'\\r\\n\\r\\n',1)[1].decode().strip())\n"
              "except (OSError, IndexError):\n"
              " sys.exit(1)\n")
    done = run([*ns_argv, sys.executable, "-I", "-S", "-c", script], check=False, timeout=timeout + 30)
    return done.stdout.strip() if done.returncode == 0 else None


def answer(ns_argv: list[str], port: int, expected: str | None, timeout: float = REACH) -> str | None:
    """What the uplink address answers on ``port``, asked again until it is ``expected`` or
    ``timeout`` passes."""
    end = time.monotonic() + timeout
    while True:
        got = ask(ns_argv, FORWARD_UPLINK, port)
        if got == expected or time.monotonic() > end:
            return got
        time.sleep(0.5)


def in_daemon(box: Sandbox, *argv: str) -> str:
    """A listing by the release's own tools, in the daemon's namespaces."""
    return run(box.libvirtd.in_daemon(argv)).stdout


def our_rules(box: Sandbox) -> list[str]:
    return [line.strip() for line in in_daemon(box, "nft", "list", "ruleset").splitlines() if OURS in line]


def guest_input(box: Sandbox) -> list[str]:
    """The rules of libvirt's ``guest_input`` chain, in order."""
    text = in_daemon(box, "nft", "list", "chain", "ip", "libvirt_network", "guest_input")
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.strip().startswith(("table", "chain", "type", "}"))]


@pytest.fixture
def client(box: Sandbox) -> Iterator[Netns]:
    """The sandbox's uplink (a veth with FORWARD_UPLINK) and a client namespace on its far end."""
    far = f"{UPLINK_LINK}p"
    box.ns.add_veth(UPLINK_LINK, far)
    ns = Netns.create(NS_PREFIX + "cl-")
    try:
        box.ns.ip("link", "set", far, "netns", ns.name)
        box.ns.ip("addr", "add", f"{FORWARD_UPLINK}/24", "dev", UPLINK_LINK)
        ns.ip("addr", "add", f"{CLIENT}/24", "dev", far)
        ns.ip("link", "set", far, "up")
        yield ns
    finally:
        ns.delete()
        box.ns.ip("link", "del", UPLINK_LINK, check=False)


@pytest.fixture
def wiring(box: Sandbox, planned: dict[str, list[PlannedGuest]]) -> Iterator[Wiring]:
    wiring = Wiring(box, planned[box.release.name])
    wiring.log = OUT / f"port-forward-{box.release.name}.log"
    wiring.mark("sandbox up")
    try:
        wiring.take_wires()
        yield wiring
    finally:
        box.clear_libvirt()
        wiring.give_back()


def test_forwarded_ports_reach_nat_guests_beside_libvirts_nftables_backend(
        box: Sandbox, wiring: Wiring, client: Netns) -> None:
    w, g, virsh = wiring, wiring.guests, box.libvirtd.virsh
    fa, fb = g["fa"], g["fb"]
    fb_address = fb.address.split("/")[0]
    vnx("network", NETWORK, "--mode", "nat", "--bridge", BRIDGE, "--ip", f"{FORWARD_GATEWAY}/24",
        "--dhcp-range", f"{FORWARD_SUBNET}.100,{FORWARD_SUBNET}.200",
        "--dhcp-host", f"{fb.mac},{fb_address}",            # fb's address comes from here
        "--connect", box.libvirtd.uri, "--define", "--start")
    w.mark("NAT network started")
    # libvirt used its nftables backend: its own table, the csum action on the bridge, no
    # iptables chain of its
    assert "table ip libvirt_network" in in_daemon(box, "nft", "list", "tables")
    assert "csum" in box.ns.run("tc", "filter", "show", "dev", BRIDGE).stdout
    assert "LIBVIRT_" not in in_daemon(box, "nft", "list", "ruleset")
    assert "LIBVIRT_" not in in_daemon(box, "iptables-save")
    assert any("reject" in rule for rule in guest_input(box)), guest_input(box)

    # one paused domain with a port for each guest, each port's forwards in the metadata
    name = "fwd-11"
    path = box.tmp / f"{name}.xml"
    port = ["--type", "network", "--source", NETWORK, "--model", "virtio"]
    build_domain(path, name, [*port, "--mac", fa.mac, "--forward", f"tcp:{FORWARD_PORT}:80",
                              "--ip", fa.address.split("/")[0]],
                 [*port, "--mac", fb.mac, "--forward", f"tcp:{SECOND_PORT}:80"])
    virsh("define", str(path))
    started = virsh("start", "--paused", name, check=False)
    assert started.returncode == 0, started.stderr + "\n" + box.libvirtd.tail()
    taps = {nic["mac"]: nic["target"] for nic in domain_interfaces(virsh("dumpxml", name).stdout)}
    w.mark("domain started")
    rules = guest_input(box)
    ours = [n for n, rule in enumerate(rules) if OURS in rule]
    rejects = [n for n, rule in enumerate(rules) if rule.endswith("reject") or " reject " in rule]
    # the hooks' accepts sit above libvirt's reject, which is still there
    assert len(ours) == 2 and rejects and max(ours) < min(rejects), rules

    w.wait_ready()
    w.assert_silent(["fb"], 0)          # no stale answer: fb has heard from nobody yet
    w.join("fa", taps[fa.mac])
    w.join("fb", taps[fb.mac])
    w.mark("guests joined")

    from_client, from_host = client.exec_argv([]), box.ns.exec_argv([])
    shown = "\n".join(our_rules(box))
    assert answer(from_client, FORWARD_PORT, fa.name) == fa.name, w.consoles() + "\n" + shown
    w.mark("client: answered")
    assert answer(from_host, FORWARD_PORT, fa.name) == fa.name      # from the host itself
    assert answer(from_client, SECOND_PORT, fb.name) == fb.name     # fb's address from DHCP host
    # one guest reaches another through the forwarded host port (masqueraded on the bridge)
    w.wait_answer("fb", "fa", address=f"{FORWARD_UPLINK}:{FORWARD_PORT}")
    w.mark("host and guest: answered")

    # the control: routed to the guests' subnet, the client cannot connect to fa directly, as
    # libvirt's guest_input rejects new connections that no DNAT of the hooks made
    client.ip("route", "add", f"{FORWARD_SUBNET}.0/24", "via", FORWARD_UPLINK)
    assert ask(from_client, fa.address.split("/")[0], 80) is None
    assert answer(from_client, FORWARD_PORT, fa.name, timeout=0) == fa.name   # while this works

    # the network started again: libvirt inserts its rules afresh at the top of guest_input, its
    # reject above the hooks' accepts; the hooks (network ``started``) put theirs back above it.
    # The paused domain's TAPs lost their bridge with the network: plugged back by hand.
    virsh("net-destroy", NETWORK)
    assert answer(from_client, FORWARD_PORT, None, timeout=10) is None
    virsh("net-start", NETWORK)
    for tap in taps.values():
        box.ns.ip("link", "set", tap, "master", BRIDGE)
    assert answer(from_client, FORWARD_PORT, fa.name) == fa.name, "\n".join(guest_input(box))
    assert answer(from_client, SECOND_PORT, fb.name) == fb.name
    rules = guest_input(box)
    ours = [n for n, rule in enumerate(rules) if OURS in rule]
    rejects = [n for n, rule in enumerate(rules) if rule.endswith("reject") or " reject " in rule]
    assert len(ours) == 2 and rejects and max(ours) < min(rejects), rules
    w.mark("network restarted: answered")

    # release (the domain destroyed) removes every rule of the hooks, and nothing of libvirt's
    virsh("destroy", name)
    assert answer(from_client, FORWARD_PORT, None, timeout=10) is None
    assert answer(from_client, SECOND_PORT, None, timeout=10) is None
    assert our_rules(box) == []
    rules = guest_input(box)
    assert any("reject" in rule for rule in rules) and not [r for r in rules if OURS in r], rules
    w.mark("released")

