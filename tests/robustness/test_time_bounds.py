"""Work grows with the input, not faster: a full VLAN trunk or a big document stays cheap."""

from __future__ import annotations

import time

import pytest

from tests.robustness.runner import run_cli
from xmltools.common import Vlan

pytestmark = pytest.mark.timeout(120)


def _best_of(runs: int, fn) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def test_vlan_trunk_build_is_linear() -> None:
    """Building 4094 tags costs about 8x building 512 (it was quadratic: ~64x, seconds per call)."""
    small = _best_of(3, lambda: Vlan.build(list(range(1, 513))))
    large = _best_of(3, lambda: Vlan.build(list(range(1, 4095))))
    assert large / small < 25, f"512 tags: {small:.4f}s, 4094 tags: {large:.4f}s"


def test_full_trunk_through_cli() -> None:
    start = time.perf_counter()
    result = run_cli(["interface", "--type", "bridge", "--source", "br0", "--virtualport", "openvswitch",
                      "--vlan", "1-4094"])
    elapsed = time.perf_counter() - start
    assert result.code == 0, result.stderr
    assert result.stdout.count(b"<tag id=") == 4094
    assert elapsed < 10, f"{elapsed:.1f}s for one trunk"


def test_lint_many_interfaces_in_bounded_time(tmp_path) -> None:
    """A 2 MB domain with 4000 interfaces lints in seconds, well under the hook deadline scale."""
    nics = "".join(f"<interface type='bridge'><mac address='52:54:00:00:{i // 256:02x}:{i % 256:02x}'/>"
                   f"<source bridge='br0'/></interface>" for i in range(4000))
    doc = (f"<domain type='kvm'><name>big</name><memory>1</memory><os><type>hvm</type></os>"
           f"<devices>{nics}</devices></domain>").encode()
    start = time.perf_counter()
    result = run_cli(["lint", "-"], stdin=doc)
    elapsed = time.perf_counter() - start
    assert result.code in (0, 1), result.stderr
    assert elapsed < 30, f"{elapsed:.1f}s"
