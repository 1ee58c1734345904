"""Build a domain ``<interface>`` (and its metadata wishes) from command-line style options.

Pure: no I/O. Every option of ``virt-netxml interface`` is a field of :class:`InterfaceSpec`;
:func:`build_interface` checks them together (an option that makes no sense for the chosen
type is an error, not silently dropped) and returns an :class:`~xmltools.interface.Interface`.
:func:`insert_interface` adds it to a domain together with the project's metadata entry
(``<vnx:interface mac=…>``) for the wishes libvirt cannot apply itself.

An interface on an OVN logical switch (``--ovn-switch``) is an Open vSwitch port whose
``interfaceid`` names its logical switch port: derived from the switch and the MAC
(xmltools.uuids.ovn_port_uuid) unless given, and the switch (with a static address, ``--ip``)
goes into the metadata entry.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from xmltools.common import Bandwidth, VirtualPort, VirtualPortParameters, Vlan
from xmltools.domain import Domain
from xmltools.errors import InvalidValue, UsageError
from xmltools.interface import (
    DIRECT_MODES,
    LINK_STATES,
    FilterParameter,
    FilterRef,
    HostdevSource,
    Interface,
    InterfaceDriver,
)
from xmltools.mac import OUIS, derived_mac, normalize_mac, random_mac
from xmltools.metadata import (
    MetaForward,
    MetaInterface,
    MetaIp,
    MetaOvnPort,
    MetaOvsSetting,
    MetaTap,
    MetaVf,
    MetaVlan,
    VlanWish,
    check_ipv4_address,
    ovs_setting_problem,
    parse_forward_spec,
    parse_ovn_address,
    parse_vlan_ranges,
)
from xmltools.names import PciAddress, validate_bridge_name, validate_interface_name
from xmltools.rules import (
    BRIDGE_VLAN_RANGE,
    LINUX_BRIDGE_VLAN_SINCE,
    MAX_VF_INDEX,
    MTU_RANGE,
    VIRTUALPORT_TYPES,
    VLAN_MODES,
    bridge_vid_ok,
    format_vlan_ranges,
    parse_ovn_name,
    parse_vlan_list,
)
from xmltools.uuids import ovn_port_uuid, validate_uuid
from xmltools.versions import BASELINE, Version, show

#: Types ``virt-netxml interface`` builds (libvirt knows more; they can still be read and edited).
BUILD_TYPES = ("network", "bridge", "direct", "hostdev", "ethernet", "user")

# libvirt blanks target names with these prefixes when a domain is defined (they are its own
# automatic names), unless the TAP is unmanaged.
_GENERATED_PREFIXES = ("vnet", "macvtap", "macvlan")
#: NIC models, filter names and filter parameters: what libvirt accepts there.
MODEL_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_OVS_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
# Parameters each virtualport type takes (libvirt's virNetDevVPortProfile).
_VPORT_PARAMS: dict[str, tuple[str, ...]] = {
    "openvswitch": ("interfaceid", "profileid"),
    "802.1Qbg": ("managerid", "typeid", "typeidversion", "instanceid"),
    "802.1Qbh": ("profileid",),
    "midonet": ("interfaceid",),
}
# Interface types each virtualport type can be used with.
_VPORT_TYPES_FOR: dict[str, tuple[str, ...]] = {
    "openvswitch": ("bridge", "network"),
    "midonet": ("bridge", "network"),
    "802.1Qbg": ("direct", "network"),
    "802.1Qbh": ("direct", "hostdev", "network"),
}


@dataclass
class InterfaceSpec:
    """Every option of ``virt-netxml interface``; None means "not given"."""

    type: str
    source: str | None = None
    portgroup: str | None = None
    mode: str | None = None
    model: str | None = None
    mac: str | None = None              # "auto" or an address
    oui: str = OUIS["qemu"]
    seed: str | None = None
    pci: str | None = None
    target: str | None = None
    managed: bool | None = None
    vlan: str | None = None             # libvirt's own <vlan>
    vlan_native: str | None = None      # "ID[:tagged|untagged]", for --vlan or --bridge-vlan
    vlan_mode: str | None = None        # access | trunk | native-tagged | native-untagged
    virtualport: str | None = None      # "TYPE[,key=value...]"
    bandwidth_in: str | None = None     # "AVG[,PEAK[,BURST]]"
    bandwidth_out: str | None = None
    mtu: int | None = None
    link: str | None = None
    boot: int | None = None
    queues: int | None = None
    filter: str | None = None           # "NAME[,PARAM=VALUE...]"
    # metadata wishes, applied by the hooks (need a domain to live in)
    bridge_vlan: str | None = None
    tap_bridge: str | None = None
    tap_owner: str | None = None
    tap_group: str | None = None
    multi_queue: bool | None = None
    vnet_hdr: bool | None = None
    vf_pf: str | None = None
    vf_index: int | None = None
    ovs_settings: tuple[str, ...] = ()
    forwards: tuple[str, ...] = ()      # "tcp:[ADDR:]2222[-END]:22[-END][,source=CIDR]"
    ip: str | None = None               # the guest's IPv4 address (forwards), or its OVN port's address
    ovn_switch: str | None = None       # the OVN logical switch the port is on
    interfaceid: str | None = None      # the Open vSwitch port's interfaceid (a UUID)
    # the libvirt the interface is written for (xmltools.versions; the command line resolves it)
    libvirt: Version = BASELINE

    def wants_metadata(self) -> bool:
        return any(v is not None for v in (self.bridge_vlan, self.tap_bridge, self.vf_pf,
                                           self.vf_index, self.ip, self.ovn_switch)) or bool(
            self.ovs_settings or self.forwards)


# --------------------------------------------------------------------------- option parsers


def _bad(what: str, value: Any, reason: str) -> InvalidValue:
    return InvalidValue(what=what, value=str(value), reason=reason)


def parse_vlan_native(text: str) -> tuple[int, str | None]:
    """``'20'`` -> (20, None); ``'20:tagged'`` -> (20, 'native-tagged'): one id of the VLAN
    list grammar (xmltools.rules.parse_vlan_list), with its optional mark."""
    ranges, _, how = parse_vlan_list(text, "native VLAN", native=True)
    if len(ranges) != 1 or ranges[0][0] != ranges[0][1]:
        raise _bad("native VLAN", text, "expected one ID, ID:tagged or ID:untagged")
    return ranges[0][0], (f"native-{how}" if how else None)


@dataclass(frozen=True)
class VlanOptions:
    """A VLAN option resolved: the tag list (ranges allowed), the native id and the mode."""

    tags: str
    native: int | None
    mode: str | None


def resolve_vlan(tags: str, native_text: str | None = None, mode: str | None = None) -> VlanOptions:
    """Combine ``TAGS`` (the VLAN list grammar, where one id may carry ``:tagged``/``:untagged``,
    as ``virt-netxml network`` spells it), ``--vlan-native ID[:tagged|untagged]`` and
    ``--vlan-mode``. ``tags`` of the result is the list in its canonical spelling."""
    ranges, native, how = parse_vlan_list(tags, native=True)
    implied = f"native-{how}" if how else None
    if native_text is not None:
        if native is not None:
            raise _bad("native VLAN", native_text, f"{tags} already marks {native} as native")
        native, implied = parse_vlan_native(native_text)
    if mode is not None:
        if mode not in VLAN_MODES:
            raise _bad("VLAN mode", mode, "expected " + ", ".join(VLAN_MODES))
        if implied is not None and implied != mode:
            raise _bad("VLAN mode", mode, f"contradicts the native VLAN {native} ({implied})")
        implied = mode
    if implied is not None and implied.startswith("native") and native is None:
        raise _bad("VLAN mode", implied, "needs a native VLAN (--vlan-native ID)")
    if native is not None and implied in ("access", "trunk"):
        raise _bad("VLAN mode", implied, "a native VLAN needs mode native-tagged or native-untagged")
    return VlanOptions(format_vlan_ranges(ranges), native, implied)


def _spec_vlan(spec: InterfaceSpec, tags: str) -> VlanOptions:
    return resolve_vlan(tags, spec.vlan_native, spec.vlan_mode)


def build_libvirt_vlan(opts: VlanOptions) -> Vlan:
    """libvirt's ``<vlan>`` from ``'10'``, ``'10,20'``, ``'30-32'`` (ranges are expanded: libvirt
    lists each tag), a native id and an Open vSwitch style mode."""
    tags, native, mode = opts.tags, opts.native, opts.mode
    ids = [vid for lo, hi in parse_vlan_ranges(tags) for vid in range(lo, hi + 1)]
    if mode == "access" and (len(ids) != 1 or native is not None):
        raise _bad("VLAN list", tags, "access mode takes exactly one id and no native VLAN")
    native_mode = None
    if native is not None:
        native_mode = "tagged" if mode == "native-tagged" else "untagged"
    trunk = True if (mode == "trunk" or native is not None or len(ids) > 1) else None
    return Vlan.build(ids, native=native, native_mode=native_mode, trunk=trunk)


def build_meta_vlan(opts: VlanOptions) -> MetaVlan:
    """The metadata VLAN wish: an access ``tag`` for one id, else ``trunks`` (ranges kept)."""
    tags, native, mode = opts.tags, opts.native, opts.mode
    ranges = parse_vlan_ranges(tags)
    single = len(ranges) == 1 and ranges[0][0] == ranges[0][1]
    if single and native is None and mode in (None, "access"):
        wish = VlanWish.from_attrs(ranges[0][0], None, None, mode)
        return MetaVlan(tag=wish.tag, mode=mode)
    if mode == "access":
        raise _bad("VLAN list", tags, "access mode takes exactly one id and no native VLAN")
    trunks = format_vlan_ranges(ranges)
    VlanWish.from_attrs(None, trunks, native, mode)  # raises on a contradiction
    return MetaVlan(trunks=trunks, native=native, mode=mode)


def parse_virtualport(text: str, iface_type: str) -> VirtualPort:
    """``'openvswitch'``, ``'openvswitch,interfaceid=UUID'``, ``'802.1Qbg,managerid=1,…'``."""
    vtype, *pairs = [p.strip() for p in text.split(",")]
    if vtype not in VIRTUALPORT_TYPES:
        raise _bad("virtualport type", vtype, "expected " + ", ".join(VIRTUALPORT_TYPES))
    if iface_type not in _VPORT_TYPES_FOR[vtype]:
        raise _bad("virtualport type", vtype,
                   f"not usable on a {iface_type} interface (only on "
                   f"{' or '.join(_VPORT_TYPES_FOR[vtype])})")
    vport = VirtualPort(type=vtype)
    params: dict[str, Any] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not value:
            raise _bad("virtualport parameter", pair, "expected KEY=VALUE")
        if key not in _VPORT_PARAMS[vtype]:
            raise _bad("virtualport parameter", key,
                       f"{vtype} takes " + ", ".join(_VPORT_PARAMS[vtype]))
        if key in params:
            raise _bad("virtualport parameter", key, "given twice")
        params[key] = _vport_value(key, value)
    if params:
        vport.parameters = VirtualPortParameters(**params)
    return vport


def _vport_value(key: str, value: str) -> Any:
    if key in ("interfaceid", "instanceid"):
        # libvirt's own parser (virUUIDParse): it refuses a non-UUID interfaceid when the domain
        # is defined ("cannot parse interfaceid parameter as a uuid").
        return _uuid(value, key)
    if key in ("managerid", "typeid", "typeidversion"):
        limit = 0xFFFFFF if key == "typeid" else 0xFF
        try:
            number = int(value, 0)
        except ValueError:
            raise _bad(key, value, "expected a number") from None
        if not 0 <= number <= limit:
            raise _bad(key, value, f"must be 0 to {limit}")
        return number
    # profileid: libvirt stores at most 39 characters
    if len(value) > 39 or not value.isprintable():
        raise _bad(key, value, "at most 39 printable characters")
    return value


#: libvirt's schema types every rate and burst as an unsignedInt of at least 1.
BANDWIDTH_RANGE = (1, 0xFFFFFFFF)


def parse_bandwidth(text: str, direction: str) -> dict[str, int]:
    """``'AVG[,PEAK[,BURST]]'`` in kilobytes per second (burst in kilobytes), each within
    libvirt's limits (BANDWIDTH_RANGE)."""
    parts = text.split(",")
    if not 1 <= len(parts) <= 3:
        raise _bad(f"{direction} bandwidth", text, "expected AVERAGE[,PEAK[,BURST]]")
    values: dict[str, int] = {}
    for key, part in zip(("average", "peak", "burst"), parts, strict=False):
        try:
            number = int(part)
        except ValueError:
            raise _bad(f"{direction} bandwidth", text, f"{key} {part!r} is not a whole number") from None
        if number < BANDWIDTH_RANGE[0]:
            raise _bad(f"{direction} bandwidth", text, f"{key} must be at least {BANDWIDTH_RANGE[0]}")
        if number > BANDWIDTH_RANGE[1]:
            raise _bad(f"{direction} bandwidth", text, f"{key} must be at most {BANDWIDTH_RANGE[1]} "
                                                       "(libvirt's limit)")
        values[key] = number
    return values


def parse_filter(text: str) -> FilterRef:
    """``'clean-traffic,IP=10.0.0.5'`` -> ``<filterref filter=…><parameter …/></filterref>``."""
    name, *pairs = [p.strip() for p in text.split(",")]
    if not name or not MODEL_RE.match(name):
        raise _bad("filter name", name, "letters, digits, '-' and '_' only")
    ref = FilterRef(filter=name)
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key or not value or not MODEL_RE.match(key):
            raise _bad("filter parameter", pair, "expected NAME=VALUE")
        ref.parameters.append(FilterParameter(name=key, value=value))
    return ref


def parse_ovs_setting(text: str) -> MetaOvsSetting:
    """``'Port:other_config:key=value'`` -> a metadata ``<vnx:ovs-setting>``."""
    head, eq, value = text.partition("=")
    parts = head.split(":")
    if not eq or len(parts) != 3 or not value:
        raise _bad("OVS setting", text, "expected TABLE:COLUMN:KEY=VALUE")
    table, column, key = parts
    for part in (column, key):
        if not _OVS_NAME_RE.match(part):
            raise _bad("OVS setting", text, f"{part!r}: letters, digits, '.', '-' and '_' only")
    if not value.isprintable() or len(value) > 256:
        raise _bad("OVS setting", text, "the value must be printable and at most 256 characters")
    # The same allowlist lint and the hooks apply: nothing written here is refused later.
    problem = ovs_setting_problem(table, column, key, value)
    if problem is not None:
        raise _bad("OVS setting", text, problem)
    return MetaOvsSetting(table=table, column=column, key=key, value=value)


# --------------------------------------------------------------------------- the builder


def _check_type(spec: InterfaceSpec) -> None:
    if spec.type not in BUILD_TYPES:
        raise _bad("interface type", spec.type, "expected " + ", ".join(BUILD_TYPES))


def _apply_source(iface: Interface, spec: InterfaceSpec) -> None:
    kind = spec.type
    if spec.portgroup is not None and kind != "network":
        raise _bad("portgroup", spec.portgroup, "only a network interface has a portgroup")
    if spec.mode is not None and kind != "direct":
        raise _bad("source mode", spec.mode, "only a direct (macvtap) interface has a mode")
    if spec.pci is not None and kind != "hostdev":
        raise _bad("PCI address", spec.pci, "only a hostdev interface is given by PCI address")
    if kind in ("network", "bridge", "direct"):
        if not spec.source:
            what = {"network": "a network name", "bridge": "a bridge name",
                    "direct": "the uplink device"}[kind]
            raise UsageError(detail=f"a {kind} interface needs --source with {what}")
        src = iface.source_or_create()
        if kind == "network":
            if not spec.source.strip() or "/" in spec.source:
                raise _bad("network name", spec.source, "must be non-empty and without '/'")
            src.network = spec.source  # type: ignore[attr-defined]
            src.portgroup = spec.portgroup  # type: ignore[attr-defined]
        elif kind == "bridge":
            src.bridge = validate_bridge_name(spec.source)  # type: ignore[attr-defined]
        else:
            src.dev = validate_interface_name(spec.source, "uplink device")  # type: ignore[attr-defined]
            if spec.mode is not None and spec.mode not in DIRECT_MODES:
                raise _bad("macvtap mode", spec.mode, "expected " + ", ".join(DIRECT_MODES))
            src.mode = spec.mode  # type: ignore[attr-defined]
        return
    if spec.source is not None:
        hint = {"hostdev": "give the VF with --pci", "ethernet": "a TAP's bridge is --tap-bridge"}
        raise _bad("source", spec.source,
                   f"a {kind} interface takes no --source" + (f"; {hint[kind]}" if kind in hint else ""))
    if kind == "hostdev":
        if spec.pci is None:
            raise UsageError(detail="a hostdev interface needs --pci with the VF's PCI address")
        address = PciAddress.parse(spec.pci)
        # vfio is the only backend current QEMU/libvirt use for a VF; written explicitly as
        # libvirt shows it, so the document says what will happen.
        iface.driver = InterfaceDriver(name="vfio")
        src = iface.source_or_create()
        assert isinstance(src, HostdevSource)
        src.address = address


def _apply_managed_and_target(iface: Interface, spec: InterfaceSpec) -> None:
    kind = spec.type
    managed = spec.managed
    if spec.tap_bridge is not None and kind == "ethernet":
        if managed:
            raise _bad("--managed", "yes", "the hook creates and bridges only an unmanaged TAP "
                                            "(target managed='no'); drop --managed")
        managed = False
    if managed is not None:
        if kind == "hostdev":
            # libvirt writes only managed='yes'; 'no' is its default and dropped on define
            iface.managed = True if managed else None
        elif kind != "ethernet":
            raise UsageError(detail="--managed/--unmanaged apply to hostdev (VF detach) and "
                                    "ethernet (pre-created TAP) interfaces only")
        elif managed is False and not spec.target:
            raise UsageError(detail="an unmanaged ethernet interface needs --target with the "
                                    "TAP's name")
    if spec.target is not None:
        if kind == "hostdev":
            raise _bad("target device", spec.target, "a hostdev interface has no host-side device")
        validate_interface_name(spec.target, "target device")
        if managed is not False and spec.target.startswith(_GENERATED_PREFIXES):
            raise _bad("target device", spec.target,
                       "names starting with vnet, macvtap or macvlan are libvirt's automatic "
                       "names and are dropped when the domain is defined")
        iface.target_dev = spec.target
        # Only the unmanaged case is written: managed='yes' is libvirt's default for a TAP.
        if kind == "ethernet" and managed is False:
            iface.target_managed = False


def libvirt_vlan_problem(kind: str | None, ovs: bool, direct_mode: str | None,
                         libvirt: Version = BASELINE) -> str | None:
    """Why libvirt would refuse a ``<vlan>`` on this interface, or None when it applies it.

    libvirt sets VLANs itself on Open vSwitch ports, SR-IOV VFs (hostdev), macvtap
    passthrough and, from 11.0, Linux bridge ports; a network interface is checked against its
    network when the domain starts.
    """
    if kind in ("network", "hostdev") or (kind == "bridge" and ovs) or (
            kind == "direct" and direct_mode == "passthrough"):
        return None
    if kind == "bridge" and libvirt >= LINUX_BRIDGE_VLAN_SINCE:
        return None
    return {
        "bridge": f"libvirt {show(libvirt)} refuses <vlan> on a Linux bridge port (libvirt 11.0 applies "
                  "it); use --bridge-vlan (applied by the hook) or make it an Open vSwitch port",
        "direct": "libvirt applies <vlan> to macvtap only in passthrough mode",
    }.get(kind or "", f"libvirt cannot apply <vlan> to a {kind} interface")


def check_linux_bridge_vlan(vlan: Vlan, shown: str) -> None:
    """A <vlan> libvirt (11.0 and newer) applies to a Linux bridge port with bridge(8)'s
    rules: every id must be one the bridge takes (1-4094); a single tag becomes the port's
    untagged PVID, a trunk's native tag its PVID (untagged unless nativeMode='tagged')."""
    for tag in vlan.tags:
        if not bridge_vid_ok(tag.id):
            raise _bad("VLAN", shown, f"a Linux bridge takes VLAN ids {BRIDGE_VLAN_RANGE[0]} to "
                                      f"{BRIDGE_VLAN_RANGE[1]}, not {tag.id}")


def _apply_vlan(iface: Interface, spec: InterfaceSpec) -> None:
    if spec.vlan is not None and spec.bridge_vlan is not None:
        raise UsageError(detail="give either --vlan (libvirt applies it) or --bridge-vlan "
                                "(the hook applies it), not both")
    if spec.vlan is None:
        if (spec.vlan_native is not None or spec.vlan_mode is not None) and spec.bridge_vlan is None:
            raise UsageError(detail="--vlan-native/--vlan-mode need --vlan or --bridge-vlan")
        return
    vlan = build_libvirt_vlan(_spec_vlan(spec, spec.vlan))
    problem = libvirt_vlan_problem(spec.type, iface.is_ovs, spec.mode, spec.libvirt)
    if problem:
        raise _bad("VLAN", spec.vlan, problem)
    if spec.type == "bridge" and not iface.is_ovs:
        check_linux_bridge_vlan(vlan, spec.vlan)
    if spec.type in ("hostdev", "direct") and (len(vlan.tags) != 1 or vlan.trunk):
        raise _bad("VLAN", spec.vlan, "an SR-IOV VF takes a single tag: no trunk, no native VLAN")
    iface.vlan = vlan


def _apply_device(iface: Interface, spec: InterfaceSpec) -> None:
    kind = spec.type
    if spec.model is not None:
        if kind == "hostdev":
            raise _bad("model", spec.model, "a hostdev interface is the VF itself and has no model")
        if not MODEL_RE.match(spec.model):
            raise _bad("model", spec.model, "letters, digits, '-' and '_' only")
        iface.model = spec.model
    if spec.queues is not None:
        if spec.model != "virtio":
            raise _bad("queues", spec.queues, "multiqueue needs --model virtio")
        if not 1 <= spec.queues <= 256:
            raise _bad("queues", spec.queues, "must be 1 to 256")
        iface.driver = InterfaceDriver(queues=spec.queues)
    if spec.bandwidth_in is not None or spec.bandwidth_out is not None:
        if kind == "hostdev":
            raise UsageError(detail="libvirt does not support bandwidth limits on hostdev interfaces")
        iface.bandwidth = Bandwidth.build(
            inbound=parse_bandwidth(spec.bandwidth_in, "inbound") if spec.bandwidth_in else None,
            outbound=parse_bandwidth(spec.bandwidth_out, "outbound") if spec.bandwidth_out else None)
    if spec.filter is not None:
        iface.filterref = parse_filter(spec.filter)
    if spec.link is not None:
        if spec.link not in LINK_STATES:
            raise _bad("link state", spec.link, "expected up or down")
        iface.link_state = spec.link
    if spec.mtu is not None:
        if not MTU_RANGE[0] <= spec.mtu <= MTU_RANGE[1]:
            raise _bad("MTU", spec.mtu, "must be {} to {}".format(*MTU_RANGE))
        iface.mtu = spec.mtu
    if spec.boot is not None:
        if spec.boot < 1:
            raise _bad("boot order", spec.boot, "must be 1 or more")
        iface.boot_order = spec.boot


def _check_metadata_options(spec: InterfaceSpec) -> None:
    """Reject metadata wishes that do not fit the interface type, before anything is built."""
    kind = spec.type
    if spec.bridge_vlan is not None and kind not in ("bridge", "network", "ethernet"):
        raise _bad("bridge VLAN", spec.bridge_vlan,
                   f"the hook sets port VLANs on bridge, network and ethernet (TAP) interfaces, "
                   f"not on {kind}; use --vlan")
    if spec.bridge_vlan is not None and kind == "ethernet" and spec.tap_bridge is None:
        raise UsageError(detail="--bridge-vlan on an ethernet interface needs --tap-bridge")
    tap_extras = (spec.tap_owner, spec.tap_group, spec.multi_queue, spec.vnet_hdr)
    if spec.tap_bridge is None and any(v is not None for v in tap_extras):
        raise UsageError(detail="--tap-owner/--tap-group/--multi-queue/--vnet-hdr need --tap-bridge")
    if spec.tap_bridge is not None:
        if kind != "ethernet":
            raise _bad("TAP bridge", spec.tap_bridge,
                       "only an ethernet interface uses a TAP the hook creates")
        if not spec.target:
            raise UsageError(detail="--tap-bridge needs --target with the TAP's name")
        validate_bridge_name(spec.tap_bridge)
        for what, name in (("TAP owner", spec.tap_owner), ("TAP group", spec.tap_group)):
            if name is not None and not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", name):
                raise _bad(what, name, "expected a user/group name or a numeric id")
    if (spec.vf_pf is None) != (spec.vf_index is None):
        raise UsageError(detail="--vf-pf and --vf-index go together")
    if spec.vf_pf is not None:
        if kind != "hostdev":
            raise _bad("VF PF", spec.vf_pf, "only a hostdev interface is a VF")
        validate_interface_name(spec.vf_pf, "PF device")
        if spec.vf_index is not None and not 0 <= spec.vf_index <= MAX_VF_INDEX:
            raise _bad("VF index", spec.vf_index, f"must be 0 to {MAX_VF_INDEX}")
    if spec.ovs_settings and kind not in ("bridge", "network"):
        raise _bad("OVS setting", spec.ovs_settings[0],
                   "only a bridge or network interface can be an Open vSwitch port")
    if spec.ovn_switch is not None:
        _check_ovn_options(spec)
    elif spec.interfaceid is not None and not (spec.virtualport or "").startswith("openvswitch"):
        raise UsageError(detail="--interfaceid names an Open vSwitch port: it needs --virtualport "
                                "openvswitch or --ovn-switch")
    if (spec.forwards or (spec.ip is not None and spec.ovn_switch is None)) and kind != "network":
        raise _bad("forward", (spec.forwards or (spec.ip,))[0],
                   "the hooks forward host ports to guests on a libvirt NAT network (--type network)")
    wishes = [parse_forward_spec(text) for text in spec.forwards]
    for n, one in enumerate(wishes):
        for other in wishes[:n]:
            if one.overlaps(other):
                raise _bad("forward", one.spec(), f"overlaps --forward {other.spec()}")
    if spec.ip is not None and spec.ovn_switch is None:
        check_ipv4_address(spec.ip, "guest address (--ip)")


def _check_ovn_options(spec: InterfaceSpec) -> None:
    """``--ovn-switch`` (with ``--ip``, ``--interfaceid``): an Open vSwitch port on a switch."""
    kind = spec.type
    assert spec.ovn_switch is not None
    parse_ovn_name(spec.ovn_switch, "--ovn-switch")
    if kind not in ("bridge", "network"):
        raise _bad("--ovn-switch", spec.ovn_switch,
                   f"an OVN port is an Open vSwitch port of a bridge or network interface, not {kind}")
    vport = (spec.virtualport or "").split(",")[0].strip()
    if kind == "bridge" and vport != "openvswitch":
        raise UsageError(detail="--ovn-switch on a bridge interface needs --virtualport openvswitch: "
                                "OVN binds the Open vSwitch port by its interfaceid")
    if kind == "network" and vport not in ("", "openvswitch"):
        raise _bad("virtualport type", vport, "an OVN port is an Open vSwitch port (openvswitch)")
    if spec.forwards:
        raise _bad("forward", spec.forwards[0], "the hooks forward host ports on a libvirt NAT network; "
                                                "an OVN switch is not one")
    if spec.ip is not None:
        parse_ovn_address(spec.ip, "OVN port address (--ip)")


def _uuid(text: str, what: str) -> str:
    try:
        return validate_uuid(text)
    except InvalidValue as exc:
        raise _bad(what, text, f"expected a UUID: {exc.fields['reason']}") from None


def _apply_interfaceid(iface: Interface, spec: InterfaceSpec) -> None:
    """Write the Open vSwitch port's interfaceid: ``--interfaceid``, else (``--ovn-switch``) the
    one derived from the switch and the MAC, unless ``--virtualport`` already gave one."""
    if spec.ovn_switch is None and spec.interfaceid is None:
        return
    if spec.interfaceid is not None and "interfaceid=" in (spec.virtualport or ""):
        raise UsageError(detail="the interfaceid is given twice (--interfaceid and --virtualport "
                                "...,interfaceid=)")
    vport = iface.virtualport
    if vport is None:
        vport = iface.virtualport = VirtualPort(type="openvswitch")
    params = vport.parameters
    if params is not None and params.interfaceid is not None:
        return
    if spec.interfaceid is not None:
        wanted = _uuid(spec.interfaceid, "--interfaceid")
    else:
        assert spec.ovn_switch is not None and iface.mac is not None
        wanted = ovn_port_uuid(spec.ovn_switch, iface.mac)
    if params is None:
        vport.parameters = VirtualPortParameters(interfaceid=wanted)
    else:
        params.interfaceid = wanted


def choose_mac(spec: InterfaceSpec, rng: random.Random | None, *, used: set[str] | frozenset[str],
               seed_text: str | None, index: int, required: bool) -> str | None:
    """The interface's MAC: the given one (checked, not in ``used``), else derived or random.

    ``auto`` derives the address from ``--seed`` or ``seed_text`` (the domain's UUID or name)
    and the interface index, so re-running a script yields the same MAC; with neither it is
    random from ``rng``. None when no MAC was asked for and none is ``required``.
    """
    if spec.mac not in (None, "auto"):
        assert spec.mac is not None
        mac = normalize_mac(spec.mac)
        if mac in used:
            raise _bad("MAC address", spec.mac, "already used by another interface of the domain")
        return mac
    if spec.mac is None and spec.seed is None and not required:
        return None
    seed = spec.seed or seed_text
    if seed:
        return derived_mac(seed, index, oui=spec.oui, exclude=used)
    return random_mac(rng, oui=spec.oui, exclude=used)


def build_interface(spec: InterfaceSpec, rng: random.Random | None = None, *,
                    used_macs: set[str] | frozenset[str] = frozenset(), seed_text: str | None = None,
                    index: int = 0, for_domain: bool = False) -> Interface:
    """Check ``spec`` and build the interface it describes.

    ``for_domain`` is set when the interface goes into a domain document: a MAC is then
    always written and the metadata options are allowed (their entry is keyed by that MAC).
    Raises InvalidValue or UsageError with the reason on any option that does not fit.
    """
    _check_type(spec)
    if spec.wants_metadata() and not for_domain:
        raise UsageError(detail="the metadata options (--bridge-vlan, --tap-bridge, --vf-pf, "
                                "--ovs-setting, --forward, --ip, --ovn-switch) are stored in the "
                                "domain: give --domain FILE")
    _check_metadata_options(spec)
    iface = Interface(type=spec.type)
    mac = choose_mac(spec, rng, used=used_macs, seed_text=seed_text, index=index,
                     required=for_domain or spec.wants_metadata())
    if mac is not None:
        iface.mac = mac
    _apply_source(iface, spec)
    if spec.virtualport is not None:
        iface.virtualport = parse_virtualport(spec.virtualport, spec.type)
    _apply_interfaceid(iface, spec)
    _apply_vlan(iface, spec)
    _apply_managed_and_target(iface, spec)
    _apply_device(iface, spec)
    return iface


def build_metadata(spec: InterfaceSpec, mac: str, pci: str | None = None) -> MetaInterface | None:
    """The ``<vnx:interface mac=…>`` entry for the spec's metadata wishes, or None."""
    if not spec.wants_metadata():
        return None
    _check_metadata_options(spec)
    entry = MetaInterface(mac=mac.lower())
    if spec.bridge_vlan is not None:
        entry.vlan = build_meta_vlan(_spec_vlan(spec, spec.bridge_vlan))
    if spec.tap_bridge is not None:
        entry.tap = MetaTap(bridge=spec.tap_bridge, owner=spec.tap_owner, group=spec.tap_group,
                            multi_queue=spec.multi_queue, vnet_hdr=spec.vnet_hdr)
    for text in spec.ovs_settings:
        entry.ovs_settings.append(parse_ovs_setting(text))
    if spec.vf_pf is not None:
        entry.vf = MetaVf(pf=spec.vf_pf, index=spec.vf_index,
                          address=str(PciAddress.parse(spec.pci)) if spec.pci else pci)
    if spec.ip is not None and spec.ovn_switch is None:
        entry.ip = MetaIp(address=check_ipv4_address(spec.ip, "guest address (--ip)"))
    for text in spec.forwards:
        entry.forwards.append(MetaForward.of(parse_forward_spec(text)))
    if spec.ovn_switch is not None:
        entry.ovn = MetaOvnPort(switch=spec.ovn_switch,
                                address=parse_ovn_address(spec.ip) if spec.ip is not None else None)
    return entry


def insert_interface(domain: Domain, spec: InterfaceSpec, rng: random.Random | None = None) -> Interface:
    """Build the interface, append it to ``domain`` and write its metadata entry.

    Everything is checked before the document changes, so an error leaves it untouched.
    """
    iface = build_interface(spec, rng, used_macs=domain.used_macs(), seed_text=domain.seed,
                            index=len(domain.interfaces), for_domain=True)
    assert iface.mac is not None
    entry = build_metadata(spec, iface.mac)
    domain.add_interface(iface)
    if entry is not None:
        # A stale entry for this MAC (its interface was removed by hand) would be ambiguous.
        domain.drop_meta_interface(iface.mac)
        domain.meta_or_create().interfaces.append(entry)
    return iface
