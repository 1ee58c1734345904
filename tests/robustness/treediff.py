"""Tree diff for round-trip properties: which nodes of the input are missing from the output.

Nodes are compared by signature, not identity (the output is a fresh parse): an element's
signature is its ancestor path, tag and attributes, and the text directly inside it counts
apart (whitespace removed); comments and processing instructions count too, including those
before and after the root. The input's
signatures must all be found in the output (as a multiset) except for the nodes an edit
targeted, which the caller names with an ``Exemptions`` map on the *input* tree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from lxml import etree

#: Skip this element and everything below it.
SUBTREE = "subtree"
#: element (of the input tree) -> SUBTREE, or the attribute names the edit may change.
Exemptions = dict[etree._Element, "str | frozenset[str]"]

Signature = tuple[object, ...]


def _label(node: etree._Element) -> str:
    if isinstance(node, etree._Comment):
        return "#comment"
    if isinstance(node, etree._ProcessingInstruction):
        return f"?{node.target}"
    return str(node.tag)


def _path(node: etree._Element) -> tuple[str, ...]:
    chain = []
    parent = node.getparent()
    while parent is not None:
        chain.append(_label(parent))
        parent = parent.getparent()
    return tuple(reversed(chain))


def _top_level(root: etree._Element) -> Iterator[etree._Element]:
    """Comments and PIs before and after the root element, then the root's whole tree."""
    yield from reversed(list(root.itersiblings(preceding=True)))
    yield from root.iter()
    yield from root.itersiblings()


def signature(node: etree._Element, skip_attrs: frozenset[str] = frozenset()) -> Signature:
    """What must survive of one node; an element's text is counted separately (``_text``)."""
    path = _path(node)
    if isinstance(node, etree._Comment):
        return ("comment", path, node.text or "")
    if isinstance(node, etree._ProcessingInstruction):
        return ("pi", path, node.target, node.text or "")
    if isinstance(node, etree._Entity):
        return ("entity", path, node.text or "")
    attrs = tuple(sorted((k, v) for k, v in node.attrib.items() if k not in skip_attrs))
    return ("element", path, node.tag, attrs)


def _text(node: etree._Element) -> Signature | None:
    """All text directly inside an element (its text and its children's tails), whitespace
    removed: indentation may change and a child inserted or removed may move a stray text
    fragment to another position under the same parent, which is not a loss."""
    if not isinstance(node.tag, str):
        return None
    parts = [node.text or ""] + [child.tail or "" for child in node]
    text = "".join("".join(parts).split())
    return ("text", (*_path(node), _label(node)), text) if text else None


def signatures(root: etree._Element, exempt: Exemptions | None = None) -> Counter[Signature]:
    """The multiset of signatures of every node not exempted."""
    exempt = exempt or {}
    out: Counter[Signature] = Counter()
    skipped: set[etree._Element] = {n for n, how in exempt.items() if how == SUBTREE}
    for node in _top_level(root):
        if any(a in skipped for a in [node, *node.iterancestors()]):
            continue
        text = _text(node)
        if text is not None:
            out[text] += 1
        how = exempt.get(node)
        if how is None:
            out[signature(node)] += 1
        else:
            # An element whose attributes the edit changes: those attributes may differ; where
            # it sits, its other attributes and its text must stay the same.
            assert isinstance(how, frozenset)
            out[signature(node, how)] += 1
    return out


def lost_nodes(before: etree._Element, after: etree._Element, exempt: Exemptions | None = None) -> list[str]:
    """Readable descriptions of the input's nodes the output lacks (empty when nothing is lost)."""
    exempt = dict(exempt or {})
    have = signatures(before, exempt)
    # Attributes exempted on an input element are ignored on its output twin as well.
    skip_sets = {how for how in exempt.values() if isinstance(how, frozenset)}
    got: Counter[Signature] = Counter()
    for node in _top_level(after):
        sig = signature(node)
        got[sig] += 1
        text = _text(node)
        if text is not None:
            got[text] += 1
        if sig[0] == "element":
            for skip in skip_sets:
                trimmed = signature(node, skip)
                if trimmed != sig:
                    got[trimmed] += 1
    missing = have - got
    return [_describe(sig) for sig in sorted(missing, key=repr) for _ in range(missing[sig])]


def added_nodes(before: etree._Element, after: etree._Element) -> list[str]:
    """Nodes of the output that the input did not have (for edits that must change nothing)."""
    extra = signatures(after) - signatures(before)
    return [_describe(sig) for sig in sorted(extra, key=repr)]


def _describe(sig: Signature) -> str:
    kind, path = sig[0], "/".join(str(p) for p in sig[1])
    if kind == "element":
        return f"<{sig[2]}> at /{path} attrs={dict(sig[3])}"
    return f"{kind} {sig[2:]!r} at /{path}"
