"""The libvirt, 802.1Q and Open vSwitch rules the whole project follows, each written once.

The core's models, the lint checks, the builders and editors, and the hooks all import their
rules from here, so that two copies can never disagree (a lint that accepts what the hook
refuses, or a fast path that skips a call the hook has a record for).

Rules only the hooks follow (the per-operation table, the character set of state file names)
live in ``hooks.protocol``, which a hook call without work reads without importing the core.
Plain constants and functions only, nothing imported at run time but the project's error
class: the hooks' planner and actions import this module on a call with work.
"""

from __future__ import annotations

from xmltools.errors import InvalidValue

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

MAX_VLAN = 4095               # the 12-bit VID field: the largest <tag id> libvirt parses
# The VLAN ids the project writes, and the hooks apply, on every target: 1 to 4094.
# 802.1Q reserves the field's other two values: 0 is the null VID (a priority-tagged frame, which
# belongs to no VLAN) and 4095 is kept for implementation use and never sent in a tag.
# - A Linux bridge port refuses both (bridge(8): vid 1-4094), whether the hook sets the VLANs or
#   libvirt 11.0 and later set them from <vlan> themselves.
# - libvirt's <tag id> parses 0 to 4095 and passes the id on; Open vSwitch takes 0 to 4095 in a
#   Port's tag and trunks (ovs-vswitchd.conf.db(5)). But VLAN 0 is not a VLAN there either: OVS
#   counts frames without a VLAN header as "VLAN 0" and treats priority-tagged frames as
#   untagged, so tag=0 makes an access port on the untagged segment, not an isolated VLAN. 4095
#   would leave the host's trunk ports in tags that conforming switches drop. An SR-IOV VF given
#   VLAN 0 through its PF has its VLAN cleared.
# So 0 and 4095 never mean "this VLAN": every generator, editor and metadata wish refuses them
# with that reason, the hooks refuse them in the metadata, and lint reports them (an error where
# a Linux bridge applies them, a warning in libvirt's own <vlan> elsewhere, which libvirt takes).
VLAN_RANGE = (1, 4094)
BRIDGE_VLAN_RANGE = VLAN_RANGE  # what the Linux bridge accepts
VLAN_MODES = ("access", "trunk", "native-tagged", "native-untagged")   # OVS vlan_mode
NATIVE_MARKS = ("tagged", "untagged")   # the ``:tagged``/``:untagged`` of a native VLAN


def vlan_id_ok(vid: int) -> bool:
    """An id libvirt's <tag id> parses: 0 to 4095 (see VLAN_RANGE for what the project writes)."""
    return 0 <= vid <= MAX_VLAN


def bridge_vid_ok(vid: int) -> bool:
    """An id a Linux bridge port takes: 1 to 4094."""
    return BRIDGE_VLAN_RANGE[0] <= vid <= BRIDGE_VLAN_RANGE[1]


def vlan_id_problem(vid: int, shown: str | None = None) -> str | None:
    """Why ``vid`` is no VLAN the project writes or applies (None: it is one), in one line;
    ``shown``: the id as the user wrote it."""
    if VLAN_RANGE[0] <= vid <= VLAN_RANGE[1]:
        return None
    if vid == 0:
        why = ("0 is reserved by 802.1Q for priority-tagged frames, which belong to no VLAN "
               "(Open vSwitch reads it as untagged, a Linux bridge refuses it)")
    elif vid == MAX_VLAN:
        why = ("4095 is reserved by 802.1Q and never sent in a tag (libvirt and Open vSwitch "
               "would pass it on, a Linux bridge refuses it)")
    else:
        why = f"{shown or vid} is out of range"
    return f"{why}; VLAN ids are {VLAN_RANGE[0]} to {VLAN_RANGE[1]}"


def vid_digits(text: str) -> int | None:
    """The number written in ``text`` if it is ASCII digits only, else None.

    Not int(), which also reads '+10', ' 10', '1_0' and other scripts' digits ('١٠'): none of
    them is an id in libvirt's XML or on a command line. (``isascii() and isdigit()`` is the
    regular expression ``[0-9]+``, without importing ``re`` on the hooks' path.) A run of more
    digits than any id has reads as MAX_VLAN + 1, so a huge value is out of range, not slow.
    """
    if not (text.isascii() and text.isdigit()):
        return None
    significant = text.lstrip("0") or "0"
    return int(significant) if len(significant) <= 4 else MAX_VLAN + 1


def parse_vlan_id(text: str, what: str = "VLAN id") -> int:
    """One VLAN id, 1 to 4094 (surrounding whitespace dropped), else InvalidValue."""
    vid = vid_digits(text.strip())
    if vid is None:
        raise InvalidValue(what=what, value=text, reason="not a number (ASCII digits only)")
    problem = vlan_id_problem(vid, text.strip())
    if problem:
        raise InvalidValue(what=what, value=text, reason=problem)
    return vid


def parse_vlan_list(text: str, what: str = "VLAN list", native: bool = False
                    ) -> tuple[tuple[tuple[int, int], ...], int | None, str | None]:
    """The project's one VLAN list grammar, for every option and attribute that takes a list.

    ``ITEM[,ITEM...]``; an ITEM is an id ``ID`` or a range ``LO-HI`` (ASCII digits, ids 1 to
    4094, see VLAN_RANGE); with ``native``, one single id may carry ``:tagged`` or ``:untagged``
    (the trunk's native VLAN and how it leaves the port). Whitespace around the whole value is
    dropped (a quoted shell argument, an attribute written as ``" 10 "``); whitespace inside is
    refused, never joined: ``10 20`` is not 1020. Empty items, ranges missing an end or running
    backwards, an id listed twice (also inside a range) and ids out of range are refused too,
    each with one line saying which item.

    Returns the ranges in the order given (a single id is ``(id, id)``), the native id or None,
    and its mark (``tagged``/``untagged``) or None.
    """
    value = text.strip()

    def bad(reason: str) -> InvalidValue:
        return InvalidValue(what=what, value=text, reason=reason)

    if not value:
        raise bad("it is empty")
    for at, char in enumerate(value):
        if char.isspace():
            raise bad(f"whitespace at character {at + 1} (after {value[:at]!r}): "
                      "separate ids and ranges with commas only")
    items = value.split(",")
    ranges: list[tuple[int, int]] = []
    seen: dict[int, str] = {}
    native_id: int | None = None
    mark: str | None = None
    for n, item in enumerate(items):
        if not item:
            where = ("at the start" if n == 0 else "at the end" if n == len(items) - 1
                     else f"after {items[n - 1]!r}")
            raise bad(f"empty item {where}: a comma too many")
        body, colon, how = item.partition(":")
        if colon and not native:
            raise bad(f"{item!r}: no native VLAN mark (:tagged, :untagged) is taken here")
        if colon and how not in NATIVE_MARKS:
            raise bad(f"{item!r}: the mark after ':' must be 'tagged' or 'untagged'")
        lo_text, dash, hi_text = body.partition("-")
        if dash and not lo_text:
            raise bad(f"range {item!r} has no first id")
        if dash and not hi_text:
            raise bad(f"range {item!r} has no last id")
        lo = vid_digits(lo_text)
        hi = vid_digits(hi_text) if dash else lo
        if lo is None or hi is None:
            raise bad(f"{item!r} is not an id or a range LO-HI (ASCII digits only)")
        named = "" if item == value else f"{item!r}: "
        for vid, digits in ((lo, lo_text), (hi, hi_text or lo_text)):
            problem = vlan_id_problem(vid, digits)
            if problem:
                raise bad(named + problem)
        if hi < lo:
            raise bad(f"range {body!r} runs backwards")
        if colon and dash:
            raise bad(f"{named}only a single id can be the native VLAN, not a range")
        twice = next((vid for vid in range(lo, hi + 1) if vid in seen), None)
        if twice is not None:
            first = seen[twice]
            raise bad(f"VLAN {twice} is listed twice ({first!r} and {item!r})" if first != item
                      else f"VLAN {twice} is listed twice")
        if colon:
            if native_id is not None:
                raise bad("only one id can be the native VLAN")
            native_id, mark = lo, how
        seen.update(dict.fromkeys(range(lo, hi + 1), item))
        ranges.append((lo, hi))
    return tuple(ranges), native_id, mark


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


# --------------------------------------------------------------------------- OVN

# OVN logical switch names (the metadata's <vnx:ovn switch>, --ovn-switch). OVN itself takes any
# string; the project accepts only names that stay one plain word wherever the hooks put them:
# an ovn-nbctl argument, a value in an OVSDB column (external_ids), a key=value log line and a
# one-line error message. So: ASCII letters, digits, '_', '-', '.' and ':'; a letter, a digit or
# '_' first (a leading '-' would be read as an option); at most OVN_NAME_MAX characters (no
# limit in OVN; generated names such as Neutron's "neutron-<UUID>", 44 characters, fit well);
# and at least one character a UUID never has: ovn-nbctl, like ovs-vsctl, looks a record
# argument up as a UUID, then by name, then as the prefix of a row's UUID, so a name of hex
# digits and '-' only ("cafe", "10", a whole UUID) could address another row.
OVN_NAME_MAX = 63
_OVN_NAME_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_OVN_NAME_CHARS = _OVN_NAME_FIRST | frozenset("-.:")
_UUID_CHARS = frozenset("0123456789abcdefABCDEF-")


def ovn_name_problem(name: str) -> str | None:
    """Why ``name`` is no OVN logical switch name the project writes (None: it is one)."""
    if not name:
        return "it is empty"
    if len(name) > OVN_NAME_MAX:
        return f"it has {len(name)} characters, at most {OVN_NAME_MAX} are taken"
    for at, char in enumerate(name):
        if char not in _OVN_NAME_CHARS:
            return (f"{char!r} at character {at + 1}: use ASCII letters, digits, '_', '-', '.' and ':' "
                    "(no spaces, quotes or control characters)")
    if name[0] not in _OVN_NAME_FIRST:
        return f"it starts with {name[0]!r}: start with a letter, a digit or '_' (ovn-nbctl reads " \
               "a leading '-' as an option)"
    if all(c in _UUID_CHARS for c in name):
        return ("it is made of hex digits and '-' only, which ovn-nbctl could read as a row's UUID "
                "or the start of one: add a letter outside a-f")
    return None


def parse_ovn_name(text: str, what: str = "OVN logical switch") -> str:
    """An OVN logical switch name as given (nothing stripped), else InvalidValue."""
    problem = ovn_name_problem(text)
    if problem:
        raise InvalidValue(what=what, value=text, reason=problem)
    return text


# The bridge ovn-controller binds ports on unless a chassis says otherwise (its Open_vSwitch
# external_ids:ovn-bridge): the builders accept any bridge, lint warns about another.
OVN_BRIDGE = "br-int"
# The widest prefix of an OVN switch's IPv4 subnet (other_config:subnet): a /31 or /32 has no
# address left for a guest once the network's own and broadcast addresses are set aside.
OVN_SUBNET_MAX_PREFIX = 30


# --------------------------------------------------------------------------- the kernel

# Symbolic links one path lookup may follow before the kernel says ELOOP: the walkers that
# resolve paths themselves, without following links blindly, stop at the same count.
MAX_SYMLINKS = 40
