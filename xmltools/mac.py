"""MAC addresses for guest interfaces and networks: validation, random and derived generation.

Every generated address is a unicast address under a 3-octet prefix (OUI): QEMU's 52:54:00 by
default, Xen's 00:16:3e, or any unicast prefix the user gives. Generators take the addresses
already in use as ``exclude`` and never return one of them, nor the all-zero address.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from collections.abc import Collection, Iterable

from lxml import etree

from xmltools.errors import InvalidValue
from xmltools.uuids import validate_uuid

OUIS = {"qemu": "52:54:00", "xen": "00:16:3e"}

_HEXDIGITS = frozenset("0123456789abcdefABCDEF")
_SUFFIX_SPACE = 1 << 24  # three octets after the OUI
# Random draws before switching to an exact pick among the free suffixes: with exclusions
# that sparse, a draw almost never hits one; with a nearly full prefix the exact pick is needed.
_RANDOM_TRIES = 32
# Hash rounds derived_mac() tries before stepping linearly: a collision is rare, a long run of
# them only happens when the prefix is nearly full.
_DERIVE_TRIES = 64


def _split(text: str) -> list[str]:
    """Split on ':' or '-' after trimming surrounding whitespace."""
    body = text.strip()
    return body.split("-" if "-" in body else ":")


def _octets(text: str, what: str, count: int) -> list[int]:
    """Parse ``count`` octets of one or two hex digits each (libvirt accepts one digit too)."""
    if not text.strip():
        raise InvalidValue(what=what, value=text, reason="empty")
    if ":" in text and "-" in text:
        raise InvalidValue(what=what, value=text, reason="mixes ':' and '-' separators")
    parts = _split(text)
    if len(parts) != count or any(not part for part in parts):
        raise InvalidValue(what=what, value=text,
                           reason=f"expected {count} octets separated by ':' or '-', found "
                                  f"{_describe_length(parts)}")
    values = []
    for part in parts:
        if len(part) > 2:
            raise InvalidValue(what=what, value=text,
                               reason=f"octet {part!r} has more than two hexadecimal digits")
        if not all(char in _HEXDIGITS for char in part):
            raise InvalidValue(what=what, value=text, reason=f"octet {part!r} is not hexadecimal")
        values.append(int(part, 16))
    return values


def _describe_length(parts: list[str]) -> str:
    if any(not part for part in parts):
        return "an empty octet"
    return str(len(parts))


def _format(octets: Iterable[int]) -> str:
    return ":".join(f"{value:02x}" for value in octets)


def normalize_mac(text: str) -> str:
    """Validate a MAC address for a guest or network and return it as lower-case ``xx:xx:…``.

    Accepts ':' or '-' separators and one- or two-digit octets. Raises InvalidValue saying
    what is wrong: the number of octets, a non-hexadecimal octet, or an address that cannot
    belong to one interface (broadcast, multicast, all-zero).
    """
    octets = _octets(text, "MAC address", 6)
    if all(value == 0xFF for value in octets):
        raise InvalidValue(what="MAC address", value=text,
                           reason="the broadcast address cannot belong to an interface")
    if octets[0] & 0x01:
        raise InvalidValue(what="MAC address", value=text,
                           reason="multicast address (the lowest bit of the first octet is set); "
                                  "an interface needs a unicast address, e.g. 52:54:00:xx:xx:xx")
    if not any(octets):
        raise InvalidValue(what="MAC address", value=text,
                           reason="the all-zero address cannot belong to an interface")
    return _format(octets)


def parse_oui(text: str) -> str:
    """Resolve an OUI preset (``qemu``, ``xen``) or a 3-octet prefix to lower-case colon form.

    A multicast prefix is refused: every address under it would be multicast.
    """
    preset = OUIS.get(text.strip().lower())
    if preset is not None:
        return preset
    octets = _octets(text, "OUI", 3)
    if octets[0] & 0x01:
        raise InvalidValue(what="OUI", value=text,
                           reason="multicast prefix (the lowest bit of the first octet is set)")
    return _format(octets)


def _canonical(text: str) -> str | None:
    """Syntax-only normalisation of a MAC found in a document; None when it is not one."""
    try:
        return _format(_octets(text, "MAC address", 6))
    except InvalidValue:
        return None


def _taken_suffixes(prefix: str, exclude: Collection[str]) -> set[int]:
    """The suffixes under ``prefix`` that may not be handed out (excluded, or all-zero)."""
    taken = set()
    for mac in exclude:
        canonical = _canonical(mac)
        if canonical is not None and canonical.startswith(prefix + ":"):
            taken.add(int(canonical[9:].replace(":", ""), 16))
    if prefix == "00:00:00":
        taken.add(0)
    return taken


def _join(prefix: str, suffix: int) -> str:
    return f"{prefix}:{suffix >> 16:02x}:{(suffix >> 8) & 0xFF:02x}:{suffix & 0xFF:02x}"


def _check_room(prefix: str, taken: set[int], wanted: int = 1) -> None:
    free = _SUFFIX_SPACE - len(taken)
    if free < wanted:
        reason = ("every address under this prefix is excluded or in use" if free == 0
                  else f"only {free} addresses under this prefix are free, {wanted} wanted")
        raise InvalidValue(what="OUI", value=prefix, reason=reason)


def random_mac(rng: random.Random | None = None, oui: str = OUIS["qemu"],
               exclude: Collection[str] = ()) -> str:
    """A random unicast MAC under ``oui`` that is in none of ``exclude``.

    ``rng`` makes the draw reproducible (tests); without it the system's entropy source is
    used. Raises InvalidValue when every address under the prefix is excluded.
    """
    return generate_macs(1, oui, exclude, rng=rng)[0]


def derived_mac(seed: str, index: int, oui: str = OUIS["qemu"], exclude: Collection[str] = ()) -> str:
    """A MAC derived from (seed, interface index): the same inputs give the same address.

    ``seed`` is the domain's UUID or name; a UUID is normalised first, so its dashed and
    bare spellings give the same addresses. The suffix is the start of SHA-256 over a
    versioned label, the seed and the index, so it is stable across processes, machines and
    Python versions. When the result is excluded, further hash rounds (then, if the prefix is
    nearly full, the next free suffix in order) are taken, still deterministically.
    """
    return generate_macs(1, oui, exclude, seed=seed, first_index=index)[0]


def generate_macs(count: int, oui: str = OUIS["qemu"], exclude: Collection[str] = (), *,
                  rng: random.Random | None = None, seed: str | None = None,
                  first_index: int = 0) -> list[str]:
    """``count`` distinct MACs: random, or with ``seed`` derived for indexes first_index, +1, ….

    Derived address i is what derived_mac would return with ``exclude`` plus addresses 0..i-1
    (random ones are drawn under the same rule), but the exclusions are read once, so
    thousands of addresses stay cheap. Raises
    InvalidValue before generating anything when the prefix has too few free addresses.
    """
    prefix = parse_oui(oui)
    taken = _taken_suffixes(prefix, exclude)
    _check_room(prefix, taken, count)
    if seed is not None:
        with contextlib.suppress(InvalidValue):  # not a UUID: a name, used as given
            seed = validate_uuid(seed, strict=True)
    source = rng if rng is not None else random.SystemRandom()
    result = []
    for i in range(count):
        suffix = _pick_random(source, taken) if seed is None else _pick_derived(seed, first_index + i, taken)
        taken.add(suffix)
        result.append(_join(prefix, suffix))
    return result


def _pick_random(source: random.Random, taken: set[int]) -> int:
    for _ in range(_RANDOM_TRIES):
        suffix = source.randrange(_SUFFIX_SPACE)
        if suffix not in taken:
            return suffix
    # Nearly full: pick uniformly among the free suffixes. The k-th free value is k plus
    # the number of taken values at or below it.
    value = source.randrange(_SUFFIX_SPACE - len(taken))
    for used in sorted(taken):
        if used > value:
            break
        value += 1
    return value


def _pick_derived(seed: str, index: int, taken: set[int]) -> int:
    suffix = 0
    for attempt in range(_DERIVE_TRIES):
        label = f"virt-netxml/mac/1\0{seed}\0{index}\0{attempt}".encode()
        # (the modulo only matters when tests shrink the space)
        suffix = int.from_bytes(hashlib.sha256(label).digest()[:3], "big") % _SUFFIX_SPACE
        if suffix not in taken:
            return suffix
    while suffix in taken:
        suffix = (suffix + 1) % _SUFFIX_SPACE
    return suffix


def _mac_attribute(nodes: Iterable[etree._Element], attribute: str) -> Iterable[str]:
    for node in nodes:
        value = node.get(attribute)
        if value:
            yield value


def _macs_of(root: etree._Element) -> Iterable[str]:
    """The MAC addresses a document assigns, by its kind (root element)."""
    tag = root.tag
    if tag == "domain":
        # interfaces, and any other device that carries its own MAC (hostdev-backed NICs)
        yield from _mac_attribute(root.iterfind("devices/*/mac"), "address")
    elif tag == "network":
        yield from _mac_attribute(root.iterfind("mac"), "address")
        yield from _mac_attribute(root.iterfind("ip/dhcp/host"), "mac")
    elif tag in ("interface", "networkport"):
        yield from _mac_attribute(root.iterfind("mac"), "address")
    elif tag == "hookData":
        for child in root:
            if isinstance(child.tag, str):
                yield from _macs_of(child)


def macs_in_documents(trees: Iterable[etree._ElementTree | etree._Element]) -> set[str]:
    """Every MAC address assigned in parsed domain, network or interface documents.

    Domains: each device's ``<mac address>`` (interfaces, hostdevs); networks: the bridge
    ``<mac>`` and each DHCP ``<host mac>``; also standalone ``<interface>``, ``<networkport>``
    and a hook's ``<hookData>``. Addresses come back lower-case with colons; text that is not
    a MAC at all is skipped (it cannot collide with a generated one).
    """
    found: set[str] = set()
    for tree in trees:
        root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
        for text in _macs_of(root):
            canonical = _canonical(text)
            if canonical is not None:
                found.add(canonical)
    return found
