"""Names, UUIDs and MACs that must be unique across the files of one host in a lint run."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from lxml import etree

from xmltools.checks.shared import Report, mac_problem


@dataclass
class RunIndex:
    """What one lint run has seen so far, to report duplicates across all its files."""

    seen: dict[tuple[str, str, str], tuple[str, int]] = field(default_factory=dict)

    def claim(self, category: str, key: str, path: str, line: int, host: str = "") -> tuple[str, int] | None:
        """Record ``key`` on ``host``; return where it was first seen there if it was seen before.

        A host is one libvirt host's set of files (lint's ``--scope``): the same MAC, name or
        UUID on two hosts is no duplicate.
        """
        first = self.seen.get((host, category, key))
        if first is None:
            self.seen[(host, category, key)] = (path, line)
        return first


def identities(root: etree._Element, kind: str) -> Iterator[tuple[str, str, etree._Element]]:
    """(category, key, element) of everything that must be unique across a lint run."""
    if kind in ("network", "domain"):
        name = root.find("name")
        if name is not None and name.text:
            yield f"{kind} name", name.text.strip(), name
        uuid = root.find("uuid")
        if uuid is not None and uuid.text:
            yield f"{kind} UUID", uuid.text.strip().lower().replace("-", ""), uuid
    macs: Iterable[etree._Element]
    if kind == "network":
        macs = root.findall("mac")
    elif kind == "domain":
        macs = root.iterfind("devices/interface/mac")
    else:
        macs = root.findall("mac")
    once: set[str] = set()  # repeats inside one document are check_domain's business
    for mac in macs:
        text = (mac.get("address") or "").lower()
        if text and text not in once and mac_problem(text) is None:
            once.add(text)
            yield "MAC address", text, mac


def check_unique(root: etree._Element, kind: str, path: str, index: RunIndex, report: Report,
                 host: str = "") -> None:
    """Report names, UUIDs and MACs already seen on ``host`` in this run (in this file or an
    earlier one)."""
    for category, key, node in identities(root, kind):
        first = index.claim(category, key, path, node.sourceline or 1, host)
        if first is not None:
            shown = key if category != f"{kind} UUID" else (node.text or "").strip()
            report.error(node, "duplicate",
                         f"{category} {shown} is already used at {first[0]}:{first[1]}")
