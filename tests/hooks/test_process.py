"""The hook as libvirt runs it: separate processes, real pipes, the installed shell wrapper."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hooks import fastpath
from hooks.install import install
from hooks.protocol import OPERATIONS

REPO = Path(__file__).resolve().parents[2]
FIX = REPO / "fixtures" / "hooks"
PY = sys.executable


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    # What libvirt passes (LC_ALL, PATH, HOME, USER, LOGNAME) plus the test's own folders.
    env = {"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/root",
           "USER": "root", "LOGNAME": "root",
           "VIRT_NETXML_STATE_DIR": str(tmp_path / "state"),
           "VIRT_NETXML_CONFIG_DIR": str(tmp_path / "conf")}
    env.update(extra)
    return env


def run_entry(tmp_path, args, data=b"", timeout=30, **env):
    return subprocess.run([PY, "-m", "hooks.entry", *args], input=data, capture_output=True,
                          timeout=timeout, cwd=REPO, env=_env(tmp_path, **env))


# --------------------------------------------------------------------------- import hygiene


def test_nothing_on_the_hook_path_imports_libvirt_or_xmlschema():
    code = ("import sys, hooks.entry, hooks.run, hooks.planner, hooks.executor, hooks.actions, "
            "hooks.transform, hooks.install, hooks.repair, hooks.cli, hooks.wrapper, hooks.fastpath, "
            "hooks.adapters.netlink, hooks.adapters.ovs, hooks.adapters.sysfs, hooks.adapters.proc\n"
            "print([m for m in sys.modules if m.split('.')[0] in ('libvirt', 'libvirtmod', 'xmlschema')])")
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def _modules_after(code: str, names=("lxml", "pyroute2", "libvirt", "xmlschema")) -> dict[str, bool]:
    """Run ``code`` the way the installed wrapper starts Python (-I -S, explicit path)."""
    from hooks.wrapper import module_paths

    script = (f"import sys\nsys.path[:0] = {module_paths()!r}\nfrom hooks.entry import main\n" + code +
              f"\nimport json\nprint(json.dumps({{m: m in sys.modules for m in {names!r}}}))")
    out = subprocess.run([PY, "-I", "-S", "-c", script], capture_output=True, text=True, cwd=REPO,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_calls_without_work_never_import_lxml(tmp_path):
    code = (f"import os; os.environ['VIRT_NETXML_STATE_DIR'] = {str(tmp_path)!r}\n"
            "for op in ('started', 'stopped', 'release', 'prepare', 'start'):\n"
            "    xml = io.BytesIO(b'<domain><name>capvm</name></domain>')\n"
            "    assert main(['capvm', op, 'begin', '-'], stdin=xml, program='/x/qemu.d/h') == 0")
    # Not even typing or dataclasses: a call without work costs little more than the interpreter.
    names = ("lxml", "pyroute2", "libvirt", "xmlschema", "typing", "dataclasses", "xmltools")
    assert _modules_after("import io\n" + code, names) == dict.fromkeys(names, False)


def test_ovs_only_work_never_imports_pyroute2(tmp_path):
    data = (FIX / "variants/qemu-capvm-start-meta.xml").read_text()
    # Keep only the OVS interface's wishes: no Linux bridge port, no TAP.
    data = data.replace('<vnx:vlan trunks="30-32" native="20"/>', "").replace('<vnx:vlan tag="40"/>', "")
    data = data.replace('<vnx:tap bridge="brcap" owner="root" group="root" multi-queue="no"/>', "")
    code = (f"import os; os.environ['VIRT_NETXML_STATE_DIR'] = {str(tmp_path)!r}\n"
            f"sys.path.insert(0, {str(REPO)!r})\nimport io\n"
            "from tests.fakes import FakeOvs\novs = FakeOvs()\n"
            "ovs.add_bridge('ovsbr0'); ovs.add_port('ovsbr0', 'vnet103')\n"
            f"rc = main(['capvm', 'start', 'begin', '-'], stdin=io.BytesIO({data.encode()!r}),"
            " program='/x/qemu.d/h', ports={'ovs': ovs})\n"
            "assert rc == 0, rc\nassert ovs.ports['vnet103'].tag == 10")
    assert _modules_after(code) == {"lxml": True, "pyroute2": False, "libvirt": False, "xmlschema": False}


# --------------------------------------------------------------------------- entry as a process


def test_process_exit_codes_and_stdout(tmp_path):
    start = (FIX / "captures/13-qemu-capvm-start-begin.xml").read_bytes()
    for op in ("started", "stopped", "release", "frobnicate"):
        res = run_entry(tmp_path, ["--driver", "qemu", "capvm", op, "end", "-"], start)
        assert (res.returncode, res.stdout, res.stderr) == (0, b"", b"")
    res = run_entry(tmp_path, ["--driver", "qemu", "capvm", "start", "begin", "-"], start)
    assert (res.returncode, res.stdout, res.stderr) == (0, b"", b"")   # only libvirt's own OVS VLAN
    broken = b"<domain><interface><vlan id='"
    res = run_entry(tmp_path, ["--driver", "qemu", "capvm", "start", "begin", "-"], broken)
    assert res.returncode == 2 and res.stdout == b"" and len(res.stderr.splitlines()) == 1


def test_process_migrate_filter(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf/migrate-map.conf").write_text("network capnat = lan\n")
    data = (FIX / "captures/09-qemu-capvm-prepare-begin.xml").read_bytes()
    res = run_entry(tmp_path, ["--driver", "qemu", "capvm", "migrate", "begin", "-"], data)
    assert res.returncode == 0 and res.stderr == b""
    assert b"<source network=\"lan\"/>" in res.stdout and res.stdout.startswith(b"<domain")


FAKE_OVS_VSCTL = """#!/bin/sh
# Stands in for an ovs-vsctl whose database never answers; it also leaves a grandchild behind.
sleep 60 &
echo "$$ $!" > "{pids}"
sleep 60
"""


def test_deadline_kills_a_hanging_child_and_its_group_and_rolls_back(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    pids = tmp_path / "pids"
    script = bindir / "ovs-vsctl"
    script.write_text(FAKE_OVS_VSCTL.format(pids=pids))
    script.chmod(0o755)
    data = (FIX / "variants/qemu-capvm-start-meta.xml").read_text()
    data = data.replace('<vnx:vlan trunks="30-32" native="20"/>', "").replace('<vnx:vlan tag="40"/>', "")
    data = data.replace('<vnx:tap bridge="brcap" owner="root" group="root" multi-queue="no"/>', "")
    started = time.monotonic()
    res = run_entry(tmp_path, ["--driver", "qemu", "capvm", "start", "begin", "-"], data.encode(),
                    PATH=f"{bindir}:/usr/bin:/bin", VIRT_NETXML_DEADLINE="1")
    elapsed = time.monotonic() - started
    # subprocess.run returned: every holder of the hook's stdout/stderr is gone (EOF seen).
    assert elapsed < 10
    assert res.returncode == 1 and res.stdout == b""
    message = res.stderr.decode()
    assert message.count("\n") == 1 and message.startswith(
        "virt-netxml: domain capvm: start: interface 52:54:00:61:b5:e0 (vnet103): ")
    assert message.endswith("the hook's deadline of 1s passed; rolled back 0 of 0 changes\n")
    for pid in map(int, pids.read_text().split()):
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"process {pid} survived"


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except OSError:
        return True


# --------------------------------------------------------------------------- the shell wrapper

STUB = """#!/bin/sh
# Records how the wrapper would have started Python: its argv and its stdin.
printf '%s\\n' "$@" > "{out}.args"
cat > "{out}.stdin"
"""


@pytest.fixture
def wrapper(tmp_path, monkeypatch):
    """Install into a temporary root with a stub interpreter; returns a runner."""
    monkeypatch.setenv("VIRT_NETXML_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("VIRT_NETXML_CONFIG_DIR", str(tmp_path / "conf"))
    out = tmp_path / "called"
    stub = tmp_path / "python-stub"
    stub.write_text(STUB.format(out=out))
    stub.chmod(0o755)
    install(str(tmp_path / "root"), python=str(stub))

    def run(driver: str, argv: list[str], data: bytes) -> tuple[bool, bytes, list[str]]:
        for suffix in (".args", ".stdin"):
            Path(f"{out}{suffix}").unlink(missing_ok=True)
        hook = tmp_path / "root" / f"etc/libvirt/hooks/{driver}.d/50-virt-netxml"
        res = subprocess.run([str(hook), *argv], input=data, capture_output=True, timeout=30,
                             env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})
        assert res.returncode == 0 and res.stdout == b"" and res.stderr == b"", res
        called = Path(f"{out}.args").exists()
        stdin = Path(f"{out}.stdin").read_bytes() if called else b""
        args = Path(f"{out}.args").read_text().splitlines() if called else []
        return called, stdin, args

    return run


def _inputs():
    cases = []
    paths = [p for folder in ("captures", "captures-libvirt-11.3.0", "variants")
             for p in sorted((FIX / folder).glob("*.xml"))]
    for path in paths:
        driver = "qemu" if "qemu-" in path.name else "network"
        cases.append((driver, path))
    return cases


def test_wrapper_starts_python_exactly_when_the_python_fast_path_would(wrapper, tmp_path):
    """Never skip a call Python would act on, and never start Python needlessly either."""
    state = tmp_path / "state"
    checked = 0
    for with_state in (False, True):
        for with_map in (False, True):
            for driver, path in _inputs():
                data = path.read_bytes()
                name = "capvm" if driver == "qemu" else path.name.split("-")[2]
                if with_state:
                    (state / "domains").mkdir(parents=True, exist_ok=True)
                    (state / "networks").mkdir(parents=True, exist_ok=True)
                    (state / "domains" / f"{name}.json").write_text("{}")
                    (state / "networks" / f"{name}.json").write_text("{}")
                if with_map:
                    (tmp_path / "conf").mkdir(exist_ok=True)
                    (tmp_path / "conf/migrate-map.conf").write_text("network a = b\n")
                for (drv, op) in OPERATIONS:
                    if drv != driver:
                        continue
                    called, stdin, args = wrapper(driver, [name, op, "begin", "-"], data)
                    reads = fastpath.reads_stdin(driver, op)
                    expected = fastpath.needs_work(driver, op, name, data if reads else None,
                                                   str(state), str(tmp_path / "conf/migrate-map.conf"))
                    where = (driver, op, path.name, with_state, with_map)
                    if op in ("start", "reconnect", "attach") and called and not expected:
                        # The one place the shell is coarser: a <vlan> that turns out to sit on
                        # an OVS port (libvirt's job) is told apart by Python, before lxml.
                        assert fastpath.has_element(data, b"vlan"), where
                    else:
                        assert called == expected, where
                    if called:
                        assert args[-6:] == [driver, "--", name, op, "begin", "-"]
                        if reads:
                            assert stdin.rstrip(b"\n") == data.rstrip(b"\n")
                    checked += 1
                for kind in ("domains", "networks"):
                    (state / kind / f"{name}.json").unlink(missing_ok=True)
                (tmp_path / "conf/migrate-map.conf").unlink(missing_ok=True)
    assert checked > 100


def test_wrapper_hands_odd_names_to_python(wrapper):
    called, _, args = wrapper("qemu", ["odd name", "release", "end", "-"], b"")
    assert called and args[-4] == "odd name"


def test_installed_hook_runs_the_real_entry_point(tmp_path, monkeypatch):
    """Through the installed wrapper with this interpreter: the migrate filter end to end."""
    monkeypatch.setenv("VIRT_NETXML_CONFIG_DIR", str(tmp_path / "conf"))
    monkeypatch.setenv("VIRT_NETXML_STATE_DIR", str(tmp_path / "state"))
    install(str(tmp_path / "root"))
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf/migrate-map.conf").write_text("bridge brcap = br-vlan10\n")
    hook = tmp_path / "root/etc/libvirt/hooks/qemu.d/50-virt-netxml"
    data = (FIX / "captures/09-qemu-capvm-prepare-begin.xml").read_bytes()
    # libvirt's environment only: the baked-in folders must be enough.
    res = subprocess.run([str(hook), "capvm", "migrate", "begin", "-"], input=data, capture_output=True,
                         timeout=60, env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"}, cwd="/")
    assert res.returncode == 0 and res.stderr == b""
    assert b"<source bridge=\"br-vlan10\"/>" in res.stdout
    res = subprocess.run([str(hook), "capvm", "start", "begin", "-"], input=b"<domain><interface><vlan id='",
                         capture_output=True, timeout=60, env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"})
    assert res.returncode == 2 and b"malformed XML" in res.stderr


def test_wrapper_time_is_linear_in_the_size_of_the_xml(wrapper):
    """No shell construct with quadratic cost (dash's ${x#*pat} is one): a 90 KB domain
    without wishes is settled in the shell well within a second."""
    xml = (FIX / "captures/09-qemu-capvm-prepare-begin.xml").read_text()
    disks = "".join(f"\n    <disk type='file' device='disk'><source file='/var/lib/d{n}.img'/>"
                    f"<target dev='vd{n}' bus='virtio'/></disk>" for n in range(700))
    big = xml.replace("<devices>", "<devices>" + disks).encode()
    assert len(big) > 80_000
    for op in ("prepare", "start"):
        started = time.monotonic()
        called, _, _ = wrapper("qemu", ["capvm", op, "begin", "-"], big)
        assert not called and time.monotonic() - started < 1.5
