"""Helpers shared by test modules."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, what: str) -> None:
    """A missing prerequisite: fail under CI, skip on a developer machine."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"prerequisite missing in CI: {what}")
    pytest.skip(f"prerequisite missing: {what}")


DOMAINS = Path(__file__).resolve().parent.parent / "fixtures" / "domains"


def copy_domain(tmp_path: Path, name: str = "keepsake.xml") -> Path:
    """A private copy of a fixture domain, for commands that edit files in place."""
    target = tmp_path / name
    shutil.copy(DOMAINS / name, target)
    return target


def one_error_line(result: Any) -> str:
    """Assert a click result is a bad-input refusal: exit 2, nothing on stdout, one stderr line."""
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("virt-netxml: error: ")
    assert "Traceback" not in result.stderr
    return lines[0]
