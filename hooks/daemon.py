"""The libvirt daemon that runs the hooks, and its version, read from /proc: no call into libvirt.

How the hook knows which libvirt it runs beside (it decides whether libvirt applied a Linux
bridge's ``<vlan>`` itself, which libvirt does since 11.0): the daemon that runs the hook is the
hook's parent (the installed wrapper execs Python), and every libvirt daemon, monolithic
``libvirtd`` or modular ``virtqemud``/``virtnetworkd``, has libvirt's own library mapped, whose
file name carries the version (``libvirt.so.0.11003.0`` is 11.3.0, ``libvirt.so.0.9000.0`` is
9.0.0: libvirt names it ``0.<major * 1000 + minor>.<micro>``). One read of
``/proc/<ppid>/maps`` (a few tens of microseconds, no process started) gives the version of
the very daemon that called, even one that kept running across a package upgrade (its map
then names the old, deleted file). A value recorded at ``hooks install`` would go stale on
upgrade; the package database costs milliseconds and says what is installed, not what runs.
Only when the parent is no libvirt daemon (the hook run by hand, ``hooks plan``) is the
installed library looked for instead.

Imports only ``os``: this module is on the hook's path.
"""

from __future__ import annotations

import os

# The monolithic daemon, and the modular ones that run qemu and network hooks.
DAEMONS = ("libvirtd", "virtqemud", "virtnetworkd")
LIB_DIRS = ("usr/lib/x86_64-linux-gnu", "usr/lib64", "usr/lib", "lib/x86_64-linux-gnu", "lib64")
PIDFILES = {"libvirtd": "run/libvirtd.pid", "virtqemud": "run/virtqemud.pid",
            "virtnetworkd": "run/virtnetworkd.pid"}
_LIB = b"/libvirt.so.0."

Version = tuple[int, int, int]


def from_soname(tail: bytes | str) -> Version | None:
    """``11003.0`` (what follows ``libvirt.so.0.``) -> (11, 3, 0); None if it is not that."""
    text = tail.decode("ascii", "replace") if isinstance(tail, bytes) else tail
    number, _, micro = text.partition(".")
    if not number.isdigit() or not micro.isdigit() or len(number) > 6 or len(micro) > 4:
        return None
    value = int(number)
    return (value // 1000, value % 1000, int(micro))


def show(version: Version | None) -> str:
    return ".".join(str(part) for part in version) if version is not None else "unknown"


def version_of(pid: int, proc: str = "/proc") -> Version | None:
    """The libvirt version process ``pid`` runs, from the library in its memory map."""
    try:
        with open(os.path.join(proc, str(pid), "maps"), "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    at = data.find(_LIB)
    if at < 0:
        return None
    end = data.find(b"\n", at)
    tail = data[at + len(_LIB):end if end >= 0 else len(data)].split(b" ", 1)[0]
    return from_soname(tail)


def installed_version(root: str = "/") -> Version | None:
    """The newest ``libvirt.so.0.N.M`` installed under ``root`` (the library every host has)."""
    best: Version | None = None
    for folder in LIB_DIRS:
        try:
            names = os.listdir(os.path.join(root, folder))
        except OSError:
            continue
        for name in names:
            if name.startswith("libvirt.so.0."):
                found = from_soname(name[len("libvirt.so.0."):])
                if found is not None and (best is None or found > best):
                    best = found
    return best


def exe_name(pid: int, proc: str = "/proc") -> str | None:
    """The file name of ``pid``'s executable (``comm`` when the link cannot be read)."""
    try:
        name = os.path.basename(os.readlink(os.path.join(proc, str(pid), "exe")))
        # A daemon that outlived an upgrade: its exe link reads '/usr/sbin/libvirtd (deleted)'.
        return name[:-len(" (deleted)")] if name.endswith(" (deleted)") else name
    except OSError:
        try:
            with open(os.path.join(proc, str(pid), "comm"), encoding="utf-8") as fh:
                return fh.read().strip()
        except OSError:
            return None


def hook_daemon_version(ppid: int | None = None, proc: str = "/proc", root: str = "/") -> Version | None:
    """The libvirt a hook call runs beside: its parent daemon's, else the installed one."""
    pid = os.getppid() if ppid is None else ppid
    if exe_name(pid, proc) in DAEMONS:
        found = version_of(pid, proc)
        if found is not None:
            return found
    return installed_version(root)


def find_daemons(root: str = "/", proc: str = "/proc") -> dict[str, int]:
    """The running libvirt daemons, name -> PID: pid files under ``root``, else a scan of ``proc``.

    A PID is taken only if that process's executable has the daemon's name: a stale pid file
    must never make us signal some other process.
    """
    found: dict[str, int] = {}
    for name, pidfile in PIDFILES.items():
        try:
            with open(os.path.join(root, pidfile), encoding="ascii") as fh:
                pid = int(fh.read().strip())
        except (OSError, ValueError):
            continue
        if exe_name(pid, proc) == name:
            found[name] = pid
    if found:
        return found
    try:
        entries = os.listdir(proc)
    except OSError:
        return found
    for entry in sorted((e for e in entries if e.isdigit()), key=int):
        exe = exe_name(int(entry), proc)
        if exe is not None and exe in DAEMONS and exe not in found:
            found[exe] = int(entry)
    return found


def hook_runners(daemons: dict[str, int]) -> dict[str, int]:
    """Which of the running daemons run the project's hooks (and so must reload for new ones).

    The monolithic ``libvirtd`` runs both the qemu and the network hooks; on a modular host
    ``virtqemud`` runs the qemu hooks and ``virtnetworkd`` the network hooks, so both reload.
    """
    if "libvirtd" in daemons:
        return {"libvirtd": daemons["libvirtd"]}
    return {name: pid for name, pid in daemons.items() if name in ("virtqemud", "virtnetworkd")}
