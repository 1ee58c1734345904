"""Properties of the one VLAN list grammar (``xmltools.rules.parse_vlan_list``).

Random well-formed lists (disjoint ids and ranges in 1..4094, in any order, one id perhaps marked
native) are accepted with exactly the ranges they were made of, by every entry point that reads a
list, and survive format -> parse unchanged. Random damage to a well-formed list (a space inside,
the digits of one end dropped, an item repeated, a range turned around, an id of 4096, 0 or 4095,
a stray comma) is refused with one line by every entry point.
"""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from tests.robustness.profiles import ci_settings
from xmltools.build_interface import resolve_vlan
from xmltools.build_network import parse_vlan_tags
from xmltools.errors import InvalidValue
from xmltools.metadata import VlanWish, parse_vlan_ranges
from xmltools.rules import format_vlan_ranges, parse_vlan_list

Ranges = list[tuple[int, int]]


@st.composite
def vlan_ranges(draw: st.DrawFn, low: int = 1, high: int = 4094) -> Ranges:
    """Disjoint ids and ranges between ``low`` and ``high``, in a random order."""
    points = sorted(draw(st.lists(st.integers(low, high), min_size=1, max_size=24, unique=True)))
    ranges: Ranges = []
    i = 0
    while i < len(points):
        if i + 1 < len(points) and draw(st.booleans()):
            ranges.append((points[i], points[i + 1]))
            i += 2
        else:
            ranges.append((points[i], points[i]))
            i += 1
    return draw(st.permutations(ranges))


def _spell(ranges: Ranges, native_at: int | None = None, mark: str = "untagged") -> str:
    items = [str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ranges]
    if native_at is not None:
        items[native_at] += f":{mark}"
    return ",".join(items)


def _refused_everywhere(text: str) -> None:
    """Every entry point refuses ``text``, each with one line and no traceback-worthy error."""
    readers = [
        lambda: parse_vlan_list(text, native=True),
        lambda: parse_vlan_tags(text),
        lambda: resolve_vlan(text),
        lambda: parse_vlan_ranges(text),
        lambda: VlanWish.from_attrs(None, text, None, None),
    ]
    for read in readers:
        try:
            read()
        except InvalidValue as exc:
            assert exc.message.count("\n") == 0
            assert exc.message.startswith("invalid ")
        else:
            raise AssertionError(f"{text!r} was accepted")


@ci_settings(300)
@given(vlan_ranges())
def test_well_formed_lists_are_accepted_as_made_and_round_trip(ranges: Ranges) -> None:
    text = _spell(ranges)
    parsed, native, mark = parse_vlan_list(text)
    assert list(parsed) == ranges and native is None and mark is None
    assert parse_vlan_list(format_vlan_ranges(parsed))[0] == parsed
    # every other reader takes it too, and means the same ids
    ids = [v for lo, hi in ranges for v in range(lo, hi + 1)]
    assert list(parse_vlan_tags(text).ids) == ids
    assert parse_vlan_ranges(text) == ranges
    assert sorted(VlanWish.from_attrs(None, text, None, None).trunk_ids()) == sorted(ids)
    assert resolve_vlan(text).tags == format_vlan_ranges(ranges)


@ci_settings(200)
@given(vlan_ranges(), st.data())
def test_a_native_mark_on_a_single_id_is_accepted(ranges: Ranges, data: st.DataObject) -> None:
    singles = [i for i, (lo, hi) in enumerate(ranges) if lo == hi]
    assume(singles)
    at = data.draw(st.sampled_from(singles))
    mark = data.draw(st.sampled_from(["tagged", "untagged"]))
    parsed, native, got = parse_vlan_list(_spell(ranges, at, mark), native=True)
    assert list(parsed) == ranges and native == ranges[at][0] and got == mark
    spec = parse_vlan_tags(_spell(ranges, at, mark))
    assert (spec.native, spec.native_mode) == (ranges[at][0], mark)


@ci_settings(200)
@given(vlan_ranges(), st.data())
def test_whitespace_around_the_value_is_dropped_inside_refused(ranges: Ranges, data: st.DataObject) -> None:
    text = _spell(ranges)
    pad = data.draw(st.sampled_from([" ", "\t", "\n", "  "]))
    assert parse_vlan_list(pad + text + pad)[0] == tuple(ranges)
    at = data.draw(st.integers(1, len(text) - 1)) if len(text) > 1 else None
    assume(at is not None)
    assert at is not None
    _refused_everywhere(text[:at] + pad + text[at:])


# --------------------------------------------------------------------------- damage


@ci_settings(200)
@given(vlan_ranges(), st.data())
def test_an_item_given_twice_is_refused(ranges: Ranges, data: st.DataObject) -> None:
    item = data.draw(st.sampled_from(ranges))
    where = data.draw(st.integers(0, len(ranges)))
    _refused_everywhere(_spell([*ranges[:where], item, *ranges[where:]]))


@ci_settings(200)
@given(vlan_ranges(), st.data())
def test_an_id_inside_another_items_range_is_refused(ranges: Ranges, data: st.DataObject) -> None:
    wide = [r for r in ranges if r[0] < r[1]]
    assume(wide)
    lo, hi = data.draw(st.sampled_from(wide))
    inside = data.draw(st.integers(lo, hi))
    _refused_everywhere(_spell([*ranges, (inside, inside)]))


@ci_settings(200)
@given(vlan_ranges(), st.data())
def test_a_range_turned_around_is_refused(ranges: Ranges, data: st.DataObject) -> None:
    wide = [i for i, (lo, hi) in enumerate(ranges) if lo < hi]
    assume(wide)
    i = data.draw(st.sampled_from(wide))
    lo, hi = ranges[i]
    _refused_everywhere(_spell(ranges).replace(f"{lo}-{hi}", f"{hi}-{lo}", 1))


@ci_settings(200)
@given(vlan_ranges(), st.data())
def test_the_digits_of_one_end_dropped_are_refused(ranges: Ranges, data: st.DataObject) -> None:
    # An item without digits is an empty item; a range without one end dangles.
    items = [str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ranges]
    i = data.draw(st.integers(0, len(items) - 1))
    lo_text, dash, hi_text = items[i].partition("-")
    if dash and data.draw(st.booleans()):
        items[i] = f"{lo_text}-"
    elif dash:
        items[i] = f"-{hi_text}"
    else:
        items[i] = ""
    _refused_everywhere(",".join(items))


@ci_settings(200)
@given(vlan_ranges(), st.data())
def test_one_digit_dropped_is_refused_or_still_well_formed(ranges: Ranges, data: st.DataObject) -> None:
    # Dropping a single digit may leave a valid list ('10' -> '1'): then it is read as written.
    text = _spell(ranges)
    digits = [i for i, c in enumerate(text) if c.isdigit()]
    at = data.draw(st.sampled_from(digits))
    damaged = text[:at] + text[at + 1:]
    try:
        parsed = parse_vlan_list(damaged)[0]
    except InvalidValue as exc:
        assert "\n" not in exc.message
    else:
        ids = [v for lo, hi in parsed for v in range(lo, hi + 1)]
        assert len(ids) == len(set(ids)) and all(1 <= v <= 4094 for v in ids)
        assert len(parsed) == len(ranges)        # one item shorter by a digit, not an item less
        assert parse_vlan_list(format_vlan_ranges(parsed))[0] == parsed


@ci_settings(200)
@given(vlan_ranges(), st.data())
def test_an_id_out_of_range_or_reserved_is_refused(ranges: Ranges, data: st.DataObject) -> None:
    bad = data.draw(st.sampled_from([0, 4095, 4096, 10_000]))
    where = data.draw(st.integers(0, len(ranges)))
    as_range = data.draw(st.booleans()) and bad > 0
    item = (bad - 1, bad) if as_range else (bad, bad)
    assume(all(hi < item[0] or lo > item[1] for lo, hi in ranges))  # damage, not a duplicate
    _refused_everywhere(_spell([*ranges[:where], item, *ranges[where:]]))


@ci_settings(200)
@given(vlan_ranges(), st.sampled_from([",", ",,", " ,"]), st.sampled_from(["start", "end", "middle"]))
def test_a_stray_comma_is_refused(ranges: Ranges, comma: str, where: str) -> None:
    text = _spell(ranges)
    if where == "start":
        damaged = comma.strip() + text
    elif where == "end":
        damaged = text + comma.strip()
    else:
        assume("," in text)
        damaged = text.replace(",", ",,", 1)
    _refused_everywhere(damaged)


@ci_settings(300)
@given(st.text(alphabet="0123456789,-: \t+x\u0661", max_size=30))
def test_any_text_is_a_list_or_one_line(text: str) -> None:
    try:
        ranges, native, mark = parse_vlan_list(text, native=True)
    except InvalidValue as exc:
        assert "\n" not in exc.message
        return
    ids = [v for lo, hi in ranges for v in range(lo, hi + 1)]
    assert ids and len(ids) == len(set(ids)) and all(1 <= v <= 4094 for v in ids)
    assert all(lo <= hi for lo, hi in ranges)
    assert (native is None) == (mark is None)
    assert text.strip().isascii() and " " not in text.strip()
