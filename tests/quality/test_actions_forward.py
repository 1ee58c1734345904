"""Exact answers of the port-forward actions (hooks.actions.forward): what each writes to the
firewall and the state record, what its undo puts back, which host ports collide, the records it
refuses to turn into rules, and the words of its descriptions and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from hooks.actions.base import Undo
from hooks.actions.forward import ForwardPorts, ForwardRules, RemoveForwards, _label, _overlap
from hooks.context import Context, Owner
from hooks.deadline import Deadline
from hooks.errors import Busy, ForeignAddress, HostError
from hooks.state import StateStore
from tests.fakes import FakeFirewall
from xmltools.errors import InvalidValue

MAC = "52:54:00:00:00:07"
UUID = "11111111-2222-3333-4444-555555555555"
SSH = ("tcp", 2222, 2222, 22, 22, None, None)


def rules(domain: str = "web1", mac: str = MAC, guest: str = "192.168.150.7",
          forwards: tuple = (SSH,), network: str = "natnet") -> ForwardRules:
    return ForwardRules(domain, mac, network, "virbr5", guest, forwards)


class Host:
    def __init__(self, tmp_path: Path, owner: Owner | None = None, fw: FakeFirewall | None = None) -> None:
        self.store = StateStore(str(tmp_path / "state"))
        self.fw = fw or FakeFirewall()
        self.ctx = self.context(owner or Owner("domain", "web1", UUID))

    def context(self, owner: Owner) -> Context:
        return Context(owner, self.store, Deadline(30), firewall=self.fw, daemon_pid=77)

    def record(self, name: str = "web1") -> dict:
        return self.store.read("domains", name)


@pytest.fixture
def host(tmp_path: Path) -> Host:
    return Host(tmp_path)


# --------------------------------------------------------------------------- descriptions


def test_descriptions_name_ports_ranges_addresses_and_sources() -> None:
    r = rules(forwards=(SSH, ("udp", 5000, 5010, 6000, 6010, "192.0.2.1", "10.0.0.0/8")))
    assert r.describe_forwards() == ("tcp *:2222 -> 192.168.150.7:22, "
                                     "udp 192.0.2.1:5000-5010 -> 192.168.150.7:6000-6010 from 10.0.0.0/8")
    assert ForwardPorts(r).describe() == (
        "forward host ports to domain web1 on virbr5: " + r.describe_forwards())
    assert ForwardPorts(r, reapply=True).describe() == (
        "re-apply host ports to domain web1 on virbr5: " + r.describe_forwards())
    assert RemoveForwards("abc").describe() == "remove port forwards abc"


def test_labels_of_a_port_and_a_range() -> None:
    assert _label(SSH) == "tcp (any address):2222"
    assert _label(("udp", 5000, 5010, 5000, 5010, "192.0.2.1", None)) == "udp 192.0.2.1:5000-5010"


# --------------------------------------------------------------------------- overlaps


@pytest.mark.parametrize(("a", "b", "expected"), [
    (("tcp", 10, 20), ("tcp", 20, 30), True),      # one shared endpoint
    (("tcp", 20, 30), ("tcp", 10, 20), True),
    (("tcp", 10, 20), ("tcp", 21, 30), False),     # touching only
    (("tcp", 21, 30), ("tcp", 10, 20), False),
    (("tcp", 10, 30), ("tcp", 15, 16), True),      # inside
    (("tcp", 15, 16), ("tcp", 10, 30), True),
    (("tcp", 10, 10), ("tcp", 10, 10), True),
    (("tcp", 10, 10), ("udp", 10, 10), False),
])
def test_port_ranges_overlap_exactly_at_their_edges(a: tuple, b: tuple, expected: bool) -> None:
    fa = (a[0], a[1], a[2], 1, 1, None, None)
    fb = (b[0], b[1], b[2], 1, 1, None, None)
    assert _overlap(fa, fb) is expected


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("192.0.2.1", "192.0.2.1", True),
    ("192.0.2.1", "192.0.2.2", False),
    ("192.0.2.1", None, True),       # no address: every address
    (None, "192.0.2.1", True),
    (None, None, True),
])
def test_host_addresses_overlap_unless_both_given_and_different(a: str | None, b: str | None,
                                                                 expected: bool) -> None:
    assert _overlap(("tcp", 80, 80, 80, 80, a, "10.0.0.0/8"),
                    ("tcp", 80, 80, 80, 80, b, "10.1.0.0/16")) is expected


# --------------------------------------------------------------------------- records


def test_a_record_round_trips_with_address_and_source_normalised() -> None:
    r = rules(forwards=(("udp", 1, 65535, 1, 65535, " 192.0.2.1", "10.1.2.3/8"),), network="")
    data = r.record()
    back = ForwardRules.from_record(data)
    assert back.forwards == (("udp", 1, 65535, 1, 65535, "192.0.2.1", "10.0.0.0/8"),)
    assert back.network == "" and back.guest == "192.168.150.7" and back.domain == "web1"
    assert ForwardRules.from_record({**data, "network": None}).network == ""


@pytest.mark.parametrize("bad", [
    ["tcp", 0, 1, 1, 1, None, None], ["tcp", 1, 65536, 1, 1, None, None],
    ["tcp", 1, 1, 0, 1, None, None], ["tcp", 1, 1, 1, 65536, None, None],
    ["icmp", 1, 1, 1, 1, None, None], ["tcp", "22", 22, 22, 22, None, None],
    ["tcp", 22.0, 22, 22, 22, None, None],
])
def test_a_record_with_a_bad_port_or_protocol_is_refused_naming_it(bad: list) -> None:
    data = rules().record() | {"rules": [bad]}
    with pytest.raises(ValueError) as exc:
        ForwardRules.from_record(data)
    assert str(exc.value) == f"bad forward in the state record: {bad!r}"


@pytest.mark.parametrize(("field", "index", "value", "message"), [
    ("host", 5, "192.0.2.300",
     "invalid host address '192.0.2.300': expected an IPv4 address, e.g. 192.0.2.10"),
    ("source", 6, "10.0.0.0/33", "invalid source '10.0.0.0/33'"),
])
def test_a_record_with_a_bad_address_is_refused_naming_the_field(field: str, index: int, value: str,
                                                                 message: str) -> None:
    bad = list(SSH)
    bad[index] = value
    with pytest.raises(InvalidValue) as exc:
        ForwardRules.from_record(rules().record() | {"rules": [bad]})
    assert str(exc.value).startswith(message)


def test_a_record_with_a_bad_guest_is_refused_naming_it() -> None:
    with pytest.raises(InvalidValue) as exc:
        ForwardRules.from_record(rules().record() | {"guest": "nowhere"})
    assert str(exc.value) == "invalid guest 'nowhere': expected an IPv4 address, e.g. 192.0.2.10"


# --------------------------------------------------------------------------- forward, undo


def test_forward_records_under_the_domain_and_its_uuid_even_for_a_network_owner(tmp_path: Path) -> None:
    h = Host(tmp_path, owner=Owner("network", "natnet", "u-net"))
    r = rules()
    undo = ForwardPorts(r, UUID).apply(h.ctx)
    assert h.record() == {"name": "web1", "uuid": UUID, "forwards": {r.key: r.record()}}
    assert h.store.read("domains", "natnet") == {}
    assert isinstance(undo, Undo) and undo.step == f"remove the forwards of {MAC} (domain web1)"
    undo.run()
    assert h.fw.nat == {} and h.fw.allowed == {}
    assert "forwards" not in h.record() or h.record()["forwards"] == {}


def test_undo_removes_only_what_the_apply_wrote(host: Host) -> None:
    r = rules()
    ForwardPorts(r, UUID).apply(host.ctx)
    host.fw.libvirt_rebuilt()                       # the nat chain stays, the allow rule is gone
    host.fw.calls.clear()
    undo = ForwardPorts(r, UUID).apply(host.ctx)
    assert host.fw.calls_to("apply") == [(r.key, False, True)]
    assert undo is not None
    undo.run()
    assert host.fw.calls_to("remove") == [(r.key, False, True)]
    assert host.fw.nat == {r.key: r.digest}         # written before this apply: kept
    assert host.record()["forwards"] == {r.key: r.record()}   # the record as it was


def test_undo_of_changed_forwards_puts_the_older_record_back(tmp_path: Path) -> None:
    h = Host(tmp_path, owner=Owner("network", "natnet"))
    old, new = rules(), rules(forwards=(("tcp", 2223, 2223, 22, 22, None, None),))
    ForwardPorts(old, UUID).apply(h.ctx)
    undo = ForwardPorts(new, UUID).apply(h.ctx)
    assert h.record()["forwards"] == {new.key: new.record()}
    assert undo is not None
    undo.run()
    assert h.record() == {"name": "web1", "uuid": UUID, "forwards": {old.key: old.record()}}
    assert h.store.read("domains", "natnet") == {}


def test_a_failed_firewall_change_is_undone_and_its_error_goes_up(tmp_path: Path) -> None:
    fw = FakeFirewall(fail_on={"apply": HostError(step="run nft", detail="no")})
    h = Host(tmp_path, owner=Owner("network", "natnet"), fw=fw)
    with pytest.raises(HostError, match="run nft: no"):
        ForwardPorts(rules(), UUID).apply(h.ctx)
    assert fw.calls_to("remove") == [(rules().key, True, True)]
    assert h.record().get("forwards", {}) == {} and h.ctx.left_over == []


def test_a_failed_undo_of_a_failed_change_is_noted(tmp_path: Path) -> None:
    fw = FakeFirewall(fail_on={"apply": HostError(step="run nft", detail="no"),
                               "remove": HostError(step="run nft", detail="gone")})
    h = Host(tmp_path, fw=fw)
    with pytest.raises(HostError, match="run nft: no"):
        ForwardPorts(rules(), UUID).apply(h.ctx)
    assert h.ctx.left_over == [f"remove the forwards of {MAC}: run nft: gone"]


def test_another_domains_port_is_refused_with_the_whole_step(host: Host) -> None:
    theirs = ForwardPorts(rules("aaa", "52:54:00:00:00:0a", "192.168.150.10"), None)
    theirs.apply(host.context(Owner("domain", "aaa")))
    ours = ForwardPorts(rules(forwards=(("tcp", 2200, 2230, 22, 52, None, None),)), UUID)
    with pytest.raises(Busy) as exc:
        ours.apply(host.ctx)
    assert str(exc.value) == (f"{ours.describe()}: host port 'tcp (any address):2200-2230' is busy "
                              "(forwarded to domain aaa already)")


def test_another_domains_guest_address_is_refused_with_the_whole_step(host: Host) -> None:
    ForwardPorts(rules("aaa", "52:54:00:00:00:0a"), None).apply(host.context(Owner("domain", "aaa")))
    ours = ForwardPorts(rules(forwards=(("udp", 9, 9, 9, 9, None, None),)), UUID)
    with pytest.raises(ForeignAddress) as exc:
        ours.apply(host.ctx)
    assert str(exc.value) == (f"{ours.describe()}: 192.168.150.7 is the guest address of domain aaa; "
                              "a domain forwards ports to its own guest only")


def test_the_domains_own_record_is_skipped_and_the_others_after_it_are_checked(host: Host) -> None:
    # names are listed in order: web1 (ours, skipped) comes before zzz, whose port collides
    ForwardPorts(rules(), UUID).apply(host.ctx)
    ForwardPorts(rules("zzz", "52:54:00:00:00:0b", "192.168.150.11",
                       (("tcp", 8080, 8080, 80, 80, None, None),)), None).apply(
        host.context(Owner("domain", "zzz")))
    with pytest.raises(Busy, match="forwarded to domain zzz already"):
        ForwardPorts(rules(forwards=(SSH, ("tcp", 8080, 8080, 80, 80, None, None))), UUID).apply(host.ctx)


# --------------------------------------------------------------------------- remove, undo


def test_remove_drops_the_entry_and_its_undo_forwards_again_with_the_owners_uuid(host: Host) -> None:
    r = rules()
    ForwardPorts(r, UUID).apply(host.ctx)
    other = rules(mac="52:54:00:00:00:08", guest="192.168.150.8",
                  forwards=(("tcp", 2223, 2223, 22, 22, None, None),))
    ForwardPorts(other, UUID).apply(host.ctx)
    undo = RemoveForwards(r.key).apply(host.ctx)
    assert host.record() == {"name": "web1", "uuid": UUID, "forwards": {other.key: other.record()}}
    assert r.key not in host.fw.nat and other.key in host.fw.nat
    assert undo is not None and undo.step == f"forward host ports to {MAC} again"
    assert RemoveForwards(r.key).apply(host.ctx) is None       # gone: nothing to do
    undo.run()
    assert host.fw.nat[r.key] == r.digest
    assert host.record()["forwards"] == {other.key: other.record(), r.key: r.record()}


def test_remove_of_the_last_entry_empties_the_forwards(tmp_path: Path) -> None:
    h = Host(tmp_path)
    r = rules()
    ForwardPorts(r, UUID).apply(h.ctx)
    with h.store.edit("domains", "web1") as data:
        data.pop("uuid")
    undo = RemoveForwards(r.key).apply(h.ctx)
    assert h.record().get("forwards", {}) == {}
    assert undo is not None
    undo.run()
    assert h.record()["uuid"] == UUID and h.record()["forwards"] == {r.key: r.record()}


def test_undo_after_the_entry_is_already_gone_still_removes_the_rules(host: Host) -> None:
    r = rules()
    undo = ForwardPorts(r, UUID).apply(host.ctx)
    with host.store.edit("domains", "web1") as data:
        data["forwards"] = {}                     # removed meanwhile (hooks repair, by hand)
    assert undo is not None
    undo.run()
    assert host.fw.nat == {} and host.fw.allowed == {} and host.record().get("forwards", {}) == {}
