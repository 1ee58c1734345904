"""Record actions, host shims and the shared helpers at their edges: what each writes and drops,
what its undo restores exactly, and the messages a refusal shows."""

from __future__ import annotations

import time

import pytest

from hooks import actions as A
from hooks.actions.base import Batch, DomainRecord, NetworkRecord, undo_own_steps
from hooks.context import Context, Owner
from hooks.deadline import Deadline
from hooks.errors import HostError, NotFound
from tests.fakes import FakeNetlink
from tests.hooks.test_actions import Host

UUID = "11111111-2222-3333-4444-555555555555"
MAC = "52:54:00:00:00:01"


@pytest.fixture
def host(tmp_path):
    return Host(tmp_path)


@pytest.fixture
def network(tmp_path):
    host = Host(tmp_path, owner=Owner("network", "mvnet", "u-net"))
    host.net.add_link("up0", "veth", up=True)
    return host


# --------------------------------------------------------------------------- port wishes, start notes


def test_a_changed_port_wish_is_undone_to_the_one_before(tmp_path):
    host = Host(tmp_path, owner=Owner("network", "net1"))
    A.RecordPortWish("vm1", "u-1", MAC, (("tag", 5),)).apply(host.ctx)
    undo = A.RecordPortWish("vm1", "u-1", MAC, (("tag", 6),)).apply(host.ctx)
    assert host.record("domains", "vm1")["port_wishes"] == {MAC: {"tag": 6}}
    assert undo is not None and undo.step == f"forget VLAN wish for port {MAC}"
    undo.run()
    assert host.record("domains", "vm1") == {"name": "vm1", "uuid": "u-1",
                                             "port_wishes": {MAC: {"tag": 5}}}


def test_undoing_one_port_wish_keeps_the_others(tmp_path):
    host = Host(tmp_path, owner=Owner("network", "net1"))
    A.RecordPortWish("vm1", None, "52:54:00:00:00:02", (("tag", 7),)).apply(host.ctx)
    undo = A.RecordPortWish("vm1", None, MAC, (("tag", 5),)).apply(host.ctx)
    assert undo is not None
    undo.run()
    assert host.record("domains", "vm1") == {"name": "vm1", "port_wishes": {"52:54:00:00:00:02": {"tag": 7}}}


def test_mark_starting_on_a_record_with_only_an_older_note(tmp_path):
    host = Host(tmp_path)
    ctx = Context(host.owner, host.store, Deadline(30), netlink=host.net, daemon_pid=77)
    with host.store.edit("domains", "vm1") as rec:
        rec.update(name="vm1", starting={"pid": 1, "since": 1.0})
    assert A.MarkStarting().apply(ctx) is None
    assert host.record()["starting"] == {"pid": 1, "since": 1.0}


def test_mark_starting_undo_step_and_what_it_drops(tmp_path):
    host = Host(tmp_path)
    ctx = Context(host.owner, host.store, Deadline(30), netlink=host.net, daemon_pid=77)
    with host.store.edit("domains", "vm1") as rec:
        rec["taps"] = {"tap0": {}}
    undo = A.MarkStarting().apply(ctx)
    assert undo is not None and undo.step == "drop the note that the domain is starting"
    assert host.record()["starting"]["pid"] == 77
    undo.run()
    assert host.record() == {"name": "vm1", "uuid": UUID, "taps": {"tap0": {}}}


def test_forget_domain_drops_wishes_and_note_only(host):
    with host.store.edit("domains", "vm1") as rec:
        rec.update(taps={"tap0": {}}, port_wishes={MAC: {"tag": 5}}, starting={"pid": 1, "since": 1.0})
    undo = A.ForgetDomain().apply(host.ctx)
    assert host.record() == {"name": "vm1", "uuid": UUID, "taps": {"tap0": {}}}
    assert undo is not None and undo.step == "restore the domain's port records"
    undo.run()
    assert host.record()["port_wishes"] == {MAC: {"tag": 5}}
    assert host.record()["starting"] == {"pid": 1, "since": 1.0}


def test_forget_domain_with_only_wishes_keeps_no_empty_note(host):
    with host.store.edit("domains", "vm1") as rec:
        rec.update(taps={"tap0": {}}, port_wishes={MAC: {"tag": 5}})
    undo = A.ForgetDomain().apply(host.ctx)
    assert undo is not None
    undo.run()
    assert host.record() == {"name": "vm1", "uuid": UUID, "taps": {"tap0": {}},
                             "port_wishes": {MAC: {"tag": 5}}}


def test_a_wish_undone_after_the_record_changed_hands(tmp_path):
    host = Host(tmp_path, owner=Owner("network", "net1"))
    with host.store.edit("domains", "vm1") as rec:
        rec.update(name="vm1", uuid="u-1", port_wishes={MAC: {"tag": 4}})
    undo = A.RecordPortWish("vm1", "u-1", MAC, (("tag", 5),)).apply(host.ctx)
    with host.store.edit("domains", "vm1") as rec:
        rec["uuid"] = "u-other"
    assert undo is not None
    undo.run()
    assert host.record("domains", "vm1") == {"name": "vm1", "uuid": "u-1", "port_wishes": {MAC: {"tag": 4}}}


def test_undoing_a_wish_the_domain_already_forgot_is_harmless(tmp_path):
    host = Host(tmp_path, owner=Owner("network", "net1"))
    undo = A.RecordPortWish("vm1", "u-1", MAC, (("tag", 5),)).apply(host.ctx)
    with host.store.edit("domains", "vm1") as rec:
        rec["port_wishes"] = {}
        rec["taps"] = {"tap0": {}}
    assert undo is not None
    undo.run()
    assert host.record("domains", "vm1") == {"name": "vm1", "uuid": "u-1", "taps": {"tap0": {}}}


def test_the_start_note_keeps_milliseconds(tmp_path, monkeypatch):
    host = Host(tmp_path)
    ctx = Context(host.owner, host.store, Deadline(30), netlink=host.net, daemon_pid=77)
    with host.store.edit("domains", "vm1") as rec:
        rec["taps"] = {"tap0": {}}
    monkeypatch.setattr(time, "time", lambda: 1700000000.123456)
    A.MarkStarting().apply(ctx)
    monkeypatch.undo()
    assert host.record()["starting"] == {"pid": 77, "since": 1700000000.123}


def test_rewrite_xml_undo_step(host):
    undo = A.RewriteXml("<domain/>").apply(host.ctx)
    assert undo is not None and undo.step == "drop the rewritten XML"


def test_record_pool_again_changes_nothing_and_a_new_pf_is_undone_to_the_old(network):
    first = A.RecordPool("enp4s0f0").apply(network.ctx)
    assert network.record("networks") == {"name": "mvnet", "pool": {"pf": "enp4s0f0"}}
    assert first is not None and first.step == "forget the network's VF pool"
    assert A.RecordPool("enp4s0f0").apply(network.ctx) is None
    second = A.RecordPool("enp5s0f0").apply(network.ctx)
    assert second is not None
    second.run()
    assert network.record("networks")["pool"] == {"pf": "enp4s0f0"}
    first.run()
    assert network.record("networks") == {}


def test_forget_pool_and_its_undo(network):
    assert A.ForgetPool().apply(network.ctx) is None
    A.RecordPool("enp4s0f0").apply(network.ctx)
    undo = A.ForgetPool().apply(network.ctx)
    assert network.record("networks") == {}
    assert undo is not None and undo.step == "record the network's VF pool again"
    undo.run()
    assert network.record("networks")["pool"] == {"pf": "enp4s0f0"}


# --------------------------------------------------------------------------- shims


def test_check_uplink_messages(network):
    network.net.add_link("down0", "veth")
    with pytest.raises(NotFound) as gone:
        A.CheckUplink("gone0").apply(network.ctx)
    assert gone.value.message == "check uplink gone0 exists and is up: uplink 'gone0' does not exist"
    with pytest.raises(HostError) as down:
        A.CheckUplink("down0").apply(network.ctx)
    assert down.value.message == "check uplink down0 exists and is up: uplink 'down0' is down"


def test_create_shim_records_uplink_address_and_index(network):
    undo = A.CreateShim("mvshim0", "up0", "10.0.0.1/24").apply(network.ctx)
    assert network.record("networks")["shims"] == {
        "mvshim0": {"uplink": "up0", "address": "10.0.0.1/24", "index": network.net.links["mvshim0"].index}}
    assert undo is not None and undo.step == "delete host shim mvshim0"


def test_create_shim_over_a_device_of_another_kind_is_refused(network):
    network.net.add_link("mvshim0", "veth")
    with pytest.raises(HostError) as info:
        A.CreateShim("mvshim0", "up0", "10.0.0.1/24").apply(network.ctx)
    assert info.value.message == ("create host shim mvshim0 (macvlan bridge on up0, 10.0.0.1/24): mvshim0 "
                                  "exists and is a veth, not a macvlan")
    assert network.record("networks") == {}


def test_create_shim_finds_an_existing_macvlan_and_leaves_it(network):
    network.net.add_link("mvshim0", "macvlan")
    assert A.CreateShim("mvshim0", "up0", "10.0.0.1/24").apply(network.ctx) is None
    assert network.record("networks") == {}


def test_create_shim_whose_device_cannot_be_found_after_creation(network):
    real = network.net.link
    network.net.link = lambda name: None if name == "mvshim0" else real(name)
    with pytest.raises(NotFound) as info:
        A.CreateShim("mvshim0", "up0", "10.0.0.1/24").apply(network.ctx)
    assert info.value.message == ("create host shim mvshim0 (macvlan bridge on up0, 10.0.0.1/24): shim "
                                  "'mvshim0' does not exist")
    assert network.record("networks") == {}


def test_create_shim_whose_failure_cannot_be_undone_is_left_for_repair(tmp_path):
    net = FakeNetlink(fail_on={"add_address": HostError(step="addr", detail="EADDRINUSE"),
                               "delete_link": HostError(step="del", detail="EBUSY")})
    host = Host(tmp_path, owner=Owner("network", "mvnet"), net=net)
    host.net.add_link("up0", "veth", up=True)
    with pytest.raises(HostError, match="EADDRINUSE"):
        A.CreateShim("mvshim0", "up0", "10.0.0.1/24").apply(host.ctx)
    assert host.ctx.left_over == ["delete host shim mvshim0: del: EBUSY"]
    assert "mvshim0" in host.record("networks")["shims"]


def test_delete_shim_leaves_a_device_that_took_the_name(network):
    A.CreateShim("mvshim0", "up0", "10.0.0.1/24").apply(network.ctx)
    del network.net.links["mvshim0"]
    network.net.add_link("mvshim0", "macvlan")                  # someone else's, another ifindex
    assert A.DeleteShim("mvshim0").apply(network.ctx) is not None
    assert "mvshim0" in network.net.links and network.record("networks") == {}


def test_delete_shim_leaves_a_device_of_another_kind(network):
    A.CreateShim("mvshim0", "up0", "10.0.0.1/24").apply(network.ctx)
    del network.net.links["mvshim0"]
    network.net.add_link("mvshim0", "veth")
    A.DeleteShim("mvshim0").apply(network.ctx)
    assert network.net.calls_to("delete_link") == []


def test_delete_shim_without_an_index_deletes_the_macvlan_of_that_name(network):
    network.net.add_link("mvshim0", "macvlan")
    with network.store.edit("networks", "mvnet") as rec:
        rec["shims"] = {"mvshim0": {"uplink": "up0", "address": "10.0.0.1/24"}}
    undo = A.DeleteShim("mvshim0").apply(network.ctx)
    assert "mvshim0" not in network.net.links
    assert undo is not None and undo.step == "re-create host shim mvshim0"
    undo.run()
    link = network.net.links["mvshim0"]
    assert (link.uplink, link.addresses, link.up) == ("up0", ["10.0.0.1/24"], True)


def test_create_shim_undo_leaves_a_macvlan_that_took_the_name(network):
    undo = A.CreateShim("mvshim0", "up0", "10.0.0.1/24").apply(network.ctx)
    del network.net.links["mvshim0"]
    network.net.add_link("mvshim0", "macvlan")                  # someone else's, another ifindex
    assert undo is not None
    undo.run()
    assert "mvshim0" in network.net.links and network.record("networks") == {}


def test_delete_shim_that_is_already_gone_forgets_it(network):
    A.CreateShim("mvshim0", "up0", "10.0.0.1/24").apply(network.ctx)
    del network.net.links["mvshim0"]
    assert A.DeleteShim("mvshim0").apply(network.ctx) is not None
    assert network.record("networks") == {} and network.net.calls_to("delete_link") == []


def test_delete_shim_without_an_index_leaves_a_device_of_another_kind(network):
    network.net.add_link("mvshim0", "veth")
    with network.store.edit("networks", "mvnet") as rec:
        rec["shims"] = {"mvshim0": {"uplink": "up0", "address": "10.0.0.1/24"}}
    A.DeleteShim("mvshim0").apply(network.ctx)
    assert "mvshim0" in network.net.links and network.record("networks") == {}


def test_create_shim_undo_after_the_record_is_gone_deletes_only_a_macvlan(network):
    undo = A.CreateShim("mvshim0", "up0", "10.0.0.1/24").apply(network.ctx)
    with network.store.edit("networks", "mvnet") as rec:
        rec["shims"] = {}
    assert undo is not None
    undo.run()
    assert "mvshim0" not in network.net.links


# --------------------------------------------------------------------------- base


def test_domain_record_of_another_domain_is_labelled_with_its_own_name_and_uuid(host):
    with DomainRecord(host.ctx, "vm2", "u-2") as rec:
        rec.part_for_update(rec.TAPS)["tap0"] = {}
    assert host.record("domains", "vm2") == {"name": "vm2", "uuid": "u-2", "taps": {"tap0": {}}}
    with DomainRecord(host.ctx) as rec:
        rec.part_for_update(rec.TAPS)["tap1"] = {}
    assert host.record() == {"name": "vm1", "uuid": UUID, "taps": {"tap1": {}}}
    with DomainRecord(host.ctx, "vm3") as rec:
        rec.part_for_update(rec.TAPS)["tap2"] = {}
    assert host.record("domains", "vm3") == {"name": "vm3", "taps": {"tap2": {}}}


def test_network_record_is_labelled_with_the_name_only(network):
    with NetworkRecord(network.ctx) as rec:
        rec.part_for_update(rec.SHIMS)["s"] = {}
    assert network.record("networks") == {"name": "mvnet", "shims": {"s": {}}}


def test_an_error_inside_a_record_edit_writes_nothing(host):
    with pytest.raises(RuntimeError), DomainRecord(host.ctx) as rec:
        rec.part_for_update(rec.TAPS)["tap0"] = {}
        raise RuntimeError("half way")
    assert host.record() == {}


class Terse(Exception):
    """An error that carries its one-line message apart from its full text."""

    message = "device busy"


def test_undo_own_steps_notes_what_could_not_be_put_back(host):
    def raising(exc):
        def run():
            raise exc
        return run

    undo_own_steps(host.ctx, "first", lambda: None)
    undo_own_steps(host.ctx, "second", raising(HostError(step="s", detail="d")))
    undo_own_steps(host.ctx, "third", raising(OSError(5, "EIO")))
    undo_own_steps(host.ctx, "fourth", raising(Terse("device busy: EBUSY from the kernel, errno 16")))
    assert host.ctx.left_over == ["second: s: d", "third: [Errno 5] EIO", "fourth: device busy"]


def test_a_batch_holds_its_actions_in_order_and_blames_the_first_by_default(host):
    actions = [A.LinkUp("tap0"), A.LinkUp("tap1")]
    batch = Batch.of(host.ctx, actions)
    assert batch.actions == actions and batch.ctx is host.ctx
    assert batch.culprit(HostError(step="s", detail="d")) is actions[0]
    with pytest.raises(NotImplementedError):
        batch.commit()
