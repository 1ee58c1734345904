"""Every import between the project's modules, static and through entry points, by layer.

The layers, lowest first: the pure core (``xmltools``), the hooks (``hooks``), the command line
(``xmltools.cli``, ``hooks.cli``). A module may use its own layer and those below it; an edge
from a lower layer to a higher one points up. Besides the ``import`` statements (also inside
functions and ``TYPE_CHECKING`` blocks), a module names another by a string handed to
``__import__``/``importlib.import_module`` or by a ``"module:attribute"`` or dotted-name
constant (the way the command line once loaded ``"hooks.cli:hooks"``); those count as edges too.
Entry points are edges from the module that reads their group to their target.
"""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("xmltools", "hooks")
# module prefix -> layer; the longest matching prefix decides
LAYERS = {"xmltools": 0, "hooks": 1, "xmltools.cli": 2, "hooks.cli": 2}
LAYER_NAMES = {0: "core", 1: "hooks", 2: "command line"}
DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+(:[A-Za-z_][A-Za-z0-9_.]*)?")


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    how: str      # "import", "by name", "entry point <group>"
    line: int = 0

    def __str__(self) -> str:
        where = f":{self.line}" if self.line else ""
        return f"{self.source}{where} -> {self.target} ({self.how})"


def modules(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every module of ``packages`` under ``root``."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def layer(module: str) -> int:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[best]


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The project module ``name`` refers to (a module, or an attribute of one), if any."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _absolute(module: str, is_package: bool, level: int, target: str | None) -> str:
    if not level:
        return target or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def static_edges(known: dict[str, Path]) -> list[Edge]:
    """Edges from the source of every module: imports, and modules named by string."""
    edges: list[Edge] = []
    for module, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            names: list[tuple[str, str]] = []
            if isinstance(node, ast.Import):
                names = [(alias.name, "import") for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(module, is_package, node.level, node.module)
                names = [(f"{base}.{alias.name}", "import") for alias in node.names]
            elif isinstance(node, ast.Call) and node.args and _is_import_call(node.func):
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    names = [(arg.value, "by name")]
                elif isinstance(arg, ast.JoinedStr) and isinstance(arg.values[0], ast.Constant):
                    names = [(str(arg.values[0].value).rstrip("."), "by name")]   # f"pkg.{name}"
            elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
                  and id(node) not in docstrings and DOTTED.fullmatch(node.value)):
                names = [(node.value.partition(":")[0], "by name")]
            for name, how in names:
                target = _resolve(name, known)
                if target is not None and target != module:
                    edges.append(Edge(module, target, how, getattr(node, "lineno", 0)))
    return edges


def _is_import_call(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ("__import__", "import_module")
    return isinstance(func, ast.Attribute) and func.attr == "import_module"


def declared_entry_points(pyproject: Path) -> dict[str, dict[str, str]]:
    """group -> {name: "module:attribute"} as pyproject.toml declares them (scripts included)."""
    project = tomllib.loads(pyproject.read_text())["project"]
    groups = {str(g): dict(eps) for g, eps in project.get("entry-points", {}).items()}
    groups["console_scripts"] = dict(project.get("scripts", {}))
    return groups


def entry_point_edges(known: dict[str, Path], groups: dict[str, dict[str, str]]) -> list[Edge]:
    """From each module that reads a group (names it as a string) to each target of the group.

    A console script is run from outside the project: its target is reached from the command
    line itself, so it is checked as an edge from the top layer's point of view (``<command>``).
    """
    edges: list[Edge] = []
    for group, eps in groups.items():
        if group == "console_scripts":
            readers = ["<command>"]
        else:
            readers = [m for m, path in known.items() if f'"{group}"' in path.read_text()]
            assert readers, f"no module reads the entry points of {group!r}"
        for name, value in eps.items():
            target = _resolve(value.partition(":")[0].strip(), known)
            assert target is not None, f"entry point {group}:{name} = {value} is no project module"
            edges += [Edge(reader, target, f"entry point {group}") for reader in readers]
    return edges


def upward(edges: list[Edge]) -> list[Edge]:
    """The edges that point up: from a lower layer to a higher one, or from ``xmltools`` to
    ``hooks`` by any means but an entry point (the core never names the hooks package)."""
    bad = []
    for edge in edges:
        if edge.source == "<command>":
            if layer(edge.target) != max(LAYERS.values()):
                bad.append(edge)
            continue
        core_names_hooks = (edge.source.split(".")[0] == "xmltools" and edge.target.split(".")[0] == "hooks"
                            and not edge.how.startswith("entry point"))
        if layer(edge.source) < layer(edge.target) or core_names_hooks:
            bad.append(edge)
    return bad
