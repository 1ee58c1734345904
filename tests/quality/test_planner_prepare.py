"""``prepare`` and ``release`` planned with fixed answers: the hook's TAPs (name, owner, queues,
vnet header, bridge, the host's answer on the name), passthrough uplinks, OVS settings refused
before the guest starts, the start mark, and undoing from the state record. The interface
label each action carries is checked too: it is what a failure message names.
"""

from __future__ import annotations

import pytest

from hooks import actions as A
from hooks.errors import ForeignDevice
from hooks.planner import StaticFacts, plan, release_actions
from hooks.protocol import lookup
from xmltools.errors import InvalidValue
from xmltools.xmlparse import parse_bytes

NS = "urn:virt-netxml:hooks:1"
MAC = "52:54:00:00:00:01"
LABEL = f"{MAC} (tap0)"
FACTS = StaticFacts(ovs_bridges=frozenset({"ovsbr0"}), users={"qemu": 107}, groups={"kvm": 36})


class AskedFacts(StaticFacts):
    """StaticFacts that remember what the planner asked of the host."""

    def __init__(self, **tables) -> None:
        super().__init__(**tables)
        self.asked: list[tuple] = []

    def is_ovs_bridge(self, name):
        self.asked.append(("ovs", name))
        return super().is_ovs_bridge(name)

    def tap_conflict(self, name, ovs_bridge):
        self.asked.append(("tap", name, ovs_bridge))
        return super().tap_conflict(name, ovs_bridge)


def _doc(interfaces: str, meta: str) -> bytes:
    metadata = f"<metadata><vnx:netxml xmlns:vnx='{NS}'>{meta}</vnx:netxml></metadata>" if meta else ""
    return f"<domain><name>vm</name>{metadata}<devices>{interfaces}</devices></domain>".encode()


def _prepare(interfaces: str, meta: str = "", record: dict | None = None, facts=FACTS):
    root = parse_bytes(_doc(interfaces, meta)).getroot()
    actions = plan(lookup("qemu", "prepare"), root, facts, record or {})
    return [(a, a.iface) for a in actions]


def _tap_iface(inner: str = "", target: str = "<target dev='tap0' managed='no'/>", mac: str = MAC) -> str:
    return f"<interface type='ethernet'><mac address='{mac}'/>{target}{inner}</interface>"


def _tap_meta(attrs: str = "bridge='br0'", mac: str = MAC, more: str = "") -> str:
    return f"<vnx:interface mac='{mac}'><vnx:tap {attrs}/>{more}</vnx:interface>"


def _create(actions) -> A.CreateTap:
    [create] = [a for a, _ in actions if isinstance(a, A.CreateTap)]
    return create


# --------------------------------------------------------------------------- TAPs

def test_a_tap_on_a_linux_bridge_is_claimed_made_plugged_and_brought_up():
    assert _prepare(_tap_iface(), _tap_meta()) == [
        (A.ClaimDevice("tap-tap0", "TAP"), LABEL),
        (A.CreateTap("tap0", None, None, False, False, "br0", False), LABEL),
        (A.EnslaveLink("tap0", "br0", False), LABEL),
        (A.LinkUp("tap0"), LABEL),
        (A.MarkStarting(), "")]


def test_a_tap_on_an_ovs_bridge_asks_the_host_as_an_ovs_port():
    facts = AskedFacts(ovs_bridges=frozenset({"ovsbr0"}))
    actions = _prepare(_tap_iface(), _tap_meta("bridge='ovsbr0'"), facts=facts)
    assert actions[1:3] == [(A.CreateTap("tap0", None, None, False, False, "ovsbr0", True), LABEL),
                            (A.EnslaveLink("tap0", "ovsbr0", True), LABEL)]
    assert facts.asked == [("ovs", "ovsbr0"), ("tap", "tap0", True)]


def test_a_tap_without_a_bridge_is_only_made_and_brought_up():
    facts = AskedFacts()
    assert _prepare(_tap_iface(), _tap_meta(""), facts=facts) == [
        (A.ClaimDevice("tap-tap0", "TAP"), LABEL),
        (A.CreateTap("tap0", None, None, False, False, None, False), LABEL),
        (A.LinkUp("tap0"), LABEL),
        (A.MarkStarting(), "")]
    assert facts.asked == [("tap", "tap0", False)]     # no bridge to ask about


def test_a_tap_of_this_domains_earlier_run_is_not_asked_about():
    facts = AskedFacts(taken={"tap0": "is attached to br0"})
    actions = _prepare(_tap_iface(), _tap_meta(), {"taps": {"tap0": {"bridge": "br0"}}}, facts)
    assert [a for a, _ in actions][:3] == [A.DeleteTap("tap0"), A.ClaimDevice("tap-tap0", "TAP"),
                                           A.CreateTap("tap0", None, None, False, False, "br0", False)]
    assert facts.asked == [("ovs", "br0")]


def test_a_tap_name_the_host_uses_otherwise_is_refused_before_any_action():
    facts = StaticFacts(taken={"tap0": "is a physical NIC"})
    with pytest.raises(ForeignDevice) as info:
        _prepare(_tap_iface(), _tap_meta(), facts=facts)
    assert info.value.message == (f"interface {LABEL}: create or take TAP tap0: device 'tap0' is a "
                                  "physical NIC; refusing to touch a device the hook did not create or take")


@pytest.mark.parametrize("attrs,uid,gid", [
    ("owner='qemu' group='kvm'", 107, 36),
    ("owner='1001' group='1002'", 1001, 1002),
    ("owner='root'", 0, None),
    ("group='root'", None, 0),
])
def test_tap_owner_and_group_are_ids_on_this_host(attrs, uid, gid):
    create = _create(_prepare(_tap_iface(), _tap_meta(f"bridge='br0' {attrs}")))
    assert (create.uid, create.gid) == (uid, gid)


@pytest.mark.parametrize("inner,attrs,multi,vnet_hdr", [
    ("<model type='virtio'/>", "", False, True),
    ("<model type='e1000'/>", "", False, False),
    ("<model/>", "", False, False),
    ("<model type='virtio'/>", " vnet-hdr='no'", False, False),
    ("<model type='e1000'/>", " vnet-hdr='yes'", False, True),
    ("<driver queues='2'/>", "", True, False),
    ("<driver queues='1'/>", "", False, False),
    ("<driver queues='x'/>", "", False, False),
    ("<driver queues=''/>", "", False, False),
    ("<driver queues='8'/>", " multi-queue='no'", False, False),
    ("<driver queues='1'/>", " multi-queue='yes'", True, False),
])
def test_tap_queues_and_vnet_header_from_the_model_unless_the_metadata_says(inner, attrs, multi, vnet_hdr):
    create = _create(_prepare(_tap_iface(inner), _tap_meta(f"bridge='br0'{attrs}")))
    assert (create.multi_queue, create.vnet_hdr) == (multi, vnet_hdr)


def test_a_tap_needs_an_unmanaged_target():
    for target in ("<target dev='tap0'/>", "<target dev='tap0' managed='yes'/>"):
        with pytest.raises(InvalidValue) as info:
            _prepare(_tap_iface(target=target), _tap_meta())
        assert info.value.message == (f"invalid interface '{LABEL}': a TAP made by the hook needs "
                                      "<target ... managed='no'/>")


def test_a_tap_needs_a_device_name():
    with pytest.raises(InvalidValue) as info:
        _prepare(_tap_iface(target="<target managed='no'/>"), _tap_meta())
    assert info.value.message == (f"invalid interface '{MAC}': a TAP to create needs "
                                  "<target dev='NAME' managed='no'/>")


def test_a_bad_tap_or_bridge_name_is_refused_naming_what_it_is():
    with pytest.raises(InvalidValue) as info:
        _prepare(_tap_iface(), _tap_meta("bridge='br/0'"))
    assert info.value.message.startswith("invalid bridge name 'br/0'")
    with pytest.raises(InvalidValue) as info:
        _prepare(_tap_iface(target="<target dev='tap/0' managed='no'/>"), _tap_meta())
    assert info.value.message.startswith("invalid target dev 'tap/0'")


def test_an_ethernet_interface_without_tap_metadata_is_libvirts():
    assert _prepare(_tap_iface(), f"<vnx:interface mac='{MAC}'><vnx:vlan tag='5'/></vnx:interface>") == []
    assert _prepare(_tap_iface(), _tap_meta(mac="52:54:00:00:00:09")) == []


def test_a_tap_for_an_interface_of_another_kind_is_not_made():
    bridge = (f"<interface type='bridge'><mac address='{MAC}'/><source bridge='br0'/><target dev='tap0'/>"
              "</interface>")
    assert _prepare(bridge, _tap_meta()) == []


# --------------------------------------------------------------------------- passthrough uplinks

def _direct(mode: str, dev: str = "up0") -> str:
    source = f"<source dev='{dev}' mode='{mode}'/>" if dev else f"<source mode='{mode}'/>"
    return f"<interface type='direct'><mac address='{MAC}'/>{source}<target dev='macvtap0'/></interface>"


def test_a_passthrough_uplink_is_claimed_for_the_domain():
    assert _prepare(_direct("passthrough")) == [
        (A.PassthroughExclusive("uplink-up0"), f"{MAC} (macvtap0)"), (A.MarkStarting(), "")]


@pytest.mark.parametrize("interface", [_direct("bridge"), _direct("vepa"), _direct("private"),
                                       _direct("passthrough", dev="")])
def test_other_macvtap_modes_claim_nothing(interface):
    assert _prepare(interface) == []


def test_a_bad_uplink_name_is_refused_as_an_uplink():
    with pytest.raises(InvalidValue) as info:
        _prepare(_direct("passthrough", "up/0"))
    assert info.value.message.startswith("invalid uplink 'up/0'")


# --------------------------------------------------------------------------- OVS settings at prepare

BAD_SETTING = "<vnx:ovs-setting table='Bridge' column='other_config' key='k' value='v'/>"


def test_an_ovs_setting_outside_the_allowlist_is_refused_at_prepare_even_without_an_interface():
    with pytest.raises(InvalidValue) as info:
        _prepare("", f"<vnx:interface mac='{MAC}'>{BAD_SETTING}</vnx:interface>")
    assert info.value.message == (
        f"invalid OVS setting 'Bridge other_config:k': interface {MAC}: OVS table 'Bridge' is not one a "
        "domain may change (only its own Port/Interface rows)")
    with pytest.raises(InvalidValue) as info:
        _prepare("", f"<vnx:interface>{BAD_SETTING}</vnx:interface>")
    assert info.value.message.startswith("invalid OVS setting 'Bridge other_config:k': interface : OVS table")


def test_a_bad_ovs_setting_value_is_refused_at_prepare():
    setting = "<vnx:ovs-setting table='Port' column='other_config' key='priority-tags' value='x'/>"
    with pytest.raises(InvalidValue) as info:
        _prepare("", f"<vnx:interface mac='{MAC}'>{setting}</vnx:interface>")
    assert info.value.message.endswith("Port other_config:priority-tags takes never, if-nonzero, always, "
                                       "true, false")


def test_allowed_ovs_settings_plan_nothing_at_prepare():
    setting = "<vnx:ovs-setting table='Port' column='other_config' key='priority-tags' value='true'/>"
    assert _prepare("", f"<vnx:interface mac='{MAC}'>{setting}</vnx:interface>") == []


# --------------------------------------------------------------------------- nothing to do

def test_a_prepare_with_nothing_to_do_marks_nothing():
    bridge = f"<interface type='bridge'><mac address='{MAC}'/><source bridge='br0'/></interface>"
    assert _prepare(bridge) == []
    assert _prepare("") == []


def test_a_prepare_with_only_leftovers_to_undo_still_marks_the_start():
    assert _prepare("", record={"claims": {"uplink-up0": "passthrough uplink"}}) == [
        (A.ReleaseClaim("uplink-up0"), ""), (A.MarkStarting(), "")]


# --------------------------------------------------------------------------- release

def test_release_undoes_everything_the_record_lists_in_a_fixed_order():
    record = {"taps": {"tapb": {}, "tapa": {}},
              "vfs": {"pf1/0": {"pf": "pf1", "index": "0"}, "pf0/7": {"pf": "pf0", "index": 7}},
              "drivers": {"0000:04:10.2": {}, "0000:04:10.1": {}},
              "claims": {"tap-tapa": "TAP", "pci-0000:04:10.1": "VF"},
              "starting": {"pid": 1, "since": 0}}
    assert release_actions(record) == [
        A.DeleteTap("tapa"), A.DeleteTap("tapb"), A.RestoreVf("pf0", 7), A.RestoreVf("pf1", 0),
        A.RestoreDriver("0000:04:10.1"), A.RestoreDriver("0000:04:10.2"),
        A.ReleaseClaim("pci-0000:04:10.1"), A.ReleaseClaim("tap-tapa"), A.ForgetDomain()]


@pytest.mark.parametrize("record,forget", [
    ({"port_wishes": {MAC: {"tag": 5}}}, True),
    ({"starting": {"pid": 1}}, True),
    ({"starting": "stale"}, False),
    ({"port_wishes": {}}, False),
    ({"name": "vm", "uuid": "u"}, False),
])
def test_release_forgets_the_domain_only_when_wishes_or_a_start_are_recorded(record, forget):
    assert release_actions(record) == ([A.ForgetDomain()] if forget else [])


def test_release_removes_recorded_forwards_by_key():
    record = {"forwards": {"k2": {}, "k1": {}}}
    assert [(type(a).__name__, a.key) for a in release_actions(record)] == [
        ("RemoveForwards", "k1"), ("RemoveForwards", "k2")]
