"""Finding: an object name that looks like an option steered the hook.

libvirt passes the domain's or network's name as the first argument, and accepts names such as
``--dry-run``. The installed wrapper ran ``--driver X "$@"`` and the entry point took options
anywhere in argv, so a domain named ``--dry-run`` was only planned, never applied (its VLAN
policy silently skipped), and ``--driver`` or ``--`` as a name made the call unrecognisable
(exit 0, nothing done). Now the wrapper passes ``-- "$@"`` and option parsing stops at ``--``
and at the first positional argument.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from hooks.entry import main
from hooks.install import hook_path, install
from tests.hooks.test_entry import Host

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "hooks"
# The OVS port's wishes only (a VLAN and a setting on vnet103): enough to tell a real call
# from a dry run or a skipped one.
START_META = ((FIX / "variants/qemu-capvm-start-meta.xml").read_bytes()
              .replace(b'<vnx:vlan trunks="30-32" native="20"/>', b"").replace(b'<vnx:vlan tag="40"/>', b""))
PREPARE = (FIX / "captures/09-qemu-capvm-prepare-begin.xml").read_bytes()
OPTION_NAMES = ["--driver", "--driver=network", "--driver=", "--dry-run", "--", "-h", "--help", "-x", "-"]


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("VIRT_NETXML_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("VIRT_NETXML_CONFIG_DIR", str(tmp_path / "conf"))
    monkeypatch.delenv("VIRT_NETXML_DEADLINE", raising=False)
    (tmp_path / "conf").mkdir()


def named(data: bytes, name: str) -> bytes:
    assert b"<name>capvm</name>" in data
    return data.replace(b"<name>capvm</name>", f"<name>{name}</name>".encode())


def start_for_real(argv: list[str], name: str) -> None:
    """``start`` of a domain called ``name``: the VLAN wishes must reach the (fake) host."""
    host = Host()
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdin=io.BytesIO(named(START_META, name)), stdout=out, stderr=err,
                ports=host.ports(), program="/usr/lib/python3/hooks/entry.py")
    assert (code, out.getvalue(), err.getvalue()) == (0, "", ""), name
    row = host.ovs.ports["vnet103"]
    assert (row.tag, row.vlan_mode) == (10, "access"), name
    assert host.ovs.maps[("Port", "vnet103")]["other_config"] == {"priority-tags": "true"}, name


@pytest.mark.parametrize("name", OPTION_NAMES)
def test_an_option_like_name_after_the_separator_is_the_object(name):
    # What the installed wrapper passes: --driver qemu -- "$@".
    start_for_real(["--driver", "qemu", "--", name, "start", "begin", "-"], name)


@pytest.mark.parametrize("name", OPTION_NAMES)
def test_options_stop_at_the_first_positional_argument(name):
    # An option-like word after the object (the operation's extra argument) is not an option.
    start_for_real(["--driver", "qemu", "capvm", "start", "begin", name], "capvm")


def test_an_option_before_the_object_is_still_an_option():
    host = Host()
    err = io.StringIO()
    code = main(["--driver", "qemu", "--dry-run", "capvm", "start", "begin", "-"],
                stdin=io.BytesIO(START_META), stdout=io.StringIO(), stderr=err, ports=host.ports())
    assert code == 0 and "plan (dry run, nothing changed)" in err.getvalue()
    assert host.ovs.ports["vnet103"].tag is None


@pytest.mark.parametrize("name", OPTION_NAMES)
def test_the_installed_wrapper_passes_an_option_like_name_as_the_object(name, tmp_path):
    # The real wrapper and interpreter, as libvirt runs them: a migration of a domain called
    # ``name`` must be rewritten by the mapping, not planned (dry run) or dropped.
    install(str(tmp_path / "root"))
    (tmp_path / "conf/migrate-map.conf").write_text("bridge brcap = br-vlan10\n")
    res = subprocess.run([hook_path(str(tmp_path / "root"), "qemu"), name, "migrate", "begin", "-"],
                         input=named(PREPARE, name), capture_output=True, timeout=60,
                         env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"}, cwd="/")
    assert (res.returncode, res.stderr) == (0, b""), res
    assert res.stdout.startswith(b"<domain") and b"<source bridge=\"br-vlan10\"/>" in res.stdout
    assert f"<name>{name}</name>".encode() in res.stdout
