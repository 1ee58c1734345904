"""Start a daemon inside a private mount namespace and reap everything it leaves behind.

Run as ``unshare --mount --propagation private python reaper.py [--overlay UPPER:WORK:DIR[:LOWER]]...
[--bind SRC:DST]... [--rbind SRC:DST]... --pid-file F -- COMMAND...`` (under ``ip netns exec NS``).
In the order given, it lays a copy-on-write overlay over DIR (of DIR itself, or of LOWER mounted
at DIR; writes land in UPPER) or bind-mounts SRC over DST (``--rbind``: with the mounts below
SRC), so the daemon sees temporary folders where it expects /etc, /etc/libvirt, /run,
/var/lib/libvirt..., or a whole Debian root to chroot into, then starts COMMAND as its child and
writes the child's PID to F.

Why a separate process: QEMU and dnsmasq daemonize, so their parent becomes the nearest
"child subreaper" or PID 1. On this kind of machine PID 1 reaps orphans only about once a
second, and libvirt waits for a killed QEMU until ``kill(pid, 0)`` fails, i.e. until the zombie
is reaped: every ``virsh destroy`` took ~1.6 s. As a subreaper this process reaps them at once,
and every process the daemon spawned stays in this process's subtree, where the harness can
find it.

It exits when the daemon and every orphan it adopted have exited. SIGTERM is forwarded to the
daemon only. Standard library only: it starts before anything else and must stay small.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys

PR_SET_CHILD_SUBREAPER = 36


def parse(argv: list[str]) -> tuple[list[list[str]], str, list[str]]:
    if "--" not in argv:
        raise SystemExit("usage: reaper.py [--overlay UPPER:WORK:DIR[:LOWER]]... [--[r]bind SRC:DST]... "
                         "--pid-file FILE -- COMMAND...")
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1:]
    mounts: list[list[str]] = []
    pid_file = ""
    it = iter(options)
    for opt in it:
        value = next(it)
        if opt in ("--bind", "--rbind"):
            src, _, dst = value.partition(":")
            mounts.append(["mount", opt, src, dst])
        elif opt == "--overlay":
            upper, work, target, *lower = value.split(":")
            mounts.append(["mount", "-t", "overlay", "overlay", "-o",
                           f"lowerdir={lower[0] if lower else target},upperdir={upper},workdir={work}",
                           target])
        elif opt == "--pid-file":
            pid_file = value
        else:
            raise SystemExit(f"reaper.py: unknown option {opt}")
    if not pid_file or not command:
        raise SystemExit("reaper.py: --pid-file and a command are required")
    return mounts, pid_file, command


def main(argv: list[str]) -> int:
    mounts, pid_file, command = parse(argv)
    for mount in mounts:
        subprocess.run(mount, check=True)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")

    daemon = os.posix_spawnp(command[0], command, os.environ)
    tmp = pid_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{daemon}\n")
    os.rename(tmp, pid_file)

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(daemon, signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)

    status = 0
    while True:
        try:
            pid, wait_status = os.wait()
        except ChildProcessError:
            return status  # nothing left: the daemon and all its orphans are gone
        except InterruptedError:
            continue
        if pid == daemon:
            status = os.waitstatus_to_exitcode(wait_status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
