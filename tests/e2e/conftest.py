"""Fixtures of the end-to-end tests: one throw-away host for the package, a clean slate per test.

``release`` (package scope, parametrised): the libvirt release the tests run against, the
machine's own (``libvirt-9.0.0``) or Debian 13's from the root setup.sh builds
(``libvirt-11.3.0``); every end-to-end test runs once for each, with its id in brackets.
Expectations that differ between releases are data keyed by ``release.name`` in the tests.

``sandbox`` (package scope, one per release: torn down right after the last end-to-end test of
that release): a private network namespace with Open vSwitch and libvirtd, the project's hooks
installed by the release's ``virt-netxml hooks install`` next to a recording hook.
Torn down in reverse order even when tests fail, then checked: no process, namespace, mount,
hook file or temporary folder may be left. With ``VNXE2E_RECORD_DIR=DIR`` the recorded hook
calls (``*.argv`` and ``*.xml``, named by time) are copied to DIR/<release> before the teardown.

``host`` (per test): the sandbox, plus bookkeeping of what the test adds (links, OVS bridges);
afterwards every domain and network is destroyed and undefined and those links removed, so
tests do not depend on each other's order.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from tests.e2e.harness import (
    CREATED_NAMESPACES,
    NS_PREFIX,
    RELEASES,
    VNX,
    Netns,
    Release,
    Sandbox,
    missing_programs,
    namespaces,
    sweep_stale_sandboxes,
    vnx,
)
from tests.guests.tiny import BootFiles, GuestSpec, boot_files, checksums_in_guest, domain_xml
from tests.kernel_lab.lab import find_kernel
from tests.support import require


def hooks_package_ready() -> bool:
    if not VNX.exists():
        return False
    return vnx("hooks", "install", "--help", check=False).returncode == 0


@pytest.fixture(scope="package", params=list(RELEASES), ids=str)
def release(request: pytest.FixtureRequest) -> Release:
    return RELEASES[request.param]


@pytest.fixture(scope="package")
def sandbox(release: Release) -> Iterator[Sandbox]:
    require(os.geteuid() == 0, "root (network namespaces, libvirtd)")
    missing = missing_programs(release)
    require(not missing, "programs: " + ", ".join(missing))
    require(VNX.exists(), f"{VNX} (run the setup command)")
    require(Path("/dev/net/tun").exists(), "/dev/net/tun")
    sweep_stale_sandboxes()
    box = Sandbox.create(release)
    try:
        box.start(install_hooks=hooks_package_ready())
        yield box
    finally:
        log = box.libvirtd.tail()
        try:
            box.export_records()  # with VNXE2E_RECORD_DIR: the source of fixtures/captures*/
        finally:
            problems = []
            try:
                box.teardown()
            except RuntimeError as exc:
                problems.append(str(exc))
        left = box.leftovers() + problems
        # every namespace this run created (the sandbox's and any a test made) must be gone
        left += [f"namespace {n} left" for n in set(CREATED_NAMESPACES) & set(namespaces())]
        assert not left, "end-to-end teardown left: " + "; ".join(sorted(set(left))) + "\n" + log


@dataclass
class Host:
    """What a test sees: the sandbox and a place to register things to remove afterwards."""

    box: Sandbox
    tmp: Path
    links: list[str] = field(default_factory=list)
    ovs_bridges: list[str] = field(default_factory=list)

    @property
    def ns(self):
        return self.box.ns

    @property
    def release(self) -> Release:
        return self.box.release

    @property
    def ovs(self):
        return self.box.ovs

    @property
    def libvirtd(self):
        return self.box.libvirtd

    def virsh(self, *args: str, check: bool = True, input: str | None = None) -> CompletedProcess[str]:
        return self.box.libvirtd.virsh(*args, check=check, input=input)

    def veth(self, name: str, peer: str | None = None, up: bool = True) -> str:
        """A veth uplink inside the namespace (its peer too), removed after the test."""
        self.ns.add_veth(name, peer or f"{name}p", up=up)
        self.links.append(name)
        return name

    @contextmanager
    def uplink_client(self, link: str, uplink: str, client: str) -> Iterator[Netns]:
        """A veth uplink ``link`` of this host with address ``uplink`` (CIDR), and a client
        namespace on its far end with address ``client``; the namespace is removed after."""
        far = f"{link}p"
        self.veth(link, far)
        ns = Netns.create(NS_PREFIX + "cl-")
        try:
            self.ns.ip("link", "set", far, "netns", ns.name)
            self.ns.ip("addr", "add", uplink, "dev", link)
            ns.ip("addr", "add", client, "dev", far)
            ns.ip("link", "set", far, "up")
            yield ns
        finally:
            ns.delete()

    def ovs_bridge(self, name: str) -> str:
        self.ovs.add_bridge(name)
        self.ovs_bridges.append(name)
        return name

    def cleanup(self) -> list[str]:
        """Remove what the test made; return what libvirt or the hooks left behind."""
        self.box.clear_libvirt()
        for bridge in self.ovs_bridges:
            self.ovs.vsctl("--if-exists", "del-br", bridge, check=False)
        present = self.ns.links()
        for link in self.links:
            if link in present:
                self.ns.ip("link", "del", link, check=False)
        left = [f"{kind} device {name}" for name, link in self.ns.links().items()
                if (kind := link.get("linkinfo", {}).get("info_kind")) in ("tun", "macvtap", "macvlan")]
        state = self.box.hooks_state
        left += [f"hook state record {p.relative_to(state)}" for sub in ("domains", "networks", "claims")
                 for p in (state / sub).glob("*") if p.is_file()]
        return left


@pytest.fixture
def host(sandbox: Sandbox, tmp_path: Path) -> Iterator[Host]:
    h = Host(sandbox, tmp_path)
    try:
        yield h
    finally:
        left = h.cleanup()
    # every guest and network is gone now: no TAP, macvtap or hook state may outlive them
    assert not left, "left after the test: " + ", ".join(left)


@pytest.fixture
def hooks(host: Host) -> Host:
    """The host, for tests that exercise the project's hooks: fails when they are not installed."""
    installed = sorted(p.name for p in host.libvirtd.hooks_dir.glob("*.d/*") if p.name != "00-record")
    assert installed, ("the project's hooks are not installed in the sandbox "
                       "(virt-netxml hooks install failed or is missing)")
    return host


@pytest.fixture(scope="session")
def boot(tmp_path_factory: pytest.TempPathFactory) -> BootFiles:
    """The tiny guests' kernel and initramfs (tests/guests/tiny.py), built once per session."""
    require(find_kernel() is not None, "the kernel lab's kernel under .cache/kernel (setup.sh)")
    return boot_files(tmp_path_factory.mktemp("tiny-guest"))


def start_guest(host: Host, boot: BootFiles, spec: GuestSpec, *interfaces: list[str]) -> Path:
    """Define and start a tiny guest (tests/guests/tiny.py) with the given ``virt-netxml
    interface`` argument lists; return its console file."""
    console = host.tmp / f"{spec.name}.console"
    path = host.tmp / f"{spec.name}.xml"
    path.write_text(domain_xml(spec, boot, console))
    for args in interfaces:
        vnx("interface", *args, "--domain", path, "-i")
    checksums_in_guest(path)
    host.virsh("define", str(path))
    host.virsh("start", spec.name)
    return console
