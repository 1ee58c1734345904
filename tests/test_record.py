"""xmltools.record behaves like dataclasses for what the hook modules use, checked side by side."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys

import pytest

from xmltools import record


def _pair(**options: bool) -> tuple[type, type]:
    """The same declarations made by dataclasses and by xmltools.record."""
    made = []
    for maker, field in ((dataclasses.dataclass, dataclasses.field), (record.dataclass, record.field)):
        class Base:
            label: str = field(default="", compare=False, kw_only=True)

        Base = maker(frozen=options.get("frozen", False))(Base)  # noqa: N806

        class Thing(Base):  # type: ignore[valid-type,misc]
            name: str
            count: int = 1
            items: list[int] = field(default_factory=list)

        made.append(maker(**options)(Thing))
    return made[0], made[1]


@pytest.mark.parametrize("options", [{}, {"frozen": True}, {"frozen": True, "order": True}])
def test_same_behaviour_as_dataclasses(options: dict[str, bool]) -> None:
    real, light = _pair(**options)
    for args, kwargs in [(("a",), {}), (("a", 2), {"label": "x"}), ((), {"name": "b", "items": [3]})]:
        r, lt = real(*args, **kwargs), light(*args, **kwargs)
        assert repr(lt) == repr(r)
        assert (lt.name, lt.count, lt.items, lt.label) == (r.name, r.count, r.items, r.label)
    assert light("a", label="x") == light("a", label="y")          # label is not compared
    assert light("a") != light("b") and light("a") != real("a")     # other class: not equal
    assert light("a").items is not light("a").items                # a fresh list each time
    assert light.__match_args__ == real.__match_args__
    assert [f.name for f in record.fields(light)] == [f.name for f in dataclasses.fields(real)]
    if options.get("frozen"):
        assert hash(light("a", 2, items=(1,))) == hash(light("a", 2, (1,), label="z"))
        assert hash(light("a", 2, items=(1,))) == hash(real("a", 2, items=(1,)))   # the same key
        with pytest.raises(AttributeError):
            light("a").name = "b"
        with pytest.raises(AttributeError):
            del light("a").name
    else:
        assert light.__hash__ is None and real.__hash__ is None
        thing = light("a")
        thing.count = 5
        assert thing.count == 5
    if options.get("order"):
        things = [light("b"), light("a", 3), light("a", 2)]
        assert sorted(things) == [light("a", 2), light("a", 3), light("b")]


def test_wrong_arguments_are_refused() -> None:
    _, light = _pair(frozen=True)
    with pytest.raises(TypeError):
        light()
    with pytest.raises(TypeError):
        light("a", 1, [], "label-by-position")
    with pytest.raises(TypeError):
        light("a", name="b")
    with pytest.raises(TypeError):
        light("a", colour="red")


def test_hook_records_pickle_and_compare() -> None:
    from hooks.actions.ovs import OvsPortVlan  # a frozen action with the kw-only iface of its base
    from hooks.ports import BridgeVlan, OvsPortSettings

    for value in (BridgeVlan(10, pvid=True), OvsPortSettings(tag=5, other_config={"a": "b"})):
        assert pickle.loads(pickle.dumps(value)) == value
    action = OvsPortVlan("vnet1", 10, iface="52:54:00:00:00:01")
    assert action == OvsPortVlan("vnet1", 10) and action.iface == "52:54:00:00:00:01"
    assert pickle.loads(pickle.dumps(action)).iface == action.iface
    assert repr(action) == ("OvsPortVlan(iface='52:54:00:00:00:01', port='vnet1', tag=10, trunks=(), "
                            "vlan_mode=None)")
    assert hash(BridgeVlan(10)) == hash(BridgeVlan(10)) and BridgeVlan(10) != BridgeVlan(11)


def test_hook_start_path_imports_no_dataclasses() -> None:
    code = ("import sys, hooks.run, hooks.actions.ovs, hooks.actions.tap, hooks.actions.sriov; "
            "print('dataclasses' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
