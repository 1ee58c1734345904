"""SR-IOV and vfio: sriov_numvfs, binding to vfio-pci and back, VF MAC and VLAN."""

from __future__ import annotations

import time

from hooks.actions.base import (
    NO_MAC,
    VFIO,
    VFIO_COMPATIBLE,
    Action,
    Undo,
    domain_record,
    domain_state,
    network_record,
    network_state,
    undo_own_steps,
)
from hooks.errors import HostError, NotFound

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Any

    from hooks.context import Context
else:
    from xmltools.record import dataclass


@dataclass(frozen=True)
class SetSriovNumVfs(Action):
    """sriov_numvfs of a PF; the kernel needs 0 in between when changing a non-zero count."""

    pf: str
    count: int

    def describe(self) -> str:
        return f"set sriov_numvfs of {self.pf} to {self.count}"

    def apply(self, ctx: Context) -> Undo | None:
        fs = ctx.sysfs
        before = fs.sriov_numvfs(self.pf)
        if before == self.count:
            return None
        total = fs.sriov_totalvfs(self.pf)
        if self.count > total:
            raise HostError(step=self.describe(), detail=f"{self.pf} supports at most {total} VFs")
        with network_record(ctx) as rec:
            rec.part_for_update(rec.NUMVFS).setdefault(self.pf, before)
        try:
            _set_numvfs(fs, self.pf, before, self.count)
        except BaseException:
            # Changing a non-zero count is two writes: after "0" the PF has no VFs at all.
            # Put the old count back if we can; if not, the record stays for repair.
            undo_own_steps(ctx, f"set sriov_numvfs of {self.pf} back to {before}",
                           lambda: RestoreNumVfs(self.pf).apply(ctx))
            raise
        return Undo(f"set sriov_numvfs of {self.pf} back to {before}",
                    lambda: RestoreNumVfs(self.pf).apply(ctx))


@dataclass(frozen=True)
class RestoreNumVfs(Action):
    """Put back the sriov_numvfs the network's record holds (repair of a start that did not
    finish), and stop tracking it."""

    pf: str

    def describe(self) -> str:
        return f"restore the original sriov_numvfs of {self.pf}"

    def apply(self, ctx: Context) -> Undo | None:
        original = network_state(ctx).numvfs.get(self.pf)
        if original is None:
            return None
        fs = ctx.sysfs
        now = fs.sriov_numvfs(self.pf)
        _set_numvfs(fs, self.pf, now, int(original))
        with network_record(ctx) as rec:
            rec.numvfs.pop(self.pf, None)
        return Undo(f"set sriov_numvfs of {self.pf} to {now} again",
                    lambda: SetSriovNumVfs(self.pf, now).apply(ctx))


@dataclass(frozen=True)
class ForgetNumVfs(Action):
    """Network ``stopped``: the PF keeps its VFs; the original count is no longer needed.

    What remains recorded after this is the mark of a start that never finished, which
    ``hooks repair`` puts back (``RestoreNumVfs``).
    """

    def describe(self) -> str:
        return "stop tracking the original sriov_numvfs (the PF keeps its VFs)"

    def apply(self, ctx: Context) -> Undo | None:
        with network_record(ctx) as rec:
            before = rec.drop(rec.NUMVFS)
        if not before:
            return None

        def undo() -> None:
            with network_record(ctx) as rec:
                rec.replace(rec.NUMVFS, before)

        return Undo("track the original sriov_numvfs again", undo)


def _set_numvfs(fs: Any, pf: str, current: int, count: int) -> None:
    if current == count:
        return
    if current and count:
        fs.set_sriov_numvfs(pf, 0)
    fs.set_sriov_numvfs(pf, count)


@dataclass(frozen=True)
class BindVfio(Action):
    """Move a PCI function to vfio-pci, after checking its whole IOMMU group can follow.

    QEMU can only use the group when every member is unbound or on vfio-pci/pci-stub (PCI
    bridges excepted). The original driver is recorded before anything changes.
    """

    address: str

    def describe(self) -> str:
        return f"bind {self.address} to {VFIO}"

    def apply(self, ctx: Context) -> Undo | None:
        fs = ctx.sysfs
        step = self.describe()
        dev = fs.pci_device(self.address)
        if dev is None:
            raise NotFound(step=step, what="PCI device", name=self.address)
        if dev.driver == VFIO:
            return None
        group = fs.iommu_group(self.address)
        if group is None:
            raise HostError(step=step, detail=f"{self.address} has no IOMMU group (is the IOMMU enabled?)")
        for member in group:
            if member == self.address:
                continue
            other = fs.pci_device(member)
            if other is None or other.is_bridge or other.driver in (None, *VFIO_COMPATIBLE):
                continue
            raise HostError(step=step, detail=f"IOMMU group of {self.address} is not viable: "
                            f"{member} is bound to {other.driver}")
        with domain_record(ctx) as rec:
            rec.part_for_update(rec.DRIVERS).setdefault(
                self.address, {"driver": dev.driver, "override": dev.driver_override})
        try:
            fs.set_driver_override(self.address, VFIO)
            if dev.driver is not None:
                fs.unbind(self.address, ctx.sysfs_timeout())
            fs.drivers_probe(self.address, ctx.sysfs_timeout())
            _wait_driver(ctx, self.address, VFIO, step)
        except BaseException:
            # Put the device back if we can; if that fails too, the record stays for repair.
            undo_own_steps(ctx, f"restore driver of {self.address}",
                           lambda: RestoreDriver(self.address).apply(ctx))
            raise
        return Undo(f"restore driver of {self.address}", lambda: RestoreDriver(self.address).apply(ctx))


def _wait_driver(ctx: Context, address: str, driver: str | None, step: str) -> None:
    """Poll (bounded by the deadline) until ``address`` is bound to ``driver``."""
    end = time.monotonic() + ctx.sysfs_timeout()
    while True:
        dev = ctx.sysfs.pci_device(address)
        if dev is not None and dev.driver == driver:
            return
        if time.monotonic() >= end:
            now = dev.driver if dev else "gone"
            raise HostError(step=step, detail=f"{address} is on {now or 'no driver'}, not {driver} "
                            f"(is the {driver} module loaded?)")
        time.sleep(0.02)


@dataclass(frozen=True)
class RestoreDriver(Action):
    """Give a PCI function back to the driver recorded before BindVfio."""

    address: str

    def describe(self) -> str:
        return f"restore the original driver of {self.address}"

    def apply(self, ctx: Context) -> Undo | None:
        made = domain_state(ctx).drivers.get(self.address)
        if made is None:
            return None
        holder = ctx.state.holder(f"pci-{self.address}")
        if holder not in (None, ctx.owner.name):
            # A leftover record (a release or rollback that failed half way) of a device that
            # another domain holds now: its driver is that domain's business. Dropped, so that
            # later releases, repairs and prepares of this domain do not fail on it.
            with domain_record(ctx) as rec:
                rec.drivers.pop(self.address, None)
            raise HostError(step=self.describe(), detail=f"{self.address} is held by domain {holder}; "
                            "refusing to change its driver")
        fs = ctx.sysfs
        dev = fs.pci_device(self.address)
        if dev is not None:
            fs.set_driver_override(self.address, made.get("override"))
            if dev.driver is not None and dev.driver != made.get("driver"):
                fs.unbind(self.address, ctx.sysfs_timeout())
            if made.get("driver") and fs.pci_device(self.address).driver is None:  # type: ignore[union-attr]
                fs.drivers_probe(self.address, ctx.sysfs_timeout())
        with domain_record(ctx) as rec:
            rec.drivers.pop(self.address, None)
        return Undo(f"bind {self.address} to {VFIO} again", lambda: BindVfio(self.address).apply(ctx))


def vf_not_held(ctx: Context, pf: str, index: int, address: str, *, restore: bool = False) -> str | None:
    """Why this domain may not change VF ``index`` of ``pf`` (None: it may): it must be the
    function ``address``, and this domain must hold the claim on that function - or, to put
    back what it changed itself (``restore``), at least no other domain may hold it.

    MAC and VLAN are set through the PF by index, but a claim holds a PCI address: the two
    must be the same VF at the moment of the change (VFs can be re-created in between), and
    only the domain holding the claim may change it. (A rollback or release that failed half
    way can leave a VF's record after its claim is gone; ``hooks repair`` must still restore
    it.) A failure to read is raised, not returned.
    """
    from xmltools.names import PciAddress

    found = ctx.sysfs.vf_address(pf, index)
    if found is None or str(PciAddress.parse(found)) != address:
        return f"VF {index} of {pf} is {found or 'missing'}, not {address}; refusing to change a VF " \
               "this domain does not hold"
    holder = ctx.state.holder(f"pci-{address}")
    if holder != ctx.owner.name and not (restore and holder is None):
        return (f"VF {address} ({pf} index {index}) is "
                + (f"held by domain {holder}" if holder else "not claimed by this domain")
                + "; refusing to change it")
    return None


@dataclass(frozen=True)
class SetVfMacVlan(Action):
    """MAC and VLAN of VF ``index`` through its PF; the old values are recorded first.

    ``address`` is the VF's PCI address the planner resolved and claimed: the change is made
    only while VF ``index`` of ``pf`` still is that function and this domain holds it.
    """

    pf: str
    index: int
    mac: str | None
    vlan: int = 0
    address: str | None = None

    def describe(self) -> str:
        mac = self.mac or "(unchanged)"
        return f"set VF {self.index} of {self.pf}: mac {mac}, vlan {self.vlan or 'none'}"

    def apply(self, ctx: Context) -> Undo | None:
        if self.address is not None:
            problem = vf_not_held(ctx, self.pf, self.index, self.address)
            if problem:
                raise HostError(step=self.describe(), detail=problem)
        nl = ctx.netlink
        before = nl.vf_info(self.pf, self.index)
        if (self.mac is None or (before.mac or "").lower() == self.mac.lower()) and before.vlan == self.vlan:
            return None
        original: dict[str, Any] = {"pf": self.pf, "index": self.index, "vlan": before.vlan}
        if self.mac is not None:   # only what this action changes is put back later
            original["mac"] = before.mac or NO_MAC
        if self.address is not None:
            original["address"] = self.address
        with domain_record(ctx) as rec:
            rec.part_for_update(rec.VFS).setdefault(f"{self.pf}/{self.index}", original)
        try:
            nl.set_vf(self.pf, self.index, mac=self.mac, vlan=self.vlan)
        except BaseException:
            # The kernel applies MAC and VLAN one after the other: the MAC may have changed.
            # Put back what was recorded (and drop the record); if that fails, repair will.
            undo_own_steps(ctx, f"restore VF {self.index} of {self.pf}",
                           lambda: RestoreVf(self.pf, self.index).apply(ctx))
            raise
        return Undo(f"restore VF {self.index} of {self.pf}",
                    lambda: RestoreVf(self.pf, self.index).apply(ctx))


@dataclass(frozen=True)
class RestoreVf(Action):
    """Put back the MAC and VLAN a VF had before SetVfMacVlan.

    When the record names the VF's address, the VF is restored only while it still is that
    function and this domain still holds it (``RestoreVf`` runs before ``ReleaseClaim``).
    """

    pf: str
    index: int

    def describe(self) -> str:
        return f"restore MAC and VLAN of VF {self.index} of {self.pf}"

    def apply(self, ctx: Context) -> Undo | None:
        key = f"{self.pf}/{self.index}"
        made = domain_state(ctx).vfs.get(key)
        if made is None:
            return None
        address = made.get("address")
        problem = vf_not_held(ctx, self.pf, self.index, str(address), restore=True) if address else None
        if problem:
            # Dropped, not retried: a record that can no longer be applied safely would
            # otherwise fail every later release, repair and prepare of the domain.
            with domain_record(ctx) as rec:
                rec.vfs.pop(key, None)
            raise HostError(step=self.describe(), detail=problem)
        nl = ctx.netlink
        now = nl.vf_info(self.pf, self.index)
        # A VF without a MAC reads as all zeroes; setting that clears it again.
        nl.set_vf(self.pf, self.index, mac=made.get("mac"), vlan=made.get("vlan") or 0)
        with domain_record(ctx) as rec:
            rec.vfs.pop(key, None)
        again = SetVfMacVlan(self.pf, self.index, now.mac if "mac" in made else None, now.vlan,
                             address)
        return Undo(f"set VF {self.index} of {self.pf} again", lambda: again.apply(ctx))
