"""Run ``virt-netxml`` in-process (fast, for many inputs) or as a real subprocess.

In-process runs go through ``xmltools.cli.main.main`` exactly as the console script does, with
standard streams swapped for buffers; an exception that escapes ``main`` is what a user would
see as a traceback, so it is re-raised and fails the calling test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
#: ``path:line: error|warning: message [code]`` (lint's documented text format).
FINDING_RE = re.compile(r"^.+:\d+: (error|warning): .+ \[[a-z0-9-]+\]$")


@dataclass
class Result:
    code: int
    stdout: bytes
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")


def run_cli(argv: list[str], stdin: bytes = b"") -> Result:
    """``virt-netxml ARGV`` in this process; exceptions other than SystemExit propagate."""
    from xmltools.cli.main import main

    runner = CliRunner()
    with runner.isolation(input=stdin) as streams:
        out, err = streams[0], streams[1]
        try:
            # The console script does sys.exit(main()): a returned int is the exit status.
            returned = main(argv)
            code = returned if isinstance(returned, int) else 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        sys.stdout.flush()
        sys.stderr.flush()
        return Result(code, out.getvalue(), err.getvalue().decode("utf-8", "replace"))


def run_subprocess(argv: list[str], stdin: bytes = b"", timeout: float = 30.0,
                   program: str = "virt-netxml", cwd: Path | None = None) -> Result:
    """``PROGRAM ARGV`` as a child process from the project's virtual environment."""
    exe = VENV_BIN / program
    cmd = [str(exe), *argv] if exe.exists() else [sys.executable, "-m", "xmltools.cli.main", *argv]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout, env=env,
                          cwd=cwd or ROOT, check=False)
    return Result(proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace"))


def assert_one_line_error(result: Result, code: int = 2) -> None:
    """The CLI contract for bad input: given exit code, one line on stderr, no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.code == code, (result.code, result.stderr, result.stdout[:300])
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert lines[0].startswith("virt-netxml: error: "), lines[0]


def assert_findings_format(text: str) -> list[str]:
    """Every stdout line of ``lint`` matches the documented finding format; returns the lines."""
    lines = text.splitlines()
    for line in lines:
        assert FINDING_RE.match(line), f"finding line not in the documented format: {line!r}"
    return lines
