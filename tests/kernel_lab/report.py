"""Which guest tests exist, and what the guest's JUnit report says about each of them.

The host lists the guest tests by reading their source (no import: they need the lab's kernel),
so it knows what to expect before the guest runs and notices a test that never reported.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from xmltools.xmlparse import parse_file

GUEST_PACKAGE = "tests.kernel_lab.guest"


def guest_test_ids(folder: Path) -> list[str]:
    """``module::test`` and ``module::Class::test`` for each test function in ``folder``'s test files."""
    ids: list[str] = []
    for path in sorted(folder.glob("test_*.py")):
        module = ast.parse(path.read_text(), filename=str(path))
        for node in module.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
                ids.append(f"{path.stem}::{node.name}")
            elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                ids.extend(f"{path.stem}::{node.name}::{item.name}" for item in node.body
                           if isinstance(item, ast.FunctionDef) and item.name.startswith("test"))
    return ids


@dataclass(frozen=True)
class GuestResult:
    """One guest testcase: ``outcome`` is passed, failed, error or skipped."""

    test_id: str        # module::test, parameters stripped; just the module for an import error
    name: str           # the testcase name as pytest reported it, parameters included
    outcome: str
    message: str
    details: str
    seconds: float


def read_junit(path: Path) -> list[GuestResult]:
    """The testcases of a pytest JUnit report written inside the guest."""
    results: list[GuestResult] = []
    for case in parse_file(str(path)).getroot().iter("testcase"):
        classname, name = case.get("classname", ""), case.get("name", "")
        prefix = GUEST_PACKAGE + "."
        if not classname:
            # A module that failed to import: pytest reports it as one case named by the module.
            test_id = name[len(prefix):] if name.startswith(prefix) else name
        else:
            parts = (classname[len(prefix):] if classname.startswith(prefix) else classname).split(".")
            test_id = "::".join([*parts, name.split("[", 1)[0]])
        outcome, message, details = "passed", "", ""
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                message, details = found.get("message", ""), found.text or ""
                break
        results.append(GuestResult(test_id, name, outcome, message, details,
                                   float(case.get("time", "0") or 0)))
    return results
