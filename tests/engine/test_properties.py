"""Properties of naming and learning that must hold for any events (hypothesis)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kato.engine.learning import plan_learn, resolve
from kato.engine.naming import pattern_name
from kato.store.memory import MemoryKnowledgeBase

symbols = st.text(min_size=0, max_size=6)
events = st.lists(st.lists(symbols, min_size=1, max_size=4).map(tuple), min_size=1, max_size=6).map(tuple)
emotives = st.lists(st.dictionaries(st.sampled_from("abc"), st.floats(-10, 10), max_size=2), max_size=4)
metadata_values = st.integers() | st.text(max_size=3)
metadata = st.lists(st.dictionaries(st.sampled_from("xyz"), metadata_values, max_size=2), max_size=3)


@given(events, emotives, metadata, emotives, metadata)
def test_pattern_name_depends_only_on_the_events(evs, e1, m1, e2, m2) -> None:
    assert plan_learn(evs, e1, m1).name == plan_learn(evs, e2, m2).name
    assert plan_learn(evs).name in (None, pattern_name(evs))


@given(events)
def test_learn_is_idempotent_on_names(evs) -> None:
    kb = MemoryKnowledgeBase()
    first = kb.learn(plan_learn(evs))
    second = kb.learn(plan_learn(evs))
    if first is None:
        assert second is None and kb.pattern_count() == 0
        return
    assert first.pattern.name == second.pattern.name
    assert kb.pattern_count() == 1


@given(events)
def test_write_set_applied_twice_gives_frequency_two_and_member_frequency_one(evs) -> None:
    kb = MemoryKnowledgeBase()
    plan = plan_learn(evs)
    if plan.name is None:
        return
    kb.learn(plan)
    kb.learn(plan)
    record = kb.pattern(plan.name)
    assert record.frequency == 2
    for symbol in {s for ev in evs for s in ev}:
        stats = kb.symbol_stats(symbol)
        assert stats.pattern_member_frequency == 1
        assert stats.frequency == 2 * sum(ev.count(symbol) for ev in evs)
    counters = kb.counters()
    assert counters.total_unique_patterns == counters.total_pattern_frequencies == 1
    assert counters.total_symbols_in_patterns_frequencies == 2 * plan.length
    assert resolve(plan, record).pattern.frequency == 3
