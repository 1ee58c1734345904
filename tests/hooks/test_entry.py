"""The hook program end to end in-process: argv x stdin -> host changes, stdout, stderr, exit."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import pytest

from hooks.entry import main
from hooks.errors import HostError
from hooks.state import StateStore
from tests.fakes import FakeNetlink, FakeOvs, FakeSysfs

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "hooks"
START_META = (FIX / "variants/qemu-capvm-start-meta.xml").read_bytes()
PREPARE_META = (FIX / "variants/qemu-capvm-prepare-meta.xml").read_bytes()
START = (FIX / "captures/13-qemu-capvm-start-begin.xml").read_bytes()


class Host:
    """Fakes shaped like the capture machine while capvm starts."""

    def __init__(self, ovs_fail=None, net=None):
        self.net = net or FakeNetlink()
        self.ovs = FakeOvs(fail_on=ovs_fail or {})
        self.fs = FakeSysfs()
        self.net.add_bridge("brcap", vlan_filtering=True)
        self.net.add_link("vnet104", "tun", master="brcap")
        self.net.add_link("up0", "veth", up=True)
        self.ovs.add_bridge("ovsbr0")
        self.ovs.add_port("ovsbr0", "vnet103")

    def ports(self):
        return {"netlink": self.net, "ovs": self.ovs, "sysfs": self.fs}


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("VIRT_NETXML_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("VIRT_NETXML_CONFIG_DIR", str(tmp_path / "conf"))
    monkeypatch.delenv("VIRT_NETXML_DEADLINE", raising=False)
    (tmp_path / "conf").mkdir()
    return tmp_path


def own_tap(env, name="tapcap0", bridge="brcap"):
    """The record prepare leaves: the TAP is the domain's, plugged into ``bridge`` by the hook."""
    with StateStore(str(env / "state")).edit("domains", "capvm") as rec:
        rec["taps"] = {name: {"bridge": bridge, "ovs": False, "adopted": False, "plugged": True}}


def call(argv, data=b"", host: Host | None = None, program="/etc/libvirt/hooks/qemu.d/50-virt-netxml"):
    stdin, stdout, stderr = io.BytesIO(data), io.StringIO(), io.StringIO()
    code = main(argv, stdin=stdin, stdout=stdout, stderr=stderr,
                ports=host.ports() if host else None, program=program)
    return code, stdout.getvalue(), stderr.getvalue(), stdin.tell()


def test_unknown_operation_object_and_driver_exit_0_quietly(env):
    assert call(["capvm", "frobnicate", "begin", "-"], b"<x/>") == (0, "", "", 0)
    assert call(["capvm"], b"") == (0, "", "", 0)
    assert call(["-", "start", "-", "start"], b"", program="/etc/libvirt/hooks/daemon.d/x") == (0, "", "", 0)


@pytest.mark.parametrize("op", ["stopped", "release"])
def test_operations_with_nothing_to_do_do_not_even_read_stdin(env, op):
    assert call(["capvm", op, "end", "-"], START) == (0, "", "", 0)


def test_started_reads_stdin_for_interfaceids_and_without_a_record_does_nothing(env):
    code, out, err, read = call(["capvm", "started", "begin", "-"], START)
    assert (code, out, err) == (0, "", "") and read == len(START)


def test_start_applies_metadata_vlans_and_prints_nothing(env):
    host = Host()
    host.net.add_link("tapcap0", "tun", master="brcap")
    own_tap(env)
    code, out, err, _ = call(["capvm", "start", "begin", "-"], START_META, host)
    assert (code, out, err) == (0, "", "")
    row = host.ovs.ports["vnet103"]
    assert (row.tag, row.trunks, row.vlan_mode) == (10, (), "access")
    assert host.ovs.maps[("Port", "vnet103")]["other_config"] == {"priority-tags": "true"}
    assert sorted(host.net.links["vnet104"].vlans) == [20, 30, 31, 32]
    assert host.net.links["vnet104"].vlans[20].pvid
    assert sorted(host.net.links["tapcap0"].vlans) == [40]


def _start_with_own_tap(env, host):
    """``start`` of capvm, whose tapcap0 (on brcap) the hook's record lists as its own."""
    host.net.add_link("tapcap0", "tun", master="brcap")
    own_tap(env)
    code, out, err, _ = call(["capvm", "start", "begin", "-"], START_META, host)
    return code, out, err


def test_failure_rolls_back_and_reports_one_line_naming_domain_interface_and_step(env):
    # The OVS port's two changes (one transaction) and vnet104's VLANs are in place when
    # tapcap0's VLAN fails: both are put back, the OVS port's in one transaction.
    boom = HostError(step="netlink add VLAN", detail="Operation not permitted")
    net = FakeNetlink(fail_on={"bridge_vlan_add": lambda port, *_: boom if port == "tapcap0" else None})
    host = Host(net=net)
    code, out, err = _start_with_own_tap(env, host)
    assert code == 1 and out == ""
    assert err == ("virt-netxml: domain capvm: start: interface 52:54:00:b4:49:09 (tapcap0): "
                   "netlink add VLAN: Operation not permitted; rolled back 2 of 2 changes\n")
    row = host.ovs.ports["vnet103"]
    assert (row.tag, row.trunks, row.vlan_mode) == (None, (), None)
    assert host.ovs.maps[("Port", "vnet103")].get("other_config", {}) == {}
    assert len(host.ovs.calls_to("transact")) == 2          # apply, and undo in one transaction
    assert sorted(host.net.links["vnet104"].vlans) == [1]


def test_a_failed_ovs_transaction_changes_nothing_and_names_the_interface(env):
    host = Host(ovs_fail={"transact": HostError(step="run ovs-vsctl", detail="database locked")})
    code, out, err = _start_with_own_tap(env, host)
    assert code == 1 and out == ""
    assert err == ("virt-netxml: domain capvm: start: interface 52:54:00:61:b5:e0 (vnet103): "
                   "run ovs-vsctl: database locked; rolled back 0 of 0 changes\n")
    row = host.ovs.ports["vnet103"]
    assert (row.tag, row.vlan_mode) == (None, None)


def test_reconnect_failure_is_reported_but_exits_0(env):
    host = Host(ovs_fail={"transact": HostError(step="run ovs-vsctl", detail="boom")})
    own_tap(env)
    code, out, err, _ = call(["capvm", "reconnect", "begin", "-"], START_META, host)
    assert code == 0 and out == "" and "boom" in err and err.count("\n") == 1


def test_prepare_then_release_creates_and_removes_the_tap(env):
    host = Host()
    code, _, err, _ = call(["capvm", "prepare", "begin", "-"], PREPARE_META, host)
    assert (code, err) == (0, "")
    tap = host.net.links["tapcap0"]
    assert (tap.kind, tap.master, tap.up, tap.vnet_hdr) == ("tun", "brcap", True, True)
    assert (env / "state/domains/capvm.json").exists()
    # Until QEMU runs, the record says which daemon is starting the domain (the hook's parent).
    note = json.loads((env / "state/domains/capvm.json").read_text())["starting"]
    assert note["pid"] == os.getppid() and abs(note["since"] - time.time()) < 60
    code, _, err, read = call(["capvm", "release", "end", "-"], PREPARE_META, host)
    assert (code, err, read) == (0, "", 0)
    assert "tapcap0" not in host.net.links
    assert not (env / "state/domains/capvm.json").exists()
    assert not (env / "state/claims/uplink-up0.json").exists()


def test_a_pre_created_tap_is_never_deleted(env):
    host = Host()
    host.net.add_link("tapcap0", "tun", up=True)
    assert call(["capvm", "prepare", "begin", "-"], PREPARE_META, host)[0] == 0
    assert host.net.links["tapcap0"].master == "brcap"
    assert call(["capvm", "release", "end", "-"], b"", host)[0] == 0
    assert "tapcap0" in host.net.links


def test_second_domain_on_a_passthrough_uplink_is_refused(env):
    host = Host()
    assert call(["capvm", "prepare", "begin", "-"], PREPARE_META, host)[0] == 0
    other = PREPARE_META.replace(b"<name>capvm</name>", b"<name>othervm</name>").replace(
        b"tapcap0", b"tapoth0")
    code, out, err, _ = call(["othervm", "prepare", "begin", "-"], other, host)
    assert code == 1 and out == ""
    assert "domain othervm: prepare: interface 52:54:00:75:2f:31" in err
    assert "'up0' is busy (in use by domain capvm (de3e2b2f" in err
    assert "tapoth0" not in host.net.links   # its TAP was rolled back


def test_portgroup_vlan_from_network_hook_reaches_domain_start(env):
    host = Host()
    pc = (FIX / "variants/network-packtovs-port-created-meta.xml").read_bytes()
    code, _, err, _ = call(["packtovs", "port-created", "begin", "-"], pc, host,
                           program="/etc/libvirt/hooks/network.d/50-virt-netxml")
    assert (code, err) == (0, "")
    assert call(["capvm", "start", "begin", "-"], START, host)[:3] == (0, "", "")
    row = host.ovs.ports["vnet103"]
    assert (row.tag, row.trunks, row.vlan_mode) == (10, (10, 20, 100, 101, 102), "native-untagged")


def test_network_start_checks_uplink_and_names_it(env):
    host = Host()
    host.net.links["up0"].up = False
    data = (FIX / "captures/07-network-capmvtap-start-begin.xml").read_bytes()
    code, out, err, _ = call(["--driver", "network", "capmvtap", "start", "begin", "-"], data, host)
    assert code == 1 and out == ""
    assert err == ("virt-netxml: network capmvtap: start: check uplink up0 exists and is up: "
                   "uplink 'up0' is down; rolled back 0 of 0 changes\n")


def test_shim_made_at_network_start_is_removed_at_stopped(env):
    host = Host()
    data = (FIX / "variants/network-capmvtap-start-meta.xml").read_bytes()
    net = ["--driver", "network", "capmvtap"]
    assert call([*net, "start", "begin", "-"], data, host)[0] == 0
    assert host.net.links["mvshim0"].addresses == ["192.168.77.1/24"]
    assert call([*net, "stopped", "end", "-"], data, host)[:3] == (0, "", "")
    assert "mvshim0" not in host.net.links


def test_invalid_xml_is_one_line_and_exit_2(env):
    code, out, err, _ = call(["capvm", "start", "begin", "-"], b"<domain><interface><vlan id='1'><", Host())
    assert code == 2 and out == ""
    assert err.startswith("virt-netxml: domain capvm: start: qemu start input:1: malformed XML")
    assert err.count("\n") == 1


def test_doctype_is_refused(env):
    evil = b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><domain><interface><vlan/>&x;</interface></domain>'
    code, _, err, _ = call(["capvm", "start", "begin", "-"], evil, Host())
    assert code == 2 and "DOCTYPE" in err


def test_migrate_prints_rewritten_xml_only_when_mapping_changes_it(env):
    data = (FIX / "captures/09-qemu-capvm-prepare-begin.xml").read_bytes()
    assert call(["capvm", "migrate", "begin", "-"], data) == (0, "", "", 0)   # no mapping file
    (env / "conf/migrate-map.conf").write_text("bridge elsewhere = br9\n")
    assert call(["capvm", "migrate", "begin", "-"], data)[:3] == (0, "", "")
    (env / "conf/migrate-map.conf").write_text("bridge brcap = br-vlan10\n")
    for op in ("migrate", "restore"):
        code, out, err, _ = call(["capvm", op, "begin", "-"], data)
        assert (code, err) == (0, "")
        assert out.startswith("<domain") and "<source bridge=\"br-vlan10\"/>" in out


def test_bad_mapping_file_aborts_migration_with_one_line(env):
    (env / "conf/migrate-map.conf").write_text("bridge = \n")
    data = (FIX / "captures/09-qemu-capvm-prepare-begin.xml").read_bytes()
    code, out, err, _ = call(["capvm", "migrate", "begin", "-"], data)
    assert code == 2 and out == "" and "migrate-map.conf:1" in err


def test_dry_run_prints_the_plan_and_changes_nothing(env):
    host = Host()
    code, out, err, _ = call(["--dry-run", "capvm", "prepare", "begin", "-"], PREPARE_META, host)
    assert code == 0 and out == ""
    assert "1. claim TAP tapcap0 for this domain  [52:54:00:b4:49:09 (tapcap0)]" in err
    assert "2. create TAP tapcap0 owner 0:0 (vnet_hdr)  [52:54:00:b4:49:09 (tapcap0)]" in err
    assert "tapcap0" not in host.net.links and not (env / "state").exists()


def test_deadline_from_environment_and_config(env, monkeypatch):
    (env / "conf/hooks.conf").write_text("deadline = 0.5\n")
    host = Host(net=FakeNetlink(hang_on="set_up", hang_seconds=30))
    code, _, err, _ = call(["capvm", "prepare", "begin", "-"], PREPARE_META, host)
    assert code == 1 and "bring tapcap0 up: the hook's deadline of 0.5s passed" in err
    assert "tapcap0" not in host.net.links
    monkeypatch.setenv("VIRT_NETXML_DEADLINE", "nonsense")
    code, _, err, _ = call(["capvm", "prepare", "begin", "-"], PREPARE_META, Host())
    assert code == 2 and "invalid deadline 'nonsense'" in err


def test_broken_config_file_is_one_line(env):
    (env / "conf/hooks.conf").write_text("colour = blue\n")
    code, out, err, _ = call(["capvm", "prepare", "begin", "-"], PREPARE_META, Host())
    assert code == 2 and out == "" and "unknown key 'colour'" in err and err.count("\n") == 1


def test_log_file_gets_one_line_per_action(env):
    log = env / "hook.log"
    (env / "conf/hooks.conf").write_text(f"log-file = {log}\n")
    assert call(["capvm", "prepare", "begin", "-"], PREPARE_META, Host())[0] == 0
    lines = log.read_text().splitlines()
    assert any('domain=capvm op=prepare iface=52:54:00:b4:49:09 (tapcap0) action="create TAP tapcap0'
               in line and "result=changed" in line for line in lines)
    # 4 host changes, the claim on the TAP's name and the start note
    assert "done: 6 changed, 0 already in place" in lines[-1]


def test_vlans_libvirt_applies_itself_do_not_start_the_planner(env):
    """capture 13 carries a <vlan> only on an OVS port: libvirt's job, so no parse at all."""
    assert fastpath_needs(START) is False
    source = b"<source bridge='brcap'/>"
    linux = START.replace(source, source + b"\n      <vlan><tag id='7'/></vlan>")
    assert fastpath_needs(linux) is True


def fastpath_needs(data: bytes) -> bool:
    from hooks.fastpath import needs_work

    return needs_work("qemu", "start", "capvm", data, "/nonexistent", "/nonexistent")


@pytest.mark.parametrize(("argv", "parsed"), [
    (["--driver", "qemu", "--", "--dry-run", "start", "begin", "-"],
     ("qemu", False, ["--dry-run", "start", "begin", "-"])),
    (["--driver=network", "--dry-run", "net", "start"], ("network", True, ["net", "start"])),
    (["vm", "--dry-run", "--driver", "x", "--"], (None, False, ["vm", "--dry-run", "--driver", "x", "--"])),
    (["--", "--", "start"], (None, False, ["--", "start"])),
    (["-h", "start"], (None, False, ["-h", "start"])),
    (["--driver"], "--driver needs a value"),
])
def test_options_only_before_the_object(argv, parsed):
    from hooks.entry import _parse

    assert _parse(argv) == parsed
