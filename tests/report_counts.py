"""Print how many end-to-end and kernel-lab tests ran and passed, from pytest's JUnit report."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET  # trusted input: pytest's own report

GROUPS = {"e2e": "tests.e2e.", "kernel-lab": "tests.kernel_lab."}


def main(path: str) -> int:
    root = ET.parse(path).getroot()
    counts = dict.fromkeys(GROUPS, 0)
    for case in root.iter("testcase"):
        if any(case.find(tag) is not None for tag in ("failure", "error", "skipped")):
            continue
        classname = case.get("classname", "") + "."
        for group, prefix in GROUPS.items():
            if classname.startswith(prefix):
                counts[group] += 1
    for group, count in counts.items():
        print(f"{group}: {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
