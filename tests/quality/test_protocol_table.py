"""libvirt's hook protocol as the hooks read it, written out by hand from libvirt's behaviour
(docs/hooks.md, DESIGN §2): which calls abort what libvirt is doing, which read stdout back,
what stdin holds, and what a failure leads to (the words the hook's messages use)."""

from __future__ import annotations

import importlib.util

import pytest

from hooks import protocol
from hooks.protocol import (
    OPERATIONS,
    PLAIN_NAME_CHARS,
    driver_from_path,
    is_plain_name,
    lookup,
    plain_name_glob,
)


def _fresh_table():
    """The table as the module builds it when it is imported, built again here: it is made once
    at import, so a change to how it is built shows only in a fresh execution of the module."""
    spec = importlib.util.find_spec("hooks.protocol")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.OPERATIONS

ABORTS, LOGGED = True, False

# (driver, operation): (aborts, filters_xml, stdin, fail_exit, failure)
TABLE = {
    ("qemu", "prepare"): (ABORTS, False, "domain", 1, "the domain does not start"),
    ("qemu", "start"): (ABORTS, False, "domain", 1, "the domain does not start"),
    ("qemu", "started"): (ABORTS, False, "domain", 0,
                          "libvirt would stop the guest that runs here: reported, exit 0"),
    ("qemu", "stopped"): (LOGGED, False, "domain", 1, "only logged"),
    ("qemu", "release"): (LOGGED, False, "domain", 1, "only logged"),
    ("qemu", "migrate"): (ABORTS, True, "domain", 1, "the incoming migration is cancelled"),
    ("qemu", "restore"): (ABORTS, True, "domain", 1, "the restore is aborted"),
    # a failure would make libvirt kill the running guest: reported, but exit 0
    ("qemu", "reconnect"): (LOGGED, False, "domain", 0,
                            "libvirt would kill the running guest: reported, exit 0"),
    ("qemu", "attach"): (ABORTS, False, "domain", 1, "attaching to the external QEMU process fails"),
    ("network", "start"): (ABORTS, False, "hookData", 1, "the network does not start"),
    ("network", "started"): (ABORTS, False, "hookData", 1, "the network is stopped again"),
    ("network", "stopped"): (LOGGED, False, "hookData", 1, "only logged"),
    ("network", "port-created"): (ABORTS, False, "hookData", 1,
                                  "the interface is not plugged (the domain does not start)"),
    ("network", "port-deleted"): (LOGGED, False, "hookData", 1, "only logged"),
    ("network", "updated"): (ABORTS, False, "hookData", 1,
                             "the update call reports an error (the change stays)"),
    ("network", "plugged"): (ABORTS, False, "hookData", 1, "the interface is not plugged"),
    ("network", "unplugged"): (LOGGED, False, "hookData", 1, "only logged"),
}


def test_every_operation_and_no_other():
    assert set(OPERATIONS) == set(TABLE)


@pytest.mark.parametrize("key", sorted(TABLE))
def test_operation(key):
    op = lookup(*key)
    assert (op.driver, op.name) == key
    assert (op.aborts, op.filters_xml, op.stdin, op.fail_exit, op.failure) == TABLE[key]
    assert repr(op) == f"Operation({key[0]!r}, {key[1]!r})"


def test_the_table_built_afresh_is_the_same():
    fresh = _fresh_table()
    assert set(fresh) == set(TABLE)
    for key, op in fresh.items():
        assert (op.driver, op.name) == key
        assert (op.aborts, op.filters_xml, op.stdin, op.fail_exit, op.failure) == TABLE[key], key
        old = protocol.OPERATIONS[key]
        assert [getattr(op, s) for s in type(op).__slots__] == [getattr(old, s) for s in type(old).__slots__]


@pytest.mark.parametrize("driver,name", [("qemu", "bogus"), ("lxc", "start"), ("network", "prepare"),
                                         ("daemon", "start"), ("", "")])
def test_unknown_calls(driver, name):
    assert lookup(driver, name) is None


@pytest.mark.parametrize("path,driver", [
    ("/etc/libvirt/hooks/qemu.d/50-virt-netxml", "qemu"),
    ("/etc/libvirt/hooks/network.d/50-virt-netxml", "network"),
    ("/etc/libvirt/hooks/qemu", "qemu"),
    ("/etc/libvirt/hooks/network", "network"),
    ("qemu", "qemu"),
    ("C:\\hooks\\qemu.d\\x", "qemu"),
    ("/etc/libvirt/hooks/qemu.d/", None),          # the folder itself is no hook
    ("/etc/libvirt/hooks/lxc.d/50-virt-netxml", None),
    ("/etc/libvirt/hooks/daemon.d/x", None),
    ("/etc/libvirt/hooks/qemu.d.d/x", None),
    ("/etc/libvirt/hooks/xqemu.d/x", None),
    ("/etc/libvirt/hooks/50-virt-netxml", None),
    ("", None),
    ("qemu.d/50-virt-netxml", "qemu"),             # a relative path of two parts
    ("/etc/libvirt/hooks/qemu.d/X", "qemu"),
])
def test_driver_from_the_hook_path(path, driver):
    assert driver_from_path(path) == driver


@pytest.mark.parametrize("name,plain", [
    ("vm1", True), ("a.b_c+d-e", True), (PLAIN_NAME_CHARS, True), ("-", True),
    ("", False), (".hidden", False), ("odd name", False), ("a/b", False), ("é", False),
])
def test_plain_names(name, plain):
    assert is_plain_name(name) is plain


def test_plain_name_glob_for_the_wrapper():
    # '-' last in the bracket: anywhere else it would make a range
    assert plain_name_glob() == "''|.*|*[!A-Za-z0-9_.+-]*"
