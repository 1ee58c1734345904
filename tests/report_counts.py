"""Print how many tests passed, from pytest's JUnit report: end-to-end, kernel-lab, and the rest.

Every collected test asserts something (corpus documents with nothing to check are counted
inside one test, not collected one by one), so these are counts of checks that held.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET  # trusted input: pytest's own report

GROUPS = {"e2e": "tests.e2e.", "kernel-lab": "tests.kernel_lab."}


def main(path: str) -> int:
    root = ET.parse(path).getroot()
    counts = dict.fromkeys([*GROUPS, "other"], 0)
    for case in root.iter("testcase"):
        if any(case.find(tag) is not None for tag in ("failure", "error", "skipped")):
            continue
        classname = case.get("classname", "") + "."
        group = next((g for g, prefix in GROUPS.items() if classname.startswith(prefix)), "other")
        counts[group] += 1
    for group, count in counts.items():
        print(f"{group}: {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
