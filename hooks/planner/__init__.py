"""From (operation, XML, host facts, recorded state) to a list of actions. Nothing here changes
the host: the few facts the plan depends on (is this bridge an OVS bridge? which PCI address
has VF 3 of enp4s0f0?) come through a ``HostFacts`` object, a table in tests.

One job per module:

* ``facts``: ``HostFacts`` and its sources (tables, the hook call's ports, ``hooks plan``);
* ``interfaces``: a domain's ``<interface>`` elements read through the model, and metadata;
* ``vlans``: VLAN wishes and the bridge/OVS actions that set them;
* ``sriov``: which VF an interface names, and its claim, binding, MAC and VLAN;
* ``domain``: domain events (prepare, per-port VLANs at start/reconnect/attach, release);
* ``network``: network events (start, started, stopped, port-created);
* ``dispatch``: which planner serves which operation of ``hooks.protocol``, and ``plan``.

Where the wishes come from:

* the domain's ``<vnx:netxml>`` metadata, per interface by MAC (VLAN, TAP, OVS settings, VF);
* the network's metadata (VLAN filtering, shim, SR-IOV, per-portgroup VLAN), which reaches the
  domain's hooks through the state record written at ``port-created``;
* libvirt's own ``<vlan>`` on an interface plugged into a Linux bridge, which libvirt before
  11.0 cannot apply itself (on OVS it does, so the hook leaves those alone unless the metadata
  asks more). From 11.0 libvirt sets it on a Linux bridge too: the hook verifies those entries
  and refuses a metadata wish that disagrees (``HostFacts.libvirt_version``, ``hooks.daemon``).

Event mapping (see the README's operations table): qemu ``prepare`` makes TAPs and binds VFs;
``start`` (TAPs exist, QEMU not running yet) sets per-port VLANs; ``reconnect`` and ``attach``
set them again; ``release`` undoes what the state record lists; network ``start`` checks
uplinks, sets sriov_numvfs and creates the shim; ``started`` turns on VLAN filtering (libvirt
has made the bridge by then); ``stopped`` removes the shim; ``port-created`` records the
portgroup's VLAN; ``migrate``/``restore`` rewrite the XML by the host's mapping file.
"""

from hooks.planner.dispatch import PLANNERS, owner_of, plan
from hooks.planner.domain import release_actions
from hooks.planner.facts import HostFacts, LiveFacts, PlanFacts, StaticFacts
from hooks.planner.vlans import (
    bridge_vlan_action,
    ovs_vlan_action,
    wish_from_record,
    wish_from_vlan,
    wish_record,
)

__all__ = [
    "PLANNERS",
    "HostFacts",
    "LiveFacts",
    "PlanFacts",
    "StaticFacts",
    "bridge_vlan_action",
    "owner_of",
    "ovs_vlan_action",
    "plan",
    "release_actions",
    "wish_from_record",
    "wish_from_vlan",
    "wish_record",
]
