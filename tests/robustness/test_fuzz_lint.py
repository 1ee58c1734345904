"""Property: ``virt-netxml lint`` on arbitrary or mutated input never crashes (issue 5 §2).

Exit status is 0, 1 or 2, every text line is a finding in the documented format, JSON output
is a JSON array of findings, and nothing ends in a traceback.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.robustness.contracts import check_lint
from tests.robustness.corpus import seed_documents
from tests.robustness.mutations import mutate
from tests.robustness.profiles import ci_settings
from tests.robustness.strategies import domain_documents, network_documents
from tests.support import require

pytestmark = pytest.mark.timeout(300)


def _seeds() -> tuple[bytes, ...]:
    docs = seed_documents()
    require(len(docs) > 40, "fixtures/ and libvirt's tests/networkxml2xmlin (run setup.sh)")
    return docs


@ci_settings(max_examples=200)
@given(data=st.binary(max_size=2000))
def test_lint_arbitrary_bytes(data: bytes) -> None:
    check_lint(data)


@ci_settings(max_examples=250)
@given(st.data())
def test_lint_mutated_real_documents(data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(_seeds()))
    mutated = data.draw(mutate(seed))
    check_lint(mutated, data.draw(st.sampled_from(["text", "json"])))


@ci_settings(max_examples=100)
@given(doc=st.one_of(domain_documents(), network_documents()))
def test_lint_generated_documents(doc: bytes) -> None:
    check_lint(doc)


def test_lint_accepts_every_seed_without_crashing() -> None:
    """Control for the mutations: the unmutated seeds lint to 0 or 1 (none is unreadable)."""
    for doc in _seeds():
        assert check_lint(doc) in (0, 1)
