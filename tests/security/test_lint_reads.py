"""Finding 11: ``virt-netxml lint DIR`` read whatever sat in the folder, as whoever ran it.

A FIFO named ``*.xml`` hung the run forever (open waits for a writer), and a symlink planted
in a folder made lint, often run as root, read the file it pointed to and quote it in its
findings. Lint now reads only regular files, opened with O_NONBLOCK (and O_NOFOLLOW inside a
folder walk), and says which ``*.xml`` it skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.security.conftest import Attacker, make_folder, root_only

ROOT = Path(__file__).resolve().parent.parent.parent
GOOD = ROOT / "fixtures" / "lint" / "pass" / "network-basics.xml"
DOMAIN = ROOT / "fixtures" / "lint" / "pass" / "domain.xml"
TIMEOUT = 20   # seconds: a hang is a failure, not a stuck test run


def lint(*args: str) -> subprocess.CompletedProcess:
    """``virt-netxml lint`` as a real process, bounded in time."""
    return subprocess.run([sys.executable, "-m", "xmltools.cli.main", "lint", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=TIMEOUT,
                          stdin=subprocess.DEVNULL)


def notes(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("virt-netxml: note: ")]


def test_fifo_named_xml_in_a_folder_is_skipped_not_waited_on(tmp_path: Path) -> None:
    shutil.copy(GOOD, tmp_path / "a.xml")
    os.mkfifo(tmp_path / "x.xml")
    proc = lint(str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert notes(proc) == [f"virt-netxml: note: {tmp_path / 'x.xml'}: skipped: a FIFO, not a regular file"]


def test_fifo_named_on_the_command_line_is_skipped_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "x.xml"
    os.mkfifo(fifo)
    proc = lint(str(GOOD), str(fifo))
    assert proc.returncode == 0, proc.stderr
    assert notes(proc) == [f"virt-netxml: note: {fifo}: skipped: a FIFO, not a regular file"]


def test_planted_link_to_a_root_only_file_is_not_read(open_tmp: Path, attacker: Attacker) -> None:
    secret = root_only(open_tmp / "secret", "<root-secret-element/>\n")
    folder = make_folder(open_tmp, "repo")
    shutil.copy(GOOD, folder / "a.xml")
    attacker.own(folder)
    made = attacker.run("import os, sys; os.symlink(sys.argv[1], sys.argv[2])",
                        str(secret), str(folder / "evil.xml"))
    assert made.returncode == 0, made.stderr
    proc = lint(str(folder))
    assert "root-secret-element" not in proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout
    assert len(notes(proc)) == 1 and f"{folder / 'evil.xml'}: skipped: a symbolic link" in notes(proc)[0]


def test_planted_link_to_a_fifo_does_not_hang(open_tmp: Path, attacker: Attacker) -> None:
    fifo = open_tmp / "fifo"
    os.mkfifo(fifo)
    folder = open_tmp / "repo"
    folder.mkdir()
    shutil.copy(GOOD, folder / "a.xml")
    (folder / "b.xml").symlink_to(fifo)
    attacker.own(folder, folder / "b.xml")
    proc = lint(str(folder))
    assert proc.returncode == 0, proc.stderr
    assert len(notes(proc)) == 1 and "b.xml: skipped: a symbolic link" in notes(proc)[0]


def _libvirt_layout(tmp_path: Path) -> Path:
    qemu = tmp_path / "qemu"
    (qemu / "autostart").mkdir(parents=True)
    shutil.copy(DOMAIN, qemu / "web.xml")
    (qemu / "autostart" / "web.xml").symlink_to("../web.xml")   # what `virsh autostart` makes
    return qemu


def test_libvirt_autostart_links_are_linted_once_not_as_duplicates(tmp_path: Path) -> None:
    qemu = _libvirt_layout(tmp_path)
    proc = lint(str(qemu))
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout == "" and notes(proc) == []


def test_autostart_folder_alone_is_not_read_through(tmp_path: Path) -> None:
    """An autostart entry is judged by what it points at (a definition beside the folder), never
    read: the definition here is not even XML, and nothing of it is reported."""
    qemu = _libvirt_layout(tmp_path)
    (qemu / "web.xml").write_text("not xml: were it read through the link, lint would say so")
    proc = lint(str(qemu / "autostart"))
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout == "" and notes(proc) == []
    # the same entry without its definition is a finding about the entry, still without reading it
    (qemu / "web.xml").unlink()
    proc = lint(str(qemu / "autostart"))
    assert proc.returncode == 1
    assert "[autostart-missing]" in proc.stdout and "not xml" not in proc.stdout


def test_a_link_named_on_the_command_line_is_followed(tmp_path: Path) -> None:
    qemu = _libvirt_layout(tmp_path)
    proc = lint("--format", "json", str(qemu / "autostart" / "web.xml"))
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.strip() == "[]" and notes(proc) == []
