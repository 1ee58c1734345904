"""``virt-netxml attach`` / ``detach``: the metadata entry written with the device and taken back
when the attach fails, merged with other NICs' entries; against a fake domain and against
libvirt's test driver (which has the metadata API but no device hot-plug, so every attach
there fails: the roll-back path on real libvirt-python)."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from tests.support import require
from xmltools.build_interface import InterfaceSpec
from xmltools.cli.attach_cmd import attach_interface, detach_interface, merged_metadata
from xmltools.cli.main import cli
from xmltools.errors import InvalidValue, UsageError
from xmltools.metadata import NS
from xmltools.xmlparse import parse_bytes

OTHER = '<netxml>\n  <interface mac="52:54:00:00:00:07">\n    <vlan tag="7"/>\n  </interface>\n</netxml>'


class Error(Exception):
    def __init__(self, code: int, text: str = "failed") -> None:
        super().__init__(text)
        self.code = code

    def get_error_code(self) -> int:
        return self.code

    def get_error_message(self) -> str:
        return str(self)


LIBVIRT = SimpleNamespace(VIR_DOMAIN_AFFECT_LIVE=1, VIR_DOMAIN_AFFECT_CONFIG=2, VIR_DOMAIN_XML_INACTIVE=2,
                          VIR_DOMAIN_METADATA_ELEMENT=2, VIR_ERR_NO_DOMAIN_METADATA=80, libvirtError=Error)


class FakeDom:
    """A running domain: live XML, metadata by flag, devices attached and detached."""

    def __init__(self, meta: str | None = None, fail_attach: bool = False) -> None:
        self.meta: dict[int, str | None] = {1: meta, 2: meta}
        self.devices: dict[int, list[str]] = {1: [], 2: []}
        self.fail_attach = fail_attach
        self.calls: list[tuple] = []

    def name(self) -> str:
        return "vm1"

    def isActive(self) -> bool:
        return True

    def isPersistent(self) -> bool:
        return True

    def XMLDesc(self, flags: int) -> str:
        flag = 2 if flags == 2 else 1
        return ("<domain type='qemu'><name>vm1</name><uuid>11111111-2222-3333-4444-555555555555</uuid>"
                "<devices>" + "".join(self.devices[flag]) + "</devices></domain>")

    def metadata(self, kind: int, uri: str, flag: int) -> str:
        assert (kind, uri) == (2, NS)
        if self.meta[flag] is None:
            raise Error(80, "metadata not found")
        return self.meta[flag]

    def setMetadata(self, kind: int, text: str | None, key: str | None, uri: str, flag: int) -> None:
        assert uri == NS and (key == "vnx" or text is None)
        self.calls.append(("setMetadata", flag, text))
        self.meta[flag] = text

    def attachDeviceFlags(self, xml: str, flag: int) -> None:
        self.calls.append(("attach", flag, self.meta[flag]))   # what the metadata was when it came
        if self.fail_attach:
            raise Error(1, "internal error: unable to execute QEMU command 'device_add'")
        self.devices[flag].append(xml)

    def detachDeviceFlags(self, xml: str, flag: int) -> None:
        self.calls.append(("detach", flag))
        self.devices[flag] = [d for d in self.devices[flag] if parse_bytes(d.encode()).getroot().find(
            "mac").get("address") != parse_bytes(xml.encode()).getroot().find("mac").get("address")]


def spec(**more) -> InterfaceSpec:
    return InterfaceSpec(type="network", source="ovsnet", model="virtio", bridge_vlan="10", **more)


def entries(text: str | None) -> dict[str, str]:
    root = parse_bytes(text.encode()).getroot() if text else None
    return {} if root is None else {i.get("mac"): i.find("vlan").get("tag") for i in root.iter("interface")}


def test_the_entry_is_written_before_the_attach_and_merged_with_other_nics():
    dom = FakeDom(meta=OTHER)
    mac = attach_interface(LIBVIRT, dom, spec(mac="52:54:00:00:00:10"), [1, 2], (9, 0, 0))
    assert mac == "52:54:00:00:00:10"
    for flag in (1, 2):
        assert entries(dom.meta[flag]) == {"52:54:00:00:00:07": "7", mac: "10"}
    attaches = [c for c in dom.calls if c[0] == "attach"]
    assert [c[1] for c in attaches] == [1, 2]
    assert all(mac in c[2] for c in attaches)       # the watch finds the wish with the new device
    assert "<mac address='52:54:00:00:00:10'/>" in dom.devices[1][0].replace('"', "'")


def test_a_failed_attach_puts_the_entries_back_as_they_were():
    dom = FakeDom(meta=OTHER, fail_attach=True)
    with pytest.raises(Error):
        attach_interface(LIBVIRT, dom, spec(mac="52:54:00:00:00:10"), [1], (9, 0, 0))
    assert dom.meta[1] == OTHER and dom.devices[1] == []
    dom = FakeDom(meta=None, fail_attach=True)
    with pytest.raises(Error):
        attach_interface(LIBVIRT, dom, spec(mac="52:54:00:00:00:10"), [1], (9, 0, 0))
    assert dom.meta[1] is None and dom.calls[-1] == ("setMetadata", 1, None)


def test_a_nic_without_wishes_leaves_the_metadata_alone():
    dom = FakeDom(meta=OTHER)
    attach_interface(LIBVIRT, dom, InterfaceSpec(type="network", source="default"), [1], (9, 0, 0))
    assert [c[0] for c in dom.calls] == ["attach"] and dom.meta[1] == OTHER


def test_a_mac_in_use_is_refused_before_anything_changes():
    dom = FakeDom()
    dom.devices[1].append("<interface type='network'><mac address='52:54:00:00:00:10'/>"
                          "<source network='default'/></interface>")
    with pytest.raises(InvalidValue, match="already used"):
        attach_interface(LIBVIRT, dom, spec(mac="52:54:00:00:00:10"), [1], (9, 0, 0))
    assert dom.calls == []


def test_what_only_a_guest_start_prepares_is_refused_for_a_running_guest():
    dom = FakeDom()
    ethernet = InterfaceSpec(type="ethernet", target="tap-hp0", managed=False, tap_bridge="br0")
    with pytest.raises(UsageError, match="--tap-bridge is prepared when the guest starts"):
        attach_interface(LIBVIRT, dom, ethernet, [1, 2], (9, 0, 0))
    assert dom.calls == []
    attach_interface(LIBVIRT, dom, ethernet, [2], (9, 0, 0))   # the next start makes the TAP
    assert [c[:2] for c in dom.calls] == [("setMetadata", 2), ("attach", 2)]


def test_detach_removes_the_device_then_only_its_entry():
    dom = FakeDom(meta=OTHER)
    mac = attach_interface(LIBVIRT, dom, spec(mac="52:54:00:00:00:10"), [1, 2], (9, 0, 0))
    detach_interface(LIBVIRT, dom, mac, [1, 2])
    assert dom.devices == {1: [], 2: []}
    assert entries(dom.meta[1]) == entries(dom.meta[2]) == {"52:54:00:00:00:07": "7"}
    with pytest.raises(InvalidValue, match="no interface of domain vm1 \\(live\\) has it"):
        detach_interface(LIBVIRT, dom, mac, [1])


def test_the_last_entry_leaves_no_empty_element():
    assert merged_metadata(OTHER, "52:54:00:00:00:07", None) is None
    assert merged_metadata(None, "52:54:00:00:00:07", None) is None


def run(*args: str):
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_bad_input_is_one_line_and_exit_2():
    code, out = run("detach", "vm1", "--mac", "zz", "--connect", "test:///default")
    assert code == 2 and out.count("\n") == 1 and "invalid MAC address 'zz'" in out
    code, out = run("attach", "vm1", "--type", "bogus", "--connect", "test:///default")
    assert code == 2 and out.count("\n") == 1
    code, out = run("attach", "vm1", "--type", "network")
    assert code == 2 and "--connect" in out and out.count("\n") == 1


def test_on_libvirts_test_driver_a_failed_attach_leaves_no_entry():
    require(importlib.util.find_spec("libvirt") is not None, "libvirt-python")
    import libvirt

    uri = "test:///default"
    code, out = run("attach", "test", "--type", "network", "--source", "default", "--bridge-vlan", "10",
                    "--mac", "52:54:00:00:00:21", "--connect", uri)
    assert code == 2
    assert out.startswith(f"virt-netxml: error: {uri}: cannot attach the interface to domain test:")
    conn = libvirt.open(uri)
    try:
        xml = conn.lookupByName("test").XMLDesc(0)
    finally:
        conn.close()
    assert NS not in xml and "52:54:00:00:00:21" not in xml
    code, out = run("attach", "nosuch", "--type", "network", "--source", "default", "--connect", uri)
    assert (code, out) == (2, f"virt-netxml: error: invalid domain 'nosuch': no such domain at {uri}\n")
