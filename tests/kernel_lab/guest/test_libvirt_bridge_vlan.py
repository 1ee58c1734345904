"""A guest's Linux-bridge port VLAN with a real libvirtd of each release, in the lab's full kernel.

The end-to-end sandbox (tests/e2e/harness.py) started inside the lab, once per release: the
machine's libvirt 9.0 and the Debian 13 root's libvirt 11.3, the project's hooks installed by
each release's own ``virt-netxml hooks install``. The same guest asks for VLAN 10 on its port of
a VLAN-filtering Linux bridge:
- on 9.0, which refuses ``<vlan>`` on a Linux bridge, through the project's metadata, and the
  hook applies it;
- on 11.3 through libvirt's own ``<vlan>``, which libvirt applies itself; the hook changes
  nothing and says it verified them (its log shows a verification on that port and no change);
  a metadata wish on the same port that disagrees with libvirt's ``<vlan>`` fails the start with
  one line naming both.
Either way ``bridge vlan show`` reads back the same entries: VLAN 10 as the untagged PVID and
nothing else. A port that asks for a VLAN on a bridge with ``vlan_filtering`` off is refused with
a message that says how to turn it on: a VLAN entry there would isolate nothing.

A NIC hot-plugged into the running guest (``virt-netxml attach``; libvirt runs no hook for it)
gets its VLAN without a reconnect: on 9.0 from ``virt-netxml hooks watch`` following libvirt's
device-added event, on 11.3 from libvirt itself, the watch only verifying it. Before either acts,
the new port is in the bridge's default VLAN 1, so the read-back can fail.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.e2e.harness import Sandbox, build_domain, domain_interfaces, domain_skeleton, vnx
from tests.e2e.watch import WatchProcess

pytestmark = pytest.mark.timeout(900)   # libvirtd probes QEMU under TCG inside TCG: minutes

BRIDGE = "labbrv"
PVID_UNTAGGED = frozenset({"PVID", "Egress Untagged"})


@pytest.fixture
def bridge(box: Sandbox) -> Iterator[str]:
    box.ns.ip("link", "add", BRIDGE, "type", "bridge", "vlan_filtering", "1")
    box.ns.ip("link", "set", BRIDGE, "up")
    try:
        yield BRIDGE
    finally:
        box.clear_libvirt()
        box.ns.ip("link", "del", BRIDGE, check=False)


def vlan_show(box: Sandbox, port: str) -> list[tuple[int, frozenset[str]]]:
    """``bridge -j vlan show dev PORT`` in the sandbox's namespace, as sorted (vid, flags)."""
    data = json.loads(box.ns.run("bridge", "-j", "vlan", "show", "dev", port).stdout or "[]")
    return sorted((v["vlan"], frozenset(v.get("flags", ()))) for entry in data
                  if entry.get("ifname") == port for v in entry["vlans"])


def guest(box: Sandbox, name: str, metadata_vlan: str | None = None) -> str:
    """Define a guest with one port on the bridge asking for VLAN 10 as its release allows
    (on 11.x, ``metadata_vlan`` adds a metadata wish for the same port beside the <vlan>)."""
    path = box.tmp / f"{name}.xml"
    if box.release.version >= (11, 0):
        mac = "52:54:00:1a:b0:10"
        text = domain_skeleton(name).replace("<devices>", (
            f"<devices><interface type='bridge'><mac address='{mac}'/><source bridge='{BRIDGE}'/>"
            "<vlan><tag id='10'/></vlan><model type='virtio'/></interface>"))
        if metadata_vlan is not None:
            text = text.replace("<features>", (
                "<metadata><vnx:netxml xmlns:vnx='urn:virt-netxml:hooks:1'>"
                f"<vnx:interface mac='{mac}'><vnx:vlan tag='{metadata_vlan}'/></vnx:interface>"
                "</vnx:netxml></metadata><features>"))
        path.write_text(text)
    else:
        build_domain(path, name, ["--type", "bridge", "--source", BRIDGE, "--model", "virtio",
                                  "--bridge-vlan", metadata_vlan or "10"])
    box.libvirtd.virsh("define", str(path))
    return name


def hook_log(box: Sandbox) -> list[str]:
    return box.hooks_log.read_text().splitlines() if box.hooks_log.exists() else []


def test_port_vlan_on_a_filtering_bridge(box: Sandbox, bridge: str) -> None:
    name = guest(box, "labvlan-vm")
    logged = len(hook_log(box))
    box.libvirtd.virsh("start", name)
    (nic,) = domain_interfaces(box.libvirtd.virsh("dumpxml", name).stdout)
    assert vlan_show(box, nic["target"]) == [(10, PVID_UNTAGGED)]
    changes = [line for line in hook_log(box)[logged:] if f"({nic['target']})" in line
               and "result=changed" in line]
    if box.release.version >= (11, 0):
        assert changes == [], "the hook changed what libvirt applied: " + "\n".join(changes)
        verified = [line for line in hook_log(box)[logged:] if f"({nic['target']})" in line
                    and "verify bridge VLANs libvirt set on" in line and "result=unchanged" in line]
        assert verified, "the hook did not verify libvirt's VLANs: " + "\n".join(hook_log(box)[logged:])
    else:
        assert changes, "the hook logged no change on the port: " + "\n".join(hook_log(box)[logged:])


def test_port_vlan_on_a_bridge_that_does_not_filter_is_refused(box: Sandbox, bridge: str) -> None:
    box.ns.ip("link", "set", BRIDGE, "type", "bridge", "vlan_filtering", "0")
    name = guest(box, "labnofilter-vm")
    result = box.libvirtd.virsh("start", name, check=False)
    assert result.returncode != 0
    assert "vlan_filtering 1" in result.stderr, result.stderr
    assert box.libvirtd.virsh("domstate", name).stdout.strip() == "shut off"


def test_a_metadata_wish_that_disagrees_with_libvirts_vlan_fails_the_start(box: Sandbox, bridge: str) -> None:
    """On 11.x the metadata asks for VLAN 20 where libvirt's <vlan> sets 10: the start fails with
    one line naming both, and the hook changed nothing. On 9.0 (no libvirt VLAN on a Linux
    bridge) the same metadata wish is simply what the port gets."""
    name = guest(box, "labconflict-vm", metadata_vlan="20")
    result = box.libvirtd.virsh("start", name, check=False)
    if box.release.version < (11, 0):
        assert result.returncode == 0, result.stderr
        (nic,) = domain_interfaces(box.libvirtd.virsh("dumpxml", name).stdout)
        assert vlan_show(box, nic["target"]) == [(20, PVID_UNTAGGED)]
        return
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.count("the metadata asks for VLAN pvid 20 untagged but libvirt 11.3.0") == 1, \
        result.stderr
    assert "own <vlan> (pvid 10 untagged)" in result.stderr, result.stderr
    assert box.libvirtd.virsh("domstate", name).stdout.strip() == "shut off"


def test_a_hot_plugged_port_gets_its_vlan_without_a_reconnect(box: Sandbox, bridge: str) -> None:
    name, mac = "labhot-vm", "52:54:00:1a:b0:20"
    path = box.tmp / f"{name}.xml"
    path.write_text(domain_skeleton(name))          # no NIC at start
    box.libvirtd.virsh("define", str(path))
    box.libvirtd.virsh("start", name)
    watch = WatchProcess(box, box.tmp)
    watch.start()
    try:
        watch.wait_for("connected to ", timeout=120)
        # the version-aware build: libvirt's own <vlan> from 11.0, the metadata wish before
        wish = ["--vlan", "10"] if box.release.version >= (11, 0) else ["--bridge-vlan", "10"]
        done = vnx("attach", name, "--type", "bridge", "--source", BRIDGE, "--model", "virtio",
                   "--mac", mac, *wish, "--connect", box.libvirtd.uri, "--live")
        assert done.stdout == f"attached interface {mac} to domain {name} (live)\n"
        (nic,) = domain_interfaces(box.libvirtd.virsh("dumpxml", name).stdout)
        dev = nic["target"]
        end = time.monotonic() + 60
        while vlan_show(box, dev) != [(10, PVID_UNTAGGED)] and time.monotonic() < end:
            time.sleep(0.1)
        assert vlan_show(box, dev) == [(10, PVID_UNTAGGED)], box.ns.run("bridge", "vlan", "show").stdout
        # 9.0: the watch made the change; 11.3: libvirt did, and the watch found it in place
        changed = "0 changed" if box.release.version >= (11, 0) else "1 changed"
        watch.wait_for(f"domain {name}: interface {mac} ({dev}): {changed}", timeout=60)
        assert not [c for c in box.calls() if c.argv[:2] == [name, "reconnect"]]
    finally:
        watch.stop()
