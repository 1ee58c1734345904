"""The lab itself: the kernel features and the PCI layout the other guest tests rely on."""

from __future__ import annotations

import os
from pathlib import Path

from tests.kernel_lab.guest.kernel import link_json, run


def _group_members(address: str) -> list[str]:
    group = Path("/sys/bus/pci/devices", address, "iommu_group")
    return sorted(p.name for p in (group / "devices").iterdir())


def test_lab_kernel_is_the_unpacked_package() -> None:
    version = (Path(os.environ["KERNEL_LAB_ROOT"]).parent / "version").read_text().strip()
    assert os.uname().release == version


def test_iommu_groups_match_the_lab_layout() -> None:
    solo = os.environ["KERNEL_LAB_PCI_SOLO"]
    shared = sorted(os.environ["KERNEL_LAB_PCI_SHARED"].split(","))
    assert _group_members(solo) == [solo]
    assert _group_members(shared[0]) == shared
    assert Path("/dev/vfio/vfio").exists()


def test_features_missing_on_the_host_are_here(links: list[str]) -> None:
    # The machine's own kernel refuses each of these (DESIGN.md section 3).
    links += ["labbr0", "labdum0"]
    run("ip", "link", "add", "labbr0", "type", "bridge", "vlan_filtering", "1")
    run("ip", "link", "add", "labdum0", "type", "dummy")
    run("ip", "link", "add", "link", "labdum0", "name", "labdum0.7", "type", "vlan", "id", "7")
    assert link_json("labbr0")["linkinfo"]["info_data"]["vlan_filtering"] == 1
    assert link_json("labdum0.7")["linkinfo"]["info_data"]["id"] == 7
