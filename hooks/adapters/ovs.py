"""OvsPort through ``ovs-vsctl --timeout=N``: argv built by pure functions, run in one place.

Every command list is built by a function below (table-tested), joined with ``--`` into one
``ovs-vsctl`` invocation, so a VLAN change is one OVSDB transaction. ovs-vsctl enforces its own
``--timeout``; ``proc.run`` gets a slightly larger wall timeout so an ovs-vsctl that ignores it
(stopped, or stuck in the kernel) still ends.
"""

from __future__ import annotations

import json
import math
import re
import signal
from collections.abc import Sequence

from hooks.adapters import proc
from hooks.errors import HostError, HostTimeout, NotFound
from hooks.ports import OvsKeyChange, OvsPortSettings, OvsVlanChange
from xmltools.errors import InvalidValue
from xmltools.names import validate_interface_name, validate_vlan_id
from xmltools.rules import VLAN_MODES

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from typing import Any


# The only tables whose rows the hooks write: a guest's own port and interface. Bridges (and
# everything else) are shared with other ports; a guest's wishes never reach them.
ROW_TABLES = ("Port", "Interface")
UUID_CHARS = "0123456789abcdefABCDEF-"
# Patterns are compiled on first use (re's own cache): the hook pays for what its call needs.
_COLUMN = r"[a-z][a-z0-9_]*"
WALL_MARGIN = 2.0   # seconds beyond --timeout before proc.run kills ovs-vsctl
# The Port rows the hook adds carry the domain they were added for. The OVS database outlives a
# reboot while the hook's records (in /run) do not: the mark lets the hook tell its own leftover
# row of that domain from a port somebody else made.
OWNER_KEY = "virt-netxml-owner"

Command = list[str]


# ----------------------------------------------------------------- argv builders (pure)

def ovs_name(name: str, what: str = "OVS port name") -> str:
    """A bridge/port name safe for an ovs-vsctl argv: a valid interface name not starting '-'."""
    validate_interface_name(name, what)
    if name.startswith("-"):
        raise InvalidValue(what=what, value=name, reason="must not start with '-'")
    return name


def uuid_like(name: str) -> bool:
    """Whether ovs-vsctl could read ``name`` as a row's UUID or UUID prefix.

    ovs-vsctl looks a record argument up by UUID, then by name, and when no row of the table
    has that name, as a prefix (4+ hex digits) of any row's UUID: a port named like the start
    of a bridge's UUID, or a name whose row is gone, can then address a row of someone else.
    A name with any character a UUID never has is always looked up by name alone.
    """
    return all(c in UUID_CHARS for c in name)


def full_uuid(text: str) -> bool:
    return re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text) is not None


def row_ref(record: str, what: str = "OVS port name") -> str:
    """A record argument of ``list``/``set``/``clear``/``remove``: a full UUID, or a name that
    ovs-vsctl cannot read as one (``uuid_like`` names are resolved to their UUID first)."""
    if isinstance(record, str) and full_uuid(record):
        return record
    ovs_name(record, what)
    if uuid_like(record):
        raise InvalidValue(what=what, value=record,
                           reason="ovs-vsctl could read it as a UUID prefix: address the row by its UUID")
    return record


def quote(text: str) -> str:
    """An OVSDB string atom in ovs-vsctl syntax: always double-quoted, JSON escapes."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise InvalidValue(what="OVS value", value=text, reason="control characters are not allowed")
    return json.dumps(text)


def vsctl_argv(commands: Sequence[Command], timeout: float, db: str | None = None,
               format_json: bool = False) -> list[str]:
    """``ovs-vsctl --timeout=N [--db=unix:DB] [--format=json] -- CMD1 -- CMD2 ...``."""
    argv = ["ovs-vsctl", f"--timeout={max(1, math.ceil(timeout))}"]
    if db is not None:
        argv.append(f"--db=unix:{db}")
    if format_json:
        argv.append("--format=json")
    for command in commands:
        argv += ["--", *command]
    return argv


def list_br_cmd() -> Command:
    return ["list-br"]


def port_to_br_cmd(port: str) -> Command:
    return ["port-to-br", ovs_name(port)]


def find_name_cmds(name: str) -> list[Command]:
    """The Port and the Interface rows named ``name`` (two tables; no error when there is none)."""
    condition = f"name={quote(ovs_name(name))}"
    return [["--columns=name", "find", table, condition] for table in ("Port", "Interface")]


def add_port_cmd(bridge: str, port: str, owner: str | None = None) -> Command:
    """Idempotent on the same bridge; an error if the port is on another one. ``owner`` marks a
    new row as the hook's, for that domain (an existing row is left as it is)."""
    cmd = ["--may-exist", "add-port", ovs_name(bridge, "OVS bridge name"), ovs_name(port)]
    if owner is not None:
        cmd.append(f"external_ids:{OWNER_KEY}={quote(owner)}")
    return cmd


def port_owner_cmd(port: str) -> Command:
    """The ``external_ids`` of the Port row named exactly ``port`` (``find``: no UUID prefixes)."""
    return ["--columns=external_ids", "find", "Port", f"name={quote(ovs_name(port))}"]


def parse_port_owner(table: dict[str, Any]) -> str | None:
    """The owner mark from the table printed by ``port_owner_cmd``; None without one row or mark."""
    rows = table.get("data") or []
    if len(rows) != 1:
        return None
    ids = datum(rows[0][0])
    owner = ids.get(OWNER_KEY) if isinstance(ids, dict) else None
    return owner if isinstance(owner, str) else None


def del_port_cmd(bridge: str, port: str) -> Command:
    """A port that does not exist is not an error; one on another bridge is."""
    return ["--if-exists", "del-port", ovs_name(bridge, "OVS bridge name"), ovs_name(port)]


def port_settings_cmd(port: str) -> Command:
    return ["--columns=tag,trunks,vlan_mode,other_config", "list", "Port", row_ref(port)]


def ports_settings_cmd(ports: Sequence[str]) -> Command:
    """One ``list`` of several Port rows, with their names to tell the rows apart."""
    return ["--columns=name,tag,trunks,vlan_mode,other_config", "list", "Port", *map(row_ref, ports)]


def find_uuid_cmd(table: str, name: str) -> Command:
    """The ``_uuid`` of the row of ``table`` named exactly ``name`` (``find`` compares the
    column's value: no UUID-prefix reading, and an empty table when there is none)."""
    if table not in ROW_TABLES:
        raise InvalidValue(what="OVS table", value=table, reason=f"expected one of {ROW_TABLES}")
    return ["--columns=_uuid,name", "find", table, f"name={quote(ovs_name(name))}"]


def set_port_vlan_cmds(port: str, tag: int | None, trunks: Sequence[int],
                       vlan_mode: str | None) -> list[Command]:
    """Set the three VLAN columns of a Port at once; None/empty clears a column."""
    port = row_ref(port)
    sets, clears = _vlan_columns(tag, trunks, vlan_mode)
    commands = []
    if sets:
        commands.append(["set", "Port", port, *sets])
    if clears:
        commands.append(["clear", "Port", port, *clears])
    return commands


def _vlan_columns(tag: int | None, trunks: Sequence[int],
                  vlan_mode: str | None) -> tuple[list[str], list[str]]:
    if tag is not None:
        validate_vlan_id(tag)
    for vid in trunks:
        validate_vlan_id(vid)
    if vlan_mode is not None and vlan_mode not in VLAN_MODES:
        raise InvalidValue(what="OVS vlan_mode", value=vlan_mode, reason=f"expected one of {VLAN_MODES}")
    sets, clears = [], []
    if tag is None:
        clears.append("tag")
    else:
        sets.append(f"tag={tag}")
    if trunks:
        sets.append("trunks=[" + ",".join(str(v) for v in sorted(set(trunks))) + "]")
    else:
        clears.append("trunks")
    if vlan_mode is None:
        clears.append("vlan_mode")
    else:
        sets.append(f"vlan_mode={vlan_mode}")
    return sets, clears


def check_column_key(table: str, record: str, column: str, key: str, value: str | None) -> None:
    """What ``set_column_key_cmd`` checks, ``record`` being the row's name (before it is
    resolved to a UUID, where needed)."""
    if table not in ROW_TABLES:
        raise InvalidValue(what="OVS table", value=table, reason=f"expected one of {ROW_TABLES}")
    ovs_name(record, f"OVS {table} name")
    if not re.fullmatch(_COLUMN, column):
        raise InvalidValue(what="OVS column", value=column, reason="expected lower-case letters, digits, _")
    if not key:
        raise InvalidValue(what="OVS key", value=key, reason="empty")
    quote(key)
    if value is not None:
        quote(value)


def set_column_key_cmd(table: str, record: str, column: str, key: str, value: str | None) -> Command:
    """``set T R column:"key"="value"``, or ``remove T R column "key"`` when value is None.

    ``record`` is a row name ovs-vsctl cannot read as a UUID, or the row's full UUID."""
    record = row_ref(record, f"OVS {table} name")
    check_column_key(table, "row" if full_uuid(record) else record, column, key, value)
    if value is None:
        return ["remove", table, record, column, quote(key)]
    return ["set", table, record, f"{column}:{quote(key)}={quote(value)}"]


def change_cmds(change: OvsVlanChange | OvsKeyChange) -> list[Command]:
    """The commands of one change of a ``transact`` call."""
    if isinstance(change, OvsVlanChange):
        return set_port_vlan_cmds(change.port, change.tag, change.trunks, change.vlan_mode)
    return [set_column_key_cmd(change.table, change.record, change.column, change.key, change.value)]


def check_change(change: OvsVlanChange | OvsKeyChange) -> None:
    """What ``change_cmds`` checks, on a change that still names its row (see ``addressed``)."""
    if isinstance(change, OvsVlanChange):
        ovs_name(change.port)
        _vlan_columns(change.tag, change.trunks, change.vlan_mode)
    else:
        check_column_key(change.table, change.record, change.column, change.key, change.value)


def row_of(change: OvsVlanChange | OvsKeyChange) -> tuple[str, str]:
    """(table, name) of the row a change writes."""
    if isinstance(change, OvsVlanChange):
        return "Port", change.port
    return change.table, change.record


def addressed(change: OvsVlanChange | OvsKeyChange,
              uuids: dict[tuple[str, str], str]) -> OvsVlanChange | OvsKeyChange:
    """The change with its row named by UUID, where ``uuids`` has one for it."""
    uuid = uuids.get(row_of(change))
    if uuid is None:
        return change
    if isinstance(change, OvsVlanChange):
        return OvsVlanChange(uuid, change.tag, change.trunks, change.vlan_mode)
    return OvsKeyChange(change.table, uuid, change.column, change.key, change.value)


def transact_step(read_ports: Sequence[str], changes: Sequence[OvsVlanChange | OvsKeyChange]) -> str:
    """How errors name a ``transact`` call: what it reads and which records it changes."""
    changed = list(dict.fromkeys(c.port if isinstance(c, OvsVlanChange) else f"{c.table} {c.record}"
                                 for c in changes))
    if not changed:
        return "read OVS ports " + ", ".join(read_ports)
    return "set OVS " + ", ".join(changed)


# ----------------------------------------------------------------- output parsers (pure)

def json_tables(stdout: str) -> list[dict[str, Any]]:
    """Every ``--format=json`` table in the output (one per table-printing command)."""
    decoder, tables, pos = json.JSONDecoder(), [], 0
    text = stdout.strip()
    while pos < len(text):
        table, end = decoder.raw_decode(text, pos)
        tables.append(table)
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tables


def datum(value: Any) -> Any:
    """An OVSDB JSON datum as Python: sets become lists, maps dicts, uuids strings."""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
        kind, payload = value
        if kind == "set":
            return [datum(v) for v in payload]
        if kind == "map":
            return {datum(k): datum(v) for k, v in payload}
        if kind in ("uuid", "named-uuid"):
            return payload
    return value


def as_list(value: Any) -> list[Any]:
    """A set column: a one-element set is printed as the bare value."""
    value = datum(value)
    return value if isinstance(value, list) else [value]


def parse_port_settings(table: dict[str, Any]) -> OvsPortSettings:
    """OvsPortSettings from the table printed by ``port_settings_cmd``."""
    rows = table.get("data") or []
    if len(rows) != 1:
        raise ValueError(f"expected one Port row, got {len(rows)}")
    return _row_settings(dict(zip(table["headings"], rows[0], strict=True)))


def parse_ports_settings(table: dict[str, Any], ports: Sequence[str]) -> dict[str, OvsPortSettings]:
    """{name: OvsPortSettings} from the table printed by ``ports_settings_cmd(ports)``."""
    rows = [dict(zip(table["headings"], row, strict=True)) for row in table.get("data") or []]
    settings = {str(row["name"]): _row_settings(row) for row in rows}
    missing = [p for p in ports if p not in settings]
    if missing:
        raise ValueError(f"no row for {', '.join(missing)}")
    return settings


def _row_settings(row: dict[str, Any]) -> OvsPortSettings:
    tag = as_list(row.get("tag", ["set", []]))
    mode = as_list(row.get("vlan_mode", ["set", []]))
    config = datum(row.get("other_config", ["map", []]))
    return OvsPortSettings(tag=int(tag[0]) if tag else None,
                           trunks=tuple(sorted(int(v) for v in as_list(row.get("trunks", ["set", []])))),
                           vlan_mode=str(mode[0]) if mode else None,
                           other_config={str(k): str(v) for k, v in config.items()})


def record_what(table: str) -> str:
    """How errors name a missing record of ``table``."""
    return {"Port": "OVS port", "Bridge": "OVS bridge", "Interface": "OVS interface"}.get(
        table, f"OVS {table} record")


_NOT_FOUND = (
    (r"no bridge named (\S+)", "OVS bridge"),
    (r"no port named (\S+)", "OVS port"),
    (r'no row "([^"]+)" in table (\w+)', None),
)


def classify_error(step: str, error: HostError, timeout: float) -> HostError:
    """Map ovs-vsctl's failure to NotFound / HostTimeout / HostError with the same step."""
    stderr = str(error.fields.get("stderr", "")) or str(error.fields.get("detail", ""))
    if isinstance(error, HostTimeout) or error.fields.get("returncode") == -signal.SIGALRM:
        return HostTimeout(step=step, seconds=timeout)
    for pattern, what in _NOT_FOUND:
        m = re.search(pattern, stderr)
        if m:
            return NotFound(step=step, what=what or record_what(m[2]), name=m[1])
    return HostError(step=step, detail=error.fields.get("detail", str(error)))


# ----------------------------------------------------------------- the adapter

class OvsAdapter:
    """OvsPort over ``ovs-vsctl``; ``db`` is the ovsdb-server socket path (None = default)."""

    def __init__(self, db: str | None = None, timeout: float = 5.0) -> None:
        self.db = db
        self.timeout = timeout

    def _run(self, step: str, commands: Sequence[Command], format_json: bool = False) -> str:
        argv = vsctl_argv(commands, self.timeout, self.db, format_json)
        try:
            result = proc.run(argv, timeout=self.timeout + WALL_MARGIN)
        except HostError as exc:
            raise classify_error(step, exc, self.timeout) from None
        return result.stdout.decode("utf-8", "replace")

    def bridge_exists(self, bridge: str) -> bool:
        ovs_name(bridge, "OVS bridge name")
        return bridge in self._run(f"list OVS bridges for {bridge}", [list_br_cmd()]).split()

    def port_bridge(self, port: str) -> str | None:
        try:
            out = self._run(f"find bridge of OVS port {port}", [port_to_br_cmd(port)])
        except NotFound as exc:
            if exc.fields.get("what") == "OVS port":
                return None
            raise
        return out.strip() or None

    def port_or_interface(self, name: str) -> str | None:
        step = f"look up OVS port or interface {name}"
        out = self._run(step, find_name_cmds(name), format_json=True)
        try:
            port, iface = json_tables(out)
            found = [what for what, table in (("port", port), ("interface", iface)) if table["data"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise HostError(step=step, detail=f"unexpected ovs-vsctl output: {exc}") from None
        return found[0] if found else None

    def add_port(self, bridge: str, port: str, owner: str | None = None) -> None:
        self._run(f"add OVS port {port} to {bridge}", [add_port_cmd(bridge, port, owner)])

    def port_owner(self, port: str) -> str | None:
        step = f"look up the owner of OVS port {port}"
        out = self._run(step, [port_owner_cmd(port)], format_json=True)
        try:
            (table,) = json_tables(out)
            return parse_port_owner(table)
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise HostError(step=step, detail=f"unexpected ovs-vsctl output: {exc}") from None

    def del_port(self, bridge: str, port: str) -> None:
        self._run(f"delete OVS port {port} from {bridge}", [del_port_cmd(bridge, port)])

    def _uuids(self, step: str, rows: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """{(table, name): full UUID} of the rows named like UUIDs (``uuid_like``), found by
        exact name in one read-only run; none such (the usual case: vnetN, tapN): no run.

        A row that is gone or re-created between this read and the write is not mistaken
        for another: a UUID names one row for good, and a missing one fails the write.
        """
        wanted = list(dict.fromkeys(row for row in rows if uuid_like(row[1])))
        if not wanted:
            return {}
        out = self._run(step, [find_uuid_cmd(table, name) for table, name in wanted], format_json=True)
        try:
            tables = json_tables(out)
            found: dict[tuple[str, str], str] = {}
            for (table, name), printed in zip(wanted, tables, strict=True):
                heads = printed["headings"]
                found_rows = [dict(zip(heads, r, strict=True)) for r in printed.get("data") or []]
                uuids = [str(datum(r["_uuid"])) for r in found_rows if r.get("name") == name]
                if len(uuids) > 1:
                    raise ValueError(f"{len(uuids)} {table} rows named {name}")
                if uuids:
                    found[(table, name)] = uuids[0]
        except (ValueError, KeyError, TypeError) as exc:
            raise HostError(step=step, detail=f"unexpected ovs-vsctl output: {exc}") from None
        for table, name in wanted:
            if (table, name) not in found or not full_uuid(found[(table, name)]):
                raise NotFound(step=step, what=record_what(table), name=name)
        return found

    def port_settings(self, port: str) -> OvsPortSettings:
        step = f"read OVS port {port}"
        ref = self._uuids(step, [("Port", port)]).get(("Port", port), port)
        out = self._run(step, [port_settings_cmd(ref)], format_json=True)
        try:
            (table,) = json_tables(out)
            return parse_port_settings(table)
        except (ValueError, KeyError, TypeError) as exc:
            raise HostError(step=step, detail=f"unexpected ovs-vsctl output: {exc}") from None

    def set_port_vlan(self, port: str, tag: int | None, trunks: Sequence[int],
                      vlan_mode: str | None) -> None:
        step = f"set VLAN of OVS port {port}"
        ref = self._uuids(step, [("Port", port)]).get(("Port", port), port)
        self._run(step, set_port_vlan_cmds(ref, tag, trunks, vlan_mode))

    def set_column_key(self, table: str, record: str, column: str, key: str,
                       value: str | None) -> None:
        step = f"set {table} {record} {column}:{key}"
        check_column_key(table, record, column, key, value)
        ref = self._uuids(step, [(table, record)]).get((table, record), record)
        self._run(step, [set_column_key_cmd(table, ref, column, key, value)])

    def transact(self, read_ports: Sequence[str],
                 changes: Sequence[OvsVlanChange | OvsKeyChange]) -> dict[str, OvsPortSettings]:
        # ovs-vsctl runs the commands in order in one transaction and prints the ``list``
        # output only once the transaction is committed: the rows as they were before it.
        # Rows whose names ovs-vsctl could read as UUID prefixes are addressed by their UUID,
        # found by exact name first (one more read-only run, only for such names).
        ports = list(dict.fromkeys(read_ports))
        for change in changes:
            check_change(change)
        step = transact_step(ports, changes)
        uuids = self._uuids(step, [("Port", p) for p in ports] + [row_of(c) for c in changes])
        commands = [ports_settings_cmd([uuids.get(("Port", p), p) for p in ports])] if ports else []
        for change in changes:
            commands += change_cmds(addressed(change, uuids))
        if not commands:
            return {}
        out = self._run(step, commands, format_json=bool(ports))
        if not ports:
            return {}
        try:
            (table,) = json_tables(out)
            return parse_ports_settings(table, ports)
        except (ValueError, KeyError, TypeError) as exc:
            raise HostError(step=step, detail=f"unexpected ovs-vsctl output: {exc}") from None
