"""Keys never collide between nodes or texts, and every value reads back exactly as written."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kato.engine.knowledge import FinalizedMetrics, PatternRecord
from kato.store import layout
from kato.store.codec import (
    NodeState,
    StoredSymbol,
    decode_affinity,
    decode_node,
    decode_pattern,
    decode_symbol,
    decode_vector,
    encode_affinity,
    encode_node,
    encode_pattern,
    encode_symbol,
    encode_vector,
    symbol_text_of,
)

any_text = st.text(alphabet=st.characters(), max_size=200) | st.text(min_size=300, max_size=700)


@given(any_text, any_text, st.binary(max_size=8), st.binary(max_size=8))
def test_no_node_prefix_is_a_prefix_of_another_nodes_keys(a: str, b: str, tail_a: bytes, tail_b: bytes) -> None:
    if a == b:
        return
    key_a, key_b = layout.node_prefix(a) + tail_a, layout.node_prefix(b) + tail_b
    assert not key_a.startswith(layout.node_prefix(b))
    assert not key_b.startswith(layout.node_prefix(a))


@given(any_text, any_text)
def test_text_keys_are_distinct_and_fit_lmdb(a: str, b: str) -> None:
    for text in (a, b):
        key = layout.node_prefix(text) + layout.text_key(text)
        assert len(key) <= 511
        if not layout.is_hashed_key(layout.text_key(text)):
            assert layout.text_from_key(layout.text_key(text)) == text
    assert (layout.text_key(a) == layout.text_key(b)) == (a == b)


def test_prefix_nodes_and_reference_merged_ids_get_distinct_prefixes() -> None:
    ids = ["", "a", "ab", "a-b", "a_b", "a.b", "a\x00", "\x00", "n" * 128, "n" * 129, "n" * 1000, "\ud800"]
    prefixes = [layout.node_prefix(i) for i in ids]
    assert len(set(prefixes)) == len(ids)


def _record(**overrides: object) -> PatternRecord:
    base: dict = {
        "name": "a" * 40,
        "events": (("x", "y"), ("z",)),
        "length": 3,
        "frequency": 7,
        "emotives": ({"joy": 0.1 + 0.2, "fear": -1e-300}, {"joy": 1}),
        "metadata": {"k": ("1", "None"), "m": ()},
        "finalized": FinalizedMetrics(1.0 / 3, 0.5, 2.0**-60, {"x": 1 / 3, "y": 1 / 3, "z": 1 / 3}),
    }
    base.update(overrides)
    return PatternRecord(**base)


@pytest.mark.parametrize("record", [
    _record(),
    _record(finalized=None, emotives=(), metadata={}),
    _record(emotives=({"nan": math.inf, "neg": -math.inf},)),
    _record(events=(("\ud800", "é"), ("",))),
    _record(emotives=({"big": 2**70},)),
    _record(emotives=({"flag": True},)),
])
def test_pattern_records_round_trip_exactly(record: PatternRecord) -> None:
    seq, decoded = decode_pattern(record.name, encode_pattern(record, 41))
    assert seq == 41
    assert decoded == record
    assert repr(decoded) == repr(record)  # same types all the way down (tuples, ints vs floats, bools)
    assert [type(v) for e in decoded.emotives for v in e.values()] == [
        type(v) for e in record.emotives for v in e.values()
    ]


def test_nan_emotives_survive() -> None:
    record = _record(emotives=({"e": math.nan},))
    _, decoded = decode_pattern(record.name, encode_pattern(record, 0))
    assert math.isnan(decoded.emotives[0]["e"])


@given(st.dictionaries(st.text(), st.floats(allow_nan=False)), st.integers(0, 2**40), st.none() | st.text())
def test_affinities_round_trip(values: dict[str, float], seq: int, text: str | None) -> None:
    assert decode_affinity(encode_affinity(seq, values, text)) == (seq, values, text)


@given(st.lists(st.floats(allow_nan=False), max_size=20), st.text(max_size=60))
def test_vectors_round_trip(values: list[float], name: str) -> None:
    decoded_name, decoded = decode_vector(encode_vector(name, values))
    assert decoded_name == name
    assert decoded.tolist() == values


def test_symbols_and_node_state_round_trip() -> None:
    stored = StoredSymbol(10, 3, 7)
    assert decode_symbol(encode_symbol(stored, None)) == stored
    raw = encode_symbol(stored, "long symbol")
    assert decode_symbol(raw) == stored and symbol_text_of(raw) == "long symbol"
    state = NodeState(*range(1, 12))
    assert decode_node(encode_node(state)) == state
    assert decode_node(None) == NodeState()
