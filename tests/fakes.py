"""In-memory fakes of the host ports (``hooks.ports``) for planner and executor tests.

Each fake keeps a small model of the host, records every call in ``calls`` as a tuple
``(method, arg, ...)`` and can be told to fail or hang:

    net = FakeNetlink(fail_on={"set_master": HostError(step="enslave", detail="boom")})
    net = FakeNetlink(fail_on={"set_master": lambda name, master: ...})  # raise or return an error
    net = FakeNetlink(hang_on="set_up", hang_seconds=30)                 # sleeps, for deadlines

The fakes raise the same error classes as the real adapters for the same situations
(``NotFound`` for a missing link/port/device, ``Busy`` for EBUSY, ``HostError`` otherwise), and
the contract tests in ``tests/netns`` run against both to keep them honest.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hooks.adapters.ovs import check_change, check_column_key, record_what, transact_step
from hooks.adapters.sysfs import driver_name
from hooks.errors import Busy, ForeignDevice, HostError, HostTimeout, NotFound
from hooks.ports import (
    BridgeVlan,
    LinkInfo,
    OvsKeyChange,
    OvsPortSettings,
    OvsVlanChange,
    PciDevice,
    VfInfo,
)
from xmltools.errors import InvalidValue
from xmltools.names import PciAddress, validate_interface_name, validate_vlan_id

MACVLAN_MODES = ("vepa", "bridge", "private", "passthru", "source")

Failure = BaseException | Callable[..., BaseException | None]


class Recorder:
    """Call log plus failure and hang injection, shared by the three fakes."""

    def __init__(self, fail_on: dict[str, Failure] | None = None,
                 hang_on: str | Iterable[str] | None = None, hang_seconds: float = 3600.0) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail_on: dict[str, Failure] = dict(fail_on or {})
        self.hang_on: set[str] = {hang_on} if isinstance(hang_on, str) else set(hang_on or ())
        self.hang_seconds = hang_seconds

    def _enter(self, method: str, *args: Any) -> None:
        self.calls.append((method, *args))
        if method in self.hang_on:
            time.sleep(self.hang_seconds)
        failure = self.fail_on.get(method)
        if failure is None:
            return
        if isinstance(failure, BaseException):
            raise failure
        error = failure(*args)
        if error is not None:
            raise error

    def calls_to(self, method: str) -> list[tuple[Any, ...]]:
        """The recorded argument tuples of one method, in order."""
        return [call[1:] for call in self.calls if call[0] == method]


def _pci(address: str) -> str:
    """The canonical form sysfs uses (``0000:04:10.0``); bad input raises InvalidValue."""
    return str(PciAddress.parse(address))


def _os_error(step: str, code: int) -> HostError:
    return HostError(step=step, detail=os.strerror(code))


# --------------------------------------------------------------------------- netlink

@dataclass
class FakeLink:
    name: str
    index: int
    kind: str | None
    up: bool = False
    master: str | None = None
    mac: str | None = None
    macvlan_mode: str | None = None
    uplink: str | None = None              # macvlan/macvtap lower device
    uid: int | None = None                 # tap owner
    gid: int | None = None
    multi_queue: bool = False
    vnet_hdr: bool = False
    addresses: list[str] = field(default_factory=list)
    vlan_filtering: bool = False           # bridges only
    vlans: dict[int, BridgeVlan] = field(default_factory=dict)   # bridge ports (and bridges)
    vfs: list[VfInfo] = field(default_factory=list)               # SR-IOV PFs only
    carrier: bool = False                  # a TAP: some process holds a queue of it
    tun_mode: str | None = None            # kind 'tun': 'tap' unless set to 'tun'
    tun_persistent: bool = True
    tun_queues: int | None = None          # multi-queue TAPs: queues held

    def info(self) -> LinkInfo:
        mode = (self.tun_mode or "tap") if self.kind == "tun" else None
        return LinkInfo(name=self.name, index=self.index, kind=self.kind, up=self.up,
                        master=self.master, mac=self.mac, macvlan_mode=self.macvlan_mode,
                        carrier=self.carrier, tun_mode=mode, tun_persistent=self.tun_persistent,
                        tun_queues=self.tun_queues)


class FakeNetlink(Recorder):
    """A NetlinkPort over a dict of links.

    Like a kernel with bridge VLAN support (``default_pvid`` 1), a bridge and each port that
    joins it carry VLAN 1 as pvid untagged, and a port loses its VLANs when it leaves.
    ``vlan_filtering_supported=False`` behaves like this machine's kernel: no VLAN lists, and
    changing VLANs or vlan_filtering fails with EOPNOTSUPP.
    """

    def __init__(self, *, vlan_filtering_supported: bool = True, default_pvid: int | None = 1,
                 **recorder: Any) -> None:
        super().__init__(**recorder)
        self.links: dict[str, FakeLink] = {}
        self.vlan_filtering_supported = vlan_filtering_supported
        self.default_pvid = default_pvid
        self.closed = False
        self._next_index = 1

    # -- building the host ------------------------------------------------------------

    def add_link(self, name: str, kind: str | None = None, *, up: bool = False,
                 master: str | None = None, **attrs: Any) -> FakeLink:
        """Put a link on the fake host without recording a call (test setup)."""
        self._next_index += 1
        mac = attrs.pop("mac", None) or self._mac(0)
        link = FakeLink(name=name, index=self._next_index, kind=kind, up=up, mac=mac, **attrs)
        self.links[name] = link
        if master is not None:
            self._enslave(link, master)
        return link

    def add_bridge(self, name: str, *, vlan_filtering: bool = False, up: bool = True) -> FakeLink:
        bridge = self.add_link(name, "bridge", up=up, vlan_filtering=vlan_filtering)
        bridge.vlans = self._default_vlans()
        return bridge

    def _default_vlans(self) -> dict[int, BridgeVlan]:
        if not (self.vlan_filtering_supported and self.default_pvid):
            return {}
        return {self.default_pvid: BridgeVlan(self.default_pvid, pvid=True, untagged=True)}

    def add_pf(self, name: str, num_vfs: int, *, up: bool = True) -> FakeLink:
        """A NIC with ``num_vfs`` VFs, each without MAC or VLAN."""
        return self.add_link(name, None, up=up, vfs=[VfInfo(i, None, 0) for i in range(num_vfs)])

    def _mac(self, prefix: int) -> str:
        i = self._next_index
        return f"52:54:00:{prefix:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"

    # -- the port -------------------------------------------------------------------

    def _get(self, step: str, name: str) -> FakeLink:
        validate_interface_name(name)
        link = self.links.get(name)
        if link is None:
            raise NotFound(step=step, what="interface", name=name)
        return link

    def _enslave(self, link: FakeLink, master: str) -> None:
        link.master = master
        link.vlans = self._default_vlans()

    def _create(self, step: str, link: FakeLink) -> None:
        validate_interface_name(link.name)
        if link.name in self.links:
            raise _os_error(step, errno.EEXIST)
        self._next_index += 1
        link.index = self._next_index
        link.mac = self._mac(1)
        self.links[link.name] = link

    def link(self, name: str) -> LinkInfo | None:
        self._enter("link", name)
        link = self.links.get(validate_interface_name(name))
        return link.info() if link else None

    def create_tap(self, name: str, uid: int | None, gid: int | None,
                   multi_queue: bool, vnet_hdr: bool) -> None:
        self._enter("create_tap", name, uid, gid, multi_queue, vnet_hdr)
        self._create(f"create tap {name}", FakeLink(name=name, index=0, kind="tun", uid=uid, gid=gid,
                                                    multi_queue=multi_queue, vnet_hdr=vnet_hdr))

    def create_macvlan(self, name: str, uplink: str, mode: str) -> None:
        self._enter("create_macvlan", name, uplink, mode)
        step = f"create macvlan {name} on {uplink}"
        if mode not in MACVLAN_MODES:
            raise InvalidValue(what="macvlan mode", value=mode, reason=f"expected one of {MACVLAN_MODES}")
        self._get(step, uplink)
        self._create(step, FakeLink(name=name, index=0, kind="macvlan", macvlan_mode=mode, uplink=uplink))

    def delete_link(self, name: str) -> None:
        self._enter("delete_link", name)
        self._get(f"delete {name}", name)
        del self.links[name]
        # The kernel removes what depends on the link: its ports' membership and its macvlans.
        for other in list(self.links.values()):
            if other.master == name:
                other.master, other.vlans = None, {}
            if other.uplink == name:
                del self.links[other.name]

    def set_up(self, name: str, up: bool = True) -> None:
        self._enter("set_up", name, up)
        self._get(f"set {name} {'up' if up else 'down'}", name).up = up

    def set_master(self, name: str, master: str | None) -> None:
        self._enter("set_master", name, master)
        step = f"enslave {name} to {master}" if master else f"release {name} from its master"
        link = self._get(step, name)
        if master is None:
            link.master, link.vlans = None, {}
            return
        bridge = self._get(step, master)
        if bridge.kind != "bridge":     # the kernel: only devices with ndo_add_slave
            raise _os_error(step, errno.EOPNOTSUPP)
        if link.master != master:
            self._enslave(link, master)

    def add_address(self, name: str, cidr: str) -> None:
        self._enter("add_address", name, cidr)
        try:
            cidr = str(ipaddress.ip_interface(cidr))
        except ValueError as exc:
            raise InvalidValue(what="address", value=cidr, reason=str(exc)) from None
        link = self._get(f"add address {cidr} to {name}", name)
        if cidr in link.addresses:
            raise _os_error(f"add address {cidr} to {name}", errno.EEXIST)
        link.addresses.append(cidr)

    def _bridge(self, step: str, name: str) -> FakeLink:
        link = self._get(step, name)
        if link.kind != "bridge":
            raise HostError(step=step, detail=f"{name} is not a bridge")
        return link

    def bridge_vlan_filtering(self, bridge: str) -> bool:
        self._enter("bridge_vlan_filtering", bridge)
        return self._bridge(f"read vlan_filtering of {bridge}", bridge).vlan_filtering

    def set_bridge_vlan_filtering(self, bridge: str, on: bool) -> None:
        self._enter("set_bridge_vlan_filtering", bridge, on)
        step = f"set vlan_filtering {int(on)} on {bridge}"
        link = self._bridge(step, bridge)
        if not self.vlan_filtering_supported:
            raise _os_error(step, errno.EOPNOTSUPP)
        link.vlan_filtering = on

    def _vlan_port(self, step: str, port: str) -> FakeLink:
        link = self._get(step, port)
        # Not a bridge port: the kernel finds no bridge to pass the request to.
        if not self.vlan_filtering_supported or (link.master is None and link.kind != "bridge"):
            raise _os_error(step, errno.EOPNOTSUPP)
        return link

    def bridge_vlans(self, port: str) -> list[BridgeVlan]:
        self._enter("bridge_vlans", port)
        link = self._get(f"list VLANs of {port}", port)
        return sorted(link.vlans.values(), key=lambda v: v.vid)

    def bridge_vlan_add(self, port: str, vid: int, pvid: bool, untagged: bool) -> None:
        self._enter("bridge_vlan_add", port, vid, pvid, untagged)
        step = f"add VLAN {vid} to {port}"
        if not 1 <= vid <= 4094:
            raise InvalidValue(what="bridge VLAN id", value=str(vid), reason="must be 1 to 4094")
        link = self._vlan_port(step, port)
        if pvid:    # one pvid per port: the kernel moves it
            link.vlans = {v: BridgeVlan(b.vid, pvid=False, untagged=b.untagged)
                          for v, b in link.vlans.items()}
        link.vlans[vid] = BridgeVlan(vid, pvid=pvid, untagged=untagged)

    def bridge_vlan_del(self, port: str, vid: int) -> None:
        """Deleting a VLAN the port does not carry is not an error (the real adapter agrees)."""
        self._enter("bridge_vlan_del", port, vid)
        self._vlan_port(f"delete VLAN {vid} from {port}", port).vlans.pop(vid, None)

    def _vf(self, step: str, pf: str, index: int) -> tuple[FakeLink, VfInfo]:
        link = self._get(step, pf)
        if not 0 <= index < len(link.vfs):
            raise NotFound(step=step, what="VF", name=f"{pf} vf {index}")
        return link, link.vfs[index]

    def vf_info(self, pf: str, index: int) -> VfInfo:
        self._enter("vf_info", pf, index)
        return self._vf(f"read VF {index} of {pf}", pf, index)[1]

    def set_vf(self, pf: str, index: int, mac: str | None = None, vlan: int | None = None) -> None:
        self._enter("set_vf", pf, index, mac, vlan)
        link, vf = self._vf(f"set VF {index} of {pf}", pf, index)
        if vlan is not None:
            validate_vlan_id(vlan)
        link.vfs[index] = VfInfo(index, mac if mac is not None else vf.mac,
                                 vlan if vlan is not None else vf.vlan)

    def close(self) -> None:
        self._enter("close")
        self.closed = True


# --------------------------------------------------------------------------- Open vSwitch

@dataclass
class FakeOvsPortRow:
    bridge: str
    tag: int | None = None
    trunks: tuple[int, ...] = ()
    vlan_mode: str | None = None
    owner: str | None = None       # external_ids:virt-netxml-owner


class FakeOvs(Recorder):
    """An OvsPort over bridges, Port rows and generic map columns keyed by (table, record)."""

    def __init__(self, **recorder: Any) -> None:
        super().__init__(**recorder)
        self.bridges: set[str] = set()
        self.ports: dict[str, FakeOvsPortRow] = {}
        # (table, record) -> column -> key -> value; Port and Interface rows exist per port.
        self.maps: dict[tuple[str, str], dict[str, dict[str, str]]] = {}

    def add_bridge(self, name: str) -> None:
        self.bridges.add(name)
        self.maps[("Bridge", name)] = {}

    def _row(self, step: str, port: str) -> FakeOvsPortRow:
        row = self.ports.get(port)
        if row is None:
            raise NotFound(step=step, what=record_what("Port"), name=port)
        return row

    def bridge_exists(self, bridge: str) -> bool:
        self._enter("bridge_exists", bridge)
        return bridge in self.bridges

    def port_bridge(self, port: str) -> str | None:
        self._enter("port_bridge", port)
        row = self.ports.get(port)
        return row.bridge if row else None

    def port_or_interface(self, name: str) -> str | None:
        self._enter("port_or_interface", name)
        validate_interface_name(name)
        if name in self.ports:
            return "port"
        return "interface" if ("Interface", name) in self.maps else None

    def port_owner(self, port: str) -> str | None:
        self._enter("port_owner", port)
        row = self.ports.get(port)
        return row.owner if row else None

    def add_port(self, bridge: str, port: str, owner: str | None = None) -> None:
        """Idempotent on the same bridge, like ``ovs-vsctl --may-exist add-port``; ``owner``
        marks a new row only."""
        self._enter("add_port", bridge, port)
        step = f"add OVS port {port} to {bridge}"
        validate_interface_name(port)
        if bridge not in self.bridges:
            raise NotFound(step=step, what="OVS bridge", name=bridge)
        row = self.ports.get(port)
        if row is not None:
            if row.bridge != bridge:
                raise HostError(step=step, detail=f"port {port} is already on bridge {row.bridge}")
            return
        self.ports[port] = FakeOvsPortRow(bridge, owner=owner)
        self.maps[("Port", port)] = {}
        self.maps[("Interface", port)] = {}

    def del_port(self, bridge: str, port: str) -> None:
        """A port that does not exist is not an error (``--if-exists``); one on another bridge is."""
        self._enter("del_port", bridge, port)
        row = self.ports.get(port)
        if row is None:
            return
        if row.bridge != bridge:
            raise HostError(step=f"delete OVS port {port} from {bridge}",
                            detail=f"port {port} is on bridge {row.bridge}")
        del self.ports[port]
        self.maps.pop(("Port", port), None)
        self.maps.pop(("Interface", port), None)

    def port_settings(self, port: str) -> OvsPortSettings:
        self._enter("port_settings", port)
        row = self._row(f"read OVS port {port}", port)
        return OvsPortSettings(tag=row.tag, trunks=row.trunks, vlan_mode=row.vlan_mode,
                               other_config=dict(self.maps[("Port", port)].get("other_config", {})))

    def set_port_vlan(self, port: str, tag: int | None, trunks: Sequence[int],
                      vlan_mode: str | None) -> None:
        self._enter("set_port_vlan", port, tag, tuple(trunks), vlan_mode)
        check_change(OvsVlanChange(port, tag, tuple(trunks), vlan_mode))   # the real adapter's validation
        row = self._row(f"set VLAN of OVS port {port}", port)
        row.tag, row.trunks, row.vlan_mode = tag, tuple(sorted(set(trunks))), vlan_mode

    def set_column_key(self, table: str, record: str, column: str, key: str,
                       value: str | None) -> None:
        self._enter("set_column_key", table, record, column, key, value)
        step = f"set {table} {record} {column}:{key}"
        check_column_key(table, record, column, key, value)   # the real adapter's validation
        columns = self.maps.get((table, record))
        if columns is None:
            raise NotFound(step=step, what=record_what(table), name=record)
        if value is None:
            columns.get(column, {}).pop(key, None)
        else:
            columns.setdefault(column, {})[key] = value

    def transact(self, read_ports: Sequence[str],
                 changes: Sequence[OvsVlanChange | OvsKeyChange]) -> dict[str, OvsPortSettings]:
        """Reads, then changes, all or nothing: every record is checked before anything changes."""
        self._enter("transact", tuple(read_ports), tuple(changes))
        step = transact_step(read_ports, changes)
        for change in changes:
            check_change(change)                         # the real adapter's validation
        before = {}
        for port in read_ports:
            row = self._row(step, port)
            config = dict(self.maps[("Port", port)].get("other_config", {}))
            before[port] = OvsPortSettings(tag=row.tag, trunks=row.trunks, vlan_mode=row.vlan_mode,
                                           other_config=config)
        for change in changes:
            if isinstance(change, OvsVlanChange):
                self._row(step, change.port)
            elif (change.table, change.record) not in self.maps:
                raise NotFound(step=step, what=record_what(change.table), name=change.record)
        for change in changes:
            if isinstance(change, OvsVlanChange):
                row = self.ports[change.port]
                row.tag, row.vlan_mode = change.tag, change.vlan_mode
                row.trunks = tuple(sorted(set(change.trunks)))
            else:
                columns = self.maps[(change.table, change.record)]
                if change.value is None:
                    columns.get(change.column, {}).pop(change.key, None)
                else:
                    columns.setdefault(change.column, {})[change.key] = change.value
        return before


# --------------------------------------------------------------------------- sysfs

@dataclass
class FakePci:
    address: str
    driver: str | None                      # bound driver now
    native_driver: str | None = None        # what drivers_probe binds without an override
    driver_override: str | None = None
    is_bridge: bool = False
    netdev_name: str | None = None          # the name its network driver gives it
    iommu_group: str | None = None
    pf: tuple[str, int] | None = None       # (pf netdev, vf index) for a VF

    @property
    def netdev(self) -> str | None:
        return self.netdev_name if self.driver is not None and self.driver == self.native_driver else None

    def info(self) -> PciDevice:
        return PciDevice(address=self.address, driver=self.driver, driver_override=self.driver_override,
                         is_bridge=self.is_bridge, netdev=self.netdev)


@dataclass
class FakePf:
    address: str
    total_vfs: int
    vf_driver: str
    numvfs: int = 0


class FakeSysfs(Recorder):
    """A SysfsPort over PCI devices, IOMMU groups and SR-IOV PFs.

    ``drivers_probe`` binds the override if set, else the device's native driver; a device on
    vfio-pci makes ``/dev/vfio/GROUP`` exist. ``iommu=False`` is a host without an IOMMU.
    """

    def __init__(self, *, iommu: bool = True, drivers: Iterable[str] = ("vfio-pci", "pci-stub"),
                 **recorder: Any) -> None:
        super().__init__(**recorder)
        self.devices: dict[str, FakePci] = {}
        self.pfs: dict[str, FakePf] = {}     # by PF netdev name
        self.iommu = iommu
        self.drivers: set[str] = set(drivers)
        self._next_group = 100

    def add_device(self, address: str, driver: str | None = "e1000e", *, netdev: str | None = None,
                   group: str | None = None, is_bridge: bool = False) -> FakePci:
        """A PCI function bound to ``driver``; each gets its own IOMMU group unless ``group`` says."""
        address = _pci(address)
        if group is None:
            self._next_group += 1
            group = str(self._next_group)
        if driver:
            self.drivers.add(driver)
        dev = FakePci(address, driver, native_driver=driver, netdev_name=netdev,
                      iommu_group=group if self.iommu else None, is_bridge=is_bridge)
        self.devices[address] = dev
        return dev

    def add_pf(self, netdev: str, address: str, total_vfs: int, *, driver: str = "igb",
               vf_driver: str = "igbvf", numvfs: int = 0) -> FakePf:
        """An SR-IOV PF; ``numvfs`` VFs exist from the start."""
        self.add_device(address, driver, netdev=netdev)
        self.drivers.add(vf_driver)
        pf = self.pfs[netdev] = FakePf(address, total_vfs, vf_driver)
        self._make_vfs(netdev, pf, numvfs)
        return pf

    def _vf_addr(self, pf: FakePf, index: int) -> str:
        # VFs follow their PF at offset 0x10 on the same bus, as many NICs lay them out.
        base, function = pf.address.rsplit(":", 1)[0], 0x80 + index
        return f"{base}:{function >> 3:02x}.{function & 7:x}"

    def _make_vfs(self, netdev: str, pf: FakePf, count: int) -> None:
        for i in range(pf.numvfs):
            self.devices.pop(self._vf_addr(pf, i), None)
        for i in range(count):
            dev = self.add_device(self._vf_addr(pf, i), pf.vf_driver, netdev=f"{netdev}v{i}")
            dev.pf = (netdev, i)
        pf.numvfs = count

    def _dev(self, step: str, address: str) -> FakePci:
        dev = self.devices.get(_pci(address))
        if dev is None:
            raise NotFound(step=step, what="PCI device", name=address)
        return dev

    def _pf(self, step: str, netdev: str) -> FakePf:
        pf = self.pfs.get(validate_interface_name(netdev))
        if pf is None:
            raise NotFound(step=step, what="SR-IOV PF", name=netdev)
        return pf

    def pci_device(self, address: str) -> PciDevice | None:
        self._enter("pci_device", address)
        dev = self.devices.get(_pci(address))
        return dev.info() if dev else None

    def iommu_group_number(self, address: str) -> str | None:
        self._enter("iommu_group_number", address)
        return self._dev(f"read IOMMU group of {address}", address).iommu_group

    def iommu_group(self, address: str) -> list[str] | None:
        self._enter("iommu_group", address)
        group = self._dev(f"read IOMMU group of {address}", address).iommu_group
        if group is None:
            return None
        return sorted(a for a, d in self.devices.items() if d.iommu_group == group)

    def set_driver_override(self, address: str, driver: str | None) -> None:
        self._enter("set_driver_override", address, driver)
        if driver is not None:
            driver_name(driver)
        self._dev(f"set driver_override of {address}", address).driver_override = driver or None

    def unbind(self, address: str, timeout: float) -> None:
        self._enter("unbind", address, timeout)
        self._dev(f"unbind {address}", address).driver = None

    def drivers_probe(self, address: str, timeout: float) -> None:
        self._enter("drivers_probe", address, timeout)
        dev = self._dev(f"probe drivers for {address}", address)
        if dev.driver is not None:
            return
        wanted = dev.driver_override or dev.native_driver
        if wanted in self.drivers and (wanted != "vfio-pci" or dev.iommu_group is not None):
            dev.driver = wanted
        elif dev.driver_override:   # the real adapter waits for the override, then gives up
            raise HostTimeout(step=f"probe drivers for {address} (waiting for {dev.driver_override})",
                              seconds=timeout)

    def vfio_group_exists(self, group: str) -> bool:
        self._enter("vfio_group_exists", group)
        if not group.isdigit():
            raise InvalidValue(what="IOMMU group", value=group, reason="expected a number")
        return any(d.iommu_group == group and d.driver == "vfio-pci" for d in self.devices.values())

    def sriov_numvfs(self, pf: str) -> int:
        self._enter("sriov_numvfs", pf)
        return self._pf(f"read sriov_numvfs of {pf}", pf).numvfs

    def sriov_totalvfs(self, pf: str) -> int:
        self._enter("sriov_totalvfs", pf)
        return self._pf(f"read sriov_totalvfs of {pf}", pf).total_vfs

    def set_sriov_numvfs(self, pf: str, count: int) -> None:
        self._enter("set_sriov_numvfs", pf, count)
        step = f"set sriov_numvfs of {pf} to {count}"
        state = self._pf(step, pf)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise InvalidValue(what="VF count", value=str(count), reason="must be a number >= 0")
        if count > state.total_vfs:
            raise _os_error(step, errno.ERANGE)
        if count and state.numvfs and count != state.numvfs:
            raise Busy(step=step, what="SR-IOV PF", name=pf,
                       detail=f"{state.numvfs} VFs exist; set 0 first")
        if count != state.numvfs:
            self._make_vfs(pf, state, count)

    def vf_address(self, pf: str, index: int) -> str | None:
        self._enter("vf_address", pf, index)
        state = self._pf(f"find VF {index} of {pf}", pf)
        if index < 0:
            raise InvalidValue(what="VF index", value=str(index), reason="must be a number >= 0")
        return self._vf_addr(state, index) if 0 <= index < state.numvfs else None

    def pf_of_vf(self, address: str) -> tuple[str, int] | None:
        self._enter("pf_of_vf", address)
        dev = self.devices.get(_pci(address))
        return dev.pf if dev else None

    def netdev_of(self, address: str) -> str | None:
        self._enter("netdev_of", address)
        dev = self.devices.get(_pci(address))
        return dev.netdev if dev else None


# --------------------------------------------------------------------------- firewall


class FakeFirewall(Recorder):
    """The firewall port (``hooks.adapters.firewall``): the project's nat chains by interface key
    (with the digest of the set written), and the allow rules in libvirt's chain by comment.

    ``backend`` None: libvirt filters nothing here (nothing to allow). ``libvirt_rebuilt()``
    drops the allow rules, as libvirt does when it builds a network's chains afresh.
    """

    def __init__(self, backend: str | None = "nftables", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.backend = backend
        self.nat: dict[str, str] = {}
        self.allowed: dict[str, int] = {}

    def in_place(self, rules: Any) -> tuple[bool, bool]:
        self._enter("in_place", rules.key)
        allowed = self.backend is None or self.allowed.get(rules.comment) == len(rules.forwards)
        return self.nat.get(rules.key) == rules.digest, allowed

    def apply(self, rules: Any, nat: bool, allow: bool) -> None:
        self._enter("apply", rules.key, nat, allow)
        if nat:
            self.nat[rules.key] = rules.digest
        if allow and self.backend is not None:
            self.allowed[rules.comment] = len(rules.forwards)

    def remove(self, rules: Any, nat: bool, allow: bool) -> None:
        self._enter("remove", rules.key, nat, allow)
        if nat:
            self.nat.pop(rules.key, None)
        if allow:
            self.allowed.pop(rules.comment, None)

    def libvirt_rebuilt(self) -> None:
        self.allowed.clear()


@dataclass
class FakeLsp:
    """One logical switch port of ``FakeOvn`` (``dhcp``: the switch's DHCP options are set on it)."""

    switch: str
    addresses: list[str]
    options: dict[str, str]
    external_ids: dict[str, str]
    dhcp: str | None = None
    uuid: str = ""
    port_security: list[str] = field(default_factory=list)


def with_chassis(row: Any, chassis: Sequence[str]) -> Any:
    """A copy of an OVN port row (``PortRow``) requested on other chassis."""
    from hooks.adapters.ovn import PortRow

    return PortRow(row.uuid, row.switch, list(chassis), row.external_ids, row.options, row.addresses,
                   row.dhcp_options)


class FakeOvn(Recorder):
    """The OVN port (``hooks.adapters.ovn.OvnAdapter``'s methods) over switches, their DHCP
    options rows and logical switch ports, as the northbound database keeps them; the argument
    checks are the adapter's own pure builders, so a value it would refuse is refused here too."""

    def __init__(self, system_id: str = "chassis1", **recorder: Any) -> None:
        super().__init__(**recorder)
        self.system = system_id
        self.switches: dict[str, dict[str, Any]] = {}
        self.dhcp_rows: dict[str, str] = {}     # switch -> DHCP_Options row UUID
        self.lsps: dict[str, FakeLsp] = {}
        self._rows = 0

    def _uuid(self) -> str:
        self._rows += 1
        return f"00000000-0000-4000-8000-{self._rows:012x}"

    def system_id(self) -> str:
        self._enter("system_id")
        return self.system

    def ensure_switch(self, switch: str, subnet: str | None = None, dhcp: bool = False) -> bool:
        from hooks.adapters.ovn import create_switch_cmds

        self._enter("ensure_switch", switch, subnet, dhcp)
        create_switch_cmds(switch, subnet, dhcp)
        if switch in self.switches:
            return False
        self.switches[switch] = {"subnet": subnet}
        if dhcp:
            self.dhcp_rows[switch] = self._uuid()
        return True

    def delete_switch(self, switch: str) -> None:
        self._enter("delete_switch", switch)
        self.switches.pop(switch, None)
        self.dhcp_rows.pop(switch, None)
        for name in [n for n, p in self.lsps.items() if p.switch == switch]:
            del self.lsps[name]

    def dhcp_options(self, switch: str) -> str | None:
        self._enter("dhcp_options", switch)
        return self.dhcp_rows.get(switch)

    def find_port(self, name: str) -> Any:
        from hooks.adapters.ovn import PortRow, port_name, requested_chassis

        self._enter("find_port", name)
        lsp = self.lsps.get(port_name(name))
        if lsp is None:
            return None
        return PortRow(lsp.uuid, lsp.switch, requested_chassis(lsp.options), dict(lsp.external_ids),
                       dict(lsp.options), list(lsp.addresses), lsp.dhcp, list(lsp.port_security))

    def write_port(self, existing: Any, switch: str, name: str, mac: str, address: str | None,
                   chassis: str | Sequence[str], domain: str, interface: str,
                   dhcp_options: str | None = None, port_security: bool = False) -> bool:
        from hooks.adapters.ovn import chassis_list, create_port_cmds, security_entry

        self._enter("write_port", name, switch, mac, address, chassis)
        cmds = create_port_cmds(switch, name, mac, address, chassis, domain, interface, dhcp_options)
        if switch not in self.switches:
            raise NotFound(step=f"set OVN port {name}", what="OVN Logical_Switch row", name=switch)
        lsp = self.lsps.get(name)
        if lsp is not None and lsp.switch != switch:
            raise HostError(step=f"set OVN port {name}", detail=f"already on switch {lsp.switch}")
        if lsp is None:
            lsp = self.lsps[name] = FakeLsp(switch, [], {}, {}, None, self._uuid())
        lsp.addresses = [cmds[1][2]]
        names = chassis_list(chassis)
        lsp.options["requested-chassis"] = ",".join(names)
        if len(names) > 1:
            lsp.options["activation-strategy"] = "rarp"
        lsp.external_ids.update({"virt-netxml-domain": domain, "virt-netxml-interface": interface})
        if dhcp_options is not None:
            lsp.dhcp = dhcp_options
        if port_security:
            lsp.port_security = [security_entry(lsp.addresses[0])]
        return existing is None

    def read_ports(self, names: Sequence[str],
                   switches: Sequence[str] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
        from hooks.adapters.ovn import port_name, switch_name

        self._enter("read_ports", tuple(names), tuple(switches))
        return ({port_name(n): self._row(n) for n in names},
                {switch_name(s): self.dhcp_rows.get(s) for s in switches})

    def _row(self, name: str) -> Any:
        from hooks.adapters.ovn import PortRow, port_name, requested_chassis

        lsp = self.lsps.get(port_name(name))
        if lsp is None:
            return None
        return PortRow(lsp.uuid, lsp.switch, requested_chassis(lsp.options), dict(lsp.external_ids),
                       dict(lsp.options), list(lsp.addresses), lsp.dhcp, list(lsp.port_security))

    def write_ports(self, writes: Sequence[Any]) -> list[bool]:
        """All or nothing, as one transaction: every port is checked before any is written."""
        from hooks.adapters.ovn import create_port_cmds

        self._enter("write_ports", tuple(w.name for w in writes))
        for w in writes:
            create_port_cmds(w.switch, w.name, w.mac, w.address, w.chassis, w.domain, w.interface,
                             w.dhcp_options)
            if w.switch not in self.switches:
                raise NotFound(step=f"set OVN port {w.name}", what="OVN Logical_Switch row", name=w.switch)
            lsp = self.lsps.get(w.name)
            if lsp is not None and lsp.switch != w.switch:
                raise ForeignDevice(step=f"set OVN port {w.name}", what="OVN port", name=w.name,
                                    reason=f"is on switch {lsp.switch}")
        # Recorded per port too, as the single-port methods the tests inject failures into.
        return [self.write_port(w.existing, w.switch, w.name, w.mac, w.address, w.chassis, w.domain,
                                w.interface, w.dhcp_options, w.port_security) for w in writes]

    def undo_writes(self, writes: Sequence[Any], chassis: str, keys: Sequence[str]) -> None:
        self._enter("undo_writes", tuple(w.name for w in writes))
        refused = None
        for w in writes:
            if w.existing is not None:
                self.restore_port(w.existing, w.name, keys)
                continue
            try:
                self.delete_port(w.name, chassis)
            except ForeignDevice as exc:
                refused = refused or exc
        if refused is not None:
            raise refused

    def hand_over(self, changes: Sequence[Any], chassis: str) -> None:
        """All or nothing: a port to delete held elsewhere is refused before any change."""
        from hooks.adapters.ovn import chassis_name

        self._enter("hand_over", tuple((c.name, tuple(c.keep)) for c in changes))
        for c in changes:
            if not c.keep and c.row.chassis != [chassis_name(chassis)]:
                raise ForeignDevice(step=f"delete OVN port {c.name}", what="OVN port", name=c.name,
                                    reason="is not requested on this chassis alone")
        for c in changes:   # recorded per port too, as the single-port methods
            if c.keep:
                self.set_port_chassis(c.row, c.name, c.keep)
            else:
                self.delete_port(c.name, chassis)

    def take_back(self, changes: Sequence[Any]) -> None:
        from hooks.adapters.ovn import DOMAIN_KEY, INTERFACE_KEY, split_address

        self._enter("take_back", tuple(c.name for c in changes))
        for c in changes:
            row = c.row
            if c.keep:
                self.set_port_chassis(with_chassis(row, c.keep), c.name, row.chassis)
                continue
            mac, address = split_address(row.addresses)
            self.write_port(None, row.switch or "", c.name, mac, address, row.chassis,
                            row.external_ids.get(DOMAIN_KEY, ""), row.external_ids.get(INTERFACE_KEY, mac),
                            row.dhcp_options, bool(row.port_security))

    def set_port_chassis(self, row: Any, name: str, chassis: Sequence[str]) -> None:
        from hooks.adapters.ovn import chassis_list, requested_chassis

        self._enter("set_port_chassis", name, tuple(chassis))
        lsp = self.lsps.get(name)
        if lsp is None or requested_chassis(lsp.options) != list(row.chassis):
            raise HostTimeout(step=f"set the chassis of OVN port {name}", seconds=5)
        names = chassis_list(chassis)
        lsp.options["requested-chassis"] = ",".join(names)
        if len(names) > 1:
            lsp.options["activation-strategy"] = "rarp"
        else:
            lsp.options.pop("activation-strategy", None)

    def restore_port(self, row: Any, name: str, keys: Sequence[str]) -> None:
        self._enter("restore_port", name)
        lsp = next((p for p in self.lsps.values() if p.uuid == row.uuid), None)
        if lsp is None:
            raise NotFound(step=f"restore OVN port {name}", what="OVN Logical_Switch_Port row", name=row.uuid)
        lsp.addresses = list(row.addresses)
        for key in keys:
            column, k = key.split(":", 1)
            target, source = (lsp.options, row.options) if column == "options" else (
                lsp.external_ids, row.external_ids)
            if k in source:
                target[k] = source[k]
            else:
                target.pop(k, None)
        lsp.dhcp = row.dhcp_options
        lsp.port_security = list(row.port_security)

    def delete_port(self, name: str, chassis: str) -> bool:
        from hooks.adapters.ovn import requested_chassis

        self._enter("delete_port", name, chassis)
        lsp = self.lsps.get(name)
        if lsp is None:
            return False
        if requested_chassis(lsp.options) != [chassis]:
            raise ForeignDevice(step=f"delete OVN port {name}", what="OVN port", name=name,
                                reason="is not requested on this chassis alone")
        del self.lsps[name]
        return True

    def snapshot(self) -> dict[str, Any]:
        """The NB as plain data; row UUIDs left out (a re-created row gets a new one), a port's
        DHCP options as the switch they belong to."""
        dhcp_of = {row: switch for switch, row in self.dhcp_rows.items()}
        return {"switches": {s: {**v, "dhcp": s in self.dhcp_rows} for s, v in self.switches.items()},
                "ports": {n: {"switch": p.switch, "addresses": list(p.addresses), "options": dict(p.options),
                              "external_ids": dict(p.external_ids), "dhcp": dhcp_of.get(p.dhcp or "", p.dhcp),
                              "port_security": list(p.port_security)}
                          for n, p in self.lsps.items()}}
