"""No ``shell=True``, ``os.system`` or ``os.popen`` anywhere in the tracked Python sources.

A command line built from XML values and run by a shell is how a guest owner's bridge name
becomes root's command; every subprocess in the project gets an argv list instead. The scan
reads the syntax tree, so the words in comments, strings and this file do not count.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

from tests.support import require

ROOT = Path(__file__).resolve().parents[2]


def _python_files() -> list[Path]:
    """Tracked *.py files (git ls-files), plus untracked ones not ignored: new code counts too."""
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
                             cwd=ROOT, capture_output=True, text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.CalledProcessError):
        out = ""
    require(bool(out.strip()), "a git checkout of the project (git ls-files)")
    return [ROOT / line for line in out.splitlines() if line and (ROOT / line).is_file()]


def shell_uses(source: str) -> list[tuple[int, str]]:
    """(line, what) for every shell=True keyword and os.system/os.popen call in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    found.append((node.lineno, "shell=" + ast.unparse(kw.value)))
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ("system", "popen", "spawnlp", "spawnvp") \
                    and isinstance(func.value, ast.Name) and func.value.id == "os":
                found.append((node.lineno, f"os.{func.attr}("))
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            for alias in node.names:
                if alias.name in ("system", "popen"):
                    found.append((node.lineno, f"from os import {alias.name}"))
    return sorted(found)


def test_scanner_finds_what_it_looks_for() -> None:
    """Control: the scanner flags each forbidden form, and not the safe ones."""
    bad = ("import os, subprocess\nsubprocess.run('ls', shell=True)\nos.system('ls')\n"
           "os.popen('ls')\nsubprocess.Popen(x, shell=flag)\nfrom os import system\n")
    assert [what for _, what in shell_uses(bad)] == [
        "shell=True", "os.system(", "os.popen(", "shell=flag", "from os import system"]
    safe = ("import subprocess\nsubprocess.run(['ls'], shell=False)\n# shell=True os.system(\n"
            "x = 'shell=True'\n")
    assert shell_uses(safe) == []


def test_no_shell_in_tracked_python() -> None:
    files = _python_files()
    assert len(files) > 20  # the scan really covers the tree
    offenders = []
    for path in files:
        try:
            source = path.read_text(encoding="utf-8")
            found = shell_uses(source)
        except (SyntaxError, UnicodeDecodeError) as exc:
            pytest.fail(f"{path.relative_to(ROOT)} cannot be parsed: {exc}")
        offenders += [f"{path.relative_to(ROOT)}:{line}: {what}" for line, what in found]
    assert not offenders, "shell use found:\n" + "\n".join(offenders)


def test_no_shell_text_in_shipped_modules() -> None:
    """Belt and braces for the shipped packages: not even the text, in case of exec/eval tricks."""
    for package in ("xmltools", "hooks"):
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            for needle in ("shell=True", "os.system(", "os.popen("):
                assert needle not in text, f"{path.relative_to(ROOT)} contains {needle}"
