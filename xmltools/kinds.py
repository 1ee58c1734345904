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


@dataclass
class KindChecker:
    """Validates the other kinds of one run against one folder of libvirt's schemas.

    ``folder`` None: no schemas for the target; ``why_not`` says why. ``unchecked`` keeps,
    per kind, the files that could not be validated, for one note per kind at the end.
    """

    folder: Path | None
    why_not: str = ""
    unchecked: dict[str, list[str]] = field(default_factory=dict)

    def check(self, root: etree._Element, path: str, kind: tuple[str, str]) -> list[Problem]:
        """Validate one document of ``kind`` (from ``kind_of``)."""
        name, rng = kind
        errors = schema.validate_libvirt(rng, root, self.folder) if self.folder is not None else None
        if errors is None:
            self.unchecked.setdefault(name, []).append(path)
            return []
        return [(err.line, "error", "libvirt-schema", f"libvirt's {name} schema: {_readable(err.message)}")
                for err in errors]

    def notes(self) -> list[str]:
        """One line per kind that was met and not validated."""
        out = []
        for name, paths in sorted(self.unchecked.items()):
            count = f"{len(paths)} {name} documents" if len(paths) > 1 else f"{paths[0]} ({name})"
            why = self.why_not or f"libvirt's schema for this kind is not in {self.folder}"
            out.append(f"{count} not validated: {why}")
        return out


def _readable(message: str) -> str:
    # libxml2's wording for an element whose required child is missing.
    if message == "Expecting an element name, got nothing":
        return "a required child element is missing"
    return message
