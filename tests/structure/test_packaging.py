"""An installed copy (``pip install .``, not editable) has every package of the source tree."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_every_package_of_the_tree_is_listed_for_setuptools():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(init.parent.relative_to(REPO).parts)
             for top in ("xmltools", "hooks") for init in (REPO / top).rglob("__init__.py")}
    assert found, "no packages found"
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    # The schemas are a package made of the top-level rng/ folder.
    assert config["package-dir"]["xmltools.schemas"] == "rng" and "xmltools.schemas" in listed
    assert listed - found == {"xmltools.schemas"}
