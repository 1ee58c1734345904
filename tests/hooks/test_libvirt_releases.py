"""The hooks beside libvirt 9.0 and 11.x: which libvirt runs them, and a Linux bridge's <vlan>.

libvirt 11.0 and later set a Linux-bridge port's VLANs from its ``<vlan>`` when they plug it
(``virNetDevBridgeSetupVlans``); before 11.0 libvirt refuses or ignores it and the hook applies
it. The planner is table-tested over both releases' real captures, and the verifying action and
the daemon look-up against fakes (a fake netlink host, a fake /proc of real files and links).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

from hooks import actions as A
from hooks.cli import hooks as hooks_group
from hooks.context import Context, Owner
from hooks.daemon import (
    find_daemons,
    from_soname,
    hook_daemon_version,
    hook_runners,
    installed_version,
    version_of,
)
from hooks.deadline import Deadline
from hooks.errors import HostError, VlanConflict
from hooks.executor import Executor
from hooks.install import reload_daemons
from hooks.planner import StaticFacts, plan
from hooks.protocol import lookup
from hooks.state import StateStore
from tests.fakes import FakeNetlink
from tests.hooks.test_planner import CAPTURE_CASES, CAPTURE_SETS, FIX, _ids
from tests.support import spawn_named, stop
from xmltools.xmlparse import parse_bytes

V9, V11 = (9, 0, 0), (11, 3, 0)
MAC = "52:54:00:ea:dd:15"


def facts(version):
    return StaticFacts(ovs_bridges=frozenset({"ovsbr0"}), libvirt=version)


def domain(vlan: str = "<vlan><tag id='10'/></vlan>", meta: str = "", itype: str = "bridge",
           source: str = "<source bridge='br0'/>") -> bytes:
    metadata = (f"<metadata><vnx:netxml xmlns:vnx='urn:virt-netxml:hooks:1'><vnx:interface mac='{MAC}'>"
                f"{meta}</vnx:interface></vnx:netxml></metadata>") if meta else ""
    return (f"<domain type='kvm'><name>relvm</name><uuid>8f0e3c9e-5d7a-4a51-9d0b-3c1f3c7a2b11</uuid>"
            f"{metadata}<devices><interface type='{itype}'><mac address='{MAC}'/>{source}{vlan}"
            f"<target dev='vnet7'/><model type='virtio'/></interface></devices></domain>").encode()


def start_plan(xml: bytes, version, record=None, op="start"):
    return plan(lookup("qemu", op), parse_bytes(xml).getroot(), facts(version), record or {})


# --------------------------------------------------------------------------- the planner


@pytest.mark.parametrize("version", [V9, V11, None], ids=["9.0", "11.3", "unknown"])
@pytest.mark.parametrize("release", list(CAPTURE_SETS))
@pytest.mark.parametrize("driver,op,name,expected", CAPTURE_CASES, ids=_ids)
def test_real_captures_plan_the_same_beside_either_release(driver, op, name, expected, release, version):
    root = parse_bytes((FIX / CAPTURE_SETS[release] / name).read_bytes()).getroot()
    assert plan(lookup(driver, op), root, facts(version), {}) == expected


@pytest.mark.parametrize("op", ["start", "reconnect", "attach"])
@pytest.mark.parametrize("vlan,vids,pvid,untagged", [
    ("<vlan><tag id='10'/></vlan>", (10,), 10, True),
    ("<vlan trunk='yes'><tag id='20' nativeMode='untagged'/><tag id='30'/></vlan>", (20, 30), 20, True),
    ("<vlan trunk='yes'><tag id='20' nativeMode='tagged'/><tag id='30'/></vlan>", (20, 30), 20, False),
    ("<vlan trunk='yes'><tag id='30'/><tag id='31'/></vlan>", (30, 31), None, True),
])
def test_on_11_libvirts_own_vlan_is_verified_as_libvirt_sets_it(op, vlan, vids, pvid, untagged):
    # virNetDevBridgeSetupVlans: VLAN 1 removed; one tag: pvid untagged; a trunk's native tag
    # is the pvid, untagged unless nativeMode='tagged'; the other tags tagged.
    expected = A.BridgePortVlans("vnet7", vids, pvid=pvid, untagged_pvid=untagged, verify=True)
    assert start_plan(domain(vlan), V11, op=op) == [expected]
    # Before 11.0 (or not knowing) the hook sets the same entries itself.
    for older in (V9, None):
        assert start_plan(domain(vlan), older, op=op) == [
            A.BridgePortVlans("vnet7", vids, pvid=pvid, untagged_pvid=untagged)]


def test_on_11_a_network_port_of_a_linux_bridge_is_verified_too():
    xml = domain(itype="network", source="<source network='lan' portgroup='v10' bridge='br0'/>")
    assert start_plan(xml, V11) == [A.BridgePortVlans("vnet7", (10,), pvid=10, verify=True)]


def test_on_11_a_metadata_wish_that_agrees_is_only_verified():
    xml = domain(meta="<vnx:vlan tag='10'/>")
    assert start_plan(xml, V11) == [A.BridgePortVlans("vnet7", (10,), pvid=10, verify=True)]
    assert start_plan(xml, V9) == [A.BridgePortVlans("vnet7", (10,), pvid=10)]


@pytest.mark.parametrize("op", ["start", "reconnect"])
def test_on_11_a_metadata_wish_that_disagrees_fails_naming_both(op):
    xml = domain(meta="<vnx:vlan trunks='20,30-31' native='20'/>")
    with pytest.raises(VlanConflict) as caught:
        start_plan(xml, V11, op=op)
    message = caught.value.message
    assert "\n" not in message and caught.value.exit_code == 2
    assert f"interface {MAC} (vnet7)" in message
    assert "VLAN pvid 20 untagged, tagged 30-31" in message    # the metadata's wish
    assert "<vlan> (pvid 10 untagged)" in message              # libvirt's
    assert "libvirt 11.3.0" in message
    # On 9.0 the metadata wins, as before: libvirt set nothing on the port.
    assert start_plan(xml, V9, op=op) == [A.BridgePortVlans("vnet7", (20, 30, 31), pvid=20)]


def test_on_11_a_recorded_portgroup_wish_that_disagrees_fails_too():
    record = {"port_wishes": {MAC: {"tag": 7, "trunks": None, "native": None, "mode": "access",
                                    "network": "lan", "portgroup": "v7"}}}
    with pytest.raises(VlanConflict, match="VLAN pvid 7 untagged but libvirt 11.3.0"):
        start_plan(domain(), V11, record)
    agreeing = {"port_wishes": {MAC: dict(record["port_wishes"][MAC], tag=10)}}
    assert start_plan(domain(), V11, agreeing) == [A.BridgePortVlans("vnet7", (10,), pvid=10, verify=True)]


def test_on_11_a_metadata_wish_without_libvirts_vlan_is_applied_by_the_hook():
    xml = domain(vlan="", meta="<vnx:vlan tag='10'/>")
    assert start_plan(xml, V11) == [A.BridgePortVlans("vnet7", (10,), pvid=10)]


def test_on_11_an_ovs_port_and_a_hook_tap_are_planned_as_before():
    ovs = domain(source="<source bridge='ovsbr0'/><virtualport type='openvswitch'/>",
                 meta="<vnx:vlan tag='10'/>")
    assert start_plan(ovs, V11) == start_plan(ovs, V9) == [A.OvsPortVlan("vnet7", 10, (), "access")]


# --------------------------------------------------------------------------- verifying


def _host(tmp_path, filtering=True):
    net = FakeNetlink()
    net.add_bridge("br0", vlan_filtering=filtering)
    net.add_link("vnet7", "tun", up=True, master="br0")
    ctx = Context(Owner("domain", "relvm"), StateStore(str(tmp_path / "state")), Deadline(30), netlink=net)
    return net, ctx


def _libvirt_sets_vlan_10(net):
    # What libvirt 11's virNetDevBridgeSetupVlans leaves: VLAN 1 gone, 10 pvid untagged.
    net.bridge_vlan_del("vnet7", 1)
    net.bridge_vlan_add("vnet7", 10, True, True)
    net.calls.clear()


def test_verify_changes_nothing_and_says_it_verified(tmp_path):
    net, ctx = _host(tmp_path)
    _libvirt_sets_vlan_10(net)
    action = A.BridgePortVlans("vnet7", (10,), pvid=10, verify=True, iface=MAC)
    assert action.describe() == "verify bridge VLANs libvirt set on vnet7: pvid 10 untagged"
    logged = []
    result = Executor(ctx, lambda a, status, detail: logged.append((a, status))).run([action])
    assert result.ok and result.unchanged == [action]
    assert logged == [(action, "unchanged")]
    assert not net.calls_to("bridge_vlan_add") and not net.calls_to("bridge_vlan_del")


def test_verify_refuses_entries_libvirt_did_not_leave_and_changes_nothing(tmp_path):
    net, ctx = _host(tmp_path)   # the port still holds the kernel's VLAN 1 only
    with pytest.raises(HostError, match="vnet7 holds VLANs 1 pvid untagged, not what libvirt's <vlan> sets"):
        A.BridgePortVlans("vnet7", (10,), pvid=10, verify=True).apply(ctx)
    assert not net.calls_to("bridge_vlan_add") and not net.calls_to("bridge_vlan_del")


def test_verify_refuses_a_bridge_that_does_not_filter_and_says_how_to_turn_it_on(tmp_path):
    net, ctx = _host(tmp_path, filtering=False)
    _libvirt_sets_vlan_10(net)
    with pytest.raises(HostError) as caught:
        A.BridgePortVlans("vnet7", (10,), pvid=10, verify=True).apply(ctx)
    assert "VLAN filtering off" in caught.value.message
    assert "<vnx:bridge vlan-filtering='yes'/>" in caught.value.message
    assert "ip link set br0 type bridge vlan_filtering 1" in caught.value.message


# --------------------------------------------------------------------------- which libvirt


def _fake_proc(tmp_path: Path, pid: int, exe: str, maps: str) -> Path:
    proc = tmp_path / "proc"
    (proc / str(pid)).mkdir(parents=True)
    os.symlink(exe, proc / str(pid) / "exe")
    (proc / str(pid) / "maps").write_text(maps)
    return proc


MAPS_11 = ("7f1c2a00-7f1c2a20 r--p 00000000 08:01 1234 /usr/lib/x86_64-linux-gnu/libvirt-qemu.so.0.11003.0\n"
           "7f1c2b00-7f1c2b40 r-xp 00000000 08:01 1235 /usr/lib/x86_64-linux-gnu/libvirt.so.0.11003.0\n")
MAPS_9 = "7f00-7f01 r-xp 00000000 08:01 99 /usr/lib/x86_64-linux-gnu/libvirt.so.0.9000.0 (deleted)\n"


def test_soname_numbers_are_libvirts_version():
    assert from_soname("11003.0") == (11, 3, 0)
    assert from_soname("9000.0") == (9, 0, 0)
    assert from_soname("10010.1") == (10, 10, 1)
    assert from_soname("0") is None and from_soname("x.0") is None


@pytest.mark.parametrize("exe,maps,expected", [
    ("/usr/sbin/libvirtd", MAPS_11, V11),
    ("/usr/sbin/virtqemud", MAPS_11, V11),
    ("/usr/sbin/virtnetworkd", MAPS_9, V9),          # a daemon that outlived an upgrade
    ("/usr/sbin/libvirtd (deleted)", MAPS_9, V9),
])
def test_the_hooks_parent_daemon_names_the_version(tmp_path, exe, maps, expected):
    proc = _fake_proc(tmp_path, 4242, exe, maps)
    assert version_of(4242, str(proc)) == expected
    assert hook_daemon_version(4242, str(proc), str(tmp_path / "empty-root")) == expected


def test_a_parent_that_is_no_libvirt_daemon_falls_back_to_the_installed_library(tmp_path):
    proc = _fake_proc(tmp_path, 4242, "/usr/bin/bash", MAPS_11)
    root = tmp_path / "root"
    lib = root / "usr/lib/x86_64-linux-gnu"
    lib.mkdir(parents=True)
    for name in ("libvirt.so.0", "libvirt.so.0.9000.0", "libvirt-qemu.so.0.11003.0"):
        (lib / name).write_text("")
    assert installed_version(str(root)) == V9
    assert hook_daemon_version(4242, str(proc), str(root)) == V9
    assert hook_daemon_version(4242, str(proc), str(tmp_path / "nothing")) is None


def test_this_machines_libvirt_library_is_found():
    # The machine's own libvirt (Debian 12's 9.0) and the Debian 13 root's, where it was built.
    assert installed_version("/") is not None
    root = Path(__file__).resolve().parents[2] / ".cache" / "debian13"
    if (root / "usr/sbin/libvirtd").exists():
        assert installed_version(str(root)) == V11


def test_modular_daemons_are_found_and_both_reloaded(tmp_path):
    qemu = spawn_named(tmp_path, "virtqemud", copy=True)
    network = spawn_named(tmp_path, "virtnetworkd", copy=True)
    try:
        root = tmp_path / "root"
        (root / "run").mkdir(parents=True)
        (root / "run/virtqemud.pid").write_text(f"{qemu.pid}\n")
        (root / "run/virtnetworkd.pid").write_text(f"{network.pid}\n")
        found = find_daemons(str(root))
        assert found == {"virtqemud": qemu.pid, "virtnetworkd": network.pid}
        assert hook_runners(found) == found
        assert hook_runners({"libvirtd": 7, "virtqemud": 8}) == {"libvirtd": 7}
        res = CliRunner().invoke(hooks_group, ["install", "--root", str(root), "--reload"])
        assert res.exit_code == 0, res.output
        assert f"reloaded: virtqemud pid {qemu.pid}, virtnetworkd pid {network.pid}" in res.output
        assert qemu.wait(10) == -signal.SIGHUP and network.wait(10) == -signal.SIGHUP
    finally:
        stop(qemu)
        stop(network)


def test_reload_without_any_daemon_says_so(tmp_path):
    empty = tmp_path / "proc"
    empty.mkdir()
    with pytest.raises(Exception, match="no running libvirt daemon"):
        reload_daemons(str(tmp_path), str(empty))


def test_status_names_the_running_daemon_and_its_libvirt_version(tmp_path, monkeypatch):
    daemon = spawn_named(tmp_path, "libvirtd", copy=True)
    try:
        root = tmp_path / "root"
        (root / "run").mkdir(parents=True)
        (root / "run/libvirtd.pid").write_text(f"{daemon.pid}\n")
        import hooks.install as inst

        monkeypatch.setattr(inst, "version_of", lambda pid, proc="/proc": V11 if pid == daemon.pid else None)
        monkeypatch.setattr(inst, "installed_version", lambda root="/": V9)
        res = CliRunner().invoke(hooks_group, ["status", "--root", str(root)])
        assert res.exit_code == 0, res.output
        lines = res.output.splitlines()
        assert (f"libvirtd: libvirt 11.3.0, running as pid {daemon.pid} (runs the qemu and network hooks)"
                in lines), res.output
        assert "  note: libvirt 9.0.0 is installed; restart libvirtd to run it" in lines
    finally:
        stop(daemon)


def test_hooks_plan_plans_beside_the_libvirt_it_is_told(tmp_path, monkeypatch):
    monkeypatch.setenv("VIRT_NETXML_STATE_DIR", str(tmp_path / "state"))
    xml = tmp_path / "start.xml"
    xml.write_bytes(domain())
    runner = CliRunner()
    newer = runner.invoke(hooks_group, ["plan", "start", "--input", str(xml), "--libvirt-version", "11.3"])
    assert newer.exit_code == 0, newer.output
    assert "verify bridge VLANs libvirt set on vnet7: pvid 10 untagged" in newer.output
    older = runner.invoke(hooks_group, ["plan", "start", "--input", str(xml), "--libvirt-version", "9.0"])
    assert older.exit_code == 0, older.output
    assert "set bridge VLANs of vnet7: pvid 10 untagged" in older.output
