"""Lint over libvirt's configuration tree: /etc/libvirt as installed (this host's, and Debian
13's from the root setup.sh builds), the same with a domain, a network, a storage pool, a
secret and autostart links added, and the layout's rules: each file read once, autostart
entries judged and never read, secret values never opened, nwfilter references checked."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support import require
from xmltools import versions
from xmltools.cli.main import cli
from xmltools.lint import collect

ROOT = Path(__file__).resolve().parent.parent
DEBIAN13 = ROOT / ".cache" / "debian13"
HOST_TREE = Path("/etc/libvirt")

NETWORK = """<network>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <bridge name='{bridge}'/>
  <ip address='{ip}' prefix='24'/>
</network>
"""
DOMAIN = """<domain type='kvm'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='KiB'>131072</memory>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <interface type='network'>
      <mac address='52:54:00:3a:00:{octet}'/>
      <source network='default'/>
      <filterref filter='{filter}'/>
    </interface>
  </devices>
</domain>
"""
FILTER = "<filter name='{name}' chain='root'>\n  <filterref filter='{ref}'/>\n</filter>\n"
POOL = """<pool type='dir'>
  <name>images</name>
  <uuid>4f0c3cd4-3a0e-4b8e-9d3e-2f5e6d7c8b9a</uuid>
  <target>
    <path>/var/lib/libvirt/images</path>
  </target>
</pool>
"""
SECRET_UUID = "0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f"
SECRET = f"""<secret ephemeral='no' private='yes'>
  <uuid>{SECRET_UUID}</uuid>
  <usage type='volume'>
    <volume>/var/lib/libvirt/images/secure.qcow2</volume>
  </usage>
</secret>
"""
SECRET_VALUE = "c2VjcmV0LXBhc3NwaHJhc2UtNDI="   # base64 of a passphrase: must never be read or shown


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIRT_NETXML_LIBVIRT_SCHEMAS", raising=False)
    monkeypatch.delenv(versions.ENV, raising=False)


def run(*args: str):
    return CliRunner().invoke(cli, ["lint", *args])


def errors(result) -> list[str]:
    return [line for line in result.stdout.splitlines() if ": error: " in line]


# -- every open() of the process, while a test watches ---------------------------------------

_OPENED: list[str] = []
_WATCHING: list[bool] = []


def _audit(event: str, args: tuple) -> None:
    if _WATCHING and event == "open" and isinstance(args[0], (str, bytes)):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)   # os.open and open() both raise the "open" audit event


@contextlib.contextmanager
def watching_opens() -> Iterator[list[str]]:
    _OPENED.clear()
    _WATCHING.append(True)
    try:
        yield _OPENED
    finally:
        _WATCHING.clear()


# -- each file once ----------------------------------------------------------------------------

def test_a_file_given_twice_or_with_its_folder_is_read_once(tmp_path: Path) -> None:
    doc = tmp_path / "net.xml"
    doc.write_text(NETWORK.format(name="lab", uuid="0f0a8a3e-9d2b-4c61-9a40-3f7d8d4c2b10", bridge="virbr7",
                                  ip="192.168.70.1"))
    for paths in ([doc, doc], [tmp_path, doc], [doc, tmp_path], [tmp_path, tmp_path / ".", doc]):
        found = collect([str(p) for p in paths])
        assert len(found.files) == 1, paths
        result = run(*map(str, paths))
        assert (result.exit_code, result.stdout) == (0, ""), paths   # no duplicate of itself
    assert len(collect(["-", "-"]).files) == 1


# -- autostart ---------------------------------------------------------------------------------

def autostart_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "libvirt"
    networks = tree / "qemu" / "networks"
    (networks / "autostart").mkdir(parents=True)
    (networks / "default.xml").write_text(NETWORK.format(
        name="default", uuid="6f3e0c3a-1d41-4a3e-b1a2-0f6d2c5a9e71", bridge="virbr0", ip="192.168.122.1"))
    return tree


@pytest.mark.parametrize("target", [
    "/etc/libvirt/qemu/networks/default.xml",   # as libvirt writes it; in a copy, the original's path
    "../default.xml",
    "{networks}/default.xml",                   # the copy's own absolute path
])
def test_an_autostart_link_to_its_definition_is_clean_and_never_read(tmp_path: Path, target: str) -> None:
    tree = autostart_tree(tmp_path)
    networks = tree / "qemu" / "networks"
    link = networks / "autostart" / "default.xml"
    link.symlink_to(target.format(networks=networks))
    with watching_opens() as opened:
        result = run(str(tree))
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    assert str(link) not in opened and str(networks / "default.xml") in opened


@pytest.mark.parametrize("folder", ["qemu/networks", "qemu", "storage"])
def test_an_autostart_link_without_its_definition_is_an_error(tmp_path: Path, folder: str) -> None:
    tree = autostart_tree(tmp_path)
    (tree / folder / "autostart").mkdir(exist_ok=True, parents=True)
    link = tree / folder / "autostart" / "gone.xml"
    link.symlink_to(f"/etc/libvirt/{folder}/gone.xml")
    result = run(str(tree))
    assert result.exit_code == 1
    assert result.stdout == (f"{link}:1: error: autostart link to /etc/libvirt/{folder}/gone.xml: there is "
                             f"no gone.xml in {tree / folder}/, the definition libvirt would start; libvirt "
                             "starts nothing through this link [autostart-missing]\n")


def test_an_autostart_link_to_another_file_or_a_copy_is_a_warning(tmp_path: Path) -> None:
    tree = autostart_tree(tmp_path)
    networks = tree / "qemu" / "networks"
    other = networks / "other.xml"
    other.write_text(NETWORK.format(name="other", uuid="1f3e0c3a-1d41-4a3e-b1a2-0f6d2c5a9e72",
                                    bridge="virbr1", ip="192.168.123.1"))
    (networks / "autostart" / "default.xml").symlink_to("../other.xml")
    shutil.copy(other, networks / "autostart" / "other.xml")                     # a copy, not a link
    result = run("--format", "json", str(tree))
    assert result.exit_code == 0   # warnings only
    found = [(f["path"], f["severity"], f["code"]) for f in json.loads(result.stdout)]
    assert found == [(str(networks / "autostart" / "default.xml"), "warning", "autostart-target"),
                     (str(networks / "autostart" / "other.xml"), "warning", "autostart-target")]
    # A hard link is the definition itself (libvirt compares the files): clean.
    (networks / "autostart" / "other.xml").unlink()
    (networks / "autostart" / "default.xml").unlink()
    os.link(other, networks / "autostart" / "other.xml")
    assert (run(str(tree)).exit_code, run(str(tree)).stdout) == (0, "")


def test_an_autostart_entry_is_never_opened_whatever_it_points_at(tmp_path: Path) -> None:
    tree = autostart_tree(tmp_path)
    autostart = tree / "qemu" / "networks" / "autostart"
    os.mkfifo(tmp_path / "pipe")
    (tree / "qemu" / "networks" / "pipe.xml").symlink_to(tmp_path / "pipe")   # noted, not read
    (autostart / "pipe.xml").symlink_to(tmp_path / "pipe")
    (autostart / "default.xml").symlink_to("/etc/shadow")
    with watching_opens() as opened:
        result = run(str(tree))
    assert not [p for p in opened if "/autostart/" in p or p.endswith(("pipe", "shadow"))], opened
    assert result.exit_code == 0
    # pipe.xml's link resolves to what pipe.xml beside autostart/ resolves to: no finding.
    assert [line.split(": ")[0] for line in result.stdout.splitlines()] == [f"{autostart / 'default.xml'}:1"]
    assert "autostart-target" in result.stdout


# -- secrets -----------------------------------------------------------------------------------

@pytest.mark.parametrize("value_kind", ["file", "unreadable", "fifo"])
def test_a_secrets_value_is_never_opened_nor_printed(tmp_path: Path, value_kind: str) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / f"{SECRET_UUID}.xml").write_text(SECRET)
    value = secrets / f"{SECRET_UUID}.base64"
    if value_kind == "fifo":
        os.mkfifo(value)
    else:
        value.write_text(SECRET_VALUE)
        if value_kind == "unreadable":
            value.chmod(0)
    # Named *.xml by mistake, a value still never reaches the output: it is not XML.
    (secrets / "stray.xml").write_text(SECRET_VALUE)
    with watching_opens() as opened:
        results = [run(str(tmp_path)), run("--verbose", "--format", "json", str(tmp_path))]
    assert not [p for p in opened if p.endswith(".base64")], opened
    assert str(secrets / f"{SECRET_UUID}.xml") in opened
    for result in results:
        assert result.exit_code == 0, result.output
        assert SECRET_VALUE not in result.stdout + result.stderr
        assert ".base64" not in result.stdout + result.stderr


# -- nwfilter references -------------------------------------------------------------------

def test_a_filterref_to_a_filter_the_tree_lacks_is_an_error_at_its_line(tmp_path: Path) -> None:
    require_schemas()
    tree = tmp_path / "libvirt"
    (tree / "nwfilter").mkdir(parents=True)
    (tree / "qemu").mkdir()
    (tree / "nwfilter" / "base.xml").write_text(FILTER.format(name="base", ref="no-such-base"))
    (tree / "qemu" / "web.xml").write_text(DOMAIN.format(
        name="web", uuid="2a8e6a4c-0c6b-4d8e-9a53-7c1e1c4b7d01", octet="01", filter="missing-filter"))
    result = run(str(tree))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"{tree / 'nwfilter' / 'base.xml'}:2: error: <filterref filter='no-such-base'>: no nwfilter named "
        f"'no-such-base' in {tree / 'nwfilter'}; libvirt refuses to start the guest (or to instantiate the "
        "filter) without it [nwfilter-missing]",
        f"{tree / 'qemu' / 'web.xml'}:10: error: <filterref filter='missing-filter'>: no nwfilter named "
        f"'missing-filter' in {tree / 'nwfilter'}; libvirt refuses to start the guest (or to instantiate the "
        "filter) without it [nwfilter-missing]",
    ]
    # The twins: filters the tree defines.
    (tree / "nwfilter" / "no-such-base.xml").write_text("<filter name='no-such-base' chain='root'/>\n")
    (tree / "nwfilter" / "missing.xml").write_text("<filter name='missing-filter' chain='root'/>\n")
    result = run(str(tree))
    assert (result.exit_code, result.stdout) == (0, "")


def test_without_an_nwfilter_folder_filter_references_are_not_judged(tmp_path: Path) -> None:
    (tmp_path / "web.xml").write_text(DOMAIN.format(
        name="web", uuid="2a8e6a4c-0c6b-4d8e-9a53-7c1e1c4b7d01", octet="01", filter="clean-traffic"))
    result = run(str(tmp_path))
    assert (result.exit_code, result.stdout) == (0, "")


# -- whole trees -------------------------------------------------------------------------------

def require_schemas() -> None:
    from xmltools import schema

    require(schema.LIBVIRT_SCHEMA_DIR.joinpath("nwfilter.rng").is_file(), "libvirt's schemas installed")


def copy_tree(source: Path, tmp_path: Path) -> Path:
    require(source.joinpath("nwfilter").is_dir() and source.joinpath("qemu", "networks").is_dir(),
            f"libvirt's configuration tree at {source}")
    require(os.geteuid() == 0, "root (libvirt's tree has files only root reads)")
    tree = tmp_path / "libvirt"
    shutil.copytree(source, tree, symlinks=True)
    return tree


def add_definitions(tree: Path, release_root: str = "/") -> None:
    """What a host gains in use: a domain, a network, a storage pool and a secret defined, and
    autostart links as libvirt writes them (absolute, to the definitions under /etc/libvirt)."""
    virsh = shutil.which("virsh")
    require(virsh is not None, "virsh (libvirt-clients)")
    assert virsh is not None
    domain = subprocess.run([virsh, "-c", "test:///default", "dumpxml", "test"], check=True,
                            capture_output=True, text=True).stdout
    # An nwfilter every Debian tree ships, as a guest would use it.
    domain = domain.replace("<source network='default'/>",
                            "<source network='default'/>\n      <filterref filter='clean-traffic'/>", 1)
    assert "clean-traffic" in domain
    # libvirt's own saved definitions start with a comment before the root element.
    header = ("<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE\n"
              "OVERWRITTEN AND LOST. Changes to this xml configuration should be made using:\n"
              "  virsh edit test\nor other application using the libvirt API.\n-->\n\n")
    (tree / "qemu" / "test.xml").write_text(header + domain)
    network = subprocess.run(
        [sys.executable, "-m", "xmltools.cli.main", "network", "lab", "--bridge", "virbr7",
         "--ip", "192.168.70.1/24", "--dhcp-range", "192.168.70.10,192.168.70.50"],
        check=True, capture_output=True, text=True, cwd=ROOT).stdout
    (tree / "qemu" / "networks" / "lab.xml").write_text(network)
    (tree / "storage").mkdir(exist_ok=True)
    (tree / "storage" / "images.xml").write_text(POOL)
    (tree / "secrets").mkdir(exist_ok=True)
    (tree / "secrets" / f"{SECRET_UUID}.xml").write_text(SECRET)
    (tree / "secrets" / f"{SECRET_UUID}.base64").write_text(SECRET_VALUE)
    for folder, name in (("qemu", "test"), ("qemu/networks", "default"), ("qemu/networks", "lab"),
                         ("storage", "images")):
        autostart = tree / folder / "autostart"
        autostart.mkdir(exist_ok=True)
        link = autostart / f"{name}.xml"
        if not link.is_symlink():
            link.symlink_to(f"/etc/libvirt/{folder}/{name}.xml")


def lint_tree_clean(tree: Path, *options: str) -> None:
    with watching_opens() as opened:
        result = run(*options, "--format", "json", str(tree))
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert [f for f in found if f["severity"] == "error"] == []
    assert not [f for f in found if f["code"].startswith(("autostart", "nwfilter", "libvirt-schema"))]
    assert "not validated" not in result.stderr   # every kind was validated
    assert "skipped" not in result.stderr
    assert not [p for p in opened if p.endswith(".base64") or "/autostart/" in p]
    assert any(p.endswith("/nwfilter/clean-traffic.xml") for p in opened)


def test_the_hosts_libvirt_tree_lints_clean(tmp_path: Path) -> None:
    require_schemas()
    tree = copy_tree(HOST_TREE, tmp_path)
    lint_tree_clean(tree)
    add_definitions(tree)
    lint_tree_clean(tree)
    # And the checks across it still bite: a network's definition gone, a filter renamed.
    (tree / "qemu" / "networks" / "lab.xml").unlink()
    (tree / "nwfilter" / "clean-traffic.xml").unlink()
    result = run(str(tree))
    assert result.exit_code == 1
    codes = sorted(line.rsplit("[", 1)[1] for line in errors(result))
    assert codes == ["autostart-missing]", "nwfilter-missing]"]


DEBIAN13_OPTIONS = ("--libvirt-version", "11.3",
                    "--libvirt-schema-dir", str(DEBIAN13 / "usr" / "share" / "libvirt" / "schemas"))


def test_debian_13s_libvirt_tree_lints_clean_with_its_schemas(tmp_path: Path) -> None:
    require(DEBIAN13.joinpath("usr", "share", "libvirt", "schemas", "nwfilter.rng").is_file(),
            "the Debian 13 root with libvirt 11.3 (tests/e2e/debian13-root.sh)")
    assert versions.installed(str(DEBIAN13))[:2] == (11, 3)   # the root is the release it claims
    lint_tree_clean(DEBIAN13 / "etc" / "libvirt", *DEBIAN13_OPTIONS)
    tree = copy_tree(DEBIAN13 / "etc" / "libvirt", tmp_path)
    add_definitions(tree)
    lint_tree_clean(tree, *DEBIAN13_OPTIONS)
