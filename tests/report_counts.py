"""Print how many end-to-end and kernel-lab tests passed, from pytest's JUnit report.

The end-to-end tests run once per libvirt release (their ids carry it in brackets, e.g.
``test_x[libvirt-11.3.0]`` or ``test_y[bridge-libvirt-9.0.0]``): one line per release.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET  # trusted input: pytest's own report

RELEASES = ("libvirt-9.0.0", "libvirt-11.3.0")
GROUPS = {**{f"e2e {r}": "tests.e2e." for r in RELEASES}, "kernel-lab": "tests.kernel_lab."}


def release_of(name: str) -> str | None:
    """The release in a test's parameter id, or None."""
    params = re.search(r"\[(.*)\]$", name)
    if params is None:
        return None
    found = [r for r in RELEASES if re.search(rf"(^|-){re.escape(r)}($|-)", params.group(1))]
    return found[0] if found else None


def count(path: str) -> dict[str, int]:
    root = ET.parse(path).getroot()
    counts = dict.fromkeys(GROUPS, 0)
    for case in root.iter("testcase"):
        if any(case.find(tag) is not None for tag in ("failure", "error", "skipped")):
            continue
        classname = case.get("classname", "") + "."
        if classname.startswith(GROUPS["kernel-lab"]):
            counts["kernel-lab"] += 1
        elif classname.startswith("tests.e2e."):
            release = release_of(case.get("name", ""))
            if release is not None:
                counts[f"e2e {release}"] += 1
    return counts


def main(path: str) -> int:
    for group, n in count(path).items():
        print(f"{group}: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
