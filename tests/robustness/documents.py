"""Small valid documents the hostile payloads are built on (each entry point accepts them)."""

from __future__ import annotations

DOMAIN = b"""<domain type='kvm'>
  <name>hostile</name>
  <uuid>0f3a5a8e-2d51-4b8e-9a57-3c2f1b7d9e10</uuid>
  <memory unit='KiB'>65536</memory>
  <os>
    <type arch='x86_64'>hvm</type>
  </os>
  <devices>
    <interface type='bridge'>
      <mac address='52:54:00:12:34:56'/>
      <source bridge='br0'/>
      <model type='e1000e'/>
    </interface>
  </devices>
</domain>
"""

NETWORK = b"""<network>
  <name>hostile</name>
  <uuid>5d0c7e4b-8a31-4f52-b0a9-6c1e2d3f4a5b</uuid>
  <forward mode='nat'/>
  <bridge name='virbr9' stp='on' delay='0'/>
  <ip address='192.168.150.1' prefix='24'>
    <dhcp>
      <range start='192.168.150.2' end='192.168.150.254'/>
    </dhcp>
  </ip>
</network>
"""

INTERFACE = b"""<interface type='network'>
  <mac address='52:54:00:ab:cd:ef'/>
  <source network='default'/>
  <model type='virtio'/>
</interface>
"""
