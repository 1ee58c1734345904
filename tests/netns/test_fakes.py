"""The fakes' own machinery (call log, failure and hang injection), and that fakes and adapters
implement every port method with the port's exact signature."""

from __future__ import annotations

import inspect
import time

import pytest

from hooks import ports
from hooks.adapters.netlink import NetlinkAdapter
from hooks.adapters.ovs import OvsAdapter
from hooks.adapters.sysfs import SysfsAdapter
from hooks.errors import HostError, NotFound
from tests.fakes import FakeNetlink, FakeOvs, FakeSysfs


def _protocol_methods(protocol: type) -> dict[str, inspect.Signature]:
    return {name: inspect.signature(member) for name, member in vars(protocol).items()
            if callable(member) and not name.startswith("_")}


@pytest.mark.parametrize(("protocol", "classes"), [
    (ports.NetlinkPort, (FakeNetlink, NetlinkAdapter)),
    (ports.OvsPort, (FakeOvs, OvsAdapter)),
    (ports.SysfsPort, (FakeSysfs, SysfsAdapter)),
])
def test_signatures_match_the_port(protocol: type, classes: tuple[type, ...]) -> None:
    expected = _protocol_methods(protocol)
    assert expected, "the protocol lists no methods"
    for cls in classes:
        for name, signature in expected.items():
            actual = inspect.signature(getattr(cls, name))
            assert list(actual.parameters) == list(signature.parameters), f"{cls.__name__}.{name}"
            defaults = [p.default for p in actual.parameters.values()]
            assert defaults == [p.default for p in signature.parameters.values()], f"{cls.__name__}.{name}"


def test_calls_are_recorded_in_order() -> None:
    net = FakeNetlink()
    net.add_bridge("br0")
    net.create_tap("tap0", 107, 107, True, True)
    net.set_master("tap0", "br0")
    net.set_up("tap0")
    assert net.calls == [("create_tap", "tap0", 107, 107, True, True), ("set_master", "tap0", "br0"),
                         ("set_up", "tap0", True)]
    assert net.calls_to("set_master") == [("tap0", "br0")]


def test_fail_on_an_error_instance_raises_it_and_changes_nothing() -> None:
    boom = HostError(step="enslave tap0 to br0", detail="injected")
    net = FakeNetlink(fail_on={"set_master": boom})
    net.add_bridge("br0")
    net.add_link("tap0", "tun")
    with pytest.raises(HostError) as info:
        net.set_master("tap0", "br0")
    assert info.value is boom
    assert net.links["tap0"].master is None
    assert net.calls == [("set_master", "tap0", "br0")]     # the attempt is still recorded


def test_fail_on_a_callable_decides_per_call() -> None:
    attempts: list[int] = []

    def second_call_fails(pf: str, count: int) -> HostError | None:
        attempts.append(count)
        return HostError(step="numvfs", detail="injected") if len(attempts) == 2 else None

    fs = FakeSysfs(fail_on={"set_sriov_numvfs": second_call_fails})
    fs.add_pf("eth2", "0000:04:00.0", 8)
    fs.set_sriov_numvfs("eth2", 4)
    with pytest.raises(HostError, match="injected"):
        fs.set_sriov_numvfs("eth2", 0)
    assert fs.sriov_numvfs("eth2") == 4 and attempts == [4, 0]


def test_hang_on_sleeps_before_acting() -> None:
    ovs = FakeOvs(hang_on="add_port", hang_seconds=0.2)
    ovs.add_bridge("br0")
    start = time.monotonic()
    ovs.add_port("br0", "tap0")
    assert time.monotonic() - start >= 0.2
    assert ovs.port_bridge("tap0") == "br0"


def test_fake_netlink_kernel_rules() -> None:
    net = FakeNetlink()
    net.add_bridge("br0")
    net.add_link("tap0", "tun", master="br0")
    # A new port carries the default pvid; one pvid per port; leaving the bridge drops VLANs.
    assert [(v.vid, v.pvid, v.untagged) for v in net.bridge_vlans("tap0")] == [(1, True, True)]
    net.bridge_vlan_add("tap0", 10, True, True)
    assert [(v.vid, v.pvid) for v in net.bridge_vlans("tap0")] == [(1, False), (10, True)]
    net.bridge_vlan_del("tap0", 99)           # absent: no error
    net.delete_link("br0")
    assert net.links["tap0"].master is None and net.bridge_vlans("tap0") == []


def test_fake_netlink_vfs() -> None:
    net = FakeNetlink()
    net.add_pf("eth2", 2)
    net.set_vf("eth2", 1, mac="52:54:00:00:00:09", vlan=30)
    net.set_vf("eth2", 1, vlan=0)
    info = net.vf_info("eth2", 1)
    assert (info.mac, info.vlan) == ("52:54:00:00:00:09", 0)
    with pytest.raises(NotFound):
        net.set_vf("eth2", 2, vlan=1)


def test_fake_ovs_maps_and_ports() -> None:
    ovs = FakeOvs()
    ovs.add_bridge("br0")
    ovs.add_port("br0", "tap0")
    ovs.set_column_key("Interface", "tap0", "external_ids", "k", "v")
    assert ovs.maps[("Interface", "tap0")] == {"external_ids": {"k": "v"}}
    ovs.del_port("br0", "tap0")
    assert ("Interface", "tap0") not in ovs.maps


def test_fake_sysfs_vfio_needs_an_iommu() -> None:
    fs = FakeSysfs(iommu=False)
    fs.add_device("0000:03:00.0", "e1000e")
    assert fs.iommu_group("0000:03:00.0") is None
    fs.set_driver_override("0000:03:00.0", "vfio-pci")
    fs.unbind("0000:03:00.0", 1)
    with pytest.raises(HostError, match="waiting for vfio-pci"):
        fs.drivers_probe("0000:03:00.0", 1)
