"""One read and one write for all OVN ports of a hook call: the adapter's multi-port read,
write and undo, argv and answers from a table, and the EnsureOvnPort change set over FakeOvn."""

from __future__ import annotations

import json

import pytest

from hooks import actions as A
from hooks.actions.ovn import PORT_KEYS, OvnHandoverSet, OvnPortTransaction
from hooks.adapters import ovn
from hooks.adapters.ovn import PortRow, PortWrite
from hooks.errors import ForeignDevice, HostError
from hooks.executor import Executor
from tests.fakes import FakeLsp
from tests.quality.test_ovn_exact import (
    ADAPTER,
    DHCP,
    MAC,
    NAME,
    NO_ROWS,
    PORT,
    ROW,
    UUID,
    Host,
    Nbctl,
    _port_table,
    _table,
)
from xmltools.errors import InvalidValue

PORT2 = "3f6c2a4e-8a55-4c5e-9a0c-3f1c2b3d4e09"
MAC2 = "52:54:00:00:00:09"
EMPTY = _table(["_uuid", "name"])


def test_read_ports_reads_every_port_and_switch_in_one_run(monkeypatch):
    found = _port_table() + "\n" + json.dumps(PORT)
    dhcp = NO_ROWS.replace("[]", f'[[["uuid", "{DHCP}"]]]')
    nb = Nbctl(monkeypatch, "\n".join([EMPTY, found, dhcp, NO_ROWS]), NAME)
    rows, options = ADAPTER.read_ports([PORT2, PORT.upper(), PORT2], ["ls-web", "ls-db", "ls-web"])
    assert nb.commands(0) == [*ovn.find_port_cmds(PORT2), *ovn.find_port_cmds(PORT),
                              ovn.dhcp_options_cmd("ls-web"), ovn.dhcp_options_cmd("ls-db")]
    assert nb.commands(1) == [ovn.switch_of_port_cmd(ROW)] and len(nb.argvs) == 2
    assert list(rows) == [PORT2, PORT] and rows[PORT2] is None
    assert (rows[PORT].uuid, rows[PORT].switch, rows[PORT].chassis) == (ROW, "ls-web", ["chassis1"])
    assert options == {"ls-web": DHCP, "ls-db": None}


def test_read_ports_without_locating_and_without_ports_found_is_one_run(monkeypatch):
    nb = Nbctl(monkeypatch, _port_table() + "\n" + json.dumps(PORT))
    rows, options = ADAPTER.read_ports([PORT], locate=False)
    assert len(nb.argvs) == 1 and rows[PORT].switch is None and options == {}
    nb = Nbctl(monkeypatch, EMPTY + EMPTY)
    assert ADAPTER.read_ports([PORT, PORT2]) == ({PORT: None, PORT2: None}, {}) and len(nb.argvs) == 1


def test_read_ports_refuses_a_name_that_is_another_rows_uuid_and_odd_output(monkeypatch):
    Nbctl(monkeypatch, EMPTY + json.dumps(PORT2) + EMPTY)
    with pytest.raises(ForeignDevice) as caught:
        ADAPTER.read_ports([PORT, PORT2])
    assert str(caught.value) == (f"look up OVN ports {PORT}, {PORT2}: OVN port '{PORT}' is the row UUID of "
                                 "another port; refusing to touch a device the hook did not create or take")
    for answer in ("[]", EMPTY, json.dumps(PORT)):
        Nbctl(monkeypatch, answer)
        expected = f"^look up OVN ports {PORT}, {PORT2}: unexpected ovn-nbctl output"
        with pytest.raises(HostError, match=expected):
            ADAPTER.read_ports([PORT, PORT2])
    Nbctl(monkeypatch, _table(["_uuid", "name"], [["uuid", ROW], PORT], [["uuid", DHCP], PORT]))
    with pytest.raises(HostError, match=f"^look up OVN port {PORT}: 2 ports have this name$"):
        ADAPTER.read_ports([PORT])


def _write(existing: PortRow | None, name: str = PORT, mac: str = MAC, switch: str = "ls-web") -> PortWrite:
    return PortWrite(existing, switch, name, mac, None, "chassis1", "vm1", mac, DHCP, False)


def test_write_ports_is_one_transaction_and_refuses_before_writing(monkeypatch):
    nb = Nbctl(monkeypatch, "")
    row = PortRow(ROW, "ls-web", ["chassis1"], {})
    assert ADAPTER.write_ports([_write(None), _write(row, PORT2, MAC2)]) == [True, False]
    assert nb.commands() == [*ovn.create_port_cmds("ls-web", PORT, MAC, None, "chassis1", "vm1", MAC, DHCP),
                             *ovn.update_port_cmds(ROW, MAC2, None, "chassis1", "vm1", MAC2, DHCP)]
    nb = Nbctl(monkeypatch, HostError(step="run", detail="x", returncode=1, stderr="ovn-nbctl: no\n"))
    with pytest.raises(HostError) as caught:
        ADAPTER.write_ports([_write(None), _write(None, PORT2, MAC2)])
    assert str(caught.value) == f"set OVN ports {PORT}, {PORT2}: no"
    nb = Nbctl(monkeypatch)
    with pytest.raises(ForeignDevice, match=f"set OVN port {PORT2} on switch ls-web: .* is on switch ls-db"):
        ADAPTER.write_ports([_write(None), _write(PortRow(ROW, "ls-db", ["c1"], {}), PORT2, MAC2)])
    assert nb.argvs == [] and ADAPTER.write_ports([]) == []


def test_undo_writes_deletes_what_it_created_and_restores_the_rest_in_one_run(monkeypatch):
    other = "aaaaaaaa-57d8-4100-b280-a0796eef51b9"
    kept = PortRow(ROW, "ls-web", ["chassis1"], {"virt-netxml-domain": "vm1"},
                   {"requested-chassis": "chassis1"}, [f"{MAC} 10.10.0.20"])
    created = _port_table(_uuid=["uuid", other], name=PORT2) + json.dumps(PORT2)
    nb = Nbctl(monkeypatch, EMPTY + created, "")
    writes = [_write(kept), _write(None, PORT, MAC), _write(None, PORT2, MAC2)]
    ADAPTER.undo_writes(writes, "chassis1", PORT_KEYS)
    assert nb.commands(0) == [*ovn.find_port_cmds(PORT), *ovn.find_port_cmds(PORT2)]
    assert nb.commands(1) == [*ovn.restore_cmds(kept, PORT_KEYS), *ovn.delete_port_cmds(other, "chassis1")]
    assert len(nb.argvs) == 2
    # A created port another chassis took meanwhile: the rest is undone, then it is refused.
    moved = _port_table(options=["map", [["requested-chassis", "chassis2"]]]) + json.dumps(PORT)
    nb = Nbctl(monkeypatch, moved, "")
    with pytest.raises(ForeignDevice, match=f"delete OVN port {PORT}: .* is requested on chassis2, not on"):
        ADAPTER.undo_writes([_write(kept, PORT2, MAC2), _write(None)], "chassis1", PORT_KEYS)
    assert nb.commands(1) == ovn.restore_cmds(kept, PORT_KEYS) and len(nb.argvs) == 2
    nb = Nbctl(monkeypatch, EMPTY)
    ADAPTER.undo_writes([_write(None)], "chassis1", PORT_KEYS)
    assert len(nb.argvs) == 1     # gone already: nothing to write


# --------------------------------------------------------------------------- the change set

def _two(security: bool = False) -> list[A.EnsureOvnPort]:
    return [A.EnsureOvnPort(PORT, "ls-web", MAC, "10.10.0.20", "vm1", UUID, security),
            A.EnsureOvnPort(PORT2, "ls-web", MAC2, None, "vm1", UUID)]


@pytest.fixture
def host(tmp_path):
    h = Host(tmp_path)
    h.ovn.ensure_switch("ls-web", "10.10.0.0/24", True)
    return h


def test_the_ports_of_a_call_are_one_read_and_one_write(host):
    plan = _two()
    result = Executor(host.ctx).run(plan)
    assert result.ok and result.changed == plan
    assert host.ovn.calls_to("read_ports") == [((PORT, PORT2), ("ls-web", "ls-web"))]
    assert host.ovn.calls_to("write_ports") == [((PORT, PORT2),)]
    assert host.ovn.lsps[PORT2].addresses == [f"{MAC2} dynamic"]
    assert host.ovn.lsps[PORT].dhcp == host.ovn.dhcp_rows["ls-web"]
    assert sorted(host.record()["ovn_ports"]) == [PORT, PORT2]
    assert Executor(host.ctx).run(plan).changed == [] and len(host.ovn.calls_to("write_ports")) == 1


def test_a_change_set_undoes_as_one(host):
    plan = _two()
    changed, undo = OvnPortTransaction.of(host.ctx, plan).commit()
    assert changed == plan and undo is not None and undo.step == f"undo OVN ports {PORT}, {PORT2}"
    undo.run()
    assert host.ovn.lsps == {} and "ovn_ports" not in (host.record() or {})
    assert host.ovn.calls_to("undo_writes") == [((PORT, PORT2),)]
    _, undo = OvnPortTransaction.of(host.ctx, plan[:1]).commit()
    assert undo is not None and undo.step == f"delete OVN port {PORT}"


def test_one_foreign_port_stops_the_whole_set_before_any_write(host):
    host.ovn.lsps[PORT2] = FakeLsp(
        "ls-web", [f"{MAC2} dynamic"], {"requested-chassis": "chassis1"}, {"virt-netxml-domain": "vm2"}, None,
        "00000000-0000-4000-8000-0000000000bb")
    plan = _two()
    result = Executor(host.ctx).run(plan)
    assert result.failed is plan[1] and "belongs to domain vm2" in result.error.message
    assert PORT not in host.ovn.lsps and host.ovn.calls_to("write_ports") == [] and not host.record()


def test_a_failed_write_forgets_the_records_it_wrote(host):
    host.ovn.fail_on["write_port"] = HostError(step="set OVN port", detail="NB refused")
    result = Executor(host.ctx).run(_two())
    assert result.error.message == "set OVN port: NB refused" and not host.record()
    assert host.ctx.left_over == []


def test_one_interfaceid_twice_in_a_call_is_refused(host):
    twin = A.EnsureOvnPort(PORT, "ls-web", MAC2, None, "vm1", UUID)
    with pytest.raises(InvalidValue) as caught:
        OvnPortTransaction.of(host.ctx, [_two()[0], twin]).commit()
    assert str(caught.value) == (f"invalid OVN port {PORT!r}: "
                                 "two interfaces of the call share this interfaceid")
    assert host.ovn.calls == [("ensure_switch", "ls-web", "10.10.0.0/24", True)]


def test_the_culprit_is_the_port_the_error_names(host):
    plan = _two()
    batch = OvnPortTransaction.of(host.ctx, plan)
    assert batch.culprit(ForeignDevice(step="s", what="OVN port", name=PORT2, reason="r")) is plan[1]
    assert batch.culprit(InvalidValue(what="OVN port", value=PORT2, reason="r")) is plan[1]
    assert batch.culprit(HostError(step="s", detail="d")) is plan[0]
    assert batch.culprit(RuntimeError("bug")) is plan[0]


# --------------------------------------------------------------------------- release and started

def test_a_release_gives_up_every_port_in_one_read_and_one_transaction(host):
    plan = _two()
    Executor(host.ctx).run(plan)
    release = [A.DeleteOvnPort(PORT, "vm1", UUID), A.DeleteOvnPort(PORT2, "", None)]
    result = Executor(host.ctx).run(release, best_effort=True)
    assert result.ok and result.changed == release and host.ovn.lsps == {}
    assert host.ovn.calls_to("read_ports")[-1] == ((PORT, PORT2), ())
    assert host.ovn.calls_to("hand_over") == [(((PORT, ()), (PORT2, ())),)]
    assert "ovn_ports" not in host.record()


def test_a_release_whose_set_fails_gives_up_port_by_port(host):
    Executor(host.ctx).run(_two())
    host.ovn.lsps[PORT].options["requested-chassis"] = "chassis1,chassis2"
    host.ovn.fail_on["hand_over"] = lambda changes: (
        HostError(step="give up", detail="NB refused") if len(changes) > 1 else None)
    release = [A.DeleteOvnPort(PORT, "vm1", UUID), A.DeleteOvnPort(PORT2, "vm1", UUID)]
    result = Executor(host.ctx).run(release, best_effort=True)
    assert result.ok and result.changed == release
    assert [len(c[0]) for c in host.ovn.calls_to("hand_over")] == [2, 1, 1]
    assert host.ovn.lsps[PORT].options["requested-chassis"] == "chassis2" and PORT2 not in host.ovn.lsps


def test_one_failing_port_of_a_release_leaves_the_others_given_up(host):
    Executor(host.ctx).run(_two())
    host.ovn.fail_on["delete_port"] = lambda name, chassis: (
        HostError(step=f"delete OVN port {name}", detail="NB refused") if name == PORT else None)
    release = [A.DeleteOvnPort(PORT, "vm1", UUID), A.DeleteOvnPort(PORT2, "vm1", UUID)]
    result = Executor(host.ctx).run(release, best_effort=True)
    assert result.failed is release[0] and result.error.message == f"delete OVN port {PORT}: NB refused"
    assert result.changed == [release[1]] and PORT2 not in host.ovn.lsps


def test_a_release_set_undoes_as_one(host):
    Executor(host.ctx).run(_two())
    host.ovn.lsps[PORT].options.update({"requested-chassis": "chassis1,chassis2",
                                        "activation-strategy": "rarp"})
    before = host.ovn.snapshot()
    record = host.record()
    changed, undo = OvnHandoverSet.of(host.ctx, [A.DeleteOvnPort(PORT, "vm1", UUID),
                                                 A.DeleteOvnPort(PORT2, "vm1", UUID)]).commit()
    assert len(changed) == 2 and undo.step == f"take back OVN ports {PORT}, {PORT2}"
    undo.run()
    assert host.ovn.snapshot() == before and host.record() == record
    assert host.ovn.calls_to("take_back") == [((PORT, PORT2),)]


def test_started_settles_every_arrived_port_in_one_transaction(host):
    Executor(host.ctx).run(_two())
    for name in (PORT, PORT2):
        host.ovn.lsps[name].options["requested-chassis"] = "chassis2,chassis1"
    settle = [A.SettleOvnPort(PORT), A.SettleOvnPort(PORT2)]
    result = Executor(host.ctx).run(settle)
    assert result.ok and result.changed == settle
    assert host.ovn.calls_to("hand_over") == [(((PORT, ("chassis1",)), (PORT2, ("chassis1",))),)]
    assert all(p.options["requested-chassis"] == "chassis1" for p in host.ovn.lsps.values())
    assert Executor(host.ctx).run(settle).changed == []


# --------------------------------------------------------------------------- a network port's address

def test_port_created_keeps_the_static_address_prepare_gave_the_port(host):
    prepared = A.EnsureOvnPort(PORT, "ls-web", MAC, "10.10.0.20", "vm1", UUID)
    created = A.EnsureOvnPort(PORT, "ls-web", MAC.upper(), None, "vm1", UUID, keep_address=True)
    Executor(host.ctx).run([prepared])
    assert created.describe().endswith(f"{MAC.upper()} dynamic unless it has a static address, domain vm1, "
                                       "requested on this chassis")
    result = Executor(host.ctx).run([created])
    assert result.ok and result.changed == [] and host.ovn.lsps[PORT].addresses == [f"{MAC} 10.10.0.20"]
    # Without it (or for another MAC, or a dynamic port), the action's own address.
    assert A.EnsureOvnPort(PORT, "ls-web", MAC, None, "vm1", UUID).address_for(host.ovn._row(PORT)) is None
    other = A.EnsureOvnPort(PORT, "ls-web", MAC2, None, "vm1", UUID, keep_address=True)
    assert other.address_for(host.ovn._row(PORT)) is None
    assert created.address_for(None) is None
    assert A.EnsureOvnPort(PORT, "ls-web", MAC, "10.10.0.9", "vm1", UUID, keep_address=True).address_for(
        host.ovn._row(PORT)) == "10.10.0.9"
    host.ovn.lsps[PORT].addresses = [f"{MAC} dynamic"]
    assert created.address_for(host.ovn._row(PORT)) is None
    host.ovn.lsps[PORT].addresses = []
    assert created.address_for(host.ovn._row(PORT)) is None


def test_port_created_on_a_port_with_a_static_address_writes_it_back_when_other_settings_change(host):
    Executor(host.ctx).run([A.EnsureOvnPort(PORT, "ls-web", MAC, "10.10.0.20", "vm1", UUID)])
    host.ovn.lsps[PORT].options["requested-chassis"] = "chassis2"   # a migration arriving
    created = A.EnsureOvnPort(PORT, "ls-web", MAC, None, "vm1", UUID, keep_address=True)
    assert Executor(host.ctx).run([created]).changed == [created]
    assert host.ovn.calls_to("write_port")[-1] == (PORT, "ls-web", MAC, "10.10.0.20",
                                                   ["chassis2", "chassis1"])


# --------------------------------------------------------------------------- exact: give up, take back

def _held(chassis: list[str], uuid: str = ROW, addresses: tuple[str, ...] = (f"{MAC} 10.10.0.20",),
          security: tuple[str, ...] = ()) -> PortRow:
    return PortRow(uuid, "ls-web", chassis, {"virt-netxml-domain": "vm1", "virt-netxml-interface": "vnet0"},
                   {"requested-chassis": ",".join(chassis)}, list(addresses), DHCP, list(security))


def test_hand_over_narrows_and_deletes_in_one_transaction_named_by_its_ports(monkeypatch):
    from hooks.adapters.ovn import Handover

    other = "aaaaaaaa-57d8-4100-b280-a0796eef51b9"
    nb = Nbctl(monkeypatch, "")
    ADAPTER.hand_over([Handover(_held(["chassis1", "chassis2"]), PORT, ["chassis2"]),
                       Handover(_held(["chassis1"], other), PORT2, [])], "chassis1")
    assert nb.commands() == [*ovn.set_chassis_cmds(ROW, ["chassis2"], ["chassis1", "chassis2"]),
                             *ovn.delete_port_cmds(other, "chassis1")]
    refused = HostError(step="run", detail="x", returncode=1, stderr="ovn-nbctl: no\n")
    nb = Nbctl(monkeypatch, refused, refused)
    with pytest.raises(HostError) as caught:
        ADAPTER.hand_over([Handover(_held(["chassis1"]), PORT, []),
                           Handover(_held(["chassis1"], other), PORT2, [])], "chassis1")
    assert str(caught.value) == f"give up OVN ports {PORT}, {PORT2}: no"
    with pytest.raises(HostError) as caught:
        ADAPTER.hand_over([Handover(_held(["chassis1"]), PORT, [])], "chassis1")
    assert str(caught.value) == f"give up OVN port {PORT}: no"
    nb = Nbctl(monkeypatch)
    ADAPTER.hand_over([], "chassis1")
    assert nb.argvs == []


def test_hand_over_refuses_to_delete_what_it_read_held_elsewhere_before_writing(monkeypatch):
    from hooks.adapters.ovn import Handover

    nb = Nbctl(monkeypatch)
    for held, shown in ((["chassis1", "chassis2"], "chassis1,chassis2"), ([], "no chassis")):
        with pytest.raises(ForeignDevice) as caught:
            ADAPTER.hand_over([Handover(_held(["chassis2", "chassis1"]), PORT2, ["chassis2"]),
                               Handover(_held(held), PORT, [])], "chassis1")
        assert str(caught.value) == (
            f"delete OVN port {PORT}: OVN port '{PORT}' is requested on {shown}, not on this chassis "
            "(chassis1) alone; refusing to touch a device the hook did not create or take")
        assert caught.value.fields["name"] == PORT
    assert nb.argvs == []


def test_take_back_widens_again_and_makes_deleted_ports_again_in_one_transaction(monkeypatch):
    from hooks.adapters.ovn import Handover

    other = "aaaaaaaa-57d8-4100-b280-a0796eef51b9"
    made = _held(["chassis1"], other, (f"{MAC2} dynamic",), (MAC2,))
    made.external_ids = {"virt-netxml-domain": "vm2"}
    nb = Nbctl(monkeypatch, "")
    ADAPTER.take_back([Handover(_held(["chassis1", "chassis2"]), PORT, ["chassis2"]),
                       Handover(_held(["chassis1"]), PORT, []), Handover(made, PORT2, [])])
    assert nb.commands() == [
        *ovn.set_chassis_cmds(ROW, ["chassis1", "chassis2"], ["chassis2"]),
        *ovn.create_port_cmds("ls-web", PORT, MAC, "10.10.0.20", ["chassis1"], "vm1", "vnet0", DHCP, False),
        *ovn.create_port_cmds("ls-web", PORT2, MAC2, None, ["chassis1"], "vm2", MAC2, DHCP, True)]
    assert nb.argvs[0][:3] == ["ovn-nbctl", "--db=tcp:192.0.2.10:6641", "--timeout=3"]
    # A port read without a switch cannot be made again: refused before anything runs.
    with pytest.raises(InvalidValue, match="^invalid OVN switch name ''"):
        ADAPTER.take_back([Handover(PortRow(ROW, None, ["chassis1"], {"virt-netxml-domain": "vm1"}, {}, [MAC],
                                            None), PORT, [])])
    assert len(nb.argvs) == 1
    # In either order, every port's commands.
    nb = Nbctl(monkeypatch, "", "")
    changes = [Handover(_held(["chassis1"]), PORT, []), Handover(_held(["chassis1", "c2"]), PORT2, ["c2"])]
    ADAPTER.take_back(changes)
    assert nb.commands() == [
        *ovn.create_port_cmds("ls-web", PORT, MAC, "10.10.0.20", ["chassis1"], "vm1", "vnet0", DHCP, False),
        *ovn.set_chassis_cmds(ROW, ["chassis1", "c2"], ["c2"])]
    ADAPTER.hand_over(changes, "chassis1")
    assert nb.commands() == [*ovn.delete_port_cmds(ROW, "chassis1"),
                             *ovn.set_chassis_cmds(ROW, ["c2"], ["chassis1", "c2"])]
    nb = Nbctl(monkeypatch, HostError(step="run", detail="x", returncode=1, stderr="ovn-nbctl: no\n"))
    with pytest.raises(HostError) as caught:
        ADAPTER.take_back([Handover(_held(["chassis1", "c2"]), PORT, ["c2"]),
                           Handover(_held(["chassis1", "c2"]), PORT2, ["c2"])])
    assert str(caught.value) == f"take back OVN ports {PORT}, {PORT2}: no"
    nb = Nbctl(monkeypatch)
    with pytest.raises(ValueError, match="^the port has no addresses$"):
        ADAPTER.take_back([Handover(_held(["chassis1"], addresses=()), PORT, [])])
    ADAPTER.take_back([])
    assert nb.argvs == []


def test_undo_writes_names_its_ports_and_restores_every_updated_one(monkeypatch):
    second = PortRow("bbbbbbbb-57d8-4100-b280-a0796eef51b9", "ls-web", ["chassis1"], {}, {},
                     [f"{MAC2} dynamic"])
    kept = PortRow(ROW, "ls-web", ["chassis1"], {}, {}, [f"{MAC} 10.10.0.20"])
    nb = Nbctl(monkeypatch, "")
    ADAPTER.undo_writes([_write(kept), _write(second, PORT2, MAC2)], "chassis1", PORT_KEYS)
    assert len(nb.argvs) == 1      # nothing created: no read
    assert nb.commands() == [*ovn.restore_cmds(kept, PORT_KEYS), *ovn.restore_cmds(second, PORT_KEYS)]
    refused = HostError(step="run", detail="x", returncode=1, stderr="ovn-nbctl: no\n")
    Nbctl(monkeypatch, refused, refused)
    with pytest.raises(HostError) as caught:
        ADAPTER.undo_writes([_write(kept), _write(second, PORT2, MAC2)], "chassis1", PORT_KEYS)
    assert str(caught.value) == f"undo the changes to OVN ports {PORT}, {PORT2}: no"
    with pytest.raises(HostError) as caught:
        ADAPTER.undo_writes([_write(kept)], "chassis1", PORT_KEYS)
    assert str(caught.value) == f"undo the changes to OVN port {PORT}: no"


def test_undo_writes_refuses_a_created_port_held_elsewhere_by_name_after_the_rest(monkeypatch):
    mine = _port_table(_uuid=["uuid", DHCP], name=PORT2) + json.dumps(PORT2)
    for held, shown in ((["chassis2", "chassis3"], "chassis2,chassis3"), ([], "no chassis")):
        table = _port_table(options=["map", [["requested-chassis", ",".join(held)]]] if held else ["map", []])
        nb = Nbctl(monkeypatch, table + json.dumps(PORT) + mine, "")
        with pytest.raises(ForeignDevice) as caught:
            ADAPTER.undo_writes([_write(None), _write(None, PORT2, MAC2)], "chassis1", PORT_KEYS)
        assert str(caught.value) == (
            f"delete OVN port {PORT}: OVN port '{PORT}' is requested on {shown}, not on this chassis "
            "(chassis1) alone; refusing to touch a device the hook did not create or take")
        assert caught.value.fields["name"] == PORT
        # The port after the refused one is still deleted.
        assert nb.commands() == ovn.delete_port_cmds(DHCP, "chassis1") and len(nb.argvs) == 2


def test_read_ports_says_what_was_unexpected(monkeypatch):
    Nbctl(monkeypatch, "[]")
    with pytest.raises(HostError) as caught:
        ADAPTER.read_ports([PORT])
    assert str(caught.value) == f"look up OVN port {PORT}: unexpected ovn-nbctl output: expected a table"
    Nbctl(monkeypatch, _port_table() + json.dumps(PORT), "")
    with pytest.raises(HostError) as caught:
        ADAPTER.read_ports([PORT])
    assert str(caught.value) == (f"look up OVN port {PORT}: unexpected ovn-nbctl output: 0 tables for "
                                 "1 ports")


def test_write_ports_keeps_every_ports_commands_in_order(monkeypatch):
    nb = Nbctl(monkeypatch, "")
    row = PortRow(ROW, "ls-web", ["chassis1"], {})
    ADAPTER.write_ports([_write(row, PORT2, MAC2), _write(None)])
    assert nb.commands() == [*ovn.update_port_cmds(ROW, MAC2, None, "chassis1", "vm1", MAC2, DHCP),
                             *ovn.create_port_cmds("ls-web", PORT, MAC, None, "chassis1", "vm1", MAC, DHCP)]
    assert PortWrite(None, "ls-web", PORT, MAC, None, "c1", "vm1", MAC).port_security is False
    assert PortWrite(None, "ls-web", PORT, MAC, None, "c1", "vm1", MAC).dhcp_options is None


def test_the_culprit_of_a_release_is_the_port_the_error_names(host):
    release = [A.DeleteOvnPort(PORT, "vm1"), A.DeleteOvnPort(PORT2, "vm1")]
    batch = OvnHandoverSet.of(host.ctx, release)
    assert batch.culprit(ForeignDevice(step="s", what="OVN port", name=PORT2, reason="r")) is release[1]
    assert batch.culprit(ForeignDevice(step="s", what="OVN port", name="other", reason="r")) is release[0]
    assert batch.culprit(HostError(step="s", detail="d")) is release[0]
    assert batch.culprit(RuntimeError("bug")) is release[0]


def test_a_record_without_its_domain_name_releases_as_the_owner_keeping_the_interface(host):
    action = A.DeleteOvnPort(PORT, "", None, migrated=True, iface="vnet7")
    resolved = action.resolved(host.ctx)
    assert resolved == A.DeleteOvnPort(PORT, "vm1", UUID, migrated=True)
    assert resolved.iface == "vnet7"
    named = A.DeleteOvnPort(PORT, "vm2", None, iface="vnet8")
    assert named.resolved(host.ctx) is named


def test_only_a_deletion_needs_the_ports_address_to_make_it_again(host):
    Executor(host.ctx).run([_two()[0]])
    host.ovn.lsps[PORT].addresses = []
    # Migrated (kept) or narrowed to the other chassis: no address needed.
    migrated = A.DeleteOvnPort(PORT, "vm1", UUID, migrated=True)
    assert migrated.giving(host.ctx, host.ovn._row(PORT), "chassis1").handover is None
    host.ovn.lsps[PORT].options["requested-chassis"] = "chassis1,chassis2"
    narrowed = A.DeleteOvnPort(PORT, "vm1", UUID).giving(host.ctx, host.ovn._row(PORT), "chassis1")
    assert narrowed.handover.keep == ["chassis2"]
    host.ovn.lsps[PORT].options["requested-chassis"] = "chassis1"
    with pytest.raises(ValueError, match="^the port has no addresses$"):
        A.DeleteOvnPort(PORT, "vm1", UUID).giving(host.ctx, host.ovn._row(PORT), "chassis1")


def test_the_address_kept_is_matched_by_mac_whatever_its_case(host):
    mac = "52:54:00:ab:cd:ef"
    Executor(host.ctx).run([A.EnsureOvnPort(PORT, "ls-web", mac, "10.10.0.30", "vm1", UUID)])
    kept = A.EnsureOvnPort(PORT, "ls-web", mac.upper(), None, "vm1", UUID, keep_address=True)
    assert kept.address_for(host.ovn._row(PORT)) == "10.10.0.30"
    host.ovn.lsps[PORT].addresses = [f"{mac.upper()} 10.10.0.30"]
    assert kept.address_for(host.ovn._row(PORT)) == "10.10.0.30"


def test_a_failed_write_puts_back_the_record_entry_it_replaced(host):
    Executor(host.ctx).run([_two()[0]])
    record = host.record()
    host.ovn.fail_on["write_port"] = HostError(step="set OVN port", detail="NB refused")
    moved = A.EnsureOvnPort(PORT, "ls-web", MAC, "10.10.0.99", "vm1", UUID)
    assert not Executor(host.ctx).run([moved]).ok
    assert host.record() == record and record["uuid"] == UUID


def test_a_record_that_cannot_be_put_back_is_named_for_every_port(host, monkeypatch):
    from hooks.actions import ovn as actions_ovn

    real = actions_ovn._set_entry

    def set_entry(ctx, domain, uuid, name, entry):
        if entry is None:
            raise HostError(step="write the state record", detail="disk full")
        real(ctx, domain, uuid, name, entry)

    monkeypatch.setattr(actions_ovn, "_set_entry", set_entry)
    host.ovn.fail_on["write_port"] = HostError(step="set OVN port", detail="NB refused")
    with pytest.raises(HostError, match="NB refused"):
        OvnPortTransaction.of(host.ctx, _two()).commit()
    assert host.ctx.left_over == [
        f"forget OVN ports {PORT}, {PORT2} in the record: write the state record: disk full"]
