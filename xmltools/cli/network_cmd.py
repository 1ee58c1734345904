"""``virt-netxml network NAME --mode MODE ...``: build a libvirt network, print, save or define it.

The command only turns argv into a :class:`~xmltools.build_network.NetworkSpec`; every check
lives in the pure builder. Values are taken as text (not click types) so that every bad value
is reported the same way: one line on stderr, exit status 2.
"""

from __future__ import annotations

import random
from typing import Any

import click

from xmltools.build_network import MODES, NetworkSpec, build_network
from xmltools.cli import completion
from xmltools.cli.main import run_command
from xmltools.cli.options import OneLineCommand, int_option, libvirt_version_option
from xmltools.errors import UsageError
from xmltools.fileio import write_file, write_stdout

EPILOG = """\b
Examples:
  virt-netxml network packtnat --bridge virbr1 --ip 192.168.123.1/24 \\
      --dhcp-range 192.168.123.2,192.168.123.254 --nat-ports 1024-65535
  virt-netxml network packtovs --mode bridge --bridge ovs-br0 --virtualport openvswitch \\
      --portgroup vlan5,vlan=5 --portgroup trunk,vlan=10:untagged,20
  virt-netxml network sriov --mode hostdev --pf ens1f0 --driver vfio
  virt-netxml network web --mode bridge --bridge br-int --virtualport openvswitch \\
      --ovn-switch ls-web --ovn-subnet 10.10.0.0/24 --ovn-dhcp --ovn-port-security
"""


SECTIONS = [
    ("Forwarding and bridge", ["mode", "bridge", "forward_dev", "uplinks", "pf", "vf_addresses",
                               "managed", "driver", "mtu", "stp", "delay", "nat_ports",
                               "nat_addresses", "virtualport", "mac"]),
    ("Addresses, DHCP, DNS", ["ips", "dhcp_ranges", "dhcp_hosts", "domain_name", "dns_hosts"]),
    ("Port groups, VLANs, bandwidth", ["portgroups", "vlan", "vlan_trunk", "bandwidth_in",
                                       "bandwidth_out"]),
    ("OVN (an OVN logical switch on Open vSwitch's integration bridge; stored in the metadata)",
     ["ovn_switch", "ovn_subnet", "ovn_dhcp", "ovn_port_security"]),
    ("Identity and output", ["uuid_", "seed", "output", "connect", "define", "start", "autostart",
                             "libvirt_version"]),
]


@click.command(cls=OneLineCommand, epilog=EPILOG, sections=SECTIONS)
@click.argument("name")
@click.option("--mode", default="nat", show_default=True,
              metavar="nat|route|open|isolated|bridge|private|vepa|passthrough|hostdev",
              shell_complete=completion.values(MODES),
              help="Forward mode; isolated writes no <forward>.")
@click.option("--bridge", metavar="BR", help="Bridge name: libvirt's own (nat, route, open, isolated) "
              "or an existing host/Open vSwitch bridge (mode bridge).")
@click.option("--ip", "ips", multiple=True, metavar="ADDRESS/PREFIX",
              help="Host address and subnet, IPv4 or IPv6 (repeatable).")
@click.option("--dhcp-range", "dhcp_ranges", multiple=True, metavar="START,END",
              help="DHCP pool; goes to the --ip whose subnet holds it (repeatable).")
@click.option("--dhcp-host", "dhcp_hosts", multiple=True, metavar="MAC,IP[,NAME]",
              help="Static DHCP lease (repeatable); IPv6: ,IP,NAME.")
@click.option("--forward-dev", metavar="DEV", help="Host device NAT/routed traffic leaves by.")
@click.option("--uplink", "uplinks", multiple=True, metavar="DEV",
              help="Uplink of a macvtap pool (repeatable).")
@click.option("--pf", metavar="DEV", help="SR-IOV physical function of a hostdev pool.")
@click.option("--vf-address", "vf_addresses", multiple=True, metavar="PCI",
              help="VF of a hostdev pool, DDDD:BB:SS.F (repeatable).")
@click.option("--managed/--unmanaged", default=None,
              help="hostdev: libvirt binds the VF to vfio-pci itself (default managed).")
@click.option("--driver", metavar="vfio", help="hostdev: device assignment driver.")
@click.option("--domain-name", metavar="NAME", help="DNS domain served to guests.")
@click.option("--mtu", metavar="N", help="MTU of libvirt's bridge.")
@click.option("--stp/--no-stp", default=None, help="Spanning tree on libvirt's bridge (default on).")
@click.option("--delay", metavar="N", help="Bridge forward delay in seconds (default 0).")
@click.option("--nat-ports", metavar="START-END", help="Source ports used for masquerading.")
@click.option("--nat-addresses", metavar="START-END", help="IPv4 addresses used for masquerading.")
@click.option("--virtualport", metavar="openvswitch",
              help="Virtual port type (openvswitch, 802.1Qbg, 802.1Qbh).")
@click.option("--portgroup", "portgroups", multiple=True,
              metavar="NAME[,default][,trunk][,virtualport=T][,in=A:P:B][,out=A:P:B][,vlan=TAGS]",
              help="Port group (repeatable); vlan= comes last and takes TAGS.")
@click.option("--vlan", metavar="TAGS", help="ID (access), ID,ID... (trunk); ID:untagged or ID:tagged "
              "marks the native VLAN.")
@click.option("--vlan-trunk", is_flag=True, help="Make a single --vlan id a trunk.")
@click.option("--mac", default="auto", show_default=True, metavar="auto|MAC",
              help="MAC of libvirt's bridge (nat, route, open, isolated).")
@click.option("--uuid", "uuid_", default="auto", show_default=True, metavar="auto|UUID",
              help="UUID of the network; auto draws a random (version 4) one.")
@click.option("--dns-host", "dns_hosts", multiple=True, metavar="IP,NAME[,NAME]",
              help="DNS host record (repeatable).")
@click.option("--bandwidth-in", metavar="AVG[,PEAK[,BURST]]", help="Inbound limit, KiB/s and KiB.")
@click.option("--bandwidth-out", metavar="AVG[,PEAK[,BURST]]", help="Outbound limit, KiB/s and KiB.")
@click.option("--ovn-switch", metavar="LS", help="The network is OVN logical switch LS (needs --mode "
              "bridge, --bridge br-int, --virtualport openvswitch). Letters, digits, _ - . : only.")
@click.option("--ovn-subnet", metavar="CIDR", help="The switch's IPv4 subnet, for OVN's dynamic "
              "addresses, e.g. 10.10.0.0/24.")
@click.option("--ovn-dhcp", is_flag=True, help="OVN serves DHCP on --ovn-subnet.")
@click.option("--ovn-port-security", is_flag=True, help="The switch's ports accept only their "
              "guest's MAC (and address).")
@click.option("--seed", metavar="TEXT", help="Draw --mac auto / --uuid auto from this seed: same seed, "
              "same output.")
@click.option("-o", "--output", metavar="FILE", shell_complete=completion.files,
              help="Write to FILE atomically instead of stdout.")
@click.option("--connect", metavar="URI", help="libvirt URI used by --define.")
@click.option("--define", is_flag=True, help="Define the network on --connect URI (net-define).")
@click.option("--start", is_flag=True, help="With --define: start it (net-start).")
@click.option("--autostart", is_flag=True, help="With --define: mark it autostart (net-autostart).")
@libvirt_version_option
@run_command
def network(name: str, mode: str, uuid_: str, mtu: str | None, delay: str | None, seed: str | None,
            output: str | None, connect: str | None, define: bool, start: bool, autostart: bool,
            libvirt_version: str | None, **options: Any) -> None:
    """Build the libvirt <network> NAME and print it (or write -o FILE, or --define it).

    With libvirt 11.0 or newer as the target (--libvirt-version, or the daemon of --connect),
    a bridge network's --vlan and portgroup vlan= become libvirt's own <vlan>.
    """
    from xmltools import versions
    if (start or autostart) and not define:
        raise UsageError(detail="--start and --autostart need --define")
    if define and not connect:
        raise UsageError(detail="--define needs --connect URI (e.g. qemu:///system)")
    if connect and not define:
        raise UsageError(detail="--connect is only used with --define")
    for key in ("ips", "dhcp_ranges", "dhcp_hosts", "uplinks", "vf_addresses", "portgroups", "dns_hosts"):
        options[key] = list(options[key])
    # Only VLANs depend on the version: ask the daemon only then (one more connection).
    wants_vlan = options.get("vlan") is not None or any("vlan=" in p for p in options["portgroups"])
    uri = connect if define and wants_vlan else None

    def daemon() -> versions.Version:   # asked only when neither option nor environment say
        from xmltools.cli import libvirt_conn

        assert uri is not None
        return libvirt_conn.daemon_version(uri)
    target = versions.resolve(libvirt_version, daemon if uri else None)
    spec = NetworkSpec(name=name, mode=mode, uuid=uuid_, mtu=int_option(mtu, "--mtu"),
                       delay=int_option(delay, "--delay"), libvirt=target.version, **options)
    rng = random.Random(seed) if seed is not None else None
    in_use: set[str] = set()
    if define and spec.mac == "auto":
        from xmltools.cli import libvirt_conn

        assert connect is not None
        in_use = libvirt_conn.macs_in_use(connect)  # a generated MAC must be free on that host
    xml = build_network(spec, rng, exclude_macs=in_use).to_xml()
    if define:
        from xmltools.cli import libvirt_conn

        assert connect is not None
        defined = libvirt_conn.define_network(connect, xml, start, autostart)
        done = ["defined"] + (["started"] if start else []) + (["set to autostart"] if autostart else [])
        click.echo(f"network {defined} {', '.join(done)} on {connect}")
    if output is not None and output != "-":
        write_file(output, xml, keep=True)
    elif not define:
        write_stdout(xml)
