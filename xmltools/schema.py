"""The project's RelaxNG grammars, libvirt's installed schemas and the metadata XML Schema.

Every grammar is compiled once per process and cached: compiling libvirt's domain.rng costs
about as much as validating fifty documents, and lint may see thousands of files.

The grammars ship inside the package (``xmltools.schemas``, mapped from the top-level ``rng/``
folder). An installed copy finds them through importlib.resources; a source checkout (or an
editable install, where a data-only folder is not importable) falls back to ``rng/`` beside
the package.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from xmltools import versions
from xmltools.errors import InputError
from xmltools.versions import Version

LIBVIRT_SCHEMA_DIR = Path("/usr/share/libvirt/schemas")
GRAMMARS = ("network", "interface")
METADATA_XSD = "netxml-metadata.xsd"


@dataclass(frozen=True)
class SchemaError:
    """One validation failure: the line it points at and a readable message."""

    line: int
    message: str


@functools.cache
def schema_dir() -> Path:
    """The folder holding network.rng, interface.rng and netxml-metadata.xsd."""
    try:
        from importlib.resources import files

        # xmltools.schemas is a data-only (namespace) package: files() gives a MultiplexedPath,
        # whose children are plain filesystem paths.
        grammar_file = Path(str(files("xmltools.schemas").joinpath("network.rng")))
        if grammar_file.is_file():
            return grammar_file.parent
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parent.parent / "rng"


def _compile_rng(path: Path) -> etree.RelaxNG:
    # Grammars are trusted files from this package or from libvirt's package; they include
    # siblings by relative href, which needs the file's own URL, hence etree.parse(path).
    return etree.RelaxNG(etree.parse(str(path)))


@functools.cache
def grammar(name: str) -> etree.RelaxNG:
    """The project's compiled grammar ``name`` ("network" or "interface")."""
    if name not in GRAMMARS:
        raise ValueError(f"unknown grammar {name!r}")
    return _compile_rng(schema_dir() / f"{name}.rng")


@functools.cache
def libvirt_schema(name: str, folder: Path | None = None) -> etree.RelaxNG | None:
    """libvirt's own compiled schema ``name`` (network, domain, ...), or None if not installed.

    ``folder``: where to find it; None is the installed schemas (LIBVIRT_SCHEMA_DIR).
    """
    path = (LIBVIRT_SCHEMA_DIR if folder is None else folder) / f"{name}.rng"
    if not path.is_file():
        return None
    return _compile_rng(path)


def libvirt_schemas_for(target: Version, given: str | None = None) -> tuple[Path | None, str]:
    """The folder of libvirt's schemas to check documents for ``target`` with, or None and why.

    ``given`` (``--libvirt-schema-dir``) is taken as the target release's schemas (another
    release's, e.g. a Debian root's usr/share/libvirt/schemas). Otherwise the installed ones,
    when they are of the target release or newer: a newer libvirt's schema accepts what an
    older one wrote, an older one refuses what appeared since.
    """
    if given is not None:
        folder = Path(given)
        if not folder.joinpath("basictypes.rng").is_file():
            raise InputError(source=given, detail="not a folder of libvirt's schemas (no basictypes.rng)")
        return folder, ""
    if not LIBVIRT_SCHEMA_DIR.is_dir():
        return None, f"libvirt's schemas are not installed ({LIBVIRT_SCHEMA_DIR})"
    installed = versions.installed_once()
    if installed is not None and installed[:2] < target[:2]:
        return None, (f"the installed schemas are libvirt {versions.show(installed)}'s, older than the "
                      f"target {versions.show(target)} (--libvirt-schema-dir names the target's)")
    return LIBVIRT_SCHEMA_DIR, ""


def validate(name: str, node: etree._Element) -> list[SchemaError]:
    """Validate ``node`` (a whole document's root or one element) against our grammar."""
    compiled = grammar(name)
    if compiled.validate(node):
        return []
    return [explain(compiled.error_log, node, vocabulary(name))]


def validate_libvirt(name: str, node: etree._Element, folder: Path | None = None) -> list[SchemaError] | None:
    """Validate against libvirt's installed schema (or the one in ``folder``); None when that
    schema is not installed."""
    schema = libvirt_schema(name, folder)
    if schema is None:
        return None
    return _run(schema, node)


def _run(schema: etree.RelaxNG, node: etree._Element) -> list[SchemaError]:
    if schema.validate(node):
        return []
    return [explain(schema.error_log, node)]


# libxml2 reports a failure as a chain: the specific problem first, then "failed to validate
# content" for every ancestor. These two kinds only repeat what an earlier entry said.
_GENERIC = {"RELAXNG_ERR_CONTENTVALID", "RELAXNG_ERR_INTERSEQ"}
_EXTRA_IN_INTERLEAVE = re.compile(r"Extra element (\S+) in interleave")
_EXTRA_CONTENT = re.compile(r"Element (\S+) has extra content: (\S+)")
_BAD_ATTRIBUTES = re.compile(r"Element (\S+) failed to validate attributes")
_INVALID_ATTRIBUTE = re.compile(r"Invalid attribute (\S+) for element (\S+)")


# element name -> (attribute names, child element names) the grammar declares for it anywhere;
# "*" stands for "any name".
Vocabulary = dict[str, tuple[frozenset[str], frozenset[str]]]
_RNG = "{http://relaxng.org/ns/structure/1.0}"


@functools.cache
def vocabulary(name: str) -> Vocabulary:
    """Which attributes and children each element of our grammar ``name`` may have.

    libxml2 says "Extra element X in interleave" whether X is misplaced, misspelt or carries
    a misspelt attribute; knowing the names the grammar declares lets the message say which.
    Built only when a document fails validation.
    """
    docs = [etree.parse(str(schema_dir() / f"{file}.rng")) for file in (name, "netxml-common")]
    defines = {d.get("name"): d for doc in docs for d in doc.iter(f"{_RNG}define")}

    def collect(pattern: etree._Element, attrs: set[str], kids: set[str], seen: set[str]) -> None:
        for child in pattern:
            if child.tag == f"{_RNG}attribute":
                attrs.add(child.get("name") or "*")
            elif child.tag == f"{_RNG}element":
                kids.add(child.get("name") or "*")  # its own content is its own business
            elif child.tag == f"{_RNG}ref":
                ref = child.get("name") or ""
                if ref not in seen and ref in defines:
                    seen.add(ref)
                    collect(defines[ref], attrs, kids, seen)
            elif isinstance(child.tag, str):
                collect(child, attrs, kids, seen)

    found: dict[str, tuple[set[str], set[str]]] = {}
    for doc in docs:
        for element in doc.iter(f"{_RNG}element"):
            if element.get("name"):
                attrs, kids = found.setdefault(element.get("name") or "", (set(), set()))
                collect(element, attrs, kids, set())
    return {k: (frozenset(a), frozenset(c)) for k, (a, c) in found.items()}


def _diagnose(node: etree._Element, vocab: Vocabulary) -> SchemaError | None:
    """The first unknown element or attribute in ``node``'s subtree, named, or None.

    libxml2 often blames an ancestor or a sibling of the real culprit; a misspelt name
    anywhere in the validated subtree is certainly an error, so it is the better report.
    """

    def walk(element: etree._Element, allowed_here: frozenset[str] | None) -> SchemaError | None:
        name = etree.QName(element).localname
        line = element.sourceline or 1
        if allowed_here is not None and "*" not in allowed_here and name not in allowed_here:
            parent = element.getparent()
            where = etree.QName(parent).localname if parent is not None else "?"
            return SchemaError(line, f"<{name}> is not allowed in <{where}>")
        if name not in vocab:
            return None
        attrs, kids = vocab[name]
        for attr in element.attrib:
            if "*" not in attrs and attr not in attrs:
                return SchemaError(line, f"<{name}> does not take attribute {attr!r}")
        if "*" in kids:
            return None  # free-form content (metadata, bus addresses)
        for child in element:
            if isinstance(child.tag, str):
                found = walk(child, kids)
                if found is not None:
                    return found
        return None

    return walk(node, None)


def explain(log: Any, node: etree._Element, vocab: Vocabulary | None = None) -> SchemaError:
    """Turn libxml2's RelaxNG error chain into one message with the line it concerns.

    With the grammar's ``vocab``, an unknown element or attribute is named precisely.
    """
    entries = list(log)
    if not entries:
        return SchemaError(node.sourceline or 1, "does not match the schema")
    for index, entry in enumerate(entries):
        if entry.type_name in _GENERIC:
            continue
        text = entry.message
        line = entry.line
        m = _EXTRA_IN_INTERLEAVE.match(text)
        if m:
            # This entry carries no line; the next entry with a path says where we were.
            where = next((e.path for e in entries[index + 1:] if e.path), None)
            precise = _diagnose(node, vocab) if vocab else None
            if precise is not None:
                return precise
            found = _locate(node, where, m.group(1))
            line = found.sourceline if found is not None and found.sourceline else line
            return SchemaError(line or node.sourceline or 1,
                               f"<{m.group(1)}> is misplaced or repeated, or an attribute value "
                               "or its content is invalid")
        m = _EXTRA_CONTENT.match(text)
        if m:
            return SchemaError(line or 1, f"<{m.group(2)}> is not allowed in <{m.group(1)}>")
        m = _BAD_ATTRIBUTES.match(text)
        if m:
            precise = _diagnose(node, vocab) if vocab else None
            if precise is not None:
                return precise
            return SchemaError(line or 1, f"<{m.group(1)}> has a missing or invalid attribute")
        m = _INVALID_ATTRIBUTE.match(text)
        if m:
            return SchemaError(line or 1, f"<{m.group(2)}> does not take attribute {m.group(1)!r}")
        return SchemaError(line or node.sourceline or 1, text)
    last = entries[-1]
    found = _locate(node, last.path, None)
    line = found.sourceline if found is not None and found.sourceline else last.line
    tag = found.tag if found is not None and isinstance(found.tag, str) else "element"
    return SchemaError(line or 1, f"<{etree.QName(tag).localname}> does not match the schema")


def _locate(node: etree._Element, path: str | None, name: str | None) -> etree._Element | None:
    """Find the element an error path (relative to the validated node) points at."""
    target: etree._Element | None = node
    if path:
        rest = path.lstrip("/").partition("/")[2]
        if rest:
            try:
                hits = node.xpath(rest)
            except etree.XPathError:
                hits = []
            target = hits[0] if hits and isinstance(hits[0], etree._Element) else node
    if name is None or target is None:
        return target
    if target.tag == name:
        return target
    for scope in (target, target.getparent()):
        if scope is None:
            continue
        for child in scope.iterchildren(name):
            return child
    return target


# ----------------------------------------------------------------------------------------
# The project's metadata vocabulary (XML Schema 1.1, validated with the xmlschema package).
# xmlschema costs ~190 ms to import, so it is imported here only when a document actually
# contains the namespace, and never by the hooks.


@functools.cache
def metadata_schema() -> Any:
    """The compiled XML Schema of the ``urn:virt-netxml:hooks:1`` vocabulary."""
    import xmlschema

    return xmlschema.XMLSchema11(str(schema_dir() / METADATA_XSD))


def validate_metadata(node: etree._Element) -> list[SchemaError]:
    """Validate one ``<vnx:netxml>`` element; one SchemaError per problem found."""
    errors: list[SchemaError] = []
    for err in metadata_schema().iter_errors(node):
        elem = getattr(err, "elem", None)
        index = getattr(err, "index", None)
        if elem is not None and isinstance(index, int) and 0 <= index < len(elem):
            elem = elem[index]  # "unexpected child": point at the child, not its parent
        line = getattr(elem, "sourceline", None) or node.sourceline or 1
        reason = err.reason or err.message
        where = "netxml"
        if elem is not None and isinstance(elem.tag, str):
            where = etree.QName(elem.tag).localname
        errors.append(SchemaError(line, f"<vnx:{where}>: {reason}"))
    return errors
