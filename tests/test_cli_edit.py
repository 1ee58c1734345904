"""``virt-netxml edit`` through click's test runner."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support import DOMAINS, copy_domain, one_error_line
from xmltools.cli.main import cli
from xmltools.domain import Domain
from xmltools.network import Network

LAN = """<network>
  <name>lan</name>
  <forward mode='bridge'/>
  <bridge name='br0'/>
</network>
"""


def invoke(args: list[str], stdin: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["edit", *args], input=stdin)





def test_set_bridge_vlan_to_stdout(tmp_path: Path) -> None:
    path = copy_domain(tmp_path)
    before = path.read_text()
    result = invoke([str(path), "--mac", "52:54:00:10:00:01", "--set-bridge-vlan", "20,30-40",
                     "--vlan-native", "20"])
    assert result.exit_code == 0, result.stderr
    assert path.read_text() == before
    block = ("    <vnx:netxml xmlns:vnx='urn:virt-netxml:hooks:1'>\n"
             "      <vnx:interface mac='52:54:00:10:00:01'>\n"
             "        <vnx:vlan trunks='20,30-40' native='20'/>\n"
             "      </vnx:interface>\n"
             "    </vnx:netxml>\n")
    assert result.stdout == before.replace("  </metadata>", block + "  </metadata>", 1)


def test_in_place_round_trip(tmp_path: Path) -> None:
    path = copy_domain(tmp_path)
    os.chmod(path, 0o640)
    before = path.read_text()
    assert invoke([str(path), "--target", "guest-lan", "--set-vlan", "7", "-i"]).exit_code == 0
    assert Domain.from_xml(path.read_text()).select(target="guest-lan")[0].vlan.ids == [7]
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    result = invoke([str(path), "--target", "guest-lan", "--clear-vlan", "-i"])
    assert result.exit_code == 0, result.stderr
    assert path.read_text() == before


def test_source_changes_and_model(tmp_path: Path) -> None:
    path = copy_domain(tmp_path)
    result = invoke([str(path), "--index", "1", "--source-bridge", "ovsbr0", "--ovs", "--model", "virtio"])
    assert result.exit_code == 0, result.stderr
    iface = Domain.from_xml(result.stdout).select(index=1)[0]
    assert (iface.type, iface.source.bridge, iface.is_ovs, iface.model) == \
        ("bridge", "ovsbr0", True, "virtio")


def test_regenerate_mac_all(tmp_path: Path) -> None:
    path = copy_domain(tmp_path)
    result = invoke([str(path), "--regenerate-mac"])
    assert result.exit_code == 0, result.stderr
    macs = [i.mac for i in Domain.from_xml(result.stdout).interfaces]
    assert len(set(macs)) == 3 and "52:54:00:10:00:01" not in macs


def test_stdin_document() -> None:
    text = (DOMAINS / "capvm-prepare.xml").read_text()
    result = invoke(["-", "--index", "3", "--set-bridge-vlan", "10"], stdin=text)
    assert result.exit_code == 0, result.stderr
    assert Domain.from_xml(result.stdout).meta_interface("52:54:00:ea:dd:15").vlan.tag == 10


def test_network_portgroups(tmp_path: Path) -> None:
    path = tmp_path / "lan.xml"
    path.write_text(LAN)
    result = invoke([str(path), "--add-portgroup", "office,default", "--add-portgroup", "lab",
                     "--portgroup-vlan", "office=10", "-i"])
    assert result.exit_code == 0, result.stderr
    # libvirt cannot put a VLAN on a Linux bridge network: the hook's metadata gets it
    assert result.stderr.startswith("virt-netxml: note: portgroup office:")
    net = Network.from_xml(path.read_text())
    assert [(g.name, g.default) for g in net.portgroups] == [("office", True), ("lab", None)]
    assert net.meta().portgroup("office").vlan.tag == 10
    result = invoke([str(path), "--remove-portgroup", "lab", "-i"])
    assert result.exit_code == 0, result.stderr
    assert [g.name for g in Network.from_xml(path.read_text()).portgroups] == ["office"]


def test_standalone_interface_file(tmp_path: Path) -> None:
    path = tmp_path / "nic.xml"
    path.write_text("<interface type='bridge'>\n  <source bridge='br0'/>\n</interface>\n")
    result = invoke([str(path), "--source-network", "default", "-i"])
    assert result.exit_code == 0, result.stderr
    assert path.read_text() == "<interface type='network'>\n  <source network='default'/>\n</interface>\n"


@pytest.mark.parametrize("args,fragment", [
    (["--set-vlan", "5000"], "0 to 4095"),
    (["--index", "0", "--set-vlan", "5"], "Linux bridge"),
    (["--mac", "52:54:00:99:99:99", "--model", "virtio"], "no interface of the domain matches"),
    (["--index", "9", "--model", "virtio"], "has 3 interface(s)"),
    (["--index", "one", "--model", "virtio"], "not a whole number"),
    ([], "nothing to do"),
    (["--add-portgroup", "x"], "apply to a network document"),
    (["--set-vlan", "5", "--clear-vlan"], "contradict"),
    (["--model", "virtio", "-i", "-o", "x.xml"], "contradict"),
    (["--frobnicate"], "No such option"),
])
def test_bad_input_leaves_the_file(tmp_path: Path, args: list[str], fragment: str) -> None:
    path = copy_domain(tmp_path)
    before = path.read_bytes()
    line = one_error_line(invoke([str(path), *args, "-i"] if "-i" not in args else [str(path), *args]))
    assert fragment in line, line
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keepsake.xml"]


@pytest.mark.parametrize("content,args,fragment", [
    ("<domain><name>x</name>", ["--model", "virtio"], "malformed XML"),
    ("<pool/>", ["--model", "virtio"], "found <pool>"),
    (LAN, ["--model", "virtio"], "only --add-portgroup"),
    (LAN, ["--portgroup-vlan", "nope=5"], "no such portgroup"),
])
def test_bad_documents(tmp_path: Path, content: str, args: list[str], fragment: str) -> None:
    path = tmp_path / "doc.xml"
    path.write_text(content)
    assert fragment in one_error_line(invoke([str(path), *args, "-i"]))
    assert path.read_text() == content


def test_in_place_on_stdin_is_refused() -> None:
    assert "standard input" in one_error_line(invoke(["-", "--model", "virtio", "-i"], stdin="<domain/>"))
