"""The hooks run as root: they refuse configuration, mapping and state paths that others could
change, say which path and why, and create their own files root-only (records 0600, folders
0700)."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hooks.entry import main
from tests.fakes import FakeNetlink, FakeOvs, FakeSysfs
from tests.faults.scenarios import tap_domain
from tests.support import require

TAP_DOMAIN = tap_domain("br0").encode()
PREPARE = ["--driver", "qemu", "tapvm", "prepare", "begin", "-"]


@pytest.fixture
def folders(tmp_path, monkeypatch):
    conf, state = tmp_path / "conf", tmp_path / "state"
    conf.mkdir(mode=0o700)
    monkeypatch.setenv("VIRT_NETXML_STATE_DIR", str(state))
    monkeypatch.setenv("VIRT_NETXML_CONFIG_DIR", str(conf))
    monkeypatch.delenv("VIRT_NETXML_DEADLINE", raising=False)
    return conf, state


def _call(argv, data=TAP_DOMAIN):
    net = FakeNetlink()
    net.add_bridge("br0", vlan_filtering=True)
    err = io.StringIO()
    rc = main(argv, stdin=io.BytesIO(data), stdout=io.StringIO(), stderr=err,
              ports={"netlink": net, "ovs": FakeOvs(), "sysfs": FakeSysfs()})
    return rc, err.getvalue(), net


def _prepare_once():
    rc, err, net = _call(PREPARE)
    assert rc == 0 and err == "", err
    assert "tapvm0" in net.links


def _targets(conf: Path, state: Path) -> dict[str, tuple[Path, str]]:
    """Each path the hook must refuse when loose, made to exist; with the words naming it."""
    (conf / "hooks.conf").write_text("deadline = 5\n")
    (conf / "migrate-map.conf").write_text("bridge br0 = br1\n")
    os.chmod(conf / "hooks.conf", 0o600)
    os.chmod(conf / "migrate-map.conf", 0o600)
    _prepare_once()   # creates the state folders and a record
    return {
        "configuration directory": (conf, "configuration directory"),
        "configuration file": (conf / "hooks.conf", "configuration file"),
        "mapping file": (conf / "migrate-map.conf", "mapping file"),
        "state directory": (state, "state directory"),
        "state sub-directory": (state / "claims", "state directory"),
        "state file": (state / "domains/tapvm.json", "state file"),
    }


@pytest.mark.parametrize("which", ["configuration directory", "configuration file", "mapping file",
                                   "state directory", "state sub-directory", "state file"])
@pytest.mark.parametrize("bits,word", [(0o020, "group-writable"), (0o002, "world-writable"),
                                       (0o022, "group- and world-writable")])
def test_loose_paths_are_refused_naming_path_and_reason(folders, which, bits, word):
    conf, state = folders
    path, what = _targets(conf, state)[which]
    os.chmod(path, stat.S_IMODE(path.stat().st_mode) | bits)
    # prepare would change the host: refused with exit 2, one line, nothing touched.
    rc, err, net = _call(PREPARE)
    assert rc == 2, err
    assert err.count("\n") == 1 and f"{what} {path}: {word} (mode" in err, err
    assert "refusing to run" in err
    assert net.calls_to("create_tap") == []
    # reconnect must not make libvirt kill the guest: reported, exit 0.
    rc, err, _ = _call(["--driver", "qemu", "tapvm", "reconnect", "begin", "-"])
    assert rc == 0 and f"{what} {path}: {word}" in err, err
    # release (only logged by libvirt) still says what is wrong, with the refusal's status.
    rc, err, _ = _call(["--driver", "qemu", "tapvm", "release", "end", "-"], b"")
    assert rc == 2 and f"{what} {path}" in err


def test_a_path_owned_by_another_user_is_refused(folders):
    conf, state = folders
    _prepare_once()
    os.chown(state / "domains", 4321, 0)
    rc, err, _ = _call(["--driver", "qemu", "tapvm", "release", "end", "-"], b"")
    assert rc == 2 and f"state directory {state / 'domains'}: owned by uid 4321, not by root" in err, err


def test_files_the_hooks_create_are_private_even_with_a_permissive_umask(folders):
    conf, state = folders
    old = os.umask(0)
    try:
        _prepare_once()
    finally:
        os.umask(old)
    seen = 0
    for folder, _dirs, files in os.walk(state):
        st = os.stat(folder)
        assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid(), folder
        for name in files:
            st = os.stat(os.path.join(folder, name))
            assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid(), name
            seen += 1
    assert seen >= 3   # the record, its lock, the per-call lock


def test_hooks_repair_refuses_a_loose_state_directory(tmp_path):
    require(os.geteuid() == 0, "root (the state folder is root's)")
    state = tmp_path / "state"
    (state / "domains").mkdir(parents=True, mode=0o700)
    os.chmod(state, 0o777)
    env = {**os.environ, "VIRT_NETXML_STATE_DIR": str(state), "VIRT_NETXML_CONFIG_DIR": str(tmp_path / "c")}
    res = subprocess.run([sys.executable, "-m", "xmltools.cli.main", "hooks", "repair"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and res.stdout == "", res
    assert res.stderr.count("\n") == 1
    assert f"state directory {state}: group- and world-writable (mode 0777)" in res.stderr
