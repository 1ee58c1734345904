"""xmltools (pure core) <- hooks <- the command line: no import, static or by entry point, points up."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.structure.layering import (
    declared_entry_points,
    entry_point_edges,
    modules,
    static_edges,
    upward,
)
from xmltools.cli.main import COMMAND_GROUP, COMMANDS, plugin_commands

REPO = Path(__file__).resolve().parents[2]


def _edges(root: Path, pyproject: Path) -> list:
    known = modules(root)
    return static_edges(known) + entry_point_edges(known, declared_entry_points(pyproject))


def test_no_import_points_up():
    edges = _edges(REPO, REPO / "pyproject.toml")
    # The walk sees the edges it must: a plain import, and the hooks command through its entry point.
    seen = {(e.source, e.target, e.how) for e in edges}
    assert ("hooks.run", "hooks.planner", "import") in seen or any(
        e.source == "hooks.run" and e.target.startswith("hooks.planner") for e in edges)
    assert ("xmltools.cli.main", "hooks.cli", f"entry point {COMMAND_GROUP}") in seen
    assert not upward(edges), "\n".join(map(str, upward(edges)))


def test_the_checker_finds_edges_that_point_up(tmp_path):
    # A tree with one upward edge of each kind: import, by name, an import inside a function.
    files = {
        "xmltools/__init__.py": "",
        "xmltools/core.py": "def f():\n    import hooks.run\n",
        "xmltools/named.py": 'TARGET = "hooks.cli:hooks"\n',
        "xmltools/cli/__init__.py": "",
        "xmltools/cli/main.py": 'GROUP = "virt_netxml.commands"\nimport xmltools.core\n',
        "hooks/__init__.py": "",
        "hooks/run.py": "from xmltools.cli.main import GROUP\nfrom . import planner\n",
        "hooks/planner.py": "import xmltools.core\n",
        "hooks/cli.py": "import hooks.run\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""\
        [project]
        name = "x"
        scripts = {x = "hooks.run:main"}
        [project.entry-points."virt_netxml.commands"]
        hooks = "hooks.cli:hooks"
        """))
    bad = {(e.source, e.target, e.how) for e in upward(_edges(tmp_path, tmp_path / "pyproject.toml"))}
    assert bad == {
        ("xmltools.core", "hooks.run", "import"),
        ("xmltools.named", "hooks.cli", "by name"),
        ("hooks.run", "xmltools.cli.main", "import"),
        ("<command>", "hooks.run", "entry point console_scripts"),
    }


def test_the_core_names_no_hooks_module():
    # What the command line reads at run time for a command that is not a core one.
    assert all(not target.startswith("hooks") for target in COMMANDS.values())
    assert "hooks" not in COMMANDS


def test_the_installed_entry_points_are_the_declared_ones():
    declared = declared_entry_points(REPO / "pyproject.toml")[COMMAND_GROUP]
    installed = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=COMMAND_GROUP)}
    assert installed == declared, "re-install the project (pip install -e .) after changing pyproject.toml"
    # The command line's own reader gives what importlib.metadata gives.
    assert plugin_commands() == installed


def test_the_reader_takes_the_first_distribution_of_a_name(tmp_path):
    for folder, dist, target in (("a", "pkg-1.0.dist-info", "first.cli:x"),
                                 ("b", "pkg-2.0.dist-info", "second.cli:x"),
                                 ("b", "other.egg-info", "other.cli:y")):
        info = tmp_path / folder / dist
        info.mkdir(parents=True)
        name = "one" if "pkg" in dist else "two"
        (info / "entry_points.txt").write_text(
            f"[console_scripts]\nignored = a:b\n\n[{COMMAND_GROUP}]\n{name} = {target}\n")
    path = [str(tmp_path / "a"), str(tmp_path / "missing"), str(tmp_path / "b")]
    assert plugin_commands(path=path) == {"one": "first.cli:x", "two": "other.cli:y"}
    # importlib.metadata says the same over the same path.
    code = ("import importlib.metadata as m, json, sys; sys.path[:] = json.loads(sys.argv[1]); "
            f"print(json.dumps({{e.name: e.value for e in m.entry_points(group={COMMAND_GROUP!r})}}))")
    import json

    out = subprocess.run([sys.executable, "-I", "-c", code, json.dumps(path + sys.path)],
                         capture_output=True, text=True, check=True)
    assert {k: v for k, v in json.loads(out.stdout).items() if k in ("one", "two")} == {
        "one": "first.cli:x", "two": "other.cli:y"}


def test_the_hooks_command_is_found_through_its_entry_point():
    out = subprocess.run([sys.executable, "-m", "xmltools.cli.main", "hooks", "--help"],
                         capture_output=True, text=True, cwd="/", check=False)
    assert out.returncode == 0, out.stderr
    assert "Install and operate the libvirt hooks" in out.stdout
    # A plain core command reads no distribution metadata at all.
    code = ("import sys; from xmltools.cli.main import main\n"
            "import xmltools.cli.main as m; calls = []\n"
            "real = m.plugin_commands; m.plugin_commands = lambda *a, **k: calls.append(1) or real(*a, **k)\n"
            "main(['mac', '--count', '1'])\n"
            "print('plugins read:', len(calls), 'importlib.metadata' in sys.modules, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", check=False)
    assert out.returncode == 0, out.stderr
    assert "plugins read: 0 False" in out.stderr
    assert len(out.stdout.strip()) == 17 and out.stdout.count(":") == 5, out.stdout
