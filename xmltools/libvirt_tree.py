"""libvirt's configuration tree as lint sees it: which files are documents, autostart links,
and the checks across documents that libvirt itself makes only later.

The layout (/etc/libvirt on Debian, or a copy of it in a configuration repository):

- ``qemu/*.xml`` domains, ``qemu/networks/*.xml`` networks, ``storage/*.xml`` pools,
  ``secrets/*.xml`` secrets, ``nwfilter/*.xml`` filters (Debian ships libvirt's built-in ones
  there); lint tells each document's kind from its root element (xmltools.kinds), wherever it is.
- ``autostart/`` folders (``qemu/autostart``, ``qemu/networks/autostart``,
  ``storage/autostart``): one symbolic link ``NAME.xml`` per object started with the host, to
  the definition ``NAME.xml`` in the folder above. libvirt writes the link with the absolute
  path of the definition (``symlink(configFile, autostartLink)``, configFile being
  ``/etc/libvirt/qemu/networks/NAME.xml``) and, at start, autostarts a definition when the
  link resolves to it. An autostart entry is never read as a document (the definition is read
  once, as itself), and never read through.
- ``secrets/*.base64`` hold secret values: only ``*.xml`` files are ever opened, so neither
  they nor anything else that is not named ``*.xml`` is read, let alone printed.

Autostart links in a copy of the tree. A copy (a backup, a configuration repository, a test's
tmp folder) keeps the links as libvirt wrote them, pointing at the host's /etc/libvirt, where
the file may or may not exist, and may differ from the copy. Lint judges a link against the
tree it lints, never the host: the link is fine when the definition ``NAME.xml`` exists beside
its autostart folder and the link points at it, by a relative or absolute path to that file or
by an absolute path ending in the same ``FOLDER/NAME.xml`` (a copied tree's link to the
original). A link with no definition beside it is an error (``autostart-missing``: libvirt
would start nothing); a link to another file, or a regular file in autostart/, a warning
(``autostart-target``: libvirt does not autostart the definition through it).

Files named ``*.xml`` that are not XML (a binary, a template) are recognised from their first
bytes (``looks_like_xml``) and skipped without being parsed; a file larger than lint's input
limit is refused from its size, without being read.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from lxml import etree

from xmltools.checks import Severity
from xmltools.errors import InputError, InputTooLarge
from xmltools.fileio import kind_of, open_regular, read_to_limit

AUTOSTART = "autostart"
NWFILTER = "nwfilter"
SNIFF_BYTES = 512

Problem = tuple[str, int, Severity, str, str]   # path, line, severity, code, message


# -- reading ------------------------------------------------------------------------------

def looks_like_xml(head: bytes) -> bool:
    """Whether the first bytes of a file can start an XML document.

    After an optional byte order mark and white space, XML starts with '<'. A UTF-16 document
    (its BOM, or '<' followed by a NUL) is XML too; any other NUL byte means a binary file.
    """
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"<\x00", b"\x00<")):
        return True
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if b"\x00" in head:
        return False
    text = head.lstrip(b" \t\r\n")
    return text.startswith(b"<") or not text   # an empty file is XML's problem, said as such


def read_document(path: str, limit: int, *, follow: bool = True) -> bytes | None:
    """The bytes of the regular file ``path`` if it looks like XML, None if it does not.

    Like fileio.read_regular (O_NONBLOCK, O_NOFOLLOW unless ``follow``, fstat: NotRegularFile
    for anything but a regular file), and: a file larger than ``limit`` is InputTooLarge from
    its size alone, and only the first SNIFF_BYTES are read before deciding it is XML.
    """
    fd, st = open_regular(path, follow=follow)
    try:
        if st.st_size > limit:
            raise InputTooLarge(source=path, limit=limit)
        try:
            head = os.read(fd, SNIFF_BYTES)
        except OSError as exc:
            raise InputError(source=path, detail=exc.strerror or str(exc)) from None
        if not looks_like_xml(head):
            return None
        return read_to_limit(fd, path, limit, head)   # InputTooLarge if it grew since fstat
    finally:
        os.close(fd)


# -- the layout ---------------------------------------------------------------------------

@dataclass
class Layout:
    """What the folder walks of one run found of libvirt's layout."""

    autostart: list[str] = field(default_factory=list)   # entries of autostart/ folders
    nwfilter_folders: list[str] = field(default_factory=list)

    def note_folder(self, folder: str) -> None:
        if os.path.basename(os.path.normpath(folder)) == NWFILTER and folder not in self.nwfilter_folders:
            self.nwfilter_folders.append(folder)


def in_autostart(path: str) -> bool:
    """Whether ``path`` is an entry of an autostart/ folder."""
    return os.path.basename(os.path.dirname(path)) == AUTOSTART


def check_autostart(entry: str) -> list[Problem]:
    """Judge one entry of an autostart/ folder against the tree it is in (see the module)."""
    name = os.path.basename(entry)
    folder = os.path.dirname(os.path.dirname(entry))          # the folder above autostart/
    definition = os.path.join(folder, name)
    try:
        st = os.lstat(entry)
    except OSError:
        return []   # gone since the walk listed it
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(entry)
        except OSError:
            return []
        what = f"autostart link to {target}"
    else:
        target = None
        what = f"autostart entry ({kind_of(st.st_mode)})"
    if not os.path.lexists(definition):
        return [(entry, 1, "error", "autostart-missing",
                 f"{what}: there is no {name} in {folder}{os.sep}, the definition libvirt would start; "
                 "libvirt starts nothing through this link")]
    if target is None:
        if stat.S_ISREG(st.st_mode) and _same_file(entry, definition):
            return []   # a hard link: libvirt compares the files themselves, and so do we
        return [(entry, 1, "warning", "autostart-target",
                 f"{what}: not a link to {definition}; libvirt does not autostart {name} through it")]
    if _points_at(entry, target, definition):
        return []
    return [(entry, 1, "warning", "autostart-target",
             f"{what}: libvirt autostarts {name} only through a link to {definition}; "
             f"this link points elsewhere")]


def _same_file(a: str, b: str) -> bool:
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _points_at(entry: str, target: str, definition: str) -> bool:
    """Whether the link text ``target`` of ``entry`` names ``definition`` (see the module)."""
    if not os.path.isabs(target):
        return os.path.normpath(os.path.join(os.path.dirname(entry), target)) == os.path.normpath(definition)
    wanted = os.path.normpath(os.path.abspath(definition))
    target = os.path.normpath(target)
    if target in (wanted, os.path.realpath(wanted)):
        return True
    # A copied tree: the link still names the original tree's file. The same folder name and
    # file name is the same definition.
    tail = os.sep + os.path.join(os.path.basename(os.path.dirname(wanted)), os.path.basename(wanted))
    return target.endswith(tail)


# -- across documents ---------------------------------------------------------------------

@dataclass
class CrossDocuments:
    """What the documents of one run say about each other: nwfilters and their users."""

    filters: set[str] = field(default_factory=set)
    references: list[tuple[str, int, str]] = field(default_factory=list)   # path, line, filter

    def note(self, root: etree._Element, path: str) -> None:
        """Remember the filter a document defines and the filters it references."""
        if root.tag == "filter" and root.get("name"):
            self.filters.add(root.get("name") or "")
        if root.tag not in ("domain", "interface", "filter", "filterbinding"):
            return
        for ref in root.iter("filterref"):
            name = ref.get("filter")
            if name:
                self.references.append((path, ref.sourceline or 1, name))

    def problems(self, layout: Layout) -> list[Problem]:
        """References to nwfilters the tree does not define, when the run has an nwfilter/ folder
        (without it, the filters live elsewhere: nothing can be said)."""
        if not layout.nwfilter_folders:
            return []
        where = ", ".join(layout.nwfilter_folders)
        return [(path, line, "error", "nwfilter-missing",
                 f"<filterref filter='{name}'>: no nwfilter named {name!r} in {where}; libvirt refuses "
                 "to start the guest (or to instantiate the filter) without it")
                for path, line, name in self.references if name not in self.filters]
