"""Two hooks for the same domain at once (repair beside release) never corrupt state."""

from __future__ import annotations

import pytest

from tests.concurrency.same_domain import race

pytestmark = pytest.mark.timeout(240)

ITERATIONS = 10


def test_repair_beside_release(tmp_path):
    outcome = race(tmp_path, ITERATIONS)
    assert outcome.failures == [] and outcome.clean == ITERATIONS
