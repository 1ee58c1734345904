"""Port forwards on the command line: ``interface --forward/--ip``, ``edit --add-forward/
--remove-forward``, and lint's checks of forwards across the files of a run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support import one_error_line
from xmltools.cli.main import cli
from xmltools.lint import lint_paths
from xmltools.metadata import ForwardWish, find_meta
from xmltools.xmlparse import parse_bytes

EMPTY = "<domain type='kvm'><name>{name}</name><memory>1</memory><devices></devices></domain>\n"
NET = ("<network><name>natnet</name><forward mode='nat'/><bridge name='virbr5'/>"
       "<ip address='192.168.150.1' netmask='255.255.255.0'><dhcp>"
       "<range start='192.168.150.100' end='192.168.150.200'/>"
       "<host mac='52:54:00:00:00:02' ip='192.168.150.12'/></dhcp></ip></network>\n")


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args))


def domain_file(tmp_path: Path, name: str = "vm") -> Path:
    path = tmp_path / f"{name}.xml"
    path.write_text(EMPTY.format(name=name))
    return path


def forwards_of(path: Path, mac: str) -> tuple[str | None, list[ForwardWish]]:
    meta = find_meta(parse_bytes(path.read_bytes()).getroot())
    assert meta is not None
    entry = meta.interface(mac)
    assert entry is not None
    return (entry.ip.address if entry.ip is not None else None), [f.resolved() for f in entry.forwards]


def test_interface_writes_the_forwards_and_the_address_into_the_metadata(tmp_path: Path) -> None:
    path = domain_file(tmp_path)
    result = run("interface", "--type", "network", "--source", "natnet", "--mac", "52:54:00:00:00:01",
                 "--ip", "192.168.150.11", "--forward", "tcp:2222:22",
                 "--forward", "udp:5000-5010:6000-6010,source=198.51.100.0/24", "--domain", str(path), "-i")
    assert result.exit_code == 0, result.stderr
    assert forwards_of(path, "52:54:00:00:00:01") == ("192.168.150.11", [
        ForwardWish("tcp", (2222, 2222), (22, 22)),
        ForwardWish("udp", (5000, 5010), (6000, 6010), None, "198.51.100.0/24")])


@pytest.mark.parametrize(("args", "words"), [
    (["--type", "bridge", "--source", "br0", "--forward", "tcp:2222:22"], "libvirt NAT network"),
    (["--type", "network", "--source", "n", "--forward", "tcp:2222:22", "--forward", "tcp:2220-2229:20-29"],
     "overlaps --forward tcp:2222:22"),
    (["--type", "network", "--source", "n", "--forward", "tcp:2222-2223:22"], "same length"),
    (["--type", "network", "--source", "n", "--ip", "fe80::1", "--forward", "tcp:2222:22"], "IPv4 address"),
])
def test_interface_refuses_bad_forwards_in_one_line_leaving_the_file(tmp_path: Path, args: list[str],
                                                                     words: str) -> None:
    path = domain_file(tmp_path)
    before = path.read_bytes()
    line = one_error_line(run("interface", *args, "--domain", str(path), "-i"))
    assert words in line
    assert path.read_bytes() == before


def test_forward_needs_a_domain_to_live_in() -> None:
    line = one_error_line(run("interface", "--type", "network", "--source", "n", "--forward", "tcp:2222:22"))
    assert "--forward" in line and "--domain FILE" in line


def test_edit_adds_and_removes_forwards(tmp_path: Path) -> None:
    path = domain_file(tmp_path)
    assert run("interface", "--type", "network", "--source", "natnet", "--mac", "52:54:00:00:00:01",
               "--domain", str(path), "-i").exit_code == 0
    plain = path.read_text()
    result = run("edit", str(path), "--add-forward", "tcp:2222:22", "--add-forward", "udp:53:53", "-i")
    assert result.exit_code == 0, result.stderr
    assert [w.spec() for w in forwards_of(path, "52:54:00:00:00:01")[1]] == ["tcp:2222:22", "udp:53:53"]
    assert "overlaps forward tcp:2222:22" in one_error_line(run("edit", str(path), "--add-forward",
                                                                "tcp:2222:2222", "-i"))
    assert "has no such forward" in one_error_line(run("edit", str(path), "--remove-forward", "tcp:2222:23"))
    result = run("edit", str(path), "--remove-forward", "tcp:2222:22", "--remove-forward", "udp:53:53", "-i")
    assert result.exit_code == 0, result.stderr
    # the emptied entry and metadata go too
    def squeezed(text: str) -> str:
        return re.sub(r">\s+<", "><", text)

    assert "metadata" not in path.read_text() and squeezed(path.read_text()) == squeezed(plain)


def test_edit_refuses_a_forward_on_an_interface_not_on_a_network(tmp_path: Path) -> None:
    path = domain_file(tmp_path)
    assert run("interface", "--type", "bridge", "--source", "br0", "--domain", str(path), "-i").exit_code == 0
    assert "type network" in one_error_line(run("edit", str(path), "--add-forward", "tcp:2222:22"))


def lint_run(tmp_path: Path, files: dict[str, str]) -> list[tuple[str, str]]:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return [(Path(f.path).name, f.code) for f in lint_paths([str(tmp_path)], libvirt_schemas=False)
            if f.code.startswith("forward")]


def with_forward(tmp_path: Path, name: str, mac: str, spec: str, ip: str | None = None) -> str:
    path = domain_file(tmp_path / "build", name) if (tmp_path / "build").is_dir() else None
    if path is None:
        (tmp_path / "build").mkdir()
        path = domain_file(tmp_path / "build", name)
    args = ["interface", "--type", "network", "--source", "natnet", "--mac", mac, "--forward", spec]
    args += ["--ip", ip] if ip else []
    assert run(*args, "--domain", str(path), "-i").exit_code == 0
    return path.read_text()


def test_lint_finds_a_host_port_two_domains_forward_and_addresses_outside_the_network(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    files = {
        "net.xml": NET,
        "a.xml": with_forward(tmp_path, "a", "52:54:00:00:00:01", "tcp:2222:22", "192.168.150.11"),
        "b.xml": with_forward(tmp_path, "b", "52:54:00:00:00:02", "tcp:2200-2230:2200-2230"),   # DHCP host
        "c.xml": with_forward(tmp_path, "c", "52:54:00:00:00:03", "udp:53:53"),                 # no address
        "d.xml": with_forward(tmp_path, "d", "52:54:00:00:00:04", "udp:54:53", "10.0.0.4"),
        "e.xml": with_forward(tmp_path, "e", "52:54:00:00:00:05", "udp:55:53", "192.168.150.12"),  # b's
        "f.xml": with_forward(tmp_path, "f", "52:54:00:00:00:06", "udp:56:53", "192.168.150.1"),   # host
    }
    assert sorted(lint_run(run_dir, files)) == [
        ("b.xml", "forward-duplicate"), ("c.xml", "forward-no-address"), ("d.xml", "forward-address"),
        ("e.xml", "forward-address"), ("f.xml", "forward-address")]


def test_lint_without_the_network_file_checks_only_the_duplicates(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    files = {"a.xml": with_forward(tmp_path, "a", "52:54:00:00:00:01", "tcp:2222:22", "10.0.0.1"),
             "c.xml": with_forward(tmp_path, "c", "52:54:00:00:00:03", "udp:2222:22")}
    assert lint_run(run_dir, files) == []
