"""What the splice writes for the parts of a document an edit changed, exact to the character:
renamed elements, the indentation of new elements and of the end tags after them, elements whose
content is gone or new, whitespace and text kept as written or rewritten the file's way, the
quotes of new elements, new comments and line breaks in a CRLF file, and escaping in new
attributes."""

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


def _new(parent: etree._Element, tag: str, index: int | None = None, tail: str | None = None,
         **attrs: str) -> etree._Element:
    """A new element ``tag`` inserted into ``parent`` at ``index`` (at the end without one)."""
    element = etree.Element(tag, attrs)
    element.tail = tail
    if index is None:
        parent.append(element)
    else:
        parent.insert(index, element)
    return element


# ---------------------------------------------------------------------------- renamed elements


def test_a_renamed_element_is_written_under_its_new_name_not_copied() -> None:
    data = "<domain type='kvm'>\n  <model type='e1000'/>\n</domain>\n"

    def change(root: etree._Element) -> None:
        root[0].tag = "driver"

    assert _spliced(data, change) == data.replace("model", "driver")


# ---------------------------------------------------------------------------- indentation of new elements

# The file's unit is two spaces (domain → devices → interface), but <devices>' children are
# four spaces deeper than it.
ODD = """<domain type='kvm'>
  <name>g</name>
  <os>
    <type>hvm</type>
  </os>
  <devices>
      <interface type='bridge'/>
  </devices>
</domain>
"""


def test_a_new_element_takes_its_siblings_indentation_over_the_files_unit() -> None:
    def change(root: etree._Element) -> None:
        devices = root.find("devices")
        devices[0].tail = "\n      "
        _new(devices, "hostdev", tail="\n  ", mode="subsystem")

    assert _spliced(ODD, change) == ODD.replace(
        "<interface type='bridge'/>\n",
        "<interface type='bridge'/>\n      <hostdev mode='subsystem'/>\n")


def test_whitespace_before_an_untouched_element_takes_that_elements_own_indentation() -> None:
    """The element after a new one keeps the indentation it had, even where it differs from its
    siblings'."""
    data = "<domain type='kvm'>\n  <name>g</name>\n    <uuid>u</uuid>\n</domain>\n"

    def change(root: etree._Element) -> None:
        _new(root, "title", 1, tail="\n")

    assert _spliced(data, change) == \
        "<domain type='kvm'>\n  <name>g</name>\n  <title/>\n    <uuid>u</uuid>\n</domain>\n"


def test_a_new_child_of_a_root_that_starts_no_line_is_indented_one_unit() -> None:
    """A root after the XML declaration on the same line has no indentation of its own: its
    children are one unit in, its end tag at the start of the line."""
    data = "<?xml version='1.0'?><domain type='kvm'><name>g</name></domain>\n"

    def change(root: etree._Element) -> None:
        root[0].tail = "\n"
        _new(root, "uuid", tail="\n")

    assert _spliced(data, change) == \
        "<?xml version='1.0'?><domain type='kvm'><name>g</name>\n  <uuid/>\n</domain>\n"


# ---------------------------------------------------------------------------- indentation of end tags

def test_an_end_tag_keeps_its_own_indentation_after_a_new_last_child() -> None:
    """The end tag of <devices> is three spaces in, its start tag two: after a new last child
    the end tag stays where it was."""
    data = ("<domain type='kvm'>\n  <devices>\n    <interface type='bridge'/>\n   </devices>\n"
            "</domain>\n")

    def change(root: etree._Element) -> None:
        devices = root[0]
        _new(devices, "hostdev", tail=devices[0].tail, mode="subsystem")

    assert _spliced(data, change) == (
        "<domain type='kvm'>\n  <devices>\n    <interface type='bridge'/>\n"
        "    <hostdev mode='subsystem'/>\n   </devices>\n</domain>\n")


@pytest.mark.parametrize("before", ["X", "\xa0"], ids=["text", "no-break space"])
def test_an_end_tag_after_text_on_its_line_is_indented_like_its_start_tag(before: str) -> None:
    """Text before an end tag on its line is content, not indentation (a no-break space is not
    XML whitespace): after a new last child, the end tag goes on a line of its own, indented
    like its start tag."""
    data = f"<domain type='kvm'>\n  <devices>\n    <a/>\n{before}</devices>\n</domain>\n"

    def change(root: etree._Element) -> None:
        _new(root[0], "b", tail="\n")

    assert _spliced(data, change) == \
        f"<domain type='kvm'>\n  <devices>\n    <a/>\n{before}<b/>\n  </devices>\n</domain>\n"


# ---------------------------------------------------------------------------- content gone or new

def test_an_element_whose_text_is_removed_is_written_as_an_empty_element_tag() -> None:
    data = "<domain type='kvm'>\n  <description>old</description>\n</domain>\n"

    def change(root: etree._Element) -> None:
        root[0].text = None

    assert _spliced(data, change) == "<domain type='kvm'>\n  <description/>\n</domain>\n"


def test_an_element_without_content_keeps_its_end_tag_when_an_attribute_changes() -> None:
    data = "<domain type='kvm'>\n  <source bridge='br0'></source>\n</domain>\n"

    def change(root: etree._Element) -> None:
        root[0].set("bridge", "br1")

    assert _spliced(data, change) == data.replace("br0", "br1")


def test_an_empty_element_tag_with_a_space_before_its_slash_gains_a_child() -> None:
    data = "<domain type='kvm'>\n  <devices />\n</domain>\n"

    def change(root: etree._Element) -> None:
        devices = root[0]
        devices.text = "\n    "
        _new(devices, "interface", tail="\n  ", type="bridge")

    assert _spliced(data, change) == \
        "<domain type='kvm'>\n  <devices>\n    <interface type='bridge'/>\n  </devices>\n</domain>\n"


def test_an_element_that_lost_all_children_keeps_its_end_tag_on_its_own_line() -> None:
    data = ("<domain type='kvm'>\n  <devices>\n    <interface type='bridge'>\n"
            "      <model type='e1000'/>\n    </interface>\n  </devices>\n</domain>\n")

    def change(root: etree._Element) -> None:
        iface = root[0][0]
        iface.remove(iface[0])

    assert _spliced(data, change) == ("<domain type='kvm'>\n  <devices>\n    <interface type='bridge'>\n"
                                      "    </interface>\n  </devices>\n</domain>\n")


# ---------------------------------------------------------------------------- text and whitespace kept

def test_unchanged_text_of_a_changed_element_keeps_its_character_references() -> None:
    data = "<domain type='kvm'>\n  <description lang='fr'>caf&#233; &amp; th&#xE9;</description>\n</domain>\n"

    def change(root: etree._Element) -> None:
        root[0].set("lang", "en")

    assert _spliced(data, change) == data.replace("'fr'", "'en'")


# A blank line holding blanks after <devices>' start tag and between its first two children.
BLANKS = """<domain type='kvm'>
  <devices>
{b}
    <interface type='bridge'/>
{b}
    <interface type='network'/>
    <interface type='direct'/>
  </devices>
</domain>
""".replace("{b}", "  ")


def test_blank_lines_with_blanks_around_untouched_children_are_kept() -> None:
    """A new last child changes <devices>: the whitespace after its start tag and between
    children that are still neighbours is copied as written, blanks and all."""
    def change(root: etree._Element) -> None:
        devices = root[0]
        devices[-1].tail = "\n    "
        _new(devices, "hostdev", tail="\n  ", mode="subsystem")

    assert _spliced(BLANKS, change) == BLANKS.replace(
        "<interface type='direct'/>\n",
        "<interface type='direct'/>\n    <hostdev mode='subsystem'/>\n")


def test_whitespace_before_a_new_first_child_is_rewritten_the_files_way() -> None:
    """The whitespace after the start tag now comes before another element: it keeps its line
    breaks and takes that element's indentation, without the blanks of the blank line (and so
    does the new element's own whitespace)."""
    def change(root: etree._Element) -> None:
        _new(root[0], "hostdev", 0, tail="\n  \n    ", mode="subsystem")

    assert _spliced(BLANKS, change) == BLANKS.replace(
        "<devices>\n  \n", "<devices>\n\n    <hostdev mode='subsystem'/>\n\n")


# ---------------------------------------------------------------------------- quotes of new elements

def test_a_new_element_takes_the_quote_of_the_sibling_before_it_over_its_parents() -> None:
    data = '<domain type="kvm">\n  <devices>\n    <interface type=\'bridge\'/>\n  </devices>\n</domain>\n'

    def change(root: etree._Element) -> None:
        devices = root[0]
        devices[0].tail = "\n    "
        _new(devices, "hostdev", tail="\n  ", mode="subsystem")

    assert _spliced(data, change, quote='"') == data.replace(
        "<interface type='bridge'/>\n", "<interface type='bridge'/>\n    <hostdev mode='subsystem'/>\n")


def test_a_new_element_looks_for_its_siblings_quote_only_in_their_start_tags() -> None:
    """Its siblings have no attributes: the quote is its parent's, not that of an attribute
    further down the file."""
    data = ('<domain type="kvm">\n  <name>g</name>\n  <devices>\n    <interface type=\'bridge\'/>\n'
            '  </devices>\n</domain>\n')

    def change(root: etree._Element) -> None:
        _new(root, "uuid", 1, tail="\n  ", a="1")

    assert _spliced(data, change, quote="'") == data.replace(
        "<name>g</name>\n", '<name>g</name>\n  <uuid a="1"/>\n')


# ---------------------------------------------------------------------------- CRLF files

CRLF = "<domain type='kvm'>\r\n  <description>d</description>\r\n  <devices/>\r\n</domain>\r\n"


def test_a_new_comment_spanning_lines_is_written_once_with_crlf_line_ends() -> None:
    def change(root: etree._Element) -> None:
        comment = etree.Comment(" first\nsecond ")
        comment.tail = "\n  "
        root.insert(1, comment)

    assert _spliced(CRLF, change) == CRLF.replace(
        "<devices/>", "<!-- first\r\nsecond -->\r\n  <devices/>")


def test_new_text_spanning_lines_takes_crlf_line_ends() -> None:
    def change(root: etree._Element) -> None:
        root[0].text = "one\ntwo"

    assert _spliced(CRLF, change) == CRLF.replace(">d<", ">one\r\ntwo<")


# ---------------------------------------------------------------------------- escaping in new attributes

def test_a_new_attribute_escapes_the_double_quote_it_is_written_in_and_no_apostrophe() -> None:
    data = '<domain type="kvm"><name a="1"/></domain>'

    def change(root: etree._Element) -> None:
        root[0].set("b", "x\"y'z")

    assert _spliced(data, change) == '<domain type="kvm"><name a="1" b="x&quot;y\'z"/></domain>'


def test_a_new_namespace_declaration_escapes_the_double_quote_and_no_apostrophe() -> None:
    data = '<domain type="kvm"><name a="1"/></domain>'

    def change(root: etree._Element) -> None:
        root[0].set("{urn:a\"b'c}x", "1")

    assert _spliced(data, change) == \
        '<domain type="kvm"><name a="1" xmlns:ns0="urn:a&quot;b\'c" ns0:x="1"/></domain>'
