"""The host changes a hook can make, one small frozen dataclass each.

The planner produces them, ``describe()`` renders them for ``hooks plan`` and ``--dry-run``,
and ``apply(ctx)`` performs them through the ports. ``apply`` compares with the host first and
changes only what differs, so re-applying a plan is harmless; it returns an ``Undo`` that puts
back exactly what it changed, or None when it changed nothing. Actions that touch something
that must survive a crash (a TAP we created, a driver we replaced, a VF MAC we overwrote) write
the state record before the host change, so ``hooks repair`` can finish the job.

The kinds live in small modules (``bridge``, ``ovs``, ``tap``, ``macvtap``, ``claims``,
``sriov``, ``records``) and are loaded on first use: ``actions.CreateTap`` imports
``actions.tap``. Each frozen dataclass costs a little to create, and a hook call that only sets
OVS VLANs should not pay for the twenty kinds it does not use.
"""

from __future__ import annotations

import sys

from hooks.actions.base import NO_MAC, VFIO, VFIO_COMPATIBLE, Action, Batch, Undo, render_plan

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from typing import Any

_WHERE = {
    "BridgeVlanFiltering": "bridge",
    "BridgePortVlans": "bridge",
    "OvsPortVlan": "ovs",
    "OvsSetting": "ovs",
    "CreateTap": "tap",
    "DeleteTap": "tap",
    "EnslaveLink": "tap",
    "LinkUp": "tap",
    "CheckUplink": "macvtap",
    "CreateShim": "macvtap",
    "DeleteShim": "macvtap",
    "ClaimDevice": "claims",
    "ClaimPoolVf": "claims",
    "ClaimPluggedVf": "claims",
    "PassthroughExclusive": "claims",
    "ReleaseClaim": "claims",
    "SetSriovNumVfs": "sriov",
    "BindVfio": "sriov",
    "RestoreDriver": "sriov",
    "SetVfMacVlan": "sriov",
    "RestoreNumVfs": "sriov",
    "ForgetNumVfs": "sriov",
    "RestoreVf": "sriov",
    "RecordPortWish": "records",
    "ForgetDomain": "records",
    "MarkStarting": "records",
    "RecordPool": "records",
    "ForgetPool": "records",
    "RewriteXml": "records",
}

__all__ = ["NO_MAC", "VFIO", "VFIO_COMPATIBLE", "Action", "Batch", "Undo", "render_plan",
           "BridgeVlanFiltering", "BridgePortVlans", "OvsPortVlan", "OvsSetting", "CreateTap", "DeleteTap",
           "EnslaveLink", "LinkUp", "CheckUplink", "CreateShim", "DeleteShim", "ClaimDevice", "ClaimPoolVf",
           "ClaimPluggedVf", "PassthroughExclusive", "ReleaseClaim", "SetSriovNumVfs", "BindVfio",
           "RestoreDriver",
           "SetVfMacVlan", "RestoreVf", "RestoreNumVfs", "ForgetNumVfs",
           "RecordPortWish", "ForgetDomain", "MarkStarting", "RecordPool", "ForgetPool", "RewriteXml"]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'hooks.actions' has no attribute {name!r}")
    __import__(f"hooks.actions.{module}")   # importlib.import_module would import importlib
    value = getattr(sys.modules[f"hooks.actions.{module}"], name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from hooks.actions.bridge import BridgePortVlans, BridgeVlanFiltering
    from hooks.actions.claims import (
        ClaimDevice,
        ClaimPluggedVf,
        ClaimPoolVf,
        PassthroughExclusive,
        ReleaseClaim,
    )
    from hooks.actions.macvtap import CheckUplink, CreateShim, DeleteShim
    from hooks.actions.ovs import OvsPortVlan, OvsSetting
    from hooks.actions.records import (
        ForgetDomain,
        ForgetPool,
        MarkStarting,
        RecordPool,
        RecordPortWish,
        RewriteXml,
    )
    from hooks.actions.sriov import (
        BindVfio,
        ForgetNumVfs,
        RestoreDriver,
        RestoreNumVfs,
        RestoreVf,
        SetSriovNumVfs,
        SetVfMacVlan,
    )
    from hooks.actions.tap import CreateTap, DeleteTap, EnslaveLink, LinkUp
