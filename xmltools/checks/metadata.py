"""Semantic checks of the project's own metadata (<vnx:netxml>, see xmltools.metadata)."""

from __future__ import annotations

import ipaddress

from lxml import etree

from xmltools.checks.shared import Report, check_mac_attr, describe, mac_problem
from xmltools.errors import InvalidValue
from xmltools.names import PciAddress

META_NS = "urn:virt-netxml:hooks:1"


def check_metadata(root: etree._Element, kind: str, report: Report) -> None:
    """Semantic checks of the project's <vnx:netxml> metadata, wherever it is."""
    from xmltools.metadata import MetaVlan, ovs_setting_problem

    meta = root.find(f"metadata/{{{META_NS}}}netxml")
    if meta is None:
        return
    q = f"{{{META_NS}}}"
    nic_macs = {(m.get("address") or "").lower() for m in root.iterfind("devices/interface/mac")}
    seen: dict[str, etree._Element] = {}
    for entry in meta.iterfind(q + "interface"):
        mac = (entry.get("mac") or "").lower()
        if mac and mac_problem(mac) is None:
            if mac in seen:
                report.error(entry, "meta-duplicate", f"{describe(entry)}: a second entry for MAC {mac} "
                                                      f"(first on line {seen[mac].sourceline})")
            seen[mac] = entry
            if kind == "domain" and mac not in nic_macs:
                report.warning(entry, "meta-unknown-mac",
                               f"{describe(entry)}: no <interface> of this domain has MAC {mac}")
        elif mac:
            check_mac_attr(entry, report, describe(entry), "mac")
        tap = entry.find(q + "tap")
        # (an entry without a MAC names no NIC, not even one whose <mac> lacks its address)
        if tap is not None and kind == "domain" and mac:
            nic = next((m.getparent() for m in root.iterfind("devices/interface/mac")
                        if (m.get("address") or "").lower() == mac), None)
            if nic is not None and nic.get("type") != "ethernet":
                report.warning(tap, "meta-tap-type",
                               f"{describe(tap)}: a pre-created TAP is for type='ethernet' interfaces, "
                               f"this one is type='{nic.get('type')}'")
        for setting in entry.iterfind(q + "ovs-setting"):
            problem = ovs_setting_problem(setting.get("table"), setting.get("column"), setting.get("key"),
                                          setting.get("value"))
            if problem:
                report.error(setting, "ovs-setting-not-allowed", f"{describe(setting)}: {problem}")
        vf = entry.find(q + "vf")
        if vf is not None:
            if vf.get("address") is None and (vf.get("pf") is None or vf.get("index") is None):
                report.error(vf, "meta-vf", f"{describe(vf)}: give the VF's PCI address, or its pf and index")
            elif vf.get("address") is not None:
                try:
                    PciAddress.parse(vf.get("address") or "")
                except InvalidValue as exc:
                    report.error(vf, "meta-vf", f"{describe(vf)}: {exc}")
    for vlan in meta.iter(q + "vlan"):
        try:
            # the hooks' own reading of the element: the VLAN grammar and limits of xmltools.rules
            wish = MetaVlan(vlan).resolved()
            if wish.native is not None and wish.trunks and wish.native not in wish.trunk_ids():
                report.warning(vlan, "meta-vlan-native",
                               f"{describe(vlan)}: native VLAN {wish.native} is not in the trunk list")
        except InvalidValue as exc:
            report.error(vlan, "meta-vlan", f"{describe(vlan)}: {exc}")
    if kind == "network":
        portgroups = {pg.get("name") for pg in root.iterfind("portgroup")}
        for pg in meta.iterfind(q + "portgroup"):
            if pg.get("name") not in portgroups:
                report.warning(pg, "meta-unknown-portgroup",
                               f"{describe(pg)}: the network has no <portgroup name='{pg.get('name')}'>")
        for entry in meta.iterfind(q + "interface"):
            report.warning(entry, "meta-wrong-kind",
                           f"{describe(entry)}: per-interface wishes belong in a domain's metadata")
        from xmltools.checks.ovn import check_ovn_network

        check_ovn_network(root, meta, report)
    elif kind == "domain":
        from xmltools.checks.ovn import check_ovn_domain

        check_ovn_domain(root, meta, report)
        for child in meta:
            if child.tag in (q + "bridge", q + "shim", q + "sriov", q + "portgroup", q + "ovn"):
                report.warning(child, "meta-wrong-kind",
                               f"{describe(child)}: this wish belongs in a network's metadata")
    from xmltools.checks.forwards import check_forwards

    check_forwards(root, kind, report)
    shim = meta.find(q + "shim")
    if shim is not None and shim.get("address") is not None:
        try:
            ipaddress.ip_interface(shim.get("address") or "")
        except ValueError:
            report.error(shim, "meta-shim",
                         f"{describe(shim)}: {shim.get('address')!r} is not ADDRESS/PREFIX")
