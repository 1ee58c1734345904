"""The one home of the libvirt/802.1Q/OVS rules (``xmltools.rules``) and of the state-name set
(``hooks.protocol``): each rule's answers, and that every user agrees.

A meta-test (as virt-manager's test_checkprops does for its XML properties) fails when a public
name of ``xmltools.rules`` is never exercised here.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from hooks import fastpath
from hooks.protocol import PLAIN_NAME_CHARS, is_plain_name, plain_name_glob
from hooks.state import file_key
from hooks.wrapper import render
from xmltools import rules
from xmltools.checks import Report, check_network
from xmltools.errors import InvalidValue
from xmltools.network import Ip
from xmltools.rules import (
    BRIDGE_PORT_TYPES,
    BRIDGE_VLAN_RANGE,
    LINUX_BRIDGE_VLAN_SINCE,
    MACVTAP_MODES,
    MACVTAP_ONLY_MODES,
    MAX_NUMVFS,
    MAX_SYMLINKS,
    MAX_VF_INDEX,
    MAX_VLAN,
    MTU_RANGE,
    NATIVE_MARKS,
    NETWORK_VIRTUALPORT_TYPES,
    OVN_BRIDGE,
    OVN_NAME_MAX,
    OVN_SUBNET_MAX_PREFIX,
    VIRTUALPORT_TYPES,
    VLAN_MODES,
    VLAN_RANGE,
    bridge_vid_ok,
    classful_prefix,
    format_vlan_ids,
    format_vlan_ranges,
    is_macvtap_forward,
    libvirt_applies_vlan,
    merge_vlan_ids,
    network_port_type,
    ovn_name_problem,
    parse_ovn_name,
    parse_vlan_id,
    parse_vlan_list,
    vid_digits,
    vlan_id_ok,
    vlan_id_problem,
)


def test_every_public_rule_is_exercised_here():
    source = Path(__file__).read_text()
    public = [n for n in vars(rules) if not n.startswith("_") and n not in ("TYPE_CHECKING", "annotations")
              and getattr(getattr(rules, n), "__module__", "xmltools.rules") == "xmltools.rules"]
    missing = [n for n in public if source.count(n) < 2]   # imported, and used at least once
    assert not missing


def test_symlink_limit_is_the_kernels(tmp_path):
    # A chain of MAX_SYMLINKS links resolves; one more is ELOOP, as the path walkers refuse it.
    (tmp_path / "l0").write_text("x")
    for n in range(1, MAX_SYMLINKS + 2):
        (tmp_path / f"l{n}").symlink_to(f"l{n - 1}")
    assert (tmp_path / f"l{MAX_SYMLINKS}").read_text() == "x"
    with pytest.raises(OSError) as info:
        (tmp_path / f"l{MAX_SYMLINKS + 1}").read_text()
    assert info.value.errno == 40   # ELOOP


def test_modes_and_types():
    assert set(MACVTAP_ONLY_MODES) < set(MACVTAP_MODES) and set(MACVTAP_MODES) - set(MACVTAP_ONLY_MODES) == {
        "bridge"}
    assert set(NETWORK_VIRTUALPORT_TYPES) == set(VIRTUALPORT_TYPES) - {"midonet"}
    assert VLAN_MODES == ("access", "trunk", "native-tagged", "native-untagged")


@pytest.mark.parametrize("mode,bridge,macvtap", [
    ("vepa", False, True), ("private", True, True), ("passthrough", False, True),
    ("bridge", False, True), ("bridge", True, False), ("nat", False, False), ("hostdev", False, False),
    (None, False, False),
])
def test_macvtap_forward(mode, bridge, macvtap):
    assert is_macvtap_forward(mode, bridge) is macvtap


@pytest.mark.parametrize("mode,ovs,applied", [
    ("hostdev", False, True), ("passthrough", False, True), ("bridge", True, True),
    ("bridge", False, False), ("nat", False, False), (None, False, False), ("vepa", False, False),
    ("route", True, False),
])
def test_where_libvirt_applies_vlan(mode, ovs, applied):
    assert libvirt_applies_vlan(mode, ovs) is applied
    assert libvirt_applies_vlan(mode, ovs, (10, 9)) is applied


@pytest.mark.parametrize("libvirt", [(10, 9, 0), (11, 0, 0), (11, 3, 0)])
@pytest.mark.parametrize("mode,since_11", [("bridge", True), (None, False), ("nat", False),
                                           ("route", False), ("open", False), ("vepa", False)])
def test_libvirt_11_applies_vlan_on_linux_bridge_networks_only(mode, since_11, libvirt):
    """From 11.0 a Linux-bridge network (mode='bridge', no <virtualport>) takes <vlan>; NAT,
    routed, open and isolated networks still do not (libvirt 11.3's bridge_driver.c)."""
    assert LINUX_BRIDGE_VLAN_SINCE == (11, 0)
    assert libvirt_applies_vlan(mode, False, libvirt) is (since_11 and libvirt >= (11, 0))


@pytest.mark.parametrize("mode,bridge,port", [
    ("hostdev", False, "hostdev"), ("passthrough", False, "direct"), ("vepa", True, "direct"),
    ("private", False, "direct"), ("bridge", False, "direct"), ("bridge", True, "bridge"),
    ("nat", True, "network"), ("nat", False, "network"), ("route", True, "network"),
    ("open", True, "network"), ("none", True, "network"), (None, False, "network"),
])
def test_network_port_type(mode, bridge, port):
    """The port libvirt's live XML shows for a network's guests, and whether the hooks put a
    metadata VLAN on it themselves: only on a bridge port (libvirt's own bridge or a host one)."""
    assert network_port_type(mode, bridge) == port
    assert (port in BRIDGE_PORT_TYPES) is (port in ("bridge", "network"))


@pytest.mark.parametrize("first,prefix", [(0, 8), (10, 8), (127, 8), (128, 16), (191, 16), (192, 24),
                                          (223, 24), (224, None), (239, None), (255, None)])
def test_classful_prefix(first, prefix):
    assert classful_prefix(first) == prefix


@pytest.mark.parametrize("address,prefix", [("10.0.0.1", 8), ("172.16.0.1", 16), ("192.168.1.1", 24),
                                            ("224.0.0.1", None)])
def test_the_model_and_lint_share_the_classful_prefix(address, prefix):
    ip = Ip(etree.fromstring(f"<ip address='{address}'/>"))
    assert ip.prefix_length() == prefix
    report = Report()
    check_network(etree.fromstring(f"<network><name>n</name><ip address='{address}'/></network>"), report)
    codes = {issue.code for issue in report.issues}
    assert ("ip-prefix-missing" in codes) is (prefix is None)


def test_vlan_ranges():
    assert MAX_VLAN == 4095 and BRIDGE_VLAN_RANGE == (1, 4094)
    assert [v for v in (-1, 0, 1, 4094, 4095, 4096) if vlan_id_ok(v)] == [0, 1, 4094, 4095]
    assert [v for v in (-1, 0, 1, 4094, 4095, 4096) if bridge_vid_ok(v)] == [1, 4094]


def test_one_vlan_grammar_for_every_list():
    # The full grammar is tested in tests/test_vlan_grammar.py; here each rule answers once.
    assert VLAN_RANGE == (1, 4094) and NATIVE_MARKS == ("tagged", "untagged")
    assert [v for v in (0, 1, 4094, 4095) if vlan_id_problem(v) is None] == [1, 4094]
    assert "reserved by 802.1Q" in (vlan_id_problem(0) or "") and "reserved" in (vlan_id_problem(4095) or "")
    assert [vid_digits(t) for t in ("10", "+10", "1_0", "\u0661", "00012", "9" * 50)] == [
        10, None, None, None, 12, MAX_VLAN + 1]
    assert parse_vlan_id(" 7 ") == 7
    assert parse_vlan_list("30-32,20:untagged", native=True) == (((30, 32), (20, 20)), 20, "untagged")


def test_device_limits():
    assert MTU_RANGE == (68, 65535) and MAX_VF_INDEX == 255 and MAX_NUMVFS == 2**16 - 1


def test_vlan_list_formatting():
    assert merge_vlan_ids([32, 20, 30, 31, 20]) == [(20, 20), (30, 32)]
    assert format_vlan_ranges([(20, 20), (30, 32)]) == "20,30-32"
    assert format_vlan_ids((30, 20, 31, 32)) == "20,30-32"
    assert format_vlan_ids([]) == ""


# --------------------------------------------------------------------------- plain names
# A hooks-only rule, so its home is hooks.protocol (a call without work imports no core module).

def test_plain_names():
    assert PLAIN_NAME_CHARS.isascii() and len(set(PLAIN_NAME_CHARS)) == len(PLAIN_NAME_CHARS) == 66
    assert is_plain_name("vm-1.a_b+c") and not is_plain_name("") and not is_plain_name(".x")
    assert not is_plain_name("a b") and not is_plain_name("a/b") and not is_plain_name("é")
    assert plain_name_glob() == "''|.*|*[!A-Za-z0-9_.+-]*"


BYTES = [bytes([b]) for b in range(1, 256)]


@pytest.mark.parametrize("name", [b + b"x" for b in BYTES] + [b"x" + b for b in BYTES] + [b""],
                         ids=lambda n: n.hex() or "empty")
def test_state_key_fast_path_and_wrapper_agree_on_every_byte(name, tmp_path):
    """A plain name keys its record unchanged; the fast path and the wrapper look for exactly
    that file, and start the full path for every other name (whose record is encoded)."""
    text = os.fsdecode(name)
    plain = is_plain_name(text)
    if name != b"":
        assert (file_key(text) == text) is plain
    state, conf = tmp_path / "state", tmp_path / "conf"
    (state / "domains").mkdir(parents=True)
    conf.mkdir()
    assert fastpath.has_state(str(state), "domains", text) is (not plain)
    mark, stub, hook = tmp_path / "started", tmp_path / "stub", tmp_path / "hook"
    stub.write_text(f'#!/bin/sh\n: > "{mark}"\n')
    stub.chmod(0o755)
    hook.write_text(render("qemu", str(stub), [], str(state), str(conf)))
    hook.chmod(0o755)
    subprocess.run([os.fsencode(hook), name, b"release", b"end", b"-"], check=True, timeout=30,
                   env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})
    assert mark.exists() is (not plain)


# --------------------------------------------------------------------------- OVN names

OVN_TAKEN = ["ls-web", "z", "_x", "g", "10x", "ls.web_1", "ls:web", "neutron-" + "0" * 36, "x" * OVN_NAME_MAX,
             "0f0b7a2e-5c1d-4e8a-9b3c-7d6e5f4a3b2x"]
OVN_REFUSED = [
    ("", "empty"),
    ("x" * (OVN_NAME_MAX + 1), f"at most {OVN_NAME_MAX}"),
    ("-ls", "leading '-'"),
    (".ls", "start with a letter"),
    (":ls", "start with a letter"),
    ("ls web", "' ' at character 3"),
    ("ls\tweb", "'\\t' at character 3"),
    ("ls\nweb", "character 3"),
    ("ls\x00", "character 3"),
    ("ls'x", "quotes"),
    ("ls\u00e9", "ASCII"),
    ("ls=1", "character 3"),
    ("ls,1", "character 3"),
    ("0f0b7a2e-5c1d-4e8a-9b3c-7d6e5f4a3b2c", "hex digits and '-' only"),
    ("0F0B7A2E5C1D4E8A9B3C7D6E5F4A3B2C", "hex digits and '-' only"),
    ("cafe", "add a letter outside a-f"),
    ("10", "hex digits"),
    ("dead-beef", "hex digits"),
]


@pytest.mark.parametrize("name", OVN_TAKEN)
def test_ovn_switch_names_taken(name):
    assert ovn_name_problem(name) is None
    assert parse_ovn_name(name) == name


@pytest.mark.parametrize(("name", "words"), OVN_REFUSED)
def test_ovn_switch_names_refused_with_the_reason(name, words):
    problem = ovn_name_problem(name)
    assert problem is not None and words in problem
    with pytest.raises(InvalidValue, match="invalid OVN logical switch"):
        parse_ovn_name(name)


def test_the_ovn_adapter_takes_the_same_switch_names():
    # The hooks' ovn-nbctl argv builder and this rule must agree on every name: lint and the
    # builders must not accept a switch the hook then refuses, nor refuse one it would take.
    from hooks.adapters.ovn import switch_name

    def hook_takes(name):
        try:
            switch_name(name)
        except InvalidValue:
            return False
        return True

    names = OVN_TAKEN + [name for name, _ in OVN_REFUSED]
    assert {n: hook_takes(n) for n in names} == {n: ovn_name_problem(n) is None for n in names}


def test_ovn_constants():
    assert OVN_BRIDGE == "br-int"
    assert OVN_SUBNET_MAX_PREFIX == 30
