"""Fake sysfs trees made of real folders, files and symlinks, laid out as the kernel does.

    tree = SysfsTree(tmp_path)
    tree.add_device("0000:00:01.0", None, pci_class=0x060400, group="1")    # a PCI bridge
    tree.add_device("0000:03:00.0", "e1000e", netdev="eth1", group="7")
    tree.add_pf("0000:04:00.0", "eth2", total_vfs=8, numvfs=2, driver="igb", vf_driver="igbvf")
    SysfsAdapter(root=tmp_path)

A fake tree cannot react to writes as the kernel does; ``KernelSim`` is a small watcher that
does the part the hooks rely on: a write to ``drivers/DRV/unbind`` removes the device's driver
link, a write to ``drivers_probe`` binds ``driver_override`` (else the device's own driver) and,
for vfio-pci, makes ``/dev/vfio/GROUP`` appear. Real binding is tested in the kernel lab.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

DEVICES = "sys/devices/pci0000:00"


class SysfsTree:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.native: dict[str, str | None] = {}      # address -> driver drivers_probe binds
        self.netdevs: dict[str, str] = {}            # address -> interface name of its driver
        for folder in (DEVICES, "sys/bus/pci/devices", "sys/bus/pci/drivers", "sys/kernel/iommu_groups",
                       "sys/class/net", "dev/vfio"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        (self.root / "sys/bus/pci/drivers_probe").write_text("")
        self.add_driver("vfio-pci")

    def path(self, relpath: str) -> Path:
        return self.root / relpath

    def device_dir(self, address: str) -> Path:
        return self.root / DEVICES / address

    def add_driver(self, name: str) -> Path:
        folder = self.root / "sys/bus/pci/drivers" / name
        folder.mkdir(exist_ok=True)
        for knob in ("bind", "unbind", "new_id"):
            (folder / knob).touch()
        return folder

    def add_device(self, address: str, driver: str | None = None, *, group: str | None = None,
                   pci_class: int = 0x020000, netdev: str | None = None) -> Path:
        """A PCI function, bound to ``driver`` (which owns ``netdev``), in IOMMU ``group``."""
        dev = self.device_dir(address)
        dev.mkdir()
        (dev / "class").write_text(f"0x{pci_class:06x}\n")
        (dev / "driver_override").write_text("(null)\n")
        (dev / "vendor").write_text("0x8086\n")
        os.symlink(f"../../../devices/pci0000:00/{address}", self.root / "sys/bus/pci/devices" / address)
        if group is not None:
            members = self.root / "sys/kernel/iommu_groups" / group / "devices"
            members.mkdir(parents=True, exist_ok=True)
            os.symlink(f"../../../../devices/pci0000:00/{address}", members / address)
            os.symlink(f"../../../kernel/iommu_groups/{group}", dev / "iommu_group")
        self.native[address] = driver
        if netdev:
            self.netdevs[address] = netdev
        if driver:
            self.bind(address, driver)
        return dev

    def add_pf(self, address: str, netdev: str, *, total_vfs: int, numvfs: int = 0, driver: str = "igb",
               vf_driver: str = "igbvf", group: str | None = None) -> list[str]:
        """An SR-IOV PF with ``numvfs`` VFs (virtfnN/physfn links); returns the VF addresses."""
        dev = self.add_device(address, driver, group=group or f"{len(self.native) + 10}", netdev=netdev)
        (dev / "sriov_totalvfs").write_text(f"{total_vfs}\n")
        (dev / "sriov_numvfs").write_text(f"{numvfs}\n")
        bus = address.rsplit(":", 1)[0]
        vfs = []
        for i in range(numvfs):
            slot, function = divmod(0x80 + i, 8)
            vf = f"{bus}:{slot:02x}.{function}"
            self.add_device(vf, vf_driver, group=f"{len(self.native) + 10}", netdev=f"{netdev}v{i}")
            os.symlink(f"../{vf}", dev / f"virtfn{i}")
            os.symlink(f"../{address}", self.device_dir(vf) / "physfn")
            vfs.append(vf)
        return vfs

    # -- what the kernel does on bind/unbind --------------------------------------------

    def driver_of(self, address: str) -> str | None:
        link = self.device_dir(address) / "driver"
        return os.path.basename(os.readlink(link)) if os.path.lexists(link) else None

    def group_of(self, address: str) -> str | None:
        link = self.device_dir(address) / "iommu_group"
        return os.path.basename(os.readlink(link)) if os.path.lexists(link) else None

    def bind(self, address: str, driver: str) -> None:
        """Bind as the kernel does, the driver link last: the kernel's write returns only once
        everything exists, and KernelSim's callers stop waiting when the link appears."""
        self.add_driver(driver)
        dev = self.device_dir(address)
        group = self.group_of(address)
        if driver == "vfio-pci" and group is not None:
            (self.root / "dev/vfio" / group).touch()
        netdev = self.netdevs.get(address)
        if netdev and driver == self.native.get(address):
            (dev / "net" / netdev).mkdir(parents=True)
            os.symlink("../..", dev / "net" / netdev / "device")
            os.symlink(f"../../devices/pci0000:00/{address}/net/{netdev}",
                       self.root / "sys/class/net" / netdev)
        os.symlink(f"../../../../devices/pci0000:00/{address}", self.root / "sys/bus/pci/drivers" / driver
                   / address)
        os.symlink(f"../../../bus/pci/drivers/{driver}", dev / "driver")

    def unbind(self, address: str) -> None:
        """Unbind, the driver link last (see ``bind``)."""
        driver = self.driver_of(address)
        if driver is None:
            return
        dev = self.device_dir(address)
        group = self.group_of(address)
        if driver == "vfio-pci" and group is not None:
            (self.root / "dev/vfio" / group).unlink(missing_ok=True)
        netdev = self.netdevs.get(address)
        if netdev and (dev / "net" / netdev).exists():
            os.unlink(self.root / "sys/class/net" / netdev)
            os.unlink(dev / "net" / netdev / "device")
            (dev / "net" / netdev).rmdir()
            (dev / "net").rmdir()
        os.unlink(self.root / "sys/bus/pci/drivers" / driver / address)
        os.unlink(dev / "driver")

    def probe(self, address: str) -> None:
        if self.driver_of(address) is not None:
            return
        # The kernel shows an unset override as "(null)"; a plain file holds "" or "\n" after
        # the adapter cleared it, and SysfsAdapter reads all three as unset.
        override = (self.device_dir(address) / "driver_override").read_text().strip()
        wanted = override if override and override != "(null)" else self.native.get(address)
        if wanted and (self.root / "sys/bus/pci/drivers" / wanted).is_dir():
            self.bind(address, wanted)


class KernelSim:
    """A watcher thread applying writes to ``unbind`` and ``drivers_probe`` as the kernel would.

    The writes land in plain files; each poll consumes them. Use as a context manager around
    the code under test.
    """

    def __init__(self, tree: SysfsTree, interval: float = 0.005) -> None:
        self.tree = tree
        self.interval = interval
        self.seen: list[tuple[str, str]] = []       # (file, value) written, in order
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> KernelSim:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _take(self, path: Path) -> str | None:
        text = path.read_text()
        if not text:
            return None
        path.write_text("")
        return text.strip()

    def _run(self) -> None:
        root = self.tree.root
        while not self._stop.is_set():
            for unbind in sorted((root / "sys/bus/pci/drivers").glob("*/unbind")):
                value = self._take(unbind)
                if value:
                    self.seen.append((str(unbind.relative_to(root)), value))
                    self.tree.unbind(value)
            value = self._take(root / "sys/bus/pci/drivers_probe")
            if value:
                self.seen.append(("sys/bus/pci/drivers_probe", value))
                self.tree.probe(value)
            self._stop.wait(self.interval)
