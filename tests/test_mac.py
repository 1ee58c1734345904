"""MAC validation and generation: properties with hypothesis, plus the documents' MAC collector."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xmltools import mac as mac_module
from xmltools.errors import InvalidValue
from xmltools.mac import (
    OUIS,
    derived_mac,
    generate_macs,
    macs_in_documents,
    normalize_mac,
    parse_oui,
    random_mac,
)
from xmltools.xmlparse import parse_bytes

octet = st.integers(0, 255)
unicast_first = st.integers(0, 127).map(lambda v: v * 2)
unicast_oui = st.tuples(unicast_first, octet, octet).map(lambda t: ":".join(f"{v:02x}" for v in t))
oui_choice = st.one_of(st.sampled_from(sorted(OUIS)), unicast_oui)
seeds = st.integers(0, 2**32)
# Timing varies on a shared two-core machine; correctness, not speed, is what these check.
no_deadline = settings(deadline=None)


def _prefix_of(oui: str) -> str:
    return OUIS.get(oui, oui)


def _first_octet(address: str) -> int:
    return int(address.split(":")[0], 16)


def _spell(octets: list[int], style: int) -> str:
    """Write octets in one of the spellings a user might type."""
    if style == 0:
        return ":".join(f"{v:02x}" for v in octets)
    if style == 1:
        return ":".join(f"{v:02X}" for v in octets)
    if style == 2:
        return "-".join(f"{v:02x}" for v in octets)
    return ":".join(f"{v:x}" for v in octets)  # one digit where it fits, as libvirt accepts


# --- normalize_mac -----------------------------------------------------------------------

@no_deadline
@given(st.lists(octet, min_size=6, max_size=6), st.integers(0, 3))
def test_normalize_accepts_unicast_in_any_spelling(octets: list[int], style: int) -> None:
    text = _spell(octets, style)
    is_unicast = not octets[0] & 1 and any(octets)
    if not is_unicast:
        with pytest.raises(InvalidValue):
            normalize_mac(text)
        return
    assert normalize_mac(text) == ":".join(f"{v:02x}" for v in octets)
    assert normalize_mac(normalize_mac(text)) == normalize_mac(text)  # idempotent


@no_deadline
@given(st.lists(octet, min_size=6, max_size=6).filter(lambda o: o[0] & 1 and o != [255] * 6))
def test_normalize_names_multicast(octets: list[int]) -> None:
    with pytest.raises(InvalidValue, match="multicast"):
        normalize_mac(_spell(octets, 0))


@pytest.mark.parametrize(("text", "reason"), [
    ("ff:ff:ff:ff:ff:ff", "broadcast"),
    ("FF-FF-FF-FF-FF-FF", "broadcast"),
    ("00:00:00:00:00:00", "all-zero"),
    ("52:54:00:12:34", "expected 6 octets.*found 5"),
    ("52:54:00:12:34:56:78", "expected 6 octets.*found 7"),
    ("525400123456", "expected 6 octets.*found 1"),
    ("52:54::12:34:56", "empty octet"),
    ("", "empty"),
    ("52:54:00:12:34:zz", "'zz' is not hexadecimal"),
    ("52:54:00:12:34:+5", "'\\+5' is not hexadecimal"),
    ("52:54:00:12:34:567", "more than two hexadecimal digits"),
    ("52:54:00-12:34:56", "mixes"),
])
def test_normalize_says_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(InvalidValue, match=reason) as info:
        normalize_mac(text)
    assert info.value.message.startswith("invalid MAC address")


@no_deadline
@given(st.lists(octet, min_size=1, max_size=10).filter(lambda o: len(o) != 6))
def test_normalize_rejects_wrong_length(octets: list[int]) -> None:
    with pytest.raises(InvalidValue, match="expected 6 octets"):
        normalize_mac(_spell(octets, 0))


# --- parse_oui -----------------------------------------------------------------------------

def test_oui_presets() -> None:
    assert parse_oui("qemu") == "52:54:00"
    assert parse_oui("XEN") == "00:16:3e"
    assert parse_oui("0A-0b-0C") == "0a:0b:0c"


@pytest.mark.parametrize(("text", "reason"), [
    ("01:00:5e", "multicast"),
    ("52:54", "expected 3 octets"),
    ("52:54:00:01", "expected 3 octets"),
    ("vmware", "expected 3 octets"),
    ("52:54:0g", "not hexadecimal"),
])
def test_oui_refused(text: str, reason: str) -> None:
    with pytest.raises(InvalidValue, match=reason):
        parse_oui(text)


# --- random_mac ----------------------------------------------------------------------------

@no_deadline
@given(seeds, oui_choice)
def test_random_mac_is_unicast_nonzero_under_prefix(seed: int, oui: str) -> None:
    address = random_mac(random.Random(seed), oui)
    assert address.startswith(_prefix_of(oui) + ":")
    assert not _first_octet(address) & 1
    assert address != "00:00:00:00:00:00"
    assert normalize_mac(address) == address


@no_deadline
@given(seeds)
def test_random_mac_is_reproducible_from_rng(seed: int) -> None:
    assert random_mac(random.Random(seed)) == random_mac(random.Random(seed))


@no_deadline
@given(seeds, oui_choice, st.lists(st.integers(0, 2**24 - 1), max_size=50))
def test_random_mac_respects_exclusion(seed: int, oui: str, suffixes: list[int]) -> None:
    prefix = _prefix_of(oui)
    # The address the same rng would draw first is excluded, so the exclusion really bites.
    first = random_mac(random.Random(seed), oui)
    exclude = {first.upper()} | {f"{prefix}:{s >> 16:02x}:{(s >> 8) & 255:02x}:{s & 255:02x}"
                                 for s in suffixes}
    address = random_mac(random.Random(seed), oui, exclude)
    assert address not in {e.lower() for e in exclude}
    assert address.startswith(prefix + ":")


def test_all_zero_never_drawn_under_zero_prefix() -> None:
    class ZeroFirst(random.Random):
        def __init__(self) -> None:
            super().__init__(0)
            self.calls = 0

        def randrange(self, *args: int, **kwargs: int) -> int:  # type: ignore[override]
            self.calls += 1
            return 0 if self.calls == 1 else super().randrange(*args, **kwargs)

    address = random_mac(ZeroFirst(), "00:00:00")
    assert address != "00:00:00:00:00:00"
    assert address.startswith("00:00:00:")


def test_random_mac_nearly_full_prefix_picks_the_free_one() -> None:
    """Every draw hits an excluded address: the exact pick among free addresses takes over."""
    taken = [5, 6, 7]

    class AlwaysTaken(random.Random):
        def __init__(self) -> None:
            super().__init__(0)
            self.calls = 0

        def randrange(self, *args: int, **kwargs: int) -> int:  # type: ignore[override]
            self.calls += 1
            if self.calls <= 1000 and args == (2**24,):
                return taken[self.calls % 3]
            return 6  # the 7th free suffix (0-based 6): 0..4 free, 5..7 taken, 8 is index 5, 9 is 6

    exclude = {f"52:54:00:00:00:{s:02x}" for s in taken}
    assert random_mac(AlwaysTaken(), exclude=exclude) == "52:54:00:00:00:09"


def test_exhausted_prefix_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # A 24-bit space is too big to exhaust in a test; shrink it to four suffixes.
    monkeypatch.setattr(mac_module, "_SUFFIX_SPACE", 4)
    all_four = {f"52:54:00:00:00:0{s}" for s in range(4)}
    with pytest.raises(InvalidValue, match="every address under this prefix"):
        random_mac(random.Random(1), exclude=all_four)
    with pytest.raises(InvalidValue, match="every address under this prefix"):
        derived_mac("vm", 0, exclude=all_four)
    three = sorted(all_four)[:3]
    assert random_mac(random.Random(1), exclude=three) == "52:54:00:00:00:03"
    assert derived_mac("vm", 0, exclude=three) == "52:54:00:00:00:03"
    with pytest.raises(InvalidValue, match="only 1 addresses .* free, 2 wanted"):
        generate_macs(2, exclude=three)


# --- derived_mac ---------------------------------------------------------------------------

names = st.text(min_size=1, max_size=40)


@no_deadline
@given(names, st.integers(0, 64), oui_choice)
def test_derived_is_deterministic_unicast_under_prefix(seed: str, index: int, oui: str) -> None:
    address = derived_mac(seed, index, oui)
    assert address == derived_mac(seed, index, oui)
    assert address.startswith(_prefix_of(oui) + ":")
    assert not _first_octet(address) & 1
    assert address != "00:00:00:00:00:00"


@no_deadline
@given(names)
def test_derived_differs_across_indexes(seed: str) -> None:
    addresses = [derived_mac(seed, i) for i in range(8)]
    assert len(set(addresses)) == 8


@no_deadline
@given(names, st.integers(0, 16), st.integers(1, 5))
def test_derived_steps_away_from_exclusions(seed: str, index: int, rounds: int) -> None:
    exclude: set[str] = set()
    for _ in range(rounds):
        address = derived_mac(seed, index, exclude=exclude)
        assert address not in exclude
        assert derived_mac(seed, index, exclude=set(exclude)) == address  # still deterministic
        exclude.add(address)


def test_derived_follows_its_documented_recipe() -> None:
    """Pin the algorithm: changing it would change every MAC a user's scripts derived."""
    digest = hashlib.sha256(b"virt-netxml/mac/1\0web01\x003\x000").digest()
    expected = "52:54:00:" + ":".join(f"{b:02x}" for b in digest[:3])
    assert derived_mac("web01", 3) == expected


def test_derived_treats_uuid_spellings_alike() -> None:
    dashed = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    assert derived_mac(dashed, 1) == derived_mac(dashed.replace("-", "").upper(), 1)
    assert derived_mac("vm-a", 0) != derived_mac("VM-A", 0)  # names are case-sensitive


def test_derived_is_stable_across_processes() -> None:
    code = "from xmltools.mac import derived_mac; print(derived_mac('stable-seed', 2, 'xen'))"
    outputs = set()
    for hash_seed in ("1", "2", "random"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                              check=True, timeout=60)
        outputs.add(done.stdout.strip())
    assert outputs == {derived_mac("stable-seed", 2, "xen")}


@given(seeds, st.integers(1, 200))
@settings(max_examples=30, deadline=None)
def test_generate_macs_distinct_and_consistent(seed: int, count: int) -> None:
    batch = generate_macs(count, rng=random.Random(seed))
    assert len(set(batch)) == count
    derived = generate_macs(count, seed=str(seed), first_index=2)
    # Address i is what derived_mac gives with the earlier ones excluded.
    for i, address in enumerate(derived):
        assert address == derived_mac(str(seed), 2 + i, exclude=derived[:i])


# --- macs_in_documents ---------------------------------------------------------------------

DOMAIN = b"""<domain type='kvm'>
  <name>vm</name>
  <metadata><x:nic xmlns:x='urn:example'><mac address='52:54:00:99:99:99'/></x:nic></metadata>
  <devices>
    <interface type='network'><mac address='52:54:00:AA:00:01'/><source network='default'/></interface>
    <interface type='bridge'><mac address='52:54:00:aa:00:02'/><source bridge='br0'/></interface>
    <interface type='hostdev' managed='yes'><mac address='52:54:00:aa:00:03'/>
      <source><address type='pci' domain='0' bus='4' slot='16' function='0'/></source></interface>
    <interface type='user'/>
    <interface type='network'><mac address='not-a-mac'/><source network='x'/></interface>
  </devices>
</domain>"""

NETWORK = b"""<network>
  <name>n</name>
  <mac address='52:54:00:bb:00:01'/>
  <ip address='192.0.2.1' prefix='24'><dhcp>
    <range start='192.0.2.10' end='192.0.2.20'/>
    <host mac='52:54:00:bb:00:02' ip='192.0.2.11'/>
    <host mac='52-54-00-bb-00-03' ip='192.0.2.12'/>
  </dhcp></ip>
  <ip family='ipv6' address='2001:db8::1' prefix='64'><dhcp>
    <host id='0:3:0:1:0:16:3e:11:22:33' ip='2001:db8::10'/>
  </dhcp></ip>
</network>"""

HOOK_DATA = b"""<hookData><network><name>n2</name><mac address='52:54:00:cc:00:01'/></network>
<networkport><uuid>2b7c2a1f-7a39-4b8e-9a0e-0c5b6f0a1e10</uuid><mac address='52:54:00:cc:00:02'/></networkport>
</hookData>"""


def test_macs_in_documents_collects_every_kind() -> None:
    trees = [parse_bytes(DOMAIN), parse_bytes(NETWORK).getroot(), parse_bytes(HOOK_DATA),
             parse_bytes(b"<interface type='bridge'><mac address='52:54:00:dd:00:01'/></interface>")]
    assert macs_in_documents(trees) == {
        "52:54:00:aa:00:01", "52:54:00:aa:00:02", "52:54:00:aa:00:03",
        "52:54:00:bb:00:01", "52:54:00:bb:00:02", "52:54:00:bb:00:03",
        "52:54:00:cc:00:01", "52:54:00:cc:00:02", "52:54:00:dd:00:01",
    }


def test_macs_in_documents_ignores_other_documents() -> None:
    assert macs_in_documents([parse_bytes(b"<pool><mac address='52:54:00:00:00:01'/></pool>")]) == set()
    assert macs_in_documents([]) == set()
