"""The hooks' host-local configuration: ``/etc/virt-netxml/hooks.conf``.

libvirt starts hooks with an almost empty environment (LC_ALL, PATH, HOME, USER, LOGNAME), so
settings for real runs live in this file; the ``VIRT_NETXML_*`` variables override it for tests
and manual runs. Format: ``key = value`` lines, ``#`` comments. Keys::

    deadline = 8          # seconds one hook call may take before it rolls back and fails
    log-file = /var/log/virt-netxml.log   # optional: every action also appended here
    state-dir = /run/virt-netxml
    ovs-db = /run/openvswitch/db.sock     # optional: ovsdb-server socket (ovs-vsctl --db)
"""

from __future__ import annotations

import os

# xmltools.errors (and typing behind it) is imported only on the error paths: this module is
# read on every hook call, most of which end without any error or any other import.

DEFAULT_CONFIG_DIR = "/etc/virt-netxml"
CONFIG_FILE = "hooks.conf"
MAPPING_FILE = "migrate-map.conf"
DEFAULT_DEADLINE = 8.0
DEFAULT_STATE_DIR = "/run/virt-netxml"
KEYS = ("deadline", "log-file", "state-dir", "ovs-db")


def config_dir() -> str:
    return os.environ.get("VIRT_NETXML_CONFIG_DIR") or DEFAULT_CONFIG_DIR


def parse_config(text: str, source: str) -> dict[str, str]:
    """``key = value`` lines into a dict; unknown keys and malformed lines are errors."""
    from xmltools.errors import InputError

    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise InputError(source=f"{source}:{number}", detail="expected 'key = value'")
        if key not in KEYS:
            raise InputError(source=f"{source}:{number}",
                             detail=f"unknown key {key!r} (known: {', '.join(KEYS)})")
        values[key] = value
    return values


def load_config(folder: str | None = None) -> dict[str, str]:
    """The configuration file's values, {} when it does not exist."""
    path = os.path.join(folder or config_dir(), CONFIG_FILE)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read(64 * 1024)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        from xmltools.errors import InputError

        raise InputError(source=path, detail=exc.strerror or str(exc)) from None
    return parse_config(text, path)


def deadline_seconds(config: dict[str, str]) -> float:
    """VIRT_NETXML_DEADLINE, else the file's ``deadline``, else the default; must be > 0."""
    raw = os.environ.get("VIRT_NETXML_DEADLINE") or config.get("deadline")
    if not raw:
        return DEFAULT_DEADLINE
    from xmltools.errors import InvalidValue

    try:
        value = float(raw)
    except ValueError:
        raise InvalidValue(what="deadline", value=raw, reason="not a number of seconds") from None
    if not 0 < value <= 3600:
        raise InvalidValue(what="deadline", value=raw, reason="must be more than 0 and at most 3600 seconds")
    return value


def state_dir(config: dict[str, str] | None = None) -> str:
    """Environment first (tests, manual runs), then the configuration file, then the default."""
    return os.environ.get("VIRT_NETXML_STATE_DIR") or (config or {}).get("state-dir") or DEFAULT_STATE_DIR


def unsafe_reason(path: str) -> str | None:
    """Why others could change ``path`` (writable by group/others, or owned by another user),
    or None when it is private or does not exist. Root runs the hooks: a file another user can
    write decides what root does to the host."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return stat_reason(st)


def stat_reason(st: os.stat_result) -> str | None:
    """``unsafe_reason`` for an already opened file's ``fstat``."""
    if st.st_uid not in (0, os.geteuid()):
        return f"owned by uid {st.st_uid}, not by root"
    writable = [who for who, bit in (("group", 0o020), ("world", 0o002)) if st.st_mode & bit]
    if writable:
        return f"{'- and '.join(writable)}-writable (mode {st.st_mode & 0o7777:04o})"
    return None


def check_private(path: str, what: str) -> None:
    """Raise InsecurePath naming ``path`` and the reason when others could change it."""
    reason = unsafe_reason(path)
    if reason is not None:
        from hooks.errors import InsecurePath

        raise InsecurePath(what=what, path=path, reason=reason)


def check_config_paths(config: dict[str, str] | None = None) -> None:
    """The configuration folder and file, the mapping file and the state folder: all private."""
    folder = config_dir()
    check_private(folder, "configuration directory")
    check_private(os.path.join(folder, CONFIG_FILE), "configuration file")
    check_private(mapping_path(), "mapping file")
    check_private(state_dir(config), "state directory")


def mapping_path() -> str:
    return os.path.join(config_dir(), MAPPING_FILE)


def ovs_db(config: dict[str, str]) -> str | None:
    """The ovsdb-server socket to use, if not ovs-vsctl's default."""
    return os.environ.get("VIRT_NETXML_OVS_DB") or config.get("ovs-db") or None
