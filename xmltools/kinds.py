"""libvirt's document kinds beyond networks, domains and guest interfaces.

A libvirt configuration tree (/etc/libvirt) and the repositories that keep one hold more than
networks and domains: the nwfilter rules Debian ships (/etc/libvirt/nwfilter), storage pools,
secrets, and the documents virsh takes or writes (volumes, snapshots, checkpoints, node
devices, host interfaces, network ports, filter bindings). Lint recognises each by its root
element and validates it against libvirt's own schema for that kind; the project has no
grammar or semantic checks of its own for them.

Which schemas: libvirt's, of the target release (``schema.libvirt_schemas_for``): a folder
given with ``--libvirt-schema-dir`` (another release's schemas, e.g. from a Debian root), else
the installed ones when they are the target's release or newer. Without them these kinds are
not validated; the run says so in one note per kind, and that is not a finding.

Each schema is compiled once per process (schema.libvirt_schema caches it), and only when a
document of its kind is met: domainsnapshot.rng and domaincheckpoint.rng include the whole
domain grammar (~70-90 ms to compile).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from xmltools import schema
from xmltools.checks import Severity

# root element -> (the kind as messages name it, libvirt's schema file without ".rng")
KINDS: dict[str, tuple[str, str]] = {
    "filter": ("nwfilter", "nwfilter"),
    "filterbinding": ("nwfilter binding", "nwfilterbinding"),
    "pool": ("storage pool", "storagepool"),
    "volume": ("storage volume", "storagevol"),
    "secret": ("secret", "secret"),
    "domainsnapshot": ("domain snapshot", "domainsnapshot"),
    "domaincheckpoint": ("domain checkpoint", "domaincheckpoint"),
    "domainbackup": ("domain backup", "domainbackup"),
    "device": ("node device", "nodedev"),
    "networkport": ("network port", "networkport"),
    "capabilities": ("host capabilities", "capability"),
    "domainCapabilities": ("domain capabilities", "domaincaps"),
    "storagepoolCapabilities": ("storage pool capabilities", "storagepoolcaps"),
    "cpu": ("CPU", "cpu"),
}
HOST_INTERFACE = ("host interface", "interface")   # <interface name='eth0'> of virsh iface-define

# Children only a host (netcf) interface has; a guest's <interface> has none of them.
_HOST_ONLY_CHILDREN = frozenset({"start", "protocol", "bond", "bridge"})
_HOST_ONLY_TYPES = frozenset({"bond", "vlan"})


def is_host_interface(root: etree._Element) -> bool:
    """An ``<interface>`` document of the host (interface.rng), not of a guest.

    A host interface always names its device (``name='eth0'``, the schema requires it except
    on a bare VLAN) and may have <start>, <protocol>, <bond> or <bridge>; a guest's interface
    has no ``name`` attribute, none of those children, and no type 'bond' or 'vlan'.
    """
    if root.get("name") is not None or root.get("type") in _HOST_ONLY_TYPES:
        return True
    return any(child.tag in _HOST_ONLY_CHILDREN for child in root)


def kind_of(root: etree._Element) -> tuple[str, str] | None:
    """(kind, schema name) of a document none of lint's own grammars covers, or None.

    None also for networks, domains and guest interfaces: they keep their own path.
    """
    tag = root.tag
    if not isinstance(tag, str):
        return None
    if tag == "interface":
        return HOST_INTERFACE if is_host_interface(root) else None
    return KINDS.get(tag)


Problem = tuple[int, Severity, str, str]   # line, severity, code, message

CACHED_BYTES = 64 * 1024        # verdicts kept for documents up to this size,
CACHED_DOCUMENTS = 4096         # and this many of them (a few MB at most)


@dataclass
class KindChecker:
    """Validates the other kinds of one run against one folder of libvirt's schemas.

    ``folder`` None: no schemas for the target; ``why_not`` says why. ``unchecked`` keeps,
    per kind, the files that could not be validated, for one note per kind at the end.
    """

    folder: Path | None
    why_not: str = ""
    unchecked: dict[str, list[str]] = field(default_factory=dict)
    verdicts: dict[tuple[str, int, bytes], list[Problem]] = field(default_factory=dict)

    def check(self, root: etree._Element, path: str, kind: tuple[str, str]) -> list[Problem]:
        """Validate one document of ``kind`` (from ``kind_of``).

        A document met before in the run, byte for byte from the same line on, gets the same
        verdict without a second validation: repositories that keep several hosts' trees hold
        many copies of libvirt's stock nwfilters, and libxml2 takes ~0.4 ms to validate one.
        """
        name, rng = kind
        compiled = schema.libvirt_schema(rng, self.folder) if self.folder is not None else None
        if compiled is None:
            self.unchecked.setdefault(name, []).append(path)
            return []
        text = etree.tostring(root)
        key = (rng, root.sourceline or 1, text)
        known = self.verdicts.get(key)
        if known is not None:
            return known
        if compiled.validate(root):
            verdict: list[Problem] = []
        else:
            line, message = explain(compiled, root)
            verdict = [(line, "error", "libvirt-schema", f"libvirt's {name} schema: {message}")]
        if len(text) <= CACHED_BYTES and len(self.verdicts) < CACHED_DOCUMENTS:
            self.verdicts[key] = verdict
        return verdict

    def notes(self) -> list[str]:
        """One line per kind that was met and not validated."""
        out = []
        for name, paths in sorted(self.unchecked.items()):
            count = f"{len(paths)} {name} documents" if len(paths) > 1 else f"{paths[0]} ({name})"
            why = self.why_not or f"libvirt's schema for this kind is not in {self.folder}"
            out.append(f"{count} not validated: {why}")
        return out


MAX_TRIES = 64   # attributes tried by explain(), so a broken snapshot of a huge domain stays cheap


def explain(compiled: etree.RelaxNG, root: etree._Element) -> tuple[int, str]:
    """Where and why ``root`` fails ``compiled`` (just validated, its error log fresh).

    libxml2 often blames the element holding the culprit (with interleaved content, only the
    child of the root it sits in): an attribute whose removal makes the document valid, searched
    in the blamed element's subtree, is named with its own line. Otherwise an invalid attribute
    or value libxml2 reports is preferred to the rest of its chain ("Expecting element udp, got
    tcp" is the last branch of a choice it tried, rarely the mistake).
    """
    entries = list(compiled.error_log)
    first = schema.explain(compiled.error_log, root)
    culprit = _culprit(compiled, root, first.line)
    if culprit is not None:
        element, attr = culprit
        shown = f"<{etree.QName(element).localname} {attr}='{element.get(attr)}'>"
        return element.sourceline or first.line, f"{shown}: the attribute or its value is not allowed here"
    for entry in entries:
        found = _INVALID_ATTRIBUTE.match(entry.message)
        if found:
            return (entry.line or first.line,
                    f"<{found.group(2)}> attribute {found.group(1)!r}: not allowed here, or an invalid value")
    for entry in entries:
        if entry.type_name == "RELAXNG_ERR_TYPEVAL":
            return entry.line or first.line, entry.message
    extra = [e for e in entries if _EXTRA_CONTENT.match(e.message)]
    if extra:   # the deepest element that has a child it may not have
        entry = max(extra, key=lambda e: (e.path or "").count("/"))
        found = _EXTRA_CONTENT.match(entry.message)
        assert found is not None
        return entry.line or first.line, f"<{found.group(2)}> is not allowed in <{found.group(1)}>"
    if first.message == "Expecting an element name, got nothing":
        return first.line, "a required child element is missing"
    return first.line, first.message


_INVALID_ATTRIBUTE = re.compile(r"Invalid attribute (\S+) for element (\S+)")
_EXTRA_CONTENT = re.compile(r"Element (\S+) has extra content: (\S+)")


def _culprit(compiled: etree.RelaxNG, root: etree._Element, line: int) -> tuple[etree._Element, str] | None:
    """The first attribute, in the subtree of the element at ``line``, without which ``root`` is
    valid; the document is left as it was (attribute order aside)."""
    scope = next((e for e in root.iter() if isinstance(e.tag, str) and e.sourceline == line), root)
    tries = 0
    for element in scope.iter():
        if not isinstance(element.tag, str):
            continue
        for attr in list(element.attrib):
            tries += 1
            if tries > MAX_TRIES:
                return None
            value = element.attrib.pop(attr)
            try:
                valid = compiled.validate(root)
            finally:
                element.set(attr, value)
            if valid:
                return element, attr
    return None
