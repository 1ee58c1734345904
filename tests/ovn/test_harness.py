"""The OVN lab works as OVN does across hosts, and leaves nothing behind.

Two chassis, one logical switch, a stand-in guest port on each: both ports come up, each is
bound to its own chassis, and they reach each other through the geneve tunnel. A port on
another logical switch (with an address in the same subnet) is up too but reaches neither.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.netns.harness import _alive, ip
from tests.ovn.conftest import require_ovn
from tests.ovn.harness import OvnLab, StandIn, ovn_lab

pytestmark = pytest.mark.netns


class Boom(Exception):
    pass


def _port(lab: OvnLab, switch: str, chassis: int, name: str, n: int) -> StandIn:
    mac, address = f"00:00:00:aa:00:{n:02x}", f"10.0.0.{n}"
    lab.nbctl("--may-exist", "ls-add", switch, "--", "lsp-add", switch, name, "--",
              "lsp-set-addresses", name, f"{mac} {address}")
    return lab.standin(lab.chassis[chassis], name, mac, address + "/24")


@pytest.fixture(scope="module")
def ports(lab: OvnLab) -> dict[str, StandIn]:
    made = {"a": _port(lab, "ls1", 0, "lsp-a", 10), "b": _port(lab, "ls1", 1, "lsp-b", 11),
            "x": _port(lab, "ls2", 0, "lsp-x", 12), "y": _port(lab, "ls2", 1, "lsp-y", 13)}
    for port in made.values():
        lab.wait_up(port.lsp)
    lab.sync_chassis()
    return made


def test_ports_on_one_switch_are_up_on_their_own_chassis(lab: OvnLab, ports: dict[str, StandIn]) -> None:
    for key, chassis in (("a", "chassis1"), ("b", "chassis2"), ("x", "chassis1"), ("y", "chassis2")):
        lsp = ports[key].lsp
        assert lab.nbctl("lsp-get-up", lsp).strip() == "up", lsp
        assert lab.bound_chassis(lsp) == chassis, lsp
    # A port with no stand-in anywhere stays down and unbound: "up" above is OVN's word, not ours.
    lab.nbctl("lsp-add", "ls1", "lsp-nowhere")
    assert lab.nbctl("lsp-get-up", "lsp-nowhere").strip() == "down"
    assert lab.bound_chassis("lsp-nowhere") is None


def test_ports_reach_each_other_across_the_tunnel(lab: OvnLab, ports: dict[str, StandIn]) -> None:
    assert lab.ping(ports["a"], ports["b"].address)
    assert lab.ping(ports["b"], ports["a"].address)


def test_a_port_on_another_switch_reaches_neither(lab: OvnLab, ports: dict[str, StandIn]) -> None:
    # Its own switch works across the tunnel (so the silence below is the switch boundary)...
    assert lab.ping(ports["x"], ports["y"].address)
    # ...but the ports of ls1, in the same subnet, do not answer it, nor it them.
    for target in ("a", "b"):
        assert not lab.ping(ports["x"], ports[target].address, count=1, wait=1), target
        assert not lab.ping(ports[target], ports["x"].address, count=1, wait=1), target


def test_the_lab_is_torn_down_by_pid_and_namespace_even_when_the_body_fails(tmp_path: Path) -> None:
    require_ovn()
    pids: list[int] = []
    namespaces: list[str] = []
    with pytest.raises(Boom), ovn_lab(tmp_path, chassis=1) as lab:
        port = lab.standin(lab.chassis[0], "lsp-gone", "00:00:00:aa:00:99", "10.0.0.99/24")
        pids += [pid for _, pid in lab.daemons.pids]
        namespaces += [lab.central_ns, lab.chassis[0].ns, port.ns]
        listed = ip("netns", "list").stdout
        assert all(ns in listed for ns in namespaces)
        assert len(pids) == 6   # NB, SB, northd; a chassis's ovsdb-server, vswitchd, controller
        assert all(_alive(pid) for pid in pids)
        raise Boom()
    listed = ip("netns", "list").stdout
    assert [ns for ns in namespaces if ns in listed] == []
    assert [pid for pid in pids if _alive(pid)] == []
