"""An in-memory knowledge base: the reference implementation of `KnowledgeView` for tests and benchmarks.

It applies learn plans through the same pure `resolve` the LMDB writer uses, so both stores agree by construction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext

import numpy as np

from kato.engine.columnar import ColumnarIndex
from kato.engine.knowledge import (
    SCORE_MEMO_SIZE,
    BoundedMemo,
    Counters,
    FinalizedMetrics,
    PatternRecord,
    SymbolStats,
)
from kato.engine.learning import LearnPlan, WriteSet, resolve
from kato.engine.matching import AlignmentMemo
from kato.engine.metrics import finalize
from kato.engine.session import PendingVector
from kato.store.interface import ClearNode, FinalizeTraining, Op, OpResult


class MemoryKnowledgeBase:
    """One node's long-term memory held in dicts."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self._patterns: dict[str, PatternRecord] = {}
        self._symbols: dict[str, SymbolStats] = {}
        self._by_symbol: dict[str, list[str]] = {}
        self._by_first: dict[str, list[str]] = {}
        self._counters = Counters()
        self._affinity: dict[str, dict[str, float]] = {}
        self._pending: list[PendingVector] = []
        self._indexed: dict[str, tuple[float, ...]] = {}
        self._matrix: np.ndarray | None = None
        self._columnar = ColumnarIndex()
        self._alignments = AlignmentMemo()
        self._scores: tuple[int, BoundedMemo | None] = (-1, None)
        self.version = 0

    # ------------------------------------------------------------------ reads (KnowledgeView)
    def pattern(self, name: str) -> PatternRecord | None:
        return self._patterns.get(name)

    def patterns(self) -> Iterable[PatternRecord]:
        return self._patterns.values()

    def pattern_count(self) -> int:
        return len(self._patterns)

    def patterns_with_symbol(self, symbol: str) -> Sequence[str]:
        return self._by_symbol.get(symbol, ())

    def patterns_starting_with(self, symbol: str) -> Sequence[str]:
        return self._by_first.get(symbol, ())

    def symbol_stats(self, symbol: str) -> SymbolStats | None:
        return self._symbols.get(symbol)

    def all_symbol_stats(self) -> Mapping[str, SymbolStats]:
        return self._symbols

    def vocabulary_size(self) -> int:
        return len(self._symbols)

    def counters(self) -> Counters:
        return self._counters

    def affinity(self, symbol: str) -> Mapping[str, float]:
        return self._affinity.get(symbol, {})

    def all_affinities(self) -> Mapping[str, Mapping[str, float]]:
        return self._affinity

    def columnar(self) -> ColumnarIndex:
        return self._columnar

    def alignment_memo(self) -> AlignmentMemo:
        return self._alignments

    def score_memo(self) -> BoundedMemo:
        """Per-pattern scores as of this version; every write bumps the version (and a clear makes a new memo)."""
        version, memo = self._scores
        if memo is None or version != self.version:
            memo = BoundedMemo(SCORE_MEMO_SIZE)
            self._scores = (self.version, memo)
        return memo

    def nearest_vectors(self, vector: Sequence[float], k: int) -> list[str]:
        if not self._indexed:
            return []
        names = list(self._indexed)
        if self._matrix is None:
            self._matrix = np.array([self._indexed[n] for n in names], dtype=np.float64)
        if self._matrix.shape[1] != len(vector):
            return []
        distances = np.linalg.norm(self._matrix - np.asarray(vector, dtype=np.float64), axis=1)
        order = np.argsort(distances, kind="stable")[:k]
        return [names[i] for i in order]

    # ------------------------------------------------------------------ writes
    def queue_vector(self, vector: PendingVector) -> None:
        self._pending.append(vector)
        self.version += 1

    def learn(self, plan: LearnPlan) -> WriteSet | None:
        """Apply one learn: index pending vectors, then the write-set of the plan against what is stored."""
        self._index_pending()
        write = resolve(plan, self._patterns.get(plan.name) if plan.name else None)
        if write is not None:
            self.apply(write)
        self.version += 1
        return write

    def apply(self, write: WriteSet) -> None:
        self.version += 1  # first: memoized scores of the old version must not outlive a partial write
        record = write.pattern
        self._patterns[record.name] = record
        if write.is_new:
            self._columnar.append(record.name, record.events)
            for symbol in write.symbol_frequency:
                self._by_symbol.setdefault(symbol, []).append(record.name)
            self._by_first.setdefault(record.first_symbol, []).append(record.name)
        for symbol, delta in write.symbol_frequency.items():
            old = self._symbols.get(symbol, SymbolStats())
            self._symbols[symbol] = SymbolStats(
                old.frequency + delta,
                old.pattern_member_frequency + write.pattern_member_frequency.get(symbol, 0),
            )
        c, d = self._counters, write.counters
        self._counters = Counters(
            c.total_symbols_in_patterns_frequencies + d.total_symbols_in_patterns_frequencies,
            c.total_pattern_frequencies + d.total_pattern_frequencies,
            c.total_unique_patterns + d.total_unique_patterns,
        )
        for symbol, deltas in write.affinity.items():
            stored = self._affinity.setdefault(symbol, {})
            for emotive, value in deltas.items():
                stored[emotive] = stored.get(emotive, 0.0) + value

    def store_finalized(self, metrics: Mapping[str, FinalizedMetrics]) -> None:
        for name, finalized in metrics.items():
            record = self._patterns[name]
            self._patterns[name] = PatternRecord(
                record.name, record.events, record.length, record.frequency,
                record.emotives, record.metadata, finalized,
            )
        self.version += 1

    def _index_pending(self) -> None:
        dimension = len(next(iter(self._indexed.values()))) if self._indexed else None
        for vector in self._pending:
            if dimension is None:
                dimension = len(vector.values)
            if len(vector.values) == dimension:
                self._indexed[vector.name] = vector.values
        if self._pending:
            self._matrix = None
        self._pending = []


class MemoryStore:
    """`KnowledgeStore` + `SessionSnapshots` in process memory: one `MemoryKnowledgeBase` per node id."""

    def __init__(self) -> None:
        self._nodes: dict[str, MemoryKnowledgeBase] = {}
        self._sessions: dict[str, bytes] = {}

    def node(self, node_id: str) -> MemoryKnowledgeBase:
        kb = self._nodes.get(node_id)
        if kb is None:
            kb = self._nodes[node_id] = MemoryKnowledgeBase()
        return kb

    def view(self, node_id: str) -> AbstractContextManager[MemoryKnowledgeBase]:
        return nullcontext(self.node(node_id))

    async def write(self, node_id: str, ops: Sequence[Op]) -> list[OpResult]:
        return apply_ops(self.node(node_id), ops)

    def close(self) -> None:
        pass

    def put(self, session_id: str, data: bytes) -> None:
        self._sessions[session_id] = data

    def get(self, session_id: str) -> bytes | None:
        return self._sessions.get(session_id)

    def delete(self, session_id: str) -> bool:
        return self._sessions.pop(session_id, None) is not None

    def items(self) -> Iterator[tuple[str, bytes]]:
        return iter(list(self._sessions.items()))

    def heads(self, size: int) -> Iterator[tuple[str, bytes]]:
        return iter([(session_id, data[:size]) for session_id, data in self._sessions.items()])


def apply_ops(kb: MemoryKnowledgeBase, ops: Sequence[Op]) -> list[OpResult]:
    results: list[OpResult] = []
    for op in ops:
        if isinstance(op, PendingVector):
            kb.queue_vector(op)
            results.append(None)
        elif isinstance(op, LearnPlan):
            results.append(kb.learn(op))
        elif isinstance(op, FinalizeTraining):
            metrics = finalize(kb)
            kb.store_finalized(metrics)
            results.append(len(metrics))
        elif isinstance(op, ClearNode):
            kb.clear()
            results.append(None)
        else:
            raise TypeError(f"unknown store operation {op!r}")
    return results
