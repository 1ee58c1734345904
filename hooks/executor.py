"""Apply a plan through the ports with an undo log; on any failure undo in reverse order.

Each applied action leaves an Undo; when an action fails (an error from a port, a bug, or the
deadline passing mid-call) the undos of the actions already applied run newest first, within a
short grace period of their own, and the result says what failed and what was put back. What
could not be undone stays in the state records, for the next event or ``hooks repair``.

Consecutive actions of one ``batch`` (the OVS actions: ``Action.batch``) are one step: one
change set of that batch (one OVSDB transaction) applies them together and returns one undo for
all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from hooks.actions import Action, Batch, Undo
from hooks.context import Context
from hooks.deadline import Deadline, DeadlineInterrupt, armed
from hooks.errors import DeadlineExceeded, HostError
from xmltools.errors import NetXmlError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from dataclasses import dataclass, field
else:
    from xmltools.record import dataclass, field

ROLLBACK_GRACE = 3.0

# (action or None, status, detail) -> None; statuses: changed, unchanged, failed, undone, undo-failed
Logger = Callable[[Action | None, str, str], None]


@dataclass
class Result:
    """What one run did; ``error`` is set when it failed (and was rolled back)."""

    changed: list[Action] = field(default_factory=list)
    unchanged: list[Action] = field(default_factory=list)
    failed: Action | None = None
    error: NetXmlError | None = None
    undone: list[str] = field(default_factory=list)
    undo_errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)   # best-effort runs: steps that failed

    @property
    def ok(self) -> bool:
        return self.error is None

    def summary(self) -> str:
        """One line for syslog and for the error message."""
        if self.ok:
            return f"{len(self.changed)} changed, {len(self.unchanged)} already in place"
        if self.skipped:
            return (f"{len(self.changed)} changed, {len(self.skipped)} failed and left for "
                    "'virt-netxml hooks repair'")
        text = f"rolled back {len(self.undone)} of {len(self.undone) + len(self.undo_errors)} changes"
        if self.undo_errors:
            text += f"; NOT undone: {'; '.join(self.undo_errors)} (run 'virt-netxml hooks repair')"
        return text


def _as_error(exc: BaseException, step: str) -> NetXmlError:
    if isinstance(exc, NetXmlError):
        return exc
    # A bug or an unexpected OSError must still roll back and end in one line, not a traceback.
    return HostError(step=step, detail=f"{type(exc).__name__}: {exc}")


def steps(plan: Sequence[Action]) -> Iterator[list[Action]]:
    """The plan cut into steps: one action each, except that consecutive actions of one
    ``batch`` (OVS changes) make one step, which one change set of that batch applies at once
    (one OVSDB transaction instead of a process per read and per write)."""
    step: list[Action] = []
    for action in plan:
        batch = action.batch
        if step and (batch is None or step[0].batch is not batch):
            yield step
            step = []
        step.append(action)
        if batch is None:
            yield step
            step = []
    if step:
        yield step


def change_set(ctx: Context, step: list[Action]) -> Batch[Action] | None:
    """The change set that applies ``step``, or None for a step of one action applied alone."""
    batch = step[0].batch
    return batch.of(ctx, step) if batch is not None else None


def describe_step(step: list[Action]) -> str:
    text = step[0].describe()
    return text if len(step) == 1 else f"{text} (and {len(step) - 1} more in one transaction)"


class Executor:
    """Runs plans for one hook call; ``log`` receives every step's outcome."""

    def __init__(self, ctx: Context, log: Logger | None = None, grace: float = ROLLBACK_GRACE) -> None:
        self.ctx = ctx
        self.log = log or (lambda action, status, detail: None)
        self.grace = grace

    def run(self, plan: Sequence[Action], best_effort: bool = False) -> Result:
        """Apply ``plan``; on failure roll back, or with ``best_effort`` go on with the rest.

        Best effort is for clean-up calls (release, network stopped, repair): undoing a
        clean-up because a later one failed would only put back what should go.
        """
        if best_effort:
            return self._run_all(plan)
        result = Result()
        undo_log: list[tuple[Action, Undo]] = []
        current: list[str] = ["start"]
        step: list[Action] = []
        batch: Batch[Action] | None = None
        deadline = self.ctx.deadline
        try:
            with armed(deadline, lambda: current[0]):
                for step in steps(plan):
                    current[0] = describe_step(step)
                    batch = change_set(self.ctx, step)
                    deadline.check(current[0])
                    if batch is None:
                        undo = step[0].apply(self.ctx)
                        changed = step if undo is not None else []
                    else:
                        changed, undo = batch.commit()
                    changed_ids = {id(a) for a in changed}
                    for action in step:
                        status = "changed" if id(action) in changed_ids else "unchanged"
                        (result.changed if status == "changed" else result.unchanged).append(action)
                        self.log(action, status, "")
                    if undo is not None:
                        undo_log.append((changed[-1], undo))
        except BaseException as exc:  # noqa: BLE001 - everything must roll back
            if isinstance(exc, (KeyboardInterrupt, SystemExit)) and not undo_log:
                raise
            failed = (batch.culprit(exc) if batch is not None else step[0]) if step else None
            result.failed = failed
            result.error = _as_error(exc, current[0])
            self.log(failed, "failed", result.error.message)
            self._rollback(undo_log, result)
            result.undo_errors += self.ctx.left_over
        return result

    def _run_all(self, plan: Sequence[Action]) -> Result:
        result = Result()
        current: list[str] = ["start"]
        pending = list(plan)
        try:
            with armed(self.ctx.deadline, lambda: current[0]):
                while pending:
                    step = next(steps(pending))
                    if len(step) > 1 and self._commit_all(step, result, current):
                        del pending[:len(step)]
                        continue
                    # Alone, or a change set that failed: each action gets its own chance.
                    action = pending[0]
                    current[0] = action.describe()
                    try:
                        self.ctx.deadline.check(current[0])
                        undo = action.apply(self.ctx)
                        (result.changed if undo else result.unchanged).append(action)
                        self.log(action, "changed" if undo else "unchanged", "")
                    except DeadlineExceeded:
                        raise
                    except Exception as exc:  # noqa: BLE001 - go on with the rest
                        error = _as_error(exc, current[0])
                        result.error = result.error or error
                        result.failed = result.failed or action
                        result.skipped.append(error.message)
                        self.log(action, "failed", error.message)
                    pending.pop(0)
        except DeadlineExceeded as exc:
            result.error = result.error or exc
            result.failed = result.failed or pending[0]
            for action in pending:
                result.skipped.append(f"{action.describe()}: no time left")
                self.log(action, "failed", "no time left")
        return result

    def _commit_all(self, step: list[Action], result: Result, current: list[str]) -> bool:
        """Best effort with a change set: commit it at once; False when it failed, and then
        nothing of it was applied (one transaction) and its actions are tried one by one."""
        current[0] = describe_step(step)
        self.ctx.deadline.check(current[0])
        batch = change_set(self.ctx, step)
        assert batch is not None
        try:
            changed, _ = batch.commit()
        except DeadlineExceeded:
            raise
        except Exception:  # noqa: BLE001 - retried action by action, which reports the error
            return False
        changed_ids = {id(a) for a in changed}
        for action in step:
            status = "changed" if id(action) in changed_ids else "unchanged"
            (result.changed if status == "changed" else result.unchanged).append(action)
            self.log(action, status, "")
        return True

    def _rollback(self, undo_log: list[tuple[Action, Undo]], result: Result) -> None:
        grace = Deadline(self.grace, self.ctx.deadline.clock)
        # Adapters asked for "time left" during rollback get the grace period's time.
        saved, self.ctx.deadline = self.ctx.deadline, grace
        current: list[str] = ["rollback"]
        pending = list(reversed(undo_log))
        try:
            with armed(grace, lambda: current[0]):
                while pending:
                    action, undo = pending[0]
                    current[0] = undo.step
                    try:
                        grace.check(undo.step)
                        undo.run()
                        result.undone.append(undo.step)
                        self.log(action, "undone", undo.step)
                    except (DeadlineExceeded, DeadlineInterrupt):
                        raise
                    except BaseException as exc:  # noqa: BLE001 - keep undoing the rest
                        error = _as_error(exc, undo.step)
                        result.undo_errors.append(error.message)
                        self.log(action, "undo-failed", error.message)
                    pending.pop(0)
        except DeadlineExceeded:
            for action, undo in pending:
                result.undo_errors.append(f"{undo.step}: no time left (rollback grace of {self.grace:g}s)")
                self.log(action, "undo-failed", "no time left")
        finally:
            self.ctx.deadline = saved
