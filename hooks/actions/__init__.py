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

# The one registry of action kinds: module -> the actions it defines. Adding an action is adding
# its name here; the names the package exports, where it loads them from and what type checkers
# see all follow from it, and tests/structure/test_actions_declared.py checks that every action
# in the modules is listed and has apply, undo, re-apply and a fault-matrix scenario.
ACTIONS: dict[str, tuple[str, ...]] = {
    "bridge": ("BridgeVlanFiltering", "BridgePortVlans"),
    "ovs": ("OvsPortVlan", "OvsSetting"),
    "tap": ("CreateTap", "DeleteTap", "EnslaveLink", "LinkUp"),
    "macvtap": ("CheckUplink", "CreateShim", "DeleteShim"),
    "claims": ("ClaimDevice", "ClaimPoolVf", "ClaimPluggedVf", "PassthroughExclusive", "ReleaseClaim"),
    "sriov": ("SetSriovNumVfs", "BindVfio", "RestoreDriver", "SetVfMacVlan", "RestoreNumVfs",
              "ForgetNumVfs", "RestoreVf"),
    "records": ("RecordPortWish", "ForgetDomain", "MarkStarting", "RecordPool", "ForgetPool", "RewriteXml"),
    "forward": ("ForwardPorts", "RemoveForwards"),
    "ovn": ("EnsureOvnSwitch", "EnsureOvnPort", "SettleOvnPort", "DeleteOvnPort"),
}

_WHERE = {name: module for module, names in ACTIONS.items() for name in names}

__all__ = ["NO_MAC", "VFIO", "VFIO_COMPATIBLE", "Action", "Batch", "Undo", "render_plan", *_WHERE]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'hooks.actions' has no attribute {name!r}")
    __import__(f"hooks.actions.{module}")   # importlib.import_module would import importlib
    value = getattr(sys.modules[f"hooks.actions.{module}"], name)
    globals()[name] = value
    return value


if TYPE_CHECKING:   # one line per module of ACTIONS: type checkers see each action's class
    from hooks.actions.bridge import *  # noqa: F403
    from hooks.actions.claims import *  # noqa: F403
    from hooks.actions.forward import *  # noqa: F403
    from hooks.actions.macvtap import *  # noqa: F403
    from hooks.actions.ovn import *  # noqa: F403
    from hooks.actions.ovs import *  # noqa: F403
    from hooks.actions.records import *  # noqa: F403
    from hooks.actions.sriov import *  # noqa: F403
    from hooks.actions.tap import *  # noqa: F403
