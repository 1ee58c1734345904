"""The shape of the hooks' state records, one per domain and one per network: every key named once.

A record is the JSON object ``hooks.state.StateStore`` keeps in ``domains/<name>.json`` or
``networks/<name>.json``. These classes wrap the loaded dict (``data``) and name its parts, so
the planner, the actions, ``hooks status`` and ``hooks repair`` read and change a record only
through them; what is saved is the same dict, so the JSON on disk keeps its form.

Reading a part never adds it to the record (an absent part reads as empty); ``…_for_update``
returns the part to change, creating it when absent, as the hook has always written it.

On the hook's start path: a plain class, no dataclasses, nothing imported at run time.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from typing import Any

NAME = "name"
UUID = "uuid"


class _Part:
    """A part of a record as an attribute: ``record.taps`` reads ``record.part("taps")``."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def __get__(self, record: _Record, owner: type | None = None) -> dict[str, Any]:
        return record.part(self.key)


class _Record:
    """A state record: the object's ``name`` and ``uuid`` and named parts (dicts by key)."""

    KIND = ""
    PARTS: tuple[str, ...] = ()
    __slots__ = ("data",)

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = {} if data is None else data

    def part(self, key: str) -> dict[str, Any]:
        """One part of the record to read; an absent (or malformed) part reads as ``{}``."""
        assert key in self.PARTS, key
        value = self.data.get(key)
        return value if isinstance(value, dict) else {}

    def part_for_update(self, key: str) -> dict[str, Any]:
        """One part of the record to change, added to the record when absent."""
        assert key in self.PARTS, key
        value = self.data.get(key)
        if not isinstance(value, dict):
            value = self.data[key] = {}
        return value

    def replace(self, key: str, value: Any) -> None:
        """Put ``value`` (a part, or what ``drop`` returned) as the part ``key``."""
        assert key in self.PARTS, key
        self.data[key] = value

    def drop(self, key: str) -> Any:
        """Take the part ``key`` out of the record; returns it (None when absent)."""
        assert key in self.PARTS, key
        return self.data.pop(key, None)

    def label(self, name: str, uuid: str | None = None) -> None:
        """Write the object's name (and UUID, when known) into the record."""
        self.data[NAME] = name
        if uuid:
            self.data[UUID] = uuid

    @property
    def name(self) -> str | None:
        return self.data.get(NAME)

    @property
    def uuid(self) -> str | None:
        return self.data.get(UUID)

    def only_labels(self, *also: str) -> bool:
        """Does the record hold nothing but its name, UUID and the keys ``also``?"""
        return set(self.data) <= {NAME, UUID, *also}


class DomainState(_Record):
    """What the hooks did for a domain, for ``release`` (and ``hooks repair``) to undo.

    ``taps``: TAP name -> how it was made ({bridge, ovs, plugged, adopted, ...});
    ``vfs``: "pf/index" -> the VF's MAC and VLAN before (with ``pf`` and ``index``);
    ``drivers``: PCI address -> the driver the function was bound to before vfio-pci;
    ``claims``: device key -> what was claimed (the claim itself lives in ``claims/``);
    ``port_wishes``: MAC -> the VLAN a network's portgroup wants on that port;
    ``starting``: {pid, since}: the libvirt daemon that is starting the domain;
    ``hotplug``: MAC -> {dev, alias}: interfaces ``hooks watch`` applied the wishes of while the
    guest ran (hot-plugged, or caught up after the watch was away);
    ``forwards``: interface key -> the port forwards applied for it (``hooks.actions.forward``);
    ``ovn_ports``: OVN logical switch port (interfaceid) -> {switch, mac, created}: the ports the
    hooks set for the domain on this chassis (``hooks.actions.ovn``).
    """

    KIND = "domains"
    TAPS, VFS, DRIVERS, CLAIMS, PORT_WISHES, STARTING = (
        "taps", "vfs", "drivers", "claims", "port_wishes", "starting")
    HOTPLUG = "hotplug"
    FORWARDS = "forwards"
    OVN_PORTS = "ovn_ports"
    PARTS = (TAPS, VFS, DRIVERS, CLAIMS, PORT_WISHES, STARTING, HOTPLUG, FORWARDS, OVN_PORTS)
    __slots__ = ()

    taps, vfs, drivers = _Part(TAPS), _Part(VFS), _Part(DRIVERS)
    claims, port_wishes, hotplug = _Part(CLAIMS), _Part(PORT_WISHES), _Part(HOTPLUG)
    forwards = _Part(FORWARDS)
    ovn_ports = _Part(OVN_PORTS)

    @property
    def starting(self) -> dict[str, Any] | None:
        value = self.data.get(self.STARTING)
        return value if isinstance(value, dict) else None


class NetworkState(_Record):
    """What the hooks did for a network: ``shims`` (name -> uplink, address, ifindex),
    ``pool`` ({pf}: the network is a pool of that PF's VFs), ``numvfs`` (PF -> the count
    before the hook set it)."""

    KIND = "networks"
    SHIMS, POOL, NUMVFS = "shims", "pool", "numvfs"
    PARTS = (SHIMS, POOL, NUMVFS)
    __slots__ = ()

    shims, pool, numvfs = _Part(SHIMS), _Part(POOL), _Part(NUMVFS)

    @property
    def pool_pf(self) -> str | None:
        """The PF whose VFs this network hands out, when it is a pool."""
        return self.pool.get("pf")
