"""Run one fuzz target under atheris (libFuzzer), counting inputs and contract violations.

    python fuzz/atheris_main.py TARGET STATS.json FAILURES_DIR [libFuzzer options] [CORPUS_DIR...]

A violation does not stop the run: the input is saved under FAILURES_DIR and counted, so one
run reports every distinct failure it meets. STATS.json is rewritten every 200 inputs and at
exit with ``{"tried": N, "failures": F, "outcomes": {...}}``.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import sys
import traceback
from collections import Counter
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

with atheris.instrument_imports(include=["xmltools", "hooks", "tests.robustness"]):
    from fuzz.targets import TARGETS


def main() -> None:
    name, stats_path, failures_dir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    target = TARGETS[name]
    failures_dir.mkdir(parents=True, exist_ok=True)
    stats = {"tried": 0, "failures": 0}
    outcomes: Counter[str] = Counter()

    def save() -> None:
        stats_path.write_text(json.dumps({**stats, "outcomes": dict(outcomes)}))

    def one_input(data: bytes) -> None:
        stats["tried"] += 1
        try:
            outcomes[target(data)] += 1
        except Exception:  # noqa: BLE001 - every escape is a finding, recorded and counted
            stats["failures"] += 1
            digest = hashlib.sha1(data).hexdigest()[:16]
            (failures_dir / f"{name}-{digest}.bin").write_bytes(data)
            (failures_dir / f"{name}-{digest}.txt").write_text(traceback.format_exc())
        if stats["tried"] % 200 == 0:
            save()

    atexit.register(save)
    atheris.Setup([sys.argv[0], *sys.argv[4:]], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
