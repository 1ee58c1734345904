"""The libvirt adapter against libvirt's real test driver (test:///default).

The test driver keeps one shared state per process while any connection to test:///default is
open, and resets it once the last one closes. Tests that need their definitions to be seen by
the adapter (which opens its own connections) hold a connection for their whole duration.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.support import require
from xmltools.cli import libvirt_conn
from xmltools.cli.libvirt_conn import (
    LibvirtFailed,
    LibvirtMissing,
    define_domain,
    define_network,
    macs_in_use,
)

URI = "test:///default"
# The remote driver pointed at a socket that does not exist: fails fast, touches nothing.
BROKEN_URI = "test+unix:///default?socket=/nonexistent/sock"
MAC_ATTR = re.compile(r"""(?:<mac address|<host [^>]*\bmac)=['"]([0-9A-Fa-f:]+)['"]""")

try:
    import libvirt
except ImportError:  # checked per test with require(), so CI fails loudly instead of skipping
    libvirt = None


@pytest.fixture
def conn():
    """A connection held open for the test, so the test driver's state is shared with the adapter."""
    require(libvirt is not None, "libvirt-python")
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    connection = libvirt.open(URI)
    yield connection
    # Objects a failing test leaves referenced (in its traceback) keep the shared state alive:
    # remove what the tests made, so the next test starts from the driver's defaults.
    for domain in connection.listAllDomains(0):
        if domain.name() != "test":
            if domain.isActive():
                domain.destroy()
            domain.undefine()
    for network in connection.listAllNetworks(0):
        if network.name() != "default":
            if network.isActive():
                network.destroy()
            if network.isPersistent():
                network.undefine()
    connection.close()


def _macs_via_virsh() -> set[str]:
    """MACs of the test driver's default objects, read by a separate virsh process."""
    found: set[str] = set()
    for argv in (["virsh", "-c", URI, "dumpxml", "test"], ["virsh", "-c", URI, "net-dumpxml", "default"]):
        done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60)
        found |= {m.lower() for m in MAC_ATTR.findall(done.stdout)}
    return found


def _macs_via_api(connection) -> set[str]:
    found: set[str] = set()
    for obj in list(connection.listAllDomains(0)) + list(connection.listAllNetworks(0)):
        found |= {m.lower() for m in MAC_ATTR.findall(obj.XMLDesc(0))}
    return found


def test_macs_in_use_of_the_default_test_host() -> None:
    require(libvirt is not None, "libvirt-python")
    try:
        expected = _macs_via_virsh()
    except FileNotFoundError:
        expected = None
    require(expected is not None, "virsh")
    assert expected, "the test driver's default domain should have a MAC"
    assert macs_in_use(URI) == expected


NETWORK_WITH_MACS = """<network>
  <name>macnet</name>
  <uuid>6c1f4b52-1d7e-4f0a-9a43-8d2b1c0e5f11</uuid>
  <mac address='52:54:00:0A:00:01'/>
  <bridge name='vnxmac0'/>
  <ip address='198.51.100.1' prefix='24'><dhcp>
    <range start='198.51.100.10' end='198.51.100.20'/>
    <host mac='52:54:00:0a:00:02' ip='198.51.100.11'/>
  </dhcp></ip>
</network>"""

DOMAIN_TEMPLATE = """<domain type='test'>
  <name>{name}</name>
  <memory>65536</memory>
  <os><type>hvm</type></os>
  <devices>{nics}</devices>
</domain>"""


def _nic(mac: str) -> str:
    return f"<interface type='network'><mac address='{mac}'/><source network='default'/></interface>"


def test_macs_in_use_sees_inactive_domains_and_networks(conn) -> None:
    conn.networkDefineXML(NETWORK_WITH_MACS)  # defined, never started
    nics = _nic("52:54:00:0a:00:03") + _nic("52:54:00:0a:00:04")
    conn.defineXML(DOMAIN_TEMPLATE.format(name="off", nics=nics))
    running = conn.defineXML(DOMAIN_TEMPLATE.format(name="on", nics=_nic("52:54:00:0a:00:05")))
    running.create()
    found = macs_in_use(URI)
    assert found == _macs_via_api(conn)
    assert {"52:54:00:0a:00:01", "52:54:00:0a:00:02", "52:54:00:0a:00:03",
            "52:54:00:0a:00:04", "52:54:00:0a:00:05", "aa:bb:cc:dd:ee:ff"} <= found


def test_define_network_started_with_autostart(conn) -> None:
    xml = NETWORK_WITH_MACS.replace("macnet", "defnet").replace("6c1f4b52", "7d2a5c63")
    assert define_network(URI, xml, start=True, autostart=True) == "defnet"
    network = conn.networkLookupByName("defnet")
    assert network.isPersistent()
    assert network.isActive()
    assert network.autostart()
    assert "vnxmac0" in network.XMLDesc(0)


def test_define_network_only(conn) -> None:
    assert define_network(URI, NETWORK_WITH_MACS, start=False, autostart=False) == "macnet"
    network = conn.networkLookupByName("macnet")
    assert network.isPersistent()
    assert not network.isActive()
    assert not network.autostart()


def test_redefining_a_running_network_keeps_it_running(conn) -> None:
    define_network(URI, NETWORK_WITH_MACS, start=True, autostart=False)
    changed = NETWORK_WITH_MACS.replace("vnxmac0", "vnxmac1")
    assert define_network(URI, changed, start=True, autostart=False) == "macnet"
    assert conn.networkLookupByName("macnet").isActive()


def _fail(*_args, **_kwargs):
    raise libvirt.libvirtError("injected failure")


def test_failed_start_removes_the_new_definition(conn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(libvirt.virNetwork, "create", _fail)
    with pytest.raises(LibvirtFailed, match="cannot start network macnet .*definition removed again"):
        define_network(URI, NETWORK_WITH_MACS, start=True, autostart=True)
    assert "macnet" not in conn.listNetworks() + conn.listDefinedNetworks()


def test_failed_autostart_stops_and_removes_the_new_network(conn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(libvirt.virNetwork, "setAutostart", _fail)
    with pytest.raises(LibvirtFailed, match="cannot set autostart on network macnet"):
        define_network(URI, NETWORK_WITH_MACS, start=True, autostart=True)
    assert "macnet" not in conn.listNetworks() + conn.listDefinedNetworks()


def test_failed_autostart_restores_an_existing_definition(conn, monkeypatch: pytest.MonkeyPatch) -> None:
    define_network(URI, NETWORK_WITH_MACS, start=False, autostart=False)
    monkeypatch.setattr(libvirt.virNetwork, "setAutostart", _fail)
    changed = NETWORK_WITH_MACS.replace("vnxmac0", "vnxmac1")
    with pytest.raises(LibvirtFailed, match="previous definition restored"):
        define_network(URI, changed, start=False, autostart=True)
    network = conn.networkLookupByName("macnet")
    assert "vnxmac0" in network.XMLDesc(0)
    assert "vnxmac1" not in network.XMLDesc(0)


def test_define_network_refused_by_libvirt(conn) -> None:
    bad = "<network><name>bad</name><forward mode='sideways'/></network>"
    with pytest.raises(LibvirtFailed, match=r"^test:///default: cannot define network: .*sideways"):
        define_network(URI, bad, start=True, autostart=False)
    assert "bad" not in conn.listNetworks() + conn.listDefinedNetworks()


def test_define_domain(conn) -> None:
    xml = DOMAIN_TEMPLATE.format(name="newvm", nics=_nic("52:54:00:0b:00:01"))
    assert define_domain(URI, xml) == "newvm"
    domain = conn.lookupByName("newvm")
    assert domain.isPersistent()
    assert "52:54:00:0b:00:01" in domain.XMLDesc(0)
    with pytest.raises(LibvirtFailed, match="cannot define domain"):
        define_domain(URI, "<domain type='test'><name>x</name></domain>")


def test_connection_failure_is_one_project_error() -> None:
    require(libvirt is not None, "libvirt-python")
    with pytest.raises(LibvirtFailed, match="^" + re.escape(BROKEN_URI) + ": cannot connect: "):
        macs_in_use(BROKEN_URI)


def test_missing_libvirt_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "libvirt", None)  # makes `import libvirt` raise ImportError
    with pytest.raises(LibvirtMissing, match="libvirt-python is not installed"):
        libvirt_conn.macs_in_use(URI)
    with pytest.raises(LibvirtMissing):
        libvirt_conn.define_network(URI, NETWORK_WITH_MACS, start=False, autostart=False)


def test_only_one_line_reaches_stderr() -> None:
    """libvirt's own error printing is silenced: the user sees the project's line only."""
    require(libvirt is not None, "libvirt-python")
    done = subprocess.run(
        [sys.executable, "-m", "xmltools.cli.main", "mac", "--connect", BROKEN_URI],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"virt-netxml: error: {BROKEN_URI}: cannot connect:")


def test_cli_never_imports_libvirt_outside_this_module() -> None:
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent
    # The command line's door, and the hot-plug watch (a service, not a hook: it follows
    # libvirt's events; the hooks themselves never import libvirt).
    doors = {"xmltools/cli/libvirt_conn.py", "hooks/watch.py"}
    offenders = []
    for folder in ("xmltools", "hooks"):
        for path in (root / folder).rglob("*.py"):
            if str(path.relative_to(root)) in doors:
                continue
            if re.search(r"^\s*(import libvirt|from libvirt import)", path.read_text(), re.MULTILINE):
                offenders.append(str(path.relative_to(root)))
    assert offenders == []
