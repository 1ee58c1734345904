"""The netlink messages NetlinkAdapter builds for what this kernel cannot do (bridge VLANs, VFs):
each is encoded to bytes and decoded again by pyroute2, and the fields the kernel reads are
checked. Parsers are fed messages built the way the kernel fills them."""

from __future__ import annotations

import struct
import subprocess
import sys

import pytest

from hooks.adapters import netlink as nl
from hooks.errors import NotFound
from hooks.ports import BridgeVlan, VfInfo


def roundtrip(msg):
    msg.encode()
    decoded = nl._load_pyroute2().ifinfmsg(msg.data)
    decoded.decode()
    return decoded


@pytest.mark.parametrize(("pvid", "untagged", "flags"), [
    (False, False, 0), (True, False, 0x2), (False, True, 0x4), (True, True, 0x6)])
def test_bridge_vlan_msg_flags(pvid: bool, untagged: bool, flags: int) -> None:
    msg = roundtrip(nl.bridge_vlan_msg(7, 300, pvid, untagged))
    assert (msg["family"], msg["index"]) == (7, 7)       # AF_BRIDGE, ifindex 7
    spec = msg.get_attr("IFLA_AF_SPEC")
    (info,) = spec.get_attrs("IFLA_BRIDGE_VLAN_INFO")
    assert (info["vid"], info["flags"]) == (300, flags)
    assert spec.get_attr("IFLA_BRIDGE_FLAGS") is None     # a port: the master bridge handles it


def test_bridge_vlan_msg_on_the_bridge_itself_says_self() -> None:
    msg = nl.bridge_vlan_msg(3, 10, self_=True)
    msg.encode()
    # IFLA_BRIDGE_FLAGS (type 0, u16) = BRIDGE_FLAGS_SELF, before the VLAN info.
    assert struct.pack("=HHH", 6, 0, 2) in bytes(msg.data)
    spec = roundtrip(nl.bridge_vlan_msg(3, 10, self_=True)).get_attr("IFLA_AF_SPEC")
    assert [name for name, _ in spec["attrs"]] == ["IFLA_BRIDGE_VLAN_FLAGS", "IFLA_BRIDGE_VLAN_INFO"]


def test_bridge_vlan_info_bytes() -> None:
    # struct bridge_vlan_info { __u16 flags; __u16 vid; } after an nlattr header of type 2.
    msg = nl.bridge_vlan_msg(5, 10, True, True)
    msg.encode()
    assert struct.pack("=HHHH", 8, 2, 0x6, 10) in bytes(msg.data)


@pytest.mark.parametrize("on", [True, False])
def test_vlan_filtering_msg(on: bool) -> None:
    msg = roundtrip(nl.bridge_vlan_filtering_msg(4, on))
    assert msg["index"] == 4
    assert msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") == "bridge"
    assert msg.get_nested("IFLA_LINKINFO", "IFLA_INFO_DATA", "IFLA_BR_VLAN_FILTERING") == int(on)


def test_vlans_dump_asks_for_bridge_vlans() -> None:
    msg = roundtrip(nl.bridge_vlans_dump_msg())
    assert msg["family"] == 7 and msg.get_attr("IFLA_EXT_MASK") == 2   # RTEXT_FILTER_BRVLAN


def _vf_entries(msg):
    (entry,) = msg.get_attr("IFLA_VFINFO_LIST").get_attrs("IFLA_VF_INFO")
    return entry


def test_set_vf_msg_mac_and_vlan() -> None:
    entry = _vf_entries(roundtrip(nl.set_vf_msg(9, 3, "52:54:00:aa:bb:cc", 42)))
    assert entry.get_attr("IFLA_VF_MAC")["vf"] == 3
    assert entry.get_attr("IFLA_VF_MAC")["mac"] == "52:54:00:aa:bb:cc"
    assert (entry.get_attr("IFLA_VF_VLAN")["vf"], entry.get_attr("IFLA_VF_VLAN")["vlan"]) == (3, 42)


def test_set_vf_msg_only_what_was_asked() -> None:
    entry = _vf_entries(roundtrip(nl.set_vf_msg(9, 1, None, 0)))
    assert entry.get_attr("IFLA_VF_MAC") is None
    assert entry.get_attr("IFLA_VF_VLAN")["vlan"] == 0
    entry = _vf_entries(roundtrip(nl.set_vf_msg(9, 1, "52:54:00:00:00:01", None)))
    assert entry.get_attr("IFLA_VF_VLAN") is None


def _kernel_vlan_reply(entries: list[tuple[int, int]]):
    msg = nl._load_pyroute2().ifinfmsg()
    msg["family"] = 7
    msg["index"] = 5
    msg["attrs"] = [("IFLA_AF_SPEC", {"attrs": [("IFLA_BRIDGE_VLAN_INFO", {"flags": f, "vid": v})
                                                for f, v in entries]})]
    return roundtrip(msg)


def test_parse_bridge_vlans_single_entries() -> None:
    reply = _kernel_vlan_reply([(0x6, 20), (0x0, 30), (0x4, 31)])
    assert nl.parse_bridge_vlans(reply.get_attr("IFLA_AF_SPEC")) == [
        BridgeVlan(20, pvid=True, untagged=True), BridgeVlan(30), BridgeVlan(31, untagged=True)]


def test_parse_bridge_vlans_expands_ranges() -> None:
    reply = _kernel_vlan_reply([(0x8, 100), (0x10, 103), (0x6, 1)])
    assert nl.parse_bridge_vlans(reply.get_attr("IFLA_AF_SPEC")) == [
        BridgeVlan(1, pvid=True, untagged=True)] + [BridgeVlan(v) for v in range(100, 104)]


def test_parse_bridge_vlans_without_spec() -> None:
    assert nl.parse_bridge_vlans(None) == []


def _kernel_vf_reply(vfs: list[tuple[int, str, int]]):
    msg = nl._load_pyroute2().ifinfmsg()
    msg["index"] = 2
    msg["attrs"] = [("IFLA_VFINFO_LIST", {"attrs": [
        ("IFLA_VF_INFO", {"attrs": [("IFLA_VF_MAC", {"vf": i, "mac": mac}),
                                    ("IFLA_VF_VLAN", {"vf": i, "vlan": vlan, "qos": 0})]})
        for i, mac, vlan in vfs]})]
    return roundtrip(msg)


def test_parse_vf_list() -> None:
    reply = _kernel_vf_reply([(0, "52:54:00:12:34:56", 0), (1, "00:00:00:00:00:00", 100)])
    assert nl.parse_vf_list(reply) == [VfInfo(0, "52:54:00:12:34:56", 0), VfInfo(1, None, 100)]


class RecordingIPRoute:
    """Stands in for IPRoute in the one place that cannot be tried on this machine: VF set."""

    def __init__(self, reply) -> None:
        self.reply = reply
        self.requests: list[tuple] = []

    def link(self, command: str, **kwargs):
        assert command == "get"
        return [self.reply]

    def nlm_request(self, msg, msg_type, msg_flags):
        self.requests.append((roundtrip(msg), msg_type, msg_flags))
        return ()

    def close(self) -> None:
        pass


def _adapter_with(reply) -> tuple[nl.NetlinkAdapter, RecordingIPRoute]:
    adapter = nl.NetlinkAdapter()
    fake = RecordingIPRoute(reply)
    adapter._ipr = fake
    return adapter, fake


def test_set_vf_sends_one_newlink_on_the_pf() -> None:
    adapter, ipr = _adapter_with(_kernel_vf_reply([(0, "00:00:00:00:00:00", 0), (1, "00:00:00:00:00:00", 0)]))
    adapter.set_vf("eth9", 1, mac="52:54:00:01:02:03", vlan=7)
    ((msg, msg_type, flags),) = ipr.requests
    assert msg_type == nl.RTM_NEWLINK and flags == nl.NLM_F_REQUEST | nl.NLM_F_ACK
    assert msg["index"] == 2
    entry = _vf_entries(msg)
    assert entry.get_attr("IFLA_VF_MAC")["mac"] == "52:54:00:01:02:03"
    assert entry.get_attr("IFLA_VF_VLAN")["vlan"] == 7
    assert adapter.vf_info("eth9", 0) == VfInfo(0, None, 0)


def test_set_vf_refuses_a_vf_the_pf_lacks() -> None:
    adapter, ipr = _adapter_with(_kernel_vf_reply([(0, "00:00:00:00:00:00", 0)]))
    with pytest.raises(NotFound, match="VF 'eth9 vf 4'"):
        adapter.set_vf("eth9", 4, vlan=7)
    assert ipr.requests == []


def test_set_vf_with_nothing_to_change_sends_nothing() -> None:
    adapter, ipr = _adapter_with(_kernel_vf_reply([(0, "00:00:00:00:00:00", 0)]))
    adapter.set_vf("eth9", 0)
    assert ipr.requests == []


def test_loading_skips_the_pyroute2_package_init() -> None:
    # In a fresh interpreter: the adapter's import must not run pyroute2/__init__ (which loads
    # NDB), yet a later plain `import pyroute2` must still give the full package.
    code = (
        "import sys\n"
        "from hooks.adapters.netlink import _load_pyroute2\n"
        "_load_pyroute2()\n"
        "print('pyroute2.ndb' in sys.modules, 'pyroute2' in sys.modules)\n"
        "import pyroute2\n"
        "print(hasattr(pyroute2, 'NDB'), pyroute2.IPRoute is _load_pyroute2().IPRoute)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "True", "True"]


def test_importing_the_adapter_module_does_not_import_pyroute2() -> None:
    code = "import sys, hooks.adapters.netlink; print(any(m.startswith('pyroute2') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


class Interrupted(BaseException):
    """Stands for the hook's deadline firing inside a netlink request."""


def test_an_interrupted_request_drops_the_socket() -> None:
    class InterruptedIPRoute(RecordingIPRoute):
        closed = False

        def nlm_request(self, msg, msg_type, msg_flags):
            raise Interrupted()

        def close(self) -> None:
            self.closed = True

    adapter = nl.NetlinkAdapter()
    ipr = InterruptedIPRoute(_kernel_vf_reply([(0, "00:00:00:00:00:00", 0)]))
    adapter._ipr = ipr
    with pytest.raises(Interrupted):
        adapter.set_vf("eth9", 0, vlan=3)
    assert adapter._ipr is None and ipr.closed
