"""The libvirt, 802.1Q and Open vSwitch rules the whole project follows, each written once.

The core's models, the lint checks, the builders and editors, and the hooks all import their
rules from here, so that two copies can never disagree (a lint that accepts what the hook
refuses, or a fast path that skips a call the hook has a record for).

Rules only the hooks follow (the per-operation table, the character set of state file names)
live in ``hooks.protocol``, which a hook call without work reads without importing the core.
Plain constants and functions only, nothing imported at run time: the hooks' planner and
actions import this module on a call with work.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from collections.abc import Iterable

# --------------------------------------------------------------------------- libvirt networks

# macvtap modes: a domain's <source dev mode> on a ``direct`` interface, and the <forward mode>
# values that hand guests a macvtap device on one of the listed uplinks (``bridge`` is one only
# without a <bridge name>: with one, it names a host bridge). In the order messages list them.
MACVTAP_MODES = ("vepa", "bridge", "private", "passthrough")
# Modes whose interfaces are always macvtap devices, whatever else the network holds.
MACVTAP_ONLY_MODES = ("private", "vepa", "passthrough")


def is_macvtap_forward(mode: str | None, has_bridge: bool) -> bool:
    """Does a network with this <forward mode> (and a <bridge> element or not) use macvtap?"""
    return mode in MACVTAP_ONLY_MODES or (mode == "bridge" and not has_bridge)


# <virtualport type> values: all four on a domain <interface>; a network's <virtualport> (and
# its portgroups') takes no ``midonet`` (libvirt's network schema leaves it out).
VIRTUALPORT_TYPES = ("openvswitch", "802.1Qbg", "802.1Qbh", "midonet")
NETWORK_VIRTUALPORT_TYPES = ("openvswitch", "802.1Qbg", "802.1Qbh")

# The first libvirt release that applies <vlan> on a Linux bridge port itself.
LINUX_BRIDGE_VLAN_SINCE = (11, 0)


def libvirt_applies_vlan(mode: str | None, ovs: bool, libvirt: tuple[int, ...] = (9, 0)) -> bool:
    """Does libvirt apply a network's (or portgroup's) <vlan> itself?

    It does on hostdev and passthrough pools and on Open vSwitch bridges; before 11.0 its
    network driver refuses <vlan> everywhere else, so the wish goes to the project's metadata
    and the hook applies it. ``mode`` is the <forward mode>; ``ovs``: the network's bridge is
    an Open vSwitch bridge (``mode='bridge'`` with ``<virtualport type='openvswitch'>``).
    From 11.0 also ``mode='bridge'`` without a <virtualport> (a Linux bridge); NAT, routed,
    open and isolated networks still refuse it (``vlanAllowed`` in libvirt 11.3's
    src/network/bridge_driver.c).
    """
    if mode in ("hostdev", "passthrough"):
        return True
    if mode == "bridge" and ovs:
        return True
    return libvirt >= LINUX_BRIDGE_VLAN_SINCE and mode == "bridge"


# The <interface type> of a guest's port on a bridge, as libvirt's live XML shows it (with the
# bridge in <source bridge>): the hooks set a metadata VLAN (<vnx:vlan>) on such a port. On a
# macvtap (``direct``) or ``hostdev`` port they set one only through an SR-IOV VF's PF (the
# entry's <vnx:vf>); anywhere else the wish is not applied.
BRIDGE_PORT_TYPES = ("bridge", "network")


def network_port_type(mode: str | None, has_bridge: bool) -> str:
    """The <interface type> libvirt's live XML gives a guest's port on a network.

    ``mode`` is the network's <forward mode> (``nat`` for a <forward> without one, None for no
    <forward>: an isolated network), ``has_bridge``: it has a <bridge name>. ``hostdev`` for a
    VF pool, ``direct`` for macvtap, ``bridge`` for a host bridge (Linux or Open vSwitch),
    ``network`` for the bridge libvirt makes itself (NAT, routed, open, isolated).
    """
    if mode == "hostdev":
        return "hostdev"
    if is_macvtap_forward(mode, has_bridge):
        return "direct"
    return "bridge" if mode == "bridge" else "network"


def classful_prefix(first_octet: int) -> int | None:
    """libvirt's default prefix for an IPv4 <ip> given neither netmask nor prefix.

    The old class A/B/C masks by the first octet; class D and E addresses (224 and up) have
    none, and libvirt refuses such an <ip>.
    """
    if first_octet < 128:
        return 8
    if first_octet < 192:
        return 16
    if first_octet < 224:
        return 24
    return None


# --------------------------------------------------------------------------- 802.1Q VLANs

MAX_VLAN = 4095               # the 12-bit VID field: what libvirt's <tag id> takes
BRIDGE_VLAN_RANGE = (1, 4094)  # what the Linux bridge accepts (0 and 4095 are reserved)
VLAN_MODES = ("access", "trunk", "native-tagged", "native-untagged")   # OVS vlan_mode


def vlan_id_ok(vid: int) -> bool:
    """An id libvirt's <tag id> (and the metadata) accepts: 0 to 4095."""
    return 0 <= vid <= MAX_VLAN


def bridge_vid_ok(vid: int) -> bool:
    """An id a Linux bridge port takes: 1 to 4094."""
    return BRIDGE_VLAN_RANGE[0] <= vid <= BRIDGE_VLAN_RANGE[1]


def merge_vlan_ids(ids: Iterable[int]) -> list[tuple[int, int]]:
    """(30, 20, 31, 32, 20) -> [(20, 20), (30, 32)]: sorted runs of consecutive ids."""
    ranges: list[tuple[int, int]] = []
    for vid in sorted(set(ids)):
        if ranges and ranges[-1][1] == vid - 1:
            ranges[-1] = (ranges[-1][0], vid)
        else:
            ranges.append((vid, vid))
    return ranges


def format_vlan_ranges(ranges: Iterable[tuple[int, int]]) -> str:
    """[(20, 20), (30, 32)] -> '20,30-32' (the metadata's and OVS' list form)."""
    return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ranges)


def format_vlan_ids(ids: Iterable[int]) -> str:
    """[20, 30, 31, 32] -> '20,30-32'."""
    return format_vlan_ranges(merge_vlan_ids(ids))


# --------------------------------------------------------------------------- devices

MTU_RANGE = (68, 65535)   # what libvirt passes on for <mtu size>: IPv4's minimum to 16 bits
MAX_VF_INDEX = 255        # a VF index (the metadata's and --vf-index)
MAX_NUMVFS = 65535        # sriov_numvfs: PCIe TotalVFs is a 16-bit field


# --------------------------------------------------------------------------- the kernel

# Symbolic links one path lookup may follow before the kernel says ELOOP: the walkers that
# resolve paths themselves, without following links blindly, stop at the same count.
MAX_SYMLINKS = 40
