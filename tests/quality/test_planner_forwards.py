"""Exact answers of the port-forward and hot-plug planning (hooks.planner.forwards,
hooks.planner.hotplug): which guest address, which network, which refusal word for word, and which
interfaces a hot-plug watch still has to apply or release."""

from __future__ import annotations

import pytest
from lxml import etree

from hooks import actions as A
from hooks.actions.forward import ForwardPorts, ForwardRules
from hooks.planner import StaticFacts
from hooks.planner.forwards import (
    dhcp_address,
    forward_actions,
    network_forward_actions,
    subnets,
)
from hooks.planner.hotplug import alias_of, nic_by_alias, pending, plug_actions, unplug_actions, unplugged
from hooks.planner.interfaces import meta_of, nics
from tests.faults.scenarios import NS
from xmltools.errors import InvalidValue

MAC = "52:54:00:00:00:07"
UUID = "00000000-0000-4000-8000-000000000042"
SSH = "<vnx:forward proto='tcp' host-port='2222' guest-port='22'/>"
NET_SOURCE = "network='natnet' bridge='virbr5'"


def nat(body: str = "<forward mode='nat'/>", ips: str = "") -> etree._Element:
    ips = ips or ("<ip address='192.168.150.1' netmask='255.255.255.0'><dhcp>"
                  "<host mac='52:54:00:00:00:09' ip='192.168.150.9'/></dhcp></ip>")
    return etree.fromstring(f"<network><name>natnet</name>{body}<bridge name='virbr5'/>{ips}</network>")


def dom(forwards: str = SSH, ip: str | None = "192.168.150.7", mac: str = MAC, kind: str = "network",
        source: str = NET_SOURCE, name: str | None = "web1", extra: str = "", target: str = "vnet7",
        meta: bool = True) -> etree._Element:
    entry = f"<vnx:interface mac='{mac}'>" + (f"<vnx:ip address='{ip}'/>" if ip else "") + forwards
    metadata = f"<metadata><vnx:netxml {NS}>{entry}</vnx:interface></vnx:netxml></metadata>" if meta else ""
    target_el = f"<target dev='{target}'/>" if target else ""
    return etree.fromstring(
        "<domain type='kvm'>" + (f"<name>{name}</name>" if name is not None else "") + f"<uuid>{UUID}</uuid>"
        + metadata + f"<devices><interface type='{kind}'><mac address='{mac}'/><source {source}/>"
        + f"{target_el}<alias name='net0'/></interface>{extra}</devices></domain>")


def facts(net: etree._Element | None = None) -> StaticFacts:
    return StaticFacts(networks={"natnet": nat() if net is None else net})


def planned(root: etree._Element, f: StaticFacts) -> list[ForwardPorts]:
    plan = forward_actions(root, f)
    assert all(isinstance(a, ForwardPorts) for a in plan)
    return [a for a in plan if isinstance(a, ForwardPorts)]


def refusal(root: etree._Element, f: StaticFacts | None = None) -> str:
    with pytest.raises(InvalidValue) as exc:
        forward_actions(root, f or facts())
    return str(exc.value)


# --------------------------------------------------------------------------- planned actions


def test_the_planned_action_carries_the_domain_uuid_label_and_exact_rules() -> None:
    ranges = "<vnx:forward proto='udp' host-port='5000-5010' guest-port='6000-6010'/>"
    (action,) = planned(dom(forwards=ranges), facts())
    assert action == ForwardPorts(ForwardRules("web1", MAC, "natnet", "virbr5", "192.168.150.7",
                                               (("udp", 5000, 5010, 6000, 6010, None, None),)), UUID)
    assert action.uuid == UUID and action.reapply is False
    assert action.iface == f"{MAC} (vnet7)"


def test_every_interface_of_the_domain_is_planned() -> None:
    second = ("<interface type='network'><mac address='52:54:00:00:00:09'/>"
              f"<source {NET_SOURCE}/><target dev='vnet9'/></interface>")
    root = dom(extra=second)
    meta = root.find("metadata/{urn:virt-netxml:hooks:1}netxml")
    meta.append(etree.fromstring(
        f"<vnx:interface {NS} mac='52:54:00:00:00:09'>"
        "<vnx:forward proto='tcp' host-port='2223' guest-port='22'/></vnx:interface>"))
    plan = planned(root, facts())
    assert [(a.rules.mac, a.rules.guest, a.rules.forwards[0][1]) for a in plan] == [
        (MAC, "192.168.150.7", 2222), ("52:54:00:00:00:09", "192.168.150.9", 2223)]


def test_an_interface_without_a_mac_is_not_matched_to_an_entry_without_one() -> None:
    root = etree.fromstring(
        f"<domain><name>w</name><metadata><vnx:netxml {NS}><vnx:interface>"
        f"<vnx:ip address='192.168.150.7'/>{SSH}</vnx:interface></vnx:netxml></metadata>"
        f"<devices><interface type='network'><source {NET_SOURCE}/><target dev='vnet7'/></interface>"
        "</devices></domain>")
    meta = meta_of(root)
    assert meta is not None and meta.interface("") is not None     # the entry is there, MAC-less
    assert forward_actions(root, facts()) == []


def test_a_domain_without_a_name_plans_under_the_empty_name() -> None:
    (action,) = planned(dom(name=None), facts())
    assert action.rules.domain == "" and action.uuid == UUID


def test_a_plain_bridge_interface_is_planned_without_a_network() -> None:
    calls: list[object] = []

    class Watching(StaticFacts):
        def network_definition(self, name: str) -> object:
            calls.append(name)
            return super().network_definition(name)

    (action,) = planned(dom(kind="bridge", source="bridge='br0'"), Watching())
    assert action.rules.network == "" and action.rules.bridge == "br0"
    assert action.rules.guest == "192.168.150.7"
    assert calls == []      # no network: libvirt's files are not read


def test_a_bridge_interface_with_a_stray_network_attribute_is_not_looked_up() -> None:
    routed = nat("<forward mode='route'/>")
    (action,) = planned(dom(kind="bridge", source="bridge='br0' network='natnet'"), facts(routed))
    assert action.rules.network == ""


def test_a_forward_element_without_mode_is_nat() -> None:
    (action,) = planned(dom(), facts(nat("<forward/>")))
    assert action.rules.network == "natnet"


def test_the_guest_address_from_dhcp_skips_an_ipv6_host_of_the_same_mac() -> None:
    net = nat(ips="<ip family='ipv6' address='fd00::1' prefix='64'><dhcp>"
                  f"<host mac='{MAC}' ip='fd00::7'/></dhcp></ip>"
                  "<ip address='192.168.150.1' prefix='24'><dhcp>"
                  f"<host mac='{MAC.upper()}' ip='192.168.150.8'/></dhcp></ip>")
    assert dhcp_address(net, MAC) == "192.168.150.8"
    (action,) = planned(dom(ip=None), facts(net))
    assert action.rules.guest == "192.168.150.8"


# --------------------------------------------------------------------------- refusals, word for word


def test_overlapping_forwards_are_refused_naming_both() -> None:
    other = "<vnx:forward proto='tcp' host-port='2220-2230' guest-port='2220-2230'/>"
    assert refusal(dom(forwards=SSH + other)) == (
        f"invalid forward 'tcp:2220-2230:2220-2230': interface {MAC}: overlaps forward tcp:2222:22")


def test_an_interface_not_on_a_network_bridge_is_refused() -> None:
    expected = (f"invalid forward 'tcp:2222:22': interface {MAC} (vnet7): port forwarding needs an "
                "interface on a libvirt NAT network (type='network'), plugged into its bridge")
    assert refusal(dom(kind="direct", source="dev='up0' mode='bridge'")) == expected
    # type='network' before libvirt chose the bridge (no <source bridge>): not yet plugged in
    assert refusal(dom(source="network='natnet'")) == expected


def test_a_network_without_forward_is_isolated_and_refused() -> None:
    assert refusal(dom(), facts(nat(""))) == (
        f"invalid forward 'tcp:2222:22': interface {MAC} (vnet7): network natnet is isolated, not NAT; "
        "forward ports only to guests on a NAT network")


def test_a_routed_network_is_refused() -> None:
    assert refusal(dom(), facts(nat("<forward mode='route'/>"))) == (
        f"invalid forward 'tcp:2222:22': interface {MAC} (vnet7): network natnet is route, not NAT; "
        "forward ports only to guests on a NAT network")


def test_a_guest_address_that_is_no_ipv4_address_is_refused() -> None:
    assert refusal(dom(ip="192.168.150.300")) == (
        "invalid guest address (<vnx:ip>) '192.168.150.300': expected an IPv4 address, e.g. 192.0.2.10")


def test_a_dhcp_host_address_that_is_no_ipv4_address_is_refused() -> None:
    net = nat(ips=f"<ip address='192.168.150.1' prefix='24'><dhcp><host mac='{MAC}' ip='192.168.150.300'/>"
                  "</dhcp></ip>")
    assert refusal(dom(ip=None), facts(net)) == (
        f"invalid DHCP host address of {MAC} '192.168.150.300': expected an IPv4 address, e.g. 192.0.2.10")


def test_no_guest_address_names_the_network_or_the_interface() -> None:
    assert refusal(dom(ip=None)) == (
        f"invalid forward 'tcp:2222:22': interface {MAC} (vnet7): no guest address: give "
        "<vnx:ip address='…'/> in the entry (--ip), or a static "
        f"<dhcp><host mac='{MAC}' ip='…'/> in network natnet")
    assert refusal(dom(ip=None, kind="bridge", source="bridge='br0'")) == (
        f"invalid forward 'tcp:2222:22': interface {MAC} (vnet7): no guest address: give "
        "<vnx:ip address='…'/> in the entry (--ip), or a static "
        f"<dhcp><host mac='{MAC}' ip='…'/> in the interface's network")
    # a network libvirt has no file for: nothing to read the address from
    assert refusal(dom(ip=None), StaticFacts()).endswith("ip='…'/> in network natnet")


def test_the_networks_own_address_is_refused() -> None:
    assert refusal(dom(ip="192.168.150.1")) == (
        f"invalid guest address '192.168.150.1': interface {MAC} (vnet7): 192.168.150.1 is the "
        "network's own address (the host on network natnet), not a guest's")


def test_another_macs_static_dhcp_address_is_refused_naming_that_mac() -> None:
    net = nat(ips="<ip address='192.168.150.1' prefix='24'><dhcp>"
                  "<host mac='52:54:00:AB:CD:EF' ip='192.168.150.9'/></dhcp></ip>")
    assert refusal(dom(ip="192.168.150.9"), facts(net)) == (
        f"invalid guest address '192.168.150.9': interface {MAC} (vnet7): 192.168.150.9 is the static "
        "DHCP host of 52:54:00:ab:cd:ef in network natnet: another guest's address")
    nameless = nat(ips="<ip address='192.168.150.1' prefix='24'><dhcp><host name='x' ip='192.168.150.9'/>"
                       "</dhcp></ip>")
    assert refusal(dom(ip="192.168.150.9"), facts(nameless)) == (
        f"invalid guest address '192.168.150.9': interface {MAC} (vnet7): 192.168.150.9 is the static "
        "DHCP host of  in network natnet: another guest's address")


def test_an_address_outside_every_subnet_is_refused_listing_them() -> None:
    net = nat(ips="<ip address='192.168.150.1' prefix='24'/><ip address='10.1.0.1' netmask='255.255.0.0'/>")
    assert refusal(dom(ip="172.16.0.5"), facts(net)) == (
        f"invalid guest address '172.16.0.5': interface {MAC} (vnet7): not inside network natnet's "
        "subnet 192.168.150.0/24, 10.1.0.0/16")


# --------------------------------------------------------------------------- the network's subnets


def test_subnets_read_prefix_netmask_and_default_and_skip_what_is_not_ipv4() -> None:
    net = etree.fromstring(
        "<network><ip family='ipv6' address='fd00::1' prefix='64'/>"
        "<ip family='ipv6' address='10.9.0.1' prefix='16'/>"
        "<ip address='bogus' prefix='24'/>"
        "<ip prefix='24'/>"
        "<ip address='10.1.2.3' prefix='16'/>"
        "<ip address='10.2.2.3' netmask='255.255.0.0'/>"
        "<ip address='10.3.2.3'/>"
        "<ip address='10.4.2.3' prefix='20' netmask='255.0.0.0'/></network>")
    assert [str(n) for n in subnets(net)] == ["10.1.0.0/16", "10.2.0.0/16", "10.3.2.0/24", "10.4.0.0/20"]


# --------------------------------------------------------------------------- network started


def test_network_started_plans_each_record_labelled_by_its_mac() -> None:
    rules = ForwardRules("web1", MAC, "natnet", "virbr5", "192.168.150.7",
                         (("tcp", 2222, 2222, 22, 22, None, None),))
    f = StaticFacts(forwarded={"web1": (UUID, {rules.key: rules.record()})})
    (action,) = network_forward_actions(etree.fromstring("<network><name>natnet</name></network>"), f)
    assert action == ForwardPorts(rules, UUID, reapply=True) and action.iface == MAC


def test_a_network_without_a_name_reapplies_nothing() -> None:
    # the forwards of a plain bridge interface are recorded with no network name
    rules = ForwardRules("web1", MAC, "", "br0", "192.168.150.7", (("tcp", 2222, 2222, 22, 22, None, None),))
    f = StaticFacts(forwarded={"web1": (UUID, {rules.key: rules.record()})})
    assert network_forward_actions(etree.fromstring("<network/>"), f) == []


# --------------------------------------------------------------------------- hot-plug


def test_alias_of_a_nic_and_a_nic_by_alias() -> None:
    root = dom(extra="<interface type='network'><mac address='52:54:00:00:00:09'/>"
                     f"<source {NET_SOURCE}/></interface>")
    first, second = nics(root)
    assert alias_of(first) == "net0" and alias_of(second) is None
    found = nic_by_alias(root, "net0")
    assert found is not None and found.mac == first.mac and nic_by_alias(root, "net9") is None


def test_plug_plans_the_forwards_of_that_interface_with_the_domain_name_and_uuid() -> None:
    (action,) = plug_actions(dom(), facts(), {}, MAC.upper())
    assert isinstance(action, ForwardPorts) and action.uuid == UUID
    assert action.rules.domain == "web1" and action.rules.mac == MAC
    (nameless,) = plug_actions(dom(name=None), facts(), {}, MAC)
    assert isinstance(nameless, ForwardPorts)
    assert nameless.rules.domain == ""


def test_plug_plans_nothing_for_an_unknown_mac_or_a_domain_without_wishes() -> None:
    assert plug_actions(dom(), facts(), {}, "52:54:00:00:00:99") == []
    root = dom(meta=False)
    assert meta_of(root) is None
    assert plug_actions(root, facts(), {}, MAC) == []


def test_unplug_removes_only_that_macs_forwards_and_ignores_odd_entries() -> None:
    record = {"forwards": {"k2": {"mac": MAC.upper()}, "k1": {"mac": MAC}, "k3": {"mac": "52:54:00:00:00:09"},
                           "k4": "not an entry", "k5": {}}}
    assert unplug_actions(record, MAC) == [A.RemoveForwards("k1"), A.RemoveForwards("k2")]
    assert unplug_actions(record, "52:54:00:00:00:0a") == []


def test_pending_lists_what_the_watch_has_not_applied() -> None:
    extra = ("<interface type='network'><mac address='52:54:00:00:00:0a'/>"
             f"<source {NET_SOURCE}/></interface>"
             "<interface type='network'><mac address='52:54:00:00:00:09'/>"
             f"<source {NET_SOURCE}/><target dev='vnet9'/></interface>")
    root = dom(extra=extra)
    assert [n.mac for n in pending(root, {})] == [MAC, "52:54:00:00:00:09"]   # no device yet: not ready
    done = {"hotplug": {MAC: {"dev": "vnet7", "alias": "net0"}}}
    assert [n.mac for n in pending(root, done)] == ["52:54:00:00:00:09"]
    moved = {"hotplug": {MAC: {"dev": "vnet3", "alias": "net0"}, "52:54:00:00:00:09": "odd"}}
    assert [n.mac for n in pending(root, moved)] == [MAC, "52:54:00:00:00:09"]


def test_unplugged_finds_the_mac_by_alias() -> None:
    record = {"hotplug": {"52:54:00:00:00:09": "odd", MAC: {"dev": "vnet7", "alias": "net1"}}}
    assert unplugged(record, "net1") == MAC
    assert unplugged(record, "net2") is None
