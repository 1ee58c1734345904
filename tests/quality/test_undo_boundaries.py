"""Undo of the actions at their edges: what is already gone, what was never ours."""

from __future__ import annotations

from hooks import actions as A
from tests.hooks.test_actions import Host


def test_delete_tap_removes_the_ovs_port_even_when_the_tap_is_already_gone(tmp_path):
    host = Host(tmp_path)
    host.ovs.add_bridge("ovsbr0")
    A.CreateTap("tap0", bridge="ovsbr0", ovs=True).apply(host.ctx)
    A.EnslaveLink("tap0", "ovsbr0", True).apply(host.ctx)
    del host.net.links["tap0"]            # the kernel device vanished, the Port row did not
    assert host.ovs.port_bridge("tap0") == "ovsbr0"
    A.DeleteTap("tap0").apply(host.ctx)
    assert host.ovs.port_bridge("tap0") is None
    assert "tap0" not in host.ovs.ports
    assert host.record() == {}


def test_delete_tap_on_a_linux_bridge_when_the_tap_is_already_gone(tmp_path):
    host = Host(tmp_path)
    host.net.add_bridge("br0")
    A.CreateTap("tap0", bridge="br0").apply(host.ctx)
    del host.net.links["tap0"]
    A.DeleteTap("tap0").apply(host.ctx)
    assert host.record() == {}
    assert ("delete_link", "tap0") not in host.net.calls
    assert host.ovs.calls_to("del_port") == []


def test_create_tap_undo_removes_the_ovs_port_when_unplugging_failed(tmp_path):
    host = Host(tmp_path)
    host.ovs.add_bridge("ovsbr0")
    undo = A.CreateTap("tap0", bridge="ovsbr0", ovs=True).apply(host.ctx)
    A.EnslaveLink("tap0", "ovsbr0", True).apply(host.ctx)
    assert undo is not None
    undo.run()
    assert "tap0" not in host.ovs.ports and "tap0" not in host.net.links
    assert host.record() == {}
