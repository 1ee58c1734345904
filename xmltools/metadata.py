"""The project's own metadata vocabulary: networking wishes the hooks apply.

It lives in a domain's or a network's ``<metadata>`` under one element in the project's
namespace, so libvirt stores it untouched and hands it to every hook call::

    <metadata>
      <vnx:netxml xmlns:vnx="urn:virt-netxml:hooks:1">
        <!-- domain: one entry per interface, matched by MAC -->
        <vnx:interface mac="52:54:00:12:34:56">
          <vnx:vlan tag="10"/>                                   (access port)
          <vnx:vlan trunks="20,30-40" native="20" mode="native-untagged"/>
          <vnx:tap bridge="br0" owner="root" group="root" multi-queue="yes" vnet-hdr="yes"/>
          <vnx:ovs-setting table="Port" column="other_config" key="k" value="v"/>
          <vnx:vf pf="enp4s0f0" index="3" address="0000:04:10.0"/>
        </vnx:interface>
        <!-- network -->
        <vnx:bridge vlan-filtering="yes"/>
        <vnx:shim name="mvshim0" address="192.168.50.1/24"/>
        <vnx:sriov pf="enp4s0f0" numvfs="8"/>
        <vnx:portgroup name="trunk"><vnx:vlan trunks="20,30-40" native="20"/></vnx:portgroup>
      </vnx:netxml>
    </metadata>

Each VLAN is either an access ``tag`` or a ``trunks`` list (ids and ranges) with an optional
``native`` id; ``mode`` is Open vSwitch's vlan_mode (access, trunk, native-tagged,
native-untagged) and defaults from the other attributes.
"""

from __future__ import annotations

from lxml import etree

from xmltools.errors import InvalidValue
from xmltools.fields import INT, YESNO, Child, Children, Conv, Field, XmlModel, attach
from xmltools.rules import VLAN_MODES, parse_vlan_id, parse_vlan_list, vlan_id_problem

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from dataclasses import dataclass
else:
    from xmltools.record import dataclass

NS = "urn:virt-netxml:hooks:1"
PREFIX = "vnx"


def q(tag: str) -> str:
    """Clark-notation name of a tag in the project's namespace."""
    return f"{{{NS}}}{tag}"


def parse_vlan_ranges(text: str) -> list[tuple[int, int]]:
    """'20,30-40' -> [(20, 20), (30, 40)]: the project's VLAN list grammar
    (xmltools.rules.parse_vlan_list), without native marks."""
    return list(parse_vlan_list(text)[0])


# A VLAN id attribute of the metadata (tag, native): the same ids as every VLAN list.
VID: Conv[int] = Conv("VLAN id", parse_vlan_id, str)


def _check_vid(vid: int, what: str) -> None:
    problem = vlan_id_problem(vid)
    if problem:
        raise InvalidValue(what=what, value=str(vid), reason=problem)


class MetaVlan(XmlModel):
    TAG = q("vlan")
    tag = Field("@tag", VID)
    trunks = Field("@trunks")
    native = Field("@native", VID)
    mode = Field("@mode")

    def resolved(self) -> VlanWish:
        """Check the element and return its meaning as a plain value."""
        return VlanWish.from_attrs(self.tag, self.trunks, self.native, self.mode)


@dataclass(frozen=True)
class VlanWish:
    """An access tag, or trunk ranges with an optional native id, plus the OVS vlan_mode."""

    tag: int | None
    trunks: tuple[tuple[int, int], ...]
    native: int | None
    mode: str

    @classmethod
    def from_attrs(cls, tag: int | None, trunks: str | None, native: int | None,
                   mode: str | None) -> VlanWish:
        if tag is not None and trunks is not None:
            raise InvalidValue(what="VLAN", value=f"tag={tag} trunks={trunks}",
                               reason="give either an access tag or trunks, not both")
        if tag is None and trunks is None:
            raise InvalidValue(what="VLAN", value="", reason="needs a tag or trunks")
        if tag is not None:
            _check_vid(tag, "VLAN id")
        ranges = tuple(parse_vlan_ranges(trunks)) if trunks is not None else ()
        if native is not None:
            if tag is not None:
                raise InvalidValue(what="VLAN", value=f"native={native}",
                                   reason="a native VLAN needs trunks")
            _check_vid(native, "native VLAN")
        if mode is None:
            mode = "access" if tag is not None else (
                "native-untagged" if native is not None else "trunk")
        if mode not in VLAN_MODES:
            raise InvalidValue(what="VLAN mode", value=mode, reason="expected " + ", ".join(VLAN_MODES))
        if mode == "access" and tag is None:
            raise InvalidValue(what="VLAN mode", value=mode, reason="access mode needs a tag")
        if mode.startswith("native") and native is None:
            raise InvalidValue(what="VLAN mode", value=mode, reason=f"{mode} needs a native id")
        return cls(tag, ranges, native, mode)

    def trunk_ids(self) -> list[int]:
        return [v for lo, hi in self.trunks for v in range(lo, hi + 1)]


class MetaTap(XmlModel):
    TAG = q("tap")
    bridge = Field("@bridge")
    owner = Field("@owner")
    group = Field("@group")
    multi_queue = Field("@multi-queue", YESNO)
    vnet_hdr = Field("@vnet-hdr", YESNO)


# What a domain may set with <vnx:ovs-setting>: (table, column, key) -> the values allowed.
# The hooks run as root and write what the domain's XML asks for into the guest's own Port and
# Interface rows; an entry belongs here only if it changes what happens on that one port and
# cannot reach other ports, the bridge or the controller's view of who is plugged where
# (Open vSwitch manual, ovs-vswitchd.conf.db(5)). Not here, on purpose:
#   Bridge, Open_vSwitch, QoS, Mirror... rows - shared by every port (a Bridge's other_config
#       sets its datapath id, STP/RSTP, MAC table, forward-bpdu);
#   Port stp-*/rstp-* - the bridge's spanning tree (a port claiming to be an edge can loop it);
#   Port bond-*/lacp-* - bonds of uplinks, never a guest's port;
#   Port qinq-ethtype - the service tag of frames that leave through other (trunk) ports;
#   Port mcast-snooping-flood-reports - other hosts' IGMP/MLD reports: who is in which group;
#   Interface options:* - tunnel endpoints, keys and patch peers connect a port to other
#       networks and bridges;
#   Interface pmd-rxq-affinity - pins queues to PMD threads that other ports share;
#   external_ids:* (Port and Interface) - OVS ignores them, but controllers (OVN, Neutron) read
#       iface-id, attached-mac, vm-id to decide which logical port, and whose traffic, a row is.
OVS_SETTINGS_ALLOWED: dict[tuple[str, str, str], tuple[str, ...]] = {
    # 802.1p priority tags on frames with VLAN 0 that this port sends to the guest. ("true" and
    # "false" are the older spellings of if-nonzero and never.)
    ("Port", "other_config", "priority-tags"): ("never", "if-nonzero", "always", "true", "false"),
    # Flood multicast (not reports) to this port even with snooping on: what the port gets on a
    # bridge without snooping; it changes only what this port receives.
    ("Port", "other_config", "mcast-snooping-flood"): ("true", "false"),
    # How the userspace datapath spreads this interface's own transmit queues.
    ("Interface", "other_config", "tx-steering"): ("thread", "hash"),
}


def ovs_setting_problem(table: str | None, column: str | None, key: str | None,
                        value: str | None) -> str | None:
    """Why a domain may not ask for this OVS setting (None: it may); see OVS_SETTINGS_ALLOWED."""
    allowed = OVS_SETTINGS_ALLOWED.get((table or "", column or "", key or ""))
    tables = tuple(dict.fromkeys(t for t, _, _ in OVS_SETTINGS_ALLOWED))
    if table not in tables:
        return f"OVS table {table!r} is not one a domain may change (only its own {'/'.join(tables)} rows)"
    if allowed is None:
        names = ", ".join(f"{t} {c}:{k}" for t, c, k in OVS_SETTINGS_ALLOWED)
        return (f"{table} {column}:{key} is not a setting a domain may change "
                f"(allowed: {names})")
    if value is not None and value not in allowed:
        return f"{table} {column}:{key} takes " + ", ".join(allowed)
    return None


class MetaOvsSetting(XmlModel):
    TAG = q("ovs-setting")
    table = Field("@table")
    column = Field("@column")
    key = Field("@key")
    value = Field("@value")


class MetaVf(XmlModel):
    TAG = q("vf")
    pf = Field("@pf")
    index = Field("@index", INT)
    address = Field("@address")


class MetaInterface(XmlModel):
    TAG = q("interface")
    ORDER = (q("vlan"), q("tap"), q("ovs-setting"), q("vf"))
    mac = Field("@mac")
    vlan = Child(MetaVlan, q("vlan"))
    tap = Child(MetaTap, q("tap"))
    ovs_settings = Children(MetaOvsSetting, q("ovs-setting"))
    vf = Child(MetaVf, q("vf"))


class MetaBridge(XmlModel):
    TAG = q("bridge")
    vlan_filtering = Field("@vlan-filtering", YESNO)


class MetaShim(XmlModel):
    TAG = q("shim")
    name = Field("@name")
    address = Field("@address")


class MetaSriov(XmlModel):
    TAG = q("sriov")
    pf = Field("@pf")
    numvfs = Field("@numvfs", INT)


class MetaPortGroup(XmlModel):
    TAG = q("portgroup")
    name = Field("@name")
    vlan = Child(MetaVlan, q("vlan"))


class NetXmlMeta(XmlModel):
    """The ``<vnx:netxml>`` element, in a domain's or a network's ``<metadata>``."""

    TAG = q("netxml")
    ORDER = (q("interface"), q("bridge"), q("shim"), q("sriov"), q("portgroup"))
    interfaces = Children(MetaInterface, q("interface"))
    bridge = Child(MetaBridge, q("bridge"))
    shim = Child(MetaShim, q("shim"))
    sriov = Child(MetaSriov, q("sriov"))
    portgroups = Children(MetaPortGroup, q("portgroup"))

    def __init__(self, node: etree._Element | None = None, **values: object) -> None:
        if node is None:
            node = etree.Element(self.TAG, nsmap={PREFIX: NS})
        super().__init__(node, **values)

    def interface(self, mac: str) -> MetaInterface | None:
        mac = mac.lower()
        return next((i for i in self.interfaces if (i.mac or "").lower() == mac), None)

    def interface_or_create(self, mac: str) -> MetaInterface:
        found = self.interface(mac)
        if found is None:
            found = self.interfaces.append(MetaInterface(mac=mac.lower()))
        return found

    def portgroup(self, name: str) -> MetaPortGroup | None:
        return next((p for p in self.portgroups if p.name == name), None)


def find_meta(root: etree._Element) -> NetXmlMeta | None:
    """The project's metadata element of a ``<domain>`` or ``<network>``, if any."""
    node = root.find(f"metadata/{q('netxml')}")
    return None if node is None else NetXmlMeta(node)


def meta_or_create(root: etree._Element, order: tuple[str, ...] = ()) -> NetXmlMeta:
    """Find or add ``<metadata><vnx:netxml/></metadata>`` under a domain or network root."""
    metadata = root.find("metadata")
    if metadata is None:
        metadata = etree.Element("metadata")
        attach(root, metadata, order)
    node = metadata.find(q("netxml"))
    if node is None:
        meta = NetXmlMeta()
        attach(metadata, meta.node)
        return meta
    return NetXmlMeta(node)
