"""The forward-mode checks of a <network>, each refusal beside its accepted twin: a forward dev
against the uplink list and pools, one <pf>, pools that do not mix, what a hostdev or macvtap
network needs, what each mode allows around it (bridge options, <ip>, records, bandwidth), the
default portgroup and where libvirt applies a portgroup's <vlan>."""

from __future__ import annotations

import pytest
from lxml import etree

from xmltools import checks
from xmltools.versions import BASELINE, NEWEST

IP = "<ip address='192.168.70.1' prefix='24'/>"
PCI = "<address type='pci' domain='0x0000' bus='0x04' slot='0x10' function='{f}'/>"


def _found(body: str, libvirt: tuple[int, int, int] = NEWEST) -> list[tuple[int, str, str]]:
    """(line, code, message) of a network whose body starts on line 3."""
    report = checks.Report(libvirt=libvirt)
    checks.check_network(etree.fromstring(f"<network>\n<name>n</name>\n{body}\n</network>"), report)
    return [(i.line, i.code, i.message) for i in report.issues]


def _codes(body: str, libvirt: tuple[int, int, int] = NEWEST) -> list[str]:
    return [code for _, code, _ in _found(body, libvirt)]


# --------------------------------------------------------------------------- <forward>


@pytest.mark.parametrize("children,codes", [
    ("", []),
    ("<interface dev='up0'/>", []),
    (f"{PCI.format(f='0x1')}", ["forward-dev-with-pool", "pool-address-mode"]),
    ("<pf dev='eth9'/>", ["forward-dev-with-pool"]),
])
def test_a_forward_dev_with_a_pool_is_refused(children, codes):
    assert _codes(f"<forward mode='passthrough' dev='up0'>{children}</forward>") == codes


@pytest.mark.parametrize("uplinks,message", [
    ("<interface dev='up0'/><interface dev='eth1'/>", None),
    ("<interface dev='eth1'/><interface dev='up0'/>",
     "<forward mode='passthrough'>: dev='up0' must be the first <interface> of the uplink list"),
    ("<interface dev='eth1'/><interface dev='eth2'/>",
     "<forward mode='passthrough'>: dev='up0' must be the first <interface> of the uplink list (it is not "
     "in "
     "the list at all)"),
])
def test_a_forward_dev_heads_the_uplink_list(uplinks, message):
    found = _found(f"<forward mode='passthrough' dev='up0'>{uplinks}</forward>")
    assert found == ([] if message is None else [(3, "forward-dev-mismatch", message)])


def test_an_uplink_listed_three_times_names_the_first_each_time():
    uplinks = "\n".join("<interface dev='up0'/>" for _ in range(3))
    assert _found(f"<forward mode='vepa'>\n{uplinks}\n</forward>") == [
        (5, "uplink-duplicate", "<interface dev='up0'>: uplink up0 is listed twice (first on line 4)"),
        (6, "uplink-duplicate", "<interface dev='up0'>: uplink up0 is listed twice (first on line 4)")]


def test_a_pci_address_listed_three_times_names_the_first_each_time():
    pool = "\n".join(PCI.format(f="0x1") for _ in range(3)) + "\n" + PCI.format(f="0x2")
    assert _found(f"<forward mode='hostdev'>\n{pool}\n</forward>") == [
        (5, "pci-duplicate", "PCI device 0000:04:10.1 is listed twice in the pool (first on line 4)"),
        (6, "pci-duplicate", "PCI device 0000:04:10.1 is listed twice in the pool (first on line 4)")]


def test_an_invalid_pci_address_is_no_duplicate():
    bad = "<address type='pci' domain='0x0000' bus='0x100' slot='0x10' function='0x1'/>"
    assert _codes(f"<forward mode='hostdev'>{bad}{bad}</forward>") == ["pci-address", "pci-address"]


@pytest.mark.parametrize("pfs,found", [
    ("<pf dev='up0'/>", []),
    ("<pf dev='up0'/>\n<pf dev='eth1'/>",
     [(5, "pf-multiple", "<forward mode='hostdev'>: only one <pf> is allowed")]),
    ("<pf dev='up0'/>\n<pf dev='a/b'/>",
     [(5, "pf-multiple", "<forward mode='hostdev'>: only one <pf> is allowed"),
      (5, "device-name", "<pf dev='a/b'>: PF 'a/b' is not a valid Linux interface name: contains '/', "
                         "which is "
                         "not allowed")]),
])
def test_one_pf(pfs, found):
    assert _found(f"<forward mode='hostdev'>\n{pfs}\n</forward>") == found


@pytest.mark.parametrize("mode,children,codes", [
    ("passthrough", "<interface dev='up0'/><pf dev='eth1'/>", ["pool-mixed"]),
    ("hostdev", f"{PCI.format(f='0x1')}<pf dev='eth1'/>", ["pool-mixed"]),
    ("passthrough", f"<interface dev='up0'/>{PCI.format(f='0x1')}", ["pool-mixed", "pool-address-mode"]),
    ("passthrough", "<interface dev='up0'/><interface dev='eth1'/>", []),
    ("hostdev", f"{PCI.format(f='0x1')}{PCI.format(f='0x2')}", []),
])
def test_pools_do_not_mix(mode, children, codes):
    assert _codes(f"<forward mode='{mode}'>{children}</forward>") == codes


@pytest.mark.parametrize("children,found", [
    ("<pf dev='up0'/>", []),
    (PCI.format(f="0x1"), []),
    ("<interface dev='up0'/>", [(3, "hostdev-pool", "<forward mode='hostdev'>: a hostdev pool lists VFs "
                                                     "by PCI "
                                                     "<address> or one <pf>, not <interface dev>")]),
    ("", [(3, "hostdev-pool",
           "<forward mode='hostdev'>: a hostdev pool needs a <pf dev> or PCI <address>es")]),
])
def test_what_a_hostdev_pool_holds(children, found):
    assert _found(f"<forward mode='hostdev'>{children}</forward>") == found


def test_a_hostdev_pool_of_interfaces_names_the_first_one():
    assert [f[0] for f in _found("<forward mode='hostdev'>\n<interface dev='up0'/>\n"
                                 "<interface dev='eth1'/></forward>")] == [4]


@pytest.mark.parametrize("mode", ["private", "vepa", "passthrough"])
@pytest.mark.parametrize("children,attrs,codes", [
    ("", "", ["macvtap-no-uplink"]),
    ("<interface dev='up0'/>", "", []),
    ("<pf dev='up0'/>", "", []),
    ("", " dev='up0'", []),
    (PCI.format(f="0x1"), "", ["pool-address-mode"]),
])
def test_a_macvtap_network_needs_an_uplink(mode, children, attrs, codes):
    assert _codes(f"<forward mode='{mode}'{attrs}>{children}</forward>") == codes


def test_a_bridge_network_with_an_empty_pool_needs_nothing_more_from_forward():
    assert _codes("<forward mode='bridge'/><bridge name='br0'/>") == []


# --------------------------------------------------------------------------- what each mode allows


@pytest.mark.parametrize("forward,codes", [
    ("<forward mode='nat'/>", []),
    ("<forward/>", []),                                          # nat by default
    ("<forward mode='route' dev='up0'><interface dev='up0'/></forward>", []),    # one device, twice named
    ("<forward mode='route' dev='up0'><interface dev='eth1'/></forward>",
     ["forward-dev-mismatch", "forward-multiple-devs"]),
    ("<forward mode='nat'><interface dev='up0'/><interface dev='eth1'/></forward>",
     ["forward-multiple-devs"]),
    ("<forward mode='open'/>", []),
    ("<forward mode='open' dev='up0'/>", ["forward-open-dev"]),
    ("<forward mode='open'><interface dev='up0'/></forward>", ["forward-open-dev"]),
])
def test_routed_modes(forward, codes):
    assert _codes(forward + IP) == codes


@pytest.mark.parametrize("forward,found", [
    ("<forward/>", [(3, "forward-needs-ip", "<forward mode='nat'>: nat forwarding needs an <ip> on the "
                                            "network")]),
    ("<forward mode='route'/>",
     [(3, "forward-needs-ip", "<forward mode='route'>: route forwarding needs an <ip> on the network")]),
    ("<forward mode='open'/>",
     [(3, "forward-needs-ip", "<forward mode='open'>: open forwarding needs an <ip> on the network")]),
    ("", []),                       # an isolated network needs no address
])
def test_routed_modes_need_an_ip(forward, found):
    assert _found(forward) == found


def test_a_routed_mode_ignores_the_rules_of_the_bridged_ones():
    body = ("<forward mode='nat'/><bridge name='virbr5' stp='on' delay='2'/><mtu size='9000'/>"
            "<mac address='52:54:00:00:00:01'/><domain name='lab'/><bandwidth><inbound "
            "average='1'/></bandwidth>"
            + IP)
    assert _codes(body) == []


def test_an_isolated_network_takes_everything_a_routed_one_does():
    body = ("<bridge name='virbr5' stp='on' delay='2'/><mtu size='9000'/><mac address='52:54:00:00:00:01'/>"
            "<domain name='lab'/><dns><host ip='192.168.70.9'><hostname>a</hostname></host></dns>" + IP)
    assert _codes(body) == []


@pytest.mark.parametrize("mode", ["private", "vepa", "passthrough", "hostdev"])
@pytest.mark.parametrize("attr,value", [("name", "br0"), ("zone", "trusted"), ("macTableManager", "libvirt")])
def test_no_bridge_of_its_own_for_a_macvtap_or_hostdev_network(mode, attr, value):
    pool = "<pf dev='up0'/>"
    found = [f for f in _found(f"<forward mode='{mode}'>{pool}</forward>\n<bridge {attr}='{value}'/>")
             if f[1] == "bridge-not-allowed"]
    assert found == [(4, "bridge-not-allowed", f"<bridge {attr}='{value}'> is not allowed in {mode} mode")]


def test_a_bridge_network_names_its_bridge():
    assert _codes("<forward mode='bridge'/><bridge name='br0' macTableManager='libvirt'/>") == []


@pytest.mark.parametrize("attrs,codes", [
    ("delay='0'", []), ("delay=' 0 '", []), ("delay='00'", []),
    ("delay='1'", ["bridge-options-mode"]), ("delay='x'", ["bridge-options-mode"]),
    ("stp='off'", ["bridge-options-mode"]), ("zone='trusted'", ["bridge-options-mode"]),
    ("stp='on' delay='2' zone='trusted'", ["bridge-options-mode"]),     # said once
])
def test_bridge_options_in_bridge_mode(attrs, codes):
    assert _codes(f"<forward mode='bridge'/><bridge name='br0' {attrs}/>") == codes


@pytest.mark.parametrize("body,codes", [
    ("<forward mode='bridge'><interface dev='up0'/></forward><bridge name='br0'/>", ["bridge-and-uplinks"]),
    ("<forward mode='bridge'><pf dev='up0'/></forward><bridge name='br0'/>", ["bridge-and-uplinks"]),
    ("<forward mode='bridge' dev='up0'/><bridge name='br0'/>", ["bridge-and-uplinks"]),
    ("<forward mode='bridge' dev='up0'/>", []),
    ("<forward mode='bridge'><interface dev='up0'/></forward>", []),
    ("<forward mode='bridge'><pf dev='up0'/></forward>", []),
    ("<forward mode='bridge'/><bridge name='br0'/>", []),
    ("<forward mode='bridge'/><bridge name=''/>", ["bridge-name", "bridge-no-uplink"]),
    ("<forward mode='bridge'/><bridge stp='on'/>", ["bridge-options-mode", "bridge-no-uplink"]),
    ("<forward mode='bridge'/>", ["bridge-no-uplink"]),
])
def test_a_bridge_network_has_a_bridge_or_uplinks_not_both(body, codes):
    assert _codes(body) == codes


@pytest.mark.parametrize("extra,found", [
    ("<mtu size='9000'/>", [(4, "mtu-mode", "<mtu> only applies to route, nat, open and isolated networks, "
                                            "not bridge")]),
    ("<mac address='52:54:00:00:00:01'/>", [(4, "unsupported-in-mode",
                                             "<mac> is not supported on a bridge network")]),
    ("<domain name='lab'/>", [(4, "unsupported-in-mode", "<domain> is not supported on a bridge network")]),
    ("<dns><txt name='a' value='b'/></dns>", [(4, "unsupported-in-mode",
                                               "<dns> records are not supported on a bridge network")]),
    ("<dns><srv service='s' protocol='tcp'/></dns>", [(4, "unsupported-in-mode",
                                                       "<dns> records are not supported on a bridge "
                                                       "network")]),
    ("<dns><host ip='10.0.0.1'><hostname>a</hostname></host></dns>",
     [(4, "unsupported-in-mode", "<dns> records are not supported on a bridge network")]),
    ("<dns><forwarder domain='example.com'/></dns>", []),
    ("<dns/>", []),
    (IP, [(4, "ip-mode", "<ip address='192.168.70.1'>: libvirt's network driver refuses <ip> on a bridge "
                         "network "
                         "(the host has no address on it)")]),
])
def test_what_a_bridged_network_does_not_take(extra, found):
    assert _found(f"<forward mode='bridge'/><bridge name='br0'/>\n{extra}") == found


def test_each_ip_of_a_bridged_network_is_named():
    ips = IP + "\n<ip family='ipv6' address='fd00::1' prefix='64'/>"
    assert [f[:2] for f in _found(f"<forward mode='bridge'/><bridge name='br0'/>\n{ips}")] == [
        (4, "ip-mode"), (5, "ip-mode")]


@pytest.mark.parametrize("body,found", [
    ("<forward mode='bridge'/><bridge name='br0'/>", []),
    ("<forward mode='bridge'><interface dev='up0'/></forward>",
     ["<network>: <bandwidth> is not supported on a bridge network",
      "<portgroup name='pg'>: <bandwidth> is not supported on a bridge network"]),
    ("<forward mode='vepa'><interface dev='up0'/></forward>",
     ["<network>: <bandwidth> is not supported on a vepa network",
      "<portgroup name='pg'>: <bandwidth> is not supported on a vepa network"]),
])
def test_bandwidth_only_on_a_named_host_bridge(body, found):
    bandwidth = "<bandwidth><inbound average='1'/></bandwidth>"
    full = f"{body}\n{bandwidth}\n<portgroup name='pg'>{bandwidth}</portgroup>"
    assert [message for _, code, message in _found(full) if code == "bandwidth-mode"] == found


# --------------------------------------------------------------------------- portgroups


@pytest.mark.parametrize("second,codes", [
    ("<portgroup name='b' default='yes'/>", ["portgroup-default"]),
    ("<portgroup name='b' default='no'/>", []),
    ("<portgroup name='b'/>", []),
])
def test_one_default_portgroup(second, codes):
    body = f"<forward mode='bridge'/><bridge name='br0'/>\n<portgroup name='a' default='yes'/>\n{second}"
    assert _codes(body) == codes


def test_a_third_default_names_the_first():
    body = "<forward mode='bridge'/><bridge name='br0'/>\n" + "\n".join(
        f"<portgroup name='{n}' default='yes'/>" for n in "abc")
    assert [f[2] for f in _found(body)] == [
        "<portgroup name='b'>: only one portgroup can be the default (<portgroup name='a'> on line 4 "
        "already is)",
        "<portgroup name='c'>: only one portgroup can be the default (<portgroup name='a'> on line 4 "
        "already is)"]


def test_a_third_portgroup_of_one_name_names_the_first():
    body = "<forward mode='bridge'/><bridge name='br0'/>\n" + "\n".join(
        "<portgroup name='a'/>" for _ in range(3))
    assert [f[0] for f in _found(body)] == [5, 6]
    assert {f[2] for f in _found(body)} == {"<portgroup name='a'>: a portgroup of that name is already on "
                                            "line 4"}


OVS = "<forward mode='bridge'/><bridge name='ovsbr0'/><virtualport type='openvswitch'/>"
VLAN = "<vlan><tag id='10'/></vlan>"


@pytest.mark.parametrize("vport,found", [
    ("", []),
    ("<virtualport type='openvswitch'/>", []),
    ("<virtualport type='802.1Qbh'/>",
     [(4, "vlan-unsupported", "<portgroup name='pg'>: a <vlan> needs an Open vSwitch port, not 802.1Qbh")]),
])
def test_a_portgroups_vlan_needs_an_ovs_port(vport, found):
    assert _found(f"{OVS}\n<portgroup name='pg'>{vport}{VLAN}</portgroup>") == found


@pytest.mark.parametrize("libvirt,where", [
    (BASELINE, "Open vSwitch bridges, hostdev and passthrough networks (Linux bridges from libvirt 11.0)"),
    (NEWEST, "Open vSwitch and Linux bridge networks (forward mode='bridge'), hostdev and passthrough "
             "networks"),
])
def test_a_portgroups_vlan_on_a_routed_network(libvirt, where):
    body = f"<forward mode='nat'/>{IP}\n<portgroup name='pg'>\n{VLAN}</portgroup>"
    version = "9.0.0" if libvirt == BASELINE else "11.3.0"
    assert _found(body, libvirt) == [
        (5, "vlan-unsupported", f"<portgroup name='pg'>: libvirt {version} applies <vlan> only on {where}")]


@pytest.mark.parametrize("libvirt,codes", [(BASELINE, ["vlan-unsupported"]), (NEWEST, [])])
def test_a_linux_bridge_portgroup_vlan_from_libvirt_11(libvirt, codes):
    body = f"<forward mode='bridge'/><bridge name='br0'/>\n<portgroup name='pg'>{VLAN}</portgroup>"
    assert _codes(body, libvirt) == codes


def test_a_portgroup_with_its_own_ovs_port_on_a_linux_bridge_network_takes_a_vlan():
    body = ("<forward mode='bridge'/><bridge name='br0'/>\n<portgroup name='pg'>"
            "<virtualport type='openvswitch'/>"
            f"{VLAN}</portgroup>")
    assert _codes(body, BASELINE) == []


@pytest.mark.parametrize("portgroups,codes", [
    ("", ["vlan-unsupported"]),
    ("<portgroup name='pg' default='yes'/>", []),      # the default portgroup's settings apply instead
    ("<portgroup name='pg'/>", ["vlan-unsupported"]),
])
def test_a_network_vlan_where_libvirt_does_not_apply_it(portgroups, codes):
    assert _codes(f"<forward mode='nat'/>{IP}\n{VLAN}\n{portgroups}", BASELINE) == codes


def test_a_qbg_profile_keeps_a_vlan_out_of_a_linux_bridge():
    body = f"<forward mode='bridge'/><bridge name='br0'/><virtualport type='802.1Qbg'/>\n{VLAN}"
    assert _codes(body, NEWEST) == ["vlan-unsupported"]
    assert _codes(f"<forward mode='bridge'/><bridge name='br0'/>\n{VLAN}", NEWEST) == []
