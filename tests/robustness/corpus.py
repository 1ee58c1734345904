"""Real documents to mutate: the project's fixtures, libvirt's network test inputs and the
captured hook calls. Paths are relative to the repository root (libvirt's tree is created by
setup.sh under .cache/)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIBVIRT_NETWORKS = ROOT / ".cache/libvirt-src/tests/networkxml2xmlin"
HOOK_CAPTURES = Path("/work/shared/libvirt-hook-captures")


@cache
def seed_documents() -> tuple[bytes, ...]:
    """Every fixture and libvirt network input, sorted by path so runs are repeatable."""
    paths = sorted((ROOT / "fixtures").rglob("*.xml")) + sorted(LIBVIRT_NETWORKS.glob("*.xml"))
    return tuple(p.read_bytes() for p in paths)


HOOK_FIXTURES = ROOT / "fixtures" / "hooks"


def hook_capture_dir() -> Path:
    """The captured hook inputs: the copy under fixtures/hooks/, else the shared folder."""
    local = HOOK_FIXTURES / "captures"
    return local if local.is_dir() else HOOK_CAPTURES


def hook_variant(name: str) -> bytes:
    """A metadata-bearing variant of a capture (fixtures/hooks/variants/NAME)."""
    return (HOOK_FIXTURES / "variants" / name).read_bytes()


@cache
def hook_captures() -> tuple[tuple[str, str, str, bytes], ...]:
    """(driver, operation, sub-operation, stdin) for each capture, from its file name
    ``NN-<driver>-<object>-<operation>-<sub-operation>.xml``."""
    out = []
    for path in sorted(hook_capture_dir().glob("*.xml")):
        parts = path.stem.split("-")
        driver, sub = parts[1], parts[-1]
        operation = "-".join(parts[3:-1])
        out.append((driver, operation, sub, path.read_bytes()))
    return tuple(out)
