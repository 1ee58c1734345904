"""Helpers shared by test modules."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, what: str) -> None:
    """A missing prerequisite: fail under CI, skip on a developer machine."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"prerequisite missing in CI: {what}")
    pytest.skip(f"prerequisite missing: {what}")


DOMAINS = Path(__file__).resolve().parent.parent / "fixtures" / "domains"


def copy_domain(tmp_path: Path, name: str = "keepsake.xml") -> Path:
    """A private copy of a fixture domain, for commands that edit files in place."""
    target = tmp_path / name
    shutil.copy(DOMAINS / name, target)
    return target


def one_error_line(result: Any) -> str:
    """Assert a click result is a bad-input refusal: exit 2, nothing on stdout, one stderr line."""
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("virt-netxml: error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


# SIGHUP back to its default first: a run started under nohup hands its children an ignored
# SIGHUP, and the tests read the stand-in's death by SIGHUP as "the reload reached it".
_READY = ("import signal, sys, time; signal.signal(signal.SIGHUP, signal.SIG_DFL); "
          "sys.stdout.write('ready\\n'); sys.stdout.flush(); time.sleep(120)")


def spawn_named(tmp_path: Path, name: str, *, copy: bool = False) -> subprocess.Popen:
    """A long-running process whose ``comm`` (and, with ``copy``, whose ``exe``) is ``name``.

    ``Popen`` returns once the child's close-on-exec pipe closes, which the kernel does before it
    renames the task: reading ``/proc/PID/comm`` straight away can still show the parent's name.
    The child here is an interpreter that says "ready" on stdout from its own code, so by the time
    the line arrives the exec, the rename included, is complete.
    """
    program = tmp_path / name
    interpreter = os.path.realpath(sys.executable)
    if copy:
        shutil.copy(interpreter, program)
    else:
        program.symlink_to(interpreter)
    proc = subprocess.Popen([str(program), "-I", "-S", "-c", _READY], stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line != b"ready\n":
        proc.kill()
        proc.wait()
        raise AssertionError(f"{name}: the stand-in process did not start ({line!r})")
    return proc


def stop(proc: subprocess.Popen) -> None:
    """Kill a process started by a test, if it still runs, and reap it."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _hold_for(hold: Callable[[], contextlib.AbstractContextManager], ready, seconds: float) -> None:
    with hold():
        ready.set()
        time.sleep(seconds)


@contextlib.contextmanager
def held_in_child(hold: Callable[[], contextlib.AbstractContextManager], seconds: float) -> Iterator[None]:
    """``hold()`` (a lock) entered by a forked child for ``seconds``; the body runs while it holds it."""
    fork = multiprocessing.get_context("fork")
    ready = fork.Event()
    proc = fork.Process(target=_hold_for, args=(hold, ready, seconds))
    proc.start()
    try:
        assert ready.wait(10), "the child did not take the lock"
        yield
    finally:
        proc.join(10)
