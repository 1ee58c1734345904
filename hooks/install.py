"""Putting the hook programs where libvirt looks for them, and taking them away again.

libvirt runs every executable regular file in ``/etc/libvirt/hooks/<driver>.d/`` (since
6.5.0), in name order, after the main ``<driver>`` script. The hooks go there as
``50-virt-netxml``, mode 0755, owned by root; other files in those folders are never touched,
and a file of that name that is not ours is refused rather than overwritten. libvirt decides
whether a driver has hooks at all when it starts or reloads, hence ``--reload`` (SIGHUP).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
from dataclasses import dataclass
from typing import Any

from hooks.config import config_dir, load_config, state_dir
from hooks.daemon import DAEMONS, find_daemons, hook_runners, installed_version, show, version_of
from hooks.errors import UntrustedCode
from hooks.protocol import DRIVERS
from hooks.trust import chain, problem, walk
from hooks.wrapper import MARKER, module_paths, render
from xmltools.errors import InputError, UsageError
from xmltools.fileio import write_file

HOOK_NAME = "50-virt-netxml"
HOOKS_DIR = "etc/libvirt/hooks"
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./+-]+$")


def hook_path(root: str, driver: str) -> str:
    return os.path.join(root, HOOKS_DIR, f"{driver}.d", HOOK_NAME)


def _is_ours(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            return MARKER.encode() in fh.read(4096)
    except OSError:
        return False


def _checked(path: str, what: str) -> str:
    # These paths are written into a shell script: only characters that need no quoting.
    if not _SAFE_PATH.match(path):
        raise UsageError(detail=f"{what} {path!r} contains characters the hook script cannot carry")
    return path


@dataclass
class Change:
    path: str
    action: str   # written | unchanged | removed | absent

    def __str__(self) -> str:
        return f"{self.action}: {self.path}"


def _resolved(python: str | None, paths: list[str] | None) -> tuple[str, list[str]]:
    # The script carries resolved paths: a symlink on the way, in a folder someone else can
    # write, could otherwise be pointed elsewhere after the check. For a venv's bin/python that
    # is the base interpreter itself; with -I -S it reads no site-packages of its own, and the
    # module paths are explicit, so it runs the hook exactly as the venv's link would.
    real_python = os.path.realpath(python or sys.executable)
    real_paths: list[str] = []
    for path in module_paths() if paths is None else paths:
        real = os.path.realpath(path)
        if real not in real_paths:
            real_paths.append(real)
    return real_python, real_paths


def check_trusted(python: str, paths: list[str]) -> None:
    """Refuse (UntrustedCode) an interpreter or module path someone other than root could change.

    ``python`` as given (e.g. a venv's ``bin/python``) and ``paths`` resolved. The rule is
    ``hooks.trust``'s: the path and every folder above it root-owned and not group/world-writable.
    """
    given = os.path.abspath(python)
    what = f"interpreter {given}"
    real = os.path.realpath(given)
    # The binary, and the two folders above it without the sticky exception: python looks for
    # pyvenv.cfg and its standard library (lib/pythonX.Y/os.py) from there by name.
    checks = [(what, chain(real, strict=2))]
    # A venv's bin/ (reached through bin/python) and its pyvenv.cfg: python reads pyvenv.cfg
    # next to the program it was started as, or one level up, to choose its prefix. The
    # installed hook runs the resolved binary, so the venv's are not read by the hook; they are
    # what this virt-netxml itself runs on, and a venv someone else can change is not one to
    # take code from.
    for start in dict.fromkeys((given, real)):
        folder = os.path.realpath(os.path.dirname(start))
        checks.append((what, chain(folder, strict=1)))
        for where in (folder, os.path.dirname(folder)):
            cfg = os.path.join(where, "pyvenv.cfg")
            if os.path.lexists(cfg):
                checks.append((what, chain(os.path.realpath(cfg))))
    for what_, pairs in checks:
        found = problem(pairs)
        if found:
            raise UntrustedCode(what=what_, path=found[0], reason=found[1])
    if not os.path.isfile(real):
        raise UsageError(detail=f"interpreter {given} is not a file")
    for path in paths:
        found = problem(chain(path)) or next(walk(path), None)
        if found:
            raise UntrustedCode(what=f"module path {path}", path=found[0], reason=found[1])


def _make_folders(folder: str) -> None:
    # Each missing folder 0755 whatever the umask (os.makedirs gives the parents 0777 & ~umask).
    missing = []
    while not os.path.isdir(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            continue
        os.chmod(path, 0o755)


def install(root: str = "/", python: str | None = None, paths: list[str] | None = None) -> list[Change]:
    """Write (or refresh) the qemu and network hook programs under ``root``; idempotent.

    ``python`` (default: this interpreter) and ``paths`` (default: ``module_paths()``) are what
    the hooks run and import as root: refused unless only root can change them (``check_trusted``).
    """
    given = python or sys.executable
    real_python, real_paths = _resolved(given, paths)
    python = _checked(real_python, "interpreter path")
    paths = [_checked(p, "module path") for p in real_paths]
    states = _checked(state_dir(load_config()), "state directory")
    configs = _checked(config_dir(), "configuration directory")
    check_trusted(given, paths)
    changes = []
    for driver in DRIVERS:
        path = hook_path(root, driver)
        text = render(driver, python, paths, states, configs)
        if os.path.lexists(path) and not _is_ours(path):
            raise InputError(source=path, detail="exists and was not written by virt-netxml; not touching it")
        _make_folders(os.path.dirname(path))
        current = None
        with contextlib.suppress(OSError), open(path, encoding="utf-8") as fh:
            current = fh.read()
        if current == text and (os.stat(path).st_mode & 0o7777) == 0o755 and _root_owned(path):
            changes.append(Change(path, "unchanged"))
            continue
        # Owner and mode are set on the new file's descriptor before it is renamed into place.
        write_file(path, text, mode=0o755, owner=(0, 0) if os.geteuid() == 0 else None)
        changes.append(Change(path, "written"))
    return changes


def _root_owned(path: str) -> bool:
    st = os.stat(path)
    return os.geteuid() != 0 or (st.st_uid == 0 and st.st_gid == 0)


def uninstall(root: str = "/") -> list[Change]:
    """Remove our hook programs (only files carrying our marker)."""
    changes = []
    for driver in DRIVERS:
        path = hook_path(root, driver)
        if not os.path.lexists(path):
            changes.append(Change(path, "absent"))
        elif not _is_ours(path):
            raise InputError(source=path, detail="was not written by virt-netxml; not removing it")
        else:
            os.unlink(path)
            changes.append(Change(path, "removed"))
    return changes


def installed(root: str = "/") -> dict[str, str]:
    """driver -> 'current' | 'outdated' | 'missing' | 'foreign' for ``hooks status``."""
    out = {}
    for driver in DRIVERS:
        path = hook_path(root, driver)
        if not os.path.lexists(path):
            out[driver] = "missing"
        elif not _is_ours(path):
            out[driver] = "foreign"
        else:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            python, paths = _resolved(None, None)
            wanted = render(driver, python, paths, state_dir(load_config()), config_dir())
            out[driver] = "current" if text == wanted else "outdated"
    return out


# --------------------------------------------------------------------------- the daemon


def find_libvirtd(root: str = "/", proc: str = "/proc") -> int | None:
    """PID of the running monolithic libvirtd (None when the host runs none)."""
    return find_daemons(root, proc).get("libvirtd")


def reload_daemons(root: str = "/", proc: str = "/proc") -> dict[str, int]:
    """SIGHUP the daemons that run the hooks so they notice new ones; returns name -> PID.

    The monolithic ``libvirtd`` (Debian's default on 12 and 13), or on a modular host both
    ``virtqemud`` (qemu hooks) and ``virtnetworkd`` (network hooks). A PID is signalled only
    if that process's executable has the daemon's name (``hooks.daemon.find_daemons``).
    """
    daemons = hook_runners(find_daemons(root, proc))
    if not daemons:
        raise UsageError(detail="no running libvirt daemon (libvirtd, or virtqemud and virtnetworkd) found; "
                                "start it (or restart it) to pick up the hooks")
    for pid in daemons.values():
        os.kill(pid, signal.SIGHUP)
    return daemons


def reload_libvirtd(root: str = "/", proc: str = "/proc") -> int:
    """SIGHUP the daemon(s) that run the hooks; returns the first one's PID."""
    return next(iter(reload_daemons(root, proc).values()))


def daemon_versions(root: str = "/", proc: str = "/proc") -> dict[str, dict[str, Any]]:
    """For ``hooks status``: each running daemon that runs hooks, its PID and libvirt version."""
    return {name: {"pid": pid, "version": show(version_of(pid, proc)) if version_of(pid, proc) else None}
            for name, pid in hook_runners(find_daemons(root, proc)).items()}


def libvirt_version(root: str = "/") -> str | None:
    """The installed libvirt's version, from its library's file name (no process, no libvirt call)."""
    found = installed_version(root)
    return show(found) if found is not None else None


def running_domains(run_dir: str = "/run/libvirt/qemu") -> set[str]:
    """Names of running QEMU domains, from libvirt's pid files (no call into libvirt)."""
    names: set[str] = set()
    try:
        entries = os.listdir(run_dir)
    except OSError:
        return names
    for entry in entries:
        if not entry.endswith(".pid"):
            continue
        try:
            with open(os.path.join(run_dir, entry), encoding="ascii") as fh:
                pid = int(fh.read().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            continue
        names.add(entry[:-4])
    return names


LIBVIRT_DAEMONS = DAEMONS


def libvirt_daemon_alive(pid: int, proc: str = "/proc") -> bool:
    """Whether ``pid`` is a running libvirt daemon (monolithic or modular QEMU driver)."""
    try:
        with open(os.path.join(proc, str(pid), "comm"), encoding="utf-8", errors="replace") as fh:
            return fh.read().strip() in LIBVIRT_DAEMONS
    except OSError:
        return False


def active_networks(run_dir: str = "/run/libvirt/network") -> set[str]:
    """Names of active networks, from libvirt's status files."""
    try:
        return {e[:-4] for e in os.listdir(run_dir) if e.endswith(".xml")}
    except OSError:
        return set()
