"""Names, addresses, VLAN ids and MACs are checked before they can reach a path, an argv or a
netlink call (issue 5 §1): through the CLI builders and through the hook planner.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from tests.robustness import documents
from tests.robustness.runner import assert_one_line_error, run_cli
from xmltools import record
from xmltools.errors import NetXmlError
from xmltools.xmlparse import parse_bytes

pytestmark = pytest.mark.timeout(120)

LONG = "x" * 40          # a 40-byte interface name (the kernel allows 15)
UTF8_LONG = "é" * 8      # 8 characters, 16 bytes
BAD_NAMES = [LONG, UTF8_LONG, "br 0", "br\n0", "a/b", "../x", "", ".."]
BAD_PCI = ["../0000:04:10.0", "0000:04:10.0/../../x", "0000:04:10.0 ", "0000:04:20.0", "0000:04:10.8",
           "0000:04:10", "1:2:3:4.0", "0000:g4:10.0"]
BAD_VLANS = ["5000", "-1", "4096", "abc", "1-5000", "10,,20"]
BAD_MACS = ["01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "52:54:00:00:00",
            "52:54:00:00:00:00:00", "52-54-00-zz-00-01", "52:54:00:00:00:100"]


def _cases() -> list[tuple[str, list[str]]]:
    cases: list[tuple[str, list[str]]] = []
    for name in BAD_NAMES:
        if name == "":
            continue  # an empty option value is a separate rule (below)
        cases += [
            (f"interface-bridge-{name!r}", ["interface", "--type", "bridge", "--source", name]),
            (f"interface-direct-{name!r}", ["interface", "--type", "direct", "--source", name,
                                             "--mode", "vepa"]),
            (f"interface-target-{name!r}", ["interface", "--type", "ethernet", "--target", name,
                                             "--unmanaged"]),
            (f"network-bridge-{name!r}", ["network", "n", "--mode", "bridge", "--bridge", name]),
            (f"network-nat-bridge-{name!r}", ["network", "n", "--bridge", name, "--ip", "10.0.0.1/24"]),
            (f"network-uplink-{name!r}", ["network", "n", "--mode", "vepa", "--uplink", name]),
            (f"network-pf-{name!r}", ["network", "n", "--mode", "hostdev", "--pf", name]),
            (f"network-forward-dev-{name!r}", ["network", "n", "--mode", "route", "--forward-dev", name,
                                               "--ip", "10.0.0.1/24"]),
        ]
    for pci in BAD_PCI:
        cases += [
            (f"interface-pci-{pci!r}", ["interface", "--type", "hostdev", "--pci", pci]),
            (f"network-vf-address-{pci!r}", ["network", "n", "--mode", "hostdev", "--vf-address", pci]),
        ]
    for vlan in BAD_VLANS:
        cases += [
            (f"interface-vlan-{vlan}", ["interface", "--type", "bridge", "--source", "br0",
                                        "--virtualport", "openvswitch", f"--vlan={vlan}"]),
            (f"network-vlan-{vlan}", ["network", "n", "--mode", "bridge", "--bridge", "ovs0",
                                      "--virtualport", "openvswitch", f"--vlan={vlan}"]),
            (f"network-portgroup-vlan-{vlan}", ["network", "n", "--mode", "bridge", "--bridge", "ovs0",
                                                "--virtualport", "openvswitch",
                                                f"--portgroup=pg,vlan={vlan}"]),
        ]
    for mac in BAD_MACS:
        cases += [
            (f"interface-mac-{mac}", ["interface", "--type", "user", "--mac", mac]),
            (f"network-mac-{mac}", ["network", "n", "--ip", "10.0.0.1/24", "--mac", mac]),
            (f"network-dhcp-host-{mac}", ["network", "n", "--ip", "10.0.0.1/24",
                                           "--dhcp-host", f"{mac},10.0.0.5"]),
            (f"mac-check-{mac}", ["mac", "--check", mac]),
        ]
    cases += [
        ("mac-multicast-oui", ["mac", "--oui", "01:00:5e"]),
        ("network-name-slash", ["network", "a/b", "--ip", "10.0.0.1/24"]),
        ("interface-vf-pf", ["interface", "--type", "hostdev", "--pci", "0000:04:10.0", "--vf-pf", "../x",
                             "--vf-index", "3", "--domain", "{domain}"]),
        ("interface-vf-index", ["interface", "--type", "hostdev", "--pci", "0000:04:10.0", "--vf-pf", "pf0",
                                "--vf-index", "-3", "--domain", "{domain}"]),
        ("interface-tap-bridge", ["interface", "--type", "ethernet", "--target", "tap0", "--unmanaged",
                                  "--tap-bridge", "br\n0", "--domain", "{domain}"]),
        ("interface-bridge-vlan", ["interface", "--type", "bridge", "--source", "br0",
                                   "--bridge-vlan", "5000", "--domain", "{domain}"]),
        ("edit-source-bridge", ["edit", "{domain}", "--source-bridge", "br 0"]),
        ("edit-set-vlan", ["edit", "{domain}", "--set-vlan", "5000"]),
        ("edit-bridge-vlan", ["edit", "{domain}", "--set-bridge-vlan=-1"]),
        ("edit-portgroup-vlan", ["edit", "{network}", "--add-portgroup", "pg",
                                 "--portgroup-vlan", "pg=4096"]),
    ]
    return cases


@pytest.mark.parametrize(("name", "argv"), _cases(), ids=[c[0] for c in _cases()])
def test_cli_refuses_bad_value(name: str, argv: list[str], tmp_path: Path) -> None:
    domain = tmp_path / "domain.xml"
    domain.write_bytes(documents.DOMAIN)
    network = tmp_path / "network.xml"
    network.write_bytes(documents.NETWORK)
    argv = [a.format(domain=domain, network=network) for a in argv]
    result = run_cli(argv)
    assert_one_line_error(result, 2)
    assert result.stdout == b""
    assert domain.read_bytes() == documents.DOMAIN and network.read_bytes() == documents.NETWORK


@pytest.mark.parametrize("argv", [
    ["interface", "--type", "bridge", "--source", "br0"],
    ["interface", "--type", "hostdev", "--pci", "0000:04:10.0"],
    ["interface", "--type", "ethernet", "--target", "tap-vm1.0", "--unmanaged"],
    ["network", "n", "--mode", "bridge", "--bridge", "ovs0", "--virtualport", "openvswitch",
     "--vlan", "4094"],
    ["network", "n", "--mode", "hostdev", "--vf-address", "0000:04:10.0", "--vf-address", "04:10.1"],
    ["mac", "--check", "52:54:00:AB:cd:01"],
], ids=lambda a: " ".join(a))
def test_cli_accepts_good_values(argv: list[str]) -> None:
    """Control: the same options with valid values pass (the refusals above are about the value)."""
    result = run_cli(argv)
    assert result.code == 0, result.stderr


# --------------------------------------------------------------------------- hook planner

VNX = "urn:virt-netxml:hooks:1"
M = f"metadata/{{{VNX}}}netxml"

# A live domain (as the start hook sees it) and its prepare-time twin, with one of each kind of
# interface the hooks act on: Linux bridge port with a metadata VLAN, a TAP the hook creates,
# an unmanaged VF by PCI address, a macvtap over a VF whose MAC/VLAN the hook sets via its PF.
PLAN_DOMAIN = f"""<domain type='kvm'>
  <name>planned</name>
  <uuid>0f3a5a8e-2d51-4b8e-9a57-3c2f1b7d9e11</uuid>
  <metadata>
    <vnx:netxml xmlns:vnx='{VNX}'>
      <vnx:interface mac='52:54:00:00:00:01'><vnx:vlan tag='20'/></vnx:interface>
      <vnx:interface mac='52:54:00:00:00:02'><vnx:vlan tag='10'/><vnx:tap bridge='br0'/></vnx:interface>
      <vnx:interface mac='52:54:00:00:00:04'>
        <vnx:vlan tag='30'/><vnx:vf pf='enp6s0f1' index='3' address='0000:04:10.3'/>
      </vnx:interface>
    </vnx:netxml>
  </metadata>
  <devices>
    <interface type='bridge'>
      <mac address='52:54:00:00:00:01'/>
      <source bridge='br0'/>
      <target dev='vnet0'/>
    </interface>
    <interface type='ethernet'>
      <mac address='52:54:00:00:00:02'/>
      <target dev='tap0' managed='no'/>
    </interface>
    <interface type='hostdev' managed='no'>
      <mac address='52:54:00:00:00:03'/>
      <source><address type='pci' domain='0x0000' bus='0x04' slot='0x10' function='0x1'/></source>
    </interface>
    <interface type='direct'>
      <mac address='52:54:00:00:00:04'/>
      <source dev='enp6s0f1v3' mode='passthrough'/>
      <target dev='macvtap0'/>
    </interface>
  </devices>
</domain>
""".encode()

def _network(body: str, meta: str) -> bytes:
    return f"""<hookData>
  <network>
    <name>planned</name>
    <uuid>5d0c7e4b-8a31-4f52-b0a9-6c1e2d3f4a5c</uuid>
    {body}
    <metadata><vnx:netxml xmlns:vnx='{VNX}'>{meta}</vnx:netxml></metadata>
  </network>
</hookData>
""".encode()


# A macvtap pool with a host shim, a Linux bridge network with VLAN filtering, an SR-IOV pool.
PLAN_MACVTAP = _network("<forward dev='up0' mode='bridge'><interface dev='up0'/></forward>",
                        "<vnx:shim name='shim0' address='192.168.50.1/24'/>")
PLAN_BRIDGE = _network("<forward mode='bridge'/><bridge name='br5'/>", "<vnx:bridge vlan-filtering='yes'/>")
PLAN_SRIOV = _network("<forward mode='hostdev' managed='yes'><pf dev='enp4s0f0'/></forward>",
                      "<vnx:sriov pf='enp4s0f0' numvfs='8'/>")
DOCS = {"domain": PLAN_DOMAIN, "macvtap": PLAN_MACVTAP, "bridge": PLAN_BRIDGE, "sriov": PLAN_SRIOV}


def _facts():
    from hooks.planner import StaticFacts

    return StaticFacts(vfs={("enp6s0f1", 3): "0000:04:10.3", ("enp4s0f0", 0): "0000:05:10.0"})


def _plan(op: str, doc: bytes):
    from hooks.planner import plan
    from hooks.protocol import lookup

    driver = "qemu" if doc.lstrip().startswith(b"<domain") else "network"
    operation = lookup(driver, op)
    assert operation is not None
    # After prepare the domain's record lists its TAP: start sets VLANs on a recorded TAP only.
    tap = {"taps": {"tap0": {"bridge": "br0", "plugged": True}}}
    record = tap if driver == "qemu" and op != "prepare" else {}
    return plan(operation, parse_bytes(doc).getroot(), _facts(), record)


def _mutate(doc: bytes, path: str, attr: str, value: str) -> bytes:
    root = parse_bytes(doc).getroot()
    node = root.find(path)
    assert node is not None, path
    node.set(attr, value)
    return etree.tostring(root)


def _action_values(actions) -> list[str]:
    """Every field value of every planned action, as text."""
    values = []
    for action in actions:
        for f in record.fields(action):
            values.append(str(getattr(action, f.name)))
    return values


def test_planner_control_plans_every_kind() -> None:
    """The unmutated documents give the actions the mutations below aim at."""
    prepare = {type(a).__name__ for a in _plan("prepare", PLAN_DOMAIN)}
    start = {type(a).__name__ for a in _plan("start", PLAN_DOMAIN)}
    net_start = {type(a).__name__ for a in _plan("start", PLAN_MACVTAP) + _plan("start", PLAN_SRIOV)}
    net_started = {type(a).__name__ for a in _plan("started", PLAN_BRIDGE)}
    assert {"CreateTap", "EnslaveLink", "BindVfio", "SetVfMacVlan"} <= prepare, prepare
    assert {"BridgePortVlans"} <= start, start
    assert {"CheckUplink", "SetSriovNumVfs", "CreateShim"} <= net_start, net_start
    assert {"BridgeVlanFiltering"} <= net_started, net_started


PLANNER_MUTATIONS = [
    # (operation, document, element path, attribute, bad values)
    ("start", "domain", "devices/interface[1]/target", "dev", BAD_NAMES[:-2] + [".."]),
    ("start", "domain", "devices/interface[1]/source", "bridge", BAD_NAMES[:-2]),
    ("prepare", "domain", "devices/interface[2]/target", "dev", BAD_NAMES[:-2]),
    ("prepare", "domain", f"{M}/{{{VNX}}}interface[2]/{{{VNX}}}tap", "bridge", BAD_NAMES[:-2]),
    ("prepare", "domain", "devices/interface[3]/source/address", "bus", ["../", "0x100", "-1", "4/"]),
    ("prepare", "domain", "devices/interface[3]/source/address", "slot", ["0x20", "../0x10"]),
    ("prepare", "domain", "devices/interface[3]/source/address", "function", ["8", "0x1/.."]),
    ("prepare", "domain", "devices/interface[3]/source/address", "domain", ["0x10000"]),
    ("prepare", "domain", f"{M}/{{{VNX}}}interface[3]/{{{VNX}}}vf", "pf", BAD_NAMES[:-2]),
    ("prepare", "domain", f"{M}/{{{VNX}}}interface[3]/{{{VNX}}}vf", "index", ["-1", "99999", "x"]),
    ("prepare", "domain", f"{M}/{{{VNX}}}interface[3]/{{{VNX}}}vf", "address", BAD_PCI),
    ("prepare", "domain", f"{M}/{{{VNX}}}interface[3]/{{{VNX}}}vlan", "tag", ["5000", "-1", "x"]),
    ("start", "domain", f"{M}/{{{VNX}}}interface[1]/{{{VNX}}}vlan", "tag", ["5000", "-1", "4096"]),
    ("start", "domain", f"{M}/{{{VNX}}}interface[2]/{{{VNX}}}vlan", "tag", ["5000", "-1"]),
    ("start", "macvtap", "network/forward/interface", "dev", BAD_NAMES[:-2]),
    ("start", "macvtap", "network/forward", "dev", BAD_NAMES[:-2]),
    ("start", "macvtap", f"network/{M}/{{{VNX}}}shim", "name", BAD_NAMES[:-3]),
    ("start", "macvtap", f"network/{M}/{{{VNX}}}shim", "address", ["300.1.1.1/24", "10.0.0.1/99", "x y"]),
    ("start", "sriov", f"network/{M}/{{{VNX}}}sriov", "pf", BAD_NAMES[:-3]),
    ("start", "sriov", "network/forward/pf", "dev", BAD_NAMES[:-3]),
    ("start", "sriov", f"network/{M}/{{{VNX}}}sriov", "numvfs", ["-1", "x", "99999"]),
    ("started", "bridge", "network/bridge", "name", BAD_NAMES[:-3]),
]


def _mutation_ids() -> list[str]:
    return [f"{op}-{doc}-{path.rsplit('}', 1)[-1].replace('/', '.')}@{attr}"
            for op, doc, path, attr, _ in PLANNER_MUTATIONS]


@pytest.mark.parametrize(("op", "doc", "path", "attr", "values"), PLANNER_MUTATIONS, ids=_mutation_ids())
def test_planner_never_plans_a_bad_value(op: str, doc: str, path: str, attr: str, values: list[str]) -> None:
    """A bad value is refused with a one-line message, or provably reaches no action.

    Refusing in the planner means refusing before any action runs: the executor only ever sees
    a finished plan.
    """
    base = DOCS[doc]
    # The document as it is must be planned: a refusal of everything would pass the loop below.
    _plan(op, base)
    for value in values:
        mutated = _mutate(base, path, attr, value)
        try:
            actions = _plan(op, mutated)
        except NetXmlError as exc:
            assert "\n" not in exc.message.replace("\\n", ""), exc.message
            # ...and the refusal is about this value, not some other fault of the document.
            shown = value.strip().lower().removeprefix("0x")
            assert not shown or shown in exc.message.replace("\\n", "\n").lower(), (value, exc.message)
            continue
        leaked = [v for v in _action_values(actions) if value and value in v]
        assert not leaked, f"{attr}={value!r} reached the plan unchecked: {actions}"


@pytest.mark.parametrize("mac", ["01:00:5e:00:00:04", "ff:ff:ff:ff:ff:ff", "52:54:00:00:zz:04"])
def test_planner_refuses_bad_vf_mac(mac: str) -> None:
    """A VF's MAC is set through its PF by the hook: a multicast or malformed MAC must not get there."""
    root = parse_bytes(PLAN_DOMAIN).getroot()
    root.find("devices/interface[4]/mac").set("address", mac)
    root.find(f"{M}/{{{VNX}}}interface[3]").set("mac", mac)
    with pytest.raises(NetXmlError):
        _plan("prepare", etree.tostring(root))


@pytest.mark.parametrize("argv", [
    ["network", "n", "--mode", "bridge", "--bridge", "br\n0"],
    ["network", "n", "--mode", "hostdev", "--vf-address", "../0000:04:10.0"],
    ["interface", "--type", "bridge", "--source", "x" * 40],
    ["interface", "--type", "user", "--mac", "01:00:5e:00:00:01"],
], ids=["network-bridge", "network-vf", "interface-bridge", "interface-mac"])
def test_refused_builder_writes_no_output_file(argv: list[str], tmp_path: Path) -> None:
    out = tmp_path / "out.xml"
    result = run_cli([*argv, "-o", str(out)])
    assert_one_line_error(result, 2)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file left either
    existing = tmp_path / "existing.xml"
    existing.write_text("<network/>\n")
    result = run_cli([*argv, "-o", str(existing)])
    assert_one_line_error(result, 2)
    assert existing.read_text() == "<network/>\n"
