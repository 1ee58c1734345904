"""A fake host (the three port fakes plus a real state folder) and its full snapshot.

``Host.snapshot()`` turns everything a hook could have changed into plain data: links with
their masters, VLANs, addresses and VFs; OVS bridges, ports and map columns; PCI drivers,
overrides and VF counts; every state record. Two snapshots compare equal exactly when the
host is back where it was. Link indexes and generated MACs are left out: a link deleted and
created again gets new ones from the kernel too.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hooks.actions import NO_MAC
from tests.fakes import FakeFirewall, FakeNetlink, FakeOvn, FakeOvs, FakeSysfs

_LINK_VOLATILE = ("index", "mac")


@dataclass
class Host:
    net: FakeNetlink
    ovs: FakeOvs
    sysfs: FakeSysfs
    state_dir: Path
    firewall: FakeFirewall = field(default_factory=FakeFirewall)
    ovn: FakeOvn = field(default_factory=FakeOvn)

    def ports(self) -> dict[str, Any]:
        return {"netlink": self.net, "ovs": self.ovs, "sysfs": self.sysfs, "firewall": self.firewall,
                "ovn": self.ovn}

    def fakes(self) -> tuple[FakeNetlink, FakeOvs, FakeSysfs]:
        return self.net, self.ovs, self.sysfs

    def snapshot(self) -> dict[str, Any]:
        links = {}
        for name, link in self.net.links.items():
            data = dataclasses.asdict(link)
            data.pop("vfs")
            for key in _LINK_VOLATILE:
                data.pop(key)
            links[name] = data
        return {
            "links": links,
            "ovs": {"bridges": sorted(self.ovs.bridges),
                    "ports": {p: dataclasses.asdict(r) for p, r in self.ovs.ports.items()},
                    # An emptied map column is the same as no column (ovs-vsctl shows {} for both).
                    "maps": {f"{t}/{r}": {c: m for c, m in cols.items() if m}
                             for (t, r), cols in self.ovs.maps.items()}},
            # IOMMU group numbers are handed out afresh when VFs are re-created, by the kernel too.
            "pci": {a: {k: v for k, v in dataclasses.asdict(d).items() if k != "iommu_group"}
                    for a, d in self.sysfs.devices.items()},
            "pfs": {n: dataclasses.asdict(p) for n, p in self.sysfs.pfs.items()},
            # A VF without a MAC reads as all zeroes from the kernel; the fake starts with None.
            "vfs": {n: [(v.index, v.mac or NO_MAC, v.vlan) for v in link.vfs]
                    for n, link in self.net.links.items() if link.vfs},
            "state": state_records(self.state_dir),
            "firewall": {"nat": dict(self.firewall.nat), "allowed": dict(self.firewall.allowed)},
            "ovn": self.ovn.snapshot(),
        }


def state_records(root: Path) -> dict[str, Any]:
    """Every record under the state folder, parsed (a torn file raises)."""
    records = {}
    for kind in ("domains", "networks", "claims"):
        folder = root / kind
        if folder.is_dir():
            for entry in sorted(folder.iterdir()):
                if entry.suffix == ".json" and not entry.name.startswith(".tmp"):
                    record = json.loads(entry.read_text())
                    if "starting" in record:   # its time and pid differ from run to run
                        record["starting"] = "noted"
                    records[f"{kind}/{entry.name}"] = record
    return records


def state_problems(root: Path) -> list[str]:
    """Records that do not parse, temporary files left behind, or modes looser than 0600/0700."""
    problems = []
    if not root.exists():
        return problems
    for folder, dirs, files in os.walk(root):
        for d in dirs:
            mode = stat.S_IMODE(os.stat(os.path.join(folder, d)).st_mode)
            if mode & 0o077:
                problems.append(f"{d}: folder mode {mode:04o}")
        for f in files:
            path = os.path.join(folder, f)
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if mode & 0o077:
                problems.append(f"{f}: mode {mode:04o}")
            if f.endswith(".json"):
                try:
                    json.loads(Path(path).read_text())
                except ValueError as exc:
                    problems.append(f"{f}: torn record ({exc})")
    return problems


def diff(before: dict[str, Any], after: dict[str, Any], prefix: str = "") -> list[str]:
    """Readable differences between two snapshots (for assertion messages)."""
    out: list[str] = []
    for key in sorted(set(before) | set(after), key=str):
        a, b = before.get(key, "<absent>"), after.get(key, "<absent>")
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out += diff(a, b, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out
