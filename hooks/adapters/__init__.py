"""The real host adapters behind ``hooks.ports``: netlink, Open vSwitch, sysfs, subprocesses.

Import the module you need (``hooks.adapters.netlink`` ...) directly: each is loaded only by
the hook events that use it, and pyroute2 only on the first netlink call.
"""
