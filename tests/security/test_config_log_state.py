"""Configuration, log file and state folder: root must trust a path before it reads or writes
through it (threat model, findings 7, 8 and 9).

Each attack is carried out for real by the unprivileged ``attacker``: files, folders, symbolic
links and FIFOs planted where the hooks' paths point. The hook runs in a child process against
the test fakes (``tests.security.hookcall``), so a hang shows as a timeout and nothing touches
the host's network.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.scenarios import tap_domain
from tests.security.hookcall import REPO, child_env

TAP = tap_domain("br0").encode()
PREPARE = ["--driver", "qemu", "tapvm", "prepare", "begin", "-"]

MKDIR = "import os, sys; os.mkdir(sys.argv[1]); os.chmod(sys.argv[1], int(sys.argv[2], 8))"
WRITE = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"
SYMLINK = "import os, sys; os.symlink(sys.argv[1], sys.argv[2])"
MKFIFO = "import os, sys; os.mkfifo(sys.argv[1], 0o666)"


def hook(env: dict[str, str], argv: list[str] = PREPARE, data: bytes = TAP,
         timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tests.security.hookcall", *argv], input=data,
                          env=env, capture_output=True, timeout=timeout, cwd=REPO)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xmltools.cli.main", "hooks", *args], env=env,
                          capture_output=True, text=True, timeout=60, cwd=REPO)


def one_line(err: bytes | str) -> str:
    text = err.decode() if isinstance(err, bytes) else err
    assert text.count("\n") == 1 and "Traceback" not in text, text
    return text


def as_attacker(attacker, code: str, *args: object) -> None:
    res = attacker.run(code, *(str(a) for a in args))
    assert res.returncode == 0, res.stderr


def private_dir(path: Path, mode: int = 0o700) -> Path:
    path.mkdir()
    os.chmod(path, mode)
    return path


def trusted_config(folder: Path, text: str) -> Path:
    """A configuration folder as root keeps it: root-owned, 0700, the file 0600."""
    private_dir(folder)
    (folder / "hooks.conf").write_text(text)
    os.chmod(folder / "hooks.conf", 0o600)
    return folder


def attacker_config(attacker, open_tmp: Path, text: str) -> Path:
    """A configuration folder and file written by the attacker."""
    conf = private_dir(open_tmp / "conf", 0o755)
    attacker.own(conf)
    as_attacker(attacker, WRITE, conf / "hooks.conf", text)
    return conf


def victim_file(open_tmp: Path, name: str, text: str | None = None) -> Path:
    """A path in a root-only folder: root must neither create nor change it for others."""
    folder = open_tmp / "root-only"
    if not folder.exists():
        private_dir(folder)
    path = folder / name
    if text is not None:
        path.write_text(text)
        os.chmod(path, 0o644)
    return path


# ----------------------------------------------------------------------------- finding 7

def test_untrusted_config_never_steers_the_log_file(attacker, open_tmp):
    """The attacker's hooks.conf names root's shell rc file as log file, and a domain name
    that is a shell command: the refusal must not be written through that log file."""
    rc_file = victim_file(open_tmp, ".bashrc", "alias ll='ls -l'\n")
    conf = attacker_config(attacker, open_tmp, f"log-file = {rc_file}\n")
    name = f"x;id>{open_tmp}/pwned;#"
    proc = hook(child_env(conf, open_tmp / "state"), ["--driver", "qemu", name, "prepare", "begin", "-"])
    assert rc_file.read_text() == "alias ll='ls -l'\n"
    assert proc.returncode == 2
    line = one_line(proc.stderr)
    assert f"configuration directory {conf}: owned by uid {attacker.uid}, not by root" in line
    assert not (open_tmp / "state").exists()


@pytest.mark.parametrize("command", ["status", "repair", "install", "plan"])
def test_every_hooks_command_refuses_an_untrusted_config(attacker, open_tmp, command):
    """``hooks install`` would write the attacker's state-dir into root's hook program;
    status, repair and plan would read records from wherever the attacker says."""
    evil = open_tmp / "evil-state"
    conf = attacker_config(attacker, open_tmp, f"state-dir = {evil}\n")
    xml = open_tmp / "vm.xml"
    xml.write_bytes(TAP)
    inst = open_tmp / "inst"
    args = {"status": ["status", "--root", str(inst)], "repair": ["repair", "--dry-run"],
            "install": ["install", "--root", str(inst)], "plan": ["plan", "prepare", "--input", str(xml)]}
    res = cli(child_env(conf), *args[command])
    assert res.returncode == 2 and res.stdout == "", res
    line = one_line(res.stderr)
    assert f"configuration directory {conf}: owned by uid {attacker.uid}" in line, line
    assert not inst.exists() and not evil.exists()


def test_config_folder_in_a_folder_others_can_write_is_refused(attacker, open_tmp):
    """Root's own configuration folder, inside a folder a local user owns: that user can move it
    away and put another in its place, so it is refused like an untrusted folder."""
    etc = private_dir(open_tmp / "etc", 0o755)
    attacker.own(etc)
    conf = trusted_config(etc / "virt-netxml", "deadline = 5\n")
    # The threat is real: the attacker can replace root's folder (here it is put back).
    as_attacker(attacker, "import os, sys; os.rename(sys.argv[1], sys.argv[2]); "
                "os.rename(sys.argv[2], sys.argv[1])", conf, etc / "moved")
    proc = hook(child_env(conf, open_tmp / "state"))
    assert proc.returncode == 2, proc.stderr
    line = one_line(proc.stderr)
    assert f"folder above the configuration directory {etc}: owned by uid {attacker.uid}" in line, line
    assert not (open_tmp / "state").exists()


# ----------------------------------------------------------------------------- finding 8

def _log_folder(open_tmp: Path, attacker, kind: str) -> Path:
    folder = open_tmp / "log"
    folder.mkdir()
    if kind == "group-writable":
        # Like Ubuntu's /var/log (root:syslog 0775) with the attacker in that group.
        os.chown(folder, 0, attacker.gid)
        os.chmod(folder, 0o775)
    else:
        os.chmod(folder, 0o1777)   # like /tmp
    return folder


@pytest.mark.parametrize("folder_kind", ["group-writable", "sticky"])
@pytest.mark.parametrize("planted", ["symlink", "fifo", "fifo with reader", "attacker's file"])
def test_planted_log_file_is_refused_and_the_call_goes_on(attacker, open_tmp, folder_kind, planted):
    folder = _log_folder(open_tmp, attacker, folder_kind)
    log = folder / "virt-netxml.log"
    conf = trusted_config(open_tmp / "conf", f"log-file = {log}\n")
    victim = victim_file(open_tmp, "nologin")
    reader = None
    if planted == "symlink":
        as_attacker(attacker, SYMLINK, victim, log)
    elif planted.startswith("fifo"):
        as_attacker(attacker, MKFIFO, log)
        if planted == "fifo with reader":   # the attacker keeps the FIFO open to read root's lines
            reader = os.open(log, os.O_RDONLY | os.O_NONBLOCK)
    else:
        as_attacker(attacker, WRITE, log, "mine\n")
    try:
        # Well inside the hook's deadline (8 s): a blocked open would be a stalled libvirtd.
        proc = hook(child_env(conf, open_tmp / "state"), timeout=6)
        leaked = b""
        if reader is not None:
            with contextlib.suppress(BlockingIOError):   # nothing to read: nothing leaked
                leaked = os.read(reader, 65536)
    finally:
        if reader is not None:
            os.close(reader)
    assert not victim.exists()
    assert leaked == b""
    if planted == "attacker's file":
        assert log.read_text() == "mine\n"
    # Logging is never why a guest fails to start: the call succeeds, and says once why the
    # log file was not written.
    assert proc.returncode == 0, proc.stderr
    line = one_line(proc.stderr)
    assert "log file" in line and (str(log) in line or str(folder) in line), line


def test_log_file_in_a_sticky_folder_is_created_private_and_used(open_tmp):
    folder = private_dir(open_tmp / "tmp", 0o1777)
    log = folder / "virt-netxml.log"
    conf = trusted_config(open_tmp / "conf", f"log-file = {log}\n")
    old = os.umask(0)
    try:
        proc = hook(child_env(conf, open_tmp / "state"))
    finally:
        os.umask(old)
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr
    st = log.stat()
    assert stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid()
    assert stat.S_IMODE(st.st_mode) & 0o022 == 0
    assert "op=prepare" in log.read_text()


# ----------------------------------------------------------------------------- finding 9

def _shared(open_tmp: Path) -> Path:
    return private_dir(open_tmp / "shared", 0o1777)   # a folder like /tmp or /var/tmp


def test_state_dir_link_planted_in_a_shared_folder_is_refused(attacker, open_tmp):
    """The configured state folder does not exist yet; the attacker puts a link there to a
    root-owned folder: root would build its tree (and its records) in that folder."""
    elsewhere = private_dir(open_tmp / "elsewhere", 0o755)
    (elsewhere / "keep").write_text("x\n")
    state = _shared(open_tmp) / "virt-netxml"
    as_attacker(attacker, SYMLINK, elsewhere, state)
    proc = hook(child_env(trusted_config(open_tmp / "conf", ""), state))
    assert os.listdir(elsewhere) == ["keep"]
    assert proc.returncode == 2
    line = one_line(proc.stderr)
    assert f"state directory {state}: symbolic link owned by uid {attacker.uid}" in line, line


@pytest.mark.parametrize("kind", ["folder", "open folder", "file", "fifo"])
def test_state_dir_pre_created_by_another_user_is_refused_naming_it(attacker, open_tmp, kind):
    """A local user can deny service by taking the name first in a shared folder: the hook says
    so in one line (the documented fix: keep the state folder in a root-only place)."""
    state = _shared(open_tmp) / "virt-netxml"
    if kind == "folder":
        as_attacker(attacker, MKDIR, state, "700")
    elif kind == "open folder":
        as_attacker(attacker, MKDIR, state, "777")
    elif kind == "file":
        as_attacker(attacker, WRITE, state, "")
    else:
        as_attacker(attacker, MKFIFO, state)
    proc = hook(child_env(trusted_config(open_tmp / "conf", ""), state), timeout=10)
    assert proc.returncode == 2
    line = one_line(proc.stderr)
    assert f"state directory {state}: " in line and f"owned by uid {attacker.uid}" in line, line


def test_state_dir_in_a_folder_others_can_write_is_refused(attacker, open_tmp):
    var = private_dir(open_tmp / "var", 0o755)
    attacker.own(var)
    state = var / "virt-netxml"
    proc = hook(child_env(trusted_config(open_tmp / "conf", ""), state))
    assert proc.returncode == 2
    line = one_line(proc.stderr)
    assert f"folder above the state directory {var}: owned by uid {attacker.uid}" in line, line
    assert not state.exists()


SWAP_CHILD = """
import os, subprocess, sys
from tests.security import hookcall

link, other, uid, gid = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
swap = ("import os, sys; os.symlink(sys.argv[2], sys.argv[1] + '.new'); "
        "os.rename(sys.argv[1] + '.new', sys.argv[1])")
real_open, swapped = os.open, []

def open_(path, *args, **kwargs):
    # The attacker's move, at the worst moment for root: after the checks, before the lock.
    if not swapped and str(path).endswith(".lock"):
        swapped.append(path)
        subprocess.run([sys.executable, "-I", "-c", swap, link, other], user=uid, group=gid,
                       extra_groups=[], check=True, cwd="/")
    return real_open(path, *args, **kwargs)

os.open = open_
sys.exit(hookcall.run(sys.argv[5:]))
"""


def test_state_link_swapped_after_the_check_creates_nothing_elsewhere(attacker, open_tmp):
    """The link first points at a genuine root-owned state tree (every check passes), then,
    before the hook takes its lock, at the attacker's tree whose lock files are links to a
    path root must not create."""
    genuine = private_dir(open_tmp / "genuine")
    for sub in ("domains", "networks", "claims", "locks"):
        private_dir(genuine / sub)
    victim = victim_file(open_tmp, "nologin")
    mine = private_dir(open_tmp / "mine", 0o755)
    attacker.own(mine)
    as_attacker(attacker, "import os, sys\nfor s in ('domains', 'networks', 'claims', 'locks'):\n"
                " os.mkdir(os.path.join(sys.argv[1], s), 0o700)\n"
                "for n in ('run-domains-tapvm.lock', 'domains-tapvm.lock'):\n"
                " os.symlink(sys.argv[2], os.path.join(sys.argv[1], 'locks', n))", mine, victim)
    state = _shared(open_tmp) / "virt-netxml"
    as_attacker(attacker, SYMLINK, genuine, state)
    env = child_env(trusted_config(open_tmp / "conf", ""), state)
    proc = subprocess.run([sys.executable, "-c", SWAP_CHILD, str(state), str(mine), str(attacker.uid),
                           str(attacker.gid), *PREPARE], input=TAP, env=env, capture_output=True,
                          timeout=30, cwd=REPO)
    assert not victim.exists(), proc.stderr
    assert proc.returncode == 2, proc.stderr
    assert f"state directory {state}: symbolic link owned by uid {attacker.uid}" in one_line(proc.stderr)
