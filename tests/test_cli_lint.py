"""``virt-netxml lint`` through click's CliRunner (and once as a real process)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from xmltools.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "lint"
LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): (?P<severity>error|warning): "
                  r"(?P<message>.+) \[(?P<code>[a-z-]+)\]$")


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(cli, ["lint", *args], input=stdin)


def test_clean_files_exit_0_and_print_nothing() -> None:
    result = run(str(FIXTURES / "pass" / "network-basics.xml"), str(FIXTURES / "pass" / "interface.xml"))
    assert result.exit_code == 0
    assert result.stdout == ""


def test_errors_exit_1_one_line_per_finding() -> None:
    path = str(FIXTURES / "fail" / "network-basics.xml")
    result = run("--no-libvirt-schemas", path)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed)
    assert [(m["path"], m["line"], m["severity"], m["code"]) for m in parsed if m] == [
        (path, "2", "error", "network-name"),
        (path, "4", "error", "bridge-name"),
        (path, "5", "error", "mac-multicast"),
    ]


def test_json_format() -> None:
    path = str(FIXTURES / "fail" / "macvtap-no-uplink.xml")
    result = run("--format", "json", path)
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data == [{
        "path": path, "line": 3, "severity": "error", "code": "macvtap-no-uplink",
        "message": "<forward mode='vepa'>: a macvtap network needs at least one <interface dev> uplink, "
                   "a dev or a <pf>",
    }]


def test_json_format_clean_is_an_empty_array() -> None:
    result = run("--format", "json", str(FIXTURES / "pass" / "ip.xml"))
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


def test_warnings_alone_exit_0_unless_strict() -> None:
    path = str(FIXTURES / "fail" / "bridge-no-uplink.xml")
    relaxed = run(path)
    assert relaxed.exit_code == 0
    assert ": warning: " in relaxed.stdout
    assert run("--strict", path).exit_code == 1


def test_quiet_hides_warnings() -> None:
    path = str(FIXTURES / "fail" / "bridge-no-uplink.xml")
    result = run("--quiet", path)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert run("--quiet", "--strict", path).exit_code == 1


def test_directory_is_searched_recursively() -> None:
    result = run("--format", "json", "--no-libvirt-schemas", str(FIXTURES / "fail"))
    assert result.exit_code == 1
    paths = {Path(item["path"]).name for item in json.loads(result.stdout)}
    assert paths == {p.name for p in (FIXTURES / "fail").glob("*.xml")}


def test_stdin() -> None:
    doc = (FIXTURES / "fail" / "hostdev-empty.xml").read_text()
    result = run("-", stdin=doc)
    assert result.exit_code == 1
    assert result.stdout.startswith("<stdin>:3: error: ")


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.xml"
    result = run(str(FIXTURES / "pass" / "ip.xml"), str(missing))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"{missing}: no such file or directory" in result.stderr


def test_no_arguments_is_a_usage_error() -> None:
    assert run().exit_code == 2


def test_bad_format_is_a_usage_error() -> None:
    assert run("--format", "yaml", str(FIXTURES / "pass" / "ip.xml")).exit_code == 2


@pytest.mark.parametrize(("content", "code"), [
    (b"<network><name>x</name>", "xml-malformed"),
    (b"<!DOCTYPE x [<!ENTITY a 'b'>]><network/>", "xml-unsafe"),
    (b"<network/>", "schema"),
])
def test_bad_documents_are_findings_not_crashes(tmp_path: Path, content: bytes, code: str) -> None:
    doc = tmp_path / "doc.xml"
    doc.write_bytes(content)
    result = run("--format", "json", str(doc))
    assert result.exit_code == 1
    assert [item["code"] for item in json.loads(result.stdout)] == [code]


def test_real_process_missing_file_one_line_exit_2(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.xml")
    proc = subprocess.run([sys.executable, "-m", "xmltools.cli.main", "lint", missing],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [f"virt-netxml: error: {missing}: no such file or directory"]


def test_pre_commit_hook_definition() -> None:
    text = (ROOT / ".pre-commit-hooks.yaml").read_text()
    assert "- id: virt-netxml-lint" in text
    assert "entry: virt-netxml lint" in text
    assert "language: python" in text
    assert re.search(r"files: '?\\\.xml\$'?", text)


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_bar_only_on_a_terminal_for_many_files() -> None:
    from xmltools.cli.lint_cmd import PROGRESS_MIN_FILES, want_progress

    assert want_progress(PROGRESS_MIN_FILES, _Stream(tty=True))
    assert not want_progress(PROGRESS_MIN_FILES, _Stream(tty=False))
    assert not want_progress(PROGRESS_MIN_FILES - 1, _Stream(tty=True))


def test_folder_without_xml_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "README").write_text("nothing to lint")
    result = run(str(tmp_path))
    assert result.exit_code == 2
    assert "no *.xml files in this folder" in result.stderr


def test_skipped_files_are_notes_on_stderr_not_findings(tmp_path: Path) -> None:
    import os

    (tmp_path / "ok.xml").write_bytes((FIXTURES / "pass" / "interface.xml").read_bytes())
    os.mkfifo(tmp_path / "pipe.xml")
    result = run(str(tmp_path))
    assert result.exit_code == 0
    assert result.stdout == ""
    pipe = tmp_path / "pipe.xml"
    assert result.stderr == f"virt-netxml: note: {pipe}: skipped: a FIFO, not a regular file\n"
