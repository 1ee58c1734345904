"""The state store at its edges: key lengths, records it cannot use, what reading creates,
the claim files and the messages a contested claim shows."""

from __future__ import annotations

import json
import os

import pytest

import hooks.state
from hooks.errors import Busy, HostError, InsecurePath
from hooks.state import MAX_KEY, StateStore, file_key, name_of_key
from xmltools.errors import InvalidValue

# --------------------------------------------------------------------------- file keys


def test_a_plain_name_of_the_longest_key_is_kept_and_one_more_character_refused():
    assert file_key("a" * MAX_KEY) == "a" * MAX_KEY
    with pytest.raises(InvalidValue) as info:
        file_key("a" * (MAX_KEY + 1))
    assert info.value.message == (f"invalid name {'a' * 40 + '...'!r}: too long to key a state file "
                                  f"({MAX_KEY + 1} > {MAX_KEY} characters)")


def test_an_encoded_name_is_measured_by_its_key_not_by_its_length():
    # 57 two-byte characters: '%' + 228 hex digits = 229, under the limit; 58 are 233, over it.
    assert len(file_key("é" * 57)) == 229
    with pytest.raises(InvalidValue, match=r"too long to key a state file \(233 > 230 characters\)"):
        file_key("é" * 58)


def test_a_name_with_bytes_that_are_not_utf8_keys_a_file_and_comes_back_unchanged():
    # libvirt passes names as bytes; Python decodes argv with surrogateescape.
    name = os.fsdecode(b"vm\xff\xfe")
    key = file_key(name)
    assert key == "%" + b"vm\xff\xfe".hex()
    assert name_of_key(key) == name


def test_a_state_file_for_a_name_that_is_not_utf8(tmp_path):
    store = StateStore(str(tmp_path / "s"))
    name = os.fsdecode(b"caf\xe9")
    with store.edit("domains", name) as rec:
        rec["taps"] = {"tap0": {}}
    assert store.names("domains") == [name]
    assert store.read("domains", name) == {"taps": {"tap0": {}}}


# --------------------------------------------------------------------------- records it reads


def _put(path, data: bytes) -> None:
    """A record written as root writes one (0600), with whatever content."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


@pytest.fixture
def store(tmp_path):
    store = StateStore(str(tmp_path / "s"))
    with store.edit("domains", "vm1") as rec:
        rec["taps"] = {"tap0": {}}
    return store


def test_an_empty_record_file_reads_as_no_record(store, tmp_path):
    _put(tmp_path / "s/domains/vm1.json", b"")
    assert store.read("domains", "vm1") == {}


def test_a_record_that_is_not_an_object_reads_as_no_record(store, tmp_path):
    _put(tmp_path / "s/domains/vm1.json", b"[1, 2]\n")
    assert store.read("domains", "vm1") == {}


def test_a_record_saved_with_a_byte_order_mark_is_still_read(store, tmp_path):
    _put(tmp_path / "s/domains/vm1.json", b'\xef\xbb\xbf{"taps": {}}\n')
    assert store.read("domains", "vm1") == {"taps": {}}


def test_a_corrupt_record_is_one_line_naming_the_file_and_the_fault(store, tmp_path):
    _put(tmp_path / "s/domains/vm1.json", b"{not json")
    with pytest.raises(HostError) as info:
        store.read("domains", "vm1")
    path = tmp_path / "s/domains/vm1.json"
    assert info.value.message == (f"read state {path}: Expecting property name enclosed in double "
                                  "quotes: line 1 column 2 (char 1)")


def test_names_lists_records_only(store, tmp_path):
    for stray in ("README", ".tmp-0123456789ab", ".tmp-left.json", "notes.txt"):
        _put(tmp_path / "s/domains" / stray, b"{}")
    assert store.names("domains") == ["vm1"]


# --------------------------------------------------------------------------- what reading creates


def test_reading_listing_and_checking_a_missing_store_create_nothing(tmp_path):
    store = StateStore(str(tmp_path / "s"))
    assert store.read("domains", "vm1") == {}
    assert store.names("claims") == [] and store.holder("pci-0000:04:10.1") is None
    store.check()
    assert not (tmp_path / "s").exists()


def test_reading_listing_and_checking_an_empty_state_folder_create_no_sub_folder(tmp_path):
    (tmp_path / "s").mkdir(mode=0o700)
    store = StateStore(str(tmp_path / "s"))
    assert store.read("domains", "vm1") == {} and store.names("networks") == []
    store.check()
    assert os.listdir(tmp_path / "s") == []


def test_the_state_folder_is_opened_and_checked_once_per_store(tmp_path, monkeypatch):
    opened = []
    real = hooks.state.open_trusted

    def counting(path, *args, **kwargs):
        opened.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(hooks.state, "open_trusted", counting)
    store = StateStore(str(tmp_path / "s"))
    with store.edit("domains", "vm1") as rec:
        rec["taps"] = {"tap0": {}}
    store.read("networks", "n")
    store.check()
    store.claim("uplink-up0", "uplink", "vm1", None)
    assert store.names("domains") == ["vm1"]
    assert opened == [str(tmp_path / "s")]


def test_an_insecure_state_folder_is_refused_by_its_own_name(tmp_path):
    (tmp_path / "s").mkdir()
    os.chmod(tmp_path / "s", 0o777)
    with pytest.raises(InsecurePath) as info:
        StateStore(str(tmp_path / "s")).check()
    assert info.value.message.startswith(f"state directory {tmp_path / 's'}: ")


def test_lock_files_are_private(tmp_path):
    old = os.umask(0)
    try:
        store = StateStore(str(tmp_path / "s"))
        with store.edit("domains", "vm1") as rec:
            rec["taps"] = {"tap0": {}}
    finally:
        os.umask(old)
    assert oct((tmp_path / "s/locks/domains-vm1.lock").stat().st_mode & 0o777) == "0o600"


def test_a_store_whose_descriptor_is_already_gone_is_dropped_quietly(tmp_path):
    store = StateStore(str(tmp_path / "s"))
    store.read("domains", "vm1")
    store.close()
    store._fds = {"": 1 << 20}          # closing it fails with EBADF
    store.__del__()                     # garbage collection must not raise
    assert store._fds == {}


# --------------------------------------------------------------------------- claims


def test_a_claim_file_holds_device_what_owner_and_uuid_sorted(tmp_path):
    store = StateStore(str(tmp_path / "s"))
    assert store.claim("pci-0000:04:10.1", "VF", "vm1", "u-1") is True
    with open(store.path("claims", "pci-0000:04:10.1"), encoding="utf-8") as fh:
        text = fh.read()
    assert text == '{"device": "pci-0000:04:10.1", "owner": "vm1", "uuid": "u-1", "what": "VF"}\n'


@pytest.mark.parametrize(("device", "uuid", "message"), [
    ("pci-0000:04:10.1", "u-1", "claim VF: VF '0000:04:10.1' is busy (in use by domain vm1 (u-1))"),
    ("pci-0000:04:10.1", None, "claim VF: VF '0000:04:10.1' is busy (in use by domain vm1)"),
    ("uplink-br-ex", None, "claim VF: VF 'br-ex' is busy (in use by domain vm1)"),
    ("up0", None, "claim VF: VF 'up0' is busy (in use by domain vm1)"),
])
def test_a_contested_claim_names_the_device_and_its_holder(tmp_path, device, uuid, message):
    store = StateStore(str(tmp_path / "s"))
    store.claim(device, "VF", "vm1", uuid)
    with pytest.raises(Busy) as info:
        store.claim(device, "VF", "vm2", "u-2")
    assert info.value.message == message
    assert store.holder(device) == "vm1"


def test_a_claim_record_without_an_owner_still_blocks_and_says_so(tmp_path):
    store = StateStore(str(tmp_path / "s"))
    store.claim("uplink-up0", "passthrough uplink", "vm1", None)
    _put(tmp_path / "s/claims/uplink-up0.json", b'{"device": "uplink-up0"}\n')
    with pytest.raises(Busy) as info:
        store.claim("uplink-up0", "passthrough uplink", "vm2", None)
    assert info.value.message == ("claim passthrough uplink: passthrough uplink 'up0' is busy "
                                  "(in use by domain ?)")


def test_release_of_a_claim_someone_else_holds_keeps_its_file(tmp_path):
    store = StateStore(str(tmp_path / "s"))
    store.claim("uplink-up0", "uplink", "vm1", "u-1")
    before = (tmp_path / "s/claims/uplink-up0.json").read_text()
    assert store.release("uplink-up0", "vm2") is False
    assert (tmp_path / "s/claims/uplink-up0.json").read_text() == before
    assert store.release("uplink-up0", "vm1") is True
    assert store.names("claims") == []


def test_snapshot_reads_each_kind_by_its_name(tmp_path):
    store = StateStore(str(tmp_path / "s"))
    with store.edit("networks", "net1") as rec:
        rec["shims"] = {"mvshim0": {"uplink": "up0"}}
    store.claim("pci-0000:04:10.1", "VF", "vm1", "u-1")
    assert store.snapshot() == {
        "domains": {},
        "networks": {"net1": {"shims": {"mvshim0": {"uplink": "up0"}}}},
        "claims": {"pci-0000:04:10.1": {"device": "pci-0000:04:10.1", "what": "VF", "owner": "vm1",
                                        "uuid": "u-1"}},
    }


def test_an_edit_that_leaves_only_the_labels_removes_the_record(tmp_path):
    store = StateStore(str(tmp_path / "s"))
    with store.edit("domains", "vm1") as rec:
        rec.update(name="vm1", uuid="u-1", taps={"tap0": {}})
    with store.edit("domains", "vm1") as rec:
        rec["taps"] = {}
        rec["vfs"] = []
        rec["starting"] = None
    assert store.names("domains") == []
    with store.edit("domains", "vm1") as rec:
        rec.update(name="vm1", uuid=None, taps={"tap0": {}})
    assert json.loads((tmp_path / "s/domains/vm1.json").read_text()) == {
        "name": "vm1", "uuid": None, "taps": {"tap0": {}}}
