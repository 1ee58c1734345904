"""A light stand-in for ``dataclasses.dataclass``, for the modules a libvirt hook call imports.

``dataclasses`` pulls in ``inspect`` (and with it ``ast``, ``dis``, ``tokenize``) and generates
and compiles the methods of every class it decorates: about 15 ms of a hook call's start-up,
which is the whole of a no-op hook's cost again. The modules on the hook's path import it like
this, so that type checkers still see real dataclasses and check every constructor call::

    if TYPE_CHECKING:
        from dataclasses import dataclass, field
    else:
        from xmltools.record import dataclass, field

At run time :func:`dataclass` keeps the behaviour those modules rely on: the ``__init__``
(positional fields in declaration order, base classes first, ``kw_only`` fields by keyword
only; defaults and ``default_factory``), ``__eq__`` on the same class over the compared fields,
``__hash__`` for frozen classes (none for mutable ones), ``__repr__`` like dataclasses', ordering
with ``order=True``, and ``frozen=True`` refusing assignment with an ``AttributeError`` (the base
of dataclasses' ``FrozenInstanceError``). Nothing is compiled: the methods are shared functions
reading the class's field table. Instances keep a ``__dict__``, so they pickle as before.

Which modules are on the hook's path is one list, ``START_PATH`` in ``hooks/etree_loader.py``
(kept there, beside the other stand-ins, as this core module names no ``hooks`` module); a test
imports each of them with ``dataclasses`` unavailable and fails on a hook-path module missing
from it.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_MISSING = object()


class _Field:
    """One declared field: its name, default, and whether it is compared and keyword-only."""

    __slots__ = ("name", "default", "factory", "compare", "kw_only", "repr")

    def __init__(self, default: Any = _MISSING, default_factory: Callable[[], Any] | None = None,
                 compare: bool = True, kw_only: bool = False, repr: bool = True) -> None:
        self.name = ""
        self.default, self.factory = default, default_factory
        self.compare, self.kw_only, self.repr = compare, kw_only, repr


def field(*, default: Any = _MISSING, default_factory: Callable[[], Any] | None = None,
          compare: bool = True, kw_only: bool = False, repr: bool = True) -> Any:
    """Declare a field with a default, a ``default_factory``, or ``compare``/``kw_only``/``repr``."""
    return _Field(default, default_factory, compare, kw_only, repr)


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    cls = type(self)
    positional = cls.__record_positional__
    if len(args) > len(positional):
        raise TypeError(f"{cls.__name__}() takes {len(positional)} positional arguments, got {len(args)}")
    values = dict(zip(positional, args, strict=False))
    for name, value in kwargs.items():
        if name in values or name not in cls.__record_fields__:
            raise TypeError(f"{cls.__name__}() got an unexpected or repeated argument {name!r}")
        values[name] = value
    setter = object.__setattr__
    for name, spec in cls.__record_fields__.items():
        if name in values:
            setter(self, name, values[name])
        elif spec.factory is not None:
            setter(self, name, spec.factory())
        elif spec.default is not _MISSING:
            setter(self, name, spec.default)
        else:
            raise TypeError(f"{cls.__name__}() missing required argument {name!r}")


def _key(self: Any) -> tuple[Any, ...]:
    return tuple(getattr(self, name) for name in type(self).__record_compared__)


def _eq(self: Any, other: object) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _key(self) == _key(other)


def _hash(self: Any) -> int:
    return hash(_key(self))


def _repr(self: Any) -> str:
    cls = type(self)
    inner = ", ".join(f"{name}={getattr(self, name)!r}"
                      for name, spec in cls.__record_fields__.items() if spec.repr)
    return f"{cls.__qualname__}({inner})"


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise AttributeError(f"cannot assign to field {name!r} of frozen {type(self).__name__}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise AttributeError(f"cannot delete field {name!r} of frozen {type(self).__name__}")


def _ordering(op: Callable[[tuple[Any, ...], tuple[Any, ...]], bool]) -> Callable[[Any, object], Any]:
    def compare(self: Any, other: object) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return op(_key(self), _key(other))
    return compare


def _is_classvar(annotation: object) -> bool:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return isinstance(text, str) and (text.startswith("ClassVar") or text.startswith("typing.ClassVar"))


def _decorate(cls: type, frozen: bool, order: bool) -> type:
    fields: dict[str, _Field] = dict(getattr(cls, "__record_fields__", {}))
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():
        if _is_classvar(annotation):
            continue
        value = cls.__dict__.get(name, _MISSING)
        spec = value if isinstance(value, _Field) else _Field(default=value)
        spec.name = name
        fields[name] = spec
        if isinstance(value, _Field):
            # Like dataclasses: a plain default stays a class attribute, a factory leaves none.
            if value.default is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, value.default)
    # Like dataclasses: repr, comparison and hashing follow the declaration order (base classes
    # first); kw_only only takes a field out of the positional parameters of __init__.
    positional = tuple(n for n, s in fields.items() if not s.kw_only)
    cls.__record_fields__ = fields  # type: ignore[attr-defined]
    cls.__record_positional__ = positional  # type: ignore[attr-defined]
    cls.__record_compared__ = tuple(n for n, s in fields.items() if s.compare)  # type: ignore[attr-defined]
    setattr(cls, "__match_args__", positional)  # noqa: B010 (mypy refuses the plain assignment)
    methods: dict[str, Any] = {"__init__": _init, "__repr__": _repr, "__eq__": _eq}
    if frozen:
        methods.update(__hash__=_hash, __setattr__=_frozen_setattr, __delattr__=_frozen_delattr)
    else:
        methods["__hash__"] = None
    if order:
        methods.update(__lt__=_ordering(tuple.__lt__), __le__=_ordering(tuple.__le__),
                       __gt__=_ordering(tuple.__gt__), __ge__=_ordering(tuple.__ge__))
    for name, method in methods.items():
        if name == "__hash__" or name not in cls.__dict__:   # like dataclasses: the class's own wins
            setattr(cls, name, method)
    return cls


def dataclass(cls: type | None = None, /, *, frozen: bool = False, order: bool = False) -> Any:
    """Make ``cls`` a record class; usable bare (``@dataclass``) or with ``frozen``/``order``."""
    if cls is not None:
        return _decorate(cls, frozen, order)
    return lambda klass: _decorate(klass, frozen, order)


def fields(obj: Any) -> tuple[_Field, ...]:
    """The fields of a record class or instance, in declaration order (each has a ``name``)."""
    return tuple(obj.__record_fields__.values())
