"""What the planner reads from a domain's ``<interface>`` elements and from a document's
metadata: one ``Nic`` per interface, read through the model (``xmltools.interface``)."""

from __future__ import annotations

from lxml import etree

from xmltools.interface import BridgeSource, DirectSource, HostdevSource, Interface, NetworkSource
from xmltools.metadata import NetXmlMeta, find_meta
from xmltools.names import validate_interface_name

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from dataclasses import dataclass
else:
    from xmltools.record import dataclass


@dataclass(frozen=True)
class Nic:
    """What the planner needs from one domain ``<interface>``; ``model`` is the element read
    through ``xmltools.interface.Interface`` (its source as the class for the type)."""

    model: Interface
    type: str
    mac: str
    dev: str | None
    bridge: str | None
    ovs: bool
    source_dev: str | None
    source_mode: str | None

    @property
    def node(self) -> etree._Element:
        return self.model.node

    @property
    def managed(self) -> str | None:
        """``<target managed>`` as written (libvirt's schema allows only yes and no)."""
        target = self.node.find("target")
        return target.get("managed") if target is not None else None

    @property
    def label(self) -> str:
        return f"{self.mac} ({self.dev})" if self.dev else self.mac

    def hostdev_address(self) -> str | None:
        """The PCI address of a hostdev's ``<source><address>`` (None when not a PCI one)."""
        source = self.model.source
        address = source.address if isinstance(source, HostdevSource) else None
        return str(address) if address is not None else None


def nics(root: etree._Element) -> list[Nic]:
    out = []
    for node in root.iterfind("devices/interface"):
        iface = Interface(node)
        source = iface.source
        vport = iface.virtualport
        dev = iface.target_dev
        out.append(Nic(
            model=iface, type=iface.type or "", mac=(iface.mac or "").lower(),
            dev=validate_interface_name(dev, "target dev") if dev else None,
            bridge=source.bridge if isinstance(source, (BridgeSource, NetworkSource)) else None,
            ovs=vport is not None and vport.type == "openvswitch",
            source_dev=source.dev if isinstance(source, DirectSource) else None,
            source_mode=source.mode if isinstance(source, DirectSource) else None,
        ))
    return out


def meta_of(root: etree._Element) -> NetXmlMeta | None:
    return find_meta(root)


def uuid_of(node: etree._Element | None) -> str | None:
    return node.findtext("uuid") if node is not None else None
