"""Semantic checks, driven by the documents under fixtures/lint/.

Each file in fixtures/lint/fail/ marks the lines where a finding is expected with a comment
``<!-- expect: CODE [CODE...] -->`` on that line; the lint run must report exactly those
(line, code) pairs. Each file in fixtures/lint/pass/ is the corrected twin and must produce no
finding at all. Expectations are written by hand in the fixtures, never derived from the code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree

from xmltools import checks, versions
from xmltools.lint import Linter

ROOT = Path(__file__).resolve().parent.parent
LINT_FIXTURES = ROOT / "fixtures" / "lint"
EXPECT = re.compile(r"<!-- expect: ([a-z0-9 -]+?) -->")

FAIL = sorted((LINT_FIXTURES / "fail").glob("*.xml"))
PASS = sorted((LINT_FIXTURES / "pass").glob("*.xml"))


def expectations(path: Path) -> set[tuple[int, str]]:
    expected = set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        m = EXPECT.search(line)
        if m:
            expected.update((number, code) for code in m.group(1).split())
    return expected


def found(path: Path) -> set[tuple[int, str]]:
    # Our checks alone: libvirt's schemas are compared in test_lint.py. The fixtures are
    # written for libvirt 9.0, whatever libvirt the machine running the tests has.
    linter = Linter(libvirt_schemas=False, libvirt_version=versions.BASELINE)
    return {(f.line, f.code) for f in linter.lint_file(str(path))}


@pytest.mark.parametrize("path", FAIL, ids=lambda p: p.stem)
def test_failing_fixture_reports_exactly_the_marked_findings(path: Path) -> None:
    expected = expectations(path)
    assert expected, f"{path.name} marks no expected finding"
    assert found(path) == expected


@pytest.mark.parametrize("path", PASS, ids=lambda p: p.stem)
def test_passing_fixture_is_clean(path: Path) -> None:
    assert found(path) == set()


def test_every_failing_fixture_has_a_passing_twin() -> None:
    assert {p.name for p in FAIL} == {p.name for p in PASS}


def test_every_check_code_has_a_failing_fixture() -> None:
    source = "\n".join(p.read_text() for p in sorted((ROOT / "xmltools" / "checks").glob("*.py")))
    # Codes are the string literal right after the node argument of report.error/warning.
    call = r"report\.(?:error|warning)\(\s*[^,()]+(?:\([^()]*\))?,\s*\"([a-z0-9-]+)\""
    used = set(re.findall(call, source))
    used.discard("duplicate")  # a cross-file check: see test_lint.py
    used.add("mac-malformed")  # chosen at run time next to mac-multicast
    assert len(used) > 40
    covered = {code for path in FAIL for _, code in expectations(path)}
    assert used - covered == set()


def test_severities_are_stable_per_code() -> None:
    severities: dict[str, set[str]] = {}
    for path in FAIL:
        for finding in Linter(libvirt_schemas=False).lint_file(str(path)):
            severities.setdefault(finding.code, set()).add(finding.severity)
    assert all(len(levels) == 1 for levels in severities.values()), severities
    assert severities["ip-mode"] == {"warning"}
    assert severities["dhcp-range-outside"] == {"error"}
    assert severities["mac-multicast"] == {"error"}


def test_messages_name_the_element() -> None:
    findings = Linter(libvirt_schemas=False).lint_file(str(LINT_FIXTURES / "fail" / "dhcp-range.xml"))
    outside = next(f for f in findings if f.code == "dhcp-range-outside")
    assert "<range start='192.168.161.2' end='192.168.161.20'>" in outside.message
    assert "192.168.160.0/24" in outside.message


@pytest.mark.parametrize(("mac", "problem"), [
    ("52:54:00:12:34:56", None),
    ("00:16:3E:AA:BB:CC", None),
    ("01:00:5e:00:00:01", "multicast"),
    ("ff:ff:ff:ff:ff:ff", "broadcast"),
    ("00:00:00:00:00:00", "all zero"),
    ("52:54:00:12:34", "malformed"),
    ("52-54-00-12-34-56", "malformed"),
    ("52:54:00:12:34:5g", "malformed"),
])
def test_mac_problem(mac: str, problem: str | None) -> None:
    result = checks.mac_problem(mac)
    if problem is None:
        assert result is None
    else:
        assert result is not None and problem in result


def _network(body: str) -> list[checks.Issue]:
    report = checks.Report()
    checks.check_network(etree.fromstring(f"<network><name>n</name>{body}</network>"), report)
    return report.issues


def test_classful_default_prefix_decides_the_subnet() -> None:
    # 10.0.0.1 without netmask or prefix is a /8 for libvirt: 10.200.0.5 is inside.
    inside = _network('<ip address="10.0.0.1"><dhcp><host mac="52:54:00:00:00:01" ip="10.200.0.5"/>'
                      "</dhcp></ip>")
    assert inside == []
    outside = _network('<ip address="192.168.1.1"><dhcp><host mac="52:54:00:00:00:01" ip="192.168.2.5"/>'
                       "</dhcp></ip>")
    assert [i.code for i in outside] == ["dhcp-host-outside"]


def test_ipv6_range_within_last_16_bits_is_accepted_and_wider_refused() -> None:
    ok = _network('<ip family="ipv6" address="fd00::1" prefix="64"><dhcp>'
                  '<range start="fd00::100" end="fd00::ffff"/></dhcp></ip>')
    assert ok == []
    wide = _network('<ip family="ipv6" address="fd00::1" prefix="64"><dhcp>'
                    '<range start="fd00::100" end="fd00::1:0"/></dhcp></ip>')
    assert [i.code for i in wide] == ["dhcp-range-too-large"]


def test_teaming_pair_may_share_a_mac() -> None:
    doc = etree.fromstring(
        "<domain><devices>"
        '<interface type="bridge"><mac address="52:54:00:00:00:01"/><source bridge="br0"/>'
        '<teaming type="persistent"/></interface>'
        '<interface type="hostdev"><mac address="52:54:00:00:00:01"/>'
        '<source><address type="pci" bus="0x03"/></source><teaming type="transient" persistent="ua-x"/>'
        "</interface></devices></domain>")
    report = checks.Report()
    checks.check_domain(doc, report)
    assert report.issues == []


def test_foreign_hypervisor_bridge_names_are_not_linux_names() -> None:
    doc = etree.fromstring('<domain type="vmware"><devices><interface type="bridge">'
                           '<source bridge="VM Network"/></interface></devices></domain>')
    report = checks.Report()
    checks.check_domain(doc, report)
    assert report.issues == []
    doc.set("type", "kvm")
    checks.check_domain(doc, report)
    assert [i.code for i in report.issues] == ["bridge-name"]


@pytest.mark.parametrize(("netmask", "valid"), [
    ("255.255.255.0", True), ("255.255.255.255", True), ("255.255.128.0", True), ("0.0.0.0", True),
    ("0.0.0.255", False),  # a host mask, which Python's ipaddress would accept as /24
    ("255.0.255.0", False), ("255.255.255.1", False), ("255.255.256.0", False),
])
def test_netmask_must_be_leading_ones(netmask: str, valid: bool) -> None:
    issues = _network(f'<ip address="192.168.1.1" netmask="{netmask}"/>')
    assert ([i.code for i in issues] == []) is valid
    if not valid:
        assert [i.code for i in issues] == ["ip-netmask-invalid"]
