"""hooks.adapters.proc.run: the one subprocess runner (no shell, hard timeout, group kill)."""

from __future__ import annotations

import os
import signal
import subprocess
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


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_large_input_and_output_on_both_streams_do_not_deadlock() -> None:
    # More than a pipe holds in every direction at once: the runner must write and read together.
    data = bytes(range(256)) * 8192   # 2 MiB
    code = ("import sys\nd = sys.stdin.buffer.read()\n"
            "sys.stderr.buffer.write(d[::-1]); sys.stdout.buffer.write(d)")
    result = run([PY, "-c", code], 20, input=data)
    assert result.stdout == data and result.stderr == data[::-1]


def test_a_command_that_ignores_its_input_is_judged_by_its_exit_status() -> None:
    result = run([PY, "-c", "import os; os.close(0); print('done')"], 10, input=b"x" * (1 << 20))
    assert result.stdout.strip() == b"done"


def test_no_descriptor_is_left_open_whatever_the_outcome(tmp_path: Path) -> None:
    before = _open_fds()
    run([PY, "-c", "print(1)"], 10, input=b"in")
    with pytest.raises(HostError):
        run([PY, "-c", "raise SystemExit(2)"], 10)
    with pytest.raises(HostError):
        run([str(tmp_path / "missing")], 10)
    with pytest.raises(HostTimeout):
        run([PY, "-c", "import time; time.sleep(30)"], 0.3)
    assert _open_fds() == before


def test_works_when_the_hook_itself_has_no_standard_streams(tmp_path: Path) -> None:
    # libvirt always passes them, but a runner started without them must not hand a closed
    # stream (or its own pipe end) to the command.
    out = tmp_path / "out"
    code = ("import os, sys\n"
            f"sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})\n"
            "from hooks.adapters.proc import run\n"
            "os.close(0); os.close(1); os.close(2)\n"
            "r = run([sys.executable, '-c', 'import sys; print(repr(sys.stdin.read()))'], 10)\n"
            "r2 = run([sys.executable, '-c', 'import sys; print(sys.stdin.read()[::-1])'], 10,\n"
            "         input=b'abc')\n"
            f"open({str(out)!r}, 'wb').write(r.stdout + r2.stdout)\n")
    subprocess.run([PY, "-c", code], check=True, timeout=30)
    assert out.read_bytes() == b"''\ncba\n"


def test_the_command_gets_default_signal_actions_back() -> None:
    # Python ignores SIGPIPE (and SIGXFSZ); an ignored signal stays ignored across exec.
    status = run(["cat", "/proc/self/status"], 10).stdout.decode()
    ignored = int(next(line for line in status.splitlines() if line.startswith("SigIgn:")).split()[1], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1)) and not ignored & (1 << (signal.SIGXFSZ - 1))


def test_descriptors_the_hook_holds_do_not_reach_the_command(tmp_path: Path) -> None:
    opened = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
    kept = os.dup2(opened, 50, inheritable=True)
    os.close(opened)
    try:
        seen = run(["ls", "/proc/self/fd"], 10).stdout.split()
    finally:
        os.close(kept)
    # ls sees its 0-2 and the descriptor it reads the folder with: nothing of ours.
    assert b"50" not in seen and len(seen) == 4
