"""Writing an edited domain back, exact to the character: the re-serialisation used when the
original text cannot be spliced (``_restyle``, ``_single_quoted``, ``_same_start_tag``), the
splice's escaping and namespaced attributes, ``restyle_whole``, and where ``Domain`` puts a
first interface or a new ``<devices>``."""

from __future__ import annotations

import pytest

from xmltools.domain import DocumentStyle, Domain, _restyle, _same_start_tag, _single_quoted
from xmltools.interface import Interface
from xmltools.preserve import capture, escape_text, restyle_whole, splice
from xmltools.xmlparse import parse_bytes

# ---------------------------------------------------------------------------- _same_start_tag

ROOT = b'<domain type="kvm" xmlns:q="urn:q"/>'


@pytest.mark.parametrize("original,same", [
    ("<domain type='kvm' xmlns:q='urn:q'>", True),
    ("<domain type='kvm' xmlns:q='urn:q'/>", True),
    ("<domain  xmlns:q=\"urn:q\"\n   type = 'kvm' >", True),
    ("<domain type='qemu' xmlns:q='urn:q'>", False),      # another attribute value
    ("<domain xmlns:q='urn:q'>", False),                  # an attribute missing
    ("<domain type='kvm'>", False),                       # a namespace missing
    ("<domain type='kvm' xmlns:q='urn:other'>", False),   # a namespace elsewhere
    ("<other type='kvm' xmlns:q='urn:q'>", False),        # another element
    ("<domain type='kvm xmlns:q='urn:q'>", False),        # not a tag at all
    ("<domain type='kvm' xmlns:q='urn:q'", False),
])
def test_same_start_tag(original: str, same: bool) -> None:
    node = parse_bytes(ROOT).getroot()
    assert _same_start_tag(original, node) is same


# ---------------------------------------------------------------------------- _restyle

DOC = ('<domain type="kvm"><!-- a="b" --><?pi x="y"?><metadata>'
       '<m:x xmlns:m="urn:m" v="1"><m:y w="2"/></m:x></metadata>'
       '<name a="it\'s">n</name></domain>')


@pytest.mark.parametrize("quote,metadata_quote,expected", [
    ("'", '"', "<domain type='kvm'><!-- a=\"b\" --><?pi x=\"y\"?><metadata>"
               '<m:x xmlns:m="urn:m" v="1"><m:y w="2"/></m:x></metadata>'
               "<name a='it&apos;s'>n</name></domain>"),
    ('"', "'", '<domain type="kvm"><!-- a="b" --><?pi x="y"?><metadata>'
               "<m:x xmlns:m='urn:m' v='1'><m:y w='2'/></m:x></metadata>"
               '<name a="it\'s">n</name></domain>'),
    ("'", "'", "<domain type='kvm'><!-- a=\"b\" --><?pi x=\"y\"?><metadata>"
               "<m:x xmlns:m='urn:m' v='1'><m:y w='2'/></m:x></metadata>"
               "<name a='it&apos;s'>n</name></domain>"),
    ('"', '"', DOC),
])
def test_restyle_swaps_quotes_of_start_tags_only(quote: str, metadata_quote: str, expected: str) -> None:
    assert _restyle(DOC, DocumentStyle(quote, metadata_quote)) == expected


def test_single_quoted_escapes_only_apostrophes() -> None:
    assert _single_quoted('<a b="it\'s (x) &amp; y" c="">') == "<a b='it&apos;s (x) &amp; y' c=''>"


def test_whole_reserialisation_keeps_the_root_tag_and_quotes() -> None:
    """A document read without its tree (no splice) is re-serialised in its style."""
    data = "<?xml version='1.0'?>\n<domain  type='kvm' >\n  <name>a</name>\n</domain>\n"
    domain = Domain.from_xml(data)
    domain.style = DocumentStyle.of(data)
    domain.name = "b"
    assert domain.to_xml() == "<?xml version='1.0'?>\n<domain  type='kvm' >\n  <name>b</name>\n</domain>\n"


def test_whole_reserialisation_of_an_empty_root_that_gained_children() -> None:
    """The root's original spelling stands in for lxml's, but ``<domain/>`` cannot open a
    domain that now has children: the document would not be well-formed."""
    domain = Domain.from_xml("<domain  type='kvm'/>")
    domain.style = DocumentStyle.of("<domain  type='kvm'/>")
    domain.add_interface(Interface(type="user"))
    out = domain.to_xml()
    assert out.startswith("<domain  type='kvm'>\n  <devices>\n")
    assert Domain.from_xml(out).interfaces[0].type == "user"


# ---------------------------------------------------------------------------- splice

def test_escape_text() -> None:
    assert escape_text("a&b<c>d\re\"f'") == "a&amp;b&lt;c&gt;d&#13;e\"f'"


NS_DOC = """<domain xmlns:a="urn:a" xmlns:q="urn:q" type='kvm'>
  <name>a</name>
</domain>
"""


def _spliced(data: str, change) -> str | None:
    tree = parse_bytes(data.encode())
    original = capture(data, tree)
    assert original is not None
    change(tree.getroot())
    return splice(tree, original, "'", '"')


def test_changed_text_is_escaped() -> None:
    def change(root):
        root[0].text = "a & <b>\r"

    assert _spliced(NS_DOC, change) == NS_DOC.replace("<name>a</name>", "<name>a &amp; &lt;b&gt;&#13;</name>")


def test_new_namespaced_attributes_take_their_prefix() -> None:
    def change(root):
        root[0].set("{urn:q}x", "1")
        root[0].set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        root[0].set("plain", "2")

    assert _spliced(NS_DOC, change) == NS_DOC.replace(
        "<name>", '<name q:x="1" xml:lang="en" plain="2">')


def test_attribute_in_a_namespace_with_no_prefix_in_the_file_declares_one() -> None:
    """lxml invents a prefix (ns0) for a namespace that only a default declaration names: the
    rewritten start tag must declare it, or the document is no longer well-formed."""
    data = '<domain xmlns:a="urn:a" type="kvm"><name xmlns="urn:d">a</name></domain>'

    def change(root):
        root[0].set("{urn:d}x", "1")

    out = _spliced(data, change)
    assert out == ('<domain xmlns:a="urn:a" type="kvm">'
                   '<name xmlns="urn:d" xmlns:ns0="urn:d" ns0:x="1">a</name></domain>')
    assert parse_bytes(out.encode()).getroot()[0].get("{urn:d}x") == "1"


def test_attribute_with_a_prefix_in_scope_declares_nothing() -> None:
    data = '<domain xmlns:q="urn:q"><name xmlns:r="urn:r" b="0">a</name></domain>'

    def change(root):
        root[0].set("{urn:q}x", "1")
        root[0].set("{urn:r}y", "2")

    assert _spliced(data, change) == \
        '<domain xmlns:q="urn:q"><name xmlns:r="urn:r" b="0" q:x="1" r:y="2">a</name></domain>'


def _original(text: str):
    found = capture(text, parse_bytes(text.encode()))
    assert found is not None
    return found


@pytest.mark.parametrize("text,original,expected", [
    ("<a/>\n", "\ufeff<a/>\r\n\r\n", "\ufeff<a/>\r\n\r\n"),
    ("\ufeff<a/>\n", "\ufeff<a/>\n", "\ufeff<a/>\n"),        # a mark already there is not doubled
    ("<a>\n<b/>\n</a>\n\n", "<a/>", "<a>\n<b/>\n</a>"),
    ("<a>\n<b/>\n</a> \n", "<a/>\r\n", "<a>\r\n<b/>\r\n</a> \r\n"),   # only line ends are trimmed
    ("<a>X\n", "<a/>\n", "<a>X\n"),
])
def test_restyle_whole(text: str, original: str, expected: str) -> None:
    assert restyle_whole(text, _original(original)) == expected


# ---------------------------------------------------------------------------- element order

def test_first_interface_goes_where_libvirt_writes_it() -> None:
    domain = Domain.from_xml("<domain><devices><disk/><input/></devices></domain>")
    domain.add_interface(Interface(type="network"))
    assert [c.tag for c in domain.node.find("devices")] == ["disk", "interface", "input"]


def test_new_devices_element_goes_where_libvirt_writes_it() -> None:
    domain = Domain.from_xml("<domain><name>a</name><on_crash>x</on_crash><seclabel/></domain>")
    domain.add_interface(Interface(type="network"))
    assert [c.tag for c in domain.node] == ["name", "on_crash", "devices", "seclabel"]


def test_devices_order_is_only_for_the_domains_own_devices() -> None:
    domain = Domain.from_xml("<domain><metadata><devices><input/></devices></metadata></domain>")
    parent = domain.node.find("metadata/devices")
    assert domain._order_for(parent) == ()
    assert domain._order_for(domain.node)[:3] == ("name", "uuid", "genid")


# ---------------------------------------------------------------------------- start tags

TAGGED = """<domain xmlns:q="urn:q" type="kvm">
  <q:item xmlns="urn:d" xmlns:r='urn:r' a='1' b="x&#65;" q:c='3' d="4" r:e='5'/>
</domain>
"""


def test_changed_start_tag_rewrites_only_the_changed_attributes() -> None:
    def change(root):
        item = root[0]
        del item.attrib["a"]
        item.set("{urn:q}c", "it's")
        item.set("d", 'say "hi"')

    assert _spliced(TAGGED, change) == TAGGED.replace(
        "xmlns:r='urn:r' a='1' b=\"x&#65;\" q:c='3' d=\"4\"",
        "xmlns:r='urn:r' b=\"x&#65;\" q:c='it&apos;s' d=\"say &quot;hi&quot;\"")


def test_new_attribute_takes_the_quote_of_its_own_tag() -> None:
    data = "<domain a=\"1\">\n  <name b='2'/>\n</domain>"

    def change(root):
        root[0].set("c", "3")

    assert _spliced(data, change) == "<domain a=\"1\">\n  <name b='2' c='3'/>\n</domain>"


def test_preserve_single_quoted_touches_start_tags_only() -> None:
    from xmltools.preserve import single_quoted

    text = '<a b="it\'s (x)"><!-- c="d" --><![CDATA[ e="f" ]]>g="h"<i j="k"/></a>'
    assert single_quoted(text) == \
        "<a b='it&apos;s (x)'><!-- c=\"d\" --><![CDATA[ e=\"f\" ]]>g=\"h\"<i j='k'/></a>"


# ---------------------------------------------------------------------------- escaping, encoding

def test_escape_attribute() -> None:
    from xmltools.preserve import escape_attribute

    value = "a&b<c>d\ne\rf\tg\"h'i"
    assert escape_attribute(value, '"') == "a&amp;b&lt;c&gt;d&#10;e&#13;f&#9;g&quot;h'i"
    assert escape_attribute(value, "'") == "a&amp;b&lt;c&gt;d&#10;e&#13;f&#9;g\"h&apos;i"


@pytest.mark.parametrize("codec", ["UTF-16", "UTF-32"])
def test_encode_document_writes_one_byte_order_mark(codec: str) -> None:
    from xmltools.preserve import encode_document

    body = f"<?xml version='1.0' encoding='{codec}'?>\n<a>é</a>\n"
    assert encode_document("\ufeff" + body) == body.encode(codec.lower())
    assert encode_document(body) == body.encode(codec.lower())


def test_encode_document_in_the_declared_encoding() -> None:
    from xmltools.preserve import encode_document

    assert encode_document("<?xml version='1.0' encoding='ISO-8859-1'?><a>é€</a>") == \
        "<?xml version='1.0' encoding='ISO-8859-1'?><a>é&#8364;</a>".encode("latin-1")
    assert encode_document("\ufeff<a>é</a>") == "\ufeff<a>é</a>".encode()
    assert encode_document("<?xml version='1.0' encoding='no-such'?><a>é</a>") == \
        "<?xml version='1.0' encoding='no-such'?><a>é</a>".encode()


# ---------------------------------------------------------------------------- serialize


def test_serialize_without_a_style_is_lxmls_text() -> None:
    from xmltools.domain import serialize

    assert serialize(parse_bytes(b"<a x='1'><b/></a>")) == '<a x="1"><b/></a>\n'


@pytest.mark.parametrize("outside,inside", [("'", '"'), ('"', "'")])
def test_spliced_new_elements_take_the_files_quotes_outside_and_inside_metadata(outside: str,
                                                                                  inside: str) -> None:
    """No sibling or ancestor of the new elements has an attribute: they take the quotes the
    file uses elsewhere, outside and inside <metadata>."""
    from lxml import etree

    from xmltools.domain import serialize

    data = (f"<domain>\n  <metadata>\n    <app>\n      <x y={inside}1{inside}/>\n    </app>\n  </metadata>\n"
            f"  <clock offset={outside}utc{outside}/>\n  <devices>\n    <disk/>\n  </devices>\n</domain>\n")
    tree = parse_bytes(data.encode())
    style = DocumentStyle.of(data, tree)
    root = tree.getroot()
    root.find("devices/disk").addnext(etree.Element("interface", type="user"))
    root.find("metadata/app").addnext(etree.Element("other", z="2"))
    out = serialize(tree, style)
    assert f"<disk/>\n    <interface type={outside}user{outside}/></devices>" in out
    assert f"</app>\n    <other z={inside}2{inside}/></metadata>" in out


def _whole(data: str) -> Domain:
    domain = Domain.from_xml(data)
    domain.style = DocumentStyle.of(data)
    return domain


def test_whole_reserialisation_writes_a_changed_root_tag_as_lxml_does() -> None:
    domain = _whole("<domain  type='kvm' >\n  <name>a</name>\n</domain>\n")
    domain.type = "qemu"
    assert domain.to_xml() == "<domain type='qemu'>\n  <name>a</name>\n</domain>\n"


def test_whole_reserialisation_of_a_root_that_became_empty() -> None:
    """lxml writes ``<domain .../>`` for a root without content: the original open tag cannot
    stand in for it (it would never be closed)."""
    domain = _whole("<domain  type='kvm'>\n  <name>a</name>\n</domain>\n")
    domain.node.remove(domain.node[0])
    domain.node.text = None
    assert domain.to_xml() == "<domain type='kvm'/>\n"


def test_whole_reserialisation_of_an_empty_root_with_a_space_before_its_end() -> None:
    domain = _whole("<domain  type='kvm' />")
    domain.add_interface(Interface(type="user"))
    assert domain.to_xml().startswith("<domain  type='kvm'>\n  <devices>\n")
