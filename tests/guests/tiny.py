"""Tiny Linux guests that libvirt boots under TCG in seconds, to prove network claims by traffic.

A guest is Debian's kernel (the kernel lab's, unpacked by tests/kernel_lab/fetch-kernel.sh) with
an initramfs built here: busybox, ``virtio_net`` and ``8021q`` with their dependencies, and an
``/init`` that reads everything it needs from the kernel command line:

    vnx.name=NAME                       what the guest answers with
    vnx.nic=MAC,ADDR/PREFIX             an address on the NIC with this MAC (untagged)
    vnx.vlan=MAC,VID,ADDR/PREFIX        a VLAN sub-interface NIC.VID with this address
    vnx.probe=ADDR[:PORT][,...]         addresses the guest itself asks (port 80 unless given), once up
    vnx.gw=ADDR                         the default route (a NAT network's guest answering clients)
    vnx.probe-wait=SECONDS              how long it keeps asking a peer that does not answer (60)
    vnx.later=MAC,ADDR/PREFIX           a NIC hot-plugged after boot: configured when it appears

It brings the NICs up, serves its name over HTTP on port 80 (busybox ``httpd``), prints
``vnx-ready NAME`` on the serial console, then asks each probe address (``nc``, all at once,
each until it answers or ``vnx.probe-wait`` passes) and prints ``vnx-probe ADDR ANSWER``
(``ANSWER`` the peer's name, or ``none``). A ``vnx.later`` NIC is looked for once a second
(by MAC, in /sys/class/net) until it appears, then brought up with its address, and the
guest prints ``vnx-nic-up MAC DEV``; probes that start before it answer once it is up, within
``vnx.probe-wait``. Such a guest loads ``virtio_net`` with ``csum=0`` (see
``checksums_in_guest``: a NIC attached to a running guest has no ``<host csum='off'>``). The
console is a
file libvirt writes (``<serial type='file'>``), which the tests read. Nothing else runs: no
disk, no user space beyond busybox.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.kernel_lab.lab import Kernel, find_kernel, module_files

# Loaded in this order by /init: the PCI transport, the NIC driver, 802.1Q.
GUEST_MODULES = ("virtio_pci", "virtio_net", "8021q")
MEMORY_MIB = 192          # the kernel and the initramfs unpacked; less fails early in boot
HTTP_PORT = 80

INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "$*" > /dev/ttyS0; }
# A hot-plugged NIC cannot be given <driver><host csum='off'/></driver> (checksums_in_guest):
# a guest expecting one computes its checksums itself, on every NIC.
grep -q 'vnx.later=' /proc/cmdline && modprobe virtio_net csum=0
modprobe -a @MODULES@ || say "vnx-error cannot load @MODULES@"
name=guest
nics=
vlans=
probes=
later=
gw=
for word in $(cat /proc/cmdline); do
  case "$word" in
    vnx.name=*) name=${word#vnx.name=} ;;
    vnx.nic=*) nics="$nics ${word#vnx.nic=}" ;;
    vnx.vlan=*) vlans="$vlans ${word#vnx.vlan=}" ;;
    vnx.probe=*) probes="$probes $(echo ${word#vnx.probe=} | tr , ' ')" ;;
    vnx.later=*) later="$later ${word#vnx.later=}" ;;
    vnx.gw=*) gw=${word#vnx.gw=} ;;
  esac
done
# The NIC whose MAC is $1 (the order of NICs inside the guest is not the domain's order).
nic_of() {
  for dev in /sys/class/net/*; do
    [ "$(cat $dev/address)" = "$1" ] && { basename $dev; return 0; }
  done
  return 1
}
ip link set lo up
for spec in $nics; do
  mac=${spec%%,*}; addr=${spec#*,}
  dev=$(nic_of $mac) || { say "vnx-error no NIC with MAC $mac"; continue; }
  ip link set $dev up
  ip addr add $addr dev $dev
done
for spec in $vlans; do
  mac=${spec%%,*}; rest=${spec#*,}; vid=${rest%%,*}; addr=${rest#*,}
  dev=$(nic_of $mac) || { say "vnx-error no NIC with MAC $mac"; continue; }
  ip link set $dev up
  ip link add link $dev name $dev.$vid type vlan id $vid
  ip link set $dev.$vid up
  ip addr add $addr dev $dev.$vid
done
[ -n "$gw" ] && ip route add default via $gw
mkdir -p /www
echo "$name" > /www/index.html
httpd -p @PORT@ -h /www
# NICs hot-plugged after boot: looked for once a second until each appears. Started as a
# grandchild, so the "wait" for the probes below does not wait for a NIC that never comes.
if [ -n "$later" ]; then
  ( (
    pending=$later
    while [ -n "$pending" ]; do
      left=
      for spec in $pending; do
        mac=${spec%%,*}; addr=${spec#*,}
        if dev=$(nic_of $mac); then
          ip link set $dev up
          ip addr add $addr dev $dev
          # the default route needs a NIC in the gateway's subnet: this may be the first
          [ -n "$gw" ] && ip route replace default via $gw 2>/dev/null
          say "vnx-nic-up $mac $dev"
        else
          left="$left $spec"
        fi
      done
      pending=$left
      [ -n "$pending" ] && sleep 1
    done
  ) & )
fi
say "vnx-ready $name"
# Each peer is asked in parallel until it answers or the deadline passes: a peer that is still
# booting answers later, one that cannot be reached is "none" after the deadline.
probe_wait=$(sed -n 's/.*vnx.probe-wait=\([0-9]*\).*/\1/p' /proc/cmdline)
[ -n "$probe_wait" ] || probe_wait=60
for peer in $probes; do
  (
    answer=none
    end=$(( $(cut -d. -f1 /proc/uptime) + probe_wait ))
    while [ $(cut -d. -f1 /proc/uptime) -lt $end ]; do
      # (busybox's static wget crashes resolving even a numeric address without NSS; nc does not)
      addr=${peer%:*}; port=${peer##*:}; [ "$addr" = "$peer" ] && port=@PORT@
      got=$(printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 $addr $port 2>/dev/null | tail -n 1 | tr -d '\r')
      [ -n "$got" ] && { answer=$got; break; }
      sleep 1
    done
    say "vnx-probe $peer $answer"
  ) &
done
wait
say "vnx-probes-done $name"
while true; do sleep 3600; done
"""


def build_initrd(kernel: Kernel, dest: Path) -> Path:
    """Write the guests' initramfs (an uncompressed newc cpio) to ``dest``."""
    with tempfile.TemporaryDirectory(prefix="vnx-guest-initrd-") as tmp:
        stage = Path(tmp)
        for folder in ("bin", "dev", "proc", "sys", "www"):
            (stage / folder).mkdir()
        shutil.copy2(kernel.busybox, stage / "bin" / "busybox")
        mods = stage / "lib" / "modules" / kernel.version
        for path in module_files(kernel, GUEST_MODULES):
            target = mods / path.relative_to(kernel.modules)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        for name in ("modules.builtin", "modules.builtin.modinfo", "modules.order"):
            shutil.copy2(kernel.modules / name, mods / name)
        subprocess.run(["depmod", "-b", str(stage), kernel.version], check=True)
        init = stage / "init"
        init.write_text(INIT.replace("@MODULES@", " ".join(GUEST_MODULES)).replace("@PORT@", str(HTTP_PORT)))
        init.chmod(0o755)
        names = sorted(str(p.relative_to(stage)) for p in stage.rglob("*"))
        with dest.open("wb") as out:
            subprocess.run(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"], cwd=stage,
                           input="\n".join(["."] + names).encode() + b"\n", stdout=out, check=True)
    return dest


@dataclass(frozen=True)
class BootFiles:
    """The kernel and initramfs a guest boots, copied where the libvirtd under test can read them."""

    vmlinuz: Path
    initrd: Path


def boot_files(folder: Path, kernel: Kernel | None = None) -> BootFiles:
    """Copy the kernel and build the initramfs under ``folder`` (once per folder)."""
    kernel = kernel or find_kernel()
    if kernel is None:
        raise FileNotFoundError("no unpacked kernel under .cache/kernel (run setup.sh)")
    folder.mkdir(parents=True, exist_ok=True)
    vmlinuz = folder / "vmlinuz"
    initrd = folder / "guest-initrd.cpio"
    if not vmlinuz.exists():
        shutil.copy2(kernel.vmlinuz, vmlinuz)
    if not initrd.exists():
        build_initrd(kernel, initrd)
    return BootFiles(vmlinuz, initrd)


@dataclass
class GuestSpec:
    """What one guest is told on its kernel command line."""

    name: str
    nics: list[tuple[str, str]] = field(default_factory=list)          # (MAC, ADDR/PREFIX)
    vlans: list[tuple[str, int, str]] = field(default_factory=list)    # (MAC, VID, ADDR/PREFIX)
    probes: list[str] = field(default_factory=list)                    # addresses it asks
    later: list[tuple[str, str]] = field(default_factory=list)         # (MAC, ADDR/PREFIX) hot-plugged
    probe_wait: int = 60                                               # seconds per silent peer
    gateway: str | None = None                                         # default route

    def cmdline(self) -> str:
        words = ["console=ttyS0", "panic=-1", "edd=off", "loglevel=3", "quiet", f"vnx.name={self.name}"]
        words += [f"vnx.nic={mac},{addr}" for mac, addr in self.nics]
        words += [f"vnx.vlan={mac},{vid},{addr}" for mac, vid, addr in self.vlans]
        words += [f"vnx.later={mac},{addr}" for mac, addr in self.later]
        words += [f"vnx.gw={self.gateway}"] if self.gateway else []
        if self.probes:
            words += ["vnx.probe=" + ",".join(self.probes), f"vnx.probe-wait={self.probe_wait}"]
        return " ".join(words)


def domain_xml(spec: GuestSpec, boot: BootFiles, console: Path) -> str:
    """A TCG domain with no disk and no NIC that boots the tiny guest; its console goes to a file.

    ``virt-netxml interface --domain`` adds the NICs, as a user would.
    """
    return f"""<domain type='qemu'>
  <name>{spec.name}</name>
  <memory unit='MiB'>{MEMORY_MIB}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{boot.vmlinuz}</kernel>
    <initrd>{boot.initrd}</initrd>
    <cmdline>{spec.cmdline()}</cmdline>
  </os>
  <features>
    <acpi/>
  </features>
  <devices>
    <controller type='usb' model='none'/>
    <serial type='file'>
      <source path='{console}'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
"""


def checksums_in_guest(domain: Path) -> None:
    """Make each virtio NIC of a domain file compute its checksums itself (``<host csum='off'>``).

    The Open vSwitch of the tests runs its userspace datapath (this machine's kernel has no
    openvswitch module), which reads the TAPs through packet sockets and forwards a guest's
    packets with the checksum the guest left to offloading, unfilled: the receiving guest drops
    them. On a kernel datapath or a Linux bridge the offload is completed on the way; here the
    guest must not offload.
    """
    from lxml import etree

    tree = etree.parse(str(domain))
    for iface in tree.iterfind("devices/interface"):
        model = iface.find("model")
        if model is None or model.get("type") != "virtio" or iface.find("driver") is not None:
            continue
        driver = etree.Element("driver")
        etree.SubElement(driver, "host", csum="off")
        model.addnext(driver)
    tree.write(str(domain))


_PROBE = re.compile(r"^vnx-probe (\S+) (\S+)\s*$", re.M)


def console_text(console: Path) -> str:
    try:
        return console.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def wait_console(console: Path, marker: str, timeout: float = 90.0) -> str:
    """Wait until the console shows ``marker``; return the console so far."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = console_text(console)
        if marker in text:
            return text
        if "Kernel panic" in text or "vnx-error" in text:
            break
        time.sleep(0.2)
    raise AssertionError(f"no {marker!r} on the guest console within {timeout:.0f} s:\n"
                         + "\n".join(console_text(console).splitlines()[-25:]))


def probe_results(console_text_: str) -> dict[str, str]:
    """``vnx-probe`` lines of a console: peer address -> the name it answered, or 'none'."""
    return {peer: answer for peer, answer in _PROBE.findall(console_text_)}


def http_name(run_in_ns: Sequence[str], address: str, timeout: float = 2.0,
              port: int = HTTP_PORT) -> str | None:
    """Ask a guest for its name from a namespace (``run_in_ns``: the argv prefix, e.g. ip netns
    exec NS), on ``port`` (a forwarded one, say); None when nothing answers."""
    script = ("import socket,sys\n"
              "try:\n"
              f" s=socket.create_connection(({address!r},{port}),timeout={timeout})\n"
              " s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); data=b''\n"
              " while True:\n"
              "  b=s.recv(4096)\n"
              "  if not b: break\n"
              "  data+=b\n"
              " print(data.split(b'\\r\\n\\r\\n',1)[1].decode().strip())\n"
              "except OSError:\n"
              " sys.exit(1)\n")
    done = subprocess.run([*run_in_ns, "python3", "-c", script], capture_output=True, text=True,
                          timeout=timeout + 10)
    return done.stdout.strip() if done.returncode == 0 else None


def qemu_argv(spec: GuestSpec, boot: BootFiles, console: Path,
              nics: Sequence[tuple[str, str]]) -> list[str]:
    """A plain QEMU command line (no libvirt) that boots the tiny guest under TCG.

    ``nics`` are (MAC, QEMU ``-netdev`` option string without its id), one virtio NIC each, e.g.
    ``("52:54:00:..", "socket,udp=127.0.0.1:A,localaddr=127.0.0.1:B")``: a UDP "wire" on the
    loopback. The console goes to the file ``console``; there is no monitor, display or disk.
    """
    argv = ["qemu-system-x86_64", "-accel", "tcg", "-machine", "pc", "-m", str(MEMORY_MIB),
            "-smp", "1", "-nodefaults", "-nographic", "-no-reboot", "-vga", "none",
            "-monitor", "none", "-serial", f"file:{console}",
            # no_timer_check: on a loaded machine the kernel's check of the emulated timer's IRQ
            # can fail under TCG ("IO-APIC + timer doesn't work!") and panic the boot.
            "-kernel", str(boot.vmlinuz), "-initrd", str(boot.initrd),
            "-append", f"{spec.cmdline()} no_timer_check"]
    for n, (mac, netdev) in enumerate(nics):
        # romfile= skips iPXE's option ROM: nothing boots from the network, and it costs seconds.
        argv += ["-netdev", f"{netdev},id=n{n}", "-device", f"virtio-net-pci,netdev=n{n},mac={mac},romfile="]
    return argv
