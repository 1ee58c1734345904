"""Semantic checks of guest NICs and domains at their edges, each refusal beside its accepted twin.

vhost-user's source and shared memory (NUMA cells inheriting <memoryBacking>), passt port
forwarding, virtio queue sizes (powers of two), generated target names, the checks a foreign
hypervisor's "bridge" skips. Each case pins the findings exactly: line, severity, code, message.
"""

from __future__ import annotations

import pytest
from lxml import etree

from xmltools import checks
from xmltools.versions import BASELINE, NEWEST


def _domain(devices: str, *, head: str = "", attrs: str = "type='kvm'",
            libvirt: tuple[int, int, int] = NEWEST) -> list[tuple[int, str, str, str]]:
    """Findings of a domain whose devices start on line 4 (``head`` goes on line 2)."""
    report = checks.Report(libvirt=libvirt)
    doc = f"<domain {attrs}>\n<name>d</name>{head}\n<devices>\n{devices}\n</devices>\n</domain>"
    checks.check_domain(etree.fromstring(doc), report)
    return [(i.line, i.severity, i.code, i.message) for i in report.issues]


def _interface(xml: str) -> list[tuple[int, str, str, str]]:
    report = checks.Report()
    checks.check_interface(etree.fromstring(xml), report)
    return [(i.line, i.severity, i.code, i.message) for i in report.issues]


# --------------------------------------------------------------------------- vhost-user

VHOSTUSER = "<interface type='vhostuser'><source type='unix' path='/run/vhu.sock' mode='client'/></interface>"
SHARED = "<memoryBacking><access mode='shared'/></memoryBacking>"
PRIVATE = "<memoryBacking><access mode='private'/></memoryBacking>"
SHM_REFUSED = ("<interface type='vhostuser'>: vhost-user needs shared guest memory (<memoryBacking><access "
               "mode='shared'/>); libvirt 11.3.0 refuses the domain")
SHM_WARNED = ("<interface type='vhostuser'>: vhost-user needs shared guest memory (<memoryBacking><access "
              "mode='shared'/>); libvirt 9.0.0 only warns (11.2 refuses it)")


def _cells(*access: str | None) -> str:
    cells = "".join(f"<cell id='{n}' cpus='{n}' memory='512' unit='MiB'"
                    + (f" memAccess='{a}'" if a else "") + "/>" for n, a in enumerate(access))
    return f"<cpu><numa>{cells}</numa></cpu>"


@pytest.mark.parametrize("head,shared", [
    (SHARED, True),
    (PRIVATE, False),
    ("", False),
    ("<memoryBacking><hugepages/></memoryBacking>", False),
    (_cells("shared", "shared"), True),                    # every cell shared, no memoryBacking
    (_cells("shared", "private"), False),
    (_cells("shared", None), False),                       # a cell without memAccess: private
    (SHARED + _cells(None, None), True),                   # cells inherit memoryBacking's access
    (SHARED + _cells(None, "private"), False),
    (PRIVATE + _cells("shared", "shared"), True),
    (PRIVATE + _cells("shared", None), False),
])
def test_vhostuser_needs_all_guest_memory_shared(head, shared):
    assert _domain(VHOSTUSER, head=head) == ([] if shared else [(4, "error", "vhostuser-shared-memory",
                                                                SHM_REFUSED)])


@pytest.mark.parametrize("libvirt,severity,message", [
    (NEWEST, "error", SHM_REFUSED),
    ((11, 2, 0), "error", SHM_REFUSED.replace("11.3.0", "11.2.0")),
    ((11, 1, 0), "warning", SHM_WARNED.replace("9.0.0", "11.1.0")),
    (BASELINE, "warning", SHM_WARNED),
])
def test_libvirt_refuses_unshared_memory_from_11_2(libvirt, severity, message):
    assert _domain(VHOSTUSER, libvirt=libvirt) == [(4, severity, "vhostuser-shared-memory", message)]


@pytest.mark.parametrize("attrs,found", [("type='kvm'", True), ("type='qemu'", True), ("type='xen'", False),
                                         ("", False)])
def test_shared_memory_is_a_qemu_rule(attrs, found):
    assert bool(_domain(VHOSTUSER, attrs=attrs)) is found


def test_shared_memory_is_reported_once_at_the_first_vhostuser_nic():
    devices = "<interface type='user'/>\n" + VHOSTUSER + "\n" + VHOSTUSER
    assert [f[:3] for f in _domain(devices)] == [(5, "error", "vhostuser-shared-memory")]


@pytest.mark.parametrize("xml,found", [
    ("<interface type='vhostuser'><source type='unix' path='/run/x.sock' mode='client'/></interface>", []),
    ("<interface type='vhostuser'><backend type='passt'/></interface>", []),
    ("<interface type='vhostuser'><source type='unix' mode='client'/></interface>",
     [(1, "error", "vhostuser-source", "<interface type='vhostuser'>: a vhostuser interface needs <source "
                                       "type='unix' path=...> unless passt is its backend (<backend "
                                       "type='passt'>)")]),
    ("<interface type='vhostuser'>\n<backend type='qemu'/></interface>",
     [(1, "error", "vhostuser-source", "<interface type='vhostuser'>: a vhostuser interface needs <source "
                                       "type='unix' path=...> unless passt is its backend (<backend "
                                       "type='passt'>)")]),
    ("<interface type='user'/>", []),
])
def test_a_vhostuser_nic_needs_a_socket_or_passt(xml, found):
    assert _interface(xml) == found


def test_the_missing_socket_is_reported_on_the_source_when_there_is_one():
    xml = "<interface type='vhostuser'>\n<source type='unix' mode='client'/>\n</interface>"
    assert [f[0] for f in _interface(xml)] == [2]


# --------------------------------------------------------------------------- passt and queues

FORWARD = "<portForward proto='tcp'><range start='2022' to='22'/></portForward>"
PORTFORWARD = ("<interface type='{kind}'>: <portForward> works only with the passt backend (<backend "
               "type='passt'>) of a user or vhostuser interface")


@pytest.mark.parametrize("kind,backend,ok", [
    ("user", "passt", True),
    ("vhostuser", "passt", True),
    ("user", "qemu", False),
    ("user", None, False),
    ("ethernet", "passt", False),
])
def test_port_forwarding_needs_passt_on_a_user_nic(kind, backend, ok):
    backend_xml = f"<backend type='{backend}'/>" if backend else ""
    xml = f"<interface type='{kind}'>{backend_xml}\n{FORWARD}</interface>"
    refused = [(2, "error", "portforward-backend", PORTFORWARD.format(kind=kind))]
    assert _interface(xml) == ([] if ok else refused)


def _queues(model: str, **sizes: str) -> list[tuple[int, str, str, str]]:
    attrs = "".join(f" {k}='{v}'" for k, v in sizes.items())
    return _interface(f"<interface type='network'><source network='n'/><model type='{model}'/>\n"
                      f"<driver{attrs}/></interface>")


@pytest.mark.parametrize("size,ok", [("1", True), ("2", True), ("256", True), ("1024", True),
                                     ("0", False), ("3", False), ("255", False), ("257", False),
                                     ("abc", True), ("-4", True)])    # not digits: the schema's business
def test_queue_sizes_are_powers_of_two(size, ok):
    expected = [] if ok else [(2, "error", "queue-size",
                               f"<interface type='network'>: rx_queue_size {size} is not a power of two")]
    assert _queues("virtio", rx_queue_size=size) == expected


@pytest.mark.parametrize("model", ["virtio", "virtio-transitional", "virtio-non-transitional"])
def test_both_queue_sizes_of_every_virtio_model_are_checked(model):
    assert [f[3] for f in _queues(model, rx_queue_size="3", tx_queue_size="5")] == [
        "<interface type='network'>: rx_queue_size 3 is not a power of two",
        "<interface type='network'>: tx_queue_size 5 is not a power of two"]


@pytest.mark.parametrize("model", ["e1000", "rtl8139"])
def test_queue_sizes_of_other_models_are_not_judged(model):
    assert _queues(model, rx_queue_size="3") == []


def test_queue_sizes_without_a_model_are_not_judged():
    xml = "<interface type='network'><source network='n'/><driver rx_queue_size='3'/></interface>"
    assert _interface(xml) == []


# --------------------------------------------------------------------------- names and addresses


@pytest.mark.parametrize("dev,managed,found", [
    ("vnet3", None, True), ("macvtap0", None, True), ("macvlan0", None, True), ("vnet", None, True),
    ("vnet3", "no", False), ("vnet3", "yes", True),
    ("myvnet0", None, False), ("tap0", None, False), ("", None, False),
])
def test_generated_target_names(dev, managed, found):
    managed_xml = f" managed='{managed}'" if managed else ""
    xml = f"<interface type='ethernet'>\n<target dev='{dev}'{managed_xml}/></interface>"
    expected = [(2, "warning", "target-generated",
                 f"<interface type='ethernet'>: libvirt drops target dev '{dev}' when the guest is defined: "
                 "names starting with vnet, macvtap, macvlan are reserved for the ones it generates (a "
                 "pre-created TAP needs managed='no')")]
    assert [f for f in _interface(xml) if f[2] == "target-generated"] == (expected if found else [])


@pytest.mark.parametrize("attrs,checked", [("type='kvm'", True), ("type='vmware'", False),
                                           ("type='hyperv'", False), ("type='vbox'", False),
                                           ("type='phyp'", False), ("", True)])
def test_a_foreign_hypervisors_names_are_not_linux_names(attrs, checked):
    devices = ("<interface type='bridge'><source bridge='VM Network'/>\n<target dev='vnet0'/>"
               "</interface>")
    found = [f[2] for f in _domain(devices, attrs=attrs)]
    assert found == (["bridge-name", "target-generated"] if checked else [])


def test_a_bridge_name_problem_is_reported_on_the_source():
    assert _interface("<interface type='bridge'>\n<source bridge='a/b'/></interface>") == [
        (2, "error", "bridge-name", "<interface type='bridge'>: bridge 'a/b' is not a valid Linux interface "
                                    "name: contains '/', which is not allowed")]


@pytest.mark.parametrize("xml", [
    "<interface type='bridge'><source network='x/y'/></interface>",     # no bridge attribute
    "<interface type='network'><source bridge='a/b'/></interface>",     # not a bridge NIC
    "<interface type='bridge'><source bridge='br0'/></interface>",
])
def test_only_a_bridge_nics_bridge_attribute_is_a_bridge_name(xml):
    assert _interface(xml) == []


@pytest.mark.parametrize("kind,found", [
    ("direct", [(2, "error", "device-name", "<source dev='a/b'>: uplink 'a/b' is not a valid Linux interface "
                                            "name: contains '/', which is not allowed")]),
    ("ethernet", []),
])
def test_only_a_direct_nics_source_dev_is_an_uplink_name(kind, found):
    assert _interface(f"<interface type='{kind}'>\n<source dev='a/b'/></interface>") == found


@pytest.mark.parametrize("kind,found", [("hostdev", ["pci-address"]), ("bridge", [])])
def test_only_a_hostdev_nics_pci_address_is_checked(kind, found):
    xml = (f"<interface type='{kind}'><source bridge='br0'><address type='pci' domain='0x0' bus='0x100' "
           "slot='0x0' function='0x0'/></source></interface>")
    assert [f[2] for f in _interface(xml)] == found


def test_a_mac_without_an_address_is_no_duplicate():
    devices = "<interface type='user'><mac/></interface>\n<interface type='user'><mac/></interface>"
    assert _domain(devices) == []


def test_a_nic_without_a_mac_hides_no_duplicate_after_it():
    devices = ("<interface type='user'><mac/></interface>\n<interface type='user'/>\n"
               "<interface type='user'><mac address='52:54:00:00:0a:01'/></interface>\n"
               "<interface type='user'><mac address='52:54:00:00:0A:01'/></interface>")
    assert _domain(devices) == [
        (7, "warning", "mac-duplicate-in-domain",
         "<interface type='user'>: MAC 52:54:00:00:0a:01 is also used by the interface on line 6 of this "
         "domain")]


def test_a_mac_shared_by_three_nics_names_the_first_each_time():
    devices = "\n".join("<interface type='user'><mac address='52:54:00:00:00:01'/></interface>"
                        for _ in range(3))
    assert [(f[0], f[3]) for f in _domain(devices)] == [
        (line, "<interface type='user'>: MAC 52:54:00:00:00:01 is also used by the interface on line 4 of "
               "this domain") for line in (5, 6)]


@pytest.mark.parametrize("attrs,found", [("type='kvm'", ["target-generated"]), ("type='kvm' id='3'", [])])
def test_the_live_xml_of_a_running_guest_keeps_its_generated_names(attrs, found):
    devices = "<interface type='ethernet'><target dev='vnet0'/></interface>"
    assert [f[2] for f in _domain(devices, attrs=attrs)] == found
