"""The ``virt-netxml`` command: a thin click shell over the pure core."""
