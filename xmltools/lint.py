"""The lint driver: files in, findings out.

For each document: parse it safely, tell its kind from the root element, validate it against
the project's grammar (a whole network, or each <interface> of a domain), against libvirt's
installed schema when asked, run the semantic checks, and validate the project's metadata.
Duplicates of names, UUIDs and MACs are tracked across the files of each host of the run
(``--scope``), and once every file is read the checks across files run (xmltools.checks.
crossfile: the networks and portgroups domains name, the VLANs their ports can carry).

Cost per file matters (CI pipelines lint whole repositories): grammars are compiled once per
process (xmltools.schema caches them), the checks walk the lxml tree directly, and xmlschema
is imported only when a document carries the project's metadata.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from lxml import etree

from xmltools import checks, kinds, libvirt_tree, schema, versions
from xmltools.checks.crossfile import CrossIndex, HostScope
from xmltools.errors import InputError, InputTooLarge, NotRegularFile, UnsafeXmlError, XmlSyntaxError
from xmltools.fileio import kind_of, read_input
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


@dataclass
class Collected:
    """What a run lints: ``files`` as (path, named on the command line), in order, the
    ``skipped`` entries of folders as (path, why), and the ``layout`` of libvirt's tree the
    folders showed (autostart entries, nwfilter folders: xmltools.libvirt_tree)."""

    files: list[tuple[str, bool]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    layout: libvirt_tree.Layout = field(default_factory=libvirt_tree.Layout)


def collect(paths: Iterable[str]) -> Collected:
    """Expand folders into their *.xml files (recursively, sorted), each file once.

    Refuses a path that does not exist and a folder without any *.xml file (InputError).

    Inside a folder only regular files are linted: a FIFO, device or socket named *.xml is
    skipped (opening a FIFO would wait for a writer forever). A symbolic link in a folder is
    never read through: lint often runs as root over folders others can write, and a link
    could point anywhere (/etc/shadow, a FIFO). A link to a file the run lints anyway adds
    nothing and is dropped quietly. Any other link is skipped with a note. Links to folders
    are not descended (os.walk's default). The entries of libvirt's autostart/ folders are not
    documents: they go to ``layout.autostart``, judged by libvirt_tree.check_autostart and
    never read. A file reached twice (overlapping folders, hard links, a path given twice, a
    folder and a file inside it, in either order) is linted once. Paths named on the command
    line are taken as given, links followed, and checked to be regular files when read.
    """
    found = Collected()
    seen: set[tuple[int, int]] = set()
    listed: set[str] = set()
    links: list[int] = []   # positions in found.files, settled once every file is known
    for path in paths:
        if path == STDIN:
            if (path, True) not in found.files:   # standard input has one document
                found.files.append((path, True))
        elif os.path.isdir(path):
            names: list[str] = []
            for folder, subdirs, files in os.walk(path):
                subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
                found.layout.note_folder(folder)
                names.extend(os.path.join(folder, n) for n in files if n.endswith(".xml"))
            if not names:
                # A CI job pointed at the wrong folder must not pass silently.
                raise InputError(source=path, detail="no *.xml files in this folder")
            for name in sorted(names):
                if name in listed:
                    continue  # overlapping folders: one entry, one note
                listed.add(name)
                if libvirt_tree.in_autostart(name):
                    found.layout.autostart.append(name)
                    continue
                try:
                    st = os.lstat(name)
                except OSError:
                    continue  # gone since the walk listed it
                if stat.S_ISLNK(st.st_mode):
                    links.append(len(found.files))
                    found.files.append((name, False))
                elif not stat.S_ISREG(st.st_mode):
                    found.skipped.append((name, f"{kind_of(st.st_mode)}, not a regular file"))
                elif (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    found.files.append((name, False))
        elif os.path.exists(path):
            st = os.stat(path)
            if (st.st_dev, st.st_ino) in seen:
                continue  # given twice, or already in a folder of the run
            seen.add((st.st_dev, st.st_ino))
            found.files.append((path, True))
        else:
            raise InputError(source=path, detail="no such file or directory")
    for at in links:
        name = found.files[at][0]
        try:
            st = os.stat(name)
        except OSError:
            found.skipped.append((name, "a symbolic link to nothing"))
            continue
        if (st.st_dev, st.st_ino) not in seen:
            found.skipped.append((name, "a symbolic link to a file this run does not lint; links in "
                                        "folders are not followed"))
    dropped = set(links)
    found.files = [f for i, f in enumerate(found.files) if i not in dropped]
    return found


def collect_files(paths: Iterable[str]) -> list[str]:
    """The paths ``collect`` would lint, in order."""
    return [path for path, _ in collect(paths).files]


@dataclass
class Linter:
    """Lints documents one by one, remembering what it saw for cross-file duplicate checks.

    ``libvirt_schemas``: also validate against libvirt's installed schemas and report where
    they disagree with ours. None (the default) validates networks with libvirt's network.rng
    but not whole domains: libvirt's domain.rng costs more than everything else lint does to a
    domain together (see bench/lint_corpus.py). True does both, False neither.

    ``libvirt_version``: the libvirt the documents are checked for (xmltools.versions); None
    resolves it as the commands do (the environment variable, the installed libvirt, the newest
    known).

    ``libvirt_schema_dir``: libvirt's schemas of that release (default: the installed ones,
    see schema.libvirt_schemas_for); the other kinds of libvirt documents (xmltools.kinds) are
    validated with them, and networks and domains compared with them.
    """

    libvirt_schemas: bool | None = None
    libvirt_version: versions.Version | None = None
    libvirt_schema_dir: str | None = None
    index: checks.RunIndex = field(default_factory=checks.RunIndex)
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (path, why) not read
    hosts: HostScope = field(default_factory=HostScope)   # which files are one host (--scope)
    networks: CrossIndex = field(default_factory=CrossIndex)   # for crossfile_findings
    passed_over: list[tuple[str, str]] = field(default_factory=list)   # (path, why): not libvirt's
    cross: libvirt_tree.CrossDocuments = field(default_factory=libvirt_tree.CrossDocuments)
    _kinds: kinds.KindChecker | None = None

    def __post_init__(self) -> None:
        if self.libvirt_schema_dir is not None:   # a wrong folder is said before any file is read
            schema.libvirt_schemas_for(self.libvirt_version or versions.NEWEST, self.libvirt_schema_dir)

    def lint_file(self, path: str, named: bool = True) -> list[Finding]:
        """Lint one file (``-`` is standard input). Unreadable input raises InputError.

        Only a regular file is read (anything else is noted in ``skipped``); a final symbolic
        link is followed only in a path the user ``named``.
        """
        shown = "<stdin>" if path == STDIN else path
        try:
            if path == STDIN:
                data: bytes | None = read_input(path, MAX_INPUT_BYTES)
            else:
                data = libvirt_tree.read_document(path, MAX_INPUT_BYTES, follow=named)
        except InputTooLarge as exc:
            return [Finding(shown, 1, "error", "input-too-large", exc.message)]
        except NotRegularFile as exc:
            self.skipped.append((path, str(exc.fields["detail"])))
            return []
        if data is None:
            if named:
                # A file given by name is meant to be a document: corrupt bytes (a NUL, no
                # markup) are an error there. In a folder, a *.xml that is not XML at all (a
                # template, a binary) is passed over.
                return [Finding(shown, 1, "error", "xml-malformed",
                                "malformed XML: not XML at all (no markup at the start, or a NUL byte)")]
            self.passed_over.append((path, "not XML"))
            return []
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
        other = kinds.kind_of(root)
        if other is None and kind not in KINDS:
            shown = etree.QName(root).localname if isinstance(root.tag, str) else "?"
            self.passed_over.append((path, f"<{shown}> is not a libvirt document"))
            return []
        if self.libvirt_version is None:
            self.libvirt_version = versions.resolve().version
        self.cross.note(root, path)
        if other is not None:
            return [Finding(path, *problem) for problem in self._kind_checker().check(root, path, other)]
        report = checks.Report(libvirt=self.libvirt_version)
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
        host = self.hosts.host(path)
        checks.check_unique(root, kind, path, self.index, report, host)
        self.networks.add(root, kind, path, host)
        if self._libvirt_for(kind):
            self._compare_with_libvirt(root, kind, ours, report)
        issues = sorted(report.issues, key=lambda i: i.line)  # stable: same line keeps check order
        return [Finding(path, i.line, i.severity, i.code, i.message) for i in issues]

    def _kind_checker(self) -> kinds.KindChecker:
        if self._kinds is None:
            folder, why = schema.libvirt_schemas_for(self.libvirt_version or versions.NEWEST,
                                                     self.libvirt_schema_dir)
            self._kinds = kinds.KindChecker(folder, why)
        return self._kinds

    def finish(self, layout: libvirt_tree.Layout) -> list[Finding]:
        """The findings about the run as a whole, once every file is linted: autostart entries
        (judged, never read) and references between documents (xmltools.libvirt_tree)."""
        problems = [p for entry in layout.autostart for p in libvirt_tree.check_autostart(entry)]
        problems += self.cross.problems(layout)
        return [Finding(*p) for p in problems]

    def notes(self) -> list[str]:
        """Said once a run ends, not findings: kinds of documents met but not validated."""
        return self._kinds.notes() if self._kinds is not None else []

    def crossfile_findings(self) -> list[Finding]:
        """The findings across files, once every file of the run is read: the networks and
        portgroups domains name, and the VLANs their ports can carry (xmltools.checks.crossfile)."""
        return [Finding(f.path, f.issue.line, f.issue.severity, f.issue.code, f.issue.message)
                for f in self.networks.findings(self.libvirt_version or versions.NEWEST)]

    def _libvirt_for(self, kind: str) -> bool:
        if kind == "network" and self.libvirt_schemas is None and self.libvirt_schema_dir is not None:
            return True   # the schemas of the target release, named as such
        if kind == "network" and self.libvirt_schemas is None:
            # By default only when the installed schemas are the target's: libvirt 9.0's
            # network.rng knows nothing of what a document written for 11.3 may use.
            installed = versions.installed_once()
            return installed is None or installed[:2] == (self.libvirt_version or versions.NEWEST)[:2]
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
        folder = None if self.libvirt_schema_dir is None else Path(self.libvirt_schema_dir)
        theirs = schema.validate_libvirt(kind, root, folder)
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
               progress: Callable[[str], None] | None = None,
               libvirt_version: versions.Version | None = None,
               libvirt_schema_dir: str | None = None, scope: str = "run") -> list[Finding]:
    """Lint files and folders; one Linter for the run, so duplicates are found across files
    (across the files of each host, by ``scope``: xmltools.checks.crossfile.HostScope)."""
    paths = list(paths)
    linter = Linter(libvirt_schemas=libvirt_schemas, libvirt_version=libvirt_version,
                    libvirt_schema_dir=libvirt_schema_dir, hosts=HostScope.of(paths, scope))
    findings: list[Finding] = []
    found = collect(paths)
    for path, named in found.files:
        findings.extend(linter.lint_file(path, named))
        if progress is not None:
            progress(path)
    findings.extend(linter.finish(found.layout))
    findings.extend(linter.crossfile_findings())
    return findings


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)
