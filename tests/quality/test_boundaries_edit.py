"""``virt-netxml edit`` in the core: every refusal with its exact message, and the portgroup
edits' outcome on each kind of network (libvirt's <vlan> or the project's metadata)."""

from __future__ import annotations

import pytest

from xmltools.domain import Domain
from xmltools.edit import InterfaceEdits, NetworkEdits, edit_interfaces, edit_network
from xmltools.errors import InvalidValue, NetXmlError, UsageError
from xmltools.interface import Interface
from xmltools.network import Network

DOMAIN = """<domain><name>vm</name><devices>
<interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='br0'/></interface>
<interface type='hostdev' managed='yes'><mac address='52:54:00:00:00:02'/><source>
<address type='pci' domain='0x0000' bus='0x04' slot='0x10' function='0x1'/></source></interface>
<interface type='direct'><mac address='52:54:00:00:00:03'/><source dev='up0' mode='passthrough'/></interface>
<interface type='user'/>
<interface type='network'><mac address='52:54:00:00:00:05'/><source network='n'/></interface>
</devices></domain>"""

BRIDGE0 = "interface 0 (52:54:00:00:00:01)"
HOSTDEV1 = "interface 1 (52:54:00:00:00:02)"


def _refusal(index, **edits):
    dom = Domain.from_xml(DOMAIN)
    with pytest.raises(NetXmlError) as info:
        edit_interfaces(dom.select(index=index), InterfaceEdits(**edits), dom)
    return type(info.value), info.value.message


@pytest.mark.parametrize("index,edits,kind,message", [
    (0, {"set_vlan": "5", "clear_vlan": True}, UsageError,
     "--set-vlan and --clear-vlan contradict each other"),
    (0, {"set_bridge_vlan": "5", "clear_bridge_vlan": True}, UsageError,
     "--set-bridge-vlan and --clear-bridge-vlan contradict each other"),
    (0, {"set_vlan": "5", "set_bridge_vlan": "5"}, UsageError,
     "give either --set-vlan (libvirt applies it) or --set-bridge-vlan (the hook applies it), not both"),
    (0, {"source_network": "n", "source_bridge": "br1"}, UsageError,
     "--source-network and --source-bridge contradict each other"),
    (0, {"vlan_native": "5"}, UsageError, "--vlan-native/--vlan-mode need --set-vlan or --set-bridge-vlan"),
    (0, {"vlan_mode": "trunk"}, UsageError, "--vlan-native/--vlan-mode need --set-vlan or --set-bridge-vlan"),
    (0, {"model": "vir tio"}, InvalidValue, "invalid model 'vir tio': letters, digits, '-' and '_' only"),
    (0, {"source_bridge": "a-very-long-bridge-name"}, InvalidValue,
     "invalid bridge name 'a-very-long-bridge-name': 23 bytes long, the kernel allows at most 15"),
    (0, {"source_network": " "}, InvalidValue, "invalid network name ' ': must be non-empty and without '/'"),
    (0, {"source_network": "a/b"}, InvalidValue,
     "invalid network name 'a/b': must be non-empty and without '/'"),
    (1, {"model": "virtio"}, InvalidValue,
     f"invalid model 'virtio': {HOSTDEV1} is a hostdev interface, which has no model"),
    (1, {"set_vlan": "5,6"}, InvalidValue,
     f"invalid edit '{HOSTDEV1}': an SR-IOV VF takes a single VLAN tag: no trunk, no native VLAN"),
    (2, {"set_vlan": "5", "vlan_native": "5", "vlan_mode": "native-tagged"}, InvalidValue,
     "invalid edit 'interface 2 (52:54:00:00:00:03)': an SR-IOV VF takes a single VLAN tag: no trunk, "
     "no native VLAN"),
    (1, {"set_bridge_vlan": "5"}, InvalidValue,
     f"invalid bridge VLAN '5': {HOSTDEV1} is a hostdev interface; the hook sets port VLANs on bridge, "
     "network and ethernet interfaces (use --set-vlan)"),
    (3, {"set_bridge_vlan": "5"}, InvalidValue,
     "invalid bridge VLAN '5': interface 3 (no MAC) is a user interface; the hook sets port VLANs on "
     "bridge, network and ethernet interfaces (use --set-vlan)"),
    (1, {"ovs": True}, InvalidValue,
     "invalid interface type 'hostdev': only a bridge or network interface can be an Open vSwitch port"),
    (0, {"portgroup": "p"}, InvalidValue, "invalid portgroup 'p': only a network interface has a portgroup"),
])
def test_interface_edit_refusals(index, edits, kind, message):
    assert _refusal(index, **edits) == (kind, message)


def test_a_vlan_libvirt_would_refuse_is_refused_before_writing():
    kind, message = _refusal(0, set_vlan="5")
    # (the reason after the colon is libvirt_vlan_problem's, which follows the libvirt version)
    assert kind is InvalidValue and message.startswith(f"invalid edit '{BRIDGE0}': it would keep a <vlan>: ")
    assert "Linux bridge port" in message


@pytest.mark.parametrize("index,edits", [
    (1, {"set_vlan": "5"}),                      # a VF: one tag
    (2, {"set_vlan": "7"}),                      # macvtap passthrough: one tag
    (0, {"ovs": True, "set_vlan": "5,6"}),       # an OVS port takes trunks
    (4, {"portgroup": "p"}),
    (0, {"set_bridge_vlan": "4094"}),            # the VLAN grammar's edges (0 and 4095 are
    (4, {"set_bridge_vlan": "1"}),               # reserved: tests/test_vlan_grammar.py)
])
def test_interface_edit_twins_are_accepted(index, edits):
    dom = Domain.from_xml(DOMAIN)
    edit_interfaces(dom.select(index=index), InterfaceEdits(**edits), dom)


def test_bridge_vlan_needs_the_domain_document():
    iface = Interface.from_xml("<interface type='bridge'><source bridge='br0'/></interface>")
    with pytest.raises(UsageError) as info:
        edit_interfaces([iface], InterfaceEdits(set_bridge_vlan="5"), None)
    assert info.value.message == ("bridge VLANs are stored in the domain's metadata: edit the domain "
                                  "document, not a standalone <interface>")
    edit_interfaces([iface], InterfaceEdits(model="virtio"), None)   # its twin: no metadata touched
    assert iface.model == "virtio"


def test_bridge_vlan_set_then_cleared_leaves_no_metadata():
    dom = Domain.from_xml(DOMAIN)
    edit_interfaces(dom.select(index=0), InterfaceEdits(set_bridge_vlan="10"), dom)
    assert dom.meta_interface("52:54:00:00:00:01").vlan.tag == 10
    edit_interfaces(dom.select(index=0), InterfaceEdits(clear_bridge_vlan=True), dom)
    assert dom.meta() is None and "netxml" not in dom.to_xml()


def test_edits_report_whether_they_do_anything():
    assert not InterfaceEdits().any() and not NetworkEdits().any()
    for edits in ({"set_vlan": "5"}, {"clear_vlan": True}, {"set_bridge_vlan": "5"},
                  {"clear_bridge_vlan": True}, {"source_network": "n"}, {"portgroup": "p"},
                  {"source_bridge": "b"}, {"ovs": False},
                  {"model": "e1000"}, {"regenerate_mac": True}):
        assert InterfaceEdits(**edits).any(), edits
    assert not InterfaceEdits(vlan_native="5", vlan_mode="trunk").any()
    for edits in ({"add_portgroups": ("a",)}, {"portgroup_vlans": ("a=5",)}, {"remove_portgroups": ("a",)}):
        assert NetworkEdits(**edits).any(), edits
    assert InterfaceEdits(set_bridge_vlan="5").touches_metadata()
    assert InterfaceEdits(clear_bridge_vlan=True).touches_metadata()
    assert not InterfaceEdits(set_vlan="5").touches_metadata()


NAT = "<network><name>n</name><forward mode='nat'/><portgroup name='a' default='yes'/></network>"
OVS = ("<network><name>o</name><forward mode='bridge'/><bridge name='ovsbr0'/>"
       "<virtualport type='openvswitch'/><portgroup name='a'/></network>")


@pytest.mark.parametrize("doc,edits,message", [
    (NAT, {"vlan_native": "5"}, "--vlan-native/--vlan-mode need --portgroup-vlan"),
    (NAT, {"vlan_mode": "trunk"}, "--vlan-native/--vlan-mode need --portgroup-vlan"),
    (NAT, {"add_portgroups": ("b,default",)},
     "invalid portgroup 'b,default': 'a' is already the default portgroup"),
    (NAT, {"add_portgroups": ("a",)}, "invalid portgroup 'a': the network already has it"),
    (NAT, {"add_portgroups": ("b,x",)}, "invalid portgroup 'b,x': expected NAME or NAME,default"),
    (NAT, {"add_portgroups": (",default",)}, "invalid portgroup ',default': expected NAME or NAME,default"),
    (NAT, {"portgroup_vlans": ("a",)}, "invalid portgroup VLAN 'a': expected NAME=TAGS"),
    (NAT, {"portgroup_vlans": ("a=",)}, "invalid portgroup VLAN 'a=': expected NAME=TAGS"),
    (NAT, {"portgroup_vlans": ("=5",)}, "invalid portgroup VLAN '=5': expected NAME=TAGS"),
    (NAT, {"portgroup_vlans": ("z=5",)},
     "invalid portgroup 'z': no such portgroup (add it with --add-portgroup)"),
    (NAT, {"remove_portgroups": ("z",)}, "invalid portgroup 'z': no such portgroup"),
])
def test_network_edit_refusals(doc, edits, message):
    with pytest.raises(NetXmlError) as info:
        edit_network(Network.from_xml(doc), NetworkEdits(**edits))
    assert info.value.message == message


def test_portgroup_vlan_on_a_nat_network_goes_to_the_metadata_with_a_note():
    net, edits = Network.from_xml(NAT), NetworkEdits(portgroup_vlans=("a=5",))
    edit_network(net, edits)
    assert net.portgroup("a").vlan is None
    assert net.meta().portgroup("a").vlan.tag == 5
    assert edits.notes == ["portgroup a: libvirt applies portgroup VLANs only on Open vSwitch, hostdev and "
                           "passthrough networks, not on this nat network; written to the metadata for "
                           "the hook"]
    # again: the same entry is updated, not a second one added
    edit_network(net, NetworkEdits(portgroup_vlans=("a=6",)))
    assert [g.name for g in net.meta().portgroups] == ["a"] and net.meta().portgroup("a").vlan.tag == 6


def test_portgroup_vlan_on_ovs_goes_to_libvirt_and_drops_the_metadata_entry():
    net = Network.from_xml(OVS)
    meta = net.meta_or_create()
    from xmltools.metadata import MetaPortGroup
    meta.portgroups.append(MetaPortGroup(name="a"))
    edits = NetworkEdits(portgroup_vlans=("a=5,6:tagged",))
    edit_network(net, edits)
    vlan = net.portgroup("a").vlan
    assert vlan.ids == [6, 5] and vlan.trunk and vlan.native.native_mode == "tagged"
    assert edits.notes == [] and net.meta().portgroup("a") is None


def test_portgroups_added_as_default_and_removed():
    net = Network.from_xml("<network><name>n</name><forward mode='nat'/><portgroup name='a'/></network>")
    edit_network(net, NetworkEdits(add_portgroups=("b,default", "c")))
    assert [(g.name, bool(g.default)) for g in net.portgroups] == [("a", False), ("b", True), ("c", False)]
    edit_network(net, NetworkEdits(remove_portgroups=("a", "c")))
    assert [g.name for g in net.portgroups] == ["b"]


# ---------------------------------------------------------------------------- added checks


def test_summary_of_a_hostdev_without_an_address_names_no_source() -> None:
    from xmltools.domain import summarize

    iface = Interface.from_xml("<interface type='hostdev'><source/></interface>")
    assert summarize(iface) == "no MAC, hostdev"


def test_load_document_of_a_standalone_interface() -> None:
    from xmltools.edit import load_document

    data = b"<interface type='user'><mac address='52:54:00:00:00:01'/></interface>"
    iface, _ = load_document(data, "i.xml")
    assert isinstance(iface, Interface) and iface.type == "user" and iface.mac == "52:54:00:00:00:01"


@pytest.mark.parametrize("value,message", [
    ("in=1=2", "invalid inbound bandwidth '1=2': average '1=2' is not a whole number"),
    ("out=0", "invalid outbound bandwidth '0': average must be at least 1"),
])
def test_bandwidth_edit_names_the_direction_and_the_value(value: str, message: str) -> None:
    from xmltools.edit import parse_bandwidth_edit
    from xmltools.errors import NetXmlError

    with pytest.raises(NetXmlError) as caught:
        parse_bandwidth_edit((value,))
    assert caught.value.message == message


def test_remove_with_notes_of_an_earlier_document_is_no_other_change() -> None:
    from xmltools.domain import Domain
    from xmltools.edit import InterfaceEdits, edit_interfaces

    dom = Domain.from_xml("<domain><devices><interface type='user'/></devices></domain>")
    edit_interfaces(dom.select(index=0), InterfaceEdits(remove=True, notes=["earlier"]), dom)
    assert len(dom.interfaces) == 0


def test_edit_that_keeps_the_type_leaves_the_metadata_alone() -> None:
    """What a change of type checks in the metadata is not checked when the type stays: a
    direct interface's VLAN wish is kept through a change of model."""
    from xmltools.domain import Domain
    from xmltools.edit import InterfaceEdits, edit_interfaces

    dom = Domain.from_xml(
        "<domain><metadata><vnx:netxml xmlns:vnx='urn:virt-netxml:hooks:1'><vnx:interface "
        "mac='52:54:00:00:00:01'><vnx:vlan tag='5'/><vnx:tap/></vnx:interface></vnx:netxml></metadata>"
        "<devices><interface type='direct'><mac address='52:54:00:00:00:01'/><source dev='eno1'/>"
        "</interface></devices></domain>")
    edit_interfaces(dom.select(index=0), InterfaceEdits(model="virtio"), dom)
    entry = dom.meta_interface("52:54:00:00:00:01")
    assert entry.vlan.tag == 5 and entry.tap is not None


def test_edit_libvirt_would_refuse_names_the_interface() -> None:
    """A result libvirt's grammar refuses is refused naming the interface edited."""
    dom = Domain.from_xml("<domain><name>vm</name><devices><interface type='udp'>"
                          "<mac address='52:54:00:30:00:0c'/><source address='192.0.2.1' port='5555'>"
                          "<local address='192.0.2.2' port='5556'/></source></interface></devices></domain>")
    with pytest.raises(InvalidValue) as info:
        edit_interfaces(dom.select(index=0), InterfaceEdits(source_network="default"), dom)
    assert info.value.message == ("invalid edit 'interface 0 (52:54:00:30:00:0c)': libvirt would "
                                  "refuse the result: <interface> schema: <source> does not take "
                                  "attribute 'address'")
