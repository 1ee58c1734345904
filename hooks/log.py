"""Every action a hook takes goes to syslog (ident ``virt-netxml``) and optionally to a file.

One line per action: the libvirt object, the operation, the interface, what was done and how
it ended, so ``journalctl -t virt-netxml`` answers "what did the hook do to vnet3?".
"""

from __future__ import annotations

import os
import syslog
import time

from hooks.actions import Action
from hooks.context import Owner

_PRIORITY = {"changed": syslog.LOG_INFO, "unchanged": syslog.LOG_DEBUG, "undone": syslog.LOG_WARNING,
             "failed": syslog.LOG_ERR, "undo-failed": syslog.LOG_ERR}


class HookLog:
    """Callable logger for the executor, plus ``event()`` for whole-call lines."""

    def __init__(self, owner: Owner, operation: str, log_file: str | None = None,
                 use_syslog: bool = True) -> None:
        self.prefix = f"{owner.kind}={owner.name} op={operation}"
        self.log_file = log_file
        self.use_syslog = use_syslog
        self._opened = False

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

    def write(self, line: str, priority: int) -> None:
        if self.use_syslog:
            if not self._opened:
                syslog.openlog("virt-netxml", syslog.LOG_PID, syslog.LOG_DAEMON)
                self._opened = True
            syslog.syslog(priority, line)
        if self.log_file:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            try:
                fd = os.open(self.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
                try:
                    os.write(fd, f"{stamp} [{os.getpid()}] {line}\n".encode("utf-8", "replace"))
                finally:
                    os.close(fd)
            except OSError:
                pass   # logging must never be the reason a guest fails to start
