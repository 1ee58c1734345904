"""Property (issue 10 §1): on real files nobody here wrote, an edit that changes one attribute
changes exactly the line of that attribute and nothing else, whatever the file's encoding,
line endings or indentation.

The files are libvirt's own test inputs (domains of libvirt 9.0's qemuxml2argvdata and 11.3's
qemuxmlconfdata, networks of networkxml2xmlin), each also re-written by the test as ISO-8859-1
(with a non-ASCII comment), with CRLF line endings and with tab indentation, alone or together.
Domains are edited through ``edit``'s own path (``--model`` or ``--source-bridge`` on one
interface); networks get one attribute of one element changed in the tree. The output bytes are
decoded with the encoding their declaration names and compared line by line with difflib.
"""

from __future__ import annotations

import difflib
import re
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, reject
from hypothesis import strategies as st

from tests.robustness.profiles import ci_settings
from tests.support import require
from xmltools.domain import Domain
from xmltools.edit import InterfaceEdits, document_text, edit_interfaces, load_document
from xmltools.errors import NetXmlError
from xmltools.preserve import encode_document
from xmltools.xmlparse import parse_bytes

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]
DOMAIN_DIRS = (ROOT / ".cache/libvirt-src/tests/qemuxml2argvdata",
               ROOT / ".cache/libvirt-src-11.3/tests/qemuxmlconfdata")
NETWORK_DIR = ROOT / ".cache/libvirt-src/tests/networkxml2xmlin"
_ENCODING = re.compile(rb"^(?:\xef\xbb\xbf)?<\?xml[^>]*encoding=['\"]([^'\"]+)['\"]")


def _usable(data: bytes) -> bool:
    try:
        parse_bytes(data)
    except NetXmlError:
        return False
    return True


@cache
def domain_files() -> tuple[tuple[str, bytes], ...]:
    """Domains with at least one interface our parser takes (inputs only, not libvirt's
    per-architecture outputs)."""
    found = []
    for folder in DOMAIN_DIRS:
        for path in sorted(folder.glob("*.xml")):
            if path.name.count(".") != 1:
                continue
            data = path.read_bytes()
            if b"<interface" in data and _usable(data):
                found.append((f"{folder.parent.parent.name}/{path.name}", data))
    return tuple(found)


@cache
def network_files() -> tuple[tuple[str, bytes], ...]:
    return tuple((p.name, p.read_bytes()) for p in sorted(NETWORK_DIR.glob("*.xml"))
                 if _usable(p.read_bytes()))


def require_corpus() -> None:
    for folder in (*DOMAIN_DIRS, NETWORK_DIR):
        require(folder.is_dir() and any(folder.glob("*.xml")),
                f"libvirt's test XML under {folder.relative_to(ROOT)} (setup.sh unpacks it)")


# ---------------------------------------------------------------------------- variants


def variant(data: bytes, latin1: bool, crlf: bool, tabs: bool) -> bytes:
    """The file re-written as ISO-8859-1 (with a comment only that encoding spells in one byte
    per character), with CRLF line endings, with tab indentation."""
    text = data.decode("utf-8")
    if tabs:
        text = re.sub(r"(?m)^((?:  )+)", lambda m: "\t" * (len(m.group(1)) // 2), text)
    if latin1:
        body = re.sub(r"^<\?xml[^>]*\?>\s*", "", text)
        text = "<?xml version='1.0' encoding='ISO-8859-1'?>\n<!-- Büro, café: à l'été -->\n" + body
    if crlf:
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    return text.encode("latin-1") if latin1 else text.encode("utf-8")


variants = st.tuples(st.booleans(), st.booleans(), st.booleans())


def lines_of(data: bytes) -> list[str]:
    """The document's lines, decoded with the encoding its declaration names, endings kept."""
    found = _ENCODING.match(data)
    encoding = found.group(1).decode() if found else "utf-8"
    return data.decode(encoding).splitlines(keepends=True)


def changed_lines(before: bytes, after: bytes) -> list[tuple[str, list[str], list[str]]]:
    old, new = lines_of(before), lines_of(after)
    return [(tag, old[i1:i2], new[j1:j2])
            for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
            if tag != "equal"]


def only_value_changed(old: str, new: str, name: str, value: str) -> bool:
    """``new`` is ``old`` with one ``name=`` attribute's value replaced by ``value`` (escaped
    for that attribute's quote)."""
    for found in re.finditer(rf"(?<![\w:.-]){re.escape(name)}\s*=\s*(['\"])(.*?)\1", old):
        quote = found.group(1)
        escaped = (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                   .replace(quote, "&quot;" if quote == '"' else "&apos;"))
        if old[:found.start(2)] + escaped + old[found.end(2):] == new:
            return True
    return False


# ---------------------------------------------------------------------------- properties


def _written(doc: object, style: object) -> bytes:
    return encode_document(document_text(doc, style))  # type: ignore[arg-type]


@ci_settings(max_examples=150)
@given(data=st.data(), shape=variants, kind=st.sampled_from(["model", "source_bridge"]),
       value=st.sampled_from(["virtio", "e1000e", "rtl8139", "br-lab", "vbr7"]))
def test_one_interface_edit_changes_only_its_line(data: st.DataObject, shape: tuple[bool, bool, bool],
                                                  kind: str, value: str) -> None:
    require_corpus()
    name, original = data.draw(st.sampled_from(domain_files()), label="file")
    before = variant(original, *shape)
    doc, style = load_document(before, name)
    assert isinstance(doc, Domain)
    ifaces = list(doc.interfaces)
    if kind == "model":
        candidates = [n for n, i in enumerate(ifaces) if i.type != "hostdev" and i.model != value]
    else:
        candidates = [n for n, i in enumerate(ifaces)
                      if i.type == "bridge" and i.node.find("source") is not None
                      and i.node.find("source").get("bridge") not in (None, value)]
    if not candidates:
        reject()
    index = data.draw(st.sampled_from(candidates), label="interface")
    iface = ifaces[index]
    had_model = iface.node.find("model") is not None and iface.node.find("model").get("type") is not None
    try:
        edit_interfaces([iface], InterfaceEdits(**{kind: value}), doc)
    except NetXmlError:
        reject()   # libvirt's test files hold states the edit rightly refuses to keep
    after = _written(doc, style)
    changes = changed_lines(before, after)
    attr = "type" if kind == "model" else "bridge"
    assert len(changes) == 1, changes
    tag, old, new = changes[0]
    if kind == "model" and not had_model:
        assert tag == "insert" and len(new) == 1, changes
        assert re.fullmatch(rf"[ \t]*<model type=(['\"]){value}\1/>(\r\n|\n)", new[0]), new
        indent = re.match(r"[ \t]*", new[0]).group(0)  # type: ignore[union-attr]
        assert set(indent) <= ({"\t"} if shape[2] else {" "}), new
    else:
        assert tag == "replace" and len(old) == len(new) == 1, changes
        assert only_value_changed(old[0], new[0], attr, value), changes
    reread = Domain.from_xml(after).select(index=index)[0]
    assert (reread.model if kind == "model" else reread.source.bridge) == value


@ci_settings(max_examples=100)
@given(data=st.data(), shape=variants,
       value=st.sampled_from(["x", "new-value", "a&b", "it's", 'say "hi"', "<tag>", "é"]))
def test_one_network_attribute_change_changes_only_its_line(
        data: st.DataObject, shape: tuple[bool, bool, bool], value: str) -> None:
    require_corpus()
    name, original = data.draw(st.sampled_from(network_files()), label="file")
    before = variant(original, *shape)
    doc, style = load_document(before, name)
    candidates = [(node, key) for node in doc.node.iter() if isinstance(node.tag, str)
                  for key in node.attrib if not key.startswith("{") and node.get(key) != value]
    if not candidates:
        reject()
    node, key = data.draw(st.sampled_from(candidates), label="attribute")
    position = list(doc.node.iter()).index(node)
    node.set(key, value)
    after = _written(doc, style)
    changes = changed_lines(before, after)
    assert len(changes) == 1, changes
    tag, old, new = changes[0]
    assert tag == "replace" and len(old) == len(new) == 1, changes
    assert only_value_changed(old[0], new[0], key, value), changes
    assert list(parse_bytes(after).getroot().iter())[position].get(key) == value
