"""build_network(): every mode, the defaults it fills in, and every refusal."""

from __future__ import annotations

import functools
import ipaddress
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.support import require
from xmltools.build_network import (
    NetworkSpec,
    build_network,
    parse_portgroup,
    parse_vlan_tags,
)
from xmltools.errors import InvalidValue, NetXmlError, UsageError
from xmltools.metadata import NS
from xmltools.names import PciAddress
from xmltools.xmlparse import parse_bytes


def build(**kw) -> object:
    kw.setdefault("name", "net0")
    return build_network(NetworkSpec(**kw), random.Random(7))


# --------------------------------------------------------------------------- modes


def test_nat_network_has_libvirt_bridge_defaults() -> None:
    net = build(mode="nat", bridge="virbr9", ips=["192.168.9.1/24"],
                dhcp_ranges=["192.168.9.2,192.168.9.254"])
    assert net.forward.mode == "nat"
    assert net.forward.nat is None  # only with --nat-ports / --nat-addresses
    assert (net.bridge.name, net.bridge.stp, net.bridge.delay) == ("virbr9", True, 0)
    assert net.mac.startswith("52:54:00:")
    ip = net.ips[0]
    assert str(ip.address) == "192.168.9.1" and str(ip.netmask) == "255.255.255.0"
    assert ip.network() == ipaddress.ip_network("192.168.9.0/24")
    assert [(str(r.start), str(r.end)) for r in ip.ranges] == [("192.168.9.2", "192.168.9.254")]


def test_nat_ports_and_addresses() -> None:
    net = build(mode="nat", ips=["10.1.0.1/16"], nat_ports="1024-65535",
                nat_addresses="198.51.100.1-198.51.100.4")
    nat = net.forward.nat
    assert (nat.port.start, nat.port.end) == (1024, 65535)
    assert (str(nat.address.start), str(nat.address.end)) == ("198.51.100.1", "198.51.100.4")


def test_route_with_forward_dev_lists_it_as_interface_too() -> None:
    net = build(mode="route", forward_dev="ens224", ips=["192.168.2.1/24"], domain_name="packt")
    assert net.forward.mode == "route" and net.forward.dev == "ens224"
    assert net.forward.uplinks == ["ens224"]
    assert net.domain.name == "packt"


def test_open_network() -> None:
    net = build(mode="open", ips=["10.9.0.1/24"])
    assert net.forward.mode == "open" and net.forward.dev is None


def test_isolated_network_has_no_forward() -> None:
    net = build(mode="isolated", bridge="virbr3", ips=["192.168.3.1/24"])
    assert net.forward is None
    assert net.forward_mode == "isolated"
    assert net.bridge.stp is True


def test_isolated_without_ip_is_fine() -> None:
    net = build(mode="isolated")
    assert len(net.ips) == 0
    assert net.bridge.name is None  # libvirt picks a free virbrN at define time


def test_no_stp_and_delay() -> None:
    net = build(mode="isolated", stp=False, delay=2)
    assert (net.bridge.stp, net.bridge.delay) == (False, 2)


def test_host_bridge_mode_has_no_stp_mac_or_ip() -> None:
    net = build(mode="bridge", bridge="br0")
    assert net.forward.mode == "bridge" and net.bridge.name == "br0"
    assert net.bridge.stp is None and net.bridge.delay is None
    assert net.mac is None


def test_ovs_bridge_with_portgroups_uses_libvirt_vlan() -> None:
    net = build(mode="bridge", bridge="ovs-br0", virtualport="openvswitch",
                portgroups=["vlan5,vlan=5", "trunk,default,vlan=10:untagged,20"])
    assert net.virtualport.type == "openvswitch"
    vlan5, trunk = net.portgroups
    assert vlan5.vlan.ids == [5] and vlan5.vlan.trunk is None
    assert trunk.default is True
    assert trunk.vlan.trunk is True and trunk.vlan.ids == [10, 20]
    assert trunk.vlan.native.id == 10 and trunk.vlan.native.native_mode == "untagged"
    assert net.meta() is None


def test_linux_bridge_portgroup_vlan_goes_to_metadata_for_the_hooks() -> None:
    net = build(mode="bridge", bridge="br0", portgroups=["office,vlan=10", "up,vlan=20:tagged,31,30"])
    assert [p.vlan for p in net.portgroups] == [None, None]  # libvirt would refuse <vlan> here
    meta = net.meta()
    assert meta is not None and meta.node.tag == f"{{{NS}}}netxml"
    assert meta.bridge.vlan_filtering is True
    office = meta.portgroup("office").vlan.resolved()
    assert office.tag == 10 and office.mode == "access"
    up = meta.portgroup("up").vlan.resolved()
    assert up.trunk_ids() == [20, 30, 31] and up.native == 20 and up.mode == "native-tagged"


def test_nat_network_portgroup_vlan_also_goes_to_metadata() -> None:
    net = build(mode="nat", ips=["10.0.0.1/24"], portgroups=["v7,vlan=7"])
    assert net.meta().portgroup("v7").vlan.tag == 7


@pytest.mark.parametrize("mode", ["vepa", "private", "passthrough", "bridge"])
def test_macvtap_pools_list_their_uplinks(mode: str) -> None:
    net = build(mode=mode, uplinks=["ens224", "ens256"])
    assert net.forward.mode == mode
    assert net.forward.uplinks == ["ens224", "ens256"]
    assert net.forward.dev == "ens224"  # libvirt prints the first uplink as dev
    assert net.bridge is None and net.mac is None and len(net.ips) == 0


def test_macvtap_forward_dev_alone_is_a_one_uplink_pool() -> None:
    net = build(mode="vepa", forward_dev="ens256")
    assert net.forward.uplinks == ["ens256"]


def test_passthrough_network_vlan() -> None:
    net = build(mode="passthrough", uplinks=["ens1f0"], vlan="42")
    assert net.vlan.ids == [42]


def test_hostdev_pool_over_pf() -> None:
    net = build(mode="hostdev", pf="ens1f0", driver="vfio")
    fwd = net.forward
    assert (fwd.mode, fwd.managed, fwd.driver_name, fwd.pf.dev) == ("hostdev", True, "vfio", "ens1f0")
    assert len(fwd.addresses) == 0


def test_hostdev_pool_over_vf_addresses_unmanaged() -> None:
    net = build(mode="hostdev", vf_addresses=["0000:04:10.0", "04:10.1"], managed=False, vlan="10,20")
    fwd = net.forward
    assert fwd.managed is False and fwd.pf is None
    assert [a.pci for a in fwd.addresses] == [PciAddress(0, 4, 0x10, 0), PciAddress(0, 4, 0x10, 1)]
    assert fwd.addresses[1].type == "pci"
    assert net.vlan.trunk is True and net.vlan.ids == [10, 20]


def test_dual_stack_dhcp_goes_to_the_right_subnet() -> None:
    net = build(ips=["192.168.5.1/24", "fd00:5::1/64"],
                dhcp_ranges=["fd00:5::10,fd00:5::ff", "192.168.5.10,192.168.5.20"],
                dhcp_hosts=["52:54:00:aa:bb:cc,192.168.5.7,db", ",fd00:5::7,db"])
    v4, v6 = net.ips
    assert v6.family == "ipv6" and v6.prefix == 64 and v6.netmask is None
    assert [str(r.start) for r in v4.ranges] == ["192.168.5.10"]
    assert [str(r.start) for r in v6.ranges] == ["fd00:5::10"]
    assert [(h.mac, str(h.ip), h.name) for h in v4.hosts] == [("52:54:00:aa:bb:cc", "192.168.5.7", "db")]
    assert [(h.mac, str(h.ip), h.name) for h in v6.hosts] == [(None, "fd00:5::7", "db")]


def test_dns_hosts_bandwidth_mtu() -> None:
    net = build(ips=["10.0.0.1/24"], dns_hosts=["10.0.0.5,a,b.example"], mtu=9000,
                bandwidth_in="100,200,30", bandwidth_out="50")
    host = net.dns.hosts[0]
    assert str(host.ip) == "10.0.0.5" and host.hostnames == ["a", "b.example"]
    assert net.mtu == 9000
    assert (net.bandwidth.inbound.average, net.bandwidth.inbound.peak, net.bandwidth.inbound.burst) == (
        100, 200, 30)
    assert net.bandwidth.outbound.average == 50 and net.bandwidth.outbound.peak is None


def test_portgroup_bandwidth_and_virtualport() -> None:
    net = build(mode="bridge", bridge="ovs0", virtualport="openvswitch",
                portgroups=["slow,virtualport=openvswitch,in=100:200:10,out=50,vlan=3"])
    pg = net.portgroups[0]
    assert pg.virtualport.type == "openvswitch"
    assert (pg.bandwidth.inbound.average, pg.bandwidth.inbound.burst) == (100, 10)
    assert pg.bandwidth.outbound.average == 50
    assert pg.vlan.ids == [3]


def test_explicit_mac_and_uuid_are_normalised() -> None:
    net = build(ips=["10.0.0.1/24"], mac="52-54-00-AB-CD-EF", uuid="1F9E3FA3859B4BAB9598D01D32336156")
    assert net.mac == "52:54:00:ab:cd:ef"
    assert net.uuid == "1f9e3fa3-859b-4bab-9598-d01d32336156"


def test_seeded_rng_gives_reproducible_mac_and_uuid() -> None:
    spec = NetworkSpec(name="n", ips=["10.0.0.1/24"])
    a = build_network(spec, random.Random("seed"))
    b = build_network(spec, random.Random("seed"))
    c = build_network(spec, random.Random("other"))
    assert (a.mac, a.uuid) == (b.mac, b.uuid)
    assert (a.mac, a.uuid) != (c.mac, c.uuid)
    assert a.uuid[14] == "4"  # version 4


def test_without_rng_each_build_differs() -> None:
    spec = NetworkSpec(name="n", ips=["10.0.0.1/24"])
    assert build_network(spec).uuid != build_network(spec).uuid


def test_output_order_is_libvirts() -> None:
    net = build(mode="bridge", bridge="br0", portgroups=["a,vlan=3"])
    tags = [c.tag for c in net.node if isinstance(c.tag, str)]
    assert tags == ["name", "uuid", "metadata", "forward", "bridge", "portgroup"]


# --------------------------------------------------------------------------- parsers


def test_parse_vlan_tags() -> None:
    assert parse_vlan_tags("5").ids == (5,) and not parse_vlan_tags("5").is_trunk
    spec = parse_vlan_tags("10,20:tagged,30")
    assert spec.ids == (10, 20, 30) and spec.native == 20 and spec.native_mode == "tagged"
    assert parse_vlan_tags("7", trunk=True).is_trunk
    assert parse_vlan_tags("5:untagged,30-32").ids == (5, 30, 31, 32)


def test_parse_portgroup_vlan_takes_the_rest() -> None:
    pg = parse_portgroup("trunk,default,vlan=10:untagged,20,30")
    assert pg.name == "trunk" and pg.default and pg.vlan.ids == (10, 20, 30)
    assert parse_portgroup("plain").vlan is None


# --------------------------------------------------------------------------- refusals

REFUSED = [
    (dict(mode="bogus"), "mode"),
    (dict(name="a/b", mode="isolated"), "'/'"),
    (dict(mode="nat"), "needs at least one --ip"),
    (dict(mode="route", ips=["10.0.0.1/33"]), "valid prefix"),
    (dict(ips=["10.0.0.1"]), "ADDRESS/PREFIX"),
    (dict(ips=["10.0.0.0/24"]), "subnet's own address"),
    (dict(ips=["10.0.0.255/24"]), "broadcast"),
    (dict(ips=["10.0.0.1/24", "10.0.0.2/16"]), "overlaps"),
    (dict(ips=["10.0.0.1/24"], dhcp_ranges=["10.0.1.2,10.0.1.9"]), "in no subnet"),
    (dict(ips=["10.0.0.1/24"], dhcp_ranges=["10.0.0.2,10.0.1.9"]), "outside 10.0.0.0/24"),
    (dict(ips=["10.0.0.1/24"], dhcp_ranges=["10.0.0.9,10.0.0.2"]), "backwards"),
    (dict(ips=["10.0.0.1/24"], dhcp_ranges=["10.0.0.1,10.0.0.9"]), "network's own address"),
    (dict(ips=["10.0.0.5/24"], dhcp_ranges=["10.0.0.2,10.0.0.9"]), "holds the network's own address"),
    (dict(ips=["10.0.0.1/24"], dhcp_ranges=["10.0.0.2,10.0.0.9", "10.0.0.9,10.0.0.20"]), "overlaps"),
    (dict(ips=["10.0.0.1/24"], dhcp_ranges=["10.0.0.2-10.0.0.9"]), "START,END"),
    (dict(ips=["10.0.0.1/24", "10.1.0.1/24"], dhcp_ranges=["10.0.0.2,10.0.0.9", "10.1.0.2,10.1.0.9"]),
     "only one IPv4 subnet"),
    (dict(ips=["10.0.0.1/24"], dhcp_hosts=["01:00:5e:00:00:01,10.0.0.5"]), "multicast"),
    (dict(ips=["10.0.0.1/24"], dhcp_hosts=["52:54:00:00:00:01,10.0.1.5"]), "in no subnet"),
    (dict(ips=["10.0.0.1/24"], dhcp_hosts=["52:54:00:00:00:01,10.0.0.5",
                                           "52:54:00:00:00:02,10.0.0.5"]), "already given"),
    (dict(ips=["fd00::1/64"], dhcp_hosts=["52:54:00:00:00:01,fd00::5"]), "by name"),
    (dict(ips=["10.0.0.1/24"], dhcp_hosts=["10.0.0.5"]), "MAC,IP"),
    (dict(ips=["10.0.0.1/24"], mac="ff:ff:ff:ff:ff:ff"), "broadcast"),
    (dict(ips=["10.0.0.1/24"], mac="03:00:00:00:00:01"), "multicast"),
    (dict(ips=["10.0.0.1/24"], uuid="not-a-uuid"), "UUID"),
    (dict(ips=["10.0.0.1/24"], bridge="a-very-long-bridge0"), "at most 15"),
    (dict(ips=["10.0.0.1/24"], bridge="br 0"), "not allowed"),
    (dict(mode="vepa"), "needs at least one --uplink"),
    (dict(mode="private", uplinks=["ens224", "ens224"]), "listed twice"),
    (dict(mode="passthrough", uplinks=["ens224"], forward_dev="ens256"), "first --uplink"),
    (dict(mode="vepa", uplinks=["ens224"], ips=["10.0.0.1/24"]), "--ip is only for"),
    (dict(mode="bridge", bridge="br0", ips=["10.0.0.1/24"]), "--ip is only for"),
    (dict(mode="hostdev", pf="p0", ips=["10.0.0.1/24"]), "--ip is only for"),
    (dict(mode="bridge", bridge="br0", uplinks=["ens224"]), "not both"),
    (dict(mode="bridge", bridge="br0", stp=True), "--stp"),
    (dict(mode="bridge", bridge="br0", mac="52:54:00:00:00:01"), "--mac is only for"),
    (dict(mode="vepa", uplinks=["e0"], bridge="br0"), "--bridge is not allowed"),
    (dict(mode="bridge"), "--uplink"),
    (dict(mode="nat", ips=["10.0.0.1/24"], uplinks=["ens224"]), "--forward-dev"),
    (dict(mode="open", ips=["10.0.0.1/24"], forward_dev="ens224"), "not allowed in mode open"),
    (dict(mode="hostdev"), "--pf DEV or --vf-address"),
    (dict(mode="hostdev", pf="p0", vf_addresses=["04:10.0"]), "not both"),
    (dict(mode="hostdev", vf_addresses=["04:10.0", "0000:04:10.0"]), "listed twice"),
    (dict(mode="hostdev", vf_addresses=["../../x"]), "PCI address"),
    (dict(mode="hostdev", pf="p0", driver="xen"), "driver"),
    (dict(mode="nat", ips=["10.0.0.1/24"], pf="p0"), "only for mode hostdev"),
    (dict(mode="nat", ips=["10.0.0.1/24"], managed=True), "only for mode hostdev"),
    (dict(mode="route", ips=["10.0.0.1/24"], nat_ports="1024-65535"), "only for mode nat"),
    (dict(ips=["10.0.0.1/24"], nat_ports="0-100"), "1 to 65535"),
    (dict(ips=["10.0.0.1/24"], nat_ports="2000-1000"), "backwards"),
    (dict(ips=["10.0.0.1/24"], nat_addresses="fd00::1-fd00::2"), "IPv4"),
    (dict(ips=["10.0.0.1/24"], virtualport="openvswitch"), "needs mode bridge"),
    (dict(mode="bridge", bridge="br0", virtualport="vmware"), "virtualport"),
    (dict(mode="bridge", bridge="br0", virtualport="802.1Qbg"), "macvtap pools"),
    (dict(ips=["10.0.0.1/24"], vlan="10"), "Open vSwitch, passthrough"),
    (dict(mode="passthrough", uplinks=["e0"], vlan="4096"), "VLAN ids are 1 to 4094"),
    (dict(mode="passthrough", uplinks=["e0"], vlan="10,10"), "twice"),
    (dict(mode="passthrough", uplinks=["e0"], vlan="10:untagged,20:tagged"), "only one"),
    (dict(mode="passthrough", uplinks=["e0"], vlan="ten"), "not an id or a range"),
    (dict(mode="passthrough", uplinks=["e0"], vlan="4000-5000"), "VLAN ids are 1 to 4094"),
    (dict(mode="passthrough", uplinks=["e0"], vlan="20-10"), "runs backwards"),
    (dict(mode="passthrough", uplinks=["e0"], vlan="10-12:untagged"), "single id"),
    (dict(mode="passthrough", uplinks=["e0"], vlan="10-12,11"), "twice"),
    (dict(mode="passthrough", uplinks=["e0"], vlan_trunk=True), "--vlan-trunk"),
    (dict(mode="vepa", uplinks=["e0"], portgroups=["a,vlan=5"]), "cannot carry VLANs"),
    (dict(mode="bridge", bridge="br0", portgroups=["a", "a"]), "two portgroups"),
    (dict(mode="bridge", bridge="br0", portgroups=["a,default", "b,default"]), "only one portgroup"),
    (dict(mode="bridge", bridge="br0", portgroups=["a,color=red"]), "unknown item"),
    (dict(mode="bridge", bridge="br0", portgroups=["a,trunk"]), "needs vlan="),
    (dict(mode="bridge", bridge="br0", portgroups=[",vlan=5"]), "starts with a name"),
    (dict(mode="bridge", bridge="br0", portgroups=["a,virtualport=openvswitch"]), "must match"),
    (dict(mode="hostdev", pf="p0", portgroups=["a,in=100"]), "hostdev"),
    (dict(mode="vepa", uplinks=["e0"], bandwidth_in="100"), "bandwidth"),
    (dict(ips=["10.0.0.1/24"], bandwidth_in="fast"), "positive whole number"),
    (dict(ips=["10.0.0.1/24"], bandwidth_in="1,2,3,4"), "AVG"),
    (dict(ips=["10.0.0.1/24"], mtu=20), "68 to 65535"),
    (dict(mode="isolated", delay=-1), "0 or more"),
    (dict(ips=["10.0.0.1/24"], domain_name="bad_name"), "domain name"),
    (dict(ips=["10.0.0.1/24"], dns_hosts=["10.0.0.9"]), "IP,NAME"),
    (dict(ips=["10.0.0.1/24"], dns_hosts=["nope,host"]), "not an IPv4 or IPv6"),
]


@pytest.mark.parametrize("kw,reason", REFUSED, ids=[r for _, r in REFUSED])
def test_refused(kw: dict, reason: str) -> None:
    with pytest.raises(NetXmlError) as info:
        build(**kw)
    assert isinstance(info.value, InvalidValue | UsageError)
    message = info.value.message
    assert reason in message
    assert "\n" not in message


# --------------------------------------------------------------------------- property: libvirt agrees

NETWORK_RNG = Path("/usr/share/libvirt/schemas/network.rng")


@functools.lru_cache(maxsize=1)
def libvirt_network_schema() -> etree.RelaxNG:
    tree = parse_bytes(NETWORK_RNG.read_bytes(), source=str(NETWORK_RNG))
    tree.docinfo.URL = str(NETWORK_RNG)  # so its <include href> files are found beside it
    return etree.RelaxNG(tree)


def _some(*values: str, min_size: int = 0) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(values), min_size=min_size, max_size=3, unique=True)


# Options that are each fine in some mode: one of them is added now and then as noise, so the
# refusals are exercised too.
NOISE = {
    "ips": ["10.10.0.1/24"], "uplinks": ["eth9"], "pf": "ens9", "vf_addresses": ["0000:09:10.0"],
    "managed": True, "bridge": "br9", "vlan": "3", "nat_ports": "1024-65535", "mtu": 1500,
    "stp": True, "virtualport": "openvswitch", "domain_name": "x.example", "forward_dev": "ens256",
    "bandwidth_in": "100", "portgroups": ["z,vlan=4"], "mac": "52:54:00:99:99:99",
}


@st.composite
def specs(draw: st.DrawFn) -> NetworkSpec:
    """Mostly coherent specs for a random mode, sometimes with one stray option."""
    mode = draw(st.sampled_from(["nat", "route", "open", "isolated", "bridge", "private", "vepa",
                                 "passthrough", "hostdev"]))
    kw: dict = {"name": "prop", "mode": mode}
    if mode in ("nat", "route", "open", "isolated"):
        kw["bridge"] = draw(st.sampled_from([None, "virbr7"]))
        kw["ips"] = draw(st.lists(st.sampled_from(["10.10.0.1/24", "192.168.77.1/24", "fd00:77::1/64"]),
                                  min_size=0 if mode == "isolated" else 1, max_size=2, unique=True))
        kw["dhcp_ranges"] = draw(_some("10.10.0.10,10.10.0.20", "192.168.77.100,192.168.77.200",
                                       "fd00:77::10,fd00:77::ff", "10.10.0.30,10.10.0.40"))
        kw["dhcp_hosts"] = draw(_some("52:54:00:00:00:0a,10.10.0.5,a", ",fd00:77::5,b",
                                      "52:54:00:00:00:0b,192.168.77.5"))
        kw["dns_hosts"] = draw(_some("10.10.0.5,db", "fd00:77::5,db,www"))
        kw["domain_name"] = draw(st.sampled_from([None, "lab.example"]))
        kw["mtu"] = draw(st.sampled_from([None, 1500, 9000]))
        kw["stp"] = draw(st.sampled_from([None, True, False]))
        kw["delay"] = draw(st.sampled_from([None, 0, 5]))
        kw["mac"] = draw(st.sampled_from(["auto", "52:54:00:12:34:56"]))
        kw["bandwidth_in"] = draw(st.sampled_from([None, "1000", "1000,2000,64"]))
        kw["bandwidth_out"] = draw(st.sampled_from([None, "500"]))
        kw["portgroups"] = draw(_some("a", "b,default", "c,vlan=5", "d,vlan=10:untagged,20",
                                      "e,in=100:200:10"))
        if mode in ("nat", "route"):
            kw["forward_dev"] = draw(st.sampled_from([None, "ens256"]))
        if mode == "nat":
            kw["nat_ports"] = draw(st.sampled_from([None, "1024-65535", "2000-3000"]))
            kw["nat_addresses"] = draw(st.sampled_from([None, "203.0.113.1-203.0.113.9"]))
    elif mode == "bridge" and draw(st.booleans()):
        kw["bridge"] = "br0"
        ovs = draw(st.booleans())
        kw["virtualport"] = "openvswitch" if ovs else None
        kw["portgroups"] = draw(_some("a", "b,default", "c,vlan=5", "d,vlan=10:untagged,20",
                                      "f,virtualport=openvswitch" if ovs else "e,in=100"))
        kw["vlan"] = draw(st.sampled_from([None, "7", "10,20:tagged"])) if ovs else None
        kw["bandwidth_in"] = draw(st.sampled_from([None, "1000"]))
    elif mode in ("bridge", "private", "vepa", "passthrough"):
        kw["uplinks"] = draw(st.lists(st.sampled_from(["ens256", "eth2", "eth3"]), min_size=1, max_size=3,
                                      unique=True))
        if draw(st.booleans()):
            kw["forward_dev"] = kw["uplinks"][0]
        kw["virtualport"] = draw(st.sampled_from([None, "802.1Qbg", "802.1Qbh"]))
        if mode == "passthrough":
            kw["vlan"] = draw(st.sampled_from([None, "7", "10,20:tagged"]))
            kw["portgroups"] = draw(_some("a", "c,vlan=5"))
        else:
            kw["portgroups"] = draw(_some("a", "b,default"))
    else:
        if draw(st.booleans()):
            kw["pf"] = "ens1f0"
        else:
            kw["vf_addresses"] = draw(st.lists(st.sampled_from(["0000:04:10.0", "0000:04:10.1", "04:10.2"]),
                                               min_size=1, max_size=3, unique=True))
        kw["managed"] = draw(st.sampled_from([None, True, False]))
        kw["driver"] = draw(st.sampled_from([None, "vfio", "kvm"]))
        kw["vlan"] = draw(st.sampled_from([None, "7", "10,20:tagged"]))
        kw["portgroups"] = draw(_some("a", "c,vlan=5"))
    kw["uuid"] = draw(st.sampled_from(["auto", "0e5a1c53-5d0f-4c1b-9c55-7d5b4f2a9e10"]))
    if draw(st.integers(0, 4)) == 0:
        key = draw(st.sampled_from(sorted(NOISE)))
        kw[key] = NOISE[key]
    return NetworkSpec(**kw)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs())
def test_what_the_builder_accepts_libvirt_accepts(spec: NetworkSpec) -> None:
    """Either a one-line refusal, or a document libvirt's schema and parser both accept as is."""
    require(NETWORK_RNG.exists(), f"libvirt's schema {NETWORK_RNG}")
    require(shutil.which("virsh") is not None, "virsh (libvirt-clients)")
    try:
        net = build_network(spec, random.Random(0))
    except NetXmlError as exc:
        assert "\n" not in exc.message
        event(f"refused: {exc.message.split(':')[0][:40]}")
        return
    event(f"built {spec.mode}")
    _libvirt_takes_it_as_is(net.to_xml())


def _libvirt_takes_it_as_is(text: str) -> None:
    doc = parse_bytes(text)
    schema = libvirt_network_schema()
    assert schema.validate(doc), str(schema.error_log.last_error)
    proc = subprocess.run(["virsh", "-q", "-c", "test:///default", "net-define /dev/stdin; net-dumpxml prop"],
                          input=text, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert _canonical(proc.stdout) == _canonical(text)


def _canonical(text: str) -> bytes:
    root = parse_bytes(text[text.index("<network"):]).getroot()
    for node in root.iter():
        if node.text is not None and not node.text.strip():
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
    return etree.tostring(root, method="c14n")


# Subnets with what may go with each: (address, DHCP ranges, static hosts, DNS hosts).
_SUBNETS = {
    "10.10.0.1/24": (["10.10.0.10,10.10.0.20", "10.10.0.30,10.10.0.40"],
                     ["52:54:00:00:00:0a,10.10.0.5,a"], ["10.10.0.5,db"]),
    "fd00:77::1/64": (["fd00:77::10,fd00:77::ff"], [",fd00:77::5,b"], ["fd00:77::5,db,www"]),
}


@st.composite
def coherent_specs(draw: st.DrawFn) -> NetworkSpec:
    """Specs every part of which belongs to the mode and to the subnets chosen: all valid."""
    mode = draw(st.sampled_from(["nat", "route", "open", "isolated", "private", "vepa", "passthrough",
                                 "hostdev", "bridge"]))
    kw: dict = {"name": "prop", "mode": mode, "uuid": draw(st.sampled_from(
        ["auto", "0e5a1c53-5d0f-4c1b-9c55-7d5b4f2a9e10"]))}
    if mode in ("nat", "route", "open", "isolated"):
        ips = draw(st.lists(st.sampled_from(sorted(_SUBNETS)), min_size=1, max_size=2, unique=True))
        kw["ips"] = ips
        for ip in ips:
            ranges, hosts, dns = _SUBNETS[ip]
            kw.setdefault("dhcp_ranges", []).extend(draw(st.lists(st.sampled_from(ranges), unique=True)))
            kw.setdefault("dhcp_hosts", []).extend(draw(st.lists(st.sampled_from(hosts), unique=True)))
            if mode != "isolated":
                kw.setdefault("dns_hosts", []).extend(draw(st.lists(st.sampled_from(dns), max_size=1)))
        kw["bridge"] = draw(st.sampled_from([None, "virbr7"]))
        kw["mtu"] = draw(st.sampled_from([None, 1500, 9000]))
        kw["stp"] = draw(st.sampled_from([None, True, False]))
        kw["mac"] = draw(st.sampled_from(["auto", "52:54:00:12:34:56"]))
        kw["portgroups"] = draw(_some("a", "b,default", "c,vlan=5", "e,in=100:200:10"))
        if mode != "isolated":
            kw["domain_name"] = draw(st.sampled_from([None, "lab.example"]))
            kw["bandwidth_in"] = draw(st.sampled_from([None, "1000", "1000,2000,64"]))
        if mode == "nat":
            kw["nat_ports"] = draw(st.sampled_from([None, "1024-65535"]))
    elif mode == "bridge":
        kw["bridge"] = "br0"
        kw["virtualport"] = "openvswitch"
        kw["vlan"] = draw(st.sampled_from([None, "7", "10,20:tagged"]))
        kw["portgroups"] = draw(_some("a", "b,default", "c,vlan=5"))
    elif mode == "hostdev":
        kw["pf"] = "ens1f0"
        kw["managed"] = draw(st.sampled_from([None, True, False]))
    else:
        kw["uplinks"] = draw(st.lists(st.sampled_from(["ens256", "eth2"]), min_size=1, unique=True))
        if mode == "passthrough":
            kw["vlan"] = draw(st.sampled_from([None, "7"]))
    return NetworkSpec(**kw)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=coherent_specs())
def test_coherent_specs_are_built_and_libvirt_takes_them(spec: NetworkSpec) -> None:
    """The other half of the property above: valid input is accepted, not refused in one line."""
    require(NETWORK_RNG.exists(), f"libvirt's schema {NETWORK_RNG}")
    require(shutil.which("virsh") is not None, "virsh (libvirt-clients)")
    net = build_network(spec, random.Random(0))   # a refusal here fails the test
    event(f"built {spec.mode}")
    _libvirt_takes_it_as_is(net.to_xml())
