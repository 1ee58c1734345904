"""Elements shared by networks, portgroups, network ports and domain interfaces."""

from __future__ import annotations

from xmltools.fields import INT, STR, YESNO, Child, Children, Field, XmlModel


class VlanTag(XmlModel):
    """``<tag id='N' [nativeMode='tagged|untagged']/>``."""

    TAG = "tag"
    id = Field("@id", INT)
    native_mode = Field("@nativeMode", STR)


class Vlan(XmlModel):
    """``<vlan [trunk='yes']>`` with one or more tags."""

    TAG = "vlan"
    trunk = Field("@trunk", YESNO)
    tags = Children(VlanTag, "tag")

    @classmethod
    def build(cls, ids: list[int], native: int | None = None,
              native_mode: str | None = None, trunk: bool | None = None) -> Vlan:
        """A single access tag, or a trunk when several ids are given or ``trunk`` is set.

        ``native`` names the id that is native (it is moved first, as libvirt writes it);
        ``native_mode`` is ``tagged`` or ``untagged``.
        """
        vlan = cls()
        ordered = list(ids)
        if native is not None:
            if native not in ordered:
                ordered.insert(0, native)
            else:
                ordered.remove(native)
                ordered.insert(0, native)
        if trunk or len(ordered) > 1:
            vlan.trunk = True
        for vid in ordered:
            tag = VlanTag(id=vid)
            if native is not None and vid == native:
                tag.native_mode = native_mode or "untagged"
            vlan.tags.append(tag)
        return vlan

    @property
    def ids(self) -> list[int]:
        return [t.id for t in self.tags if t.id is not None]

    @property
    def native(self) -> VlanTag | None:
        return next((t for t in self.tags if t.native_mode), None)


class VirtualPortParameters(XmlModel):
    TAG = "parameters"
    interfaceid = Field("@interfaceid")
    profileid = Field("@profileid")
    managerid = Field("@managerid", INT)
    typeid = Field("@typeid", INT)
    typeidversion = Field("@typeidversion", INT)
    instanceid = Field("@instanceid")


class VirtualPort(XmlModel):
    """``<virtualport type='openvswitch|802.1Qbg|802.1Qbh|midonet'>``."""

    TAG = "virtualport"
    type = Field("@type")
    parameters = Child(VirtualPortParameters, "parameters")


class BandwidthLimit(XmlModel):
    """``<inbound>``/``<outbound>``: rates in kilobytes per second, burst in kilobytes."""

    TAG = "inbound"
    average = Field("@average", INT)
    peak = Field("@peak", INT)
    burst = Field("@burst", INT)
    floor = Field("@floor", INT)


class Bandwidth(XmlModel):
    TAG = "bandwidth"
    ORDER = ("inbound", "outbound")
    inbound = Child(BandwidthLimit, "inbound")
    outbound = Child(BandwidthLimit, "outbound")

    @classmethod
    def build(cls, inbound: dict[str, int] | None = None,
              outbound: dict[str, int] | None = None) -> Bandwidth:
        bw = cls()
        for tag, values in (("inbound", inbound), ("outbound", outbound)):
            if values:
                limit = BandwidthLimit(**values)
                limit.node.tag = tag
                setattr(bw, tag, limit)
        return bw
