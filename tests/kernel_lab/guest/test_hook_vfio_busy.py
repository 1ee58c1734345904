"""A device that a user (QEMU, here this test) still holds open through vfio: release must not hang.

vfio-pci's remove waits, in the kernel, until the device's last user lets go, so the write to
``unbind`` blocks, and a SIGKILL does not end it. The hook must give up on time, leave libvirt a
message, and leave a record that ``hooks repair`` finishes once the device is free.
"""

from __future__ import annotations

import fcntl
import os
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.kernel_lab.guest.hookcall import call, domain_xml, pci_source, virt_netxml
from tests.kernel_lab.guest.kernel import PCI_SOLO, iommu_group, pci_driver, wait_for_driver

pytestmark = pytest.mark.usefixtures("pci_restored")

# include/uapi/linux/vfio.h: _IO(';', 100 + n)
VFIO_SET_IOMMU = 0x3B66
VFIO_GROUP_SET_CONTAINER = 0x3B68
VFIO_GROUP_GET_DEVICE_FD = 0x3B6A
VFIO_TYPE1_IOMMU = 1

DOMAIN = domain_xml("lab-busy", "<interface type='hostdev' managed='no'><mac address='52:54:00:4c:02:01'/>"
                                f"<source>{pci_source(PCI_SOLO)}</source></interface>")


@contextmanager
def device_held_open(address: str) -> Iterator[None]:
    """Open the device through vfio as QEMU does: container, group, IOMMU type, device fd."""
    container = os.open("/dev/vfio/vfio", os.O_RDWR)
    group = os.open(f"/dev/vfio/{iommu_group(address)}", os.O_RDWR)
    try:
        fcntl.ioctl(group, VFIO_GROUP_SET_CONTAINER, struct.pack("i", container))
        fcntl.ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU)
        device = fcntl.ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bytearray(address.encode() + b"\0"))
        try:
            yield
        finally:
            os.close(device)
    finally:
        os.close(group)
        os.close(container)


def test_release_of_a_device_in_use_fails_on_time_and_repair_finishes(hook_env: Path) -> None:
    assert call("qemu", "lab-busy", "prepare", DOMAIN).code == 0
    assert pci_driver(PCI_SOLO) == "vfio-pci"
    with device_held_open(PCI_SOLO):
        started = time.monotonic()
        result = call("qemu", "lab-busy", "release", DOMAIN, sub="end")
        elapsed = time.monotonic() - started
        # Nothing here may read driver_override: the kernel holds the device's lock while
        # the abandoned unbind waits, and this process holds the device.
    assert result.code == 1 and "timed out" in result.stderr and PCI_SOLO in result.stderr, result
    assert elapsed < 20, f"release took {elapsed:.1f}s"
    # The device is free now: the abandoned unbind completes, and repair puts e1000e back.
    wait_for_driver(PCI_SOLO, None)
    repaired = virt_netxml("hooks", "repair")
    assert repaired.code == 0 and "lab-busy" in repaired.stdout, repaired
    wait_for_driver(PCI_SOLO, "e1000e")
    assert not Path("/dev/vfio", iommu_group(PCI_SOLO)).exists()
