"""The closing counts of a CI run: end-to-end tests per libvirt release, and the kernel lab."""

from __future__ import annotations

from pathlib import Path

from tests.report_counts import count, others, release_of, seconds

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="tests.e2e.test_sandbox" name="test_a[libvirt-9.0.0]" time="2.5"/>
<testcase classname="tests.e2e.test_sandbox" name="test_a[libvirt-11.3.0]" time="1.0"/>
<testcase classname="tests.e2e.test_macvtap" name="test_m[bridge-libvirt-11.3.0]"/>
<testcase classname="tests.e2e.test_macvtap" name="test_m[vepa-libvirt-11.3.0]">
  <failure message="x"/></testcase>
<testcase classname="tests.e2e.test_macvtap" name="test_m[private-libvirt-9.0.0]">
  <skipped message="y"/></testcase>
<testcase classname="tests.kernel_lab.test_lab" name="test_guest[m::t]" time="70"/>
<testcase classname="tests.test_mac" name="test_mac[libvirt-9.0.0]"/>
<testcase classname="tests.ovn.test_libvirt_ovn" name="test_o[libvirt-9.0.0]" time="4.0"/>
<testcase classname="tests.ovn.test_harness" name="test_lab"/>
</testsuite></testsuites>
"""


def test_counts_passed_tests_per_release_and_the_lab(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    assert count(str(path)) == {"e2e libvirt-9.0.0": 1, "e2e libvirt-11.3.0": 2, "ovn libvirt-9.0.0": 1,
                                "ovn libvirt-11.3.0": 0, "kernel-lab": 1}
    assert seconds(str(path)) == {"e2e libvirt-9.0.0": 2.5, "e2e libvirt-11.3.0": 1.0,
                                  "ovn libvirt-9.0.0": 4.0, "ovn libvirt-11.3.0": 0.0, "kernel-lab": 70.0}
    # tests.test_mac (a release-like id outside e2e is no e2e) and the OVN lab's own test
    assert others(str(path)) == 2


def test_release_is_a_whole_part_of_the_parameter_id() -> None:
    assert release_of("test[bridge-libvirt-11.3.0]") == "libvirt-11.3.0"
    assert release_of("test[libvirt-9.0.0-x]") == "libvirt-9.0.0"
    assert release_of("test[libvirt-9.0.01]") is None
    assert release_of("test") is None
