"""16 domains prepare at once against a pool of 8 VFs: real processes, real flock locks."""

from __future__ import annotations

import pytest

from tests.concurrency.pool import check_round as check
from tests.concurrency.pool import claims, make_pool_host, prepare_at_once, release_all

pytestmark = pytest.mark.timeout(240)

VFS, DOMAINS = 8, 16


def test_sixteen_domains_eight_vfs(tmp_path):
    base = tmp_path / "host"
    make_pool_host(base, VFS)
    first = prepare_at_once(base, list(range(DOMAINS)))
    assert check(base, first, VFS) == []
    assert len(first.winners) == VFS and len(first.refused) == DOMAINS - VFS
    # The refusal names the pool, in libvirt's one-line error.
    line = next(iter(first.refused.values()))
    assert line.startswith("virt-netxml: domain poolvm") and "VF pool 'vfpool' is busy" in line, line
    assert f"all {VFS} VFs of enp4s0f0 are in use" in line

    # release returns every VF to the pool; the refused ones' release is harmless.
    assert release_all(base, [f"poolvm{n}" for n in range(DOMAINS)]) == []
    assert claims(base) == {}

    # A second round: those refused before now get the VFs.
    second = prepare_at_once(base, [int(name.removeprefix("poolvm")) for name in first.refused])
    assert check(base, second, VFS) == []
    assert sorted(second.winners) == sorted(first.refused) and second.refused == {}
    assert release_all(base, second.winners) == []
    assert claims(base) == {}


# ------------------------------------------------------------------ the pool, in-process

def _prepare(name: str, macs: list[str], fs, monkeypatch, tmp_path):
    import io

    from hooks.entry import main
    from tests.fakes import FakeNetlink, FakeOvs
    from tests.faults.scenarios import domain

    monkeypatch.setenv("VIRT_NETXML_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("VIRT_NETXML_CONFIG_DIR", str(tmp_path / "conf"))
    nics = "".join(f"<interface type='network'><mac address='{m}'/><source network='vfpool'/></interface>"
                   for m in macs)
    err = io.StringIO()
    ports = {"netlink": FakeNetlink(), "ovs": FakeOvs(), "sysfs": fs}
    rc = main(["--driver", "qemu", name, "prepare", "begin", "-"],
              stdin=io.BytesIO(domain(name, "", nics).encode()), stdout=io.StringIO(), stderr=err,
              ports=ports)
    return rc, err.getvalue()


def test_each_interface_gets_its_own_vf_and_an_empty_pool_is_named(tmp_path, monkeypatch):
    from hooks.state import StateStore
    from tests.fakes import FakeSysfs

    fs = FakeSysfs()
    fs.add_pf("enp4s0f0", "0000:04:00.0", 8, numvfs=3)
    store = StateStore(str(tmp_path / "state"))
    with store.edit("networks", "vfpool") as rec:
        rec.update(name="vfpool", pool={"pf": "enp4s0f0"})
    assert _prepare("a", ["52:54:00:00:00:0a", "52:54:00:00:00:0b"], fs, monkeypatch, tmp_path) == (0, "")
    held = {d: store.holder(d) for d in store.names("claims")}
    assert held == {"pci-0000:04:10.0": "a", "pci-0000:04:10.1": "a"}
    rc, err = _prepare("b", ["52:54:00:00:00:0c", "52:54:00:00:00:0d"], fs, monkeypatch, tmp_path)
    # b took the last VF for its first interface, found none for the second, and gave it back.
    assert rc == 1 and "VF pool 'vfpool' is busy (all 3 VFs of enp4s0f0 are in use" in err, err
    assert "rolled back 1 of 1" in err and store.holder("pci-0000:04:10.2") is None
    # Preparing a again (after a crash, say) keeps it at two VFs.
    assert _prepare("a", ["52:54:00:00:00:0a", "52:54:00:00:00:0b"], fs, monkeypatch, tmp_path) == (0, "")
    assert sorted(store.names("claims")) == ["pci-0000:04:10.0", "pci-0000:04:10.1"]


def test_the_fast_path_starts_python_for_a_network_interface_only_when_networks_are_recorded(tmp_path):
    from hooks.fastpath import needs_work

    data = b"<domain><name>a</name><interface type='network'><source network='vfpool'/></interface></domain>"
    state = tmp_path / "state"
    assert not needs_work("qemu", "prepare", "a", data, str(state), str(tmp_path / "map"))
    (state / "networks").mkdir(parents=True)
    (state / "networks/vfpool.json").write_text("{}")
    assert needs_work("qemu", "prepare", "a", data, str(state), str(tmp_path / "map"))


def test_status_shows_the_pool_and_who_holds_its_vfs(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from hooks.cli import hooks as hooks_group
    from hooks.state import StateStore

    monkeypatch.setenv("VIRT_NETXML_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("VIRT_NETXML_CONFIG_DIR", str(tmp_path / "conf"))
    store = StateStore(str(tmp_path / "state"))
    with store.edit("networks", "vfpool") as rec:
        rec.update(name="vfpool", pool={"pf": "enp4s0f0"})
    store.claim("pci-0000:04:10.3", "VF of pool vfpool for 52:54:00:00:00:0a", "vm7", None)
    res = CliRunner().invoke(hooks_group, ["status", "--root", str(tmp_path / "root")])
    assert res.exit_code == 0, res.output
    assert "network vfpool: VF pool of enp4s0f0 (domains reserve at prepare)" in res.output
    assert "claim: VF of pool vfpool for 52:54:00:00:00:0a 0000:04:10.3 held by domain vm7" in res.output
