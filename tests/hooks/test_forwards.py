"""Port forwards to NAT guests: the planner, the actions and the hook calls that drive them, on
fake ports (the firewall's rules themselves are checked against real nft/iptables in
tests/netns/test_firewall_adapter.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from hooks.actions.forward import ForwardPorts, ForwardRules
from hooks.adapters.firewall import allow_iptables_rules, allow_nft_rules, nat_script
from hooks.fastpath import needs_work
from hooks.planner import StaticFacts
from hooks.planner.forwards import forward_actions, network_forward_actions
from tests.fakes import FakeFirewall, FakeNetlink, FakeOvs, FakeSysfs
from tests.faults.host import Host
from tests.faults.matrix import run_event
from tests.faults.scenarios import NS, domain, nat_host, network
from xmltools.errors import InvalidValue
from xmltools.metadata import ForwardWish, parse_forward_spec


def fwd_domain(name: str, mac: str, forwards: str, ip: str | None = "192.168.150.7",
               source: str = "network='natnet' bridge='virbr5'", kind: str = "network") -> str:
    meta = f"<vnx:interface mac='{mac}'>" + (f"<vnx:ip address='{ip}'/>" if ip else "") + forwards
    return domain(name, meta + "</vnx:interface>",
                  f"<interface type='{kind}'><mac address='{mac}'/><source {source}/>"
                  "<target dev='vnet7'/></interface>")


SSH = "<vnx:forward proto='tcp' host-port='2222' guest-port='22'/>"
NATNET = etree.fromstring(
    "<network><name>natnet</name><forward mode='nat'/><bridge name='virbr5'/>"
    "<ip address='192.168.150.1' netmask='255.255.255.0'><dhcp>"
    "<host mac='52:54:00:00:00:09' ip='192.168.150.9'/><host mac='52:54:00:00:00:0a' ip='10.1.1.1'/>"
    "</dhcp></ip></network>")


@pytest.fixture
def host(tmp_path: Path) -> Host:
    h = Host(FakeNetlink(), FakeOvs(), FakeSysfs(), tmp_path / "state", FakeFirewall())
    nat_host(h.net, h.ovs, h.sysfs)
    return h


def record(host: Host, name: str) -> dict:
    path = host.state_dir / "domains" / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_start_forwards_and_release_removes_exactly_what_was_recorded(host: Host) -> None:
    rc, err = run_event(host, ("qemu", "start", "web1", fwd_domain("web1", "52:54:00:00:00:07", SSH)))
    assert (rc, err) == (0, "")
    (entry,) = record(host, "web1")["forwards"].values()
    assert entry["guest"] == "192.168.150.7" and entry["bridge"] == "virbr5"
    assert entry["rules"] == [["tcp", 2222, 2222, 22, 22, None, None]]
    rules = ForwardRules.from_record(entry)
    assert host.firewall.nat == {rules.key: rules.digest}
    assert host.firewall.allowed == {rules.comment: 1}
    rc, err = run_event(host, ("qemu", "release", "web1", None))
    assert (rc, err) == (0, "")
    assert host.firewall.nat == {} and host.firewall.allowed == {} and record(host, "web1") == {}


def test_a_second_domain_forwarding_the_same_host_port_is_refused_naming_the_first(host: Host) -> None:
    assert run_event(host, ("qemu", "start", "web1", fwd_domain("web1", "52:54:00:00:00:07", SSH)))[0] == 0
    before = dict(host.firewall.nat)
    other = fwd_domain("web2", "52:54:00:00:00:08", "<vnx:forward proto='tcp' host-port='2200-2230' "
                       "guest-port='2200-2230'/>", ip="192.168.150.8")
    rc, err = run_event(host, ("qemu", "start", "web2", other))
    assert rc == 1
    assert err.count("\n") == 1 and "forwarded to domain web1 already" in err
    assert "host port 'tcp (any address):2200-2230' is busy" in err
    assert host.firewall.nat == before and record(host, "web2") == {}
    # another protocol, or another host address beside a wildcard's different port, is fine
    udp = fwd_domain("web3", "52:54:00:00:00:0b",
                     "<vnx:forward proto='udp' host-port='2222' guest-port='22'/>", ip="192.168.150.11")
    assert run_event(host, ("qemu", "start", "web3", udp)) == (0, "")


def test_a_domain_restarted_keeps_its_own_port(host: Host) -> None:
    xml = fwd_domain("web1", "52:54:00:00:00:07", SSH)
    assert run_event(host, ("qemu", "start", "web1", xml)) == (0, "")
    calls = len(host.firewall.calls)
    assert run_event(host, ("qemu", "reconnect", "web1", xml)) == (0, "")
    assert [c[0] for c in host.firewall.calls[calls:]] == ["in_place"]   # in place: nothing written


def test_reconnect_and_network_started_put_back_what_libvirt_rebuilt_away(host: Host) -> None:
    xml = fwd_domain("web1", "52:54:00:00:00:07", SSH)
    assert run_event(host, ("qemu", "start", "web1", xml)) == (0, "")
    allowed = dict(host.firewall.allowed)
    host.firewall.libvirt_rebuilt()
    assert run_event(host, ("qemu", "reconnect", "web1", xml)) == (0, "")
    assert host.firewall.allowed == allowed
    host.firewall.libvirt_rebuilt()
    started = network("natnet", "<forward mode='nat'/><bridge name='virbr5'/>")
    assert run_event(host, ("network", "started", "natnet", started)) == (0, "")
    assert host.firewall.allowed == allowed
    # another network's start leaves them alone
    host.firewall.libvirt_rebuilt()
    other = network("othernat", "<forward mode='nat'/><bridge name='virbr6'/>")
    assert run_event(host, ("network", "started", "othernat", other)) == (0, "")
    assert host.firewall.allowed == {}


def test_network_started_of_a_nat_network_needs_work_only_when_a_domain_has_a_record(tmp_path: Path) -> None:
    data = network("natnet", "<forward mode='nat'/><bridge name='virbr5'/>").encode()
    state = tmp_path / "state"
    assert not needs_work("network", "started", "natnet", data, str(state), str(tmp_path / "map"))
    (state / "domains").mkdir(parents=True)
    (state / "domains" / "web1.json").write_text("{}")
    assert needs_work("network", "started", "natnet", data, str(state), str(tmp_path / "map"))


def test_repair_removes_the_forwards_of_a_domain_that_is_gone(host: Host) -> None:
    from tests.faults.matrix import repair

    assert run_event(host, ("qemu", "start", "web1", fwd_domain("web1", "52:54:00:00:00:07", SSH))) == (0, "")
    repair(host, set())
    assert host.firewall.nat == {} and host.firewall.allowed == {} and record(host, "web1") == {}


def test_a_failed_firewall_change_rolls_back_the_record(tmp_path: Path) -> None:
    from hooks.errors import HostError

    fw = FakeFirewall(fail_on={"apply": HostError(step="run nft", detail="Operation not permitted")})
    host = Host(FakeNetlink(), FakeOvs(), FakeSysfs(), tmp_path / "state", fw)
    rc, err = run_event(host, ("qemu", "start", "web1", fwd_domain("web1", "52:54:00:00:00:07", SSH)))
    assert rc == 1 and "run nft: Operation not permitted" in err
    assert record(host, "web1") == {} and fw.nat == {}


# --------------------------------------------------------------------------- the planner


def plan(xml: str, facts: StaticFacts | None = None) -> list:
    return forward_actions(etree.fromstring(xml), facts or StaticFacts(networks={"natnet": NATNET}))


def test_the_guest_address_comes_from_the_networks_static_dhcp_host() -> None:
    (action,) = plan(fwd_domain("web1", "52:54:00:00:00:09", SSH, ip=None))
    assert isinstance(action, ForwardPorts) and action.rules.guest == "192.168.150.9"


@pytest.mark.parametrize(("xml", "words"), [
    (fwd_domain("w", "52:54:00:00:00:07", SSH, ip=None), "no guest address: give <vnx:ip"),
    (fwd_domain("w", "52:54:00:00:00:0a", SSH, ip=None),
     "not inside network natnet's subnet 192.168.150.0/24"),
    (fwd_domain("w", "52:54:00:00:00:07", SSH, ip="10.9.9.9"), "not inside network natnet's subnet"),
    (fwd_domain("w", "52:54:00:00:00:07", SSH + SSH), "overlaps forward tcp:2222:22"),
    (fwd_domain("w", "52:54:00:00:00:07", SSH, source="dev='uplink0' mode='bridge'", kind="direct"),
     "needs an interface on a libvirt NAT network"),
])
def test_the_planner_refuses_what_cannot_work(xml: str, words: str) -> None:
    with pytest.raises(InvalidValue) as exc:
        plan(xml)
    assert words in exc.value.message


def test_a_network_that_is_not_nat_is_refused() -> None:
    routed = etree.fromstring("<network><name>natnet</name><forward mode='route'/></network>")
    with pytest.raises(InvalidValue, match="is route, not NAT"):
        plan(fwd_domain("w", "52:54:00:00:00:07", SSH), StaticFacts(networks={"natnet": routed}))


def test_no_forward_wish_plans_nothing() -> None:
    assert plan(fwd_domain("w", "52:54:00:00:00:07", "")) == []


def test_network_started_plans_the_records_of_domains_on_that_network_only() -> None:
    rules = ForwardRules("web1", "52:54:00:00:00:07", "natnet", "virbr5", "192.168.150.7",
                         (("tcp", 2222, 2222, 22, 22, None, None),))
    other = ForwardRules("web2", "52:54:00:00:00:08", "other", "virbr6", "192.168.151.7",
                         (("tcp", 2223, 2223, 22, 22, None, None),))
    facts = StaticFacts(forwarded={"web1": ("u1", {rules.key: rules.record()}),
                                   "web2": (None, {other.key: other.record()})})
    net = etree.fromstring(f"<network {NS}><name>natnet</name></network>")
    (action,) = network_forward_actions(net, facts)
    assert action == ForwardPorts(rules, "u1", reapply=True)


# --------------------------------------------------------------------------- grammar and rules


@pytest.mark.parametrize(("spec", "wish"), [
    ("tcp:2222:22", ForwardWish("tcp", (2222, 2222), (22, 22))),
    ("udp:5000-5010:5000-5010", ForwardWish("udp", (5000, 5010), (5000, 5010))),
    ("tcp:192.0.2.1:8080:80,source=10.0.0.0/8", ForwardWish("tcp", (8080, 8080), (80, 80), "192.0.2.1",
                                                            "10.0.0.0/8")),
])
def test_forward_specs(spec: str, wish: ForwardWish) -> None:
    assert parse_forward_spec(spec) == wish
    assert parse_forward_spec(wish.spec()) == wish


@pytest.mark.parametrize(("spec", "words"), [
    ("sctp:1:1", "expected tcp or udp"), ("tcp:0:22", "ports are 1 to 65535"),
    ("tcp:65536:22", "ports are 1 to 65535"), ("tcp:2222-2230:22-29", "same length"),
    ("tcp:30-20:30-20", "low to high"), ("tcp:2222", "expected PROTO:"),
    ("tcp:1-2000:1-2000", "at most 1024 ports"), ("tcp:fe80::1:22:22", "expected PROTO:"),
    ("tcp:300.1.1.1:22:22", "IPv4 address"), ("tcp:22:22,source=10.0.0.0/33", "IPv4 address or network"),
    ("tcp:22:22,via=x", "unknown option"),
])
def test_bad_forward_specs_say_why(spec: str, words: str) -> None:
    with pytest.raises(InvalidValue) as exc:
        parse_forward_spec(spec)
    assert words in exc.value.message


def test_the_firewall_rules_name_the_project_and_the_guest_and_map_port_ranges_one_to_one() -> None:
    rules = ForwardRules("web 1\"; drop", "52:54:00:00:00:07", "natnet", "virbr5", "192.168.150.7",
                         (("udp", 5000, 5001, 6000, 6001, "192.0.2.1", "10.0.0.0/8"),))
    assert rules.comment == f"virt-netxml web_1___drop 52:54:00:00:00:07 {rules.key}"
    script = nat_script(rules)
    assert "ip saddr 10.0.0.0/8 ip daddr 192.0.2.1 udp dport 5000-5001 dnat to 192.168.150.7 : " \
           "udp dport map { 5000 : 6000, 5001 : 6001 }" in script
    assert f"add chain ip virt_netxml post_{rules.key}" in script and "masquerade" in script
    removal = nat_script(rules, remove=True)
    assert f"delete chain ip virt_netxml pre_{rules.key}" in removal and "add rule" not in removal
    assert allow_nft_rules(rules) == [f'oifname "virbr5" ip daddr 192.168.150.7 udp dport 6000-6001 '
                                      f'ct status dnat counter accept comment "{rules.comment}"']
    assert allow_iptables_rules(rules)[0][:6] == ["-d", "192.168.150.7/32", "-o", "virbr5", "-p", "udp"]


def test_a_call_without_forwards_never_asks_the_firewall(host: Host) -> None:
    vlan_only = domain("vlanvm",
                       "<vnx:interface mac='52:54:00:00:00:07'><vnx:vlan tag='10'/></vnx:interface>",
                       "<interface type='network'><mac address='52:54:00:00:00:07'/>"
                       "<source network='natnet' bridge='virbr5'/><target dev='vnet7'/></interface>")
    host.net.set_bridge_vlan_filtering("virbr5", True)
    assert run_event(host, ("qemu", "start", "vlanvm", vlan_only)) == (0, "")
    assert run_event(host, ("network", "started", "natnet",
                            network("natnet", "<forward mode='nat'/><bridge name='virbr5'/>"))) == (0, "")
    assert host.firewall.calls == []


# --------------------------------------------------------------------------- libvirt's network files


STATUS = ("<networkstatus><class_id bitmap='0'/><network><name>natnet</name><forward mode='nat'/>"
          "<ip address='192.168.150.1' netmask='255.255.255.0'/></network></networkstatus>")


def test_the_running_networks_status_comes_before_its_definition(tmp_path: Path) -> None:
    from hooks.adapters.libvirt_files import network_xml

    run, etc = tmp_path / "run", tmp_path / "etc"
    run.mkdir(mode=0o755)
    etc.mkdir(mode=0o755)
    (etc / "natnet.xml").write_text("<network><name>natnet</name></network>")
    dirs = (str(run), str(etc))
    defined = network_xml("natnet", dirs)
    assert defined is not None and defined.find("forward") is None
    (run / "natnet.xml").write_text(STATUS)
    live = network_xml("natnet", dirs)
    assert live is not None and live.find("forward").get("mode") == "nat"
    assert network_xml("other", dirs) is None


@pytest.mark.parametrize("name", ["../natnet", "a/b", ".hidden", ""])
def test_a_network_name_that_could_name_another_file_is_refused(tmp_path: Path, name: str) -> None:
    from hooks.adapters.libvirt_files import network_xml

    with pytest.raises(InvalidValue, match="not a libvirt network name"):
        network_xml(name, (str(tmp_path),))


def test_a_network_file_others_could_have_written_or_too_big_is_refused(tmp_path: Path) -> None:
    import os

    from hooks.adapters.libvirt_files import MAX_FILE, network_xml
    from xmltools.errors import NetXmlError

    folder = tmp_path / "net"
    folder.mkdir(mode=0o755)
    path = folder / "natnet.xml"
    path.write_text(STATUS)
    os.chmod(path, 0o666)
    with pytest.raises(NetXmlError, match="writable"):
        network_xml("natnet", (str(folder),))
    os.chmod(path, 0o644)
    os.chown(path, 65534, 65534)
    with pytest.raises(NetXmlError, match="owned by uid 65534"):
        network_xml("natnet", (str(folder),))
    os.chown(path, 0, 0)
    path.write_text("<network>" + " " * MAX_FILE + "</network>")
    with pytest.raises(NetXmlError, match="larger than"):
        network_xml("natnet", (str(folder),))
    path.unlink()
    (folder / "real.xml").write_text(STATUS)
    os.symlink(folder / "real.xml", path)
    os.lchown(path, 65534, 65534)       # a link someone else made is not followed
    with pytest.raises(NetXmlError) as exc:
        network_xml("natnet", (str(folder),))
    assert "link" in exc.value.message


def test_hooks_status_lists_the_forwards_of_each_domain() -> None:
    from hooks.cli import _state_lines

    rules = ForwardRules("web1", "52:54:00:00:00:07", "natnet", "virbr5", "192.168.150.7",
                         (("tcp", 2222, 2222, 22, 22, None, None),))
    snapshot = {"domains": {"web1": {"forwards": {rules.key: rules.record(), "bad": {"bridge": "x"}}}},
                "claims": {}, "networks": {}}
    assert _state_lines(snapshot) == [
        "domain web1: port forwards on virbr5 (network natnet): tcp *:2222 -> 192.168.150.7:22",
        "domain web1: port forwards (unreadable record entry)"]
