"""SR-IOV and vfio actions at their edges: the VF count at its limit, the original values
recorded once, what is restored on which device, and the messages a refusal shows."""

from __future__ import annotations

import time

import pytest

from hooks import actions as A
from hooks.actions.sriov import vf_not_held
from hooks.context import Context, Owner
from hooks.deadline import Deadline
from hooks.errors import HostError, NotFound
from hooks.ports import VfInfo
from tests.fakes import FakeNetlink, FakeSysfs
from tests.hooks.test_actions import Host

PF = "enp4s0f0"


@pytest.fixture
def net_host(tmp_path):
    host = Host(tmp_path, owner=Owner("network", "vfpool"))
    host.fs.add_pf(PF, "0000:04:00.0", total_vfs=8, numvfs=2)
    return host


# --------------------------------------------------------------------------- sriov_numvfs


def test_numvfs_up_to_the_total_is_set_and_one_more_refused(net_host):
    with pytest.raises(HostError) as info:
        A.SetSriovNumVfs(PF, 9).apply(net_host.ctx)
    assert info.value.message == f"set sriov_numvfs of {PF} to 9: {PF} supports at most 8 VFs"
    assert net_host.record("networks") == {}
    undo = A.SetSriovNumVfs(PF, 8).apply(net_host.ctx)
    assert net_host.fs.pfs[PF].numvfs == 8
    assert undo is not None and undo.step == f"set sriov_numvfs of {PF} back to 2"


def test_numvfs_from_and_to_zero_is_one_write(tmp_path):
    host = Host(tmp_path, owner=Owner("network", "vfpool"))
    host.fs.add_pf(PF, "0000:04:00.0", total_vfs=8, numvfs=0)
    undo = A.SetSriovNumVfs(PF, 3).apply(host.ctx)
    assert host.fs.calls_to("set_sriov_numvfs") == [(PF, 3)]
    assert host.record("networks")["numvfs"] == {PF: 0}
    host.fs.calls.clear()
    assert undo is not None
    undo.run()
    assert host.fs.calls_to("set_sriov_numvfs") == [(PF, 0)] and host.record("networks") == {}


def test_numvfs_keeps_the_first_original_when_set_twice(net_host):
    A.SetSriovNumVfs(PF, 4).apply(net_host.ctx)
    A.SetSriovNumVfs(PF, 6).apply(net_host.ctx)
    assert net_host.record("networks")["numvfs"] == {PF: 2}
    A.RestoreNumVfs(PF).apply(net_host.ctx)
    assert net_host.fs.pfs[PF].numvfs == 2


def test_numvfs_failure_after_zero_puts_the_old_count_back(tmp_path):
    def fail_on_four(pf, count):
        return HostError(step="numvfs", detail="ENOMEM") if count == 4 else None

    host = Host(tmp_path, owner=Owner("network", "vfpool"),
                fs=FakeSysfs(fail_on={"set_sriov_numvfs": fail_on_four}))
    host.fs.add_pf(PF, "0000:04:00.0", total_vfs=8, numvfs=2)
    with pytest.raises(HostError, match="ENOMEM"):
        A.SetSriovNumVfs(PF, 4).apply(host.ctx)
    assert host.fs.pfs[PF].numvfs == 2 and host.record("networks") == {} and host.ctx.left_over == []


def test_numvfs_failure_that_cannot_be_put_back_is_left_for_repair(tmp_path):
    def fail_on_non_zero(pf, count):
        return HostError(step="numvfs", detail="ENOMEM") if count else None

    host = Host(tmp_path, owner=Owner("network", "vfpool"),
                fs=FakeSysfs(fail_on={"set_sriov_numvfs": fail_on_non_zero}))
    host.fs.add_pf(PF, "0000:04:00.0", total_vfs=8, numvfs=2)
    with pytest.raises(HostError, match="ENOMEM"):
        A.SetSriovNumVfs(PF, 4).apply(host.ctx)
    assert host.ctx.left_over == [f"set sriov_numvfs of {PF} back to 2: numvfs: ENOMEM"]
    assert host.record("networks")["numvfs"] == {PF: 2}


def test_restore_numvfs_and_its_undo(net_host):
    assert A.RestoreNumVfs(PF).apply(net_host.ctx) is None
    A.SetSriovNumVfs(PF, 4).apply(net_host.ctx)
    undo = A.RestoreNumVfs(PF).apply(net_host.ctx)
    assert net_host.fs.pfs[PF].numvfs == 2 and net_host.record("networks") == {}
    assert undo is not None and undo.step == f"set sriov_numvfs of {PF} to 4 again"
    undo.run()
    assert net_host.fs.pfs[PF].numvfs == 4 and net_host.record("networks")["numvfs"] == {PF: 2}


def test_forget_numvfs_and_its_undo(net_host):
    assert A.ForgetNumVfs().apply(net_host.ctx) is None
    A.SetSriovNumVfs(PF, 4).apply(net_host.ctx)
    undo = A.ForgetNumVfs().apply(net_host.ctx)
    assert net_host.record("networks") == {} and net_host.fs.pfs[PF].numvfs == 4
    assert undo is not None and undo.step == "track the original sriov_numvfs again"
    undo.run()
    assert net_host.record("networks")["numvfs"] == {PF: 2}


# --------------------------------------------------------------------------- vfio


@pytest.fixture
def host(tmp_path):
    host = Host(tmp_path)
    host.fs.add_pf(PF, "0000:04:00.0", total_vfs=4, numvfs=2)
    host.net.add_pf(PF, 2)
    host.net.links[PF].vfs = [VfInfo(i, "00:00:00:00:00:00", 0) for i in range(2)]
    return host


def vf(host: Host, index: int) -> str:
    return host.fs.vf_address(PF, index)


def test_bind_vfio_of_a_missing_device(host):
    with pytest.raises(NotFound) as info:
        A.BindVfio("0000:09:00.0").apply(host.ctx)
    assert info.value.message == "bind 0000:09:00.0 to vfio-pci: PCI device '0000:09:00.0' does not exist"


def test_bind_vfio_accepts_a_group_of_unbound_stub_vfio_bridge_and_vanished_members(host):
    address = vf(host, 0)
    group = host.fs.devices[address].iommu_group
    host.fs.add_device("0000:04:00.4", None, group=group)
    host.fs.add_device("0000:04:00.5", "pci-stub", group=group)
    host.fs.add_device("0000:04:00.6", "vfio-pci", group=group)
    host.fs.add_device("0000:00:01.0", "pcieport", group=group, is_bridge=True)
    members = sorted(d for d, v in host.fs.devices.items() if v.iommu_group == group)
    host.fs.iommu_group = lambda a: [*members, "0000:04:00.7"]       # the last one gone when read
    undo = A.BindVfio(address).apply(host.ctx)
    assert undo is not None and undo.step == f"restore driver of {address}"
    assert host.fs.devices[address].driver == "vfio-pci"


def test_bind_vfio_checks_every_member_of_the_group(host):
    address = vf(host, 0)
    group = host.fs.devices[address].iommu_group
    host.fs.add_device("0000:00:01.0", "pcieport", group=group, is_bridge=True)     # sorts first
    host.fs.add_device("0000:04:00.4", None, group=group)
    host.fs.add_device("0000:05:00.0", "snd_hda_intel", group=group)                # sorts after the VF
    with pytest.raises(HostError) as info:
        A.BindVfio(address).apply(host.ctx)
    assert info.value.message == (f"bind {address} to vfio-pci: IOMMU group of {address} is not viable: "
                                  "0000:05:00.0 is bound to snd_hda_intel")
    assert host.record() == {} and host.fs.devices[address].driver == "igbvf"


def test_bind_vfio_without_an_iommu_group_says_so(tmp_path):
    host = Host(tmp_path, fs=FakeSysfs(iommu=False))
    host.fs.add_device("0000:05:00.0", "e1000e")
    with pytest.raises(HostError) as info:
        A.BindVfio("0000:05:00.0").apply(host.ctx)
    assert info.value.message == ("bind 0000:05:00.0 to vfio-pci: 0000:05:00.0 has no IOMMU group "
                                  "(is the IOMMU enabled?)")


def test_bind_and_restore_bound_their_sysfs_waits(host):
    address = vf(host, 0)
    A.BindVfio(address).apply(host.ctx)
    assert host.fs.calls_to("unbind") == [(address, 3.0)]
    assert host.fs.calls_to("drivers_probe") == [(address, 3.0)]
    host.fs.calls.clear()
    A.RestoreDriver(address).apply(host.ctx)
    assert host.fs.calls_to("set_driver_override") == [(address, None)]
    assert host.fs.calls_to("unbind") == [(address, 3.0)]
    assert host.fs.calls_to("drivers_probe") == [(address, 3.0)]


def test_restore_driver_of_an_unbound_device_only_probes(host):
    address = vf(host, 0)
    A.BindVfio(address).apply(host.ctx)
    host.fs.devices[address].driver = None                       # unbound by someone meanwhile
    host.fs.calls.clear()
    A.RestoreDriver(address).apply(host.ctx)
    assert host.fs.calls_to("unbind") == [] and host.fs.devices[address].driver == "igbvf"


def test_bind_vfio_of_an_unbound_device_does_not_unbind(host):
    host.fs.add_device("0000:05:00.0", None)
    host.fs.devices["0000:05:00.0"].native_driver = "e1000e"
    A.BindVfio("0000:05:00.0").apply(host.ctx)
    assert host.fs.calls_to("unbind") == []
    assert host.record()["drivers"] == {"0000:05:00.0": {"driver": None, "override": None}}
    assert host.fs.devices["0000:05:00.0"].driver == "vfio-pci"


def test_bind_vfio_keeps_the_first_original_driver(host):
    address = vf(host, 0)
    with host.store.edit("domains", "vm1") as rec:
        rec["drivers"] = {address: {"driver": "igbvf", "override": "igbvf"}}
    A.BindVfio(address).apply(host.ctx)
    assert host.record()["drivers"][address] == {"driver": "igbvf", "override": "igbvf"}


def test_bind_vfio_that_never_binds_names_the_driver_it_is_on(tmp_path):
    host = Host(tmp_path)
    host.ctx = Context(host.owner, host.store, Deadline(0.1), netlink=host.net, ovs=host.ovs, sysfs=host.fs)
    host.fs.add_device("0000:05:00.0", "e1000e")
    host.fs.drivers_probe = lambda address, timeout: None      # the module never takes it
    with pytest.raises(HostError) as info:
        A.BindVfio("0000:05:00.0").apply(host.ctx)
    assert info.value.message == ("bind 0000:05:00.0 to vfio-pci: 0000:05:00.0 is on no driver, not "
                                  "vfio-pci (is the vfio-pci module loaded?)")


def _slow_host(tmp_path, seconds: float, driver: str | None = "e1000e") -> Host:
    host = Host(tmp_path)
    host.ctx = Context(host.owner, host.store, Deadline(seconds), netlink=host.net, ovs=host.ovs,
                       sysfs=host.fs)
    host.fs.add_device("0000:05:00.0", driver)
    return host


def test_bind_vfio_waits_for_a_driver_that_binds_late(tmp_path):
    host = _slow_host(tmp_path, 30)
    reads = []
    real = host.fs.pci_device

    def late(address):
        reads.append(address)
        if len(reads) == 4:          # the first read is BindVfio's own; bound on the third poll
            host.fs.devices[address].driver = "vfio-pci"
        return real(address)

    host.fs.drivers_probe = lambda address, timeout: None
    host.fs.pci_device = late
    started = time.monotonic()
    assert A.BindVfio("0000:05:00.0").apply(host.ctx) is not None
    assert len(reads) == 4 and time.monotonic() - started < 0.9      # polled every 20 ms


@pytest.mark.parametrize(("change", "now"), [
    (lambda fs: fs.devices.pop("0000:05:00.0"), "gone"),
    (lambda fs: setattr(fs.devices["0000:05:00.0"], "driver", "e1000e"), "e1000e"),
])
def test_bind_vfio_that_ends_elsewhere_names_where(tmp_path, change, now):
    host = _slow_host(tmp_path, 0.1)
    host.fs.drivers_probe = lambda address, timeout: change(host.fs)
    host.fs.set_driver_override = lambda address, driver: None
    started = time.monotonic()
    with pytest.raises(HostError) as info:
        A.BindVfio("0000:05:00.0").apply(host.ctx)
    assert info.value.message.startswith(f"bind 0000:05:00.0 to vfio-pci: 0000:05:00.0 is on {now}, not "
                                         "vfio-pci (is the vfio-pci module loaded?)")
    assert time.monotonic() - started < 0.9


class Clock:
    """time for hooks.actions.sriov: monotonic() reads the ticks given, sleep() only counts."""

    def __init__(self, *ticks: float) -> None:
        self.ticks, self.sleeps = list(ticks), 0

    def monotonic(self) -> float:
        return self.ticks.pop(0) if len(self.ticks) > 1 else self.ticks[0]

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1


def test_bind_vfio_gives_up_at_its_deadline_not_a_poll_later(tmp_path, monkeypatch):
    import hooks.actions.sriov as sriov

    host = _slow_host(tmp_path, 30)
    host.fs.drivers_probe = lambda address, timeout: None
    clock = Clock(100.0, 103.0, 200.0)       # start; the first poll is exactly at start + 3 s
    monkeypatch.setattr(sriov, "time", clock)
    with pytest.raises(HostError, match="is on no driver, not vfio-pci"):
        A.BindVfio("0000:05:00.0").apply(host.ctx)
    assert clock.sleeps == 0


def test_bind_vfio_failure_whose_restore_fails_too_is_left_for_repair(tmp_path):
    host = Host(tmp_path, fs=FakeSysfs(fail_on={"drivers_probe": HostError(step="probe", detail="EBUSY")}))
    host.fs.add_device("0000:05:00.0", "e1000e")
    with pytest.raises(HostError, match="EBUSY"):
        A.BindVfio("0000:05:00.0").apply(host.ctx)
    assert host.ctx.left_over == ["restore driver of 0000:05:00.0: probe: EBUSY"]


def test_restore_driver_of_a_device_another_domain_holds_now(host):
    address = vf(host, 0)
    A.BindVfio(address).apply(host.ctx)
    A.ClaimDevice(f"pci-{address}", "VF").apply(host.context(Owner("domain", "vm2")))
    with pytest.raises(HostError) as info:
        A.RestoreDriver(address).apply(host.ctx)
    assert info.value.message == (f"restore the original driver of {address}: {address} is held by domain "
                                  "vm2; refusing to change its driver")
    assert host.record() == {} and host.fs.devices[address].driver == "vfio-pci"


def test_restore_driver_of_a_device_this_domain_holds(host):
    address = vf(host, 0)
    A.ClaimDevice(f"pci-{address}", "VF").apply(host.ctx)
    A.BindVfio(address).apply(host.ctx)
    A.RestoreDriver(address).apply(host.ctx)
    assert host.fs.devices[address].driver == "igbvf" and host.fs.devices[address].driver_override is None


def test_restore_driver_of_a_device_that_is_gone_forgets_it(host):
    address = vf(host, 0)
    A.BindVfio(address).apply(host.ctx)
    del host.fs.devices[address]
    host.fs.calls.clear()
    assert A.RestoreDriver(address).apply(host.ctx) is not None
    assert host.record() == {} and host.fs.calls_to("set_driver_override") == []


def test_restore_driver_puts_back_the_recorded_override(host):
    address = vf(host, 0)
    with host.store.edit("domains", "vm1") as rec:
        rec["drivers"] = {address: {"driver": "igbvf", "override": "igbvf"}}
    host.fs.devices[address].driver = "vfio-pci"
    A.RestoreDriver(address).apply(host.ctx)
    dev = host.fs.devices[address]
    assert (dev.driver, dev.driver_override) == ("igbvf", "igbvf")


def test_restore_driver_leaves_a_device_already_on_its_driver_bound(host):
    address = vf(host, 0)
    with host.store.edit("domains", "vm1") as rec:
        rec["drivers"] = {address: {"driver": "igbvf", "override": None}}
    A.RestoreDriver(address).apply(host.ctx)
    assert host.fs.calls_to("unbind") == [] and host.fs.calls_to("drivers_probe") == []


def test_restore_driver_of_a_device_that_had_none_leaves_it_unbound(host):
    address = vf(host, 0)
    A.BindVfio(address).apply(host.ctx)
    with host.store.edit("domains", "vm1") as rec:
        rec["drivers"][address] = {"driver": None, "override": None}
    undo = A.RestoreDriver(address).apply(host.ctx)
    assert host.fs.devices[address].driver is None
    assert [c for c in host.fs.calls if c[0] == "drivers_probe"] == [("drivers_probe", address, 3.0)]
    assert undo is not None and undo.step == f"bind {address} to vfio-pci again"
    undo.run()
    assert host.fs.devices[address].driver == "vfio-pci"


# --------------------------------------------------------------------------- VF MAC and VLAN


def test_vf_not_held_names_what_is_wrong(host):
    address = vf(host, 1)
    assert vf_not_held(host.ctx, PF, 1, address) == (
        f"VF {address} ({PF} index 1) is not claimed by this domain; refusing to change it")
    assert vf_not_held(host.ctx, PF, 1, address, restore=True) is None
    assert vf_not_held(host.ctx, PF, 0, address) == (
        f"VF 0 of {PF} is {vf(host, 0)}, not {address}; refusing to change a VF this domain does not hold")
    assert vf_not_held(host.ctx, PF, 5, address) == (
        f"VF 5 of {PF} is missing, not {address}; refusing to change a VF this domain does not hold")
    A.ClaimDevice(f"pci-{address}", "VF").apply(host.context(Owner("domain", "vm2")))
    message = f"VF {address} ({PF} index 1) is held by domain vm2; refusing to change it"
    assert vf_not_held(host.ctx, PF, 1, address) == message
    assert vf_not_held(host.ctx, PF, 1, address, restore=True) == message


def test_vf_not_held_compares_addresses_in_their_canonical_form(host):
    address = vf(host, 1)
    A.ClaimDevice(f"pci-{address}", "VF").apply(host.ctx)
    assert vf_not_held(host.ctx, PF, 1, address) is None
    host.fs.vf_address = lambda pf, index: address.upper().removeprefix("0000:")
    assert vf_not_held(host.ctx, PF, 1, address) is None


def test_set_vf_of_a_vf_this_domain_does_not_hold_is_refused(host):
    address = vf(host, 1)
    with pytest.raises(HostError) as info:
        A.SetVfMacVlan(PF, 1, "52:54:00:00:0f:01", 100, address).apply(host.ctx)
    assert info.value.message == (f"set VF 1 of {PF}: mac 52:54:00:00:0f:01, vlan 100: VF {address} "
                                  f"({PF} index 1) is not claimed by this domain; refusing to change it")
    assert host.net.calls_to("set_vf") == [] and host.record() == {}


def test_set_vf_records_the_address_and_its_undo_restores(host):
    address = vf(host, 1)
    A.ClaimDevice(f"pci-{address}", "VF").apply(host.ctx)
    undo = A.SetVfMacVlan(PF, 1, "52:54:00:00:0f:01", 100, address).apply(host.ctx)
    assert host.record()["vfs"] == {f"{PF}/1": {"pf": PF, "index": 1, "vlan": 0,
                                                 "mac": "00:00:00:00:00:00", "address": address}}
    assert undo is not None and undo.step == f"restore VF 1 of {PF}"
    undo.run()
    assert host.net.links[PF].vfs[1] == VfInfo(1, "00:00:00:00:00:00", 0) and "vfs" not in host.record()


def test_set_vf_compares_macs_without_case_and_a_vf_without_mac_as_empty(host):
    host.net.links[PF].vfs[1] = VfInfo(1, "52:54:00:00:0F:01", 100)
    assert A.SetVfMacVlan(PF, 1, "52:54:00:00:0f:01", 100).apply(host.ctx) is None
    assert A.SetVfMacVlan(PF, 1, None, 100).apply(host.ctx) is None
    assert A.SetVfMacVlan(PF, 1, "52:54:00:00:0f:01", 101).apply(host.ctx) is not None
    host.net.links[PF].vfs[0] = VfInfo(0, None, 0)
    assert A.SetVfMacVlan(PF, 0, "52:54:00:00:0f:09", 0).apply(host.ctx) is not None
    assert host.record()["vfs"][f"{PF}/0"]["mac"] == "00:00:00:00:00:00"


def test_set_vf_keeps_the_first_original(host):
    A.SetVfMacVlan(PF, 1, "52:54:00:00:0f:01", 100).apply(host.ctx)
    A.SetVfMacVlan(PF, 1, "52:54:00:00:0f:02", 200).apply(host.ctx)
    assert host.record()["vfs"][f"{PF}/1"] == {"pf": PF, "index": 1, "vlan": 0, "mac": "00:00:00:00:00:00"}


def test_set_vf_failure_puts_back_what_it_recorded(tmp_path):
    def fail_on_vlan_100(pf, index, mac, vlan):
        return HostError(step="set vf", detail="EINVAL") if vlan == 100 else None

    host = Host(tmp_path, net=FakeNetlink(fail_on={"set_vf": fail_on_vlan_100}))
    host.fs.add_pf(PF, "0000:04:00.0", total_vfs=4, numvfs=2)
    host.net.add_pf(PF, 2)
    with pytest.raises(HostError, match="EINVAL"):
        A.SetVfMacVlan(PF, 1, "52:54:00:00:0f:01", 100).apply(host.ctx)
    assert host.record() == {} and host.ctx.left_over == []
    assert host.net.calls_to("set_vf")[-1] == (PF, 1, "00:00:00:00:00:00", 0)


def test_set_vf_failure_that_cannot_be_put_back_is_left_for_repair(tmp_path):
    host = Host(tmp_path, net=FakeNetlink(fail_on={"set_vf": HostError(step="set vf", detail="EINVAL")}))
    host.fs.add_pf(PF, "0000:04:00.0", total_vfs=4, numvfs=2)
    host.net.add_pf(PF, 2)
    with pytest.raises(HostError, match="EINVAL"):
        A.SetVfMacVlan(PF, 1, None, 100).apply(host.ctx)
    assert host.ctx.left_over == [f"restore VF 1 of {PF}: set vf: EINVAL"]
    assert host.record()["vfs"] == {f"{PF}/1": {"pf": PF, "index": 1, "vlan": 0}}


def test_restore_vf_of_a_vf_another_domain_holds_now_drops_the_record(host):
    address = vf(host, 1)
    A.ClaimDevice(f"pci-{address}", "VF").apply(host.ctx)
    A.SetVfMacVlan(PF, 1, "52:54:00:00:0f:01", 100, address).apply(host.ctx)
    A.ReleaseClaim(f"pci-{address}").apply(host.ctx)
    A.ClaimDevice(f"pci-{address}", "VF").apply(host.context(Owner("domain", "vm2")))
    host.net.calls.clear()
    with pytest.raises(HostError) as info:
        A.RestoreVf(PF, 1).apply(host.ctx)
    assert info.value.message == (f"restore MAC and VLAN of VF 1 of {PF}: VF {address} ({PF} index 1) is "
                                  "held by domain vm2; refusing to change it")
    assert host.net.calls_to("set_vf") == [] and host.record() == {}


def test_restore_vf_after_its_claim_was_released_still_restores(host):
    address = vf(host, 1)
    A.ClaimDevice(f"pci-{address}", "VF").apply(host.ctx)
    A.SetVfMacVlan(PF, 1, "52:54:00:00:0f:01", 100, address).apply(host.ctx)
    A.ReleaseClaim(f"pci-{address}").apply(host.ctx)
    undo = A.RestoreVf(PF, 1).apply(host.ctx)
    assert host.net.links[PF].vfs[1] == VfInfo(1, "00:00:00:00:00:00", 0) and host.record() == {}
    assert undo is not None and undo.step == f"set VF 1 of {PF} again"


def test_restore_vf_undo_keeps_to_the_vf_it_holds(host):
    address = vf(host, 1)
    A.ClaimDevice(f"pci-{address}", "VF").apply(host.ctx)
    A.SetVfMacVlan(PF, 1, "52:54:00:00:0f:01", 100, address).apply(host.ctx)
    undo = A.RestoreVf(PF, 1).apply(host.ctx)
    assert undo is not None
    undo.run()
    assert host.record()["vfs"][f"{PF}/1"]["address"] == address


def test_restore_vf_undo_sets_mac_and_vlan_again_only_where_it_set_them(host):
    host.net.links[PF].vfs[1] = VfInfo(1, "52:54:00:00:0f:07", 0)
    A.SetVfMacVlan(PF, 1, None, 42).apply(host.ctx)               # VLAN only: the MAC is libvirt's
    undo = A.RestoreVf(PF, 1).apply(host.ctx)
    assert host.net.calls_to("set_vf")[-1] == (PF, 1, None, 0)
    host.net.links[PF].vfs[1] = VfInfo(1, "52:54:00:00:0f:08", 0)   # libvirt changed it meanwhile
    assert undo is not None
    undo.run()
    assert host.net.links[PF].vfs[1] == VfInfo(1, "52:54:00:00:0f:08", 42)


def test_restore_vf_puts_back_a_vlan_it_had(host):
    host.net.links[PF].vfs[1] = VfInfo(1, "00:00:00:00:00:00", 7)
    A.SetVfMacVlan(PF, 1, None, 100).apply(host.ctx)
    A.RestoreVf(PF, 1).apply(host.ctx)
    assert host.net.links[PF].vfs[1] == VfInfo(1, "00:00:00:00:00:00", 7)


def test_an_empty_wished_mac_on_a_vf_without_one_changes_nothing(host):
    host.net.links[PF].vfs[1] = VfInfo(1, None, 0)
    assert A.SetVfMacVlan(PF, 1, "", 0).apply(host.ctx) is None


def test_restore_vf_with_a_record_without_vlan_clears_it(host):
    with host.store.edit("domains", "vm1") as rec:
        rec["vfs"] = {f"{PF}/1": {"pf": PF, "index": 1, "mac": "00:00:00:00:00:00"}}
    host.net.links[PF].vfs[1] = VfInfo(1, "52:54:00:00:0f:07", 42)
    A.RestoreVf(PF, 1).apply(host.ctx)
    assert host.net.links[PF].vfs[1] == VfInfo(1, "00:00:00:00:00:00", 0)
