"""Agreement with libvirt 9.0 and 11.3 on their own test files, and with the installed schemas.

The ground truth comes from libvirt, never from our code:
- tests/networkxml2xmltest.c says which networks in tests/networkxml2xmlin its parser must
  refuse (DO_TEST_PARSE_ERROR); every other listed network must parse. Lint must reject the
  former (at least one error) and accept the latter (no error; warnings are allowed).
- libvirt's installed domain.rng says which domains of tests/qemuxml2argvdata are valid; every
  <interface> of those must pass our interface grammar and checks.
- The project's golden fixtures (fixtures/networks, fixtures/interfaces, fixtures/domains, as
  other parts of the project add them) must get the same verdict from our grammar as from
  libvirt's schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from tests.support import require
from xmltools import schema, versions
from xmltools.lint import Linter

ROOT = Path(__file__).resolve().parent.parent
HAVE_SCHEMAS = schema.LIBVIRT_SCHEMA_DIR.joinpath("domain.rng").is_file()


# How each release's test domains sort (see domain_corpus): checked, parse error (net-*), no
# interface, refused by libvirt's schema.
CORPUS_9_0 = (102, 1, 961, 6)
CORPUS_11_3 = (46, 3, 0, 0)


@dataclass(frozen=True)
class Corpus:
    """One libvirt release's test files, linted with --libvirt-version set to that release."""

    version: str
    src: Path
    domains: str                # the folder of its QEMU test domains
    domain_glob: str            # which of them are input documents
    domain_rng: Path            # the domain schema of the same release
    domain_test: str            # its test program, which lists the domains its parser refuses
    network_files: int
    parse_errors: int
    domain_files: int
    sorted_counts: tuple[int, int, int, int]   # see CORPUS_9_0

    @property
    def tests(self) -> Path:
        return self.src / "tests"

    @property
    def networks(self) -> Path:
        return self.tests / "networkxml2xmlin"

    @property
    def target(self) -> tuple[int, int, int]:
        return versions.parse(self.version)

    def present(self) -> bool:
        return self.networks.is_dir() and (self.tests / self.domains).is_dir()

    def domain_paths(self) -> list[Path]:
        # qemuxmlconfdata (10.x on) holds inputs (net-x.xml) beside outputs (net-x.x86_64-latest.xml)
        found = sorted((self.tests / self.domains).glob(self.domain_glob))
        return [p for p in found if p.name.count(".") == 1] if self.domains == "qemuxmlconfdata" else found


CORPORA = {
    # libvirt 9.0 (Debian 12): setup.sh unpacks the bookworm source package into .cache/libvirt-src;
    # its domains are judged by the installed (9.0) schemas, as libvirt's own tests do.
    "9.0": Corpus("9.0", ROOT / ".cache" / "libvirt-src", "qemuxml2argvdata", "*.xml",
                  schema.LIBVIRT_SCHEMA_DIR / "domain.rng", "qemuxml2argvtest.c", 46, 4, 1070,
                  CORPUS_9_0),
    # libvirt 11.3 (Debian 13): the trixie source package in .cache/libvirt-src-11.3; the
    # net-* domains of tests/qemuxmlconfdata, judged by the schemas of the same source tree.
    "11.3": Corpus("11.3", ROOT / ".cache" / "libvirt-src-11.3", "qemuxmlconfdata", "net-*.xml",
                   ROOT / ".cache" / "libvirt-src-11.3" / "src" / "conf" / "schemas" / "domain.rng",
                   "qemuxmlconftest.c", 47, 4, 49, CORPUS_11_3),
}
VERSIONS = list(CORPORA)


@cache
def libvirt_network_expectations(version: str) -> dict[str, bool]:
    """name -> True if libvirt's test program expects its parser to accept the network."""
    source = (CORPORA[version].tests / "networkxml2xmltest.c").read_text()
    expected: dict[str, bool] = {}
    for macro, name in re.findall(r"\b(DO_TEST(?:_FLAGS|_PARSE_ERROR)?)\(\"([^\"]+)\"", source):
        expected[name] = macro != "DO_TEST_PARSE_ERROR"
    return expected


def network_cases() -> list[tuple[str, str]]:
    cases = []
    for version, corpus in CORPORA.items():
        names = sorted(p.name for p in corpus.networks.glob("*.xml")) if corpus.present() else []
        cases += [(version, n) for n in names or ["(corpus missing)"]]
    return cases


@cache
def libvirt_domain_schema(version: str) -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(CORPORA[version].domain_rng)))


def have_domain_schema(version: str) -> bool:
    return CORPORA[version].domain_rng.is_file()


@cache
def domain_parse_errors(version: str) -> frozenset[str]:
    """The test domains libvirt's QEMU test program expects its parser (and validation) to refuse:
    every DO_TEST..._PARSE_ERROR... entry."""
    source = (CORPORA[version].tests / CORPORA[version].domain_test).read_text()
    return frozenset(re.findall(r"\bDO_TEST\w*PARSE_ERROR\w*\(\s*\"([^\"]+)\"", source))


@cache
def domain_corpus(version: str) -> dict[str, list[str]]:
    """libvirt's test domains sorted by what they can show: those with an <interface> that
    libvirt's own schema accepts are a claim about our interface checks (accepted, or, where its
    test program expects a parse error, refused); the rest are counted."""
    corpus = CORPORA[version]
    kinds: dict[str, list[str]] = {"checked": [], "parse error": [], "no interface": [],
                                   "refused by libvirt": []}
    if not (corpus.present() and have_domain_schema(version)):
        return kinds
    refused = domain_parse_errors(version)
    for path in corpus.domain_paths():
        tree = etree.parse(str(path))
        if tree.getroot().find("devices/interface") is None:
            kinds["no interface"].append(path.name)
        elif not libvirt_domain_schema(version).validate(tree):
            kinds["refused by libvirt"].append(path.name)
        elif path.name.removesuffix(".xml") in refused and path.name.startswith("net-"):
            # the net-* cases are about interfaces; the others (5 in 9.0) fail on something
            # else (machine, PCI expander bus, boot order), and their interfaces must pass
            kinds["parse error"].append(path.name)
        else:
            kinds["checked"].append(path.name)
    return kinds


def domain_cases() -> list[tuple[str, str]]:
    cases = []
    for version in CORPORA:
        cases += [(version, n) for n in domain_corpus(version)["checked"] or ["(corpus or schemas missing)"]]
    return cases


def _require_corpus(version: str) -> Corpus:
    corpus = CORPORA[version]
    require(corpus.present(), f"libvirt {version}'s source tree at {corpus.src} (setup.sh unpacks it)")
    return corpus


@pytest.mark.parametrize("version", VERSIONS)
def test_corpus_is_complete(version: str) -> None:
    corpus = _require_corpus(version)
    expected = libvirt_network_expectations(version)
    assert len(list(corpus.networks.glob("*.xml"))) == len(expected) == corpus.network_files
    assert sum(not ok for ok in expected.values()) == corpus.parse_errors
    assert len(corpus.domain_paths()) == corpus.domain_files


@pytest.mark.parametrize("version,name", network_cases())
def test_network_verdict_matches_libvirts_parser(version: str, name: str) -> None:
    corpus = _require_corpus(version)
    expected = libvirt_network_expectations(version)
    stem = name.removesuffix(".xml")
    assert stem in expected, f"{name} is not listed in networkxml2xmltest.c"
    linter = Linter(libvirt_schemas=False, libvirt_version=corpus.target)
    errors = [f for f in linter.lint_file(str(corpus.networks / name)) if f.severity == "error"]
    if expected[stem]:
        assert errors == [], f"libvirt {version} parses {name}, lint rejects it"
    else:
        assert errors, f"libvirt {version} refuses {name}, lint accepts it"


@pytest.mark.parametrize("version", VERSIONS)
def test_domain_corpus_is_sorted_into_what_can_be_checked(version: str) -> None:
    """One test for the domains that have nothing to check, with their numbers: a domain without
    <interface>, or one libvirt's own schema refuses, says nothing about our interface checks."""
    corpus = _require_corpus(version)
    require(have_domain_schema(version), f"libvirt {version}'s schemas at {corpus.domain_rng}")
    kinds = domain_corpus(version)
    assert sum(len(v) for v in kinds.values()) == len(corpus.domain_paths()) == corpus.domain_files
    assert tuple(len(v) for v in kinds.values()) == corpus.sorted_counts


@pytest.mark.parametrize("version,name", domain_cases())
def test_interfaces_of_valid_domains_are_accepted(version: str, name: str) -> None:
    corpus = _require_corpus(version)
    require(have_domain_schema(version), f"libvirt {version}'s schemas at {corpus.domain_rng}")
    path = corpus.tests / corpus.domains / name
    tree = etree.parse(str(path))
    assert libvirt_domain_schema(version).validate(tree)   # sorted so at collection
    spans = [(i.sourceline, max(n.sourceline for n in i.iter()))
             for i in tree.getroot().iterfind("devices/interface")]
    findings = Linter(libvirt_schemas=False, libvirt_version=corpus.target).lint_file(str(path))
    on_interfaces = [f for f in findings
                     if f.severity == "error" and any(lo <= f.line <= hi for lo, hi in spans)]
    assert on_interfaces == []


def parse_error_cases() -> list[tuple[str, str]]:
    cases = []
    for version in CORPORA:
        names = domain_corpus(version)["parse error"]
        cases += [(version, n) for n in names or ["(corpus or schemas missing)"]]
    return cases


@pytest.mark.parametrize("version,name", parse_error_cases())
def test_interfaces_libvirts_parser_refuses_are_rejected(version: str, name: str) -> None:
    """A schema-valid net-* domain that libvirt's test program expects to fail to parse: lint
    rejects one of its interfaces (rx_queue_size, portForward without passt, vhost-user without
    shared memory on 11.3)."""
    corpus = _require_corpus(version)
    require(have_domain_schema(version), f"libvirt {version}'s schemas at {corpus.domain_rng}")
    assert name.startswith("net-")
    path = corpus.tests / corpus.domains / name
    tree = etree.parse(str(path))
    spans = [(i.sourceline, max(n.sourceline for n in i.iter()))
             for i in tree.getroot().iterfind("devices/interface")]
    findings = Linter(libvirt_schemas=False, libvirt_version=corpus.target).lint_file(str(path))
    assert any(f.severity == "error" and any(lo <= f.line <= hi for lo, hi in spans) for f in findings)


@pytest.mark.parametrize("name", ["hostdev-pf-driver-model.xml"])
def test_newer_vocabulary_is_a_needs_libvirt_finding_for_9_0(name: str) -> None:
    """The 11.3 corpus linted for libvirt 9.0: what 9.0 does not know is named, with its version."""
    corpus = _require_corpus("11.3")
    findings = Linter(libvirt_schemas=False, libvirt_version=(9, 0, 0)).lint_file(str(corpus.networks / name))
    assert [f.code for f in findings if f.severity == "error"] == ["needs-libvirt"]
    assert "libvirt 10.0.0" in findings[0].message and "libvirt 9.0.0" in findings[0].message


def golden_fixtures() -> list[str]:
    found = []
    for folder in ("networks", "interfaces", "domains"):
        found += [str(p.relative_to(ROOT)) for p in sorted((ROOT / "fixtures" / folder).rglob("*.xml"))]
    return found or ["(no golden fixtures yet)"]


@pytest.mark.parametrize("relpath", golden_fixtures())
def test_golden_fixture_same_verdict_as_libvirts_schema(relpath: str) -> None:
    require(HAVE_SCHEMAS, "libvirt's schemas in /usr/share/libvirt/schemas")
    if relpath.startswith("("):
        pytest.skip("no golden fixtures under fixtures/networks, fixtures/interfaces, fixtures/domains")
    root = etree.parse(str(ROOT / relpath)).getroot()
    if root.tag == "network":
        ours = schema.validate("network", root) == []
        theirs = schema.validate_libvirt("network", root) == []
    elif root.tag == "interface":
        ours = schema.validate("interface", root) == []
        theirs = libvirt_domain_schema("9.0").validate(_wrap_in_domain(root))
    elif root.tag == "domain":
        interfaces = root.findall("devices/interface")
        ours = all(schema.validate("interface", i) == [] for i in interfaces)
        theirs = libvirt_domain_schema("9.0").validate(root)
        if not theirs and ours:
            # libvirt judges the whole domain, our grammar only its interfaces: then libvirt's
            # complaint must be about something outside every interface.
            line = schema.explain(libvirt_domain_schema("9.0").error_log, root).line
            spans = [(i.sourceline, max(n.sourceline for n in i.iter())) for i in interfaces]
            assert not any(lo <= line <= hi for lo, hi in spans), f"libvirt objects to line {line}"
            return
    else:
        pytest.skip(f"<{root.tag}> is not a network, interface or domain")
    assert ours == theirs, f"virt-netxml's grammar says {ours}, libvirt's says {theirs}"


def _wrap_in_domain(interface: etree._Element) -> etree._Element:
    domain = etree.fromstring(b"<domain type='kvm'><name>wrap</name><memory>1024</memory>"
                              b"<os><type>hvm</type></os><devices/></domain>")
    domain.find("devices").append(etree.fromstring(etree.tostring(interface)))
    return domain
