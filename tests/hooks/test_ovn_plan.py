"""The planner's OVN decisions, from libvirt's real ``port-created`` capture and domain variants:
exact plans written out by hand, every refusal with its twin that passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from hooks import actions as A
from hooks.planner import StaticFacts, plan
from hooks.protocol import lookup
from xmltools.errors import InvalidValue
from xmltools.xmlparse import parse_bytes

CAPTURE = (Path(__file__).resolve().parents[2] / "fixtures" / "hooks" / "captures"
           / "11-network-packtovs-port-created-begin.xml")
NS = 'xmlns:vnx="urn:virt-netxml:hooks:1"'
IID = "6602cfe5-16e2-4a31-b0c7-a263f86f0ef4"
CAPVM = "de3e2b2f-a916-47d3-a681-2d51dd5d3267"
DOM_IID = "3f6c2a4e-8a55-4c5e-9a0c-3f1c2b3d4e08"
FACTS = StaticFacts(ovs_bridges=frozenset({"br-int"}))


def _ovn_port_created(ovn: str = "<vnx:ovn switch='ls-web' subnet='10.10.0.0/24' dhcp='yes'/>",
                      iid: str = IID, mac: str = "52:54:00:61:b5:e0") -> bytes:
    text = CAPTURE.read_text()
    text = text.replace("</network>", f"<metadata><vnx:netxml {NS}>{ovn}</vnx:netxml></metadata></network>")
    text = text.replace(IID, iid).replace("52:54:00:61:b5:e0", mac)
    return text.encode()


def _domain(entry: str = "<vnx:ovn switch='ls-web' address='10.10.0.20'/>", iid: str | None = DOM_IID,
            mac: str = "52:54:00:00:00:08", kind: str = "bridge",
            source: str = "<source bridge='br-int'/>") -> bytes:
    params = f"<parameters interfaceid='{iid}'/>" if iid is not None else ""
    return (f"<domain type='kvm'><name>ovnvm</name><uuid>00000000-0000-4000-8000-000000000008</uuid>"
            f"<metadata><vnx:netxml {NS}><vnx:interface mac='{mac.lower()}'>{entry}</vnx:interface>"
            f"</vnx:netxml></metadata><devices><interface type='{kind}'><mac address='{mac}'/>{source}"
            f"<virtualport type='openvswitch'>{params}</virtualport></interface></devices></domain>").encode()


def _plan(driver: str, op: str, data: bytes, record: dict | None = None, reason: str = "-") -> list[A.Action]:
    return plan(lookup(driver, op), parse_bytes(data).getroot(), FACTS, record or {}, None, reason)


def test_network_start_ensures_the_switch_with_its_subnet_and_dhcp():
    network = _ovn_port_created().split(b"<networkport>")[0] + b"</hookData>"
    assert _plan("network", "start", network) == [
        A.EnsureOvnSwitch("ls-web", "10.10.0.0/24", True)]


def test_network_start_without_ovn_plans_no_switch():
    assert _plan("network", "start", CAPTURE.read_bytes()) == []


def test_port_created_on_an_ovn_network_ensures_the_port_named_by_the_interfaceid():
    # The portgroup's VLAN is the capture's own (an OVS network: libvirt sets it): nothing for it.
    assert _plan("network", "port-created", _ovn_port_created()) == [
        A.EnsureOvnPort(IID, "ls-web", "52:54:00:61:b5:e0", None, "capvm", CAPVM, keep_address=True,
                        iface="52:54:00:61:b5:e0")]


def test_port_created_normalises_the_mac_and_the_interfaceid():
    [action] = _plan("network", "port-created", _ovn_port_created(iid=IID.upper(), mac="52:54:00:61:B5:E0"))
    assert (action.name, action.mac) == (IID, "52:54:00:61:b5:e0")


@pytest.mark.parametrize("iid, reason", [
    ("not-a-uuid", "expected a UUID"),
    (IID[:-1], "expected a UUID"),
    (IID + "0", "expected a UUID"),
])
def test_port_created_refuses_an_interfaceid_that_is_no_uuid(iid, reason):
    with pytest.raises(InvalidValue, match=reason):
        _plan("network", "port-created", _ovn_port_created(iid=iid))


@pytest.mark.parametrize("mac", ["01:54:00:61:b5:e0", "52:54:00:61:b5"])
def test_port_created_refuses_a_multicast_or_short_mac(mac):
    with pytest.raises(InvalidValue, match="MAC address"):
        _plan("network", "port-created", _ovn_port_created(mac=mac))


def test_a_switch_name_ovn_nbctl_would_read_as_a_row_uuid_is_refused_and_one_letter_more_passes():
    with pytest.raises(InvalidValue, match="row's UUID"):
        _plan("network", "port-created", _ovn_port_created("<vnx:ovn switch='abc123'/>"))
    [action] = _plan("network", "port-created", _ovn_port_created("<vnx:ovn switch='abc123x'/>"))
    assert action.switch == "abc123x"


def test_a_switch_name_outside_the_vocabulary_is_refused_and_its_twin_passes():
    with pytest.raises(InvalidValue):
        _plan("network", "start", _ovn_port_created("<vnx:ovn switch='-ls'/>"))
    assert _plan("network", "start", _ovn_port_created("<vnx:ovn switch='_ls'/>")) == [
        A.EnsureOvnSwitch("_ls", None, False)]


def test_port_created_without_owner_is_refused():
    data = _ovn_port_created().replace(b"<name>capvm</name>", b"")
    with pytest.raises(InvalidValue, match="owner"):
        _plan("network", "port-created", data)


def test_port_created_without_interfaceid_is_refused():
    data = _ovn_port_created().replace(f"<parameters interfaceid='{IID}'/>".encode(), b"")
    with pytest.raises(InvalidValue, match="interfaceid"):
        _plan("network", "port-created", data)


def test_prepare_ensures_the_port_of_an_interface_with_its_own_ovn_entry():
    assert _plan("qemu", "prepare", _domain()) == [
        A.EnsureOvnPort(DOM_IID, "ls-web", "52:54:00:00:00:08", "10.10.0.20", "ovnvm",
                        "00000000-0000-4000-8000-000000000008", iface="52:54:00:00:00:08"),
        A.MarkStarting()]


def test_prepare_without_an_address_asks_for_a_dynamic_one():
    [action, _] = _plan("qemu", "prepare", _domain("<vnx:ovn switch='ls-web'/>"))
    assert action.address is None


def test_prepare_refuses_an_ovn_entry_without_interfaceid_and_a_bad_one():
    with pytest.raises(InvalidValue, match="interfaceid"):
        _plan("qemu", "prepare", _domain(iid=None))
    with pytest.raises(InvalidValue, match="expected a UUID"):
        _plan("qemu", "prepare", _domain(iid="x" + DOM_IID[1:]))


def test_prepare_leaves_a_network_interface_without_interfaceid_to_port_created():
    data = _domain(iid=None, kind="network", source="<source network='ovnnet'/>")
    assert _plan("qemu", "prepare", data) == []


def test_prepare_without_ovn_entries_plans_nothing_for_ovn():
    assert _plan("qemu", "prepare", _domain(entry="")) == []


RECORD = {"name": "ovnvm", "uuid": "00000000-0000-4000-8000-000000000008",
          "ovn_ports": {DOM_IID: {"switch": "ls-web", "mac": "52:54:00:00:00:08", "created": True}}}


def test_release_gives_up_the_recorded_ports():
    assert plan(lookup("qemu", "release"), None, FACTS, RECORD) == [
        A.DeleteOvnPort(DOM_IID, "ovnvm", "00000000-0000-4000-8000-000000000008", migrated=False)]


def test_release_with_libvirts_migrated_reason_never_deletes():
    assert plan(lookup("qemu", "release"), None, FACTS, RECORD, None, "migrated") == [
        A.DeleteOvnPort(DOM_IID, "ovnvm", "00000000-0000-4000-8000-000000000008", migrated=True)]
    assert plan(lookup("qemu", "release"), None, FACTS, RECORD, None, "shutdown") == [
        A.DeleteOvnPort(DOM_IID, "ovnvm", "00000000-0000-4000-8000-000000000008", migrated=False)]


def test_prepare_gives_up_leftover_ports_before_ensuring_them_again():
    assert _plan("qemu", "prepare", _domain(), RECORD) == [
        A.DeleteOvnPort(DOM_IID, "ovnvm", "00000000-0000-4000-8000-000000000008"),
        A.EnsureOvnPort(DOM_IID, "ls-web", "52:54:00:00:00:08", "10.10.0.20", "ovnvm",
                        "00000000-0000-4000-8000-000000000008", iface="52:54:00:00:00:08"),
        A.MarkStarting()]


def test_the_ovn_adapter_is_imported_only_for_a_plan_with_ovn_work():
    import subprocess
    import sys

    code = ("import sys; from hooks.planner import plan, StaticFacts; from hooks.protocol import lookup; "
            "from xmltools.xmlparse import parse_bytes; "
            "plan(lookup('network', 'start'), parse_bytes(open(sys.argv[1], 'rb').read()).getroot(), "
            "StaticFacts(), {}); print('hooks.adapters.ovn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(CAPTURE)], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "False"


def test_started_settles_only_the_ports_that_arrived_while_another_chassis_held_them():
    other = {"switch": "ls-web", "mac": "52:54:00:61:b5:e0", "created": True}
    mine = {**RECORD["ovn_ports"][DOM_IID], "arriving": True}
    arriving = {**RECORD, "ovn_ports": {DOM_IID: mine, IID: other}}
    assert _plan("qemu", "started", _domain(), arriving) == [A.SettleOvnPort(DOM_IID)]
    assert _plan("qemu", "started", _domain(), RECORD) == []


def test_port_deleted_on_an_ovn_network_gives_the_port_up():
    assert _plan("network", "port-deleted", _ovn_port_created()) == [
        A.DeleteOvnPort(IID, "capvm", CAPVM, iface="52:54:00:61:b5:e0")]
    assert _plan("network", "port-deleted", CAPTURE.read_bytes()) == []


def test_port_deleted_refuses_an_interfaceid_that_is_no_uuid_and_skips_a_port_without_one():
    with pytest.raises(InvalidValue, match="expected a UUID"):
        _plan("network", "port-deleted", _ovn_port_created(iid="not-a-uuid"))
    data = _ovn_port_created().replace(f"<parameters interfaceid='{IID}'/>".encode(), b"")
    assert _plan("network", "port-deleted", data) == []


@pytest.mark.parametrize("driver, op, data, record, work", [
    ("qemu", "prepare", _domain(), False, True),
    ("qemu", "prepare", _domain(entry=""), False, False),
    ("qemu", "started", _domain(), True, True),
    ("qemu", "started", _domain(), False, False),
    ("qemu", "started", _domain(iid=None), True, False),
    ("network", "port-deleted", _ovn_port_created(), False, True),
    ("network", "port-deleted", CAPTURE.read_bytes(), False, False),
])
def test_the_fast_path_starts_python_for_ovn_work_and_only_then(driver, op, data, record, work, tmp_path):
    from hooks import fastpath

    state = tmp_path / "state"
    (state / "domains").mkdir(parents=True)
    (state / "networks").mkdir()
    if record:
        (state / "domains" / "ovnvm.json").write_text("{}")
    assert fastpath.needs_work(driver, op, "ovnvm" if driver == "qemu" else "packtovs", data,
                               str(state), str(tmp_path / "map")) is work


def test_hooks_status_lists_the_recorded_ovn_ports():
    from hooks.cli import _state_lines

    arriving = {**RECORD, "ovn_ports": {DOM_IID: {**RECORD["ovn_ports"][DOM_IID], "arriving": True,
                                                  "created": False}}}
    snapshot = {"domains": {"ovnvm": RECORD, "other": {**arriving, "name": "other"}}, "claims": {},
                "networks": {}}
    assert _state_lines(snapshot) == [
        f"domain ovnvm: OVN port {DOM_IID} (52:54:00:00:00:08) on switch ls-web created by the hook",
        f"domain other: OVN port {DOM_IID} (52:54:00:00:00:08) on switch ls-web set by the hook, "
        "arriving from another chassis"]


def test_a_network_asking_port_security_gets_it_on_its_ports_and_its_twin_does_not():
    ovn = "<vnx:ovn switch='ls-web' subnet='10.10.0.0/24' port-security='yes'/>"
    [action] = _plan("network", "port-created", _ovn_port_created(ovn))
    assert action == A.EnsureOvnPort(IID, "ls-web", "52:54:00:61:b5:e0", None, "capvm", CAPVM, True,
                                     keep_address=True, iface="52:54:00:61:b5:e0")
    [twin] = _plan("network", "port-created", _ovn_port_created(ovn.replace("yes", "no")))
    assert twin.port_security is False
