"""Open vSwitch VLANs applied by the hooks from the domain's metadata, read back from OVSDB.

The chapter tags a running guest's port by hand (``ovs-vsctl set port vnet0 tag=5``); here
the wish is written into the domain by ``virt-netxml interface --bridge-vlan`` and the hook
applies it when libvirt creates the port, keeps it across a libvirtd restart, and nothing is
left once the domain is destroyed.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Host
from tests.e2e.harness import build_domain, domain_interfaces, vnx
from xmltools.metadata import find_meta
from xmltools.xmlparse import parse_bytes

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def ovs_network(host: Host, name: str = "packtovs", bridge: str = "ovs-br0") -> None:
    """The chapter's packtovs network on a fresh OVS bridge."""
    host.ovs_bridge(bridge)
    vnx("network", name, "--mode", "bridge", "--bridge", bridge, "--virtualport", "openvswitch",
        "--connect", host.libvirtd.uri, "--define", "--start")


def port(host: Host, dev: str) -> dict[str, str]:
    """The VLAN columns of an OVS port as ovs-vsctl prints them."""
    return {col: host.ovs.port_column(dev, col) for col in ("tag", "trunks", "vlan_mode")}


def targets(host: Host, domain: str) -> list[str]:
    return [i["target"] for i in domain_interfaces(host.virsh("dumpxml", domain).stdout)]


def dev_mac(root) -> str:
    """MAC of a domain's first interface."""
    return root.find("devices/interface/mac").get("address")


# "20,30-40" as OVSDB lists a port's trunks
TRUNK = "[" + ", ".join(str(v) for v in [20, *range(30, 41)]) + "]"


def test_chapter_tag_5_is_set_by_the_hook(hooks: Host) -> None:
    host = hooks
    ovs_network(host)
    path = build_domain(host.tmp / "tag5.xml", "tag5-vm", ["--type", "network", "--source", "packtovs",
                                                           "--model", "virtio", "--bridge-vlan", "5"])
    assert "<vlan" not in path.read_text().split("<devices>")[1]  # no libvirt <vlan>: the hook's job
    host.virsh("define", str(path))
    host.virsh("start", "tag5-vm")
    (dev,) = targets(host, "tag5-vm")
    assert host.ovs.vsctl("list-ports", "ovs-br0").stdout.split() == [dev]
    assert port(host, dev) == {"tag": "5", "trunks": "[]", "vlan_mode": "access"}


def test_access_and_trunk_ports_survive_restart_and_leave_nothing(hooks: Host) -> None:
    """Issue 3's acceptance: access 10 on one port, trunk 20,30-40 native 20 on another."""
    host = hooks
    ovs_network(host)
    path = build_domain(
        host.tmp / "vlans.xml", "vlans-vm",
        ["--type", "network", "--source", "packtovs", "--model", "virtio", "--bridge-vlan", "10"],
        ["--type", "network", "--source", "packtovs", "--model", "virtio",
         "--bridge-vlan", "20,30-40", "--vlan-native", "20"])
    host.virsh("define", str(path))
    host.virsh("start", "vlans-vm")
    access, trunk = targets(host, "vlans-vm")
    want_access = {"tag": "10", "trunks": "[]", "vlan_mode": "access"}
    want_trunk = {"tag": "20", "trunks": TRUNK, "vlan_mode": "native-untagged"}
    assert port(host, access) == want_access
    assert port(host, trunk) == want_trunk

    # Someone clears the trunk port; a libvirtd restart (reconnect, port-created) restores it,
    # and the running guest keeps its QEMU process.
    qemu_pid = (host.libvirtd.root / "run/libvirt/qemu/vlans-vm.pid").read_text()
    host.ovs.vsctl("clear", "port", trunk, "tag", "trunks", "vlan_mode")
    assert port(host, trunk) == {"tag": "[]", "trunks": "[]", "vlan_mode": "[]"}
    since = host.box.call_count()
    host.libvirtd.restart()
    assert host.virsh("domstate", "vlans-vm").stdout.strip() == "running"
    assert (host.libvirtd.root / "run/libvirt/qemu/vlans-vm.pid").read_text() == qemu_pid
    assert targets(host, "vlans-vm") == [access, trunk]
    assert port(host, access) == want_access
    assert port(host, trunk) == want_trunk
    calls = [c.key for c in host.box.calls(since)]
    assert ("qemu", "vlans-vm", "reconnect", "begin") in calls

    host.virsh("destroy", "vlans-vm")
    assert host.ovs.vsctl("list-ports", "ovs-br0").stdout.split() == []
    assert not {access, trunk} & set(host.ns.links())


def test_edit_of_libvirts_own_xml_changes_the_vlan_at_next_start(hooks: Host) -> None:
    """``virt-netxml edit`` on ``virsh dumpxml --inactive`` output, redefined: the new wish applies."""
    host = hooks
    ovs_network(host)
    path = build_domain(host.tmp / "edit.xml", "edit-vm", ["--type", "network", "--source", "packtovs",
                                                           "--model", "virtio", "--bridge-vlan", "5"])
    host.virsh("define", str(path))
    host.virsh("start", "edit-vm")
    (dev,) = targets(host, "edit-vm")
    assert host.ovs.port_column(dev, "tag") == "5"
    host.virsh("destroy", "edit-vm")

    dumped = host.tmp / "edit-dumped.xml"
    dumped.write_text(host.virsh("dumpxml", "edit-vm", "--inactive").stdout)
    vnx("edit", str(dumped), "--index", "0", "--set-bridge-vlan", "7", "-i")
    host.virsh("define", str(dumped))
    host.virsh("start", "edit-vm")
    (dev,) = targets(host, "edit-vm")
    assert port(host, dev) == {"tag": "7", "trunks": "[]", "vlan_mode": "access"}
    # what libvirt stored is the edited document: everything else it had is still there
    stored = parse_bytes(host.virsh("dumpxml", "edit-vm", "--inactive").stdout).getroot()
    meta = find_meta(stored)
    assert meta is not None and [(i.mac, i.vlan.tag) for i in meta.interfaces] == [(dev_mac(stored), 7)]
    assert stored.find("devices/controller[@type='usb']") is not None
