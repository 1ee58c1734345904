"""The deadline's timer never lands inside a third-party library that could swallow it.

A stand-in library is written under a ``site-packages`` folder (so it is "installed" code to the
timer), and it does what pyroute2 does while decoding: ``except Exception`` and ``except:``
blocks around its work.
"""

from __future__ import annotations

import copy
import importlib
import signal
import sys
import textwrap
import time

import pytest

from hooks.deadline import Deadline, armed, in_library
from hooks.errors import DeadlineExceeded

LIBRARY = '''
import sys
import time

swallowed = []


def spin(seconds):
    """Busy for ``seconds``, catching everything as a decoder does, then return."""
    end = time.monotonic() + seconds
    while True:
        try:
            while time.monotonic() < end:
                sum(range(200))
            return "done"
        except Exception as exc:
            swallowed.append(exc)
        except:  # noqa: E722
            swallowed.append(sys.exc_info()[1])


def frame():
    return sys._getframe()


def call(function):
    return function()


def stall(seconds):
    time.sleep(seconds)


def busy(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def in_event_loop(seconds):
    """Busy for ``seconds`` in asyncio callbacks of 5 ms each, queued at once so the loop is
    never idle (as pyroute2's loop, reading a netlink reply); the last completes the future the
    loop waits for (cancelled after 60 s)."""
    import asyncio

    loop = asyncio.new_event_loop()
    try:
        done = loop.create_future()
        slices = max(1, int(seconds / 0.005))
        for n in range(slices):
            loop.call_soon(lambda last=(n == slices - 1): (busy(0.005), last and done.set_result("done")))
        loop.call_later(60, done.cancel)
        return loop.run_until_complete(done)
    finally:
        loop.close()


def via_stdlib():
    """The frame of a standard-library function (copy.deepcopy) that this library called."""
    import copy

    class Probe:
        def __deepcopy__(self, memo):
            return sys._getframe(1)

    return copy.deepcopy(Probe())
'''


@pytest.fixture
def library(tmp_path, monkeypatch):
    folder = tmp_path / "lib" / "site-packages"
    folder.mkdir(parents=True)
    (folder / "vnx_stand_in_library.py").write_text(textwrap.dedent(LIBRARY))
    monkeypatch.syspath_prepend(str(folder))
    module = importlib.import_module("vnx_stand_in_library")
    yield module
    sys.modules.pop("vnx_stand_in_library", None)


def test_expiry_inside_a_library_is_raised_once_it_returns(library) -> None:
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="decode a reply: the hook's deadline of 0.05s"), \
            armed(Deadline(0.05), lambda: "decode a reply"):
        assert library.spin(0.4) == "done"
        time.sleep(5)   # back in our code: the timer is still due
    assert library.swallowed == []
    assert 0.4 <= time.monotonic() - started < 1.0
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_library_is_never_cut_short_however_long_it_takes(library) -> None:
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="stuck"), armed(Deadline(0.05), lambda: "stuck"):
        library.stall(1.2)        # a blocking call inside the library, far past the deadline
        time.sleep(5)
    assert 1.2 <= time.monotonic() - started < 2.0
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="swallowing"), armed(Deadline(0.05), lambda: "swallowing"):
        library.spin(1.2)         # busy, swallowing whatever reaches it: nothing does
        time.sleep(5)
    assert library.swallowed == [] and 1.2 <= time.monotonic() - started < 2.0


def test_a_library_running_an_event_loop_is_left_to_finish(library, capfd) -> None:
    # asyncio swallows (and logs) what its callbacks raise and would wait for a future nobody
    # completes: pyroute2 runs each request so.
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="in the loop"), armed(Deadline(0.05), lambda: "in the loop"):
        assert library.in_event_loop(0.6) == "done"
        time.sleep(5)
    assert 0.6 <= time.monotonic() - started < 1.5
    assert library.in_event_loop(0.01) == "done"
    assert capfd.readouterr().err == ""


def test_which_frames_are_a_library(library) -> None:
    assert in_library(library.frame())
    assert not in_library(sys._getframe())                       # a test's own code
    assert not in_library(library.call(lambda: sys._getframe()))  # our code called back by it
    assert in_library(library.call(library.frame))
    # The standard library in between does not hide who called it.
    stdlib_frame = library.via_stdlib()
    assert stdlib_frame.f_globals["__name__"] == "copy" and in_library(stdlib_frame)

    class Probe:
        def __deepcopy__(self, memo):
            return sys._getframe(1)

    assert not in_library(copy.deepcopy(Probe()))
    assert not in_library(None)


def test_our_own_code_is_interrupted_at_once() -> None:
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="ours"), armed(Deadline(0.05), lambda: "ours"):
        time.sleep(5)
    assert time.monotonic() - started < 0.5


def test_an_import_is_not_cut_in_half(tmp_path, monkeypatch) -> None:
    (tmp_path / "vnx_slow_module.py").write_text(
        "import time\nend = time.monotonic() + 0.3\n"
        "while time.monotonic() < end:\n    pass\nCOMPLETE = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(DeadlineExceeded), armed(Deadline(0.05), lambda: "import"):
            module = importlib.import_module("vnx_slow_module")
            time.sleep(5)
        assert module.COMPLETE
    finally:
        sys.modules.pop("vnx_slow_module", None)
