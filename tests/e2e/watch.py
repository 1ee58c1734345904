"""``virt-netxml hooks watch`` run against a sandbox, as an administrator would run it by hand.

The process runs in the sandbox's network namespace (the ports it changes live there) with this
checkout's command, against the sandbox's libvirtd socket, with the hooks' state folder (shared
with the hooks libvirtd runs), its own configuration folder (a log file) and the sandbox's Open
vSwitch database. It is stopped by PID: SIGTERM (``stop``), SIGKILL (``kill``), or frozen and
thawed (SIGSTOP/SIGCONT) to make it miss events.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.e2e.harness import DAEMON_ENV, VNX, Sandbox


class WatchProcess:
    def __init__(self, box: Sandbox, folder: Path) -> None:
        self.box = box
        self.folder = folder
        self.conf = folder / "watch-conf"
        self.err = folder / "watch.err"
        self.log = folder / "watch.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.conf.mkdir(mode=0o755, exist_ok=True)
        (self.conf / "hooks.conf").write_text(f"log-file = {self.log}\n")
        env = {**DAEMON_ENV, "VIRT_NETXML_STATE_DIR": str(self.box.hooks_state),
               "VIRT_NETXML_CONFIG_DIR": str(self.conf), "VIRT_NETXML_OVS_DB": str(self.box.ovs.db_socket)}
        argv = self.box.ns.exec_argv([VNX, "hooks", "watch", "--connect", self.box.libvirtd.uri])
        with self.err.open("ab") as err:
            self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=err)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def text(self) -> str:
        return self.err.read_text(errors="replace") if self.err.exists() else ""

    def lines(self) -> list[str]:
        return self.text().splitlines()

    def wait_for(self, needle: str, count: int = 1, timeout: float = 30) -> str:
        """Wait until ``needle`` appears ``count`` times in the watch's output; return that output."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            text = self.text()
            if text.count(needle) >= count:
                return text
            if self.proc is not None and self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"the watch did not say {needle!r} ({count}x) within {timeout:.0f} s:\n"
                             + self.text()[-3000:])

    def signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then wait; returns its exit status (SIGKILL after ``timeout``)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc is not None else 0
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.signal(signal.SIGKILL)
            self.proc.wait(timeout=15)
