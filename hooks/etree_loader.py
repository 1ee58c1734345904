"""Import lxml.etree for a hook call without the standard modules it loads for unused features.

While it initialises, lxml.etree imports :mod:`typing` (so that ``ElementTree[...]`` can be
subscripted), :mod:`inspect` (to look at the signature of a parser target's callbacks) and
:mod:`gzip` (for compressed output). Together they are about a third of what a hook call with
work spends before its first host change (``bench/hook_startup.py``), and a hook uses none of
those features: it parses with the one secure parser of ``xmltools.xmlparse``, with no parser
target, and never writes compressed output.

So for the duration of that one import those three names resolve to small stand-ins:

- ``typing.Generic`` is a base class whose subscript is the class itself; ``typing.TypeVar``
  returns its name;
- ``inspect.getfullargspec`` and ``gzip.GzipFile`` import the real module when first called.

Afterwards the stand-ins leave ``sys.modules``, so any later ``import typing`` gets the real
module. Should a future lxml take anything else from these modules at import time, the stand-ins
are removed and lxml.etree is imported the ordinary way: slower, never wrong. A test checks that
the installed lxml takes the short way.

The project's own modules that a hook call imports are listed in :data:`START_PATH`; each of
them imports at run time neither :mod:`typing`, :mod:`inspect`, :mod:`dataclasses` nor
:mod:`subprocess` (``xmltools.record`` stands in for dataclasses, ``xmltools.generic`` for
typing's generics).
"""

from __future__ import annotations

import sys
from types import ModuleType

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from typing import Any


# The modules a hook call imports before its first host query or change: hooks.entry and what it
# imports up to the decision, then hooks.run's way to the plan, the actions and the executor.
# Each of them works with only the stand-ins below for typing, inspect and gzip, and with no
# dataclasses or subprocess at all (tests/structure/test_start_path.py imports every one so,
# and fails on a module a hook call imports that is missing here). The adapters behind the
# ports (hooks.adapters.*) are not on it: they make the host changes and load what those need;
# nor is hooks.transform, which only migrate and restore load, to rewrite the XML.
START_PATH = (
    "hooks", "hooks.entry", "hooks.protocol", "hooks.fastpath", "hooks.config", "hooks.errors",
    "hooks.etree_loader", "hooks.run", "hooks.planner", "hooks.planner.dispatch",
    "hooks.planner.domain", "hooks.planner.facts", "hooks.planner.interfaces",
    "hooks.planner.network", "hooks.planner.sriov", "hooks.planner.vlans", "hooks.context",
    "hooks.deadline", "hooks.log", "hooks.state", "hooks.state_records", "hooks.ports", "hooks.executor",
    "hooks.daemon",
    "hooks.actions", "hooks.actions.base", "hooks.actions.bridge", "hooks.actions.claims",
    "hooks.actions.macvtap", "hooks.actions.ovs", "hooks.actions.records", "hooks.actions.sriov",
    "hooks.actions.tap", "hooks.actions.forward", "hooks.planner.forwards",
    "hooks.planner.ovn", "hooks.actions.ovn",
    "xmltools", "xmltools.errors", "xmltools.xmlparse", "xmltools.common", "xmltools.fields",
    "xmltools.generic", "xmltools.record", "xmltools.names", "xmltools.metadata", "xmltools.rules",
    "xmltools.interface",
)


class _Subscriptable:
    """Stands in for ``typing.Generic`` as a base class: ``_Subscriptable[T]`` is the class."""

    __slots__ = ()

    def __class_getitem__(cls, params: Any) -> type:
        return cls


def _type_var(name: str, *constraints: Any, **options: Any) -> str:
    return name


def _deferred(module: str, name: str) -> Any:
    """A callable that imports the real ``module`` when called and calls its ``name``."""

    def call(*args: Any, **kwargs: Any) -> Any:
        real = __import__(module)
        return getattr(real, name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


def stand_ins() -> dict[str, ModuleType]:
    """Fresh stand-ins for ``typing``, ``inspect`` and ``gzip``, by module name."""
    typing_ = ModuleType("typing", "stand-in while lxml.etree initialises")
    typing_.Generic = _Subscriptable  # type: ignore[attr-defined]
    typing_.TypeVar = _type_var  # type: ignore[attr-defined]
    inspect_ = ModuleType("inspect", "stand-in while lxml.etree initialises")
    inspect_.getfullargspec = _deferred("inspect", "getfullargspec")  # type: ignore[attr-defined]
    gzip_ = ModuleType("gzip", "stand-in while lxml.etree initialises")
    gzip_.GzipFile = _deferred("gzip", "GzipFile")  # type: ignore[attr-defined]
    return {"typing": typing_, "inspect": inspect_, "gzip": gzip_}


def load_etree(module: str = "lxml.etree") -> ModuleType:
    """Import ``module`` (lxml.etree) with the stand-ins in place; returns the module.

    Modules already imported for real (a test process, say) are left as they are.
    """
    if module in sys.modules:
        return sys.modules[module]
    placed = {name: stand_in for name, stand_in in stand_ins().items() if name not in sys.modules}
    before = set(sys.modules)
    sys.modules.update(placed)
    try:
        __import__(module)
    except Exception:  # noqa: BLE001 - anything the stand-ins lack: fall back to the ordinary import
        _remove(placed)
        # Whatever that attempt imported may hold a stand-in: start those modules afresh too.
        for name in set(sys.modules) - before:
            del sys.modules[name]
        __import__(module)
    finally:
        _remove(placed)
    return sys.modules[module]


def _remove(placed: dict[str, ModuleType]) -> None:
    for name, stand_in in placed.items():
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
