"""The long-budget fuzz runner (fuzz/run_long.py) works: a short run of each target with the
standard-library engine tries the inputs it was asked for and finds no failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from fuzz import run_long
from fuzz.targets import TARGETS

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_short_random_run(name: str, tmp_path: Path) -> None:
    result = run_long.run_random(name, tmp_path, seconds=None, runs=120, seed=7)
    assert result["tried"] == 120
    assert result["failures"] == 0, sorted((tmp_path / "failures").glob("*.txt"))
    assert sum(result["outcomes"].values()) == 120


def test_targets_reject_a_contract_violation(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Control: a round trip that loses a node is reported as a failure, with the input saved."""
    import tests.robustness.roundtrip as roundtrip

    real = roundtrip.document_text

    def lossy(doc, style=None):  # renames <name>: the input's <name> is then missing
        return real(doc, style).replace("<name>", "<nom>").replace("</name>", "</nom>")

    monkeypatch.setattr(roundtrip, "document_text", lossy)
    result = run_long.run_random("roundtrip", tmp_path, seconds=None, runs=20, seed=7)
    assert result["failures"] > 0
    assert list((tmp_path / "failures").glob("*.bin"))


def test_main_prints_the_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = run_long.main(["--runs", "30", "--engine", "random", "--targets", "lint", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "lint" in out and " 30 " in out
