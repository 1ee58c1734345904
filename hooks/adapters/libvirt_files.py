"""libvirt's own files about a network, read the way the hooks read every file root acts on.

A hook must never call libvirt, so what a domain's hook needs to know about a network (the
static DHCP hosts that give a guest its address, the network's subnet) comes from the files
libvirt keeps: the live status of a running network (``/run/libvirt/network/NAME.xml``, a
``<networkstatus>`` around the ``<network>``; libvirt 9.0 and 11.x alike, ``/var/lib/libvirt/
network`` on much older releases) or else its definition (``/etc/libvirt/qemu/networks/
NAME.xml``). Each is opened only if root alone could have chosen it (``hooks.config.
open_trusted``: every folder on the way root's, no link root does not own), capped in size and
parsed with the one secure parser.
"""

from __future__ import annotations

from hooks.config import read_trusted
from xmltools.errors import InputError, InvalidValue

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from lxml import etree

NETWORK_DIRS = ("/run/libvirt/network", "/var/lib/libvirt/network", "/etc/libvirt/qemu/networks")
MAX_FILE = 1024 * 1024


def network_file_name(name: str) -> str:
    """The file name of network ``name`` (refused if it could name another file)."""
    if not name or "/" in name or "\0" in name or name.startswith("."):
        raise InvalidValue(what="network name", value=name, reason="not a libvirt network name")
    return name + ".xml"


def network_xml(name: str, dirs: tuple[str, ...] = NETWORK_DIRS) -> etree._Element | None:
    """The ``<network>`` libvirt keeps for ``name``: the running network's status first, else its
    definition; None when libvirt has neither."""
    from xmltools.xmlparse import parse_bytes

    file = network_file_name(name)
    for folder in dirs:
        path = f"{folder}/{file}"
        text = read_trusted(path, "libvirt network file", MAX_FILE + 1)
        if text is None:
            continue
        if len(text) > MAX_FILE:
            raise InputError(source=path, detail=f"larger than {MAX_FILE} bytes")
        root = parse_bytes(text.encode("utf-8"), source=path).getroot()
        net = root if root.tag == "network" else root.find("network")
        if net is not None:
            return net
    return None


class LibvirtFiles:
    """The port a hook call reads libvirt's files through (``Context.libvirt_files``)."""

    def __init__(self, dirs: tuple[str, ...] = NETWORK_DIRS) -> None:
        self.dirs = dirs

    def network_xml(self, name: str) -> etree._Element | None:
        return network_xml(name, self.dirs)
