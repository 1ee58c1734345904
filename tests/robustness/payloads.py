"""Hostile XML payloads, built around a valid document so every entry point sees its own root.

Each payload is a small attack on the parser (entities, DTDs, XInclude, size, depth, encoding)
or on the reader's assumptions (empty, truncated, not libvirt). ``REFUSED`` lists the payloads
every XML-reading entry point must reject; the XInclude payload is merely inert (the element
is unknown to libvirt and must be passed through or refused, never processed).
"""

from __future__ import annotations

import re
from pathlib import Path

from xmltools.xmlparse import MAX_INPUT_BYTES

#: Text of the file an XInclude payload points at; it must never appear in any output.
XINCLUDE_MARKER = "XINCLUDE-MARKER-5c1e9b"
#: A line every /etc/passwd has; it must never appear in any output.
PASSWD_MARKER = "root:x:0:0"

_ROOT_START = re.compile(rb"<([A-Za-z][\w.-]*)[^>]*?(/?)>")


def _inject(doc: bytes, inner: bytes) -> bytes:
    """``doc`` with ``inner`` placed as the first content of its root element."""
    m = _ROOT_START.search(doc)
    assert m is not None, "payload base must start with an element"
    if m.group(2):  # <root/>: open it up
        start = doc[: m.start()] + doc[m.start(): m.end() - 2] + b">"
        return start + inner + b"</" + m.group(1) + b">" + doc[m.end():]
    return doc[: m.end()] + inner + doc[m.end():]


def _root_tag(doc: bytes) -> bytes:
    m = _ROOT_START.search(doc)
    assert m is not None
    return m.group(1)


def write_secret(folder: Path) -> Path:
    """The file the XInclude payload names."""
    path = folder / "xinclude-target.txt"
    path.write_text(XINCLUDE_MARKER + "\n")
    return path


def hostile_payloads(doc: bytes, secret: Path, port: int) -> dict[str, bytes]:
    """Attacks built on the valid document ``doc``; ``port``: a local listener never to be contacted."""
    root = _root_tag(doc)
    url = f"http://127.0.0.1:{port}".encode()
    decl = b'<?xml version="1.0"?>\n'
    laughs = b'<!ENTITY l0 "lol">' + b"".join(
        b'<!ENTITY l%d "%s">' % (i, b"".join(b"&l%d;" % (i - 1) for _ in range(10))) for i in range(1, 10))
    big_text = b"A" * 50_000
    pad = MAX_INPUT_BYTES + 1 - len(doc) - 7
    payloads = {
        "xxe-file": decl + b'<!DOCTYPE %s [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n' % root
        + _inject(doc, b"&x;"),
        "xxe-file-utf16": (decl.decode().replace("1.0", '1.0" encoding="UTF-16')
                           + f'<!DOCTYPE {root.decode()} [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
                           + _inject(doc, b"&x;").decode()).encode("utf-16"),
        "xxe-network": decl + b'<!DOCTYPE %s [<!ENTITY x SYSTEM "%s/xxe">]>\n' % (root, url)
        + _inject(doc, b"&x;"),
        "billion-laughs": decl + b"<!DOCTYPE %s [%s]>\n" % (root, laughs) + _inject(doc, b"&l9;"),
        "quadratic-blowup": decl + b'<!DOCTYPE %s [<!ENTITY a "%s">]>\n' % (root, big_text)
        + _inject(doc, b"&a;" * 2000),
        "external-dtd": decl + b'<!DOCTYPE %s SYSTEM "%s/x.dtd">\n' % (root, url) + doc,
        "external-dtd-port1": decl + b'<!DOCTYPE %s SYSTEM "http://127.0.0.1:1/x.dtd">\n' % root + doc,
        "parameter-entity": decl + b'<!DOCTYPE %s [<!ENTITY %% p SYSTEM "%s/p.dtd"> %%p;]>\n' % (root, url)
        + doc,
        "parameter-entity-file": decl
        + b'<!DOCTYPE %s [<!ENTITY %% p SYSTEM "file:///etc/passwd"> %%p;]>\n' % root + doc,
        "xinclude": _inject(doc, b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="%s" '
                                 b'parse="text"/>' % str(secret).encode()),
        "oversize": doc + b"<!--" + b"x" * max(pad, 1) + b"-->",
        "deep-nesting": _inject(doc, b"<a>" * 20_000 + b"</a>" * 20_000),
        "invalid-utf8": _inject(doc, b"<x>\xff\xfe\xc3\x28</x>"),
        "nul-byte": _inject(doc, b"<x>a\x00b</x>"),
        "empty": b"",
        "whitespace-only": b" \n\t\n",
        "binary": bytes(range(256)) * 4,
        "truncated": doc[: len(doc) // 2],
        "non-libvirt-root": decl + b"<html><body><p>hello</p></body></html>\n",
        "two-roots": doc + doc,
    }
    assert len(payloads["oversize"]) > MAX_INPUT_BYTES
    return payloads


#: Payloads that must be refused by every entry point that reads one document.
REFUSED = (
    "xxe-file", "xxe-file-utf16", "xxe-network", "billion-laughs", "quadratic-blowup", "external-dtd",
    "external-dtd-port1", "parameter-entity", "parameter-entity-file", "oversize", "deep-nesting",
    "invalid-utf8", "nul-byte", "empty", "whitespace-only", "binary", "truncated", "non-libvirt-root",
    "two-roots",
)
#: Payloads that may be accepted (the document is otherwise valid) but must not be processed.
INERT = ("xinclude",)
