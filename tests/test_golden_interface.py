"""Golden interfaces: the README walkthrough's NICs, their output, and libvirt's verdict on them.

Each line of WALKTHROUGH is one ``virt-netxml interface`` command; its output is compared with
``fixtures/interfaces/<name>.xml`` (``pytest --regenerate`` rewrites them). Commands with
metadata options add the interface to ``fixtures/domains/minimal.xml``, so their golden file
is the whole domain.

Differential checks, against libvirt itself rather than our own expectations:
- ``virsh attach-interface … --print-xml`` (libvirt's own way of writing a NIC) means the same
  as our fragment for the options both have;
- the chapter's packtsriov.xml figure means the same as our VF;
- each golden interface, in a minimal domain, validates with ``xmllint --relaxng`` against
  libvirt's installed domain.rng;
- ``virsh -c test:///default`` defines that domain and dumps back the same interfaces and the
  same metadata (the test driver runs libvirt's real parser and formatter, no daemon needed).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from tests.support import require
from xmltools.cli.main import cli
from xmltools.metadata import NS
from xmltools.xmlparse import parse_bytes

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "fixtures" / "interfaces"
MINIMAL = ROOT / "fixtures" / "domains" / "minimal.xml"
DOMAIN_RNG = Path("/usr/share/libvirt/schemas/domain.rng")
MIN = "fixtures/domains/minimal.xml"

WALKTHROUGH: list[tuple[str, str]] = [
    # the chapter's `virsh attach-interface --domain MasteringKVM01 --source isolated
    # --type network --model virtio --config`
    ("isolated-virtio", "--type network --source isolated --model virtio"),
    # the chapter's packtsriov.xml: a VF by PCI address, managed by libvirt
    ("packtsriov", "--type hostdev --pci 0000:04:10.0 --managed"),
    # the chapter's `ovs-vsctl set port vnet0 tag=5`, said in the XML so it survives restarts
    ("ovs-vlan5", "--type bridge --source ovs-br0 --virtualport openvswitch --vlan 5 --model virtio"),
    ("packtovs-vlan5", "--type network --source packtovs --portgroup vlan5 --model virtio"),
    ("macvtap-vepa", "--type direct --source ens224 --mode vepa --model virtio"),
    ("macvtap-bridge", "--type direct --source ens224 --mode bridge --model virtio"),
    ("macvtap-private", "--type direct --source ens224 --mode private --model virtio"),
    ("macvtap-passthrough", "--type direct --source ens1f0 --mode passthrough --model virtio"),
    # the chapter's `ip tuntap add dev vm-vnic mode tap; brctl addif tester vm-vnic`, done by
    # the hook: a TAP made at prepare and added to bridge `tester`
    ("tap-on-bridge", f"--type ethernet --target tap0 --unmanaged --tap-bridge tester --model virtio "
                      f"--domain {MIN}"),
    ("linux-bridge-vlan10", f"--type bridge --source br0 --bridge-vlan 10 --model virtio --domain {MIN}"),
    ("ovs-trunk-metadata", f"--type bridge --source ovs-br0 --virtualport openvswitch "
                           f"--bridge-vlan 20,30-40 --vlan-native 20 --model virtio --domain {MIN}"),
    ("vf-with-pf", f"--type hostdev --pci 0000:04:10.1 --unmanaged --vlan 42 --vf-pf ens1f0 "
                   f"--vf-index 1 --domain {MIN}"),
    ("everything", "--type network --source default --mac 52:54:00:3a:5b:7c --model virtio --queues 4 "
                   "--target guest0 --bandwidth-in 10000,20000,512 --bandwidth-out 5000 --mtu 9000 "
                   "--link up --boot 2 --filter clean-traffic,IP=192.168.122.50"),
]
IDS = [name for name, _ in WALKTHROUGH]
DOMAIN_GOLDENS = [name for name, args in WALKTHROUGH if "--domain" in args]

# Options both `virsh attach-interface --print-xml` and we have: libvirt's spelling -> ours.
VIRSH_EQUIVALENTS: list[tuple[str, str]] = [
    ("--type network --source isolated --model virtio", "isolated-virtio"),
    ("--type hostdev --source 0000:04:10.0 --managed", "packtsriov"),
    ("--type bridge --source br0 --target tap7 --mac 52:54:00:00:00:07",
     "--type bridge --source br0 --target tap7 --mac 52:54:00:00:00:07"),
    ("--type network --source n --inbound 100,200,300 --outbound 50",
     "--type network --source n --bandwidth-in 100,200,300 --bandwidth-out 50"),
    ("--type direct --source ens224 --model virtio", "--type direct --source ens224 --model virtio"),
]


def run(argline: str) -> str:
    result = CliRunner().invoke(cli, ["interface", *shlex.split(argline)])
    assert result.exit_code == 0, result.stderr
    return result.stdout


def golden_text(name: str) -> str:
    path = GOLDEN / f"{name}.xml"
    assert path.exists(), f"run pytest --regenerate to create {path}"
    return path.read_text()


def as_domain(name: str) -> str:
    """The golden file as a whole domain: fragments go into the minimal domain by text."""
    text = golden_text(name)
    if text.startswith("<domain"):
        return text
    fragment = "".join("    " + line + "\n" for line in text.splitlines())
    return MINIMAL.read_text().replace("  </devices>", fragment + "  </devices>")


def canonical(node: etree._Element, drop: tuple[str, ...] = ()) -> bytes:
    """Meaning only: no whitespace, comments or quote style; children sorted by tag."""
    node = etree.fromstring(etree.tostring(node))
    for tag in drop:
        for found in node.findall(tag):
            found.getparent().remove(found)
    for comment in node.xpath("//comment()"):
        comment.getparent().remove(comment)
    elements = [e for e in node.iter() if isinstance(e.tag, str)]
    for elem in elements:
        if elem.text is not None and not elem.text.strip():
            elem.text = None
        elem.tail = None
    for elem in reversed(elements):  # children first, so a parent sorts on canonical children
        elem[:] = sorted(elem, key=lambda c: (c.tag, etree.tostring(c)))
    return etree.tostring(node, method="c14n")


def interfaces_of(text: str) -> list[etree._Element]:
    return parse_bytes(text).getroot().findall("devices/interface")


# --------------------------------------------------------------------------- golden files


@pytest.mark.parametrize("name,argline", WALKTHROUGH, ids=IDS)
def test_walkthrough_output_matches_golden_file(golden, monkeypatch, name: str, argline: str) -> None:
    monkeypatch.chdir(ROOT)
    golden(f"interfaces/{name}.xml", run(argline))


@pytest.mark.parametrize("name", DOMAIN_GOLDENS)
def test_domain_goldens_keep_the_input_domain(name: str) -> None:
    """Adding an interface changes the minimal domain only inside <metadata> and <devices>."""
    ours = parse_bytes(golden_text(name)).getroot()
    base = parse_bytes(MINIMAL.read_bytes()).getroot()
    assert canonical(ours, drop=("metadata", "devices")) == canonical(base, drop=("devices",))
    assert len(ours.findall("devices/interface")) == 1
    entry = ours.find(f"metadata/{{{NS}}}netxml/{{{NS}}}interface")
    assert entry.get("mac") == ours.find("devices/interface/mac").get("address")


def test_packtsriov_means_the_chapter_figure() -> None:
    chapter = parse_bytes((GOLDEN / "chapter" / "packtsriov.xml").read_bytes()).getroot()
    ours = parse_bytes(golden_text("packtsriov")).getroot()
    # libvirt shows <driver name='vfio'/> once attached (the chapter says so); we write it upfront
    assert ours.find("driver").get("name") == "vfio"
    assert canonical(ours, drop=("driver",)) == canonical(chapter)


# --------------------------------------------------------------------------- against libvirt


def _virsh(*commands: str) -> subprocess.CompletedProcess[str]:
    require(shutil.which("virsh") is not None, "virsh (libvirt-clients)")
    return subprocess.run(["virsh", "-q", "-c", "test:///default", "; ".join(commands)],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("virsh_args,ours", VIRSH_EQUIVALENTS, ids=[v for _, v in VIRSH_EQUIVALENTS])
def test_means_what_virsh_attach_interface_writes(virsh_args: str, ours: str) -> None:
    proc = _virsh(f"attach-interface --domain test {virsh_args} --print-xml")
    assert proc.returncode == 0, proc.stderr
    theirs = parse_bytes(proc.stdout).getroot()
    text = golden_text(ours) if ours in IDS else run(ours)
    mine = parse_bytes(text).getroot()
    assert canonical(mine, drop=("driver",)) == canonical(theirs)


@pytest.mark.parametrize("name", IDS)
def test_validates_against_libvirt_schema(tmp_path: Path, name: str) -> None:
    require(shutil.which("xmllint") is not None, "xmllint (libxml2-utils)")
    require(DOMAIN_RNG.exists(), f"libvirt's schema {DOMAIN_RNG}")
    path = tmp_path / f"{name}.xml"
    path.write_text(as_domain(name))
    proc = subprocess.run(["xmllint", "--noout", "--relaxng", str(DOMAIN_RNG), str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("name", IDS)
def test_libvirt_defines_it_and_reads_back_the_same(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.xml"
    text = as_domain(name)
    path.write_text(text)
    proc = _virsh(f"define {path}", "dumpxml --inactive golden")
    assert proc.returncode == 0, proc.stderr
    dumped = proc.stdout[proc.stdout.index("<domain"):]
    [theirs] = interfaces_of(dumped)
    [mine] = interfaces_of(text)
    # the test driver names host devices itself (testnetN) where we gave none
    if mine.find("target") is None and theirs.find("target") is not None:
        theirs.remove(theirs.find("target"))
    # libvirt may add a MAC where we wrote none: everything else must be as we wrote it
    if mine.find("mac") is None:
        theirs.remove(theirs.find("mac"))
    # and it gives an Open vSwitch port its interfaceid when none was written
    if mine.find("virtualport/parameters") is None and theirs.find("virtualport/parameters") is not None:
        theirs.find("virtualport").remove(theirs.find("virtualport/parameters"))
    assert canonical(theirs) == canonical(mine)
    our_meta = parse_bytes(text).getroot().find(f"metadata/{{{NS}}}netxml")
    their_meta = parse_bytes(dumped).getroot().find(f"metadata/{{{NS}}}netxml")
    if our_meta is None:
        assert their_meta is None
    else:
        assert canonical(their_meta) == canonical(our_meta)


def test_libvirt_rejects_what_we_reject_for_bad_pci(tmp_path: Path) -> None:
    """A slot beyond 0x1f: our builder refuses it, and so does libvirt's parser."""
    bad = as_domain("packtsriov").replace("slot='0x10'", "slot='0x20'").replace('slot="0x10"', 'slot="0x20"')
    assert "0x20" in bad
    path = tmp_path / "bad.xml"
    path.write_text(bad)
    proc = _virsh(f"define {path}")
    assert proc.returncode != 0
    result = CliRunner().invoke(cli, ["interface", "--type", "hostdev", "--pci", "0000:04:20.0"])
    assert result.exit_code == 2 and "slot must be 00 to 1f" in result.stderr


# --------------------------------------------------------------------------- against our own schemas


@pytest.mark.parametrize("name", IDS)
def test_validates_against_project_schemas(name: str) -> None:
    from xmltools.schema import validate, validate_metadata

    root = parse_bytes(as_domain(name)).getroot()
    for iface in root.findall("devices/interface"):
        assert validate("interface", iface) == []
    meta = root.find(f"metadata/{{{NS}}}netxml")
    if meta is not None:
        assert validate_metadata(meta) == []
