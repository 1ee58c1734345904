"""A hard time limit for one hook call.

libvirt waits for a hook without any timeout, so a hook that hangs (an ``ovs-vsctl`` waiting
for a dead ovsdb-server, an unbind stuck in a driver) stalls libvirtd itself. Every call gets a
Deadline; the executor checks it between actions, adapters get at most the time that is left,
and ``armed()`` turns expiry into an exception even inside a blocking call (SIGALRM), so the
executor can still roll back and the hook can exit with a message.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterator

from hooks.errors import DeadlineExceeded

MIN_TIMEOUT = 0.05


class Deadline:
    """``seconds`` from now, on a monotonic clock."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self.end = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - self.clock())

    def expired(self) -> bool:
        return self.clock() >= self.end

    def check(self, step: str) -> None:
        """Raise DeadlineExceeded naming ``step`` when no time is left."""
        if self.expired():
            raise DeadlineExceeded(step=step, seconds=self.seconds)

    def timeout(self, cap: float) -> float:
        """The time an adapter call may take: ``cap``, but never past the deadline."""
        return max(MIN_TIMEOUT, min(cap, self.remaining()))


@contextlib.contextmanager
def armed(deadline: Deadline, step: Callable[[], str]) -> Iterator[None]:
    """Raise DeadlineExceeded in this thread when ``deadline`` passes, even mid-syscall.

    ``step`` names what was running, for the message. Only the main thread can take signals;
    elsewhere the deadline is enforced only between actions.
    """
    def expire(signum: int, frame: object) -> None:
        raise DeadlineExceeded(step=step(), seconds=deadline.seconds)

    try:
        previous = signal.signal(signal.SIGALRM, expire)
    except ValueError:   # not the main thread (signal.signal says so; threading costs an import)
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, max(deadline.remaining(), 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
