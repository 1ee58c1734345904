"""The full text of every finding the semantic checks report on the failing lint fixtures.

tests/test_checks.py pins which (line, code) pairs each fixture yields; this pins the words the
user reads: the element named, the value quoted, the reason. One golden file per fixture under
fixtures/quality/check-messages/, rewritten only with ``pytest --regenerate`` after reading the
difference; a new failing fixture gets its file with ``pytest --regenerate -k NAME`` (create
an empty NAME.txt first). The metadata fixtures are not pinned yet: their checks are changing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from xmltools.lint import Linter
from xmltools.versions import BASELINE  # the fixtures are written for libvirt 9.0

ROOT = Path(__file__).resolve().parents[2]
FAIL = ROOT / "fixtures" / "lint" / "fail"
GOLDEN = ROOT / "fixtures" / "quality" / "check-messages"


def _pinned() -> list[str]:
    return sorted(p.stem for p in GOLDEN.glob("*.txt"))


def test_fixtures_with_pinned_messages_exist():
    assert len(_pinned()) >= 24
    assert all((FAIL / f"{name}.xml").exists() for name in _pinned())


@pytest.mark.parametrize("name", _pinned() or ["(none)"])
def test_finding_messages(name, golden):
    path = FAIL / f"{name}.xml"
    lines = [f"{f.line}: {f.severity} [{f.code}] {f.message}"
             for f in Linter(libvirt_schemas=False, libvirt_version=BASELINE).lint_file(str(path))]
    assert lines
    golden(f"quality/check-messages/{name}.txt", "\n".join(lines) + "\n")
