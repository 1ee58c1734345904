"""Helpers for the guest tests: commands, links, bridge VLANs and PCI drivers, read from the kernel."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from tests.kernel_lab.lab import GUEST_FLAG

# Modules of the lab kernel the guest tests use, loaded from the unpacked package (nothing loads
# them on demand inside the lab).
MODULES = ("bridge", "8021q", "dummy", "veth", "tun", "macvlan", "vfio-pci", "e1000e", "e1000")
# The lab's PCI layout (tests/kernel_lab/lab.py): an e1000e alone in its IOMMU group, and two
# e1000 functions sharing one.
PCI_SOLO = os.environ.get("KERNEL_LAB_PCI_SOLO", "")
PCI_SHARED = tuple(os.environ.get("KERNEL_LAB_PCI_SHARED", "").split(","))
# Under TCG a driver's probe takes a while; waits for the kernel are bounded by this.
SETTLE = 30.0


def inside_lab() -> bool:
    try:
        return GUEST_FLAG in Path("/proc/cmdline").read_text().split()
    except OSError:
        return False


def run(*argv: str) -> str:
    """Run a command, fail the test with its stderr when it fails, return its stdout."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()}"
    return proc.stdout


def modprobe(name: str) -> None:
    run("modprobe", "-d", os.environ["KERNEL_LAB_ROOT"], name)


def link_json(name: str) -> dict:
    """``ip -d -j link show NAME`` as a dict."""
    return json.loads(run("ip", "-d", "-j", "link", "show", "dev", name))[0]


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def bridge_vlan_show(port: str) -> list[tuple[int, frozenset[str]]]:
    """``bridge -j vlan show dev PORT`` as sorted (vid, flags), ranges expanded."""
    data = json.loads(run("bridge", "-j", "vlan", "show", "dev", port) or "[]")
    vlans: list[tuple[int, frozenset[str]]] = []
    for entry in data:
        if entry.get("ifname") != port:
            continue
        for v in entry["vlans"]:
            flags = frozenset(v.get("flags", ()))
            vlans.extend((vid, flags) for vid in range(v["vlan"], v.get("vlanEnd", v["vlan"]) + 1))
    return sorted(vlans)


def pci_driver(address: str) -> str | None:
    """The driver bound to a PCI function, read straight from sysfs."""
    link = Path("/sys/bus/pci/devices", address, "driver")
    return os.path.basename(os.readlink(link)) if link.is_symlink() else None


def driver_override(address: str) -> str | None:
    text = Path("/sys/bus/pci/devices", address, "driver_override").read_text().strip()
    return None if text in ("", "(null)") else text


def iommu_group(address: str) -> str:
    return os.path.basename(os.readlink(Path("/sys/bus/pci/devices", address, "iommu_group")))


def wait_for_driver(address: str, driver: str | None) -> None:
    """Wait (bounded) until the kernel has bound ``driver`` to ``address``."""
    end = time.monotonic() + SETTLE
    while pci_driver(address) != driver and time.monotonic() < end:
        time.sleep(0.05)
    assert pci_driver(address) == driver, f"{address} is on {pci_driver(address)}, not {driver}"


def bind_by_hand(address: str, driver: str) -> None:
    """Put a PCI function back on ``driver`` with plain sysfs writes (cleanup, not under test)."""
    device = Path("/sys/bus/pci/devices", address)
    (device / "driver_override").write_text("\n")
    if pci_driver(address) not in (None, driver):
        (device / "driver" / "unbind").write_text(address)
    if pci_driver(address) is None:
        Path("/sys/bus/pci/drivers_probe").write_text(address)
    wait_for_driver(address, driver)
