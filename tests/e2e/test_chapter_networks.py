"""The textbook chapter's networks, built with ``virt-netxml network`` and run by a real libvirtd.

default (NAT, virbr0), packtnat (NAT, virbr1), packtro (routed through ens224, here a veth of
that name inside the namespace), packtiso (isolated, virbr3) and packtovs (bridge mode on the
Open vSwitch bridge ovs-br0): define, start, autostart, list, then one domain attached to all
of them, and the chapter's ``virsh attach-interface ... --source isolated`` done with
``virt-netxml interface`` and ``virsh attach-device --config --live``.
"""

from __future__ import annotations

import ipaddress
import json

import pytest

from tests.e2e.conftest import Host
from tests.e2e.harness import build_domain, domain_interfaces, vnx

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

# name -> virt-netxml arguments, as the chapter describes each network
CHAPTER = {
    "default": ["--mode", "nat", "--bridge", "virbr0", "--ip", "192.168.122.1/24",
                "--dhcp-range", "192.168.122.2,192.168.122.254", "--nat-ports", "1024-65535"],
    "packtnat": ["--mode", "nat", "--bridge", "virbr1", "--ip", "192.168.123.1/24",
                 "--dhcp-range", "192.168.123.2,192.168.123.254", "--nat-ports", "1024-65535"],
    "packtro": ["--mode", "route", "--forward-dev", "ens224", "--bridge", "virbr2",
                "--domain-name", "packt", "--ip", "192.168.2.1/24",
                "--dhcp-range", "192.168.2.100,192.168.2.105"],
    "packtiso": ["--mode", "isolated", "--bridge", "virbr3", "--domain-name", "packtiso",
                 "--ip", "192.168.3.1/24", "--dhcp-range", "192.168.3.128,192.168.3.254"],
    "packtovs": ["--mode", "bridge", "--bridge", "ovs-br0", "--virtualport", "openvswitch"],
}
LIBVIRT_BRIDGES = {"default": "virbr0", "packtnat": "virbr1", "packtro": "virbr2", "packtiso": "virbr3"}
SUBNETS = {"default": "192.168.122.1/24", "packtnat": "192.168.123.1/24", "packtro": "192.168.2.1/24",
           "packtiso": "192.168.3.1/24"}


def define_chapter_networks(host: Host) -> None:
    """The chapter's sequence for each network: net-define, net-start, net-autostart."""
    host.veth("ens224")  # the routed network's uplink, standing in for the chapter's NIC
    host.ovs_bridge("ovs-br0")
    for name, args in CHAPTER.items():
        if name == "packtovs":
            # the CLI's own one-step form of net-define + net-start + net-autostart
            vnx("network", name, *args, "--connect", host.libvirtd.uri, "--define", "--start", "--autostart")
            continue
        path = host.tmp / f"{name}.xml"
        vnx("network", name, *args, "-o", str(path))
        host.virsh("net-define", str(path))
        host.virsh("net-start", name)
        host.virsh("net-autostart", name)


def net_list(host: Host) -> dict[str, list[str]]:
    rows = host.virsh("net-list", "--all").stdout.splitlines()
    return {cols[0]: cols[1:] for cols in (row.split() for row in rows) if cols}


def test_chapter_networks_define_start_autostart_list(host: Host) -> None:
    define_chapter_networks(host)

    assert net_list(host) == {name: ["active", "yes", "yes"] for name in CHAPTER}

    links = host.ns.links()
    for name, bridge in LIBVIRT_BRIDGES.items():
        assert links[bridge]["linkinfo"]["info_kind"] == "bridge", name
        (shown,) = json.loads(host.ns.ip("-j", "addr", "show", "dev", bridge).stdout)
        addrs = {ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}") for a in shown["addr_info"]
                 if a["family"] == "inet"}
        assert addrs == {ipaddress.ip_interface(SUBNETS[name])}, name

    # NAT (masquerading) only for the two NAT networks, with the chapter's port range
    nat = host.ns.run("iptables", "-w", "-t", "nat", "-S").stdout.splitlines()
    masq = {rule.split()[3] for rule in nat if "MASQUERADE --to-ports 1024-65535" in rule}
    assert masq == {"192.168.122.0/24", "192.168.123.0/24"}
    # routed: forwarding allowed only between virbr2 and ens224; isolated: virbr3 rejects
    # everything leaving or entering it and only talks to itself
    rules = host.ns.run("iptables", "-w", "-S").stdout.splitlines()
    assert "-A LIBVIRT_FWO -s 192.168.2.0/24 -i virbr2 -o ens224 -j ACCEPT" in rules
    assert "-A LIBVIRT_FWI -d 192.168.2.0/24 -i ens224 -o virbr2 -j ACCEPT" in rules
    virbr3 = sorted(r for r in rules if "virbr3" in r and r.startswith("-A LIBVIRT_FW"))
    assert virbr3 == ["-A LIBVIRT_FWI -o virbr3 -j REJECT --reject-with icmp-port-unreachable",
                      "-A LIBVIRT_FWO -i virbr3 -j REJECT --reject-with icmp-port-unreachable",
                      "-A LIBVIRT_FWX -i virbr3 -o virbr3 -j ACCEPT"]

    # dnsmasq serves exactly the four networks that have an address
    conf_dir = host.libvirtd.root / "var/lib/libvirt/dnsmasq"
    assert sorted(p.stem for p in conf_dir.glob("*.conf")) == sorted(LIBVIRT_BRIDGES)
    assert "domain=packt\n" in (conf_dir / "packtro.conf").read_text()
    assert "dhcp-range=192.168.2.100,192.168.2.105" in (conf_dir / "packtro.conf").read_text()

    # libvirt stored the autostart links in its own (temporary) /etc/libvirt
    autostart = host.libvirtd.etc / "qemu" / "networks" / "autostart"
    assert sorted(p.stem for p in autostart.iterdir()) == sorted(CHAPTER)


def bridge_of(host: Host, dev: str) -> str:
    """The Linux bridge a device is enslaved to, or the Open vSwitch bridge holding its port."""
    master = host.ns.links()[dev].get("master")
    if master and master != "ovs-netdev":
        return master
    return host.ovs.vsctl("port-to-br", dev).stdout.strip()


def test_domain_on_every_chapter_network_and_attach_interface(host: Host) -> None:
    import libvirt

    define_chapter_networks(host)
    path = build_domain(host.tmp / "chapter-vm.xml", "chapter-vm",
                        *[["--type", "network", "--source", name, "--model", "virtio"] for name in CHAPTER])
    conn = libvirt.open(host.libvirtd.uri)
    try:
        dom = conn.defineXML(path.read_text())
        dom.create()
        live = domain_interfaces(dom.XMLDesc())
        assert [i["network"] for i in live] == list(CHAPTER)
        want = {**LIBVIRT_BRIDGES, "packtovs": "ovs-br0"}
        assert {i["network"]: bridge_of(host, i["target"]) for i in live} == want

        # the chapter: virsh attach-interface --domain ... --source isolated --type network
        #              --model virtio --config --live
        fragment = host.tmp / "isolated-nic.xml"
        vnx("interface", "--type", "network", "--source", "packtiso", "--model", "virtio",
            "-o", str(fragment))
        since = host.box.call_count()
        host.virsh("attach-device", "chapter-vm", str(fragment), "--config", "--live")
        # hotplug runs no qemu hook, only the network's port-created for the new port
        assert [c.key for c in host.box.calls(since)] == [("network", "packtiso", "port-created", "begin")]

        live_after = domain_interfaces(dom.XMLDesc())
        assert [i["network"] for i in live_after] == [*CHAPTER, "packtiso"]
        added = live_after[-1]
        assert added["mac"] not in {i["mac"] for i in live}
        assert bridge_of(host, added["target"]) == "virbr3"
        persistent = domain_interfaces(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
        assert [i["network"] for i in persistent] == [*CHAPTER, "packtiso"]

        targets = [i["target"] for i in live_after]
        dom.destroy()
        assert not set(targets) & set(host.ns.links())
        assert host.ovs.vsctl("list-ports", "ovs-br0").stdout.split() == []
    finally:
        conn.close()


def test_live_dhcp_host_update_and_mac_in_use(host: Host) -> None:
    """``virsh net-update`` on a running chapter network, with a MAC from ``virt-netxml mac``.

    ``virt-netxml mac --connect`` must not hand out a MAC the host already uses: the network's
    own bridge MAC is the one the seed would give first.
    """
    first = vnx("mac", "--seed", "packtnat-guests").stdout.strip()
    path = host.tmp / "packtnat.xml"
    vnx("network", "packtnat", *CHAPTER["packtnat"], "--mac", first, "-o", str(path))
    host.virsh("net-define", str(path))
    host.virsh("net-start", "packtnat")
    mac = vnx("mac", "--seed", "packtnat-guests", "--connect", host.libvirtd.uri).stdout.strip()
    assert mac != first
    host.virsh("net-update", "packtnat", "add", "ip-dhcp-host",
               f"<host mac='{mac}' name='guest1' ip='192.168.123.50'/>", "--live", "--config")
    hosts = (host.libvirtd.root / "var/lib/libvirt/dnsmasq/packtnat.hostsfile").read_text()
    assert f"{mac},192.168.123.50,guest1" in hosts
    assert ("network", "packtnat", "updated", "begin") in [c.key for c in host.box.calls()]
