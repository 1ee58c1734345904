"""Port forwards beside libvirt 11.3's nftables backend, by traffic, in the lab's full kernel.

The forwarding scenario of tests/e2e/test_port_forward.py (tiny guests on a NAT network, a
client namespace on the host's uplink, the host itself and another guest asking through the
host's address), run against the Debian 13 root's libvirt 11.3 with ``firewall_backend =
"nftables"`` in its network.conf. That backend adds the TC ``csum`` action (``act_csum``) to
each NAT network's bridge, which the end-to-end machine's kernel lacks and Debian's has: here
the hooks open ``guest_input`` of libvirt's ``table ip libvirt_network`` for each forward and
write their DNAT into the project's own table. libvirt 9.0 has no nftables backend, so only
11.3 runs.

Guests start paused and resume together, and stay paused while libvirt and the hooks work (a
running guest under TCG inside the lab's one CPU starves a hook past its deadline); the waits
are minutes, as everything here runs under TCG inside TCG.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Host
from tests.e2e.harness import RELEASES, Sandbox
from tests.e2e.test_port_forward import Pace, forwarding_scenario, uplink_client
from tests.guests.tiny import BootFiles, boot_files

pytestmark = pytest.mark.timeout(2700)

RELEASE = RELEASES["libvirt-11.3.0"]
LAB = Pace(boot=1500.0, probe_wait=1500, answer=600.0, connect=60.0, still=True)
# connect: one ask is a Python started in the client namespace, seconds of start-up inside the lab


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    """The end-to-end sandbox on libvirt 11.3 with its nftables firewall backend."""
    missing = RELEASE.missing()
    assert not missing, "the lab cannot run this release: " + ", ".join(missing)
    sandbox = Sandbox.create(RELEASE)
    libvirtd = sandbox.libvirtd
    prepare = libvirtd.prepare

    def prepare_nftables() -> None:        # network.conf written before libvirtd first starts
        prepare()
        with (libvirtd.etc / "network.conf").open("a") as conf:
            conf.write('\nfirewall_backend = "nftables"\n')

    libvirtd.prepare = prepare_nftables    # type: ignore[method-assign]
    try:
        sandbox.start()
        # the lab runs some fifty times slower than hardware: a hook call gets a minute
        sandbox.write_hooks_file("hooks.conf", sandbox.hooks_config.joinpath("hooks.conf").read_text()
                                 + "deadline = 60\n")
        yield sandbox
    finally:
        try:
            sandbox.teardown()
        finally:
            left = sandbox.leftovers()
    assert not left, "teardown left: " + "; ".join(left)


@pytest.fixture
def host(box: Sandbox, tmp_path: Path) -> Iterator[Host]:
    h = Host(box, tmp_path)
    try:
        yield h
    finally:
        left = h.cleanup()
    assert not left, "left after the test: " + ", ".join(left)


@pytest.fixture
def boot(tmp_path_factory: pytest.TempPathFactory) -> BootFiles:
    return boot_files(tmp_path_factory.mktemp("tiny-guest-fw"))


def test_forwarded_ports_with_libvirts_nftables_backend(host: Host, boot: BootFiles) -> None:
    installed = sorted(p.name for p in host.libvirtd.hooks_dir.glob("*.d/*") if p.name != "00-record")
    assert installed, "the project's hooks are not installed in the sandbox"
    with uplink_client(host) as client:
        try:
            forwarding_scenario(host, client, boot, "nftables", LAB)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{diagnosis(host)}") from None


def diagnosis(host: Host) -> str:
    """What the guests and libvirt looked like when the scenario failed."""
    lines = [host.virsh("list", "--all", check=False).stdout]
    for name in ("fwa", "fwb", "fwc"):
        console, log = host.tmp / f"{name}.console", host.libvirtd.log_dir / "qemu" / f"{name}.log"
        size = console.stat().st_size if console.exists() else "missing"
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-5:]) if log.exists() else "no log"
        lines.append(f"--- {name}: console {size}; qemu log:\n{tail}")
    return "\n".join(lines + [host.libvirtd.tail(lines=15), Path("/proc/loadavg").read_text()])
