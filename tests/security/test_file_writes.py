"""Finding 3: root's file writes (``-i``, ``-o``, ``hooks install --root``) must not be steered.

The writer used to create its temporary file with ``mkstemp`` and then ``chmod`` it *by path*
with a mode read from the file being replaced. A user who controls the folder could swap a
symlink in for the temporary file between the two steps, and root's chmod then gave one of
root's own files the attacker's mode, setuid bits included. These tests carry the attack out
with a real unprivileged user and real files, links, FIFOs and devices.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

from click.testing import CliRunner

from tests.security.conftest import Attacker, make_folder, root_only
from tests.support import copy_domain, one_error_line, require
from xmltools.cli.main import cli
from xmltools.domain import Domain
from xmltools.fileio import atomic_write

# The attacker's side of the race: replace every temporary file root creates in the folder
# with a symlink to the victim, as fast as it can, until the stop file appears.
SWAPPER = r"""
import os, sys
folder, victim, stop = sys.argv[1:4]
n = 0
while not os.path.exists(stop):
    for name in os.listdir(folder):
        if name.startswith(".tmp") and not name.endswith(".lnk"):
            link = os.path.join(folder, name + ".lnk")
            try:
                os.symlink(victim, link)
                os.rename(link, os.path.join(folder, name))
                n += 1
            except OSError:
                pass
print(n)
"""

EDIT = ["--target", "guest-lan", "--set-vlan", "7"]
ROOT = Path(__file__).resolve().parent.parent.parent


def edit(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["edit", *args])


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_swapped_temporary_file_cannot_chmod_a_root_file(open_tmp: Path, attacker: Attacker) -> None:
    """The reported attack: -i of a 6777 file in a folder the attacker owns, racing the chmod."""
    victim = root_only(open_tmp / "root-only", "root's secret\n")
    folder = make_folder(open_tmp, "shared", owner=attacker)
    target = folder / "guest.xml"
    stop = open_tmp / "stop"
    swapper = subprocess.Popen([sys.executable, "-I", "-c", SWAPPER, str(folder), str(victim), str(stop)],
                               user=attacker.uid, group=attacker.gid, extra_groups=[], cwd="/",
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    results = []
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(results) < 150 and mode_of(victim) == 0o600:
            if target.is_symlink() or target.exists():
                target.unlink()
            copy_domain(folder, "keepsake.xml").rename(target)
            attacker.own(target)
            os.chmod(target, 0o6777)   # the attacker's own file, with every special bit
            results.append(edit(str(target), *EDIT, "-i"))
    finally:
        stop.touch()
        swapper.communicate(timeout=30)
    assert mode_of(victim) == 0o600, f"root's file got mode {oct(mode_of(victim))}"
    assert victim.read_text() == "root's secret\n"
    assert results and all(r.exit_code == 2 for r in results), results[-1].output
    assert "another user" in one_error_line(results[-1])


# A writer that is not root may write into a folder others can change (nothing to refuse):
# the mode must then still reach only the writer's own new file, however names are swapped.
WRITER = r"""
import os, sys
sys.path.insert(0, sys.argv[4])
from xmltools.fileio import atomic_write
target, victim, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
for _ in range(rounds):
    if os.path.islink(target):
        os.unlink(target)
    try:
        atomic_write(target, "<domain/>\n", 0o666)
    except OSError:
        pass
    if os.stat(victim).st_mode & 0o7777 != 0o600:
        break
print(oct(os.stat(victim).st_mode & 0o7777))
"""


def test_mode_is_set_on_the_descriptor_not_the_name(open_tmp: Path, attacker: Attacker) -> None:
    """The same swap against a writer that is not root (``daemon``), whose own file is the victim."""
    try:
        writer = pwd.getpwnam("daemon")
    except KeyError:
        writer = None
    require(writer is not None, "a second unprivileged user (daemon)")
    assert writer is not None
    victim = open_tmp / "daemon-only"
    victim.write_text("daemon's secret\n")
    os.chown(victim, writer.pw_uid, writer.pw_gid)
    os.chmod(victim, 0o600)
    folder = make_folder(open_tmp, "shared", 0o777, attacker)   # anyone may rename here: no sticky bit
    stop = open_tmp / "stop"
    swapper = subprocess.Popen([sys.executable, "-I", "-c", SWAPPER, str(folder), str(victim), str(stop)],
                               user=attacker.uid, group=attacker.gid, extra_groups=[], cwd="/",
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    try:
        done = subprocess.run([sys.executable, "-I", "-c", WRITER, str(folder / "guest.xml"), str(victim),
                               "300", str(ROOT)], user=writer.pw_uid, group=writer.pw_gid, extra_groups=[],
                              cwd="/", capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    finally:
        stop.touch()
        swapped = swapper.communicate(timeout=30)[0]
    assert done.returncode == 0, done.stderr
    assert int(swapped) > 0, "the attacker never got to swap a temporary file: the test proved nothing"
    assert done.stdout.strip() == "0o600", f"daemon's file got mode {done.stdout.strip()}"
    assert victim.read_text() == "daemon's secret\n"


def test_root_refuses_a_folder_another_user_owns(open_tmp: Path, attacker: Attacker) -> None:
    folder = make_folder(open_tmp, "theirs", owner=attacker)
    source = copy_domain(open_tmp)
    line = one_error_line(edit(str(source), *EDIT, "-o", str(folder / "out.xml")))
    assert str(folder / "out.xml") in line and "another user" in line
    assert os.listdir(folder) == []


def test_root_refuses_a_world_writable_folder_without_sticky_bit(open_tmp: Path) -> None:
    folder = make_folder(open_tmp, "loose", 0o777)
    source = copy_domain(open_tmp)
    assert "writable" in one_error_line(edit(str(source), *EDIT, "-o", str(folder / "out.xml")))
    assert os.listdir(folder) == []


def test_root_owned_sticky_folder_is_fine(open_tmp: Path) -> None:
    folder = make_folder(open_tmp, "tmp", 0o1777)
    source = copy_domain(open_tmp)
    result = edit(str(source), *EDIT, "-o", str(folder / "out.xml"))
    assert result.exit_code == 0, result.output
    assert Domain.from_xml((folder / "out.xml").read_text()).select(target="guest-lan")[0].vlan.ids == [7]
    assert mode_of(folder / "out.xml") == 0o644


def test_attackers_link_in_a_sticky_folder_is_not_followed(open_tmp: Path, attacker: Attacker) -> None:
    """Like the kernel's protected_symlinks, but whatever that sysctl says."""
    folder = make_folder(open_tmp, "tmp", 0o1777)
    victim = open_tmp / "victim.xml"
    victim.write_text("root's file\n")
    result = attacker.run("import os, sys; os.symlink(sys.argv[1], sys.argv[2])",
                          str(victim), str(folder / "out.xml"))
    assert result.returncode == 0, result.stderr
    source = copy_domain(open_tmp)
    assert "another user" in one_error_line(edit(str(source), *EDIT, "-o", str(folder / "out.xml")))
    assert victim.read_text() == "root's file\n"
    assert (folder / "out.xml").is_symlink()


def test_attackers_file_in_a_sticky_folder_is_not_replaced(open_tmp: Path, attacker: Attacker) -> None:
    """Root's output must not land in a name another user planted (protected_regular)."""
    folder = make_folder(open_tmp, "tmp", 0o1777)
    planted = folder / "out.xml"
    planted.write_text("planted\n")
    attacker.own(planted)
    os.chmod(planted, 0o666)
    source = copy_domain(open_tmp)
    assert "another user" in one_error_line(edit(str(source), *EDIT, "-o", str(planted)))
    assert planted.read_text() == "planted\n"


def test_link_in_a_folder_another_user_owns_is_refused(open_tmp: Path, attacker: Attacker) -> None:
    folder = open_tmp / "theirs"
    folder.mkdir()
    victim = open_tmp / "victim.xml"
    victim.write_text("root's file\n")
    (folder / "out.xml").symlink_to(victim)
    attacker.own(folder, folder / "out.xml")
    source = copy_domain(open_tmp)
    assert "another user" in one_error_line(edit(str(source), *EDIT, "-o", str(folder / "out.xml")))
    assert victim.read_text() == "root's file\n"


def test_setuid_setgid_and_sticky_bits_are_never_copied(tmp_path: Path) -> None:
    path = copy_domain(tmp_path)
    os.chmod(path, 0o7755)
    result = edit(str(path), *EDIT, "-i")
    assert result.exit_code == 0, result.output
    assert mode_of(path) == 0o755


def test_in_place_keeps_owner_group_and_mode(open_tmp: Path, attacker: Attacker) -> None:
    path = copy_domain(open_tmp)
    attacker.own(path)
    os.chmod(path, 0o640)
    result = edit(str(path), *EDIT, "-i")
    assert result.exit_code == 0, result.output
    st = os.stat(path)
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (attacker.uid, attacker.gid, 0o640)
    assert Domain.from_xml(path.read_text()).select(target="guest-lan")[0].vlan.ids == [7]


def test_a_symlink_is_written_through_in_its_targets_folder(tmp_path: Path) -> None:
    real = tmp_path / "store"
    real.mkdir()
    target = copy_domain(real)
    link = tmp_path / "guest.xml"
    link.symlink_to(os.path.relpath(target, tmp_path))
    result = edit(str(link), *EDIT, "-i")
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == os.path.relpath(target, tmp_path)
    assert Domain.from_xml(target.read_text()).select(target="guest-lan")[0].vlan.ids == [7]
    assert sorted(os.listdir(tmp_path)) == ["guest.xml", "store"]   # no temporary file left here
    assert os.listdir(real) == ["keepsake.xml"]


def test_character_device_is_written_into_not_replaced(tmp_path: Path) -> None:
    """``-o /dev/null`` as root: a device node stays a device node (here a private /dev/null)."""
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    source = copy_domain(tmp_path)
    result = edit(str(source), *EDIT, "-o", str(null))
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(os.lstat(null).st_mode) and os.lstat(null).st_rdev == os.makedev(1, 3)
    assert [n for n in os.listdir(tmp_path) if n.startswith(".tmp")] == []


def test_fifo_is_written_into_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.xml"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def reader() -> None:
        with open(fifo, "rb") as fh:
            received.append(fh.read())

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    source = copy_domain(tmp_path)
    result = edit(str(source), *EDIT, "-o", str(fifo))
    if not received:   # the writer failed before opening the FIFO: let the reader go
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    thread.join(10)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert Domain.from_xml(received[0].decode()).select(target="guest-lan")[0].vlan.ids == [7]


def test_socket_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "sock.xml"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        source = copy_domain(tmp_path)
        assert "socket" in one_error_line(edit(str(source), *EDIT, "-o", str(path)))
        assert stat.S_ISSOCK(os.lstat(path).st_mode)


def test_hook_install_into_a_folder_another_user_owns_is_refused(open_tmp: Path, attacker: Attacker) -> None:
    """``hooks install --root``: the hook folder handed to another user is not written as root."""
    folder = open_tmp / "img" / "etc" / "libvirt" / "hooks" / "qemu.d"
    folder.mkdir(parents=True)
    attacker.own(folder)
    result = CliRunner().invoke(cli, ["hooks", "install", "--root", str(open_tmp / "img")])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert os.listdir(folder) == []


def test_state_store_writes_keep_working(tmp_path: Path) -> None:
    """``hooks.state`` calls ``atomic_write(path, text, mode=0o600)``: same result as before."""
    path = tmp_path / "rec.json"
    atomic_write(str(path), "{}\n", mode=0o600)
    atomic_write(str(path), "{\"a\": 1}\n", mode=0o600)
    assert path.read_text() == "{\"a\": 1}\n" and mode_of(path) == 0o600
    assert os.listdir(tmp_path) == ["rec.json"]


def test_dev_null_as_root_stays_a_device(tmp_path: Path) -> None:
    """``-o /dev/null`` by its real name, in a private mount namespace with a /dev of its own
    (had the writer regressed, only that throw-away /dev/null would be replaced)."""
    require(shutil.which("unshare") is not None, "unshare(1) for a private /dev")
    source = copy_domain(tmp_path)
    script = """
        mount -t tmpfs -o mode=755 none /dev; mknod -m 666 /dev/null c 1 3
        cd "$3"; set +e; "$2" -m xmltools.cli.main edit "$1" --target guest-lan --set-vlan 7 -o /dev/null
        echo "rc=$?"; stat -c %F:%t,%T /dev/null; ls -A /dev
    """
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-euc", script, "sh",
                           str(source), sys.executable, str(ROOT)], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["rc=0", "character special file:1,3", "null"], proc.stderr
