"""The hooks' OVN actions against the lab's real northbound database, from both chassis.

Each chassis's actions run with that chassis's own OVS (its system-id) and reach the NB through
its unix socket (the adapter's TCP path from inside a chassis is the contract test's). Apply,
re-apply (nothing to change), undo, a later failure rolling everything back, another chassis's
and another domain's ports left alone, and a migration's requested-chassis pair and its end.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hooks import actions as A
from hooks.adapters.ovn import OvnAdapter, OvnConfig
from hooks.context import Context, Owner
from hooks.deadline import Deadline
from hooks.errors import ForeignDevice, HostError
from hooks.executor import Executor
from hooks.state import StateStore
from hooks.state_records import DomainState
from tests.ovn.harness import Chassis, OvnLab

pytestmark = pytest.mark.netns

DOMAIN, DOMAIN_UUID = "ovnvm", "00000000-0000-4000-8000-000000000008"
MAC = "52:54:00:00:00:08"


def _ctx(lab: OvnLab, chassis: Chassis, state: Path, nb: str | None = None, timeout: float = 3) -> Context:
    adapter = OvnAdapter(OvnConfig(nb or f"unix:{lab.nb_socket}"), ovs_db=str(chassis.db), timeout=timeout)
    return Context(Owner("domain", DOMAIN, DOMAIN_UUID), StateStore(str(state)), Deadline(20), ovn=adapter)


def _port(lab: OvnLab, name: str) -> dict[str, str] | None:
    out = lab.nbctl("--columns=addresses,options,external_ids,dhcpv4_options", "find", "Logical_Switch_Port",
                    f'name="{name}"')
    if not out.strip():
        return None
    pairs = (line.partition(":") for line in out.splitlines() if line)
    return {k.strip(): v.strip() for k, _, v in pairs}


def _switches(lab: OvnLab) -> set[str]:
    return set(lab.nbctl("--bare", "--columns=name", "list", "Logical_Switch").split())


def _recorded(ctx: Context) -> dict:
    return DomainState(ctx.state.read("domains", DOMAIN)).ovn_ports


def _port_action(name: str, switch: str, address: str | None = "10.20.0.20", domain: str = DOMAIN,
                 mac: str = MAC) -> A.EnsureOvnPort:
    return A.EnsureOvnPort(name, switch, mac, address, domain, DOMAIN_UUID)


class Boom(A.Action):
    """A later step of the same call that fails."""

    def describe(self) -> str:
        return "a later step that fails"

    def apply(self, ctx: Context) -> A.Undo | None:
        raise HostError(step="a later step", detail="failed on purpose")


def test_a_switch_is_created_once_and_its_undo_deletes_only_that(lab: OvnLab, tmp_path: Path) -> None:
    ctx = _ctx(lab, lab.chassis[0], tmp_path)
    undo = A.EnsureOvnSwitch("a-ls1", "10.20.0.0/24", True).apply(ctx)
    assert undo is not None and "a-ls1" in _switches(lab)
    assert lab.nbctl("get", "Logical_Switch", "a-ls1", "other_config:subnet").strip() == '"10.20.0.0/24"'
    assert A.EnsureOvnSwitch("a-ls1", "10.99.0.0/24", False).apply(ctx) is None    # never reconfigured
    assert lab.nbctl("get", "Logical_Switch", "a-ls1", "other_config:subnet").strip() == '"10.20.0.0/24"'
    undo.run()
    assert "a-ls1" not in _switches(lab)
    assert "a-ls1" not in lab.nbctl("--bare", "--columns=external_ids", "list", "DHCP_Options")
    # A switch that was there before is never the undo's to delete.
    lab.nbctl("ls-add", "a-ls-kept")
    assert A.EnsureOvnSwitch("a-ls-kept").apply(ctx) is None
    assert "a-ls-kept" in _switches(lab)


def test_a_port_is_created_updated_restored_and_deleted(lab: OvnLab, tmp_path: Path) -> None:
    name = "1a6c2a4e-8a55-4c5e-9a0c-3f1c2b3d4e01"
    ctx = _ctx(lab, lab.chassis[0], tmp_path)
    A.EnsureOvnSwitch("a-ls2", "10.20.0.0/24", True).apply(ctx)
    assert _port_action(name, "a-ls2").apply(ctx) is not None
    row = _port(lab, name)
    assert row is not None
    assert row["addresses"] == f'["{MAC} 10.20.0.20"]'
    assert row["options"] == "{requested-chassis=chassis1}"
    assert row["external_ids"] == f'{{virt-netxml-domain={DOMAIN}, virt-netxml-interface="{MAC}"}}'
    assert row["dhcpv4_options"] != "[]"
    assert _recorded(ctx) == {name: {"switch": "a-ls2", "mac": MAC, "created": True}}
    # Again: in place, nothing written.
    assert _port_action(name, "a-ls2").apply(ctx) is None
    # Another address: updated, and its undo puts the first back (the port stays: not made here).
    undo = _port_action(name, "a-ls2", address=None).apply(ctx)
    assert undo is not None and _port(lab, name)["addresses"] == f'["{MAC} dynamic"]'
    undo.run()
    assert _port(lab, name)["addresses"] == f'["{MAC} 10.20.0.20"]'
    assert _recorded(ctx)[name]["created"] is True
    # Given up on this chassis alone: deleted, and out of the record.
    delete = A.DeleteOvnPort(name, DOMAIN, DOMAIN_UUID)
    undo = delete.apply(ctx)
    assert undo is not None and _port(lab, name) is None and _recorded(ctx) == {}
    assert delete.apply(ctx) is None
    undo.run()     # the undo of a delete makes it again, as it was
    assert _port(lab, name)["options"] == "{requested-chassis=chassis1}"
    assert _recorded(ctx) == {name: {"switch": "a-ls2", "mac": MAC, "created": True}}


def test_a_later_failure_undoes_the_switch_and_the_port(lab: OvnLab, tmp_path: Path) -> None:
    name = "1a6c2a4e-8a55-4c5e-9a0c-3f1c2b3d4e02"
    ctx = _ctx(lab, lab.chassis[0], tmp_path)
    result = Executor(ctx).run([A.EnsureOvnSwitch("a-ls3", "10.30.0.0/24", True),
                                _port_action(name, "a-ls3", "10.30.0.9"), Boom()])
    assert not result.ok and len(result.undone) == 2 and result.undo_errors == []
    assert _port(lab, name) is None and "a-ls3" not in _switches(lab)
    assert _recorded(ctx) == {}


def test_another_chassis_port_and_another_domains_port_are_left_alone(lab: OvnLab, tmp_path: Path) -> None:
    ctx = _ctx(lab, lab.chassis[0], tmp_path)
    A.EnsureOvnSwitch("a-ls4").apply(ctx)
    held = "1a6c2a4e-8a55-4c5e-9a0c-3f1c2b3d4e03"
    _port_action(held, "a-ls4").apply(_ctx(lab, lab.chassis[1], tmp_path / "c2"))
    before = _port(lab, held)
    # chassis1's release of the same domain's port that chassis2 holds: the port stays.
    assert A.DeleteOvnPort(held, DOMAIN, DOMAIN_UUID).apply(ctx) is None
    assert _port(lab, held) == before
    # Another domain's interfaceid (a definer copying it): refused, nothing written.
    with pytest.raises(ForeignDevice, match=f"belongs to domain {DOMAIN}"):
        _port_action(held, "a-ls4", domain="intruder").apply(ctx)
    assert _port(lab, held) == before
    # A port the hooks did not make: refused, and its twin made by the hooks is taken.
    foreign = "1a6c2a4e-8a55-4c5e-9a0c-3f1c2b3d4e04"
    lab.nbctl("lsp-add", "a-ls4", foreign)
    with pytest.raises(ForeignDevice, match="not made by the hooks"):
        _port_action(foreign, "a-ls4").apply(ctx)
    lab.nbctl("set", "Logical_Switch_Port", foreign, f"external_ids:virt-netxml-domain={DOMAIN}")
    assert _port_action(foreign, "a-ls4", address="10.20.0.21").apply(ctx) is not None
    # Another domain's port is no release's to delete either.
    assert A.DeleteOvnPort(foreign, "intruder").apply(ctx) is None
    assert _port(lab, foreign) is not None


def test_a_migration_requests_both_chassis_then_the_destination(lab: OvnLab, tmp_path: Path) -> None:
    name = "1a6c2a4e-8a55-4c5e-9a0c-3f1c2b3d4e05"
    src = _ctx(lab, lab.chassis[0], tmp_path / "src")
    dst = _ctx(lab, lab.chassis[1], tmp_path / "dst")
    A.EnsureOvnSwitch("a-ls5").apply(src)
    _port_action(name, "a-ls5").apply(src)
    # The destination prepares the port: both chassis, activated on the destination by RARP.
    undo = _port_action(name, "a-ls5").apply(dst)
    assert undo is not None
    assert _port(lab, name)["options"] == '{activation-strategy=rarp, requested-chassis="chassis1,chassis2"}'
    assert _port_action(name, "a-ls5").apply(dst) is None
    undo.run()     # a failed incoming migration: back to the source alone
    assert _port(lab, name)["options"] == "{requested-chassis=chassis1}"
    _port_action(name, "a-ls5").apply(dst)
    # A third chassis cannot join a migration between two others.
    third = _ctx(lab, lab.chassis[0], tmp_path / "third")
    third.ovn.system_id = lambda: "chassis3"     # stands in for a third host
    with pytest.raises(ForeignDevice, match="two other chassis"):
        _port_action(name, "a-ls5").apply(third)
    assert _recorded(dst)[name]["arriving"] is True
    # The source releases (libvirt 9.0: reason '-'): narrowed to the destination, not deleted.
    assert A.DeleteOvnPort(name, DOMAIN, DOMAIN_UUID).apply(src) is not None
    assert _port(lab, name)["options"] == "{requested-chassis=chassis2}"
    assert _recorded(src) == {} and name in _recorded(dst)
    # The destination's started then finds it settled already.
    assert A.SettleOvnPort(name).apply(dst) is None
    # The destination's own release later deletes it.
    A.DeleteOvnPort(name, DOMAIN, DOMAIN_UUID).apply(dst)
    assert _port(lab, name) is None


def test_a_release_that_libvirt_says_migrated_never_deletes(lab: OvnLab, tmp_path: Path) -> None:
    name = "1a6c2a4e-8a55-4c5e-9a0c-3f1c2b3d4e06"
    ctx = _ctx(lab, lab.chassis[0], tmp_path)
    A.EnsureOvnSwitch("a-ls6").apply(ctx)
    _port_action(name, "a-ls6").apply(ctx)
    assert A.DeleteOvnPort(name, DOMAIN, DOMAIN_UUID, migrated=True).apply(ctx) is not None
    assert _port(lab, name) is not None and _recorded(ctx) == {}
    # Its twin without the reason deletes (this chassis alone holds it).
    _port_action(name, "a-ls6").apply(ctx)
    A.DeleteOvnPort(name, DOMAIN, DOMAIN_UUID).apply(ctx)
    assert _port(lab, name) is None


def test_an_unreachable_nb_fails_the_call_in_one_line_in_time(lab: OvnLab, tmp_path: Path) -> None:
    gone = tmp_path / "no-nb.sock"
    ctx = _ctx(lab, lab.chassis[0], tmp_path, nb=f"unix:{gone}", timeout=1)
    started = time.monotonic()
    port = _port_action("1a6c2a4e-8a55-4c5e-9a0c-3f1c2b3d4e07", "a-ls7")
    result = Executor(ctx).run([A.EnsureOvnSwitch("a-ls7"), port])
    assert time.monotonic() - started < 5
    assert result.error is not None and f"OVN northbound database unix:{gone}" in result.error.message
    assert "\n" not in result.error.message and result.changed == []
    assert "a-ls7" not in _switches(lab)


def test_without_ovn_conf_an_ovn_wish_is_refused_naming_the_file(tmp_path: Path, monkeypatch) -> None:
    conf = tmp_path / "conf"
    conf.mkdir(mode=0o755)
    monkeypatch.setenv("VIRT_NETXML_CONFIG_DIR", str(conf))
    ctx = Context(Owner("network", "ovnnet"), StateStore(str(tmp_path / "state")), Deadline(5))
    result = Executor(ctx).run([A.EnsureOvnSwitch("a-ls8")])
    assert result.error is not None
    assert result.error.message.startswith(f"{conf}/ovn.conf: does not exist")
    # Its twin with the file reaches the adapter (and so the NB it names).
    (conf / "ovn.conf").write_text("nb = unix:/nonexistent/nb.sock\n")
    (conf / "ovn.conf").chmod(0o644)
    ctx = Context(Owner("network", "ovnnet"), StateStore(str(tmp_path / "state")), Deadline(5))
    assert ctx.ovn.config.nb == "unix:/nonexistent/nb.sock"


def test_started_settles_an_arrived_port_on_the_destination(lab: OvnLab, tmp_path: Path) -> None:
    name = "1a6c2a4e-8a55-4c5e-9a0c-3f1c2b3d4e09"
    src = _ctx(lab, lab.chassis[0], tmp_path / "src")
    dst = _ctx(lab, lab.chassis[1], tmp_path / "dst")
    A.EnsureOvnSwitch("a-ls9").apply(src)
    _port_action(name, "a-ls9").apply(src)
    _port_action(name, "a-ls9").apply(dst)
    undo = A.SettleOvnPort(name).apply(dst)
    assert undo is not None
    assert _port(lab, name)["options"] == "{requested-chassis=chassis2}"   # activation-strategy gone
    assert A.SettleOvnPort(name).apply(dst) is None
    undo.run()
    assert _port(lab, name)["options"] == '{activation-strategy=rarp, requested-chassis="chassis1,chassis2"}'
    # On the source the same call changes nothing: the guest does not run there.
    A.SettleOvnPort(name).apply(dst)
    assert A.SettleOvnPort(name).apply(src) is None
    assert _port(lab, name)["options"] == "{requested-chassis=chassis2}"
    # The source's port-deleted (or release) then only forgets it; the port stays the destination's.
    assert A.DeleteOvnPort(name, DOMAIN, DOMAIN_UUID).apply(src) is not None
    assert _port(lab, name)["options"] == "{requested-chassis=chassis2}"


def test_hooks_repair_deletes_the_recorded_ports_of_gone_domains_only(lab: OvnLab, tmp_path: Path) -> None:
    from hooks.repair import plan_repairs, run_repairs

    gone, alive, moved = ("1a6c2a4e-8a55-4c5e-9a0c-3f1c2b3d4e1" + str(n) for n in range(3))
    state = tmp_path / "state"
    here = _ctx(lab, lab.chassis[0], state)
    A.EnsureOvnSwitch("a-ls10").apply(here)
    _port_action(gone, "a-ls10", "10.20.0.30").apply(here)
    _port_action(moved, "a-ls10", "10.20.0.32").apply(here)
    lab.nbctl("set", "Logical_Switch_Port", moved, "options:requested-chassis=chassis2")   # migrated away
    running = Context(Owner("domain", "alive"), StateStore(str(state)), Deadline(20), ovn=here.ovn)
    _port_action(alive, "a-ls10", "10.20.0.31", domain="alive").apply(running)
    store = StateStore(str(state))
    repairs = plan_repairs(store, running={"alive"}, active=set())
    assert [(r.owner.name, r.plan) for r in repairs] == [
        (DOMAIN, [A.DeleteOvnPort(gone, DOMAIN, DOMAIN_UUID), A.DeleteOvnPort(moved, DOMAIN, DOMAIN_UUID)])]
    run_repairs(store, repairs, ports={"ovn": here.ovn})
    assert all(r.result is not None and r.result.ok for r in repairs)
    assert _port(lab, gone) is None
    assert _port(lab, moved)["options"] == "{requested-chassis=chassis2}"
    assert _port(lab, alive) is not None
    assert _recorded(here) == {}


def test_a_network_start_without_ovn_conf_fails_in_one_line(tmp_path: Path, monkeypatch) -> None:
    import io

    from hooks.protocol import lookup
    from hooks.run import run_call
    from tests.faults.scenarios import OVN_NET

    conf = tmp_path / "conf"
    conf.mkdir(mode=0o755)
    monkeypatch.setenv("VIRT_NETXML_CONFIG_DIR", str(conf))
    monkeypatch.setenv("VIRT_NETXML_STATE_DIR", str(tmp_path / "state"))
    op = lookup("network", "start")
    assert op is not None
    out, err = io.StringIO(), io.StringIO()
    code = run_call(op, "ovnnet", OVN_NET.encode(), {"deadline": "8"}, stdout=out, stderr=err)
    assert code == 2 and out.getvalue() == ""
    assert err.getvalue().count("\n") == 1
    assert err.getvalue().startswith(f"virt-netxml: network ovnnet: start: {conf}/ovn.conf: does not exist")
    # Its twin: a network without <vnx:ovn> starts without the file.
    plain = OVN_NET.replace("<vnx:ovn switch='ls-web' subnet='10.10.0.0/24' dhcp='yes'/>", "")
    assert run_call(op, "ovnnet", plain.encode(), {"deadline": "8"}, stdout=out, stderr=io.StringIO()) == 0


def test_port_security_holds_the_port_to_its_mac_and_static_address(lab: OvnLab, tmp_path: Path) -> None:
    name = "1a6c2a4e-8a55-4c5e-9a0c-3f1c2b3d4e20"
    ctx = _ctx(lab, lab.chassis[0], tmp_path)
    A.EnsureOvnSwitch("a-ls11", "10.40.0.0/24").apply(ctx)
    secure = A.EnsureOvnPort(name, "a-ls11", MAC, "10.40.0.7", DOMAIN, DOMAIN_UUID, port_security=True)
    assert secure.apply(ctx) is not None
    assert lab.nbctl("get", "Logical_Switch_Port", name, "port_security").strip() == f'["{MAC} 10.40.0.7"]'
    assert secure.apply(ctx) is None
    # The same port without the wish leaves the setting alone; a dynamic address gets the MAC only.
    assert A.EnsureOvnPort(name, "a-ls11", MAC, "10.40.0.7", DOMAIN, DOMAIN_UUID).apply(ctx) is None
    undo = A.EnsureOvnPort(name, "a-ls11", MAC, None, DOMAIN, DOMAIN_UUID, port_security=True).apply(ctx)
    assert undo is not None
    assert lab.nbctl("get", "Logical_Switch_Port", name, "port_security").strip() == f'["{MAC}"]'
    undo.run()
    assert lab.nbctl("get", "Logical_Switch_Port", name, "port_security").strip() == f'["{MAC} 10.40.0.7"]'


def _nbctl_runs(monkeypatch) -> list[list[str]]:
    """The ovn-nbctl argvs the adapter runs from now on (it still runs them)."""
    from hooks.adapters import proc

    runs: list[list[str]] = []
    real = proc.run

    def counted(argv, *args, **kwargs):
        if argv[0] == "ovn-nbctl":
            runs.append(list(argv))
        return real(argv, *args, **kwargs)

    monkeypatch.setattr(proc, "run", counted)
    return runs


def test_a_guest_with_four_ovn_interfaces_costs_one_read_and_one_write(lab: OvnLab, tmp_path: Path,
                                                                       monkeypatch) -> None:
    ctx = _ctx(lab, lab.chassis[0], tmp_path)
    A.EnsureOvnSwitch("a-ls9", "10.90.0.0/24", True).apply(ctx)
    names = [f"1a6c2a4e-8a55-4c5e-9a0c-3f1c2b3d4e9{i}" for i in range(4)]
    plan = [_port_action(n, "a-ls9", f"10.90.0.{20 + i}", mac=f"52:54:00:00:09:{i:02x}")
            for i, n in enumerate(names)]
    runs = _nbctl_runs(monkeypatch)
    result = Executor(ctx).run(plan)
    assert result.ok and len(result.changed) == 4
    assert len(runs) == 2, runs                                   # every port read, then all written
    assert runs[0].count("find") == 5 and "lsp-add" not in runs[0]   # four ports + the DHCP row
    assert runs[1].count("lsp-add") == 4
    for i, name in enumerate(names):
        assert _port(lab, name)["addresses"] == f'["52:54:00:00:09:{i:02x} 10.90.0.{20 + i}"]'
    assert sorted(_recorded(ctx)) == sorted(names)
    # Again: the read, the switches of the four ports found (one run), nothing to write.
    runs.clear()
    assert Executor(ctx).run(plan).changed == [] and len(runs) == 2
    # A fifth port whose interfaceid another domain's port has: nothing of the call is written.
    lab.nbctl("set", "Logical_Switch_Port", names[3], "external_ids:virt-netxml-domain=other")
    fresh = "1a6c2a4e-8a55-4c5e-9a0c-3f1c2b3d4e99"
    runs.clear()
    result = Executor(ctx).run([_port_action(fresh, "a-ls9", "10.90.0.30", mac="52:54:00:00:09:99"),
                                *plan])
    assert not result.ok and result.failed is plan[3]
    assert "belongs to domain other" in result.error.message
    assert _port(lab, fresh) is None and len(runs) == 2
    # The release of the guest's ports: one read (and the switches), one transaction.
    lab.nbctl("set", "Logical_Switch_Port", names[3], f"external_ids:virt-netxml-domain={DOMAIN}")
    runs.clear()
    result = Executor(ctx).run([A.DeleteOvnPort(n, DOMAIN, DOMAIN_UUID) for n in names], best_effort=True)
    assert result.ok and len(result.changed) == 4 and len(runs) == 3, runs
    assert runs[2].count("lsp-del") == 4
    assert all(_port(lab, n) is None for n in names) and _recorded(ctx) == {}


def test_a_later_failure_undoes_every_port_of_the_call_in_one_transaction(lab: OvnLab, tmp_path: Path,
                                                                          monkeypatch) -> None:
    ctx = _ctx(lab, lab.chassis[0], tmp_path)
    A.EnsureOvnSwitch("a-ls10").apply(ctx)
    kept = "1a6c2a4e-8a55-4c5e-9a0c-3f1c2b3d4ea0"
    _port_action(kept, "a-ls10", "10.91.0.5").apply(ctx)        # there before: restored, not deleted
    new = [f"1a6c2a4e-8a55-4c5e-9a0c-3f1c2b3d4ea{i}" for i in range(1, 4)]
    plan = [_port_action(kept, "a-ls10", "10.91.0.6"),
            *(_port_action(n, "a-ls10", None, mac=f"52:54:00:00:0a:{i:02x}") for i, n in enumerate(new))]
    runs = _nbctl_runs(monkeypatch)
    result = Executor(ctx).run([*plan, Boom()])
    assert not result.ok and result.undo_errors == [] and len(result.undone) == 1
    # The read, the switch of the port found, the write; the undo's read of the new ports, its write.
    assert len(runs) == 5, runs
    assert runs[3].count("find") == 3 and runs[4].count("lsp-del") == 3
    assert all(_port(lab, n) is None for n in new)
    assert _port(lab, kept)["addresses"] == f'["{MAC} 10.91.0.5"]'
    assert sorted(_recorded(ctx)) == [kept]


def test_port_created_keeps_the_static_address_prepare_wrote(lab: OvnLab, tmp_path: Path) -> None:
    """An interface of an OVN network with its own <vnx:ovn address>: ``prepare`` makes the
    port with the address; the network's ``port-created`` (which sees no domain metadata)
    must not turn it into ``dynamic``."""
    name = "1a6c2a4e-8a55-4c5e-9a0c-3f1c2b3d4eb0"
    ctx = _ctx(lab, lab.chassis[0], tmp_path)
    A.EnsureOvnSwitch("a-ls11", "10.92.0.0/24").apply(ctx)
    assert _port_action(name, "a-ls11", "10.92.0.7").apply(ctx) is not None
    created = A.EnsureOvnPort(name, "a-ls11", MAC, None, DOMAIN, DOMAIN_UUID, keep_address=True)
    assert created.apply(ctx) is None
    assert _port(lab, name)["addresses"] == f'["{MAC} 10.92.0.7"]'
    # A port that network port-created makes itself is dynamic, as OVN's IPAM gives it.
    fresh = "1a6c2a4e-8a55-4c5e-9a0c-3f1c2b3d4eb1"
    assert A.EnsureOvnPort(fresh, "a-ls11", "52:54:00:00:0b:01", None, DOMAIN, DOMAIN_UUID,
                           keep_address=True).apply(ctx) is not None
    assert _port(lab, fresh)["addresses"] == '["52:54:00:00:0b:01 dynamic"]'
