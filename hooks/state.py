"""What the hooks changed on the host, kept on disk so it can be undone after a crash.

Layout under the state directory (default ``/run/virt-netxml``; a tmpfs, so a reboot, which
undoes the changes themselves, also forgets them)::

    domains/<name>.json    per domain: TAPs created, original drivers and VF settings, claims,
                           VLAN wishes recorded by the network hook for its ports
    networks/<name>.json   per network: shims created, original sriov_numvfs
    claims/<device>.json   which domain holds a device (a VF, a passthrough uplink)
    locks/<file>.lock      flock(2) locks serialising read-modify-write of the files above

Every write goes through ``atomic_write`` (temporary file, fsync, rename, fsync of the folder):
a reader sees the old or the new record, never half of one. A record is written BEFORE the host
change it describes, so a crash between the two leaves something to repair rather than a change
nobody knows about.

The state folder decides what root undoes and where it creates files, so it is opened once,
with every folder above it checked (``hooks.config.open_trusted``: nobody but root could have
chosen what it is), and everything after that (sub-folders, records, locks, temporary files,
renames, unlinks) is done relative to those descriptors with O_NOFOLLOW. Moving or replacing
the path afterwards changes nothing; a link inside the tree is refused, never followed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator

from hooks.config import DEFAULT_STATE_DIR, open_in, open_trusted
from hooks.errors import Busy, HostError
from hooks.protocol import is_plain_name
from hooks.state_records import NAME, UUID

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from typing import Any

LOCK_TIMEOUT = 5.0

# NAME_MAX (255) minus the longest prefix and suffix put around a key ("run-networks-", ".lock").
MAX_KEY = 230


def file_key(name: str) -> str:
    """A file name for an object name: plain names unchanged, others '%' + hex of the UTF-8.

    Plain names (``hooks.protocol.is_plain_name``) stay readable, and the installed shell
    wrapper tests for a domain's record without starting Python."""
    key = name if is_plain_name(name) else "%" + name.encode("utf-8", "surrogateescape").hex()
    if len(key) > MAX_KEY:
        from xmltools.errors import InvalidValue

        # A one-line refusal instead of ENAMETOOLONG from open() deep inside a hook call.
        raise InvalidValue(what="name", value=name[:40] + "...",
                           reason=f"too long to key a state file ({len(key)} > {MAX_KEY} characters)")
    return key


def name_of_key(key: str) -> str:
    return bytes.fromhex(key[1:]).decode("utf-8", "surrogateescape") if key.startswith("%") else key


def atomic_write(at: tuple[int, str], data: str, mode: int) -> None:
    """Replace the file ``name`` in the folder ``dir_fd`` (``at``) with ``data`` in one rename,
    relative to the folder's descriptor and never through a link (``xmltools.fileio.replace_at``,
    imported on the first write: a call that only reads its state never pays for it)."""
    from xmltools.fileio import replace_at

    dir_fd, name = at
    replace_at(dir_fd, name, data.encode("utf-8"), mode)


def _open_checked(dir_fd: int | None, name: str, path: str, what: str, flags: int = os.O_RDONLY,
                  mode: int = 0o600) -> int | None:
    """A file of the state tree: a regular file of root's, never through a link."""
    fd = open_in(dir_fd, name, path, what, flags=flags, mode=mode, follow=False)
    assert not isinstance(fd, str)   # follow=False: links are refused
    return fd


@contextlib.contextmanager
def flocked(path: str, timeout: float = LOCK_TIMEOUT, *, dir_fd: int | None = None,
            shown: str | None = None) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (relative to ``dir_fd`` if given; created if
    needed, never through a link), waiting at most ``timeout``."""
    shown = shown or path
    fd = _open_checked(dir_fd, path, shown, "state lock", os.O_RDWR | os.O_CREAT)
    assert fd is not None   # O_CREAT
    try:
        end = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= end:
                    raise Busy(step="lock state", what="lock", name=shown,
                               detail=f"held by another process for more than {timeout:g}s") from None
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _load(dir_fd: int | None, name: str, path: str) -> dict[str, Any]:
    if dir_fd is None:
        return {}
    # A record someone else could have written would tell root what to undo: refused.
    fd = _open_checked(dir_fd, name, path, "state file")
    if fd is None:
        return {}
    try:
        with open(fd, "rb") as fh:
            data = json.loads(fh.read() or b"{}")
    except (OSError, ValueError) as exc:
        raise HostError(step=f"read state {path}", detail=str(exc)) from None
    return data if isinstance(data, dict) else {}


class StateStore:
    """Read and change the state records; every change is locked and written atomically."""

    KINDS = ("domains", "networks", "claims")
    FOLDERS = (*KINDS, "locks")

    def __init__(self, root: str = DEFAULT_STATE_DIR, lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.root = root
        self.lock_timeout = lock_timeout
        self._fds: dict[str, int] = {}   # "" the state folder, then its sub-folders

    def close(self) -> None:
        """Close the folder descriptors; the next use opens (and checks) them again."""
        fds, self._fds = self._fds, {}
        for fd in fds.values():
            os.close(fd)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # -- folders ------------------------------------------------------------------------

    def _folder(self, sub: str, create: bool) -> int | None:
        """The checked descriptor of the state folder (``sub`` "") or of a sub-folder; None
        when it does not exist and ``create`` is false. Folders the store makes are 0700."""
        fd = self._fds.get(sub)
        if fd is not None:
            return fd
        if sub:
            top = self._folder("", create)
            if top is None:
                return None
            got = open_in(top, sub, os.path.join(self.root, sub), "state directory", folder=True,
                          create=create, follow=False)
        else:
            got = open_trusted(self.root, "state directory", folder=True, create=create)
        if got is None:
            return None
        assert not isinstance(got, str)   # follow=False: links are refused
        self._fds[sub] = got
        return got

    def check(self) -> None:
        """Refuse (InsecurePath, naming it) a state folder, a folder above it or a sub-folder
        that others could change, or a link among them.

        Folders the store creates are 0700 and records 0600, owned by the user running the
        hooks (root); one found looser was made by someone else, or changed since.
        """
        if self._folder("", create=False) is not None:
            for sub in self.FOLDERS:
                self._folder(sub, create=False)

    def _ensure(self) -> None:
        for sub in self.FOLDERS:
            self._folder(sub, create=True)

    def path(self, kind: str, name: str) -> str:
        return os.path.join(self.root, kind, file_key(name) + ".json")

    @contextlib.contextmanager
    def _locked(self, lock: str, timeout: float) -> Iterator[None]:
        self._ensure()
        with flocked(lock, timeout, dir_fd=self._fds["locks"], shown=os.path.join(self.root, "locks", lock)):
            yield

    @contextlib.contextmanager
    def serialised(self, kind: str, name: str, timeout: float) -> Iterator[None]:
        """Run one whole hook call (plan and apply) or repair for an object at a time.

        Record edits are locked one by one, but two calls for the same domain (``hooks
        repair`` beside a ``release``) would still both see a driver to restore and race on
        the device. Waiting is bounded by ``timeout`` (the caller's deadline): Busy after it.
        """
        with self._locked(f"run-{kind}-{file_key(name)}.lock", timeout):
            yield

    # -- records ------------------------------------------------------------------------

    def read(self, kind: str, name: str) -> dict[str, Any]:
        """A record as it is on disk now ({} when there is none); no lock needed to read."""
        return _load(self._folder(kind, create=False), file_key(name) + ".json", self.path(kind, name))

    def _write(self, kind: str, name: str, record: dict[str, Any] | None, text: str = "") -> None:
        """Write ``text`` as the record (under its lock), or remove it when ``record`` is None."""
        folder, file = self._fds[kind], file_key(name) + ".json"
        if record is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(file, dir_fd=folder)
            os.fsync(folder)
        else:
            atomic_write((folder, file), text, mode=0o600)

    @contextlib.contextmanager
    def edit(self, kind: str, name: str) -> Iterator[dict[str, Any]]:
        """Read-modify-write one record under its lock; an emptied record removes the file."""
        with self._locked(f"{kind}-{file_key(name)}.lock", self.lock_timeout):
            record = self.read(kind, name)
            before = json.dumps(record, sort_keys=True)
            yield record
            record = {k: v for k, v in record.items() if v not in ({}, [], None) or k in (NAME, UUID)}
            if set(record) <= {NAME, UUID}:
                self._write(kind, name, None)
            elif json.dumps(record, sort_keys=True) != before:
                self._write(kind, name, record, json.dumps(record, indent=1, sort_keys=True) + "\n")

    def names(self, kind: str) -> list[str]:
        folder = self._folder(kind, create=False)
        if folder is None:
            return []
        entries = sorted(os.listdir(folder))
        return [name_of_key(e[:-5]) for e in entries if e.endswith(".json") and not e.startswith(".tmp")]

    # -- claims -------------------------------------------------------------------------

    def claim(self, device: str, what: str, owner: str, uuid: str | None) -> bool:
        """Record that ``owner`` holds ``device``; False if it already did, Busy if another does."""
        with self._locked(f"claims-{file_key(device)}.lock", self.lock_timeout):
            held = self.read("claims", device)
            if held:
                if held.get("owner") == owner:
                    return False
                holder = held.get("owner", "?")
                if held.get("uuid"):
                    holder += f" ({held['uuid']})"
                raise Busy(step=f"claim {what}", what=what, name=device.split("-", 1)[-1],
                           detail=f"in use by domain {holder}")
            record = {"device": device, "what": what, "owner": owner, "uuid": uuid}
            self._write("claims", device, record, json.dumps(record, sort_keys=True) + "\n")
            return True

    def release(self, device: str, owner: str) -> bool:
        """Drop ``owner``'s claim on ``device``; True when there was one to drop."""
        with self._locked(f"claims-{file_key(device)}.lock", self.lock_timeout):
            if self.read("claims", device).get("owner") != owner:
                return False
            self._write("claims", device, None)
            return True

    def holder(self, device: str) -> str | None:
        return self.read("claims", device).get("owner")

    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Everything recorded, for ``hooks status``."""
        return {kind: {name: self.read(kind, name) for name in self.names(kind)} for kind in self.KINDS}
