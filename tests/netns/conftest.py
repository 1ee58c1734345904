"""Fixtures for the adapter contract tests: a throw-away namespace entered by the test thread,
and a private Open vSwitch inside one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netns.harness import entered, have_tools, netns, ovs_in_netns
from tests.support import require


def require_root_and(*tools: str) -> None:
    require(os.geteuid() == 0, "root (network namespaces)")
    require(have_tools(*tools), "programs " + ", ".join(tools))


@pytest.fixture
def inside_netns() -> Iterator[str]:
    """A fresh namespace that this test's thread lives in until the test ends."""
    require_root_and("ip")
    with netns("vnxtest") as ns, entered(ns):
        yield ns


@pytest.fixture(scope="module")
def ovs_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(namespace, ovsdb socket) of an OVS started for this module; bridges are per test."""
    require_root_and("ip", "ovs-vsctl", "ovsdb-server", "ovsdb-tool", "ovs-vswitchd")
    tmp: Path = tmp_path_factory.mktemp("ovs")
    with netns("vnxtest") as ns, ovs_in_netns(ns, tmp) as db:
        yield ns, db
