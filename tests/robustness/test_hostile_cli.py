"""Every ``virt-netxml`` command that reads XML, fed every hostile payload (issue 5 §1).

Expected everywhere: no traceback, the documented exit code (2 and one line on stderr for the
generating/editing commands; for ``lint`` a finding in the documented format and exit 1), no
output file written or changed, nothing fetched from the network, no file content pulled in by
an entity or an XInclude, and bounded time (pytest-timeout and subprocess timeouts).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.robustness import documents
from tests.robustness.payloads import (
    INERT,
    PASSWD_MARKER,
    REFUSED,
    XINCLUDE_MARKER,
    hostile_payloads,
    write_secret,
)
from tests.robustness.runner import (
    Result,
    assert_findings_format,
    assert_one_line_error,
    run_cli,
    run_subprocess,
)

pytestmark = pytest.mark.timeout(120)


@dataclass(frozen=True)
class EntryPoint:
    """One way a command reads a document: ``argv(path_or_dash, out_path)``; ``how`` is file|stdin|dir."""

    name: str
    base: bytes
    argv: Callable[[str, str], list[str]]
    how: str = "file"
    #: which file must stay untouched: 'out' (-o target absent), 'in' (the input, for -i), ''.
    guards: str = ""
    lint: bool = False


ENTRY_POINTS = [
    EntryPoint("lint-file", documents.NETWORK, lambda p, o: ["lint", p], lint=True),
    EntryPoint("lint-domain", documents.DOMAIN, lambda p, o: ["lint", p], lint=True),
    EntryPoint("lint-stdin", documents.NETWORK, lambda p, o: ["lint", p], how="stdin", lint=True),
    EntryPoint("lint-json", documents.DOMAIN, lambda p, o: ["lint", "--format", "json", p], lint=True),
    EntryPoint("edit-stdout", documents.DOMAIN, lambda p, o: ["edit", p, "--model", "virtio"]),
    EntryPoint("edit-stdin", documents.DOMAIN, lambda p, o: ["edit", p, "--model", "virtio"], how="stdin"),
    EntryPoint("edit-output", documents.DOMAIN, lambda p, o: ["edit", p, "--model", "virtio", "-o", o],
               guards="out"),
    EntryPoint("edit-in-place", documents.DOMAIN, lambda p, o: ["edit", p, "--model", "virtio", "-i"],
               guards="in"),
    EntryPoint("edit-interface", documents.INTERFACE, lambda p, o: ["edit", p, "--model", "e1000e"]),
    EntryPoint("edit-network", documents.NETWORK, lambda p, o: ["edit", p, "--add-portgroup", "pg1"]),
    EntryPoint("interface-domain", documents.DOMAIN,
               lambda p, o: ["interface", "--type", "user", "--domain", p]),
    EntryPoint("interface-domain-stdin", documents.DOMAIN,
               lambda p, o: ["interface", "--type", "user", "--domain", p], how="stdin"),
    EntryPoint("interface-domain-output", documents.DOMAIN,
               lambda p, o: ["interface", "--type", "user", "--domain", p, "-o", o], guards="out"),
    EntryPoint("interface-domain-in-place", documents.DOMAIN,
               lambda p, o: ["interface", "--type", "user", "--domain", p, "-i"], guards="in"),
    EntryPoint("mac-exclude", documents.DOMAIN, lambda p, o: ["mac", "--exclude", p]),
    EntryPoint("mac-exclude-stdin", documents.NETWORK, lambda p, o: ["mac", "--exclude", p], how="stdin"),
    EntryPoint("mac-exclude-dir", documents.DOMAIN, lambda p, o: ["mac", "--exclude", p], how="dir"),
]


@pytest.fixture(scope="module")
def secret(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_secret(tmp_path_factory.mktemp("secret"))


def _invoke(entry: EntryPoint, data: bytes, folder: Path, runner: Callable[..., Result] = run_cli,
            ) -> tuple[Result, Path, Path]:
    """Place ``data`` where ``entry`` reads it and run the command; returns (result, input, output)."""
    inp = folder / "input.xml"
    out = folder / "out.xml"
    if entry.how == "dir":
        sub = folder / "docs"
        sub.mkdir(exist_ok=True)
        inp = sub / "input.xml"
        inp.write_bytes(data)
        return runner(entry.argv(str(sub), str(out))), inp, out
    inp.write_bytes(data)
    if entry.how == "stdin":
        return runner(entry.argv("-", str(out)), stdin=data), inp, out
    return runner(entry.argv(str(inp), str(out))), inp, out


def _no_leak(result: Result, *files: Path) -> None:
    """No /etc/passwd line or XInclude'd text in the output or in any file written."""
    blobs = [result.stdout.decode("utf-8", "replace"), result.stderr]
    blobs += [f.read_bytes().decode("utf-8", "replace") for f in files if f.exists()]
    for blob in blobs:
        assert PASSWD_MARKER not in blob
        assert XINCLUDE_MARKER not in blob


def _check_lint_refusal(result: Result, entry: EntryPoint) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.code == 1, (result.code, result.stderr, result.text[:300])
    if "--format" in entry.argv("x", "y"):
        findings = json.loads(result.text)
        assert findings and all(f["severity"] in ("error", "warning") for f in findings)
        assert {"path", "line", "severity", "message", "code"} <= set(findings[0])
        assert any(f["severity"] == "error" for f in findings)
    else:
        lines = assert_findings_format(result.text)
        assert any(": error: " in line for line in lines)
    assert result.stderr == ""


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=lambda e: e.name)
def test_valid_base_is_accepted(entry: EntryPoint, tmp_path: Path) -> None:
    """Control: the unmodified base document passes, so every refusal below is due to the attack."""
    result, inp, out = _invoke(entry, entry.base, tmp_path)
    assert result.code == 0, (result.code, result.stderr)
    assert "Traceback" not in result.stderr
    if entry.guards == "out":
        assert out.exists()
    if entry.guards == "in":
        assert inp.read_bytes() != entry.base  # the edit really rewrites the file


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=lambda e: e.name)
def test_hostile_payloads_refused(entry: EntryPoint, tmp_path: Path, secret: Path, listener) -> None:
    payloads = hostile_payloads(entry.base, secret, listener.port)
    for name in REFUSED:
        if name == "non-libvirt-root" and (entry.how == "dir" or entry.lint):
            # a folder scan skips documents of other kinds by design (checked below); lint
            # passes over XML that is not a libvirt document (test_lint_passes_over_other_xml)
            continue
        folder = tmp_path / name
        folder.mkdir()
        result, inp, out = _invoke(entry, payloads[name], folder)
        if entry.lint:
            _check_lint_refusal(result, entry)
        else:
            assert_one_line_error(result, 2)
            assert result.stdout == b"", f"{name}: output on stdout despite the refusal"
        if entry.guards == "out":
            assert not out.exists(), f"{name}: -o target written despite the refusal"
        if entry.guards == "in":
            assert inp.read_bytes() == payloads[name], f"{name}: input changed despite the refusal"
        assert not list(folder.glob(".tmp-*")), f"{name}: temporary file left behind"
        _no_leak(result, inp, out)
    assert listener.connections == 0, "a payload made the parser contact the network"


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=lambda e: e.name)
def test_xinclude_is_never_processed(entry: EntryPoint, tmp_path: Path, secret: Path, listener) -> None:
    payloads = hostile_payloads(entry.base, secret, listener.port)
    for name in INERT:
        result, inp, out = _invoke(entry, payloads[name], tmp_path)
        assert "Traceback" not in result.stderr
        assert result.code in (0, 1, 2)
        _no_leak(result, inp, out)
        if result.code == 0 and not entry.lint and entry.name.startswith("edit"):
            # passed through untouched, as an unknown element, never expanded
            written = out.read_bytes() if entry.guards == "out" else (
                inp.read_bytes() if entry.guards == "in" else result.stdout)
            assert b"XInclude" in written and b"include" in written


def test_folder_scan_skips_other_documents(tmp_path: Path) -> None:
    """``mac --exclude DIR`` ignores non-libvirt XML in the folder but still reads the rest."""
    (tmp_path / "page.xml").write_bytes(b"<html/>")
    (tmp_path / "vm.xml").write_bytes(documents.DOMAIN)
    result = run_cli(["mac", "--exclude", str(tmp_path), "--seed", "s", "-n", "3"])
    assert result.code == 0, result.stderr
    assert b"52:54:00:12:34:56" not in result.stdout


@pytest.mark.parametrize("payload", ["xxe-file", "billion-laughs", "external-dtd", "parameter-entity",
                                     "oversize", "deep-nesting", "invalid-utf8", "truncated"])
def test_subprocess_edit_stdin(payload: str, tmp_path: Path, secret: Path, listener) -> None:
    """The installed console script, not just main(): one stderr line, exit 2, in bounded time."""
    data = hostile_payloads(documents.DOMAIN, secret, listener.port)[payload]
    result = run_subprocess(["edit", "-", "--model", "virtio"], stdin=data, timeout=30)
    assert_one_line_error(result, 2)
    assert result.stdout == b""
    _no_leak(result)
    assert listener.connections == 0


@pytest.mark.parametrize("entry", [e for e in ENTRY_POINTS if e.how != "stdin"], ids=lambda e: e.name)
def test_subprocess_xxe_each_command(entry: EntryPoint, tmp_path: Path, secret: Path, listener) -> None:
    data = hostile_payloads(entry.base, secret, listener.port)["xxe-network"]
    result, inp, out = _invoke(entry, data, tmp_path, runner=run_subprocess)
    if entry.lint:
        _check_lint_refusal(result, entry)
    else:
        assert_one_line_error(result, 2)
    if entry.guards == "in":
        assert inp.read_bytes() == data
    if entry.guards == "out":
        assert not out.exists()
    _no_leak(result, inp, out)
    assert listener.connections == 0


def test_lint_missing_path_is_usage_error() -> None:
    """lint's documented exit 2: an input that cannot be read at all."""
    result = run_cli(["lint", "/nonexistent/dir/file.xml"])
    assert_one_line_error(result, 2)


def test_lint_unreadable_file_is_reported(tmp_path: Path) -> None:
    """A directory given where lint expects a file, and a file without read permission."""
    folder = tmp_path / "x.xml"
    folder.mkdir()
    result = run_cli(["lint", str(folder)])  # a folder named *.xml: scanned as a folder, empty
    assert "Traceback" not in result.stderr
    assert result.code in (0, 2)


@pytest.mark.parametrize("entry", [e for e in ENTRY_POINTS if e.lint], ids=lambda e: e.name)
def test_lint_passes_over_other_xml(entry: EntryPoint, tmp_path: Path, secret: Path, listener) -> None:
    """XML whose root is not a libvirt document (a web page, a Maven pom.xml) is not lint's
    business: exit 0 and no finding (JSON: an empty array), nothing of it printed."""
    payloads = hostile_payloads(entry.base, secret, listener.port)
    result, inp, out = _invoke(entry, payloads["non-libvirt-root"], tmp_path)
    assert result.code == 0, result
    assert result.stdout.strip() in (b"", b"[]")
    assert b"hello" not in result.stdout and "hello" not in result.stderr
