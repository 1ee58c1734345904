"""The base of every action, the undo step, and helpers the action modules share."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from hooks.state_records import DomainState, NetworkState
from xmltools.generic import Generic, TypeVar

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from dataclasses import dataclass, field
    from typing import Any, ClassVar

    from hooks.context import Context
else:
    from xmltools.record import dataclass, field

VFIO = "vfio-pci"
VFIO_COMPATIBLE = (VFIO, "pci-stub")
NO_MAC = "00:00:00:00:00:00"


@dataclass(frozen=True)
class Undo:
    """How to put back what one action changed."""

    step: str
    run: Callable[[], object]


@dataclass(frozen=True)
class Action:
    """Base of every action. ``iface`` labels the interface (MAC and device) for messages.

    ``apply`` compares with the host, changes what differs and returns the ``Undo`` that puts
    it back, or None when nothing changed (so applying again is harmless). An action class
    whose ``batch`` names a :class:`Batch` is applied together with its neighbours of the same
    batch: the executor puts consecutive ones into one change set and commits it once.
    """

    batch: ClassVar[type[Batch[Any]] | None] = None

    iface: str = field(default="", compare=False, kw_only=True)

    def describe(self) -> str:
        raise NotImplementedError

    def apply(self, ctx: Context) -> Undo | None:
        raise NotImplementedError


ActionT = TypeVar("ActionT", bound=Action)


class Batch(Generic[ActionT]):
    """One change set: consecutive actions of one batch class, applied at once (one OVSDB
    transaction instead of a process per read and per write), with one undo for all of them.

    The executor makes one per step, adds the step's actions in plan order and calls
    ``commit`` once; when the commit fails, ``culprit`` names the action the error is about.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.actions: list[ActionT] = []

    @classmethod
    def of(cls, ctx: Context, actions: Iterable[ActionT]) -> Batch[ActionT]:
        """A change set holding ``actions``."""
        batch = cls(ctx)
        for action in actions:
            batch.add(action)
        return batch

    def add(self, action: ActionT) -> None:
        self.actions.append(action)

    def commit(self) -> tuple[list[ActionT], Undo | None]:
        """Apply every action added: (those that changed something, one undo for them, or None)."""
        raise NotImplementedError

    def culprit(self, error: BaseException) -> ActionT:
        """The action a failed commit is about: the first, unless the batch can tell."""
        return self.actions[0]


class _RecordEdit:
    """Edit a state record under its lock as a typed record, keeping its name and UUID in it."""

    STATE: type[DomainState] | type[NetworkState]

    def __init__(self, ctx: Context, name: str, uuid: str | None) -> None:
        self.ctx, self.name, self.uuid = ctx, name, uuid
        self._cm: Any = None

    def _enter(self) -> Any:
        self._cm = self.ctx.state.edit(self.STATE.KIND, self.name)
        state = self.STATE(self._cm.__enter__())
        state.label(self.name, self.uuid)
        return state

    def __exit__(self, *exc: Any) -> None:
        self._cm.__exit__(*exc)


class DomainRecord(_RecordEdit):
    """Edit a domain's state record (by default the owner's)."""

    STATE = DomainState

    def __init__(self, ctx: Context, name: str | None = None, uuid: str | None = None) -> None:
        super().__init__(ctx, name or ctx.owner.name, uuid if name else ctx.owner.uuid)

    def __enter__(self) -> DomainState:
        return self._enter()  # type: ignore[no-any-return]


class NetworkRecord(_RecordEdit):
    """Edit the owning network's state record."""

    STATE = NetworkState

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx, ctx.owner.name, None)

    def __enter__(self) -> NetworkState:
        return self._enter()  # type: ignore[no-any-return]


def domain_state(ctx: Context) -> DomainState:
    """The owning domain's state record, read only."""
    return DomainState(ctx.state.read(DomainState.KIND, ctx.owner.name))


def network_state(ctx: Context) -> NetworkState:
    """The owning network's state record, read only."""
    return NetworkState(ctx.state.read(NetworkState.KIND, ctx.owner.name))


def domain_record(ctx: Context) -> DomainRecord:
    return DomainRecord(ctx)


def network_record(ctx: Context) -> NetworkRecord:
    return NetworkRecord(ctx)


def undo_own_steps(ctx: Context, what: str, undo: Callable[[], object]) -> None:
    """From an action's ``except`` block: put back the steps the action itself already took.

    The action's own error goes on up either way (it says what went wrong). If putting back
    fails too, that is noted on the context, and the call's message then lists it as NOT
    undone and sends the user to ``hooks repair``, which finds it in the state records.
    """
    try:
        undo()
    except Exception as exc:  # noqa: BLE001 - whatever it was, the original error matters more
        ctx.left_over.append(f"{what}: {getattr(exc, 'message', None) or exc}")


def render_plan(plan: list[Action]) -> str:
    """The plan as text, one numbered action a line, with the interface it is for."""
    if not plan:
        return "nothing to do\n"
    return "".join(f"{n}. {a.describe()}" + (f"  [{a.iface}]" if a.iface else "") + "\n"
                   for n, a in enumerate(plan, 1))
