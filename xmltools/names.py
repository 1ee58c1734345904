"""Validation of names and addresses before they reach a path, an argv or a netlink call."""

from __future__ import annotations

import re

from xmltools.errors import InvalidValue
from xmltools.rules import vlan_id_ok

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from dataclasses import dataclass
else:
    from xmltools.record import dataclass

IFNAMSIZ = 16  # the kernel's limit includes the terminating NUL: 15 usable bytes

# Compiled on first use (re's own cache), not when a hook that needs no PCI address imports this.
_PCI = (r"(?:(?P<domain>[0-9a-fA-F]{1,4}):)?(?P<bus>[0-9a-fA-F]{1,2}):"
        r"(?P<slot>[0-9a-fA-F]{1,2})\.(?P<function>[0-7])")


def interface_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a Linux interface name, or None when it can."""
    if not name:
        return "empty"
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) >= IFNAMSIZ:
        return f"{len(raw)} bytes long, the kernel allows at most {IFNAMSIZ - 1}"
    if name in (".", ".."):
        return "'.' and '..' are not allowed"
    for ch in name:
        if ch == "/" or ch == ":" or ch.isspace() or ord(ch) < 0x21 or ord(ch) == 0x7F:
            return f"contains {ch!r}, which is not allowed"
    return None


def validate_interface_name(name: str, what: str = "interface name") -> str:
    problem = interface_name_problem(name)
    if problem:
        raise InvalidValue(what=what, value=name, reason=problem)
    return name


def validate_bridge_name(name: str) -> str:
    return validate_interface_name(name, "bridge name")


@dataclass(frozen=True, order=True)
class PciAddress:
    domain: int
    bus: int
    slot: int
    function: int

    def __str__(self) -> str:
        return f"{self.domain:04x}:{self.bus:02x}:{self.slot:02x}.{self.function:x}"

    @classmethod
    def parse(cls, text: str) -> PciAddress:
        """Parse ``[DDDD:]BB:SS.F``; anything else (``../``, spaces, bad ranges) is refused."""
        m = re.fullmatch(_PCI, text.strip()) if isinstance(text, str) else None
        if not m or text != text.strip():
            raise InvalidValue(what="PCI address", value=text,
                               reason="expected DDDD:BB:SS.F, e.g. 0000:04:10.0")
        slot = int(m["slot"], 16)
        if slot > 0x1F:
            raise InvalidValue(what="PCI address", value=text, reason="slot must be 00 to 1f")
        return cls(int(m["domain"] or "0", 16), int(m["bus"], 16), slot, int(m["function"]))

    @classmethod
    def from_attrs(cls, domain: str | None, bus: str | None, slot: str | None,
                   function: str | None) -> PciAddress:
        """From libvirt's ``<address domain='0x0000' bus='0x04' slot='0x10' function='0x0'/>``."""
        try:
            values = [int(v or "0", 0) for v in (domain, bus, slot, function)]
        except ValueError:
            raise InvalidValue(what="PCI address", value=f"{domain}:{bus}:{slot}.{function}",
                               reason="fields must be numbers") from None
        d, b, s, f = values
        if not (0 <= d <= 0xFFFF and 0 <= b <= 0xFF and 0 <= s <= 0x1F and 0 <= f <= 7):
            raise InvalidValue(what="PCI address", value=f"{d:x}:{b:x}:{s:x}.{f:x}",
                               reason="field out of range")
        return cls(d, b, s, f)

    def attrs(self) -> dict[str, str]:
        return {"domain": f"0x{self.domain:04x}", "bus": f"0x{self.bus:02x}",
                "slot": f"0x{self.slot:02x}", "function": f"0x{self.function:x}"}


def validate_vlan_id(vid: int) -> int:
    if not isinstance(vid, int) or isinstance(vid, bool) or not vlan_id_ok(vid):
        raise InvalidValue(what="VLAN id", value=str(vid), reason="must be 0 to 4095")
    return vid
