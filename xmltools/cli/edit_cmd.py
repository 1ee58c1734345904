"""``virt-netxml edit FILE ...``: change interfaces of a domain, or portgroups of a network.

The kind of document comes from its root element: ``<domain>`` (interfaces selected by MAC,
target or index, or all of them with ``--all``), ``<interface>`` (a standalone NIC file) or
``<network>`` (portgroups). Everything is applied in memory and checked before one atomic write,
so bad input leaves the file as it was.
"""

from __future__ import annotations

from typing import Any

import click

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
from xmltools.edit import (
    InterfaceEdits,
    NetworkEdits,
    document_text,
    edit_interfaces,
    edit_network,
    load_document,
    select_interfaces,
)
from xmltools.errors import UsageError
from xmltools.fileio import read_input, write_stdout
from xmltools.interface import LINK_STATES
from xmltools.network import Network
from xmltools.rules import VLAN_MODES
from xmltools.xmlparse import MAX_INPUT_BYTES

EPILOG = """\b
On a domain with more than one interface, a change needs a selector (--mac, --target,
--index; several must all match) or --all: the edit says which interfaces it changes.
\b
Examples:
  virt-netxml edit vm.xml --mac AA-BB-CC-DD-EE-FF --set-bridge-vlan 20 -i
  virt-netxml interface --type bridge --source br0 --domain vm.xml -i
  virt-netxml edit vm.xml --index 1 --source-bridge ovsbr0 --ovs --set-vlan 10 --print-diff -i
  virt-netxml edit vm.xml --all --model virtio --mtu 9000
  virt-netxml edit vm.xml --index 1 --bandwidth in=1000,2000,512 --bandwidth out=500 -o new.xml
  virt-netxml edit vm.xml --index 1 --source-dev eno1 --clear-vlan --link down --print-diff
  virt-netxml edit vm.xml --index 1 --remove -i
  virt-netxml network lan --mode bridge --bridge br0 -o lan.xml
  virt-netxml edit lan.xml --add-portgroup office,default --portgroup-vlan office=10 -i
"""
SECTIONS = [
    ("Selection", ["mac", "target", "index", "every"]),
    ("What to change", ["set_vlan", "clear_vlan", "set_bridge_vlan", "clear_bridge_vlan", "vlan_native",
                        "vlan_mode", "native_vlans", "source_network", "portgroup", "source_bridge",
                        "source_dev", "ovs", "model", "set_mac", "regenerate_mac", "mtu", "link",
                        "bandwidth", "remove", "add_forwards", "remove_forwards"]),
    ("Network portgroups", ["add_portgroups", "portgroup_vlans", "remove_portgroups"]),
    ("Output", ["in_place", "output", "print_diff", "libvirt_version"]),
]


@click.command(cls=OneLineCommand, epilog=EPILOG, sections=SECTIONS)
@click.argument("path", metavar="FILE", shell_complete=completion.files)
@click.option("--mac", metavar="MAC", help="Select the interface with this MAC (any spelling "
              "'mac --check' takes).")
@click.option("--target", metavar="DEV", help="Select the interface with this target device.")
@click.option("--index", metavar="N", help="Select the N-th interface, counted from 0.")
@click.option("--all", "every", is_flag=True, help="Select every interface of the domain.")
@click.option("--set-vlan", metavar="TAGS", help="Set libvirt's <vlan>: ID or ID,ID,A-B; ID:untagged "
              "marks the native VLAN.")
@click.option("--clear-vlan", is_flag=True, help="Remove libvirt's <vlan>.")
@click.option("--set-bridge-vlan", metavar="TAGS", help="Set the VLAN the hook applies on the port "
              "(metadata).")
@click.option("--clear-bridge-vlan", is_flag=True, help="Remove the hook-applied VLAN (metadata).")
@click.option("--vlan-native", metavar="ID[:tagged|untagged]", help="Native VLAN for the VLAN being set.")
@click.option("--vlan-mode", metavar="access|trunk|native-tagged|native-untagged",
              shell_complete=completion.values(VLAN_MODES), help="Mode for the VLAN being set.")
@click.option("--source-network", metavar="NAME", help="Connect to libvirt network NAME.")
@click.option("--portgroup", metavar="NAME", help="Portgroup of the network (with --source-network "
              "or on network interfaces).")
@click.option("--source-bridge", metavar="BR", help="Connect to host bridge BR.")
@click.option("--source-dev", metavar="DEV", help="Make it a macvtap (type direct) on host uplink DEV, "
              "or change a macvtap's uplink.")
@click.option("--ovs/--no-ovs", default=None, help="Make the bridge port an Open vSwitch port "
              "(<virtualport type='openvswitch'/>) or a Linux bridge port again.")
@click.option("--model", metavar="MODEL", help="Set the NIC model.")
@click.option("--set-mac", metavar="MAC", help="Give the selected interface this MAC (its metadata "
              "entry follows); not one another device of the domain has.")
@click.option("--regenerate-mac", is_flag=True, help="Give each selected interface a new random MAC "
              "(its metadata entry follows).")
@click.option("--mtu", metavar="N", help="MTU of the guest NIC (68 to 65535).")
@click.option("--link", metavar="up|down", shell_complete=completion.values(LINK_STATES),
              help="Link state the guest sees (<link state>).")
@click.option("--bandwidth", "bandwidth", multiple=True, metavar="in=AVG[,PEAK,BURST] out=AVG[,PEAK,BURST]",
              help="Rate limits in KiB/s (burst in KiB), one direction or both in one value; "
              "'none' removes them. Repeatable, once per direction.")
@click.option("--native-vlans", is_flag=True, help="Move the metadata VLANs of Linux bridge ports into "
              "libvirt's own <vlan>, which libvirt 11.0 and newer apply (needs such a target).")
@click.option("--remove", is_flag=True, help="Remove the selected interface(s) and their metadata entries.")
@click.option("--add-forward", "add_forwards", multiple=True, metavar="PROTO:[ADDR:]PORT[-END]:PORT[-END]",
              help="Metadata: forward a host port (range) to the guest, e.g. tcp:2222:22 (repeatable; "
              "interface on a NAT network).")
@click.option("--remove-forward", "remove_forwards", multiple=True, metavar="PROTO:[ADDR:]PORT:PORT",
              help="Metadata: drop a port forward, spelt as it was added (repeatable).")
@click.option("--add-portgroup", "add_portgroups", multiple=True, metavar="NAME[,default]",
              help="Add a portgroup (repeatable).")
@click.option("--portgroup-vlan", "portgroup_vlans", multiple=True, metavar="NAME=TAGS",
              help="Set a portgroup's VLAN (repeatable).")
@click.option("--remove-portgroup", "remove_portgroups", multiple=True, metavar="NAME",
              help="Remove a portgroup (repeatable).")
@click.option("-i", "--in-place", is_flag=True, help="Rewrite FILE atomically.")
@click.option("-o", "--output", metavar="FILE", shell_complete=completion.files,
              help="Write to FILE atomically instead of stdout.")
@click.option("--print-diff", is_flag=True, help="Print a unified diff of FILE instead of the document; "
              "with -i or -o, write and print the diff.")
@libvirt_version_option
@run_command
def edit(path: str, mac: str | None, target: str | None, index: str | None, every: bool,
         mtu: str | None, add_portgroups: tuple[str, ...], portgroup_vlans: tuple[str, ...],
         remove_portgroups: tuple[str, ...], in_place: bool, output: str | None, print_diff: bool,
         libvirt_version: str | None, **options: Any) -> None:
    """Edit the interfaces of a domain (or an <interface> file), or the portgroups of a network.

    On a domain with more than one interface, a change needs a selector or --all.
    """
    from xmltools import versions

    check_output_options(path, output, in_place, "FILE")
    libvirt = versions.resolve(libvirt_version).version
    iface_edits = InterfaceEdits(libvirt=libvirt, mtu=int_option(mtu, "MTU"), **options)
    net_edits = NetworkEdits(add_portgroups=add_portgroups, portgroup_vlans=portgroup_vlans,
                             remove_portgroups=remove_portgroups, vlan_native=options["vlan_native"],
                             vlan_mode=options["vlan_mode"], libvirt=libvirt)
    selectors = (mac, target, index)
    data = read_input(path, MAX_INPUT_BYTES)
    doc, style = load_document(data, source=path)
    notes = iface_edits.notes
    if isinstance(doc, Network):
        if iface_edits.any() or every or any(s is not None for s in selectors):
            raise UsageError(detail=f"{path} is a network: only --add-portgroup, --portgroup-vlan and "
                                    f"--remove-portgroup apply")
        if not net_edits.any():
            raise UsageError(detail="nothing to do: give a portgroup action")
        edit_network(doc, net_edits)
        notes = net_edits.notes
    else:
        if net_edits.any():
            raise UsageError(detail="--add-portgroup, --portgroup-vlan and --remove-portgroup apply to "
                                    "a network document")
        if not iface_edits.any():
            raise UsageError(detail="nothing to do: give an action such as --set-vlan or --model")
        if isinstance(doc, Domain):
            chosen = select_interfaces(doc, mac=mac, target=target, every=every, source=path,
                                       index=int_option(index, "interface index"))
            edit_interfaces(chosen, iface_edits, doc)
        else:
            if any(s is not None for s in selectors):
                raise UsageError(detail=f"{path} holds one <interface>: drop --mac/--target/--index")
            edit_interfaces([doc], iface_edits)
    for note in notes:
        click.echo(f"virt-netxml: note: {note}", err=True)
    text = document_text(doc, style)
    if print_diff:
        diff = unified_diff(data, text, path, doc)
        if in_place or output is not None:
            write_document(text, path, output, in_place)
        write_stdout(diff)
        return
    write_document(text, path, output, in_place)


def unified_diff(before: bytes, after: str | bytes, path: str, doc: Any) -> str:
    """``diff -u`` of the file as read and as it would be written (empty when they are equal)."""
    import difflib

    encoding = doc.node.getroottree().docinfo.encoding or "utf-8"
    old = before.decode(encoding, "replace")
    new = after.decode(encoding, "replace") if isinstance(after, bytes) else after
    name = "<stdin>" if path == "-" else path
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                 name, name)
    # as diff(1) says it: a last line without a newline is marked, not glued to the next one
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in lines)
