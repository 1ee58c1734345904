"""The project's only door to libvirtd: MACs in use, and defining networks and domains.

``libvirt`` (libvirt-python) is imported inside the functions, so commands that never touch a
host neither need it installed nor pay for importing it. Every libvirt failure becomes one
project error naming the URI and what was being done; libvirt's own habit of printing each
error to stderr is switched off so the user sees that one line only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import ModuleType
from typing import Any

from xmltools.errors import NetXmlError
from xmltools.mac import macs_in_documents
from xmltools.versions import from_number
from xmltools.xmlparse import parse_bytes


class LibvirtMissing(NetXmlError):
    template = ("libvirt-python is not installed; {needed} needs it "
                "(pip install 'virt-netxml[libvirt]', which builds against libvirt-dev and pkg-config)")


class LibvirtFailed(NetXmlError):
    template = "{uri}: {action}: {detail}"


def _libvirt(needed: str) -> ModuleType:
    try:
        import libvirt
    except ImportError:
        raise LibvirtMissing(needed=needed) from None
    # Without a handler libvirt prints every error on stderr as well as raising it.
    libvirt.registerErrorHandler(_ignore_error, None)
    return libvirt


def _ignore_error(_context: Any, _error: Any) -> None:
    return None


@contextmanager
def _connection(uri: str, needed: str, readonly: bool = False) -> Iterator[tuple[ModuleType, Any]]:
    libvirt = _libvirt(needed)
    try:
        conn = libvirt.openReadOnly(uri) if readonly else libvirt.open(uri)
    except libvirt.libvirtError as exc:
        raise LibvirtFailed(uri=uri, action="cannot connect", detail=_detail(exc)) from None
    try:
        yield libvirt, conn
    finally:
        # closing a broken connection reports an error that changes nothing
        with suppress(libvirt.libvirtError):
            conn.close()


def _detail(exc: Any) -> str:
    message = exc.get_error_message() or str(exc) or "unknown libvirt error"
    return str(message).splitlines()[0]


def daemon_version(uri: str) -> tuple[int, int, int]:
    """The libvirt version of the daemon at ``uri`` (a read-only connection)."""
    with _connection(uri, "finding the daemon's libvirt version", readonly=True) as (libvirt, conn):
        try:
            return from_number(int(conn.getLibVersion()))
        except libvirt.libvirtError as exc:
            raise LibvirtFailed(uri=uri, action="cannot read the libvirt version",
                                detail=_detail(exc)) from None


def macs_in_use(uri: str) -> set[str]:
    """Every MAC address used on the host at ``uri``: all domains and all networks.

    Domains and networks are read whether running or not; for running persistent ones both
    the live and the next-boot definitions are read, since a NIC may be in only one of them.
    An object that disappears while the list is read is skipped. Needs read-only access only.
    """
    documents = []
    with _connection(uri, "--connect", readonly=True) as (libvirt, conn):
        try:
            domains = conn.listAllDomains(0)
            networks = conn.listAllNetworks(0)
        except libvirt.libvirtError as exc:
            raise LibvirtFailed(uri=uri, action="cannot list domains and networks",
                                detail=_detail(exc)) from None
        for kind, objects, inactive_flag in (
            ("domain", domains, libvirt.VIR_DOMAIN_XML_INACTIVE),
            ("network", networks, libvirt.VIR_NETWORK_XML_INACTIVE),
        ):
            for obj in objects:
                for text in _descriptions(libvirt, obj, inactive_flag, uri, kind):
                    documents.append(parse_bytes(text, source=f"{uri} {kind} {obj.name()}"))
    return macs_in_documents(documents)


def _descriptions(libvirt: ModuleType, obj: Any, inactive_flag: int, uri: str, kind: str) -> list[str]:
    """Live and (for running persistent objects) next-boot XML of one domain or network."""
    gone = (libvirt.VIR_ERR_NO_DOMAIN, libvirt.VIR_ERR_NO_NETWORK)
    try:
        texts = [obj.XMLDesc(0)]
        if obj.isActive() and obj.isPersistent():
            inactive = _inactive_xml(libvirt, obj, inactive_flag)
            if inactive is not None:
                texts.append(inactive)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in gone:
            return []  # removed between listing and reading: it uses no MAC any more
        raise LibvirtFailed(uri=uri, action=f"cannot read {kind} {obj.name()}",
                            detail=_detail(exc)) from None
    return texts


def _inactive_xml(libvirt: ModuleType, obj: Any, inactive_flag: int) -> str | None:
    """The next-boot definition, or None where the driver cannot tell it apart from the live one.

    (The test driver refuses the flag for networks with "unsupported flags".)
    """
    try:
        return str(obj.XMLDesc(inactive_flag))
    except libvirt.libvirtError as exc:
        if exc.get_error_code() in (libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT):
            return None
        raise


def define_network(uri: str, xml: str, start: bool, autostart: bool) -> str:
    """Define a network (like ``virsh net-define``), optionally start it and mark it autostart.

    All or nothing: when starting or setting autostart fails, what this call did is undone —
    a network it created is stopped and undefined; a network that already existed gets its
    previous definition back. A network that is already running keeps running (its new
    definition applies at its next start). Returns the network's name.
    """
    with _connection(uri, "--define") as (libvirt, conn):
        name = _network_name(xml, uri)
        previous_xml = None
        try:
            existing = conn.networkLookupByName(name) if name else None
            if existing is not None:
                previous_xml = (_inactive_xml(libvirt, existing, libvirt.VIR_NETWORK_XML_INACTIVE)
                                or existing.XMLDesc(0))
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_NETWORK:
                raise LibvirtFailed(uri=uri, action=f"cannot look up network {name}",
                                    detail=_detail(exc)) from None
        try:
            network = conn.networkDefineXML(xml)
        except libvirt.libvirtError as exc:
            raise LibvirtFailed(uri=uri, action="cannot define network", detail=_detail(exc)) from None
        name = network.name()
        started_here = False
        action = "cannot start network"
        try:
            if start and not network.isActive():
                network.create()
                started_here = True
            if autostart:
                action = "cannot set autostart on network"
                network.setAutostart(1)
        except libvirt.libvirtError as exc:
            undone = _roll_back_network(libvirt, conn, network, previous_xml, started_here)
            raise LibvirtFailed(uri=uri, action=f"{action} {name} ({undone})",
                                detail=_detail(exc)) from None
        return str(name)


def _network_name(xml: str, uri: str) -> str | None:
    """The ``<name>`` of a network document, to tell a new network from a redefinition."""
    root = parse_bytes(xml, source=f"network for {uri}").getroot()
    return root.findtext("name")


def _roll_back_network(libvirt: ModuleType, conn: Any, network: Any, previous_xml: str | None,
                       started_here: bool) -> str:
    """Undo define (and start); say what happened, for the error message being raised."""
    try:
        if started_here:
            network.destroy()
        if previous_xml is None:
            network.undefine()
            return "definition removed again"
        conn.networkDefineXML(previous_xml)
        return "previous definition restored"
    except libvirt.libvirtError as exc:
        return f"undoing the definition failed too: {_detail(exc)}"


def define_domain(uri: str, xml: str) -> str:
    """Define (or redefine) a persistent domain, like ``virsh define``; return its name."""
    with _connection(uri, "--define") as (libvirt, conn):
        try:
            domain = conn.defineXML(xml)
        except libvirt.libvirtError as exc:
            raise LibvirtFailed(uri=uri, action="cannot define domain", detail=_detail(exc)) from None
        return str(domain.name())
