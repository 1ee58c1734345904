"""Model of a domain ``<interface>`` (a guest NIC), editing the parsed tree in place.

The ``<source>`` element means something different for each interface type, so it is read
through :attr:`Interface.source`, which returns the class that fits the type (a tagged union):
``network`` -> :class:`NetworkSource`, ``bridge`` -> :class:`BridgeSource`, ``direct``
(macvtap) -> :class:`DirectSource`, ``hostdev`` (an SR-IOV VF) -> :class:`HostdevSource`,
``ethernet`` -> :class:`EthernetSource`, ``vhostuser`` -> :class:`VhostUserSource`.

Live XML (what a running domain or the ``start`` hook shows) adds attributes to the source:
a ``type='network'`` interface then appears as ``bridge`` or ``direct`` and still names its
network, portgroup and port id. Those attributes are modelled on every class that can carry
them, so the hooks read them with the same model.
"""

from __future__ import annotations

from lxml import etree

from xmltools.common import Bandwidth, VirtualPort, Vlan
from xmltools.errors import WrongDocument
from xmltools.fields import INT, ONOFF, YESNO, Child, Children, Field, XmlModel, attach, detach
from xmltools.names import PciAddress
from xmltools.rules import MACVTAP_MODES

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from typing import ClassVar

#: Every ``type`` libvirt 9.0 accepts on a domain interface.
INTERFACE_TYPES = (
    "network", "bridge", "direct", "hostdev", "ethernet", "user", "vhostuser", "vdpa",
    "server", "client", "mcast", "udp", "null", "vds", "internal",
)
#: macvtap modes of ``<source dev='…' mode='…'/>`` on a ``direct`` interface.
DIRECT_MODES = MACVTAP_MODES
LINK_STATES = ("up", "down")

# The order libvirt writes an interface's children in (virDomainNetDefFormat); a child the
# model adds lands before the first sibling that libvirt writes later.
INTERFACE_ORDER: tuple[str, ...] = (
    "mac", "source", "vlan", "virtualport", "bandwidth", "port", "actual", "ip", "route",
    "portForward", "script", "downscript", "backenddomain", "target", "guest", "model", "driver",
    "backend", "filterref", "tune", "teaming", "link", "mtu", "coalesce", "boot", "alias",
    "master", "rom", "acpi", "address",
)
# A hostdev interface's <driver name='vfio'/> belongs to the PCI device and is written before
# its <source>, unlike a virtio NIC's <driver> which follows <model>.
HOSTDEV_ORDER: tuple[str, ...] = ("mac", "driver") + tuple(
    t for t in INTERFACE_ORDER if t not in ("mac", "driver"))


# --------------------------------------------------------------------------- sources


class _Source(XmlModel):
    """Common base of the per-type ``<source>`` models."""

    TAG = "source"
    #: Attributes this class owns: cleared when the interface changes type, so attributes
    #: of the old type do not linger while unknown ones survive.
    ATTRS: ClassVar[tuple[str, ...]] = ()
    #: Child elements libvirt's schema lets this type's ``<source>`` hold; the others go when
    #: an interface changes to this type (a vhostuser's ``<reconnect>`` means nothing to a
    #: network). None: a type the project does not model, whose children are left alone.
    CHILDREN: ClassVar[tuple[str, ...] | None] = None


class NetworkSource(_Source):
    """``<source network='…' [portgroup='…']/>``; ``portid``/``bridge`` appear in live XML."""

    ATTRS = ("network", "portgroup", "portid", "bridge", "macTableManager")
    CHILDREN = ()
    network = Field("@network")
    portgroup = Field("@portgroup")
    portid = Field("@portid")
    bridge = Field("@bridge")
    mac_table_manager = Field("@macTableManager")


class BridgeSource(_Source):
    """``<source bridge='…'/>``; live XML of a network interface adds network/portgroup/portid."""

    ATTRS = ("bridge", "macTableManager", "network", "portgroup", "portid")
    CHILDREN = ()
    bridge = Field("@bridge")
    mac_table_manager = Field("@macTableManager")
    network = Field("@network")
    portgroup = Field("@portgroup")
    portid = Field("@portid")


class DirectSource(_Source):
    """macvtap: ``<source dev='uplink' mode='vepa|bridge|private|passthrough'/>``."""

    ATTRS = ("dev", "mode", "network", "portgroup", "portid")
    CHILDREN = ()
    dev = Field("@dev")
    mode = Field("@mode")
    network = Field("@network")
    portgroup = Field("@portgroup")
    portid = Field("@portid")


class HostdevSource(_Source):
    """``<source><address type='pci' domain bus slot function/></source>`` naming a VF."""

    ATTRS = ()
    CHILDREN = ("address", "vendor", "product")
    address_type = Field("address/@type")

    @property
    def address(self) -> PciAddress | None:
        node = self.node.find("address")
        if node is None or node.get("type", "pci") != "pci":
            return None
        return PciAddress.from_attrs(node.get("domain"), node.get("bus"), node.get("slot"),
                                     node.get("function"))

    @address.setter
    def address(self, value: PciAddress | None) -> None:
        node = self.node.find("address")
        if value is None:
            if node is not None:
                detach(node)
            return
        if node is None:
            node = etree.Element("address")
            attach(self.node, node)
        node.set("type", "pci")
        for key, text in value.attrs().items():
            node.set(key, text)


class EthernetSource(_Source):
    """An ``ethernet`` interface has no source of its own (libvirt uses the element only for
    host-side IP settings, which are left as they are)."""

    CHILDREN = ("ip", "route")


class VhostUserSource(_Source):
    """``<source type='unix' path='…' mode='client|server'/>``."""

    ATTRS = ("type", "path", "mode")
    CHILDREN = ("reconnect",)
    type = Field("@type")
    path = Field("@path")
    mode = Field("@mode")


SOURCE_CLASSES: dict[str, type[_Source]] = {
    "network": NetworkSource,
    "bridge": BridgeSource,
    "direct": DirectSource,
    "hostdev": HostdevSource,
    "ethernet": EthernetSource,
    "vhostuser": VhostUserSource,
}
_ALL_SOURCE_ATTRS = tuple(sorted({a for cls in SOURCE_CLASSES.values() for a in cls.ATTRS}))

#: The interface types each ``<virtualport type>`` serves: an Open vSwitch or MidoNet port is
#: a bridge port, an 802.1Qbg/Qbh profile is negotiated by a macvtap uplink's (or a VF's)
#: switch; a network interface takes any (its network decides), and only a network interface
#: takes a profile without a type (merged with the network's).
VIRTUALPORT_TYPES_FOR: dict[str | None, tuple[str, ...]] = {
    "openvswitch": ("bridge", "network"),
    "midonet": ("bridge", "network"),
    "802.1Qbg": ("direct", "network"),
    "802.1Qbh": ("direct", "hostdev", "network"),
    None: ("network",),
}
#: Interface types whose NIC QEMU reaches through passt (``<backend type='passt'>``, with
#: ``<portForward>`` rules).
PASST_TYPES = ("user", "vhostuser")


# --------------------------------------------------------------------------- other children


class InterfaceDriver(XmlModel):
    """``<driver name='vhost|qemu|vfio' queues='N' …/>``."""

    TAG = "driver"
    name = Field("@name")
    queues = Field("@queues", INT)
    txmode = Field("@txmode")
    rx_queue_size = Field("@rx_queue_size", INT)
    tx_queue_size = Field("@tx_queue_size", INT)


class InterfaceRom(XmlModel):
    """``<rom bar='on|off' file='…' enabled='yes|no'/>``."""

    TAG = "rom"
    bar = Field("@bar", ONOFF)
    file = Field("@file")
    enabled = Field("@enabled", YESNO)


class FilterParameter(XmlModel):
    TAG = "parameter"
    name = Field("@name")
    value = Field("@value")


class FilterRef(XmlModel):
    """``<filterref filter='clean-traffic'><parameter name='IP' value='…'/></filterref>``."""

    TAG = "filterref"
    filter = Field("@filter")
    parameters = Children(FilterParameter, "parameter")


# --------------------------------------------------------------------------- interface


class Interface(XmlModel):
    """A domain ``<interface>`` element."""

    TAG = "interface"
    ORDER = INTERFACE_ORDER

    type = Field("@type")
    #: ``managed`` on the element itself: hostdev interfaces (libvirt detaches the VF from its
    #: host driver and reattaches it afterwards).
    managed = Field("@managed", YESNO)
    trust_guest_rx_filters = Field("@trustGuestRxFilters", YESNO)
    mac = Field("mac/@address")
    vlan = Child(Vlan, "vlan")
    virtualport = Child(VirtualPort, "virtualport")
    bandwidth = Child(Bandwidth, "bandwidth")
    target_dev = Field("target/@dev")
    #: ``managed='no'`` on ``<target>``: an ethernet interface uses a TAP that exists already.
    target_managed = Field("target/@managed", YESNO)
    model = Field("model/@type")
    driver = Child(InterfaceDriver, "driver")
    filterref = Child(FilterRef, "filterref")
    link_state = Field("link/@state")
    mtu = Field("mtu/@size", INT)
    boot_order = Field("boot/@order", INT)
    alias = Field("alias/@name")
    rom = Child(InterfaceRom, "rom")

    def _order_for(self, parent: etree._Element) -> tuple[str, ...]:
        if parent is self.node and self.node.get("type") == "hostdev":
            return HOSTDEV_ORDER
        return super()._order_for(parent)

    @classmethod
    def from_xml(cls, data: bytes | str, source: str = "<input>") -> Interface:
        """Parse a standalone ``<interface>`` document (e.g. a file for ``virsh attach-device``)."""
        from xmltools.xmlparse import parse_bytes

        root = parse_bytes(data, source=source).getroot()
        if root.tag != "interface":
            raise WrongDocument(source=source, expected="<interface>", found=root.tag)
        return cls(root)

    # ---- source as a tagged union

    @property
    def source(self) -> _Source | None:
        """The ``<source>`` as the class for this interface's type, None when absent.

        Types without a dedicated class (user, udp, …) get the generic base, which still
        lets a caller reach the element.
        """
        node = self.node.find("source")
        if node is None:
            return None
        return SOURCE_CLASSES.get(self.type or "", _Source)(node)

    def source_or_create(self) -> _Source:
        found = self.source
        if found is not None:
            return found
        node = etree.Element("source")
        attach(self.node, node, self._order_for(self.node))
        return SOURCE_CLASSES.get(self.type or "", _Source)(node)

    def change_type(self, new_type: str, dropped: list[str] | None = None) -> _Source | None:
        """Switch the interface to ``new_type`` and return its source for the new type.

        What belonged to the old connection and the new type does not take goes, and is named
        in ``dropped`` (when given) so the caller can say so:

        - attributes any source class owns (a ``bridge='…'`` does not linger on a network
          source), and ``<source>`` children the new type's source does not hold (a
          vhostuser's ``<reconnect>``, an ethernet's host-side ``<ip>``, a VF's address);
          unknown attributes survive;
        - a ``<virtualport>`` whose type the new type does not serve (an 802.1Qbg profile of
          a macvtap uplink on a bridge port, an Open vSwitch port on a macvtap);
        - an unmanaged ``<target managed='no'>``: only an ethernet interface uses a TAP made
          outside libvirt; as a bridge or network port libvirt makes its own;
        - the ``floor`` of ``<inbound>``: only a network interface gets a guaranteed rate;
        - passt's ``<backend type='passt'>`` and ``<portForward>`` rules, off user/vhostuser;
        - leaving ``hostdev``: what only a VF has (``managed``, the vfio driver).

        Types that carry no source return None.
        """
        said = dropped if dropped is not None else []
        old_type = self.type
        self.type = new_type
        if old_type == "hostdev" and new_type != "hostdev":
            if self.node.get("managed") is not None:
                said.append(f"managed='{self.node.get('managed')}'")
                self.managed = None
            driver = self.driver
            if driver is not None and driver.name == "vfio":
                said.append("<driver name='vfio'>")
                self.driver = None
        node = self.node.find("source")
        cls = SOURCE_CLASSES.get(new_type)
        if node is not None:
            for attr in _ALL_SOURCE_ATTRS:
                node.attrib.pop(attr, None)
            keep = cls.CHILDREN if cls is not None else None
            for child in list(node):
                if keep is not None and isinstance(child.tag, str) and child.tag not in keep:
                    said.append(f"<{child.tag}> of <source>")
                    detach(child)
            if not len(node) and not node.attrib:
                detach(node)
        self._drop_leftovers(new_type, said)
        if cls is None or cls is EthernetSource:
            return self.source
        return self.source_or_create()

    def _drop_leftovers(self, new_type: str, said: list[str]) -> None:
        vport = self.virtualport
        if vport is not None and vport.type in VIRTUALPORT_TYPES_FOR and \
                new_type not in VIRTUALPORT_TYPES_FOR[vport.type]:
            said.append(f"<virtualport type='{vport.type}'>" if vport.type else "<virtualport>")
            self.virtualport = None
        target = self.node.find("target")
        if target is not None and target.get("managed") == "no" and new_type != "ethernet":
            said.append(f"<target dev='{target.get('dev')}' managed='no'>")
            detach(target)
        inbound = self.node.find("bandwidth/inbound")
        if inbound is not None and inbound.get("floor") is not None and new_type != "network":
            said.append("the floor of <inbound>")
            del inbound.attrib["floor"]
            if not inbound.attrib:
                bandwidth = inbound.getparent()
                detach(inbound)
                if bandwidth is not None and not len(bandwidth) and not bandwidth.attrib:
                    detach(bandwidth)
        if new_type not in PASST_TYPES:
            for node in [*self.node.findall("backend[@type='passt']"), *self.node.findall("portForward")]:
                said.append(f"<{node.tag}>" + (" (passt)" if node.tag == "backend" else ""))
                detach(node)

    # ---- conveniences used by the CLI and the hooks

    @property
    def is_ovs(self) -> bool:
        vport = self.virtualport
        return vport is not None and vport.type == "openvswitch"

    @property
    def filter_parameters(self) -> dict[str, str]:
        ref = self.filterref
        if ref is None:
            return {}
        return {p.name or "": p.value or "" for p in ref.parameters}

    @property
    def pci_address(self) -> PciAddress | None:
        """The guest-side PCI address libvirt assigned to the NIC (not a hostdev's source)."""
        node = self.node.find("address")
        if node is None or node.get("type") != "pci":
            return None
        return PciAddress.from_attrs(node.get("domain"), node.get("bus"), node.get("slot"),
                                     node.get("function"))
