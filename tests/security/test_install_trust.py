"""Finding: ``hooks install`` (as root) trusted code and an interpreter that other users can change.

The installed hook runs as root at every guest start. Whatever it executes (the interpreter)
or imports (the module paths written into it) must be something only root can change: the file
or folder itself and every folder above it up to ``/``. These tests hand parts of an
installation to an unprivileged user and check that ``install`` refuses it, that the script
carries resolved paths (a symlink someone else controls cannot be swapped later), that the
module paths come after the standard library, and that the installed hook re-checks its module
paths before it imports anything from them.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hooks.errors import UntrustedCode
from hooks.install import hook_path, install
from hooks.wrapper import module_paths

REPO = Path(__file__).resolve().parents[2]
FIX = REPO / "fixtures" / "hooks"
PREPARE = (FIX / "captures/09-qemu-capvm-prepare-begin.xml").read_bytes()
LIBVIRT_ENV = {"LC_ALL": "C", "PATH": "/usr/bin:/bin"}


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("VIRT_NETXML_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("VIRT_NETXML_CONFIG_DIR", str(tmp_path / "conf"))


def make_venv(where: Path) -> Path:
    """A virtual environment's shape: bin/python -> the real interpreter, pyvenv.cfg, site-packages."""
    (where / "bin").mkdir(parents=True)
    (where / "lib/python3.11/site-packages").mkdir(parents=True)
    (where / "pyvenv.cfg").write_text(f"home = {os.path.dirname(os.path.realpath(sys.executable))}\n"
                                      "include-system-site-packages = false\n")
    os.symlink(os.path.realpath(sys.executable), where / "bin/python")
    for path in (where, where / "bin", where / "lib", where / "lib/python3.11",
                 where / "lib/python3.11/site-packages"):
        os.chmod(path, 0o755)
    return where


def owned_tree(attacker, top: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(top):
        attacker.own(dirpath, *(Path(dirpath, n) for n in dirnames + filenames))


def migrate_call(root: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """A call that starts Python in the installed hook (a migration with a mapping file)."""
    (tmp_path / "conf").mkdir(exist_ok=True)
    (tmp_path / "conf/migrate-map.conf").write_text("bridge brcap = br-vlan10\n")
    hook = hook_path(str(root), "qemu")
    return subprocess.run([hook, "capvm", "migrate", "begin", "-"], input=PREPARE, capture_output=True,
                          timeout=60, env=LIBVIRT_ENV, cwd="/")


def assert_nothing_written(root: Path) -> None:
    assert not os.path.lexists(hook_path(str(root), "qemu"))
    assert not os.path.lexists(hook_path(str(root), "network"))


# --------------------------------------------------------------------------- the interpreter


def test_a_venv_owned_by_a_user_is_refused(attacker, open_tmp):
    # The user could swap bin/python (or anything the venv holds) for their own program.
    venv = make_venv(open_tmp / "venv")
    owned_tree(attacker, venv)
    root = open_tmp / "root"
    with pytest.raises(UntrustedCode) as err:
        install(str(root), python=str(venv / "bin/python"))
    assert f"{venv}" in err.value.message and "owned by uid" in err.value.message
    assert "Installing safely" in err.value.message
    assert_nothing_written(root)


def test_a_user_owned_pyvenv_cfg_or_bin_folder_is_refused(attacker, open_tmp):
    # python reads pyvenv.cfg next to bin/python or one level up to choose its prefix.
    venv = make_venv(open_tmp / "venv")
    attacker.own(venv / "pyvenv.cfg")
    with pytest.raises(UntrustedCode, match="pyvenv.cfg"):
        install(str(open_tmp / "root"), python=str(venv / "bin/python"))
    attacker.own(venv / "pyvenv.cfg")
    os.chown(venv / "pyvenv.cfg", 0, 0)
    attacker.own(venv / "bin")
    with pytest.raises(UntrustedCode, match="bin"):
        install(str(open_tmp / "root"), python=str(venv / "bin/python"))
    assert_nothing_written(open_tmp / "root")


def test_an_interpreter_a_user_can_change_is_refused_behind_a_root_owned_link(attacker, open_tmp):
    mine = open_tmp / "mine"
    mine.mkdir()
    fake = mine / "python3"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    attacker.own(mine, fake)
    venv = make_venv(open_tmp / "venv")
    (venv / "bin/python").unlink()
    os.symlink(fake, venv / "bin/python")
    with pytest.raises(UntrustedCode, match="interpreter"):
        install(str(open_tmp / "root"), python=str(venv / "bin/python"))
    assert_nothing_written(open_tmp / "root")


def test_a_root_owned_venv_is_accepted_and_the_script_runs_the_resolved_binary(open_tmp):
    venv = make_venv(open_tmp / "venv")
    root = open_tmp / "root"
    assert [c.action for c in install(str(root), python=str(venv / "bin/python"))] == ["written", "written"]
    text = Path(hook_path(str(root), "qemu")).read_text()
    assert f"exec {os.path.realpath(sys.executable)} -I -S" in text
    assert str(venv) not in text


# --------------------------------------------------------------------------- the module paths


def test_module_paths_a_user_owns_are_refused(attacker, open_tmp):
    # An editable install of a user's checkout: the user edits hooks/entry.py, root runs it.
    checkout = open_tmp / "home/user/virt-netxml"
    (checkout / "hooks").mkdir(parents=True)
    (checkout / "hooks/entry.py").write_text("")
    attacker.own(open_tmp / "home/user", checkout, checkout / "hooks", checkout / "hooks/entry.py")
    root = open_tmp / "root"
    with pytest.raises(UntrustedCode, match="module path") as err:
        install(str(root), paths=[str(checkout), *module_paths()[1:]])
    assert str(open_tmp / "home/user") in err.value.message
    assert_nothing_written(root)


def test_a_user_owned_file_inside_a_root_owned_module_path_is_refused(attacker, open_tmp):
    pkgs = open_tmp / "site-packages"
    (pkgs / "somepkg").mkdir(parents=True)
    (pkgs / "somepkg/__init__.py").write_text("")
    attacker.own(pkgs / "somepkg/__init__.py")
    with pytest.raises(UntrustedCode, match="somepkg"):
        install(str(open_tmp / "root"), paths=[*module_paths(), str(pkgs)])
    assert_nothing_written(open_tmp / "root")


def test_group_or_world_writable_folders_are_refused_but_a_sticky_root_parent_is_not(open_tmp):
    shared = open_tmp / "shared"           # like /tmp: root-owned, 1777
    shared.mkdir()
    os.chmod(shared, 0o1777)
    pkgs = shared / "pkgs"
    pkgs.mkdir()
    os.chmod(pkgs, 0o755)
    root = open_tmp / "root"
    # Nobody but root can rename or remove a root-owned entry of a sticky folder.
    install(str(root), paths=[*module_paths(), str(pkgs)])
    os.chmod(shared, 0o777)                # without the sticky bit anyone can rename pkgs away
    with pytest.raises(UntrustedCode, match="writable by group or others"):
        install(str(root), paths=[*module_paths(), str(pkgs)])
    os.chmod(shared, 0o1777)
    os.chmod(pkgs, 0o1777)                 # the module path itself: anyone could add a module
    with pytest.raises(UntrustedCode, match="writable by group or others"):
        install(str(root), paths=[*module_paths(), str(pkgs)])
    os.chmod(pkgs, 0o775)
    with pytest.raises(UntrustedCode, match="writable by group or others"):
        install(str(root), paths=[*module_paths(), str(pkgs)])


def test_the_script_carries_resolved_paths_so_a_user_cannot_swap_a_link(attacker, open_tmp, tmp_path):
    # The module path reaches the real (root-owned) checkout through a link in the user's folder.
    users = open_tmp / "users"
    users.mkdir()
    link = users / "checkout"
    os.symlink(REPO, link)
    attacker.own(users, link)
    evil = users / "evil"
    (evil / "hooks").mkdir(parents=True)
    marker = open_tmp / "pwned"
    (evil / "hooks/__init__.py").write_text("")
    (evil / "hooks/entry.py").write_text(
        f"def run_and_exit():\n    open({str(marker)!r}, 'w').write('ran as root')\n")
    owned_tree(attacker, evil)
    root = open_tmp / "root"
    install(str(root), paths=[str(link), *module_paths()[1:]])
    text = Path(hook_path(str(root), "qemu")).read_text()
    assert str(link) not in text and repr(str(REPO)) in text
    # Later the user points the link at their own code.
    res = attacker.run("import os, sys; os.unlink(sys.argv[1]); os.symlink(sys.argv[2], sys.argv[1])",
                       str(link), str(evil))
    assert res.returncode == 0, res.stderr
    res = migrate_call(root, tmp_path)
    assert not marker.exists()
    assert res.returncode == 0 and b"br-vlan10" in res.stdout, res


def test_module_paths_come_after_the_standard_library(open_tmp, tmp_path):
    # A file named like a stdlib module in a module path must not shadow the real one.
    pkgs = open_tmp / "pkgs"
    pkgs.mkdir()
    marker = open_tmp / "shadowed"
    (pkgs / "__future__.py").write_text(f"open({str(marker)!r}, 'w').write('x')\nannotations = None\n")
    root = open_tmp / "root"
    install(str(root), paths=[*module_paths(), str(pkgs)])
    res = migrate_call(root, tmp_path)
    assert res.returncode == 0 and b"br-vlan10" in res.stdout, res
    assert not marker.exists()


# --------------------------------------------------------------------------- run time


def test_the_installed_hook_rechecks_its_module_paths_before_importing(attacker, open_tmp, tmp_path):
    pkgs = open_tmp / "lib/pkgs"
    pkgs.mkdir(parents=True)
    os.chmod(open_tmp / "lib", 0o755)
    root = open_tmp / "root"
    install(str(root), paths=[*module_paths(), str(pkgs)])
    res = migrate_call(root, tmp_path)
    assert res.returncode == 0 and b"br-vlan10" in res.stdout, res
    attacker.own(pkgs)                       # handed to a user after the install
    res = migrate_call(root, tmp_path)
    assert res.returncode != 0 and res.stdout == b""
    assert res.stderr.decode() == (f"virt-netxml: {pkgs}: refusing to run: owned by uid {attacker.uid}, "
                                   "not root (run 'virt-netxml hooks install' again from a root-owned "
                                   "installation)\n")
    os.chown(pkgs, 0, 0)
    os.chmod(open_tmp / "lib", 0o777)        # a parent anyone can write: pkgs can be renamed away
    res = migrate_call(root, tmp_path)
    assert res.returncode != 0 and res.stdout == b""
    assert res.stderr.decode().startswith(f"virt-netxml: {open_tmp / 'lib'}: refusing to run: "
                                          "writable by group or others")
    os.chmod(open_tmp / "lib", 0o755)
    res = migrate_call(root, tmp_path)
    assert res.returncode == 0 and b"br-vlan10" in res.stdout, res


def test_the_cli_refuses_in_one_line_with_exit_2(attacker, open_tmp):
    venv = make_venv(open_tmp / "venv")
    owned_tree(attacker, venv)
    code = ("import sys; sys.argv = ['virt-netxml', 'hooks', 'install', '--root', sys.argv[1]]; "
            "sys.executable = sys.argv[2]\n"
            "from xmltools.cli.main import main\nmain()")
    res = subprocess.run([sys.executable, "-c", code, str(open_tmp / "root"), str(venv / "bin/python")],
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert res.returncode == 2 and res.stdout == "", res
    assert len(res.stderr.splitlines()) == 1 and "refusing to install" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert_nothing_written(open_tmp / "root")


# --------------------------------------------------------------------------- folders it creates


def test_folders_install_creates_are_0755_whatever_the_umask(open_tmp):
    root = open_tmp / "root"
    old = os.umask(0)
    try:
        install(str(root))
    finally:
        os.umask(old)
    for folder in ("etc", "etc/libvirt", "etc/libvirt/hooks", "etc/libvirt/hooks/qemu.d",
                   "etc/libvirt/hooks/network.d"):
        assert stat.S_IMODE(os.stat(root / folder).st_mode) == 0o755, folder
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o755
