"""Run one qemu hook call that dies (SIGKILL) in the middle of binding a device to vfio-pci.

    python -m tests.kernel_lab.guest.crash_hook DOMAIN OPERATION < domain.xml

The real sysfs adapter does everything up to ``drivers_probe``; there the process kills itself,
as a crash or an OOM kill would: the state record is written, the device is unbound from its
driver and carries vfio-pci's override, and nothing has been undone.
"""

from __future__ import annotations

import os
import signal
import sys

from hooks import entry
from hooks.adapters.sysfs import SysfsAdapter


class DiesInProbe(SysfsAdapter):
    def drivers_probe(self, address: str, timeout: float) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    domain, operation = sys.argv[1:3]
    sys.exit(entry.main(["--driver", "qemu", domain, operation, "begin", "-"],
                        ports={"sysfs": DiesInProbe("/")}))
