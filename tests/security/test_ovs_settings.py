"""A domain's ``<vnx:ovs-setting>`` reaches only its own Port and Interface rows.

ovs-vsctl looks up a record argument by name and, when no row of the table has that name, as a
prefix of 4+ hex digits of any row's UUID. A guest port named like the start of the management
bridge's UUID, with ``table='Bridge'``, used to write that bridge's other_config; a name whose row
is gone could likewise land on another guest's row. These attacks run against a real ovsdb-server
and ovs-vswitchd (userspace datapath) in a throw-away network namespace, through the real hook
entry point and OVS adapter.
"""

from __future__ import annotations

import io
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from hooks.adapters.ovs import OvsAdapter
from hooks.entry import main
from tests.fakes import FakeNetlink, FakeSysfs
from tests.netns.harness import add_ovs_bridge, have_tools, ip, netns, ovs_in_netns, vsctl
from tests.support import require

pytestmark = pytest.mark.netns

NS = 'xmlns:vnx="urn:virt-netxml:hooks:1"'
MAC = "52:54:00:6f:00:01"
TABLES = ("Bridge", "Port", "Interface")


@pytest.fixture(scope="module")
def ovs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(namespace, ovsdb socket) of a private Open vSwitch for this module."""
    require(os.geteuid() == 0, "root (network namespaces)")
    require(have_tools("ip", "ovs-vsctl", "ovsdb-server", "ovsdb-tool", "ovs-vswitchd"),
            "ip and Open vSwitch")
    with netns("vnxovsset") as ns, ovs_in_netns(ns, tmp_path_factory.mktemp("ovs")) as db:
        yield ns, db


class Host:
    """A management bridge and a guest bridge; the guest's ports are TAPs on the guest bridge."""

    def __init__(self, ns: str, db: str) -> None:
        self.ns, self.db = ns, db
        suffix = secrets.token_hex(2)
        self.mgmt, self.guest_br = f"brmgmt{suffix}", f"brguest{suffix}"
        self.taps: list[str] = []
        add_ovs_bridge(db, self.mgmt)
        add_ovs_bridge(db, self.guest_br)

    def uuid(self, table: str, name: str) -> str:
        return vsctl(self.db, "get", table, name, "_uuid").strip()

    def port(self, name: str) -> None:
        ip("tuntap", "add", name, "mode", "tap", ns=self.ns)
        self.taps.append(name)
        vsctl(self.db, "add-port", self.guest_br, name)

    def rows(self) -> dict[str, dict[str, object]]:
        """Every writable map column of every Bridge, Port and Interface row, by UUID."""
        out: dict[str, dict[str, object]] = {}
        for table in TABLES:
            columns = "_uuid,name,other_config,external_ids" + (",options" if table == "Interface" else "")
            printed = json.loads(vsctl(self.db, "--format=json", f"--columns={columns}", "list", table))
            for row in printed["data"]:
                values = dict(zip(printed["headings"], row, strict=True))
                out[values.pop("_uuid")[1]] = {"table": table, **values}
        return out

    def other_config(self, table: str, name: str) -> str:
        return vsctl(self.db, "get", table, name, "other_config").strip()

    def cleanup(self) -> None:
        for bridge in (self.mgmt, self.guest_br):
            vsctl(self.db, "--if-exists", "del-br", bridge)
        for tap in self.taps:
            ip("link", "del", tap, ns=self.ns, check=False)


@pytest.fixture
def host(ovs: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Host]:
    monkeypatch.setenv("VIRT_NETXML_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("VIRT_NETXML_CONFIG_DIR", str(tmp_path / "conf"))
    monkeypatch.delenv("VIRT_NETXML_DEADLINE", raising=False)
    (tmp_path / "conf").mkdir()
    made = Host(*ovs)
    try:
        yield made
    finally:
        made.cleanup()


def start(host: Host, dev: str, table: str, key: str, value: str,
          column: str = "other_config") -> tuple[int, str]:
    """The domain's ``start`` hook: its interface on the guest bridge as ``dev``, one OVS wish."""
    xml = (f"<domain type='kvm'><name>ovsguest</name><uuid>00000000-0000-4000-8000-00000000006f</uuid>"
           f"<metadata><vnx:netxml {NS}><vnx:interface mac='{MAC}'>"
           f"<vnx:ovs-setting table='{table}' column='{column}' key='{key}' value='{value}'/>"
           f"</vnx:interface></vnx:netxml></metadata><devices>"
           f"<interface type='bridge'><mac address='{MAC}'/><source bridge='{host.guest_br}'/>"
           f"<virtualport type='openvswitch'/><target dev='{dev}'/></interface></devices></domain>")
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main(["ovsguest", "start", "begin", "-"], stdin=io.BytesIO(xml.encode()), stdout=stdout,
                stderr=stderr, ports={"ovs": OvsAdapter(db=host.db, timeout=5), "netlink": FakeNetlink(),
                                      "sysfs": FakeSysfs()},
                program="/etc/libvirt/hooks/qemu.d/50-virt-netxml")
    assert stdout.getvalue() == ""
    return code, stderr.getvalue()


def changed(before: dict[str, dict[str, object]], after: dict[str, dict[str, object]]) -> dict[str, str]:
    return {uuid: f"{row['table']} {row['name']}" for uuid, row in after.items() if before.get(uuid) != row}


def test_a_port_named_like_the_bridge_uuid_writes_only_its_own_port_row(host: Host) -> None:
    bridge_uuid = host.uuid("Bridge", host.mgmt)
    name = bridge_uuid[:8]            # 8 hex digits: a valid interface name, and a UUID prefix
    host.port(name)
    before = host.rows()
    code, err = start(host, name, "Port", "priority-tags", "if-nonzero")
    assert (code, err) == (0, "")
    after = host.rows()
    assert changed(before, after) == {host.uuid("Port", name): f"Port {name}"}
    assert host.other_config("Port", name) == '{priority-tags=if-nonzero}'


def test_table_bridge_is_refused_before_any_change(host: Host) -> None:
    name = host.uuid("Bridge", host.mgmt)[:8]
    host.port(name)
    before = host.rows()
    code, err = start(host, name, "Bridge", "mac-table-size", "1")
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Bridge other_config:mac-table-size" in err
    assert "OVS table 'Bridge' is not one a domain may change" in err
    assert host.rows() == before


def test_keys_outside_the_allowlist_are_refused_before_any_change(host: Host) -> None:
    host.port("vnetallow0")
    before = host.rows()
    for table, column, key, value in [("Interface", "external_ids", "iface-id", "other-guest"),
                                      ("Port", "other_config", "stp-enable", "false"),
                                      ("Interface", "options", "peer", "patch-mgmt")]:
        code, err = start(host, "vnetallow0", table, key, value, column)
        assert code == 2 and len(err.splitlines()) == 1, err
        assert f"{table} {column}:{key}" in err
    assert host.rows() == before


@pytest.mark.parametrize("table,key,value", [("Port", "priority-tags", "always"),
                                             ("Interface", "tx-steering", "hash")])
def test_a_name_without_a_row_never_lands_on_the_row_whose_uuid_it_starts(host: Host, table: str, key: str,
                                                                          value: str) -> None:
    # The guest names a device OVS has no row for, spelled like the start of a victim's UUID.
    host.port("vnetvictim")
    name = host.uuid(table, "vnetvictim")[:8]
    before = host.rows()
    code, err = start(host, name, table, key, value)
    assert changed(before, host.rows()) == {}, err
    assert code == 1, err
    assert len(err.splitlines()) == 1 and f"'{name}' does not exist" in err
