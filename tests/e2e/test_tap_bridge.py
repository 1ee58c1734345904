"""TAP + bridge for ``type='ethernet'`` / ``managed='no'``, done by the hook.

The chapter's sequence (``brctl addbr``, ``ip tuntap add``, ``brctl addif``, then ``delif``,
``tuntap del``) for a guest: the hook makes and bridges the TAP at ``prepare`` and removes it
at ``release``. A TAP someone else made is used but never deleted.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e.conftest import Host
from tests.e2e.harness import build_domain, run, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def linux_bridge(host: Host, name: str) -> str:
    host.ns.ip("link", "add", name, "type", "bridge")
    host.ns.ip("link", "set", name, "up")
    host.links.append(name)
    return name


def ethernet_domain(host: Host, name: str, tap: str, bridge: str | None) -> str:
    args = ["--type", "ethernet", "--target", tap, "--unmanaged", "--model", "virtio"]
    if bridge:
        args += ["--tap-bridge", bridge]
    host.virsh("define", str(build_domain(host.tmp / f"{name}.xml", name, args)))
    return name


# The last argument of ``release`` after a start that failed: the reason since libvirt 10.5.
FAILED_START_REASON = {"libvirt-9.0.0": "-", "libvirt-11.3.0": "failed"}


def test_without_the_hook_wish_the_guest_cannot_start(host: Host) -> None:
    """The control: libvirt itself does not create a managed='no' TAP."""
    ethernet_domain(host, "notap-vm", "vnxtap9", None)
    since = host.box.call_count()
    result = host.virsh("start", "notap-vm", check=False)
    assert result.returncode != 0
    assert "target managed='no' but specified dev doesn't exist" in result.stderr
    assert "vnxtap9" not in host.ns.links()
    released = [c.argv[3] for c in host.box.calls(since) if c.hook == "qemu" and c.argv[1] == "release"]
    assert released == [FAILED_START_REASON[host.release.name]]


def test_hook_creates_bridges_and_removes_the_tap(hooks: Host) -> None:
    host = hooks
    bridge = linux_bridge(host, "brtap0")
    ethernet_domain(host, "tap-vm", "vnxtap0", bridge)
    host.virsh("start", "tap-vm")

    tap = host.ns.link("vnxtap0")
    assert tap is not None
    assert tap["linkinfo"]["info_kind"] == "tun"
    assert tap["linkinfo"]["info_data"]["type"] == "tap"
    assert tap["master"] == bridge
    assert "UP" in tap["flags"]
    assert "vnxtap0" in host.ns.ip("link", "show", "master", bridge).stdout

    host.virsh("destroy", "tap-vm")
    assert host.ns.link("vnxtap0") is None
    assert host.ns.ip("link", "show", "master", bridge).stdout.strip() == ""
    assert host.ns.link(bridge) is not None  # the bridge is the administrator's: it stays


def test_hook_puts_the_tap_on_an_ovs_bridge(hooks: Host) -> None:
    host = hooks
    bridge = host.ovs_bridge("ovs-tap0")
    ethernet_domain(host, "ovstap-vm", "vnxtap2", bridge)
    host.virsh("start", "ovstap-vm")
    assert host.ovs.vsctl("port-to-br", "vnxtap2").stdout.strip() == bridge
    host.virsh("destroy", "ovstap-vm")
    assert host.ovs.vsctl("list-ports", bridge).stdout.split() == []
    assert host.ns.link("vnxtap2") is None


def test_a_tap_the_hook_did_not_create_is_never_deleted(hooks: Host) -> None:
    host = hooks
    bridge = linux_bridge(host, "brtap1")
    host.ns.ip("tuntap", "add", "dev", "vnxtap1", "mode", "tap")
    host.links.append("vnxtap1")
    ethernet_domain(host, "owntap-vm", "vnxtap1", bridge)
    host.virsh("start", "owntap-vm")
    assert host.ns.link("vnxtap1")["master"] == bridge  # the hook still plugs it in
    host.virsh("destroy", "owntap-vm")
    host.virsh("start", "owntap-vm")  # and the guest can start again on the same TAP
    host.virsh("destroy", "owntap-vm")
    tap = host.ns.link("vnxtap1")
    assert tap is not None and tap["linkinfo"]["info_data"]["type"] == "tap"


PAUSE = """#!/bin/sh
# Holds libvirt between the hooks' prepare and QEMU's start, as a slow start would.
[ "$2" = start ] || exit 0
: > {dir}/paused
i=0
while [ ! -e {dir}/go ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
exit 0
"""


def test_repair_during_a_start_leaves_the_fresh_tap_alone(hooks: Host) -> None:
    """``hooks repair`` run between prepare and QEMU's start (no pid file yet) must not take the
    TAP the prepare just made for a leftover; once the daemon is past it, the guest starts."""
    host = hooks
    bridge = linux_bridge(host, "brtap3")
    ethernet_domain(host, "slow-vm", "vnxtap3", bridge)
    pause = host.libvirtd.hooks_dir / "qemu.d" / "60-pause"
    pause.write_text(PAUSE.format(dir=host.tmp))
    pause.chmod(0o755)
    starting = subprocess.Popen(["virsh", "-c", host.libvirtd.uri, "start", "slow-vm"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (host.tmp / "paused").exists(), 30, "libvirt to reach the start hook")
        # As an administrator would run it on the host: in libvirtd's mount namespace.
        repair = run(host.libvirtd.in_daemon([host.box.vnx_path, "hooks", "repair"]), check=False)
        assert repair.returncode == 0, repair.stderr
        assert repair.stdout.startswith("domain slow-vm: left alone: being started by the libvirt "
                                        f"daemon (pid {host.libvirtd.pid}, prepared "), repair.stdout
        assert host.ns.link("vnxtap3") is not None
        assert host.ns.link("vnxtap3")["master"] == bridge
    finally:
        (host.tmp / "go").write_text("")
        out, err = starting.communicate(timeout=60)
        pause.unlink()
    assert starting.returncode == 0, err
    assert host.virsh("domstate", "slow-vm").stdout.strip() == "running"
    host.virsh("destroy", "slow-vm")
    assert host.ns.link("vnxtap3") is None
