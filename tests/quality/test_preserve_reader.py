"""Reading a document for the splice, exact to the character: its text decoded in its own
encoding (UTF-16 with and without byte order mark, single-byte encodings), the pairing of text
and tree, the file's line ending and indentation, and what counts as changed; plus the few
writing helpers outside the splice's writer (namespace declarations already in scope, the
indentation of a new element's content, single quotes)."""

from __future__ import annotations

import codecs
from collections.abc import Callable

import pytest
from lxml import etree

from xmltools.domain import Domain
from xmltools.preserve import capture, decode, encode_document, single_quoted, splice
from xmltools.xmlparse import parse_bytes

TEXT = "<?xml version='1.0' encoding='{}'?>\n<domain type='kvm'>\n  <name>vm-\u00e9</name>\n</domain>\n"


def _spliced(data: str, change: Callable[[etree._Element], None], quote: str = "'",
             metadata_quote: str = '"') -> str | None:
    tree = parse_bytes(data.encode())
    original = capture(data, tree)
    assert original is not None
    change(tree.getroot())
    return splice(tree, original, quote, metadata_quote)


# ---------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("declared", ["UTF-16", "utf-16"])
@pytest.mark.parametrize("codec,bom", [("utf-16-le", codecs.BOM_UTF16_LE),
                                       ("utf-16-be", codecs.BOM_UTF16_BE)])
def test_utf16_document_is_read_with_its_byte_order_mark(declared: str, codec: str, bom: bytes) -> None:
    """A UTF-16 file is read in the byte order its mark names, and the mark is kept as U+FEFF
    (written back as it was), not swallowed by Python's generic UTF-16 codec."""
    text = TEXT.format(declared)
    data = bom + text.encode(codec)
    assert decode(data, parse_bytes(data)) == "\ufeff" + text


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_document_without_byte_order_mark_is_read_in_its_byte_order(codec: str) -> None:
    """Without a mark the byte order shows in the first character ('<' is 3C 00 little-endian,
    00 3C big-endian), as the parser itself finds it."""
    text = TEXT.format("UTF-16")
    data = text.encode(codec)
    assert decode(data, parse_bytes(data)) == text


@pytest.mark.parametrize("declared", ["latin1", "ISO-8859-1", "cp1252"])
def test_single_byte_document_is_read_in_its_encoding(declared: str) -> None:
    text = TEXT.format(declared)
    data = text.encode(declared)
    assert decode(data, parse_bytes(data)) == text


@pytest.mark.parametrize("codec,bom", [("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", b""),
                                       ("utf-16-le", b"")])
def test_edited_utf16_domain_changes_only_the_edited_name(codec: str, bom: bytes) -> None:
    """An edit of a UTF-16 domain is spliced into its text: the declaration, quotes and
    indentation stay; it is written back in UTF-16 behind a byte order mark."""
    text = TEXT.format("UTF-16")
    domain = Domain.from_xml(bom + text.encode(codec))
    domain.name = "vm-2"
    written = domain.to_xml()
    assert written == ("\ufeff" if bom else "") + text.replace("vm-\u00e9", "vm-2")
    encoded = encode_document(written)
    assert encoded[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
    assert encoded.decode("utf-16") == text.replace("vm-\u00e9", "vm-2")


# ---------------------------------------------------------------------------- pairing


@pytest.mark.parametrize("data,text", [
    ("<domain><name/></domain>", "<domain><uuid/></domain>"),
    ("<domain><name/></domain>", "<domain><name/></Domain>"),
    ("<domain><name/></domain>", "X<?xml version='1.0'?><domain><name/></domain>"),
])
def test_text_of_another_document_does_not_pair_with_the_tree(data: str, text: str) -> None:
    """The pairing checks every element's name and what precedes the declaration: a text that
    is not the tree's gives None (the caller then re-serialises), never a wrong pairing."""
    assert capture(text, parse_bytes(data.encode())) is None
    assert capture(data, parse_bytes(data.encode())) is not None


@pytest.mark.parametrize("ends,newline", [
    (["\r\n", "\r\n", "\n", "\n", "\n"], "\n"),       # 2 of 5 lines end in CRLF
    (["\r\n", "\r\n", "\n", "\n"], "\n"),             # half of them: a tie keeps LF
    (["\r\n", "\r\n", "\r\n", "\n", "\n"], "\r\n"),   # 3 of 5
])
def test_line_ending_of_new_lines_is_the_one_most_lines_use(ends: list[str], newline: str) -> None:
    lines = ["<domain>", "  <name>x</name>", "  <uuid>u</uuid>", "  <title>t</title>", "  <a/>"][:len(ends)]
    data = "".join(line + end for line, end in zip(lines, ends, strict=True)) + "</domain>"
    original = capture(data, parse_bytes(data.encode()))
    assert original is not None and original.newline == newline

    def change(root: etree._Element) -> None:
        root[-1].tail = root[-1].tail + "  "
        new = etree.SubElement(root, "on_crash")
        new.tail = "\n"

    # the changed whitespace before the new element takes the file's line ending
    expected = data[:-len(ends[-1] + "</domain>")] + newline + "  <on_crash/>" + newline + "</domain>"
    assert _spliced(data, change) == expected


# ---------------------------------------------------------------------------- what changed


def test_new_tails_of_a_child_and_of_its_parent_are_both_written() -> None:
    data = "<domain>\n  <devices>\n    <disk/>\n  </devices>\n</domain>\n"

    def change(root: etree._Element) -> None:
        devices = root[0]
        devices[0].tail = "after-disk"
        devices.tail = "after-devices"

    assert _spliced(data, change) == \
        "<domain>\n  <devices>\n    <disk/>after-disk</devices>after-devices</domain>\n"


def test_an_element_whose_only_child_was_removed_is_written_without_it() -> None:
    """Its end tag stays on its own line (the whitespace before it is the element's text)."""
    data = "<domain>\n  <devices>\n    <disk/>\n  </devices>\n</domain>\n"

    def change(root: etree._Element) -> None:
        root[0].remove(root[0][0])

    assert _spliced(data, change) == "<domain>\n  <devices>\n  </devices>\n</domain>\n"


def test_a_processing_instruction_with_a_new_target_is_written() -> None:
    data = "<domain>\n  <?old  data?>\n</domain>\n"

    def change(root: etree._Element) -> None:
        root[0].target = "new"

    assert _spliced(data, change) == "<domain>\n  <?new data?>\n</domain>\n"


def test_whitespace_between_unchanged_neighbours_is_kept_when_their_parent_changes() -> None:
    """Blank lines holding spaces between unchanged children stay as written, also around the
    middle one (whose neighbours on both sides are the original ones)."""
    data = "<domain>\n  <devices>\n    <a/>\n  \t\n    <b/>\n    \n    <c/>\n  </devices>\n</domain>\n"

    def change(root: etree._Element) -> None:
        root[0].set("n", "1")

    assert _spliced(data, change) == data.replace("<devices>", "<devices n='1'>")


def test_changed_start_tag_with_an_xml_attribute_is_rewritten_in_place() -> None:
    data = "<domain>\n  <description xml:lang='fr'  a='1'>x</description>\n</domain>\n"

    def change(root: etree._Element) -> None:
        root[0].set("a", "2")

    assert _spliced(data, change) == data.replace("a='1'", "a='2'")


# ---------------------------------------------------------------------------- indentation


def test_text_with_a_no_break_space_on_its_own_line_is_content_not_indentation() -> None:
    data = "<domain>\n  <description>old</description>\n</domain>\n"

    def change(root: etree._Element) -> None:
        root[0].text = "\n\u00a0\n"

    assert _spliced(data, change) == data.replace("old", "\n\u00a0\n")


@pytest.mark.parametrize("lead", ["X", "\u00a0", "X "])
def test_a_child_after_text_on_its_line_gives_no_indentation(lead: str) -> None:
    """A new child is indented like the siblings that start their lines, not like one that
    follows text (the text is not indentation)."""
    data = f"<domain>\n  <devices>\n{lead}<a/>\n    <b/>\n  </devices>\n</domain>\n"

    def change(root: etree._Element) -> None:
        new = etree.SubElement(root[0], "c")
        new.tail = "\n  "

    assert _spliced(data, change) == data.replace("<b/>\n", "<b/>\n    <c/>\n")


def test_new_element_takes_the_indentation_step_of_a_root_on_the_first_line() -> None:
    """The root starts the file (no declaration): its children's tab is the file's unit."""
    data = "<domain>\n\t<name>x</name>\n</domain>\n"

    def change(root: etree._Element) -> None:
        root[0].tail = "\n\t"
        devices = etree.SubElement(root, "devices")
        devices.text = "\n"
        etree.SubElement(devices, "interface").tail = "\n"
        devices.tail = "\n"

    assert _spliced(data, change) == \
        "<domain>\n\t<name>x</name>\n\t<devices>\n\t\t<interface/>\n\t</devices>\n</domain>\n"


def test_new_element_keeps_text_after_its_children() -> None:
    data = "<domain>\n  <name>x</name>\n</domain>\n"

    def change(root: etree._Element) -> None:
        root[0].tail = "\n  "
        new = etree.SubElement(root, "description")
        new.text = "\n"
        etree.SubElement(new, "b").tail = "after"
        new.tail = "\n"

    assert _spliced(data, change) == \
        "<domain>\n  <name>x</name>\n  <description>\n    <b/>after</description>\n</domain>\n"


# ---------------------------------------------------------------------------- namespaces


METADATA = ("<domain>\n  <metadata>\n    <app xmlns=\"urn:app\">\n      <item/>\n    </app>\n"
            "  </metadata>\n</domain>\n")


def test_new_element_in_its_parents_default_namespace_repeats_no_declaration() -> None:
    def change(root: etree._Element) -> None:
        app = root[0][0]
        app[0].tail = "\n      "
        etree.SubElement(app, "{urn:app}entry", a="1").tail = "\n    "

    assert _spliced(METADATA, change) == \
        METADATA.replace("<item/>\n", "<item/>\n      <entry a=\"1\"/>\n")


def test_new_element_in_another_default_namespace_keeps_its_declaration() -> None:
    def change(root: etree._Element) -> None:
        metadata = root[0]
        metadata[0].tail = "\n    "
        etree.SubElement(metadata, "{urn:other}tool", nsmap={None: "urn:other"}).tail = "\n  "

    assert _spliced(METADATA, change) == \
        METADATA.replace("</app>\n", "</app>\n    <tool xmlns=\"urn:other\"/>\n")


# ---------------------------------------------------------------------------- single quotes


def test_single_quoted_keeps_the_text_before_the_first_tag() -> None:
    assert single_quoted('x<a b="1"/>') == "x<a b='1'/>"
