"""Linux-bridge VLAN filtering applied by the hook itself, from a domain's and a network's metadata.

The sequence libvirt runs for a domain on a Linux-bridge network: network ``started`` (the
bridge exists: VLAN filtering goes on), qemu ``prepare`` (the hook makes the ``managed='no'``
TAP and bridges it), qemu ``start`` (every port exists, QEMU does not run yet: per-port VLANs),
``reconnect`` after a daemon restart, and ``release``. Results are read back with
``bridge -j vlan show`` and through the netlink adapter.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from hooks.adapters.netlink import NetlinkAdapter
from hooks.ports import BridgeVlan
from tests.kernel_lab.guest.hookcall import call, call_program, domain_xml, network_hookdata
from tests.kernel_lab.guest.kernel import bridge_vlan_show, link_exists, link_json, run

BRIDGE = "labbr2"
HOOK_TAP = "labtap2"      # made by the hook (ethernet, managed='no')
LIBVIRT_TAP = "labvnet3"  # stands in for the vnetN libvirt makes for a type='bridge' interface
ACCESS_MAC, TRUNK_MAC = "52:54:00:4c:00:0a", "52:54:00:4c:00:0b"
PVID_UNTAGGED = frozenset({"PVID", "Egress Untagged"})

NETWORK = network_hookdata("lab-vlan-net", f"<bridge name='{BRIDGE}'/>",
                           "<vnx:bridge vlan-filtering='yes'/>")
META = (f"<vnx:interface mac='{ACCESS_MAC}'><vnx:tap bridge='{BRIDGE}'/><vnx:vlan tag='10'/></vnx:interface>"
        f"<vnx:interface mac='{TRUNK_MAC}'><vnx:vlan trunks='20,30-40' native='20'/></vnx:interface>")


def _domain(started: bool) -> str:
    # At prepare libvirt has not named the bridge interface's TAP yet; at start it has.
    target = f"<target dev='{LIBVIRT_TAP}'/>" if started else ""
    return domain_xml("lab-vlan", (
        f"<interface type='ethernet'><mac address='{ACCESS_MAC}'/>"
        f"<target dev='{HOOK_TAP}' managed='no'/><model type='virtio'/></interface>"
        f"<interface type='bridge'><mac address='{TRUNK_MAC}'/><source bridge='{BRIDGE}'/>{target}"
        f"<model type='virtio'/></interface>"), META)


TRUNK = [(20, PVID_UNTAGGED)] + [(vid, frozenset()) for vid in range(30, 41)]


@pytest.fixture
def host(links: list[str], hook_env: Path) -> Iterator[NetlinkAdapter]:
    """The bridge a network would have and the TAP libvirt would make for the bridge interface."""
    links += [BRIDGE, HOOK_TAP, LIBVIRT_TAP]
    run("ip", "link", "add", BRIDGE, "type", "bridge")
    run("ip", "link", "set", BRIDGE, "up")
    run("ip", "tuntap", "add", LIBVIRT_TAP, "mode", "tap")
    run("ip", "link", "set", LIBVIRT_TAP, "master", BRIDGE, "up")
    nl = NetlinkAdapter()
    yield nl
    nl.close()


def _start(started_xml: str = "") -> None:
    for driver, name, op, xml in (("network", "lab-vlan-net", "started", NETWORK),
                                  ("qemu", "lab-vlan", "prepare", _domain(False)),
                                  ("qemu", "lab-vlan", "start", started_xml or _domain(True))):
        result = call(driver, name, op, xml)
        assert result.code == 0 and result.stdout == "", (op, result)


def test_domain_start_applies_access_and_trunk_vlans(host: NetlinkAdapter,
                                                     installed_hooks: dict[str, Path]) -> None:
    # Run as libvirt runs it: the installed hook programs, with libvirt's environment.
    for driver, name, op, xml in (("network", "lab-vlan-net", "started", NETWORK),
                                  ("qemu", "lab-vlan", "prepare", _domain(False)),
                                  ("qemu", "lab-vlan", "start", _domain(True))):
        result = call_program(installed_hooks[driver], name, op, xml)
        assert (result.code, result.stdout, result.stderr) == (0, "", ""), (op, result)
    assert link_json(BRIDGE)["linkinfo"]["info_data"]["vlan_filtering"] == 1
    tap = link_json(HOOK_TAP)
    assert tap["master"] == BRIDGE and "UP" in tap["flags"]
    assert bridge_vlan_show(HOOK_TAP) == [(10, PVID_UNTAGGED)]
    assert host.bridge_vlans(HOOK_TAP) == [BridgeVlan(10, pvid=True, untagged=True)]
    assert bridge_vlan_show(LIBVIRT_TAP) == TRUNK
    assert host.bridge_vlans(LIBVIRT_TAP) == (
        [BridgeVlan(20, pvid=True, untagged=True)] + [BridgeVlan(v) for v in range(30, 41)])


def test_reconnect_puts_back_what_changed_and_nothing_else(host: NetlinkAdapter) -> None:
    _start()
    # Someone edits the ports by hand while the daemon is down.
    run("bridge", "vlan", "add", "dev", HOOK_TAP, "vid", "99")
    run("bridge", "vlan", "del", "dev", LIBVIRT_TAP, "vid", "35")
    result = call("qemu", "lab-vlan", "reconnect", _domain(True))
    assert result.code == 0, result
    assert bridge_vlan_show(HOOK_TAP) == [(10, PVID_UNTAGGED)]
    assert bridge_vlan_show(LIBVIRT_TAP) == TRUNK
    # And once more: nothing left to change.
    again = call("qemu", "lab-vlan", "reconnect", _domain(True))
    assert again.code == 0 and bridge_vlan_show(LIBVIRT_TAP) == TRUNK


def test_release_deletes_the_hooks_tap_and_only_that(host: NetlinkAdapter, hook_env: Path) -> None:
    _start()
    assert json.loads((hook_env / "domains" / "lab-vlan.json").read_text())["taps"].keys() == {HOOK_TAP}
    result = call("qemu", "lab-vlan", "release", _domain(True), sub="end")
    assert result.code == 0, result
    assert not link_exists(HOOK_TAP)
    assert link_exists(LIBVIRT_TAP)   # libvirt's TAP: not the hook's to delete
    assert not (hook_env / "domains" / "lab-vlan.json").exists()


def test_a_vlan_the_bridge_refuses_rolls_the_start_back(host: NetlinkAdapter) -> None:
    # A link outside any bridge takes no bridge VLANs: the trunk's TAP leaves the bridge before
    # start, so its step fails after the access port's VLANs were already set.
    call("network", "lab-vlan-net", "started", NETWORK)
    assert call("qemu", "lab-vlan", "prepare", _domain(False)).code == 0
    run("ip", "link", "set", LIBVIRT_TAP, "nomaster")
    result = call("qemu", "lab-vlan", "start", _domain(True))
    assert result.code == 1
    assert "lab-vlan" in result.stderr and TRUNK_MAC in result.stderr and "rolled back" in result.stderr
    # The access port's VLANs, set before the failing step, are back as they were.
    assert [vid for vid, _ in bridge_vlan_show(HOOK_TAP)] == [1]


PG_MAC = "52:54:00:4c:00:0c"


def _network_port_domain(vlan: str = "") -> str:
    # A type='network' interface as the live XML at start shows it on a Linux-bridge network.
    return domain_xml("lab-pg", (
        f"<interface type='network'><mac address='{PG_MAC}'/>"
        f"<source network='lab-pg-net' portgroup='trunk' bridge='{BRIDGE}'/>{vlan}"
        f"<target dev='{LIBVIRT_TAP}'/><model type='virtio'/></interface>"))


def test_a_portgroup_vlan_from_the_network_reaches_the_domains_port(host: NetlinkAdapter) -> None:
    # port-created (network hook) sees the portgroup but not the TAP; start (domain hook) sees
    # the TAP but not the network's metadata: the state record joins the two by MAC.
    port = network_hookdata(
        "lab-pg-net", f"<bridge name='{BRIDGE}'/>",
        "<vnx:bridge vlan-filtering='yes'/>"
        "<vnx:portgroup name='trunk'><vnx:vlan trunks='30-32' native='20'/></vnx:portgroup>",
    ).replace("</hookData>", (
        "<networkport><uuid>5d0c7a49-5a57-4d7e-9d1c-2f0e4f0a9b11</uuid>"
        "<owner><name>lab-pg</name><uuid>0f5b0d38-3f5e-4c1c-8f7a-6b1f3f1e2a10</uuid></owner>"
        f"<group>trunk</group><mac address='{PG_MAC}'/><plug type='network' bridge='{BRIDGE}'/>"
        "</networkport></hookData>"))
    assert call("network", "lab-pg-net", "started", port).code == 0
    assert call("network", "lab-pg-net", "port-created", port).code == 0
    result = call("qemu", "lab-pg", "start", _network_port_domain())
    assert (result.code, result.stderr) == (0, ""), result
    assert bridge_vlan_show(LIBVIRT_TAP) == [(20, PVID_UNTAGGED)] + [(v, frozenset()) for v in (30, 31, 32)]


def test_libvirts_own_vlan_on_a_linux_bridge_port_is_applied(host: NetlinkAdapter) -> None:
    # libvirt hands a portgroup's <vlan> on in the live XML but cannot apply it on a Linux bridge.
    run("ip", "link", "set", BRIDGE, "type", "bridge", "vlan_filtering", "1")
    result = call("qemu", "lab-pg", "start", _network_port_domain("<vlan><tag id='42'/></vlan>"))
    assert (result.code, result.stderr) == (0, ""), result
    assert bridge_vlan_show(LIBVIRT_TAP) == [(42, PVID_UNTAGGED)]
    assert host.bridge_vlans(LIBVIRT_TAP) == [BridgeVlan(42, pvid=True, untagged=True)]
