"""TAP actions at their edges: which device may be taken and why not, the record each step
writes, what giving back undoes on which device, and OVS rows left from before a reboot."""

from __future__ import annotations

import pytest

from hooks import actions as A
from hooks.actions.tap import (
    _plugged,
    in_use,
    is_recorded_device,
    link_conflict,
    ovs_conflict,
    owner_mark,
    tap_conflict,
)
from hooks.context import Owner
from hooks.errors import ForeignDevice, HostError, HostTimeout, NotFound
from hooks.ports import LinkInfo
from tests.fakes import FakeNetlink, FakeOvs, FakeOvsPortRow
from tests.hooks.test_actions import Host

UUID = "11111111-2222-3333-4444-555555555555"


def tap(**attrs) -> LinkInfo:
    values = dict(name="tap0", index=7, kind="tun", up=False, master=None, mac=None, tun_mode="tap")
    values.update(attrs)
    return LinkInfo(**values)


@pytest.fixture
def host(tmp_path):
    return Host(tmp_path)


# --------------------------------------------------------------------------- which device may be taken


@pytest.mark.parametrize(("link", "reason"), [
    (tap(), None),
    (tap(tun_persistent=False), "is in use (not persistent: it lives only while a process holds it)"),
    (tap(tun_queues=2), "is in use (2 queue(s) held by a process)"),
    (tap(tun_queues=0), None),
    (tap(carrier=True), "is in use (it has carrier: a process holds it open)"),
    (tap(master="br0"), "is attached to br0"),
    (tap(tun_mode="tun"), "is not a TAP (a tun device)"),
    (tap(tun_mode=None), "is not a TAP (a tun/tap of unknown device)"),
    (tap(kind="veth"), "is not a TAP (a veth link)"),
    (tap(kind=None), "is not a TAP (a device of unknown kind: loopback, a NIC...)"),
])
def test_link_conflict_names_why_a_device_is_not_a_free_tap(link, reason):
    assert link_conflict(link) == reason


def test_in_use_looks_at_persistence_first():
    held = tap(tun_persistent=False, tun_queues=3, carrier=True)
    assert in_use(held).startswith("is in use (not persistent")
    assert in_use(tap(tun_queues=3, carrier=True)) == "is in use (3 queue(s) held by a process)"


def test_owner_mark_is_the_uuid_or_else_the_name(host):
    assert owner_mark(host.ctx) == UUID
    assert owner_mark(host.context(Owner("domain", "vm2"))) == "vm2"


def test_ovs_conflict_rows_of_the_name(host):
    host.ovs.add_bridge("ovsbr0")
    assert ovs_conflict(host.ovs, "tap0") is None
    host.ovs.add_port("ovsbr0", "tap0", owner=UUID)
    assert ovs_conflict(host.ovs, "tap0") == "is an Open vSwitch port"
    # The domain's own row whose TAP is gone (a reboot): not a conflict.
    assert ovs_conflict(host.ovs, "tap0", UUID, link=False) is None
    # ... but with a device of that name, or marked for someone else, it is.
    assert ovs_conflict(host.ovs, "tap0", UUID, link=True) == "is an Open vSwitch port"
    assert ovs_conflict(host.ovs, "tap0", "someone-else", link=False) == "is an Open vSwitch port"
    host.ovs.maps[("Interface", "patch0")] = {}
    assert ovs_conflict(host.ovs, "patch0", UUID, link=False) == "is an Open vSwitch interface"


def test_ovs_conflict_assumes_a_device_of_the_name_unless_told(host):
    host.ovs.add_bridge("ovsbr0")
    host.ovs.add_port("ovsbr0", "tap0", owner=UUID)
    assert ovs_conflict(host.ovs, "tap0", UUID) == "is an Open vSwitch port"


def test_tap_conflict_lets_the_domain_take_back_its_own_row_without_a_device(host):
    host.ovs.add_bridge("ovsbr0")
    host.ovs.add_port("ovsbr0", "tap0", owner=UUID)             # left from before a reboot
    assert tap_conflict(host.ctx, "tap0", True) is None
    other = host.context(Owner("domain", "vm2", "u-2"))
    assert tap_conflict(other, "tap0", True) == "is an Open vSwitch port"


def test_ovs_conflict_without_open_vswitch_running_and_when_it_hangs():
    down = FakeOvs(fail_on={"port_or_interface": HostError(step="ovs-vsctl", detail="no database")})
    assert ovs_conflict(down, "tap0") is None
    hung = FakeOvs(fail_on={"port_or_interface": HostTimeout(step="ovs-vsctl", seconds=5)})
    with pytest.raises(HostTimeout):
        ovs_conflict(hung, "tap0")


def test_tap_conflict_asks_open_vswitch_only_when_it_matters(host):
    assert tap_conflict(host.ctx, "tap0", False) is None
    assert host.ovs.calls == []
    host.ovs.add_bridge("ovsbr0")
    host.ovs.add_port("ovsbr0", "tap0", owner="vm9")
    assert tap_conflict(host.ctx, "tap0", True) == "is an Open vSwitch port"
    host.net.add_link("tap1", "tun")
    host.ovs.add_port("ovsbr0", "tap1", owner=UUID)
    assert tap_conflict(host.ctx, "tap1", False) == "is an Open vSwitch port"


def test_tap_conflict_with_claims(host):
    host.net.add_link("tap0", "tun")
    A.ClaimDevice("tap-tap0", "TAP").apply(host.ctx)
    assert tap_conflict(host.ctx, "tap0", False) is None          # this domain's own claim
    other = host.context(Owner("domain", "vm2"))
    assert tap_conflict(other, "tap0", False) == "is in use by domain vm1"


@pytest.mark.parametrize(("entry", "plugged"), [
    ({"bridge": "br0"}, True),                       # written before "plugged" existed: created, bridged
    ({"bridge": "br0", "adopted": True}, False),
    ({}, False),
    ({"bridge": None}, False),
    ({"bridge": "br0", "plugged": False}, False),
    ({"adopted": True, "plugged": True}, True),
])
def test_plugged_reads_old_and_new_records(entry, plugged):
    assert _plugged(entry) is plugged


@pytest.mark.parametrize(("link", "entry", "mine"), [
    (tap(index=7), {"index": 7}, True),
    (tap(index=8), {"index": 7}, False),
    (tap(index=7, kind="veth"), {"index": 7}, False),
    (tap(index=7, tun_mode="tun"), {"index": 7}, False),
    # No index noted (killed right after creating it): ours if free, or on our own bridge.
    (tap(), {"bridge": "br0"}, True),
    (tap(master="br0"), {"bridge": "br0"}, True),
    (tap(master="ovs-system"), {"bridge": "ovsbr0"}, True),
    (tap(master="br1"), {"bridge": "br0"}, False),
    (tap(carrier=True), {"bridge": "br0"}, False),
])
def test_is_recorded_device(link, entry, mine):
    assert is_recorded_device(link, entry) is mine


# --------------------------------------------------------------------------- CreateTap


def test_create_tap_records_what_it_made_before_and_after(host):
    undo = A.CreateTap("tap0", 107, 108, True, False, "ovsbr0", True).apply(host.ctx)
    assert host.record()["taps"]["tap0"] == {
        "uid": 107, "gid": 108, "multi_queue": True, "vnet_hdr": False, "bridge": "ovsbr0", "ovs": True,
        "adopted": False, "plugged": False, "index": host.net.links["tap0"].index}
    assert host.net.calls_to("create_tap") == [("tap0", 107, 108, True, False)]
    assert undo is not None and undo.step == "delete TAP tap0"


def test_create_tap_takes_a_free_one_and_records_it_as_adopted(host):
    host.net.add_link("tap0", "tun")
    undo = A.CreateTap("tap0", 5, 6, bridge="br0").apply(host.ctx)
    assert host.record()["taps"]["tap0"] == {
        "uid": 5, "gid": 6, "multi_queue": False, "vnet_hdr": False, "bridge": "br0", "ovs": False,
        "adopted": True, "plugged": False, "index": host.net.links["tap0"].index}
    assert undo is not None and undo.step == "give back TAP tap0"
    undo.run()
    assert "tap0" in host.net.links and host.record() == {}


def test_create_tap_refusal_names_the_step_and_the_reason(host):
    host.net.add_link("tap0", "veth")
    with pytest.raises(ForeignDevice) as info:
        A.CreateTap("tap0", 1, 2).apply(host.ctx)
    assert info.value.message == ("create TAP tap0 owner 1:2: device 'tap0' is not a TAP (a veth link); "
                                  "refusing to touch a device the hook did not create or take")


def test_create_tap_does_not_take_a_tap_recorded_but_replaced(host):
    A.CreateTap("tap0").apply(host.ctx)
    index = host.net.links["tap0"].index
    del host.net.links["tap0"]
    host.net.add_link("tap0", "tun", master="br9")          # another device took the name
    with pytest.raises(ForeignDevice, match="is attached to br9"):
        A.CreateTap("tap0").apply(host.ctx)
    assert host.record()["taps"]["tap0"]["index"] == index


def test_create_tap_whose_device_cannot_be_found_after_creation_deletes_nothing_else(tmp_path):
    made = []

    def vanish(name):
        made.append(name)
        return None

    host = Host(tmp_path)
    host.net.create_tap = lambda *args: made.append(("create", *args))   # "succeeds", makes nothing
    host.net.link = vanish
    with pytest.raises(NotFound) as info:
        A.CreateTap("tap0").apply(host.ctx)
    assert info.value.message == "create TAP tap0 owner -:-: TAP 'tap0' does not exist"
    assert host.record() == {} and host.ctx.left_over == []


def test_create_tap_failure_whose_record_cannot_be_dropped_is_left_for_repair(tmp_path, monkeypatch):
    host = Host(tmp_path, net=FakeNetlink(fail_on={"create_tap": HostError(step="tap", detail="EPERM")}))
    real = host.store.edit
    calls = []

    def edit(kind, name):
        calls.append(kind)
        if len(calls) > 1:
            raise HostError(step="write state", detail="disk full")
        return real(kind, name)

    monkeypatch.setattr(host.store, "edit", edit)
    with pytest.raises(HostError, match="EPERM"):
        A.CreateTap("tap0").apply(host.ctx)
    assert host.ctx.left_over == ["forget TAP tap0: write state: disk full"]


def test_create_tap_whose_index_cannot_be_noted_deletes_the_new_tap(tmp_path, monkeypatch):
    host = Host(tmp_path)
    real = host.store.edit
    calls = []

    def edit(kind, name):
        calls.append(kind)
        if len(calls) == 2:
            raise HostError(step="write state", detail="disk full")
        return real(kind, name)

    monkeypatch.setattr(host.store, "edit", edit)
    with pytest.raises(HostError, match="disk full"):
        A.CreateTap("tap0").apply(host.ctx)
    assert "tap0" not in host.net.links and host.record() == {} and host.ctx.left_over == []


def test_create_tap_whose_index_and_undo_both_fail_is_left_for_repair(tmp_path, monkeypatch):
    host = Host(tmp_path)
    real = host.store.edit
    calls = []

    def edit(kind, name):
        calls.append(kind)
        if len(calls) >= 2:
            raise HostError(step="write state", detail="disk full")
        return real(kind, name)

    monkeypatch.setattr(host.store, "edit", edit)
    with pytest.raises(HostError, match="disk full"):
        A.CreateTap("tap0").apply(host.ctx)
    assert host.ctx.left_over == ["delete TAP tap0: write state: disk full"]
    assert "tap0" not in host.net.links


# --------------------------------------------------------------------------- DeleteTap and give back


def test_delete_tap_undo_recreates_it_as_it_was_and_plugs_it_back(host):
    host.ovs.add_bridge("ovsbr0")
    A.CreateTap("tap0", 107, 108, True, True, "ovsbr0", True).apply(host.ctx)
    A.EnslaveLink("tap0", "ovsbr0", True).apply(host.ctx)
    undo = A.DeleteTap("tap0").apply(host.ctx)
    assert undo is not None and undo.step == "re-create TAP tap0"
    undo.run()
    link = host.net.links["tap0"]
    assert (link.uid, link.gid, link.multi_queue, link.vnet_hdr) == (107, 108, True, True)
    assert host.ovs.ports["tap0"].bridge == "ovsbr0" and host.ovs.ports["tap0"].owner == UUID
    entry = host.record()["taps"]["tap0"]
    assert (entry["plugged"], entry["ovs"], entry["bridge"]) == (True, True, "ovsbr0")


def test_delete_tap_undo_of_an_unplugged_tap_does_not_plug_it(host):
    host.net.add_bridge("br0")
    A.CreateTap("tap0", bridge="br0").apply(host.ctx)
    undo = A.DeleteTap("tap0").apply(host.ctx)
    assert undo is not None
    undo.run()
    assert host.net.links["tap0"].master is None
    assert host.record()["taps"]["tap0"]["plugged"] is False


def test_give_back_leaves_an_ovs_port_that_moved_to_another_bridge(host):
    host.ovs.add_bridge("ovsA")
    host.ovs.add_bridge("ovsB")
    A.CreateTap("tap0", bridge="ovsA", ovs=True).apply(host.ctx)
    A.EnslaveLink("tap0", "ovsA", True).apply(host.ctx)
    host.ovs.ports["tap0"].bridge = "ovsB"                  # moved by someone since
    A.DeleteTap("tap0").apply(host.ctx)
    assert host.ovs.ports["tap0"].bridge == "ovsB"
    assert host.record() == {} and "tap0" not in host.net.links


def test_give_back_fails_when_our_own_ovs_port_cannot_be_removed(tmp_path):
    host = Host(tmp_path, ovs=FakeOvs(fail_on={"del_port": HostError(step="del-port", detail="db locked")}))
    host.ovs.add_bridge("ovsA")
    A.CreateTap("tap0", bridge="ovsA", ovs=True).apply(host.ctx)
    A.EnslaveLink("tap0", "ovsA", True).apply(host.ctx)
    with pytest.raises(HostError, match="db locked"):
        A.DeleteTap("tap0").apply(host.ctx)
    assert "tap0" in host.record()["taps"]                 # kept for repair
    host.ovs.ports.pop("tap0")                              # gone meanwhile: still "ours" to fail on
    with pytest.raises(HostError, match="db locked"):
        A.DeleteTap("tap0").apply(host.ctx)


def test_give_back_of_a_taken_tap_leaves_it_where_someone_else_put_it(host):
    host.net.add_bridge("br0")
    host.net.add_bridge("br1")
    host.net.add_link("tap0", "tun")
    A.CreateTap("tap0", bridge="br0").apply(host.ctx)
    A.EnslaveLink("tap0", "br0").apply(host.ctx)
    host.net.links["tap0"].master = "br1"
    A.DeleteTap("tap0").apply(host.ctx)
    assert host.net.links["tap0"].master == "br1" and host.net.calls_to("set_master")[-1] == ("tap0", "br0")


def test_give_back_of_a_taken_tap_never_plugged_by_the_hook_leaves_its_master(host):
    host.net.add_bridge("br0")
    host.net.add_link("tap0", "tun")
    A.CreateTap("tap0", bridge="br0").apply(host.ctx)
    host.net.links["tap0"].master = "br0"                    # plugged by someone else
    A.DeleteTap("tap0").apply(host.ctx)
    assert host.net.links["tap0"].master == "br0" and host.net.calls_to("set_master") == []


def test_a_created_tap_on_a_linux_bridge_is_deleted_not_unplugged_first(host):
    host.net.add_bridge("br0")
    A.CreateTap("tap0", bridge="br0").apply(host.ctx)
    A.EnslaveLink("tap0", "br0").apply(host.ctx)
    host.net.calls.clear()
    A.DeleteTap("tap0").apply(host.ctx)
    assert host.net.calls_to("set_master") == [] and host.net.calls_to("delete_link") == [("tap0",)]


def test_a_created_tap_plugged_into_a_linux_bridge_and_gone_is_forgotten(host):
    host.net.add_bridge("br0")
    A.CreateTap("tap0", bridge="br0").apply(host.ctx)
    A.EnslaveLink("tap0", "br0").apply(host.ctx)
    del host.net.links["tap0"]
    A.DeleteTap("tap0").apply(host.ctx)
    assert host.record() == {} and host.net.calls_to("delete_link") == []


@pytest.mark.parametrize("ovs", [False, True])
def test_give_back_of_a_record_without_a_bridge_unplugs_nothing(host, ovs):
    host.net.add_link("tap0", "tun")
    A.CreateTap("tap0", ovs=ovs).apply(host.ctx)
    with host.store.edit("domains", "vm1") as rec:
        rec["taps"]["tap0"]["plugged"] = True
    host.net.calls.clear()
    A.DeleteTap("tap0").apply(host.ctx)
    assert host.net.calls_to("set_master") == [] and host.ovs.calls_to("del_port") == []
    assert "tap0" in host.net.links and host.record() == {}


# --------------------------------------------------------------------------- EnslaveLink and LinkUp


def test_enslave_records_plugged_before_the_change_and_clears_it_when_the_change_fails(tmp_path):
    host = Host(tmp_path, net=FakeNetlink(fail_on={"set_master": HostError(step="enslave", detail="EBUSY")}))
    host.net.add_bridge("br0")
    A.CreateTap("tap0", bridge="br0").apply(host.ctx)
    with pytest.raises(HostError, match="EBUSY"):
        A.EnslaveLink("tap0", "br0").apply(host.ctx)
    assert host.record()["taps"]["tap0"]["plugged"] is False


def test_enslave_ovs_failure_clears_plugged_again(tmp_path):
    host = Host(tmp_path, ovs=FakeOvs(fail_on={"add_port": HostError(step="add-port", detail="no bridge")}))
    host.ovs.add_bridge("ovsbr0")
    A.CreateTap("tap0", bridge="ovsbr0", ovs=True).apply(host.ctx)
    with pytest.raises(HostError, match="no bridge"):
        A.EnslaveLink("tap0", "ovsbr0", True).apply(host.ctx)
    assert host.record()["taps"]["tap0"]["plugged"] is False and "tap0" not in host.ovs.ports


def _edits_fail_from(host: Host, monkeypatch, first: int) -> None:
    """Record edits number ``first`` and later fail (counted from now)."""
    real = host.store.edit
    calls = []

    def edit(kind, name):
        calls.append(kind)
        if len(calls) >= first:
            raise HostError(step="write state", detail="disk full")
        return real(kind, name)

    monkeypatch.setattr(host.store, "edit", edit)


@pytest.mark.parametrize("on_ovs", [False, True], ids=["bridge", "ovs"])
def test_a_failed_plug_whose_note_cannot_be_cleared_is_left_for_repair(tmp_path, monkeypatch, on_ovs):
    boom = HostError(step="plug", detail="EBUSY")
    host = Host(tmp_path, net=FakeNetlink(fail_on={"set_master": boom}),
                ovs=FakeOvs(fail_on={"add_port": boom}))
    host.net.add_bridge("br0")
    host.ovs.add_bridge("br0")
    A.CreateTap("tap0", bridge="br0", ovs=on_ovs).apply(host.ctx)
    _edits_fail_from(host, monkeypatch, 2)          # noting "plugged" works, clearing it does not
    with pytest.raises(HostError, match="EBUSY"):
        A.EnslaveLink("tap0", "br0", on_ovs).apply(host.ctx)
    assert host.ctx.left_over == ["note tap0 unplugged: write state: disk full"]
    monkeypatch.undo()
    assert host.record()["taps"]["tap0"]["plugged"] is True       # release will look there


def test_enslave_undo_steps_are_named(host):
    host.net.add_bridge("br0")
    host.ovs.add_bridge("ovsbr0")
    A.CreateTap("tap0", bridge="br0").apply(host.ctx)
    A.CreateTap("tap1", bridge="ovsbr0", ovs=True).apply(host.ctx)
    assert A.EnslaveLink("tap0", "br0").apply(host.ctx).step == "unplug tap0 from bridge br0"
    linux = host.net.calls_to("set_master")
    assert A.EnslaveLink("tap1", "ovsbr0", True).apply(host.ctx).step == "unplug tap1 from OVS bridge ovsbr0"
    assert linux == [("tap0", "br0")] and host.ovs.calls_to("add_port")[-1] == ("ovsbr0", "tap1")
    assert host.ovs.ports["tap1"].owner == UUID


def test_enslave_a_tap_on_the_right_bridge_not_plugged_by_the_hook_is_refused(host):
    host.net.add_bridge("br0")
    host.net.add_link("tap0", "tun")
    A.CreateTap("tap0", bridge="br0").apply(host.ctx)
    host.net.links["tap0"].master = "br0"
    with pytest.raises(ForeignDevice) as info:
        A.EnslaveLink("tap0", "br0").apply(host.ctx)
    assert info.value.message == ("plug tap0 into bridge br0: device 'tap0' is attached to br0; "
                                  "refusing to touch a device the hook did not create or take")


def test_a_port_of_another_ovs_bridge_is_refused_in_one_line(host):
    host.ovs.add_bridge("ovsA")
    host.ovs.add_bridge("ovsB")
    host.ovs.add_port("ovsA", "tap0", owner="vm9")
    A.CreateTap("tap0", bridge="ovsB", ovs=True).apply(host.ctx)
    with pytest.raises(ForeignDevice) as info:
        A.EnslaveLink("tap0", "ovsB", True).apply(host.ctx)
    assert info.value.message == ("plug tap0 into OVS bridge ovsB: device 'tap0' is already a port of OVS "
                                  "bridge ovsA; refusing to touch a device the hook did not create or take")


def test_unplugging_from_ovs_notes_the_tap_unplugged(host):
    host.ovs.add_bridge("ovsbr0")
    A.CreateTap("tap0", bridge="ovsbr0", ovs=True).apply(host.ctx)
    undo = A.EnslaveLink("tap0", "ovsbr0", True).apply(host.ctx)
    assert host.record()["taps"]["tap0"]["plugged"] is True and undo is not None
    undo.run()
    assert host.record()["taps"]["tap0"]["plugged"] is False and "tap0" not in host.ovs.ports


def _rebooted(host: Host, bridge: str) -> None:
    """What a reboot leaves: the domain's own Port row, no TAP, no record; then prepare made a TAP."""
    host.ovs.add_port(bridge, "tap0", owner=UUID)
    A.CreateTap("tap0", bridge=bridge, ovs=True).apply(host.ctx)
    host.ovs.calls.clear()


def test_the_own_port_row_from_before_a_reboot_is_taken_back_in_place(host):
    host.ovs.add_bridge("ovsA")
    _rebooted(host, "ovsA")
    undo = A.EnslaveLink("tap0", "ovsA", True).apply(host.ctx)
    assert host.ovs.calls_to("add_port") == [] and host.ovs.calls_to("del_port") == []
    assert host.record()["taps"]["tap0"]["plugged"] is True
    assert undo is not None and undo.step == "leave tap0's earlier OVS port as it was"
    undo.run()
    assert host.ovs.ports["tap0"].bridge == "ovsA" and host.record()["taps"]["tap0"]["plugged"] is False
    assert host.ovs.calls_to("add_port") == [] and host.ovs.calls_to("del_port") == []


def test_the_own_port_row_moves_to_the_wished_bridge_and_back_on_undo(host):
    host.ovs.add_bridge("ovsA")
    host.ovs.add_bridge("ovsB")
    _rebooted(host, "ovsA")
    undo = A.EnslaveLink("tap0", "ovsB", True).apply(host.ctx)
    assert host.ovs.ports["tap0"].bridge == "ovsB" and host.ovs.ports["tap0"].owner == UUID
    assert host.record()["taps"]["tap0"]["plugged"] is True
    assert undo is not None
    undo.run()
    assert host.ovs.ports["tap0"].bridge == "ovsA" and host.ovs.ports["tap0"].owner == UUID
    assert host.record()["taps"]["tap0"]["plugged"] is False


def test_a_failed_move_of_the_own_port_row_puts_it_back(tmp_path):
    def fail_on_b(bridge, port):
        return HostError(step="add-port", detail="refused") if bridge == "ovsB" else None

    host = Host(tmp_path, ovs=FakeOvs(fail_on={"add_port": fail_on_b}))
    host.ovs.add_bridge("ovsA")
    host.ovs.add_bridge("ovsB")
    _rebooted(host, "ovsA")
    with pytest.raises(HostError, match="refused"):
        A.EnslaveLink("tap0", "ovsB", True).apply(host.ctx)
    assert host.ovs.ports["tap0"].bridge == "ovsA" and host.ovs.ports["tap0"].owner == UUID
    assert host.ctx.left_over == []


def test_a_failed_move_that_cannot_be_put_back_is_left_for_repair(tmp_path):
    host = Host(tmp_path, ovs=FakeOvs(fail_on={"add_port": HostError(step="add-port", detail="refused")}))
    host.ovs.add_bridge("ovsA")
    host.ovs.add_bridge("ovsB")
    host.ovs.ports["tap0"] = FakeOvsPortRow("ovsA", owner=UUID)     # the row from before the reboot
    host.ovs.maps[("Port", "tap0")] = {}
    host.ovs.maps[("Interface", "tap0")] = {}
    A.CreateTap("tap0", bridge="ovsA", ovs=True).apply(host.ctx)
    with pytest.raises(HostError, match="refused"):
        A.EnslaveLink("tap0", "ovsB", True).apply(host.ctx)
    assert host.ctx.left_over == ["put tap0 back on OVS bridge ovsA: add-port: refused"]


@pytest.mark.parametrize(("action", "step"), [(A.LinkUp("vnet3"), "bring vnet3 up"),
                                             (A.EnslaveLink("vnet3", "br0"), "plug vnet3 into bridge br0")])
def test_a_device_not_recorded_for_the_domain_is_refused_in_one_line(host, action, step):
    host.net.add_link("vnet3", "tun")
    with pytest.raises(ForeignDevice) as info:
        action.apply(host.ctx)
    assert info.value.message == (f"{step}: device 'vnet3' is not a TAP the hook created or took for this "
                                  "domain; refusing to touch a device the hook did not create or take")


def test_undoing_the_take_of_a_tap_already_given_back_is_harmless(host):
    host.net.add_link("tap0", "tun")
    undo = A.CreateTap("tap0").apply(host.ctx)
    A.DeleteTap("tap0").apply(host.ctx)
    assert undo is not None
    undo.run()
    assert host.record() == {} and "tap0" in host.net.links


def test_link_up_of_a_recorded_tap_that_is_gone(host):
    A.CreateTap("tap0").apply(host.ctx)
    del host.net.links["tap0"]
    with pytest.raises(NotFound) as info:
        A.LinkUp("tap0").apply(host.ctx)
    assert info.value.message == "bring tap0 up: interface 'tap0' does not exist"


def test_link_up_undo_brings_it_down(host):
    A.CreateTap("tap0").apply(host.ctx)
    undo = A.LinkUp("tap0").apply(host.ctx)
    assert undo is not None and undo.step == "bring tap0 down"
    assert host.net.links["tap0"].up is True
    undo.run()
    assert host.net.links["tap0"].up is False


def test_enslave_of_a_recorded_tap_that_is_gone(host):
    host.net.add_bridge("br0")
    A.CreateTap("tap0", bridge="br0").apply(host.ctx)
    del host.net.links["tap0"]
    with pytest.raises(NotFound) as info:
        A.EnslaveLink("tap0", "br0").apply(host.ctx)
    assert info.value.message == "plug tap0 into bridge br0: interface 'tap0' does not exist"
