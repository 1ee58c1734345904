"""Semantic checks of network, domain and interface documents: what no schema expresses.

Each check works directly on the parsed lxml tree (no model objects, so a lint run over a
thousand files stays cheap) and reports an Issue with a stable code, a severity, the line of
the element concerned and a message that names it.

Severity follows one rule. ``error``: libvirt's XML parser refuses the document, or the
network or guest cannot work as written (an address outside its subnet, a macvtap pool
without uplinks). ``warning``: libvirt parses it and only its network driver or the host may
object later, or it is very likely a mistake. Four driver-level rules are warnings on purpose,
because libvirt's own parser tests (tests/networkxml2xmlin) accept them as valid input:
``<ip>`` on a bridge/macvtap/hostdev network (passthrough-pf.xml), ``<vlan>`` on a network
type that cannot apply it (8021Qbh-net.xml), PCI addresses in a passthrough pool
(passthrough-address-crash.xml) and a bridge network with neither a bridge name nor uplinks
(openvswitch-net.xml).

Cross-file duplicates (MACs, names, UUIDs) are found by a RunIndex shared by all files of one
lint run, per host (lint's ``--scope``); the finding goes to the second occurrence and names the
first. The other checks across files (the network and portgroup a domain interface names, the
VLANs that network's ports can carry) run once every file is read (crossfile.CrossIndex).

Modules: shared (report, values, VLAN/MAC/PCI/bandwidth checks), network, interface (NICs
and domains), metadata (the project's vocabulary), ovn (its OVN switches and ports), unique and
crossfile (across files).
"""

from xmltools.checks.interface import check_domain, check_interface
from xmltools.checks.metadata import META_NS, check_metadata
from xmltools.checks.network import check_network
from xmltools.checks.shared import Issue, Report, Severity, describe, mac_problem
from xmltools.checks.unique import RunIndex, check_unique, identities

__all__ = [
    "META_NS",
    "Issue",
    "Report",
    "RunIndex",
    "Severity",
    "check_domain",
    "check_interface",
    "check_metadata",
    "check_network",
    "check_unique",
    "describe",
    "identities",
    "mac_problem",
]
