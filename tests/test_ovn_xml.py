"""The OVN vocabulary in the core: ``<vnx:ovn>`` read and written through the metadata models,
its values' rules (subnet, address), the derived interfaceid, the builders' checks, and the
import cost on the hooks' start path."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from hooks.wrapper import module_paths
from xmltools.build_interface import InterfaceSpec, build_interface, build_metadata
from xmltools.build_network import NetworkSpec, build_network
from xmltools.errors import InvalidValue, UsageError
from xmltools.metadata import (
    MetaOvnPort,
    MetaOvnSwitch,
    NetXmlMeta,
    OvnPortWish,
    OvnSwitchWish,
    find_meta,
    ovn_address_problem,
    parse_ovn_address,
    parse_ovn_subnet,
)
from xmltools.uuids import OVN_PORT_NAMESPACE, ovn_port_uuid
from xmltools.xmlparse import parse_bytes

NET = """<network><name>n</name><metadata><vnx:netxml xmlns:vnx="urn:virt-netxml:hooks:1">
<vnx:ovn {attrs}/></vnx:netxml></metadata><forward mode="bridge"/><bridge name="br-int"/>
<virtualport type="openvswitch"/></network>"""
DOM = """<domain type="kvm"><name>d</name><metadata><vnx:netxml xmlns:vnx="urn:virt-netxml:hooks:1">
<vnx:interface mac="52:54:00:00:00:01"><vnx:vlan tag="5"/><vnx:ovn {attrs}/></vnx:interface>
</vnx:netxml></metadata><devices/></domain>"""


def net_meta(attrs: str) -> MetaOvnSwitch:
    meta = find_meta(parse_bytes(NET.format(attrs=attrs).encode()).getroot())
    assert meta is not None and meta.ovn is not None
    return meta.ovn


def port_meta(attrs: str) -> MetaOvnPort:
    meta = find_meta(parse_bytes(DOM.format(attrs=attrs).encode()).getroot())
    assert meta is not None
    entry = meta.interface("52:54:00:00:00:01")
    assert entry is not None and entry.ovn is not None
    return entry.ovn


# --------------------------------------------------------------------------- reading


def test_network_switch_is_read_as_typed_values() -> None:
    ovn = net_meta('switch="ls-web" subnet="10.10.0.0/24" dhcp="yes" port-security="no"')
    assert (ovn.switch, ovn.subnet, ovn.dhcp, ovn.port_security) == ("ls-web", "10.10.0.0/24", True, False)
    assert ovn.resolved() == OvnSwitchWish("ls-web", "10.10.0.0/24", True, False)
    assert net_meta('switch="ls"').resolved() == OvnSwitchWish("ls")


def test_port_is_read_as_typed_values() -> None:
    assert port_meta('switch="ls-web" address="10.10.0.20"').resolved() == OvnPortWish("ls-web", "10.10.0.20")
    assert port_meta('switch="ls-web"').resolved() == OvnPortWish("ls-web", None)


@pytest.mark.parametrize(("attrs", "words"), [
    ('switch="-x"', "invalid OVN logical switch '-x'"),
    ('switch="a b"', "' ' at character 2"),
    ('switch="ls" subnet="10.10.0.5/24"', "invalid OVN subnet '10.10.0.5/24': host bits"),
    ('switch="ls" subnet="10.10.0.0/31"', "/31"),
    ('switch="ls" dhcp="true"', "expected 'yes' or 'no'"),
    ('switch="ls" dhcp="yes"', "dhcp='yes' needs a subnet"),
    ('subnet="10.10.0.0/24"', "needs a switch name"),
])
def test_bad_network_values_are_one_line_errors(attrs: str, words: str) -> None:
    with pytest.raises(InvalidValue) as info:
        net_meta(attrs).resolved()
    assert words in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(("attrs", "words"), [
    ('switch="ls" address="10.10.0.300"', "expected one IPv4 or IPv6 address"),
    ('switch="ls" address="ff02::1"', "not a unicast address"),
    ('switch="ls" address="0.0.0.0"', "not a unicast address"),
    ('switch="ls" address="127.0.0.1"', "not a unicast address"),
    ('address="10.0.0.1"', "needs a switch name"),
])
def test_bad_port_values_are_one_line_errors(attrs: str, words: str) -> None:
    with pytest.raises(InvalidValue) as info:
        port_meta(attrs).resolved()
    assert words in str(info.value)


# --------------------------------------------------------------------------- writing


def test_network_element_is_written_after_the_other_wishes() -> None:
    meta = NetXmlMeta()
    meta.ovn = MetaOvnSwitch.of(OvnSwitchWish("ls", "10.0.0.0/24", dhcp=False, port_security=True))
    from xmltools.metadata import MetaBridge

    meta.bridge = MetaBridge(vlan_filtering=True)
    tags = [child.tag.split("}")[1] for child in meta.node]
    assert tags == ["bridge", "ovn"]
    assert dict(meta.ovn.node.attrib) == {"switch": "ls", "subnet": "10.0.0.0/24", "port-security": "yes"}


def test_port_element_is_the_entrys_last_and_replaced_not_repeated() -> None:
    root = parse_bytes(DOM.format(attrs='switch="old"').encode()).getroot()
    meta = find_meta(root)
    assert meta is not None
    entry = meta.interface("52:54:00:00:00:01")
    assert entry is not None
    entry.ovn = MetaOvnPort(switch="new", address="10.0.0.9")
    kids = [c.tag.split("}")[1] for c in entry.node]
    assert kids == ["vlan", "ovn"]
    assert entry.ovn is not None and (entry.ovn.switch, entry.ovn.address) == ("new", "10.0.0.9")


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(("text", "canonical"), [
    ("10.10.0.0/24", "10.10.0.0/24"),
    ("10.10.0.0/30", "10.10.0.0/30"),
    ("0.0.0.0/0", "0.0.0.0/0"),
])
def test_subnets_taken(text: str, canonical: str) -> None:
    assert parse_ovn_subnet(text) == canonical


@pytest.mark.parametrize("text", ["10.10.0.0/31", "10.10.0.0/32", "10.10.0.1/24", "10.10.0.0", "fd00::/64",
                                  " 10.10.0.0/24", "10.10.0.0/24 ", "010.10.0.0/24", "10.10.0.0/-1", "",
                                  "10.10.0.0/255.255.255.0", "10.10.0.0/", "10.10.0.0/+24"])
def test_subnets_refused(text: str) -> None:
    with pytest.raises(InvalidValue, match="invalid OVN subnet"):
        parse_ovn_subnet(text)


def test_addresses() -> None:
    assert parse_ovn_address("10.0.0.5") == "10.0.0.5"
    assert parse_ovn_address("FD00::5") == "fd00::5"
    for bad in ("10.0.0.5/24", " 10.0.0.5", "host", "224.0.0.1", "::"):
        with pytest.raises(InvalidValue):
            parse_ovn_address(bad)


@pytest.mark.parametrize(("address", "problem"), [
    ("10.10.0.1", None), ("10.10.0.2", None), ("10.10.0.254", None),
    ("10.10.0.0", "the subnet's own address"), ("10.10.0.255", "broadcast"),
    ("10.10.1.0", "outside"), ("10.9.255.255", "outside"), ("fd00::1", "outside"),
])
def test_address_against_subnet(address: str, problem: str | None) -> None:
    found = ovn_address_problem(address, "10.10.0.0/24")
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_interfaceid_namespace_and_value_never_drift() -> None:
    # Changing either would rename every logical switch port the project has made.
    assert uuid.uuid5(uuid.NAMESPACE_URL, "urn:virt-netxml:ovn-ports:1") == OVN_PORT_NAMESPACE
    assert ovn_port_uuid("ls-web", "52:54:00:4e:00:01") == "ed907085-ab26-51af-8044-740814f6be44"
    assert ovn_port_uuid("ls-web", "52:54:00:4E:00:01") == ovn_port_uuid("ls-web", "52:54:00:4e:00:01")
    # the separator keeps "a" + "b\n..." apart from "a\nb" + "..."
    assert ovn_port_uuid("ls", "52:54:00:00:00:01") != ovn_port_uuid("ls-", "52:54:00:00:00:01")


# --------------------------------------------------------------------------- builders


def test_build_network_spec() -> None:
    net = build_network(NetworkSpec(name="n", mode="bridge", bridge="br-int", virtualport="openvswitch",
                                    ovn_switch="ls", ovn_subnet="10.1.0.0/16", ovn_port_security=True,
                                    uuid="0c1f7b4e-8a52-4d3e-9f61-2b7c5d8e4a10"))
    meta = net.meta()
    assert meta is not None and meta.ovn is not None
    assert meta.ovn.resolved() == OvnSwitchWish("ls", "10.1.0.0/16", False, True)


@pytest.mark.parametrize(("spec", "error"), [
    (dict(ovn_dhcp=True), UsageError),
    (dict(ovn_switch="ls", virtualport=None), UsageError),
    (dict(ovn_switch="ls", ovn_subnet="10.1.0.0/33"), InvalidValue),
    (dict(ovn_switch="ls\x7f"), InvalidValue),
])
def test_build_network_refusals(spec: dict, error: type[Exception]) -> None:
    base = dict(name="n", mode="bridge", bridge="br-int", virtualport="openvswitch")
    with pytest.raises(error):
        build_network(NetworkSpec(**{**base, **spec}))


def test_build_interface_and_its_entry() -> None:
    spec = InterfaceSpec(type="bridge", source="br-int", virtualport="openvswitch,profileid=web",
                         ovn_switch="ls", ip="10.0.0.5", mac="52:54:00:00:00:01")
    iface = build_interface(spec, for_domain=True)
    assert iface.virtualport is not None and iface.virtualport.parameters is not None
    # the derived id joins the parameters already given
    assert iface.virtualport.parameters.profileid == "web"
    assert iface.virtualport.parameters.interfaceid == ovn_port_uuid("ls", "52:54:00:00:00:01")
    entry = build_metadata(spec, "52:54:00:00:00:01")
    assert entry is not None and entry.ovn is not None and entry.ip is None
    assert entry.ovn.resolved() == OvnPortWish("ls", "10.0.0.5")


def test_network_interface_gets_an_openvswitch_virtualport_with_the_id() -> None:
    spec = InterfaceSpec(type="network", source="ovnweb", ovn_switch="ls", mac="52:54:00:00:00:01")
    iface = build_interface(spec, for_domain=True)
    assert iface.virtualport is not None and iface.virtualport.type == "openvswitch"
    assert iface.virtualport.parameters is not None
    assert iface.virtualport.parameters.interfaceid == ovn_port_uuid("ls", "52:54:00:00:00:01")


# --------------------------------------------------------------------------- the hooks' start path


def test_reading_a_switch_name_imports_nothing_more() -> None:
    # The hooks read the metadata on their start path: the OVN models import nothing when the
    # module loads or a switch name is read; ipaddress is loaded only for a subnet or an address.
    code = f"""
import json, sys
sys.path[:0] = {module_paths()!r}
from lxml import etree
from xmltools.metadata import MetaOvnSwitch
loaded = set(sys.modules)
node = etree.fromstring('<ovn xmlns="urn:virt-netxml:hooks:1" switch="ls" subnet="10.0.0.0/24"/>')
ovn = MetaOvnSwitch(node)
assert ovn.switch == "ls"
mid = set(sys.modules)
assert ovn.subnet == "10.0.0.0/24"
print(json.dumps({{"module": "ipaddress" in loaded, "switch": sorted(mid - loaded),
                   "subnet": sorted(set(sys.modules) - mid)}}))
"""
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["module"] is False
    assert result["switch"] == []
    assert "ipaddress" in result["subnet"]
