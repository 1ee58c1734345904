"""Reading inputs and writing outputs without being steered by links or by other users.

Writing (``atomic_write``): the path is walked one component at a time relative to directory
descriptors, links followed by hand, so the writer knows the real folder it writes into and
holds it open. A regular file is replaced by a temporary file created in that folder
(``O_EXCL|O_NOFOLLOW``), written, given its mode and owner on the descriptor (never by path: a
name can be swapped between two calls, a descriptor cannot), flushed to disk and renamed over
the target; then the folder is flushed. A reader never sees half a file and a failure leaves
the old one intact. What sits at the path is never replaced by something else: a symlink is
written through (the link stays, its target is replaced in the target's own folder), a
character device or FIFO (``-o /dev/null``, ``-o /dev/stdout``) is written into, and a folder,
socket or block device is refused.

As root the writer refuses a folder another user controls: one owned by another user, or
group/world-writable without being a root-owned sticky folder (/tmp is fine), both for the
folder written into and for every folder holding a link on the way. In a sticky folder it
neither follows nor replaces an entry another user owns (what the kernel's protected_symlinks
and protected_regular settings do, whatever they are set to). setuid, setgid and sticky bits
are never given to a file.

Reading for lint (``read_regular``): ``O_NONBLOCK`` so a FIFO or device never blocks the open,
``O_NOFOLLOW`` for paths the user did not name, then ``fstat`` on the descriptor: only a
regular file is read.

Imported lazily (the hooks' state store imports it on its first write): keep the imports here
to what ``os`` already loads.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys

from xmltools.errors import InputError, InputTooLarge, NotRegularFile, OutputError
from xmltools.rules import MAX_SYMLINKS

_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def read_input(path: str, limit: int) -> bytes:
    """Read at most ``limit`` bytes from a file or from standard input (``-``)."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with open(path, "rb") as fh:
                data = fh.read(limit + 1)
    except IsADirectoryError:
        raise InputError(source=path, detail="is a directory") from None
    except OSError as exc:
        raise InputError(source=path, detail=exc.strerror or str(exc)) from None
    if len(data) > limit:
        raise InputTooLarge(source=path, limit=limit)
    return data


def read_regular(path: str, limit: int, *, follow: bool = True) -> bytes:
    """Read at most ``limit`` bytes of the regular file ``path``.

    Anything else (FIFO, device, socket, folder; with ``follow=False`` also a symbolic link)
    raises NotRegularFile without being read, and without blocking on a FIFO nobody writes.
    """
    fd, _st = open_regular(path, follow=follow)
    try:
        return read_to_limit(fd, path, limit)
    finally:
        os.close(fd)


def open_regular(path: str, *, follow: bool = True) -> tuple[int, os.stat_result]:
    """A read-only descriptor of the regular file ``path`` and its status; the caller closes it.

    O_NONBLOCK: opening a FIFO nobody writes does not block before fstat refuses it.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow:
            raise NotRegularFile(source=path, detail="a symbolic link, not followed") from None
        raise InputError(source=path, detail=exc.strerror or str(exc)) from None
    try:
        st = os.fstat(fd)
    except OSError as exc:
        os.close(fd)
        raise InputError(source=path, detail=exc.strerror or str(exc)) from None
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotRegularFile(source=path, detail=f"{kind_of(st.st_mode)}, not a regular file")
    return fd, st


def read_to_limit(fd: int, path: str, limit: int, head: bytes = b"") -> bytes:
    """``head`` and the rest of ``fd`` up to ``limit`` bytes in all; InputTooLarge past it."""
    chunks = [head]
    size = len(head)
    try:
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise InputError(source=path, detail=exc.strerror or str(exc)) from None
    if size > limit:
        raise InputTooLarge(source=path, limit=limit)
    return b"".join(chunks)


def kind_of(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words."""
    for test, name in ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a folder"),
                       (stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "an unknown kind of file"


def write_stdout(text: str | bytes) -> None:
    """Print ``text`` (bytes as they are: a document in its own encoding) and flush it; a full
    device or a closed pipe is an OutputError."""
    try:
        raw = getattr(sys.stdout, "buffer", None) if isinstance(text, bytes) else None
        if raw is not None:
            sys.stdout.flush()
            raw.write(text)
            raw.flush()
        else:
            sys.stdout.write(text.decode("utf-8", "replace") if isinstance(text, bytes) else text)
            sys.stdout.flush()
    except OSError as exc:
        silence_stdout()
        raise OutputError(target="standard output", detail=_reason(exc)) from None


def silence_stdout() -> None:
    """After a failed write, point standard output at /dev/null.

    What is still buffered would otherwise fail again when the interpreter flushes it on exit,
    with a second message and exit status 120.
    """
    try:
        fileno = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real descriptor (a test runner's buffer): nothing is flushed on exit
    null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.dup2(null, fileno)
    finally:
        os.close(null)


def write_file(path: str, data: bytes | str, mode: int = 0o644, *, keep: bool = False,
               owner: tuple[int, int] | None = None) -> None:
    """``atomic_write`` for commands: any failure is an OutputError (one line, exit 2)."""
    try:
        atomic_write(path, data, mode, keep=keep, owner=owner)
    except OSError as exc:
        raise OutputError(target=path, detail=_reason(exc)) from None


def atomic_write(path: str, data: bytes | str, mode: int = 0o644, *, keep: bool = False,
                 owner: tuple[int, int] | None = None) -> None:
    """Replace the file at ``path`` with ``data`` in one rename (or write into a device/FIFO).

    ``mode`` is the new file's permission bits; ``owner`` an optional ``(uid, gid)`` for it.
    With ``keep``, a regular file being replaced keeps its owner, group and permission bits
    (as far as this process may give them) instead. Special bits are always dropped.
    Raises OutputError when the write is refused, OSError when the system fails it.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    euid = os.geteuid()
    dir_fd, name, st = _walk(path, euid)
    try:
        problem = _untrusted(dir_fd, euid)
        if problem:
            raise OutputError(target=path, detail=f"the folder is {problem}; refusing to write there as root")
        if st is not None:
            _check_entry(dir_fd, st, euid, path)
        if st is None or stat.S_ISREG(st.st_mode):
            if st is not None and keep:
                mode, owner = stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid)
            replace_at(dir_fd, name, data, mode & 0o777, owner)
        else:
            _write_into(dir_fd, name, st, data, path)
    finally:
        os.close(dir_fd)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _walk(path: str, euid: int) -> tuple[int, str, os.stat_result | None]:
    """Resolve ``path`` the way the kernel would, but one component and one link at a time.

    Returns an ``O_PATH`` descriptor of the folder the final entry is in (the caller closes
    it), the entry's name and its ``lstat`` (None when it does not exist yet). Every folder
    holding a link that is followed must pass the trust rule.
    """
    if not path:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    if path.endswith("/") or os.path.basename(path) in (".", ".."):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    stack = _parts(path)[::-1]
    fd = os.open("/" if path.startswith("/") else ".", _DIR)
    links = 0
    try:
        while True:
            name = stack.pop()
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                if stack:
                    raise
                return fd, name, None
            if stat.S_ISLNK(st.st_mode):
                problem = _untrusted(fd, euid)
                if problem:
                    raise OutputError(target=path, detail="a symbolic link on the way is in a folder that "
                                                          f"is {problem}; refusing to follow it as root")
                _check_entry(fd, st, euid, path)
                if not stack and _on_procfs(fd):
                    return fd, name, st   # /proc/self/fd/N: only the kernel can follow it
                links += 1
                if links > MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                text = os.readlink(name, dir_fd=fd)
                if text.startswith("/"):
                    os.close(fd)
                    fd = -1
                    fd = os.open("/", _DIR)
                stack.extend(_parts(text)[::-1])
                if not stack:
                    raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
                continue
            if not stack:
                return fd, name, st
            if not stat.S_ISDIR(st.st_mode):
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
            inner = os.open(name, _DIR, dir_fd=fd)
            os.close(fd)
            fd = inner
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p and p != "."]


def _untrusted(dir_fd: int, euid: int) -> str:
    """Why root must not write into (or follow links in) this folder; empty when it may."""
    if euid != 0:
        return ""
    st = os.fstat(dir_fd)
    if st.st_uid != 0:
        return f"owned by another user (uid {st.st_uid})"
    if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
        return "group/world-writable without the sticky bit"
    return ""


def _check_entry(dir_fd: int, st: os.stat_result, euid: int, path: str) -> None:
    # In a sticky folder another user may plant entries but not replace root's: an entry they
    # own is theirs to swap, so it is neither followed nor written.
    folder = os.fstat(dir_fd)
    if folder.st_mode & stat.S_ISVTX and st.st_uid not in (euid, folder.st_uid):
        raise OutputError(target=path, detail=f"{kind_of(st.st_mode)} owned by another user "
                                              f"(uid {st.st_uid}) in a sticky folder; refusing to use it")


def _on_procfs(dir_fd: int) -> bool:
    try:
        return os.fstat(dir_fd).st_dev == os.stat("/proc").st_dev
    except OSError:
        return False


def replace_at(dir_fd: int, name: str, data: bytes, mode: int, owner: tuple[int, int] | None = None) -> None:
    """Replace ``name`` in the folder ``dir_fd`` with ``data`` in one rename: a temporary file made
    beside it (O_EXCL|O_NOFOLLOW: nothing already there is opened), written, given ``owner`` and
    ``mode`` on its descriptor, fsynced and renamed, all relative to ``dir_fd``; then the folder
    is fsynced. Also the hooks' state store's writer."""
    tmp, fd = _create_temporary(dir_fd)
    try:
        try:
            _write_all(fd, data)
            if owner is not None:
                _give(fd, owner)
            os.fchmod(fd, mode)   # after fchown, which may clear bits
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    _sync_folder(dir_fd)


def _create_temporary(dir_fd: int) -> tuple[str, int]:
    # The ".tmp-" prefix is what readers of these folders skip (hooks.state.names).
    for _ in range(100):
        name = f".tmp-{os.urandom(6).hex()}"
        try:
            return name, os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                 0o600, dir_fd=dir_fd)
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name")


def _give(fd: int, owner: tuple[int, int]) -> None:
    uid, gid = owner
    try:
        os.fchown(fd, uid, gid)
    except PermissionError:
        # Not root: keep at least the group when this user is in it; else the file is ours.
        with contextlib.suppress(PermissionError):
            os.fchown(fd, -1, gid)


def _sync_folder(dir_fd: int) -> None:
    try:
        fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dir_fd)
    except PermissionError:
        return  # a folder this user may write but not read: the rename is done all the same
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_into(dir_fd: int, name: str, st: os.stat_result, data: bytes, path: str) -> None:
    """Write into a character device, a FIFO, or what a /proc/self/fd link stands for."""
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    magic = stat.S_ISLNK(st.st_mode)
    if not (magic or stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
        raise OutputError(target=path, detail=f"{kind_of(st.st_mode)}, not a file; refusing to write there")
    # O_APPEND: through /dev/stdout to a file the shell opened with '>>', add to it.
    flags = os.O_WRONLY | os.O_APPEND | os.O_NOCTTY | os.O_CLOEXEC | (0 if magic else os.O_NOFOLLOW)
    fd = os.open(name, flags, dir_fd=dir_fd)
    try:
        got = os.fstat(fd).st_mode
        same = (stat.S_ISREG(got) or stat.S_ISCHR(got) or stat.S_ISFIFO(got)) if magic \
            else stat.S_IFMT(got) == stat.S_IFMT(st.st_mode)
        if not same:
            raise OutputError(target=path, detail=f"{kind_of(got)}, not a file; refusing to write there")
        _write_all(fd, data)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
