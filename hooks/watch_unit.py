"""The systemd unit of ``hooks watch``, written by ``hooks install --watch``.

The service runs as root with the same interpreter and module paths as the installed hooks
(resolved, and checked by ``hooks.install.check_trusted`` before anything is written), started
the same way: ``python -I -S -c BOOTSTRAP``, where the bootstrap re-checks the module paths and
the folders above them (``hooks.trust``, carried as source) before it imports anything from them.
The unit carries the state and configuration folders in effect at install time, as the hook
programs do.
"""

from __future__ import annotations

import inspect
import os

from hooks.wrapper import MARKER, runtime_checks

TYPE_CHECKING = False
if TYPE_CHECKING:
    from hooks.install import Change

UNIT_NAME = "virt-netxml-watch.service"
UNIT_DIR = "etc/systemd/system"

BOOTSTRAP = """import os, sys
{check}
for path, parent in {checks!r}:
    why = untrusted(path, parent)
    if why:
        sys.stderr.write("virt-netxml watch: " + path + ": refusing to run: " + why
                         + " (run 'virt-netxml hooks install --watch' again as root)\\n")
        sys.exit(2)
sys.path += {paths!r}
from hooks.watch import run_service
run_service()
"""

TEMPLATE = """{marker}; reinstalling overwrites it.
[Unit]
Description=virt-netxml: VLANs, OVS settings and port forwards for NICs hot-plugged into running guests
After=libvirtd.service virtqemud.service openvswitch-switch.service

[Service]
Type=simple
Environment=VIRT_NETXML_STATE_DIR={state_dir} VIRT_NETXML_CONFIG_DIR={config_dir}
ExecStart={python} -I -S -c {bootstrap} --connect {uri}
# A stop or crash changes nothing for the guests: the watch catches up when it is back.
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
"""


def unit_path(root: str) -> str:
    return os.path.join(root, UNIT_DIR, UNIT_NAME)


def systemd_quote(text: str) -> str:
    """One double-quoted word of a unit file's command line: systemd expands ``%`` specifiers
    on the whole line, then unquotes with C escapes, then substitutes ``$`` variables."""
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
               .replace("%", "%%").replace("$", "$$"))
    return f'"{escaped}"'


def systemd_unquote(word: str) -> str:
    """The reverse of ``systemd_quote`` (as systemd reads the word), for the tests and status."""
    assert word.startswith('"') and word.endswith('"'), word
    body = word[1:-1].replace("%%", "%").replace("$$", "$")
    out, n = [], 0
    while n < len(body):
        char = body[n]
        if char == "\\":
            nxt = body[n + 1]
            out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
            n += 2
        else:
            out.append(char)
            n += 1
    return "".join(out)


def bootstrap(paths: list[str]) -> str:
    from hooks.trust import untrusted

    return BOOTSTRAP.format(check=inspect.getsource(untrusted).strip(),
                            checks=tuple(runtime_checks(paths)), paths=list(paths))


def render(python: str, paths: list[str], state_dir: str, config_dir: str,
           uri: str = "qemu:///system") -> str:
    """The unit text; ``python`` and ``paths`` resolved and free of characters that need quoting
    (``hooks.install._checked``)."""
    return TEMPLATE.format(marker=MARKER, state_dir=state_dir, config_dir=config_dir, python=python,
                           bootstrap=systemd_quote(bootstrap(paths)), uri=systemd_quote(uri))


# -- install, uninstall, status (``hooks install --watch``, ``hooks uninstall``, ``hooks status``)


def systemd_runs(root: str) -> bool:
    """Is systemd this host's service manager (and is the install for this host, not --root)?"""
    return os.path.realpath(root) == "/" and os.path.isdir("/run/systemd/system")


def _systemctl(*args: str) -> None:
    import subprocess

    from xmltools.errors import UsageError

    done = subprocess.run(["systemctl", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise UsageError(detail=f"systemctl {' '.join(args)}: {detail}")


def install_unit(root: str = "/", python: str | None = None, paths: list[str] | None = None,
                 uri: str = "qemu:///system") -> list[Change]:
    """Write (or refresh) the unit under ``root``; on a systemd host (``root`` /) enable and
    (re)start it. Refused like the hooks when root could not trust the interpreter or modules."""
    import sys

    from hooks.config import config_dir, load_config, state_dir
    from hooks.install import Change, _checked, _is_ours, _make_folders, _resolved, check_trusted
    from xmltools.errors import InputError
    from xmltools.fileio import write_file

    given = python or sys.executable
    real_python, real_paths = _resolved(given, paths)
    python = _checked(real_python, "interpreter path")
    paths = [_checked(p, "module path") for p in real_paths]
    states = _checked(state_dir(load_config()), "state directory")
    configs = _checked(config_dir(), "configuration directory")
    if not uri or not uri.isprintable() or " " in uri:
        from xmltools.errors import UsageError

        raise UsageError(detail=f"libvirt URI {uri!r}: no spaces or control characters")
    check_trusted(given, paths)
    path = unit_path(root)
    text = render(python, paths, states, configs, uri)
    if os.path.lexists(path) and not _is_ours(path):
        raise InputError(source=path, detail="exists and was not written by virt-netxml; not touching it")
    current = None
    try:
        with open(path, encoding="utf-8") as fh:
            current = fh.read()
    except OSError:
        pass
    changes: list[Change] = []
    if current == text and (os.stat(path).st_mode & 0o7777) == 0o644:
        changes.append(Change(path, "unchanged"))
    else:
        _make_folders(os.path.dirname(path))
        write_file(path, text, mode=0o644, owner=(0, 0) if os.geteuid() == 0 else None)
        changes.append(Change(path, "written"))
    if systemd_runs(root):
        _systemctl("daemon-reload")
        _systemctl("enable", UNIT_NAME)
        _systemctl("restart" if current != text else "start", UNIT_NAME)
        changes.append(Change(UNIT_NAME, "enabled and started"))
    return changes


def uninstall_unit(root: str = "/") -> list[Change]:
    """Stop, disable and remove the unit (only one carrying the project's marker)."""
    from hooks.install import Change, _is_ours
    from xmltools.errors import InputError

    path = unit_path(root)
    if not os.path.lexists(path):
        return [Change(path, "absent")]
    if not _is_ours(path):
        raise InputError(source=path, detail="was not written by virt-netxml; not removing it")
    if systemd_runs(root):
        _systemctl("disable", "--now", UNIT_NAME)
    os.unlink(path)
    if systemd_runs(root):
        _systemctl("daemon-reload")
    return [Change(path, "removed")]


def watch_pids(proc: str = "/proc") -> list[int]:
    """Processes running ``hooks watch`` (the unit's bootstrap, or the command by hand)."""
    found = []
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, "cmdline"), "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        by_hand = any(a.endswith(b"virt-netxml") for a in argv[:2]) and b"hooks" in argv and b"watch" in argv
        unit = any(b"from hooks.watch import run_service" in a for a in argv)
        if (by_hand or unit) and int(entry) != os.getpid():
            found.append(int(entry))
    return sorted(found)


def unit_status(root: str = "/") -> dict[str, object]:
    """For ``hooks status``: is the unit installed (ours), and which processes run the watch."""
    from hooks.install import _is_ours

    path = unit_path(root)
    state = "missing" if not os.path.lexists(path) else ("installed" if _is_ours(path) else "foreign")
    return {"unit": path, "state": state, "pids": watch_pids()}
