"""The pure interface builder: what each option writes, and every refusal with its reason."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xmltools.build_interface import (
    InterfaceSpec,
    build_interface,
    build_libvirt_vlan,
    build_meta_vlan,
    build_metadata,
    insert_interface,
    parse_ovs_setting,
    parse_virtualport,
    resolve_vlan,
)
from xmltools.domain import Domain
from xmltools.errors import InvalidValue, NetXmlError, UsageError
from xmltools.interface import DirectSource, HostdevSource, Interface, NetworkSource

DOMAINS = Path(__file__).resolve().parent.parent / "fixtures" / "domains"
MAC_RE = re.compile(r"^52:54:00(:[0-9a-f]{2}){3}$")


def build(**kw: object):  # type: ignore[no-untyped-def]
    return build_interface(InterfaceSpec(**kw))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- what gets written


def test_network_interface_like_virsh_attach_interface() -> None:
    iface = build(type="network", source="isolated", model="virtio")
    assert iface.to_xml() == ('<interface type="network">\n  <source network="isolated"/>\n'
                              '  <model type="virtio"/>\n</interface>\n')
    assert iface.mac is None  # libvirt assigns one when the fragment is attached


def test_portgroup_and_mode() -> None:
    src = build(type="network", source="packtovs", portgroup="vlan5").source
    assert isinstance(src, NetworkSource) and src.portgroup == "vlan5"
    for mode in ("vepa", "bridge", "private", "passthrough"):
        direct = build(type="direct", source="ens224", mode=mode).source
        assert isinstance(direct, DirectSource)
        assert (direct.dev, direct.mode) == ("ens224", mode)


def test_hostdev_vf() -> None:
    iface = build(type="hostdev", pci="0000:04:10.0", managed=True)
    assert iface.managed is True
    assert iface.driver.name == "vfio"
    src = iface.source
    assert isinstance(src, HostdevSource)
    assert str(src.address) == "0000:04:10.0"
    assert [c.tag for c in iface.node] == ["driver", "source"]


def test_unmanaged_tap() -> None:
    iface = build(type="ethernet", target="tap0", managed=False)
    assert iface.node.find("target").attrib == {"dev": "tap0", "managed": "no"}


def test_everything_at_once_in_libvirt_order() -> None:
    iface = build(type="bridge", source="ovsbr0", virtualport="openvswitch,interfaceid="
                  "6602cfe5-16e2-4a31-b0c7-a263f86f0ef4", vlan="10:untagged,20", mac="52:54:00:01:02:03",
                  model="virtio", queues=4, bandwidth_in="1000,2000,64", bandwidth_out="500", mtu=9000,
                  link="down", boot=1, filter="clean-traffic,IP=10.0.0.5", target="ovsport1")
    assert [c.tag for c in iface.node] == ["mac", "source", "vlan", "virtualport", "bandwidth", "target",
                                           "model", "driver", "filterref", "link", "mtu", "boot"]
    assert iface.vlan.trunk is True
    assert [(t.id, t.native_mode) for t in iface.vlan.tags] == [(10, "untagged"), (20, None)]
    assert iface.virtualport.parameters.interfaceid == "6602cfe5-16e2-4a31-b0c7-a263f86f0ef4"
    assert dict(iface.node.find("bandwidth/inbound").attrib) == {"average": "1000", "peak": "2000",
                                                                 "burst": "64"}
    assert dict(iface.node.find("bandwidth/outbound").attrib) == {"average": "500"}
    assert iface.driver.queues == 4
    assert iface.filter_parameters == {"IP": "10.0.0.5"}


def test_vlan_spellings() -> None:
    def tags(vlan):  # type: ignore[no-untyped-def]
        return vlan.trunk, [(t.id, t.native_mode) for t in vlan.tags]

    assert tags(build_libvirt_vlan(resolve_vlan("5"))) == (None, [(5, None)])
    assert tags(build_libvirt_vlan(resolve_vlan("30-32"))) == (True, [(30, None), (31, None), (32, None)])
    assert tags(build_libvirt_vlan(resolve_vlan("20,30", "30:tagged"))) == \
        (True, [(30, "tagged"), (20, None)])
    assert tags(build_libvirt_vlan(resolve_vlan("20", "20"))) == (True, [(20, "untagged")])
    assert tags(build_libvirt_vlan(resolve_vlan("7", mode="trunk"))) == (True, [(7, None)])


def test_meta_vlan_spellings() -> None:
    def attrs(opts):  # type: ignore[no-untyped-def]
        return dict(build_meta_vlan(opts).node.attrib)

    assert attrs(resolve_vlan("10")) == {"tag": "10"}
    assert attrs(resolve_vlan("20,30-40", "20")) == {"trunks": "20,30-40", "native": "20"}
    assert attrs(resolve_vlan("20:tagged,30-40")) == {"trunks": "20,30-40", "native": "20",
                                                      "mode": "native-tagged"}
    assert attrs(resolve_vlan("20,30-40", "20", "native-untagged")) == \
        {"trunks": "20,30-40", "native": "20", "mode": "native-untagged"}
    assert attrs(resolve_vlan("10", mode="trunk")) == {"trunks": "10", "mode": "trunk"}


def test_virtualport_parameters_per_type() -> None:
    qbg = parse_virtualport("802.1Qbg,managerid=11,typeid=0x123456,typeidversion=2,"
                            "instanceid=09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f", "direct")
    params = qbg.parameters
    assert (params.managerid, params.typeid, params.typeidversion) == (11, 0x123456, 2)
    assert parse_virtualport("802.1Qbh,profileid=finance", "hostdev").parameters.profileid == "finance"
    assert parse_virtualport("openvswitch", "network").parameters is None


def test_ovs_setting() -> None:
    setting = parse_ovs_setting("Port:other_config:mcast-snooping-flood=true")
    assert (setting.table, setting.column, setting.key, setting.value) == \
        ("Port", "other_config", "mcast-snooping-flood", "true")


@pytest.mark.parametrize("text, reason", [
    ("Bridge:other_config:priority-tags=true", "not one a domain may change"),
    ("Port:external_ids:iface-id=x", "not a setting a domain may change"),
    ("Interface:options:peer=patch1", "not a setting a domain may change"),
    ("Interface:other_config:mcast-snooping-flood=true", "not a setting a domain may change"),
    ("Port:other_config:priority-tags=sometimes", "takes never, if-nonzero"),
])
def test_ovs_setting_outside_the_allowlist_is_refused_when_written(text: str, reason: str) -> None:
    # What the generator writes, lint and the hooks must take: the allowlist is checked here too.
    with pytest.raises(InvalidValue, match=reason):
        parse_ovs_setting(text)


# --------------------------------------------------------------------------- MAC choice


def test_mac_given_is_normalised() -> None:
    assert build(type="user", mac="52-54-00-AB-CD-EF").mac == "52:54:00:ab:cd:ef"


def test_mac_auto_random_is_injected() -> None:
    first = build_interface(InterfaceSpec(type="user", mac="auto"), random.Random(7)).mac
    again = build_interface(InterfaceSpec(type="user", mac="auto"), random.Random(7)).mac
    other = build_interface(InterfaceSpec(type="user", mac="auto"), random.Random(8)).mac
    assert MAC_RE.match(first)
    assert first == again != other


def test_mac_seed_is_deterministic_and_uses_the_oui() -> None:
    one = build(type="user", seed="web01").mac
    assert one == build(type="user", seed="web01").mac
    assert one != build(type="user", seed="web02").mac
    assert build(type="user", seed="web01", oui="xen").mac.startswith("00:16:3e:")


@pytest.mark.parametrize("mac,reason", [
    ("01:00:5e:00:00:01", "multicast"),
    ("ff:ff:ff:ff:ff:ff", "broadcast"),
    ("52:54:00:00:00", "expected 6 octets"),
])
def test_bad_mac(mac: str, reason: str) -> None:
    with pytest.raises(InvalidValue, match=reason):
        build(type="user", mac=mac)


def test_domain_mac_is_derived_from_uuid_and_index_and_skips_used() -> None:
    text = (DOMAINS / "capvm-prepare.xml").read_text()
    a = insert_interface(Domain.from_xml(text), InterfaceSpec(type="network", source="n")).mac
    b = insert_interface(Domain.from_xml(text), InterfaceSpec(type="network", source="n")).mac
    assert a == b and MAC_RE.match(a)
    dom = Domain.from_xml(text)
    used = dom.used_macs()
    second = insert_interface(dom, InterfaceSpec(type="user"))
    third = insert_interface(dom, InterfaceSpec(type="user"))
    assert second.mac == a  # same index (6) in the same domain
    assert third.mac not in used | {second.mac}


def test_domain_refuses_a_mac_already_used() -> None:
    dom = Domain.from_xml((DOMAINS / "capvm-prepare.xml").read_text())
    before = dom.to_xml()
    with pytest.raises(InvalidValue, match="already used"):
        insert_interface(dom, InterfaceSpec(type="user", mac="52:54:00:AF:99:3D"))
    assert dom.to_xml() == before


# --------------------------------------------------------------------------- metadata wishes


def test_metadata_needs_a_domain() -> None:
    with pytest.raises(UsageError, match="--domain"):
        build(type="bridge", source="br0", bridge_vlan="10")


def test_insert_writes_metadata_keyed_by_mac() -> None:
    dom = Domain.from_xml((DOMAINS / "capvm-prepare.xml").read_text())
    tap = insert_interface(dom, InterfaceSpec(type="ethernet", target="tap0", tap_bridge="br0",
                                              tap_owner="qemu", multi_queue=True, vnet_hdr=False,
                                              bridge_vlan="20,30-40", vlan_native="20"))
    assert tap.target_managed is False
    entry = dom.meta_interface(tap.mac)
    assert dict(entry.tap.node.attrib) == {"bridge": "br0", "owner": "qemu", "multi-queue": "yes",
                                           "vnet-hdr": "no"}
    wish = entry.vlan.resolved()
    assert (wish.trunks, wish.native, wish.mode) == (((20, 20), (30, 40)), 20, "native-untagged")

    ovs = insert_interface(dom, InterfaceSpec(type="network", source="packtovs",
                                              ovs_settings=("Port:other_config:priority-tags=true",)))
    [setting] = list(dom.meta_interface(ovs.mac).ovs_settings)
    assert setting.key == "priority-tags"

    vf = insert_interface(dom, InterfaceSpec(type="hostdev", pci="0000:04:10.3", vf_pf="ens1f0",
                                             vf_index=3))
    meta_vf = dom.meta_interface(vf.mac).vf
    assert (meta_vf.pf, meta_vf.index, meta_vf.address) == ("ens1f0", 3, "0000:04:10.3")
    assert len(list(dom.meta().interfaces)) == 3


def test_build_metadata_none_without_wishes() -> None:
    assert build_metadata(InterfaceSpec(type="user"), "52:54:00:00:00:01") is None


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("kw,exc,reason", [
    ({"type": "tunnel"}, InvalidValue, "expected network, bridge"),
    ({"type": "network"}, UsageError, "needs --source"),
    ({"type": "direct", "source": "ens224", "mode": "switch"}, InvalidValue, "expected vepa, bridge"),
    ({"type": "bridge", "source": "br0", "mode": "vepa"}, InvalidValue, "only a direct"),
    ({"type": "bridge", "source": "br0", "portgroup": "p"}, InvalidValue, "only a network"),
    ({"type": "bridge", "source": "a-very-long-bridge"}, InvalidValue, "at most 15"),
    ({"type": "hostdev"}, UsageError, "needs --pci"),
    ({"type": "hostdev", "pci": "04:10"}, InvalidValue, "expected DDDD:BB:SS.F"),
    ({"type": "hostdev", "pci": "0000:04:20.0"}, InvalidValue, "slot must be"),
    ({"type": "hostdev", "pci": "0000:04:10.0", "source": "ens224"}, InvalidValue, "give the VF with --pci"),
    ({"type": "network", "source": "n", "pci": "0000:04:10.0"}, InvalidValue, "only a hostdev"),
    ({"type": "network", "source": "n", "vlan": "4096"}, InvalidValue, "VLAN ids are 1 to 4094"),
    ({"type": "network", "source": "n", "vlan": "5000"}, InvalidValue, "VLAN ids are 1 to 4094"),
    ({"type": "network", "source": "n", "vlan": "10,10"}, InvalidValue, "listed twice"),
    ({"type": "network", "source": "n", "vlan": "10", "vlan_mode": "bogus"}, InvalidValue, "expected access"),
    ({"type": "network", "source": "n", "vlan": "10,20", "vlan_mode": "access"}, InvalidValue,
     "exactly one id"),
    ({"type": "network", "source": "n", "vlan": "10", "vlan_mode": "native-untagged"}, InvalidValue,
     "needs a native"),
    ({"type": "network", "source": "n", "vlan": "10", "vlan_native": "10:sideways"}, InvalidValue,
     "the mark after ':' must be 'tagged' or 'untagged'"),
    ({"type": "bridge", "source": "br0", "vlan": "10"}, InvalidValue, "refuses <vlan> on a Linux bridge"),
    ({"type": "direct", "source": "ens224", "mode": "bridge", "vlan": "10"}, InvalidValue, "passthrough"),
    ({"type": "ethernet", "vlan": "10"}, InvalidValue, "cannot apply <vlan> to a ethernet"),
    ({"type": "hostdev", "pci": "0000:04:10.0", "vlan": "10,20"}, InvalidValue, "single tag"),
    ({"type": "network", "source": "n", "vlan_native": "5"}, UsageError, "need --vlan"),
    ({"type": "bridge", "source": "br0", "target": "a-name-that-is-too-long"}, InvalidValue, "at most 15"),
    ({"type": "bridge", "source": "br0", "target": "vnet7"}, InvalidValue, "automatic"),
    ({"type": "hostdev", "pci": "0000:04:10.0", "target": "x"}, InvalidValue, "no host-side"),
    ({"type": "bridge", "source": "br0", "managed": True}, UsageError, "hostdev (VF detach)"),
    ({"type": "ethernet", "managed": False}, UsageError, "needs --target"),
    ({"type": "bridge", "source": "br0", "virtualport": "vmware"}, InvalidValue, "expected openvswitch"),
    ({"type": "direct", "source": "e", "virtualport": "openvswitch"}, InvalidValue, "not usable on a direct"),
    ({"type": "bridge", "source": "b", "virtualport": "openvswitch,typeid=1"}, InvalidValue,
     "openvswitch takes interfaceid"),
    ({"type": "bridge", "source": "b", "virtualport": "openvswitch,interfaceid=nope"}, InvalidValue,
     "expected a UUID"),
    ({"type": "direct", "source": "e", "virtualport": "802.1Qbg,managerid=300"}, InvalidValue, "0 to 255"),
    ({"type": "bridge", "source": "b", "bandwidth_in": "fast"}, InvalidValue, "not a whole number"),
    ({"type": "bridge", "source": "b", "bandwidth_in": "0"}, InvalidValue, "at least 1"),
    ({"type": "bridge", "source": "b", "bandwidth_out": "1,2,3,4"}, InvalidValue, "AVERAGE"),
    ({"type": "hostdev", "pci": "0000:04:10.0", "bandwidth_in": "100"}, UsageError, "hostdev"),
    ({"type": "hostdev", "pci": "0000:04:10.0", "model": "virtio"}, InvalidValue, "no model"),
    ({"type": "bridge", "source": "b", "model": "virtio;rm"}, InvalidValue, "letters, digits"),
    ({"type": "bridge", "source": "b", "queues": 4}, InvalidValue, "--model virtio"),
    ({"type": "bridge", "source": "b", "model": "virtio", "queues": 0}, InvalidValue, "1 to 256"),
    ({"type": "bridge", "source": "b", "mtu": 20}, InvalidValue, "68 to 65535"),
    ({"type": "bridge", "source": "b", "link": "sideways"}, InvalidValue, "up or down"),
    ({"type": "bridge", "source": "b", "boot": 0}, InvalidValue, "1 or more"),
    ({"type": "bridge", "source": "b", "filter": "bad name"}, InvalidValue, "letters"),
])
def test_refusals(kw: dict, exc: type[NetXmlError], reason: str) -> None:
    with pytest.raises(exc, match=re.escape(reason)):
        build_interface(InterfaceSpec(**kw))


@pytest.mark.parametrize("kw,exc,reason", [
    ({"type": "hostdev", "pci": "0000:04:10.0", "bridge_vlan": "10"}, InvalidValue, "use --vlan"),
    ({"type": "ethernet", "target": "tap0", "managed": False, "bridge_vlan": "10"}, UsageError,
     "needs --tap-bridge"),
    ({"type": "bridge", "source": "b", "vlan": "10", "bridge_vlan": "10"}, UsageError, "not both"),
    ({"type": "bridge", "source": "b", "bridge_vlan": "10-5"}, InvalidValue, "backwards"),
    ({"type": "bridge", "source": "b", "bridge_vlan": "10,20", "vlan_mode": "access"}, InvalidValue,
     "exactly one id"),
    ({"type": "bridge", "source": "b", "bridge_vlan": "10:untagged,20:tagged"}, InvalidValue,
     "only one id"),
    ({"type": "bridge", "source": "b", "tap_bridge": "br0"}, InvalidValue, "only an ethernet"),
    ({"type": "ethernet", "tap_bridge": "br0"}, UsageError, "needs --target"),
    ({"type": "ethernet", "target": "tap0", "tap_bridge": "br0", "managed": True}, InvalidValue,
     "unmanaged TAP"),
    ({"type": "ethernet", "target": "tap0", "tap_owner": "root"}, UsageError, "need --tap-bridge"),
    ({"type": "ethernet", "target": "tap0", "tap_bridge": "br0", "tap_owner": "-x"}, InvalidValue,
     "user/group"),
    ({"type": "hostdev", "pci": "0000:04:10.0", "vf_pf": "ens1f0"}, UsageError, "go together"),
    ({"type": "bridge", "source": "b", "vf_pf": "ens1f0", "vf_index": 1}, InvalidValue, "only a hostdev"),
    ({"type": "hostdev", "pci": "0000:04:10.0", "vf_pf": "ens1f0", "vf_index": 300}, InvalidValue,
     "0 to 255"),
    ({"type": "direct", "source": "e", "ovs_settings": ("Port:a:b=c",)}, InvalidValue, "bridge or network"),
    ({"type": "bridge", "source": "b", "ovs_settings": ("Bridge:a:b=c",)}, InvalidValue, "Port/Interface"),
    ({"type": "bridge", "source": "b", "ovs_settings": ("Port:a=c",)}, InvalidValue, "TABLE:COLUMN:KEY"),
    ({"type": "bridge", "source": "b", "ovs_settings": ("Port:a:b c=d",)}, InvalidValue, "letters"),
])
def test_metadata_refusals_leave_the_domain_untouched(kw: dict, exc: type[NetXmlError], reason: str) -> None:
    dom = Domain.from_xml((DOMAINS / "capvm-prepare.xml").read_text())
    before = dom.to_xml()
    with pytest.raises(exc, match=re.escape(reason)):
        insert_interface(dom, InterfaceSpec(**kw))
    assert dom.to_xml() == before


# --------------------------------------------------------------------------- properties

VLAN_IDS = st.lists(st.integers(1, 4094), min_size=1, max_size=12, unique=True)


@given(VLAN_IDS, st.data())
def test_vlan_ids_survive_both_spellings(ids: list[int], data: st.DataObject) -> None:
    native = data.draw(st.none() | st.sampled_from(ids)) if len(ids) > 1 else None
    tags = ",".join(map(str, ids))
    opts = resolve_vlan(tags, None if native is None else f"{native}:tagged")
    vlan = build_libvirt_vlan(opts)
    assert sorted(vlan.ids) == sorted(ids)
    assert (vlan.native.id if vlan.native else None) == native
    # read back through the parser, as the hook would
    again = Interface.from_xml(f"<interface type='network'>{vlan.to_xml()}</interface>").vlan
    assert sorted(again.ids) == sorted(ids)
    wish = build_meta_vlan(opts).resolved()
    assert sorted(wish.trunk_ids() or [wish.tag]) == sorted(ids)
    assert wish.native == native


@given(st.text(min_size=1, max_size=40), st.integers(0, 64))
def test_seeded_macs_are_unicast_and_stable(seed: str, index: int) -> None:
    spec = InterfaceSpec(type="user", seed=seed)
    mac = build_interface(spec, index=index).mac
    assert MAC_RE.match(mac)
    assert int(mac.split(":")[0], 16) & 1 == 0
    assert mac == build_interface(spec, index=index).mac


def test_domain_seed_sources() -> None:
    """UUID first, else the name; --seed replaces both; the index keeps NICs apart."""
    named = "<domain><name>web01</name><devices/></domain>"
    with_uuid = ("<domain><name>web01</name><uuid>9b1c0ad5-7f8e-4d4c-8f3e-2a6b5c4d3e21</uuid>"
                 "<devices/></domain>")
    by_name = insert_interface(Domain.from_xml(named), InterfaceSpec(type="user")).mac
    by_uuid = insert_interface(Domain.from_xml(with_uuid), InterfaceSpec(type="user")).mac
    seeded = insert_interface(Domain.from_xml(with_uuid), InterfaceSpec(type="user", seed="web01")).mac
    assert by_name != by_uuid
    assert seeded == by_name  # same seed text, same index
    assert build_interface(InterfaceSpec(type="user", seed="web01"), index=0).mac == by_name
    assert build_interface(InterfaceSpec(type="user", seed="web01"), index=1).mac != by_name
