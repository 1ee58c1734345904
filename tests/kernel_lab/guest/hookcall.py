"""Calling the hooks inside the lab the way libvirt does: argv, XML on stdin, exit status, stderr.

``call`` runs the real entry point (``hooks.entry.main``) in this process, with the real
adapters unless a test hands in a port; ``call_program`` starts it as its own program with
libvirt's sparse environment. Both read the state and configuration folders from the
``VIRT_NETXML_*`` variables the ``hook_env`` fixture sets.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hooks import entry

NS = "urn:virt-netxml:hooks:1"
REPO = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class HookResult:
    code: int
    stdout: str
    stderr: str


def call(driver: str, name: str, operation: str, xml: str, sub: str = "begin",
         ports: dict[str, Any] | None = None) -> HookResult:
    out, err = io.StringIO(), io.StringIO()
    code = entry.main(["--driver", driver, name, operation, sub, "-"], stdin=io.BytesIO(xml.encode()),
                      stdout=out, stderr=err, ports=ports)
    return HookResult(code, out.getvalue(), err.getvalue())


def hook_environment() -> dict[str, str]:
    """What libvirt gives a hook (LC_ALL, PATH, HOME...), plus the test's state and config folders."""
    env = {"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
           "USER": "root", "LOGNAME": "root"}
    env.update({k: v for k, v in os.environ.items() if k.startswith("VIRT_NETXML_")})
    return env


def call_program(hook: Path, name: str, operation: str, xml: str, sub: str = "begin") -> HookResult:
    """An installed hook program (``.../qemu.d/50-virt-netxml``) run as libvirt runs it."""
    proc = subprocess.run([str(hook), name, operation, sub, "-"], input=xml, capture_output=True,
                          text=True, env=hook_environment(), cwd="/", timeout=120)
    return HookResult(proc.returncode, proc.stdout, proc.stderr)


def virt_netxml(*args: str) -> HookResult:
    """The operator CLI, as a program."""
    proc = subprocess.run([str(Path(sys.executable).parent / "virt-netxml"), *args], capture_output=True,
                          text=True, env=hook_environment(), cwd=REPO, timeout=120)
    return HookResult(proc.returncode, proc.stdout, proc.stderr)


def pci_source(address: str) -> str:
    """``<address type='pci' .../>`` for a ``DDDD:BB:SS.F`` address."""
    domain, bus, slot_fn = address.split(":")
    slot, function = slot_fn.split(".")
    return (f"<address type='pci' domain='0x{domain}' bus='0x{bus}' slot='0x{slot}' "
            f"function='0x{function}'/>")


def domain_xml(name: str, interfaces: str, meta: str = "") -> str:
    metadata = f"<metadata><vnx:netxml xmlns:vnx='{NS}'>{meta}</vnx:netxml></metadata>" if meta else ""
    return (f"<domain type='kvm'><name>{name}</name><uuid>{uuid.uuid5(uuid.NAMESPACE_DNS, name)}</uuid>"
            f"{metadata}<memory unit='KiB'>65536</memory><devices>{interfaces}</devices></domain>")


def network_hookdata(name: str, body: str, meta: str = "") -> str:
    metadata = f"<metadata><vnx:netxml xmlns:vnx='{NS}'>{meta}</vnx:netxml></metadata>" if meta else ""
    return f"<hookData><network><name>{name}</name>{metadata}{body}</network></hookData>"
