"""Network events planned with fixed answers: ``start`` (uplinks, sriov_numvfs, the VF pool, the
host shim), ``started`` (VLAN filtering), ``stopped`` (from the record) and ``port-created``
(a portgroup's VLAN wish, a pool VF claimed), with a pass and a fail twin at each edge.

Every expected plan is written out by hand; actions are compared with their interface label
(``iface``, which action equality leaves out) where the planner sets one.
"""

from __future__ import annotations

import re

import pytest

from hooks import actions as A
from hooks.planner import StaticFacts, plan
from hooks.planner.network import network_parts, network_started, pool_port, port_created
from hooks.protocol import lookup
from xmltools.errors import InvalidValue, WrongDocument
from xmltools.xmlparse import parse_bytes

NS = "urn:virt-netxml:hooks:1"
FACTS = StaticFacts()


def _net(body: str = "", meta: str = "", name: str = "<name>net1</name>", port: str = "") -> bytes:
    metadata = f"<metadata><vnx:netxml xmlns:vnx='{NS}'>{meta}</vnx:netxml></metadata>" if meta else ""
    return f"<hookData><network>{name}{body}{metadata}</network>{port}</hookData>".encode()


def _plan(op: str, doc: bytes, record: dict | None = None) -> list[A.Action]:
    return plan(lookup("network", op), parse_bytes(doc).getroot(), FACTS, record or {})


def _labelled(actions: list[A.Action]) -> list[tuple[A.Action, str]]:
    return [(a, a.iface) for a in actions]


def _refused(message: str, op: str, doc: bytes, record: dict | None = None) -> None:
    with pytest.raises(InvalidValue) as info:
        _plan(op, doc, record)
    assert info.value.message == message


# --------------------------------------------------------------------------- the document

def test_network_parts_of_a_bare_network_and_of_hook_data():
    bare = parse_bytes(b"<network><name>n</name></network>").getroot()
    assert network_parts(bare) == (bare, None)
    data = parse_bytes(b"<hookData><network><name>n</name></network><networkport><uuid>u</uuid>"
                       b"</networkport></hookData>").getroot()
    net, port = network_parts(data)
    assert (net.tag, net.findtext("name")) == ("network", "n")
    assert (port.tag, port.findtext("uuid")) == ("networkport", "u")
    alone = parse_bytes(b"<hookData><network><name>m</name></network></hookData>").getroot()
    net, port = network_parts(alone)
    assert net.findtext("name") == "m" and port is None


@pytest.mark.parametrize("doc,found", [
    (b"<hookData><networkport/></hookData>", "hookData"),
    (b"<domain><name>d</name></domain>", "domain"),
])
def test_network_parts_refuse_a_document_without_a_network(doc, found):
    with pytest.raises(WrongDocument) as info:
        network_parts(parse_bytes(doc).getroot())
    assert info.value.message == f"<stdin>: expected <hookData> with a <network>, found <{found}>"


# --------------------------------------------------------------------------- start: uplinks

@pytest.mark.parametrize("forward,uplinks", [
    ("", []),
    ("<forward mode='nat'/>", []),
    ("<forward mode='route' dev='up0'/>", []),
    ("<forward mode='hostdev'><interface dev='eth1'/></forward>", []),
    ("<forward mode='bridge' dev='up0'/>", ["up0"]),
    ("<forward mode='private'><interface dev='up1'/></forward>", ["up1"]),
    ("<forward mode='vepa' dev='up0'><interface dev='up1'/><interface dev='up0'/></forward>", ["up0", "up1"]),
    ("<forward mode='passthrough'><interface dev='up2'/><interface dev='up1'/><interface dev='up2'/>"
     "</forward>", ["up2", "up1"]),
    ("<forward mode='bridge'><interface/><interface dev=''/><interface dev='up3'/></forward>", ["up3"]),
])
def test_network_start_checks_each_macvtap_uplink_once_in_order(forward, uplinks):
    assert _labelled(_plan("start", _net(forward))) == [(A.CheckUplink(dev, "net1"), "") for dev in uplinks]


def test_a_bridge_forward_with_a_bridge_element_is_a_host_bridge_not_macvtap():
    assert _plan("start", _net("<forward mode='bridge' dev='up0'/><bridge name='br0'/>")) == []
    assert _plan("start", _net("<forward mode='bridge' dev='up0'/>")) == [A.CheckUplink("up0", "net1")]


def test_an_uplink_check_names_the_network_even_without_a_name():
    assert _plan("start", _net("<forward mode='vepa' dev='up0'/>", name="")) == [A.CheckUplink("up0", "")]


def test_a_bad_uplink_name_is_refused():
    with pytest.raises(InvalidValue, match=re.escape("up/0")):
        _plan("start", _net("<forward mode='vepa'><interface dev='up0'/><interface dev='up/0'/></forward>"))


# --------------------------------------------------------------------------- start: SR-IOV

HOSTDEV_PF = "<forward mode='hostdev' managed='yes'><pf dev='pf0'/></forward>"


@pytest.mark.parametrize("numvfs", [0, 1, 65534, 65535])
def test_sriov_numvfs_inside_the_range_is_set(numvfs):
    doc = _net("<forward mode='nat'/>", f"<vnx:sriov pf='enp4s0f0' numvfs='{numvfs}'/>")
    assert _plan("start", doc) == [A.SetSriovNumVfs("enp4s0f0", numvfs)]


@pytest.mark.parametrize("numvfs", [-1, 65536])
def test_sriov_numvfs_outside_the_range_is_refused(numvfs):
    _refused(f"invalid sriov numvfs '{numvfs}': must be 0 to 65535", "start",
             _net("", f"<vnx:sriov pf='enp4s0f0' numvfs='{numvfs}'/>"))


def test_sriov_pf_from_the_metadata_wins_over_the_forward_pf():
    doc = _net(HOSTDEV_PF, "<vnx:sriov pf='pf9' numvfs='2'/>")
    assert _plan("start", doc) == [A.SetSriovNumVfs("pf9", 2), A.RecordPool("pf0")]


def test_sriov_pf_falls_back_to_the_forward_pf():
    assert _plan("start", _net(HOSTDEV_PF, "<vnx:sriov numvfs='3'/>")) == [
        A.SetSriovNumVfs("pf0", 3), A.RecordPool("pf0")]


@pytest.mark.parametrize("body,sriov,shown", [
    ("", "<vnx:sriov numvfs='3'/>", "None"),
    ("<forward mode='hostdev'><pf/></forward>", "<vnx:sriov numvfs='3'/>", "None"),
    ("", "<vnx:sriov pf='' numvfs='3'/>", ""),
    ("", "<vnx:sriov pf='pf0'/>", "pf0"),
    (HOSTDEV_PF, "<vnx:sriov/>", "pf0"),
])
def test_sriov_needs_a_pf_and_a_count(body, sriov, shown):
    _refused(f"invalid sriov metadata '{shown}': needs pf and numvfs", "start", _net(body, sriov))


def test_sriov_pf_name_is_checked():
    with pytest.raises(InvalidValue, match="invalid PF name"):
        _plan("start", _net("", "<vnx:sriov pf='a/b' numvfs='1'/>"))


# --------------------------------------------------------------------------- start: VF pool

@pytest.mark.parametrize("forward,pool", [
    (HOSTDEV_PF, ["pf0"]),
    ("<forward mode='hostdev'><pf/></forward>", []),
    ("<forward mode='hostdev'><pf dev=''/></forward>", []),
    ("<forward mode='hostdev'><address type='pci' domain='0' bus='4' slot='16' function='1'/></forward>", []),
    ("<forward mode='passthrough'><pf dev='pf0'/></forward>", []),
    ("<forward mode='bridge'><pf dev='pf0'/></forward>", []),
])
def test_a_hostdev_network_over_a_pf_is_recorded_as_a_pool(forward, pool):
    assert _plan("start", _net(forward)) == [A.RecordPool(pf) for pf in pool]


def test_a_pool_pf_name_is_checked():
    with pytest.raises(InvalidValue, match="invalid PF name"):
        _plan("start", _net("<forward mode='hostdev'><pf dev='../pf'/></forward>"))


# --------------------------------------------------------------------------- start: host shim

MACVTAP = "<forward mode='bridge' dev='up0'><interface dev='up1'/></forward>"


def test_a_shim_goes_on_the_first_uplink_after_the_checks():
    doc = _net(MACVTAP, "<vnx:shim name='shim0' address='192.168.50.1/24'/>")
    assert _plan("start", doc) == [A.CheckUplink("up0", "net1"), A.CheckUplink("up1", "net1"),
                                   A.CreateShim("shim0", "up0", "192.168.50.1/24")]


def test_a_shim_without_a_prefix_or_with_ipv6_is_taken():
    for address in ("10.0.0.1", "fd00::1/64"):
        assert _plan("start", _net(MACVTAP, f"<vnx:shim name='s' address='{address}'/>"))[-1] == \
            A.CreateShim("s", "up0", address)


@pytest.mark.parametrize("body", ["", "<forward mode='nat'/>",
                                  "<forward mode='bridge' dev='up0'/><bridge name='b'/>"])
def test_a_shim_needs_a_macvtap_uplink(body):
    _refused("invalid shim 'shim0': a host shim needs a macvtap network with an uplink (<forward dev>)",
             "start", _net(body, "<vnx:shim name='shim0' address='192.168.50.1/24'/>"))


@pytest.mark.parametrize("shim,shown", [
    ("<vnx:shim address='192.168.50.1/24'/>", "None"),
    ("<vnx:shim name='' address='192.168.50.1/24'/>", ""),
    ("<vnx:shim name='shim0'/>", "shim0"),
    ("<vnx:shim name='shim0' address=''/>", "shim0"),
])
def test_a_shim_needs_a_name_and_an_address(shim, shown):
    _refused(f"invalid shim '{shown}': needs name and address", "start", _net(MACVTAP, shim))


@pytest.mark.parametrize("address", ["192.168.50.1/33", "192.168.50.300/24", "shim"])
def test_a_shim_address_must_be_an_address(address):
    _refused(f"invalid shim address '{address}': expected ADDRESS/PREFIX, e.g. 192.168.50.1/24", "start",
             _net(MACVTAP, f"<vnx:shim name='shim0' address='{address}'/>"))


def test_everything_network_start_plans_in_order():
    doc = _net("<forward mode='passthrough' dev='up0'/>",
               "<vnx:shim name='shim0' address='10.1.0.1/16'/><vnx:sriov pf='pf1' numvfs='7'/>")
    assert _plan("start", doc) == [A.CheckUplink("up0", "net1"), A.SetSriovNumVfs("pf1", 7),
                                   A.CreateShim("shim0", "up0", "10.1.0.1/16")]
    both = _net(HOSTDEV_PF, "<vnx:sriov pf='pf0' numvfs='4'/>")
    assert _plan("start", both) == [A.SetSriovNumVfs("pf0", 4), A.RecordPool("pf0")]


# --------------------------------------------------------------------------- started

@pytest.mark.parametrize("meta,on", [("<vnx:bridge vlan-filtering='yes'/>", True),
                                     ("<vnx:bridge vlan-filtering='no'/>", False)])
def test_network_started_sets_vlan_filtering_as_asked(meta, on):
    assert _plan("started", _net("<bridge name='br5'/>", meta)) == [A.BridgeVlanFiltering("br5", on)]


@pytest.mark.parametrize("meta", ["", "<vnx:shim name='s' address='10.0.0.1/24'/>", "<vnx:bridge/>"])
def test_network_started_without_a_filtering_wish_plans_nothing(meta):
    assert _plan("started", _net("<bridge name='br5'/>", meta)) == []


@pytest.mark.parametrize("bridge", ["", "<bridge/>", "<bridge name=''/>"])
def test_vlan_filtering_needs_the_bridge_name(bridge):
    _refused("invalid bridge metadata 'vlan-filtering': the network has no <bridge name>", "started",
             _net(bridge, "<vnx:bridge vlan-filtering='yes'/>"))


def test_vlan_filtering_bridge_name_is_checked():
    with pytest.raises(InvalidValue, match="bridge"):
        network_started(parse_bytes(_net("<bridge name='a very long bridge'/>",
                                         "<vnx:bridge vlan-filtering='yes'/>")).getroot().find("network"))


# --------------------------------------------------------------------------- stopped

def test_network_stopped_undoes_shims_pool_and_numvfs_in_order():
    record = {"shims": {"shim1": {}, "shim0": {}}, "pool": {"pf": "pf0"}, "numvfs": {"pf0": 0}}
    assert _plan("stopped", _net(), record) == [A.DeleteShim("shim0"), A.DeleteShim("shim1"),
                                                A.ForgetPool(), A.ForgetNumVfs()]
    assert plan(lookup("network", "stopped"), None, FACTS, {"pool": {"pf": "pf0"}}) == [A.ForgetPool()]
    assert plan(lookup("network", "stopped"), None, FACTS, {"numvfs": {"pf0": 2}}) == [A.ForgetNumVfs()]
    assert plan(lookup("network", "stopped"), None, FACTS, {"pool": {}, "numvfs": {}, "shims": {}}) == []


# --------------------------------------------------------------------------- port-created: wishes

PG_META = "<vnx:portgroup name='trunk'><vnx:vlan trunks='20,100-102' native='10'/></vnx:portgroup>" \
          "<vnx:portgroup name='plain'/>"


def _port(group: str | None = "trunk", owner: str | None = "<name>vm1</name><uuid>u-1</uuid>",
          mac: str | None = "52:54:00:AB:CD:EF", plug: str = "<plug type='bridge' bridge='ovsbr0'/>") -> str:
    parts = ["<networkport><uuid>p-1</uuid>"]
    if owner is not None:
        parts.append(f"<owner>{owner}</owner>")
    if group is not None:
        parts.append(f"<group>{group}</group>")
    if mac is not None:
        parts.append(f"<mac address='{mac}'/>")
    parts.append(plug + "</networkport>")
    return "".join(parts)


TRUNK_WISH = (("mode", "native-untagged"), ("native", 10), ("network", "net1"), ("portgroup", "trunk"),
              ("tag", None), ("trunks", "20,100-102"))


def test_port_created_records_the_portgroups_wish_for_the_owner_by_mac():
    actions = _plan("port-created", _net("", PG_META, port=_port()))
    assert _labelled(actions) == [
        (A.RecordPortWish("vm1", "u-1", "52:54:00:ab:cd:ef", TRUNK_WISH), "52:54:00:ab:cd:ef")]


def test_port_created_access_wish_and_an_owner_without_uuid():
    meta = "<vnx:portgroup name='vlan5'><vnx:vlan tag='5'/></vnx:portgroup>"
    actions = _plan("port-created", _net("", meta, name="", port=_port("vlan5", "<name>vm2</name>")))
    assert actions == [A.RecordPortWish("vm2", None, "52:54:00:ab:cd:ef", (
        ("mode", "access"), ("native", None), ("network", None), ("portgroup", "vlan5"), ("tag", 5),
        ("trunks", None)))]


@pytest.mark.parametrize("meta,port", [
    ("", _port()),                                           # no metadata at all
    ("<vnx:bridge/>", _port()),                              # metadata without portgroups
    (PG_META, _port(group=None)),                            # no portgroup
    (PG_META, _port(group="")),
    (PG_META, _port(group="other")),                         # a portgroup the metadata does not name
    (PG_META, _port(group="plain")),                         # a portgroup without a VLAN wish
    (PG_META, _port(owner=None)),
    (PG_META, _port(owner="<uuid>u-1</uuid>")),              # an owner without a name
    (PG_META, _port(owner="<name></name><uuid>u-1</uuid>")),
    (PG_META, _port(mac=None)),
], ids=["no-meta", "no-portgroups", "no-group", "empty-group", "other-group", "no-vlan", "no-owner",
        "no-name", "empty-name", "no-mac"])
def test_port_created_without_a_complete_wish_records_nothing(meta, port):
    assert _plan("port-created", _net("", meta, port=port)) == []


def test_port_created_functions_without_a_port_or_metadata_plan_nothing():
    net = parse_bytes(_net("", PG_META)).getroot().find("network")
    assert port_created(net, None) == []
    bare = parse_bytes(_net("<forward mode='hostdev'/>", port=_port())).getroot()
    assert port_created(bare.find("network"), bare.find("networkport")) == []
    assert pool_port(net, None, {"pool": {"pf": "pf0"}}) == []


def test_port_created_with_an_empty_mac_address_records_it_empty():
    actions = _plan("port-created", _net("", PG_META, port=_port().replace("52:54:00:AB:CD:EF", "")))
    assert [(a.mac, a.iface) for a in actions] == [("", "")]


def test_port_created_for_a_bare_network_document_plans_nothing():
    doc = (f"<network><name>n</name><metadata><vnx:netxml xmlns:vnx='{NS}'>{PG_META}</vnx:netxml>"
           "</metadata></network>")
    assert _plan("port-created", doc.encode()) == []


# --------------------------------------------------------------------------- port-created: pool VFs

POOL = {"pool": {"pf": "pf0"}}
PLUG = "<plug type='hostdev-pci'><address domain='0x0001' bus='0x04' slot='0x10' function='0x3'/></plug>"


def test_a_vf_libvirt_plugged_from_a_pool_is_claimed_for_the_owner():
    actions = _plan("port-created", _net(HOSTDEV_PF, port=_port(plug=PLUG)), POOL)
    assert _labelled(actions) == [
        (A.ClaimPluggedVf("vm1", "u-1", "0001:04:10.3", "net1", "52:54:00:ab:cd:ef"), "52:54:00:ab:cd:ef")]


def test_a_pool_vf_claim_follows_the_portgroup_wish():
    actions = _plan("port-created", _net(HOSTDEV_PF, PG_META, port=_port(plug=PLUG)), POOL)
    assert actions == [A.RecordPortWish("vm1", "u-1", "52:54:00:ab:cd:ef", TRUNK_WISH),
                       A.ClaimPluggedVf("vm1", "u-1", "0001:04:10.3", "net1", "52:54:00:ab:cd:ef")]


def test_a_pool_vf_of_an_owner_without_uuid_nor_network_name():
    port = _port(owner="<name>vm3</name>", plug=PLUG)
    actions = _plan("port-created", _net(HOSTDEV_PF, name="", port=port), POOL)
    assert actions == [A.ClaimPluggedVf("vm3", None, "0001:04:10.3", "", "52:54:00:ab:cd:ef")]


def test_a_pool_vf_with_default_address_fields():
    plug = "<plug type='hostdev-pci'><address bus='0x05'/></plug>"
    actions = _plan("port-created", _net(HOSTDEV_PF, port=_port(plug=plug)), POOL)
    assert [a.address for a in actions] == ["0000:05:00.0"]


@pytest.mark.parametrize("record,plug", [
    ({}, PLUG),                                                     # not recorded as a pool
    ({"pool": {}}, PLUG),
    (POOL, "<plug type='bridge' bridge='br0'/>"),
    (POOL, "<plug type='direct' dev='up0'/>"),
    (POOL, ""),
], ids=["no-pool", "empty-pool", "bridge-plug", "direct-plug", "no-plug"])
def test_only_a_hostdev_plug_of_a_recorded_pool_is_claimed(record, plug):
    assert _plan("port-created", _net(HOSTDEV_PF, port=_port(plug=plug)), record) == []


@pytest.mark.parametrize("port,shown", [
    (_port(owner=None, plug=PLUG), "p-1"),
    (_port(owner="<uuid>u</uuid>", plug=PLUG), "p-1"),
    (_port(owner="<name></name>", plug=PLUG), "p-1"),
    (_port(mac=None, plug=PLUG), "p-1"),
    (_port(plug="<plug type='hostdev-pci'/>"), "p-1"),
    (_port(plug="<plug type='hostdev-pci'/>").replace("<uuid>p-1</uuid>", ""), "?"),
], ids=["no-owner", "no-name", "empty-name", "no-mac", "no-address", "no-uuid"])
def test_a_pool_plug_without_owner_mac_or_address_is_refused(port, shown):
    _refused(f"invalid network port '{shown}': a hostdev-pci plug needs <owner><name>, <mac> and <address>",
             "port-created", _net(HOSTDEV_PF, port=port), POOL)


def test_a_pool_plug_with_a_bad_address_is_refused():
    plug = "<plug type='hostdev-pci'><address domain='0' bus='0x100' slot='0' function='0'/></plug>"
    with pytest.raises(InvalidValue, match="PCI address"):
        _plan("port-created", _net(HOSTDEV_PF, port=_port(plug=plug)), POOL)


# --------------------------------------------------------------------------- names in refusals

@pytest.mark.parametrize("doc,what,value", [
    (_net("<forward mode='vepa'><interface dev='up/0'/></forward>"), "uplink", "up/0"),
    (_net(MACVTAP, "<vnx:shim name='s/0' address='10.0.0.1/24'/>"), "shim name", "s/0"),
    (_net("<bridge name='br/5'/>", "<vnx:bridge vlan-filtering='yes'/>"), "bridge name", "br/5"),
], ids=["uplink", "shim", "bridge"])
def test_a_bad_name_is_refused_naming_what_it_is(doc, what, value):
    op = "started" if what == "bridge name" else "start"
    with pytest.raises(InvalidValue) as info:
        _plan(op, doc)
    assert info.value.message == f"invalid {what} '{value}': contains '/', which is not allowed"


def test_a_port_without_a_group_takes_no_nameless_portgroup():
    meta = "<vnx:portgroup><vnx:vlan tag='5'/></vnx:portgroup>"
    assert _plan("port-created", _net("", meta, port=_port(group=None))) == []
    assert _plan("port-created", _net("", meta, port=_port(group=""))) == []


def test_a_pool_plug_of_a_port_whose_mac_has_no_address_claims_for_an_empty_mac():
    port = _port(plug=PLUG).replace("<mac address='52:54:00:AB:CD:EF'/>", "<mac/>")
    actions = _plan("port-created", _net(HOSTDEV_PF, port=port), POOL)
    assert [(a.mac, a.iface) for a in actions] == [("", "")]
