"""Shared test options: ``--regenerate`` rewrites golden files instead of comparing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regenerate", action="store_true",
                     help="rewrite golden files under fixtures/ with the current output")


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """Compare text with a golden file under fixtures/, or rewrite it with --regenerate."""
    regenerate = request.config.getoption("--regenerate")

    def check(relpath: str, actual: str) -> None:
        path = FIXTURES / relpath
        if regenerate:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(actual)
            return
        assert path.exists(), f"golden file {relpath} is missing: run pytest --regenerate"
        assert actual == path.read_text(), f"output differs from fixtures/{relpath}"

    return check


def require(condition: bool, what: str) -> None:
    """A missing prerequisite: fail under CI, skip on a developer machine."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"prerequisite missing in CI: {what}")
    pytest.skip(f"prerequisite missing: {what}")
