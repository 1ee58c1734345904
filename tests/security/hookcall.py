"""One hook call in a child process, against the test fakes instead of the host.

For the attacks whose symptom is the process itself (a hang on a planted FIFO) or that act in
the middle of a call: ``python -m tests.security.hookcall ARG...`` with the XML on stdin runs
``hooks.entry.main`` on a fake host with a VLAN-filtering bridge ``br0`` and exits with the
hook's status. ``prepare_child`` gives the argv and environment.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

from hooks.entry import main
from tests.fakes import FakeNetlink, FakeOvs, FakeSysfs

REPO = Path(__file__).resolve().parent.parent.parent


def child_env(config_dir: Path | str, state_dir: Path | str | None = None) -> dict[str, str]:
    """The environment of a child hook: the given folders, nothing else of ours inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRT_NETXML_")}
    env["VIRT_NETXML_CONFIG_DIR"] = str(config_dir)
    if state_dir is not None:
        env["VIRT_NETXML_STATE_DIR"] = str(state_dir)
    env["PYTHONPATH"] = str(REPO)
    return env


def run(argv: list[str]) -> int:
    net = FakeNetlink()
    net.add_bridge("br0", vlan_filtering=True)
    data = sys.stdin.buffer.read()
    return main(argv, stdin=io.BytesIO(data), stdout=sys.stdout, stderr=sys.stderr,
                ports={"netlink": net, "ovs": FakeOvs(), "sysfs": FakeSysfs()})


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
