"""Boot the kernel lab once per session, run the guest tests inside, and report each one here.

Every guest test (tests/kernel_lab/guest/test_*.py) becomes one host test,
``test_guest[module::test]``, that passes when the guest reported it passed, and fails with the
guest's failure text otherwise, or with the tail of the console log when the guest never got to
report. ``test_lab_reported_every_guest_test`` checks the report as a whole.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.kernel_lab import lab, wires
from tests.kernel_lab.conftest import LAB_SUMMARY
from tests.kernel_lab.report import GuestResult, guest_test_ids, read_junit
from tests.support import require

pytestmark = pytest.mark.kernel_lab

GUEST_IDS = guest_test_ids(lab.GUEST_TESTS)


@dataclass
class LabReport:
    run: lab.LabRun
    results: list[GuestResult]
    junit_found: bool
    selected: list[str]     # the guest tests this session asked the guest to run

    def for_test(self, test_id: str) -> list[GuestResult]:
        """The test's results, or its module's import error when the module never loaded."""
        found = [r for r in self.results if r.test_id == test_id]
        module = test_id.split("::", 1)[0]
        return found or [r for r in self.results if r.test_id == module]

    def diagnosis(self) -> str:
        state = "timed out" if self.run.timed_out else f"guest status {self.run.status}"
        return (f"kernel lab: {state} after {self.run.seconds:.0f}s; console log tail "
                f"(whole log in {lab.LAST_RUN / 'console.log'}):\n{self.run.console_tail()}")


def _selected_guest_ids(session: pytest.Session) -> list[str]:
    ids = [str(item.callspec.params["test_id"]) for item in session.items
           if isinstance(item, pytest.Function) and item.originalname == "test_guest"
           and item.module is not None and item.module.__name__ == __name__]
    return ids or list(GUEST_IDS)


def _node_id(test_id: str) -> str:
    """``module::test`` -> the pytest node id inside the guest, relative to the repository."""
    module, _, rest = test_id.partition("::")
    return f"{lab.GUEST_TESTS.relative_to(lab.REPO)}/{module}.py::{rest}"


@pytest.fixture(scope="session")
def lab_report(request: pytest.FixtureRequest) -> LabReport:
    """One boot of the lab running every guest test; its results, console and timing."""
    require(shutil.which(lab.QEMU) is not None, f"{lab.QEMU} (Debian package qemu-system-x86)")
    require(shutil.which("cpio") is not None, "cpio")
    require(shutil.which("modprobe") is not None and shutil.which("depmod") is not None, "kmod")
    kernel = lab.find_kernel()
    require(kernel is not None, f"the kernel lab's kernel under {lab.KERNEL_CACHE}: "
            "run ./tests/kernel_lab/fetch-kernel.sh .cache/kernel")
    assert kernel is not None
    # A hard limit on the whole QEMU run; QEMU is killed when it passes.
    timeout = float(os.environ.get("KERNEL_LAB_TIMEOUT", "1200"))
    selected = _selected_guest_ids(request.session)
    # Only what this session selected runs inside (e.g. ``-k vfio``); everything when all is.
    tests = [] if set(selected) == set(GUEST_IDS) else [_node_id(t) for t in selected]
    with tempfile.TemporaryDirectory(prefix="kernel-lab-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        extra: list[str] = []
        if wired := wires.wanted(selected):
            # Tiny guests on this machine for the selected wired modules, wired into the lab;
            # stopped by PID when this block ends.
            extra = stack.enter_context(wires.host_guests(workdir / "out", wired)).lab_args
        run = lab.run(lab.guest_pytest_argv(f"{lab.GUEST_OUT}/junit.xml", tests=tests), kernel, workdir,
                      timeout, extra)
        lab.keep_last_run(run, workdir)
        junit = run.out / "junit.xml"
        results = read_junit(junit) if junit.is_file() else []
        report = LabReport(run, results, junit.is_file(), selected)
    passed = sum(r.outcome == "passed" for r in results)
    request.config.stash[LAB_SUMMARY] = (
        f"kernel lab: {len(results)} guest tests ({passed} passed) in {run.seconds:.1f}s "
        f"(boot + tests, one boot); console log in {lab.LAST_RUN / 'console.log'}")
    return report


def test_guest_tests_are_listed() -> None:
    # An empty list would make the parametrized test below vanish instead of fail.
    assert GUEST_IDS, f"no guest tests found under {lab.GUEST_TESTS}"


def test_lab_reported_every_guest_test(lab_report: LabReport) -> None:
    assert lab_report.run.status is not None and lab_report.junit_found, lab_report.diagnosis()
    reported = {r.test_id for r in lab_report.results if r.outcome != "error" or "::" in r.test_id}
    wanted = set(lab_report.selected)
    assert reported == wanted, (
        f"guest tests not reported: {sorted(wanted - reported)}; "
        f"reported but not asked for: {sorted(reported - wanted)}")
    failed = [r.name for r in lab_report.results if r.outcome != "passed"]
    # pytest's exit status inside the guest must agree with its own report.
    assert (lab_report.run.status == 0) == (not failed), (lab_report.run.status, failed)


@pytest.mark.parametrize("test_id", GUEST_IDS)
def test_guest(test_id: str, lab_report: LabReport) -> None:
    results = lab_report.for_test(test_id)
    if not results:
        pytest.fail(f"guest test {test_id} did not report.\n{lab_report.diagnosis()}", pytrace=False)
    for result in results:
        if result.outcome != "passed":
            # A skip inside the lab is a failure too: the lab is there to provide what tests need.
            pytest.fail(f"guest test {result.name} {result.outcome}: {result.message}\n{result.details}",
                        pytrace=False)
