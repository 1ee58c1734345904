"""The one place the hooks start a subprocess: no shell, a hard timeout, nothing left behind.

Built on ``os.posix_spawnp``, a pidfd and ``poll`` rather than on the subprocess module: this
runs inside every hook call that changes Open vSwitch, on a guest's start path, and subprocess
(with threading, selectors and locale behind it) is several milliseconds of import per call.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from collections.abc import Sequence

from hooks.errors import HostError, HostTimeout

KILL_WAIT = 1.0  # seconds to wait for a killed child to be reaped
CHUNK = 65536


class Completed:
    """What a finished command gave: like ``subprocess.CompletedProcess``."""

    __slots__ = ("args", "returncode", "stdout", "stderr")

    def __init__(self, args: list[str], returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.args, self.returncode, self.stdout, self.stderr = args, returncode, stdout, stderr

    def __repr__(self) -> str:
        return f"Completed(args={self.args!r}, returncode={self.returncode})"


def run(argv: Sequence[str], timeout: float, input: bytes | None = None) -> Completed:
    """Run ``argv`` and return its result; raise HostTimeout or HostError on failure.

    A non-zero exit raises HostError whose message holds the command's first stderr line and
    whose ``fields`` also carry ``returncode`` and the whole ``stderr``.

    The child gets its own session (process group) so that on timeout the whole group is
    killed, grandchildren included: none of them may keep libvirt's pipes open after the hook
    has given up. stdin is ``input`` or /dev/null, never the hook's own stdin.
    """
    argv = list(argv)
    step = "run " + os.path.basename(argv[0])
    child = _Child.spawn(argv, input, step)
    try:
        stdout, stderr = child.communicate(input or b"", time.monotonic() + timeout)
    except _TimedOut:
        child.kill()
        raise HostTimeout(step=step, seconds=timeout) from None
    except BaseException:
        # Interrupted (e.g. the hook's own deadline): do not leave the child running.
        child.kill()
        raise
    returncode = child.returncode
    if returncode != 0:
        # returncode and stderr ride along as fields, for callers that map known failures.
        raise HostError(step=step, detail=_first_line(stderr) or f"exit status {returncode}",
                        returncode=returncode, stderr=stderr.decode("utf-8", "replace"))
    return Completed(argv, returncode, stdout, stderr)


class _TimedOut(Exception):
    pass


class _Child:
    """A spawned command with its pipes and a pidfd (readable once the command has exited)."""

    def __init__(self, pid: int, pidfd: int, stdin: int | None, stdout: int, stderr: int) -> None:
        self.pid, self.pidfd = pid, pidfd
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.returncode: int | None = None
        self.open_fds = {fd for fd in (pidfd, stdin, stdout, stderr) if fd is not None}

    @classmethod
    def spawn(cls, argv: list[str], input: bytes | None, step: str) -> _Child:
        ours: list[int] = []      # parent ends, closed on failure
        theirs: list[int] = []    # child ends, closed in the parent once spawned
        try:
            if input is not None:
                child_in, stdin = os.pipe()
                ours.append(stdin)
            else:
                child_in, stdin = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), None
            theirs.append(child_in)
            stdout, child_out = os.pipe()
            ours.append(stdout)
            theirs.append(child_out)
            stderr, child_err = os.pipe()
            ours.append(stderr)
            theirs.append(child_err)
            # Even in a hook started with closed standard streams no action undoes an earlier one:
            # the child's ends are opened in the order of their targets, so each lowest free
            # descriptor is taken before it could be a later end; and a dup2 onto itself clears
            # close-on-exec (glibc, POSIX 2024).
            actions: list[tuple[int, ...]] = [
                (os.POSIX_SPAWN_DUP2, fd, std) for fd, std in zip(theirs, (0, 1, 2), strict=True)]
            # Like subprocess's close_fds: nothing else the hook holds reaches the command.
            actions += [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_fds()]
            try:
                # Python ignores SIGPIPE and SIGXFSZ; the command gets the default actions back.
                pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions, setsid=True,
                                      setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
            except OSError as exc:
                raise HostError(step=step, detail=exc.strerror or str(exc)) from None
            try:
                pidfd = os.pidfd_open(pid)
            except BaseException:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise
        except BaseException:
            for fd in ours:
                os.close(fd)
            raise
        finally:
            for fd in theirs:
                os.close(fd)
        return cls(pid, pidfd, stdin, stdout, stderr)

    def communicate(self, data: bytes, end: float) -> tuple[bytes, bytes]:
        """Feed ``data``, collect stdout and stderr until both close and the child has exited.

        Raises _TimedOut at ``end`` (monotonic clock); the caller then kills the child.
        """
        chunks: dict[int, list[bytes]] = {self.stdout: [], self.stderr: []}
        reading = set(chunks)
        poller = select.poll()
        for fd in (self.stdout, self.stderr, self.pidfd):
            poller.register(fd, select.POLLIN)
        if self.stdin is not None and data:
            os.set_blocking(self.stdin, False)
            poller.register(self.stdin, select.POLLOUT)
        elif self.stdin is not None:
            self._close(self.stdin)
        sent = 0
        while reading or self.returncode is None:
            left = end - time.monotonic()
            if left <= 0:
                raise _TimedOut
            for fd, _event in poller.poll(left * 1000):
                if fd == self.pidfd:
                    poller.unregister(fd)
                    self._reap()
                elif fd == self.stdin:
                    try:
                        sent += os.write(fd, data[sent:sent + CHUNK])
                    except BrokenPipeError:
                        sent = len(data)   # the command stopped reading: its exit status tells
                    if sent >= len(data):
                        poller.unregister(fd)
                        self._close(fd)
                else:
                    chunk = os.read(fd, CHUNK)
                    if chunk:
                        chunks[fd].append(chunk)
                    else:
                        poller.unregister(fd)
                        reading.discard(fd)
                        self._close(fd)
        self._close_all()
        return b"".join(chunks[self.stdout]), b"".join(chunks[self.stderr])

    def _reap(self) -> None:
        _, status = os.waitpid(self.pid, 0)
        self.returncode = os.waitstatus_to_exitcode(status)
        self._close(self.pidfd)

    def _close(self, fd: int | None) -> None:
        if fd in self.open_fds:
            self.open_fds.discard(fd)
            os.close(fd)

    def _close_all(self) -> None:
        for fd in list(self.open_fds):
            self._close(fd)

    def kill(self) -> None:
        """Kill the whole group, reap the child if it dies in time, close every descriptor.

        The child is reaped without reading its pipes: a grandchild that left the group could
        hold them open forever. A child stuck in the kernel (uninterruptible sleep) cannot die
        yet: give up waiting; init reaps it after the hook has exited.
        """
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            if select.select([self.pidfd], [], [], KILL_WAIT)[0]:
                self._reap()
        self._close_all()


def _inheritable_fds() -> list[int]:
    """Descriptors above 2 that would survive exec (Python's own are close-on-exec already)."""
    found = []
    for entry in os.listdir("/proc/self/fd"):
        fd = int(entry)
        if fd > 2:
            try:
                if os.get_inheritable(fd):
                    found.append(fd)
            except OSError:   # the descriptor listdir itself had open
                continue
    return found


def _first_line(stderr: bytes) -> str:
    for line in stderr.decode("utf-8", "replace").splitlines():
        if line.strip():
            return line.strip()
    return ""
