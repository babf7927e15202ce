"""Observation, STM and auto-learn: engine.md §2-§3."""

from __future__ import annotations

import pytest

from kato.engine.session import EmptySTMError, Observation, clear_stm, learn, observe, percept_data
from kato.engine.state import SessionState
from tests.engine.helpers import do_learn, do_observe, new_session


def stm_of(state: SessionState) -> list[list[str]]:
    return [list(e) for e in state.stm]


def test_symbols_sort_by_code_point_and_keep_duplicates(kb) -> None:
    state, out = do_observe(kb, new_session(), ["apple", "Zoo", "Apple", "apple"])
    assert out.event == ("Apple", "Zoo", "apple", "apple")
    state, out = do_observe(kb, state, ["test_2", "test_10", "test_1"])
    assert out.event == ("test_1", "test_10", "test_2")
    assert state.time == 2


def test_empty_string_is_a_symbol(kb) -> None:
    _, out = do_observe(kb, new_session(), ["", "a"])
    assert out.event == ("", "a")


def test_vector_symbols_come_before_strings_even_when_strings_sort_first(kb) -> None:
    _, out = do_observe(kb, new_session(), ["A", "zz"], vectors=[[1.0, 0.0, 0.0]])
    assert out.event == ("VCTR|9d58821e286eae6a77923d694a12ede7cbeabfbd", "A", "zz")


def test_session_sort_symbols_false_keeps_observed_order(kb) -> None:
    _, out = do_observe(kb, new_session(sort_symbols=False), ["b", "a"])
    assert out.event == ("b", "a")


def test_empty_observation_changes_only_time_and_accumulators(kb) -> None:
    state, _ = do_observe(kb, new_session(), ["a"])
    state, out = do_observe(kb, state, [], emotives={"joy": 1.0}, metadata={"k": "v"})
    assert out.event is None and out.learned is None
    assert stm_of(state) == [["a"]]
    assert state.time == 2
    assert state.emotives == ({"joy": 1.0},)
    assert state.metadata == ({"k": "v"},)


def test_empty_emotives_and_metadata_are_not_accumulated(kb) -> None:
    state, _ = do_observe(kb, new_session(), ["a"], emotives={}, metadata={})
    assert state.emotives == () and state.metadata == ()


def test_rolling_window_learns_each_full_window(kb) -> None:
    state = new_session(max_pattern_length=3, stm_mode="ROLLING")
    learned = []
    for symbol in "ABCDE":
        state, out = do_observe(kb, state, [symbol])
        learned.append(out.auto_learned_pattern)
    assert learned[:2] == [None, None]
    assert learned[2:] == [
        "PTRN|" + kb.pattern(name[5:]).name for name in learned[2:]
    ]
    assert [list(map(list, kb.pattern(n[5:]).events)) for n in learned[2:]] == [
        [["A"], ["B"], ["C"]],
        [["B"], ["C"], ["D"]],
        [["C"], ["D"], ["E"]],
    ]
    assert stm_of(state) == [["D"], ["E"]]


def test_clear_mode_empties_stm_after_learning(kb) -> None:
    state = new_session(max_pattern_length=3, stm_mode="CLEAR")
    for symbol in "ABC":
        state, out = do_observe(kb, state, [symbol])
    assert out.auto_learned_pattern is not None
    assert stm_of(state) == []


def test_unknown_stm_mode_behaves_as_clear(kb) -> None:
    state = new_session(max_pattern_length=2, stm_mode="FOO")
    state, _ = do_observe(kb, state, ["A"])
    state, out = do_observe(kb, state, ["B"])
    assert out.auto_learned_pattern is not None and state.stm == ()


@pytest.mark.parametrize("mode", ["CLEAR", "ROLLING"])
def test_max_pattern_length_one_never_keeps_single_symbol_events(kb, mode: str) -> None:
    state = new_session(max_pattern_length=1, stm_mode=mode)
    state, out = do_observe(kb, state, ["A"])
    assert out.learned is not None and out.auto_learned_pattern is None
    assert state.stm == ()
    state, out = do_observe(kb, state, ["A", "B"])
    assert out.auto_learned_pattern is not None
    assert state.stm == ()


def test_rolling_with_length_one_and_long_stm_restores_whole_stm(kb) -> None:
    state = new_session()
    for symbol in "AB":
        state, _ = do_observe(kb, state, [symbol])
    from dataclasses import replace

    state = replace(state, config=replace(state.config, max_pattern_length=1, stm_mode="ROLLING"))
    state, out = do_observe(kb, state, ["C"])
    assert out.auto_learned_pattern is not None
    assert kb.pattern(out.auto_learned_pattern[5:]).events == (("A",), ("B",), ("C",))
    assert stm_of(state) == [["A"], ["B"], ["C"]]  # Python's x[-0:] is the whole list


def test_lowered_max_pattern_length_learns_the_whole_stm(kb) -> None:
    state = new_session()
    for symbol in "ABCD":
        state, _ = do_observe(kb, state, [symbol])
    from dataclasses import replace

    state = replace(state, config=replace(state.config, max_pattern_length=2, stm_mode="ROLLING"))
    state, out = do_observe(kb, state, ["E"])
    assert len(kb.pattern(out.auto_learned_pattern[5:]).events) == 5
    assert stm_of(state) == [["E"]]


def test_auto_learn_stores_no_emotives_or_metadata(kb) -> None:
    state = new_session(max_pattern_length=2)
    state, _ = do_observe(kb, state, ["A"], emotives={"joy": 1.0}, metadata={"k": 1})
    state, out = do_observe(kb, state, ["B"], emotives={"joy": 3.0})
    record = kb.pattern(out.auto_learned_pattern[5:])
    assert record.emotives == () and dict(record.metadata) == {}
    assert len(state.emotives) == 2  # the accumulators are not cleared either


def test_stm_and_accumulators_are_capped(kb) -> None:
    state = new_session()
    for i in range(30):
        state = observe(state, Observation([f"s{i}"], (), {"e": float(i)}, {"m": i}), kb, stm_cap=10).state
    assert len(state.stm) == 10 and state.stm[0] == ("s20",)
    assert len(state.emotives) == 10 and len(state.metadata) == 10
    assert state.time == 30


def test_manual_learn_clears_stm_but_keeps_accumulators(kb) -> None:
    state, _ = do_observe(kb, new_session(), ["p"], emotives={"e": 1.0}, metadata={"m": 1})
    state, _ = do_observe(kb, state, ["q"], emotives={"e": 2.0}, metadata={"m": 2})
    state, name = do_learn(kb, state)
    assert name.startswith("PTRN|") and state.stm == ()
    assert len(state.emotives) == 2 and state.time == 2


def test_second_manual_learn_resubmits_earlier_emotives_and_metadata(kb) -> None:
    """engine.md §4.5: [p],[q] with e=1,2 then [r],[s] with e=3,4 stores [1,2,3,4] and {m:[1,2]}."""
    state = new_session()
    state, _ = do_observe(kb, state, ["p"], emotives={"e": 1.0}, metadata={"m": 1})
    state, _ = do_observe(kb, state, ["q"], emotives={"e": 2.0}, metadata={"m": 2})
    state, _ = do_learn(kb, state)
    state, _ = do_observe(kb, state, ["r"], emotives={"e": 3.0})
    state, _ = do_observe(kb, state, ["s"], emotives={"e": 4.0})
    state, name = do_learn(kb, state)
    record = kb.pattern(name[5:])
    assert [e["e"] for e in record.emotives] == [1.0, 2.0, 3.0, 4.0]
    assert dict(record.metadata) == {"m": ("1", "2")}


def test_learn_of_one_symbol_stores_nothing_and_clears(kb) -> None:
    state, _ = do_observe(kb, new_session(), ["x"])
    state, name = do_learn(kb, state)
    assert name == "" and state.stm == () and kb.pattern_count() == 0


def test_one_event_with_two_symbols_is_learnable(kb) -> None:
    state, _ = do_observe(kb, new_session(), ["p", "q"])
    _, name = do_learn(kb, state)
    assert name.startswith("PTRN|")


def test_learn_of_empty_stm_is_an_error() -> None:
    with pytest.raises(EmptySTMError):
        learn(new_session())


def test_clear_stm_resets_everything_but_config(kb) -> None:
    state = new_session(max_predictions=7)
    state, _ = do_observe(kb, state, ["a"], emotives={"e": 1.0})
    state = clear_stm(state)
    assert state == new_session(max_predictions=7)
    assert percept_data(state) == {}


def test_percept_data_averages_all_accumulated_emotives(kb) -> None:
    state, _ = do_observe(kb, new_session(), ["b", "a"], emotives={"e": 1.0}, metadata={"k": 1})
    state, _ = do_observe(kb, state, [], vectors=[[1, 2]], emotives={"e": 2.0, "f": 4.0})
    assert percept_data(state) == {
        "strings": [],
        "vectors": [[1, 2]],
        "emotives": {"e": 1.5, "f": 4.0},
        "path": [],
        "metadata": {},
    }


def test_nearest_indexed_vectors_join_the_event_after_a_learn(kb) -> None:
    state = new_session()
    state, first = do_observe(kb, state, [], vectors=[[1.0, 0.0]])
    state, second = do_observe(kb, state, [], vectors=[[0.0, 1.0]])
    assert len(first.event) == 1 and len(second.event) == 1  # nothing indexed yet
    state, _ = do_learn(kb, state)
    state, third = do_observe(kb, state, [], vectors=[[0.9, 0.1]])
    assert set(third.event) == {first.event[0], second.event[0], third.vector.name}
    assert list(third.event) == sorted(third.event)


def test_mismatched_vector_dimensions_are_not_indexed(kb) -> None:
    state, first = do_observe(kb, new_session(), [], vectors=[[1.0, 0.0]])
    state, _ = do_observe(kb, state, [], vectors=[[1.0, 0.0, 0.0]])
    do_learn(kb, state)
    _, out = do_observe(kb, new_session(), [], vectors=[[1.0, 0.0, 0.0]])
    assert out.event == (out.vector.name,)
    _, out = do_observe(kb, new_session(), [], vectors=[[1.0, 0.1]])
    assert first.event[0] in out.event


def test_two_sessions_of_one_node_never_share_stm(kb) -> None:
    a, b = new_session(), new_session()
    a, _ = do_observe(kb, a, ["hello"])
    b, _ = do_observe(kb, b, ["foo"])
    a, _ = do_observe(kb, a, ["world"])
    assert stm_of(a) == [["hello"], ["world"]] and stm_of(b) == [["foo"]]


def test_an_observation_without_vectors_needs_no_knowledge_base_and_one_with_vectors_does(kb) -> None:
    """The server skips the read transaction for observations without vectors; the answer is the same."""
    state = new_session()
    with_view, _ = do_observe(kb, state, ["b", "a"])
    without = observe(state, Observation(strings=("b", "a")), None)
    assert without.state == with_view
    with pytest.raises(ValueError, match="vectors"):
        observe(state, Observation(strings=(), vectors=((1.0, 0.0),)), None)
