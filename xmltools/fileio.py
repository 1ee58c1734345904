"""Reading inputs and writing outputs atomically.

Output files are written to a temporary file in the same folder, flushed to disk and renamed
over the target, so a reader never sees half a file and a failure leaves the old one intact.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

from xmltools.errors import InputError, InputTooLarge


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


def atomic_write(path: str, data: bytes | str, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` in one rename, after fsync of the data and the folder."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
