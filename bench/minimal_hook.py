"""The least a Python hook that applies OVS VLANs with lxml must pay: a floor for hook_cost.py.

It does what the project's hook does for ``bench/hook_cost.py``'s domain at ``start`` and
nothing else: reads the XML, imports lxml.etree (the way the project's hook does, through
``hooks.etree_loader``) and json, parses with the same secure parser settings, and runs the
same single ``ovs-vsctl`` transaction (read the four Port rows, write their VLANs). No wishes
are read from the metadata (the VLANs are fixed here), nothing is validated, recorded, locked,
logged or rolled back. ``hook_cost.py --minimal`` installs it as a third variant.

Started like the installed hook: ``python -I -S -c BOOTSTRAP DOMAIN OPERATION SUB EXTRA``, the
bootstrap putting the project and its packages on ``sys.path`` (``hooks.wrapper.module_paths``).
"""

import os
import sys

if sys.argv[2:3] != ["start"]:
    os._exit(0)
data = sys.stdin.buffer.read()

from hooks.etree_loader import load_etree  # noqa: E402

etree = load_etree()
import json  # noqa: E402

parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
devs = etree.fromstring(data, parser).xpath("devices/interface/target/@dev")
# hook_cost.NICS, in the order the project's hook writes them.
wishes = [["tag=10", "vlan_mode=access"], ["tag=20", "vlan_mode=access"],
          ["tag=30", "trunks=" + ",".join(map(str, range(30, 41))), "vlan_mode=native-untagged"],
          ["trunks=100,200", "vlan_mode=trunk"]]
argv = ["ovs-vsctl", "--timeout=5", "--format=json", "--", "--columns=name,tag,trunks,vlan_mode",
        "list", "Port", *devs]
for dev, wish in zip(devs, wishes, strict=True):
    argv += ["--", "set", "Port", dev, *wish]
read, write = os.pipe()
pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, write, 1)],
                      setsid=True)
os.close(write)
out = b""
while chunk := os.read(read, 65536):
    out += chunk
_, status = os.waitpid(pid, 0)
json.loads(out)
os._exit(os.waitstatus_to_exitcode(status))
