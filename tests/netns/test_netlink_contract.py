"""NetlinkPort contract: the same tests against NetlinkAdapter in a throw-away namespace (real
kernel) and against FakeNetlink, so the fake stays faithful.

Test setup (bridges, veths, macvtaps) is done with ``ip`` on the real side and with the fake's
builders on the fake side; read-back of what the adapter did uses ``ip -j -d`` on the real side,
independent of the adapter. This kernel has no bridge VLAN filtering: VLAN contents are tested
in the kernel lab (tests/kernel_lab); here both sides must refuse the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from hooks.adapters.netlink import NetlinkAdapter
from hooks.errors import HostError, NotFound
from hooks.ports import LinkInfo
from tests.fakes import FakeNetlink
from tests.netns.harness import ip
from xmltools.errors import InvalidValue


class RealNet:
    """NetlinkAdapter in the test's namespace, with ``ip`` for setup and read-back."""

    def __init__(self, ns: str) -> None:
        self.ns = ns
        self.port = NetlinkAdapter()

    def bridge(self, name: str) -> None:
        ip("link", "add", name, "type", "bridge", ns=self.ns)

    def veth(self, a: str, b: str) -> None:
        ip("link", "add", a, "type", "veth", "peer", "name", b, ns=self.ns)

    def macvtap(self, name: str, lower: str, mode: str) -> None:
        ip("link", "add", name, "link", lower, "type", "macvtap", "mode", mode, ns=self.ns)

    def _json(self, name: str) -> dict[str, Any]:
        return json.loads(ip("-j", "-d", "link", "show", name, ns=self.ns).stdout)[0]

    def tap_details(self, name: str) -> dict[str, Any]:
        data = self._json(name)["linkinfo"]["info_data"]
        return {"type": data["type"], "uid": data.get("user"), "gid": data.get("group"),
                "multi_queue": data.get("multi_queue", False), "vnet_hdr": data["vnet_hdr"],
                "pi": data["pi"]}

    def master(self, name: str) -> str | None:
        return self._json(name).get("master")

    def addresses(self, name: str) -> list[str]:
        info = json.loads(ip("-j", "addr", "show", "dev", name, ns=self.ns).stdout)[0]
        return [f"{a['local']}/{a['prefixlen']}" for a in info["addr_info"] if a.get("scope") != "link"]

    def exists(self, name: str) -> bool:
        return ip("link", "show", name, ns=self.ns, check=False).returncode == 0


class FakeNet:
    """FakeNetlink set up like this machine's kernel (no bridge VLAN filtering)."""

    def __init__(self) -> None:
        self.port = FakeNetlink(vlan_filtering_supported=False)

    def bridge(self, name: str) -> None:
        self.port.add_bridge(name, up=False)

    def veth(self, a: str, b: str) -> None:
        self.port.add_link(a, "veth")
        self.port.add_link(b, "veth")

    def macvtap(self, name: str, lower: str, mode: str) -> None:
        self.port.add_link(name, "macvtap", macvlan_mode=mode, uplink=lower)

    def tap_details(self, name: str) -> dict[str, Any]:
        link = self.port.links[name]
        return {"type": "tap", "uid": link.uid, "gid": link.gid, "multi_queue": link.multi_queue,
                "vnet_hdr": link.vnet_hdr, "pi": False}

    def master(self, name: str) -> str | None:
        return self.port.links[name].master

    def addresses(self, name: str) -> list[str]:
        return list(self.port.links[name].addresses)

    def exists(self, name: str) -> bool:
        return name in self.port.links


@pytest.fixture(params=["fake", pytest.param("real", marks=pytest.mark.netns)])
def net(request: pytest.FixtureRequest) -> Iterator[RealNet | FakeNet]:
    if request.param == "fake":
        yield FakeNet()
        return
    real = RealNet(request.getfixturevalue("inside_netns"))
    try:
        yield real
    finally:
        real.port.close()


def test_missing_link_reads_as_none(net) -> None:
    assert net.port.link("vnxnothere") is None


def test_tap_is_created_with_owner_and_flags(net) -> None:
    net.port.create_tap("vnxtap0", 54321, 54322, True, True)
    net.port.create_tap("vnxtap1", None, None, False, False)
    assert net.tap_details("vnxtap0") == {"type": "tap", "uid": 54321, "gid": 54322,
                                          "multi_queue": True, "vnet_hdr": True, "pi": False}
    plain = net.tap_details("vnxtap1")
    assert (plain["multi_queue"], plain["vnet_hdr"], plain["pi"]) == (False, False, False)
    info = net.port.link("vnxtap0")
    assert isinstance(info, LinkInfo)
    assert (info.name, info.kind, info.up, info.master) == ("vnxtap0", "tun", False, None)
    assert info.index > 0 and info.mac and len(info.mac.split(":")) == 6


def test_creating_an_existing_tap_fails_and_keeps_it(net) -> None:
    net.port.create_tap("vnxtap0", 54321, None, False, True)
    with pytest.raises(HostError, match="create tap vnxtap0: File exists"):
        net.port.create_tap("vnxtap0", None, None, False, False)
    assert net.tap_details("vnxtap0")["uid"] == 54321


def test_enslave_bring_up_and_release(net) -> None:
    net.bridge("vnxbr0")
    net.port.create_tap("vnxtap0", None, None, False, True)
    net.port.set_master("vnxtap0", "vnxbr0")
    net.port.set_master("vnxtap0", "vnxbr0")        # again: no error
    net.port.set_up("vnxtap0")
    assert net.master("vnxtap0") == "vnxbr0"
    info = net.port.link("vnxtap0")
    assert info is not None and info.master == "vnxbr0" and info.up
    net.port.set_up("vnxtap0", False)
    net.port.set_master("vnxtap0", None)
    info = net.port.link("vnxtap0")
    assert info is not None and info.master is None and not info.up
    assert net.master("vnxtap0") is None


def test_enslave_to_a_missing_bridge_names_the_step(net) -> None:
    net.port.create_tap("vnxtap0", None, None, False, False)
    with pytest.raises(NotFound, match="enslave vnxtap0 to vnxnobr: interface 'vnxnobr' does not exist"):
        net.port.set_master("vnxtap0", "vnxnobr")


def test_enslave_to_something_that_is_not_a_bridge(net) -> None:
    net.veth("vnxv0", "vnxv1")
    net.port.create_tap("vnxtap0", None, None, False, False)
    with pytest.raises(HostError, match="enslave vnxtap0 to vnxv0: Operation not supported"):
        net.port.set_master("vnxtap0", "vnxv0")


def test_operations_on_a_missing_link_raise_not_found(net) -> None:
    for call in (lambda: net.port.set_up("vnxnone"), lambda: net.port.delete_link("vnxnone"),
                 lambda: net.port.set_master("vnxnone", None),
                 lambda: net.port.add_address("vnxnone", "10.0.0.1/24"),
                 lambda: net.port.create_macvlan("vnxmv", "vnxnone", "bridge")):
        with pytest.raises(NotFound, match="interface 'vnxnone' does not exist"):
            call()


def test_bad_names_are_refused_before_the_kernel(net) -> None:
    with pytest.raises(InvalidValue):
        net.port.create_tap("a" * 16, None, None, False, False)
    with pytest.raises(InvalidValue):
        net.port.link("../etc")


def test_veth_link_kind(net) -> None:
    net.veth("vnxv0", "vnxv1")
    info = net.port.link("vnxv0")
    assert info is not None and info.kind == "veth" and info.macvlan_mode is None


@pytest.mark.parametrize("mode", ["vepa", "bridge", "private", "passthru"])
def test_macvlan_shim_modes(net, mode: str) -> None:
    net.veth("vnxup0", "vnxup1")
    net.port.create_macvlan("vnxshim", "vnxup0", mode)
    info = net.port.link("vnxshim")
    assert info is not None and (info.kind, info.macvlan_mode) == ("macvlan", mode)


@pytest.mark.parametrize("mode", ["vepa", "bridge", "private", "passthru"])
def test_macvtap_modes_read_back(net, mode: str) -> None:
    net.veth("vnxup0", "vnxup1")
    net.macvtap("vnxmvt", "vnxup0", mode)
    info = net.port.link("vnxmvt")
    assert info is not None and (info.kind, info.macvlan_mode) == ("macvtap", mode)


def test_unknown_macvlan_mode_is_refused(net) -> None:
    net.veth("vnxup0", "vnxup1")
    with pytest.raises(InvalidValue, match="macvlan mode"):
        net.port.create_macvlan("vnxshim", "vnxup0", "hairpin")
    assert not net.exists("vnxshim")


def test_add_address(net) -> None:
    net.veth("vnxv0", "vnxv1")
    net.port.add_address("vnxv0", "192.0.2.7/24")
    net.port.add_address("vnxv0", "fd00:db8::7/64")
    assert net.addresses("vnxv0") == ["192.0.2.7/24", "fd00:db8::7/64"]
    with pytest.raises(HostError, match="add address 192.0.2.7/24 to vnxv0: File exists"):
        net.port.add_address("vnxv0", "192.0.2.7/24")


def test_add_address_refuses_garbage(net) -> None:
    net.veth("vnxv0", "vnxv1")
    with pytest.raises(InvalidValue):
        net.port.add_address("vnxv0", "192.0.2.999/24")


def test_delete(net) -> None:
    net.port.create_tap("vnxtap0", None, None, False, False)
    net.port.delete_link("vnxtap0")
    assert not net.exists("vnxtap0")
    assert net.port.link("vnxtap0") is None


def test_bridge_vlan_filtering_reads_off_on_a_new_bridge(net) -> None:
    net.bridge("vnxbr0")
    assert net.port.bridge_vlan_filtering("vnxbr0") is False


def test_vlan_filtering_on_a_non_bridge_is_refused(net) -> None:
    net.veth("vnxv0", "vnxv1")
    with pytest.raises(HostError, match="read vlan_filtering of vnxv0: vnxv0 is not a bridge"):
        net.port.bridge_vlan_filtering("vnxv0")
    with pytest.raises(HostError, match="vnxv0 is not a bridge"):
        net.port.set_bridge_vlan_filtering("vnxv0", True)


def test_this_kernel_refuses_vlan_filtering_the_same_way(net) -> None:
    # The machine's kernel lacks BRIDGE_VLAN_FILTERING: the adapter must say so, naming the step.
    net.bridge("vnxbr0")
    net.port.create_tap("vnxtap0", None, None, False, False)
    net.port.set_master("vnxtap0", "vnxbr0")
    with pytest.raises(HostError, match="set vlan_filtering 1 on vnxbr0: Operation not supported"):
        net.port.set_bridge_vlan_filtering("vnxbr0", True)
    with pytest.raises(HostError, match="add VLAN 10 to vnxtap0: Operation not supported"):
        net.port.bridge_vlan_add("vnxtap0", 10, True, True)
    assert net.port.bridge_vlans("vnxtap0") == []


def test_vlan_on_a_port_outside_any_bridge_is_refused(net) -> None:
    net.port.create_tap("vnxtap0", None, None, False, False)
    with pytest.raises(HostError, match="add VLAN 10 to vnxtap0: Operation not supported"):
        net.port.bridge_vlan_add("vnxtap0", 10, False, False)


def test_bridge_vlan_id_range(net) -> None:
    net.bridge("vnxbr0")
    for vid in (0, 4095):
        with pytest.raises(InvalidValue):
            net.port.bridge_vlan_add("vnxbr0", vid, False, False)


def test_vf_calls_on_a_link_without_vfs(net) -> None:
    net.veth("vnxv0", "vnxv1")
    with pytest.raises(NotFound, match="read VF 0 of vnxv0: VF 'vnxv0 vf 0' does not exist"):
        net.port.vf_info("vnxv0", 0)
    with pytest.raises(NotFound, match="set VF 0 of vnxv0"):
        net.port.set_vf("vnxv0", 0, mac="52:54:00:00:00:01")
