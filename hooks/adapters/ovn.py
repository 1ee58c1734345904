"""The OVN northbound database through ``ovn-nbctl``: where it is, argv built by pure functions,
one transaction per call.

Where the NB is comes from ``/etc/virt-netxml/ovn.conf`` (read with the trust rules of the
other configuration files), never from OVN_NB_DB: libvirt starts hooks with an almost empty
environment. Format: ``key = value`` lines, ``#`` comments::

    nb = tcp:192.0.2.10:6641              # or ssl:HOST:PORT, unix:/PATH; a clustered NB is a
                                          # comma-separated list of remotes
    ssl-key = /etc/virt-netxml/ovn/key.pem     # the three, absolute paths, when a remote is ssl:
    ssl-cert = /etc/virt-netxml/ovn/cert.pem
    ssl-ca = /etc/virt-netxml/ovn/cacert.pem

Logical switch ports are named by the UUID libvirt carries as the port's ``interfaceid`` (libvirt
requires a UUID there; ovn-controller binds the OVS interface whose ``iface-id`` is that name).
ovn-nbctl looks a record argument up as a row UUID before it looks it up by name (and generic
commands take UUID prefixes too): a port named like another port's row UUID would address that
row. So a call first reads the port by exact name (``find name=…``, one read-only run), then
writes it in one transaction addressed by its own row UUID, or creates it.

Nothing here is imported on the hooks' start path: the OVN actions (``hooks.actions.ovn``) import
it when they run, through ``Context.ovn``.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
from collections.abc import Sequence

from hooks.adapters import proc
from hooks.adapters.ovs import datum, json_tables, quote, uuid_like, vsctl_argv
from hooks.errors import ForeignDevice, HostError, HostTimeout, NotFound
from xmltools.errors import InputError, InvalidValue

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

OVN_CONF = "ovn.conf"
CONF_KEYS = ("nb", "ssl-key", "ssl-cert", "ssl-ca")
CONF_LIMIT = 64 * 1024
WALL_MARGIN = 2.0     # seconds beyond --timeout before proc.run kills ovn-nbctl
DEFAULT_TIMEOUT = 5.0
# external_ids keys on the ports and DHCP options the hooks write.
DOMAIN_KEY = "virt-netxml-domain"
INTERFACE_KEY = "virt-netxml-interface"
SWITCH_KEY = "virt-netxml-switch"
LEASE_TIME = 3600
ACTIVATION = "rarp"   # options:activation-strategy of a port requested on two chassis

Command = list[str]


class OvnConfig:
    """Where the NB is: ``nb`` (remotes, comma-separated) and the SSL files, if any."""

    __slots__ = ("nb", "ssl_key", "ssl_cert", "ssl_ca", "source")

    def __init__(self, nb: str, ssl_key: str | None = None, ssl_cert: str | None = None,
                 ssl_ca: str | None = None, source: str = OVN_CONF) -> None:
        self.nb, self.ssl_key, self.ssl_cert, self.ssl_ca = nb, ssl_key, ssl_cert, ssl_ca
        self.source = source

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OvnConfig) and all(
            getattr(self, k) == getattr(other, k) for k in ("nb", "ssl_key", "ssl_cert", "ssl_ca"))

    def __repr__(self) -> str:
        return f"OvnConfig(nb={self.nb!r})"

    def ssl(self) -> bool:
        return any(r.startswith("ssl:") for r in self.nb.split(","))


# ----------------------------------------------------------------- ovn.conf (pure parsing)

_HOST = r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*)"


def remote_problem(remote: str) -> str | None:
    """Why ``remote`` is not an NB remote ovn-nbctl connects to (tcp:/ssl:HOST:PORT, unix:/PATH)."""
    if remote.startswith("unix:"):
        path = remote[5:]
        if not path.startswith("/"):
            return "a unix: remote needs an absolute path"
        if any(c.isspace() or c == "," or ord(c) < 0x20 for c in path):
            return "the socket path has spaces, commas or control characters"
        return None
    m = re.fullmatch(rf"(tcp|ssl):{_HOST}:([0-9]{{1,5}})", remote)
    if m is None:
        return "expected tcp:HOST:PORT, ssl:HOST:PORT or unix:/PATH"
    if not 0 < int(m[3]) < 65536:
        return "port out of range"
    return None


def parse_ovn_config(text: str, source: str) -> OvnConfig:
    """``key = value`` lines into an OvnConfig; unknown, repeated, missing keys are errors."""
    from hooks.config import key_values

    values: dict[str, str] = {}
    for where, key, value in key_values(text, source, CONF_KEYS, need_value=True):
        if key in values:
            raise InputError(source=where, detail=f"{key!r} is set twice")
        if key == "nb":
            for remote in value.split(","):
                problem = remote_problem(remote.strip())
                if problem is not None:
                    raise InputError(source=where, detail=f"nb remote {remote.strip()!r}: {problem}")
            value = ",".join(r.strip() for r in value.split(","))
        elif not value.startswith("/") or any(ord(c) < 0x20 for c in value):
            raise InputError(source=where, detail=f"{key} must be an absolute path")
        values[key] = value
    if "nb" not in values:
        raise InputError(source=source, detail="no 'nb = …' line: where is the OVN northbound database?")
    config = OvnConfig(values["nb"], values.get("ssl-key"), values.get("ssl-cert"), values.get("ssl-ca"),
                       source)
    missing = [k for k in ("ssl-key", "ssl-cert", "ssl-ca") if k not in values]
    if config.ssl() and missing:
        raise InputError(source=source, detail=f"an ssl: remote needs {', '.join(missing)}")
    return config


def ovn_config_path(folder: str | None = None) -> str:
    from hooks.config import config_dir

    return os.path.join(folder or config_dir(), OVN_CONF)


def load_ovn_config(folder: str | None = None) -> OvnConfig | None:
    """The parsed ``ovn.conf``, None when there is none; refused when others could change it
    (a link, not a regular file, not root's, writable by others: ``hooks.config.read_trusted``)."""
    from hooks.config import read_trusted

    path = ovn_config_path(folder)
    text = read_trusted(path, "OVN configuration file", CONF_LIMIT, folder_what="configuration directory")
    if text is None:
        return None
    config = parse_ovn_config(text, path)
    check_ssl_files(config)
    return config


def check_ssl_files(config: OvnConfig) -> None:
    """The SSL files ovn-nbctl will read as root pass the same trust rules: a key, certificate
    or CA file others could rewrite would let them choose whom the hooks trust as the NB."""
    from hooks.config import open_trusted

    for key, path in (("ssl-key", config.ssl_key), ("ssl-cert", config.ssl_cert), ("ssl-ca", config.ssl_ca)):
        if path is None:
            continue
        fd = open_trusted(path, f"OVN {key} file")
        if fd is None:
            raise InputError(source=f"OVN {key} file {path}", detail="does not exist")
        os.close(fd)


# ----------------------------------------------------------------- argv builders (pure)

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def port_name(name: str) -> str:
    """A logical switch port name: the interface's UUID (libvirt's interfaceid), lower case."""
    if not isinstance(name, str) or re.fullmatch(_UUID, name.lower()) is None:
        raise InvalidValue(what="OVN port name", value=name, reason="expected a UUID (the interfaceid)")
    return name.lower()


def switch_name(name: str) -> str:
    """A logical switch name ovn-nbctl can only read as a name: 1–63 letters, digits, '_.:-',
    not starting with '-', and not made of UUID characters only (those it tries as a UUID)."""
    if not isinstance(name, str) or re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,62}", name) is None:
        raise InvalidValue(what="OVN switch name", value=name,
                           reason="expected 1-63 letters, digits, '_', '.', ':' or '-', "
                                  "not starting with '-'")
    if uuid_like(name):
        raise InvalidValue(what="OVN switch name", value=name,
                           reason="ovn-nbctl could read it as a UUID: add a letter outside a-f")
    return name


def chassis_name(name: str) -> str:
    """An OVS system-id as OVN uses it for a chassis name."""
    if not isinstance(name, str) or re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}", name) is None:
        raise InvalidValue(what="OVN chassis name", value=name, reason="expected letters, digits, '_.:-'")
    return name


def mac_address(mac: str) -> str:
    if not isinstance(mac, str) or re.fullmatch(r"([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}", mac) is None:
        raise InvalidValue(what="MAC address", value=mac, reason="expected six colon-separated hex octets")
    if int(mac[:2], 16) & 1:
        raise InvalidValue(what="MAC address", value=mac, reason="a multicast address")
    return mac.lower()


def chassis_list(chassis: str | Sequence[str]) -> list[str]:
    """One chassis name, or the (at most two, during a migration) a port is requested on."""
    names = [chassis] if isinstance(chassis, str) else list(chassis)
    if not 1 <= len(names) <= 2 or len(set(names)) != len(names):
        raise InvalidValue(what="OVN requested-chassis", value=",".join(map(str, names)),
                           reason="expected one chassis, or two different ones during a migration")
    return [chassis_name(n) for n in names]


def port_addresses(mac: str, address: str | None) -> str:
    """The LSP ``addresses`` entry: ``MAC IP`` for a static address, ``MAC dynamic`` for OVN's IPAM."""
    mac = mac_address(mac)
    if address is None:
        return f"{mac} dynamic"
    import ipaddress

    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise InvalidValue(what="IP address", value=address, reason="not an IPv4 or IPv6 address") from None
    return f"{mac} {ip}"


def nbctl_argv(config: OvnConfig, commands: Sequence[Command], timeout: float,
               format_json: bool = False) -> list[str]:
    """``ovn-nbctl --db=NB --timeout=N [SSL files] [--format=json] -- CMD1 -- CMD2 ...``."""
    argv = ["ovn-nbctl", f"--db={config.nb}", f"--timeout={max(1, math.ceil(timeout))}"]
    if config.ssl_key:
        argv.append(f"--private-key={config.ssl_key}")
    if config.ssl_cert:
        argv.append(f"--certificate={config.ssl_cert}")
    if config.ssl_ca:
        argv.append(f"--ca-cert={config.ssl_ca}")
    if format_json:
        argv.append("--format=json")
    for command in commands:
        argv += ["--", *command]
    return argv


def server_mac(network: Any) -> str:
    """The DHCP server's MAC for a subnet: locally administered, derived from the network address
    (the same on every host, so re-running on another host writes the same options)."""
    octets = network.network_address.packed[-4:]
    return "0a:00:" + ":".join(f"{b:02x}" for b in octets)


def create_switch_cmds(switch: str, subnet: str | None = None, dhcp: bool = False) -> list[Command]:
    """A new logical switch (fails if it exists) with OVN's IPAM subnet and, with ``dhcp``, a
    DHCPv4 options row (the subnet's first host as server and router) tagged with the switch."""
    switch = switch_name(switch)
    cmds: list[Command] = [["ls-add", switch]]
    if subnet is None:
        if dhcp:
            raise InvalidValue(what="OVN DHCP", value=switch, reason="DHCP needs a subnet")
        return cmds
    import ipaddress

    try:
        network = ipaddress.ip_network(subnet, strict=True)
    except ValueError as exc:
        raise InvalidValue(what="OVN subnet", value=subnet, reason=str(exc)) from None
    if network.version != 4 or network.num_addresses < 4:
        raise InvalidValue(what="OVN subnet", value=subnet, reason="expected an IPv4 subnet of /30 or larger")
    gateway = str(next(network.hosts()))
    cmds.append(["set", "Logical_Switch", switch, f"other_config:subnet={quote(str(network))}",
                 f"other_config:exclude_ips={quote(gateway)}"])
    if dhcp:
        options = (f'options={{lease_time="{LEASE_TIME}", router="{gateway}", server_id="{gateway}", '
                   f'server_mac="{server_mac(network)}"}}')
        cmds.append(["create", "DHCP_Options", f"cidr={quote(str(network))}", options,
                     f"external_ids:{SWITCH_KEY}={quote(switch)}"])
    return cmds


def find_port_cmds(name: str) -> list[Command]:
    """The port named exactly ``name`` (``find``: by exact value), and the name of the row
    ovn-nbctl's own lookup picks for ``name`` (a port whose row UUID is ``name`` comes first)."""
    name = port_name(name)
    return [["--columns=_uuid,name,options,external_ids,addresses,dhcpv4_options,port_security", "find",
             "Logical_Switch_Port",
             f"name={quote(name)}"],
            ["--if-exists", "get", "Logical_Switch_Port", name, "name"]]


def port_settings(lsp_ref: str, addresses: str, chassis: str | Sequence[str], domain: str, interface: str,
                  dhcp_options: str | None, port_security: bool = False) -> list[Command]:
    """Addresses, requested-chassis (two during a migration: then OVN activates the port on the
    second chassis when the guest there sends a RARP), the domain and interface it serves, and
    with ``port_security`` the MAC (and static address) the port may send from."""
    names = chassis_list(chassis)
    settings = [f"options:requested-chassis={quote(','.join(names))}"]
    if len(names) > 1:
        settings.append(f"options:activation-strategy={quote(ACTIVATION)}")
    cmds: list[Command] = [
        ["lsp-set-addresses", lsp_ref, addresses],
        ["set", "Logical_Switch_Port", lsp_ref, *settings,
         f"external_ids:{DOMAIN_KEY}={quote(domain)}", f"external_ids:{INTERFACE_KEY}={quote(interface)}"],
    ]
    if dhcp_options is not None:
        if re.fullmatch(_UUID, dhcp_options) is None:
            raise InvalidValue(what="DHCP_Options row", value=dhcp_options, reason="expected a UUID")
        cmds.append(["set", "Logical_Switch_Port", lsp_ref, f"dhcpv4_options={dhcp_options}"])
    if port_security:
        cmds.append(["lsp-set-port-security", lsp_ref, security_entry(addresses)])
    return cmds


def split_address(addresses: Sequence[str]) -> tuple[str, str | None]:
    """A port's first ``addresses`` entry as (MAC, IP or None for ``dynamic``)."""
    parts = (addresses[0] if addresses else "").split()
    if not parts:
        raise ValueError("the port has no addresses")
    return parts[0], (parts[1] if len(parts) > 1 and parts[1] != "dynamic" else None)


def security_entry(addresses: str) -> str:
    """The ``port_security`` entry for an ``addresses`` entry: the MAC, and the IP when static."""
    return addresses.removesuffix(" dynamic")


def create_port_cmds(switch: str, name: str, mac: str, address: str | None, chassis: str | Sequence[str],
                     domain: str,
                     interface: str, dhcp_options: str | None = None,
                     port_security: bool = False) -> list[Command]:
    """A new LSP ``name`` on ``switch`` (``--may-exist``: a second run of the same call is
    harmless) with its addresses, requested-chassis and the domain/interface it serves."""
    name = port_name(name)
    return [["--may-exist", "lsp-add", switch_name(switch), name],
            *port_settings(name, port_addresses(mac, address), chassis, domain, interface, dhcp_options,
                           port_security)]


def update_port_cmds(row: str, mac: str, address: str | None, chassis: str | Sequence[str], domain: str,
                     interface: str, dhcp_options: str | None = None,
                     port_security: bool = False) -> list[Command]:
    """The same settings on an existing port, addressed by its row UUID."""
    if re.fullmatch(_UUID, row) is None:
        raise InvalidValue(what="OVN port row", value=row, reason="expected a UUID")
    return port_settings(row, port_addresses(mac, address), chassis, domain, interface, dhcp_options,
                         port_security)


def delete_port_cmds(row: str, chassis: str) -> list[Command]:
    """Delete the port by its row UUID in a transaction that holds only while the port is
    requested on ``chassis`` alone: ``wait-until`` makes ovn-nbctl retry (until --timeout)
    rather than commit when the port was moved or a migration added a chassis since the read."""
    if re.fullmatch(_UUID, row) is None:
        raise InvalidValue(what="OVN port row", value=row, reason="expected a UUID")
    held = f"options:requested-chassis={quote(chassis_name(chassis))}"
    return [["wait-until", "Logical_Switch_Port", row, held], ["--if-exists", "lsp-del", row]]


def _row_uuid(row: str, what: str = "OVN port row") -> str:
    if not isinstance(row, str) or re.fullmatch(_UUID, row) is None:
        raise InvalidValue(what=what, value=str(row), reason="expected a UUID")
    return row


def set_chassis_cmds(row: str, chassis: Sequence[str], expect: Sequence[str]) -> list[Command]:
    """Request the port on ``chassis`` (a migration's pair, or one chassis) in a transaction that
    holds only while it is still requested on ``expect`` (as the read found it)."""
    row, names, before = _row_uuid(row), chassis_list(chassis), chassis_list(expect)
    cmds: list[Command] = [
        ["wait-until", "Logical_Switch_Port", row, f"options:requested-chassis={quote(','.join(before))}"],
        ["set", "Logical_Switch_Port", row, f"options:requested-chassis={quote(','.join(names))}"]]
    if len(names) > 1:
        cmds[1].append(f"options:activation-strategy={quote(ACTIVATION)}")
    else:
        cmds.append(["remove", "Logical_Switch_Port", row, "options", "activation-strategy"])
    return cmds


def restore_port_cmds(row: str, addresses: Sequence[str], options: dict[str, str | None],
                      external_ids: dict[str, str | None], dhcp_options: str | None,
                      port_security: Sequence[str] = ()) -> list[Command]:
    """Put a port's addresses and port security, the given keys of its options and external_ids
    (None: absent) and its DHCP options back as a read found them."""
    row = _row_uuid(row)
    cmds: list[Command] = [["lsp-set-addresses", row, *addresses],
                           ["lsp-set-port-security", row, *port_security]]
    for column, values in (("options", options), ("external_ids", external_ids)):
        for key, value in sorted(values.items()):
            if re.fullmatch(r"[A-Za-z0-9_.:-]+", key) is None:
                raise InvalidValue(what=f"OVN port {column} key", value=key, reason="unexpected characters")
            if value is None:
                cmds.append(["remove", "Logical_Switch_Port", row, column, key])
            else:
                cmds.append(["set", "Logical_Switch_Port", row, f"{column}:{key}={quote(value)}"])
    if dhcp_options is None:
        cmds.append(["clear", "Logical_Switch_Port", row, "dhcpv4_options"])
    else:
        cmds.append(["set", "Logical_Switch_Port", row,
                     f"dhcpv4_options={_row_uuid(dhcp_options, 'DHCP_Options row')}"])
    return cmds


def restore_cmds(row: PortRow, keys: Sequence[str]) -> list[Command]:
    """``restore_port_cmds`` for the ``keys`` (``options:KEY``, ``external_ids:KEY``) of a read row."""
    split = [k.split(":", 1) for k in keys]
    options = {k: row.options.get(k) for column, k in split if column == "options"}
    ids = {k: row.external_ids.get(k) for column, k in split if column == "external_ids"}
    return restore_port_cmds(row.uuid, row.addresses, options, ids, row.dhcp_options, row.port_security)


def delete_switch_cmds(switch: str, dhcp_rows: Sequence[str]) -> list[Command]:
    """Delete a switch the hooks created, and the DHCP options row they made for it."""
    return [["--if-exists", "ls-del", switch_name(switch)],
            *(["--if-exists", "destroy", "DHCP_Options", _row_uuid(r, "DHCP_Options row")]
              for r in dhcp_rows)]


def switch_of_port_cmd(row: str) -> Command:
    return ["--columns=name", "find", "Logical_Switch", f"ports{{>=}}{row}"]


def dhcp_options_cmd(switch: str) -> Command:
    condition = f"external_ids:{SWITCH_KEY}={quote(switch_name(switch))}"
    return ["--columns=_uuid", "find", "DHCP_Options", condition]


def probe_cmd() -> Command:
    return ["--columns=_uuid", "list", "NB_Global"]


def system_id_cmd() -> list[str]:
    return ["get", "Open_vSwitch", ".", "external_ids:system-id"]


# ----------------------------------------------------------------- output parsers (pure)

def rows(table: dict[str, Any]) -> list[dict[str, Any]]:
    heads = table["headings"]
    return [{h: datum(v) for h, v in zip(heads, row, strict=True)} for row in table.get("data") or []]


def requested_chassis(options: dict[str, Any]) -> list[str]:
    """The chassis a port is requested on (``src,dst`` during a migration)."""
    raw = str(options.get("requested-chassis", ""))
    return [c for c in raw.split(",") if c]


class PortRow:
    """What a call reads about one port before it writes."""

    __slots__ = ("uuid", "switch", "chassis", "external_ids", "options", "addresses", "dhcp_options",
                 "port_security")

    def __init__(self, uuid: str, switch: str | None, chassis: list[str],
                 external_ids: dict[str, str], options: dict[str, str] | None = None,
                 addresses: list[str] | None = None, dhcp_options: str | None = None,
                 port_security: list[str] | None = None) -> None:
        self.uuid, self.switch, self.chassis, self.external_ids = uuid, switch, chassis, external_ids
        self.options = options or {}
        self.addresses = addresses or []
        self.dhcp_options = dhcp_options
        self.port_security = port_security or []


def _port_row(row: dict[str, Any], switch: str | None) -> PortRow:
    """A ``find`` row of Logical_Switch_Port (columns of ``find_port_cmds``) as a PortRow."""
    options = {str(k): str(v) for k, v in (row.get("options") or {}).items()}
    addresses, security = (row.get(k) for k in ("addresses", "port_security"))
    addresses = addresses if isinstance(addresses, list) else [addresses] if addresses else []
    security = security if isinstance(security, list) else [security] if security else []
    dhcp = row.get("dhcpv4_options")
    dhcp = (dhcp[0] if dhcp else None) if isinstance(dhcp, list) else dhcp
    return PortRow(str(row["_uuid"]), switch, requested_chassis(options),
                   {str(k): str(v) for k, v in (row.get("external_ids") or {}).items()},
                   options, [str(a) for a in addresses], str(dhcp) if dhcp else None,
                   [str(a) for a in security])


def held_elsewhere(name: str, row: PortRow, chassis: str) -> ForeignDevice | None:
    """Why port ``name`` (as ``row`` read it) is not this ``chassis``'s to delete: requested on
    another chassis, on two (a migration) or on none; None when this chassis alone holds it."""
    if row.chassis == [chassis_name(chassis)]:
        return None
    held = ",".join(row.chassis) or "no chassis"
    return ForeignDevice(step=f"delete OVN port {name}", what="OVN port", name=name,
                         reason=f"is requested on {held}, not on this chassis ({chassis}) alone")


class Handover:
    """One port of a ``hand_over`` transaction: its row as read, and the chassis it is to be
    requested on from now on (empty: the port is deleted)."""

    __slots__ = ("row", "name", "keep")

    def __init__(self, row: PortRow, name: str, keep: Sequence[str]) -> None:
        self.row, self.name, self.keep = row, name, list(keep)


def _ports_step(verb: str, names: Sequence[str]) -> str:
    return f"{verb} OVN port{'s' if len(names) > 1 else ''} {', '.join(names)}"


class PortWrite:
    """One port of a ``write_ports`` transaction: what its read found (None: no port), and the
    settings it is to have."""

    __slots__ = ("existing", "switch", "name", "mac", "address", "chassis", "domain", "interface",
                 "dhcp_options", "port_security")

    def __init__(self, existing: PortRow | None, switch: str, name: str, mac: str, address: str | None,
                 chassis: str | Sequence[str], domain: str, interface: str,
                 dhcp_options: str | None = None, port_security: bool = False) -> None:
        self.existing, self.switch, self.name, self.mac, self.address = existing, switch, name, mac, address
        self.chassis, self.domain, self.interface = chassis, domain, interface
        self.dhcp_options, self.port_security = dhcp_options, port_security


def classify_error(step: str, error: HostError, timeout: float, nb: str) -> HostError:
    """ovn-nbctl's failure as one line naming the NB when it could not be reached."""
    stderr = str(error.fields.get("stderr", "")) or str(error.fields.get("detail", ""))
    if isinstance(error, HostTimeout) or error.fields.get("returncode") == -signal.SIGALRM:
        return HostTimeout(step=f"{step} (OVN northbound database {nb})", seconds=timeout)
    last = [line for line in stderr.splitlines() if line.startswith("ovn-nbctl:")]
    detail = last[-1][len("ovn-nbctl:"):].strip() if last else error.fields.get("detail", str(error))
    if "database connection failed" in stderr:
        # ovn-nbctl prints "()" when the connection failed without an errno text (no route).
        detail = str(detail).replace(" ()", "")
        return HostError(step=step, detail=f"OVN northbound database {nb} unreachable: {detail}")
    if "returncode" not in error.fields:
        # The program never ran (posix_spawn failed): name it, the errno text alone says little.
        return HostError(step=step, detail=f"cannot run ovn-nbctl: {error.fields.get('detail', error)}")
    m = re.search(r'no row "([^"]+)" in table (\w+)', stderr)
    if m:
        return NotFound(step=step, what=f"OVN {m[2]} row", name=m[1])
    return HostError(step=step, detail=str(detail))


# ----------------------------------------------------------------- the adapter

class OvnAdapter:
    """The NB at ``config.nb`` through ``ovn-nbctl``; this chassis's OVS at ``ovs_db``."""

    def __init__(self, config: OvnConfig, ovs_db: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.config = config
        self.ovs_db = ovs_db
        self.timeout = timeout

    def _run(self, step: str, commands: Sequence[Command], format_json: bool = False) -> str:
        argv = nbctl_argv(self.config, commands, self.timeout, format_json)
        try:
            result = proc.run(argv, timeout=self.timeout + WALL_MARGIN)
        except HostError as exc:
            raise classify_error(step, exc, self.timeout, self.config.nb) from None
        return result.stdout.decode("utf-8", "replace")

    def _tables(self, step: str, commands: Sequence[Command]) -> list[Any]:
        out = self._run(step, commands, format_json=True)
        try:
            return json_tables(out)
        except ValueError as exc:
            raise HostError(step=step, detail=f"unexpected ovn-nbctl output: {exc}") from None

    def probe(self) -> None:
        """Raise (one line naming the NB) unless the NB answers a read within the timeout."""
        self._run("read the OVN northbound database", [probe_cmd()])

    def system_id(self) -> str:
        """This chassis's name: ``external_ids:system-id`` of the local Open_vSwitch row."""
        step = "read this host's OVS system-id"
        argv = vsctl_argv([system_id_cmd()], self.timeout, self.ovs_db)
        try:
            out = proc.run(argv, timeout=self.timeout + WALL_MARGIN).stdout.decode("utf-8", "replace").strip()
        except HostError as exc:
            if "no key" in str(exc.fields.get("stderr", "")):
                raise NotFound(step=step, what="OVS external_ids key", name="system-id") from None
            raise HostError(step=step, detail=exc.fields.get("detail", str(exc))) from None
        value = json.loads(out) if out.startswith('"') else out
        return chassis_name(value)

    def find_port(self, name: str) -> PortRow | None:
        """The port named exactly ``name`` (and its switch), None when there is none; refused
        when ``name`` is the row UUID of a port with another name."""
        return self.read_ports([name])[0][port_name(name)]

    def read_ports(self, names: Sequence[str], switches: Sequence[str] = (), locate: bool = True
                   ) -> tuple[dict[str, PortRow | None], dict[str, str | None]]:
        """The ports named exactly ``names`` (None: none) and the DHCP options row of each of
        ``switches``, in one read-only run; with ``locate``, a second run finds the switch of
        each port that exists. Refused when a name is the row UUID of a port with another name."""
        names = list(dict.fromkeys(port_name(n) for n in names))
        switches = list(dict.fromkeys(switch_name(s) for s in switches))
        step = f"look up OVN port{'s' if len(names) > 1 else ''} {', '.join(names)}"
        cmds = [c for name in names for c in find_port_cmds(name)] + [dhcp_options_cmd(s) for s in switches]
        values = self._tables(step, cmds)
        found: dict[str, dict[str, Any] | None] = {}
        dhcp: dict[str, str | None] = {}
        try:
            # Per port: the ``find`` table (an object), then, when ovn-nbctl's own lookup picks a
            # row, that row's name (a JSON string); then one table per switch.
            for name in names:
                table = values.pop(0)
                if not isinstance(table, dict):
                    raise ValueError("expected a table")
                picked = values.pop(0) if values and isinstance(values[0], str) else None
                if picked is not None and picked != name:
                    raise ForeignDevice(step=step, what="OVN port", name=name,
                                        reason="is the row UUID of another port")
                matches = rows(table)
                if len(matches) > 1:
                    raise HostError(step=step, detail=f"{len(matches)} ports have this name")
                found[name] = matches[0] if matches else None
            for switch in switches:
                uuids = [str(r["_uuid"]) for r in rows(values.pop(0))]
                dhcp[switch] = uuids[0] if uuids else None
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise HostError(step=step, detail=f"unexpected ovn-nbctl output: {exc}") from None
        existing = [(name, str(row["_uuid"])) for name, row in found.items() if row is not None and locate]
        switch_of: dict[str, str | None] = {}
        if existing:
            tables = self._tables(step, [switch_of_port_cmd(uuid) for _, uuid in existing])
            if len(tables) != len(existing):
                raise HostError(step=step, detail=f"unexpected ovn-nbctl output: {len(tables)} tables "
                                                  f"for {len(existing)} ports")
            for (name, _), table in zip(existing, tables, strict=True):
                owners = [str(r["name"]) for r in rows(table)]
                switch_of[name] = owners[0] if owners else None
        return {name: None if row is None else _port_row(row, switch_of.get(name))
                for name, row in found.items()}, dhcp

    def ensure_switch(self, switch: str, subnet: str | None = None, dhcp: bool = False) -> bool:
        """Create the switch (with subnet and DHCP options) if missing; an existing switch is left
        as it is. True when it was created."""
        cmds = create_switch_cmds(switch, subnet, dhcp)
        try:
            self._run(f"create OVN switch {switch}", cmds)
        except HostError as exc:
            if "a switch with this name already exists" in str(exc):
                return False
            raise
        return True

    def dhcp_options(self, switch: str) -> str | None:
        step = f"look up the DHCP options of OVN switch {switch}"
        (table,) = self._tables(step, [dhcp_options_cmd(switch)])
        found = [str(r["_uuid"]) for r in rows(table)]
        return found[0] if found else None

    def ensure_port(self, switch: str, name: str, mac: str, address: str | None, chassis: str | Sequence[str],
                    domain: str, interface: str, dhcp_options: str | None = None,
                    port_security: bool = False) -> bool:
        """The port ``name`` on ``switch`` with these settings; True when it was created. A port of
        that name on another switch is an error (never moved behind its owner's back)."""
        return self.write_port(self.find_port(name), switch, name, mac, address, chassis, domain,
                               interface, dhcp_options, port_security)

    def write_port(self, existing: PortRow | None, switch: str, name: str, mac: str, address: str | None,
                   chassis: str | Sequence[str], domain: str, interface: str,
                   dhcp_options: str | None = None, port_security: bool = False) -> bool:
        """``ensure_port`` given the read (``find_port``) the caller already made."""
        return self.write_ports([PortWrite(existing, switch, name, mac, address, chassis, domain, interface,
                                           dhcp_options, port_security)])[0]

    def write_ports(self, writes: Sequence[PortWrite]) -> list[bool]:
        """Every port of ``writes`` in one transaction: created when its read found none, else
        updated by its row UUID. Whether each was created. A port that the read found on another
        switch is refused before anything is written."""
        cmds: list[Command] = []
        for w in writes:
            step = f"set OVN port {w.name} on switch {w.switch}"
            if w.existing is None:
                cmds += create_port_cmds(w.switch, w.name, w.mac, w.address, w.chassis, w.domain,
                                         w.interface, w.dhcp_options, w.port_security)
            elif w.existing.switch != w.switch:
                raise ForeignDevice(step=step, what="OVN port", name=w.name,
                                    reason=f"is on switch {w.existing.switch or '(none)'}")
            else:
                cmds += update_port_cmds(w.existing.uuid, w.mac, w.address, w.chassis, w.domain,
                                         w.interface, w.dhcp_options, w.port_security)
        if cmds:
            first = writes[0]
            step = f"set OVN port {first.name} on switch {first.switch}"
            if len(writes) > 1:
                step = f"set OVN ports {', '.join(w.name for w in writes)}"
            self._run(step, cmds)
        return [w.existing is None for w in writes]

    def undo_writes(self, writes: Sequence[PortWrite], chassis: str, keys: Sequence[str]) -> None:
        """Undo ``write_ports`` in one transaction: delete the ports it created (when still
        requested on ``chassis`` alone) and put back the ``keys`` of those it updated, as their
        reads found them. A created port another chassis holds by now is left, and refused."""
        created = [w.name for w in writes if w.existing is None]
        now = self.read_ports(created, locate=False)[0] if created else {}
        cmds: list[Command] = []
        refused: ForeignDevice | None = None
        for w in writes:
            if w.existing is not None:
                cmds += restore_cmds(w.existing, keys)
                continue
            row = now.get(port_name(w.name))
            if row is None:
                continue
            elsewhere = held_elsewhere(w.name, row, chassis)
            if elsewhere is not None:
                refused = refused or elsewhere
                continue
            cmds += delete_port_cmds(row.uuid, chassis)
        if cmds:
            self._run(_ports_step("undo the changes to", [w.name for w in writes]), cmds)
        if refused is not None:
            raise refused

    def delete_port(self, name: str, chassis: str) -> bool:
        """Delete the port when it is requested on ``chassis`` alone; False when there is none.
        A port requested on another chassis, or on two (a migration), is refused."""
        step = f"delete OVN port {name}"
        existing = self.find_port(name)
        if existing is None:
            return False
        elsewhere = held_elsewhere(name, existing, chassis)
        if elsewhere is not None:
            raise elsewhere
        self._run(step, delete_port_cmds(existing.uuid, chassis))
        return True


    def set_port_chassis(self, row: PortRow, name: str, chassis: Sequence[str]) -> None:
        """Request the port (as ``find_port`` read it) on ``chassis``; refused (the transaction
        waits, then times out) when its requested-chassis changed since the read."""
        self._run(f"set the chassis of OVN port {name}", set_chassis_cmds(row.uuid, chassis, row.chassis))

    def hand_over(self, changes: Sequence[Handover], chassis: str) -> None:
        """One transaction: each port requested on its ``keep`` chassis (guarded on the chassis
        its read found), or, with ``keep`` empty, deleted (guarded on ``chassis`` alone). A port
        to delete that the read found requested elsewhere is refused before anything is written."""
        cmds: list[Command] = []
        for change in changes:
            row = change.row
            if change.keep:
                cmds += set_chassis_cmds(row.uuid, change.keep, row.chassis)
                continue
            elsewhere = held_elsewhere(change.name, row, chassis)
            if elsewhere is not None:
                raise elsewhere
            cmds += delete_port_cmds(row.uuid, chassis)
        if cmds:
            self._run(_ports_step("give up", [c.name for c in changes]), cmds)

    def take_back(self, changes: Sequence[Handover]) -> None:
        """Undo ``hand_over`` in one transaction: the chassis put back (guarded on ``keep``), a
        deleted port created again as its read found it."""
        cmds: list[Command] = []
        for change in changes:
            row = change.row
            if change.keep:
                cmds += set_chassis_cmds(row.uuid, row.chassis, change.keep)
                continue
            mac, address = split_address(row.addresses)
            # (only ports tagged with the domain are ever given up: the key is there)
            cmds += create_port_cmds(row.switch or "", change.name, mac, address, row.chassis,
                                     row.external_ids[DOMAIN_KEY],
                                     row.external_ids.get(INTERFACE_KEY, mac), row.dhcp_options,
                                     bool(row.port_security))
        if cmds:
            self._run(_ports_step("take back", [c.name for c in changes]), cmds)

    def restore_port(self, row: PortRow, name: str, keys: Sequence[str]) -> None:
        """Put back what ``row`` (read before a change) held in its addresses, DHCP options and
        the options/external_ids ``keys`` (``options:KEY`` or ``external_ids:KEY``)."""
        self._run(f"restore OVN port {name}", restore_cmds(row, keys))

    def delete_switch(self, switch: str) -> None:
        """Delete ``switch`` and the DHCP options row tagged with it (the undo of its creation)."""
        step = f"delete OVN switch {switch}"
        (table,) = self._tables(step, [dhcp_options_cmd(switch)])
        self._run(step, delete_switch_cmds(switch, [str(r["_uuid"]) for r in rows(table)]))


# ----------------------------------------------------------------- hooks status

def status(folder: str | None = None, ovs_db: str | None = None,
           timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any] | None:
    """What ``hooks status`` says about OVN: None without ``ovn.conf``; else whether it parses,
    the NB it names and whether that answers, and this chassis's system-id."""
    from xmltools.errors import NetXmlError

    path = ovn_config_path(folder)
    info: dict[str, Any] = {"config": path, "parses": False, "nb": None, "reachable": None,
                            "chassis": None, "problems": []}
    try:
        config = load_ovn_config(folder)
    except NetXmlError as exc:
        info["problems"].append(str(exc))
        return info
    if config is None:
        return None
    info.update(parses=True, nb=config.nb)
    adapter = OvnAdapter(config, ovs_db, timeout)
    try:
        adapter.probe()
        info["reachable"] = True
    except NetXmlError as exc:
        info["reachable"] = False
        info["problems"].append(str(exc))
    try:
        info["chassis"] = adapter.system_id()
    except NetXmlError as exc:
        info["problems"].append(str(exc))
    return info


def status_lines(info: dict[str, Any]) -> list[str]:
    """``status`` as the lines ``hooks status`` prints."""
    if not info["parses"]:
        head = f"ovn: {info['config']}: not usable"
    else:
        reach = "reachable" if info["reachable"] else "NOT reachable"
        chassis = f"; this chassis: {info['chassis']}" if info["chassis"] else ""
        head = f"ovn: {info['config']}: northbound database {info['nb']} {reach}{chassis}"
    return [head] + [f"  problem: {p}" for p in info["problems"]]
