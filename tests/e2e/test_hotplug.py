"""NICs hot-plugged into running guests: ``virt-netxml attach`` and ``hooks watch``.

libvirt runs no hook for a hot-plug. With the watch running (started here against the sandbox,
stopped by PID), a NIC attached with ``--bridge-vlan 10`` gets tag 10 on its OVS port without a
reconnect, proven by traffic between tiny guests (tests/guests/tiny.py); ``detach`` removes the
NIC, its metadata entry and the watch's record. A NIC attached with a port forward on a NAT
network answers a client on the host's uplink at once, and no more once detached. The watch
reconnects after a libvirtd restart and catches up on a NIC attached while it was away; killed
with SIGKILL it leaves the guests as they were.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Host, start_guest
from tests.e2e.harness import Netns, build_domain, domain_interfaces, vnx
from tests.e2e.watch import WatchProcess
from tests.guests.tiny import (
    BootFiles,
    GuestSpec,
    console_text,
    http_name,
    probe_results,
    wait_console,
)
from xmltools.metadata import find_meta
from xmltools.xmlparse import parse_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@pytest.fixture
def watch(hooks: Host) -> Iterator[WatchProcess]:
    proc = WatchProcess(hooks.box, hooks.tmp)
    proc.start()
    try:
        proc.wait_for("connected to ")
        yield proc
    finally:
        proc.stop()


def ovs_network(host: Host, name: str, bridge: str) -> None:
    host.ovs_bridge(bridge)
    vnx("network", name, "--mode", "bridge", "--bridge", bridge, "--virtualport", "openvswitch",
        "--connect", host.libvirtd.uri, "--define", "--start")


def target_of(host: Host, domain: str, mac: str) -> str | None:
    found = [i["target"] for i in domain_interfaces(host.virsh("dumpxml", domain).stdout) if i["mac"] == mac]
    return found[0] if found else None


def wait_until(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


def record(host: Host, domain: str) -> dict:
    path = host.box.hooks_state / "domains" / f"{domain}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def meta_macs(xml: str) -> set[str]:
    meta = find_meta(parse_bytes(xml.encode()).getroot())
    return {i.mac for i in meta.interfaces} if meta is not None else set()


def test_a_hot_plugged_nic_gets_its_vlan_and_reaches_its_vlan_then_detach_removes_it(
        hooks: Host, watch: WatchProcess, boot: BootFiles) -> None:
    host = hooks
    ovs_network(host, "hpnet", "ovs-hp0")
    peer_mac, hot_mac = "52:54:00:81:00:01", "52:54:00:81:00:02"
    peer = start_guest(host, boot, GuestSpec("hpeer", nics=[(peer_mac, "10.81.0.1/24")]),
                       ["--type", "network", "--source", "hpnet", "--model", "virtio", "--mac", peer_mac,
                        "--bridge-vlan", "10"])
    # No NIC at boot: the one attached later is configured when it appears, then asks the peer.
    hot = start_guest(host, boot, GuestSpec("hpg", later=[(hot_mac, "10.81.0.2/24")], probes=["10.81.0.1"],
                                            probe_wait=300))
    wait_console(peer, "vnx-ready hpeer", timeout=240)
    wait_console(hot, "vnx-ready hpg", timeout=240)

    done = vnx("attach", "hpg", "--type", "network", "--source", "hpnet", "--model", "virtio",
               "--mac", hot_mac, "--bridge-vlan", "10", "--connect", host.libvirtd.uri, "--live")
    assert done.stdout == f"attached interface {hot_mac} to domain hpg (live)\n"
    dev = target_of(host, "hpg", hot_mac)
    assert dev
    # no reconnect: the watch set the tag
    wait_until(lambda: host.ovs.port_column(dev, "tag") == "10", 10, f"tag 10 on {dev}")
    assert host.ovs.port_column(dev, "vlan_mode") == "access"
    watch.wait_for(f"domain hpg: interface {hot_mac} ({dev}): 1 changed")
    assert record(host, "hpg")["hotplug"] == {hot_mac: {"dev": dev, "alias": "net0"}}
    assert not [c for c in host.box.calls() if c.argv[:2] == ["hpg", "reconnect"]]
    # by traffic: the hot-plugged NIC reaches the guest in access VLAN 10
    answers = probe_results(wait_console(hot, "vnx-probes-done hpg", timeout=300))
    assert answers == {"10.81.0.1": "hpeer"}, console_text(hot)[-2000:] + host.ovs.vsctl("show").stdout
    assert f"vnx-nic-up {hot_mac}" in console_text(hot)

    done = vnx("detach", "hpg", "--mac", hot_mac, "--connect", host.libvirtd.uri, "--live")
    assert done.stdout == f"detached interface {hot_mac} from domain hpg (live)\n"
    # the guest gives the device back (ACPI eject), libvirt announces it, the watch releases it
    wait_until(lambda: target_of(host, "hpg", hot_mac) is None, 60, "the NIC to leave the guest")
    watch.wait_for(f"domain hpg: interface {hot_mac} (net0) unplugged: its record released", timeout=30)
    assert dev not in host.ovs.vsctl("list-ports", "ovs-hp0").stdout.split()
    assert hot_mac not in meta_macs(host.virsh("dumpxml", "hpg").stdout)
    assert "hotplug" not in record(host, "hpg")


def test_the_watch_reconnects_after_a_libvirtd_restart_catches_up_and_a_kill_leaves_guests_alone(
        hooks: Host, watch: WatchProcess) -> None:
    host = hooks
    ovs_network(host, "hpnet2", "ovs-hp1")
    uri = host.libvirtd.uri
    cold = "52:54:00:82:00:01"
    path = build_domain(host.tmp / "hpr.xml", "hpr", [
        "--type", "network", "--source", "hpnet2", "--model", "virtio", "--mac", cold, "--bridge-vlan", "5"])
    host.virsh("define", str(path))
    host.virsh("start", "hpr")
    watch.wait_for("connected to ", count=1)
    qemu_pid = (host.libvirtd.root / "run/libvirt/qemu/hpr.pid").read_text()

    # Frozen, the watch misses the restart's close and a NIC attached meanwhile.
    watch.signal(signal.SIGSTOP)
    host.libvirtd.restart()
    first = "52:54:00:82:00:02"
    vnx("attach", "hpr", "--type", "network", "--source", "hpnet2", "--model", "virtio", "--mac", first,
        "--bridge-vlan", "20", "--connect", uri, "--live")
    first_dev = target_of(host, "hpr", first)
    assert first_dev and host.ovs.port_column(first_dev, "tag") == "[]"
    watch.signal(signal.SIGCONT)
    watch.wait_for("closed; reconnecting", timeout=30)
    watch.wait_for("connected to ", count=2, timeout=30)
    wait_until(lambda: host.ovs.port_column(first_dev, "tag") == "20", 10, f"tag 20 on {first_dev}")
    watch.wait_for(f"domain hpr: interface {first} ({first_dev}): 1 changed", timeout=10)
    cold_dev = target_of(host, "hpr", cold)
    assert host.ovs.port_column(cold_dev, "tag") == "5"
    assert set(record(host, "hpr")["hotplug"]) == {cold, first}   # the cold one noted, unchanged

    # Reconnected, it follows events again.
    second = "52:54:00:82:00:03"
    vnx("attach", "hpr", "--type", "network", "--source", "hpnet2", "--model", "virtio", "--mac", second,
        "--bridge-vlan", "30", "--connect", uri, "--live")
    second_dev = target_of(host, "hpr", second)
    wait_until(lambda: host.ovs.port_column(second_dev, "tag") == "30", 10, f"tag 30 on {second_dev}")

    # SIGKILL: nothing of the guest changes, and a NIC attached while it is gone is caught up
    # when it is back.
    ports = {dev: host.ovs.port_column(dev, "tag") for dev in (cold_dev, first_dev, second_dev)}
    watch.kill()
    time.sleep(0.5)
    assert host.virsh("domstate", "hpr").stdout.strip() == "running"
    assert (host.libvirtd.root / "run/libvirt/qemu/hpr.pid").read_text() == qemu_pid
    assert {dev: host.ovs.port_column(dev, "tag") for dev in ports} == ports == {
        cold_dev: "5", first_dev: "20", second_dev: "30"}
    third = "52:54:00:82:00:04"
    vnx("attach", "hpr", "--type", "network", "--source", "hpnet2", "--model", "virtio", "--mac", third,
        "--bridge-vlan", "40", "--connect", uri, "--live")
    third_dev = target_of(host, "hpr", third)
    assert host.ovs.port_column(third_dev, "tag") == "[]"
    again = WatchProcess(host.box, host.tmp)
    again.start()
    try:
        again.wait_for(f"domain hpr: interface {third} ({third_dev}): 1 changed", timeout=30)
        assert host.ovs.port_column(third_dev, "tag") == "40"
    finally:
        assert again.stop() == 0
    # destroy: the release hook drops the watch's record with the rest (the host fixture checks
    # that no record is left)


UPLINK, CLIENT, NAT = "10.232.0.1", "10.232.0.2", "192.168.158"


@pytest.fixture
def client(hooks: Host) -> Iterator[Netns]:
    """An uplink of the sandbox host (a veth) and a client namespace on its far end."""
    with hooks.uplink_client("vnxhpup0", f"{UPLINK}/24", f"{CLIENT}/24") as ns:
        yield ns


def answers(client: Netns, port: int, expected: str | None, timeout: float = 60.0) -> str | None:
    """What UPLINK:port answers the client, waiting up to ``timeout`` for ``expected``."""
    end = time.monotonic() + timeout
    while True:
        got = http_name(client.exec_argv([]), UPLINK, timeout=2.0, port=port)
        if got == expected or time.monotonic() > end:
            return got
        time.sleep(0.5)


def test_a_hot_plugged_nic_on_a_nat_network_gets_its_port_forward_and_detach_removes_it(
        hooks: Host, watch: WatchProcess, boot: BootFiles, client: Netns) -> None:
    host = hooks
    vnx("network", "hpnat", "--mode", "nat", "--bridge", "virbr8", "--ip", f"{NAT}.1/24",
        "--dhcp-range", f"{NAT}.100,{NAT}.200", "--connect", host.libvirtd.uri, "--define", "--start")
    mac, address = "52:54:00:83:00:01", f"{NAT}.11"
    console = start_guest(host, boot, GuestSpec("hpfw", later=[(mac, f"{address}/24")], gateway=f"{NAT}.1"))
    wait_console(console, "vnx-ready hpfw", timeout=240)
    assert answers(client, 8090, None, timeout=0) is None   # nothing forwards 8090 yet

    vnx("attach", "hpfw", "--type", "network", "--source", "hpnat", "--model", "virtio", "--mac", mac,
        "--forward", "tcp:8090:80", "--ip", address, "--connect", host.libvirtd.uri, "--live")
    dev = target_of(host, "hpfw", mac)
    watch.wait_for(f"domain hpfw: interface {mac} ({dev}): 1 changed")
    assert not [c for c in host.box.calls() if c.argv[:2] == ["hpfw", "reconnect"]]
    wait_console(console, f"vnx-nic-up {mac}", timeout=60)
    assert answers(client, 8090, "hpfw") == "hpfw", console_text(console)[-1500:] + watch.text()[-1500:]
    assert list(record(host, "hpfw")["forwards"].values())[0]["mac"] == mac

    vnx("detach", "hpfw", "--mac", mac, "--connect", host.libvirtd.uri, "--live")
    wait_until(lambda: target_of(host, "hpfw", mac) is None, 60, "the NIC to leave the guest")
    watch.wait_for(f"domain hpfw: interface {mac} (net0) unplugged: its record released; 1 changed",
                   timeout=30)
    assert answers(client, 8090, None, timeout=0) is None
    assert record(host, "hpfw") == {}
