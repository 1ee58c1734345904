"""What ``hooks plan`` and ``--dry-run`` show for each action: the exact line, for every kind and
for the variants each one renders differently (flags present or not, values absent)."""

from __future__ import annotations

import pytest

from hooks import actions as A

TABLE = [
    # bridge
    (A.BridgeVlanFiltering("br0", True), "set VLAN filtering on for bridge br0"),
    (A.BridgeVlanFiltering("br0", False), "set VLAN filtering off for bridge br0"),
    (A.BridgePortVlans("vnet0", (10,), pvid=10), "set bridge VLANs of vnet0: pvid 10 untagged"),
    (A.BridgePortVlans("vnet0", (20, 30, 31, 32, 40), pvid=20, untagged_pvid=False),
     "set bridge VLANs of vnet0: pvid 20 tagged, tagged 30-32,40"),
    (A.BridgePortVlans("vnet0", (40, 30, 30)), "set bridge VLANs of vnet0: tagged 30,40"),
    (A.BridgePortVlans("vnet0", ()), "set bridge VLANs of vnet0: none"),
    (A.BridgePortVlans("vnet0", (10, 20), pvid=10, verify=True),
     "verify bridge VLANs libvirt set on vnet0: pvid 10 untagged, tagged 20"),
    (A.BridgePortVlans("vnet0", (), verify=True), "verify bridge VLANs libvirt set on vnet0: none"),
    # ovs
    (A.OvsPortVlan("vnet1", 10, (), "access"), "set OVS port vnet1 vlan_mode=access tag=10"),
    (A.OvsPortVlan("vnet1", None, (5, 6, 7, 9), "trunk"), "set OVS port vnet1 vlan_mode=trunk trunks=5-7,9"),
    (A.OvsPortVlan("vnet1", None), "set OVS port vnet1 vlan_mode=[]"),
    (A.OvsPortVlan("vnet1", 0, (0,)), "set OVS port vnet1 vlan_mode=[] tag=0 trunks=0"),
    (A.OvsSetting("Port", "vnet1", "other_config", "priority-tags", "always"),
     "set OVS Port vnet1 other_config:priority-tags=always"),
    (A.OvsSetting("Interface", "vnet1", "other_config", "tx-steering", None),
     "remove OVS Interface vnet1 other_config:tx-steering"),
    (A.OvsSetting("Port", "vnet1", "other_config", "k", ""), "set OVS Port vnet1 other_config:k="),
    # tap
    (A.CreateTap("tap0"), "create TAP tap0 owner -:-"),
    (A.CreateTap("tap0", 0, 0), "create TAP tap0 owner 0:0"),
    (A.CreateTap("tap0", 107, None, multi_queue=True), "create TAP tap0 owner 107:- (multi_queue)"),
    (A.CreateTap("tap0", None, 108, vnet_hdr=True), "create TAP tap0 owner -:108 (vnet_hdr)"),
    (A.CreateTap("tap0", 1, 2, True, True), "create TAP tap0 owner 1:2 (multi_queue, vnet_hdr)"),
    (A.DeleteTap("tap0"), "delete TAP tap0 (created by the hook)"),
    (A.EnslaveLink("tap0", "br0"), "plug tap0 into bridge br0"),
    (A.EnslaveLink("tap0", "ovsbr0", True), "plug tap0 into OVS bridge ovsbr0"),
    (A.LinkUp("tap0"), "bring tap0 up"),
    # macvtap
    (A.CheckUplink("eth1"), "check uplink eth1 exists and is up"),
    (A.CreateShim("mvshim0", "eth1", "192.168.77.1/24"),
     "create host shim mvshim0 (macvlan bridge on eth1, 192.168.77.1/24)"),
    (A.DeleteShim("mvshim0"), "delete host shim mvshim0"),
    # sriov
    (A.SetSriovNumVfs("enp4s0f0", 4), "set sriov_numvfs of enp4s0f0 to 4"),
    (A.RestoreNumVfs("enp4s0f0"), "restore the original sriov_numvfs of enp4s0f0"),
    (A.ForgetNumVfs(), "stop tracking the original sriov_numvfs (the PF keeps its VFs)"),
    (A.BindVfio("0000:04:10.1"), "bind 0000:04:10.1 to vfio-pci"),
    (A.RestoreDriver("0000:04:10.1"), "restore the original driver of 0000:04:10.1"),
    (A.SetVfMacVlan("enp4s0f0", 1, "52:54:00:00:0f:01", 100),
     "set VF 1 of enp4s0f0: mac 52:54:00:00:0f:01, vlan 100"),
    (A.SetVfMacVlan("enp4s0f0", 0, None), "set VF 0 of enp4s0f0: mac (unchanged), vlan none"),
    (A.RestoreVf("enp4s0f0", 3), "restore MAC and VLAN of VF 3 of enp4s0f0"),
    # records
    (A.RecordPortWish("vm1", None, "52:54:00:00:00:01", (("portgroup", "blue"), ("tag", 5))),
     "remember VLAN access 5 for port 52:54:00:00:00:01 of domain vm1 (portgroup blue)"),
    (A.RecordPortWish("vm1", None, "52:54:00:00:00:01", (("tag", 0),)),
     "remember VLAN access 0 for port 52:54:00:00:00:01 of domain vm1 (portgroup None)"),
    (A.RecordPortWish("vm1", "u", "52:54:00:00:00:01",
                      (("native", 20), ("portgroup", "t"), ("trunks", "20,30"))),
     "remember VLAN trunks 20,30 native 20 for port 52:54:00:00:00:01 of domain vm1 (portgroup t)"),
    (A.RecordPortWish("vm1", "u", "52:54:00:00:00:01", (("native", 0), ("trunks", "0,5"))),
     "remember VLAN trunks 0,5 native 0 for port 52:54:00:00:00:01 of domain vm1 (portgroup None)"),
    (A.RecordPortWish("vm1", "u", "52:54:00:00:00:01", (("tag", None), ("trunks", "7"))),
     "remember VLAN trunks 7 for port 52:54:00:00:00:01 of domain vm1 (portgroup None)"),
    (A.MarkStarting(), "note that the libvirt daemon is starting the domain"),
    (A.ForgetDomain(), "forget the domain's port records"),
    (A.RewriteXml("<domain/>", ("bridge br0 -> br1", "network a -> b")),
     "rewrite the domain XML: bridge br0 -> br1; network a -> b"),
    (A.RewriteXml("<domain/>"), "rewrite the domain XML: no change"),
    (A.RecordPool("enp4s0f0"), "record the network as a pool of the VFs of enp4s0f0"),
    (A.ForgetPool(), "forget the network's VF pool"),
]


@pytest.mark.parametrize(("action", "text"), TABLE, ids=[t for _, t in TABLE])
def test_each_action_describes_itself(action, text):
    assert action.describe() == text


def test_the_plan_numbers_its_lines_from_one_and_labels_interfaces():
    plan = [A.CreateTap("tap0", iface="52:54:00:00:00:01 (tap0)"), A.LinkUp("tap0", iface=""),
            A.CheckUplink("eth1")]
    assert A.render_plan(plan) == ("1. create TAP tap0 owner -:-  [52:54:00:00:00:01 (tap0)]\n"
                                   "2. bring tap0 up\n3. check uplink eth1 exists and is up\n")


def test_the_interface_label_is_no_part_of_an_actions_identity():
    assert A.LinkUp("tap0", iface="a") == A.LinkUp("tap0", iface="b")
    assert A.LinkUp("tap0").iface == ""
