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


# ---------------------------------------------------------------------------- what counts as changed


def test_a_changed_tail_alone_is_written_and_text_is_not_taken_for_indentation() -> None:
    """Only the text after an element changed; a no-break space is text, not indentation."""
    data = "<domain type='kvm'>\n  <name>a</name>\n  <uuid/>\n</domain>\n"

    def change(root: etree._Element) -> None:
        root[0].tail = "\n\u00a0 "

    assert _spliced(data, change) == data.replace("</name>\n  <uuid/>", "</name>\n\u00a0 <uuid/>")


def test_an_element_that_lost_its_only_child_is_written() -> None:
    data = "<domain type='kvm'><devices><interface type='user'><bandwidth><inbound average='1'/>" \
           "</bandwidth></interface></devices></domain>"

    def change(root: etree._Element) -> None:
        bandwidth = root.find("devices/interface/bandwidth")
        bandwidth.remove(bandwidth[0])

    assert _spliced(data, change) == data.replace("<bandwidth><inbound average='1'/></bandwidth>",
                                                  "<bandwidth/>")


def test_a_renamed_element_is_written_under_its_new_name() -> None:
    data = "<domain type='kvm'>\n  <devices>\n    <disk  type='file'/>\n  </devices>\n</domain>\n"

    def change(root: etree._Element) -> None:
        root[0][0].tag = "interface"

    assert _spliced(data, change) == data.replace("<disk  type='file'/>", "<interface type='file'/>")


# ---------------------------------------------------------------------------- new elements


def test_new_element_in_a_default_namespace_declares_only_what_is_not_in_scope() -> None:
    data = "<domain type='kvm'>\n  <metadata>\n    <app xmlns='urn:d'>\n      <x/>\n    </app>\n" \
           "  </metadata>\n</domain>\n"

    def change(root: etree._Element) -> None:
        app = root.find("metadata/{urn:d}app")
        new = etree.SubElement(app, "{urn:d}y", a="urn:d", b="1")
        app[0].tail, new.tail = "\n      ", "\n    "

    assert _spliced(data, change) == data.replace("<x/>\n", '<x/>\n      <y a="urn:d" b="1"/>\n')


@pytest.mark.parametrize("head", ["", "\n"])
def test_new_element_indents_its_children_by_the_files_unit(head: str) -> None:
    """The unit comes from the root's own children (the root first in the file, or on the
    line after a leading newline)."""
    data = head + "<domain type='kvm'>\n\t<name>a</name>\n</domain>\n"

    def change(root: etree._Element) -> None:
        new = etree.fromstring("<devices>\n  <interface type='user'/>\n</devices>")
        root[0].tail = "\n\t"
        new.tail = "\n"
        root.append(new)

    assert _spliced(data, change) == data.replace(
        "</name>\n", "</name>\n\t<devices>\n\t\t<interface type='user'/>\n\t</devices>\n")


@pytest.mark.parametrize("first", ["<devices><disk/>", "<devices>\n\u00a0<disk/>", "<devices>\nX<disk/>"])
def test_new_element_takes_the_indentation_of_a_sibling_that_starts_its_line(first: str) -> None:
    """A child with text or markup before it on its line shows no indentation: a new sibling
    takes that of the next child that starts its line."""
    data = "<domain type='kvm'>\n  " + first + "\n    <disk/>\n  </devices>\n</domain>\n"

    def change(root: etree._Element) -> None:
        devices = root.find("devices")
        devices[-1].tail = "\n    "
        etree.SubElement(devices, "interface", type="user").tail = "\n  "

    assert _spliced(data, change) == data.replace(
        "<disk/>\n  </devices>", "<disk/>\n    <interface type='user'/>\n  </devices>")


def test_a_changed_tail_of_an_only_child_and_of_its_parent_are_both_written() -> None:
    data = "<domain type='kvm'>\n  <devices><interface type='user'/></devices>\n</domain>\n"

    def change(root: etree._Element) -> None:
        root[0][0].tail = "x"
        root[0].tail = "\n\n"

    assert _spliced(data, change) == \
        "<domain type='kvm'>\n  <devices><interface type='user'/>x</devices>\n\n</domain>\n"


# ---------------------------------------------------------------------------- comments, text, line ends


def test_new_comment_is_written_once_with_the_files_line_ends() -> None:
    data = "<domain type='kvm'>\r\n  <name>a</name>\r\n</domain>\r\n"

    def change(root: etree._Element) -> None:
        name = root[0]
        comment = etree.Comment(" two\nlines ")
        comment.tail = "\n  "
        name.addprevious(comment)
        name.text = "b\nc"

    assert _spliced(data, change) == \
        "<domain type='kvm'>\r\n  <!-- two\r\nlines -->\r\n  <name>b\r\nc</name>\r\n</domain>\r\n"


def test_new_last_child_without_a_tail_closes_its_parent_on_its_line() -> None:
    data = "<domain type='kvm'>\n  <devices>\n    <disk/>\n  </devices>\n</domain>\n"

    def change(root: etree._Element) -> None:
        etree.SubElement(root[0], "interface", type="user")

    assert _spliced(data, change) == data.replace(
        "<disk/>\n  </devices>", "<disk/>\n    <interface type='user'/></devices>")


# ---------------------------------------------------------------------------- indentation of what follows


def test_changed_whitespace_takes_the_indentation_of_the_element_after_it() -> None:
    data = ("<domain type='kvm'>\n  <devices>\n    <disk/>\n      <interface type='user'/>\n  </devices>\n"
            "</domain>\n")

    def change(root: etree._Element) -> None:
        root[0][0].tail = "\n\n"

    assert _spliced(data, change) == data.replace("<disk/>\n", "<disk/>\n\n")


def test_new_child_takes_the_indentation_of_its_siblings_over_the_files_unit() -> None:
    data = ("<domain type='kvm'>\n  <name>a</name>\n  <os>\n    <type>hvm</type>\n  </os>\n"
            "  <devices>\n        <disk/>\n  </devices>\n</domain>\n")

    def change(root: etree._Element) -> None:
        devices = root.find("devices")
        devices[0].tail = "\n        "
        etree.SubElement(devices, "interface", type="user").tail = "\n  "

    assert _spliced(data, change) == data.replace(
        "<disk/>\n", "<disk/>\n        <interface type='user'/>\n")


def test_new_element_under_a_root_that_starts_no_line_is_indented_one_unit() -> None:
    data = "<?xml version='1.0'?><domain type='kvm'><name>a</name></domain>"

    def change(root: etree._Element) -> None:
        root.append(etree.fromstring("<devices>\n<interface type='user'/>\n</devices>"))

    assert _spliced(data, change) == ("<?xml version='1.0'?><domain type='kvm'><name>a</name><devices>\n"
                                      "    <interface type='user'/>\n  </devices></domain>")


# ---------------------------------------------------------------------------- quotes of new elements


def test_new_element_takes_the_quote_of_the_sibling_before_it() -> None:
    data = '<domain type="kvm"><devices x="1"><disk a=\'1\'/><input b="2"/></devices></domain>'

    def change(root: etree._Element) -> None:
        root[0][0].addnext(etree.Element("interface", type="user"))

    assert _spliced(data, change, '"') == data.replace(
        "<disk a='1'/>", "<disk a='1'/><interface type='user'/>")


def test_new_element_looks_for_a_quote_only_inside_start_tags() -> None:
    """Neither the siblings nor the parent have attributes: the quote is the nearest ancestor's
    with one, not the next one in the text after them."""
    data = ("<domain type=\"kvm\">\n  <devices>\n    <disk/>\n    <input/>\n  </devices>\n  <c z='3'/>\n"
            "</domain>\n")

    def change(root: etree._Element) -> None:
        new = etree.Element("interface", type="user")
        new.tail = "\n    "
        root[0][0].addnext(new)

    assert _spliced(data, change, "'") == data.replace(
        "<disk/>\n", "<disk/>\n    <interface type=\"user\"/>\n")


def test_new_element_directly_in_metadata_takes_the_metadata_quote() -> None:
    data = "<domain type='kvm'><metadata/></domain>"

    def change(root: etree._Element) -> None:
        etree.SubElement(root[0], "{urn:app}app", x="1")

    assert _spliced(data, change, "'", '"') == \
        '<domain type=\'kvm\'><metadata><ns0:app xmlns:ns0="urn:app" x="1"/></metadata></domain>'


# ---------------------------------------------------------------------------- elements whose content changed


def test_start_and_end_tag_of_an_element_without_content_are_kept_apart() -> None:
    data = "<domain type='kvm'>\n  <name a='1'></name>\n</domain>\n"

    def change(root: etree._Element) -> None:
        root[0].set("a", "2")

    assert _spliced(data, change) == data.replace("a='1'", "a='2'")


def test_empty_element_tag_with_a_space_that_gains_a_child() -> None:
    data = "<domain type='kvm'>\n  <devices />\n</domain>\n"

    def change(root: etree._Element) -> None:
        etree.SubElement(root[0], "interface", type="user")

    assert _spliced(data, change) == data.replace(
        "<devices />", "<devices><interface type='user'/></devices>")


def test_whitespace_after_a_start_tag_is_rewritten_for_a_new_first_child() -> None:
    data = "<domain type='kvm'>\n  <devices>  \n    <disk/>\n  </devices>\n</domain>\n"

    def change(root: etree._Element) -> None:
        new = etree.Element("interface", type="user")
        new.tail = "\n    "
        root[0].insert(0, new)

    assert _spliced(data, change) == data.replace(
        "<devices>  \n    <disk/>", "<devices>\n    <interface type='user'/>\n    <disk/>")


def test_element_that_lost_all_children_keeps_its_end_tag_on_its_own_line() -> None:
    data = "<domain type='kvm'>\n  <devices>\n    <disk/>\n  </devices>\n</domain>\n"

    def change(root: etree._Element) -> None:
        root[0].remove(root[0][0])

    assert _spliced(data, change) == data.replace("<devices>\n    <disk/>\n", "<devices>\n")
