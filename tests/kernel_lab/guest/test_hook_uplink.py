"""The network hook's macvtap uplink checks and host shim, on an 802.1Q link over a dummy.

This machine's own kernel has neither dummy nor 802.1Q links; an uplink like ``eno1.100`` is
what a macvtap pool sits on in many real hosts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kernel_lab.guest.hookcall import call, network_hookdata
from tests.kernel_lab.guest.kernel import link_exists, link_json, run

LOWER, UPLINK, SHIM = "labdum5", "labdum5.100", "labshim5"


def _network(meta: str = "") -> str:
    return network_hookdata(
        "lab-macvtap", f"<forward mode='bridge' dev='{UPLINK}'><interface dev='{UPLINK}'/></forward>", meta)


@pytest.fixture
def uplink(links: list[str], hook_env: Path) -> str:
    links += [SHIM, UPLINK, LOWER]
    run("ip", "link", "add", LOWER, "type", "dummy")
    run("ip", "link", "add", "link", LOWER, "name", UPLINK, "type", "vlan", "id", "100")
    run("ip", "link", "set", LOWER, "up")
    run("ip", "link", "set", UPLINK, "up")
    assert link_json(UPLINK)["linkinfo"]["info_data"]["id"] == 100
    return UPLINK


def test_an_uplink_that_is_up_passes(uplink: str) -> None:
    result = call("network", "lab-macvtap", "start", _network())
    assert (result.code, result.stderr) == (0, ""), result


def test_an_uplink_that_is_down_stops_the_network_with_its_name(uplink: str) -> None:
    run("ip", "link", "set", uplink, "down")
    result = call("network", "lab-macvtap", "start", _network())
    assert result.code == 1
    assert "network lab-macvtap" in result.stderr and f"uplink {uplink!r} is down" in result.stderr
    assert result.stderr.count("\n") == 1   # one line, no traceback


def test_a_missing_uplink_stops_the_network_with_its_name(uplink: str) -> None:
    run("ip", "link", "del", uplink)
    result = call("network", "lab-macvtap", "start", _network())
    assert result.code == 1
    assert f"uplink {uplink!r} does not exist" in result.stderr and result.stderr.count("\n") == 1


def test_the_host_shim_is_made_on_the_vlan_uplink_and_removed(uplink: str, hook_env: Path) -> None:
    net = _network(f"<vnx:shim name='{SHIM}' address='192.0.2.1/24'/>")
    assert call("network", "lab-macvtap", "start", net).code == 0
    shim = link_json(SHIM)
    assert shim["linkinfo"]["info_kind"] == "macvlan" and shim["linkinfo"]["info_data"]["mode"] == "bridge"
    assert shim["link"] == uplink and "UP" in shim["flags"]
    assert "192.0.2.1/24" in run("ip", "-o", "-4", "addr", "show", "dev", SHIM)
    result = call("network", "lab-macvtap", "stopped", net, sub="end")
    assert result.code == 0, result
    assert not link_exists(SHIM) and link_exists(uplink)
