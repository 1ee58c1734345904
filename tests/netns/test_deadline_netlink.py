"""The hook's deadline expiring while pyroute2 decodes a real kernel reply.

pyroute2 catches exceptions around its decoding; a deadline raised in there once came back as a
half-decoded message ("labbrt is not a bridge") and a traceback on stderr, which libvirt shows
as the hook's error. Reads of a real bridge are repeated until deadlines of a few milliseconds
stop them, so expiry lands at every point of a request: each must end as the deadline, with
nothing on stderr.
"""

from __future__ import annotations

import random

import pytest

from hooks.adapters.netlink import NetlinkAdapter
from hooks.deadline import Deadline, armed
from hooks.errors import DeadlineExceeded
from tests.netns.harness import ip


def test_expiry_during_netlink_reads_is_always_the_deadline(inside_netns, capfd) -> None:
    ip("link", "add", "vnxbr0", "type", "bridge", ns=inside_netns)
    port = NetlinkAdapter()
    rounds, reads = 40, 0
    shuffle = random.Random(20261206)
    try:
        for _ in range(rounds):
            with pytest.raises(DeadlineExceeded, match="read the bridge"), \
                    armed(Deadline(shuffle.uniform(0.001, 0.02)), lambda: "read the bridge"):
                while True:
                    assert port.bridge_vlan_filtering("vnxbr0") is False
                    assert port.link("vnxbr0").kind == "bridge"
                    reads += 1
        # The socket still answers correctly after all those interruptions.
        assert port.bridge_vlan_filtering("vnxbr0") is False
    finally:
        port.close()
    assert reads > rounds
    assert capfd.readouterr().err == ""
