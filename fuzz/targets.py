"""Fuzz targets: each takes one input as bytes, checks the project's contract, and returns a
short label of how the input ended ("refused", "applied", ...). A contract violation raises
(AssertionError, or whatever escaped the code under test); anything else is a pass.

The byte layouts let a coverage-guided fuzzer (atheris) mutate the interesting part:

* ``lint``: the document itself.
* ``roundtrip``: byte 0 picks the edits, byte 1 the interface, the rest is the document.
* ``hooks``: the first line is the call (``DRIVER NAME OPERATION SUB`` or raw argv words), the
  rest is stdin.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.robustness.contracts import check_lint  # noqa: E402
from tests.robustness.hookfuzz import check_hook_call  # noqa: E402
from tests.robustness.roundtrip import check_domain_edit, check_network_edit  # noqa: E402
from xmltools.edit import InterfaceEdits, NetworkEdits  # noqa: E402
from xmltools.errors import NetXmlError  # noqa: E402
from xmltools.xmlparse import parse_bytes  # noqa: E402

Target = Callable[[bytes], str]


def lint_target(data: bytes) -> str:
    """``virt-netxml lint -`` on the input, text and JSON output alternating by the first byte."""
    fmt = "json" if data[:1] and data[0] & 1 else "text"
    return f"exit-{check_lint(data, fmt)}"


def _interface_edits(bits: int) -> InterfaceEdits:
    edits = InterfaceEdits()
    if bits & 0x01:
        edits.model = "virtio"
    if bits & 0x02:
        edits.set_vlan = "10" if not bits & 0x40 else "10,20"
    if bits & 0x04:
        edits.clear_vlan = True
    if bits & 0x08:
        edits.source_bridge = "brfz0"
    if bits & 0x10:
        edits.ovs = bool(bits & 0x20)
    if bits & 0x20:
        edits.regenerate_mac = True
    if bits & 0x40 and not bits & 0x02:
        edits.set_bridge_vlan = "20"
    if bits & 0x80:
        edits.source_network = "fznet"
    return edits


def roundtrip_target(data: bytes) -> str:
    """Parse, apply model edits chosen by the header, write, re-parse: nothing untargeted lost."""
    if len(data) < 3:
        return "short"
    bits, which, doc = data[0], data[1], data[2:]
    try:
        root = parse_bytes(doc).getroot()
    except NetXmlError:
        return "unparsed"
    if root.tag == "domain":
        count = len(root.findall("devices/interface"))
        if count == 0:
            return "no-interface"
        edits = _interface_edits(bits)
        if not edits.any():
            edits.model = "e1000e"
        index = None if which == 0xFF else which % count
        outcome = check_domain_edit(doc, edits, index, seed=which)
    elif root.tag == "network":
        names = [g.get("name") or "" for g in root.iterfind("portgroup")]
        adds = ("fzpg,default",) if bits & 1 else ("fzpg",)
        vlans = (f"{names[which % len(names)]}=5",) if names and bits & 2 else ()
        removes = (names[-1],) if names and bits & 4 else ()
        if not bits & 8 and (vlans or removes):
            adds = ()  # without bit 3, only the other edits (when there are any)
        outcome = check_network_edit(doc, NetworkEdits(add_portgroups=adds, portgroup_vlans=vlans,
                                                       remove_portgroups=removes))
    else:
        return "other-root"
    if outcome.refused is not None:
        assert "\n" not in outcome.refused, outcome.refused
        return "refused"
    assert outcome.lost == [], "round trip lost nodes:\n" + "\n".join(outcome.lost)
    return "applied"


def hooks_target(data: bytes) -> str:
    """One hook call: the first line is the call, the rest stdin; fake host ports."""
    head, _, stdin = data.partition(b"\n")
    words = head.decode("utf-8", "replace").split(" ")
    if len(words) == 4 and words[0] in ("qemu", "network"):
        argv = ["--driver", words[0], words[1], words[2], words[3], "-"]
    else:
        argv = [w for w in words if w]
    result = check_hook_call(argv, stdin)
    return f"exit-{result.code}" + ("-out" if result.stdout else "")


TARGETS: dict[str, Target] = {"lint": lint_target, "roundtrip": roundtrip_target, "hooks": hooks_target}
