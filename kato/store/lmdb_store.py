"""`KnowledgeStore` on LMDB: read views per node, group-committed write batches, one environment per data dir.

Reads run on the caller's thread in a read transaction (readers never block, not even on writers of other
processes). Writes are queued to the process's writer thread (`kato.store.writer`) and the caller's future is
resolved after the commit that holds its batch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from kato import forks
from kato.engine.columnar import ColumnarIndex
from kato.engine.knowledge import Counters, FinalizedMetrics, PatternRecord, SymbolStats
from kato.engine.learning import LearnPlan, WriteSet
from kato.engine.matching import AlignmentMemo
from kato.engine.session import PendingVector
from kato.store import layout
from kato.store.codec import decode_node
from kato.store.environment import DEFAULT_MAP_SIZE, DEFAULT_MAX_READERS, StoreProcessError, open_environment
from kato.store.environment import reader_check as _reader_check
from kato.store.interface import Op, OpResult
from kato.store.reader import DEFAULT_RECORD_CACHE, NodeCache, NodeReader
from kato.store.writer import StoreFinalized
from kato.store.writer_thread import Job, WriterThread

MAX_CACHED_NODES = 4096


class LmdbStore:
    """The knowledge bases of every node, in one LMDB environment shared by all worker processes.

    Open one per process, after the process started (never inherit it across fork: the supervisor uses spawn).
    `sync=True` fsyncs every commit: an acknowledged write survives a power cut.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        sync: bool = True,
        map_size: int = DEFAULT_MAP_SIZE,
        max_readers: int = DEFAULT_MAX_READERS,
        record_cache: int = DEFAULT_RECORD_CACHE,
    ) -> None:
        self._fork = forks.generation()
        self._env = open_environment(path, map_size=map_size, max_readers=max_readers, sync=sync)
        try:
            self._writer = WriterThread(self._env)
        except BaseException:
            self._env.close()
            raise
        self._dbs = self._writer.dbs
        self._nodes_db = self._dbs[layout.NODES]
        self._record_cache = record_cache
        self._caches: dict[str, NodeCache] = {}
        self._closed = False

    # ------------------------------------------------------------------ reads
    @contextmanager
    def view(self, node_id: str) -> Iterator[NodeReader]:
        """A consistent view of one node: one read transaction for the whole `with` block."""
        self._check_usable()
        txn = self._env.begin()
        try:
            prefix = layout.node_prefix(node_id)
            state = decode_node(txn.get(prefix, db=self._nodes_db))
            cache = self._cache(node_id)
            yield NodeReader(txn, self._dbs, prefix, state, cache.generation_for(state.version), cache)
        finally:
            txn.abort()

    def _cache(self, node_id: str) -> NodeCache:
        cache = self._caches.get(node_id)
        if cache is None:
            if len(self._caches) >= MAX_CACHED_NODES:
                self._caches.pop(next(iter(self._caches)))
            cache = self._caches[node_id] = NodeCache(self._record_cache)
        return cache

    # ------------------------------------------------------------------ writes
    async def write(self, node_id: str, ops: Sequence[Op]) -> list[OpResult]:
        """Apply `ops` in order, all or nothing, in a durable transaction; answered after the commit.

        Cancelling the awaiting task does not withdraw a batch that was already queued.
        """
        self._check_usable()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[OpResult]] = loop.create_future()
        self._writer.submit(Job(node_id, tuple(ops), future, loop))
        return await future

    def write_sync(self, node_id: str, ops: Sequence[Op | StoreFinalized]) -> list[OpResult]:
        """The same as `write`, blocking the calling thread (scripts, tests, processes without an event loop)."""
        self._check_usable()
        future: concurrent.futures.Future[list[OpResult]] = concurrent.futures.Future()
        self._writer.submit(Job(node_id, tuple(ops), future))
        return future.result()

    @property
    def transactions(self) -> int:
        """Write transactions committed by this process (fewer than batches when group commit kicks in)."""
        return self._writer.transactions

    @property
    def batches(self) -> int:
        return self._writer.batches

    # ------------------------------------------------------------------ maintenance
    def reader_check(self) -> int:
        """Free reader slots of dead processes (the supervisor calls it after a worker died)."""
        self._check_usable()
        return _reader_check(self._env)

    def close(self) -> None:
        """Commit what is queued, stop the writer, close the environment. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if forks.generation() == self._fork:
            self._writer.stop()
            self._env.close()

    def _check_usable(self) -> None:
        if self._closed:
            raise RuntimeError("the store is closed")
        if forks.generation() != self._fork:
            raise StoreProcessError("an LMDB store cannot cross a fork; open it in the process that uses it")


class LmdbKnowledgeBase:
    """One node of an `LmdbStore` behind the synchronous methods of `MemoryKnowledgeBase`.

    It lets the engine's tests run unchanged against LMDB: every write is one batch run to completion, every read
    opens a fresh view (so it sees all earlier writes).
    """

    def __init__(self, store: LmdbStore, node_id: str = "") -> None:
        self.store = store
        self.node_id = node_id

    def close(self) -> None:
        self.store.close()

    # ------------------------------------------------------------------ writes
    def learn(self, plan: LearnPlan) -> WriteSet | None:
        return self.store.write_sync(self.node_id, [plan])[0]  # type: ignore[return-value]

    def queue_vector(self, vector: PendingVector) -> None:
        self.store.write_sync(self.node_id, [vector])

    def store_finalized(self, metrics: Mapping[str, FinalizedMetrics]) -> None:
        self.store.write_sync(self.node_id, [StoreFinalized(dict(metrics))])

    # ------------------------------------------------------------------ reads (KnowledgeView + all_affinities)
    @property
    def version(self) -> int:
        with self.store.view(self.node_id) as view:
            return view.version

    def pattern(self, name: str) -> PatternRecord | None:
        with self.store.view(self.node_id) as view:
            return view.pattern(name)

    def patterns(self) -> Iterable[PatternRecord]:
        with self.store.view(self.node_id) as view:
            return view.patterns()

    def pattern_count(self) -> int:
        with self.store.view(self.node_id) as view:
            return view.pattern_count()

    def patterns_with_symbol(self, symbol: str) -> Sequence[str]:
        with self.store.view(self.node_id) as view:
            return view.patterns_with_symbol(symbol)

    def patterns_starting_with(self, symbol: str) -> Sequence[str]:
        with self.store.view(self.node_id) as view:
            return view.patterns_starting_with(symbol)

    def symbol_stats(self, symbol: str) -> SymbolStats | None:
        with self.store.view(self.node_id) as view:
            return view.symbol_stats(symbol)

    def all_symbol_stats(self) -> Mapping[str, SymbolStats]:
        with self.store.view(self.node_id) as view:
            return view.all_symbol_stats()

    def vocabulary_size(self) -> int:
        with self.store.view(self.node_id) as view:
            return view.vocabulary_size()

    def counters(self) -> Counters:
        with self.store.view(self.node_id) as view:
            return view.counters()

    def affinity(self, symbol: str) -> Mapping[str, float]:
        with self.store.view(self.node_id) as view:
            return view.affinity(symbol)

    def all_affinities(self) -> Mapping[str, Mapping[str, float]]:
        with self.store.view(self.node_id) as view:
            return view.all_affinities()

    def nearest_vectors(self, vector: Sequence[float], k: int) -> list[str]:
        with self.store.view(self.node_id) as view:
            return view.nearest_vectors(vector, k)

    def columnar(self) -> ColumnarIndex:
        with self.store.view(self.node_id) as view:
            return view.columnar()

    def alignment_memo(self) -> AlignmentMemo:
        with self.store.view(self.node_id) as view:
            return view.alignment_memo()
