"""Run the fuzz targets for a long budget and print how many inputs each tried and how many failed.

    .venv/bin/python fuzz/run_long.py                         # every target, 180 s each
    .venv/bin/python fuzz/run_long.py --seconds 600 --targets hooks
    .venv/bin/python fuzz/run_long.py --runs 100000 --engine random

Engines: ``atheris`` (coverage-guided libFuzzer, ``pip install atheris``; used when importable)
and ``random`` (seeded random mutations of the seed inputs, standard library only). Failing
inputs are saved under ``OUT/<target>/failures/`` with their traceback; replay one with
``--replay FILE``. The exit status is 1 when any target had a failure.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import re
import subprocess
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

TARGET_NAMES = ("lint", "roundtrip", "hooks")
_MARKUP = [b"<", b">", b"&", b"'", b'"', b"<!DOCTYPE x>", b"&x;", b"\x00", b"\xff", b"<!--", b"-->",
           b" zz='1'", b"<zz/>", b"<vlan><tag id='5000'/></vlan>", b"9" * 20, b"\n"]


def mutate(rng: random.Random, data: bytes) -> bytes:
    """1-4 random byte or markup mutations (the random engine's only operator)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        pos = rng.randint(0, len(out))
        kind = rng.randrange(6)
        if kind == 0:
            del out[pos:]
        elif kind == 1:
            del out[pos: pos + rng.randint(1, 40)]
        elif kind == 2:
            out[pos:pos] = out[pos: pos + rng.randint(1, 200)]
        elif kind == 3:
            out[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif kind == 4 and out:
            out[min(pos, len(out) - 1)] ^= 1 << rng.randrange(8)
        else:
            out[pos:pos] = rng.choice(_MARKUP)
    return bytes(out)


def _record_failure(folder: Path, name: str, data: bytes) -> None:
    import hashlib

    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(data).hexdigest()[:16]
    (folder / f"{name}-{digest}.bin").write_bytes(data)
    (folder / f"{name}-{digest}.txt").write_text(traceback.format_exc())


def run_random(name: str, out: Path, seconds: float | None, runs: int | None, seed: int) -> dict:
    """The standard-library engine: mutate seed inputs at random, in this process."""
    from fuzz.seeds import seeds
    from fuzz.targets import TARGETS

    target, pool, rng = TARGETS[name], seeds(name), random.Random(seed)
    outcomes: Counter[str] = Counter()
    tried = failures = 0
    deadline = time.monotonic() + seconds if seconds else None
    while (runs is None or tried < runs) and (deadline is None or time.monotonic() < deadline):
        base = rng.choice(pool)
        data = base if tried < len(pool) else mutate(rng, base)
        tried += 1
        try:
            outcomes[target(data)] += 1
        except Exception:  # noqa: BLE001 - recorded and counted, the run goes on
            failures += 1
            _record_failure(out / "failures", name, data)
    return {"tried": tried, "failures": failures, "outcomes": dict(outcomes)}


def run_atheris(name: str, out: Path, seconds: float | None, runs: int | None, seed: int) -> dict:
    """libFuzzer via atheris in a child process, seeded with the target's seed inputs."""
    from fuzz.seeds import seeds

    corpus = out / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(seeds(name)):
        (corpus / f"seed-{i:04d}").write_bytes(data)
    stats = out / "stats.json"
    stats.unlink(missing_ok=True)
    options = [f"-seed={seed}", "-max_len=65536", "-timeout=30", "-rss_limit_mb=3072", "-print_final_stats=1"]
    options.append(f"-max_total_time={int(seconds)}" if seconds else f"-runs={runs}")
    cmd = [sys.executable, str(HERE / "atheris_main.py"), name, str(stats), str(out / "failures"), *options,
           str(corpus)]
    budget = (seconds or 3600) * 2 + 120
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=budget, check=False)
    (out / "libfuzzer.log").write_text(proc.stderr)
    result = json.loads(stats.read_text()) if stats.exists() else {"tried": 0, "failures": 0, "outcomes": {}}
    executed = re.findall(r"stat::number_of_executed_units:\s*(\d+)", proc.stderr)
    if executed:
        result["tried"] = max(result["tried"], int(executed[-1]))
    result["failures"] = len(list((out / "failures").glob("*.bin"))) if (out / "failures").exists() else 0
    if proc.returncode != 0 and "libFuzzer: timeout" in proc.stderr:
        result["failures"] += 1
        result["timeout"] = True
    result["coverage"] = (re.findall(r"cov: (\d+)", proc.stderr) or ["?"])[-1]
    return result


def replay(path: Path, name: str) -> int:
    from fuzz.targets import TARGETS

    print(TARGETS[name](path.read_bytes()))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", default=",".join(TARGET_NAMES),
                        help="comma-separated: lint,roundtrip,hooks")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--seconds", type=float, help="time per target (default 180)")
    budget.add_argument("--runs", type=int, help="number of inputs per target")
    parser.add_argument("--engine", choices=("auto", "atheris", "random"), default="auto")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("/tmp/virt-netxml-fuzz"))
    parser.add_argument("--replay", type=Path, help="run one saved input through --targets (one target)")
    args = parser.parse_args(argv)
    names = [n for n in args.targets.split(",") if n]
    if unknown := set(names) - set(TARGET_NAMES):
        parser.error(f"unknown target(s): {', '.join(sorted(unknown))}")
    if args.replay:
        return replay(args.replay, names[0])
    seconds = args.seconds if args.seconds or args.runs else 180.0
    engine = args.engine
    if engine == "auto":
        engine = "atheris" if importlib.util.find_spec("atheris") else "random"
    run = run_atheris if engine == "atheris" else run_random
    print(f"{'target':<10} {'engine':<8} {'seconds':>8} {'inputs':>9} {'failures':>8}  outcomes")
    total_failures = 0
    for name in names:
        out = args.out / name
        started = time.monotonic()
        result = run(name, out, seconds, args.runs, args.seed)
        elapsed = time.monotonic() - started
        total_failures += result["failures"]
        top = ", ".join(f"{k} {v}" for k, v in Counter(result["outcomes"]).most_common(5))
        print(f"{name:<10} {engine:<8} {elapsed:>8.0f} {result['tried']:>9} {result['failures']:>8}  {top}",
              flush=True)
        if result["failures"]:
            print(f"           failing inputs and tracebacks: {out / 'failures'}")
    return 1 if total_failures else 0


if __name__ == "__main__":
    sys.exit(main())
