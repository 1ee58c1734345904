"""State records: atomic writes, flock between real processes, claims."""

from __future__ import annotations

import json
import multiprocessing
import os
import time

import pytest

from hooks.errors import Busy, InsecurePath
from hooks.state import StateStore, file_key, flocked, name_of_key
from tests.support import held_in_child

CTX = multiprocessing.get_context("fork")


def test_edit_writes_and_an_emptied_record_disappears(tmp_path):
    store = StateStore(str(tmp_path))
    with store.edit("domains", "vm1") as rec:
        rec["name"] = "vm1"
        rec["taps"] = {"tap0": {}}
    path = tmp_path / "domains" / "vm1.json"
    assert json.loads(path.read_text()) == {"name": "vm1", "taps": {"tap0": {}}}
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    with store.edit("domains", "vm1") as rec:
        rec["taps"].pop("tap0")
    assert not path.exists() and store.names("domains") == []


def test_an_exception_inside_edit_writes_nothing(tmp_path):
    store = StateStore(str(tmp_path))
    with store.edit("domains", "vm1") as rec:
        rec["taps"] = {"tap0": {}}
    with pytest.raises(RuntimeError), store.edit("domains", "vm1") as rec:
        rec["taps"]["tap1"] = {}
        raise RuntimeError("crash between steps")
    assert store.read("domains", "vm1") == {"taps": {"tap0": {}}}


def test_failed_rename_keeps_the_old_record_and_leaves_no_temp_file(tmp_path, monkeypatch):
    store = StateStore(str(tmp_path))
    with store.edit("domains", "vm1") as rec:
        rec["taps"] = {"tap0": {}}

    def broken(src, dst, **dir_fds):
        assert set(dir_fds) == {"src_dir_fd", "dst_dir_fd"}   # relative to the folder's descriptor
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "rename", broken)
    with pytest.raises(OSError), store.edit("domains", "vm1") as rec:
        rec["taps"]["tap1"] = {}
    monkeypatch.undo()
    assert store.read("domains", "vm1") == {"taps": {"tap0": {}}}
    assert os.listdir(tmp_path / "domains") == ["vm1.json"]


def _writer(root: str, rounds: int) -> None:
    store = StateStore(root)
    for i in range(rounds):
        with store.edit("domains", "vm1") as rec:
            rec["counter"] = i
            rec["padding"] = "x" * (i % 97) * 50   # records of changing size


def test_readers_never_see_half_a_record(tmp_path):
    store = StateStore(str(tmp_path))
    proc = CTX.Process(target=_writer, args=(str(tmp_path), 400))
    proc.start()
    seen = 0
    try:
        while proc.is_alive():
            path = tmp_path / "domains" / "vm1.json"
            try:
                text = path.read_text()
            except FileNotFoundError:
                continue
            json.loads(text)   # raises on a torn write
            seen += 1
    finally:
        proc.join(30)
    assert proc.exitcode == 0 and seen > 0
    assert store.read("domains", "vm1")["counter"] == 399


def _incrementer(root: str, rounds: int) -> None:
    store = StateStore(root)
    for _ in range(rounds):
        with store.edit("networks", "net") as rec:
            rec["n"] = rec.get("n", 0) + 1


def test_locked_read_modify_write_loses_no_update_between_processes(tmp_path):
    procs = [CTX.Process(target=_incrementer, args=(str(tmp_path), 150)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert StateStore(str(tmp_path)).read("networks", "net")["n"] == 450


def _claimer(root: str, owner: str, start, results) -> None:
    start.wait()
    try:
        won = StateStore(root).claim("pci-0000:04:10.1", "VF", owner, f"uuid-{owner}")
        results.put((owner, "won" if won else "again"))
    except Busy as exc:
        results.put((owner, exc.message))


def test_only_one_of_many_processes_claims_a_vf(tmp_path):
    start = CTX.Event()
    results = CTX.Queue()
    procs = [CTX.Process(target=_claimer, args=(str(tmp_path), f"vm{i}", start, results)) for i in range(8)]
    for p in procs:
        p.start()
    start.set()
    outcomes = dict(results.get(timeout=30) for _ in procs)
    for p in procs:
        p.join(30)
    winners = [o for o, r in outcomes.items() if r == "won"]
    assert len(winners) == 1
    holder = winners[0]
    for owner, message in outcomes.items():
        if owner != holder:
            assert message == (f"claim VF: VF '0000:04:10.1' is busy "
                               f"(in use by domain {holder} (uuid-{holder}))")
    assert StateStore(str(tmp_path)).holder("pci-0000:04:10.1") == holder


def test_claim_is_reentrant_for_its_owner_and_release_checks_the_owner(tmp_path):
    store = StateStore(str(tmp_path))
    assert store.claim("uplink-up0", "uplink", "vm1", None) is True
    assert store.claim("uplink-up0", "uplink", "vm1", None) is False
    assert store.release("uplink-up0", "vm2") is False
    assert store.holder("uplink-up0") == "vm1"
    assert store.release("uplink-up0", "vm1") is True and store.holder("uplink-up0") is None


def test_lock_wait_is_bounded(tmp_path):
    path = str(tmp_path / "x.lock")
    with held_in_child(lambda: flocked(path), 3.0):
        started = time.monotonic()
        with pytest.raises(Busy, match="held by another process"), flocked(path, timeout=0.3):
            pass
        assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("name", ["vm1", "web-01.example", "with space", "../etc", ".hidden", "ünï"])
def test_file_keys_are_safe_and_reversible(name):
    key = file_key(name)
    assert "/" not in key and not key.startswith(".")
    assert name_of_key(key) == name


def test_snapshot_lists_everything(tmp_path):
    store = StateStore(str(tmp_path))
    with store.edit("domains", "with space") as rec:
        rec["taps"] = {"t": {}}
    store.claim("pci-0000:04:10.1", "VF", "with space", None)
    snap = store.snapshot()
    assert snap["domains"] == {"with space": {"taps": {"t": {}}}}
    assert snap["claims"]["pci-0000:04:10.1"]["owner"] == "with space"
    assert snap["networks"] == {}


def test_links_inside_the_state_tree_are_refused_never_followed(tmp_path):
    store = StateStore(str(tmp_path / "s"))
    with store.edit("domains", "vm1") as rec:
        rec["taps"] = {"tap0": {}}
    victim = tmp_path / "victim"
    os.symlink(victim, tmp_path / "s/locks/run-domains-vm1.lock")
    with pytest.raises(InsecurePath, match="state lock .*/locks/run-domains-vm1.lock: a symbolic link"), \
            store.serialised("domains", "vm1", 1):
        pass
    os.rename(tmp_path / "s/domains/vm1.json", tmp_path / "real.json")
    os.symlink(tmp_path / "real.json", tmp_path / "s/domains/vm1.json")
    with pytest.raises(InsecurePath, match="state file .*/domains/vm1.json: a symbolic link"):
        store.read("domains", "vm1")
    os.rmdir(tmp_path / "s/claims")
    os.symlink(tmp_path, tmp_path / "s/claims")
    with pytest.raises(InsecurePath, match="state directory .*/claims: a symbolic link"):
        StateStore(str(tmp_path / "s")).check()
    assert not victim.exists()


def test_the_store_keeps_to_the_folder_it_opened_when_the_path_moves(tmp_path):
    store = StateStore(str(tmp_path / "s"))
    with store.edit("domains", "vm1") as rec:
        rec["taps"] = {"tap0": {}}
    os.rename(tmp_path / "s", tmp_path / "moved")
    (tmp_path / "s").mkdir(mode=0o700)               # whatever is at the path now is not used
    with store.edit("domains", "vm1") as rec:
        rec["taps"]["tap1"] = {}
    assert store.claim("uplink-up0", "uplink", "vm1", None) is True
    assert os.listdir(tmp_path / "s") == []
    assert json.loads((tmp_path / "moved/domains/vm1.json").read_text())["taps"] == {"tap0": {}, "tap1": {}}
    assert os.path.exists(tmp_path / "moved/claims/uplink-up0.json")
    store.close()    # the next use opens, and checks, the path again
    assert store.read("domains", "vm1") == {}


def test_record_writes_leave_no_temporary_file_and_are_private(tmp_path):
    old = os.umask(0)
    try:
        store = StateStore(str(tmp_path))
        for i in range(3):
            with store.edit("networks", "net") as rec:
                rec["n"] = i
    finally:
        os.umask(old)
    assert os.listdir(tmp_path / "networks") == ["net.json"]
    assert oct((tmp_path / "networks/net.json").stat().st_mode & 0o777) == "0o600"
