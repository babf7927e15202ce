"""Value encodings of the LMDB store: compact, fast to decode, and exact on round trip.

Structured values (pattern records, affinities) are orjson arrays/objects: orjson writes the shortest repr of a
float, which reads back to the same float, and keeps dict insertion order. JSON cannot carry everything a client
can send, though: NaN/Infinity (orjson would write null), lone surrogates, integers beyond 64 bits, non-str keys.
Those rare values fall back to `marshal` behind a tag byte, so a round trip is exact for every input rather than
for the common one. Fixed-shape numbers (counters, statistics) are packed structs; vectors are raw float64.
"""

from __future__ import annotations

import marshal
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from kato.engine.knowledge import FinalizedMetrics, PatternRecord
from kato.store.layout import decode_text, encode_text

_MARSHAL_TAG = b"M"  # orjson output always starts with "[" or "{", never "M"
_MARSHAL_BYTE = _MARSHAL_TAG[0]


def _dumps(payload: Any, finite_floats: bool) -> bytes:
    if finite_floats:
        try:
            return orjson.dumps(payload)
        except (orjson.JSONEncodeError, TypeError):
            pass
    return _MARSHAL_TAG + marshal.dumps(payload)


def _loads(raw: bytes | memoryview) -> Any:
    if raw[0] == _MARSHAL_BYTE:
        return marshal.loads(bytes(raw[1:]))
    return orjson.loads(raw)


def _finite(values: Any) -> bool:
    return all(not isinstance(v, float) or math.isfinite(v) for v in values)


# ---------------------------------------------------------------------------------------------- pattern records
def encode_pattern(record: PatternRecord, seq: int) -> bytes:
    """[seq, events, length, frequency, emotives, metadata, finalized|null]; the name is the key."""
    finalized = record.finalized
    fin: tuple[Any, ...] | None = None
    finite = all(_finite(entry.values()) for entry in record.emotives)
    if finalized is not None:
        fin = (finalized.entropy, finalized.normalized_entropy, finalized.global_normalized_entropy,
               finalized.tf_vector)
        finite = finite and _finite(fin[:3]) and _finite(finalized.tf_vector.values())
    payload = (seq, record.events, record.length, record.frequency, record.emotives, record.metadata, fin)
    if finite:
        try:
            return orjson.dumps(payload)
        except (orjson.JSONEncodeError, TypeError):
            pass
    plain = (
        seq, record.events, record.length, record.frequency, tuple(dict(entry) for entry in record.emotives),
        {key: tuple(values) for key, values in record.metadata.items()},
        None if fin is None else (*fin[:3], dict(fin[3])),
    )
    return _MARSHAL_TAG + marshal.dumps(plain)


def decode_pattern(name: str, raw: bytes | memoryview) -> tuple[int, PatternRecord]:
    """(first-learn sequence number, record) with the exact Python types the in-memory store holds."""
    seq, events, length, frequency, emotives, metadata, fin = _loads(raw)
    finalized = None
    if fin is not None:
        finalized = FinalizedMetrics(fin[0], fin[1], fin[2], fin[3])
    record = PatternRecord(
        name,
        tuple([tuple(event) for event in events]),
        length,
        frequency,
        tuple(emotives),
        {key: tuple(values) for key, values in metadata.items()},
        finalized,
    )
    return seq, record


# ---------------------------------------------------------------------------------------------- affinities
def encode_affinity(seq: int, values: Mapping[str, float], text: str | None) -> bytes:
    """[first-seen sequence, {emotive: value}, symbol if its key is hashed else null]."""
    payload = dict(values)
    return _dumps([seq, payload, text], _finite(payload.values()))


def decode_affinity(raw: bytes | memoryview) -> tuple[int, dict[str, float], str | None]:
    seq, values, text = _loads(raw)
    return seq, values, text


# ---------------------------------------------------------------------------------------------- symbol statistics
_STATS = struct.Struct(">qqq")


@dataclass(frozen=True, slots=True)
class StoredSymbol:
    frequency: int
    pattern_member_frequency: int
    seq: int  # first-seen order within the node


def encode_symbol(stats: StoredSymbol, text: str | None) -> bytes:
    """Packed numbers, followed by the symbol itself only when its key had to be hashed."""
    packed = _STATS.pack(stats.frequency, stats.pattern_member_frequency, stats.seq)
    return packed if text is None else packed + encode_text(text)


def decode_symbol(raw: bytes | memoryview) -> StoredSymbol:
    return StoredSymbol(*_STATS.unpack_from(raw))


def symbol_text_of(raw: bytes | memoryview) -> str:
    return decode_text(raw[_STATS.size:])


# ---------------------------------------------------------------------------------------------- node state
_NODE = struct.Struct(">11q")


@dataclass(slots=True)
class NodeState:
    """The per-node scalars, read and written once per batch.

    `version` is the environment's write clock at the node's last write: it changes on every write and never
    repeats (not even across a clear), so a process can validate its caches by comparing one integer.
    `vectors_version` changes only when the set of indexed vectors changes; `cleared_at` is the clock of the
    node's last clear (between two clears, patterns and their first-learn order only grow).
    """

    total_symbols_in_patterns_frequencies: int = 0
    total_pattern_frequencies: int = 0
    total_unique_patterns: int = 0
    vocabulary: int = 0
    affinity_count: int = 0
    pending_next: int = 0
    indexed_count: int = 0
    dimension: int = -1
    version: int = 0
    vectors_version: int = 0
    cleared_at: int = 0


def encode_node(state: NodeState) -> bytes:
    return _NODE.pack(
        state.total_symbols_in_patterns_frequencies, state.total_pattern_frequencies, state.total_unique_patterns,
        state.vocabulary, state.affinity_count, state.pending_next, state.indexed_count, state.dimension, state.version,
        state.vectors_version, state.cleared_at,
    )


def decode_node(raw: bytes | memoryview | None) -> NodeState:
    if raw is None:
        return NodeState()
    return NodeState(*_NODE.unpack_from(raw))


# ---------------------------------------------------------------------------------------------- clock
_CLOCK = struct.Struct(">Q")


def encode_clock(value: int) -> bytes:
    return _CLOCK.pack(value)


def decode_clock(raw: bytes | memoryview | None) -> int:
    return 0 if raw is None else _CLOCK.unpack_from(raw)[0]


# ---------------------------------------------------------------------------------------------- vectors
_NAME_LEN = struct.Struct(">H")


def encode_vector(name: str, values: Sequence[float]) -> bytes:
    """Name length + name + little-endian float64 values: exact for every float, NaN included."""
    raw_name = encode_text(name)
    return _NAME_LEN.pack(len(raw_name)) + raw_name + np.asarray(values, dtype="<f8").tobytes()


def decode_vector(raw: bytes | memoryview) -> tuple[str, np.ndarray]:
    (size,) = _NAME_LEN.unpack_from(raw)
    start = _NAME_LEN.size
    name = decode_text(raw[start:start + size])
    return name, np.frombuffer(bytes(raw[start + size:]), dtype="<f8")
