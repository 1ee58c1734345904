"""Wall time of one hook call, start-up included, against a no-op shell hook.

Installs the hooks into a temporary root (with this interpreter), then runs the installed
``qemu.d``/``network.d`` programs the way libvirt does (argv, XML on stdin, libvirt's bare
environment) for the operations of a guest's start and stop, alternating with ``/bin/sh -c :``
fed the same input. Prints the median per call and the sum over the dozen calls libvirt makes
for a start+destroy of a domain with four network-backed interfaces. Changes nothing on the
host: the inputs used have nothing to apply, so what is measured is the hook's own overhead
(deciding, and where needed starting Python and parsing), not the ports' work.

    .venv/bin/python bench/hook_startup.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CAPTURES = REPO / "fixtures" / "hooks" / "captures"
sys.path.insert(0, str(REPO))

# (label, driver, argv, input file): one call each as libvirt makes them.
CALLS = [
    ("qemu prepare", "qemu", ["capvm", "prepare", "begin", "-"], "09-qemu-capvm-prepare-begin.xml"),
    ("network port-created", "network", ["packtovs", "port-created", "begin", "-"],
     "11-network-packtovs-port-created-begin.xml"),
    ("qemu start", "qemu", ["capvm", "start", "begin", "-"], "13-qemu-capvm-start-begin.xml"),
    ("qemu started", "qemu", ["capvm", "started", "begin", "-"], "14-qemu-capvm-started-begin.xml"),
    ("qemu stopped", "qemu", ["capvm", "stopped", "end", "-"], "14-qemu-capvm-started-begin.xml"),
    ("network port-deleted", "network", ["packtovs", "port-deleted", "begin", "-"],
     "11-network-packtovs-port-created-begin.xml"),
    ("qemu release", "qemu", ["capvm", "release", "end", "-"], "14-qemu-capvm-started-begin.xml"),
]
# A start+destroy of a 4-NIC network-backed domain: how often libvirt makes each call.
CYCLE = {"qemu prepare": 1, "network port-created": 4, "qemu start": 1, "qemu started": 1,
         "qemu stopped": 1, "network port-deleted": 4, "qemu release": 1}
METADATA = (b'    <vnx:netxml xmlns:vnx="urn:virt-netxml:hooks:1">\n'
            b'      <vnx:interface mac="52:54:00:61:b5:e0"><vnx:vlan tag="10"/></vnx:interface>\n'
            b'    </vnx:netxml>\n')
ENV = {"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "USER": "root",
       "LOGNAME": "root"}


def timed(argv: list[str], data: bytes) -> float:
    start = time.perf_counter()
    subprocess.run(argv, input=data, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV,
                   check=False)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["VIRT_NETXML_STATE_DIR"] = f"{tmp}/state"
        os.environ["VIRT_NETXML_CONFIG_DIR"] = f"{tmp}/conf"
        from hooks.install import install

        install(f"{tmp}/root")
        baseline = ["/bin/sh", "-c", ":"]
        ours: dict[str, list[float]] = {label: [] for label, *_ in CALLS}
        noop: dict[str, list[float]] = {label: [] for label, *_ in CALLS}
        naive: list[float] = []
        # A call with work (an OVS VLAN from metadata), as far as it goes without the host:
        # the installed hook's own interpreter command (the same bootstrap, with its check of
        # the module paths) with --dry-run: start-up, checks, imports, parse, plan.
        from hooks.wrapper import bootstrap, module_paths

        dry_run = [sys.executable, "-I", "-S", "-c", bootstrap(module_paths()), "--driver", "qemu",
                   "--dry-run", "capvm", "start", "begin", "-"]
        wish = (CAPTURES / "13-qemu-capvm-start-begin.xml").read_bytes().replace(
            b"<metadata>\n", b"<metadata>\n" + METADATA)
        python_path: list[float] = []
        for _ in range(args.rounds):
            for label, driver, argv, name in CALLS:
                data = (CAPTURES / name).read_bytes()
                hook = f"{tmp}/root/etc/libvirt/hooks/{driver}.d/50-virt-netxml"
                noop[label].append(timed(baseline, data))
                ours[label].append(timed([hook, *argv], data))
            naive.append(timed([sys.executable, "-c", "import lxml.etree, pyroute2"], b""))
            python_path.append(timed(dry_run, wish))
    print(f"{'call':24} {'no-op sh':>10} {'virt-netxml':>12}   (median of {args.rounds}, ms)")
    total_noop = total_ours = 0.0
    for label, *_ in CALLS:
        a, b = statistics.median(noop[label]) * 1000, statistics.median(ours[label]) * 1000
        total_noop += a * CYCLE[label]
        total_ours += b * CYCLE[label]
        print(f"{label:24} {a:10.2f} {b:12.2f}")
    print(f"4-NIC start+destroy, {sum(CYCLE.values())} calls: no-op sh {total_noop:.1f} ms, "
          f"virt-netxml {total_ours:.1f} ms, extra {total_ours - total_noop:.1f} ms")
    print(f"a call with work, up to its first host change (start-up, imports, parse, plan): "
          f"{statistics.median(python_path) * 1000:.1f} ms")
    print(f"for comparison, one naive Python start importing lxml and pyroute2: "
          f"{statistics.median(naive) * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
