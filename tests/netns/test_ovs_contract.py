"""OvsPort contract: OvsAdapter against a private ovsdb-server + ovs-vswitchd (userspace datapath)
in a throw-away namespace, and FakeOvs, through the same tests. Read-back on the real side also
uses plain ``ovs-vsctl get``, independent of the adapter's parser."""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hooks.adapters.ovs import OvsAdapter
from hooks.errors import HostError, HostTimeout, NotFound
from hooks.ports import OvsKeyChange, OvsPortSettings, OvsVlanChange
from tests.fakes import FakeOvs
from tests.netns.harness import add_ovs_bridge, have_tools, ip, vsctl
from tests.support import require
from xmltools.errors import InvalidValue


class RealOvs:
    def __init__(self, ns: str, db: str) -> None:
        self.ns, self.db = ns, db
        self.port = OvsAdapter(db=db, timeout=5)
        self.bridges: list[str] = []
        self.taps: list[str] = []
        # Names unique per test: the OVS instance is shared by the module.
        self.suffix = secrets.token_hex(2)

    def name(self, base: str) -> str:
        return f"{base}{self.suffix}"

    def bridge(self, name: str) -> None:
        add_ovs_bridge(self.db, name)
        self.bridges.append(name)

    def tap(self, name: str) -> None:
        ip("tuntap", "add", name, "mode", "tap", ns=self.ns)
        self.taps.append(name)

    def column(self, port: str, column: str) -> str:
        return vsctl(self.db, "get", "Port", port, column).strip()

    def cleanup(self) -> None:
        for bridge in self.bridges:
            vsctl(self.db, "--if-exists", "del-br", bridge)
        for tap in self.taps:
            ip("link", "del", tap, ns=self.ns, check=False)


class FakeSide:
    def __init__(self) -> None:
        self.port = FakeOvs()

    def name(self, base: str) -> str:
        return base

    def bridge(self, name: str) -> None:
        self.port.add_bridge(name)

    def tap(self, name: str) -> None:
        pass

    def column(self, port: str, column: str) -> str:
        # ovs-vsctl's own syntax, so the same assertions hold on both sides.
        settings = self.port.port_settings(port)
        value = getattr(settings, column)
        if value is None or value == ():
            return "[]"
        if isinstance(value, tuple):
            return "[" + ", ".join(map(str, value)) + "]"
        return str(value)

    def cleanup(self) -> None:
        pass


@pytest.fixture(params=["fake", pytest.param("real", marks=pytest.mark.netns)])
def side(request: pytest.FixtureRequest) -> Iterator[RealOvs | FakeSide]:
    if request.param == "fake":
        yield FakeSide()
        return
    ns, db = request.getfixturevalue("ovs_db")
    real = RealOvs(ns, db)
    try:
        yield real
    finally:
        real.cleanup()


@pytest.fixture
def port(side) -> str:
    """A port named like a TAP, added to a fresh bridge."""
    br, tap = side.name("vbr"), side.name("vtap")
    side.bridge(br)
    side.tap(tap)
    side.port.add_port(br, tap)
    return tap


def test_bridge_exists(side) -> None:
    br = side.name("vbr")
    assert side.port.bridge_exists(br) is False
    side.bridge(br)
    assert side.port.bridge_exists(br) is True


def test_add_port_is_idempotent_and_port_bridge_reads_it(side) -> None:
    br, tap = side.name("vbr"), side.name("vtap")
    side.bridge(br)
    side.tap(tap)
    assert side.port.port_bridge(tap) is None
    side.port.add_port(br, tap)
    side.port.add_port(br, tap)
    assert side.port.port_bridge(tap) == br


def test_add_port_to_a_missing_bridge(side) -> None:
    br = side.name("vnobr")
    with pytest.raises(NotFound, match=f"add OVS port vtap0 to {br}: OVS bridge '{br}' does not exist"):
        side.port.add_port(br, "vtap0")


def test_port_on_another_bridge_is_not_moved(side, port: str) -> None:
    other = side.name("vbx")
    side.bridge(other)
    with pytest.raises(HostError, match=f"add OVS port {port} to {other}"):
        side.port.add_port(other, port)
    with pytest.raises(HostError, match=f"delete OVS port {port} from {other}"):
        side.port.del_port(other, port)
    assert side.port.port_bridge(port) not in (None, other)


def test_del_port_and_again(side, port: str) -> None:
    br = side.port.port_bridge(port)
    side.port.del_port(br, port)
    side.port.del_port(br, port)
    assert side.port.port_bridge(port) is None
    with pytest.raises(NotFound, match=f"read OVS port {port}: OVS port '{port}' does not exist"):
        side.port.port_settings(port)


def test_new_port_has_no_vlan_settings(side, port: str) -> None:
    assert side.port.port_settings(port) == OvsPortSettings()


@pytest.mark.parametrize(("tag", "trunks", "mode"), [
    (10, [], "access"),
    (None, [20, 30, 31, 32], "trunk"),
    (20, [20, 30, 40], "native-untagged"),
    (20, [30, 40], "native-tagged"),
    (5, [], None),
])
def test_vlan_settings_are_written_and_read_back(side, port: str, tag, trunks, mode) -> None:
    side.port.set_port_vlan(port, tag, trunks, mode)
    expected = OvsPortSettings(tag=tag, trunks=tuple(trunks), vlan_mode=mode)
    assert side.port.port_settings(port) == expected
    assert side.column(port, "tag") == (str(tag) if tag is not None else "[]")
    assert side.column(port, "trunks") == ("[" + ", ".join(map(str, trunks)) + "]")
    assert side.column(port, "vlan_mode") == (mode or "[]")


def test_vlan_settings_are_replaced_and_cleared(side, port: str) -> None:
    side.port.set_port_vlan(port, 20, [20, 30], "native-untagged")
    side.port.set_port_vlan(port, 10, [], "access")
    assert side.port.port_settings(port) == OvsPortSettings(tag=10, vlan_mode="access")
    side.port.set_port_vlan(port, None, [], None)
    assert side.port.port_settings(port) == OvsPortSettings()
    assert side.column(port, "tag") == "[]" and side.column(port, "vlan_mode") == "[]"


def test_vlan_settings_on_a_missing_port(side) -> None:
    with pytest.raises(NotFound, match="set VLAN of OVS port vnone: OVS port 'vnone' does not exist"):
        side.port.set_port_vlan("vnone", 10, [], "access")


def test_bad_vlan_settings_are_refused_before_ovs(side, port: str) -> None:
    with pytest.raises(InvalidValue):
        side.port.set_port_vlan(port, 4096, [], None)
    with pytest.raises(InvalidValue):
        side.port.set_port_vlan(port, None, [], "hybrid")
    assert side.port.port_settings(port) == OvsPortSettings()


def test_other_config_key_set_replace_and_clear(side, port: str) -> None:
    side.port.set_column_key("Port", port, "other_config", "priority-tags", "true")
    side.port.set_column_key("Port", port, "other_config", "odd key", 'v "1",=x')
    assert side.port.port_settings(port).other_config == {"priority-tags": "true", "odd key": 'v "1",=x'}
    side.port.set_column_key("Port", port, "other_config", "priority-tags", "false")
    side.port.set_column_key("Port", port, "other_config", "odd key", None)
    side.port.set_column_key("Port", port, "other_config", "odd key", None)     # again: fine
    assert side.port.port_settings(port).other_config == {"priority-tags": "false"}


def test_column_key_on_a_missing_record(side) -> None:
    with pytest.raises(NotFound, match="OVS interface 'vnone' does not exist"):
        side.port.set_column_key("Interface", "vnone", "external_ids", "k", "v")


# --- the real ovs-vsctl only: time bounds -----------------------------------------------------

def test_a_database_nobody_answers_times_out_within_the_bound(tmp_path: Path) -> None:
    require(have_tools("ovs-vsctl"), "ovs-vsctl")
    path = tmp_path / "deaf.sock"
    deaf = socket.socket(socket.AF_UNIX)
    deaf.bind(str(path))
    deaf.listen(1)        # connections queue up; nobody ever reads or answers
    try:
        adapter = OvsAdapter(db=str(path), timeout=1)
        start = time.monotonic()
        with pytest.raises(HostTimeout, match="read OVS port tap0: timed out after 1s"):
            adapter.port_settings("tap0")
        elapsed = time.monotonic() - start
    finally:
        deaf.close()
    assert 0.9 <= elapsed < 1 + 2.0      # ovs-vsctl's own --timeout, well before the wall margin


def test_a_missing_database_fails_at_once(tmp_path: Path) -> None:
    require(have_tools("ovs-vsctl"), "ovs-vsctl")
    start = time.monotonic()
    with pytest.raises(HostError, match="database connection failed") as info:
        OvsAdapter(db=str(tmp_path / "none.sock"), timeout=3).bridge_exists("br0")
    assert not isinstance(info.value, HostTimeout)
    assert time.monotonic() - start < 2


def test_an_ovs_vsctl_that_ignores_its_timeout_is_killed(tmp_path: Path, monkeypatch) -> None:
    # A stopped ovs-vsctl cannot act on its own alarm: the wall timeout of proc.run must end it.
    from hooks.adapters import ovs

    script = tmp_path / "ovs-vsctl"
    script.write_text("#!/bin/sh\nkill -STOP $$\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(ovs, "WALL_MARGIN", 0.5)
    start = time.monotonic()
    with pytest.raises(HostTimeout, match="list OVS bridges for br0: timed out after 1s"):
        OvsAdapter(timeout=1).bridge_exists("br0")
    assert time.monotonic() - start < 1 + 0.5 + 1.5


# --- transact: reads and changes in one transaction ------------------------------------------

@pytest.fixture
def two_ports(side) -> tuple[str, str]:
    br = side.name("vbt")
    side.bridge(br)
    ports = (side.name("vta"), side.name("vtb"))
    for tap in ports:
        side.tap(tap)
        side.port.add_port(br, tap)
    return ports


def test_transact_returns_the_rows_as_they_were_and_makes_every_change(side, two_ports) -> None:
    a, b = two_ports
    side.port.set_port_vlan(a, 5, [], "access")
    side.port.set_column_key("Port", b, "other_config", "priority-tags", "false")
    before = side.port.transact([a, b, a], [
        OvsVlanChange(a, 10, (), "access"),
        OvsVlanChange(b, 20, (30, 20, 40), "native-untagged"),
        OvsKeyChange("Port", b, "other_config", "priority-tags", "true"),
        OvsKeyChange("Interface", a, "external_ids", "owner", "vm1"),
    ])
    assert before == {a: OvsPortSettings(tag=5, vlan_mode="access"),
                      b: OvsPortSettings(other_config={"priority-tags": "false"})}
    assert (side.column(a, "tag"), side.column(a, "vlan_mode")) == ("10", "access")
    assert side.column(b, "trunks") == "[20, 30, 40]" and side.column(b, "vlan_mode") == "native-untagged"
    assert side.port.port_settings(b).other_config == {"priority-tags": "true"}


def test_transact_with_nothing_to_read_or_change(side, two_ports) -> None:
    a, _ = two_ports
    assert side.port.transact([], []) == {}
    assert side.port.transact([], [OvsVlanChange(a, 7, (), None)]) == {}
    assert side.port.transact([a], []) == {a: OvsPortSettings(tag=7)}


def test_transact_is_all_or_nothing(side, two_ports) -> None:
    a, b = two_ports
    missing = side.name("vnone")
    with pytest.raises(NotFound, match=f"OVS port '{missing}' does not exist"):
        side.port.transact([a], [OvsVlanChange(a, 10, (), "access"),
                                 OvsVlanChange(missing, 10, (), "access")])
    with pytest.raises(NotFound, match=f"OVS port '{missing}' does not exist"):
        side.port.transact([a, missing], [OvsVlanChange(b, 10, (), "access")])
    with pytest.raises(NotFound, match=f"OVS interface '{missing}' does not exist"):
        side.port.transact([], [OvsVlanChange(a, 10, (), "access"),
                                OvsKeyChange("Interface", missing, "external_ids", "k", "v")])
    with pytest.raises(InvalidValue):
        side.port.transact([], [OvsVlanChange(a, 10, (), "access"), OvsVlanChange(b, 4096, (), None)])
    assert side.port.port_settings(a) == OvsPortSettings()
    assert side.port.port_settings(b) == OvsPortSettings()


@pytest.mark.netns
def test_transact_that_changes_nothing_commits_nothing(ovs_db) -> None:
    # What makes re-applying cheap and harmless: writing the values a row holds is no write.
    # ovs-vsctl bumps next_cfg (and waits for ovs-vswitchd) only for a transaction that
    # really changes something.
    ns, db = ovs_db
    real = RealOvs(ns, db)
    try:
        br, tap = real.name("vbn"), real.name("vtn")
        real.bridge(br)
        real.tap(tap)
        real.port.add_port(br, tap)
        change = [OvsVlanChange(tap, 10, (), "access"), OvsKeyChange("Port", tap, "other_config", "k", "v")]

        def next_cfg() -> int:
            return int(vsctl(db, "get", "Open_vSwitch", ".", "next_cfg"))

        real.port.transact([tap], change)
        first = next_cfg()
        assert real.port.transact([tap], change) == {
            tap: OvsPortSettings(tag=10, vlan_mode="access", other_config={"k": "v"})}
        assert next_cfg() == first
        real.port.transact([], [OvsVlanChange(tap, 11, (), "access")])
        assert next_cfg() == first + 1
    finally:
        real.cleanup()
