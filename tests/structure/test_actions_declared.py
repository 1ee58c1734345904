"""Every action is declared once (``hooks.actions.ACTIONS``) and has apply, undo, re-apply and a
fault-matrix scenario.

Like a meta-test over declared properties: each registered action is checked here against the
modules that define it and against the fault matrix's scenarios, which are its examples. On the
host of its scenario, at the point of the plan where it comes (or of the ``hooks repair`` run
after the event), the action is applied and must change the host, applied again and must find
everything in place, and its undo must put the host back exactly.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import hooks.actions
import hooks.state
from hooks.actions import ACTIONS, Action, Batch
from hooks.context import Context, Owner
from hooks.deadline import Deadline
from hooks.executor import Executor
from hooks.state import StateStore
from tests.fakes import FakeNetlink, FakeOvs, FakeSysfs
from tests.faults.host import Host, diff
from tests.faults.matrix import ACTION_SCENARIOS, Matrix, repair, run_event
from tests.faults.scenarios import SCENARIOS

REGISTERED = [name for names in ACTIONS.values() for name in names]
ACTIONS_DIR = Path(hooks.actions.__file__).parent
# Actions that only check the host: applied, they change nothing and leave no undo.
CHECKS_ONLY = {"CheckUplink"}
# Actions that only hand libvirt output (the rewritten XML): no host change, an undo that drops it.
OUTPUT_ONLY = {"RewriteXml"}
# Actions whose re-apply writes again what is in place (and so reports a change), and why.
RENEWED = {"MarkStarting": "the note names the daemon that starts the domain now, and since when"}
# What the undo of a clean-up action leaves different from before it. Clean-up calls (release,
# network stopped, repair) run best effort and never roll back, so these undos only run when a
# clean-up action is part of a plan that does; a link index is the kernel's to choose.
UNDO_LEAVES = {
    "DeleteTap": ["links.tapvm0.up", "ovs.ports.tapvm0.owner", "state.domains/tapvm.json.taps.tapvm0.index"],
    "DeleteShim": ["state.networks/mvnet.json.shims.mvshim0.index"],
    "ReleaseClaim": ["state.claims/%7063692d303030303a30343a31302e32.json.uuid"],
    "ForgetDomain": ["state.domains/tapvm.json.uuid"],
    "RemoveForwards": ["state.domains/fwdvm.json.uuid"],
}


def _concrete(module: str) -> set[str]:
    mod = importlib.import_module(f"hooks.actions.{module}")
    return {name for name, cls in vars(mod).items()
            if inspect.isclass(cls) and issubclass(cls, Action) and cls.__module__ == mod.__name__
            and cls.describe is not Action.describe}


def test_the_registry_lists_every_action_of_every_module_once():
    modules = {p.stem for p in ACTIONS_DIR.glob("*.py")} - {"__init__", "base"}
    assert set(ACTIONS) == modules, "every module of hooks/actions is in hooks.actions.ACTIONS"
    for module, names in ACTIONS.items():
        assert set(names) == _concrete(module), module
    assert len(REGISTERED) == len(set(REGISTERED))
    for name in REGISTERED:
        assert name in hooks.actions.__all__
        assert getattr(hooks.actions, name).__name__ == name
    # The type checkers' view: one star import per module of the registry.
    tree = ast.parse((ACTIONS_DIR / "__init__.py").read_text())
    starred = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               and node.module and any(alias.name == "*" for alias in node.names)}
    assert starred == {f"hooks.actions.{m}" for m in ACTIONS}


@pytest.mark.parametrize("name", REGISTERED)
def test_every_action_implements_the_interface(name):
    cls = getattr(hooks.actions, name)
    assert cls.apply is not Action.apply and cls.describe is not Action.describe
    if cls.batch is not None:
        assert issubclass(cls.batch, Batch) and cls.batch.commit is not Batch.commit


def test_every_action_has_a_fault_matrix_entry():
    assert set(ACTION_SCENARIOS) == set(REGISTERED)
    labels = {s.label for s in SCENARIOS}
    assert {label for label in ACTION_SCENARIOS.values() if label is not None} <= labels
    assert {name for name, label in ACTION_SCENARIOS.items() if label is None} == OUTPUT_ONLY


class _Cycle:
    """Stands in for ``Executor.run``: applies the plan action by action, and at the first
    action of kind ``name`` checks apply, re-apply and undo on the scenario's host."""

    def __init__(self, name: str, host: Host) -> None:
        self.name, self.host = name, host
        self.found: dict[str, object] | None = None
        self.real = Executor.run

    def __call__(self, executor: Executor, plan, best_effort: bool = False):
        for n, action in enumerate(plan):
            if self.found is None and type(action).__name__ == self.name:
                self.found = self.check(executor.ctx, action)
                return self.real(executor, plan[n:], best_effort)
            action.apply(executor.ctx)
        return self.real(executor, [], best_effort)

    def check(self, ctx: Context, action: Action) -> dict[str, object]:
        snap = self.host.snapshot
        before = snap()
        undo = action.apply(ctx)
        after = snap()
        again = action.apply(ctx)
        after_again = snap()
        if undo is not None:
            undo.run()
        restored = snap()
        left = sorted(line.split(":")[0] for line in diff(before, restored))
        return {"undo": undo is not None, "changed": after != before, "again": again is None,
                "in place": after_again == after, "undo leaves": left}


@pytest.mark.parametrize("name", [n for n in REGISTERED if n not in OUTPUT_ONLY])
def test_apply_undo_and_reapply_on_the_scenarios_host(name, tmp_path, monkeypatch):
    scenario = next(s for s in SCENARIOS if s.label == ACTION_SCENARIOS[name])
    host = Matrix(scenario, tmp_path / "host").fresh()
    cycle = _Cycle(name, host)
    monkeypatch.setattr(Executor, "run", lambda self, plan, best_effort=False: cycle(self, plan, best_effort))
    run_event(host, scenario.event)
    if cycle.found is None:       # repair-only kinds: what hooks repair does after the event
        repair(host, set())
    assert cycle.found is not None, f"{scenario.label} never applies {name}"
    expected = {"undo": True, "changed": True, "again": True, "in place": True,
                "undo leaves": UNDO_LEAVES.get(name, [])}
    if name in CHECKS_ONLY:
        expected.update({"undo": False, "changed": False})
    if name in RENEWED:
        expected["again"] = False
    assert cycle.found == expected


@pytest.mark.parametrize("name", sorted(OUTPUT_ONLY))
def test_an_output_only_action_touches_no_port_and_no_record(name, tmp_path, monkeypatch):
    net, ovs, fs = FakeNetlink(), FakeOvs(), FakeSysfs()
    writes: list[str] = []
    real_write = hooks.state.atomic_write
    monkeypatch.setattr(hooks.state, "atomic_write",
                        lambda path, data, mode: writes.append(path) or real_write(path, data, mode))
    ctx = Context(Owner("domain", "vm1"), StateStore(str(tmp_path / "state")), Deadline(5),
                  netlink=net, ovs=ovs, sysfs=fs)
    undo = getattr(hooks.actions, name)("<domain/>").apply(ctx)
    assert ctx.output == ["<domain/>"] and undo is not None
    undo.run()
    assert ctx.output == []
    assert (net.calls, ovs.calls, fs.calls, writes) == ([], [], [], [])
