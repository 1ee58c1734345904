"""``virt-netxml lint`` as a command: what one host is (``--scope``), the JSON output, every
exit status, and the pre-commit hooks (.pre-commit-hooks.yaml) as pre-commit runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support import require
from xmltools.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
MAC = "52:54:00:3c:00:01"


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(cli, ["lint", "--no-libvirt-schemas", *args], input=stdin)


def domain(name: str, mac: str = MAC, uuid: str | None = None) -> str:
    uuid_line = f"  <uuid>{uuid}</uuid>\n" if uuid else ""
    return (f"<domain type='kvm'>\n  <name>{name}</name>\n{uuid_line}  <memory>1048576</memory>\n"
            f"  <os><type>hvm</type></os>\n  <devices>\n    <interface type='bridge'>\n"
            f"      <mac address='{mac}'/>\n      <source bridge='br0'/>\n      <model type='virtio'/>\n"
            f"    </interface>\n  </devices>\n</domain>\n")


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def codes(result) -> list[str]:
    return [item["code"] for item in json.loads(result.stdout)]


@pytest.fixture
def two_hosts(tmp_path: Path) -> tuple[str, str]:
    """The same guest (name, UUID, MAC) defined on two hosts, as after a migration."""
    uuid = "4dea22b3-1d52-d8f3-2516-782e98ab3fa0"
    write(tmp_path / "host1" / "qemu" / "web.xml", domain("web", uuid=uuid))
    write(tmp_path / "host2" / "qemu" / "web.xml", domain("web", uuid=uuid))
    return str(tmp_path / "host1"), str(tmp_path / "host2")


# -------------------------------------------------------------------------- --scope


def test_scope_run_is_the_default_and_treats_the_run_as_one_host(two_hosts) -> None:
    for args in ((), ("--scope", "run")):
        result = run("--format", "json", *args, *two_hosts)
        assert result.exit_code == 1
        assert codes(result) == ["duplicate", "duplicate", "duplicate"]   # name, UUID, MAC


def test_scope_dir_makes_each_folder_given_a_host(two_hosts) -> None:
    result = run("--scope", "dir", *two_hosts)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


def test_scope_dir_still_finds_duplicates_inside_one_host(tmp_path: Path, two_hosts) -> None:
    write(tmp_path / "host2" / "qemu" / "db.xml", domain("db", mac=MAC))
    result = run("--scope", "dir", "--format", "json", *two_hosts)
    assert result.exit_code == 1
    [finding] = json.loads(result.stdout)
    assert finding["code"] == "duplicate" and finding["path"].startswith(two_hosts[1])
    assert f"{two_hosts[1]}/qemu/" in finding["message"]


def test_scope_dir_one_folder_given_is_one_host_whatever_its_subfolders(tmp_path: Path, two_hosts) -> None:
    # hosts/ given alone is one host; so is hosts/ given with a folder inside it (the outermost counts).
    assert run("--scope", "dir", str(tmp_path)).exit_code == 1
    assert run("--scope", "dir", two_hosts[0], str(tmp_path)).exit_code == 1


def test_scope_dir_files_named_alone_belong_to_their_folder(tmp_path: Path) -> None:
    a = write(tmp_path / "h1" / "a.xml", domain("a"))
    b = write(tmp_path / "h1" / "b.xml", domain("b"))
    c = write(tmp_path / "h2" / "c.xml", domain("c"))
    assert run("--scope", "dir", a, b).exit_code == 1      # one folder: one host, MAC twice
    assert run("--scope", "dir", a, c).exit_code == 0      # two folders: two hosts
    assert run("--scope", "run", a, c).exit_code == 1


def test_scope_dir_standard_input_belongs_to_the_current_folder(tmp_path: Path, monkeypatch) -> None:
    here = write(tmp_path / "here" / "a.xml", domain("a"))
    there = write(tmp_path / "there" / "c.xml", domain("c"))
    monkeypatch.chdir(tmp_path / "here")
    assert run("--scope", "dir", "-", here, stdin=domain("b")).exit_code == 1
    assert run("--scope", "dir", "-", there, stdin=domain("b")).exit_code == 0


def test_scope_value_is_checked(tmp_path: Path) -> None:
    path = write(tmp_path / "a.xml", domain("a"))
    result = run("--scope", "host", path)
    assert result.exit_code == 2
    assert "'host' is not one of 'run', 'dir'" in result.stderr
    assert "--scope [run|dir]" in run("--help").stdout


def test_scope_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "--scope dir" in readme and "--scope run" in readme


# -------------------------------------------------------------------------- JSON and exit status


def test_json_clean_is_an_empty_array_exit_0(tmp_path: Path) -> None:
    result = run("--format", "json", write(tmp_path / "a.xml", domain("a")))
    assert (result.exit_code, result.stdout) == (0, "[]\n")


def test_json_findings_exit_1(tmp_path: Path) -> None:
    a, b = write(tmp_path / "a.xml", domain("a")), write(tmp_path / "b.xml", domain("b"))
    result = run("--format", "json", a, b)
    assert result.exit_code == 1
    assert codes(result) == ["duplicate"]


def test_json_warnings_alone_exit_0_unless_strict(tmp_path: Path) -> None:
    vlan = "<source bridge='br0'/>\n      <vlan><tag id='10'/></vlan>"
    vm = domain("a").replace("<source bridge='br0'/>", vlan)
    path = write(tmp_path / "a.xml", vm)
    relaxed = run("--format", "json", "--libvirt-version", "9.0", path)
    assert relaxed.exit_code == 0 and codes(relaxed) == ["vlan-unsupported"]
    assert run("--format", "json", "--libvirt-version", "9.0", "--strict", path).exit_code == 1


def test_json_missing_path_prints_an_empty_array_and_the_error_on_stderr(tmp_path: Path) -> None:
    missing = tmp_path / "missing.xml"
    result = run("--format", "json", write(tmp_path / "a.xml", domain("a")), str(missing))
    assert result.exit_code == 2
    assert json.loads(result.stdout) == []
    assert result.stderr.splitlines() == [f"virt-netxml: error: {missing}: no such file or directory"]


def test_json_missing_path_as_a_real_process(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.xml")
    proc = subprocess.run([sys.executable, "-m", "xmltools.cli.main", "lint", "--format", "json", missing],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stdout == "[]\n"
    assert proc.stderr.splitlines() == [f"virt-netxml: error: {missing}: no such file or directory"]


def test_text_missing_path_prints_nothing_on_stdout(tmp_path: Path) -> None:
    result = run(str(tmp_path / "missing.xml"))
    assert (result.exit_code, result.stdout) == (2, "")


@pytest.mark.parametrize("value", ["yaml", "JSON", ""])
def test_format_values_are_checked(tmp_path: Path, value: str) -> None:
    result = run("--format", value, write(tmp_path / "a.xml", domain("a")))
    assert result.exit_code == 2
    assert "Invalid value for '--format'" in result.stderr
    assert result.stdout == ""


# -------------------------------------------------------------------------- pre-commit

def _hooks() -> dict[str, dict]:
    try:
        import yaml
    except ImportError:
        yaml = None
    require(yaml is not None, "PyYAML (installed with pre-commit)")
    return {hook["id"]: hook for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}


def test_pre_commit_staged_hook_passes_only_xml_files() -> None:
    hook = _hooks()["virt-netxml-lint"]
    assert hook["entry"] == "virt-netxml lint" and hook["language"] == "python"
    assert hook["types"] == ["xml"] and hook["files"] == r"\.xml$"
    assert hook.get("pass_filenames", True) is True and hook["require_serial"] is True


def test_pre_commit_whole_repository_hook_lints_every_file_at_every_commit() -> None:
    hook = _hooks()["virt-netxml-lint-all"]
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False and hook["always_run"] is True
    assert [*hook["entry"].split(), *hook["args"]] == ["virt-netxml", "lint", "."]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args], cwd=repo,
                   check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A configuration repository: a committed domain, a Maven pom.xml, and a staged domain
    whose MAC the committed one already uses."""
    require(shutil.which("git") is not None, "git")
    repo = tmp_path / "config"
    write(repo / "hosts" / "web.xml", domain("web"))
    write(repo / "pom.xml", "<?xml version='1.0'?>\n<project xmlns='http://maven.apache.org/POM/4.0.0'>"
                            "<modelVersion>4.0.0</modelVersion></project>\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "web")
    write(repo / "hosts" / "db.xml", domain("db"))
    _git(repo, "add", "hosts/db.xml")
    return repo


def test_the_whole_repository_command_catches_a_duplicate_of_a_committed_file(repo: Path) -> None:
    hook = _hooks()["virt-netxml-lint-all"]
    argv = [*hook["entry"].split()[1:], *hook["args"]]   # what pre-commit runs, from the repository
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        whole = CliRunner().invoke(cli, argv)
        staged = CliRunner().invoke(cli, ["lint", "hosts/db.xml"])   # what the staged-files hook sees
    finally:
        os.chdir(cwd)
    assert whole.exit_code == 1
    assert whole.stdout.splitlines() == ["./hosts/web.xml:7: error: MAC address 52:54:00:3c:00:01 is "
                                         "already used at ./hosts/db.xml:7 [duplicate]"]
    assert staged.exit_code == 0


def _pre_commit() -> str | None:
    local = Path(sys.executable).with_name("pre-commit")
    return str(local) if local.exists() else shutil.which("pre-commit")


@pytest.mark.timeout(900)
def test_pre_commit_runs_both_hooks_from_this_repository(repo: Path, tmp_path: Path) -> None:
    """pre-commit itself installs this repository's hooks into an environment of its own and
    runs them in a configuration repository: the staged-files hook passes the staged domain
    alone, the whole-repository hook finds its MAC in the committed one."""
    pre_commit = _pre_commit()
    require(pre_commit is not None, "pre-commit (pip install pre-commit)")
    assert pre_commit is not None
    require(shutil.which("git") is not None, "git")
    source = tmp_path / "hooks-repo"   # this tree as it is, committed: what a tag would hold
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    _git(source, "init", "-q")
    _git(source, "add", ".")
    _git(source, "commit", "-q", "-m", "hooks")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    results = {}
    for hook in ("virt-netxml-lint", "virt-netxml-lint-all"):
        proc = subprocess.run([pre_commit, "try-repo", str(source), hook], cwd=repo, env=env,
                              capture_output=True, text=True, timeout=840)
        results[hook] = proc
    staged, whole = results["virt-netxml-lint"], results["virt-netxml-lint-all"]
    assert staged.returncode == 0, staged.stdout + staged.stderr
    assert "virt-netxml lint" in staged.stdout and "Passed" in staged.stdout
    assert whole.returncode == 1, whole.stdout + whole.stderr
    assert "MAC address 52:54:00:3c:00:01 is already used at ./hosts/db.xml:7 [duplicate]" in whole.stdout
    assert "pom.xml" not in whole.stdout   # a Maven file is no finding
