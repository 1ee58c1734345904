"""SysfsPort: PCI driver binding, IOMMU groups and SR-IOV knobs under a sysfs root.

Every path is ``root`` plus components that were validated first (``PciAddress.parse``,
``validate_interface_name``, a driver-name pattern), never raw input, so tests point the
adapter at a tree of real folders, files and symlinks (``tests/sysfs_tree.py``).

Writes that can block in the kernel (``unbind``, ``drivers_probe``, ``sriov_numvfs``: a driver
may wait until the device's user lets go) are done by a forked child, see ``bounded_write``.
A thread would not do: a thread stuck in an uninterruptible kernel wait keeps the whole hook
process from exiting, and libvirtd waits for the hook. A stuck child is killed, left behind
with its standard streams on /dev/null, and the hook fails on time.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import time
from pathlib import Path

from hooks.errors import Busy, HostError, HostTimeout, NotFound
from hooks.ports import PciDevice
from xmltools.errors import InvalidValue
from xmltools.names import PciAddress, validate_interface_name

PCI_CLASS_BRIDGE = 0x0604
_DRIVER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_GROUP_RE = re.compile(r"^[0-9]{1,6}$")
_VIRTFN_RE = re.compile(r"^virtfn([0-9]+)$")
POLL_INTERVAL = 0.01


def driver_name(name: str) -> str:
    if not isinstance(name, str) or not _DRIVER_RE.match(name):
        raise InvalidValue(what="driver name", value=name, reason="expected letters, digits, '_', '.', '-'")
    return name


def bounded_write(path: Path, data: str, timeout: float) -> int:
    """Write ``data`` to ``path`` in a forked child; return 0 or the errno the write failed with.

    Raises TimeoutError when the child has not finished after ``timeout`` seconds; the child
    is then sent SIGKILL and not waited for (it may be in an uninterruptible kernel wait).
    """
    pid = os.fork()
    if pid == 0:   # child: touch nothing of the parent's, report errno as the exit status
        code = 0
        try:
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            os.closerange(3, 65536)
            # O_TRUNC is a no-op on sysfs and makes plain files (test trees) behave alike.
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
            try:
                os.write(fd, data.encode())
            finally:
                os.close(fd)
        except OSError as exc:
            code = exc.errno or errno.EIO
        except BaseException:
            code = errno.EIO
        os._exit(min(code, 255))
    deadline = time.monotonic() + timeout
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else errno.EINTR
            if time.monotonic() >= deadline:
                raise TimeoutError(path)
            time.sleep(POLL_INTERVAL)
    except BaseException:
        # Our timeout, or the hook's deadline firing (SIGALRM) while we waited.
        _abandon(pid)
        raise


def _abandon(pid: int) -> None:
    """SIGKILL the writer and reap it if it died at once; else init inherits it when we exit."""
    try:
        os.kill(pid, signal.SIGKILL)
        time.sleep(POLL_INTERVAL)
        os.waitpid(pid, os.WNOHANG)
    except (ProcessLookupError, ChildProcessError):
        pass


class SysfsAdapter:
    """SysfsPort over ``root/sys`` and ``root/dev`` (``root="/"`` on a host)."""

    def __init__(self, root: str | os.PathLike[str] = "/", write_timeout: float = 10.0) -> None:
        self.root = Path(root)
        self.write_timeout = write_timeout   # for sriov_numvfs, which has no timeout argument

    # -- paths (validated components only) ------------------------------------------

    def _device_dir(self, address: str) -> Path:
        return self.root / "sys/bus/pci/devices" / str(PciAddress.parse(address))

    def _driver_dir(self, driver: str) -> Path:
        return self.root / "sys/bus/pci/drivers" / driver_name(driver)

    def _pf_device_dir(self, step: str, pf: str) -> Path:
        path = self.root / "sys/class/net" / validate_interface_name(pf) / "device"
        if not (path / "sriov_totalvfs").exists():
            raise NotFound(step=step, what="SR-IOV PF", name=pf)
        return path

    def _existing_device(self, step: str, address: str) -> Path:
        path = self._device_dir(address)
        if not path.exists():
            raise NotFound(step=step, what="PCI device", name=address)
        return path

    # -- small readers --------------------------------------------------------------

    @staticmethod
    def _link_name(path: Path) -> str | None:
        try:
            return os.path.basename(os.readlink(path))
        except FileNotFoundError:
            return None

    @staticmethod
    def _read(path: Path) -> str | None:
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            return None

    def _write(self, step: str, path: Path, data: str, timeout: float, what: str, name: str) -> None:
        try:
            code = bounded_write(path, data, timeout)
        except TimeoutError:
            raise HostTimeout(step=step, seconds=timeout) from None
        if code == errno.EBUSY:
            raise Busy(step=step, what=what, name=name, detail=os.strerror(code))
        if code == errno.ENOENT:
            raise NotFound(step=step, what="sysfs file", name=str(path.relative_to(self.root)))
        if code:
            raise HostError(step=step, detail=os.strerror(code))

    def _netdev(self, device_dir: Path) -> str | None:
        try:
            names = sorted(os.listdir(device_dir / "net"))
        except (FileNotFoundError, NotADirectoryError):
            return None
        return names[0] if names else None

    # -- the port -------------------------------------------------------------------

    def pci_device(self, address: str) -> PciDevice | None:
        path = self._device_dir(address)
        if not path.exists():
            return None
        override = self._read(path / "driver_override")
        pci_class = self._read(path / "class") or "0"
        return PciDevice(address=str(PciAddress.parse(address)),
                         driver=self._link_name(path / "driver"),
                         driver_override=None if override in (None, "", "(null)") else override,
                         is_bridge=int(pci_class, 16) >> 8 == PCI_CLASS_BRIDGE,
                         netdev=self._netdev(path))

    def iommu_group(self, address: str) -> list[str] | None:
        path = self._existing_device(f"read IOMMU group of {address}", address)
        if not os.path.lexists(path / "iommu_group"):
            return None
        return sorted(os.listdir(path / "iommu_group" / "devices"))

    def iommu_group_number(self, address: str) -> str | None:
        """The device's IOMMU group number (the name under /dev/vfio), None without an IOMMU."""
        path = self._existing_device(f"read IOMMU group of {address}", address)
        return self._link_name(path / "iommu_group")

    def set_driver_override(self, address: str, driver: str | None) -> None:
        step = f"set driver_override of {address}"
        path = self._existing_device(step, address) / "driver_override"
        # A lone newline clears the override; the kernel strips it.
        data = driver_name(driver) if driver else "\n"
        self._write(step, path, data, self.write_timeout, "PCI device", address)

    def unbind(self, address: str, timeout: float) -> None:
        """Unbind from the current driver (none: nothing to do) and wait for the link to go."""
        step = f"unbind {address}"
        path = self._existing_device(step, address)
        driver = self._link_name(path / "driver")
        if driver is None:
            return
        deadline = time.monotonic() + timeout
        unbind_file = self._driver_dir(driver) / "unbind"
        self._write(step, unbind_file, str(PciAddress.parse(address)), timeout, "PCI device", address)
        while os.path.lexists(path / "driver"):
            if time.monotonic() >= deadline:
                raise HostTimeout(step=step, seconds=timeout)
            time.sleep(POLL_INTERVAL)

    def drivers_probe(self, address: str, timeout: float) -> None:
        """Ask the kernel to bind a driver; wait for it (for the override, when one is set).

        Without an override, a device no driver claims stays unbound: that is not an error,
        ``pci_device`` shows it. With an override, anything else by the deadline is HostTimeout.
        """
        step = f"probe drivers for {address}"
        path = self._existing_device(step, address)
        deadline = time.monotonic() + timeout
        self._write(step, self.root / "sys/bus/pci/drivers_probe", str(PciAddress.parse(address)),
                    timeout, "PCI device", address)
        override = self._read(path / "driver_override")
        wanted = None if override in (None, "", "(null)") else override
        while True:
            bound = self._link_name(path / "driver")
            if bound is not None and (wanted is None or bound == wanted):
                return
            if time.monotonic() >= deadline:
                if wanted is None:
                    return
                raise HostTimeout(step=f"{step} (waiting for {wanted})", seconds=timeout)
            time.sleep(POLL_INTERVAL)

    def vfio_group_exists(self, group: str) -> bool:
        if not isinstance(group, str) or not _GROUP_RE.match(group):
            raise InvalidValue(what="IOMMU group", value=str(group), reason="expected a number")
        return (self.root / "dev/vfio" / group).exists()

    def sriov_numvfs(self, pf: str) -> int:
        step = f"read sriov_numvfs of {pf}"
        return int(self._read(self._pf_device_dir(step, pf) / "sriov_numvfs") or 0)

    def sriov_totalvfs(self, pf: str) -> int:
        step = f"read sriov_totalvfs of {pf}"
        return int(self._read(self._pf_device_dir(step, pf) / "sriov_totalvfs") or 0)

    def set_sriov_numvfs(self, pf: str, count: int) -> None:
        """Write ``count``; EBUSY (VFs exist, or one is in use) becomes Busy."""
        step = f"set sriov_numvfs of {pf} to {count}"
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise InvalidValue(what="VF count", value=str(count), reason="must be a number >= 0")
        path = self._pf_device_dir(step, pf) / "sriov_numvfs"
        self._write(step, path, str(count), self.write_timeout, "SR-IOV PF", pf)

    def vf_address(self, pf: str, index: int) -> str | None:
        if not isinstance(index, int) or index < 0:
            raise InvalidValue(what="VF index", value=str(index), reason="must be a number >= 0")
        path = self._pf_device_dir(f"find VF {index} of {pf}", pf)
        return self._link_name(path / f"virtfn{index}")

    def pf_of_vf(self, address: str) -> tuple[str, int] | None:
        path = self._device_dir(address)
        pf_address = self._link_name(path / "physfn")
        if pf_address is None:
            return None
        pf_dir = path / "physfn"
        netdev = self._netdev(pf_dir)
        if netdev is None:
            return None
        me = str(PciAddress.parse(address))
        for entry in os.listdir(pf_dir):
            m = _VIRTFN_RE.match(entry)
            if m and self._link_name(pf_dir / entry) == me:
                return netdev, int(m[1])
        return None

    def netdev_of(self, address: str) -> str | None:
        return self._netdev(self._device_dir(address))
