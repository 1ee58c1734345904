"""Which planner serves which hook call, with the whole plan written out for every operation of
``hooks.protocol`` on one domain holding each kind of interface the hooks act on, and the owner
(name, UUID) of each kind of document.
"""

from __future__ import annotations

import pytest

from hooks import actions as A
from hooks.planner import PLANNERS, StaticFacts, owner_of, plan
from hooks.protocol import OPERATIONS, Operation, lookup
from hooks.transform import parse_mapping
from xmltools.errors import WrongDocument
from xmltools.xmlparse import parse_bytes

NS = "urn:virt-netxml:hooks:1"
UUID = "11111111-2222-3333-4444-555555555555"
FACTS = StaticFacts(ovs_bridges=frozenset({"ovsbr0"}), vfs={("pf0", 1): "0000:04:10.1"})

# A Linux bridge port and an OVS port with metadata VLANs, a TAP the hook makes, a hostdev VF
# with a VLAN, a macvtap passthrough, and a plain network port nothing is asked for.
DOMAIN = f"""<domain type='kvm'><name>vm</name><uuid>{UUID}</uuid>
  <metadata><vnx:netxml xmlns:vnx='{NS}'>
    <vnx:interface mac='52:54:00:00:00:01'><vnx:vlan tag='11'/></vnx:interface>
    <vnx:interface mac='52:54:00:00:00:02'><vnx:vlan tag='12'/></vnx:interface>
    <vnx:interface mac='52:54:00:00:00:03'><vnx:vlan tag='13'/><vnx:tap bridge='br0'/></vnx:interface>
    <vnx:interface mac='52:54:00:00:00:04'><vnx:vlan tag='14'/><vnx:vf pf='pf0' index='1'/></vnx:interface>
  </vnx:netxml></metadata>
  <devices>
    <interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='br0'/>
      <target dev='vnet0'/></interface>
    <interface type='bridge'><mac address='52:54:00:00:00:02'/><source bridge='ovsbr0'/>
      <virtualport type='openvswitch'/><target dev='vnet1'/></interface>
    <interface type='ethernet'><mac address='52:54:00:00:00:03'/><target dev='tap0' managed='no'/></interface>
    <interface type='hostdev' managed='no'><mac address='52:54:00:00:00:04'/>
      <source><address type='pci' domain='0x0000' bus='0x04' slot='0x10' function='0x1'/></source></interface>
    <interface type='direct'><mac address='52:54:00:00:00:05'/><source dev='up0' mode='passthrough'/>
      <target dev='macvtap0'/></interface>
    <interface type='network'><mac address='52:54:00:00:00:06'/><source network='default' bridge='virbr0'/>
      <target dev='vnet2'/></interface>
  </devices></domain>""".encode()

# What prepare leaves in the domain's record (the TAP), for the calls after it.
RECORD = {"taps": {"tap0": {"bridge": "br0", "ovs": False, "plugged": True}},
          "claims": {"tap-tap0": "TAP", "pci-0000:04:10.1": "VF", "uplink-up0": "passthrough uplink"},
          "drivers": {"0000:04:10.1": {"driver": "igbvf"}}}

L1, L2, L3, L4, L5 = ("52:54:00:00:00:01 (vnet0)", "52:54:00:00:00:02 (vnet1)", "52:54:00:00:00:03 (tap0)",
                      "52:54:00:00:00:04", "52:54:00:00:00:05 (macvtap0)")
PORTS = [(A.BridgePortVlans("vnet0", (11,), pvid=11), L1), (A.OvsPortVlan("vnet1", 12, (), "access"), L2),
         (A.BridgePortVlans("tap0", (13,), pvid=13, bridge="br0"), L3)]
RELEASE = [(A.DeleteTap("tap0"), ""), (A.RestoreDriver("0000:04:10.1"), ""),
           (A.ReleaseClaim("pci-0000:04:10.1"), ""), (A.ReleaseClaim("tap-tap0"), ""),
           (A.ReleaseClaim("uplink-up0"), "")]
EXPECTED = {
    "prepare": [
        (A.ClaimDevice("tap-tap0", "TAP"), L3),
        (A.CreateTap("tap0", None, None, False, False, "br0", False), L3),
        (A.EnslaveLink("tap0", "br0", False), L3),
        (A.LinkUp("tap0"), L3),
        (A.ClaimDevice("pci-0000:04:10.1", "VF"), L4),
        (A.BindVfio("0000:04:10.1"), L4),
        (A.PassthroughExclusive("uplink-up0"), L5),
        (A.MarkStarting(), ""),
    ],
    "start": [*PORTS, (A.SetVfMacVlan("pf0", 1, None, 14, "0000:04:10.1"), L4)],
    "reconnect": PORTS,
    "attach": PORTS,
    "started": [],
    "stopped": [],
    "release": RELEASE,
    "migrate": [],
    "restore": [],
}


def _labelled(actions: list[A.Action]) -> list[tuple[A.Action, str]]:
    return [(a, a.iface) for a in actions]


def _root(doc: bytes = DOMAIN):
    return parse_bytes(doc).getroot()


def test_the_table_names_every_qemu_operation():
    assert set(EXPECTED) == {name for driver, name in OPERATIONS if driver == "qemu"}


@pytest.mark.parametrize("op", sorted(EXPECTED))
def test_every_qemu_operation_plans_exactly_its_part(op):
    record = {} if op == "prepare" else RECORD
    assert _labelled(plan(lookup("qemu", op), _root(), FACTS, record)) == EXPECTED[op]


def test_prepare_of_a_domain_with_leftovers_undoes_them_first():
    actions = plan(lookup("qemu", "prepare"), _root(), FACTS, {"taps": {"tap0": {}}})
    assert _labelled(actions) == [(A.DeleteTap("tap0"), ""), *EXPECTED["prepare"]]


@pytest.mark.parametrize("op", ["release", "started", "start", "prepare", "migrate"])
def test_domain_calls_without_a_document_plan_only_from_the_record(op):
    expected = RELEASE if op == "release" else []
    assert _labelled(plan(lookup("qemu", op), None, FACTS, RECORD)) == expected


@pytest.mark.parametrize("op", ["start", "stopped", "port-created"])
def test_network_calls_without_a_document_plan_only_from_the_record(op):
    expected = [A.DeleteShim("s0")] if op == "stopped" else []
    assert plan(lookup("network", op), None, FACTS, {"shims": {"s0": {}}}) == expected


@pytest.mark.parametrize("driver,name", [("qemu", "start"), ("qemu", "prepare"), ("network", "start")])
def test_an_operation_without_triggers_is_not_planned(driver, name):
    """The planners are chosen for operations that can need work: one described without any
    trigger is left alone, even under a name that otherwise plans."""
    idle = Operation(driver, name, True, False, "domain", "x")
    root = _root() if driver == "qemu" else _root(
        b"<hookData><network><name>n</name><forward mode='vepa' dev='up0'/></network></hookData>")
    assert plan(idle, root, FACTS, RECORD) == []
    assert plan(lookup(driver, name), root, FACTS, RECORD) != []


@pytest.mark.parametrize("op", ["started", "stopped", "port-deleted", "updated", "plugged", "unplugged"])
def test_network_calls_without_a_planner_plan_nothing(op):
    doc = (b"<hookData><network><name>n</name><forward mode='vepa' dev='up0'/>"
           b"<bridge name='br0'/></network></hookData>")
    assert plan(lookup("network", op), _root(doc), FACTS, {}) == []


def test_planners_are_the_operations_that_can_have_work():
    with_work = {key for key, op in OPERATIONS.items() if op.work}
    assert with_work == PLANNERS


# --------------------------------------------------------------------------- migrate/restore

@pytest.mark.parametrize("op", ["migrate", "restore"])
def test_migrate_and_restore_hand_back_the_rewritten_xml_with_its_changes(op):
    mapping = parse_mapping("bridge br0 = br-new\nnetwork default = other\n", "map")
    [action] = plan(lookup("qemu", op), _root(), FACTS, {}, mapping)
    assert isinstance(action, A.RewriteXml)
    assert action.changes == ("52:54:00:00:00:01: bridge br0 -> br-new",
                              "52:54:00:00:00:06: network default -> other")
    assert "<source bridge=\"br-new\"/>" in action.xml and "network=\"other\"" in action.xml
    unrelated = parse_mapping("bridge elsewhere = br9\n", "map")
    assert plan(lookup("qemu", op), _root(), FACTS, {}, unrelated) == []


# --------------------------------------------------------------------------- reconnect/attach facts

LIBVIRT_11 = StaticFacts(libvirt=(11, 3, 0))
LINUX_VLAN = (b"<domain><name>vm</name><devices><interface type='bridge'><mac address='52:54:00:00:00:01'/>"
              b"<source bridge='br0'/><vlan><tag id='7'/></vlan><target dev='vnet0'/></interface>"
              b"</devices></domain>")


@pytest.mark.parametrize("op", ["start", "reconnect", "attach"])
def test_port_calls_ask_the_hosts_libvirt_whether_it_set_the_vlan(op):
    assert plan(lookup("qemu", op), _root(LINUX_VLAN), LIBVIRT_11, {}) == [
        A.BridgePortVlans("vnet0", (7,), pvid=7, verify=True)]
    assert plan(lookup("qemu", op), _root(LINUX_VLAN), StaticFacts(), {}) == [
        A.BridgePortVlans("vnet0", (7,), pvid=7)]


# --------------------------------------------------------------------------- port-created

POOL_PORT = (b"<hookData><network><name>pool</name><forward mode='hostdev'><pf dev='pf0'/></forward>"
             b"</network><networkport><uuid>p</uuid><owner><name>vm</name><uuid>u</uuid></owner>"
             b"<mac address='52:54:00:00:00:09'/><plug type='hostdev-pci'>"
             b"<address domain='0x0000' bus='0x04' slot='0x10' function='0x2'/></plug>"
             b"</networkport></hookData>")


def test_port_created_claims_the_plugged_vf_of_a_recorded_pool():
    assert plan(lookup("network", "port-created"), _root(POOL_PORT), FACTS, {"pool": {"pf": "pf0"}}) == [
        A.ClaimPluggedVf("vm", "u", "0000:04:10.2", "pool", "52:54:00:00:00:09")]
    assert plan(lookup("network", "port-created"), _root(POOL_PORT), FACTS, {}) == []


# --------------------------------------------------------------------------- owner_of

def test_the_owner_of_a_domain_is_its_name_and_uuid():
    assert owner_of(lookup("qemu", "start"), _root()) == ("vm", UUID)
    assert owner_of(lookup("qemu", "release"), _root(b"<domain><devices/></domain>")) == ("", None)


def test_the_owner_of_a_network_call_is_the_network_not_the_port():
    doc = (b"<hookData><network><name>net</name><uuid>n-1</uuid></network>"
           b"<networkport><uuid>p-1</uuid><owner><name>vm</name><uuid>u-1</uuid></owner></networkport></hookData>")
    assert owner_of(lookup("network", "port-created"), _root(doc)) == ("net", "n-1")
    bare = _root(b"<network><name>bare</name><uuid>b</uuid></network>")
    assert owner_of(lookup("network", "start"), bare) == ("bare", "b")
    assert owner_of(lookup("network", "stopped"), _root(b"<hookData><network/></hookData>")) == ("", None)


@pytest.mark.parametrize("doc,found", [(b"<network><name>n</name></network>", "network"),
                                       (b"<hookData><network/></hookData>", "hookData")])
def test_a_qemu_call_needs_a_domain(doc, found):
    with pytest.raises(WrongDocument) as info:
        owner_of(lookup("qemu", "prepare"), _root(doc))
    assert info.value.message == f"<stdin>: expected <domain>, found <{found}>"


def test_a_network_call_needs_a_network():
    with pytest.raises(WrongDocument) as info:
        owner_of(lookup("network", "start"), _root())
    assert info.value.message == "<stdin>: expected <hookData> with a <network>, found <domain>"


# --------------------------------------------------------------------------- network started: forwards

def _forward(network: str, domain: str = "vm") -> dict:
    return {"domain": domain, "mac": "52:54:00:00:00:07", "network": network, "bridge": "virbr0",
            "guest": "192.168.122.7", "forwards": [["tcp", 2222, 2222, 22, 22, None, None]]}


def test_network_started_puts_back_the_recorded_forwards_of_its_guests():
    from hooks.actions.forward import ForwardRules

    facts = StaticFacts(forwarded={"vm": ("u-1", {"k1": _forward("default"), "k2": _forward("other")})})
    doc = b"<hookData><network><name>default</name><bridge name='virbr0'/></network></hookData>"
    rules = ForwardRules.from_record(_forward("default"))
    actions = plan(lookup("network", "started"), _root(doc), facts, {})
    assert [(a, a.iface) for a in actions] == [
        (A.ForwardPorts(rules, "u-1", reapply=True), "52:54:00:00:00:07")]
    # VLAN filtering first, then the forwards; an operation without triggers plans neither.
    meta = (f"<metadata><vnx:netxml xmlns:vnx='{NS}'><vnx:bridge vlan-filtering='yes'/></vnx:netxml>"
            "</metadata>").encode()
    both = doc.replace(b"</network>", meta + b"</network>")
    assert plan(lookup("network", "started"), _root(both), facts, {}) == [
        A.BridgeVlanFiltering("virbr0", True), A.ForwardPorts(rules, "u-1", reapply=True)]
    idle = Operation("network", "started", True, False, "hookData", "x")
    assert plan(idle, _root(both), facts, {}) == []


@pytest.mark.parametrize("op", ["start", "port-created", "stopped", "updated"])
def test_only_network_started_puts_back_forwards(op):
    facts = StaticFacts(forwarded={"vm": ("u-1", {"k1": _forward("default")})})
    doc = b"<hookData><network><name>default</name><bridge name='virbr0'/></network></hookData>"
    assert plan(lookup("network", op), _root(doc), facts, {}) == []


# --------------------------------------------------------------------------- domain calls: forwards

FORWARD_DOMAIN = f"""<domain><name>vm</name><uuid>u-9</uuid>
  <metadata><vnx:netxml xmlns:vnx='{NS}'><vnx:interface mac='52:54:00:00:00:07'>
    <vnx:forward proto='tcp' host-port='2222' guest-port='22'/></vnx:interface></vnx:netxml></metadata>
  <devices><interface type='network'><mac address='52:54:00:00:00:07'/>
    <source network='default' bridge='virbr0'/><target dev='vnet7'/></interface>
  </devices></domain>""".encode()
DEFAULT_NET = parse_bytes(b"<network><name>default</name><forward mode='nat'/><ip address='192.168.122.1' "
                          b"prefix='24'><dhcp><host mac='52:54:00:00:00:07' ip='192.168.122.7'/></dhcp></ip>"
                          b"</network>").getroot()


@pytest.mark.parametrize("op", ["start", "reconnect", "attach"])
def test_port_calls_forward_to_the_address_the_hosts_network_gives(op):
    from hooks.actions.forward import ForwardRules

    facts = StaticFacts(networks={"default": DEFAULT_NET})
    rules = ForwardRules("vm", "52:54:00:00:00:07", "default", "virbr0", "192.168.122.7",
                         (("tcp", 2222, 2222, 22, 22, None, None),))
    actions = plan(lookup("qemu", op), _root(FORWARD_DOMAIN), facts, {})
    assert [(a, a.iface) for a in actions] == [
        (A.ForwardPorts(rules, "u-9"), "52:54:00:00:00:07 (vnet7)")]
