"""Property: the hook dispatcher survives any argv x stdin (issue 5 §2), and refuses invalid
values from XML in the planner, before any host change."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hooks.protocol import OPERATIONS
from tests.robustness.corpus import hook_captures, hook_variant
from tests.robustness.hookfuzz import check_hook_call, mutating_calls
from tests.robustness.hookrun import fake_ports, hook_env, run_hook, run_hook_process
from tests.robustness.mutations import mutate
from tests.robustness.profiles import ci_settings
from tests.support import require

pytestmark = pytest.mark.timeout(300)

_OPS = sorted({name for _, name in OPERATIONS})
_TOKENS = ["-", "begin", "end", "capvm", "capnat", "packtovs", "", "--", "--dry-run", "--driver",
           "--driver=qemu", "--driver=network", "qemu", "network", "daemon", "x" * 300, "../../etc", "\n",
           "é"]


@st.composite
def hook_argv(draw: st.DrawFn) -> list[str]:
    """Mostly well-formed calls (driver, object, operation, sub-operation, extra), sometimes noise."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.lists(st.one_of(st.sampled_from(_TOKENS + _OPS), st.text(max_size=10)), max_size=6))
    driver = draw(st.sampled_from(["qemu", "network"]))
    name = draw(st.sampled_from(["capvm", "capnat", "packtovs", "capmvtap", "vfvm", "x/y"]))
    sub = draw(st.sampled_from(["begin", "end", "-"]))
    argv = ["--driver", driver, name, draw(st.sampled_from(_OPS)), sub, "-"]
    return argv[: draw(st.integers(3, 6))] if draw(st.integers(0, 5)) == 0 else argv


def _captures() -> list[bytes]:
    docs = [c[3] for c in hook_captures()]
    require(len(docs) >= 10, "the captured hook inputs (fixtures/hooks/captures)")
    variants = Path(__file__).resolve().parents[2] / "fixtures" / "hooks" / "variants"
    return docs + [p.read_bytes() for p in sorted(variants.glob("*.xml"))]


@st.composite
def hook_stdin(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["capture", "capture", "truncated", "mutated", "mutated", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=500))
    doc = draw(st.sampled_from(_captures()))
    if kind == "capture":
        return doc
    if kind == "truncated":
        return doc[: draw(st.integers(0, len(doc)))]
    return draw(mutate(doc))


def _labelled_inputs() -> list[tuple[list[str], bytes]]:
    """Each capture and variant with the argv libvirt gives it (driver, name, operation)."""
    out = []
    for driver, op, sub, data in hook_captures():
        out.append((["--driver", driver, _name_of(data), op, sub, "-"], data))
    variants = Path(__file__).resolve().parents[2] / "fixtures" / "hooks" / "variants"
    for path in sorted(variants.glob("*.xml")):
        driver, _, rest = path.stem.partition("-")
        rest = rest.partition("-")[2]
        op = max((o for o in _OPS if rest == o or rest.startswith(o + "-")), key=len, default="start")
        data = path.read_bytes()
        out.append((["--driver", driver, _name_of(data), op, "begin", "-"], data))
    return out


def _name_of(data: bytes) -> str:
    return data.split(b"<name>", 1)[1].split(b"</name>", 1)[0].decode() if b"<name>" in data else "x"


@st.composite
def hook_call(draw: st.DrawFn) -> tuple[list[str], bytes]:
    """Half the time a real input with its own argv, truncated or mutated (so the call has work
    and parses); otherwise any argv with any stdin."""
    if draw(st.booleans()):
        argv, data = draw(st.sampled_from(_labelled_inputs()))
        how = draw(st.sampled_from(["as-is", "truncated", "mutated", "mutated"]))
        if how == "truncated":
            data = data[: draw(st.integers(0, len(data)))]
        elif how == "mutated":
            data = draw(mutate(data))
        return argv, data
    return draw(hook_argv()), draw(hook_stdin())


@ci_settings(max_examples=300)
@given(call=hook_call())
def test_hook_dispatcher_contract(call: tuple[list[str], bytes], tmp_path_factory) -> None:
    argv, data = call
    check_hook_call(argv, data, tmp_path_factory.getbasetemp())


def test_every_capture_with_its_own_argv() -> None:
    """The real captures, with the argv libvirt passed, through the dispatcher: no crash."""
    inputs = _labelled_inputs()
    require(len(inputs) >= 20, "the captured hook inputs and their variants (fixtures/hooks)")
    for argv, data in inputs:
        result = check_hook_call(argv, data)
        assert result.code in (0, 1), (argv, result)  # valid input: never a bad-input refusal


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9, 0.99])
def test_truncated_captures_as_processes(cut: float, tmp_path: Path) -> None:
    """A few real processes: truncated captures are refused in one line, nothing printed."""
    env = hook_env(tmp_path)
    for driver, op, sub, data in hook_captures():
        if (driver, op) not in (("qemu", "prepare"), ("qemu", "start"), ("network", "start")):
            continue
        name = data.split(b"<name>", 1)[1].split(b"</name>", 1)[0].decode()
        result = run_hook_process(driver, [name, op, sub, "-"], data[: int(len(data) * cut)], env)
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
        assert result.stdout == "" and result.code in (0, 2), result
        assert len(result.stderr.splitlines()) <= 1


# --------------------------------------------------------------------------- planner via the entry point

PREPARE = "qemu-capvm-prepare-meta.xml"
BAD_VALUES = [
    # (fixture, text to replace, replacement, what the message must name)
    (PREPARE, 'bridge="brcap"', 'bridge="br cap"', "bridge name"),
    (PREPARE, 'bridge="brcap"', 'bridge="br/../cap"', "bridge name"),
    (PREPARE, "dev='tapcap0'", "dev='" + "t" * 40 + "'", "target dev"),
    (PREPARE, "dev='tapcap0'", "dev='tap\ncap0'", "target dev"),
]


@pytest.mark.parametrize(("fixture", "old", "new", "what"), BAD_VALUES, ids=[b[2][:20] for b in BAD_VALUES])
def test_entry_refuses_bad_values_before_any_action(fixture: str, old: str, new: str, what: str,
                                                    tmp_path: Path) -> None:
    base = hook_variant(fixture).decode()
    require(old in base, f"{old} in fixtures/hooks/variants/{fixture}")
    ports = fake_ports()
    result = run_hook("qemu", ["capvm", "prepare", "begin", "-"], base.replace(old, new).encode(),
                      hook_env(tmp_path), ports=ports)
    assert result.code == 2, result
    assert len(result.stderr.splitlines()) == 1 and what in result.stderr, result.stderr
    assert mutating_calls(ports) == []


def test_entry_control_valid_prepare_acts(tmp_path: Path) -> None:
    """Control: the unmodified variant does reach the host (so the refusals above are real)."""
    ports = fake_ports()
    ports["netlink"].add_bridge("brcap")  # type: ignore[attr-defined]
    run_hook("qemu", ["capvm", "prepare", "begin", "-"], hook_variant(PREPARE), hook_env(tmp_path),
             ports=ports)
    assert mutating_calls(ports), "the valid prepare made no host change at all"


def test_entry_refuses_a_bad_ovs_setting_before_any_action(tmp_path: Path) -> None:
    """Found by the hook fuzzer: a metadata OVS setting with a bad table name was only caught by
    the OVS command builder, after the port's VLAN had been set (and then rolled back)."""
    base = hook_variant("qemu-capvm-start-meta.xml").decode()
    require('table="Port"' in base, "an OVS setting in fixtures/hooks/variants/qemu-capvm-start-meta.xml")
    ports = fake_ports()
    data = base.replace('table="Port"', 'table="P,ort"').encode()
    result = run_hook("qemu", ["capvm", "start", "begin", "-"], data, hook_env(tmp_path), ports=ports)
    assert result.code == 2, result
    assert "OVS table" in result.stderr and len(result.stderr.splitlines()) == 1
    assert mutating_calls(ports) == []


@pytest.mark.parametrize("name", ["cap\rvm", "cap\x0bvm", "cap\u2028vm", "cap\x1bvm"])
def test_control_characters_in_the_name_keep_one_line(name: str, tmp_path: Path) -> None:
    """Found by the hook fuzzer: the object name from argv went raw into the message."""
    result = run_hook("qemu", [name, "start", "begin", "-"], b"<domain><vlan", hook_env(tmp_path))
    assert result.code == 2, result
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n")
    assert len(result.stderr.splitlines()) == 1, repr(result.stderr)


@pytest.mark.parametrize("name", ["a" * 300, "é" * 100], ids=["plain-300", "utf8-100"])
def test_overlong_object_name_is_refused_in_one_line(name: str, tmp_path: Path) -> None:
    """Found by the hook fuzzer: a name whose state file name exceeds NAME_MAX ended in
    'internal error: OSError: File name too long'."""
    data = hook_variant("network-capnat-started-meta.xml").decode()
    require("<name>capnat</name>" in data, "fixtures/hooks/variants/network-capnat-started-meta.xml")
    data = data.replace("<name>capnat</name>", f"<name>{name}</name>")
    result = run_hook("network", [name, "started", "begin", "-"], data.encode(), hook_env(tmp_path))
    assert "internal error" not in result.stderr, result.stderr
    assert result.code == 2 and len(result.stderr.splitlines()) == 1, result
    assert "too long" in result.stderr
