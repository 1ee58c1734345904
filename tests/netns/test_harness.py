"""The namespace/OVS harness cleans up after itself, also when the body fails."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.netns.conftest import require_root_and
from tests.netns.harness import OvsDaemons, _alive, entered, ip, netns, ovs_in_netns, vsctl

pytestmark = pytest.mark.netns


class Boom(Exception):
    pass


def _exists(ns: str) -> bool:
    return ns in ip("netns", "list").stdout.split()


def test_netns_is_deleted_even_when_the_body_fails() -> None:
    require_root_and("ip")
    with pytest.raises(Boom), netns("vnxtest") as ns:
        assert _exists(ns)
        assert ip("link", "show", "lo", ns=ns).stdout.count("UP") >= 1
        raise Boom()
    assert not _exists(ns)


def test_entered_switches_this_thread_and_back() -> None:
    require_root_and("ip")
    mine = os.readlink("/proc/thread-self/ns/net")
    with netns("vnxtest") as ns:
        with entered(ns):
            inside = os.readlink("/proc/thread-self/ns/net")
            # Children started here live in the namespace too.
            assert ip("link", "show").stdout.count(": lo:") == 1
            assert "eth0" not in ip("link", "show").stdout
        assert inside != mine
        assert os.readlink("/proc/thread-self/ns/net") == mine


def test_ovs_daemons_are_stopped_by_pid_even_when_the_body_fails(tmp_path: Path, monkeypatch) -> None:
    require_root_and("ip", "ovs-vsctl", "ovsdb-server", "ovsdb-tool", "ovs-vswitchd")
    started: list[OvsDaemons] = []
    original = OvsDaemons.start

    def spy(self: OvsDaemons, *args: str) -> None:
        original(self, *args)
        if self not in started:
            started.append(self)

    monkeypatch.setattr(OvsDaemons, "start", spy)
    pids: dict[str, int] = {}
    with pytest.raises(Boom), netns("vnxtest") as ns, ovs_in_netns(ns, tmp_path) as db:
        pids = dict(started[0].pids)
        assert set(pids) == {"ovsdb-server", "ovs-vswitchd"}
        assert all(_alive(pid) for pid in pids.values())
        vsctl(db, "add-br", "hb0", "--", "set", "Bridge", "hb0", "datapath_type=netdev")
        assert "hb0" in vsctl(db, "list-br").split()
        raise Boom()
    assert pids and not any(_alive(pid) for pid in pids.values())
    # Everything the daemons wrote stayed in the private folder.
    assert (tmp_path / "ovs" / "conf.db").exists()
