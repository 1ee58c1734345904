"""The VLAN grammar at its edges: ids 1 and 4094 in, 0 and 4095 (reserved by 802.1Q) and 4096
out, ranges, natives, modes.

One grammar (``xmltools.rules.parse_vlan_list``) is read through four entry points:
``virt-netxml network``'s TAGS (``parse_vlan_tags``), the interface options
(``parse_vlan_native``, ``resolve_vlan``), the metadata's trunk lists (``parse_vlan_ranges``) and
a metadata wish (``VlanWish.from_attrs``). Each accepted value is written out, and each refusal
with its exact message.
"""

from __future__ import annotations

import pytest

from xmltools.build_interface import (
    VlanOptions,
    build_libvirt_vlan,
    build_meta_vlan,
    parse_vlan_native,
    resolve_vlan,
)
from xmltools.build_network import VlanSpec, parse_vlan_tags
from xmltools.errors import InvalidValue
from xmltools.metadata import VlanWish, parse_vlan_ranges

R0 = ("0 is reserved by 802.1Q for priority-tagged frames, which belong to no VLAN (Open vSwitch "
      "reads it as untagged, a Linux bridge refuses it); VLAN ids are 1 to 4094")
R4095 = ("4095 is reserved by 802.1Q and never sent in a tag (libvirt and Open vSwitch would pass it "
         "on, a Linux bridge refuses it); VLAN ids are 1 to 4094")


def _outcome(call, *args):
    try:
        return call(*args)
    except InvalidValue as exc:
        return exc.message


@pytest.mark.parametrize("text,expected", [
    ("1", VlanSpec((1,))),
    ("4094", VlanSpec((4094,))),
    ("0", f"invalid VLAN tags '0': {R0}"),
    ("4095", f"invalid VLAN tags '4095': {R4095}"),
    ("4096", "invalid VLAN tags '4096': 4096 is out of range; VLAN ids are 1 to 4094"),
    ("4093-4094", VlanSpec((4093, 4094))),
    ("4094-4095", f"invalid VLAN tags '4094-4095': {R4095}"),
    ("0-1", f"invalid VLAN tags '0-1': {R0}"),
    ("1-3", VlanSpec((1, 2, 3))),
    ("3-3", VlanSpec((3,))),
    ("3-1", "invalid VLAN tags '3-1': range '3-1' runs backwards"),
    ("10 , 20", "invalid VLAN tags '10 , 20': whitespace at character 3 (after '10'): separate ids and "
                "ranges with commas only"),
    (" 10,20 ", VlanSpec((10, 20))),
    ("10,20:untagged", VlanSpec((10, 20), 20, "untagged")),
    ("10:tagged,20", VlanSpec((10, 20), 10, "tagged")),
    ("10:tagged,20:untagged",
     "invalid VLAN tags '10:tagged,20:untagged': only one id can be the native VLAN"),
    ("1-3:tagged", "invalid VLAN tags '1-3:tagged': only a single id can be the native VLAN, not a range"),
    ("5,5", "invalid VLAN tags '5,5': VLAN 5 is listed twice"),
    ("4-6,6", "invalid VLAN tags '4-6,6': VLAN 6 is listed twice ('4-6' and '6')"),
    ("x", "invalid VLAN tags 'x': 'x' is not an id or a range LO-HI (ASCII digits only)"),
    ("10,", "invalid VLAN tags '10,': empty item at the end: a comma too many"),
])
def test_network_tags(text, expected):
    assert _outcome(parse_vlan_tags, text) == expected


@pytest.mark.parametrize("spec,trunk,meta", [
    (VlanSpec((10,)), False, {"tag": 10}),
    (VlanSpec((10,), trunk=True), True, {"trunks": "10"}),
    (VlanSpec((10, 11, 12, 20)), True, {"trunks": "10-12,20"}),
    (VlanSpec((10, 20), 20, None), True, {"trunks": "10,20", "native": 20, "mode": "native-untagged"}),
    (VlanSpec((10, 20), 10, "tagged"), True, {"trunks": "10,20", "native": 10, "mode": "native-tagged"}),
])
def test_network_tags_to_metadata(spec, trunk, meta):
    assert spec.is_trunk is trunk
    got = spec.to_meta()
    assert {k: getattr(got, k) for k in ("tag", "trunks", "native", "mode")
            if getattr(got, k) is not None} == meta
    vlan = spec.to_vlan()
    assert vlan.ids == list(spec.ids) if spec.native is None else set(vlan.ids) == set(spec.ids)
    assert bool(vlan.trunk) is trunk
    native = vlan.native
    assert (None if native is None else (native.id, native.native_mode)) == (
        None if spec.native is None else (spec.native, spec.native_mode or "untagged"))


def test_trunk_flag_of_network_tags_is_kept():
    assert parse_vlan_tags("10", trunk=True) == VlanSpec((10,), trunk=True)
    assert parse_vlan_tags("10") == VlanSpec((10,), trunk=False)


@pytest.mark.parametrize("text,expected", [
    ("20", (20, None)), ("1", (1, None)), ("4094", (4094, None)),
    ("20:tagged", (20, "native-tagged")), ("20:untagged", (20, "native-untagged")),
    ("0", f"invalid native VLAN '0': {R0}"),
    ("4095", f"invalid native VLAN '4095': {R4095}"),
    ("4096", "invalid native VLAN '4096': 4096 is out of range; VLAN ids are 1 to 4094"),
    ("-1", "invalid native VLAN '-1': range '-1' has no first id"),
    ("x", "invalid native VLAN 'x': 'x' is not an id or a range LO-HI (ASCII digits only)"),
    ("20:foo", "invalid native VLAN '20:foo': '20:foo': the mark after ':' must be 'tagged' or 'untagged'"),
    ("20,21", "invalid native VLAN '20,21': expected one ID, ID:tagged or ID:untagged"),
    ("20-21", "invalid native VLAN '20-21': expected one ID, ID:tagged or ID:untagged"),
])
def test_native_option(text, expected):
    assert _outcome(parse_vlan_native, text) == expected


@pytest.mark.parametrize("args,expected", [
    (("10", None, None), VlanOptions("10", None, None)),
    (("10,20:tagged", None, None), VlanOptions("10,20", 20, "native-tagged")),
    (("10, 20:untagged", None, None), "invalid VLAN list '10, 20:untagged': whitespace at character 4 "
                                      "(after '10,'): separate ids and ranges with commas only"),
    ((" 30-32,20:untagged ", None, None), VlanOptions("30-32,20", 20, "native-untagged")),
    (("10,20", "20", None), VlanOptions("10,20", 20, None)),
    (("10,20", "20:tagged", "native-tagged"), VlanOptions("10,20", 20, "native-tagged")),
    (("10,20", None, "trunk"), VlanOptions("10,20", None, "trunk")),
    (("10", None, "access"), VlanOptions("10", None, "access")),
    (("10:tagged,20:tagged", None, None), "invalid VLAN list '10:tagged,20:tagged': only one id can be the "
                                          "native VLAN"),
    (("10,20:untagged", "20", None), "invalid native VLAN '20': 10,20:untagged already marks 20 as native"),
    (("10,20", None, "native-tagged"), "invalid VLAN mode 'native-tagged': needs a native VLAN "
                                       "(--vlan-native ID)"),
    (("10", "10", "access"), "invalid VLAN mode 'access': a native VLAN needs mode native-tagged or "
                             "native-untagged"),
    (("10,20", "20", "trunk"), "invalid VLAN mode 'trunk': a native VLAN needs mode native-tagged or "
                               "native-untagged"),
    (("10,20", "20:tagged", "native-untagged"), "invalid VLAN mode 'native-untagged': contradicts the "
                                                "native VLAN 20 (native-tagged)"),
    (("10", None, "bogus"), "invalid VLAN mode 'bogus': expected access, trunk, native-tagged, "
                            "native-untagged"),
])
def test_interface_vlan_options(args, expected):
    assert _outcome(resolve_vlan, *args) == expected


@pytest.mark.parametrize("opts,ids,trunk,native", [
    (VlanOptions("10", None, None), [10], None, None),
    (VlanOptions("10", None, "trunk"), [10], True, None),
    (VlanOptions("10", None, "access"), [10], None, None),
    (VlanOptions("10,20", None, None), [10, 20], True, None),
    (VlanOptions("10,30-32", None, None), [10, 30, 31, 32], True, None),
    (VlanOptions("10,20", 20, "native-tagged"), [20, 10], True, ("tagged", 20)),
    (VlanOptions("10,20", 20, None), [20, 10], True, ("untagged", 20)),
])
def test_libvirt_vlan_from_options(opts, ids, trunk, native):
    vlan = build_libvirt_vlan(opts)
    assert vlan.ids == ids and vlan.trunk is trunk
    assert (None if vlan.native is None else (vlan.native.native_mode, vlan.native.id)) == native


@pytest.mark.parametrize("opts,message", [
    (VlanOptions("10,10", None, None), "invalid VLAN list '10,10': VLAN 10 is listed twice"),
    (VlanOptions("10-12,11", None, None), "invalid VLAN list '10-12,11': VLAN 11 is listed twice "
                                          "('10-12' and '11')"),
    (VlanOptions("10,20", None, "access"), "invalid VLAN list '10,20': access mode takes exactly one id and "
                                           "no native VLAN"),
])
def test_libvirt_vlan_refusals(opts, message):
    with pytest.raises(InvalidValue) as info:
        build_libvirt_vlan(opts)
    assert info.value.message == message


@pytest.mark.parametrize("opts,meta", [
    (VlanOptions("10", None, None), {"tag": 10}),
    (VlanOptions("10", None, "access"), {"tag": 10, "mode": "access"}),
    (VlanOptions("1", None, None), {"tag": 1}),
    (VlanOptions("4094", None, None), {"tag": 4094}),
    (VlanOptions("0", None, None), f"invalid VLAN list '0': {R0}"),
    (VlanOptions("4095", None, None), f"invalid VLAN list '4095': {R4095}"),
    (VlanOptions("10", None, "trunk"), {"trunks": "10", "mode": "trunk"}),
    (VlanOptions("10-12", None, None), {"trunks": "10-12"}),
    (VlanOptions("10,20", 20, "native-tagged"), {"trunks": "10,20", "native": 20, "mode": "native-tagged"}),
    (VlanOptions("10-12", None, "access"), "invalid VLAN list '10-12': access mode takes exactly one id and "
                                           "no native VLAN"),
    (VlanOptions("10", 10, "access"), "invalid VLAN list '10': access mode takes exactly one id and "
                                      "no native VLAN"),
    (VlanOptions("10,20", None, "native-tagged"), "invalid VLAN mode 'native-tagged': native-tagged needs a "
                                                  "native id"),
])
def test_metadata_vlan_from_options(opts, meta):
    got = _outcome(build_meta_vlan, opts)
    if isinstance(meta, str):
        assert got == meta
    else:
        assert {k: getattr(got, k) for k in ("tag", "trunks", "native", "mode")
                if getattr(got, k) is not None} == meta


@pytest.mark.parametrize("text,expected", [
    ("1", [(1, 1)]), ("4094", [(4094, 4094)]), ("1-4094", [(1, 4094)]),
    ("10,20-22", [(10, 10), (20, 22)]), ("7-7", [(7, 7)]), (" 10-12 ", [(10, 12)]),
    ("0", f"invalid VLAN list '0': {R0}"),
    ("4095", f"invalid VLAN list '4095': {R4095}"),
    ("0-4094", f"invalid VLAN list '0-4094': {R0}"),
    ("4096", "invalid VLAN list '4096': 4096 is out of range; VLAN ids are 1 to 4094"),
    ("1-4096", "invalid VLAN list '1-4096': 4096 is out of range; VLAN ids are 1 to 4094"),
    ("10 - 12", "invalid VLAN list '10 - 12': whitespace at character 3 (after '10'): separate ids and "
                "ranges with commas only"),
    ("", "invalid VLAN list '': it is empty"),
    ("10,,20", "invalid VLAN list '10,,20': empty item after '10': a comma too many"),
    ("10, ,20", "invalid VLAN list '10, ,20': whitespace at character 4 (after '10,'): separate ids and "
                "ranges with commas only"),
    (",10", "invalid VLAN list ',10': empty item at the start: a comma too many"),
    ("5-3", "invalid VLAN list '5-3': range '5-3' runs backwards"),
    ("-1", "invalid VLAN list '-1': range '-1' has no first id"),
    ("1-", "invalid VLAN list '1-': range '1-' has no last id"),
    ("a", "invalid VLAN list 'a': 'a' is not an id or a range LO-HI (ASCII digits only)"),
    ("10:tagged", "invalid VLAN list '10:tagged': '10:tagged': no native VLAN mark (:tagged, :untagged) "
                  "is taken here"),
])
def test_metadata_trunk_lists(text, expected):
    assert _outcome(parse_vlan_ranges, text) == expected


@pytest.mark.parametrize("args,expected", [
    ((1, None, None, None), VlanWish(1, (), None, "access")),
    ((4094, None, None, None), VlanWish(4094, (), None, "access")),
    ((None, "10", 1, None), VlanWish(None, ((10, 10),), 1, "native-untagged")),
    ((None, "10", 4094, None), VlanWish(None, ((10, 10),), 4094, "native-untagged")),
    ((0, None, None, None), f"invalid VLAN id '0': {R0}"),
    ((4095, None, None, None), f"invalid VLAN id '4095': {R4095}"),
    ((None, "10", 0, None), f"invalid native VLAN '0': {R0}"),
    ((None, "10", 4095, None), f"invalid native VLAN '4095': {R4095}"),
    ((None, "10-11", None, None), VlanWish(None, ((10, 11),), None, "trunk")),
    ((None, "10", 5, "native-tagged"), VlanWish(None, ((10, 10),), 5, "native-tagged")),
    ((4096, None, None, None), "invalid VLAN id '4096': 4096 is out of range; VLAN ids are 1 to 4094"),
    ((-1, None, None, None), "invalid VLAN id '-1': -1 is out of range; VLAN ids are 1 to 4094"),
    ((None, "10", 4096, None), "invalid native VLAN '4096': 4096 is out of range; VLAN ids are 1 to 4094"),
    ((None, "10", -1, None), "invalid native VLAN '-1': -1 is out of range; VLAN ids are 1 to 4094"),
    ((None, "10,10", None, None), "invalid VLAN list '10,10': VLAN 10 is listed twice"),
    ((10, "10", None, None),
     "invalid VLAN 'tag=10 trunks=10': give either an access tag or trunks, not both"),
    ((None, None, None, None), "invalid VLAN '': needs a tag or trunks"),
    ((10, None, 5, None), "invalid VLAN 'native=5': a native VLAN needs trunks"),
    ((None, "10", None, "access"), "invalid VLAN mode 'access': access mode needs a tag"),
    ((None, "10", None, "native-tagged"),
     "invalid VLAN mode 'native-tagged': native-tagged needs a native id"),
    ((10, None, None, "weird"), "invalid VLAN mode 'weird': expected access, trunk, native-tagged, "
                                "native-untagged"),
])
def test_metadata_wish(args, expected):
    assert _outcome(VlanWish.from_attrs, *args) == expected


def test_trunk_ids_expand_the_ranges():
    assert VlanWish(None, ((1, 3), (7, 7)), None, "trunk").trunk_ids() == [1, 2, 3, 7]
