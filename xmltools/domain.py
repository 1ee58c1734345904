"""A wrapper over a parsed ``<domain>`` document: its interfaces and the project's metadata.

Only what the networking tools need is modelled (name, uuid, the ``<interface>`` devices and
``<metadata>``); every other part of the document stays as parsed, so a domain read from
``virsh dumpxml`` and written back differs only where it was edited.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from lxml import etree

from xmltools.errors import InvalidValue, WrongDocument
from xmltools.fields import Children, Field, XmlModel, detach
from xmltools.interface import HostdevSource, Interface
from xmltools.metadata import MetaInterface, NetXmlMeta, find_meta, meta_or_create
from xmltools.preserve import Original, capture, restyle_whole, splice

# libvirt's order of a domain's top-level children (virDomainDefFormatInternal), so an added
# <metadata> or <devices> lands where libvirt would write it.
DOMAIN_ORDER: tuple[str, ...] = (
    "name", "uuid", "genid", "title", "description", "metadata", "maxMemory", "memory",
    "currentMemory", "blkiotune", "memtune", "memoryBacking", "vcpu", "vcpus", "iothreads",
    "iothreadids", "defaultiothread", "cputune", "numatune", "resource", "sysinfo", "bootloader",
    "bootloader_args", "os", "idmap", "features", "cpu", "clock", "on_poweroff", "on_reboot",
    "on_crash", "on_lockfailure", "pm", "perf", "devices", "seclabel", "keywrap",
    "launchSecurity",
)
# The order of devices inside <devices> (same function): a first interface goes after the
# disks and controllers, before inputs and graphics.
DEVICES_ORDER: tuple[str, ...] = (
    "emulator", "disk", "controller", "lease", "filesystem", "interface", "smartcard", "serial",
    "parallel", "console", "channel", "input", "tpm", "graphics", "sound", "audio", "video",
    "hostdev", "redirdev", "redirfilter", "hub", "watchdog", "memballoon", "rng", "panic",
    "shmem", "memory", "iommu", "vsock", "crypto",
)


# ---------------------------------------------------------------------------- writing back
#
# lxml always writes attributes in double quotes, puts namespace declarations first, drops the
# XML declaration and the line breaks between top-level nodes. virsh writes single quotes,
# except inside <metadata>, which it copies with libxml2 in double quotes. Writing an edited
# file back the way it was read keeps the diff of a file kept in git down to the lines that
# really changed: a document read with its tree (DocumentStyle.of(data, tree)) is written by
# splicing its changes into the original text (xmltools.preserve); the style below is what a
# new element, and a whole re-serialisation when splicing cannot apply, is written in.

_PROLOG_ITEM = re.compile(r"\s*(?:<\?.*?\?>|<!--.*?-->)", re.S)
_TOKEN = re.compile(r"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>|</[^>]*>|<[A-Za-z_][^>]*>", re.S)
_START_TAG = re.compile(r"<[A-Za-z_][^<>]*>")
_NAME = re.compile(r"</?([^\s/>]+)")
_FIRST_QUOTE = re.compile(r"\s[^\s=<>]+\s*=\s*(['\"])")
_ATTR = re.compile(r'(\s[^\s=<>"]+)="([^"]*)"')


def _walk(text: str) -> Iterator[tuple[re.Match[str], bool]]:
    """Yield (token, in_metadata) for every piece of markup; ``in_metadata`` is True inside
    the root's ``<metadata>`` child (the start and end tags of that element excluded)."""
    stack: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token.startswith(("<!", "<?")):
            yield match, len(stack) >= 2 and stack[1] == "metadata"
            continue
        name_match = _NAME.match(token)
        name = name_match.group(1) if name_match else ""
        if token.startswith("</"):
            if stack:
                stack.pop()
            yield match, len(stack) >= 2 and stack[1] == "metadata"
            continue
        inside = len(stack) >= 2 and stack[1] == "metadata"
        if not token.endswith("/>"):
            stack.append(name)
        yield match, inside


@dataclass(frozen=True)
class DocumentStyle:
    """How an input document was written: attribute quotes (outside and inside ``<metadata>``),
    its XML declaration and its root start tag; with ``original``, its whole text paired with
    the tree parsed from it, so an edit rewrites only what it changed."""

    quote: str = '"'
    metadata_quote: str = '"'
    declaration: str | None = None
    root_tag: str | None = None
    original: Original | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, data: bytes | str, tree: etree._ElementTree | None = None) -> DocumentStyle:
        """The style of ``data``; give ``tree``, just parsed from ``data`` and not yet edited,
        to have edits spliced into the original text."""
        original = capture(data, tree) if tree is not None else None
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        text = text.removeprefix("\ufeff")
        declaration = None
        if text.startswith("<?xml"):
            end = text.find("?>")
            if end > 0:
                declaration = text[:end + 2]
        pos = 0
        while (item := _PROLOG_ITEM.match(text, pos)) is not None:
            pos = item.end()
        root = _START_TAG.match(text[pos:].lstrip())
        quotes: dict[bool, str] = {}
        for match, inside in _walk(text[pos:]):
            token = match.group(0)
            if inside in quotes or token.startswith(("<!", "<?", "</")):
                continue
            found = _FIRST_QUOTE.search(token)
            if found:
                quotes[inside] = found.group(1)
            if len(quotes) == 2:
                break
        quote = quotes.get(False, '"')
        return cls(quote, quotes.get(True, quote), declaration, root.group(0) if root else None,
                   original)


def _single_quoted(tag: str) -> str:
    def swap(m: re.Match[str]) -> str:
        return f"{m.group(1)}='{m.group(2).replace(chr(39), '&apos;')}'"

    return _ATTR.sub(swap, tag)


def _restyle(text: str, style: DocumentStyle) -> str:
    if style.quote != "'" and style.metadata_quote != "'":
        return text
    out, last = [], 0
    for match, inside in _walk(text):
        token = match.group(0)
        quote = style.metadata_quote if inside else style.quote
        if quote == "'" and not token.startswith(("<!", "<?", "</")):
            out.append(text[last:match.start()])
            out.append(_single_quoted(token))
            last = match.end()
    out.append(text[last:])
    return "".join(out)


def _same_start_tag(original: str, node: etree._Element) -> bool:
    """True when ``original`` (a start tag's text) declares exactly ``node``'s name,
    attributes and namespaces, so it can stand in for lxml's spelling of it."""
    from xmltools.errors import NetXmlError
    from xmltools.xmlparse import parse_bytes

    empty = original[:-2] if original.endswith("/>") else original[:-1]
    try:
        probe = parse_bytes(empty + "/>", source="<root tag>").getroot()
    except NetXmlError:
        return False
    return probe.tag == node.tag and dict(probe.attrib) == dict(node.attrib) and probe.nsmap == node.nsmap


def serialize(tree: etree._ElementTree, style: DocumentStyle | None = None) -> str:
    """Write a whole document (comments around the root included) in ``style``: spliced into
    its original text when the style has it, else re-serialised."""
    from xmltools.xmlparse import to_string

    if style is None:
        return to_string(tree)
    if style.original is not None:
        spliced = splice(tree, style.original, style.quote, style.metadata_quote)
        if spliced is not None:
            return spliced
    root = tree.getroot()
    nodes = [*reversed(list(root.itersiblings(preceding=True))), root, *root.itersiblings()]
    parts = []
    for node in nodes:
        text = etree.tostring(node, encoding="unicode", with_tail=False)
        if node is root:
            text = _restyle(text, style)
            if style.root_tag and _same_start_tag(style.root_tag, root):
                first = _START_TAG.match(text)
                if first is not None and not first.group(0).endswith("/>"):
                    tag = style.root_tag
                    if tag.endswith("/>"):      # an empty root that has content now
                        tag = tag[:-2].rstrip() + ">"
                    text = tag + text[first.end():]
        parts.append(text)
    head = style.declaration + "\n" if style.declaration else ""
    whole = head + "\n".join(parts) + "\n"
    return whole if style.original is None else restyle_whole(whole, style.original)


class Domain(XmlModel):
    """A libvirt ``<domain>`` document."""

    TAG = "domain"
    ORDER = DOMAIN_ORDER

    type = Field("@type")
    name = Field("name")
    uuid = Field("uuid")
    interfaces = Children(Interface, "devices/interface")

    def _order_for(self, parent: etree._Element) -> tuple[str, ...]:
        if parent.tag == "devices" and parent.getparent() is self.node:
            return DEVICES_ORDER
        return super()._order_for(parent)

    @classmethod
    def from_xml(cls, data: bytes | str, source: str = "<input>") -> Domain:
        """Parse a domain document safely; raise WrongDocument for any other root element."""
        from xmltools.xmlparse import parse_bytes

        root = parse_bytes(data, source=source).getroot()
        if root.tag != cls.TAG:
            raise WrongDocument(source=source, expected="<domain>", found=_display_tag(root))
        domain = cls(root)
        domain.style = DocumentStyle.of(data, root.getroottree())
        return domain

    #: Set by from_xml: the document is written back in the style it was read in.
    style: DocumentStyle | None = None

    def to_xml(self) -> str:
        """The whole document, including comments and processing instructions around the root."""
        return serialize(self.node.getroottree(), self.style)

    # ---- interfaces

    @property
    def seed(self) -> str | None:
        """What derived MACs are computed from: the UUID when there is one, else the name."""
        return (self.uuid or "").strip() or (self.name or "").strip() or None

    def add_interface(self, iface: Interface) -> Interface:
        """Append an interface after the existing ones (or at libvirt's place for the first)."""
        return self.interfaces.append(iface)

    def remove_interface(self, iface: Interface) -> None:
        """Remove an interface and the project's metadata entry for its MAC."""
        mac = iface.mac
        self.interfaces.remove(iface)
        if mac:
            self.drop_meta_interface(mac)

    def used_macs(self) -> set[str]:
        return {i.mac.lower() for i in self.interfaces if i.mac}

    def select(self, mac: str | None = None, target: str | None = None,
               index: int | None = None) -> list[Interface]:
        """Interfaces matching every selector given (all of them when none is given).

        ``index`` counts from 0 in document order, like libvirt's ``netN`` aliases; ``mac``
        may be spelt any way ``virt-netxml mac --check`` takes (dashes, upper case, one-digit
        octets). Raises InvalidValue when selectors were given and nothing matches them.
        """
        found = list(self.interfaces)
        if index is not None:
            if not 0 <= index < len(found):
                raise InvalidValue(what="interface index", value=str(index),
                                   reason=f"the domain has {len(found)} interface(s), "
                                          f"counted from 0{self._listing()}")
            found = [found[index]]
        if mac is not None:
            wanted = same_mac_key(mac, strict=True)
            found = [i for i in found if i.mac and same_mac_key(i.mac) == wanted]
        if target is not None:
            found = [i for i in found if i.target_dev == target]
        if not found and (mac is not None or target is not None):
            described = ", ".join(f"{k} {v}" for k, v in (("MAC", mac), ("target", target),
                                                           ("index", index)) if v is not None)
            raise InvalidValue(what="interface selection", value=described,
                               reason=f"no interface of the domain matches{self._listing()}")
        return found

    def _listing(self) -> str:
        summaries = self.interface_summaries()
        return "; its interfaces: " + ", ".join(summaries) if summaries else ""

    def interface_summaries(self) -> list[str]:
        """One short line per interface, for messages that must say what the domain holds:
        ``0 (52:54:00:10:00:01, bridge br0, target vnet3)``."""
        return [f"{n} ({summarize(iface)})" for n, iface in enumerate(self.interfaces)]

    def index_of(self, iface: Interface) -> int:
        return next(n for n, i in enumerate(self.interfaces) if i.node is iface.node)

    # ---- the project's metadata

    def meta(self) -> NetXmlMeta | None:
        """The ``<vnx:netxml>`` element in ``<metadata>``, if present."""
        return find_meta(self.node)

    def meta_or_create(self) -> NetXmlMeta:
        return meta_or_create(self.node, self.ORDER)

    def meta_interface(self, mac: str) -> MetaInterface | None:
        meta = self.meta()
        return None if meta is None else meta.interface(mac)

    def meta_interface_or_create(self, mac: str) -> MetaInterface:
        return self.meta_or_create().interface_or_create(mac)

    def drop_meta_interface(self, mac: str) -> None:
        """Remove the metadata entry for ``mac`` and whatever that leaves empty."""
        entry = self.meta_interface(mac)
        if entry is not None:
            detach(entry.node)
            self.prune_meta()

    def prune_meta(self) -> None:
        """Remove empty ``<vnx:interface>`` entries, then an empty ``<vnx:netxml>`` and an
        empty ``<metadata>``, so clearing the last wish leaves no husk behind."""
        meta = self.meta()
        if meta is None:
            return
        for entry in list(meta.interfaces):
            if not _has_content(entry.node):
                detach(entry.node)
        if not _has_content(meta.node):
            metadata = meta.node.getparent()
            detach(meta.node)
            if metadata is not None and not _has_content(metadata):
                detach(metadata)


def summarize(iface: Interface) -> str:
    """An interface as its MAC, type, source and target: ``52:54:00:10:00:01, bridge br0,
    target vnet3``."""
    node = iface.node.find("source")
    source = ""
    if node is not None:
        named = next((node.get(a) for a in ("network", "bridge", "dev", "path", "name")
                      if node.get(a)), None)
        if named is None and isinstance(iface.source, HostdevSource):
            try:
                named = str(iface.source.address or "") or None
            except InvalidValue:
                named = None
        source = f" {named}" if named else ""
    parts = [iface.mac or "no MAC", f"{iface.type or 'no type'}{source}"]
    if iface.target_dev:
        parts.append(f"target {iface.target_dev}")
    return ", ".join(parts)


def same_mac_key(text: str, strict: bool = False) -> str:
    """A MAC as ``xx:xx:xx:xx:xx:xx`` so two spellings of one address compare equal.

    ``strict``: ``text`` was typed by a user and must be a usable unicast address (the rules
    of ``virt-netxml mac --check``); otherwise text that is not a MAC compares as written.
    """
    from xmltools.mac import normalize_mac

    try:
        return normalize_mac(text)
    except InvalidValue:
        if strict:
            raise
        return text.strip().lower()


def _has_content(node: etree._Element) -> bool:
    """True when an element holds child elements, comments or text (attributes aside)."""
    return len(node) > 0 or bool((node.text or "").strip())


def _display_tag(node: etree._Element) -> str:
    qname = etree.QName(node)
    return qname.localname if qname.namespace is None else f"{{{qname.namespace}}}{qname.localname}"
