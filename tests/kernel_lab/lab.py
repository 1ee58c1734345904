"""Boot Debian's kernel under QEMU (TCG) with this machine's root shared read-only, and run a command inside.

The guest sees the host's ``/`` through 9p as the lower layer of an overlay whose upper layer is a
tmpfs, so tests may write anywhere while the host's files stay untouched. A second 9p export, a
fresh host folder, is mounted at ``/run/kernel-lab`` and is the only way results leave the guest:
the command's exit status, its JUnit report and logs. The guest's NICs are on QEMU's user network
with ``restrict=on``, so nothing can leave this machine.

Run by hand (builds the initramfs, boots, runs the guest tests, prints the console)::

    .venv/bin/python -m tests.kernel_lab.lab            # the guest test folder
    .venv/bin/python -m tests.kernel_lab.lab -- -k vlan # extra pytest arguments
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KERNEL_CACHE = REPO / ".cache" / "kernel"
# The last run's console log and reports are kept here for diagnosis.
LAST_RUN = REPO / ".cache" / "kernel-lab"
GUEST_TESTS = Path(__file__).resolve().parent / "guest"
# Where the writable export appears inside the guest (and inside its chroot).
GUEST_OUT = "/run/kernel-lab"
QEMU = "qemu-system-x86_64"
# Kernel command-line flag by which guest-only code knows it runs inside the lab.
GUEST_FLAG = "virt_netxml_lab=1"

# Modules the initramfs needs before it can reach the host's root: the PCI transport, 9p over
# virtio and overlayfs. Everything else is loaded inside the chroot from the unpacked package.
INITRD_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")

# The emulated hardware the guest tests rely on. Fixed PCI addresses so the tests can name them.
# 00:03.0 (e1000e) sits alone in its IOMMU group; 00:04.0 and 00:04.1 (e1000) are two functions of
# one multifunction slot without ACS, which the kernel puts into one shared group.
PCI_SOLO = "0000:00:03.0"
PCI_SHARED = ("0000:00:04.0", "0000:00:04.1")


@dataclass(frozen=True)
class Kernel:
    """An unpacked kernel package (and busybox-static) from fetch-kernel.sh."""

    root: Path
    version: str

    @property
    def vmlinuz(self) -> Path:
        return self.root / "boot" / f"vmlinuz-{self.version}"

    @property
    def modules(self) -> Path:
        return self.root / "lib" / "modules" / self.version

    @property
    def busybox(self) -> Path:
        return self.root / "bin" / "busybox"


def find_kernel(cache: Path = KERNEL_CACHE) -> Kernel | None:
    """The kernel unpacked under ``cache`` by fetch-kernel.sh, or None when it is not there."""
    try:
        version = (cache / "version").read_text().strip()
    except FileNotFoundError:
        return None
    kernel = Kernel(cache / "root", version)
    if not (kernel.vmlinuz.is_file() and kernel.busybox.is_file() and kernel.modules.is_dir()):
        return None
    return kernel


def module_files(kernel: Kernel, names: Sequence[str]) -> list[Path]:
    """The module files for ``names`` and everything they depend on, in load order, each once."""
    files: list[Path] = []
    for name in names:
        out = subprocess.run(
            ["modprobe", "-d", str(kernel.root), "-S", kernel.version, "--show-depends", name],
            check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            words = line.split()
            # "insmod /path/to/module.ko [params]"; "builtin NAME" needs nothing.
            if len(words) >= 2 and words[0] == "insmod":
                path = Path(words[1])
                if path not in files:
                    files.append(path)
    return files


INIT = r"""#!/bin/busybox sh
# /init of the kernel lab: reach the host's root, run the command it left for us, power off.
/bin/busybox --install -s /bin
export PATH=/bin
say() { echo "kernel-lab: [$(cut -d' ' -f1 /proc/uptime 2>/dev/null)s] $*" > /dev/console; }
die() { say "$*"; poweroff -f; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
modprobe -a @MODULES@ || die "cannot load the initramfs modules"
mkdir -p /host /rw /mnt
# cache=loose: the host side is read-only for the whole run, so the guest may cache freely.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose host /host \
  || die "cannot mount the host root over 9p"
mount -t tmpfs -o mode=0755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /mnt \
  || die "cannot mount the overlay"
for fs in proc sys dev; do mount --bind /$fs /mnt/$fs; done
mkdir -p /mnt/dev/pts /mnt/dev/shm
mount -t devpts devpts /mnt/dev/pts
mount -t tmpfs tmpfs /mnt/dev/shm
# A clean /run hides the host's runtime files (pid files of its daemons) from the tests.
for dir in @TMPFS@; do mount -t tmpfs tmpfs /mnt$dir; done
# The tests' temporary folder (TMPDIR) is a tmpfs of its own wherever the repository lives: when
# it lives under /tmp, /tmp is the overlay root itself, and an overlay (the end-to-end sandbox's
# /etc) cannot take its upper folder on an overlay.
mkdir -p /mnt@LABTMP@
mount -t tmpfs -o mode=1777 tmpfs /mnt@LABTMP@
mkdir -p /mnt@OUT@
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out /mnt@OUT@ \
  || die "cannot mount the results folder"
say "running the command"
chroot /mnt /bin/sh @OUT@/run.sh < /dev/null > /dev/console 2>&1
echo $? > /mnt@OUT@/status
sync
say "done, status $(cat /mnt@OUT@/status)"
poweroff -f
"""


# The guest's TMPDIR: a tmpfs mounted by /init (see there why not /tmp).
GUEST_TMP = "/var/tmp/kernel-lab"


def _fresh_tmpfs() -> list[str]:
    """Folders that start empty in the guest; not /tmp when the repository itself lives there."""
    return [d for d in ("/tmp", "/run") if not REPO.is_relative_to(d)]


def build_initramfs(kernel: Kernel, dest: Path) -> Path:
    """Write an uncompressed newc cpio with busybox, the initramfs modules and /init to ``dest``."""
    with tempfile.TemporaryDirectory(prefix="kernel-lab-initrd-") as tmp:
        stage = Path(tmp)
        for folder in ("bin", "dev", "proc", "sys", "mnt"):
            (stage / folder).mkdir()
        shutil.copy2(kernel.busybox, stage / "bin" / "busybox")
        mods = stage / "lib" / "modules" / kernel.version
        for path in module_files(kernel, INITRD_MODULES):
            target = mods / path.relative_to(kernel.modules)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        for name in ("modules.builtin", "modules.builtin.modinfo", "modules.order"):
            shutil.copy2(kernel.modules / name, mods / name)
        # A modules.dep for just these files, so busybox modprobe resolves their dependencies.
        subprocess.run(["depmod", "-b", str(stage), kernel.version], check=True)
        init = stage / "init"
        init.write_text(INIT.replace("@MODULES@", " ".join(INITRD_MODULES)).replace("@OUT@", GUEST_OUT)
                        .replace("@TMPFS@", " ".join(_fresh_tmpfs())).replace("@LABTMP@", GUEST_TMP))
        init.chmod(0o755)
        names = sorted(str(p.relative_to(stage)) for p in stage.rglob("*"))
        with dest.open("wb") as out:
            subprocess.run(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"], cwd=stage,
                           input="\n".join(["."] + names).encode() + b"\n", stdout=out, check=True)
    return dest


def qemu_argv(kernel: Kernel, initrd: Path, out: Path, extra: Sequence[str] = ()) -> list[str]:
    """The QEMU command line: q35 with an emulated IOMMU, three NIC functions, two 9p exports,
    and ``extra`` arguments last (tests/kernel_lab/wires.py: NICs wired to guests on the host)."""
    # no_timer_check: under TCG on a loaded machine the kernel's boot-time check of the timer IRQ
    # can fail ("timer doesn't work through Interrupt-remapped IO-APIC") and panic the boot.
    append = f"console=ttyS0 panic=-1 edd=off intel_iommu=on loglevel=4 no_timer_check {GUEST_FLAG}"
    argv = [
        QEMU, "-accel", "tcg", "-machine", "q35,kernel-irqchip=split",
        # The IOMMU must come before the devices it translates for.
        "-device", "intel-iommu,intremap=on",
        "-m", "1024", "-smp", "1", "-nographic", "-no-reboot", "-vga", "none",
        "-kernel", str(kernel.vmlinuz), "-initrd", str(initrd), "-append", append,
        "-virtfs", "local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap",
        "-virtfs", f"local,path={out},mount_tag=out,security_model=none",
    ]
    # (model, address, multifunction): the e1000e has an ACS quirk, so even as a multifunction
    # device each of its functions gets its own group; the plain e1000 has none, so its two
    # functions share one.
    nics = [("e1000e", PCI_SOLO, False), ("e1000", PCI_SHARED[0], True), ("e1000", PCI_SHARED[1], False)]
    for n, (model, address, multifunction) in enumerate(nics, start=1):
        slot_function = address.split(":", 2)[2]
        # romfile= skips iPXE's option ROM: nothing boots from the network, and it costs seconds.
        device = f"{model},netdev=n{n},addr={slot_function},romfile="
        if multifunction:
            device += ",multifunction=on"
        # restrict=on: the user network reaches nothing outside the guest.
        argv += ["-device", device, "-netdev", f"user,id=n{n},restrict=on"]
    return argv + list(extra)


RUN_SH = """#!/bin/sh
# Written by tests/kernel_lab/lab.py: runs inside the guest's chroot.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LC_ALL=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 TMPDIR={labtmp}
export KERNEL_LAB_ROOT={kernel_root} KERNEL_LAB_OUT={out}
export KERNEL_LAB_PCI_SOLO={solo} KERNEL_LAB_PCI_SHARED={shared}
cd {repo} || exit 125
exec {argv}
"""


def _sh_quote(word: str) -> str:
    return "'" + word.replace("'", "'\"'\"'") + "'"


_ESCAPES = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|[A-Za-z])")


@dataclass
class LabRun:
    """What one boot produced. ``status`` is None when the guest never reported one."""

    status: int | None
    out: Path            # the results folder (junit.xml, logs) as the host sees it
    console: str
    seconds: float
    timed_out: bool

    def console_tail(self, lines: int = 40) -> str:
        """The last lines of the console, without the firmware's terminal escape sequences."""
        return "\n".join(_ESCAPES.sub("", self.console).splitlines()[-lines:])


def run(argv: Sequence[str], kernel: Kernel, workdir: Path, timeout: float = 1200.0,
        extra_qemu_args: Sequence[str] = ()) -> LabRun:
    """Boot the lab, run ``argv`` in the repository folder inside the guest, and power off.

    QEMU is killed (by its PID) when ``timeout`` seconds pass. ``workdir`` receives the initramfs,
    ``console.log`` and the ``out`` folder shared with the guest.
    """
    out = workdir / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "run.sh").write_text(RUN_SH.format(
        kernel_root=_sh_quote(str(kernel.root)), out=GUEST_OUT, labtmp=GUEST_TMP, solo=PCI_SOLO,
        shared=",".join(PCI_SHARED), repo=_sh_quote(str(REPO)),
        argv=" ".join(_sh_quote(a) for a in argv)))
    initrd = build_initramfs(kernel, workdir / "initrd.cpio")
    console_path = workdir / "console.log"
    started = time.monotonic()
    timed_out = False
    with console_path.open("wb") as console:
        proc = subprocess.Popen(qemu_argv(kernel, initrd, out, extra_qemu_args), stdin=subprocess.DEVNULL,
                                stdout=console, stderr=subprocess.STDOUT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            # Also on Ctrl-C or any error here: no QEMU outlives the run.
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    seconds = time.monotonic() - started
    status_file = out / "status"
    text = status_file.read_text().strip() if status_file.is_file() else ""
    status = int(text) if text.isdigit() else None
    return LabRun(status, out, console_path.read_text(errors="replace"), seconds, timed_out)


def guest_pytest_argv(junit: str, extra: Sequence[str] = (), tests: Sequence[str] = ()) -> list[str]:
    """The pytest command the guest runs: ``tests`` (node ids), or the whole guest test folder."""
    # hypothesis' plugin imports the whole library at start-up: 15 s under TCG, for tests that
    # do not use it. The host's root is read-only to the guest: no cache folder. A module that
    # fails to import must not keep the other modules' tests from running (one boot is costly).
    return [str(REPO / ".venv" / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider",
            "-p", "no:hypothesispytest", "--color=no", "-v", "--continue-on-collection-errors",
            f"--junitxml={junit}", "--timeout=120", "-o", "junit_family=xunit2",
            *(tests or [str(GUEST_TESTS.relative_to(REPO))]), *extra]


def keep_last_run(lab: LabRun, workdir: Path) -> None:
    """Copy the console log and the reports of a run to .cache/kernel-lab/ for later reading."""
    LAST_RUN.mkdir(parents=True, exist_ok=True)
    shutil.copy2(workdir / "console.log", LAST_RUN / "console.log")
    for path in lab.out.iterdir():
        if path.is_file() and path.name != "run.sh":
            shutil.copy2(path, LAST_RUN / path.name)


def main(args: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the guest tests inside the kernel lab.")
    parser.add_argument("--timeout", type=float, default=float(os.environ.get("KERNEL_LAB_TIMEOUT", 1200)))
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    opts = parser.parse_args(args)
    kernel = find_kernel()
    if kernel is None:
        print(f"kernel lab: no kernel under {KERNEL_CACHE}: run tests/kernel_lab/fetch-kernel.sh "
              f"{KERNEL_CACHE.relative_to(REPO)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="kernel-lab-") as tmp:
        workdir = Path(tmp)
        lab = run(guest_pytest_argv(f"{GUEST_OUT}/junit.xml", opts.pytest_args), kernel, workdir,
                  opts.timeout)
        keep_last_run(lab, workdir)
        sys.stdout.write(lab.console)
        print(f"kernel lab: status {lab.status}, {lab.seconds:.1f}s"
              + (" (timed out)" if lab.timed_out else ""), file=sys.stderr)
        return 1 if lab.status is None else lab.status


if __name__ == "__main__":
    sys.exit(main())
