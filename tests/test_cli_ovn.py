"""OVN logical switches on the command line: ``network --ovn-*``, ``interface --ovn-switch/
--interfaceid``, what they write (golden files under fixtures/ovn/), every refusal's exit
status and line, a round trip through ``edit``, lint over what they write, and libvirt's own
verdict on it (``virsh -c test:///default``: its real parser, no daemon)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support import DOMAINS, one_error_line, require
from xmltools.cli.main import cli
from xmltools.metadata import find_meta
from xmltools.uuids import ovn_port_uuid
from xmltools.xmlparse import parse_bytes

NET_UUID = "0c1f7b4e-8a52-4d3e-9f61-2b7c5d8e4a10"
OVN_NET = ["network", "ovnweb", "--mode", "bridge", "--bridge", "br-int", "--virtualport", "openvswitch",
           "--uuid", NET_UUID]
MAC = "52:54:00:4e:00:01"
OVN_PORT = ["interface", "--type", "bridge", "--source", "br-int", "--virtualport", "openvswitch",
            "--ovn-switch", "ls-web", "--mac", MAC]


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args))


def ok(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def domain_copy(tmp_path: Path) -> Path:
    path = tmp_path / "vm.xml"
    shutil.copy(DOMAINS / "minimal.xml", path)
    return path


def interfaceid(text: str | bytes, mac: str = MAC) -> str | None:
    root = parse_bytes(text).getroot()
    for iface in [root] if root.tag == "interface" else root.iterfind("devices/interface"):
        if iface.find("mac").get("address") == mac:
            params = iface.find("virtualport/parameters")
            return None if params is None else params.get("interfaceid")
    raise AssertionError(f"no interface {mac}")


def ovn_entry(text: str | bytes, mac: str = MAC) -> dict[str, str]:
    meta = find_meta(parse_bytes(text).getroot())
    assert meta is not None
    entry = meta.interface(mac)
    assert entry is not None and entry.ovn is not None
    return dict(entry.ovn.node.attrib)


# --------------------------------------------------------------------------- what is written


def test_network_with_every_ovn_option_golden(golden) -> None:
    golden("ovn/network-ovnweb.xml", ok(*OVN_NET, "--ovn-switch", "ls-web", "--ovn-subnet", "10.10.0.0/24",
                                        "--ovn-dhcp", "--ovn-port-security"))


def test_network_with_a_switch_only_golden(golden) -> None:
    golden("ovn/network-ovnplain.xml", ok(*OVN_NET, "--ovn-switch", "ls-plain"))


def test_network_output_exactly() -> None:
    # The golden files' contract, spelled out once: the metadata holds one <vnx:ovn>, with
    # only the attributes asked for.
    out = ok(*OVN_NET, "--ovn-switch", "ls-web", "--ovn-subnet", "10.10.0.0/24")
    assert out == f"""<network>
  <name>ovnweb</name>
  <uuid>{NET_UUID}</uuid>
  <metadata>
    <vnx:netxml xmlns:vnx="urn:virt-netxml:hooks:1">
      <vnx:ovn switch="ls-web" subnet="10.10.0.0/24"/>
    </vnx:netxml>
  </metadata>
  <forward mode="bridge"/>
  <bridge name="br-int"/>
  <virtualport type="openvswitch"/>
</network>
"""


def test_bridge_port_in_a_domain_golden(golden, tmp_path: Path) -> None:
    path = domain_copy(tmp_path)
    golden("ovn/domain-bridge-port.xml", ok(*OVN_PORT, "--ip", "10.10.0.20", "--domain", str(path)))


def test_network_port_in_a_domain_golden(golden, tmp_path: Path) -> None:
    path = domain_copy(tmp_path)
    golden("ovn/domain-network-port.xml", ok("interface", "--type", "network", "--source", "ovnweb",
                                             "--ovn-switch", "ls-web", "--mac", MAC, "--model", "virtio",
                                             "--domain", str(path)))


def test_bridge_port_exactly(tmp_path: Path) -> None:
    path = domain_copy(tmp_path)
    out = ok(*OVN_PORT, "--ip", "10.10.0.20", "--domain", str(path))
    expected_id = str(uuid.uuid5(uuid.UUID("45aa883c-7e57-53ae-a9ad-49e87f118a29"), f"ls-web\n{MAC}"))
    assert f"""    <interface type='bridge'>
      <mac address='{MAC}'/>
      <source bridge='br-int'/>
      <virtualport type='openvswitch'>
        <parameters interfaceid='{expected_id}'/>
      </virtualport>
    </interface>
""" in out
    assert f"""    <vnx:netxml xmlns:vnx='urn:virt-netxml:hooks:1'>
      <vnx:interface mac='{MAC}'>
        <vnx:ovn switch='ls-web' address='10.10.0.20'/>
      </vnx:interface>
    </vnx:netxml>
""" in out
    # --ip goes to the OVN port, not to the forwards' <vnx:ip>
    assert "<vnx:ip" not in out


def test_interfaceid_is_derived_from_switch_and_mac_only(tmp_path: Path) -> None:
    path = domain_copy(tmp_path)
    first = interfaceid(ok(*OVN_PORT, "--domain", str(path)))
    assert first == ovn_port_uuid("ls-web", MAC)
    assert uuid.UUID(first).version == 5
    # the same inputs give the same id: another run, a MAC spelt in capitals, another domain file
    assert interfaceid(ok(*OVN_PORT, "--domain", str(path))) == first
    upper = [a if a != MAC else MAC.upper() for a in OVN_PORT]
    assert interfaceid(ok(*upper, "--domain", str(path))) == first
    # a different switch or MAC gives another
    other_switch = [a if a != "ls-web" else "ls-db" for a in OVN_PORT]
    assert interfaceid(ok(*other_switch, "--domain", str(path))) not in (first, None)
    other_mac = [a if a != MAC else "52:54:00:4e:00:02" for a in OVN_PORT]
    assert interfaceid(ok(*other_mac, "--domain", str(path)), "52:54:00:4e:00:02") not in (first, None)


def test_derived_mac_gives_a_stable_interfaceid(tmp_path: Path) -> None:
    # Without --mac the MAC is derived from the domain's UUID: the whole port is reproducible.
    path = domain_copy(tmp_path)
    args = [a for a in OVN_PORT if a not in ("--mac", MAC)]
    assert ok(*args, "--domain", str(path)) == ok(*args, "--domain", str(path))


def test_explicit_interfaceid_wins_and_is_written_in_libvirts_form(tmp_path: Path) -> None:
    path = domain_copy(tmp_path)
    given = "5E1C0D2A7B3F4C8E9A1D2F6B8E4C0A13"
    out = ok(*OVN_PORT, "--interfaceid", given, "--domain", str(path))
    assert interfaceid(out) == "5e1c0d2a-7b3f-4c8e-9a1d-2f6b8e4c0a13"
    via_vport = [a if a != "openvswitch" else f"openvswitch,interfaceid={given}" for a in OVN_PORT]
    assert interfaceid(ok(*via_vport, "--domain", str(path))) == "5e1c0d2a-7b3f-4c8e-9a1d-2f6b8e4c0a13"
    # --interfaceid without OVN: any Open vSwitch port
    plain = ok("interface", "--type", "bridge", "--source", "ovsbr0", "--virtualport", "openvswitch",
               "--interfaceid", given, "--mac", MAC)
    assert interfaceid(plain) == "5e1c0d2a-7b3f-4c8e-9a1d-2f6b8e4c0a13"


def test_non_br_int_bridge_is_accepted_by_the_builders(tmp_path: Path) -> None:
    # A chassis may name another integration bridge (external_ids:ovn-bridge): lint warns only.
    assert "br-ovn" in ok("network", "n", "--mode", "bridge", "--bridge", "br-ovn", "--virtualport",
                          "openvswitch", "--ovn-switch", "ls")
    path = domain_copy(tmp_path)
    args = [a if a != "br-int" else "br-ovn" for a in OVN_PORT]
    assert "br-ovn" in ok(*args, "--domain", str(path))


def test_ipv6_static_address(tmp_path: Path) -> None:
    path = domain_copy(tmp_path)
    assert ovn_entry(ok(*OVN_PORT, "--ip", "FD00:10::20", "--domain", str(path))) == {
        "switch": "ls-web", "address": "fd00:10::20"}


# --------------------------------------------------------------------------- refusals

LONG = "x" * 64


@pytest.mark.parametrize(("args", "words"), [
    (["--ovn-subnet", "10.0.0.0/24"], "--ovn-subnet needs --ovn-switch"),
    (["--ovn-dhcp"], "--ovn-dhcp needs --ovn-switch"),
    (["--ovn-port-security"], "--ovn-port-security needs --ovn-switch"),
    (["--ovn-subnet", "10.0.0.0/24", "--ovn-dhcp"], "--ovn-subnet/--ovn-dhcp need --ovn-switch"),
    (["--ovn-switch", "ls", "--ovn-dhcp"], "--ovn-dhcp needs --ovn-subnet"),
    (["--ovn-switch", "ls", "--ovn-subnet", "10.0.0.1/24"], "host bits are set: the subnet is 10.0.0.0/24"),
    (["--ovn-switch", "ls", "--ovn-subnet", "10.0.0.0/31"], "a /31 leaves no address"),
    (["--ovn-switch", "ls", "--ovn-subnet", "10.0.0.0"], "ADDRESS/PREFIX"),
    (["--ovn-switch", "ls", "--ovn-subnet", "fd00::/64"], "IPv4"),
    (["--ovn-switch", "ls", "--ovn-subnet", "10.0.0.0/33"], "prefix"),
    (["--ovn-switch", "-ls"], "leading '-'"),
    (["--ovn-switch", "ls web"], "' ' at character 3"),
    (["--ovn-switch", "ls\x1bweb"], "'\\x1b' at character 3"),
    (["--ovn-switch", ""], "empty"),
    (["--ovn-switch", LONG], "at most 63"),
    (["--ovn-switch", "cafe"], "hex digits and '-' only"),
    (["--ovn-switch", "0f0b7a2e-5c1d-4e8a-9b3c-7d6e5f4a3b2c"], "UUID"),
    (["--ovn-switch", "ls", "--vlan", "10"], "no VLAN tag"),
    (["--ovn-switch", "ls", "--portgroup", "pg,vlan=10"], "no VLAN tag"),
])
def test_network_refusals(args: list[str], words: str) -> None:
    line = one_error_line(run(*OVN_NET, *args))
    assert words in line


@pytest.mark.parametrize(("args", "words"), [
    (["network", "n", "--mode", "nat", "--ip", "10.0.0.1/24", "--ovn-switch", "ls"], "not mode nat"),
    (["network", "n", "--mode", "bridge", "--uplink", "eth1", "--ovn-switch", "ls"],
     "--mode bridge with --bridge"),
    (["network", "n", "--mode", "bridge", "--bridge", "br-int", "--ovn-switch", "ls"],
     "needs --virtualport openvswitch"),
])
def test_network_refuses_what_is_no_ovs_bridge_network(args: list[str], words: str) -> None:
    assert words in one_error_line(run(*args))


def test_network_boundaries_taken() -> None:
    # the twins of the refusals above: 63 characters, a /30, one letter outside a-f
    assert "x" * 63 in ok(*OVN_NET, "--ovn-switch", "x" * 63, "--ovn-subnet", "10.0.0.0/30")
    assert 'switch="cafe-1g"' in ok(*OVN_NET, "--ovn-switch", "cafe-1g")


@pytest.mark.parametrize(("args", "words"), [
    (["--type", "direct", "--source", "up0", "--ovn-switch", "ls"], "not direct"),
    (["--type", "bridge", "--source", "br-int", "--ovn-switch", "ls"], "needs --virtualport openvswitch"),
    (["--type", "network", "--source", "n", "--virtualport", "802.1Qbg,managerid=1,typeid=1,typeidversion=1,"
      "instanceid=5e1c0d2a-7b3f-4c8e-9a1d-2f6b8e4c0a13", "--ovn-switch", "ls"], "openvswitch"),
    ([*OVN_PORT[1:], "--interfaceid", "not-a-uuid"], "invalid --interfaceid 'not-a-uuid': expected a UUID"),
    ([*OVN_PORT[1:], "--interfaceid", "{5e1c0d2a-7b3f-4c8e-9a1d-2f6b8e4c0a13}"], "expected a UUID"),
    ([*OVN_PORT[1:], "--interfaceid", "5e1c0d2a-7b3f-4c8e-9a1d-2f6b8e4c0a1"], "expected a UUID"),
    (["--type", "bridge", "--source", "br-int", "--virtualport",
      "openvswitch,interfaceid=5e1c0d2a-7b3f-4c8e-9a1d-2f6b8e4c0a13", "--ovn-switch", "ls",
      "--interfaceid", "5e1c0d2a-7b3f-4c8e-9a1d-2f6b8e4c0a13"], "given twice"),
    (["--type", "bridge", "--source", "br0", "--interfaceid", "5e1c0d2a-7b3f-4c8e-9a1d-2f6b8e4c0a13"],
     "--interfaceid names an Open vSwitch port"),
    ([*OVN_PORT[1:], "--ip", "nope"], "expected one IPv4 or IPv6 address"),
    ([*OVN_PORT[1:], "--ip", "224.0.0.5"], "not a unicast address"),
    ([*OVN_PORT[1:], "--ip", "10.0.0.5/24"], "expected one IPv4 or IPv6 address"),
    (["--type", "network", "--source", "n", "--ovn-switch", "ls", "--forward", "tcp:2222:22"],
     "an OVN switch is not one"),
    ([*OVN_PORT[1:3], "--source", "br-int", "--virtualport", "openvswitch", "--ovn-switch", "-x"],
     "leading '-'"),
])
def test_interface_refusals_leave_the_domain_untouched(tmp_path: Path, args: list[str], words: str) -> None:
    path = domain_copy(tmp_path)
    before = path.read_bytes()
    line = one_error_line(run("interface", *args, "--domain", str(path), "-i"))
    assert words in line
    assert path.read_bytes() == before


def test_ovn_switch_needs_a_domain_to_live_in() -> None:
    line = one_error_line(run(*OVN_PORT))
    assert "--ovn-switch" in line and "--domain FILE" in line


def test_interfaceid_refused_without_a_domain_too() -> None:
    line = one_error_line(run("interface", "--type", "bridge", "--source", "br-int", "--virtualport",
                              "openvswitch,interfaceid=nope"))
    assert "invalid interfaceid 'nope': expected a UUID" in line


# --------------------------------------------------------------------------- edit round trip


def test_edit_keeps_the_ovn_port_and_moves_or_drops_its_entry(tmp_path: Path) -> None:
    path = domain_copy(tmp_path)
    ok(*OVN_PORT, "--ip", "10.10.0.20", "--domain", str(path), "-i")
    written = path.read_text()
    the_id = interfaceid(written)
    # an unrelated change leaves every other byte as it was
    ok("edit", str(path), "--mac", MAC, "--model", "virtio", "-i")
    changed = path.read_text()
    assert changed.replace("      <model type='virtio'/>\n", "") == written
    assert interfaceid(changed) == the_id
    assert ovn_entry(changed) == {"switch": "ls-web", "address": "10.10.0.20"}
    # a new MAC takes its metadata entry, vnx:ovn included; the interfaceid (the logical port's
    # name) stays what libvirt and OVN know
    ok("edit", str(path), "--mac", MAC, "--set-mac", "52:54:00:4e:00:09", "-i")
    moved = path.read_text()
    assert ovn_entry(moved, "52:54:00:4e:00:09") == {"switch": "ls-web", "address": "10.10.0.20"}
    assert interfaceid(moved, "52:54:00:4e:00:09") == the_id
    # removing the interface removes its entry
    ok("edit", str(path), "--mac", "52:54:00:4e:00:09", "--remove", "-i")
    assert "vnx:ovn" not in path.read_text()


def test_edit_of_an_ovn_network_keeps_its_switch(tmp_path: Path) -> None:
    path = tmp_path / "net.xml"
    path.write_text(ok(*OVN_NET, "--ovn-switch", "ls-web", "--ovn-subnet", "10.10.0.0/24"))
    before = path.read_text()
    ok("edit", str(path), "--add-portgroup", "web", "-i")
    after = path.read_text()
    assert "<portgroup name=\"web\"/>" in after or "<portgroup name='web'/>" in after
    meta = find_meta(parse_bytes(after.encode()).getroot())
    assert meta is not None and meta.ovn is not None
    assert (meta.ovn.switch, meta.ovn.subnet) == ("ls-web", "10.10.0.0/24")
    assert before.split("</metadata>")[0] == after.split("</metadata>")[0]


# --------------------------------------------------------------------------- lint


def lint(*paths: Path):  # type: ignore[no-untyped-def]
    return run("lint", "--no-libvirt-schemas", "--libvirt-version", "9.0", *map(str, paths))


def test_what_the_commands_write_lints_clean_together(tmp_path: Path) -> None:
    net = tmp_path / "ovnweb.xml"
    net.write_text(ok(*OVN_NET, "--ovn-switch", "ls-web", "--ovn-subnet", "10.10.0.0/24", "--ovn-dhcp"))
    path = domain_copy(tmp_path)
    ok(*OVN_PORT, "--ip", "10.10.0.20", "--domain", str(path), "-i")
    ok("interface", "--type", "network", "--source", "ovnweb", "--ovn-switch", "ls-web", "--ip", "10.10.0.21",
       "--domain", str(path), "-i")
    result = run("lint", "--strict", "--no-libvirt-schemas", str(net), str(path))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.stdout == ""


def _port_domain(tmp_path: Path, kind: str, switch: str, address: str | None) -> Path:
    path = domain_copy(tmp_path)
    source = ["--type", "network", "--source", "ovnweb"] if kind == "network" else \
        ["--type", "bridge", "--source", "br-int", "--virtualport", "openvswitch"]
    ok("interface", *source, "--ovn-switch", switch, "--mac", MAC,
       *(["--ip", address] if address else []), "--domain", str(path), "-i")
    return path


def _codes(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [line.rsplit("[", 1)[1].rstrip("]") for line in result.stdout.splitlines() if "[" in line]


@pytest.mark.parametrize(("kind", "address", "code"), [
    ("network", "10.10.0.1", None),            # the first address
    ("network", "10.10.0.254", None),          # the last before broadcast
    ("network", "10.10.0.0", "ovn-address-subnet"),
    ("network", "10.10.0.255", "ovn-address-subnet"),
    ("network", "10.10.1.1", "ovn-address-subnet"),
    ("network", "fd00::1", "ovn-address-subnet"),
    ("bridge", "10.10.0.254", None),           # known through the switch's name
    ("bridge", "10.10.1.1", "ovn-address-subnet"),
])
def test_lint_static_address_against_the_switchs_subnet(tmp_path: Path, kind: str, address: str,
                                                        code: str | None) -> None:
    net = tmp_path / "ovnweb.xml"
    net.write_text(ok(*OVN_NET, "--ovn-switch", "ls-web", "--ovn-subnet", "10.10.0.0/24"))
    result = lint(net, _port_domain(tmp_path, kind, "ls-web", address))
    assert _codes(result) == ([code] if code else [])
    assert result.exit_code == (1 if code else 0)


def test_lint_address_unchecked_without_a_known_subnet(tmp_path: Path) -> None:
    net = tmp_path / "ovnweb.xml"
    net.write_text(ok(*OVN_NET, "--ovn-switch", "ls-web"))
    result = lint(net, _port_domain(tmp_path, "bridge", "ls-web", "192.0.2.7"))
    assert result.exit_code == 0 and result.stdout == ""


def test_lint_network_port_on_a_network_that_is_no_ovn_switch(tmp_path: Path) -> None:
    net = tmp_path / "ovnweb.xml"
    net.write_text(ok(*OVN_NET))   # the same network without --ovn-switch
    result = lint(net, _port_domain(tmp_path, "network", "ls-web", None))
    assert _codes(result) == ["ovn-network-not-ovn"] and result.exit_code == 1
    assert "network 'ovnweb' is no OVN switch" in result.stdout


def test_lint_network_port_naming_another_switch(tmp_path: Path) -> None:
    net = tmp_path / "ovnweb.xml"
    net.write_text(ok(*OVN_NET, "--ovn-switch", "ls-web", "--ovn-subnet", "10.10.0.0/24"))
    result = lint(net, _port_domain(tmp_path, "network", "ls-db", "10.10.0.5"))
    assert _codes(result) == ["ovn-switch-mismatch"] and result.exit_code == 1
    assert "names OVN switch 'ls-db'" in result.stdout and "is switch 'ls-web'" in result.stdout


def test_lint_domain_alone_says_nothing_about_its_network(tmp_path: Path) -> None:
    result = lint(_port_domain(tmp_path, "network", "ls-db", "10.99.0.5"))
    assert result.exit_code == 0 and result.stdout == ""


def test_lint_warns_about_a_bridge_other_than_br_int(tmp_path: Path) -> None:
    path = tmp_path / "n.xml"
    path.write_text(ok("network", "n", "--mode", "bridge", "--bridge", "br-ovn", "--virtualport",
                       "openvswitch", "--ovn-switch", "ls"))
    result = lint(path)
    assert _codes(result) == ["ovn-bridge"] and result.exit_code == 0
    assert run("lint", "--strict", "--no-libvirt-schemas", str(path)).exit_code == 1


# --------------------------------------------------------------------------- libvirt's verdict


def _virsh(script: str) -> subprocess.CompletedProcess[str]:
    require(shutil.which("virsh") is not None, "virsh (libvirt-clients)")
    return subprocess.run(["virsh", "-q", "-c", "test:///default", script], capture_output=True, text=True,
                          timeout=60, check=False)


def test_libvirt_defines_the_ovn_network_and_keeps_its_metadata(tmp_path: Path) -> None:
    path = tmp_path / "net.xml"
    path.write_text(ok(*OVN_NET, "--ovn-switch", "ls-web", "--ovn-subnet", "10.10.0.0/24", "--ovn-dhcp"))
    proc = _virsh(f"net-define {path}; net-dumpxml ovnweb")
    assert proc.returncode == 0, proc.stderr
    assert 'switch="ls-web" subnet="10.10.0.0/24" dhcp="yes"' in proc.stdout.replace("'", '"')


def test_libvirt_takes_the_derived_interfaceid_and_refuses_a_name(tmp_path: Path) -> None:
    # OVN-LAB pitfall 5: libvirt requires the interfaceid to be a UUID.
    path = domain_copy(tmp_path)
    ok(*OVN_PORT, "--domain", str(path), "-i")
    proc = _virsh(f"define {path}; dumpxml golden")
    assert proc.returncode == 0, proc.stderr
    assert f"interfaceid='{ovn_port_uuid('ls-web', MAC)}'" in proc.stdout
    bad = tmp_path / "bad.xml"
    bad.write_text(path.read_text().replace(ovn_port_uuid("ls-web", MAC), "ls-web-port1"))
    proc = _virsh(f"define {bad}")
    assert proc.returncode != 0
    assert "interfaceid" in proc.stderr
