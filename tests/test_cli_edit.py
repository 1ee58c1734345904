"""``virt-netxml edit`` through click's test runner."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.support import DOMAINS, copy_domain, one_error_line, require
from xmltools.cli.main import cli
from xmltools.domain import Domain
from xmltools.network import Network

LAN = """<network>
  <name>lan</name>
  <forward mode='bridge'/>
  <bridge name='br0'/>
</network>
"""


def invoke(args: list[str], stdin: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["edit", *args], input=stdin)





def test_set_bridge_vlan_to_stdout(tmp_path: Path) -> None:
    path = copy_domain(tmp_path)
    before = path.read_text()
    result = invoke([str(path), "--mac", "52:54:00:10:00:01", "--set-bridge-vlan", "20,30-40",
                     "--vlan-native", "20"])
    assert result.exit_code == 0, result.stderr
    assert path.read_text() == before
    block = ("    <vnx:netxml xmlns:vnx='urn:virt-netxml:hooks:1'>\n"
             "      <vnx:interface mac='52:54:00:10:00:01'>\n"
             "        <vnx:vlan trunks='20,30-40' native='20'/>\n"
             "      </vnx:interface>\n"
             "    </vnx:netxml>\n")
    assert result.stdout == before.replace("  </metadata>", block + "  </metadata>", 1)


def test_in_place_round_trip(tmp_path: Path) -> None:
    path = copy_domain(tmp_path)
    os.chmod(path, 0o640)
    before = path.read_text()
    assert invoke([str(path), "--target", "guest-lan", "--set-vlan", "7", "-i"]).exit_code == 0
    assert Domain.from_xml(path.read_text()).select(target="guest-lan")[0].vlan.ids == [7]
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    result = invoke([str(path), "--target", "guest-lan", "--clear-vlan", "-i"])
    assert result.exit_code == 0, result.stderr
    assert path.read_text() == before


def test_source_changes_and_model(tmp_path: Path) -> None:
    path = copy_domain(tmp_path)
    result = invoke([str(path), "--index", "1", "--source-bridge", "ovsbr0", "--ovs", "--model", "virtio"])
    assert result.exit_code == 0, result.stderr
    iface = Domain.from_xml(result.stdout).select(index=1)[0]
    assert (iface.type, iface.source.bridge, iface.is_ovs, iface.model) == \
        ("bridge", "ovsbr0", True, "virtio")


def test_regenerate_mac_all(tmp_path: Path) -> None:
    path = copy_domain(tmp_path)
    result = invoke([str(path), "--all", "--regenerate-mac"])
    assert result.exit_code == 0, result.stderr
    macs = [i.mac for i in Domain.from_xml(result.stdout).interfaces]
    assert len(set(macs)) == 3 and "52:54:00:10:00:01" not in macs


def test_stdin_document() -> None:
    text = (DOMAINS / "capvm-prepare.xml").read_text()
    result = invoke(["-", "--index", "3", "--set-bridge-vlan", "10"], stdin=text)
    assert result.exit_code == 0, result.stderr
    assert Domain.from_xml(result.stdout).meta_interface("52:54:00:ea:dd:15").vlan.tag == 10


def test_network_portgroups(tmp_path: Path) -> None:
    path = tmp_path / "lan.xml"
    path.write_text(LAN)
    result = invoke([str(path), "--add-portgroup", "office,default", "--add-portgroup", "lab",
                     "--portgroup-vlan", "office=10", "-i"])
    assert result.exit_code == 0, result.stderr
    # libvirt cannot put a VLAN on a Linux bridge network: the hook's metadata gets it
    assert result.stderr.startswith("virt-netxml: note: portgroup office:")
    net = Network.from_xml(path.read_text())
    assert [(g.name, g.default) for g in net.portgroups] == [("office", True), ("lab", None)]
    assert net.meta().portgroup("office").vlan.tag == 10
    result = invoke([str(path), "--remove-portgroup", "lab", "-i"])
    assert result.exit_code == 0, result.stderr
    assert [g.name for g in Network.from_xml(path.read_text()).portgroups] == ["office"]


def test_standalone_interface_file(tmp_path: Path) -> None:
    path = tmp_path / "nic.xml"
    path.write_text("<interface type='bridge'>\n  <source bridge='br0'/>\n</interface>\n")
    result = invoke([str(path), "--source-network", "default", "-i"])
    assert result.exit_code == 0, result.stderr
    assert path.read_text() == "<interface type='network'>\n  <source network='default'/>\n</interface>\n"


@pytest.mark.parametrize("args,fragment", [
    (["--index", "1", "--set-vlan", "5000"], "VLAN ids are 1 to 4094"),
    (["--index", "0", "--set-vlan", "5"], "Linux bridge"),
    (["--mac", "52:54:00:99:99:99", "--model", "virtio"], "no interface of the domain matches"),
    (["--index", "9", "--model", "virtio"], "has 3 interface(s)"),
    (["--index", "one", "--model", "virtio"], "not a whole number"),
    ([], "nothing to do"),
    (["--add-portgroup", "x"], "apply to a network document"),
    (["--index", "1", "--set-vlan", "5", "--clear-vlan"], "contradict"),
    (["--model", "virtio", "-i", "-o", "x.xml"], "contradict"),
    (["--frobnicate"], "No such option"),
])
def test_bad_input_leaves_the_file(tmp_path: Path, args: list[str], fragment: str) -> None:
    path = copy_domain(tmp_path)
    before = path.read_bytes()
    line = one_error_line(invoke([str(path), *args, "-i"] if "-i" not in args else [str(path), *args]))
    assert fragment in line, line
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keepsake.xml"]


@pytest.mark.parametrize("content,args,fragment", [
    ("<domain><name>x</name>", ["--model", "virtio"], "malformed XML"),
    ("<pool/>", ["--model", "virtio"], "found <pool>"),
    (LAN, ["--model", "virtio"], "only --add-portgroup"),
    (LAN, ["--portgroup-vlan", "nope=5"], "no such portgroup"),
])
def test_bad_documents(tmp_path: Path, content: str, args: list[str], fragment: str) -> None:
    path = tmp_path / "doc.xml"
    path.write_text(content)
    assert fragment in one_error_line(invoke([str(path), *args, "-i"]))
    assert path.read_text() == content


def test_in_place_on_stdin_is_refused() -> None:
    assert "standard input" in one_error_line(invoke(["-", "--model", "virtio", "-i"], stdin="<domain/>"))


# -- where the output goes: every unwritable target is one line and exit 2 ------------------

ROOT = Path(__file__).resolve().parent.parent
EDIT = ["--target", "guest-lan", "--set-vlan", "7"]


def real(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
    """``virt-netxml ARGS`` as a real process (what happens to its own stdout matters here)."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    return subprocess.run([sys.executable, "-m", "xmltools.cli.main", *args], stderr=subprocess.PIPE,
                          cwd=ROOT, timeout=60, stdin=subprocess.DEVNULL, **kwargs)


def one_real_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("virt-netxml: error: "), lines
    return lines[0]


@pytest.mark.parametrize("where,fragment", [
    ("folder", "Is a directory"),
    ("keepsake.xml/out.xml", "Not a directory"),
    ("missing/out.xml", "No such file or directory"),
    ("out.xml/", "Is a directory"),
])
def test_unwritable_output_path_is_one_line(tmp_path: Path, where: str, fragment: str) -> None:
    source = copy_domain(tmp_path)
    (tmp_path / "folder").mkdir()
    target = str(tmp_path / where) + ("/" if where.endswith("/") else "")
    line = one_error_line(invoke([str(source), *EDIT, "-o", target]))
    assert line.startswith(f"virt-netxml: error: {target}: cannot write: ") and fragment in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "keepsake.xml"]


# Device nodes and links of the tests' own, never the machine's /dev: if the writer ever
# replaced what it writes to again, the damage stays in tmp_path.

def private_full(tmp_path: Path) -> Path:
    require(os.geteuid() == 0, "root (mknod)")
    full = tmp_path / "full"
    os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    return full


def test_full_device_as_output_file_is_one_line(tmp_path: Path) -> None:
    full = private_full(tmp_path)
    line = one_error_line(invoke([str(DOMAINS / "keepsake.xml"), *EDIT, "-o", str(full)]))
    assert line == f"virt-netxml: error: {full}: cannot write: No space left on device"
    assert stat.S_ISCHR(os.lstat(full).st_mode)


@pytest.mark.parametrize("command", [
    ["edit", str(DOMAINS / "keepsake.xml"), *EDIT],
    ["network", "lab", "--mode", "isolated"],
    ["mac", "-n", "3"],
    ["lint", "--format", "json", str(DOMAINS / "keepsake.xml")],
])
def test_standard_output_on_a_full_device_is_one_line(tmp_path: Path, command: list[str]) -> None:
    with open(private_full(tmp_path), "wb") as full:
        proc = real(command, stdout=full)
    assert one_real_error_line(proc) == \
        "virt-netxml: error: standard output: cannot write: No space left on device"


@pytest.mark.parametrize("command", [
    ["edit", str(DOMAINS / "keepsake.xml"), *EDIT],
    ["mac", "-n", "3"],
])
def test_standard_output_to_a_closed_pipe_is_one_line(command: list[str]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = real(command, stdout=write_end)
    finally:
        os.close(write_end)
    assert one_real_error_line(proc) == "virt-netxml: error: standard output: cannot write: Broken pipe"


def test_dev_stdout_as_output_writes_into_the_stream(tmp_path: Path) -> None:
    """``-o /dev/stdout``, through a link of the test's own that points where /dev/stdout does."""
    source = copy_domain(tmp_path)
    stdout = tmp_path / "stdout"
    stdout.symlink_to("/proc/self/fd/1")
    piped = real(["edit", str(source), *EDIT, "-o", str(stdout)])
    assert piped.returncode == 0, piped.stderr
    assert Domain.from_xml(piped.stdout.decode()).select(target="guest-lan")[0].vlan.ids == [7]
    log = tmp_path / "log"
    log.write_text("before\n")
    with open(log, "ab") as fh:   # the shell's '>>': the document is added, nothing replaced
        appended = real(["edit", str(source), *EDIT, "-o", str(stdout)], stdout=fh)
    assert appended.returncode == 0, appended.stderr
    assert log.read_text() == "before\n" + piped.stdout.decode()
    assert stdout.is_symlink()


def _in_private_mounts(tmp_path: Path, script: str) -> subprocess.CompletedProcess:
    require(os.geteuid() == 0 and shutil.which("unshare") is not None, "root and unshare(1) for mounts")
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-euc", script, "sh",
                           str(tmp_path), sys.executable, str(ROOT)], capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def test_read_only_filesystem_is_one_line_and_leaves_the_file(tmp_path: Path) -> None:
    (tmp_path / "ro").mkdir()
    proc = _in_private_mounts(tmp_path, """
        mount -t tmpfs none "$1/ro"; cp "$3/fixtures/domains/keepsake.xml" "$1/ro/"
        mount -o remount,ro "$1/ro"
        cd "$3"; set +e
        "$2" -m xmltools.cli.main edit "$1/ro/keepsake.xml" --all --model e1000 -i; echo "rc=$?"
        cmp "$1/ro/keepsake.xml" "$3/fixtures/domains/keepsake.xml"; ls -A "$1/ro"
    """)
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode == 0, err
    assert out.splitlines() == ["rc=2", "keepsake.xml"]
    assert err.strip() == \
        f"virt-netxml: error: {tmp_path}/ro/keepsake.xml: cannot write: Read-only file system"


def test_full_filesystem_is_one_line_and_leaves_no_half_file(tmp_path: Path) -> None:
    """One page of tmpfs: the old file fits, its replacement does not."""
    (tmp_path / "small").mkdir()
    proc = _in_private_mounts(tmp_path, """
        mount -t tmpfs -o size=4k none "$1/small"; cp "$3/fixtures/domains/keepsake.xml" "$1/small/"
        cd "$3"; set +e
        "$2" -m xmltools.cli.main edit "$1/small/keepsake.xml" --all --model e1000 -i; echo "rc=$?"
        cmp "$1/small/keepsake.xml" "$3/fixtures/domains/keepsake.xml"; ls -A "$1/small"
    """)
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode == 0, err
    assert out.splitlines() == ["rc=2", "keepsake.xml"]
    assert err.strip() == (f"virt-netxml: error: {tmp_path}/small/keepsake.xml: cannot write: "
                           "No space left on device")
