"""Property: the builders (``virt-netxml network`` / ``interface``) given random option
combinations either print XML that libvirt's own schema accepts (exit 0) or refuse in one line
with exit 2 (issue 5 §2). libvirt's schemas are read directly with lxml, not through the
project's schema module, so the oracle is independent of the code under test."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from tests.robustness.profiles import ci_settings
from tests.robustness.runner import Result, assert_one_line_error, run_cli
from tests.support import require

pytestmark = pytest.mark.timeout(300)

LIBVIRT_SCHEMAS = Path("/usr/share/libvirt/schemas")
DOMAIN_SHELL = ("<domain type='kvm'><name>fuzz</name><memory>65536</memory><os><type>hvm</type></os>"
                "<devices/></domain>")


@cache
def libvirt_schema(name: str) -> etree.RelaxNG:
    path = LIBVIRT_SCHEMAS / name
    require(path.exists(), f"libvirt's schema {path}")
    return etree.RelaxNG(etree.parse(str(path)))


def opt(good: list[str], bad: list[str]) -> st.SearchStrategy[str]:
    """Mostly a good value, sometimes (1 in 8) a bad one."""
    return st.integers(0, 7).flatmap(lambda n: st.sampled_from(bad if n == 0 and bad else good))


BAD_NAMES = ["a" * 16, "br 0", "x/y", "br\n0"]
name = opt(["br0", "virbr7", "ovs-br0", "a" * 15], BAD_NAMES)
uplink = opt(["enp3s0", "ens1f0", "up0", "enp4s0f1"], BAD_NAMES)
vlan = opt(["5", "1", "4094", "10,20", "10:untagged,20", "100-105"],
           ["4096", "-1", "x", "10,,20", "0", "4095", "10 20", "20-10", "10,10"])
mac = opt(["auto", "52:54:00:aa:bb:cc", "00:16:3e:01:02:03"], ["01:00:5e:00:00:01", "52:54:00:aa:bb"])
bandwidth = opt(["1000", "1000,2000,256"], ["x", "-1"])
L3 = {
    "--bridge": name, "--ip": opt(["192.168.7.1/24"], ["192.168.7.1/33", "300.1.1.1/24", "192.168.7.0/24"]),
    "--dhcp-range": opt(["192.168.7.2,192.168.7.254", "192.168.7.100,192.168.7.105"],
                        ["192.168.7.9,192.168.7.2", "10.0.0.5,10.0.0.9"]),
    "--dhcp-host": opt(["52:54:00:00:00:05,192.168.7.5", "52:54:00:00:00:06,192.168.7.6,web"],
                       ["01:00:5e:00:00:01,192.168.7.7", "52:54:00:00:00:07,192.168.8.7"]),
    "--domain-name": opt(["example.test", "lab"], ["a b"]), "--mtu": opt(["1500", "9000"], ["0", "x"]),
    "--delay": opt(["0", "5"], ["-1"]), "--mac": mac,
    "--uuid": opt(["auto", "2815007c-64b3-4dd5-8af2-e36cad7c7f23"], ["not-a-uuid"]),
    "--dns-host": opt(["192.168.7.9,host1", "192.168.7.10,a,b"], ["300.0.0.1,x"]),
    "--bandwidth-in": bandwidth, "--bandwidth-out": bandwidth,
}
NETWORK_MODES: dict[str, dict[str, st.SearchStrategy[str]]] = {
    "nat": {**L3, "--nat-ports": opt(["1024-65535"], ["2000-1000", "0-70000"]), "--forward-dev": uplink},
    "route": {**L3, "--forward-dev": uplink},
    "open": L3,
    "isolated": L3,
    "bridge": {"--bridge": name, "--virtualport": opt(["openvswitch"], ["bogus"]), "--vlan": vlan,
               "--portgroup": opt(["pg1", "pg1,default", "pg2,vlan=5", "pg3,vlan=10:untagged,20"],
                                  ["pg5,vlan=5000", ",default"])},
    "private": {"--uplink": uplink, "--portgroup": opt(["pg1", "pg1,default"], [",x"])},
    "vepa": {"--uplink": uplink, "--portgroup": opt(["pg1"], [",x"])},
    "passthrough": {"--uplink": uplink, "--vlan": vlan},
    "hostdev": {"--pf": uplink, "--vf-address": opt(["0000:04:10.0", "04:10.1", "0000:04:10.2"],
                                                    ["0000:04:20.0", "../0000:04:10.0"]),
                "--driver": opt(["vfio"], ["kvm"]), "--vlan": vlan},
}
NETWORK_FLAGS = {"nat": ["--stp", "--no-stp"], "bridge": ["--vlan-trunk"],
                 "hostdev": ["--managed", "--unmanaged"]}

OVS_ID = "6602cfe5-16e2-4a31-b0c7-a263f86f0ef4"
IFACE_COMMON = {"--model": opt(["virtio", "e1000e", "rtl8139"], ["bad model"]), "--mac": mac,
                "--mtu": opt(["1500"], ["x"]), "--link": opt(["up", "down"], ["sideways"]),
                "--boot": opt(["1", "2"], ["0", "x"]), "--bandwidth-in": bandwidth}
INTERFACE_TYPES: dict[str, dict[str, st.SearchStrategy[str]]] = {
    "network": {**IFACE_COMMON, "--source": opt(["default", "lan"], [""]), "--portgroup": opt(["pg1"], [""]),
                "--filter": opt(["clean-traffic", "clean-traffic,IP=10.0.0.1"], ["a b"])},
    "bridge": {**IFACE_COMMON, "--source": name, "--target": opt(["vnet7", "tap-x"], BAD_NAMES),
               "--virtualport": opt(["openvswitch", f"openvswitch,interfaceid={OVS_ID}"], ["bogus"]),
               "--queues": opt(["4"], ["0"])},
    "direct": {**IFACE_COMMON, "--source": uplink, "--mode": opt(["vepa", "bridge", "private", "passthrough"],
                                                                 ["bogus"])},
    "hostdev": {"--mac": mac, "--pci": opt(["0000:04:10.0", "04:10.1"], ["../x", "0000:04:20.0"]),
                "--vlan": vlan},
    "ethernet": {**IFACE_COMMON, "--target": opt(["tap0", "tap-vm1"], BAD_NAMES)},
    "user": IFACE_COMMON,
}
REQUIRED = {("network", "nat"): ["--ip"], ("network", "route"): ["--ip"], ("network", "open"): ["--ip"],
            ("network", "bridge"): ["--bridge"], ("network", "private"): ["--uplink"],
            ("network", "vepa"): ["--uplink"], ("network", "passthrough"): ["--uplink"],
            ("network", "hostdev"): ["--pf"], ("interface", "network"): ["--source"],
            ("interface", "bridge"): ["--source"], ("interface", "direct"): ["--source"],
            ("interface", "hostdev"): ["--pci"], ("interface", "ethernet"): []}


@st.composite
def builder_argv(draw: st.DrawFn, command: str) -> list[str]:
    """A command line for one mode/type: its required options, then a random subset of the rest."""
    table = NETWORK_MODES if command == "network" else INTERFACE_TYPES
    kind = draw(st.sampled_from(sorted(table) + ["bogus"]))
    options = table.get(kind, {})
    argv = ["network", "fuzznet", "--mode", kind] if command == "network" else ["interface", "--type", kind]
    argv += ["--seed", "s"]
    required = REQUIRED.get((command, kind), [])
    chosen = required + draw(st.lists(st.sampled_from(sorted(options) or ["--mac"]), max_size=5, unique=True))
    for option in dict.fromkeys(chosen):
        values = options.get(option, mac)
        argv += [option, draw(values)]
        if option in ("--uplink", "--vf-address", "--portgroup", "--dns-host") and draw(st.booleans()):
            argv += [option, draw(values)]  # repeatable options, sometimes twice
    flags = NETWORK_FLAGS.get(kind, []) if command == "network" else (
        ["--managed", "--unmanaged"] if kind in ("hostdev", "ethernet") else [])
    argv += draw(st.lists(st.sampled_from(flags), max_size=1)) if flags else []
    return argv


def _check(result: Result) -> etree._Element | None:
    assert "Traceback" not in result.stderr, result.stderr
    if result.code == 0:
        assert result.stderr == "" or result.stderr.startswith("virt-netxml: note:"), result.stderr
        return etree.fromstring(result.stdout)
    assert_one_line_error(result, 2)
    assert result.stdout == b""
    return None


@ci_settings(max_examples=200)
@given(argv=builder_argv("network"))
def test_network_builder(argv: list[str]) -> None:
    root = _check(run_cli(argv))
    if root is not None:
        schema = libvirt_schema("network.rng")
        assert schema.validate(root), f"{argv}: {schema.error_log.last_error}"
        assert root.findtext("name") == "fuzznet"


@ci_settings(max_examples=200)
@given(argv=builder_argv("interface"))
def test_interface_builder(argv: list[str]) -> None:
    iface = _check(run_cli(argv))
    if iface is not None:
        domain = etree.fromstring(DOMAIN_SHELL)
        domain.find("devices").append(iface)
        schema = libvirt_schema("domain.rng")
        assert schema.validate(domain), f"{argv}: {schema.error_log.last_error}"
        assert iface.get("type") == argv[2]
