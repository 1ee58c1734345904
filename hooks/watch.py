"""``virt-netxml hooks watch``: apply the metadata to NICs hot-plugged into running guests.

libvirt runs no hook when a NIC is attached to a running guest (``virsh attach-device``,
``virt-netxml attach``), so without this service its VLAN and OVS settings would wait for the
next ``reconnect``. The watch is a small process (a systemd unit that ``hooks install --watch``
installs) that follows libvirt's domain events through libvirt-python. It is no hook, so it may
call libvirt; it is run by root and trusts what the hooks trust (the same configuration, state
folder and log file checks):

* device-added for an ``<interface>``: read the live domain XML, plan that one interface as the
  ``start``/``reconnect`` hooks would (``hooks.planner.hotplug``), apply it with the hooks'
  executor (undo on failure), under the domain's own lock, and note the interface in the
  domain's state record (``hotplug``: MAC -> device and alias);
* device-removed: the port went with the device (libvirt deletes the TAP, or the OVS port), so
  what is left to release is the interface's port forwards and its record: the note and its
  portgroup VLAN wish;
* on every (re)connection, for every running guest, each interface with work that the record
  does not list is applied: a NIC attached while the watch was away (libvirtd restarting, the
  service stopped) is caught up;
* the connection closing (libvirtd stopped or restarted): reconnect with a growing pause
  (``RETRY_FIRST`` doubling up to ``RETRY_MAX``).

A guest never depends on the watch: it changes nothing when it stops or crashes, and the next
``reconnect`` hook or the watch's next start applies what it missed. Every action is logged like
the hooks' (syslog ident ``virt-netxml``, and the configured log file), plus one line per
interface on stderr (the journal, under systemd).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from hooks.config import check_config_paths, deadline_seconds, load_config, ovs_db, state_dir
from hooks.context import Context, Owner
from hooks.deadline import Deadline
from hooks.executor import Executor
from hooks.log import HookLog
from hooks.planner.facts import LiveFacts
from hooks.planner.hotplug import alias_of, nic_by_alias, pending, plug_actions, unplug_actions, unplugged
from hooks.planner.interfaces import Nic, nics, uuid_of
from hooks.state import StateStore
from hooks.state_records import DomainState
from xmltools.errors import NetXmlError
from xmltools.xmlparse import parse_bytes

RETRY_FIRST = 0.2     # seconds before the first reconnection attempt
RETRY_MAX = 5.0       # the longest pause between attempts
WAKE_MS = 500         # the event loop returns at least this often (signals, the stop flag)
DEFAULT_URI = "qemu:///system"


class WatchFacts(LiveFacts):
    """The hooks' live facts, except what the watch may ask libvirt itself: the version (the
    hook reads it from its parent daemon's memory map) and a network's definition (the hook
    reads libvirt's files), from the daemon it is connected to."""

    def __init__(self, ctx: Context, version: tuple[int, int, int] | None,
                 network_xml: Callable[[str], bytes | None] | None = None) -> None:
        super().__init__(ctx)
        self._libvirt.append(version)
        self._network_xml = network_xml

    def network_definition(self, name: str) -> Any:
        if self._network_xml is None:
            return super().network_definition(name)
        xml = self._network_xml(name)
        return parse_bytes(xml, source=f"network {name}").getroot() if xml else None


class Watcher:
    """What the watch does for one event, given the domain's live XML (no libvirt in here).

    ``ports``: the Context's port overrides (test fakes); ``say``: where the one-line summaries
    go (stderr).
    """

    def __init__(self, store: StateStore, config: dict[str, str], *, ports: dict[str, Any] | None = None,
                 say: Callable[[str], object] | None = None, use_syslog: bool = True,
                 network_xml: Callable[[str], bytes | None] | None = None) -> None:
        self.store = store
        self.network_xml = network_xml   # a network's live definition, from libvirt
        self.config = config
        self.ports = ports or {}
        self.say = say or (lambda line: None)
        self.use_syslog = use_syslog
        self.failures = 0

    def _log(self, name: str, operation: str) -> HookLog:
        log = HookLog(Owner("domain", name), operation, None, use_syslog=self.use_syslog)
        log.attach_file(self.config.get("log-file"), self.say)
        return log

    def plugged(self, name: str, xml: bytes, alias: str,
                version: tuple[int, int, int] | None = None) -> list[str]:
        """Device-added: apply the interface whose alias is ``alias``; returns summary lines."""
        root = parse_bytes(xml, source=f"domain {name} live XML").getroot()
        nic = nic_by_alias(root, alias)
        if nic is None:
            return []   # not an <interface> (a disk, a controller...), or gone again
        return self._apply(name, root, [nic], "hotplug", version)

    def catch_up(self, name: str, xml: bytes, version: tuple[int, int, int] | None = None) -> list[str]:
        """(Re)connected: apply every interface of the running guest the record lacks."""
        root = parse_bytes(xml, source=f"domain {name} live XML").getroot()
        try:
            lines = self._forget_gone(name, root)
        except NetXmlError as exc:
            self.failures += 1
            lines = [f"domain {name}: catch-up: {exc.message}"]
        return lines + self._apply(name, root, None, "catch-up", version)

    def _forget_gone(self, name: str, root: Any) -> list[str]:
        """Interfaces recorded as applied that the live XML no longer has (unplugged while the
        watch was away): their records are released."""
        recorded = DomainState(self.store.read(DomainState.KIND, name)).hotplug
        live = {nic.mac for nic in nics(root)}
        lines = []
        for mac, entry in sorted(recorded.items()):
            if mac not in live:
                alias = entry.get("alias") if isinstance(entry, dict) else None
                lines += self.unplugged(name, str(alias or "-"), mac)
        return lines

    def unplugged(self, name: str, alias: str, mac: str | None = None) -> list[str]:
        """Device-removed: release what was recorded for the interface with that alias (or,
        when given, that MAC)."""
        if not self.store.read(DomainState.KIND, name):
            return []
        log = self._log(name, "unplug")
        deadline = Deadline(deadline_seconds(self.config))
        ctx: Context | None = None
        try:
            with self.store.serialised(DomainState.KIND, name, deadline.remaining()):
                record = self.store.read(DomainState.KIND, name)
                mac = mac or unplugged(record, alias)
                if mac is None:
                    return []
                summary = ""
                actions = unplug_actions(record, mac)
                if actions:
                    ctx = Context(Owner("domain", name, DomainState(record).uuid), self.store, deadline,
                                  ovs_db=ovs_db(self.config), **self.ports)
                    # A clean-up: every step is tried, as at release; what fails stays recorded
                    # for the domain's release or 'hooks repair'.
                    result = Executor(ctx, log).run(actions, best_effort=True)
                    summary = f"; {result.summary()}"
                    if not result.ok:
                        self.failures += 1
                with self.store.edit(DomainState.KIND, name) as data:
                    rec = DomainState(data)
                    rec.part_for_update(rec.HOTPLUG).pop(mac, None)
                    rec.part_for_update(rec.PORT_WISHES).pop(mac, None)
            line = f"domain {name}: interface {mac} ({alias}) unplugged: its record released{summary}"
            log.event(f"iface={mac} unplugged ({alias}): record released{summary}")
            return [line]
        except NetXmlError as exc:
            self.failures += 1
            log.error(f"unplug {alias} failed: {exc.message}")
            return [f"domain {name}: unplug {alias}: {exc.message}"]
        finally:
            log.close()
            if ctx is not None:
                with contextlib.suppress(Exception):
                    ctx.close()

    def _apply(self, name: str, root: Any, only: list[Nic] | None, operation: str,
               version: tuple[int, int, int] | None) -> list[str]:
        uuid = uuid_of(root)
        log = self._log(name, operation)
        lines: list[str] = []
        ctx: Context | None = None
        deadline = Deadline(deadline_seconds(self.config))
        try:
            ctx = Context(Owner("domain", name, uuid), self.store, deadline, ovs_db=ovs_db(self.config),
                          **self.ports)
            # The domain's own lock, as its hooks take it: a reconnect or release running now
            # sees this interface before or after, never half-applied.
            with self.store.serialised(DomainState.KIND, name, deadline.remaining()):
                record = self.store.read(DomainState.KIND, name)
                nics = pending(root, record) if only is None else only
                facts = WatchFacts(ctx, version, self.network_xml)
                for nic in nics:
                    lines += self._one(name, uuid, root, nic, record, facts, ctx, log)
        except NetXmlError as exc:
            self.failures += 1
            log.error(f"refused: {exc.message}")
            lines.append(f"domain {name}: {operation}: {exc.message}")
        finally:
            log.close()
            if ctx is not None:
                with contextlib.suppress(Exception):
                    ctx.close()
        return lines

    def _one(self, name: str, uuid: str | None, root: Any, nic: Nic, record: dict[str, Any],
             facts: WatchFacts, ctx: Context, log: HookLog) -> list[str]:
        label = f"domain {name}: interface {nic.label}"
        try:
            actions = plug_actions(root, facts, record, nic.mac)
        except NetXmlError as exc:
            self.failures += 1
            log.error(f"iface={nic.label} refused: {exc.message}")
            return [f"{label}: {exc.message}"]
        if not actions:
            return []
        # A fresh deadline per interface: one slow port must not starve the next.
        ctx.deadline = Deadline(deadline_seconds(self.config))
        result = Executor(ctx, log).run(actions)
        if not result.ok:
            self.failures += 1
            assert result.error is not None
            message = f"{label}: {result.error.message}; {result.summary()}"
            log.error(f"failed: {message}")
            return [message]
        with self.store.edit(DomainState.KIND, name) as data:
            rec = DomainState(data)
            rec.label(name, uuid)
            rec.part_for_update(rec.HOTPLUG)[nic.mac] = {"dev": nic.dev, "alias": alias_of(nic)}
        log.event(f"iface={nic.label} done: {result.summary()}")
        return [f"{label}: {result.summary()}"]


class Service:
    """The event loop around a ``Watcher``: one libvirt connection, kept open.

    libvirt-python is imported here only; the hooks themselves never import it.
    """

    def __init__(self, uri: str, watcher: Watcher, *, stderr: TextIO | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.uri = uri
        self.watcher = watcher
        self.stderr = stderr or sys.stderr
        self.sleep = sleep
        self.stopping = False
        self.conn: Any = None
        self.version: tuple[int, int, int] | None = None
        self.queue: list[tuple[str, str, str]] = []   # (added|removed, domain, alias)
        self.closed = False
        self.libvirt: Any = None
        self.log = HookLog(Owner("watch", uri), "watch", None, use_syslog=watcher.use_syslog)
        self.log.attach_file(watcher.config.get("log-file"), self.say)

    def say(self, line: str) -> None:
        text = line if line.startswith("virt-netxml") else f"virt-netxml watch: {line}"
        self.stderr.write(text.rstrip("\n") + "\n")
        self.stderr.flush()

    # -- libvirt --------------------------------------------------------------------------

    def _import(self) -> Any:
        try:
            import libvirt
        except ImportError:
            from hooks.errors import HostError

            raise HostError(step="hooks watch", detail="libvirt-python is not installed "
                            "(pip install 'virt-netxml[libvirt]')") from None
        # Without a handler libvirt prints every error on stderr as well as raising it.
        libvirt.registerErrorHandler(lambda context, error: None, None)
        libvirt.virEventRegisterDefaultImpl()   # before the first connection is opened
        libvirt.virEventAddTimeout(WAKE_MS, lambda timer, opaque: None, None)
        return libvirt

    def _on_device(self, kind: str) -> Callable[..., None]:
        def callback(conn: Any, dom: Any, alias: str, opaque: Any) -> None:
            # Only queued here: the work (which calls libvirt again) runs outside the callback.
            self.queue.append((kind, dom.name(), alias))
        return callback

    def _on_close(self, conn: Any, reason: int, opaque: Any) -> None:
        self.closed = True

    def connect(self) -> bool:
        libvirt = self.libvirt
        try:
            conn = libvirt.open(self.uri)
        except libvirt.libvirtError:
            return False
        self.closed = False
        try:
            with contextlib.suppress(libvirt.libvirtError):   # drivers without one (test:///)
                conn.registerCloseCallback(self._on_close, None)
            conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_ADDED,
                                        self._on_device("added"), None)
            conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
                                        self._on_device("removed"), None)
            with contextlib.suppress(libvirt.libvirtError):
                conn.setKeepAlive(5, 3)
            from xmltools.versions import from_number

            self.version = from_number(int(conn.getLibVersion()))
        except libvirt.libvirtError:
            with contextlib.suppress(libvirt.libvirtError):
                conn.close()
            return False
        self.conn = conn
        shown = ".".join(str(p) for p in self.version)
        self.say(f"connected to {self.uri} (libvirt {shown})")
        self.log.event(f"connected to {self.uri} (libvirt {shown})")
        return True

    def disconnect(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.unregisterCloseCallback()
            with contextlib.suppress(Exception):
                conn.close()

    def running(self) -> list[tuple[str, bytes]]:
        """(name, live XML) of every running domain; one that stops meanwhile is skipped."""
        libvirt = self.libvirt
        out = []
        for dom in self.conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
            with contextlib.suppress(libvirt.libvirtError):
                out.append((dom.name(), dom.XMLDesc(0).encode()))
        return out

    def network(self, name: str) -> bytes | None:
        libvirt = self.libvirt
        if self.conn is None:
            return None
        try:
            return str(self.conn.networkLookupByName(name).XMLDesc(0)).encode()
        except libvirt.libvirtError:
            return None

    def live_xml(self, name: str) -> bytes | None:
        libvirt = self.libvirt
        try:
            return str(self.conn.lookupByName(name).XMLDesc(0)).encode()
        except libvirt.libvirtError:
            return None   # stopped (or undefined) since the event

    # -- the loop -------------------------------------------------------------------------

    def report(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.say(line)

    def catch_up(self) -> None:
        try:
            domains = self.running()
        except self.libvirt.libvirtError as exc:
            self.say(f"cannot list the running domains: {exc.get_error_message()}")
            return
        for name, xml in domains:
            try:
                self.report(self.watcher.catch_up(name, xml, self.version))
            except Exception as exc:  # noqa: BLE001 - one domain must not end the service
                self.say(f"domain {name}: catch-up: {getattr(exc, 'message', None) or exc}")

    def handle(self) -> None:
        while self.queue and not self.closed:
            kind, name, alias = self.queue.pop(0)
            try:
                if kind == "removed":
                    self.report(self.watcher.unplugged(name, alias))
                    continue
                xml = self.live_xml(name)
                if xml is not None:
                    self.report(self.watcher.plugged(name, xml, alias, self.version))
            except Exception as exc:  # noqa: BLE001 - one bad event must not end the service
                self.say(f"domain {name}: {kind} {alias}: internal error: {type(exc).__name__}: {exc}")

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; returns the exit status (0)."""
        self.libvirt = self._import()
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        pause = RETRY_FIRST
        waiting_said = False
        try:
            while not self.stopping:
                if self.conn is None:
                    if not self.connect():
                        if not waiting_said:
                            self.say(f"cannot connect to {self.uri}; retrying")
                            waiting_said = True
                        self.sleep(pause)
                        pause = min(pause * 2, RETRY_MAX)
                        continue
                    pause, waiting_said = RETRY_FIRST, False
                    self.catch_up()
                self.libvirt.virEventRunDefaultImpl()
                self.handle()
                if self.closed and not self.stopping:
                    self.say(f"connection to {self.uri} closed; reconnecting")
                    self.log.event("disconnected; reconnecting")
                    self.queue.clear()   # caught up from the live XML after reconnecting
                    self.disconnect()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.disconnect()
            self.log.close()
        return 0

    def _stop(self, signum: int, frame: Any) -> None:
        self.stopping = True


def main(uri: str, *, stderr: TextIO | None = None) -> int:
    """``hooks watch``: check the configuration and state folder as the hooks do, then serve."""
    config = load_config()
    check_config_paths()
    store = StateStore(state_dir(config))
    store.check()
    err = stderr or sys.stderr
    watcher = Watcher(store, config, say=lambda line: None)
    service = Service(uri, watcher, stderr=err)
    watcher.say = service.say
    watcher.network_xml = service.network
    return service.run()


def run_service(argv: list[str] | None = None) -> None:
    """What the systemd unit runs (``hooks.watch_unit``): ``[--connect URI]``, then ``main``.

    A refused configuration or state folder is one line on stderr and exit status 2.
    """
    args = sys.argv[1:] if argv is None else argv
    uri = DEFAULT_URI
    if len(args) == 2 and args[0] == "--connect":
        uri = args[1]
    elif args:
        sys.stderr.write(f"virt-netxml watch: usage: [--connect URI], not {' '.join(args)!r}\n")
        sys.exit(2)
    try:
        code = main(uri)
    except NetXmlError as exc:
        sys.stderr.write(f"virt-netxml watch: {exc.message}\n")
        code = exc.exit_code
    sys.exit(code)
