"""Every action a hook takes goes to syslog (ident ``virt-netxml``) and optionally to a file.

One line per action: the libvirt object, the operation, the interface, what was done and how
it ended, so ``journalctl -t virt-netxml`` answers "what did the hook do to vnet3?".

The log file is a copy for convenience, and root writes it: it is opened once per call,
never through a link, without blocking (a FIFO planted there must not stall libvirtd), and
only if it is a regular file of root's, writable by nobody else, in folders nobody else can
change (``hooks.config.open_trusted``; a sticky folder like /tmp is fine, since others cannot
replace root's file in it). A log file that fails this is not written, said once on stderr and
in syslog, and the call goes on: the actions still reach syslog, and a file a local user planted
must not become a way to stop every guest from starting.

Syslog is written the same way: a datagram socket to ``/dev/log`` that never blocks (the C
library's ``syslog()`` waits while the journal's receive queue is full, and libvirt waits for the
hook with no timeout). A line the journal cannot take at once is dropped and counted, and the
count is sent with the call's last line.
"""

from __future__ import annotations

import contextlib
import os
import syslog
import time

from hooks.actions import Action
from hooks.config import open_trusted
from hooks.context import Owner

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_LOG_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT
SYSLOG_SOCKET = "/dev/log"

_PRIORITY = {"changed": syslog.LOG_INFO, "unchanged": syslog.LOG_DEBUG, "undone": syslog.LOG_WARNING,
             "failed": syslog.LOG_ERR, "undo-failed": syslog.LOG_ERR}


class HookLog:
    """Callable logger for the executor, plus ``event()`` for whole-call lines."""

    def __init__(self, owner: Owner, operation: str, log_file: str | None = None,
                 use_syslog: bool = True) -> None:
        self.prefix = f"{owner.kind}={owner.name} op={operation}"
        self.log_file = log_file
        self.use_syslog = use_syslog
        self._sock: Any = None          # the /dev/log socket; False when there is none
        self.dropped = 0                # syslog lines the journal could not take at once
        self._fd: int | None = None
        self._refused = False
        # Where a refused log file is reported (the hook's stderr); syslog gets it too.
        self.warn: Callable[[str], object] | None = None

    def attach_file(self, log_file: str | None, warn: Callable[[str], object] | None = None) -> None:
        """Also append to ``log_file`` from now on (once the configuration naming it is trusted)."""
        self._close_file()
        self.log_file, self._refused = log_file, False
        if warn is not None:
            self.warn = warn

    def _close_file(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        self._close_file()
        if self._sock:
            if self.dropped:
                self._send(syslog.LOG_WARNING,
                           f"{self.prefix} {self.dropped} log line(s) dropped: the journal was not reading")
            self._sock.close()
            self._sock = None

    def __call__(self, action: Action | None, status: str, detail: str) -> None:
        iface = action.iface if action is not None and action.iface else "-"
        what = action.describe() if action is not None else "-"
        line = f"{self.prefix} iface={iface} action=\"{what}\" result={status}"
        if detail:
            line += f" detail=\"{detail}\""
        self.write(line, _PRIORITY.get(status, syslog.LOG_INFO))

    def event(self, text: str, priority: int = syslog.LOG_INFO) -> None:
        self.write(f"{self.prefix} {text}", priority)

    def error(self, text: str) -> None:
        self.event(text, syslog.LOG_ERR)

    def _syslog(self, line: str, priority: int) -> None:
        if self.use_syslog and not self._send(priority, line):
            self.dropped += 1

    def _send(self, priority: int, line: str) -> bool:
        """One syslog datagram, never waiting; False when it was not taken."""
        if self._sock is None:
            import _socket  # the C module: socket.py would import enum and selectors

            sock = _socket.socket(_socket.AF_UNIX,
                                  _socket.SOCK_DGRAM | _socket.SOCK_NONBLOCK | _socket.SOCK_CLOEXEC)
            try:
                sock.connect(SYSLOG_SOCKET)
                self._sock = sock
            except OSError:
                sock.close()
                self._sock = False   # no syslog daemon here: nothing to wait for either
        if not self._sock:
            return True
        stamp = time.strftime("%b %e %H:%M:%S")
        message = f"<{syslog.LOG_DAEMON | priority}>{stamp} virt-netxml[{os.getpid()}]: {line}"
        try:
            self._sock.send(message.encode("utf-8", "replace"))
        except OSError:   # EAGAIN: the journal's queue is full; anything else: it went away
            return False
        return True

    def write(self, line: str, priority: int) -> None:
        self._syslog(line, priority)
        fd = self._file()
        if fd is not None:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            with contextlib.suppress(OSError):   # logging must never be why a guest fails to start
                os.write(fd, f"{stamp} [{os.getpid()}] {line}\n".encode("utf-8", "replace"))

    def _file(self) -> int | None:
        """The log file's descriptor, opened and checked on first use; None when there is
        none or it was refused (reported once)."""
        if self._fd is not None or not self.log_file or self._refused:
            return self._fd
        from xmltools.errors import NetXmlError

        try:
            fd = open_trusted(self.log_file, "log file", flags=_LOG_FLAGS, mode=0o640)
            problem = None if fd is not None else f"log file {self.log_file}: its folder does not exist"
        except NetXmlError as exc:
            fields = exc.fields
            problem = (f"{fields['what']} {fields['path']}: {fields['reason']}" if "reason" in fields
                       else exc.message)
        except OSError as exc:
            problem = f"log file {self.log_file}: {exc.strerror or exc}"
        if problem is not None:
            self._refused = True
            text = f"{problem}; not written (actions still go to syslog)"
            self._syslog(f"{self.prefix} {text}", syslog.LOG_WARNING)
            if self.warn is not None:
                self.warn(f"virt-netxml: {text}\n")
            return None
        self._fd = fd
        return fd
