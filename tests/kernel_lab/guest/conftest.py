"""Guest-side fixtures. These tests run only inside the kernel lab (tests/kernel_lab/lab.py).

They load modules, make and delete links and move PCI functions between drivers: harmless in the
lab's throw-away kernel, which has no network of its own, and never to be done to a host.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import RELEASES, Sandbox
from tests.kernel_lab.guest.kernel import (
    MODULES,
    PCI_SHARED,
    PCI_SOLO,
    bind_by_hand,
    inside_lab,
    link_exists,
    modprobe,
)


def pytest_configure(config: pytest.Config) -> None:
    if not inside_lab():
        pytest.exit("tests/kernel_lab/guest runs only inside the kernel lab: "
                    "run the host test tests/kernel_lab/test_lab.py instead", returncode=4)


@pytest.fixture(scope="session", autouse=True)
def kernel_modules() -> None:
    for name in MODULES:
        modprobe(name)


@pytest.fixture
def links() -> Iterator[list[str]]:
    """Names of links a test creates; whichever still exist are deleted afterwards."""
    names: list[str] = []
    yield names
    for name in reversed(names):
        if link_exists(name):
            subprocess.run(["ip", "link", "del", "dev", name], capture_output=True, timeout=30)


@pytest.fixture
def pci_restored() -> Iterator[None]:
    """Whatever a test does to the lab's PCI functions, put them back on their own drivers."""
    yield
    bind_by_hand(PCI_SOLO, "e1000e")
    for address in PCI_SHARED:
        bind_by_hand(address, "e1000")


@pytest.fixture
def hook_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fresh state and configuration folders for the hooks; returns the state folder.

    The deadline is generous: under TCG the lab runs some fifty times slower than hardware.
    """
    state = tmp_path / "state"
    monkeypatch.setenv("VIRT_NETXML_STATE_DIR", str(state))
    monkeypatch.setenv("VIRT_NETXML_CONFIG_DIR", str(tmp_path / "etc"))
    monkeypatch.setenv("VIRT_NETXML_DEADLINE", "60")
    return state


@pytest.fixture
def installed_hooks(hook_env: Path, tmp_path: Path) -> dict[str, Path]:
    """The hook programs as ``virt-netxml hooks install --root`` writes them: driver -> path."""
    from hooks.install import hook_path, install

    root = tmp_path / "root"
    install(str(root))
    return {driver: Path(hook_path(str(root), driver)) for driver in ("qemu", "network")}


@pytest.fixture(scope="module", params=list(RELEASES), ids=str)
def box(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """The end-to-end sandbox (libvirtd, Open vSwitch, the installed hooks) of each release, once
    per module that asks for it."""
    release = RELEASES[request.param]
    missing = release.missing()
    assert not missing, "the lab cannot run this release: " + ", ".join(missing)
    sandbox = Sandbox.create(release)
    # A module's own lines for libvirt's network.conf (its LIBVIRT_NETWORK_CONF): a firewall
    # backend, say. A module asks for fewer releases by parametrizing ``box`` indirectly.
    sandbox.libvirtd.network_conf = getattr(request.module, "LIBVIRT_NETWORK_CONF", "")
    try:
        sandbox.start()
        # Under TCG the lab runs some fifty times slower than hardware (see hook_env): the hooks
        # libvirtd runs here get the same generous deadline, or a busy lab turns a slow netlink
        # read into a failed start.
        sandbox.write_hooks_file("hooks.conf", "log-file = /var/log/libvirt/virt-netxml.log\n"
                                 "deadline = 60\n")
        yield sandbox
    finally:
        try:
            sandbox.teardown()
        finally:
            left = sandbox.leftovers()
    assert not left, "teardown left: " + "; ".join(left)
