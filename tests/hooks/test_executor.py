"""The executor: undo log, rollback in reverse order, best-effort clean-up, deadlines."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from hooks import actions as A
from hooks.context import Context, Owner
from hooks.deadline import Deadline, armed
from hooks.errors import DeadlineExceeded, HostError
from hooks.executor import Executor
from hooks.state import StateStore
from tests.fakes import FakeNetlink, FakeOvs, FakeSysfs


@dataclass(frozen=True)
class Step(A.Action):
    """A test action that logs apply/undo into a shared list and can fail on purpose."""

    name: str
    journal: list
    fail: bool = False
    undo_fails: bool = False
    changes: bool = True

    def describe(self) -> str:
        return f"step {self.name}"

    def apply(self, ctx):
        if self.fail:
            raise HostError(step=self.describe(), detail="injected")
        self.journal.append(f"apply {self.name}")
        if not self.changes:
            return None

        def undo():
            if self.undo_fails:
                raise HostError(step=f"undo {self.name}", detail="cannot")
            self.journal.append(f"undo {self.name}")

        return A.Undo(f"undo {self.name}", undo)

    __hash__ = object.__hash__


def make_ctx(tmp_path, seconds=30.0, **ports) -> Context:
    ports.setdefault("netlink", FakeNetlink())
    ports.setdefault("ovs", FakeOvs())
    ports.setdefault("sysfs", FakeSysfs())
    return Context(Owner("domain", "vm1"), StateStore(str(tmp_path / "s")), Deadline(seconds), **ports)


def test_success_reports_changed_and_unchanged(tmp_path):
    journal: list[str] = []
    logged = []
    plan = [Step("a", journal), Step("b", journal, changes=False)]
    result = Executor(make_ctx(tmp_path), lambda a, s, d: logged.append((a.name, s))).run(plan)
    assert result.ok and result.summary() == "1 changed, 1 already in place"
    assert logged == [("a", "changed"), ("b", "unchanged")]


def test_failure_rolls_back_applied_actions_in_reverse_order(tmp_path):
    journal: list[str] = []
    plan = [Step("a", journal), Step("b", journal, changes=False), Step("c", journal),
            Step("d", journal, fail=True), Step("e", journal)]
    result = Executor(make_ctx(tmp_path)).run(plan)
    assert journal == ["apply a", "apply b", "apply c", "undo c", "undo a"]
    assert not result.ok and result.failed == plan[3]
    assert result.error is not None and "injected" in result.error.message
    assert result.summary() == "rolled back 2 of 2 changes"


def test_an_undo_that_fails_does_not_stop_the_others(tmp_path):
    journal: list[str] = []
    plan = [Step("a", journal), Step("b", journal, undo_fails=True), Step("c", journal, fail=True)]
    result = Executor(make_ctx(tmp_path)).run(plan)
    assert journal == ["apply a", "apply b", "undo a"]
    assert result.undone == ["undo a"] and len(result.undo_errors) == 1
    assert "NOT undone" in result.summary() and "hooks repair" in result.summary()


def test_unexpected_exception_is_rolled_back_and_becomes_one_line(tmp_path):
    journal: list[str] = []

    @dataclass(frozen=True)
    class Buggy(A.Action):
        def describe(self) -> str:
            return "buggy step"

        def apply(self, ctx):
            raise KeyError("oops")

    result = Executor(make_ctx(tmp_path)).run([Step("a", journal), Buggy()])
    assert journal == ["apply a", "undo a"]
    assert result.error is not None and result.error.message == "buggy step: KeyError: 'oops'"


def test_best_effort_goes_on_and_undoes_nothing(tmp_path):
    journal: list[str] = []
    plan = [Step("a", journal), Step("b", journal, fail=True), Step("c", journal)]
    result = Executor(make_ctx(tmp_path)).run(plan, best_effort=True)
    assert journal == ["apply a", "apply c"]
    assert not result.ok and len(result.skipped) == 1 and "hooks repair" in result.summary()


def test_rollback_restores_the_host_with_real_actions(tmp_path):
    net = FakeNetlink(fail_on={"set_up": HostError(step="up", detail="EPERM")})
    net.add_bridge("br0")
    ctx = make_ctx(tmp_path, netlink=net)
    plan = [A.CreateTap("tap0", bridge="br0"), A.EnslaveLink("tap0", "br0"), A.LinkUp("tap0")]
    result = Executor(ctx).run(plan)
    assert not result.ok and result.failed == plan[2]
    assert set(net.links) == {"br0"}
    assert ctx.state.read("domains", "vm1") == {}
    assert result.undone == ["unplug tap0 from bridge br0", "delete TAP tap0"]


def test_deadline_expiry_inside_a_hanging_port_call_rolls_back(tmp_path):
    net = FakeNetlink(hang_on="set_up", hang_seconds=30)
    net.add_bridge("br0")
    ctx = make_ctx(tmp_path, seconds=0.5, netlink=net)
    plan = [A.CreateTap("tap0", bridge="br0"), A.EnslaveLink("tap0", "br0"), A.LinkUp("tap0")]
    started = time.monotonic()
    result = Executor(ctx).run(plan)
    elapsed = time.monotonic() - started
    assert elapsed < 3.0
    assert isinstance(result.error, DeadlineExceeded)
    assert result.error.message == "bring tap0 up: the hook's deadline of 0.5s passed"
    assert set(net.links) == {"br0"} and result.undone == ["unplug tap0 from bridge br0", "delete TAP tap0"]


def _run_slow_then_quick(tmp_path):
    """Two steps under a 5 s deadline on a fake clock; the first "takes" 10 s."""
    now = [0.0]
    ctx = make_ctx(tmp_path)
    ctx.deadline = Deadline(5, clock=lambda: now[0])
    journal: list[str] = []

    @dataclass(frozen=True)
    class Slow(Step):
        def apply(self, c):
            now[0] += 10   # this step "takes" longer than the whole budget
            return super().apply(c)

    return Executor(ctx).run([Slow("a", journal), Step("b", journal)]), journal


def test_deadline_checked_between_actions(tmp_path):
    result, journal = _run_slow_then_quick(tmp_path)
    assert journal == ["apply a", "undo a"]
    assert isinstance(result.error, DeadlineExceeded) and "step b" in result.error.message


def test_rollback_that_hangs_is_cut_off_by_the_grace_period(tmp_path):
    net = FakeNetlink(hang_on={"delete_link"}, hang_seconds=30,
                      fail_on={"set_up": HostError(step="u", detail="x")})
    ctx = make_ctx(tmp_path, netlink=net)
    result = Executor(ctx, grace=0.5).run([A.CreateTap("tap0"), A.LinkUp("tap0")])
    assert result.undone == [] and result.undo_errors
    assert result.undo_errors == ["delete TAP tap0: no time left (rollback grace of 0.5s)"]
    # The TAP is still recorded as ours, so repair can delete it later.
    assert "tap0" in ctx.state.read("domains", "vm1")["taps"]


def test_armed_deadline_restores_the_previous_signal_handler():
    import signal

    before = signal.getsignal(signal.SIGALRM)
    with pytest.raises(DeadlineExceeded, match="sleeping"), armed(Deadline(0.1), lambda: "sleeping"):
        time.sleep(5)
    assert signal.getsignal(signal.SIGALRM) == before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_outside_the_main_thread_the_deadline_is_checked_between_actions_only(tmp_path):
    import threading

    results = []

    def worker():
        results.append(_run_slow_then_quick(tmp_path))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(30)
    result, journal = results[0]
    assert journal == ["apply a", "undo a"] and isinstance(result.error, DeadlineExceeded)


def test_consecutive_ovs_actions_are_one_step_and_roll_back_in_one_transaction(tmp_path):
    ovs = FakeOvs()
    ovs.add_bridge("ovsbr0")
    for port in ("vnet1", "vnet2"):
        ovs.add_port("ovsbr0", port)
    net = FakeNetlink(fail_on={"set_up": HostError(step="up", detail="EPERM")})
    net.add_bridge("br0")
    ctx = make_ctx(tmp_path, netlink=net, ovs=ovs)
    logged = []
    plan = [A.OvsPortVlan("vnet1", 10, (), "access"), A.OvsPortVlan("vnet2", 20, (), "access"),
            A.CreateTap("tap0", bridge="br0"), A.LinkUp("tap0")]
    result = Executor(ctx, lambda a, s, d: logged.append((a, s))).run(plan)
    assert not result.ok and result.failed == plan[3]
    assert result.changed == plan[:3]
    assert [s for _, s in logged] == ["changed", "changed", "changed", "failed", "undone", "undone"]
    assert result.undone == ["delete TAP tap0", "restore OVS settings of vnet1, vnet2"]
    assert [c[0] for c in ovs.calls if c[0] != "add_port"] == ["transact", "transact"]
    assert (ovs.ports["vnet1"].tag, ovs.ports["vnet2"].tag) == (None, None)


def test_a_failed_ovs_step_names_the_action_of_the_missing_port(tmp_path):
    ovs = FakeOvs()
    ovs.add_bridge("ovsbr0")
    ovs.add_port("ovsbr0", "vnet1")
    plan = [A.OvsPortVlan("vnet1", 10, (), "access", iface="m1 (vnet1)"),
            A.OvsPortVlan("vnet9", 20, (), "access", iface="m9 (vnet9)")]
    result = Executor(make_ctx(tmp_path, ovs=ovs)).run(plan)
    assert not result.ok and result.failed is plan[1] and result.undone == []
    assert ovs.ports["vnet1"].tag is None


def test_steps_group_only_consecutive_actions_of_one_group():
    from hooks.executor import steps

    ovs1, ovs2, ovs3 = (A.OvsPortVlan(f"vnet{n}", n, (), "access") for n in (1, 2, 3))
    up = A.LinkUp("tap0")
    assert list(steps([ovs1, ovs2, up, ovs3])) == [[ovs1, ovs2], [up], [ovs3]]
    assert list(steps([up, up])) == [[up], [up]]
    assert list(steps([])) == []
