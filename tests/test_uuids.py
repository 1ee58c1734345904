"""UUID generation and validation, including a differential check against libvirt's own parser."""

from __future__ import annotations

import random
import re
import uuid
from xml.sax.saxutils import escape

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.support import require
from xmltools.errors import InvalidValue
from xmltools.uuids import NAME_NAMESPACE, name_uuid, random_uuid, validate_uuid

DASHED_LOWER = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# An independent model of libvirt 9.0's virUUIDParse (src/util/viruuid.c): ASCII whitespace
# around, '-' or ' ' any number of times before each two-digit pair, nothing after the last.
LIBVIRT_MODEL = re.compile(r"[ \t\n\v\f\r]*(?:[- ]*[0-9a-fA-F]{2}){16}[ \t\n\v\f\r]*")
no_deadline = settings(deadline=None)


def test_random_uuid_is_version_4() -> None:
    values = {random_uuid() for _ in range(50)}
    assert len(values) == 50
    for value in values:
        assert DASHED_LOWER.fullmatch(value)
        parsed = uuid.UUID(value)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


@no_deadline
@given(st.integers(0, 2**64))
def test_random_uuid_from_rng_is_reproducible_v4(seed: int) -> None:
    value = random_uuid(random.Random(seed))
    assert value == random_uuid(random.Random(seed))
    assert uuid.UUID(value).version == 4
    assert DASHED_LOWER.fullmatch(value)


def test_random_uuid_from_rng_varies_with_seed() -> None:
    assert len({random_uuid(random.Random(seed)) for seed in range(20)}) == 20


def test_name_namespace_is_the_documented_one() -> None:
    assert uuid.uuid5(uuid.NAMESPACE_URL, "urn:virt-netxml:names:1") == NAME_NAMESPACE


@no_deadline
@given(st.text(max_size=60))
def test_name_uuid_is_deterministic_v5(name: str) -> None:
    value = name_uuid(name)
    assert value == name_uuid(name)
    assert value == str(uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_URL, "urn:virt-netxml:names:1"), name))
    assert uuid.UUID(value).version == 5


def test_name_uuid_differs_by_name() -> None:
    assert name_uuid("default") != name_uuid("packtnat")
    assert name_uuid("a") != name_uuid("A")


def _spaced(raw: bytes, separators: list[str], upper: bool) -> str:
    pairs = [f"{b:02X}" if upper else f"{b:02x}" for b in raw]
    return "".join(sep + pair for sep, pair in zip(separators, pairs, strict=True))


@no_deadline
@given(st.binary(min_size=16, max_size=16), st.booleans())
def test_both_schema_forms_round_trip(raw: bytes, upper: bool) -> None:
    canonical = str(uuid.UUID(bytes=raw))
    dashed = canonical.upper() if upper else canonical
    bare = dashed.replace("-", "")
    for text in (dashed, bare):
        assert validate_uuid(text) == canonical
        assert validate_uuid(text, strict=True) == canonical
    assert validate_uuid(validate_uuid(bare)) == canonical


@no_deadline
@given(st.binary(min_size=16, max_size=16),
       st.lists(st.sampled_from(["", "", "-", " ", "--", "- "]), min_size=16, max_size=16),
       st.sampled_from(["", " ", "\t", "\n "]), st.sampled_from(["", " ", "\n"]), st.booleans())
def test_libvirt_separator_placements_accepted(raw: bytes, separators: list[str], lead: str,
                                                trail: str, upper: bool) -> None:
    text = lead + _spaced(raw, separators, upper) + trail
    assert validate_uuid(text) == str(uuid.UUID(bytes=raw))


@pytest.mark.parametrize(("text", "reason"), [
    ("", "found 0"),
    ("0011223344556677", "found 16"),
    ("00112233-4455-6677-8899-aabbccddeeff00", "found 34"),
    ("00112233-4455-6677-8899-aabbccddeefg", "'g' is not a hexadecimal digit"),
    ("0-0112233-4455-6677-8899-aabbccddeeff", "between two-digit byte pairs"),
    ("00112233-4455-6677-8899-aabbccddeeff-", "after the last digit"),
    ("{00112233-4455-6677-8899-aabbccddeeff}", "'{' is not a hexadecimal digit"),
    ("00112233_4455_6677_8899_aabbccddeeff", "'_' is not"),
    ("0011223344556677 8899aabbccddeef", "odd number"),
])
def test_malformed_refused_with_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidValue, match=reason) as info:
        validate_uuid(text)
    assert info.value.message.startswith("invalid UUID")


@pytest.mark.parametrize("text", [
    "0011 2233 4455 6677 8899 aabb ccdd eeff",
    "00112233-445566778899-aabbccddeeff",
    " 00112233445566778899aabbccddeeff",
])
def test_strict_allows_only_the_schema_forms(text: str) -> None:
    assert validate_uuid(text) == "00112233-4455-6677-8899-aabbccddeeff"
    with pytest.raises(InvalidValue, match="8-4-4-4-12"):
        validate_uuid(text, strict=True)


def test_nil_uuid_accepted_like_libvirt() -> None:
    assert validate_uuid("0" * 32) == "00000000-0000-0000-0000-000000000000"


uuidish = st.text(alphabet="0123456789abcdefABCDEFg- \t\n", min_size=28, max_size=44)


@no_deadline
@given(uuidish)
@example("00112233-4455-6677-8899-aabbccddeeff")
@example("-\t00112233445566778899aabbccddeeff")
def test_agrees_with_independent_model(text: str) -> None:
    if LIBVIRT_MODEL.fullmatch(text):
        digits = re.sub(r"[^0-9a-fA-F]", "", text)
        assert validate_uuid(text) == str(uuid.UUID(hex=digits))
    else:
        with pytest.raises(InvalidValue):
            validate_uuid(text)


@pytest.fixture(scope="module")
def libvirt_test_conn():
    try:
        import libvirt
    except ImportError:
        libvirt = None
    require(libvirt is not None, "libvirt-python")
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn = libvirt.open("test:///default")
    yield libvirt, conn
    conn.close()


def _libvirt_parses(libvirt, conn, text: str) -> str | None:
    """The UUID libvirt stores for a network defined with ``<uuid>text</uuid>``, or None."""
    xml = f"<network><name>uuidprobe</name><uuid>{escape(text)}</uuid></network>"
    try:
        network = conn.networkDefineXML(xml)
    except libvirt.libvirtError:
        return None
    try:
        return str(network.UUIDString())
    finally:
        network.undefine()


@settings(deadline=None, max_examples=150)
@given(st.one_of(
    uuidish,
    st.builds(lambda raw, seps: _spaced(raw, seps, False), st.binary(min_size=16, max_size=16),
              st.lists(st.sampled_from(["", "-", " ", "- "]), min_size=16, max_size=16)),
))
@example("00112233-4455-6677-8899-aabbccddeeff-")
@example("0-0112233445566778899aabbccddeeff")
@example(" \n00112233445566778899AABBCCDDEEFF\t")
def test_agrees_with_libvirt_itself(libvirt_test_conn, text: str) -> None:
    """Differential: libvirt's virUUIDParse (through networkDefineXML) against validate_uuid."""
    libvirt, conn = libvirt_test_conn
    theirs = _libvirt_parses(libvirt, conn, text)
    try:
        ours: str | None = validate_uuid(text)
    except InvalidValue:
        ours = None
    assert ours == theirs
