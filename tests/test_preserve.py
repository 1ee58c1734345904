"""An edit through ``virt-netxml edit`` or ``interface --domain`` keeps every byte it did not
touch (issue 10 §1): the declared encoding, line endings, the trailing newline, indentation
(inserted lines follow the file's own), CDATA, comments, processing instructions, character
and entity references, each tag's attribute quotes, attribute order and the spacing inside
start tags. Each case compares whole files byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from xmltools.cli.main import cli

# A domain the way virsh writes one (single quotes, two-space indentation, LF), with {i} for the
# indentation unit so the same document can be written with tabs or four spaces.
BASE = """<?xml version='1.0' encoding='UTF-8'?>
<domain type='kvm'>
{i}<name>guest</name>
{i}<devices>
{i}{i}<interface type='bridge'>
{i}{i}{i}<mac address='52:54:00:00:00:01'/>
{i}{i}{i}<source bridge='br0'/>
{i}{i}{i}<model type='e1000'/>
{i}{i}</interface>
{i}</devices>
</domain>
"""
MODEL_LINE = "{i}{i}{i}<model type='e1000'/>\n"


def doc(indent: str = "  ", text: str = BASE) -> str:
    return text.replace("{i}", indent)


def run(tmp_path: Path, command: str, data: bytes, *args: str) -> bytes:
    """Run ``virt-netxml COMMAND`` on a file holding ``data``; return what it wrote with -o."""
    src, out = tmp_path / "in.xml", tmp_path / "out.xml"
    src.write_bytes(data)
    where = [str(src)] if command == "edit" else ["--domain", str(src)]
    result = CliRunner().invoke(cli, [command, *where, *args, "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    return out.read_bytes()


def edit(tmp_path: Path, data: bytes, *args: str) -> bytes:
    return run(tmp_path, "edit", data, *args)


# ---------------------------------------------------------------------------- encoding


def test_iso_8859_1_file_stays_iso_8859_1(tmp_path: Path) -> None:
    text = doc().replace("UTF-8", "ISO-8859-1").replace("<name>guest</name>", "<name>café-Ü</name>")
    out = edit(tmp_path, text.encode("latin-1"), "--model", "virtio")
    assert out == text.replace("e1000", "virtio").encode("latin-1")


def test_iso_8859_1_file_to_standard_output_is_iso_8859_1(tmp_path: Path) -> None:
    text = doc().replace("UTF-8", "ISO-8859-1").replace("<name>guest</name>", "<name>café</name>")
    src = tmp_path / "in.xml"
    src.write_bytes(text.encode("latin-1"))
    result = CliRunner().invoke(cli, ["edit", str(src), "--model", "virtio"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == text.replace("e1000", "virtio").encode("latin-1")


def test_utf8_byte_order_mark_is_kept(tmp_path: Path) -> None:
    text = doc().replace("<name>guest</name>", "<name>gäst</name>")
    out = edit(tmp_path, b"\xef\xbb\xbf" + text.encode(), "--model", "virtio")
    assert out == b"\xef\xbb\xbf" + text.replace("e1000", "virtio").encode()


def test_no_declaration_gains_none(tmp_path: Path) -> None:
    text = doc().split("\n", 1)[1].replace("<name>guest</name>", "<name>gäst</name>")
    out = edit(tmp_path, text.encode(), "--model", "virtio")
    assert out == text.replace("e1000", "virtio").encode()


# ---------------------------------------------------------------------------- line endings


def test_crlf_stays_crlf(tmp_path: Path) -> None:
    text = doc().replace("\n", "\r\n")
    out = edit(tmp_path, text.encode(), "--model", "virtio")
    assert out == text.replace("e1000", "virtio").encode()


def test_inserted_lines_end_in_crlf(tmp_path: Path) -> None:
    text = doc(text=BASE.replace(MODEL_LINE, ""))
    out = edit(tmp_path, text.replace("\n", "\r\n").encode(), "--model", "virtio")
    expected = text.replace("<source bridge='br0'/>\n",
                            "<source bridge='br0'/>\n      <model type='virtio'/>\n")
    assert out == expected.replace("\n", "\r\n").encode()


@pytest.mark.parametrize("end", ["", "\n", "\n\n", "\r\n", " \n"])
def test_the_end_of_the_file_is_kept(tmp_path: Path, end: str) -> None:
    text = doc().rstrip("\n") + end
    out = edit(tmp_path, text.encode(), "--model", "virtio")
    assert out == text.replace("e1000", "virtio").encode()


# ---------------------------------------------------------------------------- indentation


@pytest.mark.parametrize("indent", ["\t", "    ", "  ", " "])
def test_tabs_stay_tabs_and_an_inserted_line_follows_the_file(tmp_path: Path, indent: str) -> None:
    text = doc(indent, BASE.replace(MODEL_LINE, ""))
    out = edit(tmp_path, text.encode(), "--model", "virtio")
    model = doc(indent, MODEL_LINE).replace("e1000", "virtio")
    assert out.decode() == text.replace("<source bridge='br0'/>\n", "<source bridge='br0'/>\n" + model)


@pytest.mark.parametrize("indent", ["\t", "    "])
def test_an_added_interface_follows_the_file(tmp_path: Path, indent: str) -> None:
    text = doc(indent)
    out = run(tmp_path, "interface", text.encode(), "--type", "bridge", "--source", "br1",
              "--mac", "52:54:00:00:00:02")
    i = indent
    added = (f"{i}{i}<interface type='bridge'>\n{i}{i}{i}<mac address='52:54:00:00:00:02'/>\n"
             f"{i}{i}{i}<source bridge='br1'/>\n{i}{i}</interface>\n")
    assert out.decode() == text.replace(f"{i}</devices>", added + f"{i}</devices>")


def test_new_metadata_follows_the_file(tmp_path: Path) -> None:
    text = doc("\t").replace("\n", "\r\n")
    out = edit(tmp_path, text.encode(), "--set-bridge-vlan", "10")
    wish = ("\t<metadata>\r\n\t\t<vnx:netxml xmlns:vnx='urn:virt-netxml:hooks:1'>\r\n"
            "\t\t\t<vnx:interface mac='52:54:00:00:00:01'>\r\n\t\t\t\t<vnx:vlan tag='10'/>\r\n"
            "\t\t\t</vnx:interface>\r\n\t\t</vnx:netxml>\r\n\t</metadata>\r\n")
    assert out.decode() == text.replace("\t<devices>", wish + "\t<devices>")


# ---------------------------------------------------------------------------- markup kept as written


def test_cdata_sections_are_kept(tmp_path: Path) -> None:
    text = doc().replace("<name>guest</name>", "<name>guest</name>\n  <description><![CDATA[<b>a & b</b>]]>"
                                               "</description>")
    out = edit(tmp_path, text.encode(), "--model", "virtio")
    assert out == text.replace("e1000", "virtio").encode()


def test_comments_and_processing_instructions_are_kept(tmp_path: Path) -> None:
    text = doc().replace("<devices>", "<devices>\n    <!--  first   NIC: 'lan'  -->\n    <?app   x='1'  ?>")
    text = text.replace("<?xml version='1.0' encoding='UTF-8'?>\n",
                        "<?xml version='1.0' encoding='UTF-8'?>\n<!-- top -->\n\n<?top   y ?>\n")
    out = edit(tmp_path, text.encode(), "--model", "virtio")
    assert out == text.replace("e1000", "virtio").encode()


def test_character_and_entity_references_are_kept(tmp_path: Path) -> None:
    text = doc().replace("<name>guest</name>", "<name>guest</name>\n  <title>it&apos;s &#x41; &quot;x&quot; "
                                               "&#233;&gt;</title>\n  <description note='a&#10;b&#9;c'/>")
    out = edit(tmp_path, text.encode(), "--model", "virtio")
    assert out == text.replace("e1000", "virtio").encode()


def test_quote_style_is_kept_per_tag(tmp_path: Path) -> None:
    text = doc().replace("<source bridge='br0'/>", '<source bridge="br0"/>').replace(
        "<domain type='kvm'>", "<domain type=\"kvm\" id='1'>")
    out = edit(tmp_path, text.encode(), "--model", "virtio")
    assert out == text.replace("e1000", "virtio").encode()
    out = edit(tmp_path, text.encode(), "--source-bridge", "br9")
    assert out == text.replace('bridge="br0"', 'bridge="br9"').encode()


def test_start_tags_attribute_order_and_child_order_are_kept(tmp_path: Path) -> None:
    text = doc().replace("<interface type='bridge'>", "<interface   type = 'bridge'\n    >").replace(
        "<mac address='52:54:00:00:00:01'/>", "<mac address='52:54:00:00:00:01'  />").replace(
        "<domain type='kvm'>", "<domain id='1' type='kvm' >").replace(
        "<model type='e1000'/>", "<model  type='e1000'/>\n      <target dev='vnet0'/>")
    text = text.replace("      <mac address", "      <alias name='net0'/>\n      <mac address")
    out = edit(tmp_path, text.encode(), "--model", "virtio")
    assert out == text.replace("e1000", "virtio").encode()


# ---------------------------------------------------------------------------- through -i


def test_in_place_edit_of_an_iso_8859_1_crlf_tab_file_changes_one_line(tmp_path: Path) -> None:
    text = doc("\t").replace("UTF-8", "ISO-8859-1").replace(
        "<name>guest</name>", "<name>guest</name>\n\t<description><![CDATA[Büro <lan> & más]]></description>")
    data = text.replace("\n", "\r\n").encode("latin-1")
    path = tmp_path / "guest.xml"
    path.write_bytes(data)
    result = CliRunner().invoke(cli, ["edit", str(path), "--source-bridge", "br7", "-i"])
    assert result.exit_code == 0, result.stderr
    after = path.read_bytes()
    assert after == data.replace(b"bridge='br0'", b"bridge='br7'")
    lines = zip(data.split(b"\r\n"), after.split(b"\r\n"), strict=True)
    changed = [n for n, (a, b) in enumerate(lines) if a != b]
    assert changed == [text.split("\n").index("\t\t\t<source bridge='br0'/>")]


# ---------------------------------------------------------------------------- the core


def test_whole_reserialisation_still_keeps_the_files_line_endings_and_end() -> None:
    """When the top-level nodes change, splicing does not apply: the whole document is written
    again, still with the file's declaration, quotes, CRLF, byte order mark and (missing) end."""
    from lxml import etree

    from xmltools.edit import document_text, load_document

    text = "\ufeff" + doc().replace("\n", "\r\n").rstrip("\r\n")
    domain, style = load_document(text.encode(), "x.xml")
    domain.node.addprevious(etree.Comment(" added "))
    assert document_text(domain, style) == text.replace("<domain", "<!-- added -->\r\n<domain")


@pytest.mark.parametrize("text,data", [
    ("<?xml version='1.0' encoding='ISO-8859-1'?><a>é€</a>",
     "<?xml version='1.0' encoding='ISO-8859-1'?><a>é&#8364;</a>".encode("latin-1")),
    ('\ufeff<?xml version="1.0" encoding="utf-8"?><a>é</a>',
     b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-8"?><a>\xc3\xa9</a>'),
    ("<a>é</a>", "<a>é</a>".encode()),
    ("<?xml version='1.0' encoding='no-such-codec'?><a>é</a>",
     "<?xml version='1.0' encoding='no-such-codec'?><a>é</a>".encode()),
])
def test_a_document_is_encoded_as_its_declaration_says(text: str, data: bytes) -> None:
    from xmltools.preserve import encode_document

    assert encode_document(text) == data


def test_a_changed_comment_around_the_root_is_written() -> None:
    from xmltools.edit import document_text, load_document

    text = "<!-- before -->\n" + doc().split("\n", 1)[1]
    domain, style = load_document(text.encode(), "x.xml")
    domain.node.getprevious().text = " after "
    assert document_text(domain, style) == text.replace("before", "after")
