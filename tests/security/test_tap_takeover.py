"""The TAP/port takeover: a domain's XML names a device the hook must not take.

An ``ethernet`` interface with ``<target dev='X' managed='no'/>`` and a ``<vnx:tap bridge='B'/>``
wish asks the hook to make a TAP X and plug it into B. X is chosen by whoever writes the domain
XML, so it can name another guest's ``vnet3``, ``lo``, a NIC, an Open vSwitch patch port, or a
TAP another domain holds. The hook may only use a TAP it created, or a TAP that exists, is
attached nowhere and is held open by no process (and no other domain holds it); anything else
is refused at ``prepare`` before any host change, the VLAN path at ``start``/``reconnect`` only
touches TAPs recorded as the domain's, and ``release`` only undoes what the record says the hook
did, on the very device it did it to.

The attacks run against the real kernel in a throw-away network namespace (and a private Open
vSwitch for the patch port) through the hook's real entry point and adapters; bridge VLANs,
which this kernel cannot filter, are checked with the fakes.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from hooks.entry import main
from tests.fakes import FakeNetlink, FakeOvs, FakeSysfs
from tests.faults.scenarios import domain
from tests.netns.harness import add_ovs_bridge, entered, have_tools, ip, netns, ovs_in_netns, vsctl
from tests.support import require

MAC = "52:54:00:00:66:01"

TUNSETIFF = 0x400454CA
TUNSETQUEUE = 0x400454D9
IFF_TAP, IFF_NO_PI, IFF_MULTI_QUEUE, IFF_DETACH_QUEUE = 0x0002, 0x1000, 0x0100, 0x0400


def ethernet_domain(name: str, dev: str, bridge: str | None = None, wishes: str = "") -> bytes:
    tap = f"<vnx:tap bridge='{bridge}'/>" if bridge else "<vnx:tap/>"
    return domain(name, f"<vnx:interface mac='{MAC}'>{wishes}{tap}</vnx:interface>",
                  f"<interface type='ethernet'><mac address='{MAC}'/>"
                  f"<target dev='{dev}' managed='no'/><model type='virtio'/></interface>").encode()


def hook(name: str, op: str, data: bytes, ports: dict | None = None) -> tuple[int, str, str]:
    """One call of the hook's real entry point (real adapters unless ``ports`` says otherwise)."""
    out, err = io.StringIO(), io.StringIO()
    rc = main(["--driver", "qemu", name, op, "begin" if op != "release" else "end", "-"],
              stdin=io.BytesIO(data), stdout=out, stderr=err, ports=ports)
    return rc, out.getvalue(), err.getvalue()


def refused(result: tuple[int, str, str], *words: str) -> str:
    """prepare/start refused: exit 1, nothing on stdout, one line on stderr with ``words``."""
    rc, out, err = result
    assert (rc, out) == (1, ""), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


# --------------------------------------------------------------------------- the real kernel


@pytest.fixture
def lab(folders: Path) -> Iterator[str]:
    """A namespace this thread lives in, with the victim's bridge ``brvic`` and ``brevil``."""
    require(os.geteuid() == 0, "root (network namespaces)")
    require(have_tools("ip"), "program ip")
    require(os.path.exists("/dev/net/tun"), "/dev/net/tun")
    with netns("vnxtap") as ns, entered(ns):
        for bridge in ("brvic", "brevil"):
            ip("link", "add", bridge, "type", "bridge", ns=ns)
            ip("link", "set", bridge, "up", ns=ns)
        yield ns


def link(ns: str, name: str) -> dict | None:
    res = ip("-j", "-d", "link", "show", "dev", name, ns=ns, check=False)
    return json.loads(res.stdout)[0] if res.returncode == 0 else None


def ports_of(ns: str, bridge: str) -> list[str]:
    out = ip("-j", "link", "show", "master", bridge, ns=ns).stdout
    return sorted(entry["ifname"] for entry in json.loads(out or "[]"))


class Holder:
    """Processes' hold on TAPs, as QEMU has on its guest's: open /dev/net/tun fds, closed at the end."""

    def __init__(self) -> None:
        self.fds: list[int] = []

    def hold(self, name: str, multi_queue: bool = False) -> int:
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
        self.fds.append(fd)
        flags = IFF_TAP | IFF_NO_PI | (IFF_MULTI_QUEUE if multi_queue else 0)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), flags))
        return fd

    def close(self) -> None:
        while self.fds:
            os.close(self.fds.pop())


@pytest.fixture
def holder() -> Iterator[Holder]:
    h = Holder()
    try:
        yield h
    finally:
        h.close()


def victim_guest_tap(ns: str, holder: Holder, name: str = "vnet3") -> None:
    """Another guest's TAP as libvirt leaves it: on the victim's bridge, up, held by its QEMU."""
    ip("tuntap", "add", "dev", name, "mode", "tap", ns=ns)
    ip("link", "set", name, "master", "brvic", ns=ns)
    ip("link", "set", name, "up", ns=ns)
    holder.hold(name)


@pytest.mark.parametrize("bridge", ["brevil", "brvic"])
def test_another_guests_tap_is_refused_and_left_alone(lab, holder, bridge):
    victim_guest_tap(lab, holder)
    data = ethernet_domain("evil", "vnet3", bridge)
    err = refused(hook("evil", "prepare", data), "vnet3", "attached to brvic")
    assert err.startswith("virt-netxml: domain evil: prepare: interface 52:54:00:00:66:01 (vnet3): ")
    tap = link(lab, "vnet3")
    assert tap is not None and tap["master"] == "brvic" and "UP" in tap["flags"]
    assert ports_of(lab, "brevil") == []
    # Whatever the start and release calls that follow a failed prepare are fed, the TAP stays.
    rc, _, err = hook("evil", "start", ethernet_domain("evil", "vnet3", bridge, "<vnx:vlan tag='99'/>"))
    assert rc == 1 and "vnet3" in err
    assert hook("evil", "release", data)[0] == 0
    tap = link(lab, "vnet3")
    assert tap is not None and tap["master"] == "brvic" and "UP" in tap["flags"]


def test_loopback_is_not_a_tap(lab):
    ip("link", "set", "lo", "down", ns=lab)
    refused(hook("evil", "prepare", ethernet_domain("evil", "lo")), "'lo'", "not a TAP")
    assert "UP" not in link(lab, "lo")["flags"]
    refused(hook("evil", "prepare", ethernet_domain("evil", "lo", "brevil")), "'lo'", "not a TAP")
    assert ports_of(lab, "brevil") == [] and "UP" not in link(lab, "lo")["flags"]


def test_a_veth_standing_in_for_a_nic_is_not_a_tap(lab):
    ip("link", "add", "eth1", "type", "veth", "peer", "name", "eth1p", ns=lab)
    refused(hook("evil", "prepare", ethernet_domain("evil", "eth1", "brevil")), "'eth1'", "not a TAP")
    assert link(lab, "eth1").get("master") is None


@pytest.mark.parametrize("how", ["single queue", "multi-queue, queue disabled", "not persistent"])
def test_an_unattached_tap_that_a_process_holds_is_refused(lab, holder, how):
    if how == "single queue":
        ip("tuntap", "add", "dev", "tapvic0", "mode", "tap", ns=lab)
        holder.hold("tapvic0")
    elif how == "multi-queue, queue disabled":
        ip("tuntap", "add", "dev", "tapvic0", "mode", "tap", "multi_queue", ns=lab)
        fd = holder.hold("tapvic0", multi_queue=True)
        fcntl.ioctl(fd, TUNSETQUEUE, struct.pack("16sH", b"", IFF_DETACH_QUEUE))
    else:
        holder.hold("tapvic0")      # a TAP that lives only as long as its process holds it
    refused(hook("evil", "prepare", ethernet_domain("evil", "tapvic0", "brevil")), "'tapvic0'", "in use")
    tap = link(lab, "tapvic0")
    assert tap is not None and tap.get("master") is None and "UP" not in tap["flags"]


def test_a_tun_device_is_not_a_tap(lab):
    ip("tuntap", "add", "dev", "tun0", "mode", "tun", ns=lab)
    refused(hook("evil", "prepare", ethernet_domain("evil", "tun0", "brevil")), "'tun0'", "not a TAP")


def test_a_free_tap_is_used_then_given_back_as_it_was(lab, folders):
    ip("tuntap", "add", "dev", "tapfree", "mode", "tap", ns=lab)
    data = ethernet_domain("guest", "tapfree", "brevil")
    assert hook("guest", "prepare", data) == (0, "", "")
    assert link(lab, "tapfree")["master"] == "brevil"
    record = json.loads((folders / "state/domains/guest.json").read_text())
    assert record["taps"]["tapfree"]["adopted"] is True
    assert hook("guest", "release", data) == (0, "", "")
    tap = link(lab, "tapfree")
    assert tap is not None and tap.get("master") is None          # unplugged, never deleted
    assert not (folders / "state/domains/guest.json").exists()


def test_release_never_deletes_a_device_that_took_a_recorded_name(lab, holder):
    data = ethernet_domain("evil", "tapev0")
    assert hook("evil", "prepare", data) == (0, "", "")
    # The hook's TAP goes (an admin's clean-up), and another guest's TAP gets the name.
    ip("link", "del", "tapev0", ns=lab)
    victim_guest_tap(lab, holder, "tapev0")
    rc, _, err = hook("evil", "release", data)
    assert rc == 0, err
    tap = link(lab, "tapev0")
    assert tap is not None and tap["master"] == "brvic" and "UP" in tap["flags"]


def test_a_tap_one_domain_holds_is_refused_to_another(lab):
    mine = ethernet_domain("owner", "tapsh0", wishes="")
    assert hook("owner", "prepare", mine) == (0, "", "")
    # Not plugged anywhere and QEMU has not opened it yet: only the claim says whose it is.
    refused(hook("evil", "prepare", ethernet_domain("evil", "tapsh0", "brevil")),
            "tapsh0", "in use by domain owner")
    assert link(lab, "tapsh0").get("master") is None
    assert hook("owner", "release", mine) == (0, "", "")
    assert link(lab, "tapsh0") is None


def test_the_adapter_reads_how_a_tap_is_used(lab, holder):
    """What this kernel tells about a TAP, as the adapter reports it (the signals the hook uses)."""
    from hooks.adapters.netlink import NetlinkAdapter

    ip("tuntap", "add", "dev", "tfree", "mode", "tap", ns=lab)
    ip("tuntap", "add", "dev", "tsq", "mode", "tap", ns=lab)
    ip("tuntap", "add", "dev", "tmq", "mode", "tap", "multi_queue", ns=lab)
    ip("tuntap", "add", "dev", "ttun", "mode", "tun", ns=lab)
    holder.hold("tsq")
    for _ in range(2):
        holder.hold("tmq", multi_queue=True)
    holder.hold("tgone")
    nl = NetlinkAdapter()
    try:
        def facts(name):
            info = nl.link(name)
            return (info.tun_mode, info.tun_persistent, info.tun_queues, info.carrier)

        assert facts("tfree") == ("tap", True, None, False)
        assert facts("tsq") == ("tap", True, None, True)
        assert facts("tmq") == ("tap", True, 2, True)
        assert facts("ttun")[0] == "tun"
        assert facts("tgone")[:2] == ("tap", False)
        lo = nl.link("lo")
        assert (lo.kind, lo.tun_mode) == (None, None)
    finally:
        nl.close()


# --------------------------------------------------------------------------- Open vSwitch


def test_an_ovs_patch_port_is_not_moved(folders, tmp_path):
    """A patch port has no kernel device: only OVS knows the name."""
    require(os.geteuid() == 0, "root (network namespaces)")
    require(have_tools("ip", "ovs-vsctl", "ovsdb-server", "ovsdb-tool", "ovs-vswitchd"), "Open vSwitch")
    with netns("vnxtap") as ns, ovs_in_netns(ns, tmp_path) as db, entered(ns):
        (folders / "conf/hooks.conf").write_text(f"ovs-db = {db}\n")
        for bridge in ("ovsvic", "ovsevil"):
            add_ovs_bridge(db, bridge)
        vsctl(db, "add-port", "ovsvic", "patch0", "--", "set", "Interface", "patch0", "type=patch",
              "options:peer=patch1", "--", "add-port", "ovsevil", "patch1", "--", "set", "Interface",
              "patch1", "type=patch", "options:peer=patch0")
        before = vsctl(db, "show")
        data = ethernet_domain("evil", "patch0", "ovsevil")
        refused(hook("evil", "prepare", data), "'patch0'", "Open vSwitch")
        assert vsctl(db, "port-to-br", "patch0").strip() == "ovsvic"
        assert link(ns, "patch0") is None
        assert hook("evil", "release", data)[0] == 0
        assert vsctl(db, "show") == before
        # The adapter's own question, against the real database.
        from hooks.adapters.ovs import OvsAdapter

        ovs = OvsAdapter(db=db)
        assert ovs.port_or_interface("patch0") == "port"
        assert ovs.port_or_interface("nosuch0") is None


def _fake_host(**vlan_filtering: bool) -> tuple[FakeNetlink, FakeOvs]:
    net, ovs = FakeNetlink(), FakeOvs()
    net.add_bridge("br0", vlan_filtering=True)
    net.add_link("vnet3", "tun", up=True, master="br0")
    ovs.add_bridge("ovsvic")
    ovs.add_bridge("ovsevil")
    ovs.add_port("ovsvic", "patch0")
    ovs.add_port("ovsvic", "vnet5")
    ovs.set_port_vlan("vnet5", 5, (), "access")
    return net, ovs


def test_an_ovs_patch_port_is_not_moved_on_the_fakes(folders):
    net, ovs = _fake_host()
    ports = {"netlink": net, "ovs": ovs, "sysfs": FakeSysfs()}
    data = ethernet_domain("evil", "patch0", "ovsevil")
    refused(hook("evil", "prepare", data, ports), "'patch0'", "Open vSwitch port")
    assert ovs.ports["patch0"].bridge == "ovsvic"
    assert net.calls_to("create_tap") == [] and ovs.calls_to("del_port") == []
    assert ovs.calls_to("add_port") == [("ovsvic", "patch0"), ("ovsvic", "vnet5")]
    assert hook("evil", "release", data, ports)[0] == 0
    assert ovs.ports["patch0"].bridge == "ovsvic" and ovs.calls_to("del_port") == []


@pytest.mark.parametrize("op", ["start", "reconnect"])
def test_vlans_go_only_on_the_domains_own_tap(folders, op):
    net, ovs = _fake_host()
    ports = {"netlink": net, "ovs": ovs, "sysfs": FakeSysfs()}
    vlans_before = dict(net.links["vnet3"].vlans)
    wishes = "<vnx:vlan tag='99'/>"
    rc, out, err = hook("evil", op, ethernet_domain("evil", "vnet3", "br0", wishes), ports)
    ovs_wishes = wishes + ("<vnx:ovs-setting table='Port' column='other_config' key='evil' value='1'/>")
    rc2, _, err2 = hook("evil", op, ethernet_domain("evil", "vnet5", "ovsevil", ovs_wishes), ports)
    # start fails (libvirt does not start the guest); reconnect says so and exits 0.
    assert (rc, rc2) == ((1, 1) if op == "start" else (0, 0)), (err, err2)
    assert "vnet3" in err and "not a TAP the hook" in err
    assert "vnet5" in err2 and "not a TAP the hook" in err2
    assert net.links["vnet3"].vlans == vlans_before and net.calls_to("bridge_vlan_add") == []
    row = ovs.ports["vnet5"]
    assert (row.tag, row.vlan_mode) == (5, "access") and ovs.calls_to("transact") == []


# --------------------------------------------------------------------------- siblings


SHIM_NET = (b"<hookData><network><name>mvnet</name><forward mode='bridge' dev='up0'><interface dev='up0'/>"
            b"</forward><metadata><vnx:netxml xmlns:vnx='urn:virt-netxml:hooks:1'><vnx:shim name='mvshim0' "
            b"address='192.168.77.1/24'/></vnx:netxml></metadata></network></hookData>")


def network_hook(op: str, data: bytes) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(["--driver", "network", "mvnet", op, "begin" if op == "start" else "end", "-"],
              stdin=io.BytesIO(data), stdout=out, stderr=err)
    return rc, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("kind", ["veth", "macvlan"])
def test_network_stop_never_deletes_a_device_that_took_the_shims_name(lab, kind):
    ip("link", "add", "up0", "type", "veth", "peer", "name", "up0p", ns=lab)
    ip("link", "set", "up0", "up", ns=lab)
    assert network_hook("start", SHIM_NET) == (0, "", "")
    # The shim goes behind the hook's back, and someone else's device gets its name.
    ip("link", "del", "mvshim0", ns=lab)
    if kind == "veth":
        ip("link", "add", "mvshim0", "type", "veth", "peer", "name", "mvshim0p", ns=lab)
    else:
        ip("link", "add", "mvshim0", "link", "up0", "type", "macvlan", "mode", "private", ns=lab)
    rc, _, err = network_hook("stopped", SHIM_NET)
    assert rc == 0, err
    assert link(lab, "mvshim0") is not None
