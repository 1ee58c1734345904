"""The host effects the hooks need, as small interfaces.

Each port has one real adapter (``hooks.adapters``) and a fake for unit tests
(``tests/fakes.py``). The executor's actions call them; the planner sees them only through
``hooks.planner.facts.LiveFacts``, which asks the read-only questions a plan depends on. Every
name and address passed in has been validated by ``xmltools.names`` before it gets here.
All methods raise ``hooks.errors.HostError`` (or a subclass) on failure, never a raw OSError.
"""

from __future__ import annotations

from collections.abc import Sequence

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from dataclasses import dataclass, field
    from typing import Protocol
else:
    from xmltools.record import dataclass, field

    Protocol = object   # the ports are only ever named in annotations


@dataclass(frozen=True)
class LinkInfo:
    name: str
    index: int
    kind: str | None          # 'bridge', 'tun', 'veth', 'macvlan', 'macvtap', 'openvswitch', None
    up: bool                  # administratively up (IFF_UP)
    master: str | None        # name of the bridge/OVS master, if enslaved
    mac: str | None
    macvlan_mode: str | None = None   # 'vepa' | 'bridge' | 'private' | 'passthru' | 'source'
    carrier: bool = False             # IFLA_CARRIER: on a TAP, some process holds a queue of it
    # Kind 'tun' only: 'tap' or 'tun'; persistent (a non-persistent one lives only while a
    # process holds it); queues processes hold, attached or disabled (the kernel reports it for
    # multi-queue devices only, else None).
    tun_mode: str | None = None
    tun_persistent: bool = True
    tun_queues: int | None = None


@dataclass(frozen=True)
class BridgeVlan:
    vid: int
    pvid: bool = False
    untagged: bool = False


@dataclass(frozen=True)
class VfInfo:
    index: int
    mac: str | None
    vlan: int            # 0 = none


class NetlinkPort(Protocol):
    """Links, bridges, VLAN filtering, macvlan shims and VF settings (pyroute2 IPRoute)."""

    def link(self, name: str) -> LinkInfo | None: ...
    def create_tap(self, name: str, uid: int | None, gid: int | None,
                   multi_queue: bool, vnet_hdr: bool) -> None: ...
    def create_macvlan(self, name: str, uplink: str, mode: str) -> None: ...
    def delete_link(self, name: str) -> None: ...
    def set_up(self, name: str, up: bool = True) -> None: ...
    def set_master(self, name: str, master: str | None) -> None: ...
    def add_address(self, name: str, cidr: str) -> None: ...
    def bridge_vlan_filtering(self, bridge: str) -> bool: ...
    def set_bridge_vlan_filtering(self, bridge: str, on: bool) -> None: ...
    def bridge_vlans(self, port: str) -> list[BridgeVlan]: ...
    def bridge_vlan_add(self, port: str, vid: int, pvid: bool, untagged: bool) -> None: ...
    def bridge_vlan_del(self, port: str, vid: int) -> None: ...
    def vf_info(self, pf: str, index: int) -> VfInfo: ...
    def set_vf(self, pf: str, index: int, mac: str | None = None,
               vlan: int | None = None) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class OvsPortSettings:
    """The VLAN columns of an OVS Port row, as ovs-vsctl reports them."""

    tag: int | None = None
    trunks: tuple[int, ...] = ()
    vlan_mode: str | None = None
    other_config: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OvsVlanChange:
    """Set the VLAN columns of a Port row; None / empty clears a column."""

    port: str
    tag: int | None
    trunks: tuple[int, ...] = ()
    vlan_mode: str | None = None


@dataclass(frozen=True)
class OvsKeyChange:
    """Set one key of a map column of a Bridge, Port or Interface record; value None removes it."""

    table: str
    record: str
    column: str
    key: str
    value: str | None


class OvsPort(Protocol):
    """Open vSwitch through ``ovs-vsctl --timeout=N``."""

    def bridge_exists(self, bridge: str) -> bool: ...
    def port_bridge(self, port: str) -> str | None: ...
    def port_or_interface(self, name: str) -> str | None:
        """'port' or 'interface' when OVS has a Port or an Interface row of that name (a patch
        port, a bond member, an internal port...), else None."""
        ...
    def add_port(self, bridge: str, port: str, owner: str | None = None) -> None:
        """Add ``port`` to ``bridge`` (nothing if it is there); a new row is marked ``owner``'s."""
        ...
    def port_owner(self, port: str) -> str | None:
        """The owner mark the hook put on Port row ``port`` when it added it, else None."""
        ...
    def del_port(self, bridge: str, port: str) -> None: ...
    def port_settings(self, port: str) -> OvsPortSettings: ...
    def set_port_vlan(self, port: str, tag: int | None, trunks: Sequence[int],
                      vlan_mode: str | None) -> None: ...
    def set_column_key(self, table: str, record: str, column: str, key: str,
                       value: str | None) -> None: ...
    def transact(self, read_ports: Sequence[str],
                 changes: Sequence[OvsVlanChange | OvsKeyChange]) -> dict[str, OvsPortSettings]:
        """One OVSDB transaction (one ``ovs-vsctl`` run): read the Port rows ``read_ports``,
        then make ``changes`` in order; returns the rows as read, before the changes, by name.

        All or nothing: a missing record (NotFound) or any other failure changes nothing.
        Writing values a row already holds changes nothing either (OVSDB drops a transaction
        without real changes, and ovs-vswitchd is not woken).
        """
        ...


@dataclass(frozen=True)
class PciDevice:
    address: str                 # '0000:04:10.0'
    driver: str | None           # current driver name, None when unbound
    driver_override: str | None  # None when empty
    is_bridge: bool              # PCI class 0x0604: ignored in IOMMU group viability
    netdev: str | None           # interface name when a network driver owns it


class SysfsPort(Protocol):
    """PCI and SR-IOV knobs under a sysfs root (``/sys`` on a host, a folder in tests)."""

    def pci_device(self, address: str) -> PciDevice | None: ...
    def iommu_group(self, address: str) -> list[str] | None: ...   # addresses; None = no IOMMU
    def set_driver_override(self, address: str, driver: str | None) -> None: ...
    def unbind(self, address: str, timeout: float) -> None: ...
    def drivers_probe(self, address: str, timeout: float) -> None: ...
    def vfio_group_exists(self, group: str) -> bool: ...
    def sriov_numvfs(self, pf: str) -> int: ...
    def sriov_totalvfs(self, pf: str) -> int: ...
    def set_sriov_numvfs(self, pf: str, count: int) -> None: ...
    def vf_address(self, pf: str, index: int) -> str | None: ...
    def pf_of_vf(self, address: str) -> tuple[str, int] | None: ...  # (pf netdev, vf index)
    def netdev_of(self, address: str) -> str | None: ...
