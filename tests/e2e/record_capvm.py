"""Record the planner's capture scenario (fixtures/hooks/captures/) against a libvirt release.

    .venv/bin/python -m tests.e2e.record_capvm libvirt-11.3.0 fixtures/hooks/captures-libvirt-11.3.0

The scenario of the libvirt 9.0 set, replayed in an end-to-end sandbox of the given release:
the four networks of that set (their XML taken from its ``start`` captures: ``capnat`` NAT with
DHCP, ``isotest`` isolated, ``packtovs`` on the OVS bridge ``ovsbr0`` with portgroups,
``capmvtap`` a macvtap pool over the veth ``up0``) are defined and started, then the domain
``capvm`` with the same six interfaces, MACs and UUID (from the set's ``prepare`` capture, as a
TCG guest) is defined and started. Every network and qemu hook call up to ``started`` is
written as ``NN-<hook>-<object>-<operation>-<sub>.xml`` in call order, with a README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lxml import etree

from tests.e2e.harness import RELEASES, Sandbox
from xmltools.xmlparse import parse_bytes

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "hooks" / "captures"
NETWORKS = ["01-network-capnat-start-begin.xml", "03-network-isotest-start-begin.xml",
            "05-network-packtovs-start-begin.xml", "07-network-capmvtap-start-begin.xml"]
DOMAIN = "09-qemu-capvm-prepare-begin.xml"

README = """# Captured libvirt hook inputs: libvirt {version}

The scenario of `../captures/` (libvirt 9.0.0), replayed against libvirtd {version} from the
Debian 13 root that setup.sh builds (QEMU from that root, TCG; Open vSwitch from that root with
the userspace datapath; the project's hooks installed in the root by its own `virt-netxml hooks
install`), in an end-to-end sandbox: `python -m tests.e2e.record_capvm {release} <folder>`.
The networks' XML comes from the 9.0 set's `start` captures, the domain's from its `prepare`
capture (as a TCG guest on the `pc` machine). File names are
`NN-<driver>-<object>-<operation>-<sub>.xml` in call order; libvirt's argv is in the table.

| file | argv |
|---|---|
"""


def network_xml(name: str) -> str:
    root = parse_bytes((FIX / name).read_bytes()).getroot()
    return etree.tostring(root.find("network"), encoding="unicode")


def domain_xml() -> str:
    root = parse_bytes((FIX / DOMAIN).read_bytes()).getroot()
    root.attrib.pop("id", None)
    root.set("type", "qemu")
    root.find("os/type").set("machine", "pc")
    return etree.tostring(root, encoding="unicode")


def record(release: str, out: Path) -> int:
    box = Sandbox.create(RELEASES[release])
    try:
        box.start()
        ns, virsh = box.ns, box.libvirtd.virsh
        ns.add_veth("up0", "up0p")
        box.ovs.add_bridge("ovsbr0")
        ns.ip("link", "add", "brcap", "type", "bridge")
        ns.ip("link", "set", "brcap", "up")
        ns.ip("tuntap", "add", "dev", "tapcap0", "mode", "tap")
        since = box.call_count()
        for name in NETWORKS:
            path = box.tmp / name
            path.write_text(network_xml(name))
            virsh("net-define", str(path))
            virsh("net-start", name.split("-")[2])
        path = box.tmp / "capvm.xml"
        path.write_text(domain_xml())
        virsh("define", str(path))
        virsh("start", "capvm")
        calls = [c for c in box.calls(since) if c.hook in ("network", "qemu")]
    finally:
        box.teardown()
        left = box.leftovers()
        if left:
            raise RuntimeError("the recording sandbox left: " + "; ".join(left))
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.xml"):
        old.unlink()
    rows = []
    for n, call in enumerate(calls, 1):
        name = "-".join([f"{n:02d}", call.hook, *(a for a in call.argv[:3] if a != "-")]) + ".xml"
        (out / name).write_text(call.stdin)
        rows.append(f"| `{name}` | `{' '.join(call.argv)}` |")
    version = release.removeprefix("libvirt-")
    (out / "README.md").write_text(README.format(version=version, release=release) + "\n".join(rows) + "\n")
    print(f"{len(rows)} calls written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(record(sys.argv[1], Path(sys.argv[2])))
