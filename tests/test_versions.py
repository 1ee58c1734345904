"""The target libvirt version: how it is chosen, and the rules that follow it (boundary twins)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from xmltools import versions
from xmltools.cli.main import cli
from xmltools.errors import InvalidValue
from xmltools.lint import Linter

OLD, V11_0, V11_3 = (9, 0, 0), (11, 0, 0), (11, 3, 0)


@pytest.mark.parametrize("text,version", [("11.3", (11, 3, 0)), ("9.0.0", (9, 0, 0)),
                                          (" 10.10 ", (10, 10, 0)), ("11.3.1", (11, 3, 1))])
def test_parse(text, version):
    assert versions.parse(text) == version


@pytest.mark.parametrize("text", ["", "11", "11.x", "v11.3", "11.3.0.1", "0.9", "-1.0", "11.3 extra"])
def test_parse_refuses(text):
    with pytest.raises(InvalidValue):
        versions.parse(text)


STANZA = ("Package: {name}\nStatus: {status}\nPriority: optional\nVersion: {version}\n"
          "Description: x\n")


def _status(tmp_path: Path, *stanzas: str) -> Path:
    folder = tmp_path / "var" / "lib" / "dpkg"
    folder.mkdir(parents=True)
    (folder / "status").write_text("\n".join(stanzas))
    return tmp_path


def test_installed_from_dpkg_status(tmp_path):
    root = _status(tmp_path,
                   STANZA.format(name="libvirt-clients", status="install ok installed", version="1.0"),
                   STANZA.format(name="libvirt0", status="install ok installed", version="11.3.0-3+deb13u3"))
    assert versions.installed(str(root)) == (11, 3, 0)


def test_installed_prefers_the_daemon_package_and_drops_an_epoch(tmp_path):
    root = _status(tmp_path,
                   STANZA.format(name="libvirt0", status="install ok installed", version="9.0.0-4"),
                   STANZA.format(name="libvirt-daemon", status="install ok installed", version="1:10.5.0-1"))
    assert versions.installed(str(root)) == (10, 5, 0)


def test_removed_package_is_not_installed(tmp_path):
    root = _status(tmp_path, STANZA.format(name="libvirt0", status="deinstall ok config-files",
                                           version="9.0.0-4"))
    assert versions.installed(str(root)) is None
    assert versions.resolve(root=str(root)) == versions.Target(versions.NEWEST, "default")


def test_installed_from_pkgconfig_first(tmp_path):
    root = _status(tmp_path, STANZA.format(name="libvirt0", status="install ok installed", version="9.0.0-4"))
    pc = tmp_path / "usr" / "share" / "pkgconfig"
    pc.mkdir(parents=True)
    (pc / "libvirt.pc").write_text("prefix=/usr\nName: libvirt\nVersion: 11.3.0\n")
    assert versions.installed(str(root)) == (11, 3, 0)


def test_resolve_order(tmp_path, monkeypatch):
    root = _status(tmp_path, STANZA.format(name="libvirt0", status="install ok installed", version="9.0.0-4"))
    monkeypatch.delenv(versions.ENV, raising=False)
    assert versions.resolve(root=str(root)) == versions.Target((9, 0, 0), "installed")
    monkeypatch.setenv(versions.ENV, "11.3")
    assert versions.resolve(root=str(root)) == versions.Target((11, 3, 0), "environment")
    assert versions.resolve("10.0", root=str(root)) == versions.Target((10, 0, 0), "option")
    daemon = versions.resolve(daemon=lambda: (10, 5, 0), root=str(root))
    assert daemon == versions.Target((11, 3, 0), "environment")
    monkeypatch.delenv(versions.ENV)
    daemon = versions.resolve(daemon=lambda: (10, 5, 0), root=str(root))
    assert daemon == versions.Target((10, 5, 0), "daemon")
    assert versions.from_number(11003000) == (11, 3, 0)
    monkeypatch.setenv(versions.ENV, "11.3")
    monkeypatch.setenv(versions.ENV, "eleven")
    with pytest.raises(InvalidValue, match=versions.ENV):
        versions.resolve(root=str(root))


def codes(doc: str, target) -> list[str]:
    found = Linter(libvirt_schemas=False, libvirt_version=target).lint_bytes(doc.encode(), "x.xml")
    return [f.code for f in found]


# ------------------------------------------------------------------ Linux-bridge <vlan> (11.0)

BRIDGE_PORT = ("<interface type='bridge'><mac address='52:54:00:30:00:01'/><source bridge='br0'/>"
               "<model type='virtio'/><vlan trunk='yes'><tag id='5' nativeMode='untagged'/><tag id='7'/>"
               "</vlan></interface>")
BRIDGE_NET = ("<network><name>lan</name><forward mode='bridge'/><bridge name='br0'/>"
              "<vlan><tag id='5'/></vlan></network>")
NAT_NET = ("<network><name>nat</name><forward mode='nat'/><bridge name='virbr5'/>"
           "<ip address='192.168.5.1' prefix='24'/><vlan><tag id='5'/></vlan></network>")


@pytest.mark.parametrize("target,warned", [(OLD, True), ((10, 10, 0), True), (V11_0, False), (V11_3, False)])
def test_vlan_on_a_linux_bridge_port_follows_the_target(target, warned):
    assert codes(BRIDGE_PORT, target) == (["vlan-unsupported"] if warned else [])


@pytest.mark.parametrize("target,warned", [(OLD, True), ((10, 10, 0), True), (V11_0, False), (V11_3, False)])
def test_vlan_on_a_linux_bridge_network_follows_the_target(target, warned):
    assert codes(BRIDGE_NET, target) == (["vlan-unsupported"] if warned else [])


@pytest.mark.parametrize("target", [OLD, V11_0, V11_3])
def test_vlan_on_a_nat_network_is_refused_by_every_version(target):
    assert codes(NAT_NET, target) == ["vlan-unsupported"]


# ------------------------------------------------------------------ vocabulary after 9.0

def _iface(inner: str, kind: str = "vhostuser") -> str:
    return f"<interface type='{kind}'><mac address='52:54:00:30:00:02'/>{inner}</interface>"


FEATURE_DOCS = {
    "<title> of a network": "<network><name>t</name><title>Lab</title></network>",
    "<description> of a network": "<network><name>t</name><description>Lab</description></network>",
    "<domain register=...> of a network":
        "<network><name>t</name><domain name='lab' localOnly='yes' register='yes'/>"
        "<ip address='192.168.7.1' prefix='24'/></network>",
    "<driver model=...> of a hostdev network":
        "<network><name>t</name><forward mode='hostdev' managed='yes'><driver model='vfio-pci-igb'/>"
        "<pf dev='eth2'/></forward></network>",
    "<backend type='passt'> on a vhostuser interface":
        _iface("<model type='virtio'/><backend type='passt'/>"),
    "<source> without type='unix' and mode on a vhostuser interface":
        _iface("<source path='/run/vhost/n.sock'/><model type='virtio'/>"),
    "<driver model=...> of a hostdev interface":
        _iface("<driver name='vfio' model='vfio-pci-igb'/><source><address type='pci' domain='0x0000' "
               "bus='0x04' slot='0x10' function='0x1'/></source>", "hostdev"),
    "<model type='igb'>": _iface("<source bridge='br0'/><model type='igb'/>", "bridge"),
    "<model type='usb-net'>": _iface("<source bridge='br0'/><model type='usb-net'/>", "bridge"),
}


def test_every_feature_has_a_document():
    assert sorted(FEATURE_DOCS) == sorted(f.what for f in versions.FEATURES)


@pytest.mark.parametrize("feature", versions.FEATURES, ids=lambda f: f.what)
def test_feature_boundary_twins(feature):
    doc = FEATURE_DOCS[feature.what]
    major, minor, _ = feature.since
    before = (major, minor - 1, 0) if minor else (major - 1, 99, 0)
    assert codes(doc, before) == ["needs-libvirt"]
    assert codes(doc, feature.since) == []
    assert codes(doc, versions.NEWEST) == []
    [finding] = Linter(libvirt_schemas=False, libvirt_version=OLD).lint_bytes(doc.encode(), "x.xml")
    assert finding.message == (f"{feature.what} needs libvirt {versions.show(feature.since)} or newer; "
                               "the target is libvirt 9.0.0")


def test_vhostuser_without_passt_needs_a_socket_path():
    assert codes(_iface("<model type='virtio'/>"), V11_3) == ["vhostuser-source"]
    assert codes(_iface("<source dev='up0'/><model type='virtio'/>"), V11_3) == ["vhostuser-source"]
    assert codes(_iface("<source type='unix' path='/run/v.sock' mode='client'/><model type='virtio'/>"),
                 OLD) == []


# ------------------------------------------------------------------ the command line

def test_lint_names_the_assumed_version_when_it_matters(tmp_path, monkeypatch):
    monkeypatch.delenv(versions.ENV, raising=False)
    doc = tmp_path / "port.xml"
    doc.write_text(BRIDGE_PORT)
    result = CliRunner().invoke(cli, ["lint", str(doc)])
    target = versions.resolve()
    if target.version >= V11_0:
        assert result.stdout == "" and result.stderr == ""
    else:
        assert "[vlan-unsupported]" in result.stdout
        assert result.stderr == (f"virt-netxml: note: checked for {target.describe()}; "
                                 "--libvirt-version X.Y checks for another\n")
    given = CliRunner().invoke(cli, ["lint", "--libvirt-version", "9.0", str(doc)])
    assert "[vlan-unsupported]" in given.stdout and given.stderr == ""
    assert CliRunner().invoke(cli, ["lint", "--libvirt-version", "11.0", str(doc)]).stdout == ""
    monkeypatch.setenv(versions.ENV, "11.3")
    assert CliRunner().invoke(cli, ["lint", str(doc)]).stdout == ""


def test_lint_json_keeps_its_shape(tmp_path):
    doc = tmp_path / "port.xml"
    doc.write_text(BRIDGE_PORT)
    result = CliRunner().invoke(cli, ["lint", "--format", "json", "--libvirt-version", "9.0", str(doc)])
    import json
    [finding] = json.loads(result.stdout)
    assert set(finding) == {"path", "line", "severity", "code", "message"}
    assert result.stderr == ""


def test_bad_version_is_one_line_exit_2(tmp_path):
    doc = tmp_path / "port.xml"
    doc.write_text(BRIDGE_PORT)
    result = CliRunner().invoke(cli, ["lint", "--libvirt-version", "eleven", str(doc)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "--libvirt-version" in result.stderr


# ------------------------------------------------------------------ generation follows the target

def interface_cli(*args: str):
    return CliRunner().invoke(cli, ["interface", "--type", "bridge", "--source", "br0",
                                    "--mac", "52:54:00:30:00:09", *args])


@pytest.mark.parametrize("version", ["9.0", "10.10"])
def test_vlan_on_a_linux_bridge_port_is_refused_before_11(version):
    result = interface_cli("--vlan", "5", "--libvirt-version", version)
    assert result.exit_code == 2
    assert result.stderr == (f"virt-netxml: error: invalid VLAN '5': libvirt {version}.0 refuses <vlan> on a "
                             "Linux bridge port (libvirt 11.0 applies it); use --bridge-vlan (applied by the "
                             "hook) or make it an Open vSwitch port\n")


@pytest.mark.parametrize("version", ["11.0", "11.3"])
@pytest.mark.parametrize("args,vlan", [
    (["--vlan", "5"], '<vlan>\n    <tag id="5"/>\n  </vlan>'),
    (["--vlan", "10,20"], '<vlan trunk="yes">\n    <tag id="10"/>\n    <tag id="20"/>\n  </vlan>'),
    (["--vlan", "20", "--vlan-native", "10"],
     '<vlan trunk="yes">\n    <tag id="10" nativeMode="untagged"/>\n    <tag id="20"/>\n  </vlan>'),
    (["--vlan", "20", "--vlan-native", "10:tagged"],
     '<vlan trunk="yes">\n    <tag id="10" nativeMode="tagged"/>\n    <tag id="20"/>\n  </vlan>'),
])
def test_vlan_on_a_linux_bridge_port_is_libvirts_own_from_11(version, args, vlan):
    result = interface_cli(*args, "--libvirt-version", version)
    assert result.exit_code == 0, result.stderr
    assert vlan in result.stdout
    assert "vnx:" not in result.stdout
    # and lint agrees, for the same target
    assert codes(result.stdout, versions.parse(version)) == []


@pytest.mark.parametrize("vid", ["0", "4095"])
def test_linux_bridge_vlan_ids_are_the_bridges(vid):
    result = interface_cli("--vlan", vid, "--libvirt-version", "11.3")
    assert result.exit_code == 2
    assert f"invalid VLAN list '{vid}': {vid} is reserved by 802.1Q" in result.stderr
    assert "a Linux bridge refuses it); VLAN ids are 1 to 4094" in result.stderr


# ------------------------------------------------------------------ edit --native-vlans

DOMAIN = """<domain type="kvm">
  <name>g</name>
  <memory>1048576</memory>
  <os><type>hvm</type></os>
  <devices>
    <interface type="bridge">
      <mac address="52:54:00:40:00:01"/>
      <source bridge="br0"/>
    </interface>
    <interface type="bridge">
      <mac address="52:54:00:40:00:02"/>
      <source bridge="br0"/>
    </interface>
    <interface type="ethernet">
      <mac address="52:54:00:40:00:03"/>
      <target dev="tap-g0" managed="no"/>
    </interface>
  </devices>
</domain>
"""


def _with_wishes(tmp_path: Path, second: list[str]) -> Path:
    path = tmp_path / "g.xml"
    path.write_text(DOMAIN)
    for args in (["--index", "0", "--set-bridge-vlan", "5"], ["--index", "1", *second],
                 ["--index", "2", "--set-bridge-vlan", "7"]):
        result = CliRunner().invoke(cli, ["edit", str(path), "-i", *args])
        assert result.exit_code == 0, result.stderr
    return path


def test_native_vlans_moves_linux_bridge_wishes_into_libvirts_vlan(tmp_path):
    path = _with_wishes(tmp_path, ["--set-bridge-vlan", "20-21", "--vlan-native", "10:tagged"])
    result = CliRunner().invoke(cli, ["edit", str(path), "--all", "--native-vlans",
                                      "--libvirt-version", "11.3"])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert '<vlan>\n        <tag id="5"/>\n      </vlan>' in out
    assert ('<vlan trunk="yes">\n        <tag id="10" nativeMode="tagged"/>\n        <tag id="20"/>\n'
            '        <tag id="21"/>\n      </vlan>') in out
    # the TAP's wish stays with the hook; the bridge ports' entries are gone
    assert '<vnx:interface mac="52:54:00:40:00:03">\n        <vnx:vlan tag="7"/>' in out
    assert "52:54:00:40:00:01\">" not in out.split("<devices>")[0]
    assert "52:54:00:40:00:02\">" not in out.split("<devices>")[0]
    assert codes(out, (11, 3, 0)) == []


@pytest.mark.parametrize("version", ["9.0", "10.10"])
def test_native_vlans_refused_for_a_target_before_11(tmp_path, version):
    path = _with_wishes(tmp_path, ["--set-bridge-vlan", "20"])
    result = CliRunner().invoke(cli, ["edit", str(path), "--all", "--native-vlans",
                                      "--libvirt-version", version])
    assert result.exit_code == 2
    assert result.stderr == (f"virt-netxml: error: --native-vlans: libvirt {version}.0 applies no <vlan> "
                             "on a Linux bridge port (libvirt 11.0 does); give --libvirt-version 11.0 or "
                             "newer\n")


@pytest.mark.parametrize("wish,reason", [
    ('tag="0"', "its metadata VLAN: 0 is reserved by 802.1Q for priority-tagged frames, which belong "
                "to no VLAN (Open vSwitch reads it as untagged, a Linux bridge refuses it); VLAN ids are "
                "1 to 4094"),
    ('trunks="20-21,4095"', "its metadata VLAN: '4095': 4095 is reserved by 802.1Q and never sent in a "
                            "tag (libvirt and Open vSwitch would pass it on, a Linux bridge refuses it); "
                            "VLAN ids are 1 to 4094"),
    ('trunks="20-21" native="10" mode="trunk"',
     "mode 'trunk' with native VLAN 10 has no libvirt <vlan> form (use native-untagged or native-tagged)"),
])
def test_native_vlans_refuses_what_libvirt_cannot_express(tmp_path, wish, reason):
    """Metadata a Linux bridge <vlan> cannot say (0 and 4095 no metadata wish may hold either,
    the hooks refuse them on any port): refused, naming the port, and nothing is written."""
    path = tmp_path / "g.xml"
    meta = ('<metadata><vnx:netxml xmlns:vnx="urn:virt-netxml:hooks:1">'
            f'<vnx:interface mac="52:54:00:40:00:02"><vnx:vlan {wish}/></vnx:interface>'
            '</vnx:netxml></metadata>')
    path.write_text(DOMAIN.replace("<memory>", meta + "<memory>", 1))
    result = CliRunner().invoke(cli, ["edit", str(path), "-i", "--all", "--native-vlans",
                                      "--libvirt-version", "11.0"])
    assert result.exit_code == 2
    port = "interface 1 (52:54:00:40:00:02)"
    assert result.stderr == f"virt-netxml: error: invalid --native-vlans '{port}': {reason}\n"
    assert "vnx:vlan" in path.read_text()


# ------------------------------------------------------------------ networks follow the target

def network_cli(*args: str):
    return CliRunner().invoke(cli, ["network", "lan", "--mode", "bridge", "--bridge", "br0",
                                    "--uuid", "11111111-2222-3333-4444-555555555555", *args])


@pytest.mark.parametrize("version,written", [("9.0", False), ("10.10", False), ("11.0", True),
                                             ("11.3", True)])
def test_bridge_network_vlan_follows_the_target(version, written):
    result = network_cli("--vlan", "5", "--libvirt-version", version)
    if not written:
        assert result.exit_code == 2
        assert f"libvirt {version}.0 applies a network-wide VLAN only on" in result.stderr
        return
    assert result.exit_code == 0, result.stderr
    assert '<vlan>\n    <tag id="5"/>\n  </vlan>' in result.stdout
    # libvirt leaves a host bridge's vlan_filtering alone: the hook is asked to turn it on
    assert '<vnx:bridge vlan-filtering="yes"/>' in result.stdout
    assert codes(result.stdout, versions.parse(version)) == []


@pytest.mark.parametrize("version,native", [("9.0", False), ("11.0", True), ("11.3", True)])
def test_bridge_network_portgroup_vlan_follows_the_target(version, native):
    result = network_cli("--portgroup", "web,vlan=10", "--libvirt-version", version)
    assert result.exit_code == 0, result.stderr
    assert ('<portgroup name="web">\n    <vlan>\n      <tag id="10"/>' in result.stdout) is native
    assert ('<vnx:portgroup name="web">' in result.stdout) is not native
    assert codes(result.stdout, versions.parse(version)) == []


def test_nat_network_vlan_is_refused_by_every_version():
    result = CliRunner().invoke(cli, ["network", "nat", "--mode", "nat", "--ip", "192.168.9.1/24",
                                      "--vlan", "5", "--libvirt-version", "11.3"])
    assert result.exit_code == 2


@pytest.mark.parametrize("version,native", [("9.0", False), ("11.0", True)])
def test_edit_portgroup_vlan_follows_the_target(tmp_path, version, native):
    made = network_cli("--portgroup", "web", "--libvirt-version", version)
    path = tmp_path / "n.xml"
    path.write_text(made.stdout)
    result = CliRunner().invoke(cli, ["edit", str(path), "--portgroup-vlan", "web=10",
                                      "--libvirt-version", version])
    assert result.exit_code == 0, result.stderr
    assert ('<portgroup name="web">\n    <vlan>' in result.stdout) is native


def test_define_asks_the_daemon_for_its_version(monkeypatch):
    from xmltools.cli import libvirt_conn as conn
    monkeypatch.delenv(versions.ENV, raising=False)
    defined = []
    monkeypatch.setattr(conn, "daemon_version", lambda uri: (11, 3, 0))
    monkeypatch.setattr(conn, "macs_in_use", lambda uri: set())
    monkeypatch.setattr(conn, "define_network",
                        lambda uri, xml, start, autostart: defined.append(xml) or "lan")
    result = network_cli("--vlan", "5", "--connect", "test:///x", "--define")
    assert result.exit_code == 0, result.stderr
    assert '<tag id="5"/>' in defined[0]
    monkeypatch.setattr(conn, "daemon_version", lambda uri: (9, 0, 0))
    assert network_cli("--vlan", "5", "--connect", "test:///x", "--define").exit_code == 2


# ------------------------------------------------------------------ what a newer libvirt refuses

def _vhostuser_domain(memory: str = "", cpu: str = "") -> str:
    return (f"<domain type='kvm'><name>v</name><memory>1048576</memory>{memory}{cpu}<os><type>hvm</type></os>"
            "<devices><interface type='vhostuser'><mac address='52:54:00:30:00:05'/>"
            "<source type='unix' path='/run/v.sock' mode='client'/><model type='virtio'/></interface>"
            "</devices></domain>")


SHARED = "<memoryBacking><access mode='shared'/></memoryBacking>"


@pytest.mark.parametrize("target,severity", [(OLD, "warning"), ((11, 1, 0), "warning"),
                                             ((11, 2, 0), "error"), (V11_3, "error")])
def test_vhostuser_without_shared_memory_is_refused_from_11_2(target, severity):
    [finding] = Linter(libvirt_schemas=False, libvirt_version=target).lint_bytes(
        _vhostuser_domain().encode(), "v.xml")
    assert (finding.code, finding.severity) == ("vhostuser-shared-memory", severity)
    assert codes(_vhostuser_domain(SHARED), target) == []


@pytest.mark.parametrize("cells,ok", [
    ("<cell id='0' cpus='0' memory='524288' memAccess='shared'/>", True),
    ("<cell id='0' cpus='0' memory='524288'/>", False),
    ("<cell id='0' cpus='0' memory='524288' memAccess='shared'/>"
     "<cell id='1' cpus='1' memory='524288' memAccess='private'/>", False),
])
def test_vhostuser_shared_memory_through_numa_cells(cells, ok):
    doc = _vhostuser_domain(cpu=f"<cpu><numa>{cells}</numa></cpu>")
    assert codes(doc, V11_3) == ([] if ok else ["vhostuser-shared-memory"])
    # a cell without memAccess inherits memoryBacking's
    assert codes(_vhostuser_domain(SHARED, "<cpu><numa><cell id='0' cpus='0' memory='524288'/></numa></cpu>"),
                 V11_3) == []


@pytest.mark.parametrize("size,bad", [("256", False), ("1024", False), ("511", True), ("100", True)])
def test_queue_sizes_are_powers_of_two(size, bad):
    doc = _iface(f"<source bridge='br0'/><model type='virtio'/><driver rx_queue_size='{size}'/>", "bridge")
    assert codes(doc, V11_3) == (["queue-size"] if bad else [])
    # only a virtio NIC's queues are checked, as libvirt does
    assert "queue-size" not in codes(doc.replace("virtio", "e1000e"), V11_3)


def test_installed_schemas_are_compared_only_for_their_own_release(monkeypatch):
    """libvirt 9.0's network.rng knows no <driver model>: for an 11.3 target lint does not hold
    the installed 9.0 schema against the document (by default); for 9.0 it names the element."""
    monkeypatch.setattr(versions, "_INSTALLED", [(9, 0, 0)])
    doc = FEATURE_DOCS["<driver model=...> of a hostdev network"].encode()
    assert Linter(libvirt_version=V11_3).lint_bytes(doc, "n.xml") == []
    assert "needs-libvirt" in [f.code for f in Linter(libvirt_version=OLD).lint_bytes(doc, "n.xml")]


def test_interface_refuses_a_bad_version_even_without_vlan():
    result = interface_cli("--libvirt-version", "11")
    assert result.exit_code == 2
    assert "--libvirt-version" in result.stderr
