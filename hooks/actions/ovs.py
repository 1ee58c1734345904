"""Open vSwitch: the VLAN columns of a Port, and single keys of map columns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hooks.actions.base import Action, Undo, vid_ranges

if TYPE_CHECKING:
    from hooks.context import Context


@dataclass(frozen=True)
class OvsPortVlan(Action):
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
            parts.append(f"trunks={vid_ranges(list(self.trunks))}")
        return f"set OVS port {self.port} " + " ".join(parts)

    def apply(self, ctx: Context) -> Undo | None:
        ovs = ctx.ovs
        before = ovs.port_settings(self.port)
        if (before.tag, tuple(sorted(before.trunks)), before.vlan_mode) == (
                self.tag, tuple(sorted(self.trunks)), self.vlan_mode):
            return None
        ovs.set_port_vlan(self.port, self.tag, self.trunks, self.vlan_mode)
        return Undo(f"restore VLAN settings of OVS port {self.port}",
                    lambda: ovs.set_port_vlan(self.port, before.tag, before.trunks, before.vlan_mode))


@dataclass(frozen=True)
class OvsSetting(Action):
    """One key of a map column (``other_config``, ``external_ids``...) of an OVS record.

    Only a Port's other_config can be read back through the port; for anything else the old
    value is unknown, so undo removes the key.
    """

    table: str
    record: str
    column: str
    key: str
    value: str | None

    def describe(self) -> str:
        target = f"{self.table} {self.record} {self.column}:{self.key}"
        return f"remove OVS {target}" if self.value is None else f"set OVS {target}={self.value}"

    def apply(self, ctx: Context) -> Undo | None:
        ovs = ctx.ovs
        known = self.table == "Port" and self.column == "other_config"
        before = ovs.port_settings(self.record).other_config.get(self.key) if known else None
        if known and before == self.value:
            return None
        ovs.set_column_key(self.table, self.record, self.column, self.key, self.value)
        return Undo(f"restore OVS {self.table} {self.record} {self.column}:{self.key}",
                    lambda: ovs.set_column_key(self.table, self.record, self.column, self.key, before))
