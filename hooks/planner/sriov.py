"""SR-IOV VFs of a domain: which function an interface names (one identity, however it is
named), the claim and vfio binding at ``prepare``, MAC and VLAN through the PF, pool VFs."""

from __future__ import annotations

from lxml import etree

from hooks import actions as A
from hooks.planner.facts import HostFacts
from hooks.planner.interfaces import Nic, meta_of, nics
from xmltools.errors import InvalidValue
from xmltools.names import PciAddress, validate_interface_name
from xmltools.rules import MAX_VF_INDEX

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from typing import Any


def vf_ref(nic: Nic, mi: Any, facts: HostFacts) -> tuple[str | None, tuple[str, int] | None]:
    """PCI address and (PF, VF index) of the function an interface uses, as far as known.

    A VF has two names: its PCI address, which the claim holds and vfio binds, and its PF and
    index, through which MAC and VLAN are set; a hostdev also names the function libvirt gives
    QEMU (``<source><address>``). Every name given must resolve to one and the same function,
    else a domain could claim a free VF while its changes land on one another domain holds.
    """
    vf = mi.vf if mi is not None else None
    source = nic.hostdev_address() if nic.type == "hostdev" else None
    address = None
    pf_index: tuple[str, int] | None = None
    if vf is not None:
        given = str(PciAddress.parse(vf.address)) if vf.address else None
        if vf.pf and vf.index is not None:
            if not 0 <= vf.index <= MAX_VF_INDEX:
                raise InvalidValue(what="VF index", value=str(vf.index),
                                   reason=f"must be 0 to {MAX_VF_INDEX}")
            pf_index = (validate_interface_name(vf.pf, "PF name"), vf.index)
            found = facts.vf_address(*pf_index)
            if found is None:
                raise InvalidValue(what="VF", value=f"{vf.pf} index {vf.index}",
                                   reason="the PF has no such VF (is sriov_numvfs set?)")
            address = str(PciAddress.parse(found))
            if given is not None and given != address:
                raise InvalidValue(what="VF", value=f"{vf.pf} index {vf.index} address {given}",
                                   reason=f"VF {vf.index} of {vf.pf} is {address}, not {given}: "
                                          "pf/index and address must name the same VF")
        elif given is not None:
            address = given
            pf_index = facts.pf_of_vf(address)
        if source is not None and address is not None and source != address:
            raise InvalidValue(what="VF", value=nic.label,
                               reason=f"the hostdev's <source><address> is {source} but its metadata "
                                      f"names {address}: they must be the same VF")
    elif nic.type == "hostdev" and nic.node.get("managed") != "yes":
        # Unmanaged is libvirt's default: it writes managed='yes' and nothing for the other.
        address = source
    return address, pf_index


def _vf_vlan(mi: Any) -> int:
    if mi is None or mi.vlan is None:
        return 0
    wish = mi.vlan.resolved()
    if wish.tag is None:
        raise InvalidValue(what="VF VLAN", value=str(wish.trunks),
                           reason="a VF takes one access VLAN, not trunks")
    return wish.tag


def vf_actions(nic: Nic, mi: Any, facts: HostFacts) -> list[A.Action]:
    """prepare: claim the function, bind it to vfio-pci, set a macvtap VF's MAC and VLAN."""
    vf = mi.vf if mi is not None else None
    address, pf_index = vf_ref(nic, mi, facts)
    plan: list[A.Action] = []
    if address and (vf is not None or nic.type == "hostdev"):
        plan.append(A.ClaimDevice(f"pci-{address}", "VF", iface=nic.label))
    # libvirt binds managed hostdevs itself; a VF used through macvtap keeps its net driver.
    if address and nic.type == "hostdev" and nic.node.get("managed") != "yes":
        plan.append(A.BindVfio(address, iface=nic.label))
    if vf is not None and pf_index is not None and nic.type != "hostdev":
        # Imported here: xmltools.mac pulls in hashlib and random, which most hook calls never need.
        from xmltools.mac import normalize_mac

        mac = normalize_mac(nic.mac) if nic.mac else None  # set through the PF: never multicast
        plan.append(A.SetVfMacVlan(pf_index[0], pf_index[1], mac, _vf_vlan(mi), address,
                                   iface=nic.label))
    return plan


def hostdev_vlan_actions(root: etree._Element, facts: HostFacts) -> list[A.Action]:
    """start: the metadata VLAN of a hostdev VF. libvirt sets the VF's MAC (and its own
    <vlan>) between prepare and start, so the hook sets only the VLAN, and only after it."""
    meta = meta_of(root)
    if meta is None:
        return []
    plan: list[A.Action] = []
    for nic in nics(root):
        mi = meta.interface(nic.mac) if nic.mac else None
        if nic.type != "hostdev" or mi is None or mi.vf is None or mi.vlan is None:
            continue
        address, pf_index = vf_ref(nic, mi, facts)
        if pf_index is None:
            raise InvalidValue(what="VF", value=nic.label, reason="cannot tell its PF: add pf and index")
        plan.append(A.SetVfMacVlan(pf_index[0], pf_index[1], None, _vf_vlan(mi), address,
                                   iface=nic.label))
    return plan


def pool_of(nic: Nic, facts: HostFacts) -> tuple[str, str] | None:
    """(network, PF) when the interface is plugged into a hostdev network recorded as a VF pool."""
    if nic.type != "network":
        return None
    source = nic.node.find("source")
    network = source.get("network") if source is not None else None
    pf = facts.vf_pool(network) if network else None
    return (network, validate_interface_name(pf, "PF name")) if network and pf else None
