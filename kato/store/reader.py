"""The read side of the LMDB store: a `NodeView` over one transaction, and the per-process caches behind it.

A prediction looks up thousands of patterns; decoding each from LMDB every time would dominate its cost. These
caches make repeated reads as cheap as dict lookups without ever serving a stale value:

- a `Generation` holds what was decoded at one node *version* (the version changes on every write and never
  repeats). A view whose transaction sees that version may use it blindly; a write starts a new generation, and
  views opened earlier keep their own, so a view is consistent with its transaction even while writes land.
- `NodeCache.records` survives generations: name -> (stored bytes, seq, record). A new generation re-reads the
  bytes from LMDB (one lookup, no decode) and reuses the record when the bytes are equal; most patterns do not
  change between two writes, so a learn costs the readers one re-validation per pattern, not one decode.
- the engine's column index (`columnar()`) and the matrix of indexed vectors are kept per node and validated by
  what makes them change: patterns only grow between two clears, vectors carry their own version.
- the engine's memo of projection alignments (`alignment_memo()`) is kept per node as is: its values do not
  depend on the knowledge, so no write invalidates it; it is bounded and dropped with the node's caches. The
  engine's memo of per-pattern scores (`score_memo()`) does depend on the knowledge, so it lives in the generation.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

import lmdb
import numpy as np

from kato.engine.columnar import ColumnarIndex
from kato.engine.knowledge import SCORE_MEMO_SIZE, BoundedMemo, Counters, PatternRecord, SymbolStats
from kato.engine.matching import AlignmentMemo
from kato.store import layout
from kato.store.codec import NodeState, decode_affinity, decode_pattern, decode_symbol, decode_vector, symbol_text_of

_MISSING = object()
DEFAULT_RECORD_CACHE = 1_000_000


class Generation:
    """What one process decoded of one node at one version; valid exactly while that version holds."""

    __slots__ = ("affinity", "all_affinity", "all_stats", "order", "records", "scores", "starting_with", "stats",
                 "version", "with_symbol")

    def __init__(self, version: int) -> None:
        self.version = version
        self.records: dict[str, PatternRecord] = {}
        self.with_symbol: dict[str, tuple[str, ...]] = {}
        self.starting_with: dict[str, tuple[str, ...]] = {}
        self.stats: dict[str, SymbolStats | None] = {}
        self.affinity: dict[str, dict[str, float]] = {}
        self.all_stats: dict[str, SymbolStats] | None = None
        self.all_affinity: dict[str, dict[str, float]] | None = None
        self.order: tuple[PatternRecord, ...] | None = None
        self.scores = BoundedMemo(SCORE_MEMO_SIZE)  # the engine's per-pattern scores, which depend on the version


class NodeCache:
    """Per-process caches of one node (see the module docstring)."""

    __slots__ = ("alignments", "columnar", "generation", "lock", "max_records", "records", "vectors")

    def __init__(self, max_records: int = DEFAULT_RECORD_CACHE) -> None:
        self.generation = Generation(-1)
        self.records: dict[str, tuple[bytes, int, PatternRecord]] = {}
        self.max_records = max_records
        self.vectors: tuple[int, list[str], np.ndarray] | None = None
        # (cleared_at, index): patterns only grow between two clears, so the index is extended, never rebuilt
        self.columnar: tuple[int, ColumnarIndex] | None = None
        self.alignments = AlignmentMemo()
        self.lock = threading.Lock()

    def generation_for(self, version: int) -> Generation:
        generation = self.generation
        if generation.version != version:
            generation = self.generation = Generation(version)
        return generation

    def decoded(self, name: str, raw: bytes) -> tuple[int, PatternRecord]:
        """(seq, record) of stored bytes, decoding only when these bytes were not decoded before."""
        entry = self.records.get(name)
        if entry is not None and entry[0] == raw:
            return entry[1], entry[2]
        seq, record = decode_pattern(name, raw)
        if len(self.records) >= self.max_records:
            self.records.clear()
        self.records[name] = (raw, seq, record)
        return seq, record


class NodeReader:
    """`NodeView` of one node as of one transaction (read-only, or the writer's own for finalize-training).

    Valid only while the transaction is open; every method returns plain values (tuples, dicts, lists) that stay
    valid afterwards.
    """

    __slots__ = ("_cache", "_dbs", "_gen", "_prefix", "_state", "_txn")

    def __init__(
        self,
        txn: lmdb.Transaction,
        dbs: Mapping[bytes, lmdb._Database],
        prefix: bytes,
        state: NodeState,
        generation: Generation,
        cache: NodeCache,
    ) -> None:
        self._txn = txn
        self._dbs = dbs
        self._prefix = prefix
        self._state = state
        self._gen = generation
        self._cache = cache

    @property
    def version(self) -> int:
        return self._state.version

    # ------------------------------------------------------------------ patterns
    def pattern(self, name: str) -> PatternRecord | None:
        record = self._gen.records.get(name)
        if record is not None:
            return record
        raw = self._txn.get(self._prefix + layout.text_key(name), db=self._dbs[layout.PATTERNS])
        if raw is None:
            return None
        record = self._cache.decoded(name, raw)[1]
        self._gen.records[name] = record
        return record

    def patterns(self) -> list[PatternRecord]:
        """Every pattern in first-learn order (a list: it must outlive the transaction)."""
        gen = self._gen
        if gen.order is None:
            prefix, size = self._prefix, len(self._prefix)
            found: list[tuple[int, PatternRecord]] = []
            cursor = self._txn.cursor(db=self._dbs[layout.PATTERNS])
            if cursor.set_range(prefix):
                for key, raw in cursor:
                    if not key.startswith(prefix):
                        break
                    name = layout.name_from_pattern_key(size, key)
                    seq, record = self._cache.decoded(name, raw)
                    gen.records[name] = record
                    found.append((seq, record))
            found.sort(key=lambda item: item[0])
            gen.order = tuple(record for _, record in found)
        return list(gen.order)

    def pattern_count(self) -> int:
        return self._state.total_unique_patterns

    def patterns_with_symbol(self, symbol: str) -> Sequence[str]:
        names = self._gen.with_symbol.get(symbol)
        if names is None:
            names = self._gen.with_symbol[symbol] = self._indexed_names(layout.SYMBOL_INDEX, symbol)
        return names

    def patterns_starting_with(self, symbol: str) -> Sequence[str]:
        names = self._gen.starting_with.get(symbol)
        if names is None:
            names = self._gen.starting_with[symbol] = self._indexed_names(layout.FIRST_SYMBOL, symbol)
        return names

    def _indexed_names(self, db: bytes, symbol: str) -> tuple[str, ...]:
        cursor = self._txn.cursor(db=self._dbs[db])
        if not cursor.set_key(self._prefix + layout.text_key(symbol)):
            return ()
        start = layout.SEQ_SIZE
        return tuple([value[start:].decode("utf-8", "surrogatepass") for value in cursor.iternext_dup(keys=False)])

    def columnar(self) -> ColumnarIndex:
        """The node's column index of pattern symbols (`kato.engine.columnar`) as of this view.

        One index per process and node, extended with the patterns learned since it was last used (read in
        first-learn order from `pattern_order`); a clear starts a new one. A view older than the shared index gets
        a private one, so it never sees patterns its transaction does not hold. Use it within the view.
        """
        state, cache = self._state, self._cache
        count = state.total_unique_patterns
        with cache.lock:
            entry = cache.columnar
            if entry is None or entry[0] != state.cleared_at:
                entry = cache.columnar = (state.cleared_at, ColumnarIndex())
            index = entry[1]
            if len(index) > count:
                index = ColumnarIndex()
            if len(index) < count:
                index.extend(self._patterns_in_order(len(index), count))
            return index

    def alignment_memo(self) -> AlignmentMemo:
        """The node's memo of projection alignments (`kato.engine.matching.AlignmentMemo`), shared by its views."""
        return self._cache.alignments

    def score_memo(self) -> BoundedMemo:
        """The engine's memo of per-pattern scores for this view's version (`kato.engine.knowledge.BoundedMemo`)."""
        return self._gen.scores

    def _patterns_in_order(self, start: int, stop: int) -> list[tuple[str, tuple[tuple[str, ...], ...]]]:
        """(name, events) of the patterns with first-learn sequence numbers start..stop-1."""
        out = []
        cursor = self._txn.cursor(db=self._dbs[layout.PATTERN_ORDER])
        if not cursor.set_key(layout.seq_key(self._prefix, start)):
            raise LookupError(f"pattern order index has no entry {start}")
        for raw_name in cursor.iternext(keys=False):
            if len(out) == stop - start:
                break
            record = self.pattern(layout.decode_text(raw_name))
            if record is None:
                raise LookupError("pattern order index names a missing pattern")
            out.append((record.name, record.events))
        return out

    # ------------------------------------------------------------------ symbols and counters
    def symbol_stats(self, symbol: str) -> SymbolStats | None:
        stats = self._gen.stats.get(symbol, _MISSING)
        if stats is _MISSING:
            raw = self._txn.get(self._prefix + layout.text_key(symbol), db=self._dbs[layout.SYMBOLS])
            if raw is None:
                stats = None
            else:
                stored = decode_symbol(raw)
                stats = SymbolStats(stored.frequency, stored.pattern_member_frequency)
            self._gen.stats[symbol] = stats
        return stats  # type: ignore[return-value]

    def all_symbol_stats(self) -> Mapping[str, SymbolStats]:
        """Every learned symbol, in first-seen order like the in-memory store."""
        gen = self._gen
        if gen.all_stats is None:
            found = []
            for suffix, raw in self._node_items(layout.SYMBOLS):
                stored = decode_symbol(raw)
                text = layout.text_from_key(suffix)
                found.append((stored.seq, symbol_text_of(raw) if text is None else text,
                              SymbolStats(stored.frequency, stored.pattern_member_frequency)))
            found.sort(key=lambda item: item[0])
            gen.all_stats = {symbol: stats for _, symbol, stats in found}
        return gen.all_stats

    def vocabulary_size(self) -> int:
        return self._state.vocabulary

    def counters(self) -> Counters:
        s = self._state
        return Counters(s.total_symbols_in_patterns_frequencies, s.total_pattern_frequencies, s.total_unique_patterns)

    def affinity(self, symbol: str) -> Mapping[str, float]:
        values = self._gen.affinity.get(symbol)
        if values is None:
            raw = self._txn.get(self._prefix + layout.text_key(symbol), db=self._dbs[layout.AFFINITY])
            values = {} if raw is None else decode_affinity(raw)[1]
            self._gen.affinity[symbol] = values
        return values

    def all_affinities(self) -> Mapping[str, Mapping[str, float]]:
        """Every symbol's affinity, in the order symbols first received one (as the in-memory store)."""
        gen = self._gen
        if gen.all_affinity is None:
            found = []
            for suffix, raw in self._node_items(layout.AFFINITY):
                seq, values, text = decode_affinity(raw)
                found.append((seq, layout.text_from_key(suffix) if text is None else text, values))
            found.sort(key=lambda item: item[0])
            gen.all_affinity = {symbol: values for _, symbol, values in found}
        return gen.all_affinity

    def _node_items(self, db: bytes) -> list[tuple[bytes, bytes]]:
        """(key suffix, value) of every key of this node in `db`."""
        prefix, size = self._prefix, len(self._prefix)
        out = []
        cursor = self._txn.cursor(db=self._dbs[db])
        if cursor.set_range(prefix):
            for key, value in cursor:
                if not key.startswith(prefix):
                    break
                out.append((key[size:], value))
        return out

    # ------------------------------------------------------------------ vectors
    def nearest_vectors(self, vector: Sequence[float], k: int) -> list[str]:
        """Exact Euclidean search over the indexed vectors; ties keep index order (same as the in-memory store)."""
        names, matrix = self._indexed_vectors()
        if not names or matrix.shape[1] != len(vector):
            return []
        distances = np.linalg.norm(matrix - np.asarray(vector, dtype=np.float64), axis=1)
        order = np.argsort(distances, kind="stable")[:k]
        return [names[i] for i in order]

    def _indexed_vectors(self) -> tuple[list[str], np.ndarray]:
        state = self._state
        cached = self._cache.vectors
        if cached is not None and cached[0] == state.vectors_version:
            return cached[1], cached[2]
        names: list[str] = []
        rows = []
        for _, raw in self._node_items(layout.VECTORS):
            name, values = decode_vector(raw)
            names.append(name)
            rows.append(values)
        matrix = np.empty((len(rows), max(state.dimension, 0)), dtype=np.float64)
        for i, row in enumerate(rows):
            matrix[i] = row
        self._cache.vectors = (state.vectors_version, names, matrix)
        return names, matrix
