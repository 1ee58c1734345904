"""Claims as actions: what a claim writes, what giving it back and taking it again restore,
a pool VF reserved at prepare and moved to the VF libvirt really plugged, and a claim that
could not be noted in the domain's record given back."""

from __future__ import annotations

import pytest

from hooks import actions as A
from hooks.actions.claims import pool_claim_what
from hooks.context import Owner
from hooks.errors import Busy, HostError
from tests.hooks.test_actions import Host

UUID = "11111111-2222-3333-4444-555555555555"
MAC, MAC2 = "52:54:00:00:0f:01", "52:54:00:00:0f:02"


def claim_file(host: Host, device: str):
    return host.store.read("claims", device)


# --------------------------------------------------------------------------- one device


@pytest.mark.parametrize(("device", "what", "shown"), [
    ("pci-0000:04:10.1", "VF", "VF 0000:04:10.1"),
    ("uplink-br-ex", "passthrough uplink", "passthrough uplink br-ex"),
    ("up0", "device", "device up0"),
])
def test_claim_and_release_describe_the_device_without_its_kind_prefix(device, what, shown):
    assert A.ClaimDevice(device, what).describe() == f"claim {shown} for this domain"
    assert A.ReleaseClaim(device).describe() == f"release claim on {shown.split(' ')[-1]}"


def test_claim_device_writes_the_claim_and_the_domain_record(host):
    undo = A.ClaimDevice("pci-0000:04:10.1", "VF").apply(host.ctx)
    assert claim_file(host, "pci-0000:04:10.1") == {
        "device": "pci-0000:04:10.1", "what": "VF", "owner": "vm1", "uuid": UUID}
    assert host.record() == {"name": "vm1", "uuid": UUID, "claims": {"pci-0000:04:10.1": "VF"}}
    assert undo is not None and undo.step == "release VF pci-0000:04:10.1"
    undo.run()
    assert host.store.names("claims") == [] and host.record() == {}


@pytest.fixture
def host(tmp_path):
    return Host(tmp_path)


def test_release_then_undo_claims_again_for_what_it_was(host):
    A.ClaimDevice("pci-0000:04:10.1", "VF").apply(host.ctx)
    undo = A.ReleaseClaim("pci-0000:04:10.1").apply(host.ctx)
    assert undo is not None and undo.step == "claim pci-0000:04:10.1 again"
    undo.run()
    assert claim_file(host, "pci-0000:04:10.1")["what"] == "VF"
    assert host.record()["claims"] == {"pci-0000:04:10.1": "VF"}


def test_release_of_a_claim_the_record_does_not_list_claims_it_again_as_a_device(host):
    # A crash between taking the claim and noting it in the domain's record.
    host.store.claim("uplink-up0", "passthrough uplink", "vm1", UUID)
    undo = A.ReleaseClaim("uplink-up0").apply(host.ctx)
    assert host.store.holder("uplink-up0") is None and undo is not None
    undo.run()
    assert claim_file(host, "uplink-up0")["what"] == "device"
    assert host.record()["claims"] == {"uplink-up0": "device"}


def test_release_of_a_claim_another_domain_holds_only_cleans_this_domains_record(host):
    other = host.context(Owner("domain", "vm2"))
    A.ClaimDevice("pci-0000:04:10.1", "VF").apply(other)
    with host.store.edit("domains", "vm1") as rec:
        rec["claims"] = {"pci-0000:04:10.1": "VF"}
    assert A.ReleaseClaim("pci-0000:04:10.1").apply(host.ctx) is None
    assert host.store.holder("pci-0000:04:10.1") == "vm2" and host.record() == {}


def test_passthrough_exclusive_for_an_uplink_keeps_the_interface_label():
    plain = A.PassthroughExclusive.for_uplink("up0")
    assert plain == A.PassthroughExclusive("uplink-up0") and plain.iface == ""
    assert (plain.device, plain.what) == ("uplink-up0", "passthrough uplink")
    labelled = A.PassthroughExclusive.for_uplink("up0", iface="52:54:00:00:0f:01 (macvtap0)")
    assert labelled.iface == "52:54:00:00:0f:01 (macvtap0)"


# --------------------------------------------------------------------------- a record that cannot be written


def _spoil_record(host: Host) -> None:
    """The domain's record is unreadable: noting a claim in it fails."""
    with host.store.edit("domains", "vm1") as rec:
        rec["taps"] = {"tap0": {}}
    path = host.store.path("domains", "vm1")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("{broken")


@pytest.mark.parametrize("device", ["uplink-br-ex", "up0"])
def test_a_claim_that_cannot_be_noted_is_given_back(host, device):
    _spoil_record(host)
    with pytest.raises(HostError, match="read state .*vm1.json"):
        A.ClaimDevice(device, "passthrough uplink").apply(host.ctx)
    assert host.store.holder(device) is None and host.ctx.left_over == []


def test_a_claim_that_can_be_neither_noted_nor_given_back_is_left_for_repair(host, monkeypatch):
    _spoil_record(host)

    def stuck(device, owner):
        raise HostError(step=f"release {device}", detail="disk full")

    monkeypatch.setattr(host.store, "release", stuck)
    with pytest.raises(HostError, match="read state"):
        A.ClaimDevice("uplink-br-ex", "passthrough uplink").apply(host.ctx)
    assert host.ctx.left_over == ["release claim on br-ex: release uplink-br-ex: disk full"]
    assert host.store.holder("uplink-br-ex") == "vm1"


# --------------------------------------------------------------------------- a pool's VFs


@pytest.fixture
def pool(tmp_path):
    host = Host(tmp_path)
    host.fs.add_pf("enp4s0f0", "0000:04:00.0", total_vfs=4, numvfs=3)
    return host


def vf(host: Host, index: int) -> str:
    return host.fs.vf_address("enp4s0f0", index)


def test_pool_claim_names_the_network_and_the_port():
    assert pool_claim_what("pool1", MAC) == f"VF of pool pool1 for {MAC}"
    assert A.ClaimPoolVf("pool1", "enp4s0f0", MAC).describe() == (
        f"reserve a VF of pool pool1 (PF enp4s0f0) for {MAC}")


def test_pool_vf_reserved_first_free_then_kept_then_given_back(pool):
    what = pool_claim_what("pool1", MAC)
    undo = A.ClaimPoolVf("pool1", "enp4s0f0", MAC).apply(pool.ctx)
    first = vf(pool, 0)
    assert claim_file(pool, f"pci-{first}") == {"device": f"pci-{first}", "what": what, "owner": "vm1",
                                                "uuid": UUID}
    assert pool.record()["claims"] == {f"pci-{first}": what}
    assert undo is not None and undo.step == f"release VF {first} of pool pool1"
    assert A.ClaimPoolVf("pool1", "enp4s0f0", MAC).apply(pool.ctx) is None     # re-applied plan
    assert pool.store.names("claims") == [f"pci-{first}"]
    undo.run()
    assert pool.store.names("claims") == [] and pool.record() == {}


def test_a_second_port_of_the_domain_gets_the_next_vf(pool):
    A.ClaimPoolVf("pool1", "enp4s0f0", MAC).apply(pool.ctx)
    A.ClaimPoolVf("pool1", "enp4s0f0", MAC2).apply(pool.ctx)
    assert pool.record()["claims"] == {f"pci-{vf(pool, 0)}": pool_claim_what("pool1", MAC),
                                       f"pci-{vf(pool, 1)}": pool_claim_what("pool1", MAC2)}


def test_vfs_other_domains_hold_are_passed_over(pool):
    other = pool.context(Owner("domain", "vm2", "u-2"))
    A.ClaimPoolVf("pool1", "enp4s0f0", MAC).apply(other)
    A.ClaimDevice(f"pci-{vf(pool, 1)}", "VF").apply(other)
    A.ClaimPoolVf("pool1", "enp4s0f0", MAC2).apply(pool.ctx)
    assert pool.store.holder(f"pci-{vf(pool, 2)}") == "vm1"
    assert pool.record()["claims"] == {f"pci-{vf(pool, 2)}": pool_claim_what("pool1", MAC2)}


def test_a_vf_whose_address_cannot_be_read_is_passed_over(pool, monkeypatch):
    real = pool.fs.vf_address
    monkeypatch.setattr(pool.fs, "vf_address", lambda pf, index: None if index == 0 else real(pf, index))
    A.ClaimPoolVf("pool1", "enp4s0f0", MAC).apply(pool.ctx)
    assert pool.record()["claims"] == {f"pci-{real('enp4s0f0', 1)}": pool_claim_what("pool1", MAC)}


def test_a_vf_the_domain_holds_for_no_recorded_port_is_not_handed_to_another(pool):
    # Killed between the claim and noting it: which port it was for is unknown.
    pool.store.claim(f"pci-{vf(pool, 0)}", "VF", "vm1", UUID)
    A.ClaimPoolVf("pool1", "enp4s0f0", MAC).apply(pool.ctx)
    assert pool.record()["claims"] == {f"pci-{vf(pool, 1)}": pool_claim_what("pool1", MAC)}


def test_an_exhausted_pool_is_refused_by_name_and_count(pool):
    other = pool.context(Owner("domain", "vm2", "u-2"))
    for mac in ("52:54:00:00:0e:01", "52:54:00:00:0e:02", "52:54:00:00:0e:03"):
        A.ClaimPoolVf("pool1", "enp4s0f0", mac).apply(other)
    with pytest.raises(Busy) as info:
        A.ClaimPoolVf("pool1", "enp4s0f0", MAC).apply(pool.ctx)
    assert info.value.message == (f"reserve a VF of pool pool1 (PF enp4s0f0) for {MAC}: VF pool 'pool1' "
                                  "is busy (all 3 VFs of enp4s0f0 are in use by other domains)")
    assert pool.record() == {}


# --------------------------------------------------------------------------- the VF libvirt plugged


@pytest.fixture
def net(pool):
    """The network hook's context for pool1 (port-created), beside the domain's."""
    pool.net_ctx = pool.context(Owner("network", "pool1"))
    return pool


def plugged(host: Host, index: int, mac: str = MAC) -> A.ClaimPluggedVf:
    return A.ClaimPluggedVf("vm1", UUID, vf(host, index), "pool1", mac)


def test_plugged_vf_claimed_for_the_domain_and_given_back(net):
    address = vf(net, 1)
    assert plugged(net, 1).describe() == f"claim VF {address} of pool pool1 for port {MAC} of domain vm1"
    undo = plugged(net, 1).apply(net.net_ctx)
    what = pool_claim_what("pool1", MAC)
    assert claim_file(net, f"pci-{address}") == {"device": f"pci-{address}", "what": what,
                                                  "owner": "vm1", "uuid": UUID}
    assert net.record() == {"name": "vm1", "uuid": UUID, "claims": {f"pci-{address}": what}}
    assert undo is not None and undo.step == f"give VF {address} back to pool pool1"
    assert plugged(net, 1).apply(net.net_ctx) is None        # held and recorded already
    undo.run()
    assert net.store.names("claims") == [] and net.record() == {}


def test_the_reservation_moves_to_the_vf_libvirt_plugged_and_back_on_undo(net):
    A.ClaimPoolVf("pool1", "enp4s0f0", MAC).apply(net.ctx)     # prepare reserved VF 0
    A.ClaimPoolVf("pool1", "enp4s0f0", MAC2).apply(net.ctx)    # ... and VF 1 for the other port
    A.ClaimDevice("uplink-up0", "passthrough uplink").apply(net.ctx)
    before_record = net.record()
    before_claims = {d: claim_file(net, d) for d in net.store.names("claims")}
    undo = plugged(net, 2).apply(net.net_ctx)                   # libvirt plugged VF 2 for MAC
    what, what2 = pool_claim_what("pool1", MAC), pool_claim_what("pool1", MAC2)
    assert net.record()["claims"] == {f"pci-{vf(net, 2)}": what, f"pci-{vf(net, 1)}": what2,
                                      "uplink-up0": "passthrough uplink"}
    assert net.store.holder(f"pci-{vf(net, 0)}") is None
    assert net.store.holder(f"pci-{vf(net, 1)}") == "vm1"
    assert undo is not None
    undo.run()
    assert net.record() == before_record
    assert {d: claim_file(net, d) for d in net.store.names("claims")} == before_claims


def test_a_vf_already_held_whose_reservation_was_elsewhere_still_moves(net):
    A.ClaimPoolVf("pool1", "enp4s0f0", MAC).apply(net.ctx)     # VF 0 reserved
    net.store.claim(f"pci-{vf(net, 1)}", pool_claim_what("pool1", MAC), "vm1", UUID)
    undo = plugged(net, 1).apply(net.net_ctx)
    assert undo is not None
    assert net.record()["claims"] == {f"pci-{vf(net, 1)}": pool_claim_what("pool1", MAC)}
    assert net.store.holder(f"pci-{vf(net, 0)}") is None
    undo.run()
    assert net.record()["claims"] == {f"pci-{vf(net, 0)}": pool_claim_what("pool1", MAC)}
    assert net.store.holder(f"pci-{vf(net, 0)}") == "vm1"
    assert net.store.holder(f"pci-{vf(net, 1)}") == "vm1"     # it was held before: kept


def test_undoing_a_plugged_vf_labels_the_record_with_the_domains_uuid_again(net):
    A.ClaimPoolVf("pool1", "enp4s0f0", MAC2).apply(net.ctx)
    undo = plugged(net, 1).apply(net.net_ctx)
    with net.store.edit("domains", "vm1") as rec:
        rec["uuid"] = "u-other"
    assert undo is not None
    undo.run()
    assert net.record() == {"name": "vm1", "uuid": UUID,
                            "claims": {f"pci-{vf(net, 0)}": pool_claim_what("pool1", MAC2)}}


def test_a_plugged_vf_another_domain_holds_is_refused_and_nothing_moves(net):
    A.ClaimPoolVf("pool1", "enp4s0f0", MAC).apply(net.ctx)
    other = net.context(Owner("domain", "vm2", "u-2"))
    A.ClaimDevice(f"pci-{vf(net, 1)}", "VF").apply(other)
    before = net.record()
    with pytest.raises(Busy, match=f"'{vf(net, 1)}' is busy \\(in use by domain vm2 \\(u-2\\)\\)"):
        plugged(net, 1).apply(net.net_ctx)
    assert net.record() == before and net.store.holder(f"pci-{vf(net, 0)}") == "vm1"


def test_a_plugged_vf_taken_but_not_noted_is_given_back(net):
    A.ClaimPoolVf("pool1", "enp4s0f0", MAC).apply(net.ctx)
    _spoil_record(net)
    with pytest.raises(HostError, match="read state"):
        plugged(net, 1).apply(net.net_ctx)
    assert net.store.holder(f"pci-{vf(net, 1)}") is None
    assert net.store.holder(f"pci-{vf(net, 0)}") == "vm1" and net.net_ctx.left_over == []


def test_a_plugged_vf_held_before_is_kept_when_the_record_cannot_be_written(net):
    net.store.claim(f"pci-{vf(net, 1)}", pool_claim_what("pool1", MAC), "vm1", UUID)
    _spoil_record(net)
    with pytest.raises(HostError, match="read state"):
        plugged(net, 1).apply(net.net_ctx)
    assert net.store.holder(f"pci-{vf(net, 1)}") == "vm1"


def test_a_plugged_vf_neither_noted_nor_given_back_is_left_for_repair(net, monkeypatch):
    _spoil_record(net)

    def stuck(device, owner):
        raise HostError(step=f"release {device}", detail="disk full")

    monkeypatch.setattr(net.store, "release", stuck)
    with pytest.raises(HostError, match="read state"):
        plugged(net, 1).apply(net.net_ctx)
    address = vf(net, 1)
    assert net.net_ctx.left_over == [f"release claim on {address}: release pci-{address}: disk full"]

