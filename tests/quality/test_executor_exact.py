"""The executor and the deadline, exactly: what the log callback receives for every outcome,
the messages of a result, change sets in best-effort runs, the rollback's own clock, and which
frames count as a library's."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import pytest

from hooks import actions as A
from hooks.context import Context, Owner
from hooks.deadline import MIN_TIMEOUT, Deadline, in_library
from hooks.executor import Executor, Result, describe_step, steps
from hooks.state import StateStore
from tests.hooks.test_deadline import library  # noqa: F401 - the fixture
from tests.hooks.test_executor import make_ctx


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Act(A.Action):
    """A test action: raises ``error`` on apply (or ``undo_error`` on undo), sleeps, moves a
    clock, or changes nothing."""

    name: str
    changes: bool = True
    error: BaseException | None = None
    undo_error: BaseException | None = None
    sleep: float = 0.0
    clock: Clock | None = None
    undo_advance: float = 0.0

    def describe(self) -> str:
        return f"act {self.name}"

    def apply(self, ctx: Context) -> A.Undo | None:
        if self.sleep:
            time.sleep(self.sleep)
        if self.error is not None:
            raise self.error
        if not self.changes:
            return None

        def undo() -> None:
            if self.clock is not None:
                self.clock.now += self.undo_advance
            if self.undo_error is not None:
                raise self.undo_error

        return A.Undo(f"undo {self.name}", undo)

    __hash__ = object.__hash__


class Both(A.Batch["Paired"]):
    """A change set: commits every action, or fails as a whole when one of them asks to."""

    commits: list[tuple[str, ...]] = []

    def commit(self) -> tuple[list[Paired], A.Undo | None]:
        Both.commits.append(tuple(a.name for a in self.actions))
        if any(a.fails for a in self.actions) and len(self.actions) > 1:
            raise RuntimeError("the set failed")
        changed = [a for a in self.actions if a.changes]
        return changed, (A.Undo("undo the set", lambda: None) if changed else None)


class Other(Both):
    pass


@dataclass(frozen=True)
class Paired(A.Action):
    batch = Both
    name: str
    changes: bool = True
    fails: bool = False

    def describe(self) -> str:
        return f"paired {self.name}"

    def apply(self, ctx: Context) -> A.Undo | None:
        if self.fails:
            raise RuntimeError(f"{self.name} alone failed")
        return A.Undo(f"undo {self.name}", lambda: None) if self.changes else None

    __hash__ = object.__hash__


@dataclass(frozen=True)
class OtherPaired(Paired):
    batch = Other


def _run(tmp_path, plan, best_effort=False, seconds=30.0, clock=None, grace=3.0, late=0.0):
    """Run ``plan``; with ``clock`` the call's deadline runs on it, ``late`` seconds past its end."""
    log: list[tuple[object, str, str]] = []
    ctx = make_ctx(tmp_path, seconds)
    if clock is not None:
        ctx.deadline = Deadline(seconds, clock)
        clock.now += seconds + late if late else 0.0
    result = Executor(ctx, lambda a, s, d: log.append((a, s, d)), grace=grace).run(plan, best_effort)
    return result, log, ctx


def _error(message: str) -> BaseException:
    from hooks.errors import HostError

    return HostError(step=message, detail="injected")


# --------------------------------------------------------------------------- one run, rolled back

def test_every_outcome_reaches_the_log(tmp_path):
    a, b = Act("a"), Act("b", changes=False)
    result, log, _ = _run(tmp_path, [a, b])
    assert log == [(a, "changed", ""), (b, "unchanged", "")]
    assert result.summary() == "1 changed, 1 already in place"
    c, d = Act("c", undo_error=_error("undo c")), Act("d", error=RuntimeError("boom"))
    result, log, _ = _run(tmp_path, [a, c, d])
    assert log == [(a, "changed", ""), (c, "changed", ""), (d, "failed", "act d: RuntimeError: boom"),
                   (c, "undo-failed", "undo c: injected"), (a, "undone", "undo a")]
    assert result.failed is d and result.undone == ["undo a"]
    assert result.summary() == ("rolled back 1 of 2 changes; NOT undone: undo c: injected "
                                "(run 'virt-netxml hooks repair')")


def test_an_undo_failing_with_a_bug_is_named_by_its_step(tmp_path):
    a, b = Act("a", undo_error=RuntimeError("lost")), Act("b", undo_error=KeyError("k"))
    result, log, _ = _run(tmp_path, [a, b, Act("c", error=_error("c"))])
    assert result.undo_errors == ["undo b: KeyError: 'k'", "undo a: RuntimeError: lost"]
    assert result.summary() == ("rolled back 0 of 2 changes; NOT undone: undo b: KeyError: 'k'; "
                                "undo a: RuntimeError: lost (run 'virt-netxml hooks repair')")


def test_the_rollback_runs_on_its_own_grace_by_the_calls_clock(tmp_path):
    clock = Clock()
    a = Act("a")
    b = Act("b", clock=clock, undo_advance=5.0)
    result, log, ctx = _run(tmp_path, [a, b, Act("c", error=_error("c"))], clock=clock, grace=3.0)
    # b's undo took 5 s of the call's clock: no time is left for a's.
    assert result.undone == ["undo b"]
    assert result.undo_errors == ["undo a: no time left (rollback grace of 3s)"]
    assert log[-1] == (a, "undo-failed", "no time left")
    assert ctx.deadline.seconds == 30.0 and ctx.deadline.clock is clock   # the call's deadline is back


def test_a_plan_that_is_not_one_fails_at_the_start(tmp_path):
    result, log, _ = _run(tmp_path, [object()])
    assert result.failed is None and log == [(None, "failed", result.error.message)]
    assert result.error.message == "start: AttributeError: 'object' object has no attribute 'batch'"


def test_an_interrupt_before_any_change_goes_on_up_and_after_one_is_rolled_back(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, [Act("a", error=KeyboardInterrupt())])
    result, log, _ = _run(tmp_path, [Act("a"), Act("b", error=KeyboardInterrupt())])
    assert result.undone == ["undo a"] and result.error.message == "act b: KeyboardInterrupt: "


def test_a_change_set_that_cannot_be_made_is_blamed_on_its_first_action(tmp_path):
    class Broken(Both):
        def __init__(self, ctx):
            raise RuntimeError("no set")

    @dataclass(frozen=True)
    class Odd(Paired):
        batch = Broken

        __hash__ = object.__hash__

    first = Odd("x")
    result, _, _ = _run(tmp_path, [first, Odd("y")])
    assert result.failed is first
    assert result.error.message == "paired x (and 1 more in one transaction): RuntimeError: no set"


# --------------------------------------------------------------------------- best effort

def test_best_effort_logs_every_action_and_keeps_the_first_error(tmp_path):
    a, b = Act("a"), Act("b", changes=False)
    c, d = Act("c", error=RuntimeError("boom")), Act("d", error=_error("d"))
    result, log, _ = _run(tmp_path, [a, c, b, d], best_effort=True)
    assert log == [(a, "changed", ""), (c, "failed", "act c: RuntimeError: boom"), (b, "unchanged", ""),
                   (d, "failed", "d: injected")]
    assert result.changed == [a] and result.unchanged == [b] and result.failed is c
    assert result.error.message == "act c: RuntimeError: boom"
    assert result.skipped == ["act c: RuntimeError: boom", "d: injected"]
    assert result.summary() == "1 changed, 2 failed and left for 'virt-netxml hooks repair'"


def test_best_effort_out_of_time_names_the_action_and_skips_the_rest(tmp_path):
    clock = Clock()
    a, b, c = Act("a"), Act("b"), Act("c")
    result, log, _ = _run(tmp_path, [a, b, c], best_effort=True, clock=clock, late=1)
    assert result.error.message == "act a: the hook's deadline of 30s passed" and result.failed is a
    assert result.skipped == ["act a: no time left", "act b: no time left", "act c: no time left"]
    assert log == [(x, "failed", "no time left") for x in (a, b, c)]


def test_best_effort_out_of_time_keeps_an_earlier_error_and_failure(tmp_path):
    slow = Act("slow", sleep=2)
    first = Act("first", error=_error("first"))
    result, log, _ = _run(tmp_path, [first, slow, Act("last")], best_effort=True, seconds=0.3)
    assert result.failed is first and result.error.message == "first: injected"
    assert result.skipped[-2:] == ["act slow: no time left", "act last: no time left"]


def test_best_effort_interrupted_mid_action_names_it(tmp_path):
    slow = Act("slow", sleep=5)
    started = time.monotonic()
    result, _, _ = _run(tmp_path, [Act("a"), slow], best_effort=True, seconds=0.3)
    assert time.monotonic() - started < 2
    assert result.error.message == "act slow: the hook's deadline of 0.3s passed" and result.failed is slow


def test_best_effort_commits_a_change_set_at_once_then_goes_on(tmp_path):
    Both.commits.clear()
    a, b, c = Paired("a"), Paired("b", changes=False), Act("c")
    result, log, _ = _run(tmp_path, [a, b, c], best_effort=True)
    assert Both.commits == [("a", "b")]
    assert log == [(a, "changed", ""), (b, "unchanged", ""), (c, "changed", "")]
    assert result.changed == [a, c] and result.unchanged == [b]


def test_best_effort_tries_a_failed_change_set_action_by_action(tmp_path):
    Both.commits.clear()
    a, b = Paired("a"), Paired("b", fails=True)
    result, log, _ = _run(tmp_path, [a, b], best_effort=True)
    assert Both.commits == [("a", "b")]
    assert log == [(a, "changed", ""), (b, "failed", "paired b: RuntimeError: b alone failed")]
    assert result.failed is b


def test_best_effort_out_of_time_before_a_change_set_names_the_set(tmp_path):
    result, _, _ = _run(tmp_path, [Paired("a"), Paired("b")], best_effort=True, clock=Clock(), late=1)
    assert result.error.message == ("paired a (and 1 more in one transaction): the hook's deadline of 30s "
                                    "passed")


# --------------------------------------------------------------------------- steps, deadlines

def test_steps_split_at_every_change_of_batch():
    a, b, c, d = Paired("a"), Paired("b"), OtherPaired("c"), Act("d")
    assert [len(s) for s in steps([a, b, c, d, Act("e"), Paired("f")])] == [2, 1, 1, 1, 1]
    assert describe_step([a]) == "paired a"
    assert describe_step([a, b, c]) == "paired a (and 2 more in one transaction)"


def test_a_deadline_expires_at_its_end_and_caps_every_timeout():
    clock = Clock()
    deadline = Deadline(10, clock)
    assert deadline.timeout(5) == 5 and deadline.timeout(20) == 10
    clock.now += 8
    assert deadline.timeout(5) == pytest.approx(2) and not deadline.expired()
    clock.now += 2
    assert deadline.expired() and deadline.timeout(5) == MIN_TIMEOUT
    assert Result().summary() == "0 changed, 0 already in place"


# --------------------------------------------------------------------------- library frames

def _frame_from(source: str, filename: str, name: str):
    """The frame of a function compiled from ``filename`` in a module named ``name``."""
    scope: dict[str, object] = {"__name__": name, "sys": sys}
    exec(compile(f"def probe(call):\n    return call()\n{source}", filename, "exec"), scope)
    return scope


def test_our_own_modules_count_as_ours_also_when_installed():
    installed = "/opt/venv/lib/python3.11/site-packages/hooks/adapters/probe.py"
    scope = _frame_from("", installed, "hooks.adapters.probe")
    assert not in_library(scope["probe"](lambda: sys._getframe(1)))
    scope = _frame_from("", installed.replace("hooks/adapters", "hooksextra"), "hooksextra.probe")
    assert in_library(scope["probe"](lambda: sys._getframe(1)))


def test_a_scripts_body_is_no_import_and_generated_code_is_walked_through(library):  # noqa: F811
    script = {"__name__": "__main__", "sys": sys}
    exec(compile("frame = sys._getframe()", "/root/script.py", "exec"), script)
    assert not in_library(script["frame"])
    module = {"__name__": "being_imported", "sys": sys}
    exec(compile("frame = sys._getframe()", "/root/module.py", "exec"), module)
    assert in_library(module["frame"])
    # Code generated at run time (filename "<string>") called by a library is the library's.
    generated = _frame_from("def here():\n    return sys._getframe()\n", "<string>", "generated")
    assert in_library(library.call(generated["here"]))
    assert not in_library(generated["here"]())


def test_a_frame_without_a_module_name_is_judged_by_its_file():
    scope: dict[str, object] = {"sys": sys}
    exec(compile("def probe():\n    return sys._getframe()\n", "/root/nameless.py", "exec"), scope)
    del scope["__builtins__"]
    assert not in_library(scope["probe"]())


def test_a_state_store_of_the_call_is_untouched_by_a_failed_start(tmp_path):
    store = StateStore(str(tmp_path / "s"))
    ctx = Context(Owner("domain", "vm1"), store, Deadline(30))
    result = Executor(ctx).run([Act("a"), Act("b", error=_error("b"))])
    assert result.undone == ["undo a"] and store.read("domains", "vm1") == {}
