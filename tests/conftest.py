"""Shared test options: ``--regenerate`` rewrites golden files instead of comparing."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


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
