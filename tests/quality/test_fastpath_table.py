"""The fast path's decision, written out by hand for every operation and kind of interface.

``hooks.fastpath.needs_work`` and the installed shell wrapper decide whether a hook call can
have any work before anything heavy is loaded. A test that only compares the two passes when
both are wrong; here each answer is fixed: a wrong "no" loses a wish (a TAP never made, a VF
never bound, a VLAN never set), a wrong "yes" costs a Python start.
"""

from __future__ import annotations

import subprocess

import pytest

from hooks import fastpath
from hooks.protocol import OPERATIONS
from hooks.wrapper import render

NS = "urn:virt-netxml:hooks:1"
MAC = "52:54:00:00:00:01"


def _domain(interface: str, meta: str = "") -> bytes:
    metadata = (f"<metadata><vnx:netxml xmlns:vnx='{NS}'><vnx:interface mac='{MAC}'>{meta}"
                "</vnx:interface></vnx:netxml></metadata>") if meta else ""
    return (f"<domain type='kvm'><name>vm</name>{metadata}<devices>{interface}"
            "</devices></domain>").encode()


# Every kind of domain interface, as libvirt hands it to the hook.
KINDS = {
    "network": _domain(f"<interface type='network'><mac address='{MAC}'/>"
                       "<source network='default' bridge='virbr0'/><target dev='vnet0'/></interface>"),
    "bridge": _domain(f"<interface type='bridge'><mac address='{MAC}'/><source bridge='br0'/>"
                      "<target dev='vnet0'/></interface>"),
    "bridge-vlan": _domain(f"<interface type='bridge'><mac address='{MAC}'/><source bridge='br0'/>"
                           "<vlan><tag id='10'/></vlan><target dev='vnet0'/></interface>"),
    "ovs-vlan": _domain(f"<interface type='bridge'><mac address='{MAC}'/><source bridge='ovsbr0'/>"
                        "<vlan><tag id='10'/></vlan><virtualport type='openvswitch'/>"
                        "<target dev='vnet0'/></interface>"),
    "bridge-meta-vlan": _domain(f"<interface type='bridge'><mac address='{MAC}'/><source bridge='br0'/>"
                                "<target dev='vnet0'/></interface>", "<vnx:vlan tag='10'/>"),
    "ethernet-tap": _domain(f"<interface type='ethernet'><mac address='{MAC}'/>"
                            "<target dev='tap0' managed='no'/></interface>", "<vnx:tap bridge='br0'/>"),
    "ethernet": _domain(f"<interface type='ethernet'><mac address='{MAC}'/>"
                        "<target dev='tap0' managed='no'/></interface>"),
    "hostdev": _domain(f"<interface type='hostdev' managed='no'><mac address='{MAC}'/><source>"
                       "<address type='pci' domain='0x0000' bus='0x04' slot='0x10' function='0x1'/>"
                       "</source></interface>"),
    "direct-passthrough": _domain(f"<interface type='direct'><mac address='{MAC}'/>"
                                  "<source dev='up0' mode='passthrough'/></interface>"),
    "direct-bridge": _domain(f"<interface type='direct'><mac address='{MAC}'/>"
                             "<source dev='up0' mode='bridge'/></interface>"),
    "direct-vf": _domain(f"<interface type='direct'><mac address='{MAC}'/>"
                         "<source dev='up0' mode='bridge'/></interface>", "<vnx:vf pf='pf0' index='1'/>"),
    "none": _domain(""),
}

QEMU_OPS = ("prepare", "start", "started", "stopped", "release", "migrate", "restore",
            "reconnect", "attach")

# kind -> the qemu operations that have work with no state record and no mapping file.
QEMU_WORK = {
    "network": set(),
    "bridge": set(),
    "bridge-vlan": {"start", "reconnect", "attach"},
    "ovs-vlan": set(),                         # libvirt sets the tag on OVS itself
    "bridge-meta-vlan": {"start", "reconnect", "attach"},
    "ethernet-tap": {"prepare", "start", "reconnect", "attach"},
    "ethernet": set(),
    "hostdev": {"prepare"},
    "direct-passthrough": {"prepare"},
    "direct-bridge": set(),
    "direct-vf": {"prepare", "start", "reconnect", "attach"},
    "none": set(),
}

QEMU_CASES = [(kind, op, op in QEMU_WORK[kind]) for kind in KINDS for op in QEMU_OPS]


def _needs(driver, op, name, data, state, mapping):
    return fastpath.needs_work(driver, op, name, data if fastpath.reads_stdin(driver, op) else None,
                               str(state), str(mapping))


@pytest.fixture
def folders(tmp_path):
    state, conf = tmp_path / "state", tmp_path / "conf"
    for folder in (state / "domains", state / "networks", conf):
        folder.mkdir(parents=True)
    return state, conf


def test_every_qemu_operation_is_in_the_table():
    assert {op for driver, op in OPERATIONS if driver == "qemu"} == set(QEMU_OPS)
    assert {op for driver, op in OPERATIONS if driver == "network"} == set(NETWORK_OPS)


@pytest.mark.parametrize("kind,op,work", QEMU_CASES)
def test_qemu_decision_without_state(kind, op, work, folders):
    state, conf = folders
    assert _needs("qemu", op, "vm", KINDS[kind], state, conf / "migrate-map.conf") is work


# With a state record, the domain has something to undo or re-apply: every operation that
# works from it (prepare cleans up leftovers, release undoes) needs work; started and stopped
# never do; migrate and restore depend only on the mapping file.
STATE_WORK = {"prepare", "start", "release", "reconnect", "attach"}


@pytest.mark.parametrize("op", QEMU_OPS)
def test_qemu_decision_with_a_state_record(op, folders):
    state, conf = folders
    (state / "domains" / "vm.json").write_text("{}")
    assert _needs("qemu", op, "vm", KINDS["none"], state, conf / "migrate-map.conf") is (op in STATE_WORK)
    # another domain's record changes nothing for this one
    assert _needs("qemu", op, "vm2", KINDS["none"], state, conf / "migrate-map.conf") is False


@pytest.mark.parametrize("op", QEMU_OPS)
def test_qemu_decision_with_a_mapping_file(op, folders):
    state, conf = folders
    (conf / "migrate-map.conf").write_text("bridge a = b\n")
    assert _needs("qemu", op, "vm", KINDS["bridge"], state, conf / "migrate-map.conf") is (
        op in ("migrate", "restore"))


@pytest.mark.parametrize("records,work", [(False, False), (True, True)])
def test_prepare_on_a_network_needs_work_only_when_some_network_is_recorded(records, work, folders):
    state, conf = folders
    if records:
        (state / "networks" / "pool.json").write_text("{}")
    assert _needs("qemu", "prepare", "vm", KINDS["network"], state, conf / "m") is work
    # a bridge interface names no network: no pool to reserve from
    assert _needs("qemu", "prepare", "vm", KINDS["bridge"], state, conf / "m") is False


@pytest.mark.parametrize("name", [".hidden", "odd name", "a/b", ""])
def test_unusual_names_are_left_to_the_full_path(name, folders):
    state, conf = folders
    assert _needs("qemu", "release", name, b"", state, conf / "m") is True


NETWORK_OPS = ("start", "started", "stopped", "port-created", "port-deleted", "updated",
               "plugged", "unplugged")


def _hook_data(network: str, port: str = "") -> bytes:
    return f"<hookData>{network}{port}</hookData>".encode()


NETWORKS = {
    "nat": _hook_data("<network><name>net</name><forward mode='nat'/><bridge name='virbr0'/></network>"),
    "macvtap": _hook_data("<network><name>net</name><forward mode='bridge' dev='up0'>"
                          "<interface dev='up0'/></forward></network>"),
    "meta": _hook_data(f"<network><name>net</name><metadata><vnx:netxml xmlns:vnx='{NS}'>"
                       "<vnx:bridge vlan-filtering='yes'/></vnx:netxml></metadata>"
                       "<bridge name='br0'/></network>"),
}

NETWORK_WORK = {
    "nat": set(),
    "macvtap": {"start"},
    "meta": {"start", "started", "port-created"},
}

NETWORK_CASES = [(kind, op, op in NETWORK_WORK[kind]) for kind in NETWORKS for op in NETWORK_OPS]


@pytest.mark.parametrize("kind,op,work", NETWORK_CASES)
def test_network_decision_without_state(kind, op, work, folders):
    state, conf = folders
    assert _needs("network", op, "net", NETWORKS[kind], state, conf / "m") is work


@pytest.mark.parametrize("op", NETWORK_OPS)
def test_network_decision_with_a_state_record(op, folders):
    state, conf = folders
    (state / "networks" / "net.json").write_text("{}")
    assert _needs("network", op, "net", NETWORKS["nat"], state, conf / "m") is (op == "stopped")


def test_unknown_driver_never_needs_work(folders):
    state, conf = folders
    assert _needs("lxc", "prepare", "vm", KINDS["ethernet-tap"], state, conf / "m") is False


# --------------------------------------------------------------------------- the shell wrapper

STUB = """#!/bin/sh
: > "{out}"
"""


@pytest.fixture
def wrapper(folders, tmp_path):
    """The rendered wrapper of each driver, with a stub interpreter that leaves a mark."""
    state, conf = folders
    mark = tmp_path / "python-started"
    stub = tmp_path / "python-stub"
    stub.write_text(STUB.format(out=mark))
    stub.chmod(0o755)
    programs = {}
    for driver in ("qemu", "network"):
        path = tmp_path / f"{driver}-hook"
        path.write_text(render(driver, str(stub), [], str(state), str(conf)))
        path.chmod(0o755)
        programs[driver] = path

    def started(driver: str, argv: list[str], data: bytes) -> bool:
        mark.unlink(missing_ok=True)
        res = subprocess.run([str(programs[driver]), *argv], input=data, capture_output=True,
                             timeout=30, env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})
        assert (res.returncode, res.stdout, res.stderr) == (0, b"", b""), res
        return mark.exists()

    return started


# The one place the shell is coarser, by design (see hooks/wrapper.py): any <vlan> starts
# Python, which then tells an OVS port (libvirt's job) apart before it loads lxml.
WRAPPER_ALSO = {("ovs-vlan", "start"), ("ovs-vlan", "reconnect"), ("ovs-vlan", "attach")}


def test_wrapper_decides_as_the_table_says(wrapper):
    for kind, op, work in QEMU_CASES:
        expected = work or (kind, op) in WRAPPER_ALSO
        assert wrapper("qemu", ["vm", op, "begin", "-"], KINDS[kind]) is expected, (kind, op)
    for kind, op, work in NETWORK_CASES:
        assert wrapper("network", ["net", op, "begin", "-"], NETWORKS[kind]) is work, (kind, op)


def test_wrapper_with_state_and_mapping(wrapper, folders):
    state, conf = folders
    (state / "domains" / "vm.json").write_text("{}")
    (state / "networks" / "net.json").write_text("{}")
    for op in QEMU_OPS:
        assert wrapper("qemu", ["vm", op, "begin", "-"], KINDS["none"]) is (op in STATE_WORK), op
    for op in NETWORK_OPS:
        # started: a NAT network and a domain record (port forwards to put back into libvirt's chains)
        needed = op in ("stopped", "started")
        assert wrapper("network", ["net", op, "begin", "-"], NETWORKS["nat"]) is needed, op
    (state / "domains" / "vm.json").unlink()
    for op in NETWORK_OPS:
        assert wrapper("network", ["net", op, "begin", "-"], NETWORKS["nat"]) is (op == "stopped"), op
    (conf / "migrate-map.conf").write_text("bridge a = b\n")
    for op in QEMU_OPS:
        expected = op in ("migrate", "restore")
        assert wrapper("qemu", ["vm", op, "begin", "-"], KINDS["bridge"]) is expected, op


# A port libvirt plugged from a hostdev pool: the VF it picked is claimed for the domain, so the
# call needs work exactly when the hook recorded the network (as a pool) at its start.
POOL_PORT = _hook_data("<network><name>net</name><forward mode='hostdev'><pf dev='pf0'/></forward>"
                       "</network>",
                       "<networkport><owner><name>vm</name></owner><mac address='52:54:00:00:00:06'/>"
                       "<plug type='hostdev-pci' managed='yes'><driver name='vfio'/>"
                       "<address domain='0x0000' bus='0x04' slot='0x10' function='0x1'/></plug>"
                       "</networkport>")


@pytest.mark.parametrize("recorded", [False, True])
@pytest.mark.parametrize("op", NETWORK_OPS)
def test_a_pool_port_needs_work_only_at_port_created_of_a_recorded_network(op, recorded, folders, wrapper):
    state, conf = folders
    if recorded:
        (state / "networks" / "net.json").write_text("{}")
    # start: the pool's PF (``dev=``) is recorded then, whatever the state holds
    expected = op == "start" or (op in ("port-created", "stopped") and recorded)
    assert _needs("network", op, "net", POOL_PORT, state, conf / "m") is expected
    assert wrapper("network", ["net", op, "begin", "-"], POOL_PORT) is expected


def test_a_linux_port_vlan_is_judged_by_its_own_interface_only(folders):
    """Text after the interface (a comment, another device) must not make it an OVS port."""
    state, conf = folders
    data = (f"<domain type='kvm'><name>vm</name><devices><interface type='bridge'>"
            f"<mac address='{MAC}'/><source bridge='br0'/><vlan><tag id='10'/></vlan>"
            "<target dev='vnet0'/></interface><graphics type='vnc'/>"
            "<!-- the next guest goes on openvswitch --></devices></domain>").encode()
    assert fastpath.linux_port_vlan(data) is True
    assert _needs("qemu", "start", "vm", data, state, conf / "m") is True


def test_no_networks_folder_means_no_pool_to_reserve_from(tmp_path):
    state = tmp_path / "state"     # never created: a host where the hook has recorded nothing
    assert fastpath.has_records(str(state), "networks") is False
    assert _needs("qemu", "prepare", "vm", KINDS["network"], state, tmp_path / "m") is False
