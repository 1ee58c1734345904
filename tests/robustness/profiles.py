"""Hypothesis settings for the robustness suite.

``ci`` is derandomized (the same examples on every run) with a modest budget, so the suite is
repeatable and stays well under two minutes on a 2-core machine. ``long`` draws fresh random
examples with a large budget for a manual soak: ``VNX_FUZZ_PROFILE=long pytest tests/robustness``.
The profiles are applied per test (``@ci_settings(...)``) rather than loaded globally, so the
rest of the test tree keeps its own Hypothesis settings.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]


def register() -> None:
    """Register the ``ci`` and ``long`` profiles (idempotent)."""
    settings.register_profile("ci", derandomize=True, max_examples=150, deadline=None, database=None,
                              suppress_health_check=_SLOW_OK, print_blob=True)
    settings.register_profile("long", derandomize=False, max_examples=20_000, deadline=None,
                              database=None, suppress_health_check=_SLOW_OK, print_blob=True)


register()


def ci_settings(max_examples: int) -> settings:
    """Settings for one property: the ci budget ``max_examples``, or the long profile's budget."""
    name = os.environ.get("VNX_FUZZ_PROFILE", "ci")
    parent = settings.get_profile(name)
    if name == "ci":
        return settings(parent, max_examples=max_examples)
    return settings(parent)
