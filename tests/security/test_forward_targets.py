"""A domain's port forward may reach only that domain's own guest.

The forward's target address is the definer's to write (``<vnx:ip>``). A definer who writes
another guest's address would have the hooks open that other guest's port to the outside (the
accept rule in libvirt's filter is for the target address), or DNAT to the host's own address on
the network. The hooks refuse, before any change, an address that libvirt's network file gives
another MAC (a static DHCP host), the network's own address, and an address another domain's
forwards already go to.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from hooks.planner import StaticFacts
from hooks.planner.forwards import forward_actions
from tests.fakes import FakeFirewall, FakeNetlink, FakeOvs, FakeSysfs
from tests.faults.host import Host
from tests.faults.matrix import run_event
from tests.faults.scenarios import domain, nat_host
from xmltools.errors import InvalidValue

NET = etree.fromstring(
    "<network><name>natnet</name><forward mode='nat'/><bridge name='virbr5'/>"
    "<ip address='192.168.150.1' netmask='255.255.255.0'><dhcp>"
    "<host mac='52:54:00:00:00:09' ip='192.168.150.9'/></dhcp></ip></network>")


def forwarding(name: str, mac: str, address: str, port: int = 2222) -> str:
    return domain(name, f"<vnx:interface mac='{mac}'><vnx:ip address='{address}'/>"
                        f"<vnx:forward proto='tcp' host-port='{port}' guest-port='22'/></vnx:interface>",
                  f"<interface type='network'><mac address='{mac}'/>"
                  "<source network='natnet' bridge='virbr5'/><target dev='vnet7'/></interface>")


@pytest.mark.parametrize(("address", "words"), [
    ("192.168.150.9", "the static DHCP host of 52:54:00:00:00:09"),   # another guest's
    ("192.168.150.1", "the network's own address"),                   # the host on the network
])
def test_a_forward_to_an_address_that_is_not_the_guests_own_is_refused(address: str, words: str) -> None:
    attack = etree.fromstring(forwarding("mallory", "52:54:00:00:00:66", address))
    with pytest.raises(InvalidValue) as exc:
        forward_actions(attack, StaticFacts(networks={"natnet": NET}))
    assert words in exc.value.message


def test_a_forward_to_the_address_another_domains_forwards_go_to_is_refused(tmp_path: Path) -> None:
    host = Host(FakeNetlink(), FakeOvs(), FakeSysfs(), tmp_path / "state", FakeFirewall())
    nat_host(host.net, host.ovs, host.sysfs)
    assert run_event(host, ("qemu", "start", "victim", forwarding("victim", "52:54:00:00:00:07",
                                                                  "192.168.150.7"))) == (0, "")
    before = (dict(host.firewall.nat), dict(host.firewall.allowed))
    rc, err = run_event(host, ("qemu", "start", "mallory", forwarding("mallory", "52:54:00:00:00:66",
                                                                      "192.168.150.7", port=2200)))
    assert rc == 1 and err.count("\n") == 1
    assert "192.168.150.7 is the guest address of domain victim" in err
    assert (host.firewall.nat, host.firewall.allowed) == before
