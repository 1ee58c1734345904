"""PCI functions bound to vfio-pci by the hook at ``prepare`` and given back at ``release``.

The lab's e1000e at KERNEL_LAB_PCI_SOLO sits alone in its IOMMU group; the two e1000 functions
at KERNEL_LAB_PCI_SHARED share one. The domains use ``<interface type='hostdev' managed='no'>``,
which libvirt does not bind itself. Every outcome is read from sysfs directly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hooks.adapters.sysfs import SysfsAdapter
from hooks.errors import HostError
from hooks.state import StateStore
from tests.kernel_lab.guest.hookcall import (
    REPO,
    call,
    call_program,
    domain_xml,
    hook_environment,
    pci_source,
    virt_netxml,
)
from tests.kernel_lab.guest.kernel import (
    PCI_SHARED,
    PCI_SOLO,
    driver_override,
    iommu_group,
    pci_driver,
    wait_for_driver,
)

pytestmark = pytest.mark.usefixtures("pci_restored")

SOLO_MAC, SHARED_MAC = "52:54:00:4c:01:01", "52:54:00:4c:01:02"


def _hostdev(mac: str, address: str) -> str:
    return (f"<interface type='hostdev' managed='no'><mac address='{mac}'/>"
            f"<source>{pci_source(address)}</source></interface>")


SOLO = domain_xml("lab-vf", _hostdev(SOLO_MAC, PCI_SOLO))
# The solo function first, then one whose group is not viable: the second step fails.
BOTH = domain_xml("lab-vf2", _hostdev(SOLO_MAC, PCI_SOLO) + _hostdev(SHARED_MAC, PCI_SHARED[0]))
SHARED = domain_xml("lab-vf3", _hostdev(SHARED_MAC, PCI_SHARED[0]))


def _record(state: Path, domain: str) -> dict:
    path = state / "domains" / f"{domain}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _assert_back_on_e1000e() -> None:
    wait_for_driver(PCI_SOLO, "e1000e")
    assert driver_override(PCI_SOLO) is None
    assert not Path("/dev/vfio", iommu_group(PCI_SOLO)).exists()


def test_prepare_binds_to_vfio_and_release_restores(hook_env: Path, installed_hooks: dict[str, Path]) -> None:
    # prepare and release through the installed hook program, as libvirt runs them.
    result = call_program(installed_hooks["qemu"], "lab-vf", "prepare", SOLO)
    assert (result.code, result.stderr) == (0, ""), result
    assert pci_driver(PCI_SOLO) == "vfio-pci"
    assert Path("/dev/vfio", iommu_group(PCI_SOLO)).is_char_device()
    assert _record(hook_env, "lab-vf")["drivers"][PCI_SOLO]["driver"] == "e1000e"
    assert StateStore(str(hook_env)).holder(f"pci-{PCI_SOLO}") == "lab-vf"

    # A second prepare (libvirt retrying) finds it done.
    assert call("qemu", "lab-vf", "prepare", SOLO).code == 0
    assert pci_driver(PCI_SOLO) == "vfio-pci"

    result = call_program(installed_hooks["qemu"], "lab-vf", "release", SOLO, sub="end")
    assert (result.code, result.stderr) == (0, ""), result
    _assert_back_on_e1000e()
    assert _record(hook_env, "lab-vf") == {}
    assert StateStore(str(hook_env)).holder(f"pci-{PCI_SOLO}") is None


def test_a_second_domain_cannot_take_the_same_function(hook_env: Path) -> None:
    assert call("qemu", "lab-vf", "prepare", SOLO).code == 0
    other = domain_xml("lab-vf-other", _hostdev("52:54:00:4c:01:09", PCI_SOLO))
    result = call("qemu", "lab-vf-other", "prepare", other)
    assert result.code == 1 and "in use by domain lab-vf" in result.stderr, result
    assert pci_driver(PCI_SOLO) == "vfio-pci"
    assert call("qemu", "lab-vf", "release", SOLO, sub="end").code == 0
    _assert_back_on_e1000e()


def test_non_viable_iommu_group_is_refused_and_nothing_changes(hook_env: Path) -> None:
    result = call("qemu", "lab-vf3", "prepare", SHARED)
    assert result.code == 1
    assert (f"IOMMU group of {PCI_SHARED[0]} is not viable: {PCI_SHARED[1]} is bound to e1000"
            in result.stderr), result.stderr
    assert "lab-vf3" in result.stderr and SHARED_MAC in result.stderr
    assert [pci_driver(a) for a in PCI_SHARED] == ["e1000", "e1000"]
    assert driver_override(PCI_SHARED[0]) is None
    assert _record(hook_env, "lab-vf3") == {}


def test_a_failure_after_one_bind_rolls_that_bind_back(hook_env: Path) -> None:
    result = call("qemu", "lab-vf2", "prepare", BOTH)
    assert result.code == 1 and "not viable" in result.stderr and "rolled back" in result.stderr, result
    _assert_back_on_e1000e()
    assert pci_driver(PCI_SHARED[0]) == "e1000"
    assert _record(hook_env, "lab-vf2") == {}
    assert StateStore(str(hook_env)).holder(f"pci-{PCI_SOLO}") is None


class FailsInProbe(SysfsAdapter):
    """The real adapter, except that drivers_probe fails after override and unbind are done."""

    def drivers_probe(self, address: str, timeout: float) -> None:
        if driver_override(address) == "vfio-pci":
            raise HostError(step=f"probe drivers for {address}", detail="injected failure")
        super().drivers_probe(address, timeout)


def test_a_failure_inside_the_bind_sequence_rolls_back(hook_env: Path) -> None:
    result = call("qemu", "lab-vf", "prepare", SOLO, ports={"sysfs": FailsInProbe("/")})
    assert result.code == 1 and "injected failure" in result.stderr, result
    _assert_back_on_e1000e()
    assert _record(hook_env, "lab-vf") == {}


def _crash_during_prepare(hook_env: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "tests.kernel_lab.guest.crash_hook", "lab-vf", "prepare"],
                          input=SOLO, capture_output=True, text=True, env=hook_environment(), cwd=REPO,
                          timeout=120)
    assert proc.returncode == -9, proc
    # Left behind: a record of the original driver, and a device on no driver at all.
    assert _record(hook_env, "lab-vf")["drivers"][PCI_SOLO]["driver"] == "e1000e"
    assert pci_driver(PCI_SOLO) is None and driver_override(PCI_SOLO) == "vfio-pci"


def test_a_crash_is_repaired_by_the_next_prepare(hook_env: Path) -> None:
    _crash_during_prepare(hook_env)
    assert call("qemu", "lab-vf", "prepare", SOLO).code == 0
    assert pci_driver(PCI_SOLO) == "vfio-pci"
    # The record still names the driver from before the crash, not the half-done state.
    assert _record(hook_env, "lab-vf")["drivers"][PCI_SOLO]["driver"] == "e1000e"
    assert call("qemu", "lab-vf", "release", SOLO, sub="end").code == 0
    _assert_back_on_e1000e()


def test_a_crash_is_repaired_by_hooks_repair(hook_env: Path) -> None:
    _crash_during_prepare(hook_env)
    result = virt_netxml("hooks", "repair")
    assert result.code == 0, result
    assert "lab-vf" in result.stdout
    _assert_back_on_e1000e()
    assert _record(hook_env, "lab-vf") == {}
    assert virt_netxml("hooks", "repair").stdout.strip() == "nothing to repair"
