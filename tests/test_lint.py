"""The lint driver: kinds, bad input, duplicates across files, libvirt's schemas, metadata."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from tests.support import require
from xmltools import checks, schema
from xmltools.errors import InputError
from xmltools.lint import Finding, Linter, collect_files, has_errors, lint_paths
from xmltools.xmlparse import MAX_INPUT_BYTES

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "lint"
LIBVIRT_SCHEMAS = schema.LIBVIRT_SCHEMA_DIR.joinpath("domain.rng").is_file()

NETWORK = """<network>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <bridge name="virbr9"/>
  <mac address="{mac}"/>
  <ip address="192.168.9.1" prefix="24"/>
</network>
"""


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def test_kind_comes_from_the_root_element(tmp_path: Path) -> None:
    # Not a libvirt document at all: passed over (a note under --verbose), not a finding.
    doc = tmp_path / "pom.xml"
    doc.write_text("<project>\n<modelVersion>4.0.0</modelVersion>\n</project>\n")
    linter = Linter()
    assert linter.lint_file(str(doc)) == []
    assert linter.passed_over == [(str(doc), "<project> is not a libvirt document")]


def test_malformed_xml_reports_its_line() -> None:
    [finding] = Linter().lint_bytes(b"<network>\n<name>x</name>\n<bridge>\n</network>\n", "bad.xml")
    assert (finding.path, finding.line) == ("bad.xml", 4)
    assert (finding.code, finding.severity) == ("xml-malformed", "error")


def test_doctype_is_refused() -> None:
    data = b'<!DOCTYPE network [<!ENTITY x "y">]>\n<network><name>&x;</name></network>'
    [finding] = Linter().lint_bytes(data, "evil.xml")
    assert finding.code == "xml-unsafe"


def test_too_large_input_is_a_finding(tmp_path: Path) -> None:
    doc = tmp_path / "huge.xml"
    doc.write_bytes(b"<network><name>x</name>" + b" " * MAX_INPUT_BYTES + b"</network>")
    [finding] = Linter().lint_file(str(doc))
    assert finding.code == "input-too-large"


def test_standalone_interface_is_checked() -> None:
    findings = Linter().lint_bytes(b"<interface type='direct'>\n<source dev='ens256' mode='vepa'/>\n"
                                   b"<mac address='01:00:00:00:00:01'/>\n</interface>", "nic.xml")
    assert codes(findings) == ["mac-multicast"]
    assert findings[0].line == 3


def test_duplicates_across_files_name_the_first_file(tmp_path: Path) -> None:
    first, second = tmp_path / "a.xml", tmp_path / "b.xml"
    first.write_text(NETWORK.format(name="lab", uuid="c7a5fdbd-edaf-9455-926a-d65c16db1809",
                                    mac="52:54:00:00:09:01"))
    second.write_text(NETWORK.format(name="lab", uuid="C7A5FDBD-EDAF-9455-926A-D65C16DB1809",
                                     mac="52:54:00:00:09:01"))
    findings = lint_paths([str(tmp_path)], libvirt_schemas=False)
    assert all(f.path == str(second) for f in findings)
    assert [(f.line, f.code) for f in findings] == [(2, "duplicate"), (3, "duplicate"), (5, "duplicate")]
    assert f"is already used at {first}:2" in findings[0].message
    assert "network name lab" in findings[0].message
    assert "network UUID" in findings[1].message
    assert f"MAC address 52:54:00:00:09:01 is already used at {first}:5" in findings[2].message


def test_each_run_starts_afresh(tmp_path: Path) -> None:
    doc = tmp_path / "a.xml"
    doc.write_text(NETWORK.format(name="lab", uuid="c7a5fdbd-edaf-9455-926a-d65c16db1809",
                                  mac="52:54:00:00:09:01"))
    assert lint_paths([str(doc)]) == []
    assert lint_paths([str(doc)]) == []
    assert lint_paths([str(doc), str(doc)], libvirt_schemas=False) == []   # one file, read once
    twin = tmp_path / "b.xml"
    twin.write_bytes(doc.read_bytes())
    assert codes(lint_paths([str(doc), str(twin)], libvirt_schemas=False)) == ["duplicate"] * 3


def test_collect_files_recurses_sorted_and_refuses_missing(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "z.xml").write_text("<network/>")
    (tmp_path / "a.xml").write_text("<network/>")
    (tmp_path / "notes.txt").write_text("not xml")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.xml").write_text("<network/>")
    assert collect_files([str(tmp_path)]) == [str(tmp_path / "a.xml"), str(tmp_path / "b" / "z.xml")]
    with pytest.raises(InputError):
        collect_files([str(tmp_path / "missing.xml")])


def test_finding_formats() -> None:
    finding = Finding("n.xml", 7, "warning", "ip-mode", "a message")
    assert str(finding) == "n.xml:7: warning: a message [ip-mode]"
    assert finding.to_dict() == {"path": "n.xml", "line": 7, "severity": "warning", "code": "ip-mode",
                                 "message": "a message"}
    assert not has_errors([finding])


def test_findings_come_in_line_order() -> None:
    findings = Linter(libvirt_schemas=False).lint_file(str(FIXTURES / "fail" / "metadata-domain.xml"))
    lines = [f.line for f in findings]
    assert lines == sorted(lines)


# -- libvirt's schemas ----------------------------------------------------------------------------


def test_libvirt_schema_rejection_our_checks_miss_is_a_disagreement() -> None:
    require(LIBVIRT_SCHEMAS, "libvirt's schemas installed")
    # libvirt's grammar only knows four DUID types; ours takes any colon-separated octets.
    doc = (b"<network>\n<name>v6</name>\n<ip family='ipv6' address='fd00::1' prefix='64'>\n<dhcp>\n"
           b"<host id='0:9:1:2:3:4' name='odd' ip='fd00::9'/>\n</dhcp>\n</ip>\n</network>\n")
    assert Linter(libvirt_schemas=False).lint_bytes(doc, "v6.xml") == []
    findings = Linter().lint_bytes(doc, "v6.xml")
    assert codes(findings) == ["libvirt-schema", "schema-disagreement"]
    assert findings[0].severity == "error" and findings[1].severity == "warning"


def test_our_schema_stricter_than_libvirts_is_a_disagreement() -> None:
    require(LIBVIRT_SCHEMAS, "libvirt's schemas installed")
    doc = b"<network>\n<name>two\nlines</name>\n</network>\n"
    assert codes(Linter().lint_bytes(doc, "n.xml")) == ["schema", "schema-disagreement"]


def test_both_schemas_rejecting_is_reported_once() -> None:
    require(LIBVIRT_SCHEMAS, "libvirt's schemas installed")
    doc = b"<network>\n<name>x</name>\n<forward mode='tunnel'/>\n</network>\n"
    assert codes(Linter().lint_bytes(doc, "n.xml")) == ["schema"]


def test_whole_domains_against_libvirt_only_on_request() -> None:
    require(LIBVIRT_SCHEMAS, "libvirt's schemas installed")
    # Not a valid libvirt domain (a vcpu count that is not a number), but its interface is fine.
    doc = (b"<domain type='kvm'>\n<name>d</name>\n<memory>1024</memory>\n<vcpu>many</vcpu>\n<devices>\n"
           b"<interface type='network'><source network='default'/></interface>\n</devices>\n</domain>\n")
    assert Linter().lint_bytes(doc, "d.xml") == []
    assert codes(Linter(libvirt_schemas=True).lint_bytes(doc, "d.xml")) == ["libvirt-schema"]


def test_domain_interface_rejected_by_both_is_reported_once() -> None:
    require(LIBVIRT_SCHEMAS, "libvirt's schemas installed")
    path = str(FIXTURES / "fail" / "domain.xml")
    assert "libvirt-schema" not in codes(Linter(libvirt_schemas=True).lint_file(path))
    assert Linter(libvirt_schemas=True).lint_file(str(FIXTURES / "pass" / "domain.xml")) == []


# -- xmlschema stays off the path of documents without the project's metadata -------------------------


@pytest.mark.parametrize(("fixture", "imported"), [
    ("pass/domain.xml", False),
    ("pass/metadata-domain.xml", True),
])
def test_xmlschema_is_imported_only_for_metadata(fixture: str, imported: bool) -> None:
    code = ("import sys; from xmltools.lint import Linter; "
            f"found = Linter().lint_file({str(FIXTURES / fixture)!r}); "
            "print(len(found), 'xmlschema' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["0", str(imported)]


def test_libvirt_complaint_already_explained_by_a_check_is_not_repeated() -> None:
    require(LIBVIRT_SCHEMAS, "libvirt's schemas installed")
    doc = (b"<network>\n<name>v</name>\n<forward mode='hostdev'><pf dev='ens224'/></forward>\n"
           b"<vlan><tag id='5000'/></vlan>\n</network>\n")
    assert schema.validate_libvirt("network", etree.fromstring(doc))  # libvirt's schema refuses it too
    assert codes(Linter().lint_bytes(doc, "n.xml")) == ["vlan-id-range"]


GARBAGE = ["", "zz", "-1", "99999999999999999999", "::", "0x", "a/b c"]


ALL_FIXTURES = sorted((FIXTURES / "fail").glob("*.xml")) + sorted((FIXTURES / "pass").glob("*.xml"))


@pytest.mark.parametrize("fixture", ALL_FIXTURES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_garbage_attribute_values_never_crash_lint(fixture: Path) -> None:
    """Every attribute of every fixture, replaced by junk one at a time: findings, no exception."""
    original = etree.parse(str(fixture)).getroot()
    positions = [(i, name) for i, node in enumerate(original.iter()) if isinstance(node.tag, str)
                 for name in node.attrib]
    assert positions
    linter = Linter(libvirt_schemas=False)
    for index, name in positions:
        for junk in GARBAGE:
            root = etree.fromstring(etree.tostring(original))
            node = list(root.iter())[index]
            node.set(name, junk)
            findings = linter.lint_tree(root, "mutant.xml")
            assert all(f.severity in ("error", "warning") and f.line >= 1 for f in findings)


def _issue_codes(report: checks.Report) -> list[tuple[int, str, str]]:
    return [(i.line, i.severity, i.code) for i in report.issues]


DOMAIN_WITH_TWO_NICS = etree.fromstring(
    b"<domain>\n<devices>\n<interface type='user'>\n<model type='virtio'/>\n</interface>\n"
    b"<interface type='user'>\n<model type='e1000'/>\n</interface>\n</devices>\n</domain>")


def test_domain_disagreement_when_only_ours_rejects_an_interface() -> None:
    report = checks.Report()
    Linter._compare_domain(DOMAIN_WITH_TWO_NICS, [schema.SchemaError(4, "ours")], [], report)
    assert _issue_codes(report) == [(4, "warning", "schema-disagreement")]


def test_domain_disagreement_when_only_libvirt_rejects_an_interface() -> None:
    report = checks.Report()
    Linter._compare_domain(DOMAIN_WITH_TWO_NICS, [], [schema.SchemaError(7, "theirs")], report)
    assert _issue_codes(report) == [(7, "error", "libvirt-schema"), (7, "warning", "schema-disagreement")]


def test_domain_agreement_on_the_same_interface_or_an_enclosing_element() -> None:
    for their_line in (3, 4, 2, 1):  # the interface, a child of it, <devices>, <domain>
        report = checks.Report()
        Linter._compare_domain(DOMAIN_WITH_TWO_NICS, [schema.SchemaError(4, "ours")],
                               [schema.SchemaError(their_line, "theirs")], report)
        assert report.issues == [], their_line


def test_libvirt_complaint_elsewhere_in_the_domain_is_not_a_disagreement() -> None:
    report = checks.Report()
    Linter._compare_domain(DOMAIN_WITH_TWO_NICS, [], [schema.SchemaError(10, "theirs")], report)
    assert _issue_codes(report) == [(10, "error", "libvirt-schema")]


# -- what a run reads: regular files only, each once --------------------------------------

def test_collect_takes_each_file_once_and_notes_what_it_skips(tmp_path: Path) -> None:
    import os

    from xmltools.lint import collect

    (tmp_path / "sub").mkdir()
    (tmp_path / "a.xml").write_text("<network/>")
    os.link(tmp_path / "a.xml", tmp_path / "sub" / "hard.xml")          # same file, second name
    (tmp_path / "sub" / "same.xml").symlink_to("../a.xml")               # link inside the run
    (tmp_path / "sub" / "out.xml").symlink_to("/etc/hostname")           # link to elsewhere
    (tmp_path / "sub" / "gone.xml").symlink_to("missing.xml")
    os.mkfifo(tmp_path / "sub" / "pipe.xml")
    found = collect([str(tmp_path), str(tmp_path / "sub")])
    assert found.files == [(str(tmp_path / "a.xml"), False)]
    assert found.skipped == [
        (str(tmp_path / "sub" / "pipe.xml"), "a FIFO, not a regular file"),
        (str(tmp_path / "sub" / "gone.xml"), "a symbolic link to nothing"),
        (str(tmp_path / "sub" / "out.xml"), "a symbolic link to a file this run does not lint; "
                                            "links in folders are not followed"),
    ]


def test_a_link_named_on_the_command_line_is_followed(tmp_path: Path) -> None:
    from xmltools.lint import collect

    (tmp_path / "real.xml").write_text(NETWORK.format(name="lab", uuid="c7a5fdbd-edaf-9455-926a-d65c16db1809",
                                                      mac="52:54:00:00:09:01"))
    (tmp_path / "link.xml").symlink_to("real.xml")
    found = collect([str(tmp_path / "link.xml")])
    assert found.files == [(str(tmp_path / "link.xml"), True)]
    assert lint_paths([str(tmp_path / "link.xml")], libvirt_schemas=False) == []


def test_lint_file_reads_no_link_unless_named(tmp_path: Path) -> None:
    (tmp_path / "real.xml").write_text("<network/>")
    (tmp_path / "link.xml").symlink_to("real.xml")
    linter = Linter(libvirt_schemas=False)
    assert linter.lint_file(str(tmp_path / "link.xml"), named=False) == []
    assert linter.skipped == [(str(tmp_path / "link.xml"), "a symbolic link, not followed")]
    assert codes(linter.lint_file(str(tmp_path / "link.xml"))) == ["schema"]


def test_lint_file_skips_a_folder_named_like_a_file(tmp_path: Path) -> None:
    (tmp_path / "odd.xml").mkdir()
    linter = Linter(libvirt_schemas=False)
    assert linter.lint_file(str(tmp_path / "odd.xml")) == []
    assert linter.skipped == [(str(tmp_path / "odd.xml"), "a folder, not a regular file")]
