"""Turn the hook calls an end-to-end run recorded into fixtures/captures/.

    VNXE2E_RECORD_DIR=/tmp/rec .venv/bin/pytest -m e2e tests/e2e
    .venv/bin/python -m tests.e2e.captures /tmp/rec/libvirt-9.0.0 fixtures/captures
    .venv/bin/python -m tests.e2e.captures /tmp/rec/libvirt-11.3.0 fixtures/captures-libvirt-11.3.0

Picks the calls of a few scenarios (the lifecycle of one guest through a libvirtd restart, a
restore through the mapping file, a TAP made and removed by the hook, an OVS VLAN start, a
live network update, a daemon reload, networks stopping), numbers them in call order as
``NN-<hook>-<object>-<operation>-<sub-operation>.xml`` (stdin) and writes README.md with the
argv of each. The recordings are real libvirt output (9.0 from the machine, 11.3 from the
Debian 13 root; the release is the recording folder's name): UUIDs, MACs and vnet numbers
differ from run to run.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Guests and networks whose every call is kept (their scenario is described in the README).
KEEP_ALL = {"life-vm", "lifenat", "lifeovs", "saved-vm", "tap-vm"}
# Single calls kept wherever they appear first: (hook, object, operation).
KEEP_FIRST = [("qemu", "vlans-vm", "start"), ("network", "packtnat", "updated"),
              ("daemon", "-", "reload"), ("network", "mv-bridge", "start"),
              ("network", "mv-missing", "start"), ("network", "packtovs", "stopped"),
              ("network", "mv-shim", "start"), ("network", "mv-shim", "stopped"),
              ("network", "packtiso", "port-created"),
              # a live migration: the destination's migrate call, then the source's release
              ("qemu", "mig-vm", "migrate"), ("qemu", "mig-vm", "release")]

README_HEAD = """# Hook calls recorded by the end-to-end tests

Recorded by `tests/e2e` from a real libvirtd {version} ({origin})
with QEMU (TCG) and Open vSwitch (userspace datapath) in a private network namespace, with the
project's hooks installed. A recording hook (`00-record`, run before the project's
`50-virt-netxml`) saved argv and stdin of every call; `python -m tests.e2e.captures` picked these.
File names: `NN-<hook>-<object>-<operation>-<sub>.xml` in call order (parts that are `-` left
out); the file holds the call's stdin (empty for the daemon's calls).

Scenarios:
- `life-vm` on `lifenat` (NAT), `lifeovs` (OVS, portgroup `vlan5`) and an `ethernet`
  `managed='no'` TAP the hook creates on bridge `brlife0`: prepare, port-created, start,
  started; then libvirtd is restarted while it runs (daemon shutdown/start, port-created again,
  reconnect); then destroyed (stopped, port-deleted, release).
- `saved-vm` on Linux bridge `brsrc0`: `virsh save`, `brsrc0` removed, the mapping file
  `bridge brsrc0 = brdst0` installed, `virsh restore`: the restore call carries the saved XML,
  the following prepare/start the rewritten one.
- `tap-vm`: a TAP made and bridged at prepare, deleted at release (this file shows the last of
  several runs of it).
- `mig-vm`, live-migrated onto a second host of the same release whose mapping file says
  `bridge brmig0 = brmig1`: the destination's `migrate` call carries the source's XML, which
  the hook rewrote; then the source's `release`.
- Single calls: an OVS guest's start with VLAN metadata (`vlans-vm`), a live `net-update`
  (`packtnat updated`), a daemon reload (SIGHUP), a macvtap pool start (`mv-bridge`), a
  pool whose uplink is missing (`mv-missing`, the hook refused it), a macvtap pool with a host
  shim in its metadata (`mv-shim` start, and stopped, where the hook removes the shim), a
  port on the chapter's isolated network (`packtiso port-created`), a network stop.

| file | argv |
|---|---|
"""


def load(record_dir: Path) -> list[tuple[str, list[str], str]]:
    calls = []
    for argv_file in sorted(record_dir.glob("*.argv")):
        hook, *argv = argv_file.read_text().splitlines()
        stdin = argv_file.with_suffix("").with_suffix(".xml")
        calls.append((hook.removesuffix(".d"), argv, stdin.read_text() if stdin.exists() else ""))
    return calls


def select(calls: list[tuple[str, list[str], str]]) -> list[tuple[str, list[str], str]]:
    life = [i for i, (_, argv, _) in enumerate(calls) if argv[0] == "life-vm"]
    first_life, last_life = (life[0], life[-1]) if life else (0, -1)
    wanted_first = list(KEEP_FIRST)
    kept = []
    for i, (hook, argv, stdin) in enumerate(calls):
        key = (hook, argv[0], argv[1])
        if argv[0] in KEEP_ALL or (hook == "daemon" and first_life < i < last_life):
            kept.append((hook, argv, stdin))
        elif key in wanted_first:
            wanted_first.remove(key)
            kept.append((hook, argv, stdin))
    # tap-vm ran several times: keep only its last prepare..release
    taps = [i for i, (_, argv, _) in enumerate(kept) if argv[0] == "tap-vm"]
    last_prepare = max((i for i in taps if kept[i][1][1] == "prepare"), default=None)
    return [c for i, c in enumerate(kept)
            if i not in taps or (last_prepare is not None and i >= last_prepare)]


ORIGIN = {"9.0.0": "Debian 12's", "11.3.0": "Debian 13's, from the root setup.sh builds"}


def main(record_dir: str, out_dir: str) -> int:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.xml"):
        old.unlink()
    rows = []
    for n, (hook, argv, stdin) in enumerate(select(load(Path(record_dir))), 1):
        # the daemon's object and sub-operation are "-": left out of the name
        name = "-".join([f"{n:02d}", hook, *(a for a in argv[:3] if a != "-")]) + ".xml"
        (out / name).write_text(stdin)
        rows.append(f"| `{name}` | `{' '.join(argv)}` |")
    version = Path(record_dir).resolve().name.removeprefix("libvirt-")
    if version not in ORIGIN:
        version = "9.0.0"   # a folder of an older run, recorded before releases had folders
    head = README_HEAD.format(version=version, origin=ORIGIN[version])
    (out / "README.md").write_text(head + "\n".join(rows) + "\n")
    print(f"{len(rows)} calls written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
