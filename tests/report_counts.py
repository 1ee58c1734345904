"""Print how many tests passed, from pytest's JUnit report: the rest, then end-to-end per
libvirt release and the kernel lab (the last lines of a CI run).

Every collected test asserts something (corpus documents with nothing to check are counted
inside one test, not collected one by one), so these are counts of checks that held.
The end-to-end tests run once per libvirt release (their ids carry it in brackets, e.g.
``test_x[libvirt-11.3.0]`` or ``test_y[bridge-libvirt-9.0.0]``): one line per release; so do the
OVN tests with a libvirtd per chassis (tests/ovn/, marked e2e too), one "ovn" line per release. Before
them, the time each group took (its tests' times, set-up and teardown included; the kernel
lab's single boot is inside its first test's).
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET  # trusted input: pytest's own report

RELEASES = ("libvirt-9.0.0", "libvirt-11.3.0")
GROUPS = {**{f"e2e {r}": "tests.e2e." for r in RELEASES}, **{f"ovn {r}": "tests.ovn." for r in RELEASES},
          "kernel-lab": "tests.kernel_lab."}


def release_of(name: str) -> str | None:
    """The release in a test's parameter id, or None."""
    params = re.search(r"\[(.*)\]$", name)
    if params is None:
        return None
    found = [r for r in RELEASES if re.search(rf"(^|-){re.escape(r)}($|-)", params.group(1))]
    return found[0] if found else None


def group_of(case: ET.Element) -> str | None:
    classname = case.get("classname", "") + "."
    if classname.startswith(GROUPS["kernel-lab"]):
        return "kernel-lab"
    for kind in ("e2e", "ovn"):
        if classname.startswith(f"tests.{kind}."):
            release = release_of(case.get("name", ""))
            return f"{kind} {release}" if release is not None else None
    return None


def passed(case: ET.Element) -> bool:
    return not any(case.find(tag) is not None for tag in ("failure", "error", "skipped"))


def count(path: str) -> dict[str, int]:
    """Passed tests per group."""
    counts = dict.fromkeys(GROUPS, 0)
    for case in ET.parse(path).getroot().iter("testcase"):
        group = group_of(case)
        if group is not None and passed(case):
            counts[group] += 1
    return counts


def others(path: str) -> int:
    """Passed tests outside the groups (end to end, OVN per release, the kernel lab)."""
    return sum(1 for case in ET.parse(path).getroot().iter("testcase")
               if passed(case) and not (case.get("classname", "") + ".").startswith(
                   ("tests.e2e.", "tests.kernel_lab.")) and group_of(case) is None)


def seconds(path: str) -> dict[str, float]:
    """Time per group, whatever the tests' outcome."""
    total = dict.fromkeys(GROUPS, 0.0)
    for case in ET.parse(path).getroot().iter("testcase"):
        group = group_of(case)
        if group is not None:
            total[group] += float(case.get("time", "0") or 0)
    return total


def main(path: str) -> int:
    print("time: " + ", ".join(f"{group} {s:.0f} s" for group, s in seconds(path).items()))
    print(f"other: {others(path)}")
    for group, n in count(path).items():
        print(f"{group}: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
