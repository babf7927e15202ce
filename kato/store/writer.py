"""The write side of the LMDB store: how one batch of ops changes a node, and the thread that commits batches.

Every increment is read and written inside the write transaction (LMDB's writer lock serializes writers of all
processes), so concurrent learners never lose one. The learn itself is decided by the engine's pure `resolve`,
called here with the record as stored *now*, exactly as the in-memory store does.

The transactions themselves are begun and committed by `kato.store.writer_thread`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import lmdb

from kato.engine.knowledge import FinalizedMetrics, PatternRecord
from kato.engine.learning import LearnPlan, WriteSet, resolve
from kato.engine.metrics import finalize
from kato.engine.session import PendingVector
from kato.store import layout
from kato.store.codec import (
    NodeState,
    StoredSymbol,
    decode_affinity,
    decode_clock,
    decode_node,
    decode_pattern,
    decode_symbol,
    decode_vector,
    encode_affinity,
    encode_clock,
    encode_node,
    encode_pattern,
    encode_symbol,
    encode_vector,
)
from kato.store.interface import ClearNode, FinalizeTraining, Op, OpResult
from kato.store.reader import Generation, NodeCache, NodeReader


@dataclass(frozen=True, slots=True)
class StoreFinalized:
    """Store already-computed finalize-training metrics (the test adapter's `store_finalized`)."""

    metrics: Mapping[str, FinalizedMetrics]


class GroupWriter:
    """The batches of one write transaction.

    Per node, the scalars (counters, sequences, version), symbol statistics and affinities are read at most once
    and written once, at `flush`: a group of many small learns over a shared vocabulary then costs one put per
    touched symbol instead of one per learn. If any batch fails, the caller aborts the transaction and discards
    this object, so nothing written ahead of `flush` can leak into a commit.
    """

    def __init__(self, txn: lmdb.Transaction, dbs: Mapping[bytes, lmdb._Database]) -> None:
        self._txn = txn
        self._dbs = dbs
        self.clock = decode_clock(txn.get(layout.META_CLOCK, db=dbs[layout.META])) + 1
        self._nodes: dict[str, NodeWriter] = {}

    def run(self, node_id: str, ops: Sequence[Op | StoreFinalized]) -> list[OpResult]:
        node = self._nodes.get(node_id)
        if node is None:
            node = self._nodes[node_id] = NodeWriter(self._txn, self._dbs, node_id, self.clock)
        return node.run(ops)

    def flush(self) -> None:
        """Write everything held back; every node written in this transaction gets the new version."""
        for node in self._nodes.values():
            node.flush()
        self._txn.put(layout.META_CLOCK, encode_clock(self.clock), db=self._dbs[layout.META])


class NodeWriter:
    """Applies batches of ops to one node inside a write transaction (a batch raises to be left out whole)."""

    def __init__(self, txn: lmdb.Transaction, dbs: Mapping[bytes, lmdb._Database], node_id: str, clock: int) -> None:
        self._txn = txn
        self._dbs = dbs
        self._prefix = layout.node_prefix(node_id)
        self._clock = clock
        self._state = decode_node(txn.get(self._prefix, db=dbs[layout.NODES]))
        # symbol -> [frequency, pattern-member frequency, seq, key suffix], read once, written at flush
        self._symbols: dict[str, list] = {}
        self._dirty_symbols: set[str] = set()
        # symbol -> [seq, {emotive: value}, key suffix]
        self._affinity: dict[str, list] = {}
        self._dirty_affinity: set[str] = set()

    def run(self, ops: Sequence[Op | StoreFinalized]) -> list[OpResult]:
        results: list[OpResult] = []
        for op in ops:
            if isinstance(op, LearnPlan):
                results.append(self._learn(op))
            elif isinstance(op, PendingVector):
                self._queue_vector(op)
                results.append(None)
            elif isinstance(op, FinalizeTraining):
                self.flush()  # finalize reads the statistics through the transaction
                metrics = finalize(self._reader())
                self._store_finalized(metrics)
                results.append(len(metrics))
            elif isinstance(op, StoreFinalized):
                self._store_finalized(op.metrics)
                results.append(None)
            elif isinstance(op, ClearNode):
                self._clear()
                results.append(None)
            else:
                raise TypeError(f"unknown store operation {op!r}")
        return results

    def flush(self) -> None:
        txn, prefix = self._txn, self._prefix
        symbols_db = self._dbs[layout.SYMBOLS]
        for symbol in self._dirty_symbols:
            frequency, member, seq, suffix = self._symbols[symbol]
            text = symbol if layout.is_hashed_key(suffix) else None
            txn.put(prefix + suffix, encode_symbol(StoredSymbol(frequency, member, seq), text), db=symbols_db)
        self._dirty_symbols.clear()
        affinity_db = self._dbs[layout.AFFINITY]
        for symbol in self._dirty_affinity:
            seq, values, suffix = self._affinity[symbol]
            text = symbol if layout.is_hashed_key(suffix) else None
            txn.put(prefix + suffix, encode_affinity(seq, values, text), db=affinity_db)
        self._dirty_affinity.clear()
        self._state.version = self._clock
        txn.put(prefix, encode_node(self._state), db=self._dbs[layout.NODES])

    def _reader(self) -> NodeReader:
        """A view of the node as this transaction sees it now, with caches that die with it."""
        return NodeReader(self._txn, self._dbs, self._prefix, self._state, Generation(-1), NodeCache())

    # ------------------------------------------------------------------ vectors
    def _queue_vector(self, vector: PendingVector) -> None:
        key = layout.seq_key(self._prefix, self._state.pending_next)
        self._txn.put(key, encode_vector(vector.name, vector.values), db=self._dbs[layout.VECTORS_PENDING])
        self._state.pending_next += 1

    def _index_pending(self) -> None:
        """Same rules as the in-memory store: the first indexed vector locks the dimension, vectors of another
        dimension are dropped, a name indexed again keeps its place and takes the new values."""
        state = self._state
        if state.pending_next == 0:  # nothing queued since the last learn (or clear)
            return
        pending_db = self._dbs[layout.VECTORS_PENDING]
        cursor = self._txn.cursor(db=pending_db)
        pending = []
        if cursor.set_range(self._prefix):
            for key, raw in cursor:
                if not key.startswith(self._prefix):
                    break
                pending.append((key, raw))
        names_db, vectors_db = self._dbs[layout.VECTOR_NAMES], self._dbs[layout.VECTORS]
        for key, raw in pending:
            name, values = decode_vector(raw)
            if state.dimension < 0:
                state.dimension = len(values)
            if len(values) == state.dimension:
                name_key = self._prefix + layout.text_key(name)
                stored = self._txn.get(name_key, db=names_db)
                if stored is None:
                    index = state.indexed_count
                    state.indexed_count += 1
                    self._txn.put(name_key, layout.seq_bytes(index), db=names_db)
                else:
                    index = layout.seq_of(stored)
                self._txn.put(layout.seq_key(self._prefix, index), raw, db=vectors_db)
            self._txn.delete(key, db=pending_db)
        state.pending_next = 0
        state.vectors_version = self._clock

    # ------------------------------------------------------------------ learn
    def _learn(self, plan: LearnPlan) -> WriteSet | None:
        self._index_pending()
        if plan.name is None:
            return resolve(plan, None)
        key = layout.pattern_key(self._prefix, plan.name)
        raw = self._txn.get(key, db=self._dbs[layout.PATTERNS])
        seq, existing = (None, None) if raw is None else decode_pattern(plan.name, raw)
        write = resolve(plan, existing)
        if write is not None:
            self._apply(key, write, seq)
        return write

    def _symbol(self, symbol: str) -> list:
        entry = self._symbols.get(symbol)
        if entry is None:
            suffix = layout.text_key(symbol)
            raw = self._txn.get(self._prefix + suffix, db=self._dbs[layout.SYMBOLS])
            if raw is None:
                entry = [0, 0, self._state.vocabulary, suffix]
                self._state.vocabulary += 1
            else:
                stored = decode_symbol(raw)
                entry = [stored.frequency, stored.pattern_member_frequency, stored.seq, suffix]
            self._symbols[symbol] = entry
        return entry

    def _apply(self, key: bytes, write: WriteSet, seq: int | None) -> None:
        txn, dbs, state, prefix = self._txn, self._dbs, self._state, self._prefix
        record = write.pattern
        if seq is None:
            seq = state.total_unique_patterns
        txn.put(key, encode_pattern(record, seq), db=dbs[layout.PATTERNS])
        entries = {symbol: self._symbol(symbol) for symbol in write.symbol_frequency}
        if write.is_new:
            value = layout.indexed_name(seq, record.name)
            index_db = dbs[layout.SYMBOL_INDEX]
            for entry in entries.values():
                txn.put(prefix + entry[3], value, db=index_db)
            txn.put(prefix + layout.text_key(record.first_symbol), value, db=dbs[layout.FIRST_SYMBOL])
            txn.put(layout.seq_key(prefix, seq), layout.encode_text(record.name), db=dbs[layout.PATTERN_ORDER])
        member = write.pattern_member_frequency
        for symbol, delta in write.symbol_frequency.items():
            entry = entries[symbol]
            entry[0] += delta
            entry[1] += member.get(symbol, 0)
        self._dirty_symbols.update(entries)
        d = write.counters
        state.total_symbols_in_patterns_frequencies += d.total_symbols_in_patterns_frequencies
        state.total_pattern_frequencies += d.total_pattern_frequencies
        state.total_unique_patterns += d.total_unique_patterns
        for symbol, deltas in write.affinity.items():
            stored = self._affinity_entry(symbol)[1]
            for emotive, value in deltas.items():
                stored[emotive] = stored.get(emotive, 0.0) + value
            self._dirty_affinity.add(symbol)

    def _affinity_entry(self, symbol: str) -> list:
        entry = self._affinity.get(symbol)
        if entry is None:
            suffix = layout.text_key(symbol)
            raw = self._txn.get(self._prefix + suffix, db=self._dbs[layout.AFFINITY])
            if raw is None:
                entry = [self._state.affinity_count, {}, suffix]
                self._state.affinity_count += 1
            else:
                seq, values, _ = decode_affinity(raw)
                entry = [seq, values, suffix]
            self._affinity[symbol] = entry
        return entry

    # ------------------------------------------------------------------ finalize, clear
    def _store_finalized(self, metrics: Mapping[str, FinalizedMetrics]) -> None:
        patterns_db = self._dbs[layout.PATTERNS]
        for name, finalized in metrics.items():
            key = layout.pattern_key(self._prefix, name)
            raw = self._txn.get(key, db=patterns_db)
            if raw is None:
                raise KeyError(f"no pattern {name!r} to finalize")
            seq, record = decode_pattern(name, raw)
            updated: PatternRecord = dataclasses.replace(record, finalized=finalized)
            self._txn.put(key, encode_pattern(updated, seq), db=patterns_db)

    def _clear(self) -> None:
        """Delete every key under this node's prefix, in every per-node database; other nodes are untouched.

        The node's record in `nodes` is written again at flush, all zeros but for a fresh version and `cleared_at`,
        so caches of the old contents can never be taken for the new ones."""
        for spec in layout.DATABASES:
            if not spec.per_node:
                continue
            cursor = self._txn.cursor(db=self._dbs[spec.name])
            if not cursor.set_range(self._prefix):
                continue
            while cursor.key().startswith(self._prefix):
                if not cursor.delete(dupdata=spec.dupsort):
                    break
        self._state = NodeState(cleared_at=self._clock)
        self._symbols.clear()
        self._dirty_symbols.clear()
        self._affinity.clear()
        self._dirty_affinity.clear()
