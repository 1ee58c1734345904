"""A TAP on Open vSwitch after a reboot: the hook knows its own leftover Port row.

The OVS database survives a reboot; the TAP and the hook's records (in /run) do not. The Port row
the hook added for a guest's TAP is then still there, with no device behind it. The takeover rule
(only the hook's own or a free TAP) must not turn that into a guest that never starts again, and
must not let any other row of that name through: the hook marks the rows it adds with the domain
they are for (``external_ids:virt-netxml-owner``) and takes back only a row carrying this
domain's mark.

Real kernel and a private Open vSwitch in a throw-away network namespace, the hook's real entry
point and adapters.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netns.harness import add_ovs_bridge, entered, have_tools, netns, ovs_in_netns, vsctl
from tests.security.test_tap_takeover import ethernet_domain, hook, link, refused
from tests.support import require

OWNER = "external_ids:virt-netxml-owner"


@pytest.fixture
def ovs_lab(folders: Path, tmp_path: Path) -> Iterator[tuple[str, str]]:
    require(os.geteuid() == 0, "root (network namespaces)")
    require(os.path.exists("/dev/net/tun"), "/dev/net/tun")
    require(have_tools("ip", "ovs-vsctl", "ovsdb-server", "ovsdb-tool", "ovs-vswitchd"), "Open vSwitch")
    with netns("vnxboot") as ns, ovs_in_netns(ns, tmp_path) as db, entered(ns):
        (folders / "conf/hooks.conf").write_text(f"ovs-db = {db}\n")
        for bridge in ("ovsa", "ovsb"):
            add_ovs_bridge(db, bridge)
        yield ns, db


def reboot(ns: str, folders: Path, tap: str) -> None:
    """What a reboot leaves: the OVS database as it was, no TAP, no records."""
    from tests.netns.harness import ip

    ip("link", "del", tap, ns=ns)
    shutil.rmtree(folders / "state")


def uuid_of(data: bytes) -> str:
    from lxml import etree

    return etree.fromstring(data).findtext("uuid")


def test_the_domains_own_port_row_is_taken_back_after_a_reboot(ovs_lab, folders):
    ns, db = ovs_lab
    data = ethernet_domain("guest", "tapg0", "ovsa")
    rc, _, err = hook("guest", "prepare", data)
    assert rc == 0, err
    assert vsctl(db, "get", "Port", "tapg0", OWNER).strip() == f'"{uuid_of(data)}"'
    reboot(ns, folders, "tapg0")
    assert vsctl(db, "port-to-br", "tapg0").strip() == "ovsa"       # the row outlived the TAP
    rc, _, err = hook("guest", "prepare", data)
    assert rc == 0, err
    assert link(ns, "tapg0") is not None and vsctl(db, "port-to-br", "tapg0").strip() == "ovsa"
    # Taken back as the hook's: release removes both the TAP and the row.
    assert hook("guest", "release", data)[0] == 0
    assert link(ns, "tapg0") is None
    assert "tapg0" not in vsctl(db, "list-ports", "ovsa").split()


def test_the_own_row_moves_when_the_wish_names_another_bridge(ovs_lab, folders):
    ns, db = ovs_lab
    assert hook("guest", "prepare", ethernet_domain("guest", "tapg0", "ovsa"))[0] == 0
    reboot(ns, folders, "tapg0")
    rc, _, err = hook("guest", "prepare", ethernet_domain("guest", "tapg0", "ovsb"))
    assert rc == 0, err
    assert vsctl(db, "port-to-br", "tapg0").strip() == "ovsb"


@pytest.mark.parametrize("mark", [None, "another-domain"])
def test_a_row_the_hook_did_not_add_for_this_domain_is_still_refused(ovs_lab, folders, mark):
    ns, db = ovs_lab
    data = ethernet_domain("guest", "tapg0", "ovsa")
    extra = ["--", "set", "Port", "tapg0", f'{OWNER}="{mark}"'] if mark else []
    vsctl(db, "add-port", "ovsb", "tapg0", *extra)
    before = vsctl(db, "show")
    refused(hook("guest", "prepare", data), "'tapg0'", "Open vSwitch")
    assert link(ns, "tapg0") is None and vsctl(db, "show") == before


def test_the_adapter_marks_and_reads_the_owner(ovs_lab):
    from hooks.adapters.ovs import OvsAdapter

    _, db = ovs_lab
    ovs = OvsAdapter(db=db)
    ovs.add_port("ovsa", "marked0", "0b1e6c3a-1111-4c0e-9a7e-5d2f0c7a9b01")
    vsctl(db, "add-port", "ovsa", "plain0")
    assert ovs.port_owner("marked0") == "0b1e6c3a-1111-4c0e-9a7e-5d2f0c7a9b01"
    assert ovs.port_owner("plain0") is None
    assert ovs.port_owner("nosuch0") is None
    ovs.add_port("ovsa", "plain0", "someone")            # --may-exist: an existing row keeps its ids
    assert ovs.port_owner("plain0") is None
