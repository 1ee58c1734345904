"""A test-only way to run the real hook entry point (or ``hooks repair``) as its own process
against a fake sysfs tree, pausing forever at a chosen port call so a test can SIGKILL it
between two steps. Production code has no such switch: the pause lives in this wrapper.

    python -m tests.faults.hookproc --sysfs ROOT [--netlink] [--pause-at N --pause-file F]
        [--count-file F] entry ARGV... | repair

``--pause-at N`` stops before the N-th *write* (a call that changes the host); ``-N`` stops
just after it. ``--count-file`` receives the number of writes the run made. ``--netlink``
uses the real netlink adapter (run it inside a network namespace); otherwise a fake is used.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

WRITES = frozenset({"set_driver_override", "unbind", "drivers_probe", "set_sriov_numvfs", "create_tap",
                    "create_macvlan", "delete_link", "set_up", "set_master", "add_address",
                    "set_bridge_vlan_filtering", "bridge_vlan_add", "bridge_vlan_del", "set_vf"})


class Pausing:
    """Wraps a port; counts its writes (shared counter) and parks the process at one of them."""

    counter = [0]

    def __init__(self, inner: Any, pause_at: int, pause_file: str | None) -> None:
        self._inner, self._pause_at, self._pause_file = inner, pause_at, pause_file

    def _park(self) -> None:
        assert self._pause_file is not None
        with open(self._pause_file, "w") as fh:
            fh.write(str(os.getpid()))
        while True:
            time.sleep(3600)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in WRITES or not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.counter[0] += 1
            if self.counter[0] == self._pause_at:
                self._park()
            result = attr(*args, **kwargs)
            if self.counter[0] == -self._pause_at:
                self._park()
            return result

        return call


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sysfs", required=True)
    parser.add_argument("--netlink", action="store_true")
    parser.add_argument("--pause-at", type=int, default=0)
    parser.add_argument("--pause-file")
    parser.add_argument("--count-file")
    parser.add_argument("mode", choices=("entry", "repair"))
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args()

    from hooks.adapters.sysfs import SysfsAdapter
    from tests.fakes import FakeNetlink

    if args.netlink:
        from hooks.adapters.netlink import NetlinkAdapter

        netlink: Any = NetlinkAdapter()
    else:
        netlink = FakeNetlink()
    ports = {"sysfs": Pausing(SysfsAdapter(args.sysfs, write_timeout=5.0), args.pause_at, args.pause_file),
             "netlink": Pausing(netlink, args.pause_at, args.pause_file)}
    try:
        if args.mode == "entry":
            from hooks.entry import main as entry

            return entry(args.argv, ports=ports)
        from hooks.config import load_config, state_dir
        from hooks.repair import plan_repairs, run_repairs
        from hooks.state import StateStore

        store = StateStore(state_dir(load_config()))
        store.check()
        repairs = run_repairs(store, plan_repairs(store, set(), set()), ports=ports)
        failed = [r for r in repairs if r.result is None or not r.result.ok]
        for r in failed:
            sys.stderr.write(f"{r.owner}: {r.result.summary() if r.result else 'not run'}\n")
        return 1 if failed else 0
    finally:
        if args.count_file:
            with open(args.count_file, "w") as fh:
                fh.write(str(Pausing.counter[0]))


if __name__ == "__main__":
    sys.exit(main())
