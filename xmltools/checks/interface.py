"""Semantic checks of guest NICs: a standalone <interface> or those of a <domain>."""

from __future__ import annotations

from lxml import etree

from xmltools.checks.shared import (
    Report,
    check_bandwidth,
    check_device_name,
    check_mac_attr,
    check_pci,
    check_versions,
    check_vlan,
    describe,
)
from xmltools.errors import InvalidValue
from xmltools.names import interface_name_problem
from xmltools.rules import LINUX_BRIDGE_VLAN_SINCE
from xmltools.uuids import validate_uuid
from xmltools.versions import show

# Target names libvirt generates itself, and drops from a definition (virnetdev.h).
GENERATED_PREFIXES = ("vnet", "macvtap", "macvlan")
# Domain types whose "bridge" is not a Linux bridge (ESX port groups, Hyper-V switches, ...).
FOREIGN_HYPERVISORS = ("vmware", "hyperv", "vbox", "phyp")


def check_interface(iface: etree._Element, report: Report, domain_type: str | None = None,
                    definition: bool = True) -> None:
    """Semantic checks of one <interface> element (standalone or inside a domain).

    ``definition`` is False for the live XML of a running guest, where libvirt itself wrote
    the generated names.
    """
    kind = iface.get("type") or ""
    where = describe(iface)
    check_versions(iface, "interface", report)
    if kind == "vhostuser" and iface.find("backend[@type='passt']") is None and \
            iface.find("source[@path]") is None:
        report.error(iface.find("source") if iface.find("source") is not None else iface, "vhostuser-source",
                     f"{where}: a vhostuser interface needs <source type='unix' path=...> "
                     "unless passt is its backend (<backend type='passt'>)")
    mac = iface.find("mac")
    if mac is not None:
        check_mac_attr(mac, report, where)
    source = iface.find("source")
    if source is not None:
        if kind == "bridge" and domain_type not in FOREIGN_HYPERVISORS:
            name = source.get("bridge")
            if name is not None:
                problem = interface_name_problem(name)
                if problem:
                    report.error(source, "bridge-name",
                                 f"{where}: bridge {name!r} is not a valid Linux interface name: {problem}")
        if kind == "direct":
            check_device_name(source, "dev", report, "uplink")
        if kind == "hostdev":
            addr = source.find("address")
            if addr is not None and addr.get("type") == "pci":
                check_pci(addr, report)
    target = iface.find("target")
    if target is not None and domain_type not in FOREIGN_HYPERVISORS:
        check_device_name(target, "dev", report, "target dev", "target-name")
        dev = target.get("dev") or ""
        if definition and target.get("managed") != "no" and dev.startswith(GENERATED_PREFIXES):
            report.warning(target, "target-generated",
                           f"{where}: libvirt drops target dev '{dev}' when the guest is defined: names "
                           f"starting with {', '.join(GENERATED_PREFIXES)} are reserved for the ones it "
                           "generates (a pre-created TAP needs managed='no')")
    params = iface.find("virtualport/parameters")
    if params is not None and params.get("interfaceid") is not None:
        try:
            validate_uuid(params.get("interfaceid") or "")
        except InvalidValue as exc:
            # virDomainNetDefParseXML: "cannot parse interfaceid parameter as a uuid"; OVN
            # names the port's logical switch port by it.
            report.error(params, "interfaceid",
                         f"{where}: interfaceid {params.get('interfaceid')!r} is not a UUID, which libvirt "
                         f"refuses ({exc.fields['reason']})")
    _check_passt_and_queues(iface, kind, where, report)
    bw = iface.find("bandwidth")
    if bw is not None:
        check_bandwidth(bw, report, allow_floor=kind == "network", where=where)
    vlan = iface.find("vlan")
    if vlan is not None:
        vport = iface.find("virtualport")
        linux_bridge = kind == "bridge" and (vport is None or vport.get("type") != "openvswitch")
        check_vlan(vlan, report, where, linux_bridge)
        if linux_bridge and report.libvirt < LINUX_BRIDGE_VLAN_SINCE:
            report.warning(vlan, "vlan-unsupported",
                           f"{where}: libvirt {show(report.libvirt)} refuses <vlan> on a Linux bridge port "
                           "when the guest starts (libvirt 11.0 applies it); use an Open vSwitch bridge "
                           "or the vnx:vlan metadata applied by the hooks")


VIRTIO_MODELS = ("virtio", "virtio-transitional", "virtio-non-transitional")
# libvirt 11.2 refuses a vhost-user NIC without shared guest memory (NEWS 11.2.0: "Use common
# check for shared memory use for vhost-user network devices"); before, it only warned.
VHOSTUSER_SHMEM_REFUSED_SINCE = (11, 2, 0)


def _check_passt_and_queues(iface: etree._Element, kind: str, where: str, report: Report) -> None:
    forward = iface.find("portForward")
    backend = iface.find("backend")
    passt = backend is not None and backend.get("type") == "passt"
    if forward is not None and (kind not in ("user", "vhostuser") or not passt):
        # libvirt's domain_validate.c (9.0 and 11.3 alike)
        report.error(forward, "portforward-backend",
                     f"{where}: <portForward> works only with the passt backend (<backend type='passt'>) "
                     "of a user or vhostuser interface")
    model = iface.find("model")
    driver = iface.find("driver")
    if driver is None or model is None or model.get("type") not in VIRTIO_MODELS:
        return
    for attr in ("rx_queue_size", "tx_queue_size"):
        text = driver.get(attr)
        if text is not None and text.isdigit() and (int(text) & (int(text) - 1) or int(text) == 0):
            # qemu_validate.c: "rx_queue_size has to be a power of two"
            report.error(driver, "queue-size", f"{where}: {attr} {text} is not a power of two")


def _shared_memory(root: etree._Element) -> bool:
    """Is all guest memory shared, as vhost-user needs (qemuValidateDomainDefVhostUserRequire-
    SharedMemory): memoryBacking access shared, or every NUMA cell shared (a cell without
    memAccess inherits memoryBacking's)."""
    backing = root.find("memoryBacking/access")
    default_shared = backing is not None and backing.get("mode") == "shared"
    cells = root.findall("cpu/numa/cell")
    if not cells:
        return default_shared
    return all((c.get("memAccess") or ("shared" if default_shared else "private")) == "shared" for c in cells)


def check_domain(root: etree._Element, report: Report) -> None:
    """Checks of a <domain>: its interfaces (the rest of the domain is libvirt's business)."""
    domain_type = root.get("type")
    definition = root.get("id") is None  # a running guest's live XML carries its id
    macs: dict[str, etree._Element] = {}
    vhostusers = root.findall("devices/interface[@type='vhostuser']")
    if vhostusers and domain_type in ("kvm", "qemu") and not _shared_memory(root):
        refused = report.libvirt >= VHOSTUSER_SHMEM_REFUSED_SINCE
        report.add(vhostusers[0], "error" if refused else "warning", "vhostuser-shared-memory",
                   f"{describe(vhostusers[0])}: vhost-user needs shared guest memory (<memoryBacking>"
                   f"<access mode='shared'/>); libvirt {show(report.libvirt)} "
                   + ("refuses the domain" if refused else "only warns (11.2 refuses it)"))
    for iface in root.iterfind("devices/interface"):
        check_interface(iface, report, domain_type, definition)
        mac = iface.find("mac")
        text = (mac.get("address") or "").lower() if mac is not None else ""
        if not text:
            continue
        first = macs.setdefault(text, iface)
        # A failover pair (<teaming>) shares one MAC by design.
        if first is not iface and first.find("teaming") is None and iface.find("teaming") is None:
            report.warning(mac, "mac-duplicate-in-domain",
                           f"{describe(iface)}: MAC {text} is also used by the interface on line "
                           f"{first.sourceline} of this domain")
