"""Writing an edited document back with every byte the edit did not touch.

Why splice instead of re-serialising the tree: lxml writes what it parsed, not what the file
said. It turns CDATA sections into escaped text and ``&apos;``/``&#x41;`` into characters,
CRLF into LF, collapses the spacing inside start tags and processing instructions, drops the
blank lines between top-level nodes, writes every attribute in one quote style and every
inserted element with its own two-space indentation, and knows nothing of the bytes the file was
encoded in. Repairing its output afterwards would mean guessing, node by node, what the original
looked like. The original text is at hand instead, so the parsed tree is paired with it once, at
load time, and whatever still matches is copied from it.

- ``capture`` walks the text with a tokenizer (comments, CDATA, processing instructions, start
  and end tags, in document order) alongside the tree, and records for each node the character
  range of its markup and of the text after it, plus a snapshot of what the node held: tag,
  attributes in order, text, tail and the identity of its children. lxml hands out the same
  proxy object for a node as long as one is referenced, so the record keeps the node alive and
  the identity comparison holds until the document is written.
- ``splice`` writes the edited tree: a node whose snapshot still matches is copied from the
  original text (CDATA, references, quotes, spacing and all). A changed start tag is rewritten
  attribute by attribute: untouched attributes keep their spelling, a changed value keeps its
  quote, a new attribute takes the quote the tag already uses. Changed whitespace between
  elements takes the file's line ending and indentation: that of the neighbours at the same
  depth, else the parent's plus the file's indentation unit (a tab, two or four spaces…). A new
  element is written by lxml, then given the file's quote style (that of its neighbours), its
  indentation and line ending, without repeating namespace declarations already in scope.
- When the text and the tree cannot be paired (a document lxml parsed always can be), or the
  top-level nodes changed, ``splice`` returns None and the caller re-serialises the whole
  document in the file's style (``restyle_whole``: its line ending, byte order mark and end).

Text is handled as ``str`` decoded with the document's own encoding; ``encode_document`` turns
the result back into the bytes the declaration names. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections import Counter

from lxml import etree

# One piece of markup at a '<' (text between markup holds no '<'). Groups: 1 comment, 2 CDATA,
# 3 processing instruction (or the XML declaration), 4 end tag name, 5 start tag name,
# 6 its attributes, 7 '/' of an empty-element tag.
_MARKUP = re.compile(
    r"<(?:(!--.*?--)|(!\[CDATA\[.*?\]\])|(\?.*?\?)|/([^\s>]+)\s*"
    r"|([^\s/>!?]+)((?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*(/?))>",
    re.S,
)
_ATTR = re.compile(r"(\s+)([^\s=/>]+)(\s*=\s*)(?:\"([^\"]*)\"|'([^']*)')")
_DQ_ATTR = re.compile(r'(\s[^\s=<>"]+)="([^"]*)"')
_FIRST_QUOTE = re.compile(r"=\s*(['\"])")
_DECLARATION = re.compile(r"<\?xml\s[^>]*?encoding\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_XML_NS = "http://www.w3.org/XML/1998/namespace"
_LAYOUT = " \t\r\n"


class _Rec:
    """Where a node's markup is in the original text, and what the node held there."""

    __slots__ = ("start", "open_end", "text_end", "close_start", "end", "tail_end",
                 "tag", "attrs", "text", "tail", "children", "parent")

    def __init__(self, node: etree._Element, parent: etree._Element | None, start: int,
                 open_end: int) -> None:
        self.start, self.open_end = start, open_end
        self.text_end = self.close_start = self.end = self.tail_end = open_end
        self.tag = node.tag
        self.attrs = _attributes(node)
        self.text, self.tail = node.text, node.tail
        self.children: tuple[etree._Element, ...] = ()
        self.parent = parent

    @property
    def empty(self) -> bool:
        """Written as an empty-element tag (``<x/>``)."""
        return self.end == self.open_end


def _attributes(node: etree._Element) -> tuple[tuple[str, str], ...]:
    """What a node's markup says besides its text: an element's attributes in order, a
    processing instruction's target."""
    if isinstance(node.tag, str):
        return tuple(node.attrib.items())
    return (("", node.target),) if node.tag is etree.PI else ()


class _NoMatch(Exception):
    """The text and the tree do not pair up."""


class Original:
    """A document's original text paired with its freshly parsed tree (see ``capture``)."""

    def __init__(self, text: str, recs: dict[etree._Element, _Rec],
                 top: tuple[etree._Element, ...]) -> None:
        self.text, self.recs, self.top = text, recs, top
        self.newline = "\r\n" if text.count("\r\n") * 2 > text.count("\n") else "\n"
        last = recs[top[-1]]
        self.head, self.ending = text[:recs[top[0]].start], text[last.end:]
        self._unit: str | None = None

    @property
    def unit(self) -> str:
        """The file's indentation unit: the most common step from a parent's indentation to its
        children's (a tab, two spaces…); two spaces when the file shows none."""
        if self._unit is None:
            steps: Counter[str] = Counter()
            for rec in self.recs.values():
                if not rec.children or not isinstance(rec.tag, str):
                    continue
                outer = self.measured(rec)
                inner = self.measured(self.recs[rec.children[0]])
                if outer is not None and inner is not None and inner.startswith(outer) and inner != outer:
                    steps[inner[len(outer):]] += 1
            self._unit = steps.most_common(1)[0][0] if steps else "  "
        return self._unit

    def measured(self, rec: _Rec) -> str | None:
        """The indentation of the line a node starts on, when only blanks precede it there."""
        text = self.text
        line = text.rfind("\n", 0, rec.start) + 1
        lead = text[line:rec.start]
        if lead.strip(" \t") or (line == 0 and rec.parent is not None):
            return None
        return lead


def decode(data: bytes | str, tree: etree._ElementTree) -> str | None:
    """The document's text, decoded with the encoding the parser found (a byte order mark is kept
    as U+FEFF); None when Python has no codec for it."""
    if isinstance(data, str):
        return data
    encoding = (tree.docinfo.encoding or "utf-8").lower()
    if encoding.startswith(("utf-16", "utf-32")) and len(encoding) == 6:
        # The byte order: its mark's, else that of the first character ('<' of the declaration).
        little = data[:2] in (b"\xff\xfe", b"<\x00")
        encoding += ("-le" if little else "-be")
    try:
        return data.decode(encoding)
    except (LookupError, UnicodeDecodeError):
        return None


def capture(data: bytes | str, tree: etree._ElementTree) -> Original | None:
    """Pair a just-parsed tree with the text it was parsed from; None when they do not pair."""
    text = decode(data, tree)
    if text is None:
        return None
    root = tree.getroot()
    top = (*reversed(list(root.itersiblings(preceding=True))), root, *root.itersiblings())
    marks = [m for m in _MARKUP.finditer(text) if m.group(2) is None]
    pos = 0
    if marks and marks[0].group(3) is not None and re.match(r"\?xml\s", marks[0].group(3)) and \
            not text[:marks[0].start()].strip("\ufeff"):
        pos = 1
    recs: dict[etree._Element, _Rec] = {}
    try:
        for node in top:
            pos = _visit(node, None, marks, pos, recs)
    except (_NoMatch, IndexError):
        return None
    if pos != len(marks):
        return None
    return Original(text, recs, top)


def _qname(node: etree._Element) -> str:
    tag = node.tag
    assert isinstance(tag, str)
    local = tag.rpartition("}")[2]
    return f"{node.prefix}:{local}" if node.prefix else local


def _visit(node: etree._Element, parent: etree._Element | None, marks: list[re.Match[str]],
           pos: int, recs: dict[etree._Element, _Rec]) -> int:
    """Pair ``node`` (a child of ``parent``) and its subtree with ``marks[pos:]``; return the
    next mark's index."""
    mark = marks[pos]
    tag = node.tag
    if tag is etree.Comment or tag is etree.PI:
        if mark.group(1 if tag is etree.Comment else 3) is None:
            raise _NoMatch
        recs[node] = rec = _Rec(node, parent, mark.start(), mark.end())
        rec.end = rec.tail_end = mark.end()
        return pos + 1
    name = mark.group(5)
    if not isinstance(tag, str) or (name != tag and name != _qname(node)):
        raise _NoMatch
    recs[node] = rec = _Rec(node, parent, mark.start(), mark.end())
    pos += 1
    if mark.group(7):
        if len(node):
            raise _NoMatch
        return pos
    children = tuple(node)
    rec.children = children
    previous: _Rec | None = None
    for child in children:
        start = marks[pos].start()
        if previous is None:
            rec.text_end = start
        else:
            previous.tail_end = start
        pos = _visit(child, node, marks, pos, recs)
        previous = recs[child]
    close = marks[pos]
    if close.group(4) != name:
        raise _NoMatch
    if previous is None:
        rec.text_end = close.start()
    else:
        previous.tail_end = close.start()
    rec.close_start, rec.end = close.start(), close.end()
    return pos + 1


# ---------------------------------------------------------------------------- writing


def splice(tree: etree._ElementTree, original: Original, quote: str = '"',
           metadata_quote: str = '"') -> str | None:
    """The edited document: the original text with only what changed rewritten, in the file's
    style. ``quote``/``metadata_quote`` are the file's attribute quotes outside and inside
    ``<metadata>``, used for new elements with no quoted neighbour. None when the tree's
    top-level nodes are no longer the original ones."""
    root = tree.getroot()
    top = (*reversed(list(root.itersiblings(preceding=True))), root, *root.itersiblings())
    if top != original.top:
        return None
    writer = _Writer(original, quote, metadata_quote, _changed(root, original.recs))
    text, recs = original.text, original.recs
    out = [original.head]
    try:
        for k, node in enumerate(top):
            writer.node(node, out)
            following = recs[top[k + 1]].start if k + 1 < len(top) else len(text)
            out.append(text[recs[node].end:following])
    except ValueError:   # an attribute whose namespace has no prefix in scope
        return None
    return "".join(out)


def _changed(root: etree._Element, recs: dict[etree._Element, _Rec]) -> set[etree._Element]:
    """The nodes that changed (their name, attributes, text, tail, children or parent; a new
    node counts for its parent) and all their ancestors: everything else is copied whole."""
    changed: set[etree._Element] = set()
    for node in root.iter():
        rec = recs.get(node)
        if rec is None:
            node = node.getparent()
        elif rec.tag == node.tag and rec.text == node.text and rec.tail == node.tail \
                and rec.attrs == _attributes(node) and rec.children == tuple(node) \
                and rec.parent is node.getparent():
            continue
        while node is not None and node not in changed:
            changed.add(node)
            node = node.getparent()
    return changed


class _Writer:
    def __init__(self, original: Original, quote: str, metadata_quote: str,
                 changed: set[etree._Element]) -> None:
        self.changed = changed
        self.original = original
        self.text, self.recs = original.text, original.recs
        self.nl = original.newline
        self.quote, self.metadata_quote = quote, metadata_quote

    # ---- nodes

    def _rec(self, node: etree._Element) -> _Rec | None:
        rec = self.recs.get(node)
        if rec is None or rec.parent is not node.getparent() or rec.tag != node.tag:
            return None
        return rec

    def node(self, node: etree._Element, out: list[str]) -> None:
        rec = self._rec(node)
        if rec is None:
            out.append(self.fresh(node))
            return
        text = self.text
        if not isinstance(node.tag, str):   # a comment or processing instruction
            same = node.text == rec.text and _attributes(node) == rec.attrs
            out.append(text[rec.start:rec.end] if same else self.fresh(node))
            return
        if node not in self.changed:
            out.append(text[rec.start:rec.end])
            return
        start = text[rec.start:rec.open_end]
        if _attributes(node) != rec.attrs:
            start = self.start_tag(node, rec, start)
        children = tuple(node)
        if not children and not node.text:
            if rec.empty:
                out.append(start)
            elif rec.children or rec.text:
                out.append(start[:-1] + "/>")    # its content is gone: <x/>, as libvirt writes it
            else:
                out.append(start + text[rec.close_start:rec.end])
            return
        if rec.empty:
            out.append(start[:-2].rstrip() + ">")
            close = f"</{_qname(node)}>"
        else:
            out.append(start)
            close = text[rec.close_start:rec.end]
        # Text kept as written unless it changed, or it is the indentation of a neighbour that
        # is no longer the same node (the whitespace then follows the new neighbour).
        first = children[0] if children else None
        if not rec.empty and node.text == rec.text and \
                (first is (rec.children[0] if rec.children else None) or not _is_layout(node.text)):
            out.append(text[rec.open_end:rec.text_end])
        else:
            out.append(self.layout(node.text, node, first))
        was = {child: k for k, child in enumerate(rec.children)}
        for k, child in enumerate(children):
            self.node(child, out)
            following = children[k + 1] if k + 1 < len(children) else None
            crec = self._rec(child)
            if crec is not None and child.tail == crec.tail and (not _is_layout(child.tail) or (
                    child in was and _next(rec.children, was[child]) is following)):
                out.append(text[crec.end:crec.tail_end])
            else:
                out.append(self.layout(child.tail, node, following))
        out.append(close)

    def layout(self, value: str | None, parent: etree._Element, following: etree._Element | None) -> str:
        """Changed text between markup: formatting whitespace is written the file's way (its
        line ending, the indentation of what follows), other text escaped."""
        if not value:
            return ""
        if _is_layout(value):
            indent = self.indent_of(following) if following is not None else self.closing_indent(parent)
            return self.nl * value.count("\n") + indent
        return escape_text(value).replace("\n", self.nl)

    # ---- indentation

    def indent_of(self, node: etree._Element) -> str:
        rec = self._rec(node)
        if rec is not None:
            found = self.original.measured(rec)
            if found is not None:
                return found
        parent = node.getparent()
        return "" if parent is None else self.child_indent(parent)

    def child_indent(self, parent: etree._Element) -> str:
        """The indentation of a child of ``parent``: its original children's, else one unit
        more than the parent's."""
        rec = self._rec(parent)
        if rec is not None:
            for child in rec.children:
                crec = self.recs[child]
                found = self.original.measured(crec)
                if found is not None:
                    return found
        return self.indent_of(parent) + self.original.unit

    def closing_indent(self, node: etree._Element) -> str:
        rec = self._rec(node)
        if rec is not None and not rec.empty:
            text = self.text
            line = text.rfind("\n", 0, rec.close_start) + 1
            if line and not text[line:rec.close_start].strip(" \t"):
                return text[line:rec.close_start]
        return self.indent_of(node)

    # ---- rewritten and new markup

    def start_tag(self, node: etree._Element, rec: _Rec, raw: str) -> str:
        """``raw`` (the original start tag) with only the changed attributes rewritten."""
        match = _MARKUP.match(raw)
        assert match is not None and match.group(5) is not None
        new = dict(node.attrib)
        old = dict(rec.attrs)
        pieces = [raw[:match.start(6)]]
        seen = set()
        for attr in _ATTR.finditer(match.group(6)):
            space, qname, equals, dq, sq = attr.groups()
            if qname == "xmlns" or qname.startswith("xmlns:"):
                pieces.append(attr.group(0))
                continue
            key = _attribute_key(qname, node)
            seen.add(key)
            if key not in new:
                continue
            if new[key] == old.get(key):
                pieces.append(attr.group(0))
                continue
            q = '"' if dq is not None else "'"
            pieces.append(f"{space}{qname}{equals}{q}{escape_attribute(new[key], q)}{q}")
        added = [(k, v) for k, v in new.items() if k not in seen]
        if added:
            found = _FIRST_QUOTE.search(raw)
            q = found.group(1) if found else self.quote_for(node)
            for key, value in added:
                name = _attribute_name(key, node)
                prefix = name.partition(":")[0] if ":" in name else ""
                # A prefix lxml made up for the new attribute is declared nowhere in the file.
                parent = node.getparent()
                if prefix and prefix != "xml" and not re.search(rf"\sxmlns:{re.escape(prefix)}\s*=", raw) \
                        and (parent is None or prefix not in parent.nsmap):
                    uri = key[1:].partition("}")[0]
                    pieces.append(f" xmlns:{prefix}={q}{escape_attribute(uri, q)}{q}")
                pieces.append(f" {name}={q}{escape_attribute(value, q)}{q}")
        pieces.append(raw[match.end(6):])
        return "".join(pieces)

    def quote_for(self, node: etree._Element) -> str:
        """The quote a new element (or attribute) takes: its nearest siblings', else the
        file's for where it is (inside ``<metadata>`` or not), else its ancestors'."""
        for sibling in (*node.itersiblings(preceding=True), *node.itersiblings()):
            rec = self._rec(sibling)
            if rec is not None and isinstance(sibling.tag, str):
                found = _FIRST_QUOTE.search(self.text, rec.start, rec.open_end)
                if found:
                    return found.group(1)
        chain = list(node.iterancestors())
        if len(chain) >= 2 and chain[-2].tag == "metadata":
            return self.metadata_quote
        for ancestor in chain:
            rec = self._rec(ancestor)
            if rec is not None:
                found = _FIRST_QUOTE.search(self.text, rec.start, rec.open_end)
                if found:
                    return found.group(1)
        return self.quote

    def fresh(self, node: etree._Element) -> str:
        """A node that was not in the original, written by lxml in the file's style."""
        if not isinstance(node.tag, str):
            return etree.tostring(node, encoding="unicode", with_tail=False).replace("\n", self.nl)
        import copy

        indent = self.indent_of(node)
        clone = copy.deepcopy(node)
        clone.tail = None
        _reindent(clone, indent, self.original.unit)
        text = etree.tostring(clone, encoding="unicode")
        parent = node.getparent()
        if parent is not None:
            text = _drop_declared(text, parent.nsmap)
        if self.quote_for(node) == "'":
            text = single_quoted(text)
        return text.replace("\n", self.nl)


def _is_layout(value: str | None) -> bool:
    """Whitespace that breaks a line: indentation, not content."""
    return value is not None and "\n" in value and not value.strip(_LAYOUT)


def _next(nodes: tuple[etree._Element, ...], k: int) -> etree._Element | None:
    return nodes[k + 1] if k + 1 < len(nodes) else None


def _attribute_key(qname: str, node: etree._Element) -> str:
    prefix, colon, local = qname.partition(":")
    if not colon:
        return qname
    uri = _XML_NS if prefix == "xml" else node.nsmap.get(prefix)
    if uri is None:
        raise ValueError(f"undeclared prefix {prefix!r}")
    return f"{{{uri}}}{local}"


def _attribute_name(key: str, node: etree._Element) -> str:
    if not key.startswith("{"):
        return key
    uri, _, local = key[1:].partition("}")
    if uri == _XML_NS:
        return f"xml:{local}"
    for prefix, value in node.nsmap.items():
        if value == uri and prefix:
            return f"{prefix}:{local}"
    raise ValueError(f"no prefix for {uri!r}")


def _reindent(node: etree._Element, indent: str, unit: str, level: int = 0) -> None:
    """Formatting whitespace inside a new element, at depth ``indent`` and with ``unit``."""
    children = list(node)
    if not children:
        return
    inner = indent + unit * (level + 1)
    if _is_layout(node.text):
        node.text = "\n" * node.text.count("\n") + inner
    for k, child in enumerate(children):
        tail = child.tail
        if tail and _is_layout(tail):
            child.tail = "\n" * tail.count("\n") + (inner if k + 1 < len(children) else indent + unit * level)
        if isinstance(child.tag, str):
            _reindent(child, indent, unit, level + 1)


def _drop_declared(text: str, in_scope: dict[str | None, str]) -> str:
    """Remove from the first start tag the namespace declarations the parent already has."""
    match = _MARKUP.match(text)
    if match is None or match.group(5) is None:
        return text
    kept = []
    for attr in _ATTR.finditer(match.group(6)):
        qname = attr.group(2)
        value = attr.group(4) if attr.group(4) is not None else attr.group(5)
        if qname == "xmlns" and in_scope.get(None) == value:
            continue
        if qname.startswith("xmlns:") and in_scope.get(qname[6:]) == value:
            continue
        kept.append(attr.group(0))
    return text[:match.start(6)] + "".join(kept) + text[match.end(6):]


def single_quoted(text: str) -> str:
    """lxml's output with every attribute in single quotes (an apostrophe in a value becomes
    ``&apos;``); comments, CDATA and text are left alone."""
    def swap(m: re.Match[str]) -> str:
        return f"{m.group(1)}='{m.group(2).replace(chr(39), '&apos;')}'"

    out, last = [], 0
    for match in _MARKUP.finditer(text):
        if match.group(5) is not None:
            out.append(text[last:match.start()])
            out.append(_DQ_ATTR.sub(swap, match.group(0)))
            last = match.end()
    out.append(text[last:])
    return "".join(out)


def escape_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def escape_attribute(value: str, quote: str) -> str:
    value = (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
             .replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;"))
    return value.replace('"', "&quot;") if quote == '"' else value.replace("'", "&apos;")


# ---------------------------------------------------------------------------- whole documents


def restyle_whole(text: str, original: Original) -> str:
    """A whole re-serialised document (LF, one final newline) given the original's byte order
    mark, line ending and end of file."""
    bom = "\ufeff" if original.text.startswith("\ufeff") and not text.startswith("\ufeff") else ""
    body = text.rstrip("\n")
    return bom + body.replace("\n", original.newline) + original.ending


def encode_document(text: str) -> bytes:
    """The bytes of a document's text in the encoding its XML declaration names (UTF-8 without
    one). A character that encoding cannot hold is written as a character reference."""
    import codecs

    body = text.removeprefix("\ufeff")
    found = _DECLARATION.match(body)
    name = (found.group(1) or found.group(2)) if found else "utf-8"
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        codec = "utf-8"
    if codec.startswith(("utf-16", "utf-32")):
        text = body   # the codec writes its own byte order mark
    return text.encode(codec, "xmlcharrefreplace")
