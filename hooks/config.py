"""The hooks' host-local configuration: ``/etc/virt-netxml/hooks.conf``.

libvirt starts hooks with an almost empty environment (LC_ALL, PATH, HOME, USER, LOGNAME), so
settings for real runs live in this file; the ``VIRT_NETXML_*`` variables override it for tests
and manual runs. Format: ``key = value`` lines, ``#`` comments. Keys::

    deadline = 8          # seconds one hook call may take before it rolls back and fails
    log-file = /var/log/virt-netxml.log   # optional: every action also appended here
    state-dir = /run/virt-netxml
    ovs-db = /run/openvswitch/db.sock     # optional: ovsdb-server socket (ovs-vsctl --db)
"""

from __future__ import annotations

import os

# xmltools.errors (and typing behind it) is imported only on the error paths: this module is
# read on every hook call, most of which end without any error or any other import.

DEFAULT_CONFIG_DIR = "/etc/virt-netxml"
CONFIG_FILE = "hooks.conf"
MAPPING_FILE = "migrate-map.conf"
DEFAULT_DEADLINE = 8.0
DEFAULT_STATE_DIR = "/run/virt-netxml"
KEYS = ("deadline", "log-file", "state-dir", "ovs-db")


def config_dir() -> str:
    return os.environ.get("VIRT_NETXML_CONFIG_DIR") or DEFAULT_CONFIG_DIR


def key_values(text: str, source: str, keys: tuple[str, ...], need_value: bool = False):
    """The ``key = value`` lines of a configuration file (``#`` starts a comment), as
    ("FILE:LINE", key, value); a malformed line (or, with ``need_value``, an empty value) and
    an unknown key are errors. The grammar of every file under the configuration folder."""
    from xmltools.errors import InputError

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        where = f"{source}:{number}"
        if not sep or not key or (need_value and not value):
            raise InputError(source=where, detail="expected 'key = value'")
        if key not in keys:
            raise InputError(source=where, detail=f"unknown key {key!r} (known: {', '.join(keys)})")
        yield where, key, value


def parse_config(text: str, source: str) -> dict[str, str]:
    """``key = value`` lines into a dict; unknown keys and malformed lines are errors."""
    return {key: value for _, key, value in key_values(text, source, KEYS)}


def load_config(folder: str | None = None) -> dict[str, str]:
    """The configuration file's values, {} when it (or its folder) does not exist.

    Loading is the trust check: the folder is opened first and refused unless only root could
    have chosen what it holds (``open_trusted``), the file is opened once, relative to that
    folder, and ``fstat`` on that descriptor decides before a byte of it is read. There is no
    other way to get the values, so none of them (a log file, a state folder) can be used
    before the check, and nothing can be swapped between the check and the read.
    """
    folder = folder or config_dir()
    text = read_trusted(os.path.join(folder, CONFIG_FILE), "configuration file", 64 * 1024,
                        folder_what="configuration directory")
    return {} if text is None else parse_config(text, os.path.join(folder, CONFIG_FILE))


def deadline_seconds(config: dict[str, str]) -> float:
    """VIRT_NETXML_DEADLINE, else the file's ``deadline``, else the default; must be > 0."""
    raw = os.environ.get("VIRT_NETXML_DEADLINE") or config.get("deadline")
    if not raw:
        return DEFAULT_DEADLINE
    from xmltools.errors import InvalidValue

    try:
        value = float(raw)
    except ValueError:
        raise InvalidValue(what="deadline", value=raw, reason="not a number of seconds") from None
    if not 0 < value <= 3600:
        raise InvalidValue(what="deadline", value=raw, reason="must be more than 0 and at most 3600 seconds")
    return value


def state_dir(config: dict[str, str] | None = None) -> str:
    """Environment first (tests, manual runs), then the configuration file, then the default."""
    return os.environ.get("VIRT_NETXML_STATE_DIR") or (config or {}).get("state-dir") or DEFAULT_STATE_DIR


# -- trusting paths ------------------------------------------------------------------------
#
# Root runs the hooks; a path others could change decides what root reads and where it writes.
# A path is trusted when it is walked from "/" one component at a time, each opened with
# O_NOFOLLOW relative to the folder before it and checked with fstat on that descriptor:
#
# - every folder on the way is owned by root (or the user running the hooks) and writable by
#   nobody else, except with the sticky bit (/tmp): others may add names there but not move or
#   replace root's, so the next component, which must be root's, is safe in it;
# - a symbolic link on the way is followed only when root owns it (in a sticky folder anyone
#   can plant one);
# - the last component is root's and writable by nobody else, sticky or not: a folder (the
#   configuration or state folder) or a regular file with one link (never a FIFO or a device;
#   opened with O_NONBLOCK, so a FIFO cannot make the open hang).
#
# The caller gets the descriptor and uses only it (or paths relative to it, with dir_fd=), so a
# path swapped after the check changes nothing. A few µs per component: os calls only.

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_S_IFMT, _S_IFDIR, _S_IFREG, _S_IFLNK, _S_ISVTX = 0o170000, 0o040000, 0o100000, 0o120000, 0o1000


def owner_reason(st: os.stat_result) -> str | None:
    if st.st_uid not in (0, os.geteuid()):
        return f"owned by uid {st.st_uid}, not by root"
    return None


def stat_reason(st: os.stat_result) -> str | None:
    """Why others could change the file or folder behind ``st`` (an ``fstat``), or None."""
    reason = owner_reason(st)
    if reason is not None:
        return reason
    writable = [who for who, bit in (("group", 0o020), ("world", 0o002)) if st.st_mode & bit]
    if writable:
        return f"{'- and '.join(writable)}-writable (mode {st.st_mode & 0o7777:04o})"
    return None


def _passage_reason(st: os.stat_result) -> str | None:
    """``stat_reason`` for a folder on the way: writable by others only with the sticky bit."""
    if st.st_mode & _S_IFMT != _S_IFDIR:
        return owner_reason(st) or "not a directory"
    if st.st_mode & _S_ISVTX or owner_reason(st) is not None:
        return owner_reason(st)
    reason = stat_reason(st)
    return None if reason is None else reason + " without the sticky bit"


def _file_reason(st: os.stat_result) -> str | None:
    if st.st_mode & _S_IFMT != _S_IFREG:
        return owner_reason(st) or "not a regular file"
    reason = stat_reason(st)
    if reason is None and st.st_nlink != 1:
        return f"has {st.st_nlink} hard links"
    return reason


def _refuse(what: str, path: str, reason: str) -> Exception:
    from hooks.errors import InsecurePath

    return InsecurePath(what=what, path=path, reason=reason)


def _failed(what: str, path: str, exc: OSError) -> Exception:
    from xmltools.errors import InputError

    return InputError(source=f"{what} {path}", detail=exc.strerror or str(exc))


def open_in(dir_fd: int | None, name: str, path: str, what: str, *, folder: bool = False,
            create: bool = False, flags: int = os.O_RDONLY, mode: int = 0o600,
            passage: bool = False, follow: bool = True) -> int | str | None:
    """Open ``name`` in the trusted folder ``dir_fd`` and check it (``path`` names it in
    messages): a descriptor, None when it is missing (and not to be created), or, for a
    symbolic link root owns, the link's target (the caller decides whether to follow it;
    without ``follow`` any link is refused).

    Folders are made 0700 when ``create``; files are created with ``mode`` when ``flags`` has
    O_CREAT. ``passage``: a folder on the way (others may write it if it is sticky).
    """
    while True:
        try:
            if folder:
                fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
            else:
                fd = os.open(name, flags | _FILE_FLAGS, mode, dir_fd=dir_fd)
        except FileNotFoundError:
            if not (folder and create):
                return None
            try:
                os.mkdir(name, 0o700, dir_fd=dir_fd)
            except FileExistsError:
                pass    # someone was quicker: whatever is there now is checked on the next round
            except OSError as exc:
                raise _failed(what, path, exc) from None
            continue
        except OSError as exc:
            # ELOOP (a link), ENOTDIR (not a folder), ENXIO (a FIFO nobody reads), EACCES...
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                raise _failed(what, path, exc) from None
            if st.st_mode & _S_IFMT == _S_IFLNK:
                reason = owner_reason(st)
                if reason is not None:
                    raise _refuse(what, path, "symbolic link " + reason) from None
                if not follow:
                    raise _refuse(what, path, "a symbolic link") from None
                return os.readlink(name, dir_fd=dir_fd)
            reason = (_passage_reason(st) if passage else stat_reason(st)) if folder else _file_reason(st)
            if reason is not None:
                raise _refuse(what, path, reason) from None
            raise _failed(what, path, exc) from None
        st = os.fstat(fd)
        reason = (_passage_reason(st) if passage else stat_reason(st)) if folder else _file_reason(st)
        if reason is not None:
            os.close(fd)
            raise _refuse(what, path, reason)
        return fd


def open_trusted(path: str, what: str, *, folder: bool = False, create: bool = False,
                 flags: int = os.O_RDONLY, mode: int = 0o600, folder_what: str | None = None,
                 passage: bool = False) -> int | None:
    """Open ``path`` only if nobody but root could have chosen what it is (rules above).

    Returns a descriptor (O_RDONLY for a folder; ``flags`` for a file), or None when the path
    does not exist (a folder is created 0700, with any missing folder above it, when
    ``create``). Raises InsecurePath naming the component and why: ``what`` for the last,
    ``folder_what`` (default "folder above the <what>") for the folders on the way; the
    folder holding a file must then be private too when ``folder_what`` is given.
    """
    above = f"folder above the {folder_what or what}"
    absolute = path if path.startswith("/") else os.path.join(os.getcwd(), path)
    todo = [p for p in absolute.split("/") if p not in ("", ".")][::-1]
    walked = ["/"]
    stack = [os.open("/", _DIR_FLAGS)]
    links = 0
    try:
        reason = _passage_reason(os.fstat(stack[0]))
        if reason is not None:
            raise _refuse(above, "/", reason)
        while todo:
            name = todo.pop()
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                    walked.pop()
                continue
            last = not todo
            here = os.path.join(walked[-1], name)
            if last and not folder:
                label = what
                if folder_what is not None:   # the file's own folder must be private too
                    reason = stat_reason(os.fstat(stack[-1]))
                    if reason is not None:
                        raise _refuse(folder_what, walked[-1], reason)
                got = open_in(stack[-1], name, here, what, flags=flags, mode=mode)
            elif last:
                label = what
                got = open_in(stack[-1], name, here, what, folder=True, create=create, passage=passage)
            else:
                label = folder_what if folder_what is not None and len(todo) == 1 and not folder else above
                got = open_in(stack[-1], name, here, label, folder=True, create=create, passage=True)
            if got is None:
                return None
            if isinstance(got, str):     # a link root owns: walk on through its target
                links += 1
                from xmltools.rules import MAX_SYMLINKS  # plain constants; only when a link is met

                if links > MAX_SYMLINKS:
                    from xmltools.errors import InputError

                    raise InputError(source=f"{label} {here}", detail="too many levels of symbolic links")
                if got.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                        walked.pop()
                todo.extend(p for p in got.split("/")[::-1] if p not in ("", "."))
                continue
            if last and not folder:
                return got
            stack.append(got)
            walked.append(here)
        if len(stack) == 1 and not folder:
            raise _refuse(what, path, "not a regular file")
        return stack.pop()
    finally:
        for fd in stack:
            os.close(fd)


def read_trusted(path: str, what: str, limit: int, *, folder_what: str | None = None) -> str | None:
    """The text of a trusted file (``open_trusted``), None when it does not exist."""
    fd = open_trusted(path, what, folder_what=folder_what)
    if fd is None:
        return None
    try:
        with open(fd, encoding="utf-8", closefd=False) as fh:
            return fh.read(limit)
    except (OSError, ValueError) as exc:
        from xmltools.errors import InputError

        raise InputError(source=path, detail=getattr(exc, "strerror", None) or str(exc)) from None
    finally:
        os.close(fd)


def check_config_paths() -> None:
    """The mapping file, read at migrate/restore only, is checked on every call: a loose one
    means someone else could steer root, and the call is refused (with its exit status)."""
    fd = open_trusted(mapping_path(), "mapping file", folder_what="configuration directory")
    if fd is not None:
        os.close(fd)


def mapping_path() -> str:
    return os.path.join(config_dir(), MAPPING_FILE)


def ovs_db(config: dict[str, str]) -> str | None:
    """The ovsdb-server socket to use, if not ovs-vsctl's default."""
    return os.environ.get("VIRT_NETXML_OVS_DB") or config.get("ovs-db") or None
