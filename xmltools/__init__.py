"""Pure XML core of virt-netxml: models, validation, MAC/UUID and lint.

Nothing in this package runs a subprocess, touches sysfs or speaks netlink, and nothing here
imports or names the ``hooks`` package. The ``xmltools.cli`` subpackage is the thin
command-line shell around it; it finds the ``hooks`` commands through the
``virt_netxml.commands`` entry points (pyproject.toml). The layers, lowest first: this core,
``hooks``, the command line (``xmltools.cli``, ``hooks.cli``); tests/structure/test_layering.py
fails on any import that points up.
"""
