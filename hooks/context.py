"""Everything an action needs while it runs: who it is for, the ports, the state, the clock.

The ports are built on first use, so a call that only touches OVS never imports pyroute2 and a
call that changes nothing opens no netlink socket at all.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from hooks.deadline import Deadline
from hooks.state import StateStore

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from dataclasses import dataclass
    from typing import Any
else:
    from xmltools.record import dataclass

if TYPE_CHECKING:   # the adapters import the ports module themselves when they are needed
    from hooks.adapters.firewall import FirewallPort
    from hooks.ports import NetlinkPort, OvsPort, SysfsPort

OVS_TIMEOUT = 5.0   # upper bound for one ovs-vsctl call
SYSFS_TIMEOUT = 3.0  # upper bound for one unbind / drivers_probe
FIREWALL_TIMEOUT = 5.0  # upper bound for one nft / iptables run
OVN_TIMEOUT = 5.0   # upper bound for one ovn-nbctl run (within the hook's deadline)


@dataclass(frozen=True)
class Owner:
    """The libvirt object the hook runs for."""

    kind: str            # 'domain' | 'network'
    name: str
    uuid: str | None = None

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


def _real_netlink() -> NetlinkPort:
    from hooks.adapters.netlink import NetlinkAdapter

    return NetlinkAdapter()


def _real_sysfs() -> SysfsPort:
    from hooks.adapters.sysfs import SysfsAdapter

    return SysfsAdapter("/")


class Context:
    """Ports (given, or made lazily from factories), state store, deadline and output."""

    def __init__(self, owner: Owner, state: StateStore, deadline: Deadline, *,
                 netlink: NetlinkPort | None = None, ovs: OvsPort | None = None,
                 sysfs: SysfsPort | None = None,
                 netlink_factory: Callable[[], NetlinkPort] = _real_netlink,
                 ovs_factory: Callable[[], OvsPort] | None = None,
                 sysfs_factory: Callable[[], SysfsPort] = _real_sysfs,
                 ovs_db: str | None = None, daemon_pid: int | None = None,
                 firewall: FirewallPort | None = None, libvirt_files: Any = None,
                 ovn: Any = None) -> None:
        self.owner = owner
        # The libvirt daemon that ran this hook: the hook's parent (the wrapper execs Python).
        self.daemon_pid = daemon_pid if daemon_pid is not None else os.getppid()
        self.ovs_db = ovs_db
        self.state = state
        self.deadline = deadline
        self._netlink, self._ovs, self._sysfs = netlink, ovs, sysfs
        self._firewall = firewall
        self._ovn = ovn
        self._libvirt_files = libvirt_files
        self._netlink_factory, self._ovs_factory, self._sysfs_factory = (
            netlink_factory, ovs_factory, sysfs_factory)
        self.output: list[str] = []   # what the hook prints on stdout (migrate/restore only)
        # Half-done actions that could not put back their own first steps (undo_own_steps).
        self.left_over: list[str] = []

    @property
    def netlink(self) -> NetlinkPort:
        if self._netlink is None:
            self._netlink = self._netlink_factory()
        return self._netlink

    @property
    def ovs(self) -> OvsPort:
        if self._ovs is None:
            if self._ovs_factory is not None:
                self._ovs = self._ovs_factory()
            else:
                from hooks.adapters.ovs import OvsAdapter

                self._ovs = OvsAdapter(db=self.ovs_db, timeout=self.deadline.timeout(OVS_TIMEOUT))
        return self._ovs

    @property
    def sysfs(self) -> SysfsPort:
        if self._sysfs is None:
            self._sysfs = self._sysfs_factory()
        return self._sysfs

    @property
    def firewall(self) -> FirewallPort:
        """nft and iptables, for port forwards (built on first use)."""
        if self._firewall is None:
            from hooks.adapters.firewall import FirewallAdapter

            self._firewall = FirewallAdapter(timeout=self.deadline.timeout(FIREWALL_TIMEOUT))
        return self._firewall

    @property
    def ovn(self) -> Any:
        """The OVN northbound database (``hooks.adapters.ovn.OvnAdapter``), from ``ovn.conf``;
        without that file an OVN wish is refused in one line, never silently skipped."""
        if self._ovn is None:
            from hooks.adapters.ovn import OvnAdapter, load_ovn_config, ovn_config_path
            from xmltools.errors import InputError

            config = load_ovn_config()
            if config is None:
                raise InputError(source=ovn_config_path(),
                                 detail="does not exist: OVN networks and ports need it to name the "
                                        "northbound database (nb = tcp:HOST:6641, ...)")
            self._ovn = OvnAdapter(config, self.ovs_db, timeout=self.deadline.timeout(OVN_TIMEOUT))
        return self._ovn

    @property
    def libvirt_files(self) -> Any:
        """libvirt's own files about networks (``hooks.adapters.libvirt_files``), read only."""
        if self._libvirt_files is None:
            from hooks.adapters.libvirt_files import LibvirtFiles

            self._libvirt_files = LibvirtFiles()
        return self._libvirt_files

    def sysfs_timeout(self) -> float:
        return self.deadline.timeout(SYSFS_TIMEOUT)

    def close(self) -> None:
        """Close what was opened (the netlink socket); safe to call more than once."""
        if self._netlink is not None:
            closer: Any = getattr(self._netlink, "close", None)
            if closer is not None:
                closer()
            self._netlink = None
