"""libvirt hooks of virt-netxml: turn lifecycle events into planned, reversible host changes.

Nothing in this package may import the ``libvirt`` module: a hook that calls back into
libvirtd deadlocks it.
"""
