"""Hypothesis strategies: valid-ish libvirt documents full of things the models do not know.

Documents are built as lxml trees from libvirt's vocabulary (interfaces of every type with
their usual children, networks with portgroups) and then decorated at random places with
unknown elements and attributes, comments, processing instructions and foreign-namespace
elements: exactly what a round trip must carry through untouched. Unknown names start with
``zz`` so they can never collide with an element a model knows.
"""

from __future__ import annotations

import string

from hypothesis import strategies as st
from lxml import etree

from xmltools.interface import DIRECT_MODES

VNX = "urn:virt-netxml:hooks:1"
FOREIGN = ["urn:example:vendor", "http://example.org/ns/tools", "urn:virt-netxml:other"]

_NAME_CHARS = string.ascii_letters + string.digits
#: XML 1.0 characters (no controls, no surrogates), with the ones that need escaping.
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Co", "Cn"),
                              include_characters="<>&'\"\t"), max_size=12)
_COMMENT = _TEXT.map(lambda t: t.replace("-", "_"))

ident = st.text(_NAME_CHARS, min_size=1, max_size=8)
unknown_tag = ident.map(lambda s: "zz" + s)
unknown_attr = ident.map(lambda s: "zz" + s.lower())
ifname = st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=12).map(lambda s: "n" + s)
vlan_id = st.integers(0, 4095)


@st.composite
def unicast_mac(draw: st.DrawFn) -> str:
    first = draw(st.integers(0, 255)) & 0xFE
    rest = draw(st.lists(st.integers(0, 255), min_size=5, max_size=5))
    if first == 0 and not any(rest):
        rest[-1] = 1
    return ":".join(f"{b:02x}" for b in [first, *rest])


@st.composite
def decorate(draw: st.DrawFn, node: etree._Element, depth: int = 0) -> None:
    """Add unknown attributes, elements, comments, PIs and foreign elements at random places."""
    for child in list(node):
        if isinstance(child.tag, str) and depth < 4 and draw(st.booleans()):
            draw(decorate(child, depth + 1))
    for _ in range(draw(st.integers(0, 2))):
        node.set(draw(unknown_attr), draw(_TEXT))
    extras = draw(st.integers(0, 3))
    for _ in range(extras):
        kind = draw(st.sampled_from(["element", "comment", "pi", "foreign"]))
        if kind == "element":
            extra = etree.Element(draw(unknown_tag))
            if draw(st.booleans()):
                extra.text = draw(_TEXT)
            if draw(st.booleans()):
                extra.set(draw(unknown_attr), draw(_TEXT))
        elif kind == "comment":
            extra = etree.Comment(draw(_COMMENT) + " ")
        elif kind == "pi":
            extra = etree.ProcessingInstruction("zzpi", draw(_TEXT).replace("?>", ""))
        else:
            ns = draw(st.sampled_from(FOREIGN))
            extra = etree.Element(f"{{{ns}}}x{draw(ident)}", nsmap={"f" + str(FOREIGN.index(ns)): ns})
            extra.set(f"{{{ns}}}x{draw(ident)}", draw(_TEXT))
            extra.text = draw(_TEXT)
        node.insert(draw(st.integers(0, len(node))), extra)


def _sub(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, tag, {k.rstrip("_"): v for k, v in attrs.items()})


@st.composite
def vlan_element(draw: st.DrawFn, parent: etree._Element) -> None:
    vlan = _sub(parent, "vlan")
    ids = draw(st.lists(vlan_id, min_size=1, max_size=3, unique=True))
    if len(ids) > 1 or draw(st.booleans()):
        vlan.set("trunk", "yes")
    for i, vid in enumerate(ids):
        tag = _sub(vlan, "tag", id=str(vid))
        if i == 0 and len(ids) > 1 and draw(st.booleans()):
            tag.set("nativeMode", draw(st.sampled_from(["tagged", "untagged"])))


@st.composite
def interface_element(draw: st.DrawFn, mac: str | None) -> etree._Element:
    kind = draw(st.sampled_from(["network", "bridge", "direct", "hostdev", "ethernet", "user"]))
    iface = etree.Element("interface", type=kind)
    if mac:
        _sub(iface, "mac", address=mac)
    if kind == "network":
        src = _sub(iface, "source", network=draw(ident))
        if draw(st.booleans()):
            src.set("portgroup", draw(ident))
    elif kind == "bridge":
        _sub(iface, "source", bridge=draw(ifname))
    elif kind == "direct":
        _sub(iface, "source", dev=draw(ifname), mode=draw(st.sampled_from(DIRECT_MODES)))
    elif kind == "hostdev":
        iface.set("managed", draw(st.sampled_from(["yes", "no"])))
        _sub(iface, "driver", name="vfio")
        src = _sub(iface, "source")
        _sub(src, "address", type="pci", domain="0x0000", bus=f"0x{draw(st.integers(0, 255)):02x}",
             slot=f"0x{draw(st.integers(0, 31)):02x}", function=f"0x{draw(st.integers(0, 7)):x}")
    ovs = kind in ("bridge", "network") and draw(st.booleans())
    if ovs:
        vport = _sub(iface, "virtualport", type="openvswitch")
        if draw(st.booleans()):
            _sub(vport, "parameters", interfaceid="6602cfe5-16e2-4a31-b0c7-a263f86f0ef4")
    passthrough = kind == "direct" and iface.find("source").get("mode") == "passthrough"
    if (ovs or kind == "hostdev" or passthrough) and draw(st.booleans()):
        draw(vlan_element(iface))
    if kind != "user" and draw(st.booleans()):
        target = _sub(iface, "target", dev=draw(ifname))
        if kind == "ethernet":
            target.set("managed", "no")
    if kind != "hostdev" and draw(st.booleans()):
        _sub(iface, "model", type=draw(st.sampled_from(["virtio", "e1000e", "rtl8139"])))
    if draw(st.booleans()):
        _sub(iface, "link", state=draw(st.sampled_from(["up", "down"])))
    if draw(st.booleans()):
        slot = f"0x{draw(st.integers(2, 31)):02x}"
        _sub(iface, "address", type="pci", domain="0x0000", bus="0x00", slot=slot, function="0x0")
    return iface


@st.composite
def domain_documents(draw: st.DrawFn) -> bytes:
    """A <domain> with 1-4 interfaces, other devices, metadata, and unknown things anywhere."""
    root = etree.Element("domain", type="kvm")
    _sub(root, "name").text = draw(ident)
    _sub(root, "uuid").text = "0f3a5a8e-2d51-4b8e-9a57-3c2f1b7d9e10"
    meta = _sub(root, "metadata") if draw(st.booleans()) else None
    _sub(root, "memory", unit="KiB").text = "65536"
    os_ = _sub(root, "os")
    _sub(os_, "type", arch="x86_64").text = "hvm"
    devices = _sub(root, "devices")
    _sub(devices, "emulator").text = "/usr/bin/qemu-system-x86_64"
    disk = _sub(devices, "disk", type="file", device="disk")
    _sub(disk, "source", file="/var/lib/libvirt/images/x.qcow2")
    macs = draw(st.lists(unicast_mac(), min_size=1, max_size=4, unique=True))
    for mac in macs:
        devices.append(draw(interface_element(mac if draw(st.integers(0, 5)) else None)))
    if meta is not None:
        if draw(st.booleans()):
            net = etree.SubElement(meta, f"{{{VNX}}}netxml", nsmap={"vnx": VNX})
            for mac in draw(st.lists(st.sampled_from(macs), unique=True, max_size=len(macs))):
                entry = etree.SubElement(net, f"{{{VNX}}}interface", mac=mac)
                etree.SubElement(entry, f"{{{VNX}}}vlan", tag=str(draw(vlan_id)))
        note = etree.SubElement(meta, f"{{{FOREIGN[0]}}}note", nsmap={"app": FOREIGN[0]})
        note.text = draw(_TEXT)
    _sub(devices, "serial", type="pty")
    draw(decorate(root))
    return _serialize(draw, root)


@st.composite
def network_documents(draw: st.DrawFn) -> bytes:
    """A <network> of a random forward mode with portgroups and unknown things anywhere."""
    root = etree.Element("network")
    _sub(root, "name").text = draw(ident)
    _sub(root, "uuid").text = "5d0c7e4b-8a31-4f52-b0a9-6c1e2d3f4a5b"
    mode = draw(st.sampled_from(["nat", "route", "isolated", "bridge", "bridge-ovs", "hostdev",
                                 "passthrough"]))
    if mode == "bridge-ovs":
        _sub(root, "forward", mode="bridge")
        _sub(root, "bridge", name=draw(ifname))
        _sub(root, "virtualport", type="openvswitch")
    elif mode == "bridge":
        _sub(root, "forward", mode="bridge")
        _sub(root, "bridge", name=draw(ifname))
    elif mode == "hostdev":
        fwd = _sub(root, "forward", mode="hostdev", managed="yes")
        _sub(fwd, "pf", dev=draw(ifname))
    elif mode == "passthrough":
        fwd = _sub(root, "forward", mode="passthrough")
        for dev in draw(st.lists(ifname, min_size=1, max_size=3, unique=True)):
            _sub(fwd, "interface", dev=dev)
    else:
        if mode != "isolated":
            _sub(root, "forward", mode=mode)
        _sub(root, "bridge", name=draw(ifname), stp="on", delay="0")
        ip = _sub(root, "ip", address="192.168.150.1", prefix="24")
        dhcp = _sub(ip, "dhcp")
        _sub(dhcp, "range", start="192.168.150.2", end="192.168.150.254")
    for name in draw(st.lists(ident, max_size=3, unique=True)):
        group = _sub(root, "portgroup", name=name)
        if mode in ("bridge-ovs", "hostdev", "passthrough") and draw(st.booleans()):
            draw(vlan_element(group))
    if draw(st.booleans()):
        meta = _sub(root, "metadata")
        note = etree.SubElement(meta, f"{{{FOREIGN[1]}}}note", nsmap={"t": FOREIGN[1]})
        note.text = draw(_TEXT)
    draw(decorate(root))
    return _serialize(draw, root)


def _serialize(draw: st.DrawFn, root: etree._Element) -> bytes:
    etree.indent(root, space=draw(st.sampled_from(["  ", "    ", "\t"])))
    text = etree.tostring(root, encoding="unicode")
    if draw(st.booleans()):
        text = text.replace('"', "'") if "'" not in text else text
    head = draw(st.sampled_from(["", "<?xml version='1.0' encoding='UTF-8'?>\n", "<!-- generated -->\n"]))
    tail = draw(st.sampled_from(["\n", "", "\n<!-- trailer -->\n"]))
    return (head + text + tail).encode("utf-8")
