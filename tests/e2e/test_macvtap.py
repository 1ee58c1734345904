"""macvtap pools (vepa, bridge, private, passthrough) over a veth uplink, run by libvirt.

The device libvirt creates for the guest is read back over netlink (pyroute2): it must be a
macvtap on the uplink in the pool's mode. The checks the hooks add (uplink present and up,
the host shim) are in the tests that follow.
"""

from __future__ import annotations

import pytest
from pyroute2 import IPRoute

from tests.e2e.conftest import Host
from tests.e2e.harness import Netns, build_domain, domain_interfaces, vnx
from xmltools.metadata import MetaShim, meta_or_create
from xmltools.xmlparse import parse_bytes, to_string

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

# libvirt's word for a mode -> the kernel's (IFLA_MACVTAP_MODE as pyroute2 decodes it)
MODES = {"vepa": "vepa", "bridge": "bridge", "private": "private", "passthrough": "passthru"}


def macvtap_of(ns: str, name: str) -> tuple[str | None, str | None, int | None]:
    """Kind, macvtap mode and lower device index of a link, over netlink."""
    with IPRoute(netns=ns) as ipr:
        link = ipr.link("get", ifname=name)[0]
    info = link.get("IFLA_LINKINFO")
    data = info.get("IFLA_INFO_DATA") or {}
    return info.get("IFLA_INFO_KIND"), data.get("IFLA_MACVTAP_MODE"), link.get("IFLA_LINK")


def macvlan_of(ns: str, name: str) -> tuple[str | None, str | None, int | None]:
    """Kind, macvlan mode and lower device index of a link, over netlink."""
    with IPRoute(netns=ns) as ipr:
        link = ipr.link("get", ifname=name)[0]
    info = link.get("IFLA_LINKINFO")
    data = info.get("IFLA_INFO_DATA") or {}
    return info.get("IFLA_INFO_KIND"), data.get("IFLA_MACVLAN_MODE"), link.get("IFLA_LINK")


def define_pool(host: Host, name: str, mode: str, *uplinks: str) -> None:
    path = host.tmp / f"{name}.xml"
    vnx("network", name, "--mode", mode, *[a for u in uplinks for a in ("--uplink", u)], "-o", str(path))
    host.virsh("net-define", str(path))


@pytest.mark.parametrize("mode", list(MODES))
def test_macvtap_pool_creates_device_in_its_mode(host: Host, mode: str) -> None:
    uplink = host.veth("mvup0")
    define_pool(host, f"mv-{mode}", mode, uplink)
    host.virsh("net-start", f"mv-{mode}")
    path = build_domain(host.tmp / "mv.xml", f"mv-{mode}-vm",
                        ["--type", "network", "--source", f"mv-{mode}", "--model", "virtio"])
    host.virsh("define", str(path))
    host.virsh("start", f"mv-{mode}-vm")

    (nic,) = domain_interfaces(host.virsh("dumpxml", f"mv-{mode}-vm").stdout)
    assert nic["type"] == "direct" and nic["dev"] == uplink and nic["mode"] == mode
    kind, kernel_mode, lower = macvtap_of(host.ns.name, nic["target"])
    assert (kind, kernel_mode) == ("macvtap", MODES[mode])
    assert lower == host.ns.links()[uplink]["ifindex"]

    host.virsh("destroy", f"mv-{mode}-vm")
    assert nic["target"] not in host.ns.links()


@pytest.mark.parametrize("mode", ["bridge", "passthrough"])
def test_missing_uplink_fails_network_start_with_the_hooks_message(hooks: Host, mode: str) -> None:
    host = hooks
    define_pool(host, "mv-missing", mode, "nosuchup0")
    result = host.virsh("net-start", "mv-missing", check=False)
    assert result.returncode != 0
    assert "Hook script execution failed" in result.stderr
    assert "nosuchup0" in result.stderr  # the hook names the uplink
    assert host.virsh("net-info", "mv-missing").stdout.count("Active:         no") == 1


def test_uplink_that_is_down_fails_network_start(hooks: Host) -> None:
    host = hooks
    uplink = host.veth("mvdown0", up=False)
    define_pool(host, "mv-down", "vepa", uplink)
    result = host.virsh("net-start", "mv-down", check=False)
    assert result.returncode != 0 and "mvdown0" in result.stderr
    host.ns.ip("link", "set", uplink, "up")
    host.ns.ip("link", "set", f"{uplink}p", "up")
    host.virsh("net-start", "mv-down")  # the same network starts once its uplink is up


def test_host_shim_lets_the_host_reach_bridge_mode_guests(hooks: Host) -> None:
    """The hooks' host shim: a macvlan (bridge mode) on the uplink with an address.

    The "guest" answering is a macvlan in bridge mode on the same uplink, moved into a second
    namespace: QEMU boots nothing, and a macvtap guest is the same kind of port. Without the
    shim the host cannot reach it even from an address on the uplink itself.
    """
    host = hooks
    uplink = host.veth("mvshup0")
    guest_ns = Netns.create()
    try:
        host.ns.ip("link", "add", "mvguest0", "link", uplink, "type", "macvlan", "mode", "bridge")
        host.ns.ip("link", "set", "mvguest0", "netns", guest_ns.name)
        guest_ns.ip("addr", "add", "192.168.50.10/24", "dev", "mvguest0")
        guest_ns.ip("link", "set", "mvguest0", "up")

        host.ns.ip("addr", "add", "192.168.50.2/24", "dev", uplink)
        assert not host.ns.reachable("192.168.50.10")  # the macvtap limitation the shim works around
        host.ns.ip("addr", "del", "192.168.50.2/24", "dev", uplink)

        # The CLI has no option for the shim yet: add it with the project's metadata model.
        xml = vnx("network", "mv-shim", "--mode", "bridge", "--uplink", uplink).stdout
        root = parse_bytes(xml.encode()).getroot()
        meta = meta_or_create(root)
        meta.shim = MetaShim(name="mvshim0", address="192.168.50.1/24")
        path = host.tmp / "mv-shim.xml"
        path.write_text(to_string(root))
        host.virsh("net-define", str(path))
        host.virsh("net-start", "mv-shim")

        kind, mode, lower = macvlan_of(host.ns.name, "mvshim0")
        assert (kind, mode, lower) == ("macvlan", "bridge", host.ns.links()[uplink]["ifindex"])
        assert host.ns.reachable("192.168.50.10")

        host.virsh("net-destroy", "mv-shim")
        assert "mvshim0" not in host.ns.links()
    finally:
        guest_ns.delete()
