"""The lint driver: files in, findings out.

For each document: parse it safely, tell its kind from the root element, validate it against
the project's grammar (a whole network, or each <interface> of a domain), against libvirt's
installed schema when asked, run the semantic checks, and validate the project's metadata.
Duplicates of names, UUIDs and MACs are tracked across every file of the run.

Cost per file matters (CI pipelines lint whole repositories): grammars are compiled once per
process (xmltools.schema caches them), the checks walk the lxml tree directly, and xmlschema
is imported only when a document carries the project's metadata.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Literal

from lxml import etree

from xmltools import checks, schema
from xmltools.errors import InputError, InputTooLarge, UnsafeXmlError, XmlSyntaxError
from xmltools.fileio import read_input
from xmltools.xmlparse import MAX_INPUT_BYTES, parse_bytes

Severity = Literal["error", "warning"]
KINDS = ("network", "domain", "interface")
STDIN = "-"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in one file, as lint reports it."""

    path: str
    line: int
    severity: Severity
    code: str
    message: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message} [{self.code}]"


def collect_files(paths: Iterable[str]) -> list[str]:
    """Expand folders into their *.xml files (recursively, sorted).

    Refuses a path that does not exist and a folder without any *.xml file (InputError).
    """
    files: list[str] = []
    for path in paths:
        if path == STDIN:
            files.append(path)
        elif os.path.isdir(path):
            found: list[str] = []
            for folder, subdirs, names in os.walk(path):
                subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
                found.extend(os.path.join(folder, n) for n in names if n.endswith(".xml"))
            if not found:
                # A CI job pointed at the wrong folder must not pass silently.
                raise InputError(source=path, detail="no *.xml files in this folder")
            files.extend(sorted(found))
        elif os.path.exists(path):
            files.append(path)
        else:
            raise InputError(source=path, detail="no such file or directory")
    return files


@dataclass
class Linter:
    """Lints documents one by one, remembering what it saw for cross-file duplicate checks.

    ``libvirt_schemas``: also validate against libvirt's installed schemas and report where
    they disagree with ours. None (the default) validates networks with libvirt's network.rng
    but not whole domains: libvirt's domain.rng costs more than everything else lint does to a
    domain together (see bench/lint_corpus.py). True does both, False neither.
    """

    libvirt_schemas: bool | None = None
    index: checks.RunIndex = field(default_factory=checks.RunIndex)

    def lint_file(self, path: str) -> list[Finding]:
        """Lint one file (``-`` is standard input). Unreadable input raises InputError."""
        shown = "<stdin>" if path == STDIN else path
        try:
            data = read_input(path, MAX_INPUT_BYTES)
        except InputTooLarge as exc:
            return [Finding(shown, 1, "error", "input-too-large", exc.message)]
        return self.lint_bytes(data, shown)

    def lint_bytes(self, data: bytes, path: str) -> list[Finding]:
        """Lint one document given as bytes; ``path`` is only used in the findings."""
        try:
            tree = parse_bytes(data, source=path)
        except XmlSyntaxError as exc:
            return [Finding(path, int(exc.fields.get("line") or 1), "error", "xml-malformed",
                            f"malformed XML: {exc.fields.get('detail')}")]
        except UnsafeXmlError as exc:
            return [Finding(path, 1, "error", "xml-unsafe", f"refused: {exc.fields.get('detail')}")]
        except InputTooLarge as exc:
            return [Finding(path, 1, "error", "input-too-large", exc.message)]
        return self.lint_tree(tree.getroot(), path)

    def lint_tree(self, root: etree._Element, path: str) -> list[Finding]:
        """Lint a parsed document."""
        kind = root.tag if isinstance(root.tag, str) else ""
        if kind not in KINDS:
            shown = etree.QName(root).localname if isinstance(root.tag, str) else "?"
            return [Finding(path, root.sourceline or 1, "error", "not-libvirt",
                            f"<{shown}> is not a libvirt network, domain or interface document")]
        report = checks.Report()
        if kind == "network":
            ours = self._schema_network(root, report)
            checks.check_network(root, report)
        elif kind == "domain":
            ours = self._schema_domain(root, report)
            checks.check_domain(root, report)
        else:
            ours = _add_schema_errors(schema.validate("interface", root), report)
            checks.check_interface(root, report)
        if kind != "interface" and root.find(f"metadata/{{{checks.META_NS}}}netxml") is not None:
            self._metadata(root, kind, report)
        checks.check_unique(root, kind, path, self.index, report)
        if self._libvirt_for(kind):
            self._compare_with_libvirt(root, kind, ours, report)
        issues = sorted(report.issues, key=lambda i: i.line)  # stable: same line keeps check order
        return [Finding(path, i.line, i.severity, i.code, i.message) for i in issues]

    def _libvirt_for(self, kind: str) -> bool:
        if kind == "network":
            return self.libvirt_schemas is not False
        return kind == "domain" and self.libvirt_schemas is True

    # -- schemas ---------------------------------------------------------------------------

    def _schema_network(self, root: etree._Element, report: checks.Report) -> list[schema.SchemaError]:
        return _add_schema_errors(schema.validate("network", root), report)

    def _schema_domain(self, root: etree._Element, report: checks.Report) -> list[schema.SchemaError]:
        errors: list[schema.SchemaError] = []
        for iface in root.iterfind("devices/interface"):
            errors.extend(_add_schema_errors(schema.validate("interface", iface), report))
        return errors

    def _metadata(self, root: etree._Element, kind: str, report: checks.Report) -> None:
        node = root.find(f"metadata/{{{checks.META_NS}}}netxml")
        for err in schema.validate_metadata(node):
            report.add_line(err.line, "error", "meta-schema", err.message)
        checks.check_metadata(root, kind, report)

    def _compare_with_libvirt(self, root: etree._Element, kind: str, ours: list[schema.SchemaError],
                              report: checks.Report) -> None:
        """Validate with libvirt's schema; report its verdict where it adds to ours."""
        theirs = schema.validate_libvirt(kind, root)
        if theirs is None:  # libvirt's schemas are not installed
            return
        if kind == "network":
            self._compare_network(ours, theirs, report)
        else:
            self._compare_domain(root, ours, theirs, report)

    @staticmethod
    def _compare_network(ours: list[schema.SchemaError], theirs: list[schema.SchemaError],
                         report: checks.Report) -> None:
        if theirs and not ours:
            err = theirs[0]
            errors_at = {i.line for i in report.issues if i.severity == "error"}
            if err.line in errors_at:
                return  # a check already explains the element libvirt's schema refuses
            report.add_line(err.line, "error", "libvirt-schema", f"libvirt's network schema: {err.message}")
            if not errors_at:
                report.add_line(err.line, "warning", "schema-disagreement",
                                "libvirt's schema rejects this network, virt-netxml's schema and checks "
                                "find nothing wrong")
        elif ours and not theirs:
            report.add_line(ours[0].line, "warning", "schema-disagreement",
                            "virt-netxml's schema rejects this network, libvirt's schema accepts it")

    @staticmethod
    def _compare_domain(root: etree._Element, ours: list[schema.SchemaError],
                        theirs: list[schema.SchemaError], report: checks.Report) -> None:
        # Our grammar covers only the interfaces; libvirt's covers the whole domain.
        if not theirs:
            for err in ours:
                report.add_line(err.line, "warning", "schema-disagreement",
                                "virt-netxml's interface schema rejects this interface, "
                                "libvirt's domain schema accepts it")
            return
        spans = [(iface.sourceline or 0, max((n.sourceline or 0) for n in iface.iter()))
                 for iface in root.iterfind("devices/interface")]

        def span_of(line: int) -> tuple[int, int] | None:
            return next((sp for sp in spans if sp[0] <= line <= sp[1]), None)

        rejected = {span_of(o.line) for o in ours}
        err = theirs[0]
        where = span_of(err.line)
        # libxml2 often blames an enclosing element (<devices>, <domain>) for a bad child.
        enclosing = {root.sourceline, *(d.sourceline for d in root.iterfind("devices"))}
        if ours and (where in rejected or err.line in enclosing):
            return  # both reject the same interface: they agree
        if any(i.line == err.line and i.severity == "error" for i in report.issues):
            return  # a check already explains the element libvirt's schema refuses
        report.add_line(err.line, "error", "libvirt-schema", f"libvirt's domain schema: {err.message}")
        if where is not None and where not in rejected:
            report.add_line(err.line, "warning", "schema-disagreement",
                            "libvirt's domain schema rejects this interface, virt-netxml's accepts it")


def _add_schema_errors(errors: list[schema.SchemaError], report: checks.Report) -> list[schema.SchemaError]:
    for err in errors:
        report.add_line(err.line, "error", "schema", err.message)
    return errors


def lint_paths(paths: Iterable[str], *, libvirt_schemas: bool | None = None,
               progress: Callable[[str], None] | None = None) -> list[Finding]:
    """Lint files and folders; one Linter for the run, so duplicates are found across files."""
    linter = Linter(libvirt_schemas=libvirt_schemas)
    findings: list[Finding] = []
    for path in collect_files(paths):
        findings.extend(linter.lint_file(path))
        if progress is not None:
            progress(path)
    return findings


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)
