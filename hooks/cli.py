"""``virt-netxml hooks``: install, uninstall, status, repair and plan."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from xmltools.cli import completion
from xmltools.cli.main import WholeSummaries, run_command

ROOT_HELP = "Install under this folder instead of / (for images and tests)."
RELOAD_HELP = "Then SIGHUP the daemon(s) that run the hooks (libvirtd; or virtqemud and virtnetworkd)."


EPILOG = """\b
Examples:
  virt-netxml hooks install --reload
  virt-netxml hooks status
  virt-netxml hooks plan start --input vm.xml
  virt-netxml hooks repair --dry-run
"""


def _operations(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """The operations libvirt calls the hooks with, for the driver the other options say."""
    from hooks.protocol import OPERATIONS

    driver = "network" if ctx.params.get("network") else "qemu"
    names = [name for (owner, name) in OPERATIONS if owner == driver]
    return completion.values(names)(ctx, param, incomplete)


@click.group(cls=WholeSummaries, epilog=EPILOG)
def hooks() -> None:
    """Install and operate the libvirt hooks that apply the project's metadata."""


@hooks.command(epilog="""\b
Examples:
  virt-netxml hooks install --reload
  virt-netxml hooks install --root /srv/image
""")
@click.option("--root", default="/", show_default=True, type=click.Path(file_okay=False), help=ROOT_HELP)
@click.option("--reload", "reload_", is_flag=True, help=RELOAD_HELP)
@click.option("--watch", is_flag=True, help="Also install the 'hooks watch' systemd unit (NICs hot-plugged "
              "into running guests) and, when systemd runs this host, enable and start it.")
@run_command
def install(root: str, reload_: bool, watch: bool) -> None:
    """Write the hook programs into qemu.d/ and network.d/ (idempotent)."""
    from hooks.install import install as do_install
    from hooks.install import reload_daemons

    for change in do_install(root):
        click.echo(str(change))
    if watch:
        from hooks.watch_unit import install_unit

        for change in install_unit(root):
            click.echo(str(change))
    if reload_:
        click.echo(_reloaded(reload_daemons(root)))
    else:
        click.echo("note: libvirt notices new hooks only when it starts or reloads (use --reload)")


@hooks.command(epilog="""\b
Examples:
  virt-netxml hooks uninstall --reload
""")
@click.option("--root", default="/", show_default=True, type=click.Path(file_okay=False), help=ROOT_HELP)
@click.option("--reload", "reload_", is_flag=True, help=RELOAD_HELP)
@run_command
def uninstall(root: str, reload_: bool) -> None:
    """Remove the hook programs this tool wrote; other hooks stay."""
    from hooks.install import reload_daemons
    from hooks.install import uninstall as do_uninstall

    for change in do_uninstall(root):
        click.echo(str(change))
    from hooks.watch_unit import uninstall_unit

    for change in uninstall_unit(root):
        if str(change).startswith("removed"):
            click.echo(str(change))
    if reload_:
        click.echo(_reloaded(reload_daemons(root)))


def _reloaded(daemons: dict[str, int]) -> str:
    return "reloaded: " + ", ".join(f"{name} pid {pid}" for name, pid in daemons.items())


@hooks.command(epilog="""\b
Examples:
  virt-netxml hooks status
  virt-netxml hooks status --json
""")
@click.option("--root", default="/", show_default=True, type=click.Path(file_okay=False), help=ROOT_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print everything as one JSON object.")
@run_command
def status(root: str, as_json: bool) -> None:
    """Where the hooks are installed, which libvirt runs, and what the state records hold."""
    from hooks.config import load_config, state_dir
    from hooks.install import daemon_versions, find_libvirtd, hook_path, installed, libvirt_version
    from hooks.state import StateStore
    from hooks.watch_unit import unit_status

    store = StateStore(state_dir(load_config()))
    daemons = daemon_versions(root)
    installed_libvirt = libvirt_version(root)
    info: dict[str, Any] = {
        "hooks": {d: {"path": hook_path(root, d), "state": s} for d, s in installed(root).items()},
        "libvirtd": {"version": installed_libvirt, "pid": find_libvirtd(root)},
        "daemons": daemons,
        "libvirt": {"installed": installed_libvirt},
        "state_dir": store.root,
        "state": store.snapshot(),
        "watch": unit_status(root),
    }
    from hooks.adapters.ovn import status as ovn_status
    from hooks.config import ovs_db

    info["ovn"] = ovn_status(ovs_db=ovs_db(load_config()), timeout=2.0)   # None without ovn.conf
    if as_json:
        click.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    for driver, entry in info["hooks"].items():
        click.echo(f"hook {driver}: {entry['state']} ({entry['path']})")
    for name, entry in daemons.items():
        runs = "qemu and network hooks" if name == "libvirtd" else (
            "qemu hooks" if name == "virtqemud" else "network hooks")
        click.echo(f"{name}: libvirt {entry['version'] or 'unknown version'}, running as pid "
                   f"{entry['pid']} (runs the {runs})")
        if entry["version"] and installed_libvirt and entry["version"] != installed_libvirt:
            click.echo(f"  note: libvirt {installed_libvirt} is installed; restart {name} to run it")
    if not daemons:
        click.echo(f"libvirt: {installed_libvirt or 'not found'} installed; no libvirt daemon "
                   "(libvirtd, or virtqemud and virtnetworkd) running")
    watch = info["watch"]
    pids = ", ".join(str(p) for p in watch["pids"])
    running = f"running as pid {pids}" if pids else "not running (hot-plugged NICs wait for a reconnect)"
    click.echo(f"watch: unit {watch['state']} ({watch['unit']}); {running}")
    if info["ovn"] is not None:
        from hooks.adapters.ovn import status_lines

        for line in status_lines(info["ovn"]):
            click.echo(line)
    click.echo(f"state: {store.root}")
    for line in _state_lines(info["state"]):
        click.echo("  " + line)


def _state_lines(snapshot: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    from hooks.state_records import DomainState, NetworkState

    lines = []
    for name, data in snapshot["domains"].items():
        rec = DomainState(data)
        for addr, drv in sorted(rec.drivers.items()):
            lines.append(f"domain {name}: {addr} bound to vfio-pci (was {drv.get('driver') or 'unbound'})")
        for tap, made in sorted(rec.taps.items()):
            how = "taken (free, existing)" if isinstance(made, dict) and made.get("adopted") else "created"
            lines.append(f"domain {name}: TAP {tap} {how} by the hook")
        for key, vf in sorted(rec.vfs.items()):
            lines.append(f"domain {name}: VF {key} set (was mac {vf.get('mac')}, vlan {vf.get('vlan')})")
        for mac, wish in sorted(rec.port_wishes.items()):
            lines.append(f"domain {name}: port {mac} VLAN from portgroup {wish.get('portgroup')}")
        for mac, entry in sorted(rec.hotplug.items()):
            dev = entry.get("dev") if isinstance(entry, dict) else None
            lines.append(f"domain {name}: interface {mac} ({dev}) applied by hooks watch")
        for entry in rec.forwards.values():
            if isinstance(entry, dict):
                from hooks.actions.forward import ForwardRules
                from xmltools.errors import NetXmlError

                try:
                    rules = ForwardRules.from_record(entry)
                except (KeyError, TypeError, ValueError, NetXmlError):
                    lines.append(f"domain {name}: port forwards (unreadable record entry)")
                    continue
                lines.append(f"domain {name}: port forwards on {rules.bridge} "
                             f"(network {rules.network or '-'}): {rules.describe_forwards()}")
        for port, entry in sorted(rec.ovn_ports.items()):
            if isinstance(entry, dict):
                how = "created" if entry.get("created") else "set"
                arriving = ", arriving from another chassis" if entry.get("arriving") else ""
                lines.append(f"domain {name}: OVN port {port} ({entry.get('mac')}) on switch "
                             f"{entry.get('switch')} {how} by the hook{arriving}")
        starting = rec.starting
        if starting is not None:
            lines.append(f"domain {name}: prepared by libvirt daemon pid {starting.get('pid')}, "
                         f"until its QEMU runs hooks repair leaves it alone")
    for device, claim in snapshot["claims"].items():
        lines.append(f"claim: {claim.get('what', 'device')} {device.split('-', 1)[-1]} "
                     f"held by domain {claim.get('owner')}")
    for name, data in snapshot["networks"].items():
        net = NetworkState(data)
        for shim, made in sorted(net.shims.items()):
            lines.append(f"network {name}: shim {shim} on {made.get('uplink')} ({made.get('address')})")
        if net.pool:
            lines.append(f"network {name}: VF pool of {net.pool_pf} (domains reserve at prepare)")
        for pf, before in sorted(net.numvfs.items()):
            lines.append(f"network {name}: sriov_numvfs of {pf} changed (was {before})")
    return lines or ["nothing recorded"]


@hooks.command(epilog="""\b
Examples:
  virt-netxml hooks repair --dry-run
  virt-netxml hooks repair --object vm1
""")
@click.option("--object", "only", metavar="NAME", help="Repair this domain or network even if it runs.")
@click.option("--dry-run", is_flag=True, help="Print what would be undone; change nothing.")
@run_command
def repair(only: str | None, dry_run: bool) -> None:
    """Undo what the state records hold for domains and networks that are not running."""
    from hooks.actions import render_plan
    from hooks.config import load_config, state_dir
    from hooks.install import active_networks, libvirt_daemon_alive, running_domains
    from hooks.repair import plan_repairs, run_repairs, starting_domains
    from hooks.state import StateStore

    store = StateStore(state_dir(load_config()))
    store.check()   # repair undoes what the records say: they must be root's alone
    running = running_domains()
    starting = {} if only else starting_domains(store, time.time(), libvirt_daemon_alive)
    for name, reason in sorted(starting.items()):
        if name not in running:
            click.echo(f"domain {name}: left alone: {reason}")
    repairs = plan_repairs(store, running | set(starting), active_networks(), only)
    if not repairs:
        click.echo("nothing to repair")
        return
    if dry_run:
        for rep in repairs:
            click.echo(f"{rep.owner}:")
            click.echo(render_plan(rep.plan).rstrip("\n"))
        return
    failed = 0
    for rep in run_repairs(store, repairs):
        assert rep.result is not None
        click.echo(f"{rep.owner}: {rep.result.summary()}")
        for problem in rep.result.skipped:
            click.echo(f"  failed: {problem}", err=True)
        failed += not rep.result.ok
    if failed:
        sys.exit(1)


@hooks.command(epilog="""\b
Examples:
  virt-netxml hooks watch
  virt-netxml hooks watch --connect qemu:///system
  virt-netxml hooks install --watch       (as a systemd service)
""")
@click.option("--connect", "uri", default="qemu:///system", show_default=True, metavar="URI",
              help="The libvirt daemon whose guests to follow.")
@run_command
def watch(uri: str) -> None:
    """Apply the metadata to NICs hot-plugged into running guests (a service; runs until stopped).

    libvirt runs no hook for a hot-plug: this follows libvirt's device events, applies a new
    interface's VLANs and OVS settings as the start hook would, releases its record when it is
    unplugged, reconnects when libvirtd restarts and catches up on what it missed.
    """
    from hooks.watch import main as watch_main

    sys.exit(watch_main(uri))


@hooks.command(epilog="""\b
Examples:
  virsh dumpxml vm1 | virt-netxml hooks plan start
  virt-netxml hooks plan prepare --input vm.xml --libvirt-version 9.0
  virt-netxml hooks plan port-created --network --input hookdata.xml
""")
@click.argument("operation", shell_complete=_operations)
@click.option("--object", "name", metavar="NAME", help="Domain or network name (default: from the XML).")
@click.option("--network", is_flag=True, help="The input is a network hook's <hookData> (or a <network>).")
@click.option("--ovs-bridge", multiple=True, metavar="BRIDGE",
              help="Treat BRIDGE as an Open vSwitch bridge without asking the host.")
@click.option("--input", "path", default="-", show_default=True, shell_complete=completion.files,
              help="XML file to read.")
@click.option("--libvirt-version", "libvirt", metavar="X.Y[.Z]", default=None,
              help="Plan as beside this libvirt (default: the running daemon's, else the installed one).")
@run_command
def plan(operation: str, name: str | None, network: bool, ovs_bridge: tuple[str, ...], path: str,
         libvirt: str | None) -> None:
    """Print the actions the hook would take for OPERATION on the XML; changes nothing."""
    from hooks.actions import render_plan
    from hooks.config import load_config, mapping_path, read_trusted, state_dir
    from hooks.planner import PlanFacts, owner_of
    from hooks.planner import plan as make_plan
    from hooks.protocol import lookup
    from hooks.state import StateStore
    from hooks.transform import parse_mapping
    from xmltools.errors import UsageError
    from xmltools.xmlparse import parse_file

    driver = "network" if network else "qemu"
    op = lookup(driver, operation)
    if op is None:
        raise UsageError(detail=f"unknown {driver} operation {operation!r}")
    root = parse_file(path).getroot()
    xml_name, _ = owner_of(op, root)
    name = name or xml_name
    store = StateStore(state_dir(load_config()))
    record = store.read("domains" if driver == "qemu" else "networks", name)
    mapping = None
    if op.filters_xml:   # the same trust rules as the hook: never a FIFO, a link or another's file
        text = read_trusted(mapping_path(), "mapping file", 1024 * 1024,
                            folder_what="configuration directory")
        mapping = parse_mapping(text, mapping_path()) if text is not None else None
    from xmltools.versions import parse as parse_version

    version = parse_version(libvirt) if libvirt is not None else None
    actions = make_plan(op, root, PlanFacts(frozenset(ovs_bridge), store, version), record, mapping)
    click.echo(render_plan(actions), nl=False)
