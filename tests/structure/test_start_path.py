"""The modules on a hook call's start path (``hooks.etree_loader.START_PATH``): one list, complete,
and each module importable with nothing but the stand-ins for typing, inspect and gzip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hooks.etree_loader import START_PATH
from hooks.wrapper import module_paths

REPO = Path(__file__).resolve().parents[2]
CAPTURES = REPO / "fixtures" / "hooks" / "captures"
VARIANTS = REPO / "fixtures" / "hooks" / "variants"
HEAVY = ("typing", "inspect", "dataclasses", "subprocess", "gzip")


def _fresh(code: str, *args: str) -> dict:
    """Run ``code`` in a new interpreter started as the installed hook starts it (-I -S)."""
    script = f"import sys\nsys.path[:0] = {module_paths()!r}\n" + code
    out = subprocess.run([sys.executable, "-I", "-S", "-c", script, *args], capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _calls() -> list[tuple[str, str, str, str]]:
    """(driver, operation, object, file) for every captured and variant hook input."""
    calls = []
    for path in sorted(CAPTURES.glob("*.xml")):
        parts = path.stem.split("-")          # NN-driver-object-operation[-more]-sub
        calls.append((parts[1], "-".join(parts[3:-1]), parts[2], str(path)))
    for path in sorted(VARIANTS.glob("*.xml")):
        parts = path.stem.split("-")          # driver-object-operation[-more]-...
        operation = "port-created" if parts[2] == "port" else parts[2]
        calls.append((parts[0], operation, parts[1], str(path)))
    # Not migrate and restore: they rewrite the XML with the mapping file (hooks.transform).
    for extra in ("release", "stopped", "reconnect"):
        calls.append(("qemu", extra, "capvm", str(CAPTURES / "14-qemu-capvm-started-begin.xml")))
    return calls


def test_every_module_a_hook_call_imports_before_asking_the_host_is_listed(tmp_path):
    # Every captured call and every variant, planned and rendered (--dry-run) in one process;
    # each call records the project modules loaded up to the first adapter (the first host query).
    code = f"""
import io, json, os
os.environ['VIRT_NETXML_STATE_DIR'] = {str(tmp_path / 'state')!r}
os.environ['VIRT_NETXML_CONFIG_DIR'] = {str(tmp_path / 'conf')!r}
ours = lambda: {{m for m in sys.modules if m.split('.')[0] in ('hooks', 'xmltools')}}
seen = set()
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name.startswith('hooks.adapters.'):
            seen.update(ours())
        return None
sys.meta_path.insert(0, Watch())
from hooks.entry import main
runs = 0
for driver, op, name, path in {_calls()!r}:
    data = open(path, 'rb').read()
    main(['--driver', driver, '--dry-run', name, op, 'begin', '-'], stdin=io.BytesIO(data),
         stdout=io.StringIO(), stderr=io.StringIO())
    runs += 1
seen.update(ours())
print(json.dumps({{'runs': runs, 'modules': sorted(seen)}}))
"""
    result = _fresh(code)
    assert result["runs"] == len(_calls()) >= 20
    imported = {m for m in result["modules"] if not m.startswith("hooks.adapters")}
    assert {"hooks.entry", "hooks.run", "hooks.executor", "xmltools.xmlparse"} <= imported
    missing = sorted(imported - set(START_PATH))
    assert not missing, f"on a hook call's start path but not in hooks.etree_loader.START_PATH: {missing}"


def test_each_start_path_module_imports_with_only_the_stand_ins():
    # typing, inspect and gzip are the loader's stand-ins; dataclasses and subprocess are not
    # there at all. lxml.etree is loaded first, the way hooks.entry does.
    code = """
import json
from hooks.etree_loader import START_PATH, load_etree, stand_ins
load_etree()
sys.modules.update(stand_ins())
sys.modules['dataclasses'] = sys.modules['subprocess'] = None    # importing either fails
failed = {}
for name in START_PATH:
    try:
        __import__(name)
    except Exception as exc:
        failed[name] = f'{type(exc).__name__}: {exc}'
stand_in = [m for m in ('typing', 'inspect', 'gzip') if 'stand-in' not in (sys.modules[m].__doc__ or '')]
imported = [n for n in START_PATH if n in sys.modules]
print(json.dumps({'failed': failed, 'replaced': stand_in, 'imported': imported}))
"""
    result = _fresh(code)
    assert result["failed"] == {}
    assert result["replaced"] == []
    assert result["imported"] == list(START_PATH)


def test_the_check_fails_for_a_module_that_takes_typing(tmp_path):
    # What the test above would report for a start-path module importing typing at run time.
    (tmp_path / "takes_typing.py").write_text("from typing import Any\nX: Any = 1\n")
    code = f"""
import json
sys.path.insert(0, {str(tmp_path)!r})
from hooks.etree_loader import stand_ins
sys.modules.update(stand_ins())
try:
    import takes_typing
    print(json.dumps({{'error': None}}))
except ImportError as exc:
    print(json.dumps({{'error': str(exc)}}))
"""
    assert "cannot import name 'Any'" in _fresh(code)["error"]


def test_the_list_names_each_module_once_and_only_modules_that_exist():
    assert len(set(START_PATH)) == len(START_PATH)
    for name in START_PATH:
        path = REPO.joinpath(*name.split("."))
        assert path.with_suffix(".py").is_file() or (path / "__init__.py").is_file(), name
