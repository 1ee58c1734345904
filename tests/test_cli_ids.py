"""``virt-netxml mac`` and ``virt-netxml uuid`` through click's test runner."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support import require
from xmltools.cli.main import cli
from xmltools.mac import derived_mac
from xmltools.uuids import name_uuid

MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input)


def _lines(result) -> list[str]:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout.splitlines()


def _one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("virt-netxml: error: ")
    return lines[0]


# --- mac -------------------------------------------------------------------------------------

def test_mac_default_is_one_qemu_unicast_address() -> None:
    (address,) = _lines(run("mac"))
    assert MAC.fullmatch(address)
    assert address.startswith("52:54:00:")


def test_mac_count_and_presets() -> None:
    xen = _lines(run("mac", "--count", "20", "--oui", "xen"))
    assert len(xen) == 20 and len(set(xen)) == 20
    assert all(MAC.fullmatch(a) and a.startswith("00:16:3e:") for a in xen)
    custom = _lines(run("mac", "-n", "3", "--oui", "02-AB-cd"))
    assert all(a.startswith("02:ab:cd:") for a in custom)


def test_mac_seed_is_reproducible_and_matches_the_library() -> None:
    first = _lines(run("mac", "--seed", "web01", "--count", "3"))
    assert first == _lines(run("mac", "--seed", "web01", "--count", "3"))
    assert first[0] == derived_mac("web01", 0)
    assert len(set(first)) == 3
    assert _lines(run("mac", "--seed", "web01", "--index", "2")) == [first[2]]


DOMAIN = """<domain type='kvm'><name>vm</name><devices>
  <interface type='network'><mac address='{mac}'/><source network='default'/></interface>
</devices></domain>"""


def test_mac_exclude_file_steps_away(tmp_path: Path) -> None:
    taken = derived_mac("web01", 0)
    path = tmp_path / "vm.xml"
    path.write_text(DOMAIN.format(mac=taken.upper()))
    (address,) = _lines(run("mac", "--seed", "web01", "--exclude", str(path)))
    assert address != taken
    assert address == derived_mac("web01", 0, exclude={taken})


def test_mac_exclude_folder_and_stdin(tmp_path: Path) -> None:
    taken = [derived_mac("db", i) for i in range(3)]
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.xml").write_text(DOMAIN.format(mac=taken[0]))
    (tmp_path / "net.xml").write_text(
        f"<network><name>n</name><mac address='{taken[1]}'/></network>")
    (tmp_path / "pool.xml").write_text("<pool type='dir'><name>p</name></pool>")  # other kinds skipped
    addresses = _lines(run("mac", "--seed", "db", "-n", "3", "--exclude", str(tmp_path),
                           "--exclude", "-", input=DOMAIN.format(mac=taken[2])))
    assert not set(addresses) & set(taken)
    assert len(set(addresses)) == 3


@pytest.mark.parametrize(("content", "fragment"), [
    ("<domain><name>x</name>", "malformed XML"),
    ("<!DOCTYPE x [<!ENTITY a 'b'>]><domain/>", "refused"),
    ("<pool type='dir'/>", "expected a <domain>, <network> or <interface> document"),
])
def test_mac_exclude_bad_file(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "bad.xml"
    path.write_text(content)
    assert fragment in _one_error_line(run("mac", "--exclude", str(path)))


def test_mac_exclude_missing_file() -> None:
    assert "/nonexistent/vm.xml" in _one_error_line(run("mac", "--exclude", "/nonexistent/vm.xml"))


@pytest.mark.parametrize(("args", "fragment"), [
    (["--oui", "01:00:5e"], "multicast prefix"),
    (["--oui", "vmware"], "expected 3 octets"),
    (["52:54:00:00:00:01"], "only taken with --check"),
    (["--check"], "needs at least one MAC"),
    (["--check", "--seed", "x", "52:54:00:00:00:01"], "no generation options"),
])
def test_mac_usage_errors(args: list[str], fragment: str) -> None:
    assert fragment in _one_error_line(run("mac", *args))


def test_mac_count_out_of_range() -> None:
    result = run("mac", "--count", "0")
    assert result.exit_code == 2
    assert result.stdout == ""


def test_mac_check_normalises_good_ones() -> None:
    assert _lines(run("mac", "--check", "52-54-00-AB-CD-EF", "52:54:0:1:2:3")) == [
        "52:54:00:ab:cd:ef", "52:54:00:01:02:03"]


@pytest.mark.parametrize(("value", "fragment"), [
    ("01:00:5e:00:00:01", "multicast"),
    ("ff:ff:ff:ff:ff:ff", "broadcast"),
    ("52:54:00:00:01", "expected 6 octets"),
    ("52:54:00:00:01:0g", "not hexadecimal"),
    ("00:00:00:00:00:00", "all-zero"),
])
def test_mac_check_says_what_is_wrong(value: str, fragment: str) -> None:
    line = _one_error_line(run("mac", "--check", value))
    assert value in line and fragment in line


def test_mac_check_mixed_reports_each_bad_one() -> None:
    result = run("mac", "--check", "52:54:00:00:00:01", "03:00:00:00:00:01", "xx")
    assert result.exit_code == 2
    assert result.stdout.splitlines() == ["52:54:00:00:00:01"]
    assert len(result.stderr.splitlines()) == 2


def test_mac_connect_skips_macs_on_the_host() -> None:
    try:
        import libvirt
    except ImportError:
        libvirt = None
    require(libvirt is not None, "libvirt-python")
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    conn = libvirt.open("test:///default")  # held open: the command then sees the same test host
    try:
        taken = [derived_mac("conn-seed", 0), derived_mac("conn-seed", 1)]
        nics = "".join(f"<interface type='network'><mac address='{m}'/><source network='default'/>"
                       "</interface>" for m in taken)
        conn.defineXML(f"<domain type='test'><name>connvm</name><memory>65536</memory>"
                       f"<os><type>hvm</type></os><devices>{nics}</devices></domain>")
        in_use = set()
        for domain in conn.listAllDomains(0):
            in_use |= {m.lower() for m in re.findall(r"<mac address='([^']+)'", domain.XMLDesc(0))}
        assert set(taken) <= in_use
        addresses = _lines(run("mac", "--seed", "conn-seed", "-n", "4", "--connect", "test:///default"))
        assert not set(addresses) & in_use
        assert len(set(addresses)) == 4
        # Without the host's MACs the seed gives exactly the addresses now in use.
        assert _lines(run("mac", "--seed", "conn-seed", "-n", "2")) == taken
    finally:
        for domain in conn.listAllDomains(0):
            if domain.name() == "connvm":
                domain.undefine()
        conn.close()


def test_mac_connect_failure_is_one_line() -> None:
    require(_has_libvirt(), "libvirt-python")
    line = _one_error_line(run("mac", "--connect", "test+unix:///default?socket=/nonexistent/sock"))
    assert "cannot connect" in line


def _has_libvirt() -> bool:
    try:
        import libvirt  # noqa: F401
    except ImportError:
        return False
    return True


# --- uuid ------------------------------------------------------------------------------------

def test_uuid_random_v4() -> None:
    values = _lines(run("uuid", "--count", "5"))
    assert len(set(values)) == 5
    assert all(uuid.UUID(v).version == 4 and str(uuid.UUID(v)) == v for v in values)


def test_uuid_from_names() -> None:
    values = _lines(run("uuid", "--name", "default", "--name", "packtnat"))
    assert values == [name_uuid("default"), name_uuid("packtnat")]
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, "urn:virt-netxml:names:1")
    assert values[0] == str(uuid.uuid5(namespace, "default"))
    assert values == _lines(run("uuid", "--name", "default", "--name", "packtnat"))


def test_uuid_check() -> None:
    assert _lines(run("uuid", "--check", "0011223344556677 8899AABBCCDDEEFF")) == [
        "00112233-4455-6677-8899-aabbccddeeff"]
    line = _one_error_line(run("uuid", "--check", "--strict", "0011223344556677 8899AABBCCDDEEFF"))
    assert "8-4-4-4-12" in line
    line = _one_error_line(run("uuid", "--check", "00112233-4455-6677-8899-aabbccddeeffaa"))
    assert "found 34" in line


@pytest.mark.parametrize(("args", "fragment"), [
    (["--name", "a", "--count", "2"], "--count does not combine with --name"),
    (["00112233445566778899aabbccddeeff"], "only taken with --check"),
    (["--strict"], "--strict only applies to --check"),
    (["--check"], "needs at least one UUID"),
    (["--check", "--name", "a", "00112233445566778899aabbccddeeff"], "not --name or --count"),
])
def test_uuid_usage_errors(args: list[str], fragment: str) -> None:
    assert fragment in _one_error_line(run("uuid", *args))
