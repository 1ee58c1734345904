"""What the hooks cost a guest: start+destroy of a 4-NIC domain, project hooks vs a no-op hook.

Runs a real libvirtd, QEMU (TCG) and Open vSwitch (userspace datapath) in a private network
namespace (the end-to-end tests' sandbox, tests/e2e/harness.py). One domain with four
interfaces on an OVS network, each with a VLAN wish in the project's metadata, is started and
destroyed over and over, alternating between two contents of qemu.d/ and network.d/:

- ``hooks``: the programs ``virt-netxml hooks install`` wrote, which apply the four VLANs
  (checked once before timing: the ports carry the tags);
- ``noop``: a shell script that exits 0, in the same folders;
- with ``--minimal``, also ``minimal``: ``bench/minimal_hook.py`` at ``start`` (lxml, one parse,
  the same one ``ovs-vsctl`` transaction, nothing else), the floor for a Python hook with lxml.

libvirt re-reads those folders on each call, so swapping files between rounds needs no
restart, and both variants see the same daemon, caches and machine load. Prints every round,
the means and the ratio (target: at most 1.10). Needs root.

    .venv/bin/python bench/hook_cost.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.e2e.harness import Sandbox, build_domain, domain_interfaces, vnx  # noqa: E402

NOOP = "#!/bin/sh\nexit 0\n"
# The four interfaces' VLAN wishes: two access ports, two trunks (one with a native VLAN).
NICS = [["--bridge-vlan", "10"], ["--bridge-vlan", "20"],
        ["--bridge-vlan", "30-40", "--vlan-native", "30"], ["--bridge-vlan", "100,200"]]
TARGET = 1.10


def swap(hooks_dir: Path, stash: Path, variant: str) -> None:
    """Make ``variant`` ('hooks' or 'noop') the content of qemu.d/ and network.d/."""
    for driver in ("qemu.d", "network.d"):
        folder = hooks_dir / driver
        for entry in folder.iterdir():
            entry.unlink()
        source = stash / variant / driver
        for entry in source.iterdir():
            target = folder / entry.name
            target.write_bytes(entry.read_bytes())
            target.chmod(0o755)


MINIMAL = '#!/bin/sh\n[ "$2" = start ] || exit 0\nexec {python} -I -S -c {bootstrap} "$@"\n'


def minimal_hook() -> str:
    """The ``minimal`` variant's qemu.d program, started as the installed hook starts Python."""
    from hooks.wrapper import module_paths

    script = str(REPO / "bench" / "minimal_hook.py")
    bootstrap = (f"import sys; sys.path[:0] = {module_paths()!r}; "
                 f"exec(compile(open({script!r}).read(), {script!r}, 'exec'))")
    return MINIMAL.format(python=shlex.quote(sys.executable), bootstrap=shlex.quote(bootstrap))


def stash_variants(hooks_dir: Path, stash: Path) -> None:
    for driver in ("qemu.d", "network.d"):
        for variant in ("hooks", "noop", "minimal"):
            (stash / variant / driver).mkdir(parents=True)
        for entry in (hooks_dir / driver).iterdir():
            (stash / "hooks" / driver / entry.name).write_bytes(entry.read_bytes())
        (stash / "noop" / driver / "50-noop").write_text(NOOP)
        (stash / "minimal" / driver / "50-minimal").write_text(minimal_hook() if driver == "qemu.d" else NOOP)


TIMER = '#!/bin/sh\necho "$(date +%s.%N) {tag} {driver} $2" >> {log}\n'


def breakdown(hooks_dir: Path, dom, log: Path, cycles: int = 3) -> dict[tuple[str, str], float]:
    """Median seconds the project's hook takes per (driver, operation), over a few cycles.

    Two timing scripts run right before (01-) and after (99-) the project's (50-) in each
    folder; each call's time is the gap between them.
    """
    for driver in ("qemu.d", "network.d"):
        for name, tag in (("01-timer", "begin"), ("99-timer", "end")):
            script = hooks_dir / driver / name
            script.write_text(TIMER.format(tag=tag, driver=driver.removesuffix(".d"), log=log))
            script.chmod(0o755)
    for _ in range(cycles):
        cycle(dom)
    spans: dict[tuple[str, str], list[float]] = {}
    begun = 0.0
    for line in log.read_text().splitlines():
        stamp, tag, driver, operation = line.split()
        if tag == "begin":
            begun = float(stamp)
        else:
            spans.setdefault((driver, operation), []).append(float(stamp) - begun)
    return {key: statistics.median(v) for key, v in spans.items()}


def cycle(dom) -> float:
    """One start+destroy, in seconds."""
    started = time.perf_counter()
    dom.create()
    dom.destroy()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds of each variant")
    parser.add_argument("--minimal", action="store_true",
                        help="also time bench/minimal_hook.py, the floor for a Python hook with lxml")
    parser.add_argument("--breakdown", action="store_true",
                        help="afterwards, time each call of the project's hook separately")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("hook_cost.py: needs root (network namespace, libvirtd)", file=sys.stderr)
        return 2

    import libvirt

    box = Sandbox.create()
    try:
        box.start(install_hooks=True, record=False)
        host_ovs = box.ovs
        host_ovs.add_bridge("ovs-bench0")
        vnx("network", "benchovs", "--mode", "bridge", "--bridge", "ovs-bench0", "--virtualport",
            "openvswitch", "--connect", box.libvirtd.uri, "--define", "--start")
        path = build_domain(box.tmp / "bench.xml", "bench-vm",
                            *[["--type", "network", "--source", "benchovs", "--model", "virtio", *v]
                              for v in NICS])
        stash = box.tmp / "variants"
        stash_variants(box.libvirtd.hooks_dir, stash)
        conn = libvirt.open(box.libvirtd.uri)
        try:
            dom = conn.defineXML(path.read_text())
            # sanity: with the project's hooks the four ports carry their VLANs
            dom.create()
            devs = [i["target"] for i in domain_interfaces(dom.XMLDesc())]
            tags = [host_ovs.port_column(d, "tag") for d in devs]
            dom.destroy()
            if tags != ["10", "20", "30", "[]"]:
                print(f"hook_cost.py: the hooks did not apply the VLANs (tags {tags})", file=sys.stderr)
                return 1
            variants = ["hooks", "noop"] + (["minimal"] if args.minimal else [])
            times: dict[str, list[float]] = {v: [] for v in variants}
            for variant in variants:  # warm-up, not counted
                swap(box.libvirtd.hooks_dir, stash, variant)
                cycle(dom)
            for n in range(args.rounds):
                for variant in variants if n % 2 == 0 else variants[::-1]:
                    swap(box.libvirtd.hooks_dir, stash, variant)
                    times[variant].append(cycle(dom))
                print(f"round {n + 1:2d}: " + "   ".join(f"{v} {times[v][-1]:.3f} s" for v in variants),
                      flush=True)
            if args.breakdown:
                swap(box.libvirtd.hooks_dir, stash, "hooks")
                spans = breakdown(box.libvirtd.hooks_dir, dom, box.tmp / "timer.log")
            dom.undefine()
        finally:
            conn.close()
    finally:
        box.teardown()

    mean = {k: statistics.mean(v) for k, v in times.items()}
    median = {k: statistics.median(v) for k, v in times.items()}
    ratio = mean["hooks"] / mean["noop"]
    print(f"start+destroy of a {len(NICS)}-NIC domain, {args.rounds} rounds each, alternating")
    for k in times:
        print(f"  {k:7s}: mean {mean[k]:.3f} s  median {median[k]:.3f} s  "
              f"min {min(times[k]):.3f} s  max {max(times[k]):.3f} s")
    median_ratio = median["hooks"] / median["noop"]
    print(f"  ratio of means {ratio:.2f}x, of medians {median_ratio:.2f}x, "
          f"of minimums {min(times['hooks']) / min(times['noop']):.2f}x")
    # The two variants of a round ran back to back: their difference cancels slower drifts.
    extra = [h - n for h, n in zip(times["hooks"], times["noop"], strict=True)]
    spread = statistics.stdev(extra) / len(extra) ** 0.5 if len(extra) > 1 else 0.0
    print(f"  the hooks' cost per start+destroy, paired by round: {statistics.mean(extra) * 1000:.0f} "
          f"± {spread * 1000:.0f} ms (mean ± standard error), "
          f"{statistics.mean(extra) / mean['noop'] * 100:.1f} % of the no-op cycle")
    if "minimal" in times:
        print(f"  the minimal lxml hook: ratio of means {mean['minimal'] / mean['noop']:.2f}x, "
              f"of medians {median['minimal'] / median['noop']:.2f}x")
    # one slow round from other load moves a mean a lot: judge on both
    verdict = "met" if max(ratio, median_ratio) <= TARGET else "NOT met"
    print(f"  target <= {TARGET:.2f}x (means and medians): {verdict}")
    if args.breakdown:
        print("  the project's hook per call (median of 3 cycles, seconds):")
        for (driver, operation), seconds in spans.items():
            print(f"    {driver:7s} {operation:13s} {seconds:.3f}")
    print(f"  load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
