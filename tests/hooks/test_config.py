"""The hooks' configuration file and environment overrides; the protocol table."""

from __future__ import annotations

import os
import stat

import pytest

from hooks.config import deadline_seconds, load_config, open_trusted, ovs_db, parse_config, state_dir
from hooks.errors import InsecurePath
from hooks.protocol import OPERATIONS, driver_from_path, lookup
from tests.support import require
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


# -- trusting paths (hooks.config.open_trusted) -------------------------------------------------

def _same(fd: int, path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
        return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
    finally:
        os.close(fd)


def test_links_of_root_are_followed_component_by_component(tmp_path):
    real = tmp_path / "real"
    (real / "conf").mkdir(parents=True, mode=0o700)
    os.symlink("real", tmp_path / "alias")                       # relative
    os.symlink(str(tmp_path / "alias" / "conf"), tmp_path / "abs")  # absolute, through a link
    os.symlink("../real/./conf/..//conf", real / "up")           # "..", "." and "//"
    for path in (tmp_path / "alias" / "conf", tmp_path / "abs", real / "up"):
        assert _same(open_trusted(str(path), "configuration directory", folder=True), real / "conf")
    assert open_trusted(str(tmp_path / "missing" / "x"), "state directory", folder=True) is None


def test_a_loop_of_links_is_one_line_not_a_hang(tmp_path):
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    with pytest.raises(InputError, match="too many levels of symbolic links"):
        open_trusted(str(tmp_path / "a"), "state directory", folder=True)


def test_create_makes_missing_folders_private(tmp_path):
    old = os.umask(0)
    try:
        fd = open_trusted(str(tmp_path / "a" / "b"), "state directory", folder=True, create=True)
    finally:
        os.umask(old)
    assert fd is not None and _same(fd, tmp_path / "a" / "b")
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700


def test_config_file_through_a_link_of_root_and_refusals(tmp_path):
    conf, elsewhere = tmp_path / "conf", tmp_path / "elsewhere"
    conf.mkdir(mode=0o700)
    elsewhere.mkdir(mode=0o755)
    (elsewhere / "hooks.conf").write_text("deadline = 3\n")
    os.chmod(elsewhere / "hooks.conf", 0o644)
    os.symlink(elsewhere / "hooks.conf", conf / "hooks.conf")
    assert load_config(str(conf)) == {"deadline": "3"}
    os.chmod(elsewhere / "hooks.conf", 0o664)
    with pytest.raises(InsecurePath, match=r"configuration file .*/elsewhere/hooks.conf: group-writable"):
        load_config(str(conf))
    os.chmod(conf, 0o770)
    with pytest.raises(InsecurePath, match=rf"^configuration directory {conf}: group-writable"):
        load_config(str(conf))


def test_a_fifo_is_refused_at_once(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir(mode=0o700)
    os.mkfifo(conf / "hooks.conf", 0o600)       # nobody writes to it: an open that waits would hang
    with pytest.raises(InsecurePath, match="configuration file .*: not a regular file"):
        load_config(str(conf))


def test_a_hard_link_to_a_file_is_refused_for_writing(tmp_path):
    (tmp_path / "secret").write_text("x\n")
    os.chmod(tmp_path / "secret", 0o600)
    os.link(tmp_path / "secret", tmp_path / "log")
    with pytest.raises(InsecurePath, match="log file .*: has 2 hard links"):
        open_trusted(str(tmp_path / "log"), "log file", flags=os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    assert (tmp_path / "secret").read_text() == "x\n"


def test_other_users_paths_are_refused_naming_the_component(tmp_path):
    require(os.geteuid() == 0, "root (files of another user)")
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)                      # like /tmp: fine to pass through
    (shared / "mine").mkdir(mode=0o700)
    assert _same(open_trusted(str(shared / "mine"), "state directory", folder=True), shared / "mine")
    os.symlink(shared / "mine", shared / "theirs")
    os.chown(shared / "theirs", 4321, 4321, follow_symlinks=False)
    with pytest.raises(InsecurePath, match=f"directory {shared}/theirs: symbolic link owned by uid 4321"):
        open_trusted(str(shared / "theirs"), "state directory", folder=True)
    os.chmod(shared, 0o777)                       # no sticky bit: others could replace "mine"
    with pytest.raises(InsecurePath, match=rf"folder above the state directory {shared}: group- and "
                       r"world-writable \(mode 0777\) without the sticky bit"):
        open_trusted(str(shared / "mine"), "state directory", folder=True)
