"""``virt-netxml interface --type TYPE ...``: build a guest NIC, print it or add it to a domain.

Only argv handling lives here; every check is in :mod:`xmltools.build_interface`. Numbers are
taken as text so that a bad value is reported like any other: one line on stderr, exit 2.
"""

from __future__ import annotations

from typing import Any

import click

from xmltools.build_interface import BUILD_TYPES, InterfaceSpec, build_interface, insert_interface
from xmltools.cli import completion
from xmltools.cli.main import run_command
from xmltools.cli.options import (
    OneLineCommand,
    check_output_options,
    int_option,
    libvirt_version_option,
    write_document,
)
from xmltools.domain import Domain
from xmltools.fileio import read_input
from xmltools.mac import OUIS
from xmltools.rules import MACVTAP_MODES, VLAN_MODES
from xmltools.xmlparse import MAX_INPUT_BYTES

EPILOG = """\b
Examples:
  virt-netxml interface --type network --source default --model virtio
  virt-netxml interface --type bridge --source ovsbr0 --virtualport openvswitch --vlan 10
  virt-netxml interface --type direct --source eno1 --mode bridge
  virt-netxml interface --type bridge --source br0 --bridge-vlan 20 --domain vm.xml -i
  virt-netxml interface --type ethernet --target tap-web0 --tap-bridge br0 --domain vm.xml -o new.xml
  virt-netxml interface --type network --source default --ip 192.168.122.50 --forward tcp:2222:22 \
      --forward udp:5000-5010:5000-5010,source=198.51.100.0/24 --domain vm.xml -i
  virt-netxml interface --type bridge --source br-int --virtualport openvswitch --ovn-switch ls-web \
      --ip 10.10.0.20 --domain vm.xml -i
"""
SECTIONS = [
    ("Interface", ["type_", "source", "portgroup", "mode", "model", "mac", "oui", "seed", "pci",
                   "target", "managed"]),
    ("libvirt's settings", ["vlan", "vlan_native", "vlan_mode", "virtualport", "interfaceid", "bandwidth_in",
                            "bandwidth_out", "mtu", "link", "boot", "queues", "filter_"]),
    ("Applied by the hooks (stored in the domain's metadata, needs --domain)",
     ["bridge_vlan", "tap_bridge", "tap_owner", "tap_group", "multi_queue", "vnet_hdr", "vf_pf",
      "vf_index", "ovs_settings", "forwards", "ip", "ovn_switch"]),
    ("Output", ["domain_path", "in_place", "output", "libvirt_version"]),
]


@click.command(cls=OneLineCommand, epilog=EPILOG, sections=SECTIONS)
@click.option("--type", "type_", required=True, metavar="network|bridge|direct|hostdev|ethernet|user",
              shell_complete=completion.values(BUILD_TYPES),
              help="Interface type.")
@click.option("--source", metavar="NAME|DEV", help="Network name, bridge name or macvtap uplink.")
@click.option("--portgroup", metavar="NAME", help="network: portgroup of the network.")
@click.option("--mode", metavar="vepa|bridge|private|passthrough", help="direct: macvtap mode.",
              shell_complete=completion.values(MACVTAP_MODES))
@click.option("--model", metavar="MODEL", help="NIC model (virtio, e1000e, rtl8139...).")
@click.option("--mac", metavar="auto|MAC", help="MAC address; auto derives it (see --seed). "
              "Default: auto with --domain, else none (libvirt assigns one).")
@click.option("--oui", default="52:54:00", show_default=True, metavar="qemu|xen|XX:XX:XX",
              shell_complete=completion.values(OUIS),
              help="Prefix of generated MACs.")
@click.option("--seed", metavar="TEXT", help="Derive the MAC from TEXT and the interface index "
              "(default with --domain: the domain's UUID, else its name).")
@click.option("--pci", metavar="DDDD:BB:SS.F", help="hostdev: PCI address of the VF.")
@click.option("--target", metavar="DEV", help="Host-side device name (a TAP for ethernet).")
@click.option("--managed/--unmanaged", default=None,
              help="hostdev: libvirt detaches the VF itself; ethernet: --unmanaged uses an existing TAP.")
@click.option("--vlan", metavar="TAGS", help="libvirt's <vlan>: ID (access) or ID,ID,A-B (trunk); "
              "ID:untagged marks the native VLAN.")
@click.option("--vlan-native", metavar="ID[:tagged|untagged]",
              help="Native VLAN of a trunk given by --vlan or --bridge-vlan.")
@click.option("--vlan-mode", metavar="access|trunk|native-tagged|native-untagged",
              shell_complete=completion.values(VLAN_MODES),
              help="VLAN mode for --vlan or --bridge-vlan (Open vSwitch's vlan_mode).")
@click.option("--virtualport", metavar="TYPE[,KEY=VALUE...]",
              help="openvswitch[,interfaceid=UUID][,profileid=..], 802.1Qbg,managerid=..., 802.1Qbh,...")
@click.option("--interfaceid", metavar="UUID", help="The Open vSwitch port's interfaceid (a UUID; "
              "default with --ovn-switch: derived from the switch and the MAC).")
@click.option("--bandwidth-in", metavar="AVG[,PEAK[,BURST]]", help="Inbound limit, KiB/s and KiB.")
@click.option("--bandwidth-out", metavar="AVG[,PEAK[,BURST]]", help="Outbound limit, KiB/s and KiB.")
@click.option("--mtu", metavar="N", help="MTU of the guest NIC.")
@click.option("--link", metavar="up|down", help="Link state seen by the guest.")
@click.option("--boot", metavar="N", help="Boot order (PXE).")
@click.option("--queues", metavar="N", help="virtio multiqueue: number of queue pairs.")
@click.option("--filter", "filter_", metavar="NAME[,PARAM=VALUE...]", help="nwfilter reference.")
@click.option("--bridge-vlan", metavar="TAGS", help="Metadata: VLAN the hook sets on the port "
              "(Linux bridge or Open vSwitch): ID, or trunk ID,A-B with --vlan-native. Needs --domain.")
@click.option("--tap-bridge", metavar="BR", help="Metadata (ethernet): the hook creates the --target "
              "TAP and adds it to BR. Needs --domain.")
@click.option("--tap-owner", metavar="USER", help="Owner of the TAP the hook creates.")
@click.option("--tap-group", metavar="GROUP", help="Group of the TAP the hook creates.")
@click.option("--multi-queue/--no-multi-queue", default=None, help="Create the TAP multi-queue.")
@click.option("--vnet-hdr/--no-vnet-hdr", default=None, help="Create the TAP with vnet_hdr.")
@click.option("--vf-pf", metavar="DEV", help="Metadata (hostdev): PF whose VF this is (the hook "
              "sets its MAC and VLAN through it). Needs --domain.")
@click.option("--vf-index", metavar="N", help="Metadata (hostdev): VF number on --vf-pf.")
@click.option("--ovs-setting", "ovs_settings", multiple=True, metavar="TABLE:COLUMN:KEY=VALUE",
              help="Metadata: extra Open vSwitch port setting the hook keeps applied (repeatable).")
@click.option("--forward", "forwards", multiple=True,
              metavar="PROTO:[ADDR:]PORT[-END]:PORT[-END][,source=CIDR]",
              help="Metadata (network, NAT): forward a host port (range) to the same-length range of "
              "the guest's ports, e.g. tcp:2222:22 (repeatable). The hooks add it at start, remove it "
              "at release.")
@click.option("--ip", metavar="ADDR", help="Metadata: the guest's IPv4 address the forwards go to "
              "(default: the network's static DHCP host for the MAC); with --ovn-switch, the static "
              "address (IPv4 or IPv6) of its OVN port.")
@click.option("--ovn-switch", metavar="LS", help="Metadata (bridge with --virtualport openvswitch, or "
              "network): the port is on OVN logical switch LS; writes a derived interfaceid.")
@click.option("--domain", "domain_path", metavar="FILE", shell_complete=completion.files,
              help="Add the interface to this domain document (- for stdin) and print the domain.")
@click.option("-i", "--in-place", is_flag=True, help="With --domain: rewrite FILE atomically.")
@click.option("-o", "--output", metavar="FILE", shell_complete=completion.files,
              help="Write to FILE atomically instead of stdout.")
@libvirt_version_option
@run_command
def interface(type_: str, mtu: str | None, boot: str | None, queues: str | None, vf_index: str | None,
              filter_: str | None, ovs_settings: tuple[str, ...], forwards: tuple[str, ...],
              domain_path: str | None,
              in_place: bool, output: str | None, libvirt_version: str | None, **options: Any) -> None:
    """Build a domain <interface> and print it, or add it to --domain FILE.

    With libvirt 11.0 or newer as the target (--libvirt-version), --vlan on a Linux bridge
    port writes libvirt's own <vlan>, which libvirt applies; before 11.0 use --bridge-vlan.
    """
    from xmltools import versions

    check_output_options(domain_path, output, in_place, "--domain FILE")
    target = versions.resolve(libvirt_version) if options.get("vlan") is not None else None
    spec = InterfaceSpec(type=type_, mtu=int_option(mtu, "MTU"), boot=int_option(boot, "boot order"),
                         queues=int_option(queues, "queues"), vf_index=int_option(vf_index, "VF index"),
                         filter=filter_, ovs_settings=tuple(ovs_settings), forwards=tuple(forwards),
                         libvirt=target.version if target else versions.BASELINE, **options)
    if libvirt_version is not None:
        versions.parse(libvirt_version)   # a bad value is refused even when nothing depends on it
    if domain_path is None:
        write_document(build_interface(spec).to_xml(), None, output, False)
        return
    domain = Domain.from_xml(read_input(domain_path, MAX_INPUT_BYTES), source=domain_path)
    insert_interface(domain, spec)
    write_document(domain.to_xml(), domain_path, output, in_place)
