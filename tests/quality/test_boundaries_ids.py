"""Boundaries of MAC generation and of interface selection in ``edit``, with pass/fail twins."""

from __future__ import annotations

import random

import pytest

from xmltools import mac as mac_module
from xmltools.domain import Domain
from xmltools.errors import InvalidValue
from xmltools.mac import generate_macs

# --------------------------------------------------------------------------- MAC prefix exhaustion


@pytest.fixture
def four_suffixes(monkeypatch):
    # A 24-bit space is too big to exhaust in a test; shrink it to four suffixes.
    monkeypatch.setattr(mac_module, "_SUFFIX_SPACE", 4)


@pytest.mark.parametrize("seed", [None, "vm"])
def test_as_many_addresses_as_are_free_is_allowed_one_more_is_not(four_suffixes, seed):
    got = generate_macs(4, rng=random.Random(3), seed=seed)
    assert sorted(got) == [f"52:54:00:00:00:0{s}" for s in range(4)]
    with pytest.raises(InvalidValue, match="only 4 addresses .* free, 5 wanted"):
        generate_macs(5, rng=random.Random(3), seed=seed)


@pytest.mark.parametrize("seed", [None, "vm"])
def test_the_last_free_address_is_found_and_then_none(four_suffixes, seed):
    taken = ["52:54:00:00:00:00", "52:54:00:00:00:01", "52:54:00:00:00:03"]
    assert generate_macs(1, exclude=taken, rng=random.Random(1), seed=seed) == ["52:54:00:00:00:02"]
    with pytest.raises(InvalidValue, match="every address under this prefix"):
        generate_macs(1, exclude=[*taken, "52:54:00:00:00:02"], rng=random.Random(1), seed=seed)


def test_exclusions_count_in_any_spelling_and_only_under_the_prefix(four_suffixes):
    taken = ["52-54-00-00-00-00", "52:54:00:0:0:1", "52:54:00:00:00:03".upper(), "00:16:3e:00:00:02"]
    assert generate_macs(1, exclude=taken, rng=random.Random(1)) == ["52:54:00:00:00:02"]


def test_the_all_zero_address_is_never_handed_out(four_suffixes):
    got = generate_macs(3, oui="00:00:00", rng=random.Random(1))
    assert sorted(got) == ["00:00:00:00:00:01", "00:00:00:00:00:02", "00:00:00:00:00:03"]
    with pytest.raises(InvalidValue, match="only 3 addresses"):
        generate_macs(4, oui="00:00:00", rng=random.Random(1))


# --------------------------------------------------------------------------- edit selection

DOMAIN = """<domain><name>vm</name><devices>
  <interface type='bridge'><mac address='52:54:00:AA:BB:01'/><source bridge='br0'/>
    <target dev='vnet0'/></interface>
  <interface type='bridge'><mac address='52:54:00:aa:bb:02'/><source bridge='br0'/>
    <target dev='vnet1'/></interface>
</devices></domain>"""


@pytest.mark.parametrize("asked,target", [
    ("52:54:00:aa:bb:01", "vnet0"),   # document in capitals, asked in lower case
    ("52:54:00:AA:BB:01", "vnet0"),
    ("52:54:00:AA:BB:02", "vnet1"),   # document in lower case, asked in capitals
    ("52:54:00:aa:bb:02", "vnet1"),
    ("52:54:00:Aa:bB:02", "vnet1"),
])
def test_mac_selection_ignores_case(asked, target):
    [iface] = Domain.from_xml(DOMAIN).select(mac=asked)
    assert iface.target_dev == target


@pytest.mark.parametrize("written", ["52-54-00-AA-BB-0C", "52:54:0:aa:bb:c"])
@pytest.mark.parametrize("asked", ["52:54:00:aa:bb:0c", "52-54-00-aa-bb-0c", "52:54:00:AA:BB:C"])
def test_mac_selection_matches_any_spelling_libvirt_reads(written, asked):
    # libvirt reads '-' as well as ':' and one-digit octets in a document; the user may type either
    dom = Domain.from_xml(DOMAIN.replace("52:54:00:aa:bb:02", written))
    [iface] = dom.select(mac=asked)
    assert iface.target_dev == "vnet1"


def test_mac_selection_of_an_absent_mac_is_refused():
    with pytest.raises(InvalidValue, match="no interface of the domain matches"):
        Domain.from_xml(DOMAIN).select(mac="52:54:00:aa:bb:03")


@pytest.mark.parametrize("index,target", [(0, "vnet0"), (1, "vnet1")])
def test_index_selection_counts_from_zero(index, target):
    [iface] = Domain.from_xml(DOMAIN).select(index=index)
    assert iface.target_dev == target


@pytest.mark.parametrize("index", [-1, 2])
def test_index_selection_outside_the_interfaces_is_refused(index):
    with pytest.raises(InvalidValue, match="has 2 interface"):
        Domain.from_xml(DOMAIN).select(index=index)


def test_selectors_combine():
    dom = Domain.from_xml(DOMAIN)
    assert len(dom.select()) == 2
    [iface] = dom.select(mac="52:54:00:aa:bb:02", target="vnet1", index=1)
    assert iface.target_dev == "vnet1"
    with pytest.raises(InvalidValue, match="MAC 52:54:00:aa:bb:02, target vnet0"):
        dom.select(mac="52:54:00:aa:bb:02", target="vnet0")
    with pytest.raises(InvalidValue):
        dom.select(mac="52:54:00:aa:bb:02", index=0)


def test_used_macs_are_lower_case():
    assert Domain.from_xml(DOMAIN).used_macs() == {"52:54:00:aa:bb:01", "52:54:00:aa:bb:02"}
