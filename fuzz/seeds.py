"""Seed inputs for each fuzz target, in the target's byte layout (see targets.py)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.robustness.corpus import hook_captures, seed_documents  # noqa: E402

VARIANTS = ROOT / "fixtures" / "hooks" / "variants"
_OPS = ("prepare", "start", "started", "stopped", "release", "migrate", "restore", "reconnect",
        "port-created", "port-deleted", "updated")


def _name_of(data: bytes) -> str:
    return data.split(b"<name>", 1)[1].split(b"</name>", 1)[0].decode() if b"<name>" in data else "x"


def seeds(target: str) -> list[bytes]:
    docs = list(seed_documents())
    if target == "lint":
        return docs
    if target == "roundtrip":
        return [bytes([bits, 0]) + doc for doc in docs for bits in (0x01, 0x0A, 0x32, 0x46, 0x8F)]
    if target == "hooks":
        out = []
        for driver, op, sub, data in hook_captures():
            out.append(f"{driver} {_name_of(data)} {op} {sub}\n".encode() + data)
        for path in sorted(VARIANTS.glob("*.xml")):
            driver, _, rest = path.stem.partition("-")
            rest = rest.partition("-")[2]
            op = max((o for o in _OPS if rest == o or rest.startswith(o + "-")), key=len, default="start")
            data = path.read_bytes()
            out.append(f"{driver} {_name_of(data)} {op} begin\n".encode() + data)
        return out
    raise KeyError(target)
