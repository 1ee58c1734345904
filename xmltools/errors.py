"""One exception hierarchy for the whole project.

Every error carries its data as fields and renders one line from a template, so the CLI and
the hooks can print it without a traceback and map it to an exit code in one place.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from typing import Any, ClassVar


class NetXmlError(Exception):
    """Base of every error the project raises on purpose."""

    template: ClassVar[str] = "{detail}"
    exit_code: ClassVar[int] = 2

    def __init__(self, **fields: Any) -> None:
        self.fields = fields
        super().__init__(self.template.format(**fields))

    @property
    def message(self) -> str:
        return str(self)


class InputError(NetXmlError):
    template = "{source}: {detail}"


class XmlSyntaxError(NetXmlError):
    template = "{source}:{line}: malformed XML: {detail}"


class UnsafeXmlError(NetXmlError):
    template = "{source}: refused: {detail}"


class InputTooLarge(NetXmlError):
    template = "{source}: refused: input is larger than {limit} bytes"


class WrongDocument(NetXmlError):
    template = "{source}: expected {expected}, found <{found}>"


class InvalidValue(NetXmlError):
    template = "invalid {what} {value!r}: {reason}"


class UsageError(NetXmlError):
    template = "{detail}"


class OutputError(NetXmlError):
    template = "{target}: cannot write: {detail}"


class NotRegularFile(InputError):
    template = "{source}: skipped: {detail}"
