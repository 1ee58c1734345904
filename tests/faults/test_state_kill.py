"""A state record is never half-written: processes SIGKILLed at random moments while they
rewrite records (atomic write + fsync + rename) leave only whole records behind."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import time

import pytest

from hooks.errors import Busy
from hooks.state import StateStore
from tests.faults.host import state_problems

pytestmark = pytest.mark.timeout(120)


def _churn(root: str, seed: int) -> None:
    rnd = random.Random(seed)
    store = StateStore(root)
    i = 0
    while True:
        i += 1
        with store.edit("domains", f"vm{i % 3}") as rec:
            rec["name"] = f"vm{i % 3}"
            rec["taps"] = {f"tap{n}": {"n": n, "pad": "x" * rnd.randrange(4000)} for n in range(i % 5 + 1)}
        device = f"pci-0000:04:10.{i % 4}"
        with contextlib.suppress(Busy):   # another vm holds it: released below
            store.claim(device, "VF", f"vm{i % 3}", None)
        store.release(device, f"vm{(i + 1) % 3}")


def test_sigkill_during_writes_never_leaves_a_torn_record(tmp_path):
    rnd = random.Random(5)
    kills = 0
    for round_ in range(40):
        pid = os.fork()
        if pid == 0:
            try:
                _churn(str(tmp_path), round_)
            finally:
                os._exit(1)
        time.sleep(rnd.uniform(0.002, 0.03))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        kills += os.WIFSIGNALED(status)
        # Every record parses; what a kill can leave is a temporary file, never read as a record.
        assert state_problems(tmp_path) == []
        store = StateStore(str(tmp_path))
        for kind in ("domains", "claims"):
            for name in store.names(kind):
                assert isinstance(store.read(kind, name), dict)
        for folder in ("domains", "claims"):
            for entry in os.listdir(tmp_path / folder):
                assert entry.endswith(".json") or entry.startswith(".tmp-"), entry
                if entry.endswith(".json"):
                    json.loads((tmp_path / folder / entry).read_text())
    assert kills == 40
    # The survivors carry on from whatever the last kill left.
    with StateStore(str(tmp_path)).edit("domains", "vm0") as rec:
        rec["taps"] = {}
