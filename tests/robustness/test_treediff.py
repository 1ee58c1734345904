"""The tree-diff helper itself: it must see every kind of loss the round-trip tests rely on."""

from __future__ import annotations

from lxml import etree

from tests.robustness.treediff import SUBTREE, added_nodes, lost_nodes
from xmltools.xmlparse import parse_bytes

BASE = b"""<!-- head --><domain type='kvm'>
  <name>x</name>
  <foo:thing xmlns:foo='urn:example:foo' foo:a='1'>t</foo:thing>
  <devices>
    <interface type='bridge' zz='1'><mac address='52:54:00:00:00:01'/><model type='e1000'/>
      <!-- keep me --><?zpi data?>
    </interface>
  </devices>
</domain><!-- tail -->"""


def _root(data: bytes) -> etree._Element:
    return parse_bytes(data).getroot()


def test_identical_trees_lose_nothing() -> None:
    assert lost_nodes(_root(BASE), _root(BASE)) == []
    assert added_nodes(_root(BASE), _root(BASE)) == []


def test_whitespace_only_changes_are_not_losses() -> None:
    assert lost_nodes(_root(BASE), _root(BASE.replace(b"\n  ", b"\n    "))) == []


def test_each_kind_of_loss_is_seen() -> None:
    cases = {
        b" zz='1'": b"",                       # unknown attribute
        b"<!-- keep me -->": b"",              # comment inside
        b"<?zpi data?>": b"",                  # processing instruction
        b"<!-- head -->": b"",                 # comment before the root
        b"<!-- tail -->": b"",                 # comment after the root
        b">t</foo:thing>": b">u</foo:thing>",  # text of a foreign element
        b" foo:a='1'": b"",                    # namespaced attribute
        b"<name>x</name>": b"",                # a whole element
    }
    for old, new in cases.items():
        assert old in BASE
        lost = lost_nodes(_root(BASE), _root(BASE.replace(old, new)))
        assert lost, f"removing {old!r} went unnoticed"


def test_exemptions_cover_only_the_targeted_nodes() -> None:
    before = _root(BASE)
    iface = before.find("devices/interface")
    model = iface.find("model")
    after = _root(BASE.replace(b"<model type='e1000'/>", b"<model type='virtio'/>"))
    assert lost_nodes(before, after)  # without an exemption the change is a loss
    assert lost_nodes(before, after, {model: frozenset({"type"})}) == []
    # exempting the model's attribute does not excuse losing the comment beside it
    worse = _root(BASE.replace(b"<model type='e1000'/>", b"<model type='virtio'/>")
                  .replace(b"<!-- keep me -->", b""))
    assert lost_nodes(before, worse, {model: frozenset({"type"})})
    # a subtree exemption excuses its whole subtree, and nothing outside it
    gone = _root(BASE.replace(b"<mac address='52:54:00:00:00:01'/>", b""))
    assert lost_nodes(before, gone, {iface.find("mac"): SUBTREE}) == []
    assert lost_nodes(before, gone, {model: SUBTREE})
