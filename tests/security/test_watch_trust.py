"""``hooks watch`` runs as root like the hooks and trusts what they trust (threat model): it
refuses a configuration or state folder a local user could change before it reads anything
from it or talks to libvirt, and its systemd unit runs only code root alone can change, checked
again at every start.

Each attack is carried out for real by the unprivileged ``attacker``. The watch runs against
libvirt's test driver (no daemon); a watch that wrongly started would run until the timeout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hooks.errors import UntrustedCode
from hooks.watch_unit import install_unit, render, unit_path
from tests.hooks.test_watch import exec_start
from tests.security.hookcall import REPO

WRITE = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"


def watch(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xmltools.cli.main", "hooks", "watch", "--connect",
                           "test:///default"], env=env, capture_output=True, text=True, timeout=30, cwd=REPO)


def env_for(conf: Path, state: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "VIRT_NETXML_CONFIG_DIR": str(conf),
            "VIRT_NETXML_STATE_DIR": str(state)}


def one_line(text: str) -> str:
    assert text.count("\n") == 1 and "Traceback" not in text, text
    return text


def test_an_attackers_configuration_never_steers_the_watch(attacker, open_tmp):
    """The attacker's hooks.conf names a state folder and a log file of theirs: the watch
    refuses, in one line, before it creates, writes or connects to anything."""
    conf = open_tmp / "conf"
    conf.mkdir(mode=0o755)
    attacker.own(conf)
    evil_state, evil_log = open_tmp / "evil-state", open_tmp / "evil.log"
    done = attacker.run(WRITE, str(conf / "hooks.conf"), f"state-dir = {evil_state}\nlog-file = {evil_log}\n")
    assert done.returncode == 0, done.stderr
    res = watch(env_for(conf, open_tmp / "state") | {"VIRT_NETXML_STATE_DIR": ""})
    assert res.returncode == 2 and res.stdout == "", res
    line = one_line(res.stderr)
    assert f"configuration directory {conf}: owned by uid {attacker.uid}, not by root" in line, line
    assert not evil_state.exists() and not evil_log.exists()


def test_a_state_folder_others_can_change_is_refused(attacker, open_tmp):
    """A state folder the attacker owns would tell root which records to trust: refused."""
    state = open_tmp / "state"
    state.mkdir(mode=0o755)
    attacker.own(state)
    conf = open_tmp / "conf"
    conf.mkdir(mode=0o755)
    res = watch(env_for(conf, state))
    assert res.returncode == 2 and res.stdout == "", res
    line = one_line(res.stderr)
    assert f"state directory {state}: owned by uid {attacker.uid}" in line, line
    assert os.listdir(state) == []


def test_the_unit_is_not_written_for_code_others_could_change(attacker, open_tmp, monkeypatch):
    """``hooks install --watch`` with a module path the attacker owns: refused, nothing written."""
    monkeypatch.setenv("VIRT_NETXML_STATE_DIR", str(open_tmp / "state"))
    monkeypatch.setenv("VIRT_NETXML_CONFIG_DIR", str(open_tmp / "conf"))
    theirs = open_tmp / "site"
    theirs.mkdir(mode=0o755)
    attacker.own(theirs)
    root = open_tmp / "root"
    with pytest.raises(UntrustedCode, match=f"owned by uid {attacker.uid}, not root"):
        install_unit(str(root), paths=[str(theirs)])
    assert not Path(unit_path(str(root))).exists()


def test_the_units_bootstrap_refuses_a_module_path_handed_over_since_install(attacker, open_tmp):
    """A module path given to the attacker after the unit was written: the service refuses to
    start (exit 2, one line) before it imports anything from it."""
    from hooks.install import _resolved
    from hooks.wrapper import module_paths

    python, paths = _resolved(sys.executable, module_paths())
    extra = open_tmp / "extra-site"
    extra.mkdir(mode=0o755)
    argv = exec_start(render(python, [*paths, str(extra)], str(open_tmp / "state"), str(open_tmp / "conf"),
                             uri="test:///default"))
    attacker.own(extra)
    res = subprocess.run(argv, env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=30)
    assert res.returncode == 2, res
    line = one_line(res.stderr)
    assert line.startswith(f"virt-netxml watch: {extra}: refusing to run: owned by uid {attacker.uid}"), line
