"""Errors raised while applying host changes; one line each, data in fields."""

from __future__ import annotations

from xmltools.errors import NetXmlError


class HostError(NetXmlError):
    """A host operation failed: ``step`` names what was being done, ``detail`` why."""

    template = "{step}: {detail}"
    exit_code = 1


class HostTimeout(HostError):
    template = "{step}: timed out after {seconds:g}s"


class NotFound(HostError):
    template = "{step}: {what} {name!r} does not exist"


class Busy(HostError):
    template = "{step}: {what} {name!r} is busy ({detail})"


class DeadlineExceeded(HostError):
    template = "{step}: the hook's deadline of {seconds:g}s passed"


class InsecurePath(NetXmlError):
    """A configuration, mapping or state path others could change: the hook refuses to act."""

    template = "{what} {path}: {reason}; refusing to run (make it root-owned, not group/world-writable)"
    exit_code = 2
