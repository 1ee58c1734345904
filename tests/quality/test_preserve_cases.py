"""The splice of an edited document, case by case and exact to the character: start tags
rewritten attribute by attribute (``xml:`` attributes, quotes inside values, namespaces the file
does not declare)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
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


# ---------------------------------------------------------------------------- whitespace before an end tag

IFACE = """<domain type='kvm'>
  <devices>
    <interface type='bridge'>
      <source bridge='br0'/>
      <model type='e1000'/>
{close}</interface>
  </devices>
</domain>
"""


def _drop_model(root: etree._Element) -> None:
    iface = root.find("devices/interface")
    iface.remove(iface.find("model"))


def test_last_child_removed_the_end_tag_keeps_its_own_indentation() -> None:
    """The end tag's line is indented differently from its start tag: what now precedes it
    takes the end tag's indentation, not the start tag's."""
    data = IFACE.replace("{close}", "   ")
    assert _spliced(data, _drop_model) == data.replace("      <model type='e1000'/>\n", "")


@pytest.mark.parametrize("last", ["<model type='e1000'/>", "<model type='e1000'/>\n    X",
                                  "<model type='e1000'/>\n\u00a0"])
def test_end_tag_after_other_text_on_its_line_takes_the_start_tags_indentation(last: str) -> None:
    """The end tag is not first on its line (markup, or text that is not XML whitespace, before
    it): what precedes it takes the start tag's indentation; nothing of that line is copied."""
    data = IFACE.replace("<model type='e1000'/>\n{close}", last)
    assert _spliced(data, _drop_model) == IFACE.replace("      <model type='e1000'/>\n{close}", "    ")


# ---------------------------------------------------------------------------- kept whitespace


def test_unchanged_whitespace_between_unchanged_neighbours_is_copied_as_written() -> None:
    """Blanks at the end of a line stay when the element around them changed but the
    neighbours on either side are the same nodes."""
    data = ("<domain type='kvm'>\n  <devices>\n    <interface type='bridge'>  \n"
            "      <mac address='52:54:00:00:00:01'/> \t\n      <source bridge='br0'/>  \n"
            "      <model type='e1000'/>\t\n    </interface>\n  </devices>\n</domain>\n")

    def change(root: etree._Element) -> None:
        root.find("devices/interface/model").set("type", "virtio")

    assert _spliced(data, change) == data.replace("e1000", "virtio")


def test_new_element_keeps_text_between_its_children() -> None:
    """Only formatting whitespace inside a new element is re-indented; text is content."""
    data = "<domain type='kvm'>\n  <devices>\n    <disk/>\n  </devices>\n</domain>\n"

    def change(root: etree._Element) -> None:
        new = etree.fromstring("<interface>\n<a/>note<b/>\n</interface>")
        new.tail = "\n  "
        root.find("devices").append(new)

    assert _spliced(data, change) == data.replace(
        "<disk/>\n", "<disk/>\n    <interface>\n      <a/>note<b/>\n    </interface>\n")


def test_single_quoted_keeps_what_comes_before_the_first_tag() -> None:
    from xmltools.preserve import single_quoted

    assert single_quoted('x<!-- c --><a b="1">y</a>') == "x<!-- c --><a b='1'>y</a>"
