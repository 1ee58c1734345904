"""One VLAN list grammar for every spelling, with the hooks' limits (issue 10, section 2).

Every option and attribute that takes a VLAN list reads it with ``xmltools.rules.parse_vlan_list``:
``--vlan``, ``--bridge-vlan``, ``--vlan-native``, ``network --vlan``, ``--portgroup NAME,vlan=``,
``edit --set-vlan/--set-bridge-vlan/--portgroup-vlan`` and the metadata's ``trunks``/``tag``/
``native``. Here: the grammar's answers, each bad class through each option on the command line
(exit 2, one line, the file untouched), and the agreement of generator, lint and the hooks'
planner: what the first two accept the planner plans, and what one refuses the others refuse.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from hooks import actions as A
from hooks.planner import StaticFacts, plan
from hooks.protocol import lookup
from xmltools.cli.main import cli
from xmltools.errors import InvalidValue
from xmltools.lint import Linter
from xmltools.rules import format_vlan_ranges, parse_vlan_id, parse_vlan_list, vid_digits
from xmltools.xmlparse import parse_bytes

ROOT = Path(__file__).resolve().parent.parent
MINIMAL = ROOT / "fixtures" / "domains" / "minimal.xml"
NS = "urn:virt-netxml:hooks:1"
MAC = "52:54:00:00:00:01"
FACTS = StaticFacts(ovs_bridges=frozenset({"ovsbr0"}))
FACTS_11 = StaticFacts(ovs_bridges=frozenset({"ovsbr0"}), libvirt=(11, 3, 0))
RESERVED_0 = "0 is reserved by 802.1Q for priority-tagged frames"
RESERVED_4095 = "4095 is reserved by 802.1Q"

# --------------------------------------------------------------------------- the grammar


def _id(text: str) -> str:
    """A test id of plain characters (tabs, newlines and other scripts spelled out), which tools that
    select tests by id on a command line find again."""
    return "".join(c if c.isascii() and (c.isalnum() or c in ",-:+_") else f"<{ord(c):x}>" for c in text)


GOOD = [
    ("10", ((10, 10),), None, None),
    ("1", ((1, 1),), None, None),
    ("4094", ((4094, 4094),), None, None),
    ("1-4094", ((1, 4094),), None, None),
    ("20,30-40", ((20, 20), (30, 40)), None, None),
    ("30-40,20", ((30, 40), (20, 20)), None, None),        # the order given is kept
    ("7-7", ((7, 7),), None, None),
    ("007", ((7, 7),), None, None),                        # decimal, as libvirt reads <tag id>
    (" 10,20 ", ((10, 10), (20, 20)), None, None),         # whitespace around the value: dropped
    ("\t10\n", ((10, 10),), None, None),
    ("10:untagged,20", ((10, 10), (20, 20)), 10, "untagged"),
    ("20,10:tagged", ((20, 20), (10, 10)), 10, "tagged"),
]


@pytest.mark.parametrize("text,ranges,native,mark", GOOD, ids=[_id(g[0]) for g in GOOD])
def test_valid_lists_are_read(text, ranges, native, mark):
    assert parse_vlan_list(text, native=True) == (ranges, native, mark)


# Each bad class, with the one-line reason every option gives for it.
BAD = [
    ("10 20", "whitespace at character 3 (after '10'): separate ids and ranges with commas only"),
    ("10, 20", "whitespace at character 4 (after '10,')"),
    ("10\t,20", "whitespace at character 3"),
    ("10,,20", "empty item after '10': a comma too many"),
    (",10", "empty item at the start: a comma too many"),
    ("10,", "empty item at the end: a comma too many"),
    ("10-", "range '10-' has no last id"),
    ("-10", "range '-10' has no first id"),
    ("20-10", "range '20-10' runs backwards"),
    ("10,10", "VLAN 10 is listed twice"),
    ("10-20,15", "VLAN 15 is listed twice ('10-20' and '15')"),
    ("10-20,20-30", "VLAN 20 is listed twice ('10-20' and '20-30')"),
    ("0", RESERVED_0),
    ("4095", RESERVED_4095),
    ("10,4096", "'4096': 4096 is out of range; VLAN ids are 1 to 4094"),
    ("4094-4095", "'4094-4095': " + RESERVED_4095),
    ("99999999999999999999999", "99999999999999999999999 is out of range"),
    ("+10", "'+10' is not an id or a range LO-HI (ASCII digits only)"),
    ("0x10", "'0x10' is not an id or a range LO-HI (ASCII digits only)"),
    ("1_0", "'1_0' is not an id or a range LO-HI"),
    ("\u0661\u0660", "is not an id or a range LO-HI (ASCII digits only)"),   # Arabic-Indic 10
    ("10-20-30", "'10-20-30' is not an id or a range LO-HI"),
    ("", "it is empty"),
    ("  ", "it is empty"),
]


@pytest.mark.parametrize("text,reason", BAD, ids=[_id(b[0]) for b in BAD])
def test_bad_lists_are_refused_with_one_line(text, reason):
    with pytest.raises(InvalidValue) as caught:
        parse_vlan_list(text, native=True)
    assert reason in caught.value.message
    assert "\n" not in caught.value.message


@pytest.mark.parametrize("text,reason", [
    ("10:tagged", "no native VLAN mark (:tagged, :untagged) is taken here"),
    ("10:foo", "no native VLAN mark"),
])
def test_native_marks_only_where_the_option_takes_one(text, reason):
    with pytest.raises(InvalidValue, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_vlan_list(text)


@pytest.mark.parametrize("text,reason", [
    ("10:foo", "the mark after ':' must be 'tagged' or 'untagged'"),
    ("10:", "the mark after ':' must be"),
    ("1-3:tagged", "only a single id can be the native VLAN, not a range"),
    ("10:tagged,20:untagged", "only one id can be the native VLAN"),
])
def test_native_mark_refusals(text, reason):
    with pytest.raises(InvalidValue) as caught:
        parse_vlan_list(text, native=True)
    assert reason in caught.value.message


@pytest.mark.parametrize("text,vid", [("1", 1), ("4094", 4094), (" 12 ", 12)])
def test_single_id(text, vid):
    assert parse_vlan_id(text) == vid


@pytest.mark.parametrize("text,reason", [
    ("0", RESERVED_0), ("4095", RESERVED_4095), ("4096", "4096 is out of range"),
    ("+1", "not a number (ASCII digits only)"), ("0x10", "not a number"), ("", "not a number"),
    ("1 0", "not a number"),
])
def test_single_id_refusals(text, reason):
    with pytest.raises(InvalidValue) as caught:
        parse_vlan_id(text)
    assert reason in caught.value.message


@pytest.mark.parametrize("text,message", [
    ("x", "invalid VLAN id 'x': not a number (ASCII digits only)"),
    ("0", "invalid VLAN id '0': 0 is reserved by 802.1Q for priority-tagged frames, which belong to no "
          "VLAN (Open vSwitch reads it as untagged, a Linux bridge refuses it); VLAN ids are 1 to 4094"),
    ("40960", "invalid VLAN id '40960': 40960 is out of range; VLAN ids are 1 to 4094"),
    (" 5000 ", "invalid VLAN id ' 5000 ': 5000 is out of range; VLAN ids are 1 to 4094"),
], ids=["letters", "zero", "five-digits", "padded"])
def test_single_id_messages_in_full(text, message):
    with pytest.raises(InvalidValue) as caught:
        parse_vlan_id(text)
    assert caught.value.message == message


@pytest.mark.parametrize("text,vid", [
    ("10", 10), ("0010", 10), ("00000010", 10), ("0000", 0), ("4095", 4095), ("9999", 9999),
    ("99999", 4096), ("9" * 50, 4096), ("+1", None), ("1_0", None), ("", None), ("\u0661", None),
], ids=lambda v: _id(str(v)))
def test_digits_read_as_a_number_a_huge_one_as_just_out_of_range(text, vid):
    assert vid_digits(text) == vid


def test_canonical_spelling_round_trips():
    ranges, _, _ = parse_vlan_list(" 30-40,20,7-7 ")
    assert format_vlan_ranges(ranges) == "30-40,20,7"
    assert parse_vlan_list(format_vlan_ranges(ranges))[0] == ranges


# --------------------------------------------------------------------------- each option, on the CLI

def _domain(tmp_path: Path, iface: str, name: str = "dom.xml") -> Path:
    path = tmp_path / name
    path.write_text(MINIMAL.read_text().replace("<devices>", f"<devices>{iface}"))
    return path


OVS_PORT = (f"<interface type='bridge'><mac address='{MAC}'/><source bridge='ovsbr0'/>"
            "<virtualport type='openvswitch'/></interface>")
LINUX_PORT = f"<interface type='bridge'><mac address='{MAC}'/><source bridge='br0'/></interface>"
NETWORK = ("<network><name>n</name><forward mode='bridge'/><bridge name='br0'/>"
           "<portgroup name='g'/></network>")


def _options(tmp_path: Path) -> dict[str, tuple[list[str], Path | None]]:
    """Every option that takes a VLAN list: its command line with '{}' for the list, and the
    file it edits (which a refusal must leave as it was)."""
    ovs_dom = _domain(tmp_path, OVS_PORT, "ovs.xml")
    linux_dom = _domain(tmp_path, LINUX_PORT, "linux.xml")
    net = tmp_path / "net.xml"
    net.write_text(NETWORK)
    return {
        "interface --vlan (OVS)": (["interface", "--type", "bridge", "--source", "ovsbr0",
                                    "--virtualport", "openvswitch", "--vlan", "{}"], None),
        "interface --vlan (Linux bridge, 11.3)": (["interface", "--type", "bridge", "--source", "br0",
                                                   "--libvirt-version", "11.3", "--vlan", "{}"], None),
        "interface --bridge-vlan": (["interface", "--type", "bridge", "--source", "br0",
                                     "--bridge-vlan", "{}", "--domain", str(MINIMAL)], None),
        "network --vlan": (["network", "n", "--mode", "bridge", "--bridge", "ovs0",
                            "--virtualport", "openvswitch", "--vlan", "{}"], None),
        "network --portgroup vlan=": (["network", "n", "--mode", "bridge", "--bridge", "br0",
                                       "--portgroup", "g,vlan={}"], None),
        "edit --set-vlan": (["edit", str(ovs_dom), "--index", "0", "--set-vlan", "{}", "-i"], ovs_dom),
        "edit --set-bridge-vlan": (["edit", str(linux_dom), "--index", "0", "--set-bridge-vlan", "{}",
                                    "-i"], linux_dom),
        "edit --portgroup-vlan": (["edit", str(net), "--portgroup-vlan", "g={}", "-i"], net),
    }


OPTIONS = ["interface --vlan (OVS)", "interface --vlan (Linux bridge, 11.3)", "interface --bridge-vlan",
           "network --vlan", "network --portgroup vlan=", "edit --set-vlan", "edit --set-bridge-vlan",
           "edit --portgroup-vlan"]
# The bad classes on the command line (an empty value is the options' own business: --portgroup
# takes 'vlan=' as no VLAN given, edit's NAME=TAGS wants TAGS).
CLI_BAD = [(text, reason) for text, reason in BAD if text.strip()]


def _run(args: list[str], value: str):
    return CliRunner().invoke(cli, [a.replace("{}", value) for a in args])


@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize("text,reason", CLI_BAD, ids=[_id(t) for t, _ in CLI_BAD])
def test_each_option_refuses_each_bad_class_with_one_line_and_exit_2(tmp_path, option, text, reason):
    args, edited = _options(tmp_path)[option]
    before = edited.read_bytes() if edited else None
    result = _run(args, text)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("virt-netxml: error: invalid ")
    assert reason in result.stderr
    assert "Traceback" not in result.stderr
    if edited:
        assert edited.read_bytes() == before


@pytest.mark.parametrize("option", OPTIONS)
def test_each_option_takes_a_valid_list(tmp_path, option):
    args, edited = _options(tmp_path)[option]
    result = _run(args, "10,20-22")
    assert result.exit_code == 0, result.stderr
    written = edited.read_text() if edited else result.stdout
    assert ("20-22" in written) or all(f"id=\"{v}\"" in written or f"id='{v}'" in written
                                        for v in (10, 20, 21, 22))


@pytest.mark.parametrize("native", ["0", "4095", "1 0", "+5", "5-6", "5,6", "5:sideways"], ids=_id)
def test_vlan_native_option_uses_the_grammar(tmp_path, native):
    path = _domain(tmp_path, LINUX_PORT)
    before = path.read_bytes()
    result = CliRunner().invoke(cli, ["edit", str(path), "--index", "0", "--set-bridge-vlan", "10,20",
                                      "--vlan-native", native, "-i"])
    assert result.exit_code == 2
    assert result.stderr.startswith("virt-netxml: error: invalid native VLAN ")
    assert result.stderr.count("\n") == 1
    assert path.read_bytes() == before


def test_edit_set_vlan_with_a_space_is_refused_not_joined(tmp_path):
    # It used to write <tag id='1020'/>.
    path = _domain(tmp_path, OVS_PORT)
    result = CliRunner().invoke(cli, ["edit", str(path), "--index", "0", "--set-vlan", "10 20"])
    assert result.exit_code == 2
    assert "1020" not in result.stdout
    assert "whitespace at character 3" in result.stderr


# --------------------------------------------------------------------------- generator, lint, planner

def _lint_errors(doc: str, target=(9, 0, 0)) -> list[str]:
    found = Linter(libvirt_schemas=False, libvirt_version=target).lint_bytes(doc.encode(), "x.xml")
    return [f"{f.code}: {f.message}" for f in found if f.severity == "error"]


def _live(doc: str) -> etree._Element:
    """The domain as libvirt hands it to the hook at start: its port has a target device."""
    return parse_bytes(doc.replace("</interface>", "<target dev='vnet0'/></interface>", 1).encode()).getroot()


def _start(root: etree._Element, facts: StaticFacts = FACTS) -> list[A.Action]:
    return plan(lookup("qemu", "start"), root, facts, {})


ACCEPTED = ["1", "4094", "10", "10,20-30", "30-32,20", "1-4094", "20:untagged,30-32", "20:tagged,30",
            " 5 "]


@pytest.mark.parametrize("text", ACCEPTED, ids=_id)
@pytest.mark.parametrize("port,facts", [("br0", FACTS), ("ovsbr0", FACTS)], ids=["linux", "ovs"])
def test_what_bridge_vlan_generates_lint_passes_and_the_hook_plans(text, port, facts):
    args = ["interface", "--type", "bridge", "--source", port, "--mac", MAC, "--bridge-vlan", text,
            "--domain", str(MINIMAL)]
    if port == "ovsbr0":
        args[5:5] = ["--virtualport", "openvswitch"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.stderr
    assert _lint_errors(result.stdout) == []
    [action] = _start(_live(result.stdout), facts)
    assert isinstance(action, A.OvsPortVlan if port == "ovsbr0" else A.BridgePortVlans)


@pytest.mark.parametrize("text", ACCEPTED, ids=_id)
def test_what_vlan_generates_for_a_linux_bridge_on_11_lint_passes_and_the_hook_verifies(text):
    result = CliRunner().invoke(cli, ["interface", "--type", "bridge", "--source", "br0", "--mac", MAC,
                                      "--libvirt-version", "11.3", "--vlan", text, "--domain", str(MINIMAL)])
    assert result.exit_code == 0, result.stderr
    assert _lint_errors(result.stdout, (11, 3, 0)) == []
    [action] = _start(_live(result.stdout), FACTS_11)
    assert isinstance(action, A.BridgePortVlans) and action.verify


@pytest.mark.parametrize("text", ACCEPTED, ids=_id)
def test_what_a_linux_bridge_portgroup_gets_lint_passes_and_the_hook_records(text):
    result = CliRunner().invoke(cli, ["network", "n", "--mode", "bridge", "--bridge", "br0",
                                      "--uuid", "11111111-2222-3333-4444-555555555555",
                                      "--portgroup", f"g,vlan={text}"])
    assert result.exit_code == 0, result.stderr
    assert "vnx:portgroup" in result.stdout
    assert _lint_errors(result.stdout) == []
    net = result.stdout.split("?>", 1)[-1]
    hook_data = (f"<hookData>{net}<networkport><uuid>97101f27-ff15-4587-be44-bfc54a8cb944</uuid>"
                 "<owner><name>vm</name><uuid>de3e2b2f-a916-47d3-a681-2d51dd5d3267</uuid></owner>"
                 f"<group>g</group><mac address='{MAC}'/><plug type='bridge' bridge='br0'/>"
                 "</networkport></hookData>")
    [action] = plan(lookup("network", "port-created"), parse_bytes(hook_data.encode()).getroot(), FACTS, {})
    assert isinstance(action, A.RecordPortWish)


def _meta_domain(port: str, wish: str, vlan: str = "") -> str:
    """A domain with ``port`` (carrying libvirt's ``vlan``) and, if given, the metadata ``wish``."""
    meta = (f"<metadata><vnx:netxml xmlns:vnx='{NS}'><vnx:interface mac='{MAC}'>{wish}"
            "</vnx:interface></vnx:netxml></metadata>") if wish else ""
    port = port.replace("</interface>", vlan + "</interface>")
    return (f"<domain type='kvm'><name>vm</name><uuid>11111111-2222-3333-4444-555555555555</uuid>"
            f"{meta}<devices>{port}</devices></domain>")


# Values the generator refuses, written into a file by hand: lint reports an error and the
# hooks' planner refuses the guest's start, for every place of the metadata and every port.
REFUSED_WISHES = [
    "<vnx:vlan tag='0'/>", "<vnx:vlan tag='4095'/>", "<vnx:vlan tag='4096'/>", "<vnx:vlan tag='+10'/>",
    "<vnx:vlan tag='0x10'/>", "<vnx:vlan tag='1_0'/>", "<vnx:vlan trunks='10 20'/>",
    "<vnx:vlan trunks='10,,20'/>", "<vnx:vlan trunks='10,'/>", "<vnx:vlan trunks='10-'/>",
    "<vnx:vlan trunks='20-10'/>", "<vnx:vlan trunks='10,10-12'/>", "<vnx:vlan trunks='0-10'/>",
    "<vnx:vlan trunks='10,4095'/>", "<vnx:vlan trunks='10' native='0'/>",
    "<vnx:vlan trunks='10' native='4095'/>", "<vnx:vlan trunks='10' native='+7'/>",
]


@pytest.mark.parametrize("wish", REFUSED_WISHES)
@pytest.mark.parametrize("port", [LINUX_PORT, OVS_PORT], ids=["linux", "ovs"])
def test_metadata_the_generator_refuses_lint_and_the_planner_refuse_too(wish, port):
    doc = _meta_domain(port, wish)
    assert any(e.startswith("meta-vlan: ") for e in _lint_errors(doc))
    with pytest.raises(InvalidValue):
        _start(_live(doc))


@pytest.mark.parametrize("vid,lint_code,planned", [("0", "vlan-id-range", False),
                                                   ("4095", "vlan-id-range", False),
                                                   ("1", None, True), ("4094", None, True)])
@pytest.mark.parametrize("facts,target", [(FACTS, (9, 0, 0)), (FACTS_11, (11, 3, 0))], ids=["9.0", "11.3"])
def test_libvirts_own_vlan_on_a_linux_bridge_lint_and_planner_agree(vid, lint_code, planned, facts, target):
    doc = _meta_domain(LINUX_PORT, "", f"<vlan><tag id='{vid}'/></vlan>")
    errors = [e for e in _lint_errors(doc, target) if e.startswith("vlan-id")]
    if planned:
        assert errors == []
        assert _start(_live(doc), facts)
    else:
        assert errors and errors[0].startswith(f"{lint_code}: ")
        with pytest.raises(InvalidValue, match="reserved by 802.1Q"):
            _start(_live(doc), facts)


@pytest.mark.parametrize("vid", ["0", "4095"])
def test_reserved_ids_in_libvirts_own_ovs_vlan_are_a_warning_not_a_refusal(vid):
    """libvirt parses 0 to 4095 and sets it on Open vSwitch itself (its own test files carry 4095):
    lint warns that 802.1Q reserves it, the hooks leave that port to libvirt, and the generator
    writes no such id."""
    doc = _meta_domain(OVS_PORT, "", f"<vlan><tag id='{vid}'/></vlan>")
    found = Linter(libvirt_schemas=False).lint_bytes(doc.encode(), "x.xml")
    assert [(f.code, f.severity) for f in found] == [("vlan-id-reserved", "warning")]
    assert "reserved by 802.1Q" in found[0].message
    assert _start(_live(doc)) == []
    result = CliRunner().invoke(cli, ["interface", "--type", "bridge", "--source", "ovsbr0",
                                      "--virtualport", "openvswitch", "--vlan", vid])
    assert result.exit_code == 2 and "reserved by 802.1Q" in result.stderr


@pytest.mark.parametrize("raw", ["+10", "1_0", "0x10", "\u0661\u0660", "4096"], ids=_id)
def test_libvirt_tag_ids_int_would_read_are_errors(raw):
    # (libvirt's schema refuses them too; the semantic check no longer reads them as numbers)
    doc = _meta_domain(OVS_PORT, "", f"<vlan><tag id='{raw}'/></vlan>")
    assert "vlan-id-range" in [e.split(":")[0] for e in _lint_errors(doc)]


def test_network_linux_bridge_portgroup_vlan_reserved_is_an_error_ovs_a_warning():
    linux = ("<network><name>n</name><forward mode='bridge'/><bridge name='br0'/>"
             "<portgroup name='g'><vlan><tag id='4095'/></vlan></portgroup></network>")
    ovs = linux.replace("<bridge name='br0'/>", "<bridge name='ovsbr0'/><virtualport type='openvswitch'/>")
    target = (11, 3, 0)
    assert [e.split(":")[0] for e in _lint_errors(linux, target)] == ["vlan-id-range"]
    found = Linter(libvirt_schemas=False, libvirt_version=target).lint_bytes(ovs.encode(), "x.xml")
    assert [(f.code, f.severity) for f in found] == [("vlan-id-reserved", "warning")]
