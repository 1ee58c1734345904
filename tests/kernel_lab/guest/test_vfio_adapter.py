"""Binding a PCI function to vfio-pci and back through hooks.adapters.sysfs.SysfsAdapter.

The lab's e1000e (alone in its IOMMU group behind QEMU's emulated VT-d) stands in for a VF:
the sysfs sequence is the same for any PCI function. Every step is read back from sysfs directly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hooks.adapters.sysfs import SysfsAdapter
from tests.kernel_lab.guest.kernel import (
    PCI_SHARED,
    PCI_SOLO,
    driver_override,
    iommu_group,
    pci_driver,
    wait_for_driver,
)

pytestmark = pytest.mark.usefixtures("pci_restored")


def test_the_adapter_reads_the_device_and_its_group() -> None:
    fs = SysfsAdapter("/")
    dev = fs.pci_device(PCI_SOLO)
    assert dev is not None
    assert (dev.driver, dev.driver_override, dev.is_bridge) == ("e1000e", None, False)
    assert dev.netdev is not None and Path("/sys/class/net", dev.netdev).exists()
    assert fs.iommu_group(PCI_SOLO) == [PCI_SOLO]
    assert fs.iommu_group(PCI_SHARED[0]) == sorted(PCI_SHARED)
    assert fs.iommu_group_number(PCI_SOLO) == iommu_group(PCI_SOLO)


def test_bind_to_vfio_and_restore() -> None:
    fs = SysfsAdapter("/")
    group = iommu_group(PCI_SOLO)
    assert not fs.vfio_group_exists(group)

    fs.set_driver_override(PCI_SOLO, "vfio-pci")
    assert driver_override(PCI_SOLO) == "vfio-pci"
    fs.unbind(PCI_SOLO, timeout=30)
    assert pci_driver(PCI_SOLO) is None
    fs.drivers_probe(PCI_SOLO, timeout=30)
    assert pci_driver(PCI_SOLO) == "vfio-pci"
    assert fs.vfio_group_exists(group) and Path("/dev/vfio", group).is_char_device()
    assert fs.pci_device(PCI_SOLO).netdev is None  # type: ignore[union-attr]

    fs.set_driver_override(PCI_SOLO, None)
    assert driver_override(PCI_SOLO) is None
    fs.unbind(PCI_SOLO, timeout=30)
    fs.drivers_probe(PCI_SOLO, timeout=30)
    wait_for_driver(PCI_SOLO, "e1000e")
    assert not fs.vfio_group_exists(group)


def test_unbinding_an_unbound_device_is_a_no_op() -> None:
    fs = SysfsAdapter("/")
    fs.set_driver_override(PCI_SOLO, "vfio-pci")
    fs.unbind(PCI_SOLO, timeout=30)
    fs.unbind(PCI_SOLO, timeout=30)
    assert pci_driver(PCI_SOLO) is None
