"""Shared pieces of the security regression tests: an unprivileged local user to play the
attacker, and a way to run a step of an attack as that user.

These tests reproduce each finding of the hooks' threat model (docs/hooks.md, "Threat model"):
the attack is carried out for real where the machine allows it (files, links, FIFOs, processes,
network namespaces) and with the test fakes only where hardware is missing (SR-IOV).
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import require


@dataclass(frozen=True)
class Attacker:
    """An unprivileged local user (``nobody``): owns files root must not trust."""

    uid: int
    gid: int

    def own(self, *paths: Path | str) -> None:
        """Hand ``paths`` to the attacker (as root: chown, without following links)."""
        for path in paths:
            os.chown(path, self.uid, self.gid, follow_symlinks=False)

    def run(self, code: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run Python ``code`` as the attacker; ``args`` become ``sys.argv[1:]``."""
        return self.run_argv([sys.executable, "-I", "-c", code, *args], timeout=timeout)

    def run_argv(self, argv: Sequence[str], timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(list(argv), user=self.uid, group=self.gid, extra_groups=[],
                              capture_output=True, text=True, timeout=timeout, cwd="/",
                              stdin=subprocess.DEVNULL)


@pytest.fixture
def attacker() -> Attacker:
    require(os.geteuid() == 0, "root (the attacks are against root's hooks)")
    entry = pwd.getpwnam("nobody")
    return Attacker(entry.pw_uid, entry.pw_gid)


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The hooks' configuration and state folders under ``tmp_path`` (returned)."""
    conf = tmp_path / "conf"
    conf.mkdir()
    # Never the machine's own Open vSwitch, if it has one: a socket nobody listens on.
    (conf / "hooks.conf").write_text(f"ovs-db = {tmp_path / 'no-ovs.sock'}\n")
    monkeypatch.setenv("VIRT_NETXML_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("VIRT_NETXML_CONFIG_DIR", str(conf))
    monkeypatch.delenv("VIRT_NETXML_DEADLINE", raising=False)
    return tmp_path


@pytest.fixture
def open_tmp(tmp_path: Path) -> Path:
    """A folder under ``tmp_path`` that the attacker can enter (pytest's own is 0700)."""
    os.chmod(tmp_path, 0o755)
    for parent in tmp_path.parents:
        if parent == Path(parent.anchor):
            break
        st = parent.stat()
        if st.st_mode & 0o005 != 0o005:
            os.chmod(parent, st.st_mode | 0o005)
    return tmp_path


def make_folder(parent: Path, name: str, mode: int = 0o755, owner: Attacker | None = None) -> Path:
    """A new folder ``parent/name`` with exactly ``mode`` (the umask aside), optionally the attacker's."""
    path = parent / name
    path.mkdir()
    os.chmod(path, mode)
    if owner is not None:
        owner.own(path)
    return path


def root_only(path: Path, text: str) -> Path:
    """A file only root may read or write: what an attack tries to reach."""
    path.write_text(text)
    os.chmod(path, 0o600)
    return path
