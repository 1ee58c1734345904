"""Declarative mapping of model fields onto XML, editing the parsed tree in place.

Each model class wraps one lxml element and declares its fields once, as a path relative to
that element (``"bridge/@name"``, ``"name"`` for element text). Reading a field reads the tree;
writing it creates or removes exactly the nodes it names. Anything the model does not declare
(other devices, unknown attributes, foreign metadata, comments) is never touched, so a
parse -> edit -> write round trip preserves it byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from lxml import etree

from xmltools.errors import InvalidValue
from xmltools.generic import Generic, TypeVar, overload

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    import ipaddress
    from typing import Any, ClassVar

T = TypeVar("T")
M = TypeVar("M", bound="XmlModel")

# --------------------------------------------------------------------------- converters


class Conv(Generic[T]):
    """Turns attribute/text strings into typed values and back."""

    def __init__(self, name: str, load: Callable[[str], T], dump: Callable[[T], str]) -> None:
        self.name, self.load, self.dump = name, load, dump


def _load_int(text: str) -> int:
    text = text.strip()
    try:
        return int(text, 0) if text.lower().startswith("0x") else int(text)
    except ValueError:
        raise InvalidValue(what="integer", value=text, reason="not a whole number") from None


def _bool_conv(true: str, false: str) -> Conv[bool]:
    def load(text: str) -> bool:
        if text == true:
            return True
        if text == false:
            return False
        raise InvalidValue(what="flag", value=text, reason=f"expected '{true}' or '{false}'")

    return Conv(f"{true}/{false}", load, lambda v: true if v else false)


STR: Conv[str] = Conv("text", str, str)
INT: Conv[int] = Conv("integer", _load_int, str)
YESNO = _bool_conv("yes", "no")
ONOFF = _bool_conv("on", "off")


def _load_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    import ipaddress  # here, not at the top: a hook call that reads no address skips its import

    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise InvalidValue(what="IP address", value=text, reason="not an IPv4 or IPv6 address") from None


IP: Conv[Any] = Conv("IP address", _load_ip, str)


# --------------------------------------------------------------------------- tree helpers


def _depth(node: etree._Element) -> int:
    return sum(1 for _ in node.iterancestors())


def attach(parent: etree._Element, child: etree._Element, order: tuple[str, ...] = ()) -> None:
    """Insert ``child`` under ``parent`` at its canonical place, indented like its siblings.

    ``order`` lists child tags in the order libvirt writes them; a new child goes before the
    first existing sibling that comes later in that order, otherwise at the end.
    """
    indent = "\n" + "  " * (_depth(parent) + 1)
    closing = "\n" + "  " * _depth(parent)
    elements = [c for c in parent if isinstance(c.tag, str)]
    before = None
    if child.tag in order:
        rank = order.index(child.tag)
        for sib in elements:
            if sib.tag in order and order.index(sib.tag) > rank:
                before = sib
                break
    if not len(parent):
        if not (parent.text or "").strip():
            parent.text = indent
        child.tail = closing
        parent.append(child)
    elif before is not None:
        before.addprevious(child)
        child.tail = indent
    else:
        last = parent[-1]
        text = (last.tail or "").strip()  # stray text after the last child is kept in front of the new one
        child.tail = last.tail if not text and last.tail else closing
        last.tail = last.tail.rstrip() + indent if text and last.tail else indent
        parent.append(child)
    if len(child):
        etree.indent(child, space="  ", level=_depth(child))


def detach(node: etree._Element) -> None:
    """Remove ``node`` and the whitespace in front of it, keeping the parent tidy."""
    parent = node.getparent()
    if parent is None:
        return
    prev = node.getprevious()
    tail = node.tail
    if prev is not None:
        # The node's tail holds the indentation of what follows it: hand it to the previous node.
        if (prev.tail or "").strip() == "":
            prev.tail = tail
        elif (tail or "").strip():
            prev.tail = (prev.tail or "") + (tail or "")  # both hold stray text: keep both
    elif (parent.text or "").strip():
        parent.text = (parent.text or "") + (tail or "").strip()  # stray text stays in the parent
    elif (tail or "").strip() == "":
        parent.text = tail if len(parent) > 1 else None
    else:
        parent.text = tail
    parent.remove(node)
    if not len(parent) and (parent.text or "").strip() == "":
        parent.text = None


def _split(path: str) -> tuple[list[str], str | None]:
    """'a/b/@c' -> (['a', 'b'], 'c');  'a/b' -> (['a', 'b'], None) meaning text of a/b."""
    parts = path.split("/") if path else []
    attr = None
    if parts and parts[-1].startswith("@"):
        attr = parts.pop()[1:]
    return parts, attr


def _find(node: etree._Element, steps: list[str]) -> etree._Element | None:
    for step in steps:
        if step == ".":
            continue
        found = node.find(step)
        if found is None:
            return None
        node = found
    return node


def _prune(node: etree._Element, stop: etree._Element) -> None:
    """Remove now-empty elements that a field created, walking up to ``stop``."""
    while node is not stop and node.getparent() is not None:
        if len(node) or node.attrib or (node.text or "").strip():
            return
        parent = node.getparent()
        detach(node)
        node = parent  # type: ignore[assignment]


# --------------------------------------------------------------------------- models


class XmlModel:
    """Base of every model class: one wrapped element plus declared fields."""

    TAG: ClassVar[str] = ""
    ORDER: ClassVar[tuple[str, ...]] = ()

    def __init__(self, node: etree._Element | None = None, **values: Any) -> None:
        self.node = node if node is not None else etree.Element(self.TAG)
        for key, value in values.items():
            if not hasattr(type(self), key):
                raise TypeError(f"{type(self).__name__} has no field {key!r}")
            setattr(self, key, value)

    def _order_for(self, parent: etree._Element) -> tuple[str, ...]:
        return self.ORDER if parent is self.node else ()

    def ensure(self, steps: list[str]) -> etree._Element:
        """Return the element at ``steps``, creating missing ones in canonical order."""
        node = self.node
        for step in steps:
            if step == ".":
                continue
            found = node.find(step)
            if found is None:
                found = etree.Element(step)
                attach(node, found, self._order_for(node))
            node = found
        return node

    def add_child(self, child: XmlModel, under: str = "") -> None:
        parent = self.ensure(_split(under)[0]) if under else self.node
        attach(parent, child.node, self._order_for(parent))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.node is self.node  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return id(self.node)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {etree.tostring(self.node, encoding='unicode')[:80]!r}>"

    def to_xml(self) -> str:
        from xmltools.xmlparse import to_string

        return to_string(self.node)

    @property
    def line(self) -> int | None:
        return self.node.sourceline


class Field(Generic[T]):
    """A scalar value at ``path`` (attribute with ``@``, else element text)."""

    @overload
    def __init__(self: Field[str], path: str) -> None: ...
    @overload
    def __init__(self, path: str, conv: Conv[T]) -> None: ...

    def __init__(self, path: str, conv: Conv[Any] = STR) -> None:
        self.path, self.conv = path, conv
        self.steps, self.attr = _split(path)

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> Field[T]: ...
    @overload
    def __get__(self, obj: XmlModel, owner: type) -> T | None: ...

    def __get__(self, obj: XmlModel | None, owner: type) -> Any:
        if obj is None:
            return self
        node = _find(obj.node, self.steps)
        if node is None:
            return None
        raw = node.get(self.attr) if self.attr else node.text
        if raw is None:
            return None
        return self.conv.load(raw)

    def raw(self, obj: XmlModel) -> str | None:
        node = _find(obj.node, self.steps)
        if node is None:
            return None
        return node.get(self.attr) if self.attr else node.text

    def __set__(self, obj: XmlModel, value: T | None) -> None:
        if value is None:
            node = _find(obj.node, self.steps)
            if node is None:
                return
            if self.attr:
                node.attrib.pop(self.attr, None)
            else:
                node.text = None
            _prune(node, obj.node)
            return
        text = self.conv.dump(value)
        node = obj.ensure(self.steps)
        if self.attr:
            node.set(self.attr, text)
        else:
            node.text = text


class Flag:
    """True when the element at ``path`` exists (``<autoconnect/>``-style markers)."""

    def __init__(self, path: str) -> None:
        self.steps = _split(path)[0]

    def __get__(self, obj: XmlModel | None, owner: type) -> Any:
        if obj is None:
            return self
        return _find(obj.node, self.steps) is not None

    def __set__(self, obj: XmlModel, value: bool) -> None:
        node = _find(obj.node, self.steps)
        if value and node is None:
            obj.ensure(self.steps)
        elif not value and node is not None:
            parent = node.getparent()
            detach(node)
            if parent is not None:
                _prune(parent, obj.node)


class _SubModel(Generic[M]):
    """What Child and Children share: the model class (or a callable naming it, for classes
    defined later in a module) and the path of the element(s)."""

    def __init__(self, cls: type[M] | Callable[[], type[M]], path: str) -> None:
        self._cls, self.path = cls, path
        self.steps = _split(path)[0]

    @property
    def cls(self) -> type[M]:
        cls = self._cls
        return cls if isinstance(cls, type) else cls()


class Child(_SubModel[M]):
    """An optional single sub-model at ``path``; assign a model to replace, None to remove."""

    def __get__(self, obj: XmlModel | None, owner: type) -> Any:
        if obj is None:
            return self
        node = _find(obj.node, self.steps)
        return None if node is None else self.cls(node)

    def __set__(self, obj: XmlModel, value: M | None) -> None:
        old = _find(obj.node, self.steps)
        if old is not None:
            parent = old.getparent()
            detach(old)
            if value is None and parent is not None:
                _prune(parent, obj.node)
        if value is None:
            return
        parent = obj.ensure(self.steps[:-1])
        attach(parent, value.node, obj._order_for(parent))

    def get_or_create(self, obj: XmlModel) -> M:
        current = self.__get__(obj, type(obj))
        if current is None:
            current = self.cls()
            self.__set__(obj, current)
        return current


class Children(_SubModel[M]):
    """A list of sub-models matching ``path`` (e.g. ``"ip"``, ``"dhcp/range"``)."""

    def __get__(self, obj: XmlModel | None, owner: type) -> Any:
        if obj is None:
            return self
        return ChildList(obj, self)


class ChildList(Generic[M]):
    """Live view of a Children field: iterate, index, append, remove, clear."""

    def __init__(self, owner: XmlModel, spec: Children[M]) -> None:
        self.owner, self.spec = owner, spec

    def _nodes(self) -> list[etree._Element]:
        parent = _find(self.owner.node, self.spec.steps[:-1])
        if parent is None:
            return []
        return list(parent.iterchildren(self.spec.steps[-1]))

    def __iter__(self) -> Iterator[M]:
        return (self.spec.cls(n) for n in self._nodes())

    def __len__(self) -> int:
        return len(self._nodes())

    def __getitem__(self, index: int) -> M:
        return self.spec.cls(self._nodes()[index])

    def __bool__(self) -> bool:
        return bool(self._nodes())

    def append(self, item: M) -> M:
        # Only the last matching sibling is needed: searching from the end keeps building a
        # long list (a trunk of 4094 VLAN tags) linear instead of quadratic.
        holder = _find(self.owner.node, self.spec.steps[:-1])
        last = None
        if holder is not None:
            last = next(holder.iterchildren(self.spec.steps[-1], reversed=True), None)
        if last is not None:
            item.node.tail = last.tail
            last.tail = "\n" + "  " * _depth(last)
            last.addnext(item.node)
            if len(item.node):
                etree.indent(item.node, space="  ", level=_depth(item.node))
        else:
            parent = self.owner.ensure(self.spec.steps[:-1])
            attach(parent, item.node, self.owner._order_for(parent))
        return item

    def remove(self, item: M) -> None:
        parent = item.node.getparent()
        detach(item.node)
        if parent is not None:
            _prune(parent, self.owner.node)

    def clear(self) -> None:
        for item in list(self):
            self.remove(item)
