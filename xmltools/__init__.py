"""Pure XML core of virt-netxml: models, validation, MAC/UUID and lint.

Nothing in this package runs a subprocess, touches sysfs or speaks netlink, and nothing here
imports the ``hooks`` package. The ``xmltools.cli`` subpackage is the thin command-line shell
around it.
"""
