"""Every libvirt document kind: recognised by its root element, validated with libvirt's schema
for it (the installed one, or the target release's with --libvirt-schema-dir), a broken
document an error at its file and line, its valid twin clean; files that are not libvirt
documents, or not XML, passed over without being parsed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from tests.support import require
from xmltools import kinds, libvirt_tree, schema, versions
from xmltools.cli.main import cli
from xmltools.lint import Linter
from xmltools.xmlparse import MAX_INPUT_BYTES

ROOT = Path(__file__).resolve().parent.parent
DEBIAN13_SCHEMAS = ROOT / ".cache" / "debian13" / "usr" / "share" / "libvirt" / "schemas"

# kind -> (a valid document, the text that breaks it, its replacement, the line of the mistake)
CASES: dict[str, tuple[str, str, str, int]] = {
    "nwfilter": ("""<filter name='no-smtp' chain='ipv4' priority='-700'>
  <rule action='drop' direction='out' priority='500'>
    <tcp dstportstart='25'/>
  </rule>
</filter>
""", "action='drop'", "action='maybe'", 2),
    "storage pool": ("""<pool type='dir'>
  <name>images</name>
  <capacity unit='bytes'>0</capacity>
  <target>
    <path>/var/lib/libvirt/images</path>
  </target>
</pool>
""", "<capacity unit='bytes'>0<", "<capacity unit='bytes'>lots<", 3),
    "storage volume": ("""<volume>
  <name>disk.qcow2</name>
  <capacity unit='G'>10</capacity>
  <target>
    <format type='qcow2'/>
  </target>
</volume>
""", "<format type='qcow2'/>", "<format type='qcow2'/><format type='raw'/>", 5),
    "secret": ("""<secret ephemeral='no' private='yes'>
  <uuid>c3e5c6f2-4d0e-4a8e-9b8a-1f2e3d4c5b6a</uuid>
  <usage type='volume'>
    <volume>/var/lib/libvirt/images/disk.qcow2</volume>
  </usage>
</secret>
""", "<usage type='volume'>", "<usage type='telepathy'>", 3),
    "domain snapshot": ("""<domainsnapshot>
  <name>before-upgrade</name>
  <description>a clean state</description>
  <memory snapshot='no'/>
</domainsnapshot>
""", "snapshot='no'", "snapshot='sometimes'", 4),
    "domain checkpoint": ("""<domaincheckpoint>
  <name>c1</name>
  <disks>
    <disk name='vda' checkpoint='bitmap'/>
  </disks>
</domaincheckpoint>
""", "checkpoint='bitmap'", "checkpoint='maybe'", 4),
    "node device": ("""<device>
  <name>net_eth0_52_54_00_12_34_56</name>
  <parent>computer</parent>
  <capability type='net'>
    <interface>up0</interface>
    <address>52:54:00:12:34:56</address>
  </capability>
</device>
""", "<address>52:54:00:12:34:56<", "<address>not-a-mac<", 6),
    # virsh -c test:///default iface-dumpxml eth1
    "host interface": ("""<interface type='ethernet' name='eth1'>
  <start mode='onboot'/>
  <mtu size='1492'/>
  <protocol family='ipv4'>
    <ip address='192.168.0.5' prefix='24'/>
    <route gateway='192.168.0.1'/>
  </protocol>
  <mac address='aa:bb:cc:dd:ee:ff'/>
</interface>
""", "mode='onboot'", "mode='sometimes'", 2),
}

# How a run is pointed at each release's schemas: the installed ones by default (the target
# being the installed libvirt), Debian 13's (libvirt 11.3) from the root setup.sh builds.
RELEASES = {
    "installed": [],
    "11.3": ["--libvirt-version", "11.3", "--libvirt-schema-dir", str(DEBIAN13_SCHEMAS)],
}


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIRT_NETXML_LIBVIRT_SCHEMAS", raising=False)
    monkeypatch.delenv(versions.ENV, raising=False)


def run(*args: str):
    return CliRunner().invoke(cli, ["lint", *args])


def require_release(release: str) -> list[str]:
    if release == "installed":
        require(schema.LIBVIRT_SCHEMA_DIR.joinpath("nwfilter.rng").is_file(), "libvirt's schemas installed")
    else:
        require(DEBIAN13_SCHEMAS.joinpath("nwfilter.rng").is_file(),
                "the Debian 13 root's libvirt schemas (tests/e2e/debian13-root.sh)")
    return RELEASES[release]


@pytest.mark.parametrize("release", list(RELEASES))
@pytest.mark.parametrize("kind", list(CASES))
def test_a_broken_document_is_an_error_at_its_line_and_its_twin_passes(
        tmp_path: Path, kind: str, release: str) -> None:
    options = require_release(release)
    good, old, new, line = CASES[kind]
    valid = tmp_path / "valid.xml"
    valid.write_text(good)
    broken = tmp_path / "broken.xml"
    broken.write_text(good.replace(old, new, 1))
    assert good.count(old) == 1

    result = run(*options, "--format", "json", str(valid))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    assert "not validated" not in result.stderr   # validated, not passed over

    result = run(*options, str(broken))
    assert result.exit_code == 1, result.output
    [finding] = result.stdout.splitlines()
    assert finding.startswith(f"{broken}:{line}: error: libvirt's {kind} schema: ")
    assert finding.endswith(" [libvirt-schema]")


def test_each_kind_is_told_from_its_root_element() -> None:
    for kind, (good, *_rest) in CASES.items():
        found = kinds.kind_of(etree.fromstring(good))
        assert found is not None and found[0] == kind
    for document in ("<network/>", "<domain type='kvm'/>", "<interface type='network'/>", "<project/>"):
        assert kinds.kind_of(etree.fromstring(document)) is None   # lint's own path, or not libvirt's


@pytest.mark.parametrize(("document", "host"), [
    ("<interface type='ethernet' name='up0'/>", True),
    ("<interface type='bond' name='bond0'><bond><interface type='ethernet' name='up0'/></bond>"
     "</interface>", True),
    ("<interface type='vlan'><vlan tag='42'><interface name='up0'/></vlan></interface>", True),
    ("<interface type='bridge' name='br0'><bridge><interface type='ethernet' name='up0'/></bridge>"
     "</interface>", True),
    ("<interface type='ethernet'><start mode='onboot'/></interface>", True),
    ("<interface type='bridge'><source bridge='br0'/><model type='virtio'/></interface>", False),
    ("<interface type='ethernet'><target dev='tap0'/></interface>", False),
    ("<interface type='network'><source network='default'/><vlan><tag id='42'/></vlan></interface>", False),
])
def test_host_and_guest_interfaces_are_told_apart(document: str, host: bool) -> None:
    assert kinds.is_host_interface(etree.fromstring(document)) is host


def test_a_guest_interface_keeps_the_projects_grammar_and_checks(tmp_path: Path) -> None:
    doc = tmp_path / "nic.xml"
    doc.write_text("<interface type='network'>\n  <source network='default'/>\n"
                   "  <mac address='01:00:5e:00:00:01'/>\n</interface>\n")
    result = run("--format", "json", str(doc))
    assert result.exit_code == 1
    assert [(f["line"], f["code"]) for f in json.loads(result.stdout)] == [(3, "mac-multicast")]


def test_without_libvirts_schemas_the_other_kinds_are_a_note_not_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema, "LIBVIRT_SCHEMA_DIR", tmp_path / "no-schemas")
    for index, kind in enumerate(("nwfilter", "nwfilter", "secret")):
        broken = CASES[kind][0].replace(CASES[kind][1], CASES[kind][2])
        (tmp_path / f"{index}.xml").write_text(broken)
    result = run(str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "virt-netxml: note: 2 nwfilter documents not validated: libvirt's schemas are not installed "
        f"({tmp_path / 'no-schemas'})",
        f"virt-netxml: note: {tmp_path / '2.xml'} (secret) not validated: libvirt's schemas are not "
        f"installed ({tmp_path / 'no-schemas'})",
    ]


def test_installed_schemas_older_than_the_target_are_not_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require(schema.LIBVIRT_SCHEMA_DIR.joinpath("nwfilter.rng").is_file(), "libvirt's schemas installed")
    monkeypatch.setattr(versions, "_INSTALLED", [(9, 0, 0)])
    broken = tmp_path / "f.xml"
    broken.write_text(CASES["nwfilter"][0].replace(CASES["nwfilter"][1], CASES["nwfilter"][2]))
    result = run("--libvirt-version", "11.3", str(broken))
    assert result.exit_code == 0, result.output
    assert ("not validated: the installed schemas are libvirt 9.0.0's, older than the target 11.3.0"
            in result.stderr)
    # The same or an older target: the installed schemas judge it.
    for target in ("9.0", "8.0"):
        assert run("--libvirt-version", target, str(broken)).exit_code == 1


def test_a_schema_folder_that_is_not_one_is_refused_in_one_line(tmp_path: Path) -> None:
    doc = tmp_path / "f.xml"
    doc.write_text(CASES["nwfilter"][0])
    result = run("--libvirt-schema-dir", str(tmp_path), str(doc))
    assert result.exit_code == 2
    assert result.stderr == (f"virt-netxml: error: {tmp_path}: not a folder of libvirt's schemas "
                             "(no basictypes.rng)\n")


def test_the_environment_names_the_schema_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_release("11.3")
    monkeypatch.setattr(schema, "LIBVIRT_SCHEMA_DIR", tmp_path / "no-schemas")
    broken = tmp_path / "f.xml"
    broken.write_text(CASES["secret"][0].replace(CASES["secret"][1], CASES["secret"][2]))
    assert run(str(broken)).exit_code == 0                      # not installed: a note
    monkeypatch.setenv("VIRT_NETXML_LIBVIRT_SCHEMAS", str(DEBIAN13_SCHEMAS))
    result = run(str(broken))
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{broken}:3: error: libvirt's secret schema: ")


# -- not libvirt's, not XML -----------------------------------------------------------------

def test_xml_that_is_not_a_libvirt_document_is_passed_over_with_a_note_under_verbose(tmp_path: Path) -> None:
    pom = tmp_path / "pom.xml"
    pom.write_text("<project xmlns='http://maven.apache.org/POM/4.0.0'>\n<modelVersion>4.0.0</modelVersion>\n"
                   "</project>\n")
    plain = tmp_path / "build.xml"
    plain.write_text("<project name='x'/>\n")
    quiet = run(str(tmp_path))
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")
    loud = run("--verbose", str(tmp_path))
    assert (loud.exit_code, loud.stdout) == (0, "")
    assert loud.stderr.splitlines() == [
        f"virt-netxml: note: {plain}: skipped: <project> is not a libvirt document",
        f"virt-netxml: note: {pom}: skipped: <project> is not a libvirt document",
    ]
    # Named on the command line (as pre-commit passes files): the same.
    assert run("--format", "json", str(pom)).stdout == "[]\n"


@pytest.mark.parametrize("head", [b"\x7fELF\x02\x01\x01\x00" + bytes(600), b"PK\x03\x04" + bytes(100),
                                  b"{% if x %}<network/>{% endif %}", b"\x00\x01\x02"])
def test_a_file_named_xml_that_is_not_xml_is_not_parsed(tmp_path: Path, head: bytes,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    doc = tmp_path / "blob.xml"
    doc.write_bytes(head + b"<network><name>x</name></network>")
    read: list[int] = []
    real_read = os.read

    def counting_read(fd: int, n: int) -> bytes:
        data = real_read(fd, n)
        read.append(len(data))
        return data

    monkeypatch.setattr(os, "read", counting_read)
    linter = Linter()
    assert linter.lint_file(str(doc), named=False) == []
    assert linter.passed_over == [(str(doc), "not XML")]
    assert sum(read) <= libvirt_tree.SNIFF_BYTES   # only the first bytes were read
    monkeypatch.undo()
    result = run("-v", str(tmp_path))
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == f"virt-netxml: note: {doc}: skipped: not XML\n"


@pytest.mark.parametrize(("head", "xml"), [
    (b"<?xml version='1.0'?><network/>", True), (b"\xef\xbb\xbf  \n<network/>", True),
    (b"\n\n<!-- a comment --><filter/>", True), (b"", True), (b"\xff\xfe<\x00n\x00", True),
    (b"network", False), (b"\x00<network/>", True), (b"#!/bin/sh\n", False), (b"<net\x00work/>", False),
])
def test_looks_like_xml(head: bytes, xml: bool) -> None:
    assert libvirt_tree.looks_like_xml(head) is xml


def test_a_huge_file_is_refused_from_its_size_without_reading_it(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    doc = tmp_path / "huge.xml"
    with open(doc, "wb") as fh:
        fh.truncate(MAX_INPUT_BYTES * 4)   # sparse: costs no disk
    read: list[int] = []
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: read.append(n) or real_read(fd, n))
    [finding] = Linter().lint_file(str(doc), named=False)
    assert finding.code == "input-too-large"
    assert read == []


def test_copies_of_a_document_share_a_verdict_but_each_keeps_its_path_and_line(tmp_path: Path) -> None:
    require_release("installed")
    good, old, new, line = CASES["nwfilter"]
    broken = good.replace(old, new)
    for host in ("a", "b"):
        (tmp_path / host).mkdir()
        (tmp_path / host / "f.xml").write_text(broken)
        (tmp_path / host / "ok.xml").write_text(good)
    (tmp_path / "c.xml").write_text("\n\n" + broken)            # the same element, two lines lower
    (tmp_path / "d.xml").write_text(broken.replace("no-smtp", "no-smtp2"))
    result = run("--format", "json", str(tmp_path))
    found = [(Path(f["path"]).relative_to(tmp_path).as_posix(), f["line"]) for f in json.loads(result.stdout)]
    assert found == [("a/f.xml", line), ("b/f.xml", line), ("c.xml", line + 2), ("d.xml", line)]
