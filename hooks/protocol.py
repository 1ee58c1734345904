"""libvirt's hook protocol as data: which operations exist and what libvirt does with the result.

Kept free of heavy imports: the hook entry point consults this table before it reads stdin, so
an operation that can never need work costs only the interpreter's start-up.
"""

from __future__ import annotations

DRIVERS = ("qemu", "network")

# Names made only of these characters (and not starting with a dot) key a state file
# unchanged; others are encoded. The installed shell wrapper tests for a record with the same
# set (``hooks.wrapper`` writes its pattern from this string): if they drifted, the wrapper
# would skip a call that holds a record and its clean-up would never run.
PLAIN_NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-"
_PLAIN = frozenset(PLAIN_NAME_CHARS)


def is_plain_name(name: str) -> bool:
    """Is ``name`` used as a file name unchanged (see ``PLAIN_NAME_CHARS``)?"""
    return bool(name) and not name.startswith(".") and set(name) <= _PLAIN


def plain_name_glob() -> str:
    """The shell pattern of a name that is not plain: ``''|.*|*[!A-Za-z0-9_.+-]*``."""
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    assert PLAIN_NAME_CHARS.startswith(letters), "PLAIN_NAME_CHARS changed: write its glob anew"
    # '-' last in a bracket expression stands for itself; '_', '.' and '+' do anywhere.
    rest = sorted(PLAIN_NAME_CHARS[len(letters):], key=lambda c: c == "-")
    return "''|.*|*[!A-Za-z0-9" + "".join(rest) + "]*"


class Operation:
    """One ``<driver> <object> <operation>`` call and how libvirt treats its outcome.

    ``aborts``: a non-zero exit makes libvirt fail what it was doing (start, migration...).
    ``filters_xml``: stdout is read back as the (rewritten) domain XML; empty means unchanged.
    ``stdin``: ``domain`` (a full ``<domain>``) or ``hookData`` (``<hookData><network/>...``).
    ``failure``: what a non-zero exit leads to, in words, for messages and the README.
    ``fail_exit``: the exit status the hook uses when its own work failed.

    A plain class, not a dataclass: this module is imported on every hook call, and the
    dataclasses module (with inspect, ast and dis behind it) costs more than the whole table.
    """

    __slots__ = ("driver", "name", "aborts", "filters_xml", "stdin", "failure", "fail_exit")

    def __init__(self, driver: str, name: str, aborts: bool, filters_xml: bool, stdin: str,
                 failure: str, fail_exit: int = 1) -> None:
        self.driver, self.name, self.aborts, self.filters_xml = driver, name, aborts, filters_xml
        self.stdin, self.failure, self.fail_exit = stdin, failure, fail_exit

    def __repr__(self) -> str:
        return f"Operation({self.driver!r}, {self.name!r})"


def _qemu(name: str, aborts: bool, failure: str, filters: bool = False, fail_exit: int = 1) -> Operation:
    return Operation("qemu", name, aborts, filters, "domain", failure, fail_exit)


def _net(name: str, aborts: bool, failure: str, stdin: str = "hookData") -> Operation:
    return Operation("network", name, aborts, False, stdin, failure)


# libvirt 9.x to 11.x (src/util/virhook.h). ``reconnect`` is special: a failure there makes
# libvirt kill the running guest, which is out of proportion to a VLAN that could not be
# re-applied; the hook reports the problem on stderr and in syslog but exits 0.
OPERATIONS: dict[tuple[str, str], Operation] = {
    (op.driver, op.name): op
    for op in (
        _qemu("prepare", True, "the domain does not start"),
        _qemu("start", True, "the domain does not start"),
        _qemu("started", True, "the domain is stopped again"),
        _qemu("stopped", False, "only logged"),
        _qemu("release", False, "only logged"),
        _qemu("migrate", True, "the incoming migration is cancelled", filters=True),
        _qemu("restore", True, "the restore is aborted", filters=True),
        _qemu("reconnect", False, "libvirt would kill the running guest: reported, exit 0",
              fail_exit=0),
        _qemu("attach", True, "attaching to the external QEMU process fails"),
        _net("start", True, "the network does not start"),
        _net("started", True, "the network is stopped again"),
        _net("stopped", False, "only logged"),
        _net("port-created", True, "the interface is not plugged (the domain does not start)"),
        _net("port-deleted", False, "only logged"),
        _net("updated", True, "the update call reports an error (the change stays)"),
        # Before libvirt 5.5 ports were announced as plugged/unplugged with the domain's
        # <interface> inside <hookData>; still recognised so an old daemon is served quietly.
        _net("plugged", True, "the interface is not plugged"),
        _net("unplugged", False, "only logged"),
    )
}


def lookup(driver: str, operation: str) -> Operation | None:
    """The operation's description, or None for anything this hook does not know."""
    return OPERATIONS.get((driver, operation))


def driver_from_path(path: str) -> str | None:
    """``/etc/libvirt/hooks/qemu.d/50-virt-netxml`` -> ``qemu`` (None when not a known folder)."""
    parts = path.replace("\\", "/").rstrip("/").split("/")
    folder = parts[-2] if len(parts) >= 2 else ""
    name = folder[:-2] if folder.endswith(".d") else parts[-1]
    return name if name in DRIVERS else None
