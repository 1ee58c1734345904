"""The single XML parsing entry point used by the CLI and the hooks.

Hooks run as root on XML that a guest's owner may have written, so parsing never resolves
entities, loads a DTD, touches the network or follows XInclude, refuses any DOCTYPE outright
(XXE, billion laughs and external DTDs all need one) and caps the input size before lxml sees it.
"""

from __future__ import annotations

from lxml import etree

from xmltools.errors import InputTooLarge, UnsafeXmlError, XmlSyntaxError

MAX_INPUT_BYTES = 8 * 1024 * 1024


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
        remove_pis=False,
    )


def parse_bytes(data: bytes | str, source: str = "<stdin>",
                limit: int = MAX_INPUT_BYTES) -> etree._ElementTree:
    """Parse a document safely; raise a one-line project error on anything refused."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > limit:
        raise InputTooLarge(source=source, limit=limit)
    # Refuse before parsing: a DOCTYPE is never needed by libvirt XML, and checking the
    # bytes first means no entity machinery in libxml2 ever runs on hostile input.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise UnsafeXmlError(source=source, detail="DOCTYPE and entity declarations are not allowed")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else 1
        msg = str(exc.msg or exc).splitlines()[0]
        raise XmlSyntaxError(source=source, line=line, detail=msg) from None
    except ValueError as exc:  # e.g. unicode strings with an encoding declaration
        raise XmlSyntaxError(source=source, line=1, detail=str(exc)) from None
    tree = root.getroottree()
    if tree.docinfo.doctype:
        raise UnsafeXmlError(source=source, detail="DOCTYPE is not allowed")
    for node in root.iter(etree.Entity):
        raise UnsafeXmlError(source=source, detail=f"entity reference {node.text} is not allowed")
    return tree


def parse_file(path: str, limit: int = MAX_INPUT_BYTES) -> etree._ElementTree:
    """Read and parse a file (``-`` is standard input) with the same rules as parse_bytes."""
    from xmltools.fileio import read_input

    return parse_bytes(read_input(path, limit), source=path, limit=limit)


def to_string(node: etree._Element | etree._ElementTree) -> str:
    """Serialize a node or tree as text with a trailing newline."""
    text = etree.tostring(node, encoding="unicode")
    return text if text.endswith("\n") else text + "\n"
