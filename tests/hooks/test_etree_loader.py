"""hooks.etree_loader: lxml.etree without typing, inspect and gzip, and the hook path without them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hooks.wrapper import module_paths

REPO = Path(__file__).resolve().parents[2]
FIX = REPO / "fixtures" / "hooks"
PY = sys.executable
HEAVY = ("typing", "inspect", "gzip")


def _fresh(code: str, path: list[str] | None = None) -> dict:
    """Run ``code`` in a new interpreter started as the installed hook starts it (-I -S)."""
    script = (f"import sys\nsys.path[:0] = {(path or []) + module_paths()!r}\n" + code)
    out = subprocess.run([PY, "-I", "-S", "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_installed_lxml_loads_without_the_heavy_modules_and_still_works():
    result = _fresh(
        "from hooks.etree_loader import load_etree\n"
        "etree = load_etree()\n"
        f"loaded = {{m: m in sys.modules for m in {HEAVY!r}}}\n"
        "root = etree.fromstring(b'<a><b x=\"1\">t</b></a>')\n"
        "tree = etree.ElementTree(root)\n"
        "ok = [root.find('b').get('x'), root.xpath('string(b)'), etree.tostring(tree).decode(),\n"
        "      isinstance(tree, etree.ElementTree), etree.ElementTree[int] is etree.ElementTree]\n"
        "import typing, inspect, gzip\n"
        "real = [hasattr(typing, 'Protocol'), hasattr(inspect, 'signature'), hasattr(gzip, 'compress')]\n"
        "import json; print(json.dumps({'loaded': loaded, 'ok': ok, 'real': real}))")
    assert result["loaded"] == dict.fromkeys(HEAVY, False)
    assert result["ok"] == ["1", "t", '<a><b x="1">t</b></a>', True, True]
    # Afterwards the stand-ins are gone: importing the modules gives the real ones.
    assert result["real"] == [True, True, True]


def test_the_deferred_names_import_the_real_module_when_used(tmp_path):
    # A parser target (inspect) and compressed output (gzip) still work after the short way.
    out = tmp_path / "x.xml.gz"
    result = _fresh(
        "from hooks.etree_loader import load_etree\n"
        "etree = load_etree()\n"
        "class Target:\n"
        "    def __init__(self): self.tags = []\n"
        "    def start(self, tag, attrib): self.tags.append(tag)\n"
        "    def close(self): return self.tags\n"
        "tags = etree.fromstring(b'<a><b/></a>', etree.XMLParser(target=Target()))\n"
        f"etree.ElementTree(etree.fromstring(b'<z/>')).write({str(out)!r}, compression=6)\n"
        "import gzip, json; print(json.dumps({'tags': tags, 'gz': gzip.open("
        f"{str(out)!r}).read().decode()}}))")
    assert result == {"tags": ["a", "b"], "gz": "<z/>"}


def test_a_module_wanting_more_than_the_stand_ins_is_imported_the_ordinary_way(tmp_path):
    # Stands for a future lxml that takes another name from typing while it initialises.
    (tmp_path / "wants_more.py").write_text(
        "from typing import Generic, Protocol\n"
        "import inspect\n"
        "SIGNATURE = inspect.signature\n")
    result = _fresh(
        "from hooks.etree_loader import load_etree\n"
        "mod = load_etree('wants_more')\n"
        "import typing, inspect\n"
        "import json; print(json.dumps({'protocol': mod.Protocol is typing.Protocol,\n"
        "    'inspect': mod.inspect is inspect, 'stand_in_left': 'stand-in' in (typing.__doc__ or '')}))",
        path=[str(tmp_path)])
    assert result == {"protocol": True, "inspect": True, "stand_in_left": False}


def test_modules_imported_for_real_before_are_left_alone():
    result = _fresh(
        "import typing\n"
        "from hooks.etree_loader import load_etree\n"
        "load_etree()\n"
        "import json; print(json.dumps({'same': sys.modules['typing'] is typing, "
        "'inspect': 'inspect' in sys.modules}))")
    assert result == {"same": True, "inspect": False}


def test_a_call_with_work_imports_none_of_the_heavy_modules(tmp_path):
    # An OVS VLAN from metadata, planned and rendered (--dry-run) the way the wrapper starts it.
    data = (FIX / "variants/qemu-capvm-start-meta.xml").read_bytes()
    data = data.replace(b'<vnx:vlan trunks="30-32" native="20"/>', b"").replace(b'<vnx:vlan tag="40"/>', b"")
    data = data.replace(b'<vnx:tap bridge="brcap" owner="root" group="root" multi-queue="no"/>', b"")
    code = ("import io, os\n"
            f"os.environ['VIRT_NETXML_STATE_DIR'] = {str(tmp_path)!r}\n"
            "from hooks.entry import main\n"
            f"rc = main(['--driver', 'qemu', '--dry-run', 'capvm', 'start', 'begin', '-'],"
            f" stdin=io.BytesIO({data!r}), stdout=io.StringIO())\n"
            f"import json; print(json.dumps({{'rc': rc, 'lxml': 'lxml.etree' in sys.modules,"
            f" 'heavy': [m for m in {HEAVY + ('subprocess', 'dataclasses')!r} if m in sys.modules]}}))")
    assert _fresh(code) == {"rc": 0, "lxml": True, "heavy": []}
