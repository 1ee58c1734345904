"""Fixtures for the OVN tests: a two-chassis OVN lab per test module (tests/ovn/harness.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.ovn.harness import TOOLS, OvnLab, ovn_lab, tools_present
from tests.support import require


def require_ovn() -> None:
    require(os.geteuid() == 0, "root (network namespaces)")
    require(tools_present(), "OVN and OVS programs and schemas (" + ", ".join(TOOLS) + ")")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OvnLab]:
    """An OVN central and two chassis, shared by the tests of one module."""
    require_ovn()
    with ovn_lab(tmp_path_factory.mktemp("ovnlab"), chassis=2) as running:
        yield running
