"""Syslog never makes a hook call wait.

libvirt waits for a hook with no timeout. The C library's ``syslog()`` blocks while the journal's
receive queue is full (a stalled or overloaded journald), so the hooks write syslog datagrams
themselves, without blocking: a line the journal cannot take at once is dropped and counted, and
the count goes out with the call's last line. A socket stands in for ``/dev/log`` (this machine
has no syslog daemon); nobody reads it until the test says so.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hooks import log as hook_log
from hooks.context import Owner
from hooks.log import HookLog


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = tmp_path / "log"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)   # fills after a few lines
    sock.bind(str(path))
    monkeypatch.setattr(hook_log, "SYSLOG_SOCKET", str(path))
    yield sock
    sock.close()


def received(sock: socket.socket) -> list[str]:
    sock.setblocking(False)
    lines = []
    while True:
        try:
            lines.append(sock.recv(65536).decode())
        except BlockingIOError:
            return lines


def test_a_journal_that_does_not_read_never_stalls_the_call(journal):
    log = HookLog(Owner("domain", "vm1"), "start")
    begin = time.monotonic()
    for n in range(2000):
        log.event(f"line {n} " + "x" * 200)
    log.close()
    assert time.monotonic() - begin < 5
    assert log.dropped > 0
    lines = received(journal)
    assert 0 < len(lines) < 2000
    assert lines[0].startswith("<30>") and " virt-netxml[" in lines[0]           # daemon.info
    assert "domain=vm1 op=start line 0 " in lines[0]


def test_every_line_arrives_when_the_journal_reads(journal):
    log = HookLog(Owner("network", "net1"), "start")
    lines = []
    for n in range(50):
        log.error(f"step {n}")
        lines += received(journal)
    log.close()
    lines += received(journal)
    assert log.dropped == 0 and len(lines) == 50
    assert all(line.startswith("<27>") for line in lines)          # daemon.err
    assert lines[-1].endswith("network=net1 op=start step 49")


def test_dropped_lines_are_counted_in_the_last_one(journal):
    log = HookLog(Owner("domain", "vm2"), "prepare")
    while not log.dropped:
        log.event("y" * 500)
    received(journal)                                              # the journal catches up
    log.close()
    [last] = received(journal)
    assert f"domain=vm2 op=prepare {log.dropped} log line(s) dropped" in last


def test_no_syslog_daemon_is_no_error(tmp_path, monkeypatch):
    monkeypatch.setattr(hook_log, "SYSLOG_SOCKET", str(tmp_path / "nobody-listens"))
    log = HookLog(Owner("domain", "vm3"), "start")
    log.event("nothing to send it to")
    log.close()
    assert log.dropped == 0
