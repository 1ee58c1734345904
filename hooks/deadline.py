"""A hard time limit for one hook call.

libvirt waits for a hook without any timeout, so a hook that hangs (an ``ovs-vsctl`` waiting
for a dead ovsdb-server, an unbind stuck in a driver) stalls libvirtd itself. Every call gets a
Deadline; the executor checks it between actions, adapters get at most the time that is left,
and ``armed()`` turns expiry into an exception even inside a blocking call (SIGALRM), so the
executor can still roll back and the hook can exit with a message.

The signal is never turned into an exception inside a third-party library: pyroute2, for one,
wraps its message decoding in ``except Exception`` (and ``except:``) blocks that would swallow
it, log a traceback to stderr and hand back a half-decoded message (a bridge read as "not a
bridge"), and runs each request in an asyncio event loop, which swallows what its callbacks
raise; interrupted there, its loop and socket are left broken (seen: a read spinning forever).
The timer re-fires every few milliseconds until control is back in our code or in the standard
library, and raises there. A library call is thus never cut short: the ones the hooks make
(pyroute2's requests to the kernel) return by themselves; what can block for long is the hooks'
own work (child processes, sysfs writes), which the timer interrupts. A module being imported
is left to finish the same way: cut short, it stays half-defined.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from types import FrameType

from hooks.errors import DeadlineExceeded

MIN_TIMEOUT = 0.05
RETRY_INTERVAL = 0.005   # how often an expired timer looks again while a library is running
OUR_PACKAGES = ("hooks", "xmltools")
INSTALLED_CODE = ("/site-packages/", "/dist-packages/")
STDLIB = os.path.dirname(os.__file__) + os.sep
IMPORTING = "<frozen importlib._bootstrap"


class DeadlineInterrupt(BaseException):
    """The deadline, raised by the timer. A BaseException, so that no ``except Exception`` in
    our code or a library mistakes it for the failure of a step; ``armed()`` turns it into
    DeadlineExceeded on the way out."""


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


def in_library(frame: FrameType | None) -> bool:
    """Whether ``frame`` runs an installed third-party package (not ours) or an import, directly
    or through the standard library: the first frame outwards that is not the standard library's
    decides."""
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if frame.f_code.co_name == "<module>" and module != "__main__":
            return True   # a module's body runs: an import cut short leaves half a module behind
        if module.partition(".")[0] in OUR_PACKAGES:
            return False
        filename = frame.f_code.co_filename
        if any(part in filename for part in INSTALLED_CODE) or filename.startswith(IMPORTING):
            return True
        if not filename.startswith((STDLIB, "<")):
            return False   # a program's own code (a script, a test)
        frame = frame.f_back
    return False


@contextlib.contextmanager
def armed(deadline: Deadline, step: Callable[[], str]) -> Iterator[None]:
    """Raise DeadlineExceeded in this thread when ``deadline`` passes, even mid-syscall (but
    not inside a library: see the module's text).

    ``step`` names what was running, for the message. Only the main thread can take signals;
    elsewhere the deadline is enforced only between actions.
    """
    def expire(signum: int, frame: FrameType | None) -> None:
        if in_library(frame):
            return   # the interval timer fires again in RETRY_INTERVAL
        signal.setitimer(signal.ITIMER_REAL, 0)   # one interrupt: cleanups run undisturbed
        raise DeadlineInterrupt(step())

    try:
        previous = signal.signal(signal.SIGALRM, expire)
    except ValueError:   # not the main thread (signal.signal says so; threading costs an import)
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, max(deadline.remaining(), 0.001), RETRY_INTERVAL)
    try:
        yield
    except DeadlineInterrupt as exc:
        raise DeadlineExceeded(step=str(exc), seconds=deadline.seconds) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
