"""An edited document keeps the way it was written: its declaration and comments before the root,
its attribute quotes outside and inside <metadata>, and whatever the edit did not touch."""

from __future__ import annotations

import pytest

from xmltools.domain import DocumentStyle
from xmltools.edit import InterfaceEdits, document_text, edit_interfaces, load_document


@pytest.mark.parametrize("data,style", [
    (b"<domain type='kvm'><name>a</name></domain>", ("'", "'", None, "<domain type='kvm'>")),
    (b'<domain type="kvm"><name>a</name></domain>', ('"', '"', None, '<domain type="kvm">')),
    (b"\xef\xbb\xbf<?xml version='1.0' encoding='UTF-8'?>\n<!-- c -->\n<domain type='kvm'><name>a</name>"
     b"</domain>",
     ("'", "'", "<?xml version='1.0' encoding='UTF-8'?>", "<domain type='kvm'>")),
    (b"<?xml version='1.0'?><domain><name>a</name><metadata><x:a xmlns:x=\"urn:x\" v=\"1\"/></metadata>"
     b"<devices><interface type='user'/></devices></domain>",
     ("'", '"', "<?xml version='1.0'?>", "<domain>")),
    (b"<domain><name>a</name><metadata><x:a xmlns:x='urn:x'/></metadata><devices><interface type=\"user\"/>"
     b"</devices></domain>", ('"', "'", None, "<domain>")),
    (b"<domain><!-- <interface type='x'/> --><name>a</name></domain>", ('"', '"', None, "<domain>")),
    (b"<domain><![CDATA[ <a b='c'/> ]]><name x = 'y'>a</name></domain>", ("'", "'", None, "<domain>")),
    (b"<domain xmlns:q=\"urn:q\"><name>a</name></domain>", ('"', '"', None, '<domain xmlns:q="urn:q">')),
    (b"<domain/>", ('"', '"', None, "<domain/>")),
    ("<domain type='kvm'/>", ("'", "'", None, "<domain type='kvm'/>")),
])
def test_style_of_a_document(data, style):
    s = DocumentStyle.of(data)
    assert (s.quote, s.metadata_quote, s.declaration, s.root_tag) == style


SINGLE = ("<?xml version='1.0'?>\n<!-- keep -->\n<domain type='kvm'>\n  <name>a</name>\n  <devices>\n"
          "    <interface type='bridge'>\n      <mac address='52:54:00:00:00:01'/>\n"
          "      <source bridge='br0'/>\n    </interface>\n  </devices>\n</domain>\n")
MIXED = ("<domain type='kvm'>\n  <name>a</name>\n  <metadata>\n    <x:a xmlns:x=\"urn:x\" v=\"it's\"/>\n"
         "  </metadata>\n  <devices>\n    <interface type='bridge'>\n"
         "      <mac address='52:54:00:00:00:01'/>\n      <source bridge='br0'/>\n    </interface>\n"
         "  </devices>\n</domain>\n")
DOUBLE = SINGLE.replace("'", '"').replace("<?xml version=\"1.0\"?>\n<!-- keep -->\n", "")

WISH = ("  <metadata>\n    <vnx:netxml xmlns:vnx='urn:virt-netxml:hooks:1'>\n"
        "      <vnx:interface mac='52:54:00:00:00:01'>\n        <vnx:vlan tag='10'/>\n"
        "      </vnx:interface>\n    </vnx:netxml>\n  </metadata>\n")


@pytest.mark.parametrize("before,after", [
    (SINGLE, SINGLE.replace("  <devices>\n", WISH + "  <devices>\n").replace(
        "<source bridge='br0'/>\n", "<source bridge='br0'/>\n      <model type='virtio'/>\n")),
    (MIXED, MIXED.replace("  </metadata>\n", WISH.replace("'", '"').split("<metadata>\n")[1]).replace(
        "<source bridge='br0'/>\n", "<source bridge='br0'/>\n      <model type='virtio'/>\n")),
    (DOUBLE, DOUBLE.replace("  <devices>\n", WISH.replace("'", '"') + "  <devices>\n").replace(
        '<source bridge="br0"/>\n', '<source bridge="br0"/>\n      <model type="virtio"/>\n')),
])
def test_edited_document_keeps_its_style(before, after):
    doc, style = load_document(before.encode(), "x.xml")
    edit_interfaces(doc.select(), InterfaceEdits(set_bridge_vlan="10", model="virtio"), doc)
    assert document_text(doc, style) == after


@pytest.mark.parametrize("text", [SINGLE, MIXED, DOUBLE])
def test_unedited_document_is_written_back_as_read(text):
    doc, style = load_document(text.encode(), "x.xml")
    assert document_text(doc, style) == text
