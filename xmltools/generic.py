"""``Generic``, ``TypeVar`` and ``overload`` for the models, without importing :mod:`typing`.

The hooks read domain and network XML through these models on every guest start, and
importing typing is a noticeable share of a hook call's start-up (``bench/hook_startup.py``).
Type checkers see the real names. At run time the models only ever need their classes to be
subscriptable in annotations and casts, so the stand-ins below do exactly that: ``Field[int]``
is ``Field``, a type variable is its name, and ``@overload`` leaves the function alone (the last,
real definition replaces it anyway).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Generic, TypeVar, overload
else:
    class Generic:
        """Base of the generic models: subscripting the class returns the class."""

        __slots__ = ()

        def __class_getitem__(cls, params):
            return cls

    def TypeVar(name, *constraints, bound=None, covariant=False, contravariant=False):  # noqa: N802
        return name

    def overload(func):
        return func

__all__ = ["Generic", "TypeVar", "overload"]
