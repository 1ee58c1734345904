"""What the hooks changed on the host, kept on disk so it can be undone after a crash.

Layout under the state directory (default ``/run/virt-netxml``; a tmpfs, so a reboot, which
undoes the changes themselves, also forgets them)::

    domains/<name>.json    per domain: TAPs created, original drivers and VF settings, claims,
                           VLAN wishes recorded by the network hook for its ports
    networks/<name>.json   per network: shims created, original sriov_numvfs
    claims/<device>.json   which domain holds a device (a VF, a passthrough uplink)
    locks/<file>.lock      flock(2) locks serialising read-modify-write of the files above

Every write goes through ``xmltools.fileio.atomic_write`` (temporary file, fsync, rename, fsync
of the folder): a reader sees the old or the new record, never half of one. A record is written
BEFORE the host change it describes, so a crash between the two leaves something to repair
rather than a change nobody knows about.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator

from hooks.config import DEFAULT_STATE_DIR, check_private, stat_reason
from hooks.errors import Busy, HostError, InsecurePath

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from typing import Any

LOCK_TIMEOUT = 5.0

# Names made only of these characters are used as file names unchanged (the installed shell
# wrapper relies on it to test for a domain's record without starting Python).
_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-")


# NAME_MAX (255) minus the longest prefix and suffix put around a key ("run-networks-", ".lock").
MAX_KEY = 230


def file_key(name: str) -> str:
    """A file name for an object name: plain names unchanged, others '%' + hex of the UTF-8."""
    if name and not name.startswith(".") and set(name) <= _PLAIN:
        key = name
    else:
        key = "%" + name.encode("utf-8", "surrogateescape").hex()
    if len(key) > MAX_KEY:
        from xmltools.errors import InvalidValue

        # A one-line refusal instead of ENAMETOOLONG from open() deep inside a hook call.
        raise InvalidValue(what="name", value=name[:40] + "...",
                           reason=f"too long to key a state file ({len(key)} > {MAX_KEY} characters)")
    return key


def name_of_key(key: str) -> str:
    return bytes.fromhex(key[1:]).decode("utf-8", "surrogateescape") if key.startswith("%") else key


def atomic_write(path: str, data: str, mode: int) -> None:
    # Imported on first write: xmltools.fileio needs tempfile (and with it shutil, random,
    # bz2, lzma), a noticeable share of a hook call that only reads its state.
    from xmltools.fileio import atomic_write as write

    write(path, data, mode)


@contextlib.contextmanager
def flocked(path: str, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (created if needed), waiting at most ``timeout``."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        end = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= end:
                    raise Busy(step="lock state", what="lock", name=path,
                               detail=f"held by another process for more than {timeout:g}s") from None
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _load(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            # A record someone else could have written would tell root what to undo: refuse it.
            reason = stat_reason(os.fstat(fh.fileno()))
            if reason is not None:
                raise InsecurePath(what="state file", path=path, reason=reason)
            data = json.loads(fh.read() or b"{}")
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise HostError(step=f"read state {path}", detail=str(exc)) from None
    return data if isinstance(data, dict) else {}


class StateStore:
    """Read and change the state records; every change is locked and written atomically."""

    KINDS = ("domains", "networks", "claims")

    def __init__(self, root: str = DEFAULT_STATE_DIR, lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.root = root
        self.lock_timeout = lock_timeout
        self._ensured = False

    # -- paths --------------------------------------------------------------------------

    def check(self) -> None:
        """Refuse (InsecurePath) a state folder or sub-folder that others could change.

        Folders the store creates are 0700 and records 0600, owned by the user running the
        hooks (root); one found looser was made by someone else, or changed since.
        """
        check_private(self.root, "state directory")
        for sub in (*self.KINDS, "locks"):
            check_private(os.path.join(self.root, sub), "state directory")

    def _ensure(self) -> None:
        if self._ensured:
            return
        # The root first, with its own mode: makedirs gives missing parents umask's default.
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        for sub in (*self.KINDS, "locks"):
            os.makedirs(os.path.join(self.root, sub), mode=0o700, exist_ok=True)
        self.check()
        self._ensured = True

    def path(self, kind: str, name: str) -> str:
        return os.path.join(self.root, kind, file_key(name) + ".json")

    def _lock_path(self, kind: str, name: str) -> str:
        return os.path.join(self.root, "locks", f"{kind}-{file_key(name)}.lock")

    @contextlib.contextmanager
    def serialised(self, kind: str, name: str, timeout: float) -> Iterator[None]:
        """Run one whole hook call (plan and apply) or repair for an object at a time.

        Record edits are locked one by one, but two calls for the same domain (``hooks
        repair`` beside a ``release``) would still both see a driver to restore and race on
        the device. Waiting is bounded by ``timeout`` (the caller's deadline): Busy after it.
        """
        self._ensure()
        with flocked(os.path.join(self.root, "locks", f"run-{kind}-{file_key(name)}.lock"), timeout):
            yield

    # -- records ------------------------------------------------------------------------

    def read(self, kind: str, name: str) -> dict[str, Any]:
        """A record as it is on disk now ({} when there is none); no lock needed to read."""
        return _load(self.path(kind, name))

    @contextlib.contextmanager
    def edit(self, kind: str, name: str) -> Iterator[dict[str, Any]]:
        """Read-modify-write one record under its lock; an emptied record removes the file."""
        self._ensure()
        with flocked(self._lock_path(kind, name), self.lock_timeout):
            path = self.path(kind, name)
            record = _load(path)
            before = json.dumps(record, sort_keys=True)
            yield record
            record = {k: v for k, v in record.items() if v not in ({}, [], None) or k in ("name", "uuid")}
            if set(record) <= {"name", "uuid"}:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            elif json.dumps(record, sort_keys=True) != before:
                atomic_write(path, json.dumps(record, indent=1, sort_keys=True) + "\n", mode=0o600)

    def names(self, kind: str) -> list[str]:
        folder = os.path.join(self.root, kind)
        try:
            entries = sorted(os.listdir(folder))
        except FileNotFoundError:
            return []
        return [name_of_key(e[:-5]) for e in entries if e.endswith(".json") and not e.startswith(".tmp")]

    # -- claims -------------------------------------------------------------------------

    def claim(self, device: str, what: str, owner: str, uuid: str | None) -> bool:
        """Record that ``owner`` holds ``device``; False if it already did, Busy if another does."""
        self._ensure()
        with flocked(self._lock_path("claims", device), self.lock_timeout):
            path = self.path("claims", device)
            held = _load(path)
            if held:
                if held.get("owner") == owner:
                    return False
                holder = held.get("owner", "?")
                if held.get("uuid"):
                    holder += f" ({held['uuid']})"
                raise Busy(step=f"claim {what}", what=what, name=device.split("-", 1)[-1],
                           detail=f"in use by domain {holder}")
            atomic_write(path, json.dumps({"device": device, "what": what, "owner": owner,
                                           "uuid": uuid}, sort_keys=True) + "\n", mode=0o600)
            return True

    def release(self, device: str, owner: str) -> bool:
        """Drop ``owner``'s claim on ``device``; True when there was one to drop."""
        self._ensure()
        with flocked(self._lock_path("claims", device), self.lock_timeout):
            path = self.path("claims", device)
            if _load(path).get("owner") != owner:
                return False
            os.unlink(path)
            return True

    def holder(self, device: str) -> str | None:
        return self.read("claims", device).get("owner")

    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Everything recorded, for ``hooks status``."""
        return {kind: {name: self.read(kind, name) for name in self.names(kind)} for kind in self.KINDS}
