"""``virt-netxml edit``: the edits a sysadmin reaches for, and what a change of type leaves.

--remove, --set-mac, --mtu, --link, --source-dev, --bandwidth and --print-diff, each with its
refusals (exit 2, one line, the file's bytes unchanged); a change of type drops what the new
type does not take and says so; an edit whose result libvirt's schema (or ours) would refuse
is refused before anything is written, naming the element.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from tests.support import copy_domain, one_error_line, require
from xmltools import schema, versions
from xmltools.cli.main import cli
from xmltools.domain import Domain
from xmltools.interface import Interface

VNX = "urn:virt-netxml:hooks:1"


def domain_file(tmp_path: Path, interfaces: str, metadata: str = "") -> Path:
    meta = (f"  <metadata>\n    <vnx:netxml xmlns:vnx='{VNX}'>\n{metadata}    </vnx:netxml>\n"
            "  </metadata>\n") if metadata else ""
    path = tmp_path / "vm.xml"
    path.write_text(f"<domain type='kvm'>\n  <name>vm</name>\n{meta}  <devices>\n{interfaces}"
                    "  </devices>\n</domain>\n")
    return path


def edit(args: list[str], stdin: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["edit", *args], input=stdin)


def edited(path: Path, *args: str) -> Domain:
    """Run an edit that must succeed in place; the domain as written."""
    result = edit([str(path), *args, "-i"])
    assert result.exit_code == 0, result.stderr
    return Domain.from_xml(path.read_bytes())


def refused(path: Path, *args: str) -> str:
    """Run an edit in place that must be refused: one line, exit 2, the file as it was."""
    before = path.read_bytes()
    line = one_error_line(edit([str(path), *args, "-i"]))
    assert path.read_bytes() == before
    return line


def valid_for_libvirt(iface: Interface) -> None:
    """Our grammar takes the interface, and libvirt's own schema where it is installed."""
    assert schema.validate("interface", iface.node) == []
    from xmltools.edit import _libvirt_interface_schema

    theirs = _libvirt_interface_schema()
    if theirs is not None:
        assert theirs.validate(iface.node), theirs.error_log


TWO = ("    <interface type='bridge'>\n      <mac address='52:54:00:30:00:01'/>\n"
       "      <source bridge='br0'/>\n    </interface>\n"
       "    <interface type='network'>\n      <mac address='52:54:00:30:00:02'/>\n"
       "      <source network='default'/>\n    </interface>\n")
TWO_META = ("      <vnx:interface mac='52:54:00:30:00:01'>\n        <vnx:vlan tag='10'/>\n"
            "      </vnx:interface>\n"
            "      <vnx:interface mac='52:54:00:30:00:02'>\n        <vnx:vlan tag='20'/>\n"
            "      </vnx:interface>\n")


# --------------------------------------------------------------------------- --remove


def test_remove_takes_the_interface_and_its_metadata_entry(tmp_path: Path) -> None:
    path = domain_file(tmp_path, TWO, TWO_META)
    dom = edited(path, "--mac", "52:54:00:30:00:01", "--remove")
    assert [i.mac for i in dom.interfaces] == ["52:54:00:30:00:02"]
    assert dom.meta_interface("52:54:00:30:00:01") is None
    assert dom.meta_interface("52:54:00:30:00:02").vlan.tag == 20   # the other one's wish stays


def test_remove_the_last_wish_leaves_no_empty_metadata(tmp_path: Path) -> None:
    first_only = TWO_META[:TWO_META.index("      <vnx:interface mac='52:54:00:30:00:02'")]
    path = domain_file(tmp_path, TWO, first_only)
    dom = edited(path, "--index", "0", "--remove")
    assert dom.node.find("metadata") is None and len(dom.interfaces) == 1


def test_remove_with_another_change_is_refused(tmp_path: Path) -> None:
    path = domain_file(tmp_path, TWO)
    assert "give no other change" in refused(path, "--index", "0", "--remove", "--model", "virtio")


def test_remove_on_a_standalone_interface_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nic.xml"
    path.write_text("<interface type='network'>\n  <source network='default'/>\n</interface>\n")
    assert "standalone <interface>" in refused(path, "--remove")


# --------------------------------------------------------------------------- --set-mac


def test_set_mac_normalises_and_moves_the_metadata_entry(tmp_path: Path) -> None:
    path = domain_file(tmp_path, TWO, TWO_META)
    dom = edited(path, "--index", "1", "--set-mac", "52-54-00-AB-CD-EF")
    assert dom.interfaces[1].mac == "52:54:00:ab:cd:ef"
    assert dom.meta_interface("52:54:00:ab:cd:ef").vlan.tag == 20
    assert dom.meta_interface("52:54:00:30:00:02") is None


@pytest.mark.parametrize(("mac", "fragment"), [
    ("52:54:00:30:00:01", "another device of the domain has it"),
    ("52-54-00-30-00-01", "another device of the domain has it"),
    ("01:00:5e:00:00:01", "multicast"),
    ("ff:ff:ff:ff:ff:ff", "broadcast"),
    ("52:54:00:30:00", "expected 6 octets"),
])
def test_set_mac_refusals(tmp_path: Path, mac: str, fragment: str) -> None:
    path = domain_file(tmp_path, TWO)
    assert fragment in refused(path, "--index", "1", "--set-mac", mac)


def test_set_mac_on_several_interfaces_is_refused(tmp_path: Path) -> None:
    path = domain_file(tmp_path, TWO)
    assert "2 are selected" in refused(path, "--all", "--set-mac", "52:54:00:aa:aa:aa")


def test_set_mac_onto_a_stale_metadata_entry_is_refused(tmp_path: Path) -> None:
    stale = ("      <vnx:interface mac='52:54:00:99:00:01'>\n        <vnx:vlan tag='5'/>\n"
             "      </vnx:interface>\n")
    path = domain_file(tmp_path, TWO, stale)
    assert "metadata already holds" in refused(path, "--index", "0", "--set-mac", "52:54:00:99:00:01")


# --------------------------------------------------------------------------- --mtu, --link


def test_mtu_and_link(tmp_path: Path) -> None:
    path = domain_file(tmp_path, TWO)
    dom = edited(path, "--index", "0", "--mtu", "9000", "--link", "down")
    iface = dom.interfaces[0]
    assert (iface.mtu, iface.link_state) == (9000, "down")
    valid_for_libvirt(iface)
    dom = edited(path, "--index", "0", "--link", "up")
    assert dom.interfaces[0].link_state == "up"


@pytest.mark.parametrize(("args", "fragment"), [
    (["--mtu", "67"], "68 to 65535"),
    (["--mtu", "65536"], "68 to 65535"),
    (["--mtu", "jumbo"], "invalid MTU 'jumbo'"),
    (["--link", "sideways"], "expected up or down"),
])
def test_mtu_and_link_refusals(tmp_path: Path, args: list[str], fragment: str) -> None:
    path = domain_file(tmp_path, TWO)
    assert fragment in refused(path, "--index", "0", *args)


HOSTDEV = ("    <interface type='hostdev' managed='yes'>\n      <mac address='52:54:00:30:00:09'/>\n"
           "      <driver name='vfio'/>\n      <source>\n"
           "        <address type='pci' domain='0x0000' bus='0x04' slot='0x10' function='0x0'/>\n"
           "      </source>\n    </interface>\n")


@pytest.mark.parametrize(("args", "fragment"), [
    (["--mtu", "9000"], "hostdev"),
    (["--bandwidth", "in=100"], "hostdev"),
])
def test_hostdev_takes_no_mtu_or_bandwidth(tmp_path: Path, args: list[str], fragment: str) -> None:
    path = domain_file(tmp_path, HOSTDEV)
    assert fragment in refused(path, *args)


# --------------------------------------------------------------------------- --source-dev


def test_source_dev_makes_a_macvtap(tmp_path: Path) -> None:
    path = domain_file(tmp_path, TWO)
    dom = edited(path, "--index", "1", "--source-dev", "eno1")
    iface = dom.interfaces[1]
    assert iface.type == "direct" and dict(iface.node.find("source").attrib) == {"dev": "eno1"}
    valid_for_libvirt(iface)


def test_source_dev_on_a_macvtap_changes_only_the_uplink(tmp_path: Path) -> None:
    path = domain_file(tmp_path, "    <interface type='direct'>\n      <mac address='52:54:00:30:00:05'/>\n"
                                 "      <source dev='eno1' mode='bridge'/>\n    </interface>\n")
    dom = edited(path, "--source-dev", "eno2")
    assert dict(dom.interfaces[0].node.find("source").attrib) == {"dev": "eno2", "mode": "bridge"}


@pytest.mark.parametrize(("dev", "fragment"), [
    ("eno1/../x", "contains '/'"),
    ("a-very-long-uplink", "at most 15"),
    ("", "empty"),
])
def test_source_dev_names_are_checked_like_the_hooks_do(tmp_path: Path, dev: str, fragment: str) -> None:
    path = domain_file(tmp_path, TWO)
    line = refused(path, "--index", "1", "--source-dev", dev)
    assert "uplink device" in line and fragment in line


def test_source_dev_and_source_network_contradict(tmp_path: Path) -> None:
    path = domain_file(tmp_path, TWO)
    assert "contradict" in refused(path, "--index", "1", "--source-dev", "eno1", "--source-network", "n")


# --------------------------------------------------------------------------- --bandwidth


def test_bandwidth_sets_both_directions(tmp_path: Path) -> None:
    path = domain_file(tmp_path, TWO)
    dom = edited(path, "--index", "0", "--bandwidth", "in=1000,2000,512", "--bandwidth", "out=500")
    bw = dom.interfaces[0].node.find("bandwidth")
    assert dict(bw.find("inbound").attrib) == {"average": "1000", "peak": "2000", "burst": "512"}
    assert dict(bw.find("outbound").attrib) == {"average": "500"}
    valid_for_libvirt(dom.interfaces[0])
    # one value with both; a direction given again replaces the old limit (peak and burst go)
    dom = edited(path, "--index", "0", "--bandwidth", "in=10 out=20,30")
    bw = dom.interfaces[0].node.find("bandwidth")
    assert dict(bw.find("inbound").attrib) == {"average": "10"}
    assert dict(bw.find("outbound").attrib) == {"average": "20", "peak": "30"}
    dom = edited(path, "--index", "0", "--bandwidth", "none")
    assert dom.interfaces[0].node.find("bandwidth") is None


def test_bandwidth_keeps_a_network_interface_floor(tmp_path: Path) -> None:
    path = domain_file(tmp_path, "    <interface type='network'>\n      <mac address='52:54:00:30:00:02'/>\n"
                                 "      <source network='default'/>\n      <bandwidth>\n"
                                 "        <inbound average='100' floor='50'/>\n      </bandwidth>\n"
                                 "    </interface>\n")
    dom = edited(path, "--bandwidth", "in=200")
    assert dict(dom.interfaces[0].node.find("bandwidth/inbound").attrib) == {"average": "200", "floor": "50"}


@pytest.mark.parametrize(("value", "fragment"), [
    ("in=0", "at least 1"),
    ("in=4294967296", "4294967295"),        # libvirt's schema: unsignedInt
    ("out=10,20,4294967296", "4294967295"),
    ("in=10 in=20", "in= given twice"),
    ("up=10", "expected in=AVG"),
    ("in=1,2,3,4", "AVERAGE[,PEAK[,BURST]]"),
    ("none in=5", "give it alone"),
])
def test_bandwidth_refusals(tmp_path: Path, value: str, fragment: str) -> None:
    path = domain_file(tmp_path, TWO)
    assert fragment in refused(path, "--index", "0", "--bandwidth", value)


def test_interface_bandwidth_has_libvirts_upper_limit_too() -> None:
    result = CliRunner().invoke(cli, ["interface", "--type", "bridge", "--source", "br0",
                                      "--bandwidth-in", "4294967296"])
    assert "4294967295" in one_error_line(result)


# --------------------------------------------------------------------------- --print-diff


def test_print_diff_instead_of_the_document(tmp_path: Path) -> None:
    path = domain_file(tmp_path, TWO)
    before = path.read_bytes()
    result = edit([str(path), "--index", "1", "--model", "virtio", "--print-diff"])
    assert result.exit_code == 0, result.stderr
    assert path.read_bytes() == before
    assert result.stdout == (f"--- {path}\n+++ {path}\n@@ -8,6 +8,7 @@\n"
                             "     <interface type='network'>\n"
                             "       <mac address='52:54:00:30:00:02'/>\n"
                             "       <source network='default'/>\n"
                             "+      <model type='virtio'/>\n"
                             "     </interface>\n"
                             "   </devices>\n"
                             " </domain>\n")


def test_print_diff_with_in_place_writes_and_prints(tmp_path: Path) -> None:
    path = domain_file(tmp_path, TWO)
    result = edit([str(path), "--index", "0", "--link", "down", "--print-diff", "-i"])
    assert result.exit_code == 0, result.stderr
    assert "+      <link state='down'/>\n" in result.stdout
    assert "<link state='down'/>" in path.read_text()
    out = tmp_path / "out.xml"
    result = edit([str(path), "--index", "0", "--link", "up", "--print-diff", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "-      <link state='down'/>\n+      <link state='up'/>\n" in result.stdout
    assert "<link state='up'/>" in out.read_text() and "<link state='down'/>" in path.read_text()


def test_print_diff_of_an_edit_that_changes_nothing_is_empty(tmp_path: Path) -> None:
    path = domain_file(tmp_path, TWO)
    result = edit([str(path), "--index", "0", "--clear-vlan", "--print-diff"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""


# --------------------------------------------------------------------------- changes of type


def test_vhostuser_to_network_drops_reconnect(tmp_path: Path) -> None:
    path = domain_file(tmp_path, "    <interface type='vhostuser'>\n"
                                 "      <mac address='52:54:00:30:00:07'/>\n"
                                 "      <source type='unix' path='/run/vhu0.sock' mode='server'>\n"
                                 "        <reconnect enabled='yes' timeout='10'/>\n      </source>\n"
                                 "      <model type='virtio'/>\n    </interface>\n")
    result = edit([str(path), "--source-network", "default", "-i"])
    assert result.exit_code == 0, result.stderr
    assert "dropped <reconnect> of <source>" in result.stderr
    iface = Domain.from_xml(path.read_bytes()).interfaces[0]
    assert etree.tostring(iface.node.find("source"), with_tail=False) == b'<source network="default"/>'
    valid_for_libvirt(iface)


def test_ovs_port_to_macvtap_drops_the_openvswitch_virtualport(tmp_path: Path) -> None:
    path = domain_file(tmp_path, "    <interface type='bridge'>\n      <mac address='52:54:00:30:00:08'/>\n"
                                 "      <source bridge='ovsbr0'/>\n      <virtualport type='openvswitch'>\n"
                                 "        <parameters interfaceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/>\n"
                                 "      </virtualport>\n    </interface>\n")
    result = edit([str(path), "--source-dev", "eno1", "-i"])
    assert result.exit_code == 0, result.stderr
    assert "<virtualport type='openvswitch'>" in result.stderr
    iface = Domain.from_xml(path.read_bytes()).interfaces[0]
    assert iface.virtualport is None and iface.type == "direct"
    valid_for_libvirt(iface)


QBG = ("    <interface type='direct'>\n      <mac address='52:54:00:30:00:0a'/>\n"
       "      <source dev='eno1' mode='vepa'/>\n      <virtualport type='802.1Qbg'>\n"
       "        <parameters managerid='11' typeid='1193047' typeidversion='2'/>\n"
       "      </virtualport>\n    </interface>\n")


def test_macvtap_to_bridge_drops_an_8021qbg_profile_but_a_network_keeps_it(tmp_path: Path) -> None:
    path = domain_file(tmp_path, QBG)
    dom = edited(path, "--source-network", "qbg-net")
    assert dom.interfaces[0].virtualport.type == "802.1Qbg"
    path = domain_file(tmp_path, QBG)
    result = edit([str(path), "--source-bridge", "br0", "-i"])
    assert result.exit_code == 0, result.stderr
    assert "<virtualport type='802.1Qbg'>" in result.stderr
    iface = Domain.from_xml(path.read_bytes()).interfaces[0]
    assert iface.virtualport is None
    valid_for_libvirt(iface)


def test_unmanaged_tap_to_bridge_drops_the_target_and_the_tap_wish(tmp_path: Path) -> None:
    tap = ("      <vnx:interface mac='52:54:00:30:00:03'>\n        <vnx:tap bridge='br0'/>\n"
           "      </vnx:interface>\n")
    path = domain_file(tmp_path, "    <interface type='ethernet'>\n      <mac address='52:54:00:30:00:03'/>\n"
                                 "      <target dev='tap0' managed='no'/>\n    </interface>\n", tap)
    result = edit([str(path), "--source-bridge", "br0", "-i"])
    assert result.exit_code == 0, result.stderr
    assert "<target dev='tap0' managed='no'>" in result.stderr and "<vnx:tap>" in result.stderr
    dom = Domain.from_xml(path.read_bytes())
    assert dom.interfaces[0].node.find("target") is None
    assert dom.node.find("metadata") is None     # the only wish went, and its husk with it
    valid_for_libvirt(dom.interfaces[0])


def test_network_to_bridge_drops_the_floor(tmp_path: Path) -> None:
    path = domain_file(tmp_path, "    <interface type='network'>\n      <mac address='52:54:00:30:00:02'/>\n"
                                 "      <source network='default'/>\n      <bandwidth>\n"
                                 "        <inbound average='100' floor='50'/>\n      </bandwidth>\n"
                                 "    </interface>\n")
    result = edit([str(path), "--source-bridge", "br0", "-i"])
    assert result.exit_code == 0, result.stderr
    assert "the floor of <inbound>" in result.stderr
    iface = Domain.from_xml(path.read_bytes()).interfaces[0]
    assert dict(iface.node.find("bandwidth/inbound").attrib) == {"average": "100"}
    valid_for_libvirt(iface)


def test_passt_user_to_network_drops_the_backend_and_port_forwards(tmp_path: Path) -> None:
    path = domain_file(tmp_path, "    <interface type='user'>\n      <mac address='52:54:00:30:00:0b'/>\n"
                                 "      <backend type='passt'/>\n"
                                 "      <portForward proto='tcp'>\n        <range start='2222' to='22'/>\n"
                                 "      </portForward>\n    </interface>\n")
    result = edit([str(path), "--source-network", "default", "-i"])
    assert result.exit_code == 0, result.stderr
    iface = Domain.from_xml(path.read_bytes()).interfaces[0]
    assert iface.node.find("backend") is None and iface.node.find("portForward") is None
    valid_for_libvirt(iface)


def test_a_hook_vlan_on_what_becomes_a_macvtap_is_refused(tmp_path: Path) -> None:
    path = domain_file(tmp_path, TWO, TWO_META)
    line = refused(path, "--index", "0", "--source-dev", "eno1")
    assert "<vnx:vlan" in line and "--clear-bridge-vlan" in line
    dom = edited(path, "--index", "0", "--source-dev", "eno1", "--clear-bridge-vlan")
    assert dom.interfaces[0].type == "direct" and dom.meta_interface("52:54:00:30:00:01") is None


def test_an_edit_the_grammar_refuses_is_refused_naming_what(tmp_path: Path) -> None:
    """A type the project does not model keeps its source attributes: the result is checked,
    and the edit refused naming the attribute libvirt would refuse."""
    path = domain_file(tmp_path, "    <interface type='udp'>\n      <mac address='52:54:00:30:00:0c'/>\n"
                                 "      <source address='192.0.2.1' port='5555'>\n"
                                 "        <local address='192.0.2.2' port='5556'/>\n      </source>\n"
                                 "    </interface>\n")
    line = refused(path, "--source-network", "default")
    assert "libvirt would refuse the result" in line and "<source> does not take attribute" in line


def test_an_unmanaged_target_left_on_a_bridge_is_refused(tmp_path: Path) -> None:
    """The final state is checked by the rules too: an unmanaged target on a bridge port
    (libvirt refuses it) is refused whatever put it there."""
    from xmltools.edit import InterfaceEdits, edit_interfaces
    from xmltools.errors import InvalidValue

    iface = Interface.from_xml("<interface type='ethernet'><target dev='tap0' managed='no'/></interface>")
    iface.type = "bridge"     # what a change of type that kept the target would leave
    with pytest.raises(InvalidValue, match="managed='no'"):
        edit_interfaces([iface], InterfaceEdits(model="virtio"))


def test_problems_the_interface_had_are_not_the_edits_doing(tmp_path: Path) -> None:
    path = copy_domain(tmp_path)     # interface 0 carries attributes no grammar knows
    dom = edited(path, "--index", "0", "--model", "e1000e")
    assert dom.interfaces[0].model == "e1000e"


def test_libvirts_own_schema_is_asked_for_its_release() -> None:
    from xmltools.edit import interface_problems

    require(schema.LIBVIRT_SCHEMA_DIR.joinpath("domaincommon.rng").is_file(), "libvirt's schemas")
    installed = versions.installed_once()
    require(installed is not None, "an installed libvirt whose version can be read")
    assert installed is not None
    iface = Interface.from_xml("<interface type='bridge'><source bridge='br0'/><bandwidth>"
                               "<inbound average='4294967296'/></bandwidth></interface>")
    problems = interface_problems(iface, installed)
    assert any(p.startswith("libvirt's schema:") for p in problems)
    # another release's schema is not the installed one: not asked
    other = (installed[0] + 1, 0, 0)
    assert not any(p.startswith("libvirt's schema:") for p in interface_problems(iface, other))


def test_a_broken_libvirt_schema_install_leaves_our_checks(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from xmltools.edit import _libvirt_interface_schema

    (tmp_path / "domaincommon.rng").write_text("<grammar xmlns='http://relaxng.org/ns/structure/1.0'>")
    monkeypatch.setattr(schema, "LIBVIRT_SCHEMA_DIR", tmp_path)
    _libvirt_interface_schema.cache_clear()
    try:
        assert _libvirt_interface_schema() is None
    finally:
        _libvirt_interface_schema.cache_clear()


# --------------------------------------------------------------------------- the core, exactly

def _msg(func, *args, **kwargs) -> str:  # type: ignore[no-untyped-def]
    from xmltools.errors import NetXmlError

    with pytest.raises(NetXmlError) as caught:
        func(*args, **kwargs)
    return caught.value.message


def test_selection_messages_exactly() -> None:
    from xmltools.edit import select_interfaces

    dom = Domain.from_xml(f"<domain><name>vm</name><devices>{TWO}</devices></domain>")
    assert _msg(select_interfaces, dom, source="vm.xml") == (
        "vm.xml: the domain has 2 interfaces: select one with --mac, --target or --index, or all with "
        "--all; its interfaces: 0 (52:54:00:30:00:01, bridge br0), 1 (52:54:00:30:00:02, network default)")
    assert _msg(select_interfaces, dom, mac="52:54:00:30:00:01", index=0, every=True) == \
        "--all selects every interface: drop --mac, --index"
    assert _msg(select_interfaces, dom, target="t", every=True) == \
        "--all selects every interface: drop --target"
    assert [i.mac for i in select_interfaces(dom, every=True)] == ["52:54:00:30:00:01", "52:54:00:30:00:02"]
    assert [i.mac for i in select_interfaces(dom, index=1)] == ["52:54:00:30:00:02"]
    empty = Domain.from_xml("<domain><name>vm</name><devices/></domain>")
    assert _msg(select_interfaces, empty) == "the domain: the domain has no interface to edit"
    assert _msg(select_interfaces, empty, every=True) == "the domain: the domain has no interface to edit"
    solo = Domain.from_xml("<domain><devices><interface type='user'/></devices></domain>")
    assert len(select_interfaces(solo)) == 1


@pytest.mark.parametrize(("xml", "summary"), [
    ("<interface type='hostdev'><source><address type='pci' domain='0x0000' bus='0x04' slot='0x10' "
     "function='0x1'/></source></interface>", "no MAC, hostdev 0000:04:10.1"),
    ("<interface type='hostdev'><source><address type='pci' bus='0x1ff'/></source></interface>",
     "no MAC, hostdev"),
    ("<interface type='vhostuser'><mac address='52:54:00:00:00:01'/><source type='unix' "
     "path='/run/s.sock'/><target dev='vhu0'/></interface>",
     "52:54:00:00:00:01, vhostuser /run/s.sock, target vhu0"),
    ("<interface type='direct'><source dev='eno1' mode='vepa'/></interface>", "no MAC, direct eno1"),
    ("<interface type='internal'><source name='intnet'/></interface>", "no MAC, internal intnet"),
    ("<interface><source/></interface>", "no MAC, no type"),
    ("<interface type='ethernet'><source><ip address='10.0.0.1'/></source></interface>", "no MAC, ethernet"),
])
def test_interface_summaries(xml: str, summary: str) -> None:
    from xmltools.domain import summarize

    assert summarize(Interface.from_xml(xml)) == summary


def test_same_mac_key() -> None:
    from xmltools.domain import same_mac_key
    from xmltools.errors import InvalidValue

    assert same_mac_key("52-54-00-0A-b-c") == "52:54:00:0a:0b:0c"
    assert same_mac_key(" Not-A-Mac ") == "not-a-mac"
    assert same_mac_key("01:00:5E:00:00:01") == "01:00:5e:00:00:01"
    with pytest.raises(InvalidValue):
        same_mac_key("01:00:5E:00:00:01", strict=True)


@pytest.mark.parametrize(("values", "parsed"), [
    ((), {}),
    (("none",), None),
    (("  none  ",), None),
    (("in=1",), {"inbound": {"average": 1}}),
    (("in=1,2 out=3,4,5",), {"inbound": {"average": 1, "peak": 2},
                             "outbound": {"average": 3, "peak": 4, "burst": 5}}),
    (("out=7", "in=8"), {"outbound": {"average": 7}, "inbound": {"average": 8}}),
])
def test_parse_bandwidth_edit(values: tuple[str, ...], parsed: object) -> None:
    from xmltools.edit import parse_bandwidth_edit

    assert parse_bandwidth_edit(values) == parsed


@pytest.mark.parametrize(("values", "message"), [
    (("",), "invalid bandwidth '': empty"),
    ((" ", ""), "invalid bandwidth '  ': empty"),
    (("none", "in=1"), "invalid bandwidth 'none in=1': 'none' removes the limits: give it alone"),
    (("in",), "invalid bandwidth 'in': expected in=AVG[,PEAK[,BURST]] or out=AVG[,PEAK[,BURST]], or none"),
    (("inbound=5",), "invalid bandwidth 'inbound=5': expected in=AVG[,PEAK[,BURST]] or "
                     "out=AVG[,PEAK[,BURST]], or none"),
    (("out=1", "out=2"), "invalid bandwidth 'out=2': out= given twice"),
])
def test_parse_bandwidth_edit_messages(values: tuple[str, ...], message: str) -> None:
    from xmltools.edit import parse_bandwidth_edit

    assert _msg(parse_bandwidth_edit, values) == message


def test_set_bandwidth_replaces_one_direction_and_removes_all() -> None:
    from xmltools.edit import set_bandwidth

    iface = Interface.from_xml("<interface type='bridge'><source bridge='br0'/><bandwidth>"
                               "<inbound average='5' peak='6' burst='7'/><outbound average='1'/>"
                               "</bandwidth></interface>")
    set_bandwidth(iface, {"inbound": {"average": 9}}, "here")
    assert etree.tostring(iface.node.find("bandwidth"), with_tail=False) == \
        b'<bandwidth><inbound average="9"/><outbound average="1"/></bandwidth>'
    set_bandwidth(iface, {}, "here")
    assert iface.node.find("bandwidth") is not None
    set_bandwidth(iface, None, "here")
    assert iface.node.find("bandwidth") is None
    hostdev = Interface.from_xml("<interface type='hostdev'/>")
    assert _msg(set_bandwidth, hostdev, None, "here") == \
        "invalid bandwidth 'here': libvirt sets no bandwidth limits on a hostdev interface"


@pytest.mark.parametrize(("xml", "new", "dropped", "left"), [
    ("<interface type='vhostuser'><source type='unix' path='/s' mode='client'><reconnect enabled='yes'/>"
     "<!-- keep --></source></interface>", "network", ["<reconnect> of <source>"],
     "<interface type=\"network\"><source network=\"n\"><!-- keep --></source></interface>"),
    ("<interface type='hostdev' managed='no'><driver name='vfio'/><source><vendor id='1'/><product id='2'/>"
     "</source></interface>", "network",
     ["managed='no'", "<driver name='vfio'>", "<vendor> of <source>", "<product> of <source>"],
     "<interface type=\"network\"><source network=\"n\"/></interface>"),
    ("<interface type='hostdev'><driver name='kvm'/><source><address type='pci' bus='1'/></source>"
     "</interface>",
     "bridge", ["<address> of <source>"],
     "<interface type=\"bridge\"><source bridge=\"n\"/><driver name=\"kvm\"/></interface>"),
    ("<interface type='network'><source network='a'/><virtualport><parameters profileid='p'/></virtualport>"
     "</interface>", "bridge", ["<virtualport>"],
     "<interface type=\"bridge\"><source bridge=\"n\"/></interface>"),
    ("<interface type='network'><source network='a'/><virtualport type='802.1Qbh'/></interface>",
     "direct", [],
     "<interface type=\"direct\"><source dev=\"n\"/><virtualport type=\"802.1Qbh\"/></interface>"),
    ("<interface type='bridge'><source bridge='a'/><virtualport type='midonet'/></interface>",
     "network", [], "<interface type=\"network\"><source network=\"n\"/><virtualport type=\"midonet\"/>"
                    "</interface>"),
    ("<interface type='bridge'><source bridge='a'/><virtualport type='x-future'/></interface>",
     "direct", [],
     "<interface type=\"direct\"><source dev=\"n\"/><virtualport type=\"x-future\"/></interface>"),
    ("<interface type='ethernet'><target dev='tap0'/></interface>", "bridge", [],
     "<interface type=\"bridge\"><source bridge=\"n\"/><target dev=\"tap0\"/></interface>"),
    ("<interface type='ethernet'><target dev='tap0' managed='yes'/></interface>", "bridge", [],
     "<interface type=\"bridge\"><source bridge=\"n\"/><target dev=\"tap0\" managed=\"yes\"/></interface>"),
    ("<interface type='network'><source network='a'/><bandwidth><inbound floor='5'/>"
     "<outbound average='1'/></bandwidth></interface>", "bridge", ["the floor of <inbound>"],
     "<interface type=\"bridge\"><source bridge=\"n\"/><bandwidth><outbound average=\"1\"/></bandwidth>"
     "</interface>"),
    ("<interface type='network'><source network='a'/><bandwidth classID='3'><inbound floor='5'/></bandwidth>"
     "</interface>", "bridge", ["the floor of <inbound>"],
     "<interface type=\"bridge\"><source bridge=\"n\"/><bandwidth classID=\"3\"/></interface>"),
    ("<interface type='network'><source network='a'/><bandwidth><inbound floor='5'/></bandwidth></interface>",
     "bridge", ["the floor of <inbound>"], "<interface type=\"bridge\"><source bridge=\"n\"/></interface>"),
    ("<interface type='network'><source network='a'/><bandwidth><inbound floor='5'/></bandwidth></interface>",
     "network", [], "<interface type=\"network\"><source network=\"n\"/><bandwidth><inbound floor=\"5\"/>"
                    "</bandwidth></interface>"),
    ("<interface type='user'><backend type='passt'/><backend type='other'/><portForward proto='tcp'/>"
     "<portForward proto='udp'/></interface>", "network",
     ["<backend> (passt)", "<portForward>", "<portForward>"],
     "<interface type=\"network\"><source network=\"n\"/><backend type=\"other\"/></interface>"),
    ("<interface type='user'><backend type='passt'/><portForward proto='tcp'/></interface>", "vhostuser",
     [], None),
])
def test_change_type_drops_exactly(xml: str, new: str, dropped: list[str], left: str | None) -> None:
    iface = Interface.from_xml(xml)
    said: list[str] = []
    src = iface.change_type(new, said)
    assert said == dropped
    if left is None:
        return
    attr = {"network": "network", "bridge": "bridge", "direct": "dev"}[new]
    assert src is not None
    src.node.set(attr, "n")
    assert re.sub(r">\s+<", "><", etree.tostring(iface.node, with_tail=False).decode()) == left


def test_change_type_without_a_list_still_drops() -> None:
    iface = Interface.from_xml("<interface type='ethernet'><target dev='t' managed='no'/></interface>")
    iface.change_type("bridge")
    assert iface.node.find("target") is None


def test_notes_name_the_interface_and_what_went() -> None:
    from xmltools.edit import InterfaceEdits, edit_interfaces

    dom = Domain.from_xml("<domain><devices><interface type='ethernet'><mac address='52:54:00:00:00:01'/>"
                          "<target dev='tap0' managed='no'/></interface><interface type='user'>"
                          "<backend type='passt'/><portForward proto='tcp'/></interface></devices></domain>")
    edits = InterfaceEdits(source_bridge="br0")
    edit_interfaces(list(dom.interfaces), edits, dom)
    assert edits.notes == [
        "interface 0 (52:54:00:00:00:01): dropped <target dev='tap0' managed='no'>: a bridge interface "
        "does not take it",
        "interface 1 (no MAC): dropped <backend> (passt), <portForward>: a bridge interface does not take "
        "them"]


def test_metadata_leftovers_exactly() -> None:
    from xmltools.edit import InterfaceEdits, edit_interfaces

    meta = (f"<metadata><vnx:netxml xmlns:vnx='{VNX}'>"
            "<vnx:interface mac='52:54:00:00:00:01'><vnx:tap bridge='br0'/></vnx:interface>"
            "<vnx:interface mac='52:54:00:00:00:02'><vnx:vf pf='up0' index='1'/></vnx:interface>"
            "<vnx:interface mac='52:54:00:00:00:03'><vnx:ovs-setting table='Interface' column='external_ids' "
            "key='k' value='v'/></vnx:interface>"
            "<vnx:interface mac='52:54:00:00:00:04'><vnx:vlan tag='5'/></vnx:interface>"
            "</vnx:netxml></metadata>")
    dom = Domain.from_xml(f"<domain>{meta}<devices>"
                          "<interface type='ethernet'><mac address='52:54:00:00:00:01'/></interface>"
                          "<interface type='hostdev'><mac address='52:54:00:00:00:02'/><source><address "
                          "type='pci' domain='0' bus='4' slot='16' function='0'/></source></interface>"
                          "<interface type='bridge'><mac address='52:54:00:00:00:03'/><source bridge='b'/>"
                          "</interface>"
                          "<interface type='bridge'><mac address='52:54:00:00:00:04'/><source bridge='b'/>"
                          "</interface></devices></domain>")
    edits = InterfaceEdits(source_network="default")
    edit_interfaces(dom.select(index=0), edits, dom)
    edit_interfaces(dom.select(index=1), edits, dom)
    assert edits.notes == [
        "interface 0 (52:54:00:00:00:01): dropped the pre-created TAP (<vnx:tap>) from the metadata: a "
        "network interface does not take it",
        "interface 1 (52:54:00:00:00:02): dropped <address> of <source>, the VF (<vnx:vf>) from the "
        "metadata: "
        "a network interface does not take them"]
    assert dom.meta_interface("52:54:00:00:00:01") is None and dom.meta_interface("52:54:00:00:00:02") is None
    assert _msg(edit_interfaces, dom.select(index=2), InterfaceEdits(source_dev="eno1"), dom) == (
        "invalid edit 'interface 2 (52:54:00:00:00:03)': it keeps Open vSwitch settings (<vnx:ovs-setting> "
        "in the metadata), which a direct interface cannot have")
    assert _msg(edit_interfaces, dom.select(index=3), InterfaceEdits(source_dev="eno1"), dom) == (
        "invalid edit 'interface 3 (52:54:00:00:00:04)': it keeps the hook's VLAN (<vnx:vlan> in the "
        "metadata), which the hook applies on bridge, network and ethernet ports, not on direct; add "
        "--clear-bridge-vlan")
    # the same type again is no change of type: nothing is judged
    edit_interfaces(dom.select(index=3), InterfaceEdits(source_bridge="b2"), dom)
    assert dom.meta_interface("52:54:00:00:00:04").vlan.tag == 5


def test_set_mac_messages_exactly() -> None:
    from xmltools.edit import InterfaceEdits, edit_interfaces, set_mac

    dom = Domain.from_xml(f"<domain><devices>\n{TWO}<hostdev mode='subsystem'>"
                          "<mac address='52:54:00:30:00:0f'/>"
                          "</hostdev>\n</devices></domain>")
    first = dom.interfaces[0]
    assert _msg(set_mac, dom, first, "52:54:00:30:00:02", "x") == \
        "invalid MAC address '52:54:00:30:00:02': another device of the domain has it (line 7)"
    assert _msg(set_mac, dom, first, "52:54:00:30:00:0F", "x").startswith(
        "invalid MAC address '52:54:00:30:00:0F': another device of the domain has it")
    assert set_mac(dom, first, "52-54-00-30-00-01", "x") == "52:54:00:30:00:01"   # its own, respelt
    assert set_mac(None, first, "52:54:00:30:00:AA", "x") == "52:54:00:30:00:aa"
    assert first.mac == "52:54:00:30:00:aa"
    assert _msg(edit_interfaces, list(dom.interfaces), InterfaceEdits(set_mac="52:54:00:01:01:01"), dom) == \
        "--set-mac gives one interface its address, 2 are selected"
    assert _msg(edit_interfaces, [first], InterfaceEdits(set_mac="52:54:00:01:01:01", regenerate_mac=True),
                dom) == "--set-mac and --regenerate-mac contradict each other"


def test_check_messages_exactly() -> None:
    from xmltools.edit import InterfaceEdits, edit_interfaces

    iface = Interface.from_xml("<interface type='bridge'><source bridge='br0'/></interface>")
    cases = [
        (InterfaceEdits(source_network="n", source_dev="d"),
         "--source-network and --source-dev contradict each other"),
        (InterfaceEdits(source_bridge="b", source_dev="d"),
         "--source-bridge and --source-dev contradict each other"),
        (InterfaceEdits(source_network="n", source_bridge="b", source_dev="d"),
         "--source-network and --source-bridge and --source-dev contradict each other"),
        (InterfaceEdits(remove=True, link="up"),
         "--remove takes the interface out: give no other change with it"),
        (InterfaceEdits(mtu=67), "invalid MTU '67': must be 68 to 65535"),
        (InterfaceEdits(mtu=65536), "invalid MTU '65536': must be 68 to 65535"),
        (InterfaceEdits(link="UP"), "invalid link state 'UP': expected up or down"),
        (InterfaceEdits(source_dev="a b"), "invalid uplink device 'a b': contains ' ', which is not allowed"),
        (InterfaceEdits(set_mac="zz"), "invalid MAC address 'zz': expected 6 octets separated by ':' or '-', "
                                       "found 1"),
        (InterfaceEdits(bandwidth=("up=1",)), "invalid bandwidth 'up=1': expected in=AVG[,PEAK[,BURST]] or "
                                              "out=AVG[,PEAK[,BURST]], or none"),
        (InterfaceEdits(remove=True), "--remove takes an interface out of a domain; a standalone <interface> "
                                      "file is the interface itself"),
    ]
    for edits, message in cases:
        assert _msg(edit_interfaces, [iface], edits) == message
    for edits in (InterfaceEdits(mtu=68), InterfaceEdits(mtu=65535), InterfaceEdits(link="down")):
        edit_interfaces([iface], edits)
    assert (iface.mtu, iface.link_state) == (65535, "down")
    hostdev = Interface.from_xml("<interface type='hostdev'><source><address type='pci' domain='0' bus='4' "
                                 "slot='16' function='0'/></source></interface>")
    assert _msg(edit_interfaces, [hostdev], InterfaceEdits(mtu=1500)) == (
        "invalid MTU '1500': interface (no MAC) is a hostdev interface: a VF's MTU is the guest driver's")
    edit_interfaces([hostdev], InterfaceEdits(link="down"))
    assert hostdev.link_state == "down"
    assert _msg(edit_interfaces, [Interface.from_xml("<interface type='bridge'><target dev='t' managed='no'/>"
                                                     "</interface>")], InterfaceEdits(model="virtio")) == (
        "invalid edit 'interface (no MAC)': it would keep <target managed='no'>, which libvirt takes only on "
        "an ethernet interface, not on bridge")


def test_an_edit_keeps_every_any_flag() -> None:
    from xmltools.edit import InterfaceEdits

    for edits in (InterfaceEdits(source_dev="d"), InterfaceEdits(set_mac="m"), InterfaceEdits(mtu=1),
                  InterfaceEdits(link="up"), InterfaceEdits(bandwidth=("none",)),
                  InterfaceEdits(remove=True)):
        assert edits.any()
    assert not InterfaceEdits().any()


def test_problems_are_named_by_source_and_compared_by_kind() -> None:
    from xmltools.edit import _refuse_new_problems, interface_problems
    from xmltools.errors import InvalidValue

    bad = Interface.from_xml("<interface type='bridge'><source bridge='br0' x='1'/>"
                             "<mac address='01:00:00:00:00:01'/>"
                             "</interface>")
    problems = interface_problems(bad, (99, 0, 0))
    assert problems == ["<interface> schema: <source> does not take attribute 'x'",
                        "mac-multicast: <interface type='bridge'>: MAC address '01:00:00:00:00:01' is "
                        "multicast "
                        "(the low bit of the first octet, 0x01, is set)"]
    _refuse_new_problems(problems, problems, "here")
    _refuse_new_problems(["mac-multicast: other words"], ["mac-multicast: new words"], "here")
    _refuse_new_problems([], [], "here")
    with pytest.raises(InvalidValue, match="^invalid edit 'here': libvirt would refuse the result: "
                                           "<interface> schema: boom$"):
        _refuse_new_problems(["mac-multicast: x"], ["mac-multicast: x", "<interface> schema: boom"], "here")
    assert interface_problems(Interface.from_xml("<interface type='user'/>"), (99, 0, 0)) == []


def test_a_new_bridge_on_a_bridge_port_keeps_the_rest_of_its_source() -> None:
    from xmltools.edit import set_source_bridge

    iface = Interface.from_xml("<interface type='bridge'><source bridge='br0' macTableManager='libvirt'/>"
                               "<virtualport type='openvswitch'/></interface>")
    said: list[str] = []
    set_source_bridge(iface, "br1", said)
    assert dict(iface.node.find("source").attrib) == {"bridge": "br1", "macTableManager": "libvirt"}
    assert said == [] and iface.is_ovs


def test_problems_know_the_domain_type_and_compare_by_first_field() -> None:
    from xmltools.edit import _refuse_new_problems, interface_problems
    from xmltools.errors import InvalidValue

    esx = Interface.from_xml("<interface type='bridge'><source bridge='VM Network'/></interface>")
    assert interface_problems(esx, (99, 0, 0), "vmware") == []
    assert [p.partition(":")[0] for p in interface_problems(esx, (99, 0, 0))] == ["bridge-name"]
    # a message with colons of its own is still one kind of problem
    _refuse_new_problems(["bridge-name: a: b"], ["bridge-name: c: d"], "here")
    with pytest.raises(InvalidValue):
        _refuse_new_problems(["bridge-name: a"], ["mac-multicast: a"], "here")
