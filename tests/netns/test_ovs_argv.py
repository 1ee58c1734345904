"""The pure parts of the OVS adapter: argv builders, output parsers and error mapping."""

from __future__ import annotations

import signal

import pytest

from hooks.adapters import ovs
from hooks.errors import HostError, HostTimeout, NotFound
from hooks.ports import OvsKeyChange, OvsPortSettings, OvsVlanChange
from xmltools.errors import InvalidValue


@pytest.mark.parametrize(("commands", "timeout", "db", "fmt", "expected"), [
    ([["list-br"]], 5.0, None, False, ["ovs-vsctl", "--timeout=5", "--", "list-br"]),
    ([["list-br"]], 0.2, "/run/x/db.sock", True,
     ["ovs-vsctl", "--timeout=1", "--db=unix:/run/x/db.sock", "--format=json", "--", "list-br"]),
    ([["a"], ["b", "c"]], 2.5, None, False, ["ovs-vsctl", "--timeout=3", "--", "a", "--", "b", "c"]),
])
def test_vsctl_argv(commands, timeout, db, fmt, expected) -> None:
    assert ovs.vsctl_argv(commands, timeout, db, fmt) == expected


@pytest.mark.parametrize(("tag", "trunks", "mode", "expected"), [
    (10, [], "access",
     [["set", "Port", "p0", "tag=10", "vlan_mode=access"], ["clear", "Port", "p0", "trunks"]]),
    (20, [40, 30, 31, 30], "native-untagged",
     [["set", "Port", "p0", "tag=20", "trunks=[30,31,40]", "vlan_mode=native-untagged"]]),
    (None, [5], "trunk",
     [["set", "Port", "p0", "trunks=[5]", "vlan_mode=trunk"], ["clear", "Port", "p0", "tag"]]),
    (None, [], None, [["clear", "Port", "p0", "tag", "trunks", "vlan_mode"]]),
    (0, [4095], "native-tagged",
     [["set", "Port", "p0", "tag=0", "trunks=[4095]", "vlan_mode=native-tagged"]]),
])
def test_set_port_vlan_cmds(tag, trunks, mode, expected) -> None:
    assert ovs.set_port_vlan_cmds("p0", tag, trunks, mode) == expected


@pytest.mark.parametrize(("tag", "trunks", "mode"), [
    (4096, [], None), (-1, [], None), (None, [10, 5000], None), (None, [], "hybrid"), (True, [], None)])
def test_set_port_vlan_cmds_refuses(tag, trunks, mode) -> None:
    with pytest.raises(InvalidValue):
        ovs.set_port_vlan_cmds("p0", tag, trunks, mode)


@pytest.mark.parametrize(("args", "expected"), [
    (("Port", "p0", "other_config", "mcast-snooping-flood", "true"),
     ["set", "Port", "p0", 'other_config:"mcast-snooping-flood"="true"']),
    (("Interface", "tap1", "external_ids", "vm id", 'a "b",c=d'),
     ["set", "Interface", "tap1", 'external_ids:"vm id"="a \\"b\\",c=d"']),
    (("Port", "vnet0", "other_config", "k", None), ["remove", "Port", "vnet0", "other_config", '"k"']),
    (("Port", "0e9e1c86-5d0a-4c0f-9a7e-3d1c2b4a5f60", "other_config", "k", "v"),
     ["set", "Port", "0e9e1c86-5d0a-4c0f-9a7e-3d1c2b4a5f60", 'other_config:"k"="v"']),
])
def test_set_column_key_cmd(args, expected) -> None:
    assert ovs.set_column_key_cmd(*args) == expected


@pytest.mark.parametrize("args", [
    ("Open_vSwitch", ".", "other_config", "k", "v"),          # not a guest's row
    ("Bridge", "br0", "other_config", "k", "v"),               # shared by every port
    ("Port", "dead", "other_config", "k", "v"),                # ovs-vsctl may read it as a UUID
    ("Port", "0e9e1c86-5d0a", "other_config", "k", "v"),       # a UUID prefix, not a full UUID
    ("Port", "-p0", "other_config", "k", "v"),                 # would read as an option
    ("Port", "p0/..", "other_config", "k", "v"),
    ("Port", "p0", "other_config; rm", "k", "v"),
    ("Port", "p0", "other_config", "", "v"),
    ("Port", "p0", "other_config", "k", "line\nbreak"),
])
def test_set_column_key_cmd_refuses(args) -> None:
    with pytest.raises(InvalidValue):
        ovs.set_column_key_cmd(*args)


@pytest.mark.parametrize(("builder", "expected"), [
    (lambda: ovs.add_port_cmd("br0", "tap0"), ["--may-exist", "add-port", "br0", "tap0"]),
    (lambda: ovs.del_port_cmd("br0", "tap0"), ["--if-exists", "del-port", "br0", "tap0"]),
    (lambda: ovs.port_to_br_cmd("tap0"), ["port-to-br", "tap0"]),
    (lambda: ovs.port_settings_cmd("tap0"),
     ["--columns=tag,trunks,vlan_mode,other_config", "list", "Port", "tap0"]),
])
def test_simple_commands(builder, expected) -> None:
    assert builder() == expected


def test_names_with_a_leading_dash_or_too_long_are_refused() -> None:
    for bad in ("--help", "x" * 16, "a b"):
        with pytest.raises(InvalidValue):
            ovs.add_port_cmd("br0", bad)


def test_json_tables_reads_consecutive_documents() -> None:
    out = '{"data":[[1]],"headings":["a"]}\n{"data":[],"headings":["b"]}\n'
    assert ovs.json_tables(out) == [{"data": [[1]], "headings": ["a"]}, {"data": [], "headings": ["b"]}]
    assert ovs.json_tables("") == []


@pytest.mark.parametrize(("row", "expected"), [
    ([["set", []], ["set", []], ["set", []], ["map", []]], OvsPortSettings()),
    ([10, ["set", []], "access", ["map", [["a", "1"]]]],
     OvsPortSettings(tag=10, vlan_mode="access", other_config={"a": "1"})),
    ([20, ["set", [40, 30, 31]], "native-untagged", ["map", [["x", "y"], ["k", "v"]]]],
     OvsPortSettings(tag=20, trunks=(30, 31, 40), vlan_mode="native-untagged",
                     other_config={"x": "y", "k": "v"})),
    ([["set", []], 7, "trunk", ["map", []]], OvsPortSettings(trunks=(7,), vlan_mode="trunk")),
])
def test_parse_port_settings(row, expected) -> None:
    table = {"headings": ["tag", "trunks", "vlan_mode", "other_config"], "data": [row]}
    assert ovs.parse_port_settings(table) == expected


def test_parse_port_settings_follows_headings_not_positions() -> None:
    table = {"headings": ["vlan_mode", "other_config", "tag", "trunks"],
             "data": [["trunk", ["map", []], ["set", []], ["set", [1, 2]]]]}
    assert ovs.parse_port_settings(table) == OvsPortSettings(trunks=(1, 2), vlan_mode="trunk")


def test_parse_port_settings_wants_one_row() -> None:
    with pytest.raises(ValueError):
        ovs.parse_port_settings({"headings": ["tag"], "data": []})


def _failed(stderr: str, returncode: int = 1) -> HostError:
    return HostError(step="run ovs-vsctl", detail=stderr.splitlines()[0] if stderr else "",
                     returncode=returncode, stderr=stderr)


@pytest.mark.parametrize(("error", "kind", "text"), [
    (_failed("ovs-vsctl: no bridge named br9\n"), NotFound, "s: OVS bridge 'br9' does not exist"),
    (_failed("ovs-vsctl: no port named tap9\n"), NotFound, "s: OVS port 'tap9' does not exist"),
    (_failed('ovs-vsctl: no row "tap9" in table Port\n'), NotFound, "s: OVS port 'tap9' does not exist"),
    (_failed('ovs-vsctl: no row "x" in table Interface\n'), NotFound, "s: OVS interface 'x' does not exist"),
    (_failed("...|fatal_signal|WARN|terminating with signal 14 (Alarm clock)\n", -signal.SIGALRM),
     HostTimeout, "s: timed out after 3s"),
    (HostTimeout(step="run ovs-vsctl", seconds=5), HostTimeout, "s: timed out after 3s"),
    (_failed("ovs-vsctl: unix:/x: database connection failed (No such file or directory)\n"), HostError,
     "s: ovs-vsctl: unix:/x: database connection failed (No such file or directory)"),
])
def test_classify_error(error, kind, text) -> None:
    mapped = ovs.classify_error("s", error, 3.0)
    assert type(mapped) is kind and str(mapped) == text


def test_ports_settings_cmd_names_the_rows() -> None:
    assert ovs.ports_settings_cmd(["tap0", "tap1"]) == [
        "--columns=name,tag,trunks,vlan_mode,other_config", "list", "Port", "tap0", "tap1"]
    with pytest.raises(InvalidValue):
        ovs.ports_settings_cmd(["tap0", "-x"])


@pytest.mark.parametrize(("change", "expected"), [
    (OvsVlanChange("p0", 10, (), "access"),
     [["set", "Port", "p0", "tag=10", "vlan_mode=access"], ["clear", "Port", "p0", "trunks"]]),
    (OvsKeyChange("Interface", "p0", "external_ids", "k", "v"),
     [["set", "Interface", "p0", 'external_ids:"k"="v"']]),
    (OvsKeyChange("Port", "p0", "other_config", "k", None),
     [["remove", "Port", "p0", "other_config", '"k"']]),
])
def test_change_cmds(change, expected) -> None:
    assert ovs.change_cmds(change) == expected


def test_transact_step_names_what_changes_or_else_what_is_read() -> None:
    changes = [OvsVlanChange("p0", 10), OvsKeyChange("Port", "p0", "other_config", "k", "v"),
               OvsVlanChange("p1", 20)]
    assert ovs.transact_step(["p0", "p1"], changes) == "set OVS p0, Port p0, p1"
    assert ovs.transact_step(["p0", "p1"], []) == "read OVS ports p0, p1"


def test_parse_ports_settings_keys_rows_by_name_and_wants_every_one() -> None:
    table = {"headings": ["name", "tag", "trunks", "vlan_mode", "other_config"],
             "data": [["p1", ["set", []], ["set", [5, 6]], "trunk", ["map", []]],
                      ["p0", 10, ["set", []], "access", ["map", [["a", "1"]]]]]}
    assert ovs.parse_ports_settings(table, ["p0", "p1"]) == {
        "p0": OvsPortSettings(tag=10, vlan_mode="access", other_config={"a": "1"}),
        "p1": OvsPortSettings(trunks=(5, 6), vlan_mode="trunk")}
    with pytest.raises(ValueError, match="no row for p2"):
        ovs.parse_ports_settings(table, ["p0", "p2"])


class _Recorded:
    """Stands in for proc.run: records argv, answers with canned stdout."""

    def __init__(self, stdout: bytes = b"") -> None:
        self.argv: list[list[str]] = []
        self.stdout = stdout

    def __call__(self, argv, timeout):
        from subprocess import CompletedProcess

        self.argv.append(list(argv))
        return CompletedProcess(argv, 0, self.stdout, b"")


def test_transact_is_one_ovs_vsctl_run_reading_before_changing(monkeypatch) -> None:
    out = (b'{"data":[["p0",["set",[]],["set",[]],["set",[]],["map",[]]]],'
           b'"headings":["name","tag","trunks","vlan_mode","other_config"]}\n')
    run = _Recorded(out)
    monkeypatch.setattr(ovs.proc, "run", run)
    adapter = ovs.OvsAdapter(db="/x/db.sock", timeout=5)
    before = adapter.transact(["p0", "p0"], [OvsVlanChange("p0", 10, (), "access"),
                                             OvsKeyChange("Port", "p0", "other_config", "k", "v")])
    assert before == {"p0": OvsPortSettings()}
    assert run.argv == [["ovs-vsctl", "--timeout=5", "--db=unix:/x/db.sock", "--format=json",
                         "--", "--columns=name,tag,trunks,vlan_mode,other_config", "list", "Port", "p0",
                         "--", "set", "Port", "p0", "tag=10", "vlan_mode=access",
                         "--", "clear", "Port", "p0", "trunks",
                         "--", "set", "Port", "p0", 'other_config:"k"="v"']]
    assert adapter.transact([], []) == {} and len(run.argv) == 1     # nothing to do: no run


@pytest.mark.parametrize(("name", "like"), [
    ("dead", True), ("0e9e", True), ("0E9E-12", True), ("12", True), ("vnet0", False), ("tapcafe", False),
    ("dead_1", False), ("beef.0", False)])
def test_uuid_like_names_are_those_ovs_vsctl_could_read_as_a_uuid(name, like) -> None:
    assert ovs.uuid_like(name) is like
    if like:
        with pytest.raises(InvalidValue, match="could read it as a UUID prefix"):
            ovs.row_ref(name)
    else:
        assert ovs.row_ref(name) == name


def test_find_uuid_cmd_compares_the_name_exactly() -> None:
    assert ovs.find_uuid_cmd("Port", "dead") == ["--columns=_uuid,name", "find", "Port", 'name="dead"']
    with pytest.raises(InvalidValue):
        ovs.find_uuid_cmd("Bridge", "dead")


def test_change_cmds_address_a_uuid_like_row_only_by_its_uuid() -> None:
    uuid = "0e9e1c86-5d0a-4c0f-9a7e-3d1c2b4a5f60"
    change = OvsKeyChange("Port", "dead", "other_config", "k", "v")
    ovs.check_change(change)                     # the name is fine ...
    with pytest.raises(InvalidValue):
        ovs.change_cmds(change)                  # ... but never as a record argument
    assert ovs.change_cmds(ovs.addressed(change, {("Port", "dead"): uuid})) == [
        ["set", "Port", uuid, 'other_config:"k"="v"']]
    vlan = ovs.addressed(OvsVlanChange("dead", 10, (), "access"), {("Port", "dead"): uuid})
    assert ovs.change_cmds(vlan)[0][:3] == ["set", "Port", uuid]


class _Answers(_Recorded):
    """proc.run answering each run with the next canned stdout."""

    def __init__(self, *outputs: bytes) -> None:
        super().__init__()
        self.outputs = list(outputs)

    def __call__(self, argv, timeout):
        self.stdout = self.outputs.pop(0)
        return super().__call__(argv, timeout)


UUID = "0e9e1c86-5d0a-4c0f-9a7e-3d1c2b4a5f60"
FOUND = b'{"data":[[["uuid","' + UUID.encode() + b'"],"dead"]],"headings":["_uuid","name"]}\n'
ROWS = (b'{"data":[["dead",["set",[]],["set",[]],["set",[]],["map",[]]]],'
        b'"headings":["name","tag","trunks","vlan_mode","other_config"]}\n')


def test_transact_finds_uuid_like_rows_by_exact_name_then_writes_by_uuid(monkeypatch) -> None:
    run = _Answers(FOUND, ROWS)
    monkeypatch.setattr(ovs.proc, "run", run)
    adapter = ovs.OvsAdapter(db="/x/db.sock", timeout=5)
    before = adapter.transact(["dead"], [OvsKeyChange("Port", "dead", "other_config", "k", "v")])
    assert before == {"dead": OvsPortSettings()}
    base = ["ovs-vsctl", "--timeout=5", "--db=unix:/x/db.sock", "--format=json"]
    assert run.argv == [
        base + ["--", "--columns=_uuid,name", "find", "Port", 'name="dead"'],     # once per row
        base + ["--", "--columns=name,tag,trunks,vlan_mode,other_config", "list", "Port", UUID,
                "--", "set", "Port", UUID, 'other_config:"k"="v"']]


def test_a_uuid_like_row_that_does_not_exist_is_not_found_and_nothing_is_written(monkeypatch) -> None:
    run = _Answers(b'{"data":[],"headings":["_uuid","name"]}\n')
    monkeypatch.setattr(ovs.proc, "run", run)
    with pytest.raises(NotFound, match="OVS interface 'beef' does not exist"):
        ovs.OvsAdapter(timeout=5).transact([], [OvsKeyChange("Interface", "beef", "other_config", "k", "v")])
    assert len(run.argv) == 1 and "find" in run.argv[0]
