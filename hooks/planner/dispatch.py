"""From (operation, XML, host facts, state record) to the plan: which planner serves which call.

The operations that can have work are the rows of ``hooks.protocol.OPERATIONS`` with triggers;
``PLANNERS`` names one planner for each of them (a test keeps the two equal).
"""

from __future__ import annotations

from lxml import etree

from hooks import actions as A
from hooks.planner import network as events
from hooks.planner.domain import port_vlan_actions, prepare_actions, release_actions
from hooks.planner.facts import HostFacts
from hooks.planner.forwards import forward_actions, network_forward_actions
from hooks.planner.interfaces import uuid_of
from hooks.planner.ovn import network_port_actions, network_port_deleted, settle_port_actions, switch_actions
from hooks.planner.sriov import hostdev_vlan_actions
from hooks.protocol import Operation
from xmltools.errors import WrongDocument

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from typing import Any


def _rewrite(root: etree._Element, facts: HostFacts, record: dict[str, Any], mapping: Any) -> list[A.Action]:
    if mapping is None:
        return []
    from hooks.transform import rewrite  # migrate/restore only

    xml, changes = rewrite(root, mapping)
    return [A.RewriteXml(xml, tuple(changes))] if changes else []


def _start(root: etree._Element, facts: HostFacts, record: dict[str, Any], mapping: Any) -> list[A.Action]:
    return (port_vlan_actions(root, facts, record) + hostdev_vlan_actions(root, facts)
            + forward_actions(root, facts))


def _ports(root: etree._Element, facts: HostFacts, record: dict[str, Any], mapping: Any) -> list[A.Action]:
    return port_vlan_actions(root, facts, record) + forward_actions(root, facts)


def _prepare(root: etree._Element, facts: HostFacts, record: dict[str, Any], mapping: Any) -> list[A.Action]:
    return prepare_actions(root, facts, record)


def _port(net: etree._Element, port: etree._Element | None, record: dict[str, Any]) -> list[A.Action]:
    return (events.port_created(net, port) + events.pool_port(net, port, record)
            + network_port_actions(net, port))


# Calls planned from the state record alone (no XML needed), and the call's reason argument
# (libvirt 10.5 and later say ``migrated`` at the source's release; 9.0 passes ``-``).
FROM_RECORD = {
    ("qemu", "release"): lambda record, reason: release_actions(record, migrated=reason == "migrated"),
    ("network", "stopped"): lambda record, reason: events.network_stopped(record),
}
# Domain calls: (root, facts, record, mapping).
DOMAIN = {"prepare": _prepare, "start": _start, "reconnect": _ports, "attach": _ports,
          "migrate": _rewrite, "restore": _rewrite,
          "started": lambda root, facts, record, mapping: settle_port_actions(record)}
# Network calls: (<network>, <networkport> or None, record).
NETWORK = {
    "start": lambda net, port, record: events.network_start(net) + switch_actions(net),
    "started": lambda net, port, record: events.network_started(net),
    "port-created": _port,
    "port-deleted": lambda net, port, record: network_port_deleted(net, port),
}
PLANNERS = {*FROM_RECORD, *(("qemu", name) for name in DOMAIN), *(("network", name) for name in NETWORK)}


def owner_of(op: Operation, root: etree._Element) -> tuple[str, str | None]:
    """Name and UUID of the domain or network the document describes."""
    if op.driver == "qemu":
        if root.tag != "domain":
            raise WrongDocument(source="<stdin>", expected="<domain>", found=root.tag)
        return root.findtext("name") or "", uuid_of(root)
    net, _ = events.network_parts(root)
    return net.findtext("name") or "", uuid_of(net)


def plan(op: Operation, root: etree._Element | None, facts: HostFacts, record: dict[str, Any],
         mapping: Any = None, reason: str = "-") -> list[A.Action]:
    """The actions for one hook call. ``record`` is the owner's state record ({} if none).

    ``root`` may be None for operations that work from the state record alone (release,
    network stopped). ``mapping`` is the parsed migrate/restore mapping, if the host has one.
    ``reason``: the call's last argument (``migrated`` at a migrated guest's release).
    """
    key = (op.driver, op.name)
    if key in FROM_RECORD:
        return FROM_RECORD[key](record, reason)
    if root is None:
        return []
    if op.driver == "qemu":
        domain = DOMAIN.get(op.name) if op.work else None
        return domain(root, facts, record, mapping) if domain is not None else []
    net, port = events.network_parts(root)
    network = NETWORK.get(op.name) if op.work else None
    plan_ = network(net, port, record) if network is not None else []
    if op.name == "started" and op.work:
        # libvirt has (re)built its firewall for the network: the forwards of its guests again
        plan_ += network_forward_actions(net, facts)
    return plan_
