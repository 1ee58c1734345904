"""The hook program with the real adapters, in a throw-away network namespace.

Each test builds its links (a bridge, a veth standing in for an uplink, an OVS with the
userspace datapath) inside a fresh namespace and runs ``python -m hooks.entry`` there through
``ip netns exec``, exactly as libvirt would run it (argv, XML on stdin), then reads the result
back with ``ip``/``ovs-vsctl``. Nothing outside the namespace is touched; the namespace, the
OVS daemons and every file are removed even when a test fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.netns.harness import add_ovs_bridge, have_tools, ip, netns, ovs_in_netns, vsctl
from tests.support import require

pytestmark = pytest.mark.netns

REPO = Path(__file__).resolve().parents[2]
FIX = REPO / "fixtures" / "hooks"


def _require(*tools: str) -> None:
    require(os.geteuid() == 0, "root (network namespaces)")
    require(have_tools("ip", *tools), "programs ip " + " ".join(tools))


def hook(ns: str, tmp_path: Path, driver: str, argv: list[str], data: bytes, **conf: str):
    (tmp_path / "conf").mkdir(exist_ok=True)
    (tmp_path / "conf/hooks.conf").write_text("".join(f"{k} = {v}\n" for k, v in conf.items()))
    env = {"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "VIRT_NETXML_STATE_DIR": str(tmp_path / "state"), "VIRT_NETXML_CONFIG_DIR": str(tmp_path / "conf")}
    return subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "hooks.entry", "--driver", driver,
                           *argv], input=data, capture_output=True, timeout=60, cwd=REPO, env=env)


def link(ns: str, name: str) -> dict | None:
    res = ip("-j", "-d", "link", "show", "dev", name, ns=ns, check=False)
    return json.loads(res.stdout)[0] if res.returncode == 0 else None


@pytest.fixture
def lab():
    _require()
    with netns("vnxhook") as ns:
        ip("link", "add", "brcap", "type", "bridge", ns=ns)
        ip("link", "set", "brcap", "up", ns=ns)
        ip("link", "add", "up0", "type", "veth", "peer", "name", "up0p", ns=ns)
        ip("link", "set", "up0", "up", ns=ns)
        ip("link", "set", "up0p", "up", ns=ns)
        yield ns


def test_tap_is_created_bridged_and_removed(lab, tmp_path):
    prepare = (FIX / "variants/qemu-capvm-prepare-meta.xml").read_bytes()
    res = hook(lab, tmp_path, "qemu", ["capvm", "prepare", "begin", "-"], prepare)
    assert (res.returncode, res.stdout, res.stderr) == (0, b"", b"")
    tap = link(lab, "tapcap0")
    assert tap is not None and tap["master"] == "brcap" and "UP" in tap["flags"]
    assert tap["linkinfo"]["info_kind"] == "tun"
    assert (tmp_path / "state/claims/uplink-up0.json").exists()
    res = hook(lab, tmp_path, "qemu", ["capvm", "release", "end", "-"], prepare)
    assert (res.returncode, res.stderr) == (0, b"")
    assert link(lab, "tapcap0") is None
    assert not (tmp_path / "state/domains/capvm.json").exists()


def test_existing_tap_is_bridged_but_never_deleted(lab, tmp_path):
    ip("tuntap", "add", "dev", "tapcap0", "mode", "tap", ns=lab)
    prepare = (FIX / "variants/qemu-capvm-prepare-meta.xml").read_bytes()
    assert hook(lab, tmp_path, "qemu", ["capvm", "prepare", "begin", "-"], prepare).returncode == 0
    assert link(lab, "tapcap0")["master"] == "brcap"
    assert hook(lab, tmp_path, "qemu", ["capvm", "release", "end", "-"], prepare).returncode == 0
    assert link(lab, "tapcap0") is not None


def test_failure_after_the_tap_rolls_it_back(lab, tmp_path):
    # The bridge named in the metadata does not exist: enslaving fails, the new TAP goes away.
    prepare = (FIX / "variants/qemu-capvm-prepare-meta.xml").read_bytes().replace(
        b'bridge="brcap"', b'bridge="brnone"')
    res = hook(lab, tmp_path, "qemu", ["capvm", "prepare", "begin", "-"], prepare)
    assert res.returncode == 1 and res.stdout == b""
    message = res.stderr.decode()
    assert message.startswith("virt-netxml: domain capvm: prepare: interface 52:54:00:b4:49:09 (tapcap0): ")
    assert "rolled back 2 of 2 changes" in message and message.count("\n") == 1   # the TAP, its claim
    assert link(lab, "tapcap0") is None


def test_uplink_check_and_host_shim(lab, tmp_path):
    net = ["capmvtap"]
    data = (FIX / "variants/network-capmvtap-start-meta.xml").read_bytes()
    res = hook(lab, tmp_path, "network", [*net, "start", "begin", "-"], data)
    assert (res.returncode, res.stderr) == (0, b"")
    shim = link(lab, "mvshim0")
    assert shim["linkinfo"]["info_kind"] == "macvlan" and shim["linkinfo"]["info_data"]["mode"] == "bridge"
    assert shim["link"] == "up0"
    addrs = json.loads(ip("-j", "addr", "show", "dev", "mvshim0", ns=lab).stdout)[0]["addr_info"]
    assert [(a["local"], a["prefixlen"]) for a in addrs if a["family"] == "inet"] == [("192.168.77.1", 24)]
    res = hook(lab, tmp_path, "network", [*net, "stopped", "end", "-"], data)
    assert (res.returncode, res.stderr) == (0, b"")
    assert link(lab, "mvshim0") is None
    ip("link", "set", "up0", "down", ns=lab)
    res = hook(lab, tmp_path, "network", [*net, "start", "begin", "-"], data)
    assert res.returncode == 1 and b"uplink 'up0' is down" in res.stderr
    assert link(lab, "mvshim0") is None


def test_ovs_vlans_from_metadata(tmp_path):
    _require("ovs-vsctl", "ovsdb-server", "ovsdb-tool", "ovs-vswitchd")
    with netns("vnxhook") as ns, ovs_in_netns(ns, tmp_path) as db:
        add_ovs_bridge(db, "ovsbr0")
        for dev in ("vnet103", "vnet105"):
            ip("tuntap", "add", "dev", dev, "mode", "tap", ns=ns)
            vsctl(db, "add-port", "ovsbr0", dev)
        data = (FIX / "variants/qemu-capvm-start-meta.xml").read_text()
        # A second OVS port with a trunk and native VLAN (the acceptance scenario's pair).
        data = data.replace("<target dev='vnet104'/>", "<target dev='vnet105'/>").replace(
            "<source bridge='brcap'/>",
            "<source bridge='ovsbr0'/>\n      <virtualport type='openvswitch'/>").replace(
            '<vnx:vlan trunks="30-32" native="20"/>', '<vnx:vlan trunks="20,30-40" native="20"/>')
        data = data.replace('<vnx:tap bridge="brcap" owner="root" group="root" multi-queue="no"/>', "")
        data = data.replace('<vnx:vlan tag="40"/>', "")
        res = hook(ns, tmp_path, "qemu", ["capvm", "start", "begin", "-"], data.encode(), **{"ovs-db": db})
        assert (res.returncode, res.stdout, res.stderr) == (0, b"", b"")

        def port(dev):
            columns = "--columns=tag,trunks,vlan_mode,other_config"
            out = vsctl(db, "--format=json", columns, "list", "Port", dev)
            return json.loads(out)["data"][0]

        assert port("vnet103")[0] == 10 and port("vnet103")[2] == "access"
        assert port("vnet103")[3] == ["map", [["priority-tags", "true"]]]
        tag, trunks, mode, _ = port("vnet105")
        assert (tag, mode) == (20, "native-untagged")
        assert sorted(trunks[1]) == [20, *range(30, 41)]
        # A second run (reconnect) finds everything in place and changes nothing.
        res = hook(ns, tmp_path, "qemu", ["capvm", "reconnect", "begin", "-"], data.encode(),
                   **{"ovs-db": db, "log-file": str(tmp_path / "log")})
        assert (res.returncode, res.stderr) == (0, b"")
        assert "done: 0 changed, 3 already in place" in (tmp_path / "log").read_text()
