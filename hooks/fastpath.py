"""Decide, from argv and a few byte searches, whether a hook call can have any work at all.

A hook runs about a dozen times per guest start and stop, and most calls have nothing to do.
This module answers "could anything be needed?" without lxml, the planner or a port, and errs
on the side of yes: a false "yes" costs a parse, a false "no" would lose a wish. The installed
shell wrapper (``hooks/wrapper.py``) makes the same decisions before Python even starts; a test
keeps the two in step.
"""

from __future__ import annotations

import os

from hooks.protocol import is_plain_name

NS = b"urn:virt-netxml:hooks:1"
_BEFORE = (b":", b"<")
_AFTER = (b" ", b"\t", b"\n", b"\r", b"/", b">")


def has_element(data: bytes, name: bytes) -> bool:
    """True if ``<name`` or ``<prefix:name`` appears as a whole tag name."""
    return any(b + name + a in data for b in _BEFORE for a in _AFTER)


def linux_port_vlan(data: bytes) -> bool:
    """Does some ``<interface>`` carry a ``<vlan>`` without being an Open vSwitch port?

    libvirt applies ``<vlan>`` itself on OVS ports; on a Linux bridge it cannot, and the hook
    must. Interfaces are cut out by plain byte search, as the wrapper does with ``${x#*...}``.
    """
    for chunk in data.split(b"<interface")[1:]:
        port = chunk.split(b"</interface>", 1)[0]
        if has_element(port, b"vlan") and b"openvswitch" not in port:
            return True
    return False


def has_state(state_dir: str, kind: str, name: str) -> bool:
    """Is there (or might there be) a state record for this object?"""
    if not is_plain_name(name):
        return True   # unusual names are encoded (hooks.state.file_key); let the full path look
    return os.path.exists(os.path.join(state_dir, kind, name + ".json"))


def has_records(state_dir: str, kind: str) -> bool:
    """Is there any record of this kind (e.g. a network that may be a VF pool)?"""
    try:
        return any(e.endswith(".json") for e in os.listdir(os.path.join(state_dir, kind)))
    except OSError:
        return False


def reads_stdin(driver: str, operation: str) -> bool:
    """Operations whose decision needs the XML on stdin."""
    if driver == "qemu":
        return operation in ("prepare", "start", "reconnect", "attach")
    return operation in ("start", "started", "port-created")


def needs_work(driver: str, operation: str, name: str, data: bytes | None,
               state_dir: str, mapping_path: str) -> bool:
    """Could this call change anything? ``data`` is stdin when ``reads_stdin`` said so."""
    data = data or b""
    if driver == "qemu":
        if operation == "release":
            return has_state(state_dir, "domains", name)
        if operation in ("migrate", "restore"):
            return os.path.exists(mapping_path)
        if operation == "prepare":
            return (has_state(state_dir, "domains", name) or has_element(data, b"tap")
                    or has_element(data, b"vf") or b"hostdev" in data or b"passthrough" in data
                    # an interface on a network the hook recorded (a VF pool to reserve from)
                    or (b"network=" in data and has_records(state_dir, "networks")))
        if operation in ("start", "reconnect", "attach"):
            return has_state(state_dir, "domains", name) or NS in data or linux_port_vlan(data)
        return False
    if driver == "network":
        if operation == "stopped":
            return has_state(state_dir, "networks", name)
        if operation == "start":
            return NS in data or b"dev=" in data
        if operation == "port-created":
            # A VF libvirt picked from a pool (a network the hook recorded) is claimed here.
            return NS in data or (b"hostdev-pci" in data and has_state(state_dir, "networks", name))
        if operation == "started":
            return NS in data
    return False
