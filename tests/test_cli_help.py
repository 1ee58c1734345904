"""Help a new user can act on, and shell completion that knows the options' values.

Every command's ``--help`` ends with examples, and the core commands' examples run as printed
(in a folder holding the files they name); the command lists show whole summaries; completion
works through click's protocol for bash, zsh and fish, and through the real bash function.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from tests.support import require
from xmltools.build_interface import BUILD_TYPES
from xmltools.build_network import MODES
from xmltools.rules import VLAN_MODES

BIN = Path(sys.executable).parent
TOOL = str(BIN / "virt-netxml")
CORE = ["network", "interface", "edit", "lint", "mac", "uuid"]
HOOKS = ["install", "uninstall", "status", "repair", "plan"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TOOL, *args], capture_output=True, text=True, timeout=60)


def help_text(*command: str) -> str:
    done = run(*command, "--help")
    assert done.returncode == 0, done.stderr
    return done.stdout


def examples(text: str) -> list[str]:
    """The example command lines of a help text, continuation lines joined."""
    lines = text.split("Examples:", 1)[1].splitlines()
    found: list[str] = []
    for line in lines[1:]:
        if not line.startswith("    "):
            break
        line = line.strip()
        if found and found[-1].endswith("\\"):
            found[-1] = found[-1][:-1].rstrip() + " " + line
        else:
            found.append(line)
    return found


@pytest.mark.parametrize("command", [[c] for c in CORE] + [["hooks"]] + [["hooks", c] for c in HOOKS],
                         ids=" ".join)
def test_every_command_shows_examples(command: list[str]) -> None:
    text = help_text(*command)
    lines = examples(text)
    assert lines, text
    assert all(line.startswith(("virt-netxml ", "virsh ")) for line in lines), lines
    # the examples use this command, not another one
    assert any(" ".join(command) in line for line in lines), lines


@pytest.mark.parametrize("group", [[], ["hooks"]], ids=["virt-netxml", "hooks"])
def test_command_lists_are_not_cut_off(group: list[str]) -> None:
    text = help_text(*group)
    listing = text.split("Commands:", 1)[1].split("\n\n", 1)[0]
    summaries: list[str] = []
    for line in listing.splitlines():
        if line.startswith("  ") and not line.startswith("    "):
            summaries.append(line.split(None, 1)[1])      # a command's name, then its summary
        elif summaries and line.strip():
            summaries[-1] += " " + line.strip()            # the summary wrapped
    assert len(summaries) >= (6 if not group else 5), listing
    # each is the command's whole first sentence: click's cut-off ends in "..." instead
    assert all(summary.endswith(".") and not summary.endswith("...") for summary in summaries), summaries


def test_top_level_help_says_how_to_enable_completion() -> None:
    text = help_text()
    assert '_VIRT_NETXML_COMPLETE=bash_source virt-netxml' in text


def test_long_option_lists_are_grouped() -> None:
    text = help_text("interface")
    headings = [line for line in text.splitlines()
                if line and not line.startswith(" ") and line.endswith(":")]
    assert headings[:4] == ["Interface:", "libvirt's settings:",
                            "Applied by the hooks (stored in the domain's metadata, needs --domain):",
                            "Output:"], headings
    # every option is listed once, in its group
    assert text.count("--bridge-vlan TAGS") == 1
    output = text.split("Output:", 1)[1].split("\n\n", 1)[0]
    assert "--domain FILE" in output and "-i, --in-place" in output and "--bridge-vlan" not in output


@pytest.fixture
def example_folder(tmp_path: Path) -> Path:
    """The files the examples name: a domain (libvirt's test driver's), made as a user would."""
    require(shutil.which("virsh") is not None, "virsh (libvirt-clients) makes the examples' domain")
    dumped = subprocess.run(["virsh", "-c", "test:///default", "dumpxml", "test"], capture_output=True,
                            text=True, check=True, timeout=60)
    (tmp_path / "vm.xml").write_text(dumped.stdout)
    return tmp_path


@pytest.mark.parametrize("command", [[]] + [[c] for c in CORE], ids=lambda c: " ".join(c) or "virt-netxml")
def test_the_examples_of_the_core_commands_run(command: list[str], example_folder: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRT_NETXML")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    for line in examples(help_text(*command)):
        if "COMMAND --help" in line:
            continue   # the pointer to the commands' own help, not an example
        done = subprocess.run(["bash", "-o", "pipefail", "-c", line], cwd=example_folder, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{line}\n{done.stdout}{done.stderr}"


# --------------------------------------------------------------------------- completion


def complete(shell: str, words: list[str]) -> list[tuple[str, str]]:
    """Ask the program what to complete, as the shell's function does: (type, value) pairs."""
    env = dict(os.environ, _VIRT_NETXML_COMPLETE=f"{shell}_complete")
    if shell in ("bash", "zsh"):
        env.update(COMP_WORDS=" ".join(["virt-netxml", *words]), COMP_CWORD=str(len(words)))
    else:   # fish passes the command line and the word being completed
        env.update(COMP_WORDS=" ".join(["virt-netxml", *words]), COMP_CWORD=words[-1])
    done = subprocess.run([TOOL], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    if shell == "bash":
        return [tuple(line.split(",", 1)) for line in out]  # type: ignore[misc]
    if shell == "zsh":   # type, value, help: three lines per item
        return [(out[i], out[i + 1]) for i in range(0, len(out), 3)]
    return [tuple(line.split(",", 1)) for line in out]  # type: ignore[misc]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
@pytest.mark.parametrize(("words", "expected"), [
    (["interface", "--type", ""], list(BUILD_TYPES)),
    (["interface", "--vlan-mode", "native"], [m for m in VLAN_MODES if m.startswith("native")]),
    (["network", "lab", "--mode", "pa"], [m for m in MODES if m.startswith("pa")]),
    (["mac", "--oui", ""], ["qemu", "xen"]),
    (["edit", "vm.xml", "--vlan-mode", "t"], ["trunk"]),
    (["hooks", "plan", "--network", "port-"], ["port-created", "port-deleted"]),
])
def test_option_values_complete(shell: str, words: list[str], expected: list[str]) -> None:
    assert [value for kind, value in complete(shell, words)] == expected


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
@pytest.mark.parametrize("words", [
    ["lint", "con"], ["edit", "vm"], ["edit", "vm.xml", "-o", "ne"], ["interface", "--domain", "v"],
    ["interface", "--type", "bridge", "-o", "x"], ["mac", "--exclude", "/etc/lib"],
    ["network", "lab", "-o", "l"], ["hooks", "plan", "start", "--input", "v"],
])
def test_file_arguments_complete_as_files(shell: str, words: list[str]) -> None:
    assert complete(shell, words) == [("file", words[-1])]


def test_the_bash_function_completes_for_real(tmp_path: Path) -> None:
    """The script ``bash_source`` prints, loaded into bash, fills COMPREPLY."""
    require(shutil.which("bash") is not None, "bash")
    script = (f'eval "$(_VIRT_NETXML_COMPLETE=bash_source {TOOL})"\n'
              'COMP_WORDS=(virt-netxml interface --mode p); COMP_CWORD=3\n'
              '_virt_netxml_completion virt-netxml\n'
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["private", "passthrough"]


@pytest.mark.parametrize("command", ["interface", "network", "edit"])
def test_grouped_help_lists_every_option_once_and_leaves_only_help_ungrouped(command: str) -> None:
    from xmltools.cli.main import cli

    cmd = cli.get_command(click.Context(cli), command)
    sections = getattr(cmd, "sections", None)
    assert cmd is not None and sections, f"{command}: options not grouped"
    grouped = [name for _, names in sections for name in names]
    params = {p.name for p in cmd.params if isinstance(p, click.Option)}
    assert len(grouped) == len(set(grouped)), "an option in two groups"
    assert set(grouped) <= params, "a group names an option the command does not have"
    assert params - set(grouped) <= {"help"}, sorted(params - set(grouped))
