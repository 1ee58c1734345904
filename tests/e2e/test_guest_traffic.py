"""VLANs proven by traffic between real guests, not only by reading OVSDB back.

Tiny guests (tests/guests/tiny.py: Debian's kernel and a busybox initramfs, booted by libvirt
under TCG) answer HTTP with their name and ask their peers once they are up. The VLANs are the
project's metadata wishes, applied by the installed hooks when libvirt creates the ports.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Host, start_guest
from tests.e2e.harness import vnx
from tests.guests.tiny import (
    BootFiles,
    GuestSpec,
    console_text,
    http_name,
    probe_results,
    wait_console,
)
from xmltools.metadata import MetaShim, meta_or_create
from xmltools.xmlparse import parse_bytes, to_string

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]


def test_access_vlans_carry_traffic_between_guests_on_open_vswitch(hooks: Host, boot: BootFiles) -> None:
    """Two guests in access VLAN 10 reach each other; a third, same subnet, in VLAN 20 does not."""
    host = hooks
    host.ovs_bridge("ovs-br0")
    vnx("network", "ovsnet", "--mode", "bridge", "--bridge", "ovs-br0", "--virtualport", "openvswitch",
        "--connect", host.libvirtd.uri, "--define", "--start")
    guests = {
        "ga": ("52:54:00:10:00:0a", "10.77.0.1/24", "10"),
        "gb": ("52:54:00:10:00:0b", "10.77.0.2/24", "10"),
        "gc": ("52:54:00:10:00:0c", "10.77.0.3/24", "20"),
    }
    consoles = {}
    for name, (mac, addr, vid) in guests.items():
        probes = [a.split("/")[0] for n, (_, a, _) in guests.items() if n != name]
        spec = GuestSpec(name, nics=[(mac, addr)], probes=probes, probe_wait=45)
        consoles[name] = start_guest(host, boot, spec, ["--type", "network", "--source", "ovsnet",
                                                        "--model", "virtio", "--mac", mac,
                                                        "--bridge-vlan", vid])
    answers = {name: probe_results(wait_console(console, f"vnx-probes-done {name}", timeout=240))
               for name, console in consoles.items()}
    shown = "\n".join(f"--- {n}\n" + console_text(c)[-1500:] for n, c in consoles.items())
    shown += "\n" + host.ovs.vsctl("show").stdout
    assert answers["ga"] == {"10.77.0.2": "gb", "10.77.0.3": "none"}, shown
    assert answers["gb"] == {"10.77.0.1": "ga", "10.77.0.3": "none"}
    assert answers["gc"] == {"10.77.0.1": "none", "10.77.0.2": "none"}


def test_a_trunk_guest_reaches_each_vlan_of_its_trunk_and_the_native_one_untagged(
        hooks: Host, boot: BootFiles) -> None:
    """Trunk 10,20 with native VLAN 30 (untagged): sub-interfaces .10 and .20 reach the access
    guests of VLANs 10 and 20, the untagged NIC reaches VLAN 30; VLAN 40 is not in the trunk."""
    host = hooks
    host.ovs_bridge("ovs-br1")
    vnx("network", "trunknet", "--mode", "bridge", "--bridge", "ovs-br1", "--virtualport", "openvswitch",
        "--connect", host.libvirtd.uri, "--define", "--start")
    trunk_mac = "52:54:00:20:00:99"
    access = {"a10": ("52:54:00:20:00:10", "10", "10.78.10.1/24"),
              "a20": ("52:54:00:20:00:20", "20", "10.78.20.1/24"),
              "a30": ("52:54:00:20:00:30", "30", "10.78.30.1/24"),
              "a40": ("52:54:00:20:00:40", "40", "10.78.30.2/24")}   # VLAN 40, native's subnet
    consoles = {}
    for name, (mac, vid, addr) in access.items():
        consoles[name] = start_guest(host, boot, GuestSpec(name, nics=[(mac, addr)]),
                                     ["--type", "network", "--source", "trunknet", "--model", "virtio",
                                      "--mac", mac, "--bridge-vlan", vid])
    trunk = GuestSpec("tr", nics=[(trunk_mac, "10.78.30.9/24")],
                      vlans=[(trunk_mac, 10, "10.78.10.9/24"), (trunk_mac, 20, "10.78.20.9/24")],
                      probes=["10.78.10.1", "10.78.20.1", "10.78.30.1", "10.78.30.2"], probe_wait=45)
    consoles["tr"] = start_guest(host, boot, trunk, ["--type", "network", "--source", "trunknet",
                                                     "--model", "virtio", "--mac", trunk_mac,
                                                     "--bridge-vlan", "10,20,30", "--vlan-native", "30"])
    answers = probe_results(wait_console(consoles["tr"], "vnx-probes-done tr", timeout=240))
    shown = "\n".join(f"--- {n}\n" + console_text(c)[-800:] for n, c in consoles.items())
    assert answers == {"10.78.10.1": "a10", "10.78.20.1": "a20", "10.78.30.1": "a30",
                       "10.78.30.2": "none"}, shown + host.ovs.vsctl("show").stdout


def test_a_tap_made_by_the_hook_carries_traffic(hooks: Host, boot: BootFiles) -> None:
    """A guest on a TAP the hook created and bridged reaches a guest on the same Linux bridge."""
    host = hooks
    host.ns.ip("link", "add", "brtraffic", "type", "bridge")
    host.ns.ip("link", "set", "brtraffic", "up")
    host.links.append("brtraffic")
    tap_mac, plain_mac = "52:54:00:30:00:01", "52:54:00:30:00:02"
    plain = start_guest(host, boot, GuestSpec("plain", nics=[(plain_mac, "10.79.0.2/24")]),
                        ["--type", "bridge", "--source", "brtraffic", "--model", "virtio",
                         "--mac", plain_mac])
    tapped = start_guest(host, boot, GuestSpec("tapped", nics=[(tap_mac, "10.79.0.1/24")],
                                               probes=["10.79.0.2"], probe_wait=45),
                         ["--type", "ethernet", "--target", "vnxtraffic0", "--unmanaged", "--model", "virtio",
                          "--mac", tap_mac, "--tap-bridge", "brtraffic"])
    link = host.ns.link("vnxtraffic0")
    assert link is not None and link.get("master") == "brtraffic"
    answers = probe_results(wait_console(tapped, "vnx-probes-done tapped", timeout=240))
    assert answers == {"10.79.0.2": "plain"}, console_text(tapped) + console_text(plain)


def macvtap_pool(host: Host, name: str, uplink: str, shim: str | None) -> None:
    """A bridge-mode macvtap pool on ``uplink``, with the hooks' host shim when ``shim`` is an
    ADDR/PREFIX (the CLI has no option for the shim: the project's metadata model adds it)."""
    xml = vnx("network", name, "--mode", "bridge", "--uplink", uplink).stdout
    if shim is not None:
        root = parse_bytes(xml.encode()).getroot()
        meta_or_create(root).shim = MetaShim(name="mvshim1", address=shim)
        xml = to_string(root)
    path = host.tmp / f"{name}.xml"
    path.write_text(xml)
    host.virsh("net-define", str(path))
    host.virsh("net-start", name)


def test_the_macvtap_host_shim_lets_the_host_reach_a_macvtap_guest(hooks: Host, boot: BootFiles) -> None:
    """A macvtap guest does not answer the host (frames from its uplink's own stack never reach
    it); with the hooks' shim on the same uplink the host reaches it, by traffic."""
    host = hooks
    uplink = host.veth("mvtraf0")
    mac = "52:54:00:40:00:01"
    spec = GuestSpec("mvguest", nics=[(mac, "192.168.51.10/24")])
    nic = ["--type", "network", "--source", "mvpool", "--model", "virtio", "--mac", mac]
    ask = host.ns.exec_argv([])

    macvtap_pool(host, "mvpool", uplink, shim=None)
    console = start_guest(host, boot, spec, nic)
    wait_console(console, "vnx-ready mvguest", timeout=240)
    host.ns.ip("addr", "add", "192.168.51.2/24", "dev", uplink)
    assert http_name(ask, "192.168.51.10", timeout=3) is None   # the limitation
    host.ns.ip("addr", "del", "192.168.51.2/24", "dev", uplink)
    host.virsh("destroy", "mvguest")
    host.virsh("undefine", "mvguest")
    host.virsh("net-destroy", "mvpool")
    host.virsh("net-undefine", "mvpool")
    console.unlink()

    macvtap_pool(host, "mvpool", uplink, shim="192.168.51.1/24")
    console = start_guest(host, boot, spec, nic)
    wait_console(console, "vnx-ready mvguest", timeout=240)
    assert http_name(ask, "192.168.51.10", timeout=5) == "mvguest", console_text(console)
