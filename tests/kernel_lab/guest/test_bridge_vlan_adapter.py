"""Linux-bridge VLAN filtering through hooks.adapters.netlink.NetlinkAdapter, on the lab's kernel.

Every change is made by the adapter and read back twice: with ``bridge -j vlan show`` (iproute2,
independent of the project) and with the adapter's own ``bridge_vlans``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hooks.adapters.netlink import NetlinkAdapter
from hooks.ports import BridgeVlan
from tests.kernel_lab.guest.kernel import bridge_vlan_show, link_json, run

BRIDGE = "labbr1"
PVID_UNTAGGED = frozenset({"PVID", "Egress Untagged"})


@pytest.fixture
def adapter() -> Iterator[NetlinkAdapter]:
    nl = NetlinkAdapter()
    yield nl
    nl.close()


@pytest.fixture
def bridge(links: list[str]) -> str:
    """A bridge without VLAN filtering and three ports: a TAP, a veth end and a dummy."""
    links += [BRIDGE, "labtap1", "labveth1", "labdum1"]
    run("ip", "link", "add", BRIDGE, "type", "bridge")
    run("ip", "tuntap", "add", "labtap1", "mode", "tap")
    run("ip", "link", "add", "labveth1", "type", "veth", "peer", "name", "labveth1p")
    run("ip", "link", "add", "labdum1", "type", "dummy")
    return BRIDGE


def _enslave(adapter: NetlinkAdapter, *ports: str) -> None:
    for port in ports:
        adapter.set_master(port, BRIDGE)
        adapter.set_up(port)


def test_vlan_filtering_is_switched_on_and_off(adapter: NetlinkAdapter, bridge: str) -> None:
    assert adapter.bridge_vlan_filtering(bridge) is False
    adapter.set_bridge_vlan_filtering(bridge, True)
    assert link_json(bridge)["linkinfo"]["info_data"]["vlan_filtering"] == 1
    assert adapter.bridge_vlan_filtering(bridge) is True
    adapter.set_bridge_vlan_filtering(bridge, False)
    assert link_json(bridge)["linkinfo"]["info_data"]["vlan_filtering"] == 0
    assert adapter.bridge_vlan_filtering(bridge) is False


def test_access_port_on_a_tap(adapter: NetlinkAdapter, bridge: str) -> None:
    _enslave(adapter, "labtap1")
    adapter.set_bridge_vlan_filtering(bridge, True)
    assert link_json("labtap1")["master"] == bridge
    # A new port starts in the bridge's default VLAN 1; an access port carries only its own.
    adapter.bridge_vlan_del("labtap1", 1)
    adapter.bridge_vlan_add("labtap1", 10, pvid=True, untagged=True)
    assert bridge_vlan_show("labtap1") == [(10, PVID_UNTAGGED)]
    assert adapter.bridge_vlans("labtap1") == [BridgeVlan(10, pvid=True, untagged=True)]


def test_trunk_port_with_native_vlan_on_a_veth(adapter: NetlinkAdapter, bridge: str) -> None:
    _enslave(adapter, "labveth1")
    adapter.set_bridge_vlan_filtering(bridge, True)
    adapter.bridge_vlan_del("labveth1", 1)
    adapter.bridge_vlan_add("labveth1", 20, pvid=True, untagged=True)
    for vid in range(30, 41):
        adapter.bridge_vlan_add("labveth1", vid, pvid=False, untagged=False)
    expected = [(20, PVID_UNTAGGED)] + [(vid, frozenset()) for vid in range(30, 41)]
    assert bridge_vlan_show("labveth1") == expected
    assert adapter.bridge_vlans("labveth1") == (
        [BridgeVlan(20, pvid=True, untagged=True)] + [BridgeVlan(vid) for vid in range(30, 41)])


def test_vlans_are_removed_and_removing_again_is_harmless(adapter: NetlinkAdapter, bridge: str) -> None:
    _enslave(adapter, "labdum1")
    adapter.set_bridge_vlan_filtering(bridge, True)
    adapter.bridge_vlan_add("labdum1", 30, pvid=False, untagged=False)
    adapter.bridge_vlan_add("labdum1", 31, pvid=False, untagged=False)
    adapter.bridge_vlan_del("labdum1", 30)
    adapter.bridge_vlan_del("labdum1", 30)
    vids = [vid for vid, _ in bridge_vlan_show("labdum1")]
    assert 30 not in vids and 31 in vids
    assert [v.vid for v in adapter.bridge_vlans("labdum1")] == vids


def test_adding_a_vlan_again_moves_the_pvid(adapter: NetlinkAdapter, bridge: str) -> None:
    # Re-applying the same wish must be idempotent; changing the native VLAN moves the PVID flag.
    _enslave(adapter, "labveth1")
    adapter.set_bridge_vlan_filtering(bridge, True)
    adapter.bridge_vlan_add("labveth1", 20, pvid=True, untagged=True)
    adapter.bridge_vlan_add("labveth1", 20, pvid=True, untagged=True)
    adapter.bridge_vlan_add("labveth1", 30, pvid=True, untagged=True)
    flags = dict(bridge_vlan_show("labveth1"))
    assert flags[30] == PVID_UNTAGGED and "PVID" not in flags[20]


def test_the_bridge_device_itself_gets_vlans(adapter: NetlinkAdapter, bridge: str) -> None:
    # On the bridge device the request must carry BRIDGE_FLAGS_SELF (``bridge vlan add ... self``).
    adapter.set_bridge_vlan_filtering(bridge, True)
    adapter.bridge_vlan_add(bridge, 10, pvid=False, untagged=False)
    assert 10 in [vid for vid, _ in bridge_vlan_show(bridge)]
    assert BridgeVlan(10) in adapter.bridge_vlans(bridge)
