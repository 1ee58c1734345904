"""Output contracts checked for one input, shared by the property tests and the fuzz targets."""

from __future__ import annotations

import json

from tests.robustness.runner import assert_findings_format, run_cli


def check_lint(data: bytes, fmt: str = "text") -> int:
    """Lint ``data`` from stdin; assert the output contract; return the exit status."""
    argv = ["lint", "-"] if fmt == "text" else ["lint", "--format", "json", "-"]
    result = run_cli(argv, stdin=data)
    assert "Traceback" not in result.stderr
    assert result.code in (0, 1, 2), (result.code, result.stderr)
    if result.code == 2:
        assert len(result.stderr.splitlines()) == 1, result.stderr
        return 2
    if fmt == "json":
        findings = json.loads(result.text)
        assert isinstance(findings, list)
        for f in findings:
            assert set(f) >= {"path", "line", "severity", "message", "code"}
            assert f["severity"] in ("error", "warning") and isinstance(f["line"], int)
        errors = any(f["severity"] == "error" for f in findings)
    else:
        lines = assert_findings_format(result.text)
        errors = any(": error: " in line for line in lines)
    assert (result.code == 1) == errors, (result.code, result.text[:500])
    return result.code
