"""UUIDs for domains and networks: random (v4), derived from a name (v5), and validation.

Validation follows libvirt 9.0's ``virUUIDParse`` (src/util/viruuid.c), which is what
``virsh define`` and ``virsh net-define`` run on a ``<uuid>`` element:

- surrounding whitespace is ignored;
- exactly 32 hexadecimal digits, in either case;
- ``-`` and space may appear any number of times *between* two-digit byte pairs (so the
  usual 8-4-4-4-12 form, the 32-digit form without dashes, and odd placements such as
  ``0011-2233…`` all parse), but never inside a pair and never after the last pair.

libvirt's RelaxNG schema is narrower: it allows only the dashed 8-4-4-4-12 form and the bare
32-digit form. ``validate_uuid(text, strict=True)`` applies that narrower rule.

The nil UUID (all zeros) is accepted: libvirt's parser takes it for domains and networks
(only a *host* UUID whose digits are all equal is refused, by ``virUUIDIsValid``). The
generators here never produce it.
"""

from __future__ import annotations

import random
import re
import uuid

from xmltools.errors import InvalidValue

# Namespace of name_uuid(): uuid5(NAMESPACE_URL, "urn:virt-netxml:names:1"), written out so
# it is visible and can never drift. Changing it would change every UUID derived from a name.
NAME_NAMESPACE = uuid.UUID("76f8d3f8-a709-5530-9a08-2c0a1421368e")

_SCHEMA_FORMS = re.compile(
    r"[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"
)
_HEX = frozenset("0123456789abcdefABCDEF")
# g_ascii_isspace(): what libvirt skips around a UUID (not Unicode spaces).
_ASCII_SPACE = " \t\n\v\f\r"


def random_uuid(rng: random.Random | None = None) -> str:
    """A random version-4 UUID; drawn from ``rng`` when given (for reproducible tests)."""
    if rng is None:
        return str(uuid.uuid4())
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def name_uuid(name: str) -> str:
    """A version-5 UUID derived from ``name`` in the project's fixed namespace.

    The same name always gives the same UUID, on any machine and Python version, so a script
    that builds a network called ``packtnat`` gets the same ``<uuid>`` every time it runs.
    The namespace is NAME_NAMESPACE = uuid5(NAMESPACE_URL, "urn:virt-netxml:names:1").
    """
    return str(uuid.uuid5(NAME_NAMESPACE, name))


# Namespace of ovn_port_uuid(): uuid5(NAMESPACE_URL, "urn:virt-netxml:ovn-ports:1"), written out
# like NAME_NAMESPACE. Changing it would rename every OVN logical switch port the project made.
OVN_PORT_NAMESPACE = uuid.UUID("45aa883c-7e57-53ae-a9ad-49e87f118a29")


def ovn_port_uuid(switch: str, mac: str) -> str:
    """The ``interfaceid`` of an interface on OVN logical switch ``switch`` with MAC ``mac``.

    libvirt requires the interfaceid of an Open vSwitch port to be a UUID and sets it as the
    port's ``external_ids:iface-id``, which ovn-controller binds to the logical switch port of
    that name. Derived (version 5, OVN_PORT_NAMESPACE) from the switch and the MAC in its
    lower-case colon form, it is the same every time the same interface is written: a script
    run again, or a guest defined again from regenerated XML, keeps its logical port instead of
    leaving the old one behind in the northbound database; and two interfaces of one switch
    differ as their MACs do.
    """
    return str(uuid.uuid5(OVN_PORT_NAMESPACE, f"{switch}\n{mac.lower()}"))


def validate_uuid(text: str, strict: bool = False) -> str:
    """Check ``text`` the way libvirt parses a UUID; return the dashed lower-case form.

    See the module docstring for the accepted spellings. With ``strict`` only the two forms
    libvirt's schema allows are accepted. Raises InvalidValue saying what is wrong.
    """
    if strict:
        if not _SCHEMA_FORMS.fullmatch(text):
            raise InvalidValue(what="UUID", value=text,
                               reason="expected 32 hexadecimal digits, bare or as 8-4-4-4-12 with dashes")
        return str(uuid.UUID(hex=text.replace("-", "")))
    digits: list[str] = []
    body = text.strip(_ASCII_SPACE)
    i = 0
    while i < len(body) and len(digits) < 16:
        char = body[i]
        if char in "- ":
            i += 1
            continue
        pair = body[i:i + 2]
        if len(pair) < 2 or not (pair[0] in _HEX and pair[1] in _HEX):
            bad = next((c for c in pair if c not in _HEX), pair)
            if bad in "- ":
                reason = "a separator may only stand between two-digit byte pairs"
            elif bad == pair:
                reason = f"ends with an odd number of hexadecimal digits ({_count_hex(text)})"
            else:
                reason = f"{bad!r} is not a hexadecimal digit"
            raise InvalidValue(what="UUID", value=text, reason=reason)
        digits.append(pair)
        i += 2
    rest = body[i:]
    if len(digits) < 16:
        raise InvalidValue(what="UUID", value=text,
                           reason=f"expected 32 hexadecimal digits, found {_count_hex(text)}")
    if rest:
        extra = _count_hex(rest)
        reason = (f"expected 32 hexadecimal digits, found {32 + extra}" if extra
                  else f"unexpected {rest[0]!r} after the last digit")
        raise InvalidValue(what="UUID", value=text, reason=reason)
    return str(uuid.UUID(hex="".join(digits)))


def _count_hex(text: str) -> int:
    return sum(1 for c in text if c in _HEX)
