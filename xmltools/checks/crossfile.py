"""Checks across the files of one lint run, made once every file has been read.

A domain's ``<interface type='network'>`` names a network, and perhaps a portgroup, that
another file defines. Whether that network exists, has the portgroup, and gives the interface a
port that can carry its VLAN is only known once the run has read every network file, so the
lint driver records small facts per document here (never the trees) and asks for the findings
at the end.

Hosts: a lint run may hold the files of several hosts. ``host`` is a key the driver gives each
file (``--scope``): a domain's network must be defined on the same host, and only a host with at
least one network file is checked at all (a run of domains alone says nothing about the
networks they use; libvirt's ``default`` network counts only when its file is in the run).

The VLAN rules are the project's own, written once: libvirt's (``rules.libvirt_applies_vlan``,
and the port type libvirt gives the interface, ``rules.network_port_type``) and the hooks' for
the project's metadata VLAN (``rules.BRIDGE_PORT_TYPES``, which the hooks' planner uses too).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from lxml import etree

from xmltools.checks.forwards import (
    ForwardFact,
    NetworkAddresses,
    forward_facts,
    forward_findings,
    network_addresses,
)
from xmltools.checks.metadata import META_NS
from xmltools.checks.ovn import OvnPort, OvnSwitch, ovn_findings, ovn_ports, ovn_switch_of
from xmltools.checks.shared import Issue, Severity, describe
from xmltools.errors import UsageError
from xmltools.rules import BRIDGE_PORT_TYPES, LINUX_BRIDGE_VLAN_SINCE, libvirt_applies_vlan, network_port_type
from xmltools.versions import NEWEST, Version, show

SCOPES = ("run", "dir")
STDIN = "-"
OVS = "openvswitch"


@dataclass(frozen=True, slots=True)
class NetworkFacts:
    """What the cross-file checks need of one network file."""

    path: str
    line: int
    mode: str                             # <forward mode>; "nat" for a bare <forward>, "none" without one
    has_bridge: bool                      # a <bridge name>
    virtualport: str | None               # the network's <virtualport type>
    portgroups: dict[str, str | None]     # name -> the portgroup's <virtualport type>
    default_portgroup: str | None

    def shown(self) -> str:
        return "no <forward> (isolated)" if self.mode == "none" else f"forward mode='{self.mode}'"


@dataclass(frozen=True, slots=True)
class NetworkPort:
    """One domain ``<interface type='network'>`` and what it asks of its network."""

    path: str
    line: int
    label: str                 # <interface type='network'> as messages show it
    network: str
    portgroup: str | None
    virtualport: str | None    # the interface's own <virtualport type>
    vlan: bool                 # libvirt's <vlan> with at least one tag
    meta_vlan: str | None      # the MAC of a metadata entry with a <vnx:vlan> and no <vnx:vf>


@dataclass(frozen=True, slots=True)
class CrossFinding:
    """An Issue in a given file."""

    path: str
    issue: Issue


@dataclass
class CrossIndex:
    """Network definitions and network-backed interfaces of a run, per host."""

    networks: dict[str, dict[str, NetworkFacts]] = field(default_factory=dict)
    ports: list[tuple[str, NetworkPort]] = field(default_factory=list)
    forwards: list[tuple[str, ForwardFact]] = field(default_factory=list)
    addresses: dict[str, dict[str, NetworkAddresses]] = field(default_factory=dict)
    ovn_switches: dict[str, dict[str, OvnSwitch | None]] = field(default_factory=dict)
    ovn_ports: list[tuple[str, OvnPort]] = field(default_factory=list)

    def add(self, root: etree._Element, kind: str, path: str, host: str = "") -> None:
        """Record what a network or domain document brings to the cross-file checks."""
        if kind == "network":
            facts = network_facts(root, path)
            if facts is not None:
                # A second network of the same name is reported as a duplicate; the first counts.
                self.networks.setdefault(host, {}).setdefault(_name(root) or "", facts)
                addresses = network_addresses(root, path)
                self.addresses.setdefault(host, {}).setdefault(_name(root) or "", addresses)
                self.ovn_switches.setdefault(host, {}).setdefault(_name(root) or "",
                                                                  ovn_switch_of(root, path))
            else:
                self.networks.setdefault(host, {})
        elif kind == "domain":
            self.ports.extend((host, port) for port in network_ports(root, path))
            self.forwards.extend((host, fact) for fact in forward_facts(root, path))
            self.ovn_ports.extend((host, port) for port in ovn_ports(root, path))

    def findings(self, libvirt: Version = NEWEST) -> list[CrossFinding]:
        """The findings of the run, in the order the interfaces were read."""
        out: list[CrossFinding] = []
        for host, port in self.ports:
            if host not in self.networks:
                continue   # this host's files define no network: nothing to check against
            net = self.networks[host].get(port.network)
            if net is None:
                out.append(_at(port, "error", "network-unknown",
                               f"{port.label}: no network file {_where(host)} defines network "
                               f"'{port.network}', and libvirt refuses to start a guest on a network it "
                               "does not have (checked because these files include networks)"))
                continue
            if port.portgroup is not None and port.portgroup not in net.portgroups:
                out.append(_at(port, "warning", "portgroup-unknown",
                               f"{port.label}: network '{port.network}' ({net.path}:{net.line}) has no "
                               f"portgroup '{port.portgroup}'; libvirt starts the guest without any "
                               "portgroup's settings"))
            group = port.portgroup if port.portgroup in net.portgroups else net.default_portgroup
            where = f"network '{port.network}' ({net.shown()}, {net.path}:{net.line})"
            if port.vlan and not libvirt_carries_vlan(net, group, port.virtualport, libvirt):
                out.append(_at(port, "warning", "vlan-unsupported",
                               f"{port.label}: libvirt {show(libvirt)} refuses its <vlan> when the guest "
                               f"starts on {where}: it applies <vlan> only on "
                               f"{_libvirt_vlan_ports(libvirt)}"))
            if port.meta_vlan is not None and not hooks_carry_meta_vlan(net):
                kind = network_port_type(net.mode, net.has_bridge)
                out.append(_at(port, "warning", "meta-vlan-unsupported",
                               f"{port.label}: the hooks do not apply the vnx:vlan metadata of MAC "
                               f"{port.meta_vlan} on {where}, which gives the guest a {kind} port: they "
                               "set VLANs on bridge ports (NAT, routed, open, isolated networks and "
                               "bridge networks with a <bridge name>) or through a VF's PF (<vnx:vf>)"))
        # OVN ports: their switch is their network's, their address in its subnet
        for host, ovn_port in self.ovn_ports:
            if host in self.networks:
                out += [CrossFinding(ovn_port.path, issue)
                        for issue in ovn_findings(ovn_port, self.ovn_switches.get(host, {}))]
        # port forwards: a host port two domains forward, guest addresses against their network
        found = forward_findings(self.forwards, {h: self.addresses.get(h, {}) for h in self.networks})
        out += [CrossFinding(path, issue) for path, issue in found]
        return out


def _at(port: NetworkPort, severity: Severity, code: str, message: str) -> CrossFinding:
    return CrossFinding(port.path, Issue(port.line, severity, code, message))


def _where(host: str) -> str:
    return "of this run" if not host else f"of the host folder {host} (--scope dir)"


def _libvirt_vlan_ports(libvirt: Version) -> str:
    linux = " and Linux bridge" if libvirt >= LINUX_BRIDGE_VLAN_SINCE else ""
    later = "" if linux else " (Linux bridge networks from libvirt 11.0)"
    return f"hostdev, passthrough, Open vSwitch{linux} networks{later}"


def _name(root: etree._Element) -> str | None:
    text = root.findtext("name")
    return text.strip() if text else None


def _vport_type(node: etree._Element | None) -> str | None:
    vport = node.find("virtualport") if node is not None else None
    return vport.get("type") if vport is not None else None


def network_facts(root: etree._Element, path: str) -> NetworkFacts | None:
    """The facts of a network document (None without a name)."""
    if not _name(root):
        return None
    forward = root.find("forward")
    bridge = root.find("bridge")
    groups: dict[str, str | None] = {}
    default: str | None = None
    for pg in root.iterfind("portgroup"):
        name = pg.get("name")
        if name is None or name in groups:
            continue
        groups[name] = _vport_type(pg)
        if pg.get("default") == "yes" and default is None:
            default = name
    return NetworkFacts(
        path=path, line=root.sourceline or 1,
        mode="none" if forward is None else (forward.get("mode") or "nat"),
        has_bridge=bridge is not None and bool(bridge.get("name")),
        virtualport=_vport_type(root), portgroups=groups, default_portgroup=default)


def network_ports(root: etree._Element, path: str) -> Iterable[NetworkPort]:
    """The domain's ``<interface type='network'>`` elements that name a network."""
    meta = root.find(f"metadata/{{{META_NS}}}netxml")
    q = f"{{{META_NS}}}"
    wishes: dict[str, str] = {}
    if meta is not None:
        for entry in meta.iterfind(q + "interface"):
            mac = (entry.get("mac") or "").lower()
            if mac and entry.find(q + "vlan") is not None and entry.find(q + "vf") is None:
                wishes.setdefault(mac, entry.get("mac") or "")
    for iface in root.iterfind("devices/interface"):
        source = iface.find("source")
        network = source.get("network") if source is not None else None
        if iface.get("type") != "network" or not network:
            continue
        mac = iface.find("mac")
        address = (mac.get("address") or "").lower() if mac is not None else ""
        vlan = iface.find("vlan")
        yield NetworkPort(
            path=path, line=iface.sourceline or 1, label=describe(iface), network=network,
            portgroup=source.get("portgroup") if source is not None else None,
            virtualport=_vport_type(iface),
            vlan=vlan is not None and vlan.find("tag") is not None,
            meta_vlan=wishes.get(address) if address else None)


def libvirt_carries_vlan(net: NetworkFacts, portgroup: str | None, iface_vport: str | None,
                         libvirt: Version) -> bool:
    """Does libvirt accept a <vlan> on a port of ``net`` (through ``portgroup``) at guest start?

    libvirt decides by the port it gives the interface (domain_validate.c): a hostdev VF, a
    macvtap passthrough, an Open vSwitch port, and from 11.0 a Linux bridge port without any
    <virtualport>. The port's virtualport is the interface's, else the portgroup's, else the
    network's (libvirt merges the three; they may not disagree).
    """
    port = network_port_type(net.mode, net.has_bridge)
    if port == "direct" and net.mode != "passthrough":
        return False   # a macvtap port in vepa, private or bridge mode
    group_vport = net.portgroups.get(portgroup) if portgroup is not None else None
    vport = iface_vport or group_vport or net.virtualport
    if port == "bridge" and vport not in (None, OVS):
        return False
    return libvirt_applies_vlan(net.mode, port == "bridge" and vport == OVS, libvirt)


def hooks_carry_meta_vlan(net: NetworkFacts) -> bool:
    """Would the hooks apply a metadata VLAN (without a <vnx:vf>) on a port of ``net``?"""
    return network_port_type(net.mode, net.has_bridge) in BRIDGE_PORT_TYPES


@dataclass(frozen=True)
class HostScope:
    """Which host each file of a run belongs to (lint's ``--scope``).

    ``run`` (the default): every file of the run is one host, the empty key. ``dir``: each
    folder named on the command line is a host; a file belongs to the outermost such folder
    that holds it, a file named by itself outside all of them to its own folder (files named
    from one folder are one host), standard input to the current folder. Folders are compared
    by their absolute paths, without resolving symbolic links.
    """

    folders: tuple[str, ...] = ()
    per_dir: bool = False

    @classmethod
    def of(cls, given: Iterable[str], scope: str) -> HostScope:
        if scope not in SCOPES:
            raise UsageError(detail=f"--scope must be one of {', '.join(SCOPES)}, not {scope!r}")
        if scope == "run":
            return cls()
        # Outermost first: the first folder that holds a file is the one it belongs to.
        folders = {os.path.abspath(p) for p in given if p != STDIN and os.path.isdir(p)}
        return cls(tuple(sorted(folders, key=len)), per_dir=True)

    def host(self, path: str) -> str:
        """The host of ``path``, as lint shows it (``<stdin>`` for standard input)."""
        if not self.per_dir:
            return ""
        if path in (STDIN, "<stdin>"):
            return os.path.abspath(os.curdir)
        full = os.path.abspath(path)
        return next((d for d in self.folders if full.startswith(os.path.join(d, ""))), os.path.dirname(full))
