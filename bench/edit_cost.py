"""What keeping every untouched byte costs: ``edit --model`` on one interface of a domain with
many interfaces, written back by splicing the change into the original text (what ``edit`` and
``interface --domain`` do) beside a whole re-serialisation of the tree in the file's quote style
(what they did before). Prints a Markdown table of the median CPU time of N runs (CPU time,
not wall time, so other work on the machine does not blur it), in milliseconds.

    .venv/bin/python bench/edit_cost.py [--interfaces 200] [--runs 30]

"load" is parsing plus the file's style (and, for splicing, pairing the tree with the text);
"write" is producing the document text; "total" includes the edit itself.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xmltools.domain import DocumentStyle, Domain, serialize  # noqa: E402
from xmltools.edit import InterfaceEdits, edit_interfaces  # noqa: E402
from xmltools.preserve import encode_document  # noqa: E402
from xmltools.xmlparse import parse_bytes  # noqa: E402


def domain(count: int) -> bytes:
    """A virsh-style domain with ``count`` bridge interfaces and the usual devices around them."""
    nics = "".join(
        f"    <interface type='bridge'>\n      <mac address='52:54:00:00:{n // 256:02x}:{n % 256:02x}'/>\n"
        f"      <source bridge='br{n % 8}'/>\n      <target dev='vnet{n}'/>\n      <model type='e1000'/>\n"
        f"      <alias name='net{n}'/>\n      <address type='pci' domain='0x0000' bus='0x{n // 32 + 1:02x}' "
        f"slot='0x{n % 32:02x}' function='0x0'/>\n    </interface>\n"
        for n in range(count))
    return (f"<?xml version='1.0' encoding='UTF-8'?>\n<domain type='kvm' id='3'>\n  <name>big</name>\n"
            f"  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n  <memory unit='KiB'>1048576</memory>\n"
            f"  <vcpu placement='static'>2</vcpu>\n  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n"
            f"  </os>\n  <devices>\n    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
            f"    <disk type='file' device='disk'>\n"
            f"      <source file='/var/lib/libvirt/images/big.qcow2'/>\n"
            f"      <target dev='vda' bus='virtio'/>\n    </disk>\n{nics}"
            f"    <console type='pty'/>\n    <memballoon model='virtio'/>\n  </devices>\n"
            f"</domain>\n").encode()


def run(data: bytes, splice: bool) -> tuple[float, float, float, bytes]:
    t0 = time.process_time()
    root = parse_bytes(data).getroot()
    style = DocumentStyle.of(data, root.getroottree() if splice else None)
    doc = Domain(root)
    t1 = time.process_time()
    edit_interfaces(doc.select(index=len(doc.interfaces) // 2), InterfaceEdits(model="virtio"), doc)
    t2 = time.process_time()
    out = encode_document(serialize(root.getroottree(), style))
    t3 = time.process_time()
    return t1 - t0, t3 - t2, t3 - t0, out


def median_ms(fn: Callable[[], tuple[float, float, float, bytes]], runs: int) -> tuple[float, float, float]:
    samples = [fn()[:3] for _ in range(runs)]
    return tuple(statistics.median(s[k] for s in samples) * 1000 for k in range(3))  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interfaces", type=int, default=200)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    data = domain(args.interfaces)
    for splice in (False, True):
        run(data, splice)   # warm up
    whole = median_ms(lambda: run(data, False), args.runs)
    spliced = median_ms(lambda: run(data, True), args.runs)
    changed = sum(a != b for a, b in zip(data.splitlines(), run(data, True)[3].splitlines(), strict=True))
    print(f"`edit --model virtio` on interface {args.interfaces // 2} of {args.interfaces} "
          f"({len(data) // 1024} KiB), median CPU time of {args.runs} runs, ms\n")
    print("| step | whole re-serialisation (before) | splice (now) |")
    print("|---|---:|---:|")
    for name, before, now in zip(("load", "write", "total"), whole, spliced, strict=True):
        print(f"| {name} | {before:.2f} | {now:.2f} |")
    print(f"\nlines changed by the spliced write: {changed}")


if __name__ == "__main__":
    main()
