"""OVN at its edges, with exact values: what each OVN action writes to the northbound database
and the domain's record, what its undo puts back, when it changes nothing, the one line a
refusal shows; and the adapter's calls (the ovn-nbctl argv it runs, how it reads the answers)
with ``proc.run`` replaced by a table of canned outputs."""

from __future__ import annotations

import json

import pytest

from hooks import actions as A
from hooks.actions.ovn import PORT_KEYS
from hooks.adapters import ovn
from hooks.adapters.ovn import OvnAdapter, OvnConfig, PortRow
from hooks.context import Context, Owner
from hooks.deadline import Deadline
from hooks.errors import ForeignDevice, HostError, HostTimeout, InsecurePath, NotFound
from hooks.planner import ovn as planner_ovn
from hooks.state import StateStore
from tests.fakes import FakeLsp, FakeOvn, with_chassis
from xmltools.errors import InputError, InvalidValue
from xmltools.xmlparse import parse_bytes

PORT = "3f6c2a4e-8a55-4c5e-9a0c-3f1c2b3d4e08"
ROW = "7fc883aa-57d8-4100-b280-a0796eef51b9"
DHCP = "11111111-2222-4333-8444-555555555555"
MAC = "52:54:00:00:00:08"
UUID = "00000000-0000-4000-8000-000000000008"


class Host:
    def __init__(self, tmp_path, system_id: str = "chassis1", owner: str = "vm1") -> None:
        self.ovn = FakeOvn(system_id)
        self.store = StateStore(str(tmp_path / "state"))
        self.ctx = Context(Owner("domain", owner, UUID), self.store, Deadline(30), ovn=self.ovn)

    def record(self, name: str = "vm1"):
        return self.store.read("domains", name)

    def port(self, name: str = PORT) -> FakeLsp:
        return self.ovn.lsps[name]


@pytest.fixture
def host(tmp_path):
    h = Host(tmp_path)
    h.ovn.ensure_switch("ls-web", "10.10.0.0/24", True)
    return h


def _lsp(host: Host, chassis: str, domain: str | None = "vm1", switch: str = "ls-web",
         addresses: tuple[str, ...] = (f"{MAC} 10.10.0.20",), activation: bool = True,
         security: tuple[str, ...] = ()) -> FakeLsp:
    options = {"requested-chassis": chassis}
    if "," in chassis and activation:
        options["activation-strategy"] = "rarp"
    ids = {"virt-netxml-domain": domain, "virt-netxml-interface": MAC} if domain else {"other": "x"}
    lsp = host.ovn.lsps[PORT] = FakeLsp(switch, list(addresses), options, ids, host.ovn.dhcp_rows.get(switch),
                                        "00000000-0000-4000-8000-0000000000aa", list(security))
    return lsp


def _ensure(address: str | None = "10.10.0.20", domain: str = "vm1",
            security: bool = False) -> A.EnsureOvnPort:
    return A.EnsureOvnPort(PORT, "ls-web", MAC, address, domain, UUID, security)


# --------------------------------------------------------------------------- EnsureOvnSwitch


def test_a_new_switch_is_created_with_its_subnet_and_dhcp_and_its_undo_deletes_it(tmp_path):
    host = Host(tmp_path)
    undo = A.EnsureOvnSwitch("ls-web", "10.10.0.0/24", True).apply(host.ctx)
    assert host.ovn.calls_to("ensure_switch") == [("ls-web", "10.10.0.0/24", True)]
    assert host.ovn.snapshot()["switches"] == {"ls-web": {"subnet": "10.10.0.0/24", "dhcp": True}}
    assert undo is not None and undo.step == "delete OVN switch ls-web"
    undo.run()
    assert host.ovn.calls_to("delete_switch") == [("ls-web",)]
    assert host.ovn.switches == {} and host.ovn.dhcp_rows == {}


def test_an_existing_switch_is_left_as_it_is_and_nothing_is_undone(host):
    assert A.EnsureOvnSwitch("ls-web", "10.20.0.0/24", False).apply(host.ctx) is None
    assert host.ovn.snapshot()["switches"] == {"ls-web": {"subnet": "10.10.0.0/24", "dhcp": True}}
    assert host.ovn.calls_to("delete_switch") == []


def test_the_switch_plan_line_names_subnet_and_dhcp_only_when_given():
    assert A.EnsureOvnSwitch("ls-web", "10.10.0.0/24", True).describe() == (
        "OVN switch ls-web exists (created subnet 10.10.0.0/24 with DHCP if missing)")
    assert A.EnsureOvnSwitch("ls-web").describe() == "OVN switch ls-web exists (created if missing)"
    assert A.EnsureOvnSwitch("ls-web").subnet is None and A.EnsureOvnSwitch("ls-web").dhcp is False


# --------------------------------------------------------------------------- EnsureOvnPort


def test_a_new_port_gets_the_guests_mac_address_chassis_tags_and_dhcp_and_is_recorded_first(host):
    undo = _ensure().apply(host.ctx)
    lsp = host.port()
    assert (lsp.switch, lsp.addresses, lsp.options, lsp.external_ids, lsp.dhcp, lsp.port_security) == (
        "ls-web", [f"{MAC} 10.10.0.20"], {"requested-chassis": "chassis1"},
        {"virt-netxml-domain": "vm1", "virt-netxml-interface": MAC}, host.ovn.dhcp_rows["ls-web"], [])
    assert host.ovn.calls_to("write_port") == [(PORT, "ls-web", MAC, "10.10.0.20", ["chassis1"])]
    assert host.record() == {"name": "vm1", "uuid": UUID,
                             "ovn_ports": {PORT: {"switch": "ls-web", "mac": MAC, "created": True}}}
    assert undo is not None and undo.step == f"delete OVN port {PORT}"
    undo.run()
    assert host.ovn.lsps == {}
    assert host.ovn.calls_to("delete_port") == [(PORT, "chassis1")]
    assert host.record() == {}


def test_a_port_without_an_address_asks_ovn_for_a_dynamic_one(host):
    _ensure(None).apply(host.ctx)
    assert host.port().addresses == [f"{MAC} dynamic"]


def test_ensuring_the_same_port_again_changes_nothing(host):
    _ensure().apply(host.ctx)
    calls = len(host.ovn.calls_to("write_port"))
    assert _ensure().apply(host.ctx) is None
    assert len(host.ovn.calls_to("write_port")) == calls
    assert host.record()["ovn_ports"][PORT]["created"] is True


def test_ensuring_the_same_port_with_port_security_again_changes_nothing(host):
    _ensure(security=True).apply(host.ctx)
    assert host.port().port_security == [f"{MAC} 10.10.0.20"]
    assert _ensure(security=True).apply(host.ctx) is None


def test_a_port_without_the_port_security_asked_for_is_written_again(host):
    _ensure().apply(host.ctx)
    undo = _ensure(security=True).apply(host.ctx)
    assert undo is not None and undo.step == f"restore OVN port {PORT}"
    assert host.port().port_security == [f"{MAC} 10.10.0.20"]


@pytest.mark.parametrize("change", ["addresses", "dhcp", "interface", "switch-record", "record"])
def test_a_port_that_differs_in_one_thing_is_written_again(host, change):
    _ensure().apply(host.ctx)
    lsp = host.port()
    if change == "addresses":
        lsp.addresses = [f"{MAC} 10.10.0.21"]
    elif change == "dhcp":
        lsp.dhcp = None
    elif change == "interface":
        lsp.external_ids["virt-netxml-interface"] = "vnet0"
    elif change == "switch-record":
        with host.store.edit("domains", "vm1") as rec:
            rec["ovn_ports"][PORT]["switch"] = "ls-old"
    else:
        with host.store.edit("domains", "vm1") as rec:
            del rec["ovn_ports"]
    undo = _ensure().apply(host.ctx)
    assert undo is not None and undo.step == f"restore OVN port {PORT}"
    assert (lsp.addresses, lsp.dhcp, lsp.external_ids["virt-netxml-interface"]) == (
        [f"{MAC} 10.10.0.20"], host.ovn.dhcp_rows["ls-web"], MAC)
    # Written again over a port this call found: created stays what the record said before.
    assert host.record()["ovn_ports"][PORT] == {"switch": "ls-web", "mac": MAC,
                                                "created": change != "record"}


def test_a_migrations_pair_without_rarp_activation_is_written_again(host):
    _lsp(host, "chassis2,chassis1", activation=False)
    with host.store.edit("domains", "vm1") as rec:
        rec["ovn_ports"] = {PORT: {"switch": "ls-web", "mac": MAC, "created": False, "arriving": True}}
    assert _ensure().apply(host.ctx) is not None
    assert host.port().options == {"requested-chassis": "chassis2,chassis1", "activation-strategy": "rarp"}
    assert _ensure().apply(host.ctx) is None


def test_an_arriving_port_is_requested_on_both_chassis_and_noted_as_arriving(host):
    _lsp(host, "chassis2")
    undo = _ensure().apply(host.ctx)
    assert host.port().options == {"requested-chassis": "chassis2,chassis1", "activation-strategy": "rarp"}
    assert host.record()["ovn_ports"] == {PORT: {"switch": "ls-web", "mac": MAC, "created": False,
                                                 "arriving": True}}
    assert undo is not None
    undo.run()
    assert host.port().options == {"requested-chassis": "chassis2"}
    assert host.ovn.calls_to("restore_port") == [(PORT,)]
    assert host.record() == {}


def test_the_chassis_a_port_is_requested_on():
    action = _ensure()
    row = lambda *chassis: PortRow(ROW, "ls-web", list(chassis), {})  # noqa: E731
    assert action.chassis(None, "me") == ["me"]
    assert action.chassis(row(), "me") == ["me"]
    assert action.chassis(row("me"), "me") == ["me"]
    assert action.chassis(row("src", "me"), "me") == ["src", "me"]
    assert action.chassis(row("src"), "me") == ["src", "me"]
    with pytest.raises(ForeignDevice) as caught:
        action.chassis(row("c2", "c3"), "me")
    assert str(caught.value) == (
        f"set OVN port {PORT}: OVN port '{PORT}' is requested on c2,c3 (migrating between two other "
        "chassis); refusing to touch a device the hook did not create or take")


def test_a_port_of_another_domain_is_refused_naming_it_and_left_untouched(host):
    lsp = _lsp(host, "chassis1", domain="vm2")
    with pytest.raises(ForeignDevice) as caught:
        _ensure().apply(host.ctx)
    assert str(caught.value) == (f"set OVN port {PORT}: OVN port '{PORT}' belongs to domain vm2; refusing "
                                 "to touch a device the hook did not create or take")
    assert lsp.external_ids == {"virt-netxml-domain": "vm2", "virt-netxml-interface": MAC}
    assert host.ovn.calls_to("write_port") == [] and host.record() == {}


def test_a_port_the_hooks_did_not_make_is_refused(host):
    _lsp(host, "chassis1", domain=None)
    with pytest.raises(ForeignDevice, match=f"'{PORT}' was not made by the hooks; refusing"):
        _ensure().apply(host.ctx)


def test_a_failed_write_puts_the_record_back_as_it_was(host):
    with host.store.edit("domains", "vm1") as rec:
        rec["ovn_ports"] = {"other": {"switch": "ls-web", "mac": "52:54:00:00:00:09", "created": True}}
    host.ovn.fail_on["write_port"] = HostError(step="set OVN port", detail="NB refused")
    with pytest.raises(HostError, match="NB refused"):
        _ensure().apply(host.ctx)
    assert host.record()["ovn_ports"] == {"other": {"switch": "ls-web", "mac": "52:54:00:00:00:09",
                                                    "created": True}}
    assert host.ctx.left_over == []


def test_a_port_on_a_missing_switch_fails_and_leaves_no_record(tmp_path):
    host = Host(tmp_path)
    with pytest.raises(NotFound):
        _ensure().apply(host.ctx)
    assert "ovn_ports" not in (host.record() or {})


def test_the_port_plan_line():
    assert _ensure().describe() == (f"OVN port {PORT} on switch ls-web: {MAC} 10.10.0.20, domain vm1, "
                                    "requested on this chassis")
    assert _ensure(None, security=True).describe() == (
        f"OVN port {PORT} on switch ls-web: {MAC} dynamic, port security, domain vm1, "
        "requested on this chassis")
    action = A.EnsureOvnPort(PORT, "ls-web", MAC, None, "vm1")
    assert action.domain_uuid is None and action.port_security is False


# --------------------------------------------------------------------------- DeleteOvnPort


def _recorded(host: Host, **extra) -> dict:
    entry = {"switch": "ls-web", "mac": MAC, "created": True, **extra}
    with host.store.edit("domains", "vm1") as rec:
        rec.update(name="vm1", uuid=UUID)
        rec["ovn_ports"] = {PORT: dict(entry)}
    return entry


def test_a_port_this_chassis_alone_holds_is_deleted_and_its_undo_makes_it_again(host):
    lsp = _lsp(host, "chassis1", security=(f"{MAC} 10.10.0.20",))
    before = host.ovn.snapshot()
    _recorded(host)
    undo = A.DeleteOvnPort(PORT, "vm1", UUID).apply(host.ctx)
    assert host.ovn.lsps == {} and host.ovn.calls_to("delete_port") == [(PORT, "chassis1")]
    assert host.record() == {}
    assert undo is not None and undo.step == f"create OVN port {PORT} again"
    undo.run()
    assert host.ovn.snapshot() == before
    assert host.ovn.calls_to("write_port") == [(PORT, "ls-web", MAC, "10.10.0.20", ["chassis1"])]
    assert lsp is not host.port()
    assert host.record()["ovn_ports"] == {PORT: {"switch": "ls-web", "mac": MAC, "created": True}}


def test_a_deleted_dynamic_port_comes_back_dynamic_with_its_interface_tag(host):
    _lsp(host, "chassis1", addresses=(f"{MAC} dynamic",))
    host.port().external_ids["virt-netxml-interface"] = "vnet7"
    undo = A.DeleteOvnPort(PORT, "vm1", UUID).apply(host.ctx)
    assert undo is not None
    undo.run()
    assert host.port().addresses == [f"{MAC} dynamic"]
    assert host.port().external_ids == {"virt-netxml-domain": "vm1", "virt-netxml-interface": "vnet7"}


def test_a_deleted_port_without_an_interface_tag_comes_back_tagged_with_its_mac(host):
    _lsp(host, "chassis1")
    del host.port().external_ids["virt-netxml-interface"]
    undo = A.DeleteOvnPort(PORT, "vm1").apply(host.ctx)
    assert undo is not None
    undo.run()
    assert host.port().external_ids["virt-netxml-interface"] == MAC


def test_a_port_without_addresses_cannot_be_made_again():
    with pytest.raises(ValueError, match="^the port has no addresses$"):
        ovn.split_address([])


def test_a_migrating_port_is_narrowed_to_the_other_chassis_and_the_undo_widens_it_again(host):
    _lsp(host, "chassis1,chassis2")
    entry = _recorded(host)
    undo = A.DeleteOvnPort(PORT, "vm1", UUID).apply(host.ctx)
    assert host.port().options == {"requested-chassis": "chassis2"}
    assert host.ovn.calls_to("set_port_chassis") == [(PORT, ("chassis2",))]
    assert host.ovn.calls_to("delete_port") == []
    assert host.record() == {}
    assert undo is not None and undo.step == f"request OVN port {PORT} on chassis1,chassis2 again"
    undo.run()
    assert host.port().options == {"requested-chassis": "chassis1,chassis2", "activation-strategy": "rarp"}
    assert host.record()["ovn_ports"] == {PORT: entry}


def test_a_migrated_guests_port_is_never_deleted_only_its_record_goes(host):
    _lsp(host, "chassis1")
    entry = _recorded(host)
    undo = A.DeleteOvnPort(PORT, "vm1", UUID, migrated=True).apply(host.ctx)
    assert PORT in host.ovn.lsps and host.ovn.calls_to("delete_port") == []
    assert host.record() == {}
    assert undo is not None and undo.step == f"record OVN port {PORT} again"
    undo.run()
    assert host.record()["ovn_ports"] == {PORT: entry} and PORT in host.ovn.lsps


def test_a_migrated_guests_unrecorded_port_changes_nothing(host):
    _lsp(host, "chassis1")
    assert A.DeleteOvnPort(PORT, "vm1", migrated=True).apply(host.ctx) is None
    assert host.ovn.calls_to("set_port_chassis") == []


@pytest.mark.parametrize("case", ["gone", "other-domain", "other-chassis"])
def test_a_port_that_is_not_ours_here_loses_only_its_record(host, case):
    if case == "other-domain":
        _lsp(host, "chassis1", domain="vm2")
    elif case == "other-chassis":
        _lsp(host, "chassis2")
    before = host.ovn.snapshot()
    entry = _recorded(host)
    undo = A.DeleteOvnPort(PORT, "vm1", UUID).apply(host.ctx)
    assert host.ovn.snapshot() == before
    assert host.record() == {}
    assert undo is not None and undo.step == f"record OVN port {PORT} again"
    undo.run()
    assert host.record() == {"name": "vm1", "uuid": UUID, "ovn_ports": {PORT: entry}}
    # Without a record there is nothing to do at all.
    with host.store.edit("domains", "vm1") as rec:
        rec.pop("ovn_ports")
    assert A.DeleteOvnPort(PORT, "vm1", UUID).apply(host.ctx) is None


def test_a_port_planned_from_a_record_without_its_domain_is_the_owners(host):
    _lsp(host, "chassis1")
    _recorded(host)
    undo = A.DeleteOvnPort(PORT, "").apply(host.ctx)
    assert host.ovn.lsps == {} and host.record() == {}
    assert undo is not None and undo.step == f"create OVN port {PORT} again"


def test_a_port_planned_without_its_domain_at_a_migration_stays(host):
    _lsp(host, "chassis1")
    _recorded(host)
    undo = A.DeleteOvnPort(PORT, "", migrated=True).apply(host.ctx)
    assert PORT in host.ovn.lsps and undo is not None


def test_the_give_up_plan_line():
    assert A.DeleteOvnPort(PORT, "vm1").describe() == (
        f"give up OVN port {PORT} (deleted when this chassis alone holds it)")
    assert A.DeleteOvnPort(PORT, "vm1", migrated=True).describe() == (
        f"give up OVN port {PORT} (deleted when this chassis alone holds it; "
        "the guest migrated: never deleted)")
    assert A.DeleteOvnPort(PORT, "vm1").migrated is False and A.DeleteOvnPort(PORT, "vm1").domain_uuid is None


# --------------------------------------------------------------------------- SettleOvnPort


def test_an_arrived_port_is_settled_on_this_chassis_alone_and_the_undo_puts_the_pair_back(host):
    _lsp(host, "chassis2,chassis1")
    undo = A.SettleOvnPort(PORT).apply(host.ctx)
    assert host.port().options == {"requested-chassis": "chassis1"}
    assert host.ovn.calls_to("set_port_chassis") == [(PORT, ("chassis1",))]
    assert undo is not None and undo.step == f"request OVN port {PORT} on chassis2,chassis1 again"
    undo.run()
    assert host.port().options == {"requested-chassis": "chassis2,chassis1", "activation-strategy": "rarp"}


@pytest.mark.parametrize("case", ["gone", "settled", "elsewhere", "other-domain"])
def test_settling_leaves_alone_a_port_that_is_not_arriving_here(host, case):
    if case == "settled":
        _lsp(host, "chassis1")
    elif case == "elsewhere":
        _lsp(host, "chassis2,chassis3")
    elif case == "other-domain":
        _lsp(host, "chassis2,chassis1", domain="vm2")
    assert A.SettleOvnPort(PORT).apply(host.ctx) is None
    assert host.ovn.calls_to("set_port_chassis") == []


def test_the_settle_plan_line():
    assert A.SettleOvnPort(PORT).describe() == (
        f"request OVN port {PORT} on this chassis alone (the guest runs here)")


# --------------------------------------------------------------------------- the adapter's calls


class Nbctl:
    """``proc.run`` for the adapter: each call's argv recorded, answers taken in order."""

    def __init__(self, monkeypatch, *answers) -> None:
        self.argvs: list[list[str]] = []
        self.timeouts: list[float] = []
        self.answers = list(answers)
        monkeypatch.setattr(ovn.proc, "run", self)

    def __call__(self, argv, timeout, input=None):
        self.argvs.append(list(argv))
        self.timeouts.append(timeout)
        answer = self.answers.pop(0) if self.answers else ""
        if isinstance(answer, BaseException):
            raise answer
        return ovn.proc.Completed(argv, 0, answer.encode(), b"")

    def commands(self, index: int = -1) -> list[list[str]]:
        """The ``--``-separated commands of one argv."""
        out: list[list[str]] = []
        for word in self.argvs[index]:
            if word == "--":
                out.append([])
            elif out:
                out[-1].append(word)
        return out


def _table(headings, *data) -> str:
    return json.dumps({"headings": headings, "data": [list(r) for r in data]})


def _port_table(**row) -> str:
    values = {"_uuid": ["uuid", ROW], "name": PORT, "options": ["map", [["requested-chassis", "chassis1"]]],
              "external_ids": ["map", [["virt-netxml-domain", "vm1"]]], "addresses": f"{MAC} 10.10.0.20",
              "dhcpv4_options": ["set", []], "port_security": ["set", []], **row}
    return _table(list(values), list(values.values()))


ADAPTER = OvnAdapter(OvnConfig("tcp:192.0.2.10:6641"), timeout=2.5)
NAME = _table(["name"], ["ls-web"])
NO_ROWS = _table(["_uuid"])


def test_find_port_reads_the_row_its_switch_and_its_settings(monkeypatch):
    nb = Nbctl(monkeypatch, _port_table(dhcpv4_options=["uuid", DHCP], port_security=f"{MAC} 10.10.0.20")
                            + "\n" + json.dumps(PORT) + "\n", NAME)
    row = ADAPTER.find_port(PORT.upper())
    assert nb.argvs[0][:4] == ["ovn-nbctl", "--db=tcp:192.0.2.10:6641", "--timeout=3", "--format=json"]
    assert nb.commands(0) == ovn.find_port_cmds(PORT)
    assert nb.commands(1) == [ovn.switch_of_port_cmd(ROW)]
    assert nb.timeouts == [2.5 + ovn.WALL_MARGIN] * 2
    assert row is not None
    assert (row.uuid, row.switch, row.chassis, row.external_ids, row.options, row.addresses,
            row.dhcp_options, row.port_security) == (
        ROW, "ls-web", ["chassis1"], {"virt-netxml-domain": "vm1"}, {"requested-chassis": "chassis1"},
        [f"{MAC} 10.10.0.20"], DHCP, [f"{MAC} 10.10.0.20"])


def test_find_port_of_a_port_with_sets_and_no_switch(monkeypatch):
    Nbctl(monkeypatch, _port_table(addresses=["set", [f"{MAC} dynamic", "router"]], options=["map", []],
                                   external_ids=["map", []], port_security=["set", ["a", "b"]]),
          _table(["name"]))
    row = ADAPTER.find_port(PORT)
    assert row is not None
    assert (row.switch, row.chassis, row.addresses, row.dhcp_options, row.port_security) == (
        None, [], [f"{MAC} dynamic", "router"], None, ["a", "b"])


def test_find_port_of_no_port_reads_once_and_is_none(monkeypatch):
    nb = Nbctl(monkeypatch, _table(["_uuid", "name"]))
    assert ADAPTER.find_port(PORT) is None
    assert len(nb.argvs) == 1


def test_a_port_name_that_is_another_ports_row_uuid_is_refused(monkeypatch):
    Nbctl(monkeypatch, _table(["_uuid", "name"]) + json.dumps("someone-else"))
    with pytest.raises(ForeignDevice) as caught:
        ADAPTER.find_port(PORT)
    assert str(caught.value) == (f"look up OVN port {PORT}: OVN port '{PORT}' is the row UUID of another "
                                 "port; refusing to touch a device the hook did not create or take")


def test_two_ports_of_one_name_are_an_error(monkeypatch):
    Nbctl(monkeypatch, _table(["_uuid"], [["uuid", ROW]], [["uuid", DHCP]]))
    with pytest.raises(HostError) as caught:
        ADAPTER.find_port(PORT)
    assert str(caught.value) == f"look up OVN port {PORT}: 2 ports have this name"


@pytest.mark.parametrize("output", ["{not json", json.dumps({"data": []})])
def test_output_ovn_nbctl_should_not_print_is_one_line(monkeypatch, output):
    Nbctl(monkeypatch, output)
    with pytest.raises(HostError, match=f"^look up OVN port {PORT}: unexpected ovn-nbctl output: "):
        ADAPTER.find_port(PORT)


def test_ensure_switch_creates_and_an_existing_one_is_false(monkeypatch):
    nb = Nbctl(monkeypatch, "")
    assert ADAPTER.ensure_switch("ls-web", "10.10.0.0/24", True) is True
    assert nb.commands() == ovn.create_switch_cmds("ls-web", "10.10.0.0/24", True)
    assert "--format=json" not in nb.argvs[0]
    exists = HostError(step="run ovn-nbctl", detail="x", returncode=1,
                       stderr="ovn-nbctl: ls-web: a switch with this name already exists\n")
    Nbctl(monkeypatch, exists)
    assert ADAPTER.ensure_switch("ls-web") is False
    other = HostError(step="run ovn-nbctl", detail="x", returncode=1, stderr="ovn-nbctl: permission denied\n")
    Nbctl(monkeypatch, other)
    with pytest.raises(HostError) as caught:
        ADAPTER.ensure_switch("ls-web")
    assert str(caught.value) == "create OVN switch ls-web: permission denied"


def test_dhcp_options_is_the_first_row_tagged_with_the_switch(monkeypatch):
    nb = Nbctl(monkeypatch, _table(["_uuid"], [["uuid", DHCP]], [["uuid", ROW]]))
    assert ADAPTER.dhcp_options("ls-web") == DHCP
    assert nb.commands() == [ovn.dhcp_options_cmd("ls-web")]
    Nbctl(monkeypatch, NO_ROWS)
    assert ADAPTER.dhcp_options("ls-web") is None


def test_write_port_creates_a_new_port_and_updates_one_by_its_row(monkeypatch):
    nb = Nbctl(monkeypatch, "", "")
    assert ADAPTER.write_port(None, "ls-web", PORT, MAC, None, "chassis1", "vm1", MAC, DHCP, True) is True
    assert nb.commands(0) == ovn.create_port_cmds("ls-web", PORT, MAC, None, "chassis1", "vm1", MAC, DHCP,
                                                  True)
    row = PortRow(ROW, "ls-web", ["chassis2"], {})
    pair = ["chassis2", "chassis1"]
    assert ADAPTER.write_port(row, "ls-web", PORT, MAC, "10.10.0.20", pair, "vm1", MAC) is False
    assert nb.commands(1) == ovn.update_port_cmds(ROW, MAC, "10.10.0.20", pair, "vm1", MAC)


def test_write_port_refuses_a_port_on_another_switch(monkeypatch):
    nb = Nbctl(monkeypatch)
    for switch, shown in (("ls-db", "ls-db"), (None, "(none)")):
        with pytest.raises(ForeignDevice) as caught:
            ADAPTER.write_port(PortRow(ROW, switch, ["chassis1"], {}), "ls-web", PORT, MAC, None, "chassis1",
                               "vm1", MAC)
        assert str(caught.value) == (f"set OVN port {PORT} on switch ls-web: OVN port '{PORT}' is on switch "
                                     f"{shown}; refusing to touch a device the hook did not create or take")
    assert nb.argvs == []


def test_ensure_port_reads_then_writes(monkeypatch):
    nb = Nbctl(monkeypatch, _table(["_uuid", "name"]), "")
    assert ADAPTER.ensure_port("ls-web", PORT, MAC, None, "chassis1", "vm1", MAC, None, True) is True
    assert nb.commands(1) == ovn.create_port_cmds("ls-web", PORT, MAC, None, "chassis1", "vm1", MAC, None,
                                                  True)


def test_delete_port_deletes_only_a_port_this_chassis_alone_holds(monkeypatch):
    nb = Nbctl(monkeypatch, _table(["_uuid", "name"]))
    assert ADAPTER.delete_port(PORT, "chassis1") is False
    assert len(nb.argvs) == 1
    nb = Nbctl(monkeypatch, _port_table(), NAME, "")
    assert ADAPTER.delete_port(PORT, "chassis1") is True
    assert nb.commands() == ovn.delete_port_cmds(ROW, "chassis1")
    for held, shown in (("chassis1,chassis2", "chassis1,chassis2"), ("", "no chassis")):
        nb = Nbctl(monkeypatch, _port_table(options=["map", [["requested-chassis", held]]]), NAME)
        with pytest.raises(ForeignDevice) as caught:
            ADAPTER.delete_port(PORT, "chassis1")
        assert str(caught.value) == (
            f"delete OVN port {PORT}: OVN port '{PORT}' is requested on {shown}, not on this chassis "
            "(chassis1) alone; refusing to touch a device the hook did not create or take")
        assert len(nb.argvs) == 2


def test_set_port_chassis_and_restore_port_and_delete_switch_argv(monkeypatch):
    nb = Nbctl(monkeypatch, "", "", NO_ROWS.replace("[]", f'[[["uuid", "{DHCP}"]]]'), "")
    row = PortRow(ROW, "ls-web", ["chassis2"], {"virt-netxml-domain": "vm1", "other": "x"},
                  {"requested-chassis": "chassis2", "x": "y"}, [f"{MAC} dynamic"], DHCP, [MAC])
    ADAPTER.set_port_chassis(row, PORT, ["chassis2", "chassis1"])
    assert nb.commands(0) == ovn.set_chassis_cmds(ROW, ["chassis2", "chassis1"], ["chassis2"])
    ADAPTER.restore_port(row, PORT, PORT_KEYS)
    assert nb.commands(1) == ovn.restore_port_cmds(
        ROW, [f"{MAC} dynamic"], {"requested-chassis": "chassis2", "activation-strategy": None},
        {"virt-netxml-domain": "vm1", "virt-netxml-interface": None}, DHCP, [MAC])
    ADAPTER.delete_switch("ls-web")
    assert nb.commands(2) == [ovn.dhcp_options_cmd("ls-web")]
    assert nb.commands(3) == ovn.delete_switch_cmds("ls-web", [DHCP])


def test_a_failed_write_names_its_step(monkeypatch):
    refused = HostError(step="run ovn-nbctl", detail="x", returncode=1, stderr="ovn-nbctl: some reason\n")
    for call, step in ((lambda: ADAPTER.set_port_chassis(PortRow(ROW, "ls", ["c1"], {}), PORT, ["c2"]),
                        f"set the chassis of OVN port {PORT}"),
                       (lambda: ADAPTER.restore_port(PortRow(ROW, "ls", ["c1"], {}), PORT, ()),
                        f"restore OVN port {PORT}"),
                       (lambda: ADAPTER.probe(), "read the OVN northbound database"),
                       (lambda: ADAPTER.delete_switch("ls-web"), "delete OVN switch ls-web"),
                       (lambda: ADAPTER.write_port(None, "ls-web", PORT, MAC, None, "c1", "vm1", MAC),
                        f"set OVN port {PORT} on switch ls-web")):
        Nbctl(monkeypatch, refused)
        with pytest.raises(HostError) as caught:
            call()
        assert str(caught.value) == f"{step}: some reason"


def test_probe_reads_nb_global(monkeypatch):
    nb = Nbctl(monkeypatch, "")
    ADAPTER.probe()
    assert nb.argvs == [["ovn-nbctl", "--db=tcp:192.0.2.10:6641", "--timeout=3", "--", *ovn.probe_cmd()]]


@pytest.mark.parametrize("out", ['"chassis-7"\n', "chassis-7\n"])
def test_system_id_is_read_from_the_local_ovs(monkeypatch, out):
    nb = Nbctl(monkeypatch, out)
    adapter = OvnAdapter(OvnConfig("tcp:192.0.2.10:6641"), "/run/ovs.sock", timeout=2.5)
    assert adapter.system_id() == "chassis-7"
    assert nb.argvs[0][0] == "ovs-vsctl" and "--db=unix:/run/ovs.sock" in nb.argvs[0]
    assert nb.argvs[0][-4:] == ovn.system_id_cmd() and nb.timeouts == [2.5 + ovn.WALL_MARGIN]


def test_system_id_missing_or_unreadable_is_one_line(monkeypatch):
    Nbctl(monkeypatch, HostError(step="run ovs-vsctl", detail="x", returncode=1,
                                 stderr='ovs-vsctl: no key "system-id" in Open_vSwitch record "." column '
                                        "external_ids\n"))
    with pytest.raises(NotFound) as caught:
        ADAPTER.system_id()
    assert str(caught.value) == ("read this host's OVS system-id: OVS external_ids key 'system-id' "
                                 "does not exist")
    Nbctl(monkeypatch, HostError(step="run ovs-vsctl", detail="database connection failed", returncode=1,
                                 stderr="ovs-vsctl: database connection failed\n"))
    with pytest.raises(HostError) as caught:
        ADAPTER.system_id()
    assert str(caught.value) == "read this host's OVS system-id: database connection failed"
    Nbctl(monkeypatch, '"bad name"')
    with pytest.raises(InvalidValue, match="OVN chassis name"):
        ADAPTER.system_id()


def test_an_nb_that_times_out_is_named(monkeypatch):
    Nbctl(monkeypatch, HostTimeout(step="run ovn-nbctl", seconds=4.5))
    with pytest.raises(HostTimeout) as caught:
        ADAPTER.probe()
    assert str(caught.value) == ("read the OVN northbound database (OVN northbound database "
                                 "tcp:192.0.2.10:6641): timed out after 2.5s")


# --------------------------------------------------------------------------- classify_error, config


def test_an_unreachable_nb_without_an_errno_text_drops_the_empty_parentheses():
    error = HostError(step="s", detail="x", returncode=1,
                      stderr="ovn-nbctl: tcp:192.0.2.10:6641: database connection failed ()\n")
    assert str(ovn.classify_error("read", error, 2.0, "tcp:192.0.2.10:6641")) == (
        "read: OVN northbound database tcp:192.0.2.10:6641 unreachable: tcp:192.0.2.10:6641: "
        "database connection failed")


def test_a_failure_whose_stderr_has_no_nbctl_line_shows_the_first_line():
    error = HostError(step="s", detail="first line", returncode=1, stderr="something else\n")
    assert str(ovn.classify_error("write", error, 2.0, "n")) == "write: first line"
    error = HostError(step="s", detail="only detail", returncode=1)
    assert str(ovn.classify_error("write", error, 2.0, "n")) == "write: only detail"
    found = ovn.classify_error("write", HostError(step="s", detail="x", returncode=1,
                               stderr='ovn-nbctl: no row "ls-web" in table Logical_Switch\n'), 2.0, "n")
    assert str(found) == "write: OVN Logical_Switch row 'ls-web' does not exist"


def test_a_program_that_never_ran_is_named():
    error = HostError(step="run ovn-nbctl", detail="Permission denied")
    assert str(ovn.classify_error("read", error, 2.0, "n")) == "read: cannot run ovn-nbctl: Permission denied"


def test_ovn_conf_parsing_at_its_edges():
    assert ovn.parse_ovn_config("nb = tcp:a:65535\n", "f").nb == "tcp:a:65535"
    assert ovn.parse_ovn_config("nb = tcp:a:1\n", "f").nb == "tcp:a:1"
    assert ovn.parse_ovn_config("nb=tcp:a:1 , unix:/run/nb.sock\n", "f").nb == "tcp:a:1,unix:/run/nb.sock"
    config = ovn.parse_ovn_config("nb = tcp:a:1\n", "/etc/x/ovn.conf")
    assert config.source == "/etc/x/ovn.conf"
    assert (config.ssl_key, config.ssl_cert, config.ssl_ca) == (None,) * 3
    assert not config.ssl()
    with pytest.raises(InputError) as caught:
        ovn.parse_ovn_config("nb = tcp:a:1\n\nnb = tcp:b:1 # again\n", "f")
    assert str(caught.value) == "f:3: 'nb' is set twice"
    with pytest.raises(InputError) as caught:
        ovn.parse_ovn_config("  = x\n", "f")
    assert str(caught.value) == "f:1: expected 'key = value'"
    with pytest.raises(InputError) as caught:
        ovn.parse_ovn_config("nb = tcp:a:1\nssl-ca = /a\x01b\n", "f")
    assert str(caught.value) == "f:2: ssl-ca must be an absolute path"
    with pytest.raises(InputError) as caught:
        ovn.parse_ovn_config("nb = tcp:a:1\nport = 1\n", "f")
    assert str(caught.value) == "f:2: unknown key 'port' (known: nb, ssl-key, ssl-cert, ssl-ca)"
    with pytest.raises(InputError) as caught:
        ovn.parse_ovn_config("nb = tcp:a:1, tcp:b\n", "f")
    assert str(caught.value) == "f:1: nb remote 'tcp:b': expected tcp:HOST:PORT, ssl:HOST:PORT or unix:/PATH"


@pytest.mark.parametrize("remote,problem", [
    ("unix:/run/nb.sock", None),
    ("unix:/run/nb sock", "the socket path has spaces, commas or control characters"),
    ("unix:/run/\x01", "the socket path has spaces, commas or control characters"),
    ("unix:/run/a\tb", "the socket path has spaces, commas or control characters"),
    ("unix:run", "a unix: remote needs an absolute path"), ("ssl:[::1]:6641", None),
    ("tcp:a:65536", "port out of range"),
    ("tcp:a:123456", "expected tcp:HOST:PORT, ssl:HOST:PORT or unix:/PATH"),
    ("udp:a:1", "expected tcp:HOST:PORT, ssl:HOST:PORT or unix:/PATH"), ("tcp:a.b-c:1", None),
])
def test_remote_problem_says_exactly_why(remote, problem):
    assert ovn.remote_problem(remote) == problem


def test_only_an_ssl_remote_needs_the_ssl_files():
    assert OvnConfig("tcp:a:1,ssl:b:1").ssl() is True
    assert OvnConfig("tcp:a:1,unix:/ssl:x").ssl() is False
    assert OvnConfig("tcp:a:1") == OvnConfig("tcp:a:1", source="other")
    assert OvnConfig("tcp:a:1") != OvnConfig("tcp:a:1", ssl_ca="/ca")
    assert OvnConfig("tcp:a:1") != "tcp:a:1"
    assert repr(OvnConfig("tcp:a:1")) == "OvnConfig(nb='tcp:a:1')"
    assert OvnConfig("tcp:a:1").source == "ovn.conf"


def test_nbctl_argv_rounds_the_timeout_up_and_never_below_one():
    assert ovn.nbctl_argv(OvnConfig("tcp:a:1"), [], 3.0)[2] == "--timeout=3"
    assert ovn.nbctl_argv(OvnConfig("tcp:a:1"), [], 3.01)[2] == "--timeout=4"
    assert ovn.nbctl_argv(OvnConfig("tcp:a:1"), [], 0.0)[2] == "--timeout=1"
    assert ovn.nbctl_argv(OvnConfig("ssl:a:1", ssl_ca="/ca"), [], 1) == [
        "ovn-nbctl", "--db=ssl:a:1", "--timeout=1", "--ca-cert=/ca"]


def test_values_at_the_edges_of_the_name_rules():
    assert ovn.chassis_name("c" * 128) == "c" * 128
    with pytest.raises(InvalidValue, match="^invalid OVN chassis name"):
        ovn.chassis_name("c" * 129)
    assert ovn.mac_address("02:00:00:00:00:01") == "02:00:00:00:00:01"
    with pytest.raises(InvalidValue) as caught:
        ovn.mac_address("03:00:00:00:00:01")
    assert "a multicast address" in str(caught.value)
    assert ovn.chassis_list("c1") == ["c1"]
    assert ovn.server_mac(__import__("ipaddress").ip_network("192.168.10.0/24")) == "0a:00:c0:a8:0a:00"
    assert ovn.create_switch_cmds("ls1", "10.0.0.0/30")[1][-1] == 'other_config:exclude_ips="10.0.0.1"'
    with pytest.raises(InvalidValue) as caught:
        ovn.create_switch_cmds("ls1", "10.0.0.0/31")
    assert str(caught.value).endswith("expected an IPv4 subnet of /30 or larger")


# --------------------------------------------------------------------------- hooks status


def test_status_without_ovn_conf_is_none_and_with_one_names_the_nb_and_chassis(tmp_path, monkeypatch):
    folder = tmp_path / "etc"
    folder.mkdir(mode=0o755)
    assert ovn.status(str(folder)) is None
    (folder / "ovn.conf").write_text("nb = tcp:192.0.2.10:6641\n")
    (folder / "ovn.conf").chmod(0o644)
    nb = Nbctl(monkeypatch, "", '"chassis1"')
    info = ovn.status(str(folder), "/run/ovs.sock", timeout=1.5)
    assert info == {"config": str(folder / "ovn.conf"), "parses": True, "nb": "tcp:192.0.2.10:6641",
                    "reachable": True, "chassis": "chassis1", "problems": []}
    assert nb.timeouts == [1.5 + ovn.WALL_MARGIN] * 2 and "--db=unix:/run/ovs.sock" in nb.argvs[1]
    assert ovn.status_lines(info) == [
        f"ovn: {folder / 'ovn.conf'}: northbound database tcp:192.0.2.10:6641 reachable; "
        "this chassis: chassis1"]
    Nbctl(monkeypatch, HostTimeout(step="run ovn-nbctl", seconds=1), HostError(step="x", detail="no ovs"))
    info = ovn.status(str(folder))
    assert info is not None and info["reachable"] is False and info["chassis"] is None
    assert info["problems"] == [
        "read the OVN northbound database (OVN northbound database tcp:192.0.2.10:6641): timed out after 5s",
        "read this host's OVS system-id: no ovs"]
    assert ovn.status_lines(info) == [
        f"ovn: {folder / 'ovn.conf'}: northbound database tcp:192.0.2.10:6641 NOT reachable",
        f"  problem: {info['problems'][0]}", f"  problem: {info['problems'][1]}"]
    (folder / "ovn.conf").write_text("nb = nowhere\n")
    info = ovn.status(str(folder))
    assert info == {"config": str(folder / "ovn.conf"), "parses": False, "nb": None, "reachable": None,
                    "chassis": None, "problems": [
                        f"{folder / 'ovn.conf'}:1: nb remote 'nowhere': expected tcp:HOST:PORT, "
                        "ssl:HOST:PORT or unix:/PATH"]}
    assert ovn.status_lines(info) == [f"ovn: {folder / 'ovn.conf'}: not usable",
                                      f"  problem: {info['problems'][0]}"]


# --------------------------------------------------------------------------- the planner


NS = 'xmlns:vnx="urn:virt-netxml:hooks:1"'
IID = "6602cfe5-16e2-4a31-b0c7-a263f86f0ef4"
OWNER = "<owner><name>capvm</name><uuid>de3e2b2f-a916-47d3-a681-2d51dd5d3267</uuid></owner>"
VPORT = f"<virtualport type='openvswitch'><parameters interfaceid='{IID}'/></virtualport>"


def _net(ovn_entry: str = "<vnx:ovn switch='ls-web'/>"):
    meta = f"<metadata><vnx:netxml {NS}>{ovn_entry}</vnx:netxml></metadata>" if ovn_entry else ""
    text = f"<network><name>ovnnet</name><bridge name='br-int'/>{meta}</network>"
    return parse_bytes(text.encode()).getroot()


def _port(owner: str = OWNER, mac: str = "<mac address='52:54:00:61:B5:E0'/>", vport: str = VPORT):
    return parse_bytes(f"<networkport><uuid>97101f27-ff15-4587-be44-bfc54a8cb944</uuid>{owner}{mac}{vport}"
                       "</networkport>".encode()).getroot()


def _dom(interfaces: str, entries: str = "", name: str = "<name>ovnvm</name>"):
    meta = f"<metadata><vnx:netxml {NS}>{entries}</vnx:netxml></metadata>" if entries is not None else ""
    return parse_bytes(f"<domain type='kvm'>{name}<uuid>{UUID}</uuid>{meta}<devices>{interfaces}</devices>"
                       "</domain>".encode()).getroot()


def _nic(mac: str = MAC, vport: str = f"<virtualport type='openvswitch'><parameters interfaceid='{PORT}'/>"
         "</virtualport>", target: str = "") -> str:
    return (f"<interface type='bridge'><mac address='{mac}'/><source bridge='br-int'/>{vport}{target}"
            "</interface>")


def _entry(mac: str = MAC, ovn_entry: str = "<vnx:ovn switch='ls-web'/>") -> str:
    return f"<vnx:interface mac='{mac}'>{ovn_entry}</vnx:interface>"


def test_a_network_port_is_planned_for_its_owner_and_labelled_by_its_mac():
    [action] = planner_ovn.network_port_actions(_net(), _port())
    assert action == A.EnsureOvnPort(IID, "ls-web", "52:54:00:61:b5:e0", None, "capvm",
                                     "de3e2b2f-a916-47d3-a681-2d51dd5d3267", False, True)
    assert action.iface == "52:54:00:61:b5:e0"


def test_no_port_or_no_ovn_switch_plans_nothing_at_port_created():
    assert planner_ovn.network_port_actions(_net(), None) == []
    assert planner_ovn.network_port_actions(_net(""), _port()) == []


@pytest.mark.parametrize("owner", ["", "<owner><uuid>de3e2b2f-a916-47d3-a681-2d51dd5d3267</uuid></owner>"])
def test_a_network_port_without_its_domains_name_is_refused_naming_the_port(owner):
    with pytest.raises(InvalidValue) as caught:
        planner_ovn.network_port_actions(_net(), _port(owner=owner))
    assert str(caught.value) == ("invalid network port '97101f27-ff15-4587-be44-bfc54a8cb944': "
                                 "an OVN port needs the <owner><name> of its domain")


def test_a_network_port_without_a_uuid_is_named_by_a_question_mark():
    port = _port(owner="")
    port.remove(port.find("uuid"))
    with pytest.raises(InvalidValue, match=r"^invalid network port '\?': an OVN port needs"):
        planner_ovn.network_port_actions(_net(), port)


def test_a_network_port_without_a_mac_is_refused_naming_its_domain():
    with pytest.raises(InvalidValue) as caught:
        planner_ovn.network_port_actions(_net(), _port(mac=""))
    assert str(caught.value) == "invalid OVN port '? of domain capvm': needs a MAC address"


def test_a_network_port_without_an_interfaceid_is_refused_naming_its_mac_and_domain():
    with pytest.raises(InvalidValue) as caught:
        planner_ovn.network_port_actions(_net(), _port(vport="<virtualport type='openvswitch'/>"))
    assert str(caught.value) == ("invalid OVN port '52:54:00:61:B5:E0 of domain capvm': needs <virtualport "
                                 "type='openvswitch'> with <parameters interfaceid='UUID'/>")


def test_a_deleted_network_port_is_given_up_labelled_by_its_mac_in_lower_case():
    [action] = planner_ovn.network_port_deleted(_net(), _port())
    assert action == A.DeleteOvnPort(IID, "capvm", "de3e2b2f-a916-47d3-a681-2d51dd5d3267")
    assert action.iface == "52:54:00:61:b5:e0"
    [action] = planner_ovn.network_port_deleted(_net(), _port(mac=""))
    assert action.iface == ""
    [action] = planner_ovn.network_port_deleted(_net(), _port(mac="<mac/>"))
    assert action.iface == ""


def test_a_deleted_port_nothing_was_made_for_plans_nothing():
    assert planner_ovn.network_port_deleted(_net(), _port(owner="")) == []
    assert planner_ovn.network_port_deleted(_net(), None) == []
    assert planner_ovn.network_port_deleted(_net(""), _port()) == []


def test_prepare_plans_each_ovn_interface_labelled_by_its_mac_and_device_and_skips_the_others():
    other = "52:54:00:00:00:07"
    nics = _nic(other, vport="") + _nic("52:54:00:00:00:09", vport="") + _nic(target="<target dev='vnet3'/>")
    root = _dom(nics,
                _entry("52:54:00:00:00:09", "") + _entry())
    [action] = planner_ovn.domain_port_actions(root)
    assert action == A.EnsureOvnPort(PORT, "ls-web", MAC, None, "ovnvm", UUID)
    assert action.iface == f"{MAC} (vnet3)"


def test_prepare_of_a_domain_without_a_name_or_metadata():
    assert planner_ovn.domain_port_actions(_dom(_nic(), None)) == []
    [action] = planner_ovn.domain_port_actions(_dom(_nic(), _entry(), name=""))
    assert action.domain == ""


def test_an_ovn_entry_on_an_interface_whose_virtualport_is_not_ovs_is_refused():
    vport = "<virtualport type='802.1Qbh'><parameters profileid='p'/></virtualport>"
    with pytest.raises(InvalidValue) as caught:
        planner_ovn.domain_port_actions(_dom(_nic(vport=vport), _entry()))
    assert str(caught.value) == (f"invalid OVN port '{MAC}': needs <virtualport type='openvswitch'> with "
                                 "<parameters interfaceid='UUID'/>")


def test_release_plans_give_up_without_the_migrated_reason_by_default():
    record = {"name": "vm1", "uuid": UUID, "ovn_ports": {PORT: {"switch": "ls-web"}, IID: {}}}
    assert planner_ovn.release_port_actions(record) == [
        A.DeleteOvnPort(PORT, "vm1", UUID, migrated=False), A.DeleteOvnPort(IID, "vm1", UUID, migrated=False)]
    assert planner_ovn.release_port_actions({"ovn_ports": {PORT: {}}}) == [A.DeleteOvnPort(PORT, "", None)]


# --------------------------------------------------------------------------- records and undo, exactly


def test_a_port_made_at_a_networks_port_created_is_recorded_in_its_domains_record(tmp_path):
    host = Host(tmp_path)
    host.ctx = Context(Owner("network", "ovnnet"), host.store, Deadline(30), ovn=host.ovn)
    host.ovn.ensure_switch("ls-web", "10.10.0.0/24", False)
    undo = _ensure().apply(host.ctx)
    assert host.record() == {"name": "vm1", "uuid": UUID,
                             "ovn_ports": {PORT: {"switch": "ls-web", "mac": MAC, "created": True}}}
    assert host.store.read("domains", "ovnnet") == {}
    assert undo is not None
    undo.run()
    assert host.record() == {}
    _ensure().apply(host.ctx)
    undo = A.DeleteOvnPort(PORT, "vm1", UUID).apply(host.ctx)
    assert host.record() == {} and host.ovn.lsps == {}
    assert undo is not None
    undo.run()
    assert host.record() == {"name": "vm1", "uuid": UUID,
                             "ovn_ports": {PORT: {"switch": "ls-web", "mac": MAC, "created": True}}}
    host.ovn.lsps[PORT].options["requested-chassis"] = "chassis2"
    undo = A.DeleteOvnPort(PORT, "vm1", UUID).apply(host.ctx)
    assert host.record() == {}
    assert undo is not None
    undo.run()
    assert host.record()["uuid"] == UUID and PORT in host.record()["ovn_ports"]


@pytest.mark.parametrize("chassis", ["chassis1", "chassis1,chassis2", "chassis2"])
def test_giving_up_a_port_labels_a_record_that_had_no_uuid_yet(host, chassis):
    _lsp(host, chassis)
    with host.store.edit("domains", "vm1") as rec:
        rec.update(name="vm1", port_wishes={MAC: {"tag": 5}},
                   ovn_ports={PORT: {"switch": "ls-web", "mac": MAC, "created": True}})
    undo = A.DeleteOvnPort(PORT, "vm1", UUID).apply(host.ctx)
    assert host.record() == {"name": "vm1", "uuid": UUID, "port_wishes": {MAC: {"tag": 5}}}
    assert undo is not None


def test_an_undo_puts_back_the_whole_record_with_its_uuid(host):
    _lsp(host, "chassis1,chassis2")
    entry = _recorded(host)
    undo = A.DeleteOvnPort(PORT, "vm1", UUID).apply(host.ctx)
    assert host.record() == {}
    assert undo is not None
    undo.run()
    assert host.record() == {"name": "vm1", "uuid": UUID, "ovn_ports": {PORT: entry}}


def test_a_port_given_up_from_a_record_without_its_domain_is_recorded_back_under_the_owners_uuid(host):
    _lsp(host, "chassis1")
    entry = _recorded(host)
    undo = A.DeleteOvnPort(PORT, "").apply(host.ctx)
    assert undo is not None
    undo.run()
    assert host.record() == {"name": "vm1", "uuid": UUID, "ovn_ports": {PORT: entry}}


def test_undoing_a_new_port_whose_record_entry_is_already_gone_still_deletes_the_port(host):
    undo = _ensure().apply(host.ctx)
    with host.store.edit("domains", "vm1") as rec:
        rec["ovn_ports"] = {"other": {"switch": "ls-web"}}
    assert undo is not None
    undo.run()
    assert host.ovn.lsps == {} and host.record()["ovn_ports"] == {"other": {"switch": "ls-web"}}


def test_a_failed_rewrite_puts_back_the_ports_earlier_record_entry(host):
    _lsp(host, "chassis1", addresses=(f"{MAC} 10.10.0.99",))
    entry = _recorded(host, note="kept")
    host.ovn.fail_on["write_port"] = HostError(step="set OVN port", detail="NB refused")
    with pytest.raises(HostError):
        _ensure().apply(host.ctx)
    assert host.record() == {"name": "vm1", "uuid": UUID, "ovn_ports": {PORT: entry}}


def test_a_rewrite_is_addressed_to_the_row_it_read(host, monkeypatch):
    lsp = _lsp(host, "chassis1", addresses=(f"{MAC} 10.10.0.99",))
    seen = []
    write = host.ovn.write_port
    monkeypatch.setattr(host.ovn, "write_port", lambda existing, *a, **k: seen.append(existing) or write(
        existing, *a, **k))
    _ensure().apply(host.ctx)
    assert [row.uuid for row in seen] == [lsp.uuid]


def test_a_record_that_cannot_be_put_back_after_a_failed_write_is_reported_as_left_over(host, monkeypatch):
    from hooks.actions import ovn as actions_ovn

    real = actions_ovn._set_entry
    calls = []

    def set_entry(*args):
        calls.append(args)
        if len(calls) > 1:
            raise HostError(step="write the state record", detail="disk full")
        real(*args)

    monkeypatch.setattr(actions_ovn, "_set_entry", set_entry)
    host.ovn.fail_on["write_port"] = HostError(step="set OVN port", detail="NB refused")
    with pytest.raises(HostError, match="NB refused"):
        _ensure().apply(host.ctx)
    assert host.ctx.left_over == [f"forget OVN port {PORT} in the record: write the state record: disk full"]


def test_a_port_row_copied_with_other_chassis_keeps_everything_else():
    row = PortRow(ROW, "ls-web", ["c1", "c2"], {"k": "v"}, {"o": "p"}, [f"{MAC} dynamic"], DHCP, [MAC])
    copy = with_chassis(row, ("c2",))
    assert (copy.uuid, copy.switch, copy.chassis, copy.external_ids, copy.options, copy.addresses,
            copy.dhcp_options) == (ROW, "ls-web", ["c2"], {"k": "v"}, {"o": "p"}, [f"{MAC} dynamic"], DHCP)


def test_a_ports_address_entry_split_into_mac_and_ip():
    assert ovn.split_address([f"{MAC} 10.10.0.20", "router"]) == (MAC, "10.10.0.20")
    assert ovn.split_address([f"{MAC} dynamic"]) == (MAC, None)
    assert ovn.split_address([MAC]) == (MAC, None)


# --------------------------------------------------------------------------- refusals, word for word


def _message(call) -> str:
    with pytest.raises(InvalidValue) as caught:
        call()
    return str(caught.value)


@pytest.mark.parametrize("call,message", [
    (lambda: ovn.port_name("lsp-a"), "invalid OVN port name 'lsp-a': expected a UUID (the interfaceid)"),
    (lambda: ovn.switch_name("-ls"),
     "invalid OVN switch name '-ls': expected 1-63 letters, digits, '_', '.', "
                                     "':' or '-', not starting with '-'"),
    (lambda: ovn.switch_name("cafe"),
     "invalid OVN switch name 'cafe': ovn-nbctl could read it as a UUID: add a "
                                      "letter outside a-f"),
    (lambda: ovn.chassis_name("-c"), "invalid OVN chassis name '-c': expected letters, digits, '_.:-'"),
    (lambda: ovn.mac_address("52:54:00"),
     "invalid MAC address '52:54:00': expected six colon-separated hex octets"),
    (lambda: ovn.mac_address("01:00:5e:00:00:01"),
     "invalid MAC address '01:00:5e:00:00:01': a multicast address"),
    (lambda: ovn.chassis_list(["c1", "c1"]),
     "invalid OVN requested-chassis 'c1,c1': expected one chassis, or two "
                                             "different ones during a migration"),
    (lambda: ovn.port_addresses(MAC, "ten"), "invalid IP address 'ten': not an IPv4 or IPv6 address"),
    (lambda: ovn.create_switch_cmds("ls1", None, True), "invalid OVN DHCP 'ls1': DHCP needs a subnet"),
    (lambda: ovn.create_switch_cmds("ls1", "10.0.0.0/31"),
     "invalid OVN subnet '10.0.0.0/31': expected an IPv4 subnet of /30 or larger"),
    (lambda: ovn.create_switch_cmds("ls1", "ten"),
     "invalid OVN subnet 'ten': 'ten' does not appear to be an IPv4 or IPv6 network"),
    (lambda: ovn.update_port_cmds("row1", MAC, None, "c", "d", "i"),
     "invalid OVN port row 'row1': expected a UUID"),
    (lambda: ovn.delete_port_cmds("row1", "c"), "invalid OVN port row 'row1': expected a UUID"),
    (lambda: ovn.set_chassis_cmds("row1", ["c"], ["d"]), "invalid OVN port row 'row1': expected a UUID"),
    (lambda: ovn.port_settings(ROW, MAC, "c", "d", "i", "x"),
     "invalid DHCP_Options row 'x': expected a UUID"),
    (lambda: ovn.restore_port_cmds(ROW, [], {}, {}, "x"), "invalid DHCP_Options row 'x': expected a UUID"),
    (lambda: ovn.delete_switch_cmds("ls1", ["x"]), "invalid DHCP_Options row 'x': expected a UUID"),
    (lambda: ovn.restore_port_cmds(ROW, [], {}, {"a b": "x"}, None),
     "invalid OVN port external_ids key 'a b': unexpected characters"),
])
def test_each_refusal_says_what_which_value_and_why(call, message):
    assert _message(call) == message


def test_names_in_upper_case_are_taken():
    assert ovn.switch_name("LS-Web") == "LS-Web"
    assert ovn.chassis_name("Chassis-A") == "Chassis-A"
    assert ovn.restore_port_cmds(ROW, [], {"Key": "v"}, {}, None)[2] == [
        "set", "Logical_Switch_Port", ROW, 'options:Key="v"']


def test_a_mac_whose_first_octet_has_hex_letters_is_taken_when_unicast():
    assert ovn.mac_address("FE:54:00:00:00:01") == "fe:54:00:00:00:01"
    assert ovn.mac_address("0a:00:00:00:00:01") == "0a:00:00:00:00:01"


def test_an_updated_port_keeps_its_static_address():
    assert ovn.update_port_cmds(ROW, MAC, "10.10.0.20", "c1", "vm1", MAC)[0] == [
        "lsp-set-addresses", ROW, f"{MAC} 10.10.0.20"]


def test_port_settings_write_no_port_security_unless_asked():
    assert ovn.port_settings(ROW, f"{MAC} dynamic", "c1", "vm1", MAC, None) == [
        ["lsp-set-addresses", ROW, f"{MAC} dynamic"],
        ["set", "Logical_Switch_Port", ROW, 'options:requested-chassis="c1"',
         'external_ids:virt-netxml-domain="vm1"', f'external_ids:virt-netxml-interface="{MAC}"']]


def test_a_unix_socket_path_with_a_comma_is_refused():
    assert ovn.remote_problem("unix:/run/a,b") == "the socket path has spaces, commas or control characters"


def test_a_table_row_shorter_than_its_headings_is_refused():
    with pytest.raises(ValueError):
        ovn.rows({"headings": ["_uuid", "name"], "data": [[["uuid", ROW]]]})


def test_ovn_conf_values_holding_an_equals_sign_or_a_space():
    config = ovn.parse_ovn_config("nb = tcp:a:1\nssl-key = /etc/a=b/key pem\n", "f")
    assert config.ssl_key == "/etc/a=b/key pem"
    with pytest.raises(InputError) as caught:
        ovn.parse_ovn_config("# nothing\n", "f")
    assert str(caught.value) == "f: no 'nb = …' line: where is the OVN northbound database?"


def test_each_ssl_file_is_checked_and_named_even_without_the_ones_before_it(tmp_path):
    cert = tmp_path / "cert.pem"
    cert.write_text("PEM\n")
    cert.chmod(0o666)
    with pytest.raises(InsecurePath) as caught:
        ovn.check_ssl_files(OvnConfig("tcp:a:1", ssl_cert=str(cert)))
    assert str(caught.value).startswith(f"OVN ssl-cert file {cert}: group- and world-writable")
    ovn.check_ssl_files(OvnConfig("tcp:a:1"))


def test_an_ovn_conf_in_a_folder_others_can_write_names_the_configuration_directory(tmp_path):
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "ovn.conf").write_text("nb = tcp:a:1\n")
    (folder / "ovn.conf").chmod(0o644)
    folder.chmod(0o775)
    with pytest.raises(InsecurePath) as caught:
        ovn.load_ovn_config(str(folder))
    assert str(caught.value).startswith(f"configuration directory {folder}: group-writable")


def test_classify_error_falls_back_to_the_detail_and_then_to_the_error_itself():
    no_stderr = HostError(step="s", detail="ovn-nbctl: tcp:a:1: database connection failed (refused)",
                          returncode=1)
    assert str(ovn.classify_error("read", no_stderr, 2.0, "tcp:a:1")) == (
        "read: OVN northbound database tcp:a:1 unreachable: tcp:a:1: database connection failed (refused)")
    no_detail = NotFound(step="run", what="file", name="x", returncode=1)
    assert str(ovn.classify_error("read", no_detail, 2.0, "n")) == "read: run: file 'x' does not exist"
    never_ran = NotFound(step="run", what="file", name="x")
    assert str(ovn.classify_error("read", never_ran, 2.0, "n")) == (
        "read: cannot run ovn-nbctl: run: file 'x' does not exist")


# --------------------------------------------------------------------------- the adapter's calls, exactly


def test_output_that_is_not_utf8_is_read_with_replacement(monkeypatch):
    Nbctl(monkeypatch)
    monkeypatch.setattr(ovn.proc, "run", lambda argv, timeout, input=None: ovn.proc.Completed(
        argv, 0, b"caf\xe9", b""))
    assert ADAPTER._run("read", [["list"]]) == "caf\ufffd"
    with pytest.raises(InvalidValue, match="OVN chassis name"):
        ADAPTER.system_id()


def test_a_system_id_read_that_times_out_says_so(monkeypatch):
    Nbctl(monkeypatch, HostTimeout(step="run ovs-vsctl", seconds=2.5))
    with pytest.raises(HostError) as caught:
        ADAPTER.system_id()
    assert str(caught.value) == "read this host's OVS system-id: run ovs-vsctl: timed out after 2.5s"


REFUSED = HostError(step="run ovn-nbctl", detail="x", returncode=1, stderr="ovn-nbctl: some reason\n")


def test_each_failing_read_or_write_names_its_step(monkeypatch):
    cases = [
        ([_port_table(), NAME, REFUSED], lambda: ADAPTER.delete_port(PORT, "chassis1"),
         f"delete OVN port {PORT}"),
        ([NO_ROWS, REFUSED], lambda: ADAPTER.delete_switch("ls-web"), "delete OVN switch ls-web"),
        ([REFUSED], lambda: ADAPTER.dhcp_options("ls-web"), "look up the DHCP options of OVN switch ls-web"),
        ([_port_table(), REFUSED], lambda: ADAPTER.find_port(PORT), f"look up OVN port {PORT}"),
        ([REFUSED], lambda: ADAPTER.write_port(PortRow(ROW, "ls-web", ["c1"], {}), "ls-web", PORT, MAC, None,
                                               "c1", "vm1", MAC), f"set OVN port {PORT} on switch ls-web"),
    ]
    for answers, call, step in cases:
        Nbctl(monkeypatch, *answers)
        with pytest.raises(HostError) as caught:
            call()
        assert str(caught.value) == f"{step}: some reason"


def test_write_port_passes_address_dhcp_and_port_security_through(monkeypatch):
    nb = Nbctl(monkeypatch, "", "")
    ADAPTER.write_port(None, "ls-web", PORT, MAC, "10.10.0.20", "c1", "vm1", MAC, DHCP, True)
    ADAPTER.write_port(PortRow(ROW, "ls-web", ["c1"], {}), "ls-web", PORT, MAC, "10.10.0.20", "c1", "vm1",
                       MAC, DHCP, True)
    settings = [["set", "Logical_Switch_Port", "%s", 'options:requested-chassis="c1"',
                 'external_ids:virt-netxml-domain="vm1"', f'external_ids:virt-netxml-interface="{MAC}"'],
                ["set", "Logical_Switch_Port", "%s", f"dhcpv4_options={DHCP}"],
                ["lsp-set-port-security", "%s", f"{MAC} 10.10.0.20"]]

    def expect(ref):
        return [["lsp-set-addresses", ref, f"{MAC} 10.10.0.20"],
                *([w.replace("%s", ref) for w in c] for c in settings)]

    assert nb.commands(0) == [["--may-exist", "lsp-add", "ls-web", PORT], *expect(PORT)]
    assert nb.commands(1) == expect(ROW)


def test_ensure_port_passes_address_and_dhcp_and_no_port_security_by_default(monkeypatch):
    nb = Nbctl(monkeypatch, _table(["_uuid", "name"]), "")
    ADAPTER.ensure_port("ls-web", PORT, MAC, "10.10.0.20", "c1", "vm1", MAC, DHCP)
    assert nb.commands(1) == [
        ["--may-exist", "lsp-add", "ls-web", PORT], ["lsp-set-addresses", PORT, f"{MAC} 10.10.0.20"],
        ["set", "Logical_Switch_Port", PORT, 'options:requested-chassis="c1"',
         'external_ids:virt-netxml-domain="vm1"', f'external_ids:virt-netxml-interface="{MAC}"'],
        ["set", "Logical_Switch_Port", PORT, f"dhcpv4_options={DHCP}"]]


def test_find_port_reads_a_dhcp_set_and_missing_columns(monkeypatch):
    Nbctl(monkeypatch, _port_table(dhcpv4_options=["set", [["uuid", DHCP]]]), NAME)
    row = ADAPTER.find_port(PORT)
    assert row is not None and row.dhcp_options == DHCP
    table = json.dumps({"headings": ["_uuid", "name"], "data": [[["uuid", ROW], PORT]]})
    Nbctl(monkeypatch, table, NAME)
    row = ADAPTER.find_port(PORT)
    assert row is not None
    assert (row.addresses, row.port_security, row.dhcp_options, row.options, row.external_ids) == (
        [], [], None, {}, {})


def test_restore_port_takes_keys_whose_names_hold_a_colon(monkeypatch):
    nb = Nbctl(monkeypatch, "")
    row = PortRow(ROW, "ls-web", ["c1"], {"a:b": "v"}, {}, [], None, [])
    ADAPTER.restore_port(row, PORT, ["external_ids:a:b", "options:x:y"])
    assert nb.commands() == [["lsp-set-addresses", ROW], ["lsp-set-port-security", ROW],
                             ["remove", "Logical_Switch_Port", ROW, "options", "x:y"],
                             ["set", "Logical_Switch_Port", ROW, 'external_ids:a:b="v"'],
                             ["clear", "Logical_Switch_Port", ROW, "dhcpv4_options"]]


def test_an_ovn_entry_on_an_interface_without_a_virtualport_is_refused_in_one_line():
    with pytest.raises(InvalidValue) as caught:
        planner_ovn.domain_port_actions(_dom(_nic(vport=""), _entry()))
    assert str(caught.value) == (f"invalid OVN port '{MAC}': needs <virtualport type='openvswitch'> with "
                                 "<parameters interfaceid='UUID'/>")


def test_an_interfaceid_of_a_virtualport_that_is_not_ovs_is_not_taken():
    vport = f"<virtualport type='midonet'><parameters interfaceid='{PORT}'/></virtualport>"
    with pytest.raises(InvalidValue, match="needs <virtualport type='openvswitch'>"):
        planner_ovn.domain_port_actions(_dom(_nic(vport=vport), _entry()))


def test_a_network_interface_left_to_port_created_does_not_stop_the_interfaces_after_it():
    network = ("<interface type='network'><mac address='52:54:00:00:00:07'/><source network='ovnnet'/>"
               "<virtualport type='openvswitch'/></interface>")
    [action] = planner_ovn.domain_port_actions(_dom(network + _nic(), _entry("52:54:00:00:00:07") + _entry()))
    assert action == A.EnsureOvnPort(PORT, "ls-web", MAC, None, "ovnvm", UUID)


def test_an_interface_without_a_mac_matches_no_entry_not_even_one_without_a_mac():
    nic = f"<interface type='bridge'><source bridge='br-int'/>{VPORT}</interface>"
    entry = "<vnx:interface><vnx:ovn switch='ls-web'/></vnx:interface>"
    assert planner_ovn.domain_port_actions(_dom(nic, entry)) == []
