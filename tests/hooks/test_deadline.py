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

from hooks import deadline as deadline_module
from hooks.deadline import Deadline, armed, in_library
from hooks.errors import DeadlineExceeded

LIBRARY = '''
import sys
import time

swallowed = []


def spin(seconds):
    """Busy for ``seconds``, catching everything as a decoder does, then return."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            sum(range(200))
        except Exception as exc:
            swallowed.append(exc)
        except:  # noqa: E722
            swallowed.append(sys.exc_info()[1])
    return "done"


def frame():
    return sys._getframe()


def call(function):
    return function()


def stall(seconds):
    time.sleep(seconds)


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


def test_a_library_stuck_past_the_grace_is_interrupted_anyway(library) -> None:
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="stuck"), armed(Deadline(0.05), lambda: "stuck", 0.2):
        library.stall(30)
    assert 0.25 <= time.monotonic() - started < 1.0
    # By default a library gets a second.
    assert deadline_module.LIBRARY_GRACE == 1.0
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="stuck"), armed(Deadline(0.05), lambda: "stuck"):
        library.stall(30)
    assert 1.05 <= time.monotonic() - started < 2.5


def test_what_the_library_swallows_comes_again(library) -> None:
    with pytest.raises(DeadlineExceeded), armed(Deadline(0.05), lambda: "swallowing", 0.1):
        library.spin(0.6)   # past the grace it is interrupted, swallows it, is interrupted again
        time.sleep(5)
    assert len(library.swallowed) >= 2
    assert all(type(exc).__name__ == "DeadlineInterrupt" for exc in library.swallowed)


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
