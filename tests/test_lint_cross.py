"""Checks across the files of one lint run (xmltools.checks.crossfile): the network and the
portgroup a domain interface names, and whether the port its network gives it can carry the
interface's VLAN, libvirt's <vlan> or the project's vnx:vlan. Each check has a passing twin.

The metadata rule is the hooks' own: a test below runs the hooks' planner on the live XML
libvirt shows for a port of each kind of network and requires lint to agree with it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hooks.planner import StaticFacts, plan
from hooks.protocol import lookup
from xmltools.lint import Finding, lint_paths
from xmltools.xmlparse import parse_bytes

V9 = (9, 0, 0)
V11 = (11, 3, 0)
CROSS_CODES = ("network-unknown", "portgroup-unknown", "vlan-unsupported", "meta-vlan-unsupported")

# Networks by what libvirt gives their guests: (forward, bridge, virtualport, extra children).
NETWORKS = {
    "nat": ("<forward mode='nat'/>", "<bridge name='virbr7'/>", "",
            "<ip address='192.168.70.1' prefix='24'/>"),
    "isolated": ("", "<bridge name='virbr8'/>", "", ""),
    "route": ("<forward mode='route'/>", "<bridge name='virbr6'/>", "",
              "<ip address='10.6.0.1' prefix='24'/>"),
    "linux-bridge": ("<forward mode='bridge'/>", "<bridge name='br0'/>", "", ""),
    "ovs": ("<forward mode='bridge'/>", "<bridge name='ovsbr0'/>", "<virtualport type='openvswitch'/>", ""),
    "macvtap-bridge": ("<forward mode='bridge'><interface dev='eth1'/></forward>", "", "", ""),
    "vepa": ("<forward mode='vepa'><interface dev='eth1'/></forward>", "", "", ""),
    "passthrough": ("<forward mode='passthrough'><interface dev='eth2'/></forward>", "", "", ""),
    "hostdev": ("<forward mode='hostdev' managed='yes'><pf dev='eth3'/></forward>", "", "", ""),
}
# The <interface type> libvirt's live XML shows for a guest's port on each of them.
LIVE_TYPES = {"nat": "network", "isolated": "network", "route": "network", "linux-bridge": "bridge",
              "ovs": "bridge", "macvtap-bridge": "direct", "vepa": "direct", "passthrough": "direct",
              "hostdev": "hostdev"}


def network(name: str, kind: str = "nat", portgroups: str = "") -> str:
    forward, bridge, vport, extra = NETWORKS[kind]
    return (f"<network>\n  <name>{name}</name>\n  {forward}\n  {bridge}\n  {vport}\n  {portgroups}\n"
            f"  {extra}\n</network>\n")


def domain(name: str, source: str, *, vlan: str = "", meta: str = "", mac: str = "52:54:00:00:0a:01") -> str:
    metadata = (f"  <metadata>\n    <vnx:netxml xmlns:vnx='urn:virt-netxml:hooks:1'>\n"
                f"      <vnx:interface mac='{mac}'>{meta}</vnx:interface>\n    </vnx:netxml>\n  </metadata>\n"
                if meta else "")
    return (f"<domain type='kvm'>\n  <name>{name}</name>\n  <memory>1048576</memory>\n"
            f"  <os><type>hvm</type></os>\n{metadata}  <devices>\n"
            f"    <interface type='network'>\n      <mac address='{mac}'/>\n      {source}\n"
            f"      {vlan}\n      <model type='virtio'/>\n    </interface>\n  </devices>\n</domain>\n")


def iface_line(text: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if "<interface type='network'>" in line)


def lint(tmp_path: Path, files: dict[str, str], *, libvirt=V11, scope: str = "run",
         paths: list[str] | None = None) -> list[Finding]:
    for rel, text in files.items():
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    given = [str(tmp_path / p) for p in paths] if paths is not None else [str(tmp_path)]
    options = {"scope": scope} if scope != "run" else {}   # "run" is the default
    return lint_paths(given, libvirt_schemas=False, libvirt_version=libvirt, **options)


def cross(findings: list[Finding]) -> list[tuple[str, int, str, str]]:
    return [(Path(f.path).name, f.line, f.severity, f.code) for f in findings if f.code in CROSS_CODES]


def clean(findings: list[Finding]) -> bool:
    """Nothing at all to report: the fixtures are valid apart from what a test puts in."""
    return findings == []


# -------------------------------------------------------------------------- the network named


def test_an_interface_on_a_network_no_file_defines_is_an_error_at_its_line(tmp_path: Path) -> None:
    vm = domain("vm1", "<source network='wan'/>")
    findings = lint(tmp_path, {"lan.xml": network("lan"), "vm.xml": vm})
    assert cross(findings) == [("vm.xml", iface_line(vm), "error", "network-unknown")]
    [finding] = findings
    assert finding.path == str(tmp_path / "vm.xml")
    assert "network 'wan'" in finding.message and "this run" in finding.message


def test_an_interface_on_a_network_of_the_run_is_clean(tmp_path: Path) -> None:
    vm = domain("vm1", "<source network='lan'/>")
    assert clean(lint(tmp_path, {"lan.xml": network("lan"), "vm.xml": vm}))


def test_a_run_without_any_network_file_does_not_judge_network_names(tmp_path: Path) -> None:
    # Domains alone say nothing about the networks of their host.
    assert clean(lint(tmp_path, {"vm.xml": domain("vm1", "<source network='wan'/>")}))


def test_libvirts_default_network_counts_only_when_its_file_is_in_the_run(tmp_path: Path) -> None:
    vm = domain("vm1", "<source network='default'/>")
    assert cross(lint(tmp_path / "a", {"lan.xml": network("lan"), "vm.xml": vm})) == [
        ("vm.xml", iface_line(vm), "error", "network-unknown")]
    default = network("default", "isolated")
    assert clean(lint(tmp_path / "b", {"lan.xml": network("lan"), "default.xml": default, "vm.xml": vm}))


def test_the_network_may_come_after_the_domain_in_the_run(tmp_path: Path) -> None:
    assert clean(lint(tmp_path, {"a-vm.xml": domain("vm1", "<source network='zlan'/>"),
                                 "z-net.xml": network("zlan")}))


# -------------------------------------------------------------------------- the portgroup named

PORTGROUPS = "<portgroup name='web' default='yes'/>\n  <portgroup name='db'/>"


def test_a_portgroup_the_network_lacks_is_a_warning_naming_the_network_file(tmp_path: Path) -> None:
    vm = domain("vm1", "<source network='lan' portgroup='dmz'/>")
    findings = lint(tmp_path, {"lan.xml": network("lan", portgroups=PORTGROUPS), "vm.xml": vm})
    assert cross(findings) == [("vm.xml", iface_line(vm), "warning", "portgroup-unknown")]
    assert f"{tmp_path / 'lan.xml'}:1" in findings[0].message and "'dmz'" in findings[0].message


def test_a_portgroup_the_network_has_is_clean(tmp_path: Path) -> None:
    assert clean(lint(tmp_path, {"lan.xml": network("lan", portgroups=PORTGROUPS),
                                 "vm.xml": domain("vm1", "<source network='lan' portgroup='db'/>")}))


# -------------------------------------------------------------------------- libvirt's <vlan>

VLAN = "<vlan><tag id='10'/></vlan>"


@pytest.mark.parametrize(("kind", "libvirt", "carried"), [
    ("nat", V11, False), ("isolated", V11, False), ("route", V11, False),
    ("linux-bridge", V9, False), ("linux-bridge", V11, True), ("ovs", V9, True), ("ovs", V11, True),
    ("macvtap-bridge", V11, False), ("vepa", V11, False), ("passthrough", V9, True), ("hostdev", V9, True),
])
def test_vlan_only_where_libvirt_applies_it(tmp_path: Path, kind: str, libvirt, carried: bool) -> None:
    vm = domain("vm1", "<source network='lan'/>", vlan=VLAN)
    findings = lint(tmp_path, {"lan.xml": network("lan", kind), "vm.xml": vm}, libvirt=libvirt)
    expected = [] if carried else [("vm.xml", iface_line(vm), "warning", "vlan-unsupported")]
    assert cross(findings) == expected
    if not carried:
        message = findings[-1].message
        assert "network 'lan' (" in message and str(tmp_path / "lan.xml") in message


def test_vlan_through_a_portgroup_with_an_open_vswitch_port(tmp_path: Path) -> None:
    """The port's virtualport may come from the portgroup: OVS there carries the VLAN on a bridge
    network, an 802.1Qbh profile does not."""
    groups = ("<portgroup name='ovs'><virtualport type='openvswitch'/></portgroup>\n"
              "  <portgroup name='qbh'><virtualport type='802.1Qbh'/></portgroup>")
    files = {"lan.xml": network("lan", "linux-bridge", groups)}
    ovs = domain("vm1", "<source network='lan' portgroup='ovs'/>", vlan=VLAN)
    qbh = domain("vm2", "<source network='lan' portgroup='qbh'/>", vlan=VLAN, mac="52:54:00:00:0a:02")
    findings = lint(tmp_path, {**files, "ovs.xml": ovs, "qbh.xml": qbh}, libvirt=V11)
    assert cross(findings) == [("qbh.xml", iface_line(qbh), "warning", "vlan-unsupported")]


# -------------------------------------------------------------------------- the metadata VLAN

META_VLAN = "<vnx:vlan tag='20'/>"
META_VF = "<vnx:vf pf='eth3' index='1'/><vnx:vlan tag='20'/>"


@pytest.mark.parametrize(("kind", "carried"), [
    ("nat", True), ("isolated", True), ("route", True), ("linux-bridge", True), ("ovs", True),
    ("macvtap-bridge", False), ("vepa", False), ("passthrough", False), ("hostdev", False),
])
def test_metadata_vlan_only_where_the_hooks_apply_it(tmp_path: Path, kind: str, carried: bool) -> None:
    vm = domain("vm1", "<source network='lan'/>", meta=META_VLAN)
    findings = lint(tmp_path, {"lan.xml": network("lan", kind), "vm.xml": vm})
    expected = [] if carried else [("vm.xml", iface_line(vm), "warning", "meta-vlan-unsupported")]
    assert cross(findings) == expected


@pytest.mark.parametrize("kind", ["vepa", "passthrough", "hostdev"])
def test_metadata_vlan_through_a_vf_is_applied_anywhere(tmp_path: Path, kind: str) -> None:
    vm = domain("vm1", "<source network='lan'/>", meta=META_VF)
    assert cross(lint(tmp_path, {"lan.xml": network("lan", kind), "vm.xml": vm})) == []


def _live_port(kind: str, vlan_meta: str) -> bytes:
    """The domain XML libvirt gives the hooks at ``start`` for a port on a network of ``kind``."""
    port = LIVE_TYPES[kind]
    bridge = {"nat": "virbr7", "isolated": "virbr8", "route": "virbr6", "linux-bridge": "br0",
              "ovs": "ovsbr0"}.get(kind)
    source = (f"<source network='lan' bridge='{bridge}'/>" if bridge else
              "<source network='lan' dev='eth1' mode='vepa'/>" if port == "direct" else
              "<source network='lan'/>")
    vport = "<virtualport type='openvswitch'/>" if kind == "ovs" else ""
    return (f"<domain type='kvm'><name>vm1</name><metadata><vnx:netxml xmlns:vnx='urn:virt-netxml:hooks:1'>"
            f"<vnx:interface mac='52:54:00:00:0a:01'>{vlan_meta}</vnx:interface></vnx:netxml></metadata>"
            f"<devices><interface type='{port}'><mac address='52:54:00:00:0a:01'/>{source}{vport}"
            f"<target dev='vnet7'/></interface></devices></domain>").encode()


@pytest.mark.parametrize("kind", sorted(NETWORKS))
def test_lint_and_the_hooks_planner_agree_on_metadata_vlans(tmp_path: Path, kind: str) -> None:
    """The planner sets the wish on the port at ``start`` exactly where lint stays silent."""
    root = parse_bytes(_live_port(kind, META_VLAN)).getroot()
    actions = plan(lookup("qemu", "start"), root, StaticFacts(ovs_bridges=frozenset({"ovsbr0"})), {})
    applied = any("VLAN" in a.describe() or "vlan" in a.describe() for a in actions)
    vm = domain("vm1", "<source network='lan'/>", meta=META_VLAN)
    silent = "meta-vlan-unsupported" not in [c for *_, c in cross(
        lint(tmp_path, {"lan.xml": network("lan", kind), "vm.xml": vm}))]
    assert applied is silent


# -------------------------------------------------------------------------- hosts (--scope)


def test_scope_dir_looks_for_the_network_on_the_domains_own_host(tmp_path: Path) -> None:
    vm = domain("vm1", "<source network='lan'/>")
    files = {"h1/lan.xml": network("lan"), "h2/other.xml": network("other"), "h2/vm.xml": vm}
    assert clean(lint(tmp_path, files, paths=["h1", "h2"]))              # one host: lan is defined
    findings = lint(tmp_path, files, paths=["h1", "h2"], scope="dir")
    assert cross(findings) == [("vm.xml", iface_line(vm), "error", "network-unknown")]
    assert str(tmp_path / "h2") in findings[0].message and "--scope dir" in findings[0].message


def test_scope_dir_does_not_judge_a_host_without_network_files(tmp_path: Path) -> None:
    files = {"h1/lan.xml": network("lan"), "h2/vm.xml": domain("vm1", "<source network='wan'/>")}
    vm = files["h2/vm.xml"]
    assert cross(lint(tmp_path, files, paths=["h1", "h2"])) == [
        ("vm.xml", iface_line(vm), "error", "network-unknown")]
    assert clean(lint(tmp_path, files, paths=["h1", "h2"], scope="dir"))
