"""SysfsPort contract: SysfsAdapter on a fake sysfs tree of real folders, files and symlinks
(with KernelSim playing the kernel's part on unbind/drivers_probe), and FakeSysfs, through the
same tests. Real driver binding is tested in the kernel lab."""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hooks.adapters import sysfs as sysfs_mod
from hooks.adapters.sysfs import SysfsAdapter, bounded_write
from hooks.errors import Busy, HostError, HostTimeout, NotFound
from hooks.ports import PciDevice
from tests.fakes import FakeSysfs
from tests.sysfs_tree import KernelSim, SysfsTree
from xmltools.errors import InvalidValue

NIC, BRIDGE, PF = "0000:03:00.0", "0000:00:1c.0", "0000:04:00.0"


class TreeSide:
    def __init__(self, root: Path) -> None:
        self.tree = SysfsTree(root)
        self.port = SysfsAdapter(root, write_timeout=2)

    def device(self, address: str, driver: str | None, *, group: str, netdev: str | None = None,
               bridge: bool = False) -> None:
        self.tree.add_device(address, driver, group=group, netdev=netdev,
                             pci_class=0x060400 if bridge else 0x020000)

    def pf(self, netdev: str, address: str, total: int, numvfs: int) -> None:
        self.tree.add_pf(address, netdev, total_vfs=total, numvfs=numvfs, driver="igb", vf_driver="igbvf")


class FakeSide:
    def __init__(self) -> None:
        self.port = FakeSysfs()

    def device(self, address: str, driver: str | None, *, group: str, netdev: str | None = None,
               bridge: bool = False) -> None:
        self.port.add_device(address, driver, group=group, netdev=netdev, is_bridge=bridge)

    def pf(self, netdev: str, address: str, total: int, numvfs: int) -> None:
        self.port.add_pf(netdev, address, total, driver="igb", vf_driver="igbvf", numvfs=numvfs)


@pytest.fixture(params=["fake", "tree"])
def side(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TreeSide | FakeSide]:
    side = FakeSide() if request.param == "fake" else TreeSide(tmp_path)
    side.device(BRIDGE, None, group="5", bridge=True)
    side.device(NIC, "e1000e", group="5", netdev="eth1")
    side.device("0000:05:00.0", None, group="6")           # no driver claims it
    side.pf("eth2", PF, total=8, numvfs=2)
    if isinstance(side, TreeSide):
        with KernelSim(side.tree):
            yield side
    else:
        yield side


def test_pci_device_reads_driver_override_class_and_netdev(side) -> None:
    assert side.port.pci_device(NIC) == PciDevice(NIC, "e1000e", None, False, "eth1")
    assert side.port.pci_device(BRIDGE) == PciDevice(BRIDGE, None, None, True, None)
    assert side.port.pci_device("0000:09:00.0") is None


def test_short_addresses_mean_domain_zero(side) -> None:
    assert side.port.pci_device("03:00.0") == side.port.pci_device(NIC)


@pytest.mark.parametrize("bad", ["../../../etc", "0000:03:00.0/../..", "0000:03:00.0\n", "0000:03:20.0", ""])
def test_bad_addresses_never_reach_a_path(side, bad: str) -> None:
    with pytest.raises(InvalidValue):
        side.port.pci_device(bad)
    with pytest.raises(InvalidValue):
        side.port.unbind(bad, 1)


def test_bad_pf_and_driver_names_are_refused(side) -> None:
    with pytest.raises(InvalidValue):
        side.port.sriov_numvfs("../eth2")
    with pytest.raises(InvalidValue):
        side.port.set_driver_override(NIC, "../../x")
    with pytest.raises(InvalidValue):
        side.port.vfio_group_exists("../5")


def test_iommu_group_lists_every_member(side) -> None:
    assert side.port.iommu_group(NIC) == [BRIDGE, NIC]
    assert side.port.iommu_group("0000:05:00.0") == ["0000:05:00.0"]
    with pytest.raises(NotFound, match="PCI device '0000:09:00.0' does not exist"):
        side.port.iommu_group("0000:09:00.0")


def test_bind_to_vfio_and_back(side) -> None:
    port = side.port
    assert not port.vfio_group_exists("5")
    port.set_driver_override(NIC, "vfio-pci")
    port.unbind(NIC, 2)
    assert port.pci_device(NIC).driver is None
    port.drivers_probe(NIC, 2)
    assert port.pci_device(NIC) == PciDevice(NIC, "vfio-pci", "vfio-pci", False, None)
    assert port.vfio_group_exists("5")
    assert port.netdev_of(NIC) is None

    port.set_driver_override(NIC, None)
    port.unbind(NIC, 2)
    assert not port.vfio_group_exists("5")
    port.drivers_probe(NIC, 2)
    assert port.pci_device(NIC) == PciDevice(NIC, "e1000e", None, False, "eth1")


def test_unbind_of_an_unbound_device_does_nothing(side) -> None:
    side.port.unbind("0000:05:00.0", 1)
    assert side.port.pci_device("0000:05:00.0").driver is None


def test_probe_without_override_may_leave_a_device_unbound(side) -> None:
    side.port.drivers_probe("0000:05:00.0", 0.3)
    assert side.port.pci_device("0000:05:00.0").driver is None


def test_probe_for_an_override_that_never_binds_times_out(side) -> None:
    side.port.set_driver_override("0000:05:00.0", "no-such-driver")
    start = time.monotonic()
    with pytest.raises(HostTimeout, match=r"probe drivers for 0000:05:00.0 \(waiting for no-such-driver\)"):
        side.port.drivers_probe("0000:05:00.0", 0.3)
    assert time.monotonic() - start < 2


def test_sriov_knobs(side) -> None:
    port = side.port
    assert (port.sriov_totalvfs("eth2"), port.sriov_numvfs("eth2")) == (8, 2)
    assert port.vf_address("eth2", 1) == "0000:04:10.1"
    assert port.vf_address("eth2", 2) is None
    assert port.pf_of_vf("0000:04:10.1") == ("eth2", 1)
    assert port.netdev_of("0000:04:10.1") == "eth2v1"
    assert port.pf_of_vf(NIC) is None
    with pytest.raises(NotFound, match="SR-IOV PF 'eth1' does not exist"):
        port.sriov_numvfs("eth1")


def test_sriov_numvfs_to_zero_then_a_new_count(side) -> None:
    side.port.set_sriov_numvfs("eth2", 0)
    assert side.port.sriov_numvfs("eth2") == 0
    side.port.set_sriov_numvfs("eth2", 4)
    assert side.port.sriov_numvfs("eth2") == 4
    with pytest.raises(InvalidValue):
        side.port.set_sriov_numvfs("eth2", -1)


# --- the fake's kernel rules (the tree cannot refuse a write) ---------------------------------

def test_fake_sriov_refuses_a_change_without_zero_first() -> None:
    fake = FakeSysfs()
    fake.add_pf("eth2", PF, 8, numvfs=2)
    with pytest.raises(Busy, match="SR-IOV PF 'eth2' is busy"):
        fake.set_sriov_numvfs("eth2", 4)
    with pytest.raises(HostError, match="Numerical result out of range"):
        fake.set_sriov_numvfs("eth2", 9)


# --- SysfsAdapter on the tree only: the writes themselves and their time bounds ----------------

@pytest.fixture
def tree(tmp_path: Path) -> SysfsTree:
    tree = SysfsTree(tmp_path)
    tree.add_device(NIC, "e1000e", group="5", netdev="eth1")
    tree.add_pf(PF, "eth2", total_vfs=8, numvfs=2)
    return tree


def test_exact_values_are_written(tree: SysfsTree) -> None:
    port = SysfsAdapter(tree.root)
    port.set_driver_override("03:00.0", "vfio-pci")
    assert tree.path(f"sys/devices/pci0000:00/{NIC}/driver_override").read_text() == "vfio-pci"
    with KernelSim(tree) as sim:
        port.unbind("03:00.0", 2)
        port.drivers_probe("03:00.0", 2)
    assert sim.seen == [("sys/bus/pci/drivers/e1000e/unbind", NIC), ("sys/bus/pci/drivers_probe", NIC)]
    port.set_sriov_numvfs("eth2", 0)
    assert tree.path(f"sys/devices/pci0000:00/{PF}/sriov_numvfs").read_text() == "0"


def test_unbind_that_the_kernel_never_completes_times_out(tree: SysfsTree) -> None:
    start = time.monotonic()
    with pytest.raises(HostTimeout, match=f"unbind {NIC}: timed out after 0.3s"):
        SysfsAdapter(tree.root).unbind(NIC, 0.3)       # no KernelSim: the driver link stays
    assert time.monotonic() - start < 1.5


def _children() -> set[int]:
    kids: set[int] = set()
    for task in os.listdir("/proc/self/task"):
        kids |= {int(p) for p in Path(f"/proc/self/task/{task}/children").read_text().split()}
    return kids


def test_a_write_that_blocks_is_abandoned_on_time(tree: SysfsTree) -> None:
    # A FIFO blocks the writer's open() until a reader comes: a stand-in for a kernel write
    # that never returns. The hook must get HostTimeout on time and keep no child.
    unbind = tree.path("sys/bus/pci/drivers/e1000e/unbind")
    unbind.unlink()
    os.mkfifo(unbind)
    before = _children()
    start = time.monotonic()
    with pytest.raises(HostTimeout, match=f"unbind {NIC}: timed out after 0.3s"):
        SysfsAdapter(tree.root).unbind(NIC, 0.3)
    assert time.monotonic() - start < 1.5
    deadline = time.monotonic() + 2
    while _children() - before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _children() - before == set()


def test_bounded_write_reports_errno(tmp_path: Path) -> None:
    assert bounded_write(tmp_path, "x", 2) == errno.EISDIR
    assert bounded_write(tmp_path / "missing", "x", 2) == errno.ENOENT
    target = tmp_path / "f"
    target.write_text("longer old text")
    assert bounded_write(target, "new", 2) == 0
    assert target.read_text() == "new"


def test_bounded_write_from_another_thread(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("")
    results: list[int] = []
    worker = threading.Thread(target=lambda: results.append(bounded_write(target, "t", 2)))
    worker.start()
    worker.join(5)
    assert results == [0] and target.read_text() == "t"


@pytest.mark.parametrize(("code", "kind", "text"), [
    (errno.EBUSY, Busy, "set sriov_numvfs of eth2 to 4: SR-IOV PF 'eth2' is busy (Device or resource busy)"),
    (errno.ERANGE, HostError, "set sriov_numvfs of eth2 to 4: Numerical result out of range"),
    (errno.ENOENT, NotFound, "sysfs file 'sys/class/net/eth2/device/sriov_numvfs' does not exist"),
])
def test_write_errors_are_mapped(tree: SysfsTree, monkeypatch, code: int, kind, text: str) -> None:
    monkeypatch.setattr(sysfs_mod, "bounded_write", lambda path, data, timeout: code)
    with pytest.raises(kind) as info:
        SysfsAdapter(tree.root).set_sriov_numvfs("eth2", 4)
    assert type(info.value) is kind and text in str(info.value)


def test_no_iommu_means_no_group(tmp_path: Path) -> None:
    tree = SysfsTree(tmp_path)
    tree.add_device(NIC, "e1000e", group=None)
    port = SysfsAdapter(tmp_path)
    assert port.iommu_group(NIC) is None
    assert port.iommu_group_number(NIC) is None
