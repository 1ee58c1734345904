"""Throw-away network namespaces and a private Open vSwitch inside them, for tests.

    with netns("vnxtest") as ns:              # `ip netns add vnxtest-<random>`, always deleted
        with entered(ns):                     # this thread now lives in ns (netlink, children)
            ...
        with ovs_in_netns(ns, tmp_path) as db:   # ovsdb-server + ovs-vswitchd, killed by PID
            vsctl(db, "add-br", "br0", "--", "set", "Bridge", "br0", "datapath_type=netdev")

Nothing here touches the machine's own interfaces: every device and daemon lives in the
namespace, and the OVS daemons keep their databases, sockets, pid and log files under a
private folder (OVS_RUNDIR and friends), so a system OVS, if any, is never disturbed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

CLONE_NEWNET = 0x40000000
OVS_SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
DAEMON_START_TIMEOUT = 10.0

_libc = ctypes.CDLL(None, use_errno=True)


def have_tools(*names: str) -> bool:
    """True when every named program is on PATH."""
    return all(shutil.which(n) for n in names)


def ip(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``ip [-n NS] ARGS`` and return its result (text)."""
    argv = ["ip", *(["-n", ns] if ns else []), *args]
    return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=20)


@contextlib.contextmanager
def netns(name_prefix: str = "vnxtest") -> Iterator[str]:
    """A new named network namespace with loopback up; deleted on exit, also after a failure."""
    name = f"{name_prefix}-{secrets.token_hex(4)}"
    ip("netns", "add", name)
    try:
        ip("link", "set", "lo", "up", ns=name)
        yield name
    finally:
        ip("netns", "delete", name, check=False)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextlib.contextmanager
def entered(ns: str) -> Iterator[None]:
    """Move the calling thread into network namespace ``ns`` and back on exit.

    Sockets opened inside (a pyroute2 IPRoute) and processes started inside (``ip``,
    ``ovs-vsctl``) belong to ``ns``; sockets opened before stay where they were.
    """
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(home)


def vsctl(db: str | Path, *args: str, timeout: float = 10.0) -> str:
    """Run ``ovs-vsctl --db=unix:DB ARGS`` (test setup and read-back) and return stdout."""
    argv = ["ovs-vsctl", f"--timeout={int(timeout)}", f"--db=unix:{db}", *args]
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=timeout + 5).stdout


class OvsDaemons:
    """The PIDs of an ovsdb-server and ovs-vswitchd this process started."""

    def __init__(self, rundir: Path) -> None:
        self.rundir = rundir
        self.db_socket = rundir / "db.sock"
        self.pids: dict[str, int] = {}

    def env(self) -> dict[str, str]:
        run = str(self.rundir)
        return {**os.environ, "OVS_RUNDIR": run, "OVS_LOGDIR": run, "OVS_DBDIR": run,
                "OVS_SYSCONFDIR": run, "OVS_PKGDATADIR": str(OVS_SCHEMA.parent)}

    def start(self, ns: str, program: str, *args: str) -> None:
        """Start a daemon with --detach inside ``ns`` and record the PID from its pidfile."""
        pidfile = self.rundir / f"{program}.pid"
        argv = ["ip", "netns", "exec", ns, program, *args, f"--pidfile={pidfile}", "--detach",
                "--no-chdir", f"--log-file={self.rundir / (program + '.log')}", "-vconsole:off"]
        subprocess.run(argv, check=True, capture_output=True, env=self.env(), timeout=DAEMON_START_TIMEOUT)
        # --detach returns once the daemon is ready, and it has written its pidfile by then.
        self.pids[program] = int(pidfile.read_text().split()[0])

    def stop(self) -> None:
        """SIGTERM each daemon by PID (vswitchd first), then SIGKILL what is left."""
        for program in ("ovs-vswitchd", "ovsdb-server"):
            pid = self.pids.pop(program, None)
            if pid is not None:
                _terminate(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (not our child, reaped by init later) counts as gone. Reading the stat file of a
    # process that is just going away fails with ESRCH (ProcessLookupError): gone as well.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def _terminate(pid: int, grace: float = 5.0) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def ovs_in_netns(ns: str, tmpdir: str | Path) -> Iterator[str]:
    """ovsdb-server and ovs-vswitchd (userspace datapath) inside ``ns``; yields the db socket path.

    Create bridges with ``datapath_type=netdev``: this machine has no OVS kernel datapath.
    Both daemons are stopped by PID on exit, also after a failure.
    """
    rundir = Path(tmpdir) / "ovs"
    rundir.mkdir(parents=True, exist_ok=True)
    daemons = OvsDaemons(rundir)
    db_file = rundir / "conf.db"
    subprocess.run(["ovsdb-tool", "create", str(db_file), str(OVS_SCHEMA)], check=True,
                   capture_output=True, timeout=DAEMON_START_TIMEOUT)
    try:
        daemons.start(ns, "ovsdb-server", str(db_file), f"--remote=punix:{daemons.db_socket}",
                      f"--unixctl={rundir / 'ovsdb-server.ctl'}")
        vsctl(daemons.db_socket, "--no-wait", "init")
        daemons.start(ns, "ovs-vswitchd", f"unix:{daemons.db_socket}",
                      f"--unixctl={rundir / 'ovs-vswitchd.ctl'}")
        yield str(daemons.db_socket)
    finally:
        daemons.stop()


def add_ovs_bridge(db: str | Path, name: str) -> None:
    """A userspace-datapath OVS bridge (the only kind this machine's kernel can run)."""
    vsctl(db, "add-br", name, "--", "set", "Bridge", name, "datapath_type=netdev")
