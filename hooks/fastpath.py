"""Decide, from argv and a few byte searches, whether a hook call can have any work at all.

A hook runs about a dozen times per guest start and stop, and most calls have nothing to do.
This module answers "could anything be needed?" without lxml, the planner or a port, and errs
on the side of yes: a false "yes" costs a parse, a false "no" would lose a wish. The installed
shell wrapper (``hooks/wrapper.py``) makes the same decisions before Python even starts: both read
the triggers of each operation in ``hooks.protocol.OPERATIONS``, and a test keeps them in step.
"""

from __future__ import annotations

import os

from hooks.protocol import (
    ELEMENT,
    LINUX_VLAN,
    MAPPING,
    RECORDS,
    STATE,
    STATE_TEXT,
    TEXT,
    is_plain_name,
    lookup,
)

_BEFORE = (b":", b"<")
_AFTER = (b" ", b"\t", b"\n", b"\r", b"/", b">")


def has_element(data: bytes, name: bytes) -> bool:
    """True if ``<name`` or ``<prefix:name`` appears as a whole tag name."""
    return any(b + name + a in data for b in _BEFORE for a in _AFTER)


def linux_port_vlan(data: bytes) -> bool:
    """Does some ``<interface>`` carry a ``<vlan>`` without being an Open vSwitch port?

    libvirt applies ``<vlan>`` itself on OVS ports; on a Linux bridge libvirt before 11.0
    cannot, and the hook must; from 11.0 it does, and the hook verifies the entries (and that the
    bridge filters VLANs). Interfaces are cut out by plain byte search, as the wrapper does with
    ``${x#*...}``.
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
    op = lookup(driver, operation)
    return op is not None and op.reads_stdin


def needs_work(driver: str, operation: str, name: str, data: bytes | None,
               state_dir: str, mapping_path: str) -> bool:
    """Could this call change anything? ``data`` is stdin when ``reads_stdin`` said so.

    Any of the operation's triggers in ``hooks.protocol.OPERATIONS`` says yes.
    """
    op = lookup(driver, operation)
    if op is None:
        return False
    data = data or b""
    for trigger in op.work:
        kind = trigger[0]
        if kind == STATE:
            hit = has_state(state_dir, trigger[1], name)
        elif kind == MAPPING:
            hit = os.path.exists(mapping_path)
        elif kind == ELEMENT:
            hit = has_element(data, trigger[1].encode())
        elif kind == TEXT:
            hit = trigger[1].encode() in data
        elif kind == RECORDS:
            hit = trigger[2].encode() in data and has_records(state_dir, trigger[1])
        elif kind == STATE_TEXT:
            hit = trigger[2].encode() in data and has_state(state_dir, trigger[1], name)
        elif kind == LINUX_VLAN:
            hit = linux_port_vlan(data)
        else:
            raise AssertionError(f"unknown trigger {trigger!r}")
        if hit:
            return True
    return False
