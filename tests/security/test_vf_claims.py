"""A VF belongs to one domain at a time, whatever name a domain gives it.

A VF has two names: its PCI address (what a claim holds) and its PF plus index (what MAC and
VLAN are set through). A domain that gives both, or gives a hostdev ``<source><address>`` beside
its metadata, must name one and the same function; otherwise it could claim a free VF while its
MAC/VLAN changes land on a VF another domain holds. The attacks run through the real hook entry
point, with the real sysfs adapter over a fake sysfs tree (real folders and symlinks) and the
netlink fake for the PF's VF table (there is no SR-IOV hardware here).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from hooks.adapters.sysfs import SysfsAdapter
from hooks.entry import main
from hooks.ports import VfInfo
from hooks.state import StateStore
from tests.fakes import FakeNetlink
from tests.sysfs_tree import KernelSim, SysfsTree

NS = 'xmlns:vnx="urn:virt-netxml:hooks:1"'
PF = "enp4s0f0"
GUEST1_MAC = "52:54:00:00:0f:01"
GUEST2_MAC = "52:54:00:00:0f:02"


class Host:
    """A PF with two VFs in a fake sysfs tree; the VFs' MAC/VLAN live in the netlink fake."""

    def __init__(self, base: Path) -> None:
        self.tree = SysfsTree(base / "root")
        self.vfs = self.tree.add_pf("0000:04:00.0", PF, total_vfs=4, numvfs=2)
        self.net = FakeNetlink()
        self.net.add_pf(PF, 2)
        self.state = StateStore(str(base / "state"))

    def ports(self) -> dict[str, object]:
        return {"netlink": self.net, "sysfs": SysfsAdapter(self.tree.root)}


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Host:
    monkeypatch.setenv("VIRT_NETXML_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("VIRT_NETXML_CONFIG_DIR", str(tmp_path / "conf"))
    monkeypatch.delenv("VIRT_NETXML_DEADLINE", raising=False)
    (tmp_path / "conf").mkdir()
    return Host(tmp_path)


def domain(name: str, n: int, meta: str, device: str) -> bytes:
    return (f"<domain type='kvm'><name>{name}</name><uuid>00000000-0000-4000-8000-00000000000{n}</uuid>"
            f"<metadata><vnx:netxml {NS}>{meta}</vnx:netxml></metadata>"
            f"<devices>{device}</devices></domain>").encode()


def wish(mac: str, vf: str, vlan: int | None = None) -> str:
    tag = f"<vnx:vlan tag='{vlan}'/>" if vlan is not None else ""
    return f"<vnx:interface mac='{mac}'><vnx:vf {vf}/>{tag}</vnx:interface>"


def direct(mac: str, netdev: str) -> str:
    return (f"<interface type='direct'><mac address='{mac}'/>"
            f"<source dev='{netdev}' mode='passthrough'/></interface>")


def hostdev(mac: str, address: str) -> str:
    bus, rest = address.split(":")[1:]
    slot, function = rest.split(".")
    return (f"<interface type='hostdev' managed='no'><mac address='{mac}'/><source>"
            f"<address type='pci' domain='0x0000' bus='0x{bus}' slot='0x{slot}' function='0x{function}'/>"
            f"</source></interface>")


def call(host: Host, name: str, op: str, data: bytes) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = main([name, op, "end" if op == "release" else "begin", "-"], stdin=io.BytesIO(data),
                stdout=stdout, stderr=stderr, ports=host.ports(),
                program="/etc/libvirt/hooks/qemu.d/50-virt-netxml")
    return code, stdout.getvalue(), stderr.getvalue()


def start_guest1(host: Host) -> None:
    """guest1 holds VF 0 (through macvtap): its MAC and VLAN 100 are set through the PF."""
    meta = (f"<vnx:interface mac='{GUEST1_MAC}'><vnx:vf pf='{PF}' index='0'/>"
            f"<vnx:vlan tag='100'/></vnx:interface>")
    code, out, err = call(host, "guest1", "prepare", domain("guest1", 1, meta, direct(GUEST1_MAC, f"{PF}v0")))
    assert (code, out, err) == (0, "", "")
    assert host.state.holder(f"pci-{host.vfs[0]}") == "guest1"
    assert host.net.links[PF].vfs[0] == VfInfo(0, GUEST1_MAC, 100)


def assert_guest1_untouched(host: Host) -> None:
    assert host.net.links[PF].vfs[0] == VfInfo(0, GUEST1_MAC, 100)
    assert [c for c in host.net.calls_to("set_vf") if c[0] == PF and c[1] == 0] == [
        (PF, 0, GUEST1_MAC, 100)]
    assert host.state.holder(f"pci-{host.vfs[0]}") == "guest1"
    assert host.state.holder(f"pci-{host.vfs[1]}") is None      # nothing was claimed by guest2
    assert "vfs" not in host.state.read("domains", "guest2")


def test_second_guest_naming_a_held_vf_by_pf_index_with_another_address_is_refused(host: Host) -> None:
    start_guest1(host)
    # guest2 gives the PF and index of guest1's VF, with the address of the free VF 1.
    meta = (f"<vnx:interface mac='{GUEST2_MAC}'><vnx:vf pf='{PF}' index='0' address='{host.vfs[1]}'/>"
            f"<vnx:vlan tag='200'/></vnx:interface>")
    code, out, err = call(host, "guest2", "prepare", domain("guest2", 2, meta, direct(GUEST2_MAC, f"{PF}v1")))
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1, err
    assert "domain guest2: prepare:" in err
    assert host.vfs[0] in err and host.vfs[1] in err      # names both
    assert_guest1_untouched(host)


def test_hostdev_whose_source_is_not_the_metadata_vf_is_refused(host: Host) -> None:
    start_guest1(host)
    # libvirt would hand guest1's VF 0 to guest2's QEMU, while the hook claims the free VF 1.
    xml = domain("guest2", 2, wish(GUEST2_MAC, f"pf='{PF}' index='1'", 200), hostdev(GUEST2_MAC, host.vfs[0]))
    with KernelSim(host.tree):   # binding to vfio-pci would work: only the check may stop it
        code, out, err = call(host, "guest2", "prepare", xml)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1, err
    assert host.vfs[0] in err and host.vfs[1] in err
    assert_guest1_untouched(host)
    assert host.tree.driver_of(host.vfs[1]) == "igbvf"     # not taken from its driver either


def test_hostdev_source_and_metadata_naming_the_same_vf_in_other_spellings_is_accepted(host: Host) -> None:
    """The check compares functions, not strings: upper-case hex and a short domain are the same VF."""
    address = host.vfs[1].upper()
    meta = wish(GUEST2_MAC, f"pf='{PF}' index='1' address='{address}'")
    code, out, err = call(host, "guest2", "prepare", domain("guest2", 2, meta, direct(GUEST2_MAC, f"{PF}v1")))
    assert (code, out, err) == (0, "", "")
    assert host.state.holder(f"pci-{host.vfs[1]}") == "guest2"


def test_release_restores_only_a_vf_the_domain_still_holds(host: Host) -> None:
    """A record naming a VF by PF/index that now resolves to a function the domain does not hold
    (VFs re-created, or a record written by an older version) is not acted on at release."""
    start_guest1(host)
    with host.state.edit("domains", "guest2") as rec:
        rec["name"] = "guest2"
        rec["vfs"] = {f"{PF}/0": {"pf": PF, "index": 0, "vlan": 0, "mac": "00:00:00:00:00:00",
                                  "address": host.vfs[1]}}
    code, out, err = call(host, "guest2", "release", b"")
    assert out == ""
    assert host.vfs[0] in err and host.vfs[1] in err, err
    assert_guest1_untouched(host)


def test_start_does_not_change_a_vf_the_domain_does_not_hold(host: Host) -> None:
    """The VLAN of a hostdev VF is set at ``start``: only by the domain holding its claim, even if
    a ``start`` arrives without the domain's own ``prepare`` having claimed it."""
    start_guest1(host)
    xml = domain("guest2", 2, wish(GUEST2_MAC, f"pf='{PF}' index='0'", 200), hostdev(GUEST2_MAC, host.vfs[0]))
    code, out, err = call(host, "guest2", "start", xml)
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1, err
    assert f"VF {host.vfs[0]} ({PF} index 0) is held by domain guest1" in err
    assert_guest1_untouched(host)


def test_release_leaves_the_driver_of_a_vf_another_domain_now_holds(host: Host) -> None:
    """A leftover record (a release or rollback that failed half way) names a VF's original
    driver; once another domain holds that VF, repairing the record must not take it away."""
    vf = host.vfs[1]
    with KernelSim(host.tree):
        xml = domain("guest1", 1, wish(GUEST1_MAC, f"address='{vf}'"), hostdev(GUEST1_MAC, vf))
        assert call(host, "guest1", "prepare", xml) == (0, "", "")
    assert host.tree.driver_of(vf) == "vfio-pci" and host.state.holder(f"pci-{vf}") == "guest1"
    with host.state.edit("domains", "guest2") as rec:
        rec["name"] = "guest2"
        rec["drivers"] = {vf: {"driver": "igbvf", "override": None}}
    with KernelSim(host.tree):
        code, out, err = call(host, "guest2", "release", b"")
    assert out == ""
    assert host.tree.driver_of(vf) == "vfio-pci", err
    assert f"{vf} is held by domain guest1" in err
    assert host.state.holder(f"pci-{vf}") == "guest1"
    assert "drivers" not in host.state.read("domains", "guest2") or not host.state.read(
        "domains", "guest2")["drivers"]


# --------------------------------------------------------------------------- VF pools

POOL = "vfpool"
POOL_NET = (f"<network><name>{POOL}</name><forward mode='hostdev' managed='yes'><pf dev='{PF}'/></forward>"
            "</network>")


def net_call(host: Host, op: str, port: str = "") -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    data = f"<hookData>{POOL_NET}{port}</hookData>".encode()
    code = main([POOL, op, "begin", "-"], stdin=io.BytesIO(data), stdout=stdout, stderr=stderr,
                ports=host.ports(), program="/etc/libvirt/hooks/network.d/50-virt-netxml")
    return code, stdout.getvalue(), stderr.getvalue()


def plugged(address: str, mac: str = GUEST2_MAC, owner: str = "guest2") -> str:
    """libvirt's ``port-created`` input for a port it plugged with VF ``address``."""
    bus, rest = address.split(":")[1:]
    slot, function = rest.split(".")
    return (f"<networkport><uuid>5d744f21-ba4a-4d6e-bdb2-30a35ff3207d</uuid><owner><name>{owner}</name>"
            f"<uuid>00000000-0000-4000-8000-000000000002</uuid></owner><mac address='{mac}'/>"
            f"<plug type='hostdev-pci' managed='yes'><driver name='vfio'/><address domain='0x0000' "
            f"bus='0x{bus}' slot='0x{slot}' function='0x{function}'/></plug></networkport>")


def start_pool_guest(host: Host) -> None:
    assert net_call(host, "start") == (0, "", "")
    pool_nic = (f"<interface type='network'><mac address='{GUEST2_MAC}'/><source network='{POOL}'/>"
                "</interface>")
    assert call(host, "guest2", "prepare", domain("guest2", 2, "", pool_nic)) == (0, "", "")


def test_a_pool_port_on_a_vf_another_domain_holds_is_refused(host: Host) -> None:
    """guest1 holds VF 0 through macvtap (``<vnx:vf>``); libvirt's own count of the pool does not
    know that and plugs VF 0 for guest2's pool port. The start must fail at ``port-created``,
    before libvirt takes VF 0 from its driver, and guest1's VF stay as it was."""
    start_guest1(host)
    start_pool_guest(host)
    reserved = host.state.read("domains", "guest2")["claims"]
    assert list(reserved) == [f"pci-{host.vfs[1]}"]       # the hook's own reservation: VF 1
    code, out, err = net_call(host, "port-created", plugged(host.vfs[0]))
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1, err
    assert host.vfs[0] in err and "guest1" in err, err
    assert host.state.read("domains", "guest2")["claims"] == reserved
    assert host.state.holder(f"pci-{host.vfs[1]}") == "guest2"
    assert host.state.holder(f"pci-{host.vfs[0]}") == "guest1"
    assert host.net.links[PF].vfs[0] == VfInfo(0, GUEST1_MAC, 100)


def test_the_pool_reservation_moves_to_the_vf_libvirt_plugged(host: Host) -> None:
    start_pool_guest(host)
    assert list(host.state.read("domains", "guest2")["claims"]) == [f"pci-{host.vfs[0]}"]
    assert net_call(host, "port-created", plugged(host.vfs[1])) == (0, "", "")
    assert list(host.state.read("domains", "guest2")["claims"]) == [f"pci-{host.vfs[1]}"]
    assert host.state.holder(f"pci-{host.vfs[1]}") == "guest2"
    assert host.state.holder(f"pci-{host.vfs[0]}") is None
    # Now an explicit <vnx:vf> on the VF the pool guest really has is refused...
    meta = f"<vnx:interface mac='{GUEST1_MAC}'><vnx:vf pf='{PF}' index='1'/></vnx:interface>"
    code, _, err = call(host, "guest1", "prepare", domain("guest1", 1, meta, direct(GUEST1_MAC, f"{PF}v1")))
    assert code == 1 and "guest2" in err, err
    # ... and release gives it back.
    assert call(host, "guest2", "release", b"")[0] == 0
    assert host.state.holder(f"pci-{host.vfs[1]}") is None


def test_a_repeated_port_created_changes_nothing(host: Host) -> None:
    """libvirt announces every port again after a daemon restart."""
    start_pool_guest(host)
    assert net_call(host, "port-created", plugged(host.vfs[1])) == (0, "", "")
    before = host.state.read("domains", "guest2")
    assert net_call(host, "port-created", plugged(host.vfs[1])) == (0, "", "")
    assert host.state.read("domains", "guest2") == before
