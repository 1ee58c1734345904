"""Host side of the kernel lab: keep the guest tests out of the host run, and report the lab's figures."""

from __future__ import annotations

import pytest

from tests.kernel_lab.guest.kernel import inside_lab

# The guest tests change the kernel's links and PCI drivers: on the host they are only listed
# (tests/kernel_lab/test_lab.py runs them inside the lab). Inside the lab they are collected.
collect_ignore = [] if inside_lab() else ["guest"]

LAB_SUMMARY = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    summary = config.stash.get(LAB_SUMMARY, None)
    if summary:
        terminalreporter.write_sep("-", "kernel lab")
        terminalreporter.write_line(summary)
