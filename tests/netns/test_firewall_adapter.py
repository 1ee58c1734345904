"""The firewall adapter against the real nft and iptables, proven by traffic.

Four throw-away namespaces stand in for a NAT network: the "host" (a bridge ``vnxbr9`` with the
network's address, an "uplink" veth, forwarding on, and libvirt's own filter chain with
libvirt's rules: iptables ``LIBVIRT_FWI``, or nftables ``guest_input`` of ``table ip
libvirt_network``), a "guest" and a second guest on the bridge, and a "client" on the uplink's
peer. A small TCP server in the guest answers with its name. Every address is private and
every device lives in the namespaces, which are deleted afterwards.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

import pytest

from hooks.actions.forward import ForwardRules
from hooks.adapters.firewall import FirewallAdapter
from tests.netns.conftest import require_root_and
from tests.netns.harness import entered, ip, netns

SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(8)
print("ready", flush=True)
while True:
    c, _ = s.accept(); c.sendall(sys.argv[2].encode()); c.close()
"""

CLIENT = """
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
    print(c.recv(100).decode() or "empty")
except OSError as exc:
    print("refused" if isinstance(exc, ConnectionRefusedError) else f"failed: {exc}")
"""

GUEST, OTHER, BRIDGE_IP = "192.168.150.7", "192.168.150.8", "192.168.150.1"
UPLINK, CLIENT_IP = "10.254.0.1", "10.254.0.2"


def sh(ns: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=20,
                          check=check)


def connect(ns: str, address: str = UPLINK, port: int = 2222) -> str:
    return sh(ns, sys.executable, "-c", CLIENT, address, str(port)).stdout.strip()


@contextlib.contextmanager
def nat_lab(backend: str) -> Iterator[dict[str, str]]:
    with netns("vnxfwh") as host, netns("vnxfwg") as guest, netns("vnxfwo") as other, \
            netns("vnxfwc") as client:
        ip("link", "add", "vnxbr9", "type", "bridge", ns=host)
        ip("addr", "add", f"{BRIDGE_IP}/24", "dev", "vnxbr9", ns=host)
        ip("link", "set", "vnxbr9", "up", ns=host)
        for n, (ns, addr) in enumerate(((guest, GUEST), (other, OTHER))):
            ip("link", "add", f"vnet{n}", "type", "veth", "peer", "name", "gst0", "netns", ns, ns=host)
            ip("link", "set", f"vnet{n}", "master", "vnxbr9", "up", ns=host)
            ip("addr", "add", f"{addr}/24", "dev", "gst0", ns=ns)
            ip("link", "set", "gst0", "up", ns=ns)
            ip("route", "add", "default", "via", BRIDGE_IP, ns=ns)
        ip("link", "add", "up0", "type", "veth", "peer", "name", "gst0", "netns", client, ns=host)
        ip("addr", "add", f"{UPLINK}/24", "dev", "up0", ns=host)
        ip("link", "set", "up0", "up", ns=host)
        ip("addr", "add", f"{CLIENT_IP}/24", "dev", "gst0", ns=client)
        ip("link", "set", "gst0", "up", ns=client)
        sh(host, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        if backend == "iptables":
            for rule in (["-N", "LIBVIRT_FWX"], ["-N", "LIBVIRT_FWI"], ["-A", "FORWARD", "-j", "LIBVIRT_FWX"],
                         ["-A", "FORWARD", "-j", "LIBVIRT_FWI"],
                         ["-A", "LIBVIRT_FWX", "-i", "vnxbr9", "-o", "vnxbr9", "-j", "ACCEPT"],
                         ["-A", "LIBVIRT_FWI", "-d", "192.168.150.0/24", "-o", "vnxbr9", "-m", "conntrack",
                          "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
                         ["-A", "LIBVIRT_FWI", "-o", "vnxbr9", "-j", "REJECT"]):
                sh(host, "iptables", "-w", *rule)
        else:   # the shape of libvirt's nftables backend (network_nftables.c)
            script = ("table ip libvirt_network {\n"
                      " chain forward { type filter hook forward priority filter; policy accept;\n"
                      "  counter jump guest_cross; counter jump guest_input; }\n"
                      " chain guest_cross { iifname \"vnxbr9\" oifname \"vnxbr9\" counter accept; }\n"
                      " chain guest_input { oifname \"vnxbr9\" ip daddr 192.168.150.0/24 ct state related,"
                      "established counter accept; oifname \"vnxbr9\" counter reject; }\n}\n")
            subprocess.run(["ip", "netns", "exec", host, "nft", "-f", "-"], input=script, text=True,
                           check=True)
        servers = []
        try:
            for ns, name in ((guest, "guest-one"), (other, "guest-two")):
                proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, "22", name],
                                        stdout=subprocess.PIPE, text=True)
                servers.append(proc)
                assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            yield {"host": host, "guest": guest, "other": other, "client": client}
        finally:
            for proc in servers:
                proc.kill()
                proc.wait(timeout=10)


RULES = ForwardRules("web1", "52:54:00:00:00:07", "natnet", "vnxbr9", GUEST,
                     (("tcp", 2222, 2222, 22, 22, None, None),))


def ruleset(ns: str) -> str:
    return sh(ns, "nft", "list", "ruleset").stdout + sh(ns, "iptables-save", check=False).stdout


def libvirts(ns: str, backend: str) -> list[str]:
    """libvirt's own rules (without counters), as its backend lists them."""
    if backend == "iptables":
        text = sh(ns, "iptables", "-w", "-S").stdout
    else:
        text = sh(ns, "nft", "-s", "list", "table", "ip", "libvirt_network").stdout
    return [line.strip() for line in text.splitlines() if "virt-netxml" not in line]


@pytest.mark.parametrize("backend", ["iptables", "nftables"])
def test_forwarded_port_reaches_the_guest_from_outside_the_host_and_another_guest(backend: str) -> None:
    require_root_and("ip", "nft", "iptables")
    with nat_lab(backend) as lab:
        host = lab["host"]
        assert connect(lab["client"]) != "guest-one"
        assert connect(lab["client"], GUEST, 22) != "guest-one"   # libvirt's filter, as on a NAT network
        with entered(host):
            fw = FirewallAdapter()
            assert fw.backend() == backend
            assert fw.in_place(RULES) == (False, False)
            fw.apply(RULES, True, True)
            assert fw.in_place(RULES) == (True, True)
        assert connect(lab["client"]) == "guest-one"
        assert connect(host) == "guest-one"              # the host itself (output DNAT)
        assert connect(lab["other"]) == "guest-one"      # another guest, through the host (hairpin)
        assert connect(lab["client"], GUEST, 22) != "guest-one"   # only what the DNAT made is let in
        assert RULES.comment in ruleset(host)
        if backend == "iptables":
            # libvirt rebuilding its rules inserts its reject above ours: found, and moved back up
            sh(host, "iptables", "-w", "-I", "LIBVIRT_FWI", "1", "-o", "vnxbr9", "-j", "REJECT")
            assert connect(lab["client"]) != "guest-one"
        else:
            # libvirt rebuilding its table drops our rule with it
            sh(host, "nft", "flush", "chain", "ip", "libvirt_network", "guest_input")
            sh(host, "nft", "add", "rule", "ip", "libvirt_network", "guest_input", "oifname", "vnxbr9",
               "reject")
            assert connect(lab["client"]) != "guest-one"
        with entered(host):
            fw = FirewallAdapter()
            assert fw.in_place(RULES) == (True, False)
            fw.apply(RULES, False, True)
            assert fw.in_place(RULES) == (True, True)
        assert connect(lab["client"]) == "guest-one"
        before_libvirt = libvirts(host, backend)
        with entered(host):
            FirewallAdapter().remove(RULES, True, True)
            FirewallAdapter().remove(RULES, True, True)   # nothing left to remove: no error
        assert connect(lab["client"]) != "guest-one"
        assert connect(host) != "guest-one"
        left = ruleset(host)
        assert "virt-netxml" not in left
        # libvirt's own rules are all still there
        assert libvirts(host, backend) == before_libvirt


def test_a_port_range_maps_one_to_one_and_a_source_restriction_holds() -> None:
    require_root_and("ip", "nft", "iptables")
    rules = ForwardRules("web1", "52:54:00:00:00:07", "natnet", "vnxbr9", GUEST,
                         (("tcp", 3021, 3022, 21, 22, None, None),
                          ("tcp", 4022, 4022, 22, 22, None, "10.254.0.99/32")))
    with nat_lab("iptables") as lab:
        with entered(lab["host"]):
            FirewallAdapter().apply(rules, True, True)
        assert connect(lab["client"], UPLINK, 3022) == "guest-one"    # 3022 -> 22
        assert connect(lab["client"], UPLINK, 3021) != "guest-one"    # 3021 -> 21: nothing listens
        assert connect(lab["client"], UPLINK, 4022) != "guest-one"    # not from 10.254.0.99
        with entered(lab["host"]):
            FirewallAdapter().remove(rules, True, True)
        assert "virt-netxml" not in ruleset(lab["host"])


def test_libvirts_reject_inserted_above_ours_is_found_and_ours_moved_back_up_nftables() -> None:
    """libvirt's nftables backend rebuilding a network's rules (network restart, daemon start)
    deletes its own rules by handle and inserts them afresh at the top of ``guest_input``: its
    reject lands above the hooks' accepts, which it leaves in place."""
    require_root_and("ip", "nft", "iptables")
    with nat_lab("nftables") as lab:
        host = lab["host"]
        with entered(host):
            FirewallAdapter().apply(RULES, True, True)
        assert connect(lab["client"]) == "guest-one"
        listing = sh(host, "nft", "-a", "list", "chain", "ip", "libvirt_network", "guest_input").stdout
        for line in listing.splitlines():
            text = line.strip()
            if "# handle " in text and "virt-netxml" not in text and not text.startswith(("table", "chain")):
                sh(host, "nft", "delete", "rule", "ip", "libvirt_network", "guest_input", "handle",
                   line.rsplit("# handle ", 1)[1].split()[0])
        for rule in (["oif", "vnxbr9", "counter", "reject"],
                     ["oif", "vnxbr9", "ip", "daddr", "192.168.150.0/24", "ct", "state",
                      "related,established", "counter", "accept"]):
            sh(host, "nft", "insert", "rule", "ip", "libvirt_network", "guest_input", *rule)
        assert connect(lab["client"]) != "guest-one"
        with entered(host):
            fw = FirewallAdapter()
            assert fw.in_place(RULES) == (True, False)
            fw.apply(RULES, False, True)
            assert fw.in_place(RULES) == (True, True)
        assert connect(lab["client"]) == "guest-one"
        with entered(host):
            FirewallAdapter().remove(RULES, True, True)
        assert "virt-netxml" not in ruleset(host)
