"""The splice of an edited document, case by case and exact to the character: start tags
rewritten attribute by attribute (``xml:`` attributes, quotes inside values, namespaces the file
does not declare)."""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from xmltools.preserve import capture, splice
from xmltools.xmlparse import parse_bytes


def _spliced(data: str, change: Callable[[etree._Element], None], quote: str = "'",
             metadata_quote: str = '"') -> str | None:
    tree = parse_bytes(data.encode())
    original = capture(data, tree)
    assert original is not None
    change(tree.getroot())
    return splice(tree, original, quote, metadata_quote)


# ---------------------------------------------------------------------------- start tags


def test_start_tag_with_an_xml_attribute_is_rewritten_in_place() -> None:
    """``xml:`` is bound without a declaration: a tag carrying ``xml:lang`` is still spliced (not
    the whole document re-serialised, which would lose the spacing and the comment)."""
    data = "<domain  type='kvm'>\n  <!-- c -->\n  <name xml:lang='en'  a='1'>x</name>\n</domain>\n"

    def change(root: etree._Element) -> None:
        root[1].set("a", "2")

    assert _spliced(data, change) == data.replace("a='1'", "a='2'")


def test_new_attribute_escapes_the_quote_it_is_written_in() -> None:
    data = '<domain type="kvm"><name a="1"/></domain>'

    def change(root: etree._Element) -> None:
        root[0].set("b", "x\"y'z")

    out = _spliced(data, change)
    assert out == '<domain type="kvm"><name a="1" b="x&quot;y\'z"/></domain>'
    assert parse_bytes(out.encode()).getroot()[0].get("b") == "x\"y'z"


def test_declaration_of_a_new_namespace_escapes_its_uri() -> None:
    """lxml takes any namespace URI for a new attribute: the declaration written for it escapes
    the quote like any attribute value."""
    data = '<domain type="kvm"><name a="1"/></domain>'

    def change(root: etree._Element) -> None:
        root[0].set('{urn:a"b}x', "1")

    out = _spliced(data, change)
    assert out == '<domain type="kvm"><name a="1" xmlns:ns0="urn:a&quot;b" ns0:x="1"/></domain>'
