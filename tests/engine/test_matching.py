"""The greedy block matcher is difflib's without junk (engine.md §8.1), and grouping candidates by projection
gives exactly the predictions of aligning every candidate on its own."""

from __future__ import annotations

import difflib

from hypothesis import given, settings
from hypothesis import strategies as st

from kato.engine.config import EngineConfig
from kato.engine.learning import plan_learn
from kato.engine.matching import AlignmentMemo, StateMatcher
from kato.engine.predictions import predict
from kato.store.memory import MemoryKnowledgeBase

letters = st.sampled_from("abcdef")


@given(st.lists(letters, max_size=14), st.lists(letters, max_size=10))
def test_blocks_equal_difflib_without_junk(a: list[str], b: list[str]) -> None:
    expected = [
        (m.a, m.b, m.size) for m in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()[:-1]
    ]
    assert StateMatcher(b).blocks(a) == expected


class WithoutColumnIndex:
    """The same knowledge base seen through the plain read interface (per-record grouping path), computing its
    per-pattern scores afresh (no shared score memo, so a comparison with the knowledge base is independent)."""

    def __init__(self, kb: MemoryKnowledgeBase) -> None:
        self._kb = kb

    def __getattr__(self, name: str):
        if name in ("columnar", "score_memo"):
            raise AttributeError(name)
        return getattr(self._kb, name)


class WithMemo:
    """The same knowledge base with its own alignment memo of `limit` entries, or none (`limit` None), and no
    shared score memo."""

    def __init__(self, kb: MemoryKnowledgeBase, limit: int | None) -> None:
        self._kb = kb
        self._memo = AlignmentMemo(limit) if limit is not None else None

    def __getattr__(self, name: str):
        if name == "score_memo":
            raise AttributeError(name)
        if name == "alignment_memo":
            if self._memo is None:
                raise AttributeError(name)
            return lambda: self._memo
        return getattr(self._kb, name)


events_strategy = st.lists(st.lists(letters, min_size=1, max_size=3), min_size=1, max_size=5)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(events_strategy, min_size=1, max_size=25),
    st.lists(st.lists(letters, min_size=1, max_size=2), min_size=1, max_size=4),
    st.sampled_from([0.0, 0.1, 0.3]),
    st.integers(min_value=1, max_value=4),
)
def test_column_index_and_plain_reads_predict_the_same(patterns, stm, threshold, max_predictions) -> None:
    kb = MemoryKnowledgeBase()
    for events in patterns:
        kb.learn(plan_learn(tuple(tuple(sorted(e)) for e in events)))
    config = EngineConfig(recall_threshold=threshold, max_predictions=max_predictions)
    state = tuple(tuple(sorted(e)) for e in stm)
    assert predict(state, config, kb) == predict(state, config, WithoutColumnIndex(kb))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(events_strategy, min_size=1, max_size=25),
    st.lists(st.lists(st.lists(letters, min_size=1, max_size=2), min_size=1, max_size=4), min_size=1, max_size=4),
    st.sampled_from([0.0, 0.1, 0.3]),
)
def test_alignment_memo_size_never_changes_predictions(patterns, stms, threshold) -> None:
    """Warm, cleared when full (limit 2), or absent (a fresh memo per call): the same predictions."""
    kb = MemoryKnowledgeBase()
    for events in patterns:
        kb.learn(plan_learn(tuple(tuple(sorted(e)) for e in events)))
    config = EngineConfig(recall_threshold=threshold)
    tiny, none = WithMemo(kb, 2), WithMemo(kb, None)
    for _ in range(2):
        for stm in stms:
            state = tuple(tuple(sorted(e)) for e in stm)
            expected = predict(state, config, none)
            assert predict(state, config, kb) == expected
            assert predict(state, config, tiny) == expected
    assert len(tiny.alignment_memo()) <= 2


def test_alignment_memo_belongs_to_the_knowledge_base() -> None:
    """The engine keeps no memo of its own: each knowledge base fills its own, and a clear drops it."""
    one, other = MemoryKnowledgeBase(), MemoryKnowledgeBase()
    for kb in (one, other):
        kb.learn(plan_learn((("a",), ("b",), ("c",))))
    predict((("a",), ("b",)), EngineConfig(), one)
    assert len(one.alignment_memo()) == 1 and len(other.alignment_memo()) == 0
    memo = one.alignment_memo()
    one.learn(plan_learn((("a",), ("d",))))
    assert one.alignment_memo() is memo  # alignments do not depend on the knowledge: a learn keeps them
    one.clear()
    assert len(one.alignment_memo()) == 0
    memo = AlignmentMemo(limit=3)
    for key in range(7):
        memo.add(key, None)
    assert len(memo) <= 3 and memo[6] is None
