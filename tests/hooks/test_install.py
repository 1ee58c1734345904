"""Installer and the ``virt-netxml hooks`` commands, in a temporary root."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from hooks.install import find_libvirtd, hook_path, install, installed, reload_libvirtd, uninstall
from hooks.state import StateStore
from tests.support import spawn_named, stop
from xmltools.cli.main import cli
from xmltools.errors import InputError, UsageError

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "hooks"


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("VIRT_NETXML_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("VIRT_NETXML_CONFIG_DIR", str(tmp_path / "conf"))


def test_install_writes_root_owned_executables_and_is_idempotent(tmp_path):
    root = tmp_path / "root"
    changes = install(str(root))
    assert [c.action for c in changes] == ["written", "written"]
    for driver in ("qemu", "network"):
        st = os.stat(hook_path(str(root), driver))
        assert stat.S_IMODE(st.st_mode) == 0o755 and (st.st_uid, st.st_gid) == (0, 0)
        assert Path(hook_path(str(root), driver)).read_text().startswith("#!/bin/sh\n")
    assert [c.action for c in install(str(root))] == ["unchanged", "unchanged"]
    assert installed(str(root)) == {"qemu": "current", "network": "current"}
    os.chmod(hook_path(str(root), "qemu"), 0o700)
    assert [c.action for c in install(str(root))] == ["written", "unchanged"]


def test_other_hooks_are_never_touched(tmp_path):
    root = tmp_path / "root"
    qemu_d = root / "etc/libvirt/hooks/qemu.d"
    qemu_d.mkdir(parents=True)
    other = qemu_d / "10-someone-else"
    other.write_text("#!/bin/sh\nexit 0\n")
    other.chmod(0o750)
    main_script = root / "etc/libvirt/hooks/qemu"
    main_script.write_text("#!/bin/sh\n")
    install(str(root))
    uninstall(str(root))
    assert other.read_text() == "#!/bin/sh\nexit 0\n" and stat.S_IMODE(other.stat().st_mode) == 0o750
    assert main_script.read_text() == "#!/bin/sh\n"
    assert sorted(os.listdir(qemu_d)) == ["10-someone-else"]


def test_a_foreign_file_with_our_name_is_refused_both_ways(tmp_path):
    root = tmp_path / "root"
    path = Path(hook_path(str(root), "network"))
    path.parent.mkdir(parents=True)
    path.write_text("#!/bin/sh\n# mine\n")
    with pytest.raises(InputError, match="not written by virt-netxml"):
        install(str(root))
    with pytest.raises(InputError, match="not written by virt-netxml"):
        uninstall(str(root))
    assert path.read_text() == "#!/bin/sh\n# mine\n"
    assert installed(str(root))["network"] == "foreign"


def test_uninstall_is_idempotent(tmp_path):
    root = tmp_path / "root"
    install(str(root))
    assert [c.action for c in uninstall(str(root))] == ["removed", "removed"]
    assert [c.action for c in uninstall(str(root))] == ["absent", "absent"]
    assert installed(str(root)) == {"qemu": "missing", "network": "missing"}


def test_unsafe_paths_are_not_written_into_the_script(tmp_path, monkeypatch):
    monkeypatch.setenv("VIRT_NETXML_STATE_DIR", "/run/x\"; rm -rf /")
    with pytest.raises(UsageError, match="cannot carry"):
        install(str(tmp_path / "root"))
    assert not (tmp_path / "root/etc").exists()


def test_reload_signals_only_a_process_called_libvirtd(tmp_path):
    proc = spawn_named(tmp_path, "libvirtd", copy=True)
    try:
        (tmp_path / "root/run").mkdir(parents=True)
        (tmp_path / "root/run/libvirtd.pid").write_text(f"{proc.pid}\n")
        assert find_libvirtd(str(tmp_path / "root")) == proc.pid
        assert reload_libvirtd(str(tmp_path / "root")) == proc.pid
        assert proc.wait(10) == -signal.SIGHUP
    finally:
        stop(proc)


def test_stale_pid_file_is_not_trusted(tmp_path):
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        root = tmp_path / "root"
        (root / "run").mkdir(parents=True)
        (root / "run/libvirtd.pid").write_text(f"{sleeper.pid}\n")
        fake_proc = tmp_path / "proc"
        (fake_proc / str(sleeper.pid)).mkdir(parents=True)
        os.symlink("/usr/bin/sleep", fake_proc / str(sleeper.pid) / "exe")
        assert find_libvirtd(str(root), str(fake_proc)) is None
        (fake_proc / "4242").mkdir()
        os.symlink("/usr/sbin/libvirtd", fake_proc / "4242" / "exe")
        assert find_libvirtd(str(root), str(fake_proc)) == 4242
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


# --------------------------------------------------------------------------- CLI


def invoke(*args, input=None):
    return CliRunner().invoke(cli, ["hooks", *args], input=input, catch_exceptions=False)


def test_cli_install_status_uninstall(tmp_path):
    root = str(tmp_path / "root")
    res = invoke("install", "--root", root)
    assert res.exit_code == 0 and f"written: {hook_path(root, 'qemu')}" in res.output
    assert "--reload" in res.output
    store = StateStore(str(tmp_path / "state"))
    with store.edit("domains", "vm1") as rec:
        rec["drivers"] = {"0000:04:10.1": {"driver": "igbvf", "override": None}}
        rec["taps"] = {"tap0": {}, "tap1": {"adopted": True}}
    store.claim("pci-0000:04:10.1", "VF", "vm1", "u1")
    res = invoke("status", "--root", root)
    assert res.exit_code == 0
    lines = res.output.splitlines()
    assert f"hook qemu: current ({hook_path(root, 'qemu')})" in lines
    assert "  domain vm1: 0000:04:10.1 bound to vfio-pci (was igbvf)" in lines
    assert "  domain vm1: TAP tap0 created by the hook" in lines
    assert "  domain vm1: TAP tap1 taken (free, existing) by the hook" in lines
    assert "  claim: VF 0000:04:10.1 held by domain vm1" in lines
    res = invoke("uninstall", "--root", root)
    assert res.exit_code == 0 and "removed:" in res.output
    assert not os.path.exists(hook_path(root, "qemu"))


def test_cli_plan_matches_the_reviewed_plan_text(tmp_path):
    # What prepare recorded: start sets VLANs only on a TAP the hook created or took.
    with StateStore(str(tmp_path / "state")).edit("domains", "capvm") as rec:
        rec["taps"] = {"tapcap0": {"bridge": "brcap", "ovs": False, "plugged": True}}
    res = invoke("plan", "start", "--ovs-bridge", "ovsbr0",
                 input=(FIX / "variants/qemu-capvm-start-meta.xml").read_bytes())
    assert res.exit_code == 0
    assert res.output == (FIX / "plans/qemu-capvm-start-meta.txt").read_text()
    res = invoke("plan", "start", "--network",
                 input=(FIX / "variants/network-capmvtap-start-meta.xml").read_bytes())
    assert res.output == (FIX / "plans/network-capmvtap-start-meta.txt").read_text()


def test_cli_plan_errors_are_one_line():
    res = CliRunner().invoke(cli, ["hooks", "plan", "frobnicate"], input=b"<domain/>")
    assert res.exit_code == 2 and "unknown qemu operation 'frobnicate'" in res.output
    res = CliRunner().invoke(cli, ["hooks", "plan", "start"], input=b"<domain")
    assert res.exit_code == 2 and "malformed XML" in res.output


def test_cli_repair_undoes_records_of_stopped_domains(tmp_path, monkeypatch):
    store = StateStore(str(tmp_path / "state"))
    with store.edit("domains", "gone") as rec:
        rec["port_wishes"] = {"52:54:00:00:00:01": {"tag": 5}}
    store.claim("uplink-up9", "passthrough uplink", "gone", None)
    store.claim("uplink-up8", "passthrough uplink", "ghost", None)   # holder without a record
    res = invoke("repair", "--dry-run")
    assert res.exit_code == 0 and "domain gone:" in res.output and "domain ghost:" in res.output
    assert store.holder("uplink-up9") == "gone"
    res = invoke("repair")
    assert res.exit_code == 0, res.output
    assert store.snapshot() == {"domains": {}, "networks": {}, "claims": {}}
    assert invoke("repair").output == "nothing to repair\n"


def test_cli_repair_leaves_running_domains_alone(tmp_path, monkeypatch):
    import hooks.install as inst

    store = StateStore(str(tmp_path / "state"))
    with store.edit("domains", "alive") as rec:
        rec["port_wishes"] = {"52:54:00:00:00:01": {"tag": 5}}
    monkeypatch.setattr(inst, "running_domains", lambda run_dir="": {"alive"})
    assert invoke("repair").output == "nothing to repair\n"
    assert store.read("domains", "alive")
    res = invoke("repair", "--object", "alive")
    assert res.exit_code == 0 and store.read("domains", "alive") == {}


def test_running_domains_reads_libvirt_pid_files(tmp_path):
    from hooks.install import running_domains

    (tmp_path / "vm1.pid").write_text(f"{os.getpid()}\n")
    dead = subprocess.Popen(["true"])
    dead.wait()
    time.sleep(0.05)
    (tmp_path / "vm2.pid").write_text(f"{dead.pid}\n")
    (tmp_path / "vm3.xml").write_text("<domstatus/>")
    assert running_domains(str(tmp_path)) == {"vm1"}


def test_in_flight_needs_a_live_daemon_and_a_recent_note():
    from hooks.repair import STARTING_GRACE, in_flight

    note = {"starting": {"pid": 77, "since": 1000.0}}
    assert in_flight(note, 1003.0, lambda pid: pid == 77) == (
        "being started by the libvirt daemon (pid 77, prepared 3 s ago)")
    assert in_flight(note, 1003.0, lambda pid: False) is None              # the daemon is gone
    assert in_flight(note, 1000.0 + STARTING_GRACE + 1, lambda pid: True) is None  # a start that never ended
    assert in_flight({}, 1003.0, lambda pid: True) is None
    assert in_flight({"starting": {"pid": "77", "since": 1000.0}}, 1003.0, lambda pid: True) is None


def test_libvirt_daemon_alive_goes_by_the_process_name(tmp_path):
    from hooks.install import libvirt_daemon_alive

    proc = spawn_named(tmp_path, "libvirtd")
    try:
        assert libvirt_daemon_alive(proc.pid)
        assert not libvirt_daemon_alive(os.getpid())
    finally:
        stop(proc)
    assert not libvirt_daemon_alive(proc.pid)


def test_cli_repair_leaves_a_domain_being_started_alone(tmp_path):
    # libvirtd between prepare and QEMU's start: no pid file yet, but the prepare's note names a
    # live daemon. Repair must not take the fresh TAPs/bindings for leftovers.
    proc = spawn_named(tmp_path, "libvirtd")
    store = StateStore(str(tmp_path / "state"))
    try:
        with store.edit("domains", "booting") as rec:
            rec["port_wishes"] = {"52:54:00:00:00:01": {"tag": 5}}
            rec["starting"] = {"pid": proc.pid, "since": time.time()}
        store.claim("uplink-up7", "passthrough uplink", "booting", None)
        res = invoke("repair")
        assert res.exit_code == 0
        assert res.output.startswith(f"domain booting: left alone: being started by the libvirt daemon "
                                     f"(pid {proc.pid}")
        assert res.output.endswith("nothing to repair\n")
        assert store.read("domains", "booting")["port_wishes"] and store.holder("uplink-up7") == "booting"
        assert "until its QEMU runs hooks repair leaves it alone" in invoke("status", "--root",
                                                                            str(tmp_path / "r")).output
    finally:
        stop(proc)
    # The daemon is gone (it crashed mid-start): now the record is a leftover.
    res = invoke("repair")
    assert res.exit_code == 0 and "left alone" not in res.output
    assert store.snapshot() == {"domains": {}, "networks": {}, "claims": {}}


def test_cli_repair_object_overrides_the_start_note(tmp_path, monkeypatch):
    import hooks.install as inst

    store = StateStore(str(tmp_path / "state"))
    with store.edit("domains", "booting") as rec:
        rec["port_wishes"] = {"52:54:00:00:00:01": {"tag": 5}}
        rec["starting"] = {"pid": os.getpid(), "since": time.time()}
    monkeypatch.setattr(inst, "libvirt_daemon_alive", lambda pid, proc="/proc": True)
    assert "left alone" in invoke("repair").output
    res = invoke("repair", "--object", "booting")
    assert res.exit_code == 0 and store.read("domains", "booting") == {}


# --------------------------------------------------------------------------- what root may run


def test_untrusted_rule(tmp_path):
    from hooks.trust import untrusted

    folder = tmp_path / "d"
    folder.mkdir()
    for mode, alone, as_parent in [(0o755, None, None), (0o700, None, None),
                                   (0o775, "writable by group or others", "writable by group or others"),
                                   (0o757, "writable by group or others", "writable by group or others"),
                                   (0o1777, "writable by group or others", None),
                                   (0o1775, "writable by group or others", None)]:
        os.chmod(folder, mode)
        assert (untrusted(str(folder)), untrusted(str(folder), True)) == (alone, as_parent), oct(mode)
    os.chmod(folder, 0o755)
    os.chown(folder, 65534, 0)
    assert untrusted(str(folder)) == "owned by uid 65534, not root"
    file = tmp_path / "f"
    file.write_text("")
    os.chmod(file, 0o1666)     # the sticky exception is for folders only
    assert untrusted(str(file), True) == "writable by group or others"
    os.symlink(file, tmp_path / "link")
    assert untrusted(str(tmp_path / "link")) == "a symbolic link"
    assert untrusted(str(tmp_path / "missing")).startswith("cannot be checked (")


def test_chain_and_runtime_checks_keep_the_strictest_rule_per_folder():
    from hooks.trust import chain
    from hooks.wrapper import runtime_checks

    assert chain("/a/b/c") == [("/a/b/c", False), ("/a/b", True), ("/a", True), ("/", True)]
    assert chain("/a/b/c", strict=2) == [("/a/b/c", False), ("/a/b", False), ("/a", False), ("/", True)]
    assert runtime_checks(["/a/b", "/a/b/c/d"]) == [("/a/b", False), ("/a", True), ("/", True),
                                                    ("/a/b/c/d", False), ("/a/b/c", True)]


def test_the_bootstrap_carries_the_rule_itself_and_appends_the_paths(tmp_path):
    import inspect

    from hooks.trust import untrusted
    from hooks.wrapper import bootstrap

    text = bootstrap(["/opt/vnx/lib", "/opt/vnx/site"])
    assert inspect.getsource(untrusted).strip() in text
    assert "sys.path += ['/opt/vnx/lib', '/opt/vnx/site']" in text and "sys.path[:0]" not in text
    # Nothing is imported from the module paths before they are checked.
    assert text.index("untrusted(path, parent)") < text.index("sys.path +=") < text.index("from hooks")


def test_install_takes_interpreter_and_module_paths_and_writes_them_resolved(tmp_path):
    from hooks.wrapper import module_paths

    repo = module_paths()[0]
    os.symlink(repo, tmp_path / "checkout")
    root = tmp_path / "root"
    changes = install(str(root), python=sys.executable,
                      paths=[str(tmp_path / "checkout"), *module_paths()[1:]])
    assert [c.action for c in changes] == ["written", "written"]
    text = Path(hook_path(str(root), "network")).read_text()
    assert f"exec {os.path.realpath(sys.executable)} -I -S -c " in text
    assert repr(repo) in text and str(tmp_path / "checkout") not in text
    assert '--driver network -- "$@"' in text
    # The same inputs resolved the same way: the defaults give the same script.
    assert [c.action for c in install(str(root))] == ["unchanged", "unchanged"]
    assert installed(str(root)) == {"qemu": "current", "network": "current"}


def test_a_missing_module_path_is_refused(tmp_path):
    from hooks.errors import UntrustedCode

    with pytest.raises(UntrustedCode, match="cannot be checked"):
        install(str(tmp_path / "root"), paths=[str(tmp_path / "nowhere")])
    assert not (tmp_path / "root").exists()


def test_install_creates_missing_folders_0755_under_any_umask(tmp_path):
    for umask in (0o000, 0o077):
        root = tmp_path / f"root{umask:o}"
        old = os.umask(umask)
        try:
            install(str(root))
        finally:
            os.umask(old)
        for folder in (root, root / "etc", root / "etc/libvirt", root / "etc/libvirt/hooks",
                       root / "etc/libvirt/hooks/qemu.d"):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o755, (umask, folder)
