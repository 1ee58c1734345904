"""The throw-away host itself: libvirtd is confined to the namespace and the temporary tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.conftest import Host
from tests.e2e.harness import (
    NS_PREFIX,
    OWNER_NOTE,
    Netns,
    Release,
    domain_skeleton,
    host_hook_files,
    namespaces,
    run,
    sweep_stale_sandboxes,
    wait_for,
)
from tests.support import require

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_libvirtd_runs_in_the_private_namespace(host: Host) -> None:
    pid = host.libvirtd.pid
    assert os.stat(f"/proc/{pid}/ns/net").st_ino == host.ns.inode
    assert os.stat(f"/proc/{pid}/ns/mnt").st_ino != os.stat("/proc/self/ns/mnt").st_ino
    # what libvirtd (and every hook it runs) sees, through its own mount namespace:
    seen = Path(f"/proc/{pid}/root")
    assert (seen / "etc/libvirt/hooks/qemu.d/00-record").exists()  # the temporary /etc/libvirt
    assert not any("00-record" in f for f in host_hook_files())  # ... not the machine's
    assert (seen / "run/libvirt/libvirt-sock").samefile(host.libvirtd.socket)
    assert sorted(os.listdir(seen / "sys/class/net")) == sorted(host.ns.links())  # the namespace's sysfs


def test_daemon_hook_sees_the_start(host: Host) -> None:
    calls = [c.key for c in host.box.calls()]
    assert ("daemon", "-", "start", "-") in calls


def test_domain_runs_in_the_namespace_and_is_reaped_at_once(host: Host) -> None:
    xml = host.tmp / "dom.xml"
    xml.write_text(domain_skeleton("e2e-smoke"))
    host.virsh("define", str(xml))
    host.virsh("start", "e2e-smoke")
    assert host.virsh("domstate", "e2e-smoke").stdout.strip() == "running"
    qemu_pid = int((host.libvirtd.root / "run/libvirt/qemu/e2e-smoke.pid").read_text())
    assert os.stat(f"/proc/{qemu_pid}/ns/net").st_ino == host.ns.inode
    # QEMU daemonized: its parent is libvirtd's launcher (a subreaper), not PID 1, which here
    # reaps orphans only about once a second and made every destroy take ~1.6 s
    ppid = int(Path(f"/proc/{qemu_pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    assert ppid in [p.pid for p in host.libvirtd.procs]
    host.virsh("destroy", "e2e-smoke")
    assert not os.path.exists(f"/proc/{qemu_pid}")  # gone, not a zombie waiting for PID 1


def test_hooks_install_is_idempotent_and_reload_reaches_libvirtd(hooks: Host) -> None:
    """``hooks install [--root ...] --reload`` against the running libvirtd of the sandbox."""
    host = hooks
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRT_NETXML_")}
    install = host.box.hooks_install_argv()
    run(install, env=env)  # brings the files up to date with the source tree, if it changed
    before = {p: p.read_bytes() for p in sorted(host.libvirtd.hooks_dir.glob("*.d/*"))}
    pid = host.libvirtd.pid
    since = host.box.call_count()
    out = run([*install, "--reload"], env=env).stdout
    assert [line.split(":")[0] for line in out.splitlines() if ":" in line][:2] == ["unchanged", "unchanged"]
    assert {p: p.read_bytes() for p in sorted(host.libvirtd.hooks_dir.glob("*.d/*"))} == before
    wait_for(lambda: ("daemon", "-", "reload", "begin") in [c.key for c in host.box.calls(since)],
             10, "the daemon reload hook")
    assert host.libvirtd.pid == pid and host.virsh("version", check=False).returncode == 0
    for path in before:
        assert path.stat().st_mode & 0o777 == 0o755
    # status names the daemon that runs the hooks and the libvirt it runs, on either release.
    shown = run(["status" if arg == "install" else arg for arg in install], env=env).stdout
    version = ".".join(str(part) for part in host.box.release.version)
    daemon = [line for line in shown.splitlines() if line.startswith("libvirtd: ")]
    assert len(daemon) == 1 and daemon[0].startswith(f"libvirtd: libvirt {version}, running as pid "), shown
    assert daemon[0].endswith("(runs the qemu and network hooks)"), shown


def test_a_run_killed_outright_is_swept_by_the_next(tmp_path: Path, release: Release) -> None:
    """What a SIGKILLed run leaves (namespace, its processes, folder) goes; a live run's stays.

    The left process runs as the release's daemons do: chrooted into the Debian root for 11.3.
    """
    import subprocess
    import sys

    require(not release.missing(), ", ".join(release.missing()))
    sleep = ["sleep", "300"] if release.sysroot is None else ["chroot", str(release.sysroot), "sleep", "300"]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()   # its PID now names a test run that is gone
    boxes = {}
    for owner in (dead.pid, os.getpid()):
        folder = tmp_path / f"{NS_PREFIX}{owner}"
        folder.mkdir()
        ns = Netns.create()
        sleeper = subprocess.Popen(ns.exec_argv(sleep))
        (folder / OWNER_NOTE).write_text(f"{owner} {ns.name}\n")
        boxes[owner] = (folder, ns, sleeper)
    try:
        swept = sweep_stale_sandboxes(str(tmp_path))
        folder, ns, sleeper = boxes[dead.pid]
        assert swept == [ns.name]
        assert ns.name not in namespaces() and not folder.exists()
        assert sleeper.wait(timeout=10) is not None
        folder, ns, sleeper = boxes[os.getpid()]
        assert ns.name in namespaces() and folder.exists() and sleeper.poll() is None
    finally:
        for _, ns, sleeper in boxes.values():
            sleeper.kill()
            sleeper.wait()
            ns.delete()
