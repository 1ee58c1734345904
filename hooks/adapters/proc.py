"""The one place the hooks start a subprocess: no shell, a hard timeout, nothing left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence

from hooks.errors import HostError, HostTimeout

KILL_WAIT = 1.0  # seconds to wait for a killed child to be reaped


def run(argv: Sequence[str], timeout: float, input: bytes | None = None) -> subprocess.CompletedProcess:
    """Run ``argv`` and return its result; raise HostTimeout or HostError on failure.

    A non-zero exit raises HostError whose message holds the command's first stderr line and
    whose ``fields`` also carry ``returncode`` and the whole ``stderr``.

    The child gets its own session (process group) so that on timeout the whole group is
    killed, grandchildren included: none of them may keep libvirt's pipes open after the hook
    has given up. stdin is ``input`` or /dev/null, never the hook's own stdin.
    """
    argv = list(argv)
    step = "run " + os.path.basename(argv[0])
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        raise HostError(step=step, detail=exc.strerror or str(exc)) from None
    try:
        stdout, stderr = proc.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise HostTimeout(step=step, seconds=timeout) from None
    except BaseException:
        # Interrupted (e.g. the hook's own deadline): do not leave the child running.
        _kill_group(proc)
        raise
    if proc.returncode != 0:
        # returncode and stderr ride along as fields, for callers that map known failures.
        raise HostError(step=step, detail=_first_line(stderr) or f"exit status {proc.returncode}",
                        returncode=proc.returncode, stderr=stderr.decode("utf-8", "replace"))
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    # Reap the child without reading its pipes: a grandchild that left the group could hold
    # them open forever, and communicate() would then block. A child stuck in the kernel
    # (uninterruptible sleep) cannot die yet: give up waiting; init reaps it after we exit.
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=KILL_WAIT)
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def _first_line(stderr: bytes) -> str:
    for line in stderr.decode("utf-8", "replace").splitlines():
        if line.strip():
            return line.strip()
    return ""
