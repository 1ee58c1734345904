"""The project's RelaxNG grammars (rng/) and the metadata XML Schema."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import pytest
from lxml import etree

from tests.support import require
from xmltools import schema

ROOT = Path(__file__).resolve().parent.parent


def xml(text: str) -> etree._Element:
    return etree.fromstring(text.strip().encode())


VALID_NETWORKS = {
    "nat-dhcp": """
<network>
  <name>default</name>
  <uuid>9a05da11-e96b-47f3-8253-a3a482e445f5</uuid>
  <forward mode="nat">
    <nat><address start="192.0.2.1" end="192.0.2.9"/><port start="1024" end="65535"/></nat>
  </forward>
  <bridge name="virbr0" stp="on" delay="0"/>
  <mac address="52:54:00:0a:cd:21"/>
  <domain name="lab.example" localOnly="yes"/>
  <mtu size="9000"/>
  <ip address="192.168.122.1" netmask="255.255.255.0">
    <tftp root="/srv/tftp"/>
    <dhcp>
      <range start="192.168.122.2" end="192.168.122.254"><lease expiry="1" unit="hours"/></range>
      <host mac="52:54:00:00:00:01" name="a" ip="192.168.122.10"/>
      <bootp file="pxelinux.0"/>
    </dhcp>
  </ip>
  <ip family="ipv6" address="fd00::1" prefix="64">
    <dhcp><host id="0:3:0:1:0:16:3e:11:22:33" ip="fd00::10"/></dhcp>
  </ip>
  <route address="10.1.0.0" prefix="16" gateway="192.168.122.5" metric="2"/>
</network>""",
    "isolated": "<network><name>iso</name><bridge name='virbr3'/><ip address='10.0.3.1' prefix='24'/>"
                "</network>",
    "route": "<network><name>r</name><forward mode='route' dev='ens224'/><ip address='10.0.2.1' prefix='24'/>"
             "</network>",
    "ovs-portgroups": """
<network>
  <name>ovs</name>
  <forward mode="bridge"/>
  <bridge name="ovsbr0"/>
  <virtualport type="openvswitch"/>
  <portgroup name="web" default="yes">
    <vlan><tag id="5"/></vlan>
    <virtualport><parameters profileid="web"/></virtualport>
    <bandwidth><inbound average="1000" peak="2000" burst="512"/></bandwidth>
  </portgroup>
  <portgroup name="trunk">
    <vlan trunk="yes"><tag id="10" nativeMode="untagged"/><tag id="20"/></vlan>
  </portgroup>
</network>""",
    "macvtap-pool": "<network><name>m</name><forward mode='vepa'><interface dev='ens256'/>"
                    "<interface dev='eth2'/></forward></network>",
    "hostdev-addresses": """
<network>
  <name>sriov</name>
  <forward mode="hostdev" managed="yes">
    <driver name="vfio"/>
    <address type="pci" domain="0x0000" bus="0x04" slot="0x10" function="0x0"/>
  </forward>
</network>""",
    "dns-and-metadata": """
<network xmlns:dnsmasq="http://libvirt.org/schemas/network/dnsmasq/1.0">
  <name>d</name>
  <metadata><app:x xmlns:app="urn:example:app" a="1"><app:y>text</app:y></app:x></metadata>
  <dns enable="yes" forwardPlainNames="no">
    <forwarder addr="192.0.2.53"/>
    <forwarder domain="example.com"/>
    <txt name="example" value="some text"/>
    <srv service="ldap" protocol="tcp" domain="example.com" target="ldap" port="389" priority="1" weight="5"/>
    <host ip="192.168.1.5"><hostname>web</hostname><hostname>www</hostname></host>
  </dns>
  <ip address="192.168.1.1" prefix="24"/>
  <dnsmasq:options><dnsmasq:option value="log-queries"/></dnsmasq:options>
</network>""",
}


@pytest.mark.parametrize("name", sorted(VALID_NETWORKS))
def test_valid_networks_validate(name: str) -> None:
    assert schema.validate("network", xml(VALID_NETWORKS[name])) == []


@pytest.mark.parametrize(("text", "line", "words"), [
    ("<network>\n<name>x</name>\n<bogus/>\n</network>", 3, "<bogus>"),
    ("<network>\n<name>x</name>\n<forward mode='tunnel'/>\n</network>", 3, "<forward>"),
    ("<network>\n<name>x</name>\n<ip address='1.2.3.4' prefix='24'>\n<dhcp><range start='1.2.3.5'/></dhcp>\n"
     "</ip>\n</network>", 4, "<range>"),
    ("<network>\n<uuid>00000000-0000-0000-0000-000000000000</uuid>\n</network>", 1, ""),
    ("<network>\n<name>x</name>\n<bridge name='br0' colour='red'/>\n</network>", 3, "<bridge>"),
])
def test_invalid_networks_point_at_the_line(text: str, line: int, words: str) -> None:
    errors = schema.validate("network", xml(text))
    assert len(errors) == 1
    assert errors[0].line == line
    assert words in errors[0].message


VALID_INTERFACES = [
    "<interface type='network'><source network='default' portgroup='web'/><model type='virtio'/>"
    "<mac address='52:54:00:01:02:03'/></interface>",
    "<interface type='bridge'><source bridge='br0'/><virtualport type='openvswitch'>"
    "<parameters interfaceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/></virtualport>"
    "<vlan trunk='yes'><tag id='10' nativeMode='tagged'/><tag id='20'/></vlan></interface>",
    "<interface type='direct'><source dev='ens256' mode='passthrough'/><virtualport type='802.1Qbh'>"
    "<parameters profileid='finance'/></virtualport></interface>",
    "<interface type='hostdev' managed='yes'><driver name='vfio'/><source>"
    "<address type='pci' domain='0x0000' bus='0x04' slot='0x10' function='0x0'/></source>"
    "<mac address='52:54:00:6d:90:02'/><vlan><tag id='42'/></vlan></interface>",
    "<interface type='ethernet'><target dev='tap0' managed='no'/><model type='virtio'/>"
    "<driver name='vhost' queues='4' rx_queue_size='256'><host csum='off'/><guest tso4='off'/></driver>"
    "</interface>",
    "<interface type='user'><link state='down'/><mtu size='1400'/><boot order='1'/>"
    "<rom bar='off'/><alias name='ua-net0'/><address type='pci' bus='0x00' slot='0x03'/></interface>",
    "<interface type='bridge'><source bridge='br0'/><filterref filter='clean-traffic'>"
    "<parameter name='IP' value='10.0.0.1'/></filterref>"
    "<bandwidth><inbound average='100'/><outbound average='50' peak='60'/></bandwidth>"
    "<coalesce><rx><frames max='7'/></rx></coalesce><tune><sndbuf>1600</sndbuf></tune></interface>",
    "<interface type='vhostuser'><source type='unix' path='/tmp/vhost.sock' mode='server'>"
    "<reconnect enabled='yes' timeout='10'/></source></interface>",
    "<interface type='udp'><source address='127.0.0.1' port='5555'><local address='127.0.0.1' port='6666'/>"
    "</source></interface>",
    "<interface type='null'/>",
]


@pytest.mark.parametrize("text", VALID_INTERFACES)
def test_valid_interfaces_validate(text: str) -> None:
    assert schema.validate("interface", xml(text)) == []


@pytest.mark.parametrize("text", [
    "<interface type='network'><model type='virtio'/></interface>",          # network needs a source
    "<interface type='warp'/>",                                               # unknown type
    "<interface type='direct'><source mode='vepa'/></interface>",             # direct needs dev
    "<interface type='user'><link state='sideways'/></interface>",
    "<interface type='bridge'><source bridge='br0'/><model type='virtio'/><model type='e1000'/></interface>",
    "<interface type='hostdev'><source><address type='pci' bus='0x04'/></source><warp/></interface>",
])
def test_invalid_interfaces_are_rejected(text: str) -> None:
    assert schema.validate("interface", xml(text)) != []


def test_interface_inside_a_domain_reports_the_document_line() -> None:
    doc = xml("<domain>\n<devices>\n<interface type='bridge'>\n<source bridge='br0'/>\n"
              "<link state='maybe'/>\n</interface>\n</devices>\n</domain>")
    errors = schema.validate("interface", doc.find("devices/interface"))
    assert [e.line for e in errors] == [5]


def test_grammars_are_compiled_once() -> None:
    assert schema.grammar("network") is schema.grammar("network")
    assert schema.grammar("interface") is schema.grammar("interface")
    with pytest.raises(ValueError):
        schema.grammar("domain")


def test_schema_folder_holds_every_grammar() -> None:
    folder = schema.schema_dir()
    for name in ("network.rng", "interface.rng", "netxml-common.rng", "netxml-metadata.xsd"):
        assert (folder / name).is_file()


def test_every_schema_file_is_shipped_as_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    tool = config["tool"]["setuptools"]
    assert tool["package-dir"]["xmltools.schemas"] == "rng"
    assert "xmltools.schemas" in tool["packages"]
    patterns = tool["package-data"]["xmltools.schemas"]
    shipped = [p.name for p in (ROOT / "rng").iterdir() if p.is_file()]
    assert shipped
    for name in shipped:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name


def test_every_xmltools_package_is_listed_for_installation() -> None:
    # pyproject lists packages explicitly: a subpackage missing there is absent after pip install.
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "xmltools").rglob("__init__.py")}
    assert found <= listed


def test_libvirt_schema_is_loaded_once_when_installed() -> None:
    require(schema.LIBVIRT_SCHEMA_DIR.joinpath("network.rng").is_file(), "libvirt's schemas installed")
    assert schema.libvirt_schema("network") is schema.libvirt_schema("network")
    assert schema.validate_libvirt("network", xml("<network><name>n</name></network>")) == []


def test_libvirt_schema_absent_gives_none(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(schema, "LIBVIRT_SCHEMA_DIR", tmp_path)
    schema.libvirt_schema.cache_clear()
    try:
        assert schema.libvirt_schema("network") is None
        assert schema.validate_libvirt("network", xml("<network><name>n</name></network>")) is None
    finally:
        schema.libvirt_schema.cache_clear()


META_OK = """
<vnx:netxml xmlns:vnx="urn:virt-netxml:hooks:1">
  <vnx:portgroup name="trunk"><vnx:vlan trunks="20,30-40" native="20"/></vnx:portgroup>
  <vnx:interface mac="52:54:00:12:34:56">
    <vnx:ovs-setting table="Port" column="other_config" key="k" value="v"/>
    <vnx:vlan tag="10"/>
    <vnx:ovs-setting table="Interface" column="external_ids" key="a" value="b"/>
  </vnx:interface>
  <vnx:bridge vlan-filtering="yes"/>
  <vnx:sriov pf="enp4s0f0" numvfs="8"/>
</vnx:netxml>"""


def test_metadata_in_any_order_validates() -> None:
    assert schema.validate_metadata(xml(META_OK)) == []


@pytest.mark.parametrize(("text", "line", "words"), [
    ('<vnx:netxml xmlns:vnx="urn:virt-netxml:hooks:1">\n<vnx:sriov pf="enp4s0f0"/>\n</vnx:netxml>',
     2, "numvfs"),
    ('<vnx:netxml xmlns:vnx="urn:virt-netxml:hooks:1">\n<vnx:interface mac="52:54:00:12:34:56">\n'
     '<vnx:vlan tag="4096"/>\n</vnx:interface>\n</vnx:netxml>', 3, "4096"),
    ('<vnx:netxml xmlns:vnx="urn:virt-netxml:hooks:1">\n<vnx:bridge vlan-filtering="yes"/>\n'
     '<vnx:bridge vlan-filtering="no"/>\n</vnx:netxml>', 3, "bridge"),
    ('<vnx:netxml xmlns:vnx="urn:virt-netxml:hooks:1">\n<vnx:shim name="a/b"/>\n</vnx:netxml>', 2, "a/b"),
])
def test_metadata_errors_point_at_the_element(text: str, line: int, words: str) -> None:
    errors = schema.validate_metadata(xml(text))
    assert errors
    assert errors[0].line == line
    assert words in errors[0].message


@pytest.mark.parametrize(("grammar", "text", "line", "message"), [
    ("network", "<network>\n<name>x</name>\n<bridge name='virbr0' stpp='on'/>\n</network>",
     3, "<bridge> does not take attribute 'stpp'"),
    ("network", "<network>\n<name>x</name>\n<forward mode='nat'>\n<nat>\n"
     "<adress start='192.0.2.1' end='192.0.2.2'/>\n</nat>\n</forward>\n</network>",
     5, "<adress> is not allowed in <nat>"),
    ("interface", "<interface type='direct'>\n<source dev='ens224' mdoe='vepa'/>\n</interface>",
     2, "<source> does not take attribute 'mdoe'"),
    ("interface", "<interface type='bridge' colour='red'>\n<source bridge='br0'/>\n<link state='maybe'/>\n"
     "</interface>", 1, "<interface> does not take attribute 'colour'"),
])
def test_unknown_names_are_reported_precisely(grammar: str, text: str, line: int, message: str) -> None:
    assert schema.validate(grammar, xml(text)) == [schema.SchemaError(line, message)]


def test_foreign_metadata_is_never_blamed() -> None:
    doc = xml("<network>\n<name>x</name>\n"
              "<metadata><o:x xmlns:o='urn:o' any='1'><o:y z='2'/></o:x></metadata>\n"
              "<mac address='zz'/>\n</network>")
    [error] = schema.validate("network", doc)
    assert error.line == 4
    assert error.message.startswith("<mac>")


def test_vocabulary_lists_declared_names() -> None:
    attrs, kids = schema.vocabulary("network")["forward"]
    assert {"mode", "dev", "managed"} <= attrs
    assert {"interface", "address", "pf", "driver", "nat"} <= kids
    assert "*" in schema.vocabulary("interface")["coalesce"][1]
