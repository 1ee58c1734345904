"""The hooks' configuration file and environment overrides; the protocol table."""

from __future__ import annotations

import pytest

from hooks.config import deadline_seconds, load_config, ovs_db, parse_config, state_dir
from hooks.protocol import OPERATIONS, driver_from_path, lookup
from xmltools.errors import InputError, InvalidValue


def test_parse_config_values_comments_and_errors():
    assert parse_config("# c\ndeadline = 3  # short\n\nlog-file=/var/log/x\n", "f") == {
        "deadline": "3", "log-file": "/var/log/x"}
    with pytest.raises(InputError, match="^f:2: expected 'key = value'"):
        parse_config("deadline = 3\nnonsense\n", "f")
    with pytest.raises(InputError, match="unknown key 'colour'"):
        parse_config("colour = blue\n", "f")


def test_missing_file_is_empty_config(tmp_path):
    assert load_config(str(tmp_path)) == {}


def test_environment_overrides_file_overrides_default(monkeypatch):
    monkeypatch.delenv("VIRT_NETXML_DEADLINE", raising=False)
    monkeypatch.delenv("VIRT_NETXML_STATE_DIR", raising=False)
    monkeypatch.delenv("VIRT_NETXML_OVS_DB", raising=False)
    assert deadline_seconds({}) == 8.0 and state_dir({}) == "/run/virt-netxml" and ovs_db({}) is None
    assert deadline_seconds({"deadline": "2.5"}) == 2.5
    assert state_dir({"state-dir": "/x"}) == "/x" and ovs_db({"ovs-db": "/db.sock"}) == "/db.sock"
    monkeypatch.setenv("VIRT_NETXML_DEADLINE", "1")
    monkeypatch.setenv("VIRT_NETXML_STATE_DIR", "/y")
    assert deadline_seconds({"deadline": "2.5"}) == 1.0 and state_dir({"state-dir": "/x"}) == "/y"


@pytest.mark.parametrize("value", ["0", "-1", "3601", "soon"])
def test_bad_deadlines(value):
    with pytest.raises(InvalidValue, match="deadline"):
        deadline_seconds({"deadline": value})


def test_protocol_table_covers_libvirt_operations():
    qemu = {op for drv, op in OPERATIONS if drv == "qemu"}
    network = {op for drv, op in OPERATIONS if drv == "network"}
    assert qemu == {"prepare", "start", "started", "stopped", "release", "migrate", "restore",
                    "reconnect", "attach"}
    assert network == {"start", "started", "stopped", "port-created", "port-deleted", "updated",
                       "plugged", "unplugged"}
    assert [op for (drv, op), o in OPERATIONS.items() if o.filters_xml] == ["migrate", "restore"]
    assert {op for (drv, op), o in OPERATIONS.items() if drv == "qemu" and not o.aborts} == {
        "stopped", "release", "reconnect"}
    assert lookup("qemu", "reconnect").fail_exit == 0 and lookup("qemu", "start").fail_exit == 1
    assert lookup("lxc", "start") is None and lookup("qemu", "frobnicate") is None


@pytest.mark.parametrize("path,driver", [
    ("/etc/libvirt/hooks/qemu.d/50-virt-netxml", "qemu"),
    ("/etc/libvirt/hooks/network.d/50-virt-netxml", "network"),
    ("/etc/libvirt/hooks/qemu", "qemu"),
    ("/etc/libvirt/hooks/lxc.d/x", None),
    ("-c", None),
])
def test_driver_from_program_path(path, driver):
    assert driver_from_path(path) == driver
