"""``virt-netxml interface`` through click's test runner (and once as a real process)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support import DOMAINS, copy_domain, one_error_line
from xmltools.cli.main import cli
from xmltools.domain import Domain


def invoke(args: list[str], stdin: str | None = None, code: int = 0):  # type: ignore[no-untyped-def]
    """Run the command and check its exit status first: output of a failed run proves nothing."""
    result = CliRunner().invoke(cli, ["interface", *args], input=stdin)
    assert result.exit_code == code, (result.exit_code, result.stderr)
    return result





def test_prints_a_fragment() -> None:
    result = invoke(["--type", "network", "--source", "isolated", "--model", "virtio"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ('<interface type="network">\n  <source network="isolated"/>\n'
                             '  <model type="virtio"/>\n</interface>\n')
    assert result.stderr == ""


def test_fragment_with_seeded_mac_is_reproducible() -> None:
    args = ["--type", "bridge", "--source", "br0", "--mac", "auto", "--seed", "web01"]
    first, second = invoke(args), invoke(args)
    assert first.exit_code == 0, first.stderr
    assert first.stdout == second.stdout
    assert "<mac address=\"52:54:00:" in first.stdout


def test_domain_to_stdout_keeps_the_file(tmp_path: Path) -> None:
    path = copy_domain(tmp_path)
    before = path.read_text()
    result = invoke(["--type", "network", "--source", "isolated", "--model", "virtio", "--domain", str(path)])
    assert result.exit_code == 0, result.stderr
    assert path.read_text() == before
    dom = Domain.from_xml(result.stdout)
    added = list(dom.interfaces)[-1]
    assert (added.type, added.source.network, added.model) == ("network", "isolated", "virtio")
    assert added.mac not in Domain.from_xml(before).used_macs()
    # the input, byte for byte, with one interface inserted after the last one
    inserted = (f"    <interface type='network'>\n      <mac address='{added.mac}'/>\n"
                "      <source network='isolated'/>\n      <model type='virtio'/>\n    </interface>\n")
    assert result.stdout == before.replace("    <input", inserted + "    <input", 1)


def test_domain_mac_is_deterministic(tmp_path: Path) -> None:
    path = copy_domain(tmp_path)
    args = ["--type", "user", "--domain", str(path)]
    first, second = invoke(args), invoke(args)   # both checked for exit 0 by invoke
    assert "<interface type='user'>" in first.stdout
    assert first.stdout == second.stdout


def test_in_place_with_metadata_keeps_file_mode(tmp_path: Path) -> None:
    path = copy_domain(tmp_path)
    os.chmod(path, 0o600)
    result = invoke(["--type", "ethernet", "--target", "tap0", "--tap-bridge", "br0",
                     "--bridge-vlan", "10", "--domain", str(path), "-i"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    dom = Domain.from_xml(path.read_text())
    tap = dom.select(target="tap0")[0]
    entry = dom.meta_interface(tap.mac)
    assert entry.tap.bridge == "br0"
    assert entry.vlan.tag == 10
    assert [p.name for p in tmp_path.iterdir()] == ["keepsake.xml"]  # no temporary file left


def test_output_file_and_stdin_domain(tmp_path: Path) -> None:
    out = tmp_path / "out.xml"
    text = (DOMAINS / "capvm-prepare.xml").read_text()
    result = invoke(["--type", "hostdev", "--pci", "0000:04:10.0", "--managed", "--vf-pf", "ens1f0",
                     "--vf-index", "0", "--domain", "-", "-o", str(out)], stdin=text)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    dom = Domain.from_xml(out.read_text())
    vf = dom.select(index=6)[0]
    assert vf.type == "hostdev" and vf.managed is True
    assert dom.meta_interface(vf.mac).vf.address == "0000:04:10.0"


@pytest.mark.parametrize("args,fragment", [
    (["--type", "bridge", "--source", "br0", "--vlan", "5000"],
     "invalid VLAN list '5000': 5000 is out of range; VLAN ids are 1 to 4094"),
    (["--type", "bridge", "--source", "br0", "--vlan", "5"], "refuses <vlan> on a Linux bridge"),
    (["--type", "direct", "--source", "ens224", "--mode", "switch"], "invalid macvtap mode 'switch'"),
    (["--type", "hostdev", "--pci", "0000:04:10"], "invalid PCI address"),
    (["--type", "bridge", "--source", "br0", "--mac", "01:00:5e:00:00:01"], "multicast"),
    (["--type", "bridge", "--source", "br0", "--mtu", "big"], "invalid MTU 'big': not a whole number"),
    (["--type", "bridge", "--source", "br0", "--bridge-vlan", "10"], "give --domain FILE"),
    (["--type", "bridge", "--source", "br0", "--bogus"], "No such option"),
    (["--source", "br0"], "Missing option '--type'"),
    (["--type", "bridge", "--source", "br0", "-i"], "-i edits --domain FILE in place"),
    (["--type", "bridge", "--source", "br0", "--target", "exactly16bytes!!"], "at most 15"),
])
def test_bad_input_is_one_line_exit_2(args: list[str], fragment: str) -> None:
    assert fragment in one_error_line(invoke(args, code=2))


@pytest.mark.parametrize("content,fragment", [
    ("<domain><name>x</name>", "malformed XML"),
    ("<!DOCTYPE domain [<!ENTITY x 'y'>]><domain>&x;</domain>", "refused"),
    ("<network><name>n</name></network>", "expected <domain>, found <network>"),
])
def test_bad_domain_file_is_left_alone(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "d.xml"
    path.write_text(content)
    line = one_error_line(invoke(["--type", "user", "--domain", str(path), "-i"], code=2))
    assert fragment in line
    assert path.read_text() == content
    assert [p.name for p in tmp_path.iterdir()] == ["d.xml"]


def test_failed_in_place_edit_writes_nothing(tmp_path: Path) -> None:
    path = copy_domain(tmp_path)
    before = path.read_bytes()
    line = one_error_line(invoke(["--type", "user", "--mac", "52:54:00:10:00:01", "--domain", str(path),
                                  "-i"], code=2))
    assert "already used" in line
    assert path.read_bytes() == before


def test_missing_domain_file() -> None:
    result = invoke(["--type", "user", "--domain", "/nonexistent/d.xml"], code=2)
    assert "No such file" in one_error_line(result)


def test_real_process_exit_code_and_stderr() -> None:
    """The installed entry point, not the test runner: exit 2, one line, nothing on stdout."""
    proc = subprocess.run([sys.executable, "-m", "xmltools.cli.main", "interface", "--type", "bridge",
                           "--source", "br0", "--vlan", "10"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Linux bridge" in proc.stderr
