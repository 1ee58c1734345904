"""OVN across K "hosts" on one machine, every part inside network namespaces the harness makes.

    with ovn_lab(tmp_path, chassis=2) as lab:
        lab.nbctl("ls-add", "ls1")
        lab.nbctl("lsp-add", "ls1", "p1", "--", "lsp-set-addresses", "p1", "00:00:00:aa:00:01 10.0.0.1")
        port = lab.standin(lab.chassis[0], "p1", "00:00:00:aa:00:01", "10.0.0.1/24")
        lab.wait_up("p1")
        lab.ping(port, "10.0.0.2")

Topology (OVN's own deployment, scaled down):

- the central namespace: a Linux bridge ``br-fab`` (the fabric, FABRIC_NET.1), the northbound
  and southbound ``ovsdb-server``s (unix sockets under the lab folder, and TCP on the fabric
  address: chassis reach the SB, hooks on a chassis the NB, as on real hosts) and ``ovn-northd``;
- K chassis namespaces, each with its own ``ovsdb-server`` and ``ovs-vswitchd`` (own database,
  run, log folder: OVS_RUNDIR and friends, so no two share ``br-int.mgmt`` or a control socket),
  ``br-phy`` (the fabric veth as its port, the tunnel endpoint FABRIC_NET.(10+i) on it),
  ``br-int`` (``fail-mode=secure``) and an ``ovn-controller`` with its system-id, the SB as
  ``ovn-remote``, geneve encapsulation and the userspace datapath (this kernel has neither the
  OVS datapath nor geneve: both run inside ovs-vswitchd);
- stand-in guests: an OVS internal port on a chassis's ``br-int`` with
  ``external_ids:iface-id=LSP``, moved into a namespace of its own with the LSP's MAC and IP:
  ovn-controller binds it exactly as it binds a libvirt tap.

The fabric veths run at MTU 9000 (geneve adds ~58 bytes: a 1500-byte guest frame would vanish
on a 1500-byte fabric) with transmit checksum offload off on both ends (a veth hands frames on
with checksums still to be filled in, which the userspace datapath forwards as they are: TCP to
the SB would stall while ping works).

Every daemon is started with --detach and a pidfile and stopped by that PID (a zombie counts as
gone); namespaces are deleted; all of it on the way out of ``ovn_lab``, also after a failure.
Nothing is added to the machine's own namespace: no device, no listening socket.

Real guests instead of stand-ins: ``libvirt_on_chassis(lab, release)`` gives each chassis its own
libvirtd of a libvirt release the project supports (tests/e2e/harness.py's sandbox: a private
mount namespace and folders, its own host UUID, the project's hooks installed, an ovn.conf naming
the lab's northbound database), in the chassis's namespace, with OVS_RUNDIR/OVS_DBDIR pointing at
that chassis's Open vSwitch: the ``ovs-vsctl`` libvirt runs adds a guest's tap to that chassis's
``br-int`` with ``external_ids:iface-id`` = the interface's ``interfaceid``, and the chassis's
ovn-controller binds it. The Debian 13 release's libvirtd, QEMU and hooks run chrooted into its
root; Open vSwitch and OVN are the machine's on both (the root has no OVN).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.harness import Release, Sandbox
from tests.netns.harness import OVS_SCHEMA, _alive, _terminate, have_tools, ip, netns

NB_SCHEMA = Path("/usr/share/ovn/ovn-nb.ovsschema")
SB_SCHEMA = Path("/usr/share/ovn/ovn-sb.ovsschema")
FABRIC_NET = "172.31.99"
CENTRAL_IP = f"{FABRIC_NET}.1"
NB_PORT, SB_PORT = 6641, 6642
FABRIC_MTU = 9000
START_TIMEOUT = 20.0
TOOLS = ("ip", "ethtool", "ping", "ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl",
         "ovn-northd", "ovn-controller", "ovn-nbctl", "ovn-sbctl")


def tools_present() -> bool:
    return have_tools(*TOOLS) and NB_SCHEMA.exists() and SB_SCHEMA.exists() and OVS_SCHEMA.exists()


def _run(argv: list[str], *, env: dict[str, str] | None = None, timeout: float = START_TIMEOUT,
         check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=check, capture_output=True, text=True, env=env, timeout=timeout)


def _env(rundir: Path) -> dict[str, str]:
    """OVS/OVN tools and daemons pointed at one private folder (pidfiles, sockets, logs)."""
    run = str(rundir)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OVN_", "OVS_"))}
    return {**env, "OVS_RUNDIR": run, "OVS_LOGDIR": run, "OVS_DBDIR": run, "OVS_SYSCONFDIR": run,
            "OVN_RUNDIR": run, "OVN_LOGDIR": run, "OVN_DBDIR": run, "OVN_SYSCONFDIR": run}


class Daemons:
    """Daemons started with --detach inside a namespace, each known by the PID in its pidfile."""

    def __init__(self) -> None:
        self.pids: list[tuple[str, int]] = []

    def start(self, ns: str, rundir: Path, name: str, program: str, *args: str,
              pidfile: bool = True) -> int:
        """Start ``program ARGS`` in ``ns``; ``name`` names its pid, log and control files."""
        pid_path = rundir / f"{name}.pid"
        argv = ["ip", "netns", "exec", ns, program, *args, "--detach", "--no-chdir",
                f"--pidfile={pid_path}", f"--log-file={rundir / (name + '.log')}", "-vconsole:off"]
        try:
            _run(argv, env=_env(rundir))
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"{program} did not start in {ns}: {exc.stderr.strip()}") from None
        # --detach returns once the daemon is ready, and it has written its pidfile by then.
        pid = int(pid_path.read_text().split()[0])
        self.pids.append((name, pid))
        return pid

    def stop(self) -> None:
        """SIGTERM in reverse start order, SIGKILL what outlives the grace time."""
        while self.pids:
            _, pid = self.pids.pop()
            _terminate(pid)

    def alive(self) -> list[str]:
        return [name for name, pid in self.pids if _alive(pid)]


@dataclass
class Chassis:
    index: int
    ns: str
    rundir: Path
    system_id: str
    encap_ip: str

    @property
    def db(self) -> Path:
        return self.rundir / "db.sock"

    def vsctl(self, *args: str, timeout: float = 10.0) -> str:
        argv = ["ovs-vsctl", f"--timeout={int(timeout)}", f"--db=unix:{self.db}", *args]
        return _run(argv, env=_env(self.rundir), timeout=timeout + 5).stdout


@dataclass
class StandIn:
    """A stand-in guest port: its namespace, device name and address."""

    chassis: Chassis
    lsp: str
    ns: str
    dev: str
    mac: str
    address: str


@dataclass
class OvnLab:
    root: Path
    central_ns: str
    daemons: Daemons
    stack: contextlib.ExitStack
    chassis: list[Chassis] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    _ports: int = 0

    @property
    def central(self) -> Path:
        return self.root / "central"

    @property
    def nb_socket(self) -> Path:
        return self.central / "nb.sock"

    @property
    def sb_socket(self) -> Path:
        return self.central / "sb.sock"

    @property
    def nb_tcp(self) -> str:
        """The NB as a chassis reaches it (from inside a chassis namespace)."""
        return f"tcp:{CENTRAL_IP}:{NB_PORT}"

    def nbctl(self, *args: str, timeout: float = 10.0) -> str:
        argv = ["ovn-nbctl", f"--db=unix:{self.nb_socket}", f"--timeout={int(timeout)}", *args]
        return _run(argv, env=_env(self.central), timeout=timeout + 5).stdout

    def sbctl(self, *args: str, timeout: float = 10.0) -> str:
        argv = ["ovn-sbctl", f"--db=unix:{self.sb_socket}", f"--timeout={int(timeout)}", *args]
        return _run(argv, env=_env(self.central), timeout=timeout + 5).stdout

    def standin(self, chassis: Chassis, lsp: str, mac: str, address: str) -> StandIn:
        """An OVS internal port bound to ``lsp`` on ``chassis``, in its own namespace with ``mac``
        and ``address`` (CIDR); removed when the lab goes down (or by ``remove_standin``)."""
        self._ports += 1
        dev = f"si{self._ports}"
        ns = self.stack.enter_context(netns("vnxovn-si"))
        chassis.vsctl("add-port", "br-int", dev, "--", "set", "Interface", dev, "type=internal",
                      f"external_ids:iface-id={lsp}")
        # ovs-vswitchd creates the device (a tap, in the userspace datapath) in the chassis
        # namespace; it keeps working after the move, as the guest's side of the port.
        ip("link", "set", dev, "netns", ns, ns=chassis.ns)
        ip("link", "set", dev, "address", mac, ns=ns)
        ip("addr", "add", address, "dev", dev, ns=ns)
        ip("link", "set", dev, "up", ns=ns)
        return StandIn(chassis, lsp, ns, dev, mac, address.split("/")[0])

    def wait_up(self, lsp: str, timeout: float = 30.0) -> None:
        """Until NB says the port is up (northd copies it from the SB binding)."""
        self.nbctl("wait-until", "Logical_Switch_Port", lsp, "up=true", timeout=timeout)

    def sync_chassis(self, timeout: float = 30.0) -> None:
        """Until every chassis has applied the NB's current contents (flows installed)."""
        self.nbctl("--wait=hv", "sync", timeout=timeout)

    def bound_chassis(self, lsp: str) -> str | None:
        """The system-id of the chassis the SB binds ``lsp`` to, None when unbound."""
        uuid = self.sbctl("--bare", "--columns=chassis", "find", "Port_Binding",
                          f'logical_port="{lsp}"').strip()
        if not uuid:
            return None
        return self.sbctl("--bare", "--columns=name", "list", "Chassis", uuid).strip() or None

    def ping(self, port: StandIn, address: str, count: int = 3, wait: float = 2.0) -> bool:
        """Whether ``address`` answers every ping from ``port``'s namespace."""
        argv = ["ip", "netns", "exec", port.ns, "ping", "-n", "-q", "-c", str(count), "-i", "0.2",
                "-W", str(wait), address]
        return _run(argv, check=False, timeout=count * (wait + 1) + 5).returncode == 0


def _central(lab: OvnLab) -> None:
    ns, run = lab.central_ns, lab.central
    run.mkdir(parents=True)
    ip("link", "add", "br-fab", "type", "bridge", ns=ns)
    ip("addr", "add", f"{CENTRAL_IP}/24", "dev", "br-fab", ns=ns)
    ip("link", "set", "br-fab", "up", ns=ns)
    for name, schema, port in (("nb", NB_SCHEMA, NB_PORT), ("sb", SB_SCHEMA, SB_PORT)):
        _run(["ovsdb-tool", "create", str(run / f"{name}.db"), str(schema)])
        lab.daemons.start(ns, run, name, "ovsdb-server", str(run / f"{name}.db"),
                          f"--unixctl={run / (name + '.ctl')}", f"--remote=punix:{run / (name + '.sock')}",
                          f"--remote=ptcp:{port}:{CENTRAL_IP}")
    lab.daemons.start(ns, run, "northd", "ovn-northd", f"--unixctl={run / 'northd.ctl'}",
                      f"--ovnnb-db=unix:{lab.nb_socket}", f"--ovnsb-db=unix:{lab.sb_socket}")
    lab.nbctl("init")
    lab.sbctl("init")


def _add_chassis(lab: OvnLab, index: int) -> Chassis:
    ns = lab.stack.enter_context(netns(f"vnxovn-c{index}"))
    run = lab.root / f"chassis{index}"
    run.mkdir()
    chassis = Chassis(index, ns, run, f"chassis{index}", f"{FABRIC_NET}.{10 + index}")
    peer = f"c{index}-peer"
    # Made in the central namespace, its other end created straight inside the chassis one.
    ip("link", "add", peer, "mtu", str(FABRIC_MTU), "type", "veth", "peer", "name", "fab0",
       "mtu", str(FABRIC_MTU), "netns", ns, ns=lab.central_ns)
    ip("link", "set", peer, "master", "br-fab", "up", ns=lab.central_ns)
    for where, dev in ((lab.central_ns, peer), (ns, "fab0")):
        _run(["ip", "netns", "exec", where, "ethtool", "-K", dev, "tx", "off"])
    ip("link", "set", "fab0", "up", ns=ns)
    _run(["ovsdb-tool", "create", str(run / "conf.db"), str(OVS_SCHEMA)])
    lab.daemons.start(ns, run, "ovsdb-server", "ovsdb-server", str(run / "conf.db"),
                      f"--unixctl={run / 'ovsdb-server.ctl'}", f"--remote=punix:{chassis.db}")
    chassis.vsctl("--no-wait", "init")
    lab.daemons.start(ns, run, "ovs-vswitchd", "ovs-vswitchd", f"unix:{chassis.db}",
                      f"--unixctl={run / 'ovs-vswitchd.ctl'}")
    chassis.vsctl("add-br", "br-phy", "--", "set", "Bridge", "br-phy", "datapath_type=netdev",
                  "--", "add-port", "br-phy", "fab0")
    ip("addr", "add", f"{chassis.encap_ip}/24", "dev", "br-phy", ns=ns)
    ip("link", "set", "br-phy", "mtu", str(FABRIC_MTU), "up", ns=ns)
    chassis.vsctl("add-br", "br-int", "--", "set", "Bridge", "br-int", "datapath_type=netdev",
                  "fail-mode=secure", "other-config:disable-in-band=true")
    chassis.vsctl("set", "Open_vSwitch", ".", f"external_ids:system-id={chassis.system_id}",
                  f"external_ids:ovn-remote=tcp:{CENTRAL_IP}:{SB_PORT}",
                  "external_ids:ovn-encap-type=geneve", f"external_ids:ovn-encap-ip={chassis.encap_ip}",
                  "external_ids:ovn-bridge-datapath-type=netdev")
    # ovn-controller 23.03 has no --unixctl: its control socket is OVN_RUNDIR/ovn-controller.PID.ctl.
    lab.daemons.start(ns, run, "ovn-controller", "ovn-controller", f"unix:{chassis.db}")
    return chassis


@contextlib.contextmanager
def ovn_lab(tmpdir: str | Path, chassis: int = 2) -> Iterator[OvnLab]:
    """An OVN central and ``chassis`` chassis namespaces, all registered in the SB; torn down
    by PID and namespace on exit, also after a failure. ``lab.timings`` holds the seconds the
    bring-up (``up``) and, once out, the tear-down (``down``) took."""
    if chassis < 1:
        raise ValueError("at least one chassis")
    started = time.monotonic()
    root = Path(tmpdir) / "ovn"
    root.mkdir(parents=True)
    with contextlib.ExitStack() as namespaces:
        central_ns = namespaces.enter_context(netns("vnxovn-central"))
        daemons = Daemons()
        lab = OvnLab(root, central_ns, daemons, namespaces)
        try:
            _central(lab)
            for index in range(1, chassis + 1):
                lab.chassis.append(_add_chassis(lab, index))
            for ch in lab.chassis:
                lab.sbctl("wait-until", "Chassis", ch.system_id, timeout=START_TIMEOUT)
            lab.timings["up"] = time.monotonic() - started
            yield lab
        finally:
            # Daemons first (by PID), then the namespaces they lived in (stand-ins' too).
            down = time.monotonic()
            daemons.stop()
    lab.timings["down"] = time.monotonic() - down


@contextlib.contextmanager
def libvirt_on_chassis(lab: OvnLab, release: Release) -> Iterator[list[Sandbox]]:
    """A libvirtd of ``release`` on each chassis of ``lab`` (in that order), started in parallel,
    with the project's hooks installed and ``/etc/virt-netxml/ovn.conf`` naming the lab's NB as
    the chassis reaches it. Torn down on exit (domains destroyed, libvirtd stopped by PID, the
    chassis's own daemons left to ``ovn_lab``), also after a failure; once out without one, a
    teardown problem or anything the sandboxes left raises. ``lab.timings["libvirtd"]``: the
    seconds until every libvirtd answered."""
    started = time.monotonic()
    foreign = {pid for _, pid in lab.daemons.pids}
    boxes: list[Sandbox] = []
    problems: list[str] = []
    try:
        for chassis in lab.chassis:
            boxes.append(Sandbox.in_namespace(release, chassis.ns, chassis.rundir, foreign))
        with ThreadPoolExecutor(len(boxes)) as pool:
            list(pool.map(lambda box: box.start(), boxes))
        for box in boxes:
            box.write_hooks_file("ovn.conf", f"nb = {lab.nb_tcp}\n")
        lab.timings["libvirtd"] = time.monotonic() - started
        yield boxes
    finally:
        for box in boxes:
            try:
                box.teardown()
            except RuntimeError as exc:
                problems.append(str(exc))
            problems += box.leftovers()
    if problems:
        raise RuntimeError("libvirtd on the chassis left: " + "; ".join(problems))
