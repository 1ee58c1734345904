"""Agreement with libvirt 9.0 on its own test files, and with its installed schemas.

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
from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from tests.support import require
from xmltools import schema
from xmltools.lint import Linter

ROOT = Path(__file__).resolve().parent.parent
LIBVIRT_TESTS = ROOT / ".cache" / "libvirt-src" / "tests"
NETWORKS = LIBVIRT_TESTS / "networkxml2xmlin"
DOMAINS = LIBVIRT_TESTS / "qemuxml2argvdata"
HAVE_CORPUS = NETWORKS.is_dir() and DOMAINS.is_dir()
HAVE_SCHEMAS = schema.LIBVIRT_SCHEMA_DIR.joinpath("domain.rng").is_file()


@cache
def libvirt_network_expectations() -> dict[str, bool]:
    """name -> True if libvirt's test program expects its parser to accept the network."""
    source = (LIBVIRT_TESTS / "networkxml2xmltest.c").read_text()
    expected: dict[str, bool] = {}
    for macro, name in re.findall(r"\b(DO_TEST(?:_FLAGS|_PARSE_ERROR)?)\(\"([^\"]+)\"", source):
        expected[name] = macro != "DO_TEST_PARSE_ERROR"
    return expected


def network_files() -> list[str]:
    return sorted(p.name for p in NETWORKS.glob("*.xml")) if HAVE_CORPUS else ["(corpus missing)"]


def domain_files() -> list[str]:
    return sorted(p.name for p in DOMAINS.glob("*.xml")) if HAVE_CORPUS else ["(corpus missing)"]


@cache
def domain_corpus() -> dict[str, list[str]]:
    """libvirt's test domains sorted by what they can show: only those with an <interface> that
    libvirt's own schema accepts are a claim about our interface checks; the rest are counted."""
    kinds: dict[str, list[str]] = {"checked": [], "no interface": [], "refused by libvirt": []}
    if not (HAVE_CORPUS and HAVE_SCHEMAS):
        return kinds
    for name in domain_files():
        tree = etree.parse(str(DOMAINS / name))
        if tree.getroot().find("devices/interface") is None:
            kinds["no interface"].append(name)
        elif not libvirt_domain_schema().validate(tree):
            kinds["refused by libvirt"].append(name)
        else:
            kinds["checked"].append(name)
    return kinds


def checked_domain_files() -> list[str]:
    return domain_corpus()["checked"] or ["(corpus or schemas missing)"]


def test_corpus_is_complete() -> None:
    require(HAVE_CORPUS, f"libvirt's source tree at {LIBVIRT_TESTS} (setup.sh unpacks it)")
    expected = libvirt_network_expectations()
    assert len(list(NETWORKS.glob("*.xml"))) == len(expected) == 46
    assert sum(not ok for ok in expected.values()) == 4
    assert len(list(DOMAINS.glob("*.xml"))) == 1070


@pytest.mark.parametrize("name", network_files())
def test_network_verdict_matches_libvirts_parser(name: str) -> None:
    require(HAVE_CORPUS, f"libvirt's source tree at {LIBVIRT_TESTS}")
    expected = libvirt_network_expectations()
    stem = name.removesuffix(".xml")
    assert stem in expected, f"{name} is not listed in networkxml2xmltest.c"
    findings = Linter(libvirt_schemas=False).lint_file(str(NETWORKS / name))
    errors = [f for f in findings if f.severity == "error"]
    if expected[stem]:
        assert errors == [], f"libvirt parses {name}, lint rejects it"
    else:
        assert errors, f"libvirt refuses {name}, lint accepts it"


@cache
def libvirt_domain_schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(schema.LIBVIRT_SCHEMA_DIR / "domain.rng")))


def test_domain_corpus_is_sorted_into_what_can_be_checked() -> None:
    """One test for the domains that have nothing to check, with their numbers: a domain without
    <interface>, or one libvirt's own schema refuses, says nothing about our interface checks."""
    require(HAVE_CORPUS, f"libvirt's source tree at {LIBVIRT_TESTS}")
    require(HAVE_SCHEMAS, "libvirt's schemas in /usr/share/libvirt/schemas")
    kinds = domain_corpus()
    assert sum(len(v) for v in kinds.values()) == len(domain_files()) == 1070
    # libvirt 9.0's tests/qemuxml2argvdata, as setup.sh unpacks it
    assert {k: len(v) for k, v in kinds.items()} == {
        "checked": CHECKED_DOMAINS, "no interface": NO_INTERFACE_DOMAINS,
        "refused by libvirt": REFUSED_DOMAINS}


CHECKED_DOMAINS, NO_INTERFACE_DOMAINS, REFUSED_DOMAINS = 103, 961, 6


@pytest.mark.parametrize("name", checked_domain_files())
def test_interfaces_of_valid_domains_are_accepted(name: str) -> None:
    require(HAVE_CORPUS, f"libvirt's source tree at {LIBVIRT_TESTS}")
    require(HAVE_SCHEMAS, "libvirt's schemas in /usr/share/libvirt/schemas")
    path = DOMAINS / name
    tree = etree.parse(str(path))
    assert libvirt_domain_schema().validate(tree)   # sorted so at collection
    spans = [(i.sourceline, max(n.sourceline for n in i.iter()))
             for i in tree.getroot().iterfind("devices/interface")]
    findings = Linter(libvirt_schemas=False).lint_file(str(path))
    on_interfaces = [f for f in findings
                     if f.severity == "error" and any(lo <= f.line <= hi for lo, hi in spans)]
    assert on_interfaces == []


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
        theirs = libvirt_domain_schema().validate(_wrap_in_domain(root))
    elif root.tag == "domain":
        interfaces = root.findall("devices/interface")
        ours = all(schema.validate("interface", i) == [] for i in interfaces)
        theirs = libvirt_domain_schema().validate(root)
        if not theirs and ours:
            # libvirt judges the whole domain, our grammar only its interfaces: then libvirt's
            # complaint must be about something outside every interface.
            line = schema.explain(libvirt_domain_schema().error_log, root).line
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
