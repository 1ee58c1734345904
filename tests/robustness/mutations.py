"""Byte- and markup-level mutations of real documents for the fuzz properties."""

from __future__ import annotations

import re

from hypothesis import strategies as st

_TAG_END = re.compile(rb"(/?>)")
_INTERESTING = [b"<", b">", b"&", b"'", b'"', b"<!DOCTYPE x>", b"&x;", b"]]>", b"<![CDATA[", b"\x00", b"\xff",
                b"\xc3", b"<?xml version='1.0'?>", b"<!--", b"-->", b" zz='1'", b"<zz/>", b"</network>",
                b"<interface type='bridge'>", b"<vlan><tag id='5000'/></vlan>", b"id='-1'",
                b"<xi:include xmlns:xi='http://www.w3.org/2001/XInclude' href='/etc/passwd'/>",
                b"9" * 30, b"\xef\xbb\xbf", b"xmlns:vnx='urn:virt-netxml:hooks:1'"]


@st.composite
def mutate(draw: st.DrawFn, data: bytes) -> bytes:
    """Apply 1-4 random mutations: truncate, delete, duplicate, splice in bytes or markup."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        size = len(out)
        pos = draw(st.integers(0, size))
        kind = draw(st.sampled_from(["truncate", "delete", "duplicate", "insert", "flip", "markup",
                                     "swap-quote"]))
        if kind == "truncate":
            del out[pos:]
        elif kind == "delete":
            del out[pos: pos + draw(st.integers(1, 40))]
        elif kind == "duplicate":
            chunk = out[pos: pos + draw(st.integers(1, 200))]
            out[pos:pos] = chunk
        elif kind == "insert":
            out[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "flip" and size:
            i = min(pos, size - 1)
            out[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "markup":
            out[pos:pos] = draw(st.sampled_from(_INTERESTING))
        elif kind == "swap-quote":
            ends = [m.start() for m in _TAG_END.finditer(bytes(out))]
            if ends:
                i = draw(st.sampled_from(ends))
                out[i:i] = draw(st.sampled_from([b" zz='1'", b" type='x'", b" id='99999'", b" dev='a/b'"]))
    return bytes(out)
