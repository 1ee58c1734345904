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


class ForeignDevice(HostError):
    template = "{step}: {what} {name!r} {reason}; refusing to touch a device the hook did not create or take"


class ForeignAddress(HostError):
    template = ("{step}: {address} is the guest address of domain {holder}; a domain forwards ports to "
                "its own guest only")


class DeadlineExceeded(HostError):
    template = "{step}: the hook's deadline of {seconds:g}s passed"


class InsecurePath(NetXmlError):
    """A configuration, mapping or state path others could change: the hook refuses to act."""

    template = "{what} {path}: {reason}; refusing to run (make it root-owned, not group/world-writable)"
    exit_code = 2


class UntrustedCode(NetXmlError):
    """The interpreter or a module path of an install could be changed by someone other than root."""

    template = ("{what}: {path}: {reason}; refusing to install a hook that would run it as root "
                "(install virt-netxml as root into a root-owned environment, e.g. a venv under /opt, "
                "not editable from a user's checkout: see 'Installing safely' in docs/hooks.md)")
    exit_code = 2


class VlanConflict(NetXmlError):
    template = ("interface {iface}: the metadata asks for VLAN {wish} but libvirt {libvirt} applies the "
                "port's own <vlan> ({vlan}) on this Linux bridge; the hook does not fight libvirt: make "
                "them agree or drop the metadata wish")
