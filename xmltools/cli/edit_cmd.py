"""``virt-netxml edit FILE ...``: change interfaces of a domain, or portgroups of a network.

The kind of document comes from its root element: ``<domain>`` (interfaces selected by MAC,
target or index), ``<interface>`` (a standalone NIC file) or ``<network>`` (portgroups).
Everything is applied in memory and checked before one atomic write, so bad input leaves the
file as it was.
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
)
from xmltools.errors import UsageError
from xmltools.fileio import read_input
from xmltools.network import Network
from xmltools.rules import VLAN_MODES
from xmltools.xmlparse import MAX_INPUT_BYTES


@click.command(cls=OneLineCommand)
@click.argument("path", metavar="FILE", shell_complete=completion.files)
@click.option("--mac", metavar="MAC", help="Select the interface with this MAC.")
@click.option("--target", metavar="DEV", help="Select the interface with this target device.")
@click.option("--index", metavar="N", help="Select the N-th interface, counted from 0.")
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
@click.option("--ovs/--no-ovs", default=None, help="Make the bridge port an Open vSwitch port "
              "(<virtualport type='openvswitch'/>) or a Linux bridge port again.")
@click.option("--model", metavar="MODEL", help="Set the NIC model.")
@click.option("--regenerate-mac", is_flag=True, help="Give each selected interface a new random MAC "
              "(its metadata entry follows).")
@click.option("--native-vlans", is_flag=True, help="Move the metadata VLANs of Linux bridge ports into "
              "libvirt's own <vlan>, which libvirt 11.0 and newer apply (needs such a target).")
@click.option("--add-portgroup", "add_portgroups", multiple=True, metavar="NAME[,default]",
              help="Network: add a portgroup (repeatable).")
@click.option("--portgroup-vlan", "portgroup_vlans", multiple=True, metavar="NAME=TAGS",
              help="Network: set a portgroup's VLAN (repeatable).")
@click.option("--remove-portgroup", "remove_portgroups", multiple=True, metavar="NAME",
              help="Network: remove a portgroup (repeatable).")
@click.option("-i", "--in-place", is_flag=True, help="Rewrite FILE atomically.")
@click.option("-o", "--output", metavar="FILE", shell_complete=completion.files,
              help="Write to FILE atomically instead of stdout.")
@libvirt_version_option
@run_command
def edit(path: str, mac: str | None, target: str | None, index: str | None,
         add_portgroups: tuple[str, ...], portgroup_vlans: tuple[str, ...],
         remove_portgroups: tuple[str, ...], in_place: bool, output: str | None,
         libvirt_version: str | None, **options: Any) -> None:
    """Edit the interfaces of a domain (or an <interface> file), or the portgroups of a network."""
    from xmltools import versions

    check_output_options(path, output, in_place, "FILE")
    libvirt = versions.resolve(libvirt_version).version
    iface_edits = InterfaceEdits(libvirt=libvirt, **options)
    net_edits = NetworkEdits(add_portgroups=add_portgroups, portgroup_vlans=portgroup_vlans,
                             remove_portgroups=remove_portgroups, vlan_native=options["vlan_native"],
                             vlan_mode=options["vlan_mode"], libvirt=libvirt)
    selectors = (mac, target, index)
    doc, style = load_document(read_input(path, MAX_INPUT_BYTES), source=path)
    if isinstance(doc, Network):
        if iface_edits.any() or any(s is not None for s in selectors):
            raise UsageError(detail=f"{path} is a network: only --add-portgroup, --portgroup-vlan and "
                                    f"--remove-portgroup apply")
        if not net_edits.any():
            raise UsageError(detail="nothing to do: give a portgroup action")
        edit_network(doc, net_edits)
        for note in net_edits.notes:
            click.echo(f"virt-netxml: note: {note}", err=True)
    else:
        if net_edits.any():
            raise UsageError(detail="--add-portgroup, --portgroup-vlan and --remove-portgroup apply to "
                                    "a network document")
        if not iface_edits.any():
            raise UsageError(detail="nothing to do: give an action such as --set-vlan or --model")
        if isinstance(doc, Domain):
            chosen = doc.select(mac=mac, target=target, index=int_option(index, "interface index"))
            if not chosen:
                raise UsageError(detail=f"{path}: the domain has no interface to edit")
            edit_interfaces(chosen, iface_edits, doc)
        else:
            if any(s is not None for s in selectors):
                raise UsageError(detail=f"{path} holds one <interface>: drop --mac/--target/--index")
            edit_interfaces([doc], iface_edits)
    write_document(document_text(doc, style), path, output, in_place)
