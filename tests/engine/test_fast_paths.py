"""The prediction path's shortcuts give exactly what the plain recipes give (engine.md §9, bit for bit).

Each shortcut is compared with the straightforward computation it replaces: per-symbol score factors with
`tfidf_score` / `confluence`, the memoized itfdf with numpy on every vector, the prefix-key name
selection with sorting, and memoized per-pattern data with a knowledge base that never saw another request.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kato.engine import columnar
from kato.engine.columnar import CandidateGroup, ColumnarIndex, smallest_names
from kato.engine.config import EngineConfig
from kato.engine.learning import plan_learn, resolve
from kato.engine.matching import layout_of
from kato.engine.metrics import (
    ScoreTerms,
    confluence,
    finalize,
    itfdf_similarities,
    term_frequencies,
    tfidf_score,
)
from kato.engine.predictions import predict
from kato.store.memory import MemoryKnowledgeBase
from tests.engine.test_matching import WithoutColumnIndex

symbols = st.sampled_from("abcdefgh")
probabilities = st.dictionaries(
    symbols, st.one_of(st.just(0.0), st.floats(0.0, 1.0), st.sampled_from([1 / 3, 2 / 3, 15 / 22, 0.1])),
    max_size=8,
)


def same(a: object, b: object) -> bool:
    """Equal value *and* type: `0` and `0.0` render differently on the wire."""
    return type(a) is type(b) and (a == b or (a != a and b != b))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(symbols, max_size=9),
    probabilities,
    st.integers(0, 40),
    st.integers(0, 12),
    st.integers(1, 5),
)
def test_score_terms_equal_the_reference_functions(present, probability, unique, total, frequency):
    terms = ScoreTerms(unique, total, probability)
    tf = term_frequencies(present) if present else {}
    for _ in range(2):  # the second round reads memoized factors
        assert same(terms.tfidf(tf), tfidf_score(tf, unique, probability))
        assert same(terms.confluence(frequency, present), confluence(frequency, total, present, probability))


def reference_itfdf(
    presents: Sequence[Sequence[str]], state: Sequence[str], frequencies: Sequence[int],
    probability: Mapping[str, float],
) -> list[float]:
    """§9.1 with numpy on every vector, no memo and no shortcut (the computation before optimization)."""
    total_frequency = sum(frequencies)
    if total_frequency == 0:
        return [0.0] * len(presents)
    space = sorted({s for present in presents for s in present} | set(state))
    index = {s: i for i, s in enumerate(space)}
    weights = np.array([probability.get(s, 0.0) for s in space], dtype=np.float64)
    sv = weights * np.bincount([index[s] for s in state], minlength=len(space))
    sv_norm = float(np.sqrt(sv.dot(sv)))
    out = []
    for present, frequency in zip(presents, frequencies, strict=True):
        if sv_norm > 0:
            pv = weights * np.bincount([index[s] for s in present], minlength=len(space))
            denominator = float(np.sqrt(pv.dot(pv))) * sv_norm
            distance = 1 - (float(pv.dot(sv)) / denominator if denominator else 0.0)
        else:
            distance = 1.0
        out.append(1 - distance * frequency / total_frequency)
    return out


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.lists(symbols, min_size=1, max_size=6), st.integers(1, 4)), min_size=1, max_size=12),
    st.lists(symbols, min_size=1, max_size=6),
    probabilities,
)
def test_itfdf_equals_numpy_on_every_vector(members, state, probability):
    presents = [tuple(present) for present, _ in members]
    frequencies = [frequency for _, frequency in members]
    expected = reference_itfdf(presents, state, frequencies, probability)
    assert itfdf_similarities(presents, state, frequencies, probability) == expected
    union = set().union(*presents, state)  # what the ensemble passes
    assert itfdf_similarities(presents, state, frequencies, probability, None, union) == expected


def test_itfdf_single_term_shortcut_on_awkward_weights():
    """One non-zero product: the Python value must equal numpy's for weights that round."""
    rng = random.Random(7)
    for _ in range(2000):
        probability = {s: rng.choice([rng.random(), 1 / rng.randint(1, 97), 0.0]) for s in "abcd"}
        state = [rng.choice("abcd") for _ in range(rng.randint(1, 5))]
        presents = [tuple(rng.choice("abcd") * rng.randint(1, 3)) for _ in range(4)]
        frequencies = [rng.randint(1, 3) for _ in presents]
        assert itfdf_similarities(presents, state, frequencies, probability) == reference_itfdf(
            presents, state, frequencies, probability
        )


hex_names = st.lists(
    st.tuples(st.sampled_from(["0" * 15, "f" * 15, "0123456789abcde"]), st.text("0123456789abcdef", min_size=25,
                                                                               max_size=25)),
    min_size=1, max_size=40, unique=True,
).map(lambda pairs: [a + b for a, b in pairs])


@settings(max_examples=200, deadline=None)
@given(hex_names, st.integers(1, 45), st.integers(1, 4))
def test_smallest_names_equal_sorting(names, need, group_count):
    """Names sharing their 15-digit prefix tie on the numpy key; the string comparison must still decide."""
    index = ColumnarIndex()
    for name in names:
        index.append(name, (("a",), ("b",)))
    positions = np.arange(len(names))
    groups = [
        CandidateGroup((0, 1), (1, 1), rows=positions[g::group_count], index=index) for g in range(group_count)
    ]
    groups = [g for g in groups if g.size]
    expected = sorted((name, at) for at, g in enumerate(groups) for name in g.names())[:need]
    assert smallest_names(groups, need) == expected
    # groups of few candidates carry names, not rows (`_group_few`): a level may mix both kinds
    mixed = [CandidateGroup(g.projection, g.lengths, g.names()) if at % 2 else g for at, g in enumerate(groups)]
    assert smallest_names(mixed, need) == expected


def test_smallest_names_falls_back_for_names_that_are_not_digests():
    index = ColumnarIndex()
    for name in ["b", "a" * 40, "C", "0" * 40]:
        index.append(name, (("x",), ("y",)))
    group = CandidateGroup((0, 1), (1, 1), rows=np.arange(4), index=index)
    assert smallest_names([group], 2) == [("0" * 40, 0), ("C", 0)]


def _knowledge_base(seed: int, count: int) -> tuple[MemoryKnowledgeBase, list[tuple[tuple[str, ...], ...]]]:
    rng = random.Random(seed)
    vocabulary = [f"s{i}" for i in range(12)]
    kb = MemoryKnowledgeBase()
    learned = []
    for _ in range(count):
        events = tuple(
            tuple(sorted(rng.choice(vocabulary) for _ in range(rng.choice([1, 1, 1, 2]))))
            for _ in range(rng.randint(2, 6))
        )
        kb.learn(plan_learn(events))
        if rng.random() < 0.1:
            kb.learn(plan_learn(events))  # frequency 2
        learned.append(events)
    states = []
    for _ in range(12):
        source = rng.choice(learned)
        states.append((*source[: rng.randint(1, 3)], (rng.choice(vocabulary),)))
    return kb, states


def test_column_index_grows_and_prunes_like_plain_reads():
    """Hundreds of patterns: index matrices and postings grow, and pruning cuts levels of many same names."""
    kb, states = _knowledge_base(3, 400)
    for state in states:
        for config in (EngineConfig(max_predictions=2), EngineConfig(max_predictions=7, recall_threshold=0.0),
                       EngineConfig(max_predictions=40)):
            assert predict(state, config, kb) == predict(state, config, WithoutColumnIndex(kb))


@pytest.mark.parametrize("threshold", [0.0, 0.1])
def test_grouping_few_candidates_with_a_dict_equals_the_numpy_grouping(monkeypatch, threshold):
    """Both groupings give the same groups, each with its members in first-learn order; only the order of the
    groups may differ."""
    kb, states = _knowledge_base(5, 300)
    index = kb.columnar()

    def grouped(state: tuple, small: int) -> set[tuple]:
        monkeypatch.setattr(columnar, "SMALL_GROUPING", small)
        flat = [s for event in state for s in event]
        ids = {s: i for i, s in enumerate(dict.fromkeys(flat))}
        groups = index.groups(ids, threshold <= 0)
        return {(g.projection, g.lengths, tuple(g.names())) for g in groups}

    for state in states:
        by_dict, by_numpy = grouped(state, 10**6), grouped(state, 0)
        assert by_dict == by_numpy and by_dict


def test_memoized_pattern_data_does_not_depend_on_request_history():
    """Cuts and alignments are memoized across requests; a fresh knowledge base must answer the same."""
    configs = [EngineConfig(), EngineConfig(max_predictions=3), EngineConfig(recall_threshold=0.0),
               EngineConfig(rank_sort_algo="entropy"), EngineConfig(fuzzy_token_threshold=0.5)]
    warm, states = _knowledge_base(11, 150)
    history = {(c, s): predict(state, config, warm) for c, config in enumerate(configs)
               for s, state in enumerate(states)}
    for c, config in enumerate(configs):
        fresh, _ = _knowledge_base(11, 150)
        s = (3 * c) % len(states)
        assert predict(states[s], config, fresh) == history[(c, s)]
    # the warm knowledge base answers the same again, in another order
    for (c, s), expected in reversed(history.items()):
        assert predict(states[s], configs[c], warm) == expected


def test_memoized_scores_follow_every_write_of_the_in_memory_knowledge_base():
    """Per-pattern scores are memoized per version: a learn, an applied write-set, finalize-training and a clear
    each start afresh."""
    warm, states = _knowledge_base(13, 120)
    for state in states:
        predict(state, EngineConfig(), warm)
    extra = plan_learn((("s1",), ("s2",), ("s11",)))
    direct = plan_learn((("s3",), ("s1",), ("s4",)))
    for change in ("learn", "apply", "finalize", "clear"):
        if change == "learn":
            warm.learn(extra)
            fresh, _ = _knowledge_base(13, 120)
            fresh.learn(extra)
        elif change == "apply":  # a write-set applied without `learn`
            warm.apply(resolve(direct, warm.pattern(direct.name)))
            fresh.learn(direct)
        elif change == "finalize":
            warm.store_finalized(finalize(warm))
            fresh.store_finalized(finalize(fresh))
            warm.learn(extra)  # now frequency 2, and not finalized
            fresh.learn(extra)
        else:
            warm.clear()
            warm.learn(extra)
            fresh = MemoryKnowledgeBase()
            fresh.learn(extra)
        for state in states:
            assert predict(state, EngineConfig(), warm) == predict(state, EngineConfig(), fresh)


def test_hex_key_orders_like_names():
    names = sorted(hashlib.sha1(str(i).encode()).hexdigest() for i in range(500))
    index = ColumnarIndex()
    for name in names:
        index.append(name, (("a",), ("b",)))
    keys = index._keys[: len(names)]
    assert np.all(np.diff(keys) >= 0)
    assert math.isfinite(float(keys[-1]))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(st.integers(-1, 2), min_size=1, max_size=3), min_size=1, max_size=5),
    st.sets(st.integers(0, 2)),
    st.data(),
)
def test_missing_slices_name_the_missing_positions(events, matched, data):
    """When `Layout.missing_slices` is set, slicing gives exactly the symbols at `missing_at`."""
    projection = [p for event in events for p in event]
    lengths = [len(event) for event in events]
    e1 = data.draw(st.integers(0, len(events)))
    e2 = data.draw(st.integers(e1, len(events)))
    layout = layout_of(projection, lengths, (0, 1, 2), (1, 1, 1), matched, e1, e2, 1, 0, len(matched))
    symbols = tuple(f"s{q}" for q in range(len(projection)))
    by_position = [[symbols[q] for q in at] for at in layout.missing_at]
    if layout.missing_slices is not None:
        assert [list(symbols[s]) for s in layout.missing_slices] == by_position
    assert all(projection[q] not in matched for at in layout.missing_at for q in at)
