"""``virt-netxml attach`` and ``virt-netxml detach``: a NIC into (out of) a defined or running
domain through libvirt, its metadata entry included.

``attach`` builds the interface exactly as ``virt-netxml interface`` does (every check in
:mod:`xmltools.build_interface`), writes its ``<vnx:interface mac=…>`` entry into the domain with
libvirt's metadata API (``virDomainSetMetadata``: the project's namespace and prefix, merged with
the entries of the domain's other NICs) and then attaches the device (``attachDeviceFlags``).
The entry goes first: libvirt runs no hook for a hot-plug, and ``virt-netxml hooks watch`` reads
the live XML when libvirt announces the new device, so the wish must already be there. When the
attach fails, the entry is put back as it was. ``detach`` removes the device, then its entry.

``--live`` (the running guest), ``--config`` (its persistent definition), neither: whichever the
domain has now, as ``virsh attach-device`` does. libvirt-python is imported only here, when one
of these commands runs.
"""

from __future__ import annotations

from typing import Any

import click

from xmltools.build_interface import InterfaceSpec, build_interface, build_metadata
from xmltools.cli.interface_cmd import SECTIONS as INTERFACE_SECTIONS
from xmltools.cli.interface_cmd import interface as interface_command
from xmltools.cli.libvirt_conn import LibvirtFailed, _connection, _detail
from xmltools.cli.main import run_command
from xmltools.cli.options import OneLineCommand, int_option
from xmltools.errors import InvalidValue, UsageError
from xmltools.mac import normalize_mac
from xmltools.metadata import NS, PREFIX

# The interface command's options that write files: attach talks to libvirt instead.
_FILE_OPTIONS = ("domain_path", "in_place", "output", "libvirt_version")

ATTACH_EPILOG = """\b
Examples:
  virt-netxml attach vm1 --type network --source ovsnet --model virtio --bridge-vlan 10 \\
      --connect qemu:///system --live --config
  virt-netxml attach vm1 --type bridge --source br0 --mac 52:54:00:12:34:56 --connect qemu:///system
  virt-netxml detach vm1 --mac 52:54:00:12:34:56 --connect qemu:///system --live --config

\b
A running guest gets the --bridge-vlan and --ovs-setting wishes at once when 'virt-netxml hooks
watch' runs (libvirt runs no hook for a hot-plug); otherwise at its next start or reconnect.
"""

DETACH_EPILOG = """\b
Examples:
  virt-netxml detach vm1 --mac 52:54:00:12:34:56 --connect qemu:///system
  virt-netxml detach vm1 --mac 52:54:00:12:34:56 --connect qemu:///system --live --config
"""


def _flags(libvirt: Any, dom: Any, live: bool, config: bool) -> list[int]:
    """The libvirt flags to act with, one per definition (live, persistent) to change."""
    if not live and not config:
        live, config = bool(dom.isActive()), not dom.isActive()
    if live and not dom.isActive():
        raise UsageError(detail=f"domain {dom.name()} is not running: --live needs a running guest")
    if config and not dom.isPersistent():
        raise UsageError(detail=f"domain {dom.name()} is transient: --config needs a defined domain")
    return ([libvirt.VIR_DOMAIN_AFFECT_LIVE] if live else []) + (
        [libvirt.VIR_DOMAIN_AFFECT_CONFIG] if config else [])


def _xml(libvirt: Any, dom: Any, flag: int) -> str:
    inactive = flag == libvirt.VIR_DOMAIN_AFFECT_CONFIG
    return str(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0))


def _where(libvirt: Any, flag: int) -> str:
    return "config" if flag == libvirt.VIR_DOMAIN_AFFECT_CONFIG else "live"


def _lookup(libvirt: Any, conn: Any, uri: str, name: str) -> Any:
    try:
        return conn.lookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            raise InvalidValue(what="domain", value=name, reason=f"no such domain at {uri}") from None
        raise LibvirtFailed(uri=uri, action=f"cannot look up domain {name}", detail=_detail(exc)) from None


def read_metadata(libvirt: Any, dom: Any, flag: int) -> str | None:
    """The domain's ``<vnx:netxml>`` as libvirt returns it (without the prefix), or None."""
    try:
        return str(dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, NS, flag))
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN_METADATA:
            return None
        raise


def merged_metadata(current: str | None, mac: str, entry: Any | None) -> str | None:
    """``current`` (libvirt's text of the element, or None) with the entry for ``mac`` replaced
    by ``entry`` (a ``MetaInterface``; None removes it). None when nothing is left.

    libvirt hands the element back without its namespace and puts the one it is given into the
    project's namespace (``setMetadata`` with its prefix and URI), so the entries are compared
    and written by local name.
    """
    from lxml import etree

    from xmltools.xmlparse import parse_bytes, to_string

    root = (parse_bytes(current.encode(), source="the domain's metadata").getroot() if current
            else etree.Element("netxml"))
    for node in root.iter():
        if isinstance(node.tag, str):
            node.tag = etree.QName(node).localname
    etree.cleanup_namespaces(root)
    for old in root.findall("interface"):
        if (old.get("mac") or "").lower() == mac:
            root.remove(old)
    if entry is not None:
        new = etree.fromstring(etree.tostring(entry.node))
        for node in new.iter():
            if isinstance(node.tag, str):
                node.tag = etree.QName(node).localname
        etree.cleanup_namespaces(new)
        root.append(new)
    if len(root) == 0:
        return None
    return to_string(root)


def write_metadata(libvirt: Any, dom: Any, text: str | None, flag: int) -> None:
    # None removes the element (libvirt: metadata NULL).
    dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, text, PREFIX if text else None, NS, flag)


def attach_interface(libvirt: Any, dom: Any, spec: InterfaceSpec, flags: list[int],
                     version: tuple[int, int, int]) -> str:
    """Build, write the metadata entry, attach; on a failed attach put the entry back.
    Returns the interface's MAC."""
    from xmltools.domain import Domain

    if libvirt.VIR_DOMAIN_AFFECT_LIVE in flags and (spec.tap_bridge is not None or spec.vf_pf is not None):
        option = "--tap-bridge" if spec.tap_bridge is not None else "--vf-pf"
        # Both are made ready at the guest's prepare (TAP created, VF bound to vfio-pci), which a
        # running guest has had already; nothing does it for a device attached later.
        raise UsageError(detail=f"{option} is prepared when the guest starts; a running guest cannot "
                                "get it: attach with --config (it applies at the next start)")
    docs = [Domain.from_xml(_xml(libvirt, dom, flag), source=f"domain {dom.name()}") for flag in flags]
    used = set().union(*(d.used_macs() for d in docs))
    first = docs[0]
    spec.libvirt = version
    iface = build_interface(spec, used_macs=used, seed_text=first.seed, index=len(first.interfaces),
                            for_domain=True)
    assert iface.mac is not None
    mac = iface.mac.lower()
    entry = build_metadata(spec, mac)
    device = iface.to_xml()
    for flag in flags:
        before = read_metadata(libvirt, dom, flag) if entry is not None else None
        if entry is not None:
            write_metadata(libvirt, dom, merged_metadata(before, mac, entry), flag)
        try:
            dom.attachDeviceFlags(device, flag)
        except libvirt.libvirtError:
            if entry is not None:
                # Put the entries back as they were: no wish may outlive a NIC that never came.
                write_metadata(libvirt, dom, before, flag)
            raise
    return mac


def _element_text(node: Any) -> str:
    from lxml import etree

    return etree.tostring(node, encoding="unicode")


def detach_interface(libvirt: Any, dom: Any, mac: str, flags: list[int]) -> None:
    """Detach the interface with ``mac`` from each definition, then drop its metadata entry."""
    from xmltools.domain import Domain

    plan = []
    for flag in flags:
        doc = Domain.from_xml(_xml(libvirt, dom, flag), source=f"domain {dom.name()}")
        found = [i for i in doc.interfaces if (i.mac or "").lower() == mac]
        if not found:
            raise InvalidValue(what="MAC address", value=mac,
                               reason=f"no interface of domain {dom.name()} ({_where(libvirt, flag)}) has it")
        plan.append((flag, _element_text(found[0].node)))
    for flag, device in plan:
        dom.detachDeviceFlags(device, flag)
        before = read_metadata(libvirt, dom, flag)
        after = merged_metadata(before, mac, None) if before is not None else None
        if before is not None and after != before:
            write_metadata(libvirt, dom, after, flag)


def _interface_params() -> list[click.Parameter]:
    """The interface command's options (copies: their help speaks of the domain, not a file)."""
    import copy

    params = []
    for param in interface_command.params:
        if param.name in _FILE_OPTIONS:
            continue
        param = copy.copy(param)
        if isinstance(param, click.Option) and param.help:
            param.help = (param.help.replace(" Needs --domain.", "")
                          .replace("auto with --domain, else none (libvirt assigns one)", "auto")
                          .replace("default with --domain: the domain's UUID", "default: the domain's UUID"))
        params.append(param)
    return params


def _libvirt_params() -> list[click.Parameter]:
    return [
        click.Option(["--connect", "uri"], required=True, metavar="URI",
                     help="libvirt URI of the host (qemu:///system)."),
        click.Option(["--live"], is_flag=True, help="Change the running guest."),
        click.Option(["--config"], is_flag=True, help="Change the domain's persistent definition "
                     "(default: whichever of the two the domain has now)."),
    ]


@run_command
def _attach(domain: str, uri: str, live: bool, config: bool, type_: str, mtu: str | None, boot: str | None,
            queues: str | None, vf_index: str | None, filter_: str | None, ovs_settings: tuple[str, ...],
            **options: Any) -> None:
    from xmltools import versions

    spec = InterfaceSpec(type=type_, mtu=int_option(mtu, "MTU"), boot=int_option(boot, "boot order"),
                         queues=int_option(queues, "queues"), vf_index=int_option(vf_index, "VF index"),
                         filter=filter_, ovs_settings=tuple(ovs_settings), libvirt=versions.BASELINE,
                         **options)
    with _connection(uri, "attach") as (libvirt, conn):
        dom = _lookup(libvirt, conn, uri, domain)
        try:
            flags = _flags(libvirt, dom, live, config)
            version = versions.from_number(int(conn.getLibVersion()))
            mac = attach_interface(libvirt, dom, spec, flags, version)
        except libvirt.libvirtError as exc:
            raise LibvirtFailed(uri=uri, action=f"cannot attach the interface to domain {domain}",
                                detail=_detail(exc)) from None
    where = ", ".join(_where(libvirt, f) for f in flags)
    click.echo(f"attached interface {mac} to domain {domain} ({where})")


@run_command
def _detach(domain: str, mac: str, uri: str, live: bool, config: bool) -> None:
    mac = normalize_mac(mac)
    with _connection(uri, "detach") as (libvirt, conn):
        dom = _lookup(libvirt, conn, uri, domain)
        try:
            flags = _flags(libvirt, dom, live, config)
            detach_interface(libvirt, dom, mac, flags)
        except libvirt.libvirtError as exc:
            raise LibvirtFailed(uri=uri, action=f"cannot detach interface {mac} from domain {domain}",
                                detail=_detail(exc)) from None
    where = ", ".join(_where(libvirt, f) for f in flags)
    click.echo(f"detached interface {mac} from domain {domain} ({where})")


attach = OneLineCommand(
    "attach", callback=_attach, epilog=ATTACH_EPILOG,
    params=[click.Argument(["domain"]), *_libvirt_params(), *_interface_params()],
    sections=[("libvirt", ["uri", "live", "config"]),
              *[(t.replace(", needs --domain", ""), n) for t, n in INTERFACE_SECTIONS if t != "Output"]],
    help="Build an <interface> and attach it to DOMAIN through libvirt, its metadata entry "
         "written into the domain first (as 'virt-netxml interface' builds it).",
)

detach = OneLineCommand(
    "detach", callback=_detach, epilog=DETACH_EPILOG,
    params=[click.Argument(["domain"]),
            click.Option(["--mac"], required=True, metavar="MAC", help="MAC address of the interface."),
            *_libvirt_params()],
    sections=[("Interface", ["mac"]), ("libvirt", ["uri", "live", "config"])],
    help="Detach the interface with --mac from DOMAIN through libvirt, and its metadata entry.",
)
