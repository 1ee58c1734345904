"""One scenario per action kind (and its clean-up): a fake host, the events that lead up to
the event under test, and that event. The fault matrix fails each port call of the event in
turn; see ``tests/faults/matrix.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tests.fakes import FakeLsp, FakeNetlink, FakeOvn, FakeOvs, FakeSysfs

NS = 'xmlns:vnx="urn:virt-netxml:hooks:1"'
Event = tuple[str, str, str, str | None]    # driver, operation, object name, stdin XML


def domain(name: str, meta: str, devices: str) -> str:
    return (f"<domain type='kvm'><name>{name}</name><uuid>00000000-0000-4000-8000-{len(name):012d}</uuid>"
            f"<metadata><vnx:netxml {NS}>{meta}</vnx:netxml></metadata>"
            f"<devices>{devices}</devices></domain>")


def network(name: str, body: str, meta: str = "") -> str:
    metadata = f"<metadata><vnx:netxml {NS}>{meta}</vnx:netxml></metadata>" if meta else ""
    return f"<hookData><network><name>{name}</name>{body}{metadata}</network></hookData>"


@dataclass
class Scenario:
    kind: str                        # the action kind, as the figures name it
    name: str
    build: Callable[[FakeNetlink, FakeOvs, FakeSysfs], None]
    event: Event
    setup: list[Event] = field(default_factory=list)
    teardown: bool = False           # the event is a clean-up (best effort, no rollback)
    ovn: Callable[[FakeOvn], None] | None = None    # what the OVN northbound database holds first

    @property
    def label(self) -> str:
        return f"{self.kind}: {self.name}"

    def active_networks(self) -> set[str]:
        """Networks running while the event runs (``hooks repair`` leaves those alone)."""
        active = {name for driver, op, name, _ in self.setup if driver == "network" and op == "start"}
        if self.event[0] == "network" and self.event[1] == "stopped":
            active.discard(self.event[2])
        return active


# --------------------------------------------------------------------------- hosts

def linux_bridge_host(net: FakeNetlink, ovs: FakeOvs, fs: FakeSysfs) -> None:
    net.add_bridge("br0", vlan_filtering=True)
    net.add_link("vnet0", "tun", up=True, master="br0")


def linux_bridge_off_host(net: FakeNetlink, ovs: FakeOvs, fs: FakeSysfs) -> None:
    net.add_bridge("br0", vlan_filtering=False)


def ovs_host(net: FakeNetlink, ovs: FakeOvs, fs: FakeSysfs) -> None:
    ovs.add_bridge("ovsbr0")
    net.add_link("vnet1", "tun", up=True)
    ovs.add_port("ovsbr0", "vnet1")
    ovs.calls.clear()


def tap_host(net: FakeNetlink, ovs: FakeOvs, fs: FakeSysfs) -> None:
    net.add_bridge("br0", vlan_filtering=True)
    ovs.add_bridge("ovsbr0")


def uplink_host(net: FakeNetlink, ovs: FakeOvs, fs: FakeSysfs) -> None:
    net.add_link("up0", None, up=True)


def sriov_host(net: FakeNetlink, ovs: FakeOvs, fs: FakeSysfs) -> None:
    fs.add_pf("enp4s0f0", "0000:04:00.0", 8, numvfs=4)
    net.add_pf("enp4s0f0", 4)
    fs.calls.clear()


def sriov_two_host(net: FakeNetlink, ovs: FakeOvs, fs: FakeSysfs) -> None:
    fs.add_pf("enp4s0f0", "0000:04:00.0", 8, numvfs=2)
    fs.calls.clear()


# --------------------------------------------------------------------------- events

BRIDGE_PORT = domain("vlanvm", "<vnx:interface mac='52:54:00:00:00:01'>"
                     "<vnx:vlan trunks='20,30-32' native='10'/></vnx:interface>",
                     "<interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='br0'/>"
                     "<target dev='vnet0'/></interface>")
BRIDGE_FILTERING = network("brnet", "<bridge name='br0'/>", "<vnx:bridge vlan-filtering='yes'/>")
OVS_PORT = domain("ovsvm", "<vnx:interface mac='52:54:00:00:00:02'>"
                  "<vnx:vlan trunks='30-40' native='20'/>"
                  "<vnx:ovs-setting table='Port' column='other_config' key='priority-tags' value='true'/>"
                  "<vnx:ovs-setting table='Interface' column='other_config' key='tx-steering' value='hash'/>"
                  "</vnx:interface>",
                  "<interface type='bridge'><mac address='52:54:00:00:00:02'/><source bridge='ovsbr0'/>"
                  "<virtualport type='openvswitch'/><target dev='vnet1'/></interface>")


def tap_domain(bridge: str) -> str:
    return domain("tapvm", f"<vnx:interface mac='52:54:00:00:00:03'><vnx:tap bridge='{bridge}' owner='0' "
                  "group='0' multi-queue='yes'/><vnx:vlan tag='10'/></vnx:interface>",
                  "<interface type='ethernet'><mac address='52:54:00:00:00:03'/>"
                  "<target dev='tapvm0' managed='no'/><model type='virtio'/></interface>")


SHIM_NET = network("mvnet", "<forward mode='bridge' dev='up0'><interface dev='up0'/></forward>",
                   "<vnx:shim name='mvshim0' address='192.168.77.1/24'/>")
VFIO_DOMAIN = domain("vfiovm", "", "<interface type='hostdev' managed='no'><mac address='52:54:00:00:00:04'/>"
                     "<source><address type='pci' domain='0x0000' bus='0x04' slot='0x10' function='0x2'/>"
                     "</source></interface>")
VF_DOMAIN = domain("vfvm", "<vnx:interface mac='52:54:00:00:00:05'><vnx:vlan tag='100'/>"
                   "<vnx:vf pf='enp4s0f0' index='1'/></vnx:interface>",
                   "<interface type='direct'><mac address='52:54:00:00:00:05'/>"
                   "<source dev='enp4s0f0v1' mode='passthrough'/></interface>")
SRIOV_NET = network("vfpool", "<forward mode='hostdev' managed='yes'><pf dev='enp4s0f0'/></forward>",
                    "<vnx:sriov pf='enp4s0f0' numvfs='4'/>")
POOL_DOMAIN = domain("poolvm", "", "<interface type='network'><mac address='52:54:00:00:00:06'/>"
                     "<source network='vfpool'/></interface>")
POOL_PORT = network("vfpool", "<forward mode='hostdev' managed='yes'><pf dev='enp4s0f0'/></forward>",
                    "<vnx:sriov pf='enp4s0f0' numvfs='4'/>").replace(
    "</hookData>", "<networkport><uuid>5d744f21-ba4a-4d6e-bdb2-30a35ff3207d</uuid><owner><name>poolvm</name>"
    "<uuid>00000000-0000-4000-8000-000000000006</uuid></owner><mac address='52:54:00:00:00:06'/>"
    "<plug type='hostdev-pci' managed='yes'><driver name='vfio'/><address domain='0x0000' bus='0x04' "
    "slot='0x10' function='0x0'/></plug></networkport></hookData>")
WISH_PORT = network("brnet", "<forward mode='bridge'/><bridge name='br0'/><portgroup name='trunk'/>",
                    "<vnx:portgroup name='trunk'><vnx:vlan trunks='20,30-32' native='10'/></vnx:portgroup>"
                    ).replace("</hookData>", "<networkport><uuid>97101f27-ff15-4587-be44-bfc54a8cb944</uuid>"
                              "<owner><name>vlanvm</name><uuid>00000000-0000-4000-8000-000000000006</uuid>"
                              "</owner><group>trunk</group><mac address='52:54:00:00:00:01'/>"
                              "<plug type='bridge' bridge='br0'/></networkport></hookData>")


FORWARD_DOMAIN = domain("fwdvm", "<vnx:interface mac='52:54:00:00:00:07'>"
                        "<vnx:ip address='192.168.150.7'/>"
                        "<vnx:forward proto='tcp' host-port='2222' guest-port='22'/>"
                        "<vnx:forward proto='udp' host-port='5000-5002' guest-port='6000-6002'/>"
                        "</vnx:interface>",
                        "<interface type='network'><mac address='52:54:00:00:00:07'/>"
                        "<source network='natnet' bridge='virbr5'/><target dev='vnet7'/></interface>")


OVN_NET = network("ovnnet", "<forward mode='bridge'/><bridge name='br-int'/>"
                  "<virtualport type='openvswitch'/>",
                  "<vnx:ovn switch='ls-web' subnet='10.10.0.0/24' dhcp='yes'/>")
OVN_DOMAIN = domain("ovnvm", "<vnx:interface mac='52:54:00:00:00:08'>"
                    "<vnx:ovn switch='ls-web' address='10.10.0.20'/></vnx:interface>",
                    "<interface type='bridge'><mac address='52:54:00:00:00:08'/><source bridge='br-int'/>"
                    "<virtualport type='openvswitch'>"
                    "<parameters interfaceid='3f6c2a4e-8a55-4c5e-9a0c-3f1c2b3d4e08'/>"
                    "</virtualport></interface>")


def no_host(net: FakeNetlink, ovs: FakeOvs, fs: FakeSysfs) -> None:
    """Nothing on the host: OVN lives in the northbound database (the fake OVN port)."""


def ovn_port_on_chassis0(ovn: FakeOvn) -> None:
    """The guest's port as the source of a migration (chassis0) left it: requested there."""
    ovn.ensure_switch("ls-web", "10.10.0.0/24", True)
    ovn.lsps["3f6c2a4e-8a55-4c5e-9a0c-3f1c2b3d4e08"] = FakeLsp(
        "ls-web", ["52:54:00:00:00:08 10.10.0.20"], {"requested-chassis": "chassis0"},
        {"virt-netxml-domain": "ovnvm", "virt-netxml-interface": "52:54:00:00:00:08"},
        ovn.dhcp_rows["ls-web"], "00000000-0000-4000-8000-0000000000ff")


def nat_host(net: FakeNetlink, ovs: FakeOvs, fs: FakeSysfs) -> None:
    net.add_bridge("virbr5", vlan_filtering=False)
    net.add_link("vnet7", "tun", up=True, master="virbr5")


def _q(op: str, name: str, xml: str | None) -> Event:
    return ("qemu", op, name, xml)


def _n(op: str, name: str, xml: str | None) -> Event:
    return ("network", op, name, xml)


SCENARIOS: list[Scenario] = [
    Scenario("bridge VLAN", "port VLANs at start", linux_bridge_host, _q("start", "vlanvm", BRIDGE_PORT)),
    Scenario("bridge VLAN", "VLAN filtering at network started", linux_bridge_off_host,
             _n("started", "brnet", BRIDGE_FILTERING)),
    Scenario("OVS settings", "VLAN columns and map keys at start", ovs_host, _q("start", "ovsvm", OVS_PORT)),
    Scenario("TAP", "create and plug into a Linux bridge", tap_host,
             _q("prepare", "tapvm", tap_domain("br0"))),
    Scenario("TAP", "create and plug into an OVS bridge", tap_host,
             _q("prepare", "tapvm", tap_domain("ovsbr0"))),
    Scenario("TAP", "delete at release", tap_host, _q("release", "tapvm", None),
             setup=[_q("prepare", "tapvm", tap_domain("ovsbr0"))], teardown=True),
    Scenario("macvtap shim", "uplink check and shim at network start", uplink_host,
             _n("start", "mvnet", SHIM_NET)),
    Scenario("macvtap shim", "remove at network stopped", uplink_host, _n("stopped", "mvnet", None),
             setup=[_n("start", "mvnet", SHIM_NET)], teardown=True),
    Scenario("vfio bind", "claim and bind to vfio-pci at prepare", sriov_host,
             _q("prepare", "vfiovm", VFIO_DOMAIN)),
    Scenario("vfio bind", "give back at release", sriov_host, _q("release", "vfiovm", None),
             setup=[_q("prepare", "vfiovm", VFIO_DOMAIN)], teardown=True),
    Scenario("VF MAC/VLAN", "set through the PF at prepare", sriov_host, _q("prepare", "vfvm", VF_DOMAIN)),
    Scenario("VF MAC/VLAN", "restore at release", sriov_host, _q("release", "vfvm", None),
             setup=[_q("prepare", "vfvm", VF_DOMAIN)], teardown=True),
    Scenario("sriov_numvfs", "2 -> 0 -> 4 at network start", sriov_two_host,
             _n("start", "vfpool", SRIOV_NET)),
    Scenario("VF pool", "reserve a VF at prepare", sriov_host, _q("prepare", "poolvm", POOL_DOMAIN),
             setup=[_n("start", "vfpool", SRIOV_NET)]),
    Scenario("VF pool", "claim the VF libvirt plugged at port-created", sriov_host,
             _n("port-created", "vfpool", POOL_PORT), setup=[_n("start", "vfpool", SRIOV_NET)]),
    Scenario("sriov_numvfs", "forget the pool and the count at network stopped", sriov_two_host,
             _n("stopped", "vfpool", None), setup=[_n("start", "vfpool", SRIOV_NET)], teardown=True),
    Scenario("bridge VLAN", "remember a portgroup's VLAN at port-created", linux_bridge_host,
             _n("port-created", "brnet", WISH_PORT)),
    Scenario("port forward", "DNAT and libvirt's filter opened at start", nat_host,
             _q("start", "fwdvm", FORWARD_DOMAIN)),
    Scenario("port forward", "removed at release", nat_host, _q("release", "fwdvm", None),
             setup=[_q("start", "fwdvm", FORWARD_DOMAIN)], teardown=True),
    Scenario("OVN", "the network's logical switch at network start", no_host, _n("start", "ovnnet", OVN_NET)),
    Scenario("OVN", "an interface's logical switch port at prepare", no_host,
             _q("prepare", "ovnvm", OVN_DOMAIN), setup=[_n("start", "ovnnet", OVN_NET)]),
    Scenario("OVN", "the port given up at release", no_host, _q("release", "ovnvm", None),
             setup=[_n("start", "ovnnet", OVN_NET), _q("prepare", "ovnvm", OVN_DOMAIN)], teardown=True),
    Scenario("OVN", "a migrated guest's port settled on this chassis at started", no_host,
             _q("started", "ovnvm", OVN_DOMAIN), setup=[_q("prepare", "ovnvm", OVN_DOMAIN)],
             ovn=ovn_port_on_chassis0),
]
