"""The README's walkthrough, run as a reader would: top to bottom, in an empty folder.

Every ``$ command`` of the walkthrough's console blocks runs in order in one fresh folder, with
the project's ``virt-netxml`` first on PATH and ``virsh`` for the steps that talk to libvirt's
test driver, so a step that needs a file an earlier step did not make fails here. Where the
README shows what a command prints, the output must match it, ``…`` standing for what differs
per run (a random UUID or MAC). A command whose shown output is a ``virt-netxml: error:`` line
must exit 2 (bad input); every other command must exit 0.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import require

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
WALKTHROUGH = ("## Walkthrough", "## Lint")   # the section: from this heading to the next
VIRSH = "virsh (libvirt-clients): the walkthrough uses libvirt's test driver"


@dataclass
class Step:
    line: int          # where the command starts in the README
    command: str
    shown: list[str]   # the output the README shows under it (may be empty)


def walkthrough_steps(text: str) -> list[Step]:
    """The ``$`` commands of the section's console blocks, continuation lines joined."""
    start = text.index(WALKTHROUGH[0])
    end = text.index(WALKTHROUGH[1], start)
    offset = text.count("\n", 0, start)
    steps: list[Step] = []
    in_block = False
    pending: Step | None = None
    for number, raw in enumerate(text[start:end].splitlines(), offset + 1):
        if raw.startswith("```"):
            in_block = raw.strip() == "```console"
            pending = None
            continue
        if not in_block:
            continue
        if pending is not None and pending.command.endswith("\\"):
            pending.command = pending.command[:-1] + " " + raw.strip()
        elif raw.startswith("$ "):
            pending = Step(number, raw[2:].strip(), [])
            steps.append(pending)
        elif raw.startswith("#") or not raw.strip():
            pending = None   # a comment or a blank line ends what a command shows
        elif pending is not None:
            pending.shown.append(raw)
    return steps


# ``…random v4…``: a description between two ellipses (no markup in it) is one placeholder.
_DESCRIBED = re.compile(r"…[^…<>\"'=]*…")


def matches(shown: list[str], printed: str) -> bool:
    """Does the printed text equal the shown lines, each ``…`` standing for any text?"""
    lines = [_DESCRIBED.sub("…", line) for line in shown]
    pattern = "\n".join(".*?".join(re.escape(part) for part in line.split("…")) for line in lines)
    return re.fullmatch(pattern, printed.rstrip("\n")) is not None


def test_the_parser_sees_the_walkthrough() -> None:
    """The steps below are really the README's: commands in order, outputs attached."""
    steps = walkthrough_steps(README.read_text())
    commands = [step.command for step in steps]
    assert len(steps) >= 15
    assert commands[0].startswith("virt-netxml network default --mode nat --bridge virbr0")
    assert commands[0].endswith("--nat-ports 1024-65535")   # the continuation line joined
    assert steps[0].shown[0] == "<network>" and steps[0].shown[-1] == "</network>"
    assert any(c.startswith("virsh -c test:///default dumpxml test > vm1.xml") for c in commands)
    assert any(step.shown and step.shown[0].startswith("virt-netxml: error:") for step in steps)


def test_matching_treats_the_ellipsis_as_any_text() -> None:
    assert matches(["<uuid>…</uuid>"], "<uuid>15265a6f</uuid>\n")
    assert not matches(["<uuid>…</uuid>"], "<name>x</name>")
    assert not matches(["a", "b"], "a\nb\nc")
    assert matches(["<uuid>…random v4…</uuid>"], "<uuid>15265a6f</uuid>")
    assert not matches(["<uuid>…random v4…</uuid>"], "<uuid>15265a6f</uuid>\n<x/>")


def test_the_walkthrough_runs_top_to_bottom_in_an_empty_folder(tmp_path: Path) -> None:
    require(shutil.which("virsh") is not None, VIRSH)
    steps = walkthrough_steps(README.read_text())
    env = {key: value for key, value in os.environ.items() if not key.startswith("VIRT_NETXML")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    env["LC_ALL"] = "C.UTF-8"
    assert list(tmp_path.iterdir()) == []
    for step in steps:
        run = subprocess.run(["bash", "-o", "pipefail", "-c", step.command], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=60)
        where = f"README.md:{step.line}: {step.command}"
        expect_error = bool(step.shown) and step.shown[0].startswith("virt-netxml: error:")
        if expect_error:
            assert run.returncode == 2, f"{where}: exit {run.returncode}, expected 2\n{run.stderr}"
            assert matches(step.shown, run.stderr), f"{where}: printed\n{run.stderr}"
            assert run.stdout == ""
        else:
            assert run.returncode == 0, f"{where}: exit {run.returncode}\n{run.stderr}"
            if step.shown:
                assert matches(step.shown, run.stdout), f"{where}: printed\n{run.stdout}"
    # what the walkthrough wrote is there, and what it edited carries the edits
    vm1 = (tmp_path / "vm1.xml").read_text()
    assert "<vnx:vlan" in vm1 and "20,30-40" in vm1
    assert "ovs-br0" in vm1
    assert "vlan7" in (tmp_path / "packtovs.xml").read_text()


@pytest.mark.parametrize("name", ["packtro.xml", "packtiso.xml", "nic.xml"])
def test_each_file_the_walkthrough_writes_is_linted_clean(tmp_path: Path, name: str) -> None:
    """The files written with -o in the walkthrough are documents lint accepts."""
    require(shutil.which("virsh") is not None, VIRSH)
    steps = walkthrough_steps(README.read_text())
    writer = next(step for step in steps if f"-o {name}" in step.command)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    subprocess.run(["bash", "-c", writer.command], cwd=tmp_path, env=env, check=True, timeout=60)
    lint = subprocess.run([str(Path(sys.executable).parent / "virt-netxml"), "lint", name],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr
