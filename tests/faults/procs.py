"""Start the hook (through ``tests/faults/hookproc.py``) as separate processes, as libvirt does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def hook_env(base: Path, deadline: float = 60.0, **extra: str) -> dict[str, str]:
    """libvirt's small environment plus this test host's folders.

    The default deadline is long so that a kill, not the deadline, ends a parked call.
    """
    env = {"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/root",
           "VIRT_NETXML_STATE_DIR": str(base / "state"), "VIRT_NETXML_CONFIG_DIR": str(base / "conf"),
           "VIRT_NETXML_DEADLINE": f"{deadline:g}"}
    env.update(extra)
    return env


def spawn(base: Path, mode: str, argv: list[str], *, pause: int = 0, ns: str | None = None,
          env: dict[str, str] | None = None) -> subprocess.Popen:
    """``hookproc`` in ``mode`` (entry or repair) on the sysfs tree ``base/root``; pipes for all
    three streams, as libvirt gives a hook."""
    inside = ["ip", "netns", "exec", ns] if ns else []
    cmd = [*inside, sys.executable, "-m", "tests.faults.hookproc", "--sysfs", str(base / "root"),
           "--count-file", str(base / "count"), "--pause-at", str(pause),
           "--pause-file", str(base / "paused"), *(["--netlink"] if ns else []), mode, *argv]
    return subprocess.Popen(cmd, cwd=REPO, env=env or hook_env(base), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def run(base: Path, mode: str, argv: list[str], stdin: str | None = None, *, ns: str | None = None,
        env: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, str]:
    """Run to the end; (exit status, stderr). stdout must stay empty for these operations."""
    proc = spawn(base, mode, argv, ns=ns, env=env)
    out, err = proc.communicate((stdin or "").encode(), timeout=timeout)
    assert out == b"", out
    return proc.returncode, err.decode()
