"""``hooks watch``: from a device event and the live domain XML to the plan, applied with the
hooks' executor and noted in the domain's state record; with fake OVS and netlink ports.

The service loop itself (libvirt events, reconnection, catch-up) runs against real libvirtd in
tests/e2e/test_hotplug.py; here, besides the event logic, the systemd unit's command line is
read back as systemd reads it and run against libvirt's test driver.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hooks.actions.forward import ForwardRules
from hooks.errors import HostError
from hooks.state import StateStore
from hooks.state_records import DomainState
from hooks.watch import Watcher
from hooks.watch_unit import render, systemd_quote, systemd_unquote, unit_path
from tests.fakes import FakeFirewall, FakeNetlink, FakeOvs
from tests.support import require
from xmltools.errors import InputError

MAC1, MAC2 = "52:54:00:aa:00:01", "52:54:00:aa:00:02"


def nic(mac: str, dev: str, alias: str, bridge: str = "ovsbr0", vlan: str = "") -> str:
    return f"""
    <interface type='bridge'>
      <mac address='{mac}'/>
      <source bridge='{bridge}'/>
      <virtualport type='openvswitch'/>
      <target dev='{dev}'/>{vlan}
      <model type='virtio'/>
      <alias name='{alias}'/>
    </interface>"""


def domain(*nics: str, meta: str = "") -> bytes:
    return f"""<domain type='qemu' id='3'>
  <name>vm</name>
  <uuid>0f0e0d0c-0b0a-0908-0706-050403020100</uuid>
  <metadata>
    <vnx:netxml xmlns:vnx="urn:virt-netxml:hooks:1">{meta}</vnx:netxml>
  </metadata>
  <devices>
    <disk type='file' device='disk'><source file='/x.img'/><target dev='vda'/>
      <alias name='virtio-disk0'/></disk>{''.join(nics)}
  </devices>
</domain>""".encode()


def wish(mac: str, vlan: str = '<vnx:vlan tag="10"/>') -> str:
    return f'<vnx:interface mac="{mac}">{vlan}</vnx:interface>'


@pytest.fixture
def host(tmp_path):
    ovs = FakeOvs()
    ovs.add_bridge("ovsbr0")
    for port in ("vnet3", "vnet4"):
        ovs.add_port("ovsbr0", port)
    ovs.calls.clear()
    store = StateStore(str(tmp_path / "state"))
    said: list[str] = []
    watcher = Watcher(store, {}, ports={"ovs": ovs, "netlink": FakeNetlink()}, say=said.append,
                      use_syslog=False)
    return watcher, ovs, store


def record(store: StateStore) -> DomainState:
    return DomainState(store.read("domains", "vm"))


def test_a_hot_plugged_nic_gets_its_vlan_and_is_recorded(host):
    watcher, ovs, store = host
    xml = domain(nic(MAC1, "vnet3", "net0"), nic(MAC2, "vnet4", "net1"),
                 meta=wish(MAC1) + wish(MAC2, '<vnx:vlan tag="20"/>'))
    lines = watcher.plugged("vm", xml, "net1")
    assert (ovs.ports["vnet4"].tag, ovs.ports["vnet4"].vlan_mode) == (20, "access")
    assert ovs.ports["vnet3"].tag is None          # only the interface the event names
    assert lines == [f"domain vm: interface {MAC2} (vnet4): 1 changed, 0 already in place"]
    assert record(store).hotplug == {MAC2: {"dev": "vnet4", "alias": "net1"}}
    assert record(store).uuid == "0f0e0d0c-0b0a-0908-0706-050403020100"
    # the same event again changes nothing on the port
    assert watcher.plugged("vm", xml, "net1") == [
        f"domain vm: interface {MAC2} (vnet4): 0 changed, 1 already in place"]


def test_a_device_that_is_no_interface_or_an_interface_without_wishes_is_left_alone(host):
    watcher, ovs, store = host
    xml = domain(nic(MAC1, "vnet3", "net0"))
    assert watcher.plugged("vm", xml, "virtio-disk0") == []
    assert watcher.plugged("vm", xml, "net0") == []
    assert watcher.plugged("vm", xml, "net7") == []
    assert [c for c in ovs.calls if c[0] == "transact"] == []
    assert store.read("domains", "vm") == {}


def test_a_portgroup_vlan_recorded_at_port_created_reaches_the_hot_plugged_port(host):
    watcher, ovs, store = host
    with store.edit("domains", "vm") as data:
        DomainState(data).part_for_update("port_wishes")[MAC1] = {"tag": 30, "portgroup": "pg30"}
    watcher.plugged("vm", domain(nic(MAC1, "vnet3", "net0")), "net0")
    assert ovs.ports["vnet3"].tag == 30
    # unplugged: the port went with the device; its record and wish are released
    lines = watcher.unplugged("vm", "net0")
    assert lines == [f"domain vm: interface {MAC1} (net0) unplugged: its record released"]
    assert store.read("domains", "vm") == {}


def test_unplug_releases_only_that_interface(host):
    watcher, ovs, store = host
    xml = domain(nic(MAC1, "vnet3", "net0"), nic(MAC2, "vnet4", "net1"), meta=wish(MAC1) + wish(MAC2))
    watcher.catch_up("vm", xml)
    assert set(record(store).hotplug) == {MAC1, MAC2}
    watcher.unplugged("vm", "net1")
    assert record(store).hotplug == {MAC1: {"dev": "vnet3", "alias": "net0"}}
    assert watcher.unplugged("vm", "net9") == []      # an alias it never applied
    assert watcher.unplugged("other", "net0") == []   # a domain without a record


def test_catch_up_applies_what_the_record_lacks_and_releases_what_is_gone(host):
    watcher, ovs, store = host
    with store.edit("domains", "vm") as data:
        DomainState(data).part_for_update("hotplug").update({
            MAC1: {"dev": "vnet3", "alias": "net0"},
            "52:54:00:aa:00:09": {"dev": "vnet9", "alias": "net9"}})   # unplugged while away
    xml = domain(nic(MAC1, "vnet3", "net0"), nic(MAC2, "vnet4", "net1"), meta=wish(MAC1) + wish(MAC2))
    lines = watcher.catch_up("vm", xml)
    assert lines == ["domain vm: interface 52:54:00:aa:00:09 (net9) unplugged: its record released",
                     f"domain vm: interface {MAC2} (vnet4): 1 changed, 0 already in place"]
    assert ovs.ports["vnet3"].tag is None and ovs.ports["vnet4"].tag == 10   # MAC1 was applied already
    assert set(record(store).hotplug) == {MAC1, MAC2}
    assert watcher.catch_up("vm", xml) == []


def test_a_failed_port_is_rolled_back_reported_and_not_recorded(host):
    watcher, ovs, store = host
    ovs.fail_on["transact"] = HostError(step="ovs-vsctl", detail="database connection failed")
    lines = watcher.plugged("vm", domain(nic(MAC1, "vnet3", "net0"), meta=wish(MAC1)), "net0")
    assert lines == [f"domain vm: interface {MAC1} (vnet3): ovs-vsctl: database connection failed; "
                     "rolled back 0 of 0 changes"]
    assert watcher.failures == 1 and store.read("domains", "vm") == {}


def test_a_refused_wish_changes_nothing(host):
    watcher, ovs, store = host
    bad = wish(MAC1, '<vnx:ovs-setting table="Bridge" column="other_config" key="k" value="v"/>')
    lines = watcher.plugged("vm", domain(nic(MAC1, "vnet3", "net0"), meta=bad), "net0")
    assert len(lines) == 1 and "OVS setting" in lines[0] and "Bridge" in lines[0]
    assert [c for c in ovs.calls if c[0] == "transact"] == [] and store.read("domains", "vm") == {}


def test_libvirt_11_linux_bridge_vlan_is_verified_not_applied(host):
    watcher, ovs, store = host
    net = FakeNetlink()
    net.add_bridge("br0", vlan_filtering=True)
    net.add_link("vnet5", "tun", master="br0", up=True)
    watcher.ports["netlink"] = net
    vlan = "\n      <vlan><tag id='40'/></vlan>"
    xml = domain(nic(MAC1, "vnet5", "net0", bridge="br0", vlan=vlan).replace(
        "<virtualport type='openvswitch'/>", ""))
    lines = watcher.plugged("vm", xml, "net0", version=(11, 3, 0))
    # libvirt 11 set pvid 40 itself when it plugged the port; the fake port still has VLAN 1 only
    assert len(lines) == 1 and "not what libvirt's <vlan> sets" in lines[0]
    assert not [c for c in net.calls if c[0] in ("bridge_vlan_add", "bridge_vlan_del")]
    lines = watcher.plugged("vm", xml, "net0", version=(9, 0, 0))
    assert lines == [f"domain vm: interface {MAC1} (vnet5): 1 changed, 0 already in place"]
    assert {v.vid for v in net.bridge_vlans("vnet5")} == {40}


NAT_NET = b"""<network><name>default</name><forward mode='nat'/><bridge name='virbr0'/>
  <ip address='192.168.122.1' netmask='255.255.255.0'/></network>"""


def forward_nic(mac: str, dev: str, alias: str) -> str:
    return f"""
    <interface type='network'>
      <mac address='{mac}'/>
      <source network='default' bridge='virbr0'/>
      <target dev='{dev}'/>
      <alias name='{alias}'/>
    </interface>"""


def test_a_hot_plugged_nic_gets_its_port_forwards_and_unplug_removes_them(host):
    watcher, ovs, store = host
    firewall = FakeFirewall()
    watcher.ports["firewall"] = firewall
    asked: list[str] = []
    watcher.network_xml = lambda name: asked.append(name) or NAT_NET   # from libvirt, not its files
    entry = wish(MAC1, '<vnx:ip address="192.168.122.50"/>'
                       '<vnx:forward proto="tcp" host-port="2222" guest-port="22"/>')
    xml = domain(forward_nic(MAC1, "vnet6", "net0"), forward_nic(MAC2, "vnet7", "net1"), meta=entry)
    lines = watcher.plugged("vm", xml, "net0")
    assert lines == [f"domain vm: interface {MAC1} (vnet6): 1 changed, 0 already in place"]
    assert asked == ["default"] and len(firewall.nat) == 1
    (key, recorded), = record(store).forwards.items()
    rules = ForwardRules.from_record(recorded)
    assert (rules.mac, rules.guest, rules.forwards) == (
        MAC1, "192.168.122.50", (("tcp", 2222, 2222, 22, 22, None, None),))
    assert watcher.plugged("vm", xml, "net1") == []   # no wishes: no forwards, no record
    lines = watcher.unplugged("vm", "net0")
    assert lines == [f"domain vm: interface {MAC1} (net0) unplugged: its record released; "
                     "1 changed, 0 already in place"]
    assert firewall.nat == {} and ("remove", key, True, True) in firewall.calls
    assert store.read("domains", "vm") == {}


def test_a_forward_to_an_address_outside_the_network_is_refused(host):
    watcher, ovs, store = host
    firewall = FakeFirewall()
    watcher.ports["firewall"] = firewall
    watcher.network_xml = lambda name: NAT_NET
    entry = wish(MAC1, '<vnx:ip address="10.9.9.9"/>'
                       '<vnx:forward proto="tcp" host-port="2222" guest-port="22"/>')
    lines = watcher.plugged("vm", domain(forward_nic(MAC1, "vnet6", "net0"), meta=entry), "net0")
    assert len(lines) == 1 and "10.9.9.9" in lines[0] and "192.168.122.0/24" in lines[0]
    assert firewall.calls == [] and store.read("domains", "vm") == {}


def test_release_at_domain_stop_drops_the_watch_records():
    from hooks import actions as A
    from hooks.planner import release_actions

    plan = release_actions({"name": "vm", "hotplug": {MAC1: {"dev": "vnet3", "alias": "net0"}}})
    assert [type(a) for a in plan] == [A.ForgetDomain]


# -- the systemd unit ---------------------------------------------------------------------


@pytest.mark.parametrize("text", ["plain", 'a "quoted" word', "back\\slash\nnew line", "50% of $HOME",
                                  "sys.stderr.write('x\\n')"])
def test_systemd_quoting_round_trips(text):
    assert systemd_unquote(systemd_quote(text)) == text


def exec_start(unit: str) -> list[str]:
    """The ExecStart command line as systemd reads it (words; quoted ones unquoted)."""
    line = next(li for li in unit.splitlines() if li.startswith("ExecStart="))[len("ExecStart="):]
    words, n = [], 0
    while n < len(line):
        if line[n] == " ":
            n += 1
            continue
        if line[n] == '"':
            end = n + 1
            while line[end] != '"':
                end += 2 if line[end] == "\\" else 1
            words.append(systemd_unquote(line[n:end + 1]))
            n = end + 1
        else:
            end = line.find(" ", n)
            end = len(line) if end < 0 else end
            words.append(line[n:end].replace("%%", "%"))
            n = end
    return words


def test_the_units_command_runs_the_watch_and_stops_on_sigterm(tmp_path):
    require(importlib.util.find_spec("libvirt") is not None, "libvirt-python")
    from hooks.install import _resolved
    from hooks.wrapper import module_paths

    python, paths = _resolved(sys.executable, module_paths())
    state, conf = tmp_path / "state", tmp_path / "conf"
    unit = render(python, paths, str(state), str(conf), uri="test:///default")
    argv = exec_start(unit)
    assert argv[:4] == [python, "-I", "-S", "-c"] and argv[5:] == ["--connect", "test:///default"]
    env = {"PATH": "/usr/bin:/bin", "VIRT_NETXML_STATE_DIR": str(state), "VIRT_NETXML_CONFIG_DIR": str(conf)}
    proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        first = proc.stderr.readline()
        assert first.startswith("virt-netxml watch: connected to test:///default (libvirt "), first
        assert time.monotonic() < deadline
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_systemd_accepts_the_unit_and_enables_it_for_boot(tmp_path, monkeypatch):
    """systemd's own reader, not ours: ``systemd-analyze verify`` loads the unit as the service
    manager would (syntax, the ExecStart program executable) and ``systemctl --root enable``
    follows its [Install] section offline, as on a host at install time."""
    from hooks.watch_unit import UNIT_NAME, install_unit

    require(shutil.which("systemd-analyze") is not None and shutil.which("systemctl") is not None,
            "systemd-analyze and systemctl (Debian's systemd package)")
    monkeypatch.setenv("VIRT_NETXML_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("VIRT_NETXML_CONFIG_DIR", str(tmp_path / "conf"))
    root = tmp_path / "root"
    install_unit(str(root))
    path = Path(unit_path(str(root)))
    checked = subprocess.run(["systemd-analyze", "verify", "--man=no", str(path)],
                             capture_output=True, text=True, timeout=60, check=False)
    assert (checked.returncode, checked.stderr) == (0, ""), checked.stderr
    enabled = subprocess.run(["systemctl", f"--root={root}", "enable", UNIT_NAME],
                             capture_output=True, text=True, timeout=60, check=False)
    assert enabled.returncode == 0, enabled.stderr
    wanted = root / "etc/systemd/system/multi-user.target.wants" / UNIT_NAME
    assert os.readlink(wanted) == f"/etc/systemd/system/{UNIT_NAME}"


def test_install_watch_writes_the_unit_and_uninstall_removes_it(tmp_path, monkeypatch):
    from hooks.watch_unit import install_unit, uninstall_unit, unit_status

    monkeypatch.setenv("VIRT_NETXML_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("VIRT_NETXML_CONFIG_DIR", str(tmp_path / "conf"))
    root = str(tmp_path / "root")
    path = Path(unit_path(root))
    assert [str(c) for c in install_unit(root)] == [f"written: {path}"]   # --root: written only
    assert (path.stat().st_mode & 0o777) == 0o644 and path.stat().st_uid == 0
    text = path.read_text()
    assert f"VIRT_NETXML_STATE_DIR={tmp_path / 'state'}" in text and "WantedBy=multi-user.target" in text
    assert [str(c) for c in install_unit(root)] == [f"unchanged: {path}"]
    assert unit_status(root)["state"] == "installed"
    assert [str(c) for c in uninstall_unit(root)] == [f"removed: {path}"] and not path.exists()
    assert unit_status(root)["state"] == "missing"
    path.write_text("[Service]\nExecStart=/bin/true\n")   # someone else's unit of that name
    with pytest.raises(InputError, match="not written by virt-netxml"):
        install_unit(root)
    with pytest.raises(InputError, match="not written by virt-netxml"):
        uninstall_unit(root)
    assert unit_status(root)["state"] == "foreign"
