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


# What can make a call need work, as the fast path (``hooks.fastpath``) and the installed shell
# wrapper (``hooks.wrapper``, which writes its ``case`` bodies from these) both test it before
# anything heavy is loaded. Each trigger is a tuple; bytes are searched in stdin:
#   (STATE, kind)          a state record of this object exists (or may: an encoded name)
#   (RECORDS, kind, text)  stdin holds ``text`` and there is any record of ``kind``
#   (STATE_TEXT, kind, text)  stdin holds ``text`` and this object has a record of ``kind``
#   (MAPPING,)             the host has a migrate/restore mapping file
#   (ELEMENT, name)        stdin has a ``<name`` (or ``<prefix:name``) tag
#   (TEXT, text)           stdin holds ``text``
#   (LINUX_VLAN,)          some <interface> has a <vlan> and is no Open vSwitch port; the
#                          wrapper starts Python at any <vlan> (its test would be quadratic in sh)
STATE, RECORDS, STATE_TEXT, MAPPING, ELEMENT, TEXT, LINUX_VLAN = (
    "state", "records", "state-text", "mapping", "element", "text", "linux-vlan")
# The project's metadata namespace, as the fast path searches for it.
META = "urn:virt-netxml:hooks:1"


class Operation:
    """One ``<driver> <object> <operation>`` call and how libvirt treats its outcome.

    ``aborts``: a non-zero exit makes libvirt fail what it was doing (start, migration...).
    ``filters_xml``: stdout is read back as the (rewritten) domain XML; empty means unchanged.
    ``stdin``: ``domain`` (a full ``<domain>``) or ``hookData`` (``<hookData><network/>...``).
    ``failure``: what a non-zero exit leads to, in words, for messages and the README.
    ``fail_exit``: the exit status the hook uses when its own work failed.
    ``work``: the triggers (see above) of which any makes the call need work; none: never.
    ``best_effort``: a clean-up call: every action is tried, a failed one undoes nothing.
    ``reads_stdin``: the fast path's decision needs the XML (some trigger searches it).

    A plain class, not a dataclass: this module is imported on every hook call, and the
    dataclasses module (with inspect, ast and dis behind it) costs more than the whole table.
    """

    __slots__ = ("driver", "name", "aborts", "filters_xml", "stdin", "failure", "fail_exit", "work",
                 "best_effort", "reads_stdin")

    def __init__(self, driver: str, name: str, aborts: bool, filters_xml: bool, stdin: str,
                 failure: str, fail_exit: int = 1, work: tuple[tuple[str, ...], ...] = (),
                 best_effort: bool = False) -> None:
        self.driver, self.name, self.aborts, self.filters_xml = driver, name, aborts, filters_xml
        self.stdin, self.failure, self.fail_exit = stdin, failure, fail_exit
        self.work, self.best_effort = work, best_effort
        self.reads_stdin = any(t[0] not in (STATE, MAPPING) for t in work)

    def __repr__(self) -> str:
        return f"Operation({self.driver!r}, {self.name!r})"


def _qemu(name: str, aborts: bool, failure: str, filters: bool = False, fail_exit: int = 1,
          work: tuple[tuple[str, ...], ...] = (), best_effort: bool = False) -> Operation:
    return Operation("qemu", name, aborts, filters, "domain", failure, fail_exit, work, best_effort)


def _net(name: str, aborts: bool, failure: str, work: tuple[tuple[str, ...], ...] = (),
         best_effort: bool = False) -> Operation:
    return Operation("network", name, aborts, False, "hookData", failure, 1, work, best_effort)


_DOMAIN = (STATE, "domains")
# start, reconnect, attach: per-port VLANs and OVS settings on the devices the live XML names.
_PORT_WORK = (_DOMAIN, (TEXT, META), (LINUX_VLAN,))

# libvirt 9.x to 11.x (src/util/virhook.h). ``reconnect`` is special: a failure there makes
# libvirt kill the running guest, which is out of proportion to a VLAN that could not be
# re-applied; the hook reports the problem on stderr and in syslog but exits 0.
OPERATIONS: dict[tuple[str, str], Operation] = {
    (op.driver, op.name): op
    for op in (
        # leftovers of an earlier run are undone; TAPs made, VFs bound, pool VFs reserved, OVN
        # ports of interfaces with their own <vnx:ovn> set
        _qemu("prepare", True, "the domain does not start",
              work=(_DOMAIN, (ELEMENT, "tap"), (ELEMENT, "vf"), (TEXT, "hostdev"), (TEXT, "passthrough"),
                    (RECORDS, "networks", "network="), (ELEMENT, "ovn"))),
        _qemu("start", True, "the domain does not start", work=_PORT_WORK),
        # an OVN port that arrived while another chassis held it (a migration) is settled here;
        # libvirt would stop the guest that just arrived, while OVN already runs its port here
        # (activated by its RARP) and the source's release narrows it anyway: reported, exit 0
        _qemu("started", True, "libvirt would stop the guest that runs here: reported, exit 0",
              fail_exit=0, work=((STATE_TEXT, "domains", "interfaceid"),)),
        _qemu("stopped", False, "only logged", best_effort=True),
        _qemu("release", False, "only logged", work=(_DOMAIN,), best_effort=True),
        _qemu("migrate", True, "the incoming migration is cancelled", filters=True, work=((MAPPING,),)),
        _qemu("restore", True, "the restore is aborted", filters=True, work=((MAPPING,),)),
        _qemu("reconnect", False, "libvirt would kill the running guest: reported, exit 0",
              fail_exit=0, work=_PORT_WORK),
        _qemu("attach", True, "attaching to the external QEMU process fails", work=_PORT_WORK),
        _net("start", True, "the network does not start", work=((TEXT, META), (TEXT, "dev="))),
        # libvirt has built the network's firewall afresh: port forwards of its running guests
        # (recorded in their domains' records) go back in; "nat" as in <forward mode='nat'> (the
        # wrapper's search takes no quotes; a false yes costs a parse, never a lost forward)
        _net("started", True, "the network is stopped again",
             work=((TEXT, META), (RECORDS, "domains", "nat"))),
        _net("stopped", False, "only logged", work=((STATE, "networks"),), best_effort=True),
        # a VF libvirt picked from a pool (a network the hook recorded) is claimed here
        _net("port-created", True, "the interface is not plugged (the domain does not start)",
             work=((TEXT, META), (STATE_TEXT, "networks", "hostdev-pci"))),
        # an OVN network's port is given up (deleted when this chassis alone holds it)
        _net("port-deleted", False, "only logged", work=((ELEMENT, "ovn"),), best_effort=True),
        _net("updated", True, "the update call reports an error (the change stays)"),
        # Before libvirt 5.5 ports were announced as plugged/unplugged with the domain's
        # <interface> inside <hookData>; still recognised so an old daemon is served quietly.
        _net("plugged", True, "the interface is not plugged"),
        _net("unplugged", False, "only logged", best_effort=True),
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
