"""Which libvirt a document is written for: the target version and what each version knows.

The project's grammars (rng/) cover the network and interface vocabulary of the newest libvirt
it knows (``NEWEST``). What appeared after libvirt 9.0 is listed in ``FEATURES`` with the
release that introduced it, so that lint can tell a user of an older libvirt which element
needs a newer one (finding ``needs-libvirt``) instead of letting libvirt refuse the document
when it is defined. Rules that change behaviour between versions (a Linux bridge's <vlan>)
live in xmltools.rules and take the target as an argument.

The target comes from ``--libvirt-version X.Y[.Z]``, else ``VIRT_NETXML_LIBVIRT_VERSION``,
else the daemon's version when the command has a ``--connect`` URI, else the libvirt installed
on this machine, else ``NEWEST``. The installed version is read without starting a process or
opening a connection (microseconds to a few milliseconds):

1. ``libvirt.pc`` (pkg-config file of libvirt-dev): its ``Version:`` line;
2. Debian's package database, ``/var/lib/dpkg/status``: the ``Version:`` of the installed
   ``libvirt-daemon`` (or ``libvirt0``, the library every libvirt host has) package.

``virsh version`` or ``libvirtd --version`` would be exact on any distribution but start a
process (tens of milliseconds); a host that has neither file gets ``NEWEST``, and can say
otherwise with the option or the environment variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from xmltools.errors import InvalidValue

Version = tuple[int, int, int]

BASELINE: Version = (9, 0, 0)   # Debian 12's libvirt: the oldest release the project targets
NEWEST: Version = (11, 3, 0)    # Debian 13's libvirt: the newest whose vocabulary rng/ covers
KNOWN: tuple[Version, ...] = (BASELINE, NEWEST)   # the releases whose test corpora CI checks

ENV = "VIRT_NETXML_LIBVIRT_VERSION"
PKGCONFIG_FILES = ("/usr/lib/x86_64-linux-gnu/pkgconfig/libvirt.pc", "/usr/lib64/pkgconfig/libvirt.pc",
                   "/usr/lib/pkgconfig/libvirt.pc", "/usr/share/pkgconfig/libvirt.pc")
DPKG_STATUS = "/var/lib/dpkg/status"
DPKG_PACKAGES = ("libvirt-daemon", "libvirt0")

_VERSION_RE = re.compile(r"(\d{1,4})\.(\d{1,4})(?:\.(\d{1,4}))?")


def parse(text: str, what: str = "--libvirt-version") -> Version:
    """'11.3' -> (11, 3, 0); '9.0.0' -> (9, 0, 0). Anything else is an InvalidValue."""
    match = _VERSION_RE.fullmatch(text.strip())
    if match is None:
        raise InvalidValue(what=what, value=text, reason="expected a libvirt version X.Y or X.Y.Z, e.g. 11.3")
    major, minor, micro = match.groups()
    version = (int(major), int(minor), int(micro or 0))
    if version < (1, 0, 0):
        raise InvalidValue(what=what, value=text, reason="not a libvirt release")
    return version


def show(version: Version) -> str:
    return ".".join(str(part) for part in version)


def _debian_version(text: str) -> Version | None:
    """'11.3.0-3+deb13u3' -> (11, 3, 0); an epoch ('1:9.0.0-4') is dropped."""
    match = _VERSION_RE.match(text.strip().partition(":")[2] if ":" in text else text.strip())
    if match is None:
        return None
    major, minor, micro = match.groups()
    return (int(major), int(minor), int(micro or 0))


def installed(root: str = "/") -> Version | None:
    """The libvirt installed on this machine (see the module's docstring), or None."""
    for name in PKGCONFIG_FILES:
        try:
            with open(os.path.join(root, name.lstrip("/")), encoding="utf-8") as f:
                for line in f:
                    if line.startswith("Version:"):
                        found = _debian_version(line.partition(":")[2])
                        if found is not None:
                            return found
        except OSError:
            continue
    try:
        with open(os.path.join(root, DPKG_STATUS.lstrip("/")), encoding="utf-8", errors="replace") as f:
            status = f.read()
    except OSError:
        return None
    for package in DPKG_PACKAGES:
        at = status.find(f"\nPackage: {package}\n")
        if at < 0 and status.startswith(f"Package: {package}\n"):
            at = 0
        if at < 0:
            continue
        end = status.find("\n\n", at + 1)
        stanza = status[at:end if end >= 0 else len(status)]
        if "\nStatus: install ok installed" not in stanza:
            continue
        match = re.search(r"^Version: (.+)$", stanza, re.MULTILINE)
        if match is not None:
            found = _debian_version(match.group(1))
            if found is not None:
                return found
    return None


_INSTALLED: list[Version | None] = []


def installed_once() -> Version | None:
    """``installed()`` of this machine, read once per process."""
    if not _INSTALLED:
        _INSTALLED.append(installed())
    return _INSTALLED[0]


def from_number(number: int) -> Version:
    """libvirt's version number (virConnectGetLibVersion: 11003000) -> (11, 3, 0)."""
    return (number // 1_000_000, number // 1000 % 1000, number % 1000)


@dataclass(frozen=True)
class Target:
    """The libvirt version a command writes or checks for, and where it came from."""

    version: Version
    origin: str   # "option", "environment", "daemon", "installed" or "default"

    @property
    def given(self) -> bool:
        return self.origin in ("option", "environment")

    def describe(self) -> str:
        how = {"option": "given with --libvirt-version", "environment": f"from {ENV}",
               "daemon": "the daemon's version", "installed": "the libvirt installed on this machine",
               "default": "the newest version virt-netxml knows; no libvirt is installed here"}
        return f"libvirt {show(self.version)} ({how[self.origin]})"


def resolve(option: str | None = None, daemon: Callable[[], Version] | None = None,
            root: str = "/") -> Target:
    """The target version of a command (see the module's docstring for the order).

    ``daemon`` asks the daemon of the command's --connect URI (the command line's
    libvirt_conn.daemon_version); it is called only when neither option nor environment say.
    """
    if option is not None:
        return Target(parse(option), "option")
    env = os.environ.get(ENV)
    if env:
        return Target(parse(env, ENV), "environment")
    if daemon is not None:
        return Target(daemon(), "daemon")
    found = installed(root)
    if found is not None:
        return Target(found, "installed")
    return Target(NEWEST, "default")


# ------------------------------------------------------------------ vocabulary after libvirt 9.0

@dataclass(frozen=True)
class Feature:
    """An element or attribute libvirt accepts only since ``since``.

    ``kind``: the document part it belongs to ("network", or "interface" for a domain's or a
    standalone <interface>); ``xpath``: where it is, relative to that element (it selects the
    element to report); ``what``: how a message names it.
    """

    kind: str
    xpath: str
    what: str
    since: Version
    source: str


FEATURES: tuple[Feature, ...] = (
    # docs/formatnetwork.rst, "General metadata": "title ... Since 9.7.0", "description ... Since 9.7.0"
    Feature("network", "title", "<title> of a network", (9, 7, 0), "formatnetwork: Since 9.7.0"),
    Feature("network", "description", "<description> of a network", (9, 7, 0), "formatnetwork: Since 9.7.0"),
    # docs/formatnetwork.rst, <domain>: "Since 10.1.0 the optional register attribute"
    Feature("network", "domain[@register]", "<domain register=...> of a network", (10, 1, 0),
            "formatnetwork: Since 10.1.0"),
    # docs/formatnetwork.rst, <forward mode='hostdev'>: "driver sub-element with a model attribute
    # ... Since 10.0.0 (QEMU only)"; tests/networkxml2xmlin/hostdev-pf-driver-model.xml
    Feature("network", "forward/driver[@model]", "<driver model=...> of a hostdev network", (10, 0, 0),
            "formatnetwork: Since 10.0.0"),
    # NEWS 10.0.0 "qemu: automatic selection/binding of VFIO variant drivers ... A specific
    # driver can also be forced, using the <driver model='plugh'/> attribute"
    Feature("interface", "self::interface[@type='hostdev']/driver[@model]",
            "<driver model=...> of a hostdev interface", (10, 0, 0), "NEWS 10.0.0"),
    # NEWS 11.1.0 "Support using passt as the backend for interface type='vhostuser'";
    # docs/formatdomain.rst "Since 11.1.0 (QEMU and KVM only) ... passt backend with type='vhostuser'"
    Feature("interface", "self::interface[@type='vhostuser']/backend[@type='passt']",
            "<backend type='passt'> on a vhostuser interface", (11, 1, 0), "NEWS 11.1.0"),
    # docs/formatdomain.rst, vhost-user: "Since 11.1.0 the default source type for vhostuser
    # interfaces is 'unix' and default mode is 'client', so those two attributes are now optional"
    Feature("interface", "self::interface[@type='vhostuser']/source[not(@type) or not(@mode)]",
            "<source> without type='unix' and mode on a vhostuser interface", (11, 1, 0),
            "formatdomain: Since 11.1.0"),
    # docs/formatdomain.rst, NIC models: "igb (Since 9.3.0)", "usb-net (Since 10.3.0)"
    Feature("interface", "model[@type='igb']", "<model type='igb'>", (9, 3, 0), "formatdomain: Since 9.3.0"),
    Feature("interface", "model[@type='usb-net']", "<model type='usb-net'>", (10, 3, 0),
            "formatdomain: Since 10.3.0"),
)


def needs(kind: str, target: Version) -> list[Feature]:
    """The features of ``kind`` that ``target`` does not know yet."""
    return [f for f in FEATURES if f.kind == kind and f.since > target]
