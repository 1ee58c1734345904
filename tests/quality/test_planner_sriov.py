"""SR-IOV choices of the planner with fixed answers: which function an interface names (PF and
index, PCI address, a hostdev's ``<source><address>``; one function however it is named), the
claim, the vfio binding and the MAC/VLAN through the PF at ``prepare``, a hostdev VF's VLAN at
``start``, and the pool a network interface reserves from. Each refusal with its whole message,
and the VF index at both ends of its range.
"""

from __future__ import annotations

import pytest

from hooks import actions as A
from hooks.planner import StaticFacts, plan
from hooks.protocol import lookup
from xmltools.errors import InvalidValue
from xmltools.xmlparse import parse_bytes

NS = "urn:virt-netxml:hooks:1"
MAC = "52:54:00:00:0f:01"
VFS = {("pf0", 0): "0000:04:10.0", ("pf0", 1): "0000:04:10.1", ("pf0", 255): "0000:05:1f.7",
       ("pf1", 2): "0000:06:00.2"}
FACTS = StaticFacts(vfs=VFS, pools={"vfpool": "pf0", "badpool": "a/b"})
SOURCE = "<source><address type='pci' domain='0x0000' bus='0x04' slot='0x10' function='0x1'/></source>"


def _doc(interface: str, meta: str = "") -> bytes:
    metadata = (f"<metadata><vnx:netxml xmlns:vnx='{NS}'><vnx:interface mac='{MAC}'>{meta}</vnx:interface>"
                "</vnx:netxml></metadata>") if meta else ""
    return f"<domain><name>vm</name>{metadata}<devices>{interface}</devices></domain>".encode()


def _plan(op: str, interface: str, meta: str = "", facts=FACTS) -> list[tuple[A.Action, str]]:
    actions = plan(lookup("qemu", op), parse_bytes(_doc(interface, meta)).getroot(), facts, {})
    return [(a, a.iface) for a in actions]


def _refused(op: str, interface: str, meta: str, message: str, facts=FACTS) -> None:
    with pytest.raises(InvalidValue) as info:
        _plan(op, interface, meta, facts)
    assert info.value.message == message


def _hostdev(managed: str | None = "no", source: str = SOURCE, mac: str = MAC) -> str:
    attr = f" managed='{managed}'" if managed is not None else ""
    return f"<interface type='hostdev'{attr}><mac address='{mac}'/>{source}</interface>"


def _macvtap(mac: str = MAC) -> str:
    return (f"<interface type='direct'><mac address='{mac}'/><source dev='pf0v1' mode='passthrough'/>"
            "<target dev='macvtap0'/></interface>")


MARK = (A.MarkStarting(), "")
UPLINK = (A.PassthroughExclusive("uplink-pf0v1"), f"{MAC} (macvtap0)")
MV = f"{MAC} (macvtap0)"


# --------------------------------------------------------------------------- hostdev without metadata

def test_an_unmanaged_hostdev_as_libvirt_writes_it_is_claimed_and_bound():
    """libvirt writes ``managed='yes'`` and nothing for an unmanaged hostdev interface (its
    default): the hook's input has no ``managed='no'``, and the VF is the hook's to claim and bind."""
    assert _plan("prepare", _hostdev(None)) == [
        (A.ClaimDevice("pci-0000:04:10.1", "VF"), MAC), (A.BindVfio("0000:04:10.1"), MAC), MARK]


def test_an_unmanaged_hostdev_written_out_is_claimed_and_bound():
    assert _plan("prepare", _hostdev("no")) == [
        (A.ClaimDevice("pci-0000:04:10.1", "VF"), MAC), (A.BindVfio("0000:04:10.1"), MAC), MARK]


def test_a_managed_hostdev_without_metadata_is_libvirts():
    assert _plan("prepare", _hostdev("yes")) == []


def test_a_hostdev_without_a_pci_source_names_no_function():
    usb = "<source><address type='usb' bus='1' port='2'/></source>"
    assert _plan("prepare", _hostdev("no", usb)) == []
    assert _plan("prepare", _hostdev("no", "")) == []


# --------------------------------------------------------------------------- naming the function

def test_a_macvtap_vf_by_pf_and_index_gets_mac_and_vlan_through_the_pf():
    assert _plan("prepare", _macvtap(), "<vnx:vf pf='pf0' index='1'/><vnx:vlan tag='100'/>") == [
        (A.ClaimDevice("pci-0000:04:10.1", "VF"), MV),
        (A.SetVfMacVlan("pf0", 1, MAC, 100, "0000:04:10.1"), MV), UPLINK, MARK]


def test_a_macvtap_vf_without_vlan_gets_vlan_0():
    assert _plan("prepare", _macvtap(), "<vnx:vf pf='pf0' index='1'/>")[1] == (
        A.SetVfMacVlan("pf0", 1, MAC, 0, "0000:04:10.1"), MV)


def test_a_mac_in_capitals_is_set_in_the_kernels_form():
    assert _plan("prepare", _macvtap(MAC.upper()), "<vnx:vf pf='pf0' index='1'/>")[1][0].mac == MAC


@pytest.mark.parametrize("index,address", [(0, "0000:04:10.0"), (255, "0000:05:1f.7")])
def test_vf_index_at_the_ends_of_its_range(index, address):
    assert _plan("prepare", _macvtap(), f"<vnx:vf pf='pf0' index='{index}'/>")[:2] == [
        (A.ClaimDevice(f"pci-{address}", "VF"), MV), (A.SetVfMacVlan("pf0", index, MAC, 0, address), MV)]


@pytest.mark.parametrize("index", [-1, 256])
def test_vf_index_beyond_its_range_is_refused(index):
    _refused("prepare", _macvtap(), f"<vnx:vf pf='pf0' index='{index}'/>",
             f"invalid VF index '{index}': must be 0 to 255")


def test_a_vf_the_pf_does_not_have_is_refused():
    _refused("prepare", _macvtap(), "<vnx:vf pf='pf0' index='3'/>",
             "invalid VF 'pf0 index 3': the PF has no such VF (is sriov_numvfs set?)")


def test_a_bad_pf_name_is_refused_as_a_pf_name():
    with pytest.raises(InvalidValue) as info:
        _plan("prepare", _macvtap(), "<vnx:vf pf='pf/0' index='1'/>")
    assert info.value.message.startswith("invalid PF name 'pf/0'")


def test_pf_index_and_address_must_be_the_same_function():
    _refused("prepare", _macvtap(), "<vnx:vf pf='pf0' index='1' address='0000:04:10.0'/>",
             "invalid VF 'pf0 index 1 address 0000:04:10.0': VF 1 of pf0 is 0000:04:10.1, not 0000:04:10.0: "
             "pf/index and address must name the same VF")
    assert _plan("prepare", _macvtap(), "<vnx:vf pf='pf0' index='1' address='04:10.1'/>")[0] == (
        A.ClaimDevice("pci-0000:04:10.1", "VF"), MV)


def test_a_vf_by_address_finds_its_pf_for_mac_and_vlan():
    assert _plan("prepare", _macvtap(), "<vnx:vf address='0000:06:00.2'/><vnx:vlan tag='7'/>") == [
        (A.ClaimDevice("pci-0000:06:00.2", "VF"), MV),
        (A.SetVfMacVlan("pf1", 2, MAC, 7, "0000:06:00.2"), MV), UPLINK, MARK]


@pytest.mark.parametrize("vf", ["address='0000:07:00.1'", "pf='pf0' address='0000:07:00.1'",
                                "index='1' address='0000:07:00.1'"])
def test_a_vf_by_address_alone_whose_pf_is_unknown_is_only_claimed(vf):
    assert _plan("prepare", _macvtap(), f"<vnx:vf {vf}/>") == [
        (A.ClaimDevice("pci-0000:07:00.1", "VF"), MV), UPLINK, MARK]


def test_a_vf_element_naming_nothing_claims_nothing():
    assert _plan("prepare", _macvtap(), "<vnx:vf pf='pf0'/>") == [UPLINK, MARK]


def test_a_hostdev_source_must_be_the_metadata_vf():
    _refused("prepare", _hostdev("yes"), "<vnx:vf pf='pf0' index='0'/>",
             f"invalid VF '{MAC}': the hostdev's <source><address> is 0000:04:10.1 but its metadata "
             "names 0000:04:10.0: they must be the same VF")


# --------------------------------------------------------------------------- hostdev with metadata

@pytest.mark.parametrize("managed,bound", [("no", True), (None, True), ("yes", False)])
def test_a_hostdev_vf_is_claimed_bound_unless_managed_and_gets_no_mac_at_prepare(managed, bound):
    bind = [(A.BindVfio("0000:04:10.1"), MAC)] if bound else []
    assert _plan("prepare", _hostdev(managed), "<vnx:vf pf='pf0' index='1'/><vnx:vlan tag='42'/>") == [
        (A.ClaimDevice("pci-0000:04:10.1", "VF"), MAC), *bind, MARK]


@pytest.mark.parametrize("meta,vlan", [("<vnx:vf pf='pf0' index='1'/><vnx:vlan tag='42'/>", 42),
                                       ("<vnx:vf address='0000:04:10.1'/><vnx:vlan tag='1'/>", 1)])
def test_a_hostdev_vfs_vlan_is_set_at_start(meta, vlan):
    facts = StaticFacts(vfs=VFS)
    assert _plan("start", _hostdev("yes"), meta, facts) == [
        (A.SetVfMacVlan("pf0", 1, None, vlan, "0000:04:10.1"), MAC)]


@pytest.mark.parametrize("interface,meta", [
    (_hostdev("yes"), "<vnx:vf pf='pf0' index='1'/>"),          # no VLAN asked
    (_hostdev("yes"), "<vnx:vlan tag='42'/>"),                   # no VF named
    (_macvtap(), "<vnx:vf pf='pf0' index='1'/><vnx:vlan tag='42'/>"),   # set at prepare
    (_hostdev("yes", mac="52:54:00:00:0f:02"), "<vnx:vf pf='pf0' index='1'/><vnx:vlan tag='42'/>"),
])
def test_start_sets_vlans_only_of_hostdev_vfs_with_both(interface, meta):
    assert _plan("start", interface, meta) == []


def test_start_goes_on_past_an_interface_without_a_vf_vlan():
    other = _hostdev("yes", mac="52:54:00:00:0f:02")
    doc = _doc(other + _hostdev("yes"), "<vnx:vf pf='pf0' index='1'/><vnx:vlan tag='42'/>")
    assert plan(lookup("qemu", "start"), parse_bytes(doc).getroot(), FACTS, {}) == [
        A.SetVfMacVlan("pf0", 1, None, 42, "0000:04:10.1")]


def test_a_hostdev_vf_vlan_whose_pf_is_unknown_is_refused():
    _refused("start", _hostdev("yes"), "<vnx:vf address='0000:04:10.1'/><vnx:vlan tag='42'/>",
             f"invalid VF '{MAC}': cannot tell its PF: add pf and index", StaticFacts())


@pytest.mark.parametrize("op,interface", [("prepare", _macvtap()), ("start", _hostdev("yes"))])
def test_a_vf_takes_one_access_vlan(op, interface):
    _refused(op, interface, "<vnx:vf pf='pf0' index='1'/><vnx:vlan trunks='10-11'/>",
             "invalid VF VLAN '((10, 11),)': a VF takes one access VLAN, not trunks")


def test_without_any_metadata_start_plans_no_vf_vlan():
    assert _plan("start", _hostdev("no")) == []


# --------------------------------------------------------------------------- pools

def _net_iface(network: str | None = "vfpool", mac: str = MAC) -> str:
    source = f"<source network='{network}'/>" if network is not None else ""
    return f"<interface type='network'><mac address='{mac}'/>{source}</interface>"


def test_an_interface_on_a_recorded_pool_reserves_a_vf():
    assert _plan("prepare", _net_iface()) == [(A.ClaimPoolVf("vfpool", "pf0", MAC), MAC), MARK]


@pytest.mark.parametrize("interface", [
    _net_iface("other"),                                     # not a pool
    _net_iface(None),                                        # no source
    _net_iface(""),
    "<interface type='network'><mac address='52:54:00:00:0f:01'/><source bridge='vfpool'/></interface>",
    "<interface type='bridge'><mac address='52:54:00:00:0f:01'/><source network='vfpool' bridge='br0'/>"
    "</interface>",
])
def test_only_a_network_interface_on_a_pool_reserves(interface):
    assert _plan("prepare", interface) == []


def test_a_pools_recorded_pf_name_is_checked():
    with pytest.raises(InvalidValue) as info:
        _plan("prepare", _net_iface("badpool"))
    assert info.value.message.startswith("invalid PF name 'a/b'")


# --------------------------------------------------------------------------- a VF element naming nothing

def test_a_hostdev_whose_vf_element_names_no_function_is_not_compared_with_its_source():
    assert _plan("prepare", _hostdev("yes"), "<vnx:vf pf='pf0'/>") == []
    _refused("start", _hostdev("yes"), "<vnx:vf pf='pf0'/><vnx:vlan tag='42'/>",
             f"invalid VF '{MAC}': cannot tell its PF: add pf and index")


def test_a_macvtap_vf_without_a_mac_leaves_the_mac_alone():
    macvtap = ("<interface type='direct'><source dev='pf0v1' mode='passthrough'/>"
               "<target dev='macvtap0'/></interface>")
    doc = (f"<domain><name>vm</name><metadata><vnx:netxml xmlns:vnx='{NS}'><vnx:interface>"
           "<vnx:vf pf='pf0' index='1'/></vnx:interface></vnx:netxml></metadata>"
           f"<devices>{macvtap}</devices></domain>")
    root = parse_bytes(doc.encode()).getroot()
    # an interface without a MAC takes no metadata: nothing is set through the PF for it
    planned = plan(lookup("qemu", "prepare"), root, FACTS, {})
    assert [a for a in planned if isinstance(a, A.SetVfMacVlan)] == []
    from hooks.planner.interfaces import nics
    from hooks.planner.sriov import vf_actions
    from xmltools.metadata import find_meta

    [nic] = nics(root)
    [mi] = find_meta(root).interfaces
    assert vf_actions(nic, mi, FACTS) == [A.ClaimDevice("pci-0000:04:10.1", "VF"),
                                          A.SetVfMacVlan("pf0", 1, None, 0, "0000:04:10.1")]


def test_a_hostdev_without_a_mac_takes_no_nameless_metadata():
    hostdev = f"<interface type='hostdev' managed='yes'>{SOURCE}</interface>"
    doc = (f"<domain><name>vm</name><metadata><vnx:netxml xmlns:vnx='{NS}'><vnx:interface>"
           "<vnx:vf pf='pf0' index='1'/><vnx:vlan tag='42'/></vnx:interface></vnx:netxml></metadata>"
           f"<devices>{hostdev}</devices></domain>")
    assert plan(lookup("qemu", "start"), parse_bytes(doc.encode()).getroot(), FACTS, {}) == []


class _PoolFacts(StaticFacts):
    def __init__(self, **tables) -> None:
        super().__init__(**tables)
        self.asked: list = []

    def vf_pool(self, network):
        self.asked.append(network)
        return super().vf_pool(network)


def test_the_pool_of_an_interface_without_a_network_is_not_asked():
    facts = _PoolFacts(pools={"vfpool": "pf0"})
    for interface in (_net_iface(None), _net_iface(""), _net_iface("vfpool")):
        _plan("prepare", interface, facts=facts)
    assert facts.asked == ["vfpool"]
