"""Which code root may run: the rule ``hooks install`` applies and the installed hook re-checks.

The installed hook runs as root at every guest and network event. Whoever can change the
interpreter it executes, or a file in a folder it imports from, runs code as root at the next
guest start. So a path root takes code from must be owned by root and not writable by group
or others, and so must every folder above it up to ``/``: whoever can write a folder can
rename any entry in it away and put their own in its place.

One exception: a root-owned folder that is world-writable *with the sticky bit* (``/tmp``,
mode 1777) may sit above such a path. In a sticky folder only an entry's owner (or root) can
rename or remove it, so nobody else can swap the root-owned entry below it; CI clones the
repository below such a folder. It is never accepted as the path itself, where anyone could
add a new module beside the real ones.

``untrusted`` is also carried, as source, by the installed bootstrap (``hooks.wrapper``), which
runs it on the module paths before it imports anything from them: it uses ``os`` alone.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator


# Why root must not take code from ``path`` (None when it may); ``parent``: ``path`` is a folder
# above the code, where a root-owned sticky folder is acceptable (see above). No docstring: the
# bootstrap compiles this source at every hook call, and compiling is most of what it costs.
def untrusted(path: str, parent: bool = False) -> str | None:
    try:
        st = os.lstat(path)
    except OSError as exc:
        return "cannot be checked (" + str(exc.strerror) + ")"
    kind = st.st_mode & 0o170000
    if kind == 0o120000:
        return "a symbolic link"
    if st.st_uid != 0:
        return "owned by uid " + str(st.st_uid) + ", not root"
    if st.st_mode & 0o022 and not (parent and kind == 0o040000 and st.st_mode & 0o1000):
        return "writable by group or others"
    return None


def ancestors(path: str) -> list[str]:
    """The folders above ``path`` (absolute, resolved), nearest first, ``/`` last."""
    out: list[str] = []
    while True:
        up = os.path.dirname(path)
        if up == path:
            return out
        out.append(up)
        path = up


def chain(path: str, strict: int = 0) -> list[tuple[str, bool]]:
    """``(path, parent)`` pairs to check for code at the resolved ``path``.

    ``path`` itself and the ``strict`` folders nearest it are checked without the sticky
    exception; the folders above them with it.
    """
    ups = ancestors(path)
    return [(path, False)] + [(up, n >= strict) for n, up in enumerate(ups)]


def problem(pairs: list[tuple[str, bool]]) -> tuple[str, str] | None:
    """The first ``(path, reason)`` of ``pairs`` root must not trust, or None."""
    for path, parent in pairs:
        reason = untrusted(path, parent)
        if reason:
            return path, reason
    return None


def walk(top: str) -> Iterator[tuple[str, str]]:
    """``(path, reason)`` for every entry below the module path ``top`` root must not trust.

    Only folders an import can reach are entered (named like a Python identifier:
    ``__pycache__`` and packages, not ``.git`` or ``*.dist-info``); every file is checked. A
    symbolic link is followed to its target, which is checked with its own parents.
    """
    pending, seen = [top], {top}
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            yield folder, f"cannot be checked ({exc.strerror})"
            continue
        for entry in entries:
            path = entry.path
            if entry.is_symlink():
                target = os.path.realpath(path)
                found = problem(chain(target))
                if found:
                    yield found
                    continue
                path = target
                is_dir = os.path.isdir(path)
            else:
                is_dir = entry.is_dir(follow_symlinks=False)
            if is_dir and not entry.name.isidentifier():
                continue
            reason = untrusted(path)
            if reason:
                yield path, reason
            elif is_dir and path not in seen:
                seen.add(path)
                pending.append(path)
