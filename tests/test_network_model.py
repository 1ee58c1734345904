"""The <network> model: reading every element, writing in libvirt's order, lossless round trips."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from lxml import etree

from tests.support import require
from xmltools.common import Bandwidth, VirtualPort, Vlan
from xmltools.errors import UnsafeXmlError, WrongDocument, XmlSyntaxError
from xmltools.metadata import MetaShim, q
from xmltools.names import PciAddress
from xmltools.network import (
    Bridge,
    DhcpHost,
    DhcpRange,
    DnsHost,
    Forward,
    ForwardAddress,
    ForwardInterface,
    Ip,
    Network,
    PortGroup,
)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "networks"
ROUNDTRIP = FIXTURES / "roundtrip" / "input.xml"
LIBVIRT_TESTS = ROOT / ".cache" / "libvirt-src" / "tests"


def load(path: Path) -> Network:
    return Network.from_xml(path.read_bytes(), source=str(path))


# --------------------------------------------------------------------------- reading


def test_read_chapter_default_network() -> None:
    net = load(FIXTURES / "chapter" / "default.xml")
    assert net.name == "default"
    assert net.uuid == "bb3fed90-ced1-45ce-ba3e-13c9ec64ff42"
    assert net.forward_mode == "nat"
    assert (net.forward.nat.port.start, net.forward.nat.port.end) == (1024, 65535)
    assert (net.bridge.name, net.bridge.stp, net.bridge.delay) == ("virbr0", True, 0)
    assert net.mac == "52:54:00:35:55:2d"
    ip = net.ips[0]
    assert ip.address == ipaddress.ip_address("192.168.122.1")
    assert ip.network() == ipaddress.ip_network("192.168.122.0/24")
    assert [(str(r.start), str(r.end)) for r in ip.ranges] == [("192.168.122.2", "192.168.122.254")]
    assert net.ip_for(ipaddress.ip_address("192.168.122.77")) == ip
    assert net.ip_for(ipaddress.ip_address("10.0.0.1")) is None


def test_read_chapter_routed_and_isolated() -> None:
    ro = load(FIXTURES / "chapter" / "packtro.xml")
    assert ro.forward_mode == "route" and ro.forward.dev == "ens224"
    assert ro.forward.uplinks == ["ens224"]
    assert ro.domain.name == "packt" and ro.domain.local_only is None
    iso = load(FIXTURES / "chapter" / "packtiso.xml")
    assert iso.forward is None and iso.forward_mode == "isolated"


def test_read_every_element_of_a_rich_document() -> None:
    net = load(ROUNDTRIP)
    assert net.ipv6 is True
    nat = net.forward.nat
    assert nat.ipv6 is False
    assert (str(nat.address.start), str(nat.address.end)) == ("198.51.100.10", "198.51.100.20")
    assert (net.bridge.mac_table_manager, net.bridge.zone) == ("kernel", "trusted")
    assert net.mtu == 1450
    assert net.domain.local_only is True
    dns = net.dns
    assert dns.forward_plain_names is False
    assert [(str(f.addr), f.domain) for f in dns.forwarders] == [("192.0.2.53", None),
                                                               ("192.0.2.54", "corp.example")]
    assert [(str(h.ip), h.hostnames) for h in dns.hosts] == [("10.7.0.5", ["db", "db.lab.example"])]
    assert (net.bandwidth.inbound.average, net.bandwidth.inbound.peak, net.bandwidth.inbound.burst) == (
        1000, 5000, 1024)
    assert net.bandwidth.outbound.average == 2000
    v4, v6 = net.ips
    assert v4.local_ptr is True and v4.tftp_root == "/srv/tftp"
    assert [(h.mac, h.name, str(h.ip)) for h in v4.hosts] == [("52:54:00:00:07:05", "db", "10.7.0.5")]
    assert v6.family == "ipv6" and v6.prefix == 64
    assert v6.network() == ipaddress.ip_network("fd00:7::/64")
    assert [(h.mac, h.name) for h in v6.hosts] == [(None, "db")]
    pg = net.portgroup("office")
    assert pg.default is True and pg.trust_guest_rx_filters is False
    assert pg.bandwidth.inbound.average == 100
    assert net.portgroup("missing") is None
    assert net.metadata is not None and net.meta() is None


def test_read_ovs_portgroups_vlan_and_virtualport_parameters() -> None:
    text = """<network><name>o</name><forward mode='bridge'/><bridge name='ovs0'/>
      <vlan trunk='yes'><tag id='100' nativeMode='tagged'/><tag id='200'/></vlan>
      <virtualport type='openvswitch'/>
      <portgroup name='bob' default='yes'>
        <vlan><tag id='666'/></vlan>
        <virtualport><parameters profileid='bob-profile'/></virtualport>
      </portgroup></network>"""
    net = Network.from_xml(text)
    assert net.vlan.trunk is True and net.vlan.ids == [100, 200]
    assert net.vlan.native.id == 100 and net.vlan.native.native_mode == "tagged"
    assert net.virtualport.type == "openvswitch"
    bob = net.portgroups[0]
    assert bob.vlan.ids == [666] and bob.virtualport.parameters.profileid == "bob-profile"


def test_read_hostdev_pool() -> None:
    text = """<network><name>h</name><forward mode='hostdev' managed='no'><driver name='vfio'/>
      <address type='pci' domain='0x0000' bus='0x04' slot='0x10' function='0x1'/>
      <address type='pci' domain='0' bus='5' slot='0' function='7'/></forward></network>"""
    fwd = Network.from_xml(text).forward
    assert fwd.managed is False and fwd.driver_name == "vfio" and fwd.pf is None
    assert [a.pci for a in fwd.addresses] == [PciAddress(0, 4, 0x10, 1), PciAddress(0, 5, 0, 7)]
    pf = Network.from_xml("<network><name>p</name><forward mode='hostdev'><pf dev='eth2'/>"
                          "</forward></network>").forward.pf
    assert pf.dev == "eth2"


@pytest.mark.parametrize("text,expected", [
    ("<ip address='10.1.2.3' prefix='20'/>", "10.1.0.0/20"),
    ("<ip address='10.1.2.3' netmask='255.255.0.0'/>", "10.1.0.0/16"),
    ("<ip address='10.1.2.3'/>", "10.0.0.0/8"),         # libvirt's classful default
    ("<ip address='172.16.5.1'/>", "172.16.0.0/16"),
    ("<ip address='192.168.5.1'/>", "192.168.5.0/24"),
    ("<ip family='ipv6' address='2001:db8::1'/>", "2001:db8::/64"),
])
def test_ip_network_helper(text: str, expected: str) -> None:
    net = Network.from_xml(f"<network><name>n</name>{text}</network>")
    assert net.ips[0].network() == ipaddress.ip_network(expected)


def test_forward_without_mode_is_nat() -> None:
    assert Network.from_xml("<network><name>n</name><forward/></network>").forward_mode == "nat"


# --------------------------------------------------------------------------- refusing input


def test_wrong_root_is_refused() -> None:
    with pytest.raises(WrongDocument) as info:
        Network.from_xml(b"<domain type='kvm'><name>vm</name></domain>", source="vm.xml")
    assert str(info.value) == "vm.xml: expected <network>, found <domain>"


def test_namespaced_root_is_refused() -> None:
    with pytest.raises(WrongDocument, match="urn:x"):
        Network.from_xml("<x:network xmlns:x='urn:x'/>")


def test_malformed_and_unsafe_input_is_refused() -> None:
    with pytest.raises(XmlSyntaxError):
        Network.from_xml("<network><name>x</network>")
    with pytest.raises(UnsafeXmlError):
        Network.from_xml('<!DOCTYPE network [<!ENTITY e "x">]><network><name>&e;</name></network>')


# --------------------------------------------------------------------------- writing


def test_new_children_land_in_libvirt_order() -> None:
    net = Network()
    net.portgroups.append(PortGroup(name="pg"))
    net.ips.append(Ip(address=ipaddress.ip_address("10.0.0.1"), prefix=24))
    net.mac = "52:54:00:00:00:01"
    net.forward = Forward(mode="nat")
    net.name = "n"
    net.bridge = Bridge(name="virbr5")
    net.uuid = "0e5a1c53-5d0f-4c1b-9c55-7d5b4f2a9e10"
    net.virtualport = VirtualPort(type="openvswitch")
    net.bandwidth = Bandwidth.build(inbound={"average": 5})
    net.mtu = 1500
    net.meta_or_create()
    tags = [c.tag for c in net.node if isinstance(c.tag, str)]
    assert tags == ["name", "uuid", "metadata", "forward", "bridge", "mtu", "mac", "bandwidth", "ip",
                    "virtualport", "portgroup"]


def test_forward_children_order_and_removal() -> None:
    fwd = Forward(mode="hostdev")
    fwd.addresses.append(ForwardAddress.from_pci(PciAddress.parse("0000:04:10.2")))
    fwd.driver_name = "vfio"
    assert [c.tag for c in fwd.node] == ["driver", "address"]
    assert fwd.node.find("address").attrib == {"type": "pci", "domain": "0x0000", "bus": "0x04",
                                               "slot": "0x10", "function": "0x2"}
    fwd.driver_name = None
    assert [c.tag for c in fwd.node] == ["address"]


def test_dns_host_hostnames() -> None:
    host = DnsHost(ip=ipaddress.ip_address("10.0.0.2"))
    host.add_hostname("a")
    host.add_hostname("b")
    assert [(c.tag, c.text) for c in host.node] == [("hostname", "a"), ("hostname", "b")]
    assert host.hostnames == ["a", "b"]


def test_dhcp_children_created_under_dhcp() -> None:
    ip = Ip(address=ipaddress.ip_address("10.0.0.1"), prefix=24)
    ip.ranges.append(DhcpRange(start=ipaddress.ip_address("10.0.0.2"), end=ipaddress.ip_address("10.0.0.9")))
    ip.hosts.append(DhcpHost(mac="52:54:00:00:00:09", ip=ipaddress.ip_address("10.0.0.20")))
    dhcp = ip.node.find("dhcp")
    assert [c.tag for c in dhcp] == ["range", "host"]
    ip.ranges.clear()
    ip.hosts.clear()
    assert ip.node.find("dhcp") is None  # emptied containers go away


def test_to_xml_of_built_network_is_parseable_and_indented() -> None:
    net = Network(name="n")
    net.forward = Forward(mode="vepa", dev="ens224")
    net.forward.interfaces.append(ForwardInterface(dev="ens224"))
    assert net.to_xml() == (
        "<network>\n"
        "  <name>n</name>\n"
        '  <forward mode="vepa" dev="ens224">\n'
        '    <interface dev="ens224"/>\n'
        "  </forward>\n"
        "</network>\n")
    assert Network.from_xml(net.to_xml()).forward.uplinks == ["ens224"]


# --------------------------------------------------------------------------- round trips


def c14n(data: bytes) -> bytes:
    """Canonical form: same text, comments and whitespace; attribute order and quotes normalised."""
    return etree.tostring(etree.fromstring(data), method="c14n", with_comments=True)


def test_unchanged_round_trip_is_byte_identical_after_the_declaration() -> None:
    raw = ROUNDTRIP.read_text()
    body = raw.split("\n", 1)[1]  # the XML declaration is not part of the tree
    assert load(ROUNDTRIP).to_xml() == body


def test_edit_keeps_unknown_elements_attributes_comments_and_foreign_metadata(golden) -> None:
    net = load(ROUNDTRIP)
    net.bridge.name = "virbr8"
    net.bridge.stp = False
    net.ips[0].ranges[0].end = ipaddress.ip_address("10.7.0.150")
    net.ips[0].hosts.append(DhcpHost(mac="52:54:00:00:07:06", name="web",
                                     ip=ipaddress.ip_address("10.7.0.6")))
    net.dns.hosts[0].add_hostname("database")
    net.portgroups.append(PortGroup(name="lab", vlan=Vlan.build([5])))
    net.meta_or_create().shim = MetaShim(name="mvshim0", address="10.7.0.2/24")
    net.mac = None
    out = net.to_xml()
    golden("networks/roundtrip/edited.xml", out)
    # Independently of the golden file: nothing the model does not know was lost.
    root = etree.fromstring(out.encode())
    assert root.get("{urn:example:vendor}flag") == "1"
    assert root.find("metadata/{urn:example:app}owner").text == "team-net"
    assert root.find(f"metadata/{q('netxml')}/{q('shim')}").get("name") == "mvshim0"
    assert root.find("dns/txt").get("value") == "keep me"
    assert root.find("ip/dhcp/range/lease").get("unit") == "hours"
    assert root.find("ip/dhcp/bootp").get("file") == "pxelinux.0"
    assert root.find("route").get("gateway") == "10.7.0.254"
    assert root.find("{http://libvirt.org/schemas/network/dnsmasq/1.0}options") is not None
    assert root.find("mac") is None
    assert "<!-- kept by hand in git; edited by scripts -->" in out
    assert "<!-- the IPv4 side -->" in out
    before = etree.fromstring(ROUNDTRIP.read_bytes())
    # added: hostname, dhcp host, portgroup/vlan/tag, netxml/shim (7); removed: mac (1)
    assert len(list(root.iter())) == len(list(before.iter())) + 7 - 1


def _libvirt_inputs() -> list[Path]:
    folder = LIBVIRT_TESTS / "networkxml2xmlin"
    return sorted(folder.glob("*.xml")) if folder.is_dir() else []


def test_libvirt_corpus_round_trips_and_reads() -> None:
    """libvirt's own network test inputs: every one survives parse -> write byte for byte."""
    files = _libvirt_inputs()
    require(len(files) > 20, f"libvirt's test corpus in {LIBVIRT_TESTS} (setup.sh creates it)")
    for path in files:
        raw = path.read_bytes()
        net = load(path)
        # lxml writes double quotes where libvirt's files use single ones: compare canonical forms.
        assert c14n(net.to_xml().encode()) == c14n(raw), path.name
        # Touch every modelled field: a converter that cannot read libvirt's spelling raises.
        _ = (net.name, net.uuid, net.mtu, net.mac, net.forward_mode, net.ipv6)
        if net.forward is not None:
            _ = (net.forward.dev, net.forward.managed, net.forward.uplinks, net.forward.driver_name)
            for address in net.forward.addresses:
                assert isinstance(address.pci, PciAddress)
        if net.bridge is not None:
            _ = (net.bridge.name, net.bridge.stp, net.bridge.delay)
        for ip in net.ips:
            assert ip.network() is not None or ip.address is None, path.name
            _ = [(r.start, r.end) for r in ip.ranges] + [(h.mac, h.ip, h.name) for h in ip.hosts]
        if net.dns is not None:
            _ = [(h.ip, h.hostnames) for h in net.dns.hosts]
            _ = [(f.addr, f.domain) for f in net.dns.forwarders]
        for pg in net.portgroups:
            _ = (pg.name, pg.default, pg.vlan and pg.vlan.ids, pg.bandwidth and pg.bandwidth.inbound)


def test_libvirt_corpus_dhcp_ranges_lie_in_their_subnet() -> None:
    """A cross-check of Ip.network() against data libvirt accepts: its ranges sit inside."""
    files = _libvirt_inputs()
    require(len(files) > 20, f"libvirt's test corpus in {LIBVIRT_TESTS} (setup.sh creates it)")
    checked = 0
    for path in files:
        for ip in load(path).ips:
            net = ip.network()
            for r in ip.ranges:
                assert r.start in net and r.end in net, (path.name, str(net))
                checked += 1
    assert checked > 10
