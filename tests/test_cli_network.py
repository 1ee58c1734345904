"""``virt-netxml network`` through click's CliRunner: output, -o, --define, and bad input."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support import require
from xmltools.cli.main import cli
from xmltools.network import Network

ROOT = Path(__file__).resolve().parent.parent
NAT = ["network", "lab", "--ip", "10.5.0.1/24", "--dhcp-range", "10.5.0.10,10.5.0.20", "--seed", "s"]


def invoke(args: list[str], code: int = 0):
    """Run the command and check its exit status first: output of a failed run proves nothing."""
    # click >= 8.2 keeps stdout and stderr apart in the result.
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == code, (result.exit_code, result.stderr)
    return result


def test_prints_network_on_stdout() -> None:
    result = invoke(NAT)
    assert result.exit_code == 0, result.stderr
    net = Network.from_xml(result.stdout)
    assert net.name == "lab" and net.forward_mode == "nat"
    assert [str(r.start) for r in net.ips[0].ranges] == ["10.5.0.10"]
    assert result.stderr == ""


def test_default_mode_is_nat_and_mac_uuid_are_generated() -> None:
    a = Network.from_xml(invoke(["network", "n", "--ip", "10.0.0.1/24"]).stdout)
    b = Network.from_xml(invoke(["network", "n", "--ip", "10.0.0.1/24"]).stdout)
    assert a.forward.mode == "nat"
    assert a.mac.startswith("52:54:00:") and a.uuid and a.uuid != b.uuid and a.mac != b.mac


def test_seed_is_reproducible() -> None:
    first, second = invoke(NAT), invoke(NAT)   # both checked for exit 0 by invoke
    assert Network.from_xml(first.stdout).name == "lab"
    assert first.stdout == second.stdout


def test_every_option_reaches_the_document() -> None:
    result = invoke(["network", "lab", "--mode", "route", "--bridge", "virbr4", "--forward-dev", "eth1",
                     "--ip", "10.4.0.1/24", "--ip", "fd00:4::1/64", "--dhcp-range", "10.4.0.50,10.4.0.60",
                     "--dhcp-host", "52:54:00:00:00:44,10.4.0.44,box", "--domain-name", "four",
                     "--mtu", "1400", "--no-stp", "--delay", "3", "--dns-host", "10.4.0.44,box",
                     "--bandwidth-in", "100", "--bandwidth-out", "200,300",
                     "--portgroup", "pg,default,vlan=9",
                     "--mac", "52:54:00:44:44:44", "--uuid", "0e5a1c53-5d0f-4c1b-9c55-7d5b4f2a9e10"])
    assert result.exit_code == 0, result.stderr
    net = Network.from_xml(result.stdout)
    assert (net.forward.mode, net.forward.dev) == ("route", "eth1")
    assert (net.bridge.name, net.bridge.stp, net.bridge.delay) == ("virbr4", False, 3)
    assert [ip.family for ip in net.ips] == [None, "ipv6"]
    assert net.ips[0].hosts[0].name == "box" and net.domain.name == "four" and net.mtu == 1400
    assert net.dns.hosts[0].hostnames == ["box"]
    assert (net.bandwidth.inbound.average, net.bandwidth.outbound.peak) == (100, 300)
    assert net.portgroup("pg").default is True and net.meta().portgroup("pg").vlan.tag == 9
    assert (net.mac, net.uuid) == ("52:54:00:44:44:44", "0e5a1c53-5d0f-4c1b-9c55-7d5b4f2a9e10")


def test_hostdev_options() -> None:
    result = invoke(["network", "pool", "--mode", "hostdev", "--vf-address", "0000:04:10.0",
                     "--unmanaged", "--driver", "vfio", "--vlan", "10:untagged,20"])
    assert result.exit_code == 0, result.stderr
    net = Network.from_xml(result.stdout)
    assert net.forward.managed is False and net.forward.driver_name == "vfio"
    assert str(net.forward.addresses[0].pci) == "0000:04:10.0"
    assert net.vlan.native.id == 10


def test_vlan_trunk_flag() -> None:
    result = invoke(["network", "p", "--mode", "passthrough", "--uplink", "e0", "--vlan", "7",
                     "--vlan-trunk"])
    assert result.exit_code == 0, result.stderr
    assert Network.from_xml(result.stdout).vlan.trunk is True


def test_output_file_written(tmp_path: Path) -> None:
    target = tmp_path / "lab.xml"
    result = invoke([*NAT, "-o", str(target)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert target.read_text() == invoke(NAT).stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab.xml"]  # no temporary file left


BAD = [
    (["network", "x", "--mode", "bogus"], "invalid mode 'bogus'"),
    (["network", "x", "--ip", "10.0.0.1/24", "--dhcp-range", "10.0.1.2,10.0.1.9"], "in no subnet"),
    (["network", "x", "--mode", "passthrough", "--uplink", "e0", "--vlan", "5000"], "VLAN ids are 1 to 4094"),
    (["network", "x", "--ip", "10.0.0.1/24", "--mac", "01:00:5e:00:00:01"], "multicast"),
    (["network", "x", "--ip", "10.0.0.1/24", "--bridge", "bridge-name-too-long"], "at most 15"),
    (["network", "x", "--mode", "vepa"], "--uplink"),
    (["network", "x", "--mode", "bridge", "--bridge", "br0", "--ip", "10.0.0.1/24"], "--ip is only for"),
    (["network", "x", "--ip", "10.0.0.1/24", "--mtu", "big"], "--mtu"),
    (["network", "x", "--bogus"], "No such option"),
    (["network"], "Missing argument"),
    (["network", "x", "--ip"], "requires an argument"),
    (["network", "x", "--ip", "10.0.0.1/24", "--start"], "need --define"),
    (["network", "x", "--ip", "10.0.0.1/24", "--define"], "needs --connect"),
    (["network", "x", "--ip", "10.0.0.1/24", "--connect", "test:///default"], "only used with --define"),
]


@pytest.mark.parametrize("args,needle", BAD, ids=[n for _, n in BAD])
def test_bad_input_is_one_line_exit_2(args: list[str], needle: str) -> None:
    result = invoke(args, code=2)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("virt-netxml: error: ")
    assert needle in lines[0]


def test_bad_input_writes_no_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    fresh = tmp_path / "new.xml"
    result = invoke(["network", "x", "--mode", "vepa", "-o", str(fresh)], code=2)
    assert result.exit_code == 2 and not fresh.exists()
    old = tmp_path / "old.xml"
    old.write_text("previous\n")
    result = invoke(["network", "x", "--ip", "10.0.0.1/24", "--vlan", "10", "-o", str(old)], code=2)
    assert result.exit_code == 2
    assert old.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.xml"]


def test_installed_entry_point_reports_one_line(tmp_path: Path) -> None:
    """The real console script (not CliRunner): no traceback, exit 2, one line."""
    exe = Path(sys.executable).parent / "virt-netxml"
    require(exe.exists(), "the virt-netxml console script in the virtual environment")
    proc = subprocess.run([str(exe), "network", "x", "--ip", "10.0.0.1/24",
                           "--dhcp-range", "10.0.0.9,10.0.0.2"],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "LC_ALL": "C"})
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == ["virt-netxml: error: invalid --dhcp-range '10.0.0.9,10.0.0.2': "
                                        "the range runs backwards"]


# --------------------------------------------------------------------------- --define


def test_define_calls_libvirt_conn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import xmltools.cli.libvirt_conn as conn

    calls = []

    def fake(uri: str, xml: str, start: bool, autostart: bool) -> str:
        calls.append((uri, Network.from_xml(xml).name, start, autostart))
        return "lab"

    monkeypatch.setattr(conn, "define_network", fake)
    monkeypatch.setattr(conn, "macs_in_use", lambda uri: set())
    out = tmp_path / "lab.xml"
    result = invoke([*NAT, "--connect", "qemu:///system", "--define", "--start", "--autostart",
                     "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert calls == [("qemu:///system", "lab", True, True)]
    assert result.stdout == "network lab defined, started, set to autostart on qemu:///system\n"
    assert Network.from_xml(out.read_bytes()).name == "lab"


def test_define_failure_writes_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import xmltools.cli.libvirt_conn as conn

    def fake(uri: str, xml: str, start: bool, autostart: bool) -> str:
        raise conn.LibvirtFailed(uri=uri, action="cannot define network", detail="boom")

    monkeypatch.setattr(conn, "define_network", fake)
    monkeypatch.setattr(conn, "macs_in_use", lambda uri: set())
    out = tmp_path / "lab.xml"
    result = invoke([*NAT, "--connect", "test:///x", "--define", "-o", str(out)], code=2)
    assert result.exit_code == 2
    assert result.stderr == "virt-netxml: error: test:///x: cannot define network: boom\n"
    assert not out.exists()


def test_define_avoids_macs_in_use_on_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    import xmltools.cli.libvirt_conn as conn

    usual = Network.from_xml(invoke(NAT).stdout).mac
    defined: list[str] = []
    monkeypatch.setattr(conn, "macs_in_use", lambda uri: {usual})
    monkeypatch.setattr(conn, "define_network",
                        lambda uri, xml, start, autostart: defined.append(xml) or "lab")
    result = invoke([*NAT, "--connect", "test:///x", "--define"])
    assert result.exit_code == 0, result.stderr
    mac = Network.from_xml(defined[0]).mac
    assert mac != usual and mac.startswith("52:54:00:")


def test_define_on_libvirt_test_driver() -> None:
    """Real libvirt-python against the in-process test driver (no daemon)."""
    require(importlib.util.find_spec("libvirt") is not None, "libvirt-python")
    result = invoke(["network", "packtnat", "--bridge", "virbr1", "--ip", "192.168.123.1/24",
                     "--dhcp-range", "192.168.123.2,192.168.123.254", "--connect", "test:///default",
                     "--define", "--start", "--autostart"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "network packtnat defined, started, set to autostart on test:///default\n"


def test_define_refused_by_libvirt_is_one_line() -> None:
    require(importlib.util.find_spec("libvirt") is not None, "libvirt-python")
    # The test driver already has a network called "default" with another UUID.
    result = invoke(["network", "default", "--ip", "192.168.122.1/24", "--connect", "test:///default",
                     "--define"], code=2)
    assert result.exit_code == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("virt-netxml: error: test:///default: cannot define network: ")
