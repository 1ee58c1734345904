"""Golden networks: each README walkthrough command, its output, and libvirt's verdict on it.

The table below is the walkthrough: one ``virt-netxml network`` command line per network of
the textbook chapter (plus the macvtap, SR-IOV and Linux-bridge VLAN variants). Each output
is compared with ``fixtures/networks/<name>.xml`` (``pytest --regenerate`` rewrites them).

Differential checks, against libvirt itself rather than our own expectations:
- the chapter's own XML figures (``fixtures/networks/chapter/``, the isolated network's stray
  ``</bridge>`` typo removed) mean the same as what the command prints;
- every golden file validates with ``xmllint --relaxng`` against libvirt's installed schema;
- ``virsh -c test:///default`` defines it, and its ``net-dumpxml`` reads back the same
  document (the test driver runs libvirt's real parser and formatter, no daemon needed).
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
from xmltools.xmlparse import parse_bytes

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "networks"
NETWORK_RNG = Path("/usr/share/libvirt/schemas/network.rng")

WALKTHROUGH: list[tuple[str, str]] = [
    ("default",
     "default --mode nat --bridge virbr0 --ip 192.168.122.1/24 "
     "--dhcp-range 192.168.122.2,192.168.122.254 --nat-ports 1024-65535 "
     "--uuid bb3fed90-ced1-45ce-ba3e-13c9ec64ff42 --mac 52:54:00:35:55:2d"),
    ("packtnat",
     "packtnat --mode nat --bridge virbr1 --ip 192.168.123.1/24 "
     "--dhcp-range 192.168.123.2,192.168.123.254 --nat-ports 1024-65535 "
     "--uuid 1f9e3fa3-859b-4bab-9598-d01d32336156 --mac 00:16:3e:27:21:c1"),
    ("packtro",
     "packtro --mode route --forward-dev ens224 --bridge virbr2 --domain-name packt "
     "--ip 192.168.2.1/24 --dhcp-range 192.168.2.100,192.168.2.105 "
     "--uuid 3cac2e7a-a3fd-4b25-8717-450e665b7103 --mac 52:54:00:fe:9f:ec"),
    ("packtiso",
     "packtiso --mode isolated --bridge virbr3 --domain-name packtiso "
     "--ip 192.168.3.1/24 --dhcp-range 192.168.3.128,192.168.3.254 "
     "--uuid 2b92b03d-acb4-4a23-b205-2095c6a27bd4 --mac 00:16:3e:0b:5d:85"),
    ("packtovs",
     "packtovs --mode bridge --bridge ovs-br0 --virtualport openvswitch "
     "--portgroup vlan5,vlan=5 --portgroup trunk,vlan=10:untagged,20 --seed packtovs"),
    ("macvtap-vepa", "macvtap-vepa --mode vepa --uplink ens224 --uplink ens256 --seed macvtap-vepa"),
    ("macvtap-bridge", "macvtap-bridge --mode bridge --uplink ens224 --seed macvtap-bridge"),
    ("macvtap-private",
     "macvtap-private --mode private --uplink ens224 --uplink ens256 --seed macvtap-private"),
    ("macvtap-passthrough",
     "macvtap-passthrough --mode passthrough --uplink ens1f0 --uplink ens1f1 --uplink ens1f2 "
     "--seed macvtap-passthrough"),
    ("sriov-pf", "sriov-pf --mode hostdev --pf ens1f0 --managed --driver vfio --seed sriov-pf"),
    ("sriov-vfs",
     "sriov-vfs --mode hostdev --vf-address 0000:04:10.0 --vf-address 0000:04:10.1 "
     "--vf-address 0000:04:10.2 --vf-address 0000:04:10.3 --portgroup vlan5,vlan=5 --seed sriov-vfs"),
    ("hostbridge-vlans",
     "hostbridge-vlans --mode bridge --bridge br0 --portgroup office,default,vlan=10 "
     "--portgroup uplink,vlan=20:untagged,30-32 --seed hostbridge-vlans"),
    ("dualstack",
     "dualstack --mode nat --bridge virbr10 --ip 192.168.150.1/24 --ip fd00:150::1/64 "
     "--dhcp-range 192.168.150.100,192.168.150.199 --dhcp-range fd00:150::100,fd00:150::1ff "
     "--dhcp-host 52:54:00:00:15:05,192.168.150.5,web --dhcp-host ,fd00:150::5,web "
     "--dns-host 192.168.150.5,web,www --domain-name lab.example --mtu 9000 "
     "--nat-addresses 203.0.113.10-203.0.113.20 --nat-ports 20000-29999 "
     "--bandwidth-in 10000,20000,512 --bandwidth-out 5000 --seed dualstack"),
]

CHAPTER = ["default", "packtnat", "packtro", "packtiso", "packtovs"]
IDS = [name for name, _ in WALKTHROUGH]


def run(argline: str) -> str:
    result = CliRunner().invoke(cli, ["network", *shlex.split(argline)])
    assert result.exit_code == 0, result.output
    return result.output


def canonical(text: str | bytes, drop: tuple[str, ...] = ()) -> bytes:
    """The document without comments, indentation or quote style, for comparing meaning."""
    root = parse_bytes(text).getroot()
    for tag in drop:
        for node in root.findall(tag):
            root.remove(node)
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        if node.text is not None and not node.text.strip():
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
    for comment in root.xpath("//comment()"):
        comment.getparent().remove(comment)
    return etree.tostring(root, method="c14n")


@pytest.mark.parametrize("name,argline", WALKTHROUGH, ids=IDS)
def test_walkthrough_output_matches_golden_file(golden, name: str, argline: str) -> None:
    golden(f"networks/{name}.xml", run(argline))


def test_walkthrough_is_deterministic() -> None:
    """--seed makes the generated MAC and UUID reproducible; a different seed changes them."""
    argline = dict(WALKTHROUGH)["dualstack"]
    assert run(argline) == run(argline)
    other = run(argline.replace("--seed dualstack", "--seed other"))
    assert canonical(other, drop=("uuid", "mac")) == canonical(run(argline), drop=("uuid", "mac"))
    assert other != run(argline)


@pytest.mark.parametrize("name", CHAPTER)
def test_chapter_figures_mean_the_same(name: str) -> None:
    chapter = (FIXTURES / "chapter" / f"{name}.xml").read_bytes()
    ours = run(dict(WALKTHROUGH)[name])
    # The chapter's OVS figure has no <uuid> (libvirt adds one) and no portgroups (the
    # walkthrough adds the two the hooks issue uses); compare the rest.
    drop = ("uuid", "portgroup") if name == "packtovs" else ()
    assert canonical(ours, drop) == canonical(chapter, drop)


def _golden_path(name: str) -> Path:
    path = FIXTURES / f"{name}.xml"
    assert path.exists(), f"run pytest --regenerate to create {path}"
    return path


@pytest.mark.parametrize("name", IDS)
def test_golden_validates_against_libvirt_schema(name: str) -> None:
    require(shutil.which("xmllint") is not None, "xmllint (libxml2-utils)")
    require(NETWORK_RNG.exists(), f"libvirt's schema {NETWORK_RNG}")
    proc = subprocess.run(["xmllint", "--noout", "--relaxng", str(NETWORK_RNG), str(_golden_path(name))],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("name", IDS)
def test_golden_is_defined_and_read_back_by_libvirt(name: str) -> None:
    require(shutil.which("virsh") is not None, "virsh (libvirt-clients)")
    path = _golden_path(name)
    # test:///default keeps its state per connection: define and dump in one virsh process,
    # after removing the driver's own "default" network so ours can take its name.
    proc = subprocess.run(["virsh", "-q", "-c", "test:///default",
                           f"net-destroy default; net-undefine default; "
                           f"net-define {path}; net-dumpxml {name}"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    dumped = proc.stdout[proc.stdout.index("<network"):]
    assert canonical(dumped) == canonical(path.read_bytes())


def test_virsh_rejects_what_libvirt_parser_rejects() -> None:
    """The read-back check above can fail: libvirt refuses a NAT network without an address."""
    require(shutil.which("virsh") is not None, "virsh (libvirt-clients)")
    text = run(dict(WALKTHROUGH)["default"])
    root = parse_bytes(text).getroot()
    root.remove(root.find("ip"))
    proc = subprocess.run(["virsh", "-q", "-c", "test:///default", "net-define /dev/stdin"],
                          input=etree.tostring(root, encoding="unicode"),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "no IP address" in proc.stderr
