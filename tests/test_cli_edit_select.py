"""``virt-netxml edit``: which interfaces an edit touches, and options given once.

A change to a domain with several interfaces names the ones it changes (``--mac``, ``--target``,
``--index``, or ``--all``); a selector that matches nothing names what the domain has; a MAC is
taken in every spelling ``mac --check`` takes; a single-valued option given twice is refused by
every subcommand instead of the last one silently winning. Each refusal is one line, exit 2,
and leaves the file's bytes as they were.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support import copy_domain, one_error_line
from xmltools.cli.main import cli
from xmltools.domain import Domain

ONE_NIC = """<domain type='kvm'>
  <name>solo</name>
  <devices>
    <interface type='bridge'>
      <mac address='52:54:00:20:00:01'/>
      <source bridge='br0'/>
    </interface>
  </devices>
</domain>
"""


def invoke(args: list[str], stdin: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, args, input=stdin)


def refused_in_place(path: Path, args: list[str]) -> str:
    """Run ``edit PATH ARGS -i``: a one-line refusal, and the file's bytes unchanged."""
    before = path.read_bytes()
    line = one_error_line(invoke(["edit", str(path), *args, "-i"]))
    assert path.read_bytes() == before
    return line


# --------------------------------------------------------------------------- selection


def test_a_change_without_selector_on_several_interfaces_is_refused(tmp_path: Path) -> None:
    path = copy_domain(tmp_path)
    line = refused_in_place(path, ["--model", "virtio"])
    assert "3 interfaces" in line and "--mac, --target or --index" in line and "--all" in line
    # the listing says what is there: index, MAC, type and source, target
    assert "0 (52:54:00:10:00:01, bridge br0)" in line
    assert "1 (52:54:00:10:00:02, network default, target guest-lan)" in line
    assert "2 (52:54:00:10:00:03, ethernet, target tapkeep0)" in line


def test_all_edits_every_interface(tmp_path: Path) -> None:
    path = copy_domain(tmp_path)
    result = invoke(["edit", str(path), "--all", "--model", "rtl8139"])
    assert result.exit_code == 0, result.stderr
    assert [i.model for i in Domain.from_xml(result.stdout).interfaces] == ["rtl8139"] * 3


def test_all_with_a_selector_is_refused(tmp_path: Path) -> None:
    path = copy_domain(tmp_path)
    line = refused_in_place(path, ["--all", "--index", "1", "--model", "virtio"])
    assert "--all" in line and "--index" in line


def test_one_interface_needs_no_selector(tmp_path: Path) -> None:
    path = tmp_path / "solo.xml"
    path.write_text(ONE_NIC)
    result = invoke(["edit", str(path), "--model", "virtio", "-i"])
    assert result.exit_code == 0, result.stderr
    assert Domain.from_xml(path.read_text()).interfaces[0].model == "virtio"


@pytest.mark.parametrize(("selector", "fragment"), [
    (["--mac", "52:54:00:99:99:99"], "MAC 52:54:00:99:99:99"),
    (["--target", "vnet9"], "target vnet9"),
    (["--index", "7"], "has 3 interface(s)"),
    (["--mac", "52:54:00:10:00:01", "--index", "1"], "MAC 52:54:00:10:00:01, index 1"),
])
def test_a_selector_that_matches_nothing_names_what_exists(tmp_path: Path, selector: list[str],
                                                           fragment: str) -> None:
    path = copy_domain(tmp_path)
    line = refused_in_place(path, [*selector, "--model", "virtio"])
    assert fragment in line
    assert "its interfaces: 0 (52:54:00:10:00:01, bridge br0), 1 (52:54:00:10:00:02" in line


def test_selectors_combine(tmp_path: Path) -> None:
    path = copy_domain(tmp_path)
    result = invoke(["edit", str(path), "--mac", "52:54:00:10:00:02", "--target", "guest-lan",
                     "--index", "1", "--model", "rtl8139"])
    assert result.exit_code == 0, result.stderr
    assert [i.model for i in Domain.from_xml(result.stdout).interfaces] == ["virtio", "rtl8139", "virtio"]


@pytest.mark.parametrize("spelling", ["52-54-00-10-00-02", "52:54:00:10:00:02".upper(),
                                      "52-54-00-10-0-2", " 52:54:00:10:00:02 "])
def test_mac_selector_takes_every_spelling_mac_check_takes(tmp_path: Path, spelling: str) -> None:
    assert invoke(["mac", "--check", spelling]).exit_code == 0
    path = copy_domain(tmp_path)
    result = invoke(["edit", str(path), "--mac", spelling, "--model", "rtl8139"])
    assert result.exit_code == 0, result.stderr
    assert [i.model for i in Domain.from_xml(result.stdout).interfaces] == ["virtio", "rtl8139", "virtio"]


def test_a_mac_selector_that_is_no_mac_is_refused(tmp_path: Path) -> None:
    path = copy_domain(tmp_path)
    line = refused_in_place(path, ["--mac", "52:54:00:10:00", "--model", "virtio"])
    assert "invalid MAC address '52:54:00:10:00'" in line


def test_help_says_a_change_needs_a_selector() -> None:
    result = invoke(["edit", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "more than one interface" in text and "--all" in text
    for section in ("Selection", "What to change", "Network portgroups", "Output"):
        assert f"{section}:" in result.stdout
    assert "Examples:" in result.stdout


# --------------------------------------------------------------------------- options given once


def test_index_given_twice_is_refused(tmp_path: Path) -> None:
    path = copy_domain(tmp_path)
    line = refused_in_place(path, ["--index", "0", "--index", "1", "--model", "virtio"])
    assert line == "virt-netxml: error: --index given twice"


@pytest.mark.parametrize(("args", "name"), [
    (["--set-vlan", "5", "--set-vlan", "6"], "--set-vlan"),
    (["--ovs", "--no-ovs"], "--ovs/--no-ovs"),
    (["--model", "virtio", "--model", "e1000e"], "--model"),
    (["--libvirt-version", "9.0", "--libvirt-version", "11.3"], "--libvirt-version"),
    (["--mtu", "1500", "--mtu", "9000"], "--mtu"),
    (["--in-place", "-i"], "--in-place"),
])
def test_edit_options_given_twice(tmp_path: Path, args: list[str], name: str) -> None:
    path = copy_domain(tmp_path)
    before = path.read_bytes()
    line = one_error_line(invoke(["edit", str(path), "--index", "1", *args]))
    assert line == f"virt-netxml: error: {name} given twice"
    assert path.read_bytes() == before


@pytest.mark.parametrize(("args", "name"), [
    (["interface", "--type", "bridge", "--source", "br0", "--type", "network"], "--type"),
    (["network", "n1", "--mode", "nat", "--mode", "route"], "--mode"),
    (["mac", "-n", "2", "--count", "3"], "--count"),
    (["mac", "--oui", "xen", "--oui", "qemu"], "--oui"),
    (["uuid", "--check", "--check", "6695eb01-f6a4-8304-79aa-97f2502e193f"], "--check"),
    (["lint", "--format", "json", "--format", "text", "x.xml"], "--format"),
])
def test_every_subcommand_refuses_a_single_valued_option_twice(args: list[str], name: str) -> None:
    result = invoke(args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"{name} given twice" in result.stderr


@pytest.mark.parametrize("args", [
    ["mac", "--check", "52:54:00:00:00:01", "--exclude", "a.xml", "--exclude", "b.xml"],
    ["uuid", "--name", "a", "--name", "b"],
])
def test_repeatable_options_stay_repeatable(args: list[str]) -> None:
    result = invoke(args)
    assert "given twice" not in result.stderr


def test_portgroup_options_stay_repeatable(tmp_path: Path) -> None:
    path = tmp_path / "lan.xml"
    path.write_text("<network>\n  <name>lan</name>\n  <forward mode='bridge'/>\n  <bridge name='br0'/>\n"
                    "</network>\n")
    result = invoke(["edit", str(path), "--add-portgroup", "a", "--add-portgroup", "b"])
    assert result.exit_code == 0, result.stderr
    assert "<portgroup name='a'/>" in result.stdout and "<portgroup name='b'/>" in result.stdout
