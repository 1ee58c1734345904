"""NetlinkPort over pyroute2's IPRoute: links, bridge VLAN filtering, macvlan shims, VF settings.

One netlink socket per hook run, opened on first use and closed by ``close()``. pyroute2 is
imported lazily, and without running its package ``__init__`` (which pulls in NDB, IPDB and
dozens of protocol modules): see ``_load_pyroute2``. The messages this adapter builds itself
(bridge VLANs, vlan_filtering, VF settings) come from pure functions, tested by encoding and
decoding them, because this machine's kernel has neither VLAN filtering nor VFs.
"""

from __future__ import annotations

import errno
import importlib.util
import ipaddress
import os
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from hooks.errors import Busy, HostError, NotFound
from hooks.ports import BridgeVlan, LinkInfo, VfInfo
from xmltools.errors import InvalidValue, NetXmlError
from xmltools.names import validate_interface_name, validate_vlan_id
from xmltools.rules import BRIDGE_VLAN_RANGE, bridge_vid_ok

AF_BRIDGE = 7
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
RTEXT_FILTER_VF, RTEXT_FILTER_BRVLAN = 0x1, 0x2
IFF_UP = 0x1

# struct bridge_vlan_info flags (include/uapi/linux/if_bridge.h)
BRIDGE_VLAN_INFO_PVID = 0x2
BRIDGE_VLAN_INFO_UNTAGGED = 0x4
BRIDGE_VLAN_INFO_RANGE_BEGIN = 0x8
BRIDGE_VLAN_INFO_RANGE_END = 0x10
BRIDGE_FLAGS_SELF = 0x2

MACVLAN_MODES = ("vepa", "bridge", "private", "passthru", "source")

_pyroute2: types.SimpleNamespace | None = None


def _load_pyroute2() -> types.SimpleNamespace:
    """IPRoute, ifinfmsg and NetlinkError, imported as cheaply as pyroute2 allows.

    ``import pyroute2.anything`` first runs ``pyroute2/__init__.py``, which imports the whole
    library (NDB, IPDB, IPSet, nftables, ...). When nobody has imported pyroute2 yet, empty
    package modules stand in for ``pyroute2`` and ``pyroute2.iproute`` while the one module we
    need loads, and are removed afterwards, so a later plain ``import pyroute2`` still gets the
    real package. Measured here: ~100 ms instead of ~210 ms for ``pyroute2.iproute.linux``.
    """
    global _pyroute2
    if _pyroute2 is not None:
        return _pyroute2
    stubs: list[str] = []
    if "pyroute2" not in sys.modules:
        for name in ("pyroute2", "pyroute2.iproute"):
            spec = importlib.util.find_spec(name)
            if spec is None or spec.submodule_search_locations is None:
                break
            stub = types.ModuleType(name)
            stub.__path__ = list(spec.submodule_search_locations)
            stub.__spec__ = spec
            sys.modules[name] = stub
            stubs.append(name)
    try:
        from pyroute2.iproute.linux import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError
        from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
    finally:
        for name in reversed(stubs):
            sys.modules.pop(name, None)
    # pyroute2 logs tracebacks of what it recovers from (a message it could not decode) through
    # the logging module, whose fallback prints them on stderr, which libvirt shows as the
    # hook's error. Our own one-line error says what failed; keep pyroute2's log out of it.
    import logging  # already loaded by pyroute2

    for name in ("pyroute2", "asyncio"):   # asyncio: the event loop pyroute2 runs requests in
        library_log = logging.getLogger(name)
        library_log.addHandler(logging.NullHandler())
        library_log.propagate = False
    _pyroute2 = types.SimpleNamespace(IPRoute=IPRoute, NetlinkError=NetlinkError, ifinfmsg=ifinfmsg)
    return _pyroute2


# ----------------------------------------------------------------- message builders (pure)

def bridge_vlan_msg(index: int, vid: int, pvid: bool = False, untagged: bool = False,
                    self_: bool = False) -> Any:
    """An AF_BRIDGE ifinfmsg carrying one IFLA_BRIDGE_VLAN_INFO, for RTM_SETLINK/RTM_DELLINK.

    ``self_`` addresses the bridge device's own VLANs (``bridge vlan ... self``); otherwise
    the kernel routes the request to the port's master bridge.
    """
    flags = (BRIDGE_VLAN_INFO_PVID if pvid else 0) | (BRIDGE_VLAN_INFO_UNTAGGED if untagged else 0)
    spec: list[tuple[str, Any]] = []
    if self_:
        spec.append(("IFLA_BRIDGE_FLAGS", BRIDGE_FLAGS_SELF))
    spec.append(("IFLA_BRIDGE_VLAN_INFO", {"flags": flags, "vid": vid}))
    msg = _load_pyroute2().ifinfmsg()
    msg["family"] = AF_BRIDGE
    msg["index"] = index
    msg["attrs"] = [("IFLA_AF_SPEC", {"attrs": spec})]
    return msg


def bridge_vlan_filtering_msg(index: int, on: bool) -> Any:
    """An RTM_NEWLINK ifinfmsg setting IFLA_BR_VLAN_FILTERING on a bridge."""
    msg = _load_pyroute2().ifinfmsg()
    msg["index"] = index
    msg["attrs"] = [("IFLA_LINKINFO", {"attrs": [
        ("IFLA_INFO_KIND", "bridge"),
        ("IFLA_INFO_DATA", {"attrs": [("IFLA_BR_VLAN_FILTERING", 1 if on else 0)]}),
    ]})]
    return msg


def bridge_vlans_dump_msg() -> Any:
    """An RTM_GETLINK dump request for every bridge port's VLAN list (``bridge vlan show``)."""
    msg = _load_pyroute2().ifinfmsg()
    msg["family"] = AF_BRIDGE
    msg["attrs"] = [("IFLA_EXT_MASK", RTEXT_FILTER_BRVLAN)]
    return msg


def set_vf_msg(pf_index: int, vf: int, mac: str | None, vlan: int | None) -> Any:
    """An RTM_NEWLINK ifinfmsg on the PF setting one VF's MAC and/or VLAN (0 = none)."""
    info: list[tuple[str, Any]] = []
    if mac is not None:
        info.append(("IFLA_VF_MAC", {"vf": vf, "mac": mac}))
    if vlan is not None:
        info.append(("IFLA_VF_VLAN", {"vf": vf, "vlan": vlan, "qos": 0}))
    msg = _load_pyroute2().ifinfmsg()
    msg["index"] = pf_index
    msg["attrs"] = [("IFLA_VFINFO_LIST", {"attrs": [("IFLA_VF_INFO", {"attrs": info})]})]
    return msg


# ----------------------------------------------------------------- message parsers (pure)

def parse_bridge_vlans(af_spec: Any) -> list[BridgeVlan]:
    """BridgeVlan entries from a decoded IFLA_AF_SPEC, expanding RANGE_BEGIN..RANGE_END pairs."""
    vlans: list[BridgeVlan] = []
    begin: int | None = None
    for info in af_spec.get_attrs("IFLA_BRIDGE_VLAN_INFO") if af_spec is not None else ():
        flags, vid = info["flags"], info["vid"]
        pvid, untagged = bool(flags & BRIDGE_VLAN_INFO_PVID), bool(flags & BRIDGE_VLAN_INFO_UNTAGGED)
        if flags & BRIDGE_VLAN_INFO_RANGE_BEGIN:
            begin = vid
            continue
        first = begin if begin is not None and flags & BRIDGE_VLAN_INFO_RANGE_END else vid
        begin = None
        # The kernel never puts the pvid inside a range; only a single entry can carry it.
        vlans.extend(BridgeVlan(v, pvid=pvid and first == vid, untagged=untagged)
                     for v in range(first, vid + 1))
    return sorted(vlans, key=lambda v: v.vid)


def parse_vf_list(msg: Any) -> list[VfInfo]:
    """VfInfo per VF from an RTM_NEWLINK reply requested with RTEXT_FILTER_VF."""
    vfs: list[VfInfo] = []
    vflist = msg.get_attr("IFLA_VFINFO_LIST")
    for entry in vflist.get_attrs("IFLA_VF_INFO") if vflist is not None else ():
        mac_attr, vlan_attr = entry.get_attr("IFLA_VF_MAC"), entry.get_attr("IFLA_VF_VLAN")
        if mac_attr is None:
            continue
        mac = mac_attr["mac"]
        vfs.append(VfInfo(index=mac_attr["vf"], mac=None if mac == "00:00:00:00:00:00" else mac,
                          vlan=vlan_attr["vlan"] if vlan_attr is not None else 0))
    return vfs


def tun_facts(data: Any) -> dict[str, Any]:
    """LinkInfo's tun fields from the IFLA_INFO_DATA of a ``tun`` link.

    What this kernel reports (checked in a namespace): IFLA_TUN_TYPE 1 (tun) or 2 (tap),
    IFLA_TUN_PERSIST, and IFLA_TUN_NUM_QUEUES / IFLA_TUN_NUM_DISABLED_QUEUES only for a
    multi-queue device. A single-queue TAP tells that a process holds it by its carrier alone
    (on from the first attach until the last close); sysfs has no tun_flags file, and /sys shows
    the namespace it was mounted in, not the caller's.
    """
    if data is None:
        return {"tun_mode": None}
    mode = {1: "tun", 2: "tap"}.get(data.get_attr("IFLA_TUN_TYPE"))
    queues = data.get_attr("IFLA_TUN_NUM_QUEUES")
    disabled = data.get_attr("IFLA_TUN_NUM_DISABLED_QUEUES")
    return {"tun_mode": mode, "tun_persistent": bool(data.get_attr("IFLA_TUN_PERSIST")),
            "tun_queues": None if queues is None else queues + (disabled or 0)}


def _link_kind(msg: Any) -> tuple[str | None, Any]:
    linkinfo = msg.get_attr("IFLA_LINKINFO")
    if linkinfo is None:
        return None, None
    return linkinfo.get_attr("IFLA_INFO_KIND"), linkinfo.get_attr("IFLA_INFO_DATA")


# ----------------------------------------------------------------- the adapter

class NetlinkAdapter:
    """NetlinkPort over one pyroute2 IPRoute socket, opened on first use."""

    def __init__(self) -> None:
        self._ipr: Any = None

    def _ip(self) -> Any:
        if self._ipr is None:
            with self._errors("open netlink socket"):
                ipr = _load_pyroute2().IPRoute()
            # pyroute2 0.9's synchronous IPRoute never sets this key, and nlm_request() reads
            # it: without a default every raw request fails with KeyError.
            ipr.status.setdefault("nlm_generator", False)
            self._ipr = ipr
        return self._ipr

    def close(self) -> None:
        """Close the socket; a failure to close is not worth masking the hook's real outcome."""
        if self._ipr is not None:
            ipr, self._ipr = self._ipr, None
            with suppress(Exception):
                ipr.close()

    @contextmanager
    def _errors(self, step: str, name: str | None = None) -> Iterator[None]:
        """Turn netlink and OS errors into HostError (Busy for EBUSY) naming the step."""
        netlink_error = _load_pyroute2().NetlinkError
        try:
            yield
        except (netlink_error, OSError) as exc:
            code = getattr(exc, "code", None) or getattr(exc, "errno", None)
            detail = os.strerror(code) if code else str(exc)
            if code == errno.EBUSY and name:
                raise Busy(step=step, what="interface", name=name, detail=detail) from None
            raise HostError(step=step, detail=detail) from None
        except NetXmlError:
            raise
        except BaseException:
            # Interrupted mid-request (the hook's deadline fires SIGALRM): the socket may hold
            # half a reply. Drop it, so the rollback that follows talks over a fresh one.
            self.close()
            raise

    def _msg(self, step: str, name: str, **extra: Any) -> Any:
        msg = self._lookup(step, name, **extra)
        if msg is None:
            raise NotFound(step=step, what="interface", name=name)
        return msg

    def _lookup(self, step: str, name: str, **extra: Any) -> Any | None:
        validate_interface_name(name)
        netlink_error = _load_pyroute2().NetlinkError
        with self._errors(step, name):
            try:
                return self._ip().link("get", ifname=name, **extra)[0]
            except netlink_error as exc:
                if exc.code == errno.ENODEV:
                    return None
                raise

    def _index(self, step: str, name: str) -> int:
        return self._msg(step, name)["index"]

    def _name_of(self, index: int) -> str | None:
        netlink_error = _load_pyroute2().NetlinkError
        with self._errors(f"read name of link {index}"):
            try:
                return self._ip().link("get", index=index)[0].get_attr("IFLA_IFNAME")
            except netlink_error:
                return None

    def link(self, name: str) -> LinkInfo | None:
        msg = self._lookup(f"read link {name}", name)
        if msg is None:
            return None
        kind, data = _link_kind(msg)
        mode = None
        if kind in ("macvlan", "macvtap") and data is not None:
            mode = data.get_attr("IFLA_MACVLAN_MODE" if kind == "macvlan" else "IFLA_MACVTAP_MODE")
        master = msg.get_attr("IFLA_MASTER")
        return LinkInfo(name=msg.get_attr("IFLA_IFNAME"), index=msg["index"], kind=kind,
                        up=bool(msg["flags"] & IFF_UP), master=self._name_of(master) if master else None,
                        mac=msg.get_attr("IFLA_ADDRESS"), macvlan_mode=mode,
                        carrier=bool(msg.get_attr("IFLA_CARRIER")),
                        **(tun_facts(data) if kind == "tun" else {}))

    def create_tap(self, name: str, uid: int | None, gid: int | None,
                   multi_queue: bool, vnet_hdr: bool) -> None:
        """A persistent TAP (no packet info header), owned by uid/gid when given."""
        step = f"create tap {name}"
        # TUNSETIFF on an existing TAP attaches to it instead of failing: refuse explicitly,
        # so the hook never adopts (and later deletes) a TAP it did not create.
        if self._lookup(step, name) is not None:
            raise HostError(step=step, detail=os.strerror(errno.EEXIST))
        owner = {k: v for k, v in (("uid", uid), ("gid", gid)) if v is not None}
        ifr = {"no_pi": True, "one_queue": False, "vnet_hdr": vnet_hdr, "multi_queue": multi_queue}
        with self._errors(step, name):
            self._ip().link("add", ifname=name, kind="tuntap", mode="tap", ifr=ifr, **owner)

    def create_macvlan(self, name: str, uplink: str, mode: str) -> None:
        step = f"create macvlan {name} on {uplink}"
        if mode not in MACVLAN_MODES:
            raise InvalidValue(what="macvlan mode", value=mode, reason=f"expected one of {MACVLAN_MODES}")
        validate_interface_name(name)
        lower = self._index(step, uplink)
        with self._errors(step, name):
            self._ip().link("add", ifname=name, kind="macvlan", link=lower, macvlan_mode=mode)

    def delete_link(self, name: str) -> None:
        step = f"delete {name}"
        index = self._index(step, name)
        with self._errors(step, name):
            self._ip().link("del", index=index)

    def set_up(self, name: str, up: bool = True) -> None:
        step = f"set {name} {'up' if up else 'down'}"
        index = self._index(step, name)
        with self._errors(step, name):
            self._ip().link("set", index=index, state="up" if up else "down")

    def set_master(self, name: str, master: str | None) -> None:
        step = f"enslave {name} to {master}" if master else f"release {name} from its master"
        index = self._index(step, name)
        master_index = self._index(step, master) if master else 0
        with self._errors(step, name):
            self._ip().link("set", index=index, master=master_index)

    def add_address(self, name: str, cidr: str) -> None:
        step = f"add address {cidr} to {name}"
        try:
            iface = ipaddress.ip_interface(cidr)
        except ValueError as exc:
            raise InvalidValue(what="address", value=cidr, reason=str(exc)) from None
        index = self._index(step, name)
        with self._errors(step, name):
            self._ip().addr("add", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen)

    def _bridge(self, step: str, name: str) -> Any:
        msg = self._msg(step, name)
        kind, data = _link_kind(msg)
        if kind != "bridge":
            raise HostError(step=step, detail=f"{name} is not a bridge")
        return msg, data

    def bridge_vlan_filtering(self, bridge: str) -> bool:
        _, data = self._bridge(f"read vlan_filtering of {bridge}", bridge)
        return bool(data is not None and data.get_attr("IFLA_BR_VLAN_FILTERING"))

    def set_bridge_vlan_filtering(self, bridge: str, on: bool) -> None:
        step = f"set vlan_filtering {int(on)} on {bridge}"
        msg, _ = self._bridge(step, bridge)
        with self._errors(step, bridge):
            self._ip().nlm_request(bridge_vlan_filtering_msg(msg["index"], on), RTM_NEWLINK,
                                   NLM_F_REQUEST | NLM_F_ACK)

    def bridge_vlans(self, port: str) -> list[BridgeVlan]:
        step = f"list VLANs of {port}"
        index = self._index(step, port)
        with self._errors(step, port):
            for msg in self._ip().nlm_request(bridge_vlans_dump_msg(), RTM_GETLINK,
                                              NLM_F_REQUEST | NLM_F_DUMP):
                if msg["index"] == index:
                    return parse_bridge_vlans(msg.get_attr("IFLA_AF_SPEC"))
        return []

    def bridge_vlan_add(self, port: str, vid: int, pvid: bool, untagged: bool) -> None:
        step = f"add VLAN {vid} to {port}"
        if not isinstance(vid, int) or not bridge_vid_ok(vid):
            raise InvalidValue(what="bridge VLAN id", value=str(vid),
                               reason="must be {} to {}".format(*BRIDGE_VLAN_RANGE))
        msg = self._msg(step, port)
        self_ = _link_kind(msg)[0] == "bridge"
        with self._errors(step, port):
            self._ip().nlm_request(bridge_vlan_msg(msg["index"], vid, pvid, untagged, self_),
                                   RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK)

    def bridge_vlan_del(self, port: str, vid: int) -> None:
        """Remove ``vid`` from the port; a VLAN the port does not carry is not an error."""
        step = f"delete VLAN {vid} from {port}"
        msg = self._msg(step, port)
        self_ = _link_kind(msg)[0] == "bridge"
        netlink_error = _load_pyroute2().NetlinkError
        with self._errors(step, port):
            try:
                self._ip().nlm_request(bridge_vlan_msg(msg["index"], vid, self_=self_),
                                       RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK)
            except netlink_error as exc:
                if exc.code != errno.ENOENT:
                    raise

    def _vfs(self, step: str, pf: str) -> tuple[int, list[VfInfo]]:
        msg = self._msg(step, pf, ext_mask=RTEXT_FILTER_VF)
        return msg["index"], parse_vf_list(msg)

    def vf_info(self, pf: str, index: int) -> VfInfo:
        step = f"read VF {index} of {pf}"
        for vf in self._vfs(step, pf)[1]:
            if vf.index == index:
                return vf
        raise NotFound(step=step, what="VF", name=f"{pf} vf {index}")

    def set_vf(self, pf: str, index: int, mac: str | None = None, vlan: int | None = None) -> None:
        step = f"set VF {index} of {pf}"
        if vlan is not None:
            validate_vlan_id(vlan)
        pf_index, vfs = self._vfs(step, pf)
        if not any(vf.index == index for vf in vfs):
            raise NotFound(step=step, what="VF", name=f"{pf} vf {index}")
        if mac is None and vlan is None:
            return
        with self._errors(step, pf):
            self._ip().nlm_request(set_vf_msg(pf_index, index, mac, vlan), RTM_NEWLINK,
                                   NLM_F_REQUEST | NLM_F_ACK)
