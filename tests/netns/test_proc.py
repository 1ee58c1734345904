"""hooks.adapters.proc.run: the one subprocess runner (no shell, hard timeout, group kill)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from hooks.adapters.proc import run
from hooks.errors import HostError, HostTimeout

PY = sys.executable


def test_output_and_input_pass_through() -> None:
    result = run([PY, "-c", "import sys; sys.stdout.write(sys.stdin.read().upper())"], 10, input=b"abc")
    assert result.returncode == 0 and result.stdout == b"ABC"


def test_stdin_is_not_inherited() -> None:
    # Without input the child reads /dev/null: an immediate EOF, never the hook's own stdin.
    result = run([PY, "-c", "import sys; print(repr(sys.stdin.read()))"], 10)
    assert result.stdout.strip() == b"''"


def test_non_zero_exit_gives_the_first_stderr_line() -> None:
    code = "import sys; sys.stderr.write('\\nfirst problem\\nsecond\\n'); sys.exit(3)"
    with pytest.raises(HostError) as info:
        run([PY, "-c", code], 10)
    assert str(info.value).endswith(": first problem")
    assert str(info.value).startswith("run python")
    assert info.value.fields["returncode"] == 3
    assert "second" in info.value.fields["stderr"]


def test_non_zero_exit_without_stderr() -> None:
    with pytest.raises(HostError, match="exit status 4"):
        run([PY, "-c", "raise SystemExit(4)"], 10)


def test_missing_program() -> None:
    with pytest.raises(HostError, match="run vnx-no-such-program: No such file or directory"):
        run(["vnx-no-such-program"], 10)


def test_no_shell_is_involved(tmp_path: Path) -> None:
    marker = tmp_path / "x"
    result = run([PY, "-c", "import sys; print(sys.argv[1])", f"$(touch {marker}); echo hi"], 10)
    assert result.stdout.decode().strip() == f"$(touch {marker}); echo hi"
    assert not marker.exists()


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    # The child starts a grandchild that would keep the pipes open; both must die on time.
    pidfile = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(60)\n"
    )
    start = time.monotonic()
    with pytest.raises(HostTimeout, match=r"run python\S*: timed out after 1s"):
        run([PY, "-c", code], 1)
    assert time.monotonic() - start < 3
    grandchild = int(pidfile.read_text())
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and _running(grandchild):
        time.sleep(0.02)
    assert not _running(grandchild)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_the_child_gets_its_own_session() -> None:
    result = run([PY, "-c", "import os; print(os.getsid(0) == os.getpid())"], 10)
    assert result.stdout.strip() == b"True"
    assert os.getsid(0) != int(run([PY, "-c", "import os; print(os.getsid(0))"], 10).stdout)
