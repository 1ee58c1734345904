"""The planner's host facts with fixed answers: the table source (``StaticFacts``), the hook
call's ports (``LiveFacts``, each question asked once) and ``hooks plan``'s read-only queries
(``PlanFacts``, a neutral answer when the host cannot say).

The ports and adapters are stand-ins that count their calls; nothing here touches the host.
"""

from __future__ import annotations

import grp
import pwd
from types import SimpleNamespace

import pytest

from hooks.errors import HostError
from hooks.planner import LiveFacts, PlanFacts, StaticFacts
from hooks.planner.facts import _id_of, forward_records, pool_pf
from xmltools.errors import InvalidValue

ROOT_GROUP = grp.getgrgid(0).gr_name
UNKNOWN = "no-such-user-vnx"


# --------------------------------------------------------------------------- user and group ids

def _lookup_from(table: dict[str, int]):
    calls: list[str] = []

    def lookup(name: str) -> int:
        calls.append(name)
        return table[name]

    return lookup, calls


def test_a_number_is_taken_as_the_id_without_any_lookup():
    lookup, calls = _lookup_from({"7": 99})
    # A table entry or a lookup that answers differently must not be asked for digits.
    assert _id_of("7", {"7": 42}, lookup, "user") == 7
    assert _id_of("0", {}, lookup, "user") == 0
    assert calls == []


def test_a_name_in_the_table_wins_over_the_lookup():
    lookup, calls = _lookup_from({"alice": 2000})
    assert _id_of("alice", {"alice": 1001}, lookup, "user") == 1001
    assert calls == []


def test_a_name_outside_the_table_is_looked_up():
    lookup, calls = _lookup_from({"alice": 2000})
    assert _id_of("alice", {"bob": 1001}, lookup, "group") == 2000
    assert calls == ["alice"]


def test_an_unknown_name_is_refused_naming_what_and_which():
    lookup, _ = _lookup_from({})
    with pytest.raises(InvalidValue) as info:
        _id_of("nobody-here", {}, lookup, "group")
    assert info.value.message == "invalid group 'nobody-here': no such name on this host"
    assert info.value.__suppress_context__ is True   # one line: no chained KeyError shown


def test_static_facts_users_and_groups_from_table_then_from_the_host():
    facts = StaticFacts(users={"qemu": 107}, groups={"kvm": 36})
    assert (facts.uid_of("qemu"), facts.gid_of("kvm")) == (107, 36)
    assert (facts.uid_of("root"), facts.gid_of(ROOT_GROUP)) == (0, 0)
    assert (facts.uid_of("1234"), facts.gid_of("4321")) == (1234, 4321)
    # The user table is not the group table.
    with pytest.raises(InvalidValue, match="invalid group 'qemu'"):
        StaticFacts(users={"qemu": 107}).gid_of("qemu")
    with pytest.raises(InvalidValue, match="invalid user 'kvm'"):
        StaticFacts(groups={"kvm": 36}).uid_of("kvm")


@pytest.mark.parametrize("facts", [StaticFacts(), LiveFacts(SimpleNamespace()),
                                   PlanFacts(frozenset(), store=None)], ids=["static", "live", "plan"])
def test_every_source_answers_users_and_groups_from_the_host(facts):
    nobody = pwd.getpwnam("nobody")
    assert facts.uid_of("root") == 0 and facts.uid_of("nobody") == nobody.pw_uid
    assert facts.gid_of(ROOT_GROUP) == 0 and facts.gid_of("65") == 65
    with pytest.raises(InvalidValue, match=f"invalid user '{UNKNOWN}': no such name on this host"):
        facts.uid_of(UNKNOWN)
    with pytest.raises(InvalidValue, match=f"invalid group '{UNKNOWN}': no such name on this host"):
        facts.gid_of(UNKNOWN)


def test_plan_facts_use_no_user_table_but_the_host():
    facts = PlanFacts(frozenset(), store=None)
    assert facts.uid_of("nobody") == pwd.getpwnam("nobody").pw_uid
    assert facts.uid_of("17") == 17 and facts.gid_of("18") == 18


# --------------------------------------------------------------------------- StaticFacts

def test_static_facts_answer_from_their_tables_and_nothing_else():
    facts = StaticFacts(ovs_bridges=frozenset({"ovsbr0"}),
                        vfs={("pf0", 1): "0000:04:10.1", ("pf0", 2): "0000:04:10.2"},
                        pools={"vfpool": "pf0"}, taken={"tap9": "is a port of br9"}, libvirt=(11, 3, 0))
    assert facts.is_ovs_bridge("ovsbr0") is True and facts.is_ovs_bridge("br0") is False
    assert facts.vf_address("pf0", 2) == "0000:04:10.2"
    assert facts.vf_address("pf0", 3) is None and facts.vf_address("pf1", 1) is None
    assert facts.pf_of_vf("0000:04:10.2") == ("pf0", 2)
    assert facts.pf_of_vf("0000:04:10.1") == ("pf0", 1)
    assert facts.pf_of_vf("0000:04:10.3") is None
    assert facts.vf_pool("vfpool") == "pf0" and facts.vf_pool("other") is None
    assert facts.tap_conflict("tap9", False) == "is a port of br9"
    assert facts.tap_conflict("tap9", True) == "is a port of br9"
    assert facts.tap_conflict("tap0", True) is None
    assert facts.libvirt_version() == (11, 3, 0)
    assert StaticFacts().libvirt_version() is None


# --------------------------------------------------------------------------- LiveFacts

class _Netlink:
    def __init__(self, links: dict[str, str]) -> None:
        self.links = links
        self.asked: list[str] = []

    def link(self, name: str):
        self.asked.append(name)
        kind = self.links.get(name)
        return SimpleNamespace(kind=kind) if kind is not None else None


class _Ovs:
    def __init__(self, bridges: set[str], fail: bool = False) -> None:
        self.bridges = bridges
        self.fail = fail
        self.asked: list[str] = []

    def bridge_exists(self, name: str):
        self.asked.append(name)
        if self.fail:
            raise HostError(step="ovs-vsctl br-exists", detail="database connection failed")
        return 1 if name in self.bridges else 0     # truthy, not True: the answer is made a bool


def _ctx(links: dict[str, str] | None = None, bridges: set[str] = frozenset(), fail: bool = False,
         **more) -> SimpleNamespace:
    return SimpleNamespace(netlink=_Netlink(links or {}), ovs=_Ovs(set(bridges), fail), **more)


def test_live_linux_bridge_is_no_ovs_bridge_without_asking_ovs():
    ctx = _ctx({"br0": "bridge"}, bridges={"br0"})
    facts = LiveFacts(ctx)
    assert facts.is_ovs_bridge("br0") is False
    assert ctx.ovs.asked == []


@pytest.mark.parametrize("links", [{}, {"ovsbr0": "openvswitch"}], ids=["no link", "ovs internal link"])
def test_live_other_names_are_asked_of_ovs_once(links):
    ctx = _ctx(links, bridges={"ovsbr0"})
    facts = LiveFacts(ctx)
    assert facts.is_ovs_bridge("ovsbr0") is True
    assert facts.is_ovs_bridge("ovsbr0") is True
    assert facts.is_ovs_bridge("nothing") is False
    assert facts.is_ovs_bridge("nothing") is False
    assert ctx.ovs.asked == ["ovsbr0", "nothing"]
    assert ctx.netlink.asked == ["ovsbr0", "nothing"]
    assert facts.is_ovs_bridge("ovsbr0") is True and facts.is_ovs_bridge("nothing") is False


def test_live_no_ovs_on_the_host_means_no_ovs_bridge():
    ctx = _ctx({}, fail=True)
    facts = LiveFacts(ctx)
    assert facts.is_ovs_bridge("ovsbr0") is False
    assert facts.is_ovs_bridge("ovsbr0") is False
    assert ctx.ovs.asked == ["ovsbr0"]


def test_live_vfs_pools_and_taps_come_from_the_ports(monkeypatch):
    calls: list[tuple] = []
    sysfs = SimpleNamespace(
        vf_address=lambda pf, index: calls.append(("vf", pf, index)) or f"0000:04:10.{index}",
        pf_of_vf=lambda address: calls.append(("pf", address)) or ("pf7", 3))
    records = {("networks", "vfpool"): {"pool": {"pf": "pf7"}}}
    state = SimpleNamespace(read=lambda kind, name: records.get((kind, name), {}))
    ctx = _ctx(sysfs=sysfs, state=state)
    facts = LiveFacts(ctx)
    assert facts.vf_address("pf7", 3) == "0000:04:10.3"
    assert facts.pf_of_vf("0000:04:10.3") == ("pf7", 3)
    assert calls == [("vf", "pf7", 3), ("pf", "0000:04:10.3")]
    assert facts.vf_pool("vfpool") == "pf7"
    assert facts.vf_pool("other") is None

    import hooks.actions.tap as tap

    seen: list[tuple] = []
    monkeypatch.setattr(tap, "tap_conflict",
                        lambda c, name, ovs: seen.append((c, name, ovs)) or f"{name} is busy")
    assert facts.tap_conflict("tap0", True) == "tap0 is busy"
    assert facts.tap_conflict("tap1", False) == "tap1 is busy"
    assert seen == [(ctx, "tap0", True), (ctx, "tap1", False)]


def test_live_libvirt_version_is_the_parent_daemons_and_asked_once(monkeypatch):
    import hooks.daemon as daemon

    asked: list[int | None] = []
    monkeypatch.setattr(daemon, "hook_daemon_version", lambda pid: asked.append(pid) or (11, 3, 0))
    facts = LiveFacts(_ctx(daemon_pid=4242))
    assert facts.libvirt_version() == (11, 3, 0)
    assert facts.libvirt_version() == (11, 3, 0)
    assert asked == [4242]


def test_live_an_unknown_libvirt_version_is_remembered_too(monkeypatch):
    import hooks.daemon as daemon

    asked: list[int | None] = []
    monkeypatch.setattr(daemon, "hook_daemon_version", lambda pid: asked.append(pid))
    facts = LiveFacts(_ctx(daemon_pid=7))
    assert facts.libvirt_version() is None
    assert facts.libvirt_version() is None
    assert asked == [7]


def test_pool_pf_reads_the_networks_record():
    asked: list[tuple[str, str]] = []
    store = SimpleNamespace(read=lambda kind, name: asked.append((kind, name)) or {"pool": {"pf": "pf3"}})
    assert pool_pf(store, "vfpool") == "pf3"
    assert asked == [("networks", "vfpool")]
    assert pool_pf(SimpleNamespace(read=lambda kind, name: {}), "vfpool") is None


# --------------------------------------------------------------------------- PlanFacts

def test_plan_facts_libvirt_from_the_command_line_first(monkeypatch):
    import hooks.daemon as daemon

    monkeypatch.setattr(daemon, "find_daemons", lambda: pytest.fail("the host was asked"))
    assert PlanFacts(frozenset(), None, libvirt=(9, 0, 0)).libvirt_version() == (9, 0, 0)


def test_plan_facts_libvirt_from_the_first_daemon_that_tells(monkeypatch):
    import hooks.daemon as daemon

    versions = {10: None, 20: (10, 0, 0), 30: (11, 3, 0)}
    monkeypatch.setattr(daemon, "find_daemons", lambda: {"virtqemud": 10, "virtnetworkd": 20, "libvirtd": 30})
    monkeypatch.setattr(daemon, "version_of", lambda pid: versions[pid])
    monkeypatch.setattr(daemon, "installed_version", lambda: (8, 0, 0))
    assert PlanFacts(frozenset(), None).libvirt_version() == (10, 0, 0)


@pytest.mark.parametrize("daemons", [{}, {"libvirtd": 10}], ids=["none running", "none tells"])
def test_plan_facts_libvirt_installed_when_no_daemon_tells(monkeypatch, daemons):
    import hooks.daemon as daemon

    monkeypatch.setattr(daemon, "find_daemons", lambda: daemons)
    monkeypatch.setattr(daemon, "version_of", lambda pid: None)
    monkeypatch.setattr(daemon, "installed_version", lambda: (9, 0, 0))
    assert PlanFacts(frozenset(), None).libvirt_version() == (9, 0, 0)


class _FakeOvsAdapter:
    made: list[tuple] = []

    def __init__(self, db=None, timeout=5.0) -> None:
        _FakeOvsAdapter.made.append((db, timeout))

    def bridge_exists(self, name: str):
        if name == "broken":
            raise RuntimeError("no database")
        return 1 if name == "ovs-live" else 0


def test_plan_facts_ovs_bridges_from_the_command_line_then_ovs(monkeypatch):
    import hooks.adapters.ovs as ovs
    import hooks.config as config

    _FakeOvsAdapter.made = []
    monkeypatch.setattr(ovs, "OvsAdapter", _FakeOvsAdapter)
    monkeypatch.setattr(config, "load_config", lambda: {"ovs-db": "unix:/run/x.sock"})
    monkeypatch.delenv("VIRT_NETXML_OVS_DB", raising=False)
    facts = PlanFacts(frozenset({"ovs-cli"}), None)
    assert facts.is_ovs_bridge("ovs-cli") is True
    assert _FakeOvsAdapter.made == []          # the command line answered
    assert facts.is_ovs_bridge("ovs-live") is True
    assert facts.is_ovs_bridge("br0") is False
    assert facts.is_ovs_bridge("broken") is False     # no OVS: a Linux bridge, then
    assert _FakeOvsAdapter.made == [("unix:/run/x.sock", 2.0)] * 3


class _FakeSysfs:
    roots: list[str] = []
    broken = False

    def __init__(self, root="/") -> None:
        _FakeSysfs.roots.append(root)
        if _FakeSysfs.broken:
            raise OSError("no sysfs")

    def vf_address(self, pf: str, index: int) -> str | None:
        return f"0000:05:00.{index}" if pf == "pf0" else None

    def pf_of_vf(self, address: str):
        return ("pf0", 4) if address == "0000:05:00.4" else None


def test_plan_facts_vfs_from_sysfs_or_a_placeholder(monkeypatch):
    import hooks.adapters.sysfs as sysfs

    monkeypatch.setattr(sysfs, "SysfsAdapter", _FakeSysfs)
    _FakeSysfs.roots, _FakeSysfs.broken = [], False
    facts = PlanFacts(frozenset(), None)
    assert facts.vf_address("pf0", 4) == "0000:05:00.4"
    assert facts.vf_address("pf1", 4) is None
    assert facts.pf_of_vf("0000:05:00.4") == ("pf0", 4)
    assert facts.pf_of_vf("0000:05:00.5") is None
    assert _FakeSysfs.roots == ["/"] * 4
    _FakeSysfs.broken = True
    assert facts.vf_address("enp4s0f0", 3) == "<VF 3 of enp4s0f0>"
    assert facts.pf_of_vf("0000:05:00.4") is None


def test_plan_facts_pools_from_the_store_and_no_tap_conflict():
    store = SimpleNamespace(read=lambda kind, name: {"pool": {"pf": "pf9"}} if name == "vfpool" else {})
    facts = PlanFacts(frozenset(), store)
    assert facts.vf_pool("vfpool") == "pf9" and facts.vf_pool("other") is None
    assert facts.tap_conflict("tap0", False) is None and facts.tap_conflict("lo", True) is None


# --------------------------------------------------------------------------- networks and forwards

def test_forward_records_by_domain_from_the_store():
    records = {"a": {"uuid": "u-a", "forwards": {"k": {"network": "n"}}}, "b": {"uuid": "u-b"},
               "c": {"forwards": {"k2": {"network": "m"}}}}
    asked: list[tuple] = []
    store = SimpleNamespace(names=lambda kind: asked.append(("names", kind)) or sorted(records),
                            read=lambda kind, name: asked.append((kind, name)) or records[name])
    assert forward_records(store) == {"a": ("u-a", {"k": {"network": "n"}}),
                                      "c": (None, {"k2": {"network": "m"}})}
    assert asked == [("names", "domains"), ("domains", "a"), ("domains", "b"), ("domains", "c")]


def test_every_source_answers_networks_and_forwards(monkeypatch):
    import hooks.adapters.libvirt_files as files

    monkeypatch.setattr(files, "network_xml", lambda name, dirs=files.NETWORK_DIRS:
                        f"<network {name}>" if name == "default" else None)
    store = SimpleNamespace(names=lambda kind: ["vm"],
                            read=lambda kind, name: {"uuid": "u", "forwards": {"k": {"network": "default"}}})
    expected = {"vm": ("u", {"k": {"network": "default"}})}
    live = LiveFacts(SimpleNamespace(state=store, libvirt_files=files.LibvirtFiles()))   # the call's port
    assert (live.network_definition("default"), live.network_definition("x")) == ("<network default>", None)
    assert live.forward_records() == expected
    planned = PlanFacts(frozenset(), store)
    assert planned.network_definition("default") == "<network default>"
    assert planned.network_definition("x") is None
    assert planned.forward_records() == expected
    static = StaticFacts(networks={"default": "<net/>"}, forwarded=expected)
    assert (static.network_definition("default"), static.network_definition("x")) == ("<net/>", None)
    assert static.forward_records() == expected
    assert StaticFacts().forward_records() == {}


def test_plan_facts_plan_without_a_network_they_cannot_read(monkeypatch):
    import hooks.adapters.libvirt_files as files

    def unreadable(name, dirs=files.NETWORK_DIRS):
        raise PermissionError("/etc/libvirt/qemu/networks")

    monkeypatch.setattr(files, "network_xml", unreadable)
    assert PlanFacts(frozenset(), None).network_definition("default") is None
