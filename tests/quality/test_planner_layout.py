"""The planner package keeps one job per module: only its facts module reaches the host."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from hooks.planner import facts

PLANNER = Path(__file__).resolve().parents[2] / "hooks" / "planner"


# Pure functions of the adapters the planner may use: the OVS adapter's own check of a row
# name, column and key (its argv is built by pure functions), so a bad one is refused while
# planning, before any change; and the OVN adapter's checks of a port name (a UUID), a switch
# name ovn-nbctl can only read as a name, and a MAC, for the same reason.
PURE = {("hooks.adapters.ovs", "check_column_key"), ("hooks.adapters.ovn", "mac_address"),
        ("hooks.adapters.ovn", "port_name"), ("hooks.adapters.ovn", "switch_name")}


def _adapter_imports(path: Path) -> set[tuple[str, str]]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hooks.adapters"):
            found.update((node.module or "", alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update((alias.name, "") for alias in node.names if alias.name.startswith("hooks.adapters"))
    return found


def test_only_the_facts_module_touches_a_port_or_an_adapter():
    modules = sorted(PLANNER.glob("*.py"))
    jobs = {"facts", "interfaces", "vlans", "sriov", "domain", "network", "dispatch"}
    assert {p.stem for p in modules} >= jobs
    for path in modules:
        if path.stem == "facts":
            continue
        source = path.read_text()
        assert "ctx." not in source, path.name
        assert _adapter_imports(path) <= PURE, path.name


def test_live_facts_ask_the_ports_never_an_adapter():
    source = inspect.getsource(facts.LiveFacts)
    assert "ctx." in source and "adapters" not in source
