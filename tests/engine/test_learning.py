"""The write-set of a learn: engine.md §4.3-§4.5, api.md §6.2."""

from __future__ import annotations

from kato.engine.knowledge import Counters, SymbolStats
from kato.engine.learning import accumulate_metadata, average_emotives, plan_learn, resolve
from tests.engine.helpers import do_learn, do_observe, learn_events, new_session


def test_metadata_values_are_python_str_of_json_values() -> None:
    entries = [
        {"flag": True, "none": None, "int": 1, "float": 1.5, "list": [1, 2], "obj": {"a": 1}},
        {"flag": False, "float": 45.67, "int": 123},
    ]
    assert accumulate_metadata(entries) == {
        "flag": ("False", "True"),
        "none": ("None",),
        "int": ("1", "123"),
        "float": ("1.5", "45.67"),
        "list": ("[1, 2]",),
        "obj": ("{'a': 1}",),
    }


def test_average_emotives_keeps_first_appearance_order() -> None:
    assert list(average_emotives([{"b": 1.0}, {"a": 2.0, "b": 3.0}]).items()) == [("b", 2.0), ("a", 2.0)]
    assert average_emotives([]) == {}


def test_new_pattern_write_set() -> None:
    plan = plan_learn((("a", "b"), ("a",)), [{"joy": 1.0}, {"joy": 3.0}], [{"k": 1}], persistence=5)
    write = resolve(plan, None)
    assert write is not None and write.is_new
    assert write.pattern.frequency == 1 and write.pattern.length == 3
    assert write.pattern.emotives == ({"joy": 1.0}, {"joy": 3.0})
    assert dict(write.pattern.metadata) == {"k": ("1",)}
    assert dict(write.symbol_frequency) == {"a": 2, "b": 1}
    assert dict(write.pattern_member_frequency) == {"a": 1, "b": 1}
    assert write.counters == Counters(3, 1, 1)
    assert {s: dict(v) for s, v in write.affinity.items()} == {"a": {"joy": 2.0}, "b": {"joy": 2.0}}


def test_relearn_counts_symbols_but_not_pattern_frequencies() -> None:
    plan = plan_learn((("a",), ("b",)))
    first = resolve(plan, None)
    second = resolve(plan, first.pattern)
    assert not second.is_new and second.pattern.frequency == 2
    assert second.pattern_member_frequency == {}
    assert second.counters == Counters(2, 0, 0)  # total_pattern_frequencies counts new patterns only
    assert second.affinity == {}


def test_emotives_window_keeps_last_persistence_entries() -> None:
    plan = plan_learn((("a",), ("b",)), [{"e": float(i)} for i in range(7)], persistence=5)
    first = resolve(plan, None)
    assert [e["e"] for e in first.pattern.emotives] == [2.0, 3.0, 4.0, 5.0, 6.0]
    again = resolve(plan_learn((("a",), ("b",)), [{"e": 9.0}], persistence=3), first.pattern)
    assert [e["e"] for e in again.pattern.emotives] == [5.0, 6.0, 9.0]


def test_affinity_uses_the_untrimmed_emotives() -> None:
    plan = plan_learn((("a",), ("b",)), [{"e": 1.0}, {"e": 2.0}, {"e": 6.0}], persistence=1)
    write = resolve(plan, None)
    assert write.pattern.emotives == ({"e": 6.0},)
    assert write.affinity["a"] == {"e": 3.0}


def test_relearn_merges_metadata_as_sorted_sets() -> None:
    first = resolve(plan_learn((("a",), ("b",)), (), [{"k": "z"}, {"j": 1}]), None)
    second = resolve(plan_learn((("a",), ("b",)), (), [{"k": "a"}, {"k": "z"}]), first.pattern)
    assert dict(second.pattern.metadata) == {"k": ("a", "z"), "j": ("1",)}


def test_knowledge_base_statistics_after_learns(kb) -> None:
    learn_events(kb, [["x"], ["y"], ["z"]])
    learn_events(kb, [["x"], ["y"], ["z"]])
    learn_events(kb, [["x"], ["y"], ["w"]])
    assert kb.counters() == Counters(9, 2, 2)
    assert kb.symbol_stats("x") == SymbolStats(3, 2)
    assert kb.symbol_stats("z") == SymbolStats(2, 1)
    assert kb.symbol_stats("w") == SymbolStats(1, 1)
    assert kb.vocabulary_size() == 4
    assert len(kb.patterns_with_symbol("x")) == 2
    assert len(kb.patterns_starting_with("x")) == 2 and list(kb.patterns_starting_with("y")) == []


def test_affinity_accumulates_per_distinct_symbol(kb) -> None:
    state, _ = do_observe(kb, new_session(), ["a", "a"], emotives={"joy": 2.0})
    state, _ = do_observe(kb, state, ["b"], emotives={"joy": 4.0, "fear": 1.0})
    do_learn(kb, state)
    assert kb.affinity("a") == {"joy": 3.0, "fear": 1.0}
    assert kb.affinity("b") == {"joy": 3.0, "fear": 1.0}
    assert kb.affinity("zzz") == {}


def test_session_persistence_sets_the_window(kb) -> None:
    state = new_session(persistence=2)
    for i, symbol in enumerate("abc"):
        state, _ = do_observe(kb, state, [symbol], emotives={"e": float(i)})
    _, name = do_learn(kb, state)
    assert [e["e"] for e in kb.pattern(name[5:]).emotives] == [1.0, 2.0]
