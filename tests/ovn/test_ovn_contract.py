"""The OVN adapter against a real northbound database, from a chassis, as a hook would use it.

The test thread lives in chassis1's namespace: the adapter reaches the NB over TCP on the
fabric, and this chassis's own OVS for its system-id. Nothing connects from the machine's own
namespace.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from hooks.adapters.ovn import OvnAdapter, OvnConfig
from hooks.cli import hooks as hooks_group
from hooks.errors import ForeignDevice, HostError, HostTimeout
from tests.netns.harness import entered
from tests.ovn.harness import CENTRAL_IP, FABRIC_NET, OvnLab

pytestmark = pytest.mark.netns

P1 = "0b5c6a4e-8a55-4c5e-9a0c-3f1c2b3d4e51"
P2 = "0b5c6a4e-8a55-4c5e-9a0c-3f1c2b3d4e52"
P3 = "0b5c6a4e-8a55-4c5e-9a0c-3f1c2b3d4e53"
P4 = "0b5c6a4e-8a55-4c5e-9a0c-3f1c2b3d4e54"
P5 = "0b5c6a4e-8a55-4c5e-9a0c-3f1c2b3d4e55"


@pytest.fixture
def adapter(lab: OvnLab) -> Iterator[OvnAdapter]:
    """The adapter on chassis1, talking to the NB over TCP; the test thread inside chassis1."""
    with entered(lab.chassis[0].ns):
        yield OvnAdapter(OvnConfig(lab.nb_tcp), ovs_db=str(lab.chassis[0].db), timeout=3)


def _row(lab: OvnLab, name: str) -> dict[str, str]:
    out = lab.nbctl("--columns=_uuid,addresses,options,external_ids,dhcpv4_options", "find",
                    "Logical_Switch_Port", f'name="{name}"')
    pairs = (line.partition(":") for line in out.splitlines() if line)
    return {k.strip(): v.strip() for k, _, v in pairs}


def test_system_id_is_this_chassis(adapter: OvnAdapter) -> None:
    assert adapter.system_id() == "chassis1"
    adapter.probe()


def test_a_switch_is_created_once_and_never_reconfigured(lab: OvnLab, adapter: OvnAdapter) -> None:
    assert adapter.ensure_switch("c-ls1", "10.1.0.0/24", dhcp=True) is True
    config = lab.nbctl("get", "Logical_Switch", "c-ls1", "other_config").strip()
    assert config == '{exclude_ips="10.1.0.1", subnet="10.1.0.0/24"}'
    dhcp = adapter.dhcp_options("c-ls1")
    assert dhcp is not None
    assert lab.nbctl("get", "DHCP_Options", dhcp, "cidr").strip() == '"10.1.0.0/24"'
    # Again, with other wishes: the switch exists, and stays as it was.
    assert adapter.ensure_switch("c-ls1", "10.9.0.0/24", dhcp=True) is False
    assert lab.nbctl("get", "Logical_Switch", "c-ls1", "other_config").strip() == config
    assert lab.nbctl("--bare", "--columns=_uuid", "find", "DHCP_Options").split() == [dhcp]


def test_a_port_is_created_idempotently_and_bound_where_requested(lab: OvnLab,
                                                                  adapter: OvnAdapter) -> None:
    adapter.ensure_switch("c-ls2", "10.2.0.0/24", dhcp=True)
    dhcp = adapter.dhcp_options("c-ls2")
    here = adapter.system_id()
    wish = ("c-ls2", P1, "52:54:00:c0:00:01", "10.2.0.5", here, "vm1", "vnet0", dhcp)
    assert adapter.ensure_port(*wish) is True
    first = _row(lab, P1)
    assert first["addresses"] == '["52:54:00:c0:00:01 10.2.0.5"]'
    assert first["options"] == "{requested-chassis=chassis1}"
    assert first["external_ids"] == "{virt-netxml-domain=vm1, virt-netxml-interface=vnet0}"
    assert first["dhcpv4_options"] == dhcp
    assert adapter.ensure_port(*wish) is False
    assert _row(lab, P1) == first      # same row (same _uuid), same contents
    assert lab.nbctl("lsp-list", "c-ls2").count(P1) == 1
    # ovn-controller binds the OVS interface whose iface-id is the port's name, on this chassis.
    lab.standin(lab.chassis[0], P1, "52:54:00:c0:00:01", "10.2.0.5/24")
    lab.wait_up(P1)
    assert lab.bound_chassis(P1) == "chassis1"
    # A changed wish (OVN's IPAM instead of the static address) updates the same row.
    adapter.ensure_port("c-ls2", P1, "52:54:00:c0:00:01", None, here, "vm1", "vnet0", dhcp)
    assert _row(lab, P1)["addresses"] == '["52:54:00:c0:00:01 dynamic"]'
    assert _row(lab, P1)["_uuid"] == first["_uuid"]


def test_a_port_on_another_switch_is_not_moved(lab: OvnLab, adapter: OvnAdapter) -> None:
    adapter.ensure_switch("c-ls3")
    adapter.ensure_switch("c-ls4")
    adapter.ensure_port("c-ls3", P2, "52:54:00:c0:00:02", None, "chassis1", "vm2", "vnet1")
    with pytest.raises(ForeignDevice, match="is on switch c-ls3"):
        adapter.ensure_port("c-ls4", P2, "52:54:00:c0:00:02", None, "chassis1", "vm2", "vnet1")
    assert P2 in lab.nbctl("lsp-list", "c-ls3") and P2 not in lab.nbctl("lsp-list", "c-ls4")


def test_delete_only_what_this_chassis_alone_holds(lab: OvnLab, adapter: OvnAdapter) -> None:
    adapter.ensure_switch("c-ls5")
    adapter.ensure_port("c-ls5", P3, "52:54:00:c0:00:03", None, "chassis2", "vm3", "vnet0")
    with pytest.raises(ForeignDevice, match="is requested on chassis2, not on this chassis"):
        adapter.delete_port(P3, "chassis1")
    assert P3 in lab.nbctl("lsp-list", "c-ls5")
    # Mid-migration the port is requested on both: neither side deletes it.
    lab.nbctl("set", "Logical_Switch_Port", P3, 'options:requested-chassis="chassis2,chassis1"')
    with pytest.raises(ForeignDevice, match="requested on chassis2,chassis1"):
        adapter.delete_port(P3, "chassis1")
    assert P3 in lab.nbctl("lsp-list", "c-ls5")
    lab.nbctl("set", "Logical_Switch_Port", P3, "options:requested-chassis=chassis1")
    assert adapter.delete_port(P3, "chassis1") is True
    assert P3 not in lab.nbctl("lsp-list", "c-ls5")
    assert adapter.delete_port(P3, "chassis1") is False    # gone already: nothing to do


def test_a_delete_racing_a_migration_leaves_the_port(lab: OvnLab, adapter: OvnAdapter,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # The port was this chassis's when the adapter read it; before the delete runs, the
    # destination of a migration is requested too. The delete transaction itself re-checks.
    adapter.ensure_switch("c-ls7")
    adapter.ensure_port("c-ls7", P5, "52:54:00:c0:00:07", None, "chassis1", "vm7", "vnet0")
    stale = adapter.find_port(P5)
    lab.nbctl("set", "Logical_Switch_Port", P5, 'options:requested-chassis="chassis1,chassis2"')
    monkeypatch.setattr(adapter, "find_port", lambda name: stale)
    adapter.timeout = 1
    with pytest.raises(HostTimeout, match=f"delete OVN port {P5}"):
        adapter.delete_port(P5, "chassis1")
    assert P5 in lab.nbctl("lsp-list", "c-ls7")


def test_a_port_named_like_another_ports_row_uuid_is_refused(lab: OvnLab, adapter: OvnAdapter) -> None:
    adapter.ensure_switch("c-ls6")
    adapter.ensure_port("c-ls6", P4, "52:54:00:c0:00:04", None, "chassis2", "victim", "vnet0")
    victim = _row(lab, P4)
    # An interfaceid chosen to be that port's row UUID: ovn-nbctl would resolve it to the row.
    with pytest.raises(ForeignDevice, match="is the row UUID of another port"):
        adapter.ensure_port("c-ls6", victim["_uuid"], "52:54:00:c0:00:05", None, "chassis1", "thief", "vnet0")
    with pytest.raises(ForeignDevice, match="is the row UUID of another port"):
        adapter.delete_port(victim["_uuid"], "chassis2")
    assert _row(lab, P4) == victim


def test_unix_remote(lab: OvnLab) -> None:
    OvnAdapter(OvnConfig(f"unix:{lab.nb_socket}"), timeout=3).probe()


@pytest.mark.parametrize("remote,error,reason", [
    (f"tcp:{CENTRAL_IP}:6699", HostError, "unreachable: .*Connection refused"),   # nobody listens
    (f"tcp:{FABRIC_NET}.250:6641", HostError, "unreachable: .*connection failed$"),  # no such host
    ("tcp:127.0.0.1:6698", HostTimeout, "timed out after 2s$"),     # connected, never answered
])
def test_an_unreachable_nb_fails_in_one_line_naming_it_within_the_timeout(
        lab: OvnLab, remote: str, error: type[HostError], reason: str) -> None:
    with entered(lab.chassis[0].ns), socket.socket() as silent:
        # Inside chassis1's namespace: the kernel completes the handshake from the backlog, and
        # nothing ever reads or answers — an NB that hangs.
        silent.bind(("127.0.0.1", 6698))
        silent.listen(8)
        adapter = OvnAdapter(OvnConfig(remote), timeout=2)
        started = time.monotonic()
        with pytest.raises(error, match=reason) as raised:
            adapter.ensure_switch("never")
        elapsed = time.monotonic() - started
    message = str(raised.value)
    assert remote in message and "\n" not in message
    assert elapsed < 2 + 1.5, elapsed    # ovn-nbctl's own --timeout, well before the wall margin


def _status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, conf: str | None) -> list[str]:
    folder = tmp_path / "conf"
    folder.mkdir(mode=0o755, exist_ok=True)
    if conf is not None:
        (folder / "ovn.conf").write_text(conf)
        os.chmod(folder / "ovn.conf", 0o644)
    monkeypatch.setenv("VIRT_NETXML_CONFIG_DIR", str(folder))
    monkeypatch.setenv("VIRT_NETXML_STATE_DIR", str(tmp_path / "state"))
    result = CliRunner().invoke(hooks_group, ["status", "--root", str(tmp_path / "root")])
    assert result.exit_code == 0, result.output
    return [line for line in result.output.splitlines() if line.startswith(("ovn:", "  problem:"))]


def test_hooks_status_reports_the_ovn_configuration(lab: OvnLab, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "conf" / "ovn.conf"
    monkeypatch.setenv("VIRT_NETXML_OVS_DB", str(lab.chassis[1].db))
    assert _status(tmp_path, monkeypatch, None) == []
    assert _status(tmp_path, monkeypatch, f"nb = unix:{lab.nb_socket}\n") == [
        f"ovn: {conf}: northbound database unix:{lab.nb_socket} reachable; this chassis: chassis2"]
    gone = tmp_path / "gone.sock"
    lines = _status(tmp_path, monkeypatch, f"nb = unix:{gone}\n")
    assert lines[0] == f"ovn: {conf}: northbound database unix:{gone} NOT reachable; this chassis: chassis2"
    assert lines[1].startswith(f"  problem: read the OVN northbound database: OVN northbound database "
                               f"unix:{gone} unreachable") and len(lines) == 2
    assert _status(tmp_path, monkeypatch, "nb = tcp:192.0.2.1\n") == [
        f"ovn: {conf}: not usable",
        f"  problem: {conf}:1: nb remote 'tcp:192.0.2.1': expected tcp:HOST:PORT, ssl:HOST:PORT "
        "or unix:/PATH"]


P6 = "0b5c6a4e-8a55-4c5e-9a0c-3f1c2b3d4e56"
P7 = "0b5c6a4e-8a55-4c5e-9a0c-3f1c2b3d4e57"


def test_ports_are_given_up_and_taken_back_in_one_transaction_each(lab: OvnLab, adapter: OvnAdapter) -> None:
    from hooks.adapters.ovn import Handover

    adapter.ensure_switch("c-ls8", "10.8.0.0/24", dhcp=True)
    dhcp = adapter.dhcp_options("c-ls8")
    adapter.ensure_port("c-ls8", P6, "52:54:00:c0:00:08", "10.8.0.8", "chassis1", "vm8", "52:54:00:c0:00:08",
                        dhcp, True)
    adapter.ensure_port("c-ls8", P7, "52:54:00:c0:00:09", None, ["chassis1", "chassis2"], "vm8",
                        "52:54:00:c0:00:09", dhcp)
    before = {p: _row(lab, p) for p in (P6, P7)}
    security = lab.nbctl("get", "Logical_Switch_Port", P6, "port_security").strip()
    rows, options = adapter.read_ports([P6, P7], ["c-ls8"])
    assert options == {"c-ls8": dhcp} and rows[P7].chassis == ["chassis1", "chassis2"]
    changes = [Handover(rows[P6], P6, []), Handover(rows[P7], P7, ["chassis2"])]
    adapter.hand_over(changes, "chassis1")
    assert P6 not in lab.nbctl("lsp-list", "c-ls8")
    assert _row(lab, P7)["options"] == "{requested-chassis=chassis2}"
    adapter.take_back(changes)
    after = {p: _row(lab, p) for p in (P6, P7)}
    # Made again as it was (a new row), and the migration's pair put back.
    assert {k: v for k, v in after[P6].items() if k != "_uuid"} == {
        k: v for k, v in before[P6].items() if k != "_uuid"}
    assert lab.nbctl("get", "Logical_Switch_Port", P6, "port_security").strip() == security
    assert after[P7] == before[P7]
    # A port to delete that another chassis holds by the time of the read: refused, nothing written.
    rows, _ = adapter.read_ports([P6, P7])
    with pytest.raises(ForeignDevice, match=f"delete OVN port {P7}: .* requested on chassis1,chassis2"):
        adapter.hand_over([Handover(rows[P6], P6, []), Handover(rows[P7], P7, [])], "chassis1")
    assert P6 in lab.nbctl("lsp-list", "c-ls8")
