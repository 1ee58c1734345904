"""The host facts a plan depends on, behind one read-only interface (``HostFacts``).

Three sources: tables (``StaticFacts``, for tests and ``hooks plan --ovs-bridge``), the ports of
a hook call (``LiveFacts``: read-only calls on ``ctx``'s netlink, OVS, sysfs and state ports,
each asked once), and the ``hooks plan`` command's read-only host queries (``PlanFacts``). The
planner's other modules see only ``HostFacts``, never a port.
"""

from __future__ import annotations

import grp
import pwd
from collections.abc import Callable

from hooks.errors import HostError
from hooks.state_records import NetworkState
from xmltools.errors import InvalidValue

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from dataclasses import dataclass, field
    from typing import Any, Protocol
else:
    from xmltools.record import dataclass, field

    Protocol = object   # the ports are only ever named in annotations


class HostFacts(Protocol):
    """Read-only questions about the host that a plan depends on."""

    def is_ovs_bridge(self, name: str) -> bool: ...
    def vf_address(self, pf: str, index: int) -> str | None: ...
    def pf_of_vf(self, address: str) -> tuple[str, int] | None: ...
    def uid_of(self, user: str) -> int: ...
    def gid_of(self, group: str) -> int: ...
    def vf_pool(self, network: str) -> str | None: ...   # the PF of a hostdev network's pool
    def tap_conflict(self, name: str, ovs_bridge: bool) -> str | None: ...  # why TAP name is not ours to use
    def libvirt_version(self) -> tuple[int, int, int] | None: ...   # the libvirt the hook runs beside
    def network_definition(self, name: str) -> Any: ...   # libvirt's <network> from its files, or None
    # domain -> (its UUID, key -> the port forwards recorded for it)
    def forward_records(self) -> dict[str, tuple[str | None, dict[str, Any]]]: ...


def _id_of(value: str, table: dict[str, int], lookup: Callable[[str], int], what: str) -> int:
    if value.isdigit():
        return int(value)
    if value in table:
        return table[value]
    try:
        return lookup(value)
    except KeyError:
        raise InvalidValue(what=what, value=value, reason="no such name on this host") from None


def forward_records(store: Any) -> dict[str, tuple[str | None, dict[str, Any]]]:
    """The port forwards the state records hold, by domain: (its UUID, key -> forwards)."""
    from hooks.state_records import DomainState

    found = {}
    for name in store.names(DomainState.KIND):
        state = DomainState(store.read(DomainState.KIND, name))
        if state.forwards:
            found[name] = (state.uuid, state.forwards)
    return found


def pool_pf(store: Any, network: str) -> str | None:
    """The PF of ``network``'s VF pool, from its state record (None: not a pool)."""
    return NetworkState(store.read(NetworkState.KIND, network)).pool_pf


@dataclass
class StaticFacts:
    """HostFacts from tables: for tests and for ``hooks plan`` without touching the host."""

    ovs_bridges: frozenset[str] = frozenset()
    vfs: dict[tuple[str, int], str] = field(default_factory=dict)   # (pf, index) -> PCI address
    users: dict[str, int] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    pools: dict[str, str] = field(default_factory=dict)            # network -> PF
    taken: dict[str, str] = field(default_factory=dict)            # device -> why no TAP of it
    libvirt: tuple[int, int, int] | None = None                    # None: not known (as before 11.0)
    networks: dict[str, Any] = field(default_factory=dict)         # name -> libvirt's <network>
    forwarded: dict[str, tuple[str | None, dict[str, Any]]] = field(default_factory=dict)

    def libvirt_version(self) -> tuple[int, int, int] | None:
        return self.libvirt

    def network_definition(self, name: str) -> Any:
        return self.networks.get(name)

    def forward_records(self) -> dict[str, tuple[str | None, dict[str, Any]]]:
        return self.forwarded

    def tap_conflict(self, name: str, ovs_bridge: bool) -> str | None:
        return self.taken.get(name)

    def vf_pool(self, network: str) -> str | None:
        return self.pools.get(network)

    def is_ovs_bridge(self, name: str) -> bool:
        return name in self.ovs_bridges

    def vf_address(self, pf: str, index: int) -> str | None:
        return self.vfs.get((pf, index))

    def pf_of_vf(self, address: str) -> tuple[str, int] | None:
        return next((key for key, addr in self.vfs.items() if addr == address), None)

    def uid_of(self, user: str) -> int:
        return _id_of(user, self.users, lambda n: pwd.getpwnam(n).pw_uid, "user")

    def gid_of(self, group: str) -> int:
        return _id_of(group, self.groups, lambda n: grp.getgrnam(n).gr_gid, "group")


class LiveFacts:
    """HostFacts answered by the ports (read-only calls only), each asked at most once."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self._ovs: dict[str, bool] = {}
        self._libvirt: list[tuple[int, int, int] | None] = []

    def libvirt_version(self) -> tuple[int, int, int] | None:
        if not self._libvirt:
            from hooks.daemon import hook_daemon_version

            # The daemon that runs this call is its parent (hooks.daemon explains the choice).
            self._libvirt.append(hook_daemon_version(self.ctx.daemon_pid))
        return self._libvirt[0]

    def is_ovs_bridge(self, name: str) -> bool:
        if name not in self._ovs:
            # A Linux bridge answers the question without asking OVS, which a host with only
            # Linux bridges may not run at all (ovs-vsctl would fail: no database socket).
            link = self.ctx.netlink.link(name)
            if link is not None and link.kind == "bridge":
                self._ovs[name] = False
            else:
                # No OVS on this host (or not running): then it is no OVS bridge either, and
                # the step that uses the bridge reports it missing, by name.
                try:
                    self._ovs[name] = bool(self.ctx.ovs.bridge_exists(name))
                except HostError:
                    self._ovs[name] = False
        return self._ovs[name]

    def vf_address(self, pf: str, index: int) -> str | None:
        return self.ctx.sysfs.vf_address(pf, index)

    def network_definition(self, name: str) -> Any:
        return self.ctx.libvirt_files.network_xml(name)

    def forward_records(self) -> dict[str, tuple[str | None, dict[str, Any]]]:
        return forward_records(self.ctx.state)

    def vf_pool(self, network: str) -> str | None:
        return pool_pf(self.ctx.state, network)

    def pf_of_vf(self, address: str) -> tuple[str, int] | None:
        return self.ctx.sysfs.pf_of_vf(address)

    def uid_of(self, user: str) -> int:
        return _id_of(user, {}, lambda n: pwd.getpwnam(n).pw_uid, "user")

    def gid_of(self, group: str) -> int:
        return _id_of(group, {}, lambda n: grp.getgrnam(n).gr_gid, "group")

    def tap_conflict(self, name: str, ovs_bridge: bool) -> str | None:
        from hooks.actions.tap import tap_conflict

        return tap_conflict(self.ctx, name, ovs_bridge)


class PlanFacts:
    """Facts for ``hooks plan``: the command line first, then read-only host queries, and a
    neutral answer when the host cannot say (no OVS, no sysfs): planning must not fail on it."""

    def __init__(self, ovs_bridges: frozenset[str], store: Any,
                 libvirt: tuple[int, int, int] | None = None) -> None:
        self.static = StaticFacts(ovs_bridges=ovs_bridges)
        self.store = store   # a hooks.state.StateStore, read only
        self.libvirt = libvirt   # given on the command line, else the running daemon's

    def libvirt_version(self) -> tuple[int, int, int] | None:
        from hooks.daemon import find_daemons, installed_version, version_of

        if self.libvirt is not None:
            return self.libvirt

        for pid in find_daemons().values():
            found = version_of(pid)
            if found is not None:
                return found
        return installed_version()

    def is_ovs_bridge(self, name: str) -> bool:
        if self.static.is_ovs_bridge(name):
            return True
        try:
            from hooks.adapters.ovs import OvsAdapter
            from hooks.config import load_config, ovs_db

            return bool(OvsAdapter(db=ovs_db(load_config()), timeout=2.0).bridge_exists(name))
        except Exception:  # noqa: BLE001 - no OVS here: a Linux bridge, then
            return False

    def vf_address(self, pf: str, index: int) -> str | None:
        try:
            from hooks.adapters.sysfs import SysfsAdapter

            return SysfsAdapter("/").vf_address(pf, index)
        except Exception:  # noqa: BLE001
            return f"<VF {index} of {pf}>"

    def pf_of_vf(self, address: str) -> tuple[str, int] | None:
        try:
            from hooks.adapters.sysfs import SysfsAdapter

            return SysfsAdapter("/").pf_of_vf(address)
        except Exception:  # noqa: BLE001
            return None

    def vf_pool(self, network: str) -> str | None:
        return pool_pf(self.store, network)

    def network_definition(self, name: str) -> Any:
        try:
            from hooks.adapters.libvirt_files import network_xml

            return network_xml(name)
        except Exception:  # noqa: BLE001 - not readable here: planned without it
            return None

    def forward_records(self) -> dict[str, tuple[str | None, dict[str, Any]]]:
        return forward_records(self.store)

    def uid_of(self, user: str) -> int:
        return self.static.uid_of(user)

    def gid_of(self, group: str) -> int:
        return self.static.gid_of(group)

    def tap_conflict(self, name: str, ovs_bridge: bool) -> str | None:
        return None   # the hook itself asks the host (netlink, OVS, claims) when it runs
