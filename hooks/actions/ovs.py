"""Open vSwitch: the VLAN columns of a Port, and single keys of map columns.

Each ``ovs-vsctl`` run costs a process start and a round trip to ovsdb-server (10-20 ms here),
and a guest start can have several OVS actions. So the OVS actions declare ``OvsTransaction``
as their batch: the executor puts consecutive ones into one transaction, whose one
``transact`` call reads the Port rows the actions compare with and makes all their changes in
one OVSDB transaction, and whose undo puts back all of them in one transaction too. Applied
alone (``apply``), an action is a transaction of one.
"""

from __future__ import annotations

from hooks.actions.base import Action, Batch, Undo
from hooks.errors import NotFound
from hooks.ports import OvsKeyChange, OvsVlanChange
from xmltools.rules import format_vlan_ids

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from dataclasses import dataclass

    from hooks.context import Context
    from hooks.ports import OvsPortSettings

    Change = OvsVlanChange | OvsKeyChange
else:
    from xmltools.record import dataclass


class OvsTransaction(Batch["OvsAction"]):
    """OVS actions applied in one transaction: (the actions that changed something, one undo).

    The transaction writes every wished value; those a row already holds change nothing (OVSDB
    drops them), so re-applying is harmless and reports "unchanged".
    """

    def commit(self) -> tuple[list[OvsAction], Undo | None]:
        ovs, actions = self.ctx.ovs, list(self.actions)
        reads = [port for port in (a.read_port for a in actions) if port is not None]
        before = ovs.transact(reads, [a.change() for a in actions])
        changed: list[OvsAction] = []
        restores: list[Change] = []
        for action in actions:
            differs, restore = action.compare(before)
            if differs:
                changed.append(action)
                if restore is not None:
                    restores.append(restore)
        if not changed:
            return [], None
        restores.reverse()   # newest first, as the executor undoes single actions
        if len(changed) == 1:
            step = changed[0].undo_step()
        else:
            step = "restore OVS settings of " + ", ".join(dict.fromkeys(a.record_name for a in changed))
        return changed, Undo(step, lambda: ovs.transact([], restores))

    def culprit(self, error: BaseException) -> OvsAction:
        """The one on the missing record, if the error names one, else the first (the
        transaction failed as a whole)."""
        if isinstance(error, NotFound):
            name = error.fields.get("name")
            return next((a for a in self.actions if a.record_name == name), self.actions[0])
        return self.actions[0]


class OvsAction(Action):
    """What the OVS actions share: their batch is one OVSDB transaction."""

    batch = OvsTransaction

    @property
    def read_port(self) -> str | None:
        """The Port row to read before the change (to compare and undo), if any."""
        raise NotImplementedError

    @property
    def record_name(self) -> str:
        """The name of the record this action changes (to tell which action an error is about)."""
        raise NotImplementedError

    def undo_step(self) -> str:
        """How the undo of this action alone is named."""
        raise NotImplementedError

    def change(self) -> Change:
        raise NotImplementedError

    def compare(self, before: dict[str, OvsPortSettings]) -> tuple[bool, Change | None]:
        """(did this change anything, the change that puts it back) given the rows read before."""
        raise NotImplementedError

    def apply(self, ctx: Context) -> Undo | None:
        return OvsTransaction.of(ctx, [self]).commit()[1]


@dataclass(frozen=True)
class OvsPortVlan(OvsAction):
    """tag / trunks / vlan_mode of an OVS Port row."""

    port: str
    tag: int | None
    trunks: tuple[int, ...] = ()
    vlan_mode: str | None = None

    def describe(self) -> str:
        parts = [f"vlan_mode={self.vlan_mode or '[]'}"]
        if self.tag is not None:
            parts.append(f"tag={self.tag}")
        if self.trunks:
            parts.append(f"trunks={format_vlan_ids(self.trunks)}")
        return f"set OVS port {self.port} " + " ".join(parts)

    @property
    def read_port(self) -> str:
        return self.port

    @property
    def record_name(self) -> str:
        return self.port

    def undo_step(self) -> str:
        return f"restore VLAN settings of OVS port {self.port}"

    def change(self) -> OvsVlanChange:
        return OvsVlanChange(self.port, self.tag, tuple(self.trunks), self.vlan_mode)

    def compare(self, before: dict[str, OvsPortSettings]) -> tuple[bool, OvsVlanChange | None]:
        row = before[self.port]
        if (row.tag, tuple(sorted(row.trunks)), row.vlan_mode) == (
                self.tag, tuple(sorted(set(self.trunks))), self.vlan_mode):
            return False, None
        return True, OvsVlanChange(self.port, row.tag, tuple(row.trunks), row.vlan_mode)


@dataclass(frozen=True)
class OvsSetting(OvsAction):
    """One key of a map column (``other_config``, ``external_ids``...) of an OVS record.

    Only a Port's other_config is read back with the port; for anything else the old value is
    unknown, so the action counts as a change and undo removes the key.
    """

    table: str
    record: str
    column: str
    key: str
    value: str | None

    def describe(self) -> str:
        target = f"{self.table} {self.record} {self.column}:{self.key}"
        return f"remove OVS {target}" if self.value is None else f"set OVS {target}={self.value}"

    @property
    def read_port(self) -> str | None:
        return self.record if self.table == "Port" and self.column == "other_config" else None

    @property
    def record_name(self) -> str:
        return self.record

    def undo_step(self) -> str:
        return f"restore OVS {self.table} {self.record} {self.column}:{self.key}"

    def change(self) -> OvsKeyChange:
        return OvsKeyChange(self.table, self.record, self.column, self.key, self.value)

    def compare(self, before: dict[str, OvsPortSettings]) -> tuple[bool, OvsKeyChange | None]:
        old = before[self.record].other_config.get(self.key) if self.read_port else None
        if self.read_port and old == self.value:
            return False, None
        return True, OvsKeyChange(self.table, self.record, self.column, self.key, old)
