"""A throw-away host for end-to-end tests: network namespace, Open vSwitch and libvirtd.

Everything lives in one private network namespace (``vnxe2e-<random>``) and one temporary
folder. libvirtd runs in that namespace and, through ``reaper.py``, in a private mount
namespace where /etc is a copy-on-write overlay and /etc/libvirt, /run, /var/lib/libvirt,
/var/log/libvirt and /var/cache/libvirt are folders of the temporary tree: its configuration,
hooks, sockets and state never touch the machine's own. Open vSwitch (started by
tests/netns/harness.py) runs in the namespace with its files in the temporary folder, linked
as the tree's run/openvswitch, which libvirtd and the hooks it runs see as /run/openvswitch.

Two libvirt releases (``RELEASES``): the machine's own (libvirt 9.0 on Debian 12) and the
Debian 13 root that setup.sh builds under .cache/debian13 (libvirt 11.3). For the latter, one
private mount namespace, kept by an idle "holder" process, lays a copy-on-write overlay over the
whole root (the cached root is never written), binds /proc, /sys, /dev and the machine's /tmp
into it, then the same temporary folders; libvirtd, Open vSwitch and the root's own
``virt-netxml`` run in it with ``chroot``: the daemons, QEMU, dnsmasq and the hooks (on the
root's Python 3.13) are all Debian 13's.

Processes are stopped by PID. Everything that ever ran in the namespace is found through
/proc/PID/ns/net, so a leftover QEMU or dnsmasq cannot hide; ``Sandbox.leftovers()`` lists
what survived a teardown.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import CompletedProcess

from tests.netns.harness import ovs_in_netns

REPO = Path(__file__).resolve().parents[2]
VNX = REPO / ".venv" / "bin" / "virt-netxml"
REAPER = Path(__file__).with_name("reaper.py")
NS_PREFIX = "vnxe2e-"
# Every namespace this process created, so the final check looks at ours only: another run of
# these tests (another checkout, another user of this machine) may own other vnxe2e-* names.
CREATED_NAMESPACES: list[str] = []
HOST_HOOKS = Path("/etc/libvirt/hooks")

# What libvirtd, QEMU and the hooks get as environment: like a service manager would give.
DAEMON_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LC_ALL": "C",
    "HOME": "/root",
}

REQUIRED_PROGRAMS = ("libvirtd", "virsh", "qemu-system-x86_64", "ovsdb-server", "ovs-vswitchd",
                     "ovs-vsctl", "ovsdb-tool", "dnsmasq", "ip", "unshare", "mount", "nsenter", "iptables",
                     "nft")


SOURCE_DIGEST = "virt-netxml-source.sha256"   # in the Debian root's virtual environment


def source_digest(repo: Path = REPO) -> str:
    """SHA-256 over the installable source (package folders and pyproject.toml), names and bytes.

    tests/e2e/debian13-root.sh records it next to the copy it installs in the Debian root, so a
    run against that root notices a checkout that changed since.
    """
    import hashlib

    digest = hashlib.sha256()
    files = [repo / "pyproject.toml"] + sorted(
        p for top in ("hooks", "xmltools", "rng") for p in (repo / top).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts)
    for path in files:
        digest.update(str(path.relative_to(repo)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class Release:
    """A libvirt release the end-to-end tests run against.

    ``sysroot`` is None for the machine's own libvirt; otherwise a Debian root (built by
    setup.sh) whose daemons run chrooted, with the project installed in ``venv`` inside it.
    """

    name: str
    sysroot: Path | None = None
    venv: str = ""

    def __str__(self) -> str:
        return self.name

    @property
    def version(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.name.removeprefix("libvirt-").split("."))

    def missing(self) -> list[str]:
        """What this release needs and the machine lacks."""
        if self.sysroot is None:
            return [p for p in REQUIRED_PROGRAMS if shutil.which(p, path=DAEMON_ENV["PATH"]) is None]
        wanted = ["usr/sbin/libvirtd", "usr/sbin/virtlogd", "usr/bin/qemu-system-x86_64",
                  "usr/sbin/ovsdb-server", "usr/sbin/ovs-vswitchd", "usr/bin/ovs-vsctl",
                  "usr/bin/ovsdb-tool", "usr/sbin/dnsmasq", "usr/sbin/nft",
                  f"{self.venv.lstrip('/')}/bin/virt-netxml"]
        missing = [f"{self.sysroot}/{p} (run setup.sh)" for p in wanted if not (self.sysroot / p).exists()]
        stamp = self.sysroot / self.venv.lstrip("/") / SOURCE_DIGEST
        if not missing and (not stamp.exists() or stamp.read_text().strip() != source_digest()):
            missing.append(f"the project installed in {self.sysroot} is not this checkout's "
                           "(run tests/e2e/debian13-root.sh)")
        return missing


# The machine's libvirt, and Debian 13's from the root setup.sh builds (tests/e2e/debian13-root.sh).
RELEASES = {
    "libvirt-9.0.0": Release("libvirt-9.0.0"),
    "libvirt-11.3.0": Release("libvirt-11.3.0", REPO / ".cache" / "debian13", "/opt/virt-netxml"),
}


def run(argv: Sequence[str | os.PathLike[str]], *, input: str | None = None, check: bool = True,
        timeout: float = 60, env: dict[str, str] | None = None) -> CompletedProcess[str]:
    """Run a command, text in and out; a failure raises with its stderr in the message."""
    proc = subprocess.run([str(a) for a in argv], input=input, capture_output=True, text=True,
                          timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise CommandFailed(proc)
    return proc


class CommandFailed(AssertionError):
    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        super().__init__(f"{' '.join(proc.args)} exited {proc.returncode}: "
                         f"{proc.stderr.strip() or proc.stdout.strip()}")
        self.proc = proc


def vnx(*args: str | os.PathLike[str], input: str | None = None,
        check: bool = True) -> CompletedProcess[str]:
    """Run the project's ``virt-netxml`` command."""
    return run([VNX, *args], input=input, check=check)


def missing_programs(release: Release = RELEASES["libvirt-9.0.0"]) -> list[str]:
    missing = [p for p in REQUIRED_PROGRAMS if shutil.which(p, path=DAEMON_ENV["PATH"]) is None]
    return missing + (release.missing() if release.sysroot else [])


def pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def wait_for(predicate, timeout: float, what: str, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def stop_pid(pid: int, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; returns once the process is gone."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        try:
            wait_for(lambda: not pid_alive(pid), timeout, f"process {pid} to exit")
            return
        except TimeoutError:
            continue


OWNER_NOTE = "owner"   # "<pid of the test run> <namespace>" in each sandbox's temporary folder


def sweep_stale_sandboxes(tmp_root: str | None = None) -> list[str]:
    """Tear down sandboxes of earlier runs of these tests that died without teardown.

    A sandbox is stale when the test process named in its owner note is gone. Its namespace's
    processes (libvirtd, QEMU, OVS, dnsmasq: all started by that run, all inside the namespace it
    created) are stopped by PID, the namespace is deleted and the folder removed. Sandboxes of
    live runs, and folders without an owner note, are left alone. Returns the namespaces swept.
    """
    swept = []
    root = Path(tmp_root or tempfile.gettempdir())
    for folder in sorted(root.glob(NS_PREFIX + "*")):
        try:
            pid_text, ns_name = (folder / OWNER_NOTE).read_text().split()
            owner = int(pid_text)
        except (OSError, ValueError):
            continue
        if pid_alive(owner) or not ns_name.startswith(NS_PREFIX):
            continue
        if ns_name in namespaces():
            ns = Netns(ns_name, os.stat(f"/run/netns/{ns_name}").st_ino)
            for pid in ns.pids():
                stop_pid(pid, timeout=5)
            ns.delete()
            swept.append(ns_name)
        shutil.rmtree(folder, ignore_errors=True)
    return swept


def namespaces() -> list[str]:
    out = run(["ip", "netns", "list"]).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


@dataclass
class Netns:
    """A named network namespace this run created."""

    name: str
    inode: int = 0

    @classmethod
    def create(cls, prefix: str = NS_PREFIX) -> Netns:
        ns = cls(prefix + secrets.token_hex(4))
        run(["ip", "netns", "add", ns.name])
        CREATED_NAMESPACES.append(ns.name)
        ns.inode = os.stat(f"/run/netns/{ns.name}").st_ino
        ns.ip("link", "set", "lo", "up")
        return ns

    @classmethod
    def existing(cls, name: str) -> Netns:
        """A namespace someone else made (an OVN chassis's): used, never deleted by a sandbox."""
        return cls(name, os.stat(f"/run/netns/{name}").st_ino)

    def exec_argv(self, argv: Sequence[str | os.PathLike[str]]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *[str(a) for a in argv]]

    def run(self, *argv: str, check: bool = True, input: str | None = None) -> CompletedProcess[str]:
        return run(self.exec_argv(argv), check=check, input=input)

    def ip(self, *args: str, check: bool = True) -> CompletedProcess[str]:
        return run(["ip", "-n", self.name, *args], check=check)

    def links(self) -> dict[str, dict]:
        """Every link in the namespace by name, with details (``ip -d -j link``)."""
        out = self.ip("-d", "-j", "link", "show").stdout
        return {link["ifname"]: link for link in json.loads(out or "[]")}

    def link(self, name: str) -> dict | None:
        return self.links().get(name)

    def add_veth(self, name: str, peer: str, up: bool = True) -> None:
        """A veth pair with both ends inside this namespace: an uplink and its far end."""
        self.ip("link", "add", name, "type", "veth", "peer", "name", peer)
        if up:
            self.ip("link", "set", name, "up")
            self.ip("link", "set", peer, "up")

    def reachable(self, address: str, timeout: float = 2.0) -> bool:
        """Whether an IPv4 address answers from inside the namespace (no ping on this machine).

        A TCP connection to the discard port: "refused" means the host answered (ARP and IP
        worked); a timeout or "no route to host" means it did not.
        """
        probe = ("import socket, sys\n"
                 "try:\n"
                 f"    socket.create_connection(({address!r}, 9), timeout={timeout})\n"
                 "except ConnectionRefusedError:\n"
                 "    sys.exit(0)\n"
                 "except OSError:\n"
                 "    sys.exit(1)\n")
        return run(self.exec_argv([sys.executable, "-I", "-S", "-c", probe]), check=False).returncode == 0

    def pids(self) -> list[int]:
        """Processes whose network namespace is this one."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.stat(f"/proc/{entry}/ns/net").st_ino == self.inode and pid_alive(int(entry)):
                    found.append(int(entry))
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
        return found

    def delete(self) -> None:
        if self.name in namespaces():
            run(["ip", "netns", "delete", self.name])


@dataclass
class Ovs:
    """ovsdb-server and ovs-vswitchd (userspace datapath) in the namespace, from tests/netns.

    Their folder is linked as ``run/openvswitch`` of libvirtd's tree, so libvirtd and the hooks
    find the database at the default /run/openvswitch/db.sock.
    """

    ns: Netns
    root: Path
    run_link: Path
    db_socket: Path = Path()
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_socket = Path(self.stack.enter_context(ovs_in_netns(self.ns.name, self.root)))
        self.run_link.parent.mkdir(parents=True, exist_ok=True)
        self.run_link.symlink_to(self.db_socket.parent)

    def vsctl(self, *args: str, check: bool = True) -> CompletedProcess[str]:
        """``ovs-vsctl`` against this instance's database."""
        return run(["ovs-vsctl", f"--db=unix:{self.db_socket}", "--timeout=10", *args], check=check)

    def add_bridge(self, name: str) -> None:
        self.vsctl("--may-exist", "add-br", name, "--", "set", "bridge", name, "datapath_type=netdev")
        self.ns.ip("link", "set", name, "up")

    def port_column(self, port: str, column: str) -> str:
        return self.vsctl("get", "port", port, column).stdout.strip()

    def stop(self) -> None:
        self.stack.close()

    def launcher_pids(self) -> set[int]:
        return set()


@dataclass
class SharedOvs(Ovs):
    """An Open vSwitch another harness runs in the namespace (an OVN chassis's): its folder
    ``root`` is only linked as libvirtd's run/openvswitch, never started or stopped here."""

    def start(self) -> None:
        self.db_socket = self.root / "db.sock"
        self.run_link.parent.mkdir(parents=True, exist_ok=True)
        self.run_link.symlink_to(self.root)

    def stop(self) -> None:
        pass


OVS_IN_ROOT = """set -e
export OVS_RUNDIR={run} OVS_LOGDIR={run} OVS_DBDIR={run} OVS_SYSCONFDIR={run}
ovsdb-tool create {run}/conf.db /usr/share/openvswitch/vswitch.ovsschema
ovsdb-server {run}/conf.db --remote=punix:{run}/db.sock --unixctl={run}/ovsdb-server.ctl \
  --pidfile={run}/ovsdb-server.pid --detach --no-chdir --log-file={run}/ovsdb-server.log -vconsole:off
ovs-vsctl --db=unix:{run}/db.sock --timeout=10 --no-wait init
ovs-vswitchd unix:{run}/db.sock --unixctl={run}/ovs-vswitchd.ctl \
  --pidfile={run}/ovs-vswitchd.pid --detach --no-chdir --log-file={run}/ovs-vswitchd.log -vconsole:off
: > {run}/started
"""


@dataclass
class OvsInRoot(Ovs):
    """The same two daemons, but the Debian root's own, started chrooted into it.

    Their folder is in the machine's /tmp, which the root sees at the same path.
    """

    libvirtd: Libvirtd | None = None
    launcher: subprocess.Popen[bytes] | None = None
    pids: dict[str, int] = field(default_factory=dict)

    def start(self) -> None:
        assert self.libvirtd is not None
        rundir = self.root / "ovs"
        rundir.mkdir(parents=True, exist_ok=True)
        log = (self.root / "launcher.out").open("ab")
        argv = self.libvirtd.launcher_argv(self.root / "launcher.pid",
                                           ["sh", "-c", OVS_IN_ROOT.format(run=rundir)])
        self.launcher = subprocess.Popen(argv, env=DAEMON_ENV, stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
        log.close()
        wait_for(lambda: (rundir / "started").exists() or self.launcher.poll() is not None, 30,
                 "Open vSwitch to start in the Debian root")
        for program in ("ovsdb-server", "ovs-vswitchd"):
            pidfile = rundir / f"{program}.pid"
            if pidfile.exists():
                self.pids[program] = int(pidfile.read_text().split()[0])
        if not (rundir / "started").exists():
            self.stop()
            raise RuntimeError("Open vSwitch did not start in the Debian root: "
                               + (self.root / "launcher.out").read_text(errors="replace")[-2000:])
        self.db_socket = rundir / "db.sock"
        self.run_link.parent.mkdir(parents=True, exist_ok=True)
        self.run_link.symlink_to(rundir)

    def stop(self) -> None:
        for program in ("ovs-vswitchd", "ovsdb-server"):
            pid = self.pids.pop(program, None)
            if pid is not None:
                stop_pid(pid, timeout=5)
        if self.launcher is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.launcher.wait(timeout=15)

    def launcher_pids(self) -> set[int]:
        return {self.launcher.pid} if self.launcher is not None else set()


@dataclass
class Libvirtd:
    """libvirtd in the namespace and a private mount namespace over a temporary tree."""

    ns: Netns
    root: Path
    release: Release = RELEASES["libvirt-9.0.0"]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    pid: int = 0
    starts: int = 0
    holder_pid: int = 0
    # Lines appended to the daemon's network.conf (e.g. firewall_backend = "nftables").
    network_conf: str = ""
    # Added to the daemon's environment (e.g. OVS_RUNDIR: the Open vSwitch its ovs-vsctl runs use).
    env: dict[str, str] = field(default_factory=dict)

    # (folder inside the temporary tree, where libvirtd sees it), mounted after the /etc overlay
    MOUNTS = (("etc/libvirt", "/etc/libvirt"), ("run", "/run"), ("var/lib/libvirt", "/var/lib/libvirt"),
              ("var/log/libvirt", "/var/log/libvirt"), ("var/cache/libvirt", "/var/cache/libvirt"))

    @property
    def etc(self) -> Path:
        return self.root / "etc" / "libvirt"

    @property
    def sysroot(self) -> Path:
        """Where the release's root is mounted in the daemons' mount namespaces (Debian root only)."""
        return self.root.parent / "sysroot"

    def mount_options(self) -> list[str]:
        """The reaper's options that give a daemon its view of the file system."""
        top = ""
        if self.release.sysroot is not None:
            top = str(self.sysroot)
            for sub in ("sysroot", "sysroot-upper", "sysroot-work"):
                (self.root.parent / sub).mkdir(exist_ok=True)
            # its upper folder is also the /etc overlay's (etc_overlay): one overlay fewer in the
            # stack, which the kernel lab, whose own root is an overlay already, needs
            upper, work = self.root.parent / "sysroot-upper", self.root.parent / "sysroot-work"
            mounts = ["--overlay", f"{upper}:{work}:{top}:{self.release.sysroot}"]
            # the namespace's own sysfs (ip netns exec mounted it), the devices, and the machine's
            # /tmp and temporary folder (TMPDIR), where the tests' files and the recording hook's
            # folder are, at the same paths
            mounts += ["--bind", f"/proc:{top}/proc", "--bind", f"/sys:{top}/sys",
                       "--rbind", f"/dev:{top}/dev", "--bind", f"/tmp:{top}/tmp"]
            temp = os.path.realpath(tempfile.gettempdir())
            if temp != "/tmp" and not temp.startswith("/tmp/"):
                mount_point_in_upper(upper, self.release.sysroot, temp)
                mounts += ["--bind", f"{temp}:{top}{temp}"]
        else:
            # /etc copy-on-write (the hooks' own /etc/virt-netxml lives in the overlay)
            mounts = ["--overlay", f"{self.etc_overlay}:{self.root / 'etc-overlay-work'}:/etc"]
        mounts += [a for sub, target in self.MOUNTS for a in ("--bind", f"{self.root / sub}:{top}{target}")]
        return mounts

    def in_root(self, argv: Sequence[str | os.PathLike[str]]) -> list[str]:
        """``argv`` as run by the release: chrooted into the Debian root, or as it is."""
        if self.release.sysroot is None:
            return [str(a) for a in argv]
        return ["chroot", str(self.sysroot), *[str(a) for a in argv]]

    def launcher_argv(self, pid_file: Path, argv: Sequence[str | os.PathLike[str]]) -> list[str]:
        """Run ``argv`` in the namespace, under a reaper, with the release's view of the files.

        The machine's libvirt gets a fresh private mount namespace per launch. The Debian root's
        daemons all share the one the holder keeps (see ``start_holder``): a libvirtd started
        again must find the dnsmasq and QEMU it left running at the same file paths (libvirt
        checks /proc/PID/exe), as on a real host.
        """
        if self.release.sysroot is None:
            return self.ns.exec_argv(["unshare", "--mount", "--propagation", "private", sys.executable,
                                      REAPER, *self.mount_options(), "--pid-file", pid_file, "--", *argv])
        assert self.holder_pid, "the Debian root's mount namespace is not set up (prepare first)"
        # --root: the holder's root, which is not the mount namespace's own where the caller is
        # chrooted itself (inside the kernel lab)
        return self.ns.exec_argv(["nsenter", f"--target={self.holder_pid}", "--mount", "--root", "--wd=/",
                                  "--", sys.executable, REAPER, "--pid-file", pid_file, "--",
                                  *self.in_root(argv)])

    def start_holder(self, timeout: float = 30) -> None:
        """The Debian root's mount namespace, set up once and kept by an idle process.

        Its mounts: the root under a copy-on-write overlay, /proc, /sys, /dev and /tmp, then the
        temporary folders, all private to it; it ends when the holder and every process that
        entered it have exited.
        """
        if self.release.sysroot is None:
            return
        pid_file = self.root.parent / "holder.pid"
        argv = self.ns.exec_argv(["unshare", "--mount", "--propagation", "private", sys.executable, REAPER,
                                  *self.mount_options(), "--pid-file", pid_file, "--", "sleep", "infinity"])
        proc = subprocess.Popen(argv, env=DAEMON_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        wait_for(lambda: pid_file.exists() or proc.poll() is not None, timeout, "the Debian root's mounts")
        if proc.poll() is not None:
            raise RuntimeError(f"cannot set up the Debian root's mounts: {proc.stderr.read().decode()}")
        self.holder_pid = int(pid_file.read_text())

    def stop_holder(self) -> None:
        if self.holder_pid:
            stop_pid(self.holder_pid)
            self.holder_pid = 0

    def run_in_root(self, *argv: str, check: bool = True) -> CompletedProcess[str]:
        """A short command with the daemon's view of the files (before or between daemon runs)."""
        pid_file = self.root.parent / f"oneshot-{secrets.token_hex(4)}.pid"
        try:
            return run(self.launcher_argv(pid_file, argv), env=DAEMON_ENV, check=check)
        finally:
            pid_file.unlink(missing_ok=True)

    def in_daemon(self, argv: Sequence[str | os.PathLike[str]]) -> list[str]:
        """``argv`` run as an administrator of that host would: in the running libvirtd's network
        and mount namespaces, and its root (the Debian root, chrooted)."""
        return ["nsenter", "--target", str(self.pid), "--mount", "--net", "--root", "--wd=/", "--",
                *[str(a) for a in argv]]

    @property
    def etc_overlay(self) -> Path:
        """Files put here appear under /etc for libvirtd and its hooks (e.g. etc-overlay/virt-netxml)."""
        if self.release.sysroot is not None:
            return self.root.parent / "sysroot-upper" / "etc"
        return self.root / "etc-overlay"

    @property
    def hooks_dir(self) -> Path:
        return self.etc / "hooks"

    @property
    def log_dir(self) -> Path:
        return self.root / "var" / "log" / "libvirt"

    @property
    def socket(self) -> Path:
        return self.root / "run" / "libvirt" / "libvirt-sock"

    @property
    def uri(self) -> str:
        return f"qemu:///system?socket={self.socket}"

    def prepare(self) -> None:
        """Write a configuration tree: the host's .conf files plus the settings tests need."""
        for sub, _ in self.MOUNTS:
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.etc_overlay.mkdir(parents=True, exist_ok=True)
        (self.root / "etc-overlay-work").mkdir(exist_ok=True)
        for sub in ("hooks", "qemu/networks/autostart", "qemu/autostart"):
            (self.etc / sub).mkdir(parents=True, exist_ok=True)
        host_etc = (self.release.sysroot or Path("/")) / "etc" / "libvirt"
        for conf in host_etc.glob("*.conf"):
            shutil.copy(conf, self.etc / conf.name)
        with (self.etc / "qemu.conf").open("a") as f:
            # root: otherwise every start re-probes QEMU as another user (~48 s, DESIGN.md §3);
            # stdio "file": no virtlogd needed.
            f.write('\nuser = "root"\ngroup = "root"\nstdio_handler = "file"\n')
            if self.release.sysroot is not None:
                # libvirt's per-guest mount namespace cannot be set up inside a chroot ("Failed
                # disable mount propagation out of the root filesystem")
                f.write("namespaces = []\n")
        with (self.etc / "libvirtd.conf").open("a") as f:
            # No polkit (no system bus in here); a log file the tests can show on failure.
            f.write('\nauth_unix_rw = "none"\nauth_unix_ro = "none"\n'
                    'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"\n')
            # Each sandbox is its own host: libvirt refuses a migration between two daemons
            # with the same host UUID (by default the machine's SMBIOS one).
            f.write(f'host_uuid = "{uuid.uuid4()}"\n')
        if self.network_conf:
            with (self.etc / "network.conf").open("a") as f:
                f.write("\n" + self.network_conf)

    def start(self, timeout: float = 30) -> None:
        """Start libvirtd and wait until it answers and can use QEMU."""
        for _attempt in range(2):
            self._launch(timeout)
            probe = self.virsh("version", check=False)
            if probe.returncode == 0:
                return
            # QEMU's capability probe failed once here under heavy load ("query-target: JSON
            # parse error") and libvirt caches the result: start again from an empty cache.
            self.stop()
            shutil.rmtree(self.root / "var" / "cache" / "libvirt" / "qemu", ignore_errors=True)
        raise RuntimeError(f"libvirtd cannot use QEMU: {probe.stderr.strip()}\n{self.tail()}")

    def _launch(self, timeout: float) -> None:
        pid_file = self.root / f"libvirtd-{self.starts}.pid"
        self.starts += 1
        argv = self.launcher_argv(pid_file, ["libvirtd"])
        log = (self.log_dir / "libvirtd.out").open("ab")
        proc = subprocess.Popen(argv, env={**DAEMON_ENV, **self.env}, stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL)
        log.close()
        self.procs.append(proc)
        wait_for(lambda: pid_file.exists() or proc.poll() is not None, timeout, "libvirtd to be started")
        if proc.poll() is not None:
            raise RuntimeError(f"libvirtd's launcher exited {proc.returncode}: {self.tail('libvirtd.out')}")
        self.pid = int(pid_file.read_text())
        wait_for(lambda: self.virsh("uri", check=False).returncode == 0 or not pid_alive(self.pid),
                 timeout, "libvirtd to answer", interval=0.05)
        if not pid_alive(self.pid):
            raise RuntimeError(f"libvirtd exited at start: {self.tail('libvirtd.out')}")

    # libvirt 10.3+ gives its drivers 30 s to finish after SIGTERM, then exits at once (status 1,
    # "Make forcefull daemon shutdown") without running the daemon's ``shutdown`` hook. A restart
    # waits that long and a little more, as systemd does when libvirt asks it to, so the daemon's
    # own end is seen rather than our SIGKILL.
    SHUTDOWN_GRACE = 40.0
    FORCED_EXIT = "Make forcefull daemon shutdown"

    def stop(self, grace: float = 15) -> None:
        if self.pid:
            stop_pid(self.pid, timeout=grace)
            self.pid = 0

    def restart(self) -> None:
        self.stop(grace=self.SHUTDOWN_GRACE)
        self.start()

    def forced_exits(self) -> int:
        """How many times this daemon logged libvirt's forced exit after a stuck shutdown."""
        return self.tail(lines=1_000_000).count(self.FORCED_EXIT)

    def reload(self) -> None:
        os.kill(self.pid, signal.SIGHUP)

    def virsh(self, *args: str, check: bool = True, input: str | None = None) -> CompletedProcess[str]:
        return run(["virsh", "-q", "-c", self.uri, *args], check=check, input=input)

    def tail(self, name: str = "libvirtd.log", lines: int = 30) -> str:
        path = self.log_dir / name
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def wait_launchers(self, timeout: float = 15) -> list[int]:
        """Wait for every launcher to exit (they do once nothing they adopted runs); return stragglers."""
        left = []
        for proc in self.procs:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                left.append(proc.pid)
        return left


RECORDER = """#!/bin/sh
# Records one libvirt hook call: argv in .argv, stdin in .xml, named by time so they sort.
n=$(date +%s%N)-$$
printf '%s\\n' "$(basename "$(dirname "$0")")" "$@" > "{dir}/$n.argv.tmp"
cat > "{dir}/$n.xml"
mv "{dir}/$n.argv.tmp" "{dir}/$n.argv"
"""


@dataclass
class Call:
    """One recorded hook call."""

    hook: str
    argv: list[str]
    stdin: str

    @property
    def key(self) -> tuple[str, ...]:
        return (self.hook, *self.argv[:3])


@dataclass
class Sandbox:
    """The whole throw-away host; create with ``Sandbox.create()``, end with ``teardown()``."""

    tmp: Path
    ns: Netns
    ovs: Ovs
    libvirtd: Libvirtd
    records: Path
    release: Release = RELEASES["libvirt-9.0.0"]
    host_hooks_before: list[str] = field(default_factory=list)
    stragglers: list[str] = field(default_factory=list)
    # In a namespace another harness owns (``in_namespace``): its daemons' PIDs, which the
    # teardown leaves alone, and the namespace itself is not deleted here.
    shared_ns: bool = False
    foreign: set[int] = field(default_factory=set)

    @classmethod
    def in_namespace(cls, release: Release, ns_name: str, ovs_dir: Path, foreign: set[int]) -> Sandbox:
        """A libvirtd (private mounts, own folders and host UUID) in an existing namespace whose
        Open vSwitch, with its files in ``ovs_dir``, another harness runs (an OVN chassis's).

        libvirtd gets OVS_RUNDIR/OVS_DBDIR = ``ovs_dir``, so the ``ovs-vsctl`` it runs talks to
        that Open vSwitch; the folder is also linked as its /run/openvswitch, which the hooks
        (started with libvirt's bare environment) use. ``foreign``: the PIDs of that harness's
        daemons in the namespace.
        """
        tmp = Path(tempfile.mkdtemp(prefix=NS_PREFIX))
        ns = Netns.existing(ns_name)
        root = tmp / "root"
        libvirtd = Libvirtd(ns, root, release, env={"OVS_RUNDIR": str(ovs_dir), "OVS_DBDIR": str(ovs_dir)})
        ovs = SharedOvs(ns, ovs_dir, root / "run" / "openvswitch")
        sandbox = cls(tmp=tmp, ns=ns, ovs=ovs, libvirtd=libvirtd, records=tmp / "records",
                      host_hooks_before=host_hook_files(), release=release, shared_ns=True,
                      foreign=set(foreign))
        sandbox.records.mkdir()
        return sandbox

    def own_pids(self) -> list[int]:
        """The namespace's processes, less the other harness's daemons in a shared one."""
        return [pid for pid in self.ns.pids() if pid not in self.foreign]

    @classmethod
    def create(cls, release: Release = RELEASES["libvirt-9.0.0"]) -> Sandbox:
        tmp = Path(tempfile.mkdtemp(prefix=NS_PREFIX))
        try:
            ns = Netns.create()
        except BaseException:
            shutil.rmtree(tmp)
            raise
        # Written before anything starts: a run killed outright (SIGKILL, a timeout) cannot tear
        # down, and the next run finds what it left by this note (see sweep_stale_sandboxes).
        (tmp / OWNER_NOTE).write_text(f"{os.getpid()} {ns.name}\n")
        root = tmp / "root"
        libvirtd = Libvirtd(ns, root, release)
        run_link = root / "run" / "openvswitch"
        ovs = (Ovs(ns, tmp / "ovs", run_link) if release.sysroot is None
               else OvsInRoot(ns, tmp / "ovs", run_link, libvirtd=libvirtd))
        sandbox = cls(tmp=tmp, ns=ns, ovs=ovs, libvirtd=libvirtd, records=tmp / "records",
                      host_hooks_before=host_hook_files(), release=release)
        sandbox.records.mkdir()
        return sandbox

    def start(self, install_hooks: bool = True, record: bool = True) -> None:
        self.libvirtd.prepare()
        if install_hooks:
            self.write_hooks_config()   # into the /etc overlay's upper folder, before it is mounted
        self.libvirtd.start_holder()
        self.ovs.start()
        if install_hooks:
            self.install_project_hooks()
        if record:
            self.install_recorder()
        self.libvirtd.start()

    # -- hooks -------------------------------------------------------------------------------
    @property
    def hooks_config(self) -> Path:
        """The hooks' /etc/virt-netxml as libvirtd sees it (in the /etc overlay)."""
        return self.libvirtd.etc_overlay / "virt-netxml"

    @property
    def hooks_state(self) -> Path:
        """The hooks' /run/virt-netxml as libvirtd sees it."""
        return self.libvirtd.root / "run" / "virt-netxml"

    @property
    def hooks_env(self) -> dict[str, str]:
        """Environment for ``virt-netxml hooks status|repair`` run from the tests' side."""
        return {**os.environ, "VIRT_NETXML_CONFIG_DIR": str(self.hooks_config),
                "VIRT_NETXML_STATE_DIR": str(self.hooks_state)}

    @property
    def hooks_log(self) -> Path:
        return self.libvirtd.log_dir / "virt-netxml.log"

    def install_project_hooks(self) -> None:
        """``virt-netxml hooks install`` with the default folders, as on a real host.

        On the machine's libvirt: this checkout's command with ``--root``. On the Debian root:
        the root's own command (its virtual environment), run chrooted with the daemon's view of
        the files. The hooks then use /etc/virt-netxml and /run/virt-netxml, which inside
        libvirtd's mount namespace are the /etc overlay and the temporary /run.
        """
        if self.release.sysroot is not None:
            self.libvirtd.run_in_root(self.vnx_path, "hooks", "install")
            return
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIRT_NETXML_")}
        run([VNX, "hooks", "install", "--root", self.libvirtd.root], env=env)

    def write_hooks_config(self) -> None:
        self.hooks_config.mkdir(parents=True, exist_ok=True)
        (self.hooks_config / "hooks.conf").write_text("log-file = /var/log/libvirt/virt-netxml.log\n")

    @property
    def vnx_path(self) -> str:
        """The release's ``virt-netxml``: this checkout's, or the one installed in the Debian root."""
        return str(VNX) if self.release.sysroot is None else f"{self.release.venv}/bin/virt-netxml"

    def hooks_install_argv(self, *extra: str) -> list[str]:
        """``hooks install`` as an administrator runs it against the running libvirtd."""
        if self.release.sysroot is None:
            return [str(VNX), "hooks", "install", "--root", str(self.libvirtd.root), *extra]
        return self.libvirtd.in_daemon([self.vnx_path, "hooks", "install", *extra])

    def write_hooks_file(self, name: str, text: str) -> None:
        """Put a file into the hooks' /etc/virt-netxml while libvirtd runs.

        Written from inside libvirtd's mount namespace: writing into an overlay's upper folder
        from outside while it is mounted is undefined behaviour.
        """
        staged = self.tmp / f"staged-{name}"
        staged.write_text(text)
        run(self.libvirtd.in_daemon(["cp", staged, f"/etc/virt-netxml/{name}"]))

    def remove_hooks_file(self, name: str) -> None:
        run(self.libvirtd.in_daemon(["rm", "-f", f"/etc/virt-netxml/{name}"]))

    def vnx_hooks(self, *args: str, check: bool = True) -> CompletedProcess[str]:
        """``virt-netxml hooks ...`` with this sandbox's configuration and state folders."""
        return run([VNX, "hooks", *args], env=self.hooks_env, check=check)

    def install_recorder(self) -> None:
        for driver in ("qemu", "network", "daemon"):
            folder = self.libvirtd.hooks_dir / f"{driver}.d"
            folder.mkdir(parents=True, exist_ok=True)
            script = folder / "00-record"
            script.write_text(RECORDER.format(dir=self.records))
            script.chmod(0o755)

    def calls(self, since: int = 0) -> list[Call]:
        """Recorded hook calls in order, from index ``since``."""
        out = []
        for argv_file in sorted(self.records.glob("*.argv"))[since:]:
            hook, *argv = argv_file.read_text().splitlines()
            stdin = argv_file.with_suffix("").with_suffix(".xml")
            out.append(Call(hook.removesuffix(".d"), argv, stdin.read_text() if stdin.exists() else ""))
        return out

    def call_count(self) -> int:
        return len(list(self.records.glob("*.argv")))

    def export_records(self) -> None:
        """With ``VNXE2E_RECORD_DIR=DIR``, copy the recorded calls to DIR/<release>.

        Files are named by time, so the calls of every sandbox of a release (a migration's
        destination too) merge there in call order.
        """
        export = os.environ.get("VNXE2E_RECORD_DIR")
        if export:
            shutil.copytree(self.records, Path(export) / self.release.name, dirs_exist_ok=True)

    # -- teardown ----------------------------------------------------------------------------
    def clear_libvirt(self) -> None:
        """Destroy and undefine every domain and network (used between tests and at the end)."""
        virsh = self.libvirtd.virsh
        for name in virsh("list", "--all", "--name", check=False).stdout.split():
            virsh("destroy", name, check=False)
            virsh("undefine", name, "--managed-save", "--nvram", check=False)
        for name in virsh("net-list", "--all", "--name", check=False).stdout.split():
            virsh("net-destroy", name, check=False)
            virsh("net-undefine", name, check=False)

    def teardown(self) -> None:
        """Reverse of start, each step tried even if an earlier one failed."""
        steps: list[Callable[[], object]] = [self.clear_libvirt_if_running, self.libvirtd.stop, self.ovs.stop,
                 self.libvirtd.stop_holder, self.kill_namespace_processes, self.libvirtd.wait_launchers,
                 self.delete_namespace]
        errors = []
        for step in steps:
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - keep tearing down, report at the end
                errors.append(f"{step.__name__}: {exc}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        if errors:
            raise RuntimeError("teardown: " + "; ".join(errors))

    def delete_namespace(self) -> None:
        if not self.shared_ns:
            self.ns.delete()

    def clear_libvirt_if_running(self) -> None:
        if self.libvirtd.pid and pid_alive(self.libvirtd.pid):
            self.clear_libvirt()

    def kill_namespace_processes(self) -> None:
        """Give the namespace a few seconds to empty by itself, then stop what is still there.

        With every domain destroyed and libvirtd and OVS stopped, only the launchers remain for
        a moment (they exit once nothing they adopted runs). Anything else still running is a
        straggler: it is stopped by PID and reported by ``leftovers()``.
        """
        launchers = {p.pid for p in self.libvirtd.procs} | self.ovs.launcher_pids()
        with contextlib.suppress(TimeoutError):
            wait_for(lambda: not self.own_pids(), 5, "the namespace's processes to exit", interval=0.1)
        for pid in self.own_pids():
            if pid not in launchers:
                self.stragglers.append(f"process {pid} ({describe(pid)}) still in the namespace "
                                       "after libvirtd and OVS stopped")
            stop_pid(pid, timeout=5)

    def leftovers(self) -> list[str]:
        """Whatever this run started that still exists; empty after a clean teardown."""
        found = list(self.stragglers)
        started = [p.pid for p in self.libvirtd.procs] + [self.libvirtd.pid, *self.ovs.launcher_pids()]
        found += [f"process {pid} still running" for pid in started if pid and pid_alive(pid)]
        found += [f"process {pid} ({describe(pid)}) still in the namespace" for pid in self.own_pids()]
        if not self.shared_ns and self.ns.name in namespaces():
            found.append(f"namespace {self.ns.name} left")
        if host_hook_files() != self.host_hooks_before:
            found.append(f"host hooks changed: {host_hook_files()} (was {self.host_hooks_before})")
        with open("/proc/self/mountinfo") as f:
            found += [f"mount left: {line.split()[4]}" for line in f if str(self.tmp) in line]
        if self.tmp.exists():
            found.append(f"temporary folder {self.tmp} left")
        return found


def mount_point_in_upper(upper: Path, lower: Path, path: str) -> None:
    """Make folder ``path`` exist in an overlay of ``lower`` by creating it in ``upper``, each
    component with the mode it has in ``lower`` (an upper folder's mode is what the overlay shows)."""
    here_upper, here_lower = upper, lower
    for part in Path(path).relative_to("/").parts:
        here_upper, here_lower = here_upper / part, here_lower / part
        if not here_upper.exists():
            here_upper.mkdir()
            if here_lower.is_dir():
                shutil.copystat(here_lower, here_upper)


def describe(pid: int) -> str:
    """A process's command line, for messages."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "gone"


def host_hook_files() -> list[str]:
    """Every file under the machine's own /etc/libvirt/hooks (must never change)."""
    if not HOST_HOOKS.exists():
        return []
    return sorted(str(p) for p in HOST_HOOKS.rglob("*"))


def processes_named(names: Iterator[str] | Sequence[str], ns: Netns) -> list[int]:
    """PIDs in the namespace whose command name is one of ``names``."""
    wanted = set(names)
    out = []
    for pid in ns.pids():
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() in wanted:
                out.append(pid)
        except FileNotFoundError:
            continue
    return out


def domain_skeleton(name: str, memory_mib: int = 32) -> str:
    """A minimal TCG domain with no disk and no NIC: ``virt-netxml interface --domain`` adds those.

    ``<acpi/>`` on the pc machine is what live hotplug needs; no memballoon or USB keeps QEMU small.
    """
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
  </os>
  <features>
    <acpi/>
  </features>
  <devices>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def build_domain(path: Path, name: str, *interfaces: Sequence[str]) -> Path:
    """Write a domain skeleton to ``path`` and add each interface with ``virt-netxml interface``.

    Each item of ``interfaces`` is the argument list of one ``virt-netxml interface`` call.
    """
    path.write_text(domain_skeleton(name))
    for args in interfaces:
        vnx("interface", *args, "--domain", path, "-i")
    return path


def domain_interfaces(xml: str) -> list[dict[str, str]]:
    """Type, MAC, target, source and bridge of each interface of a (live) domain XML."""
    from xmltools.xmlparse import parse_bytes

    root = parse_bytes(xml.encode()).getroot()
    out = []
    for iface in root.iterfind("devices/interface"):
        def attr(path: str, name: str, node=iface) -> str:
            found = node.find(path)
            return found.get(name, "") if found is not None else ""
        out.append({"type": iface.get("type", ""), "mac": attr("mac", "address"),
                    "target": attr("target", "dev"), "network": attr("source", "network"),
                    "bridge": attr("source", "bridge"), "dev": attr("source", "dev"),
                    "mode": attr("source", "mode"), "portgroup": attr("source", "portgroup")})
    return out
