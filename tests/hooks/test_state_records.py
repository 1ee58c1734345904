"""Typed state records (``hooks.state_records``): every key named once, the JSON on disk unchanged."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hooks.actions.base import DomainRecord, NetworkRecord
from hooks.context import Context, Owner
from hooks.deadline import Deadline
from hooks.planner import release_actions
from hooks.state import StateStore
from hooks.state_records import NAME, UUID, DomainState, NetworkState

HOOKS = Path(__file__).resolve().parents[2] / "hooks"

# Records as the hooks wrote them before the typed records (one of every part), byte for byte.
DOMAIN_JSON = """{
 "claims": {
  "pci-0000:04:10.1": "VF",
  "tap-tap0": "TAP"
 },
 "drivers": {
  "0000:04:10.1": {
   "driver": "ixgbevf",
   "override": null
  }
 },
 "name": "vm1",
 "port_wishes": {
  "52:54:00:00:00:01": {
   "mode": "access",
   "native": null,
   "network": "net",
   "portgroup": "web",
   "tag": 10,
   "trunks": null
  }
 },
 "starting": {
  "pid": 4242,
  "since": 1700000000.5
 },
 "taps": {
  "tap0": {
   "bridge": "br0",
   "index": 7,
   "ovs": false,
   "plugged": true
  }
 },
 "uuid": "c7a5fdbd-edaf-9455-926a-d65c16db1809",
 "vfs": {
  "pf0/1": {
   "index": 1,
   "mac": "00:00:00:00:00:00",
   "pf": "pf0",
   "vlan": 0
  }
 }
}
"""
NETWORK_JSON = """{
 "name": "net",
 "numvfs": {
  "pf0": 0
 },
 "pool": {
  "pf": "pf0"
 },
 "shims": {
  "shim0": {
   "address": "192.168.50.1/24",
   "index": 12,
   "uplink": "up0"
  }
 }
}
"""


def _ctx(tmp_path: Path, kind: str, name: str, uuid: str | None = None) -> Context:
    return Context(Owner(kind, name, uuid), StateStore(str(tmp_path)), Deadline(30.0))


def test_a_domain_record_of_today_reads_through_its_parts(tmp_path):
    state = DomainState(json.loads(DOMAIN_JSON))
    assert (state.name, state.uuid) == ("vm1", "c7a5fdbd-edaf-9455-926a-d65c16db1809")
    assert set(state.taps) == {"tap0"} and state.taps["tap0"]["bridge"] == "br0"
    assert state.vfs["pf0/1"]["pf"] == "pf0" and set(state.drivers) == {"0000:04:10.1"}
    assert set(state.claims) == {"pci-0000:04:10.1", "tap-tap0"}
    assert state.port_wishes["52:54:00:00:00:01"]["tag"] == 10
    assert state.starting == {"pid": 4242, "since": 1700000000.5}
    assert [a.describe() for a in release_actions(state.data)] == [
        a.describe() for a in release_actions(json.loads(DOMAIN_JSON))]
    assert len(release_actions(state.data)) == 6


def test_a_network_record_of_today_reads_through_its_parts():
    state = NetworkState(json.loads(NETWORK_JSON))
    assert state.name == "net" and state.pool_pf == "pf0"
    assert state.shims["shim0"]["uplink"] == "up0" and state.numvfs == {"pf0": 0}


@pytest.mark.parametrize("kind,text", [("domains", DOMAIN_JSON), ("networks", NETWORK_JSON)])
def test_editing_through_the_typed_record_keeps_the_file_byte_for_byte(tmp_path, kind, text):
    (tmp_path / kind).mkdir(mode=0o700)
    path = tmp_path / kind / f"{json.loads(text)['name']}.json"
    path.write_text(text)
    path.chmod(0o600)
    if kind == "domains":
        ctx = _ctx(tmp_path, "domain", "vm1", "c7a5fdbd-edaf-9455-926a-d65c16db1809")
        with DomainRecord(ctx) as rec:
            rec.part_for_update(rec.TAPS)["tap1"] = {"bridge": "br0"}
        with DomainRecord(ctx) as rec:
            rec.taps.pop("tap1")
    else:
        ctx = _ctx(tmp_path, "network", "net")
        with NetworkRecord(ctx) as net:
            net.part_for_update(net.SHIMS)["shim1"] = {"uplink": "up1"}
        with NetworkRecord(ctx) as net:
            net.shims.pop("shim1")
    assert path.read_text() == text
    ctx.state.close()


def test_reading_an_absent_part_adds_nothing_and_an_emptied_record_goes(tmp_path):
    ctx = _ctx(tmp_path, "domain", "vm2")
    with DomainRecord(ctx) as rec:
        assert rec.taps == {} and rec.starting is None and rec.only_labels()
    assert ctx.state.read("domains", "vm2") == {}
    with DomainRecord(ctx) as rec:
        rec.part_for_update(rec.CLAIMS)["tap-x"] = "TAP"
    assert ctx.state.read("domains", "vm2") == {NAME: "vm2", "claims": {"tap-x": "TAP"}}
    with DomainRecord(ctx) as rec:
        assert rec.drop(rec.CLAIMS) == {"tap-x": "TAP"}
    assert ctx.state.read("domains", "vm2") == {}
    ctx.state.close()


def test_parts_are_only_the_named_ones():
    with pytest.raises(AssertionError):
        DomainState({}).part("pool")
    with pytest.raises(AssertionError):
        NetworkState({}).part_for_update("taps")
    assert UUID not in DomainState.PARTS + NetworkState.PARTS


def test_no_module_of_the_hooks_reads_or_writes_a_record_key_by_its_string():
    """Every key is named once, in hooks.state_records: no ``rec["taps"]``, ``.get("pool")``..."""
    keys = "|".join(re.escape(k) for k in DomainState.PARTS + NetworkState.PARTS)
    raw = re.compile(rf"""(?:\.(?:get|setdefault|pop)\(|\[)\s*["']({keys})["']""")
    # "claims" is also the store's folder of claims (not a part of a record)
    folder = ('self.read("claims"', 'snapshot["claims"]')
    found = []
    for path in sorted(HOOKS.rglob("*.py")):
        if path.name == "state_records.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if raw.search(line) and not any(f in line for f in folder):
                found.append(f"{path.relative_to(HOOKS.parent)}:{number}: {line.strip()}")
    assert not found
