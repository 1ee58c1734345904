"""The exact one-line refusal of each bad MAC, OUI, UUID and MAC request.

These messages are what a user sees (the CLI prints them as they are) and what scripts match:
each names what was wrong, the value as given, and why. Written out in full so a change to any
part of one is a visible change, not a silent one.
"""

from __future__ import annotations

import random

import pytest

from xmltools import mac as mac_module
from xmltools.errors import InvalidValue
from xmltools.mac import derived_mac, generate_macs, normalize_mac, parse_oui, random_mac
from xmltools.uuids import validate_uuid

MULTICAST = ("multicast address (the lowest bit of the first octet is set); "
             "an interface needs a unicast address, e.g. 52:54:00:xx:xx:xx")


@pytest.mark.parametrize("text,message", [
    ("", "invalid MAC address '': empty"),
    ("  ", "invalid MAC address '  ': empty"),
    ("52:54-00:00:00:01", "invalid MAC address '52:54-00:00:00:01': mixes ':' and '-' separators"),
    ("52:54:00:00:00", "invalid MAC address '52:54:00:00:00': expected 6 octets separated by ':' or '-', "
                       "found 5"),
    ("52:54:00::00:01", "invalid MAC address '52:54:00::00:01': expected 6 octets separated by ':' or "
                        "'-', found an empty octet"),
    ("52:54:00:00:00:001", "invalid MAC address '52:54:00:00:00:001': octet '001' has more than two "
                           "hexadecimal digits"),
    ("52:54:00:00:00:0g", "invalid MAC address '52:54:00:00:00:0g': octet '0g' is not hexadecimal"),
    ("ff:ff:ff:ff:ff:ff", "invalid MAC address 'ff:ff:ff:ff:ff:ff': the broadcast address cannot belong "
                          "to an interface"),
    ("01:00:5e:00:00:01", f"invalid MAC address '01:00:5e:00:00:01': {MULTICAST}"),
    ("00:00:00:00:00:00", "invalid MAC address '00:00:00:00:00:00': the all-zero address cannot belong "
                          "to an interface"),
])
def test_bad_mac_message(text, message):
    with pytest.raises(InvalidValue) as info:
        normalize_mac(text)
    assert info.value.message == message


@pytest.mark.parametrize("text,result", [
    ("52:54:00:0A:b:1", "52:54:00:0a:0b:01"),
    (" 52-54-00-0a-0b-01 ", "52:54:00:0a:0b:01"),
    ("fe:ff:ff:ff:ff:ff", "fe:ff:ff:ff:ff:ff"),    # one bit short of broadcast, unicast
    ("00:00:00:00:00:01", "00:00:00:00:00:01"),    # one above all-zero
    ("02:00:00:00:00:00", "02:00:00:00:00:00"),    # locally administered, unicast
])
def test_good_mac_twins(text, result):
    assert normalize_mac(text) == result


@pytest.mark.parametrize("text,message", [
    ("", "invalid OUI '': empty"),
    ("52:54", "invalid OUI '52:54': expected 3 octets separated by ':' or '-', found 2"),
    ("01:00:00", "invalid OUI '01:00:00': multicast prefix (the lowest bit of the first octet is set)"),
    ("52:54:0g", "invalid OUI '52:54:0g': octet '0g' is not hexadecimal"),
])
def test_bad_oui_message(text, message):
    with pytest.raises(InvalidValue) as info:
        parse_oui(text)
    assert info.value.message == message


@pytest.mark.parametrize("text,result", [
    ("QEMU", "52:54:00"), (" xen ", "00:16:3e"), ("02:AB:c", "02:ab:0c"), ("00-00-00", "00:00:00"),
])
def test_good_oui_twins(text, result):
    assert parse_oui(text) == result


@pytest.mark.parametrize("text,message", [
    ("0011", "expected 32 hexadecimal digits, found 4"),
    ("00112233-4455-6677-8899-aabbccddeeff0", "expected 32 hexadecimal digits, found 33"),
    ("00112233-4455-6677-8899-aabbccddeeff-", "unexpected '-' after the last digit"),
    ("0-0112233-4455-6677-8899-aabbccddeeff", "a separator may only stand between two-digit byte pairs"),
    ("00112233-4455-6677-8899-aabbccddeefg", "'g' is not a hexadecimal digit"),
    ("00112233-4455-6677-8899-aabbccddeef", "ends with an odd number of hexadecimal digits (31)"),
    ("0011223X-4455-6677-8899-aabbccddeeff", "'X' is not a hexadecimal digit"),
    ("00112233X4455-6677-8899-aabbccddeeff", "'X' is not a hexadecimal digit"),   # not a separator
    # libvirt skips ASCII spaces around a UUID only (g_ascii_isspace), not other Unicode spaces
    ("\u00a000112233-4455-6677-8899-aabbccddeeff", "'\\xa0' is not a hexadecimal digit"),
    ("00112233-4455-6677-8899-aabbccddeeff\u2003", "unexpected '\\u2003' after the last digit"),
])
def test_bad_uuid_message(text, message):
    with pytest.raises(InvalidValue) as info:
        validate_uuid(text)
    assert info.value.message == f"invalid UUID {text!r}: {message}"


STRICT = "expected 32 hexadecimal digits, bare or as 8-4-4-4-12 with dashes"


@pytest.mark.parametrize("text,ok", [
    ("00112233-4455-6677-8899-AABBCCDDEEFF", True),
    ("00112233445566778899aabbccddeeff", True),
    ("0011-2233-4455-6677-8899-aabb-ccdd-eeff", False),   # libvirt's parser takes it, its schema not
    (" 00112233-4455-6677-8899-aabbccddeeff", False),
])
def test_strict_uuid_takes_only_the_schemas_two_forms(text, ok):
    if ok:
        assert validate_uuid(text, strict=True) == "00112233-4455-6677-8899-aabbccddeeff"
        return
    assert validate_uuid(text) == "00112233-4455-6677-8899-aabbccddeeff"
    with pytest.raises(InvalidValue) as info:
        validate_uuid(text, strict=True)
    assert info.value.message == f"invalid UUID {text!r}: {STRICT}"


@pytest.mark.parametrize("text", [" \t00112233-4455-6677-8899-aabbccddeeff\n\v\f\r",
                                  "0011-2233 4455-6677 8899aabb--ccddeeff"])
def test_ascii_spaces_around_and_separators_between_pairs_are_accepted(text):
    assert validate_uuid(text) == "00112233-4455-6677-8899-aabbccddeeff"


def test_uuid_seed_of_a_derived_mac_is_normalised_only_in_the_schemas_forms():
    dashed = "00112233-4455-6677-8899-aabbccddeeff"
    assert derived_mac(dashed, 0) == derived_mac("00112233445566778899AABBCCDDEEFF", 0)
    # another spelling libvirt would parse is a plain name here: a different address
    assert derived_mac("0011-2233-4455-6677-8899-aabb-ccdd-eeff", 0) != derived_mac(dashed, 0)


def test_generated_macs_count_indexes_from_zero():
    assert generate_macs(3, seed="vm") == [derived_mac("vm", 0), derived_mac("vm", 1), derived_mac("vm", 2)]
    assert generate_macs(2, seed="vm", first_index=5) == [derived_mac("vm", 5), derived_mac("vm", 6)]


def test_without_a_generator_the_system_entropy_draws():
    drawn = {random_mac() for _ in range(5)}
    assert len(drawn) > 1 and all(normalize_mac(m) == m and m.startswith("52:54:00:") for m in drawn)


def test_exclusions_that_are_not_macs_are_ignored():
    assert derived_mac("vm", 0, exclude=["not a mac", "", "52:54:00"]) == derived_mac("vm", 0)


@pytest.fixture
def four_suffixes(monkeypatch):
    monkeypatch.setattr(mac_module, "_SUFFIX_SPACE", 4)


def test_exhaustion_messages_name_the_prefix(four_suffixes):
    full = [f"52:54:00:00:00:0{s}" for s in range(4)]
    with pytest.raises(InvalidValue) as info:
        random_mac(random.Random(1), exclude=full)
    assert info.value.message == ("invalid OUI '52:54:00': every address under this prefix is excluded "
                                  "or in use")
    with pytest.raises(InvalidValue) as info:
        generate_macs(2, oui="xen", exclude=["00:16:3e:00:00:00", "00:16:3e:00:00:01", "00:16:3e:00:00:02"])
    assert info.value.message == ("invalid OUI '00:16:3e': only 1 addresses under this prefix are free, "
                                  "2 wanted")


@pytest.mark.parametrize("free", [0, 1, 2, 3])
def test_random_pick_in_a_nearly_full_prefix_is_any_free_suffix(four_suffixes, free):
    """Past the random tries the pick is exact: every free suffix can come out, no taken one."""

    class Unlucky(random.Random):
        # Every draw of the random phase hits the taken suffix 0; the exact phase gets its turn.
        def randrange(self, *args):
            return 0 if args == (4,) else super().randrange(*args)

    taken = [f"52:54:00:00:00:0{s}" for s in range(4) if s != free]
    seen = {random_mac(Unlucky(seed), exclude=taken) for seed in range(20)}
    assert seen == {f"52:54:00:00:00:0{free}"}


def test_exact_pick_reaches_every_free_suffix(four_suffixes):
    class Unlucky(random.Random):
        def randrange(self, *args):
            return 0 if args == (4,) else super().randrange(*args)

    taken = ["52:54:00:00:00:00"]
    seen = {random_mac(Unlucky(seed), exclude=taken) for seed in range(60)}
    assert seen == {"52:54:00:00:00:01", "52:54:00:00:00:02", "52:54:00:00:00:03"}


@pytest.mark.parametrize("taken,expected", [((), 0), ((0,), 1), ((0, 1), 2), ((0, 1, 2), 3), ((1,), 0)])
def test_derived_pick_steps_up_to_the_next_free_suffix(four_suffixes, monkeypatch, taken, expected):
    monkeypatch.setattr(mac_module, "_DERIVE_TRIES", 0)     # no hash round: straight to the steps
    exclude = [f"52:54:00:00:00:0{s}" for s in taken]
    assert derived_mac("vm", 0, exclude=exclude) == f"52:54:00:00:00:0{expected}"
