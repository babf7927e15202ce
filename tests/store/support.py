"""Workloads, whole-state snapshots and invariant checks shared by the store tests, and the entry points of the
child processes they spawn (module-level functions, so the `spawn` start method can import them)."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from typing import Any

from kato.engine.knowledge import KnowledgeView
from kato.engine.learning import LearnPlan, plan_learn
from kato.engine.naming import vector_name
from kato.engine.session import PendingVector
from kato.store.environment import open_environment
from kato.store.interface import ClearNode, FinalizeTraining, Op
from kato.store.lmdb_store import LmdbStore

TEST_MAP_SIZE = 1 << 30
NODE = "node-1"


# ---------------------------------------------------------------------------------------------- workloads
def random_plan(rng: random.Random, vocabulary: Sequence[str], *, emotives: bool = True) -> LearnPlan:
    events = tuple(
        tuple(rng.sample(list(vocabulary), rng.randint(1, 3))) for _ in range(rng.randint(1, 4))
    )
    emo: list[dict[str, float]] = []
    meta: list[dict[str, Any]] = []
    if emotives and rng.random() < 0.6:
        emo = [{rng.choice("pqr"): rng.uniform(-5, 5) for _ in range(rng.randint(1, 2))}
               for _ in range(rng.randint(1, 3))]
    if rng.random() < 0.4:
        meta = [{rng.choice("xy"): rng.choice([1, "one", 2.5, None])} for _ in range(rng.randint(1, 2))]
    return plan_learn(events, emo, meta, persistence=rng.randint(1, 5))


def random_vector(rng: random.Random) -> PendingVector:
    import numpy as np

    dimension = 3 if rng.random() < 0.85 else 2
    values = np.array([float(rng.randint(-3, 3)) for _ in range(dimension)])
    return PendingVector(vector_name(values), tuple(float(x) for x in values))


def random_batches(seed: int, count: int) -> list[list[Op]]:
    """Batches of every op type the store takes, as the API would send them."""
    rng = random.Random(seed)
    vocabulary = [f"s{i}" for i in range(10)] + ["", "ünï", "x" * 600]
    batches: list[list[Op]] = []
    for _ in range(count):
        batch: list[Op] = []
        for _ in range(rng.randint(1, 3)):
            roll = rng.random()
            if roll < 0.7:
                batch.append(random_plan(rng, vocabulary))
            elif roll < 0.88:
                batch.append(random_vector(rng))
            elif roll < 0.97:
                batch.append(FinalizeTraining())
            else:
                batch.append(ClearNode())
        batches.append(batch)
    return batches


def overlapping_plans(seed: int, count: int, *, pool: int = 60) -> list[LearnPlan]:
    """Learns drawn from a small pool of event sequences (so patterns repeat), each of at least 2 symbols.

    Emotives are single observations of multiples of 0.5: their averages and sums are exact in any order, so
    stores that applied the same learns in different orders must agree bit for bit on affinities too.
    """
    shapes = random.Random(1234)
    vocabulary = [f"v{i}" for i in range(25)]
    sequences = [
        tuple(tuple(sorted(shapes.sample(vocabulary, shapes.randint(1, 2)))) for _ in range(shapes.randint(2, 4)))
        for _ in range(pool)
    ]
    rng = random.Random(seed)
    plans = []
    for _ in range(count):
        events = rng.choice(sequences)
        emotives = [{rng.choice("ab"): rng.randint(-8, 8) / 2}] if rng.random() < 0.5 else []
        metadata = [{"k": rng.randint(0, 3)}] if rng.random() < 0.3 else []
        plans.append(plan_learn(events, emotives, metadata))
    return plans


# ---------------------------------------------------------------------------------------------- state comparison
def snapshot(kb: KnowledgeView, probes: Sequence[str] = ()) -> dict[str, Any]:
    """Everything a reader can observe of a node, in the order the reader returns it."""
    stats = kb.all_symbol_stats()
    symbols = list(stats) + [p for p in probes if p not in stats]
    return {
        "patterns": [
            (r.name, r.events, r.length, r.frequency, r.emotives, list(r.metadata.items()), r.finalized)
            for r in kb.patterns()
        ],
        "pattern_count": kb.pattern_count(),
        "symbols": list(stats.items()),
        "vocabulary": kb.vocabulary_size(),
        "counters": kb.counters(),
        "affinities": [(s, list(a.items())) for s, a in kb.all_affinities().items()],  # type: ignore[attr-defined]
        "per_symbol": {
            s: (kb.symbol_stats(s), list(kb.affinity(s).items()), list(kb.patterns_with_symbol(s)),
                list(kb.patterns_starting_with(s)))
            for s in symbols
        },
        "lookups": {r.name: kb.pattern(r.name) for r in kb.patterns()},
    }


def order_free_snapshot(kb: KnowledgeView) -> dict[str, Any]:
    """What must not depend on the order in which concurrent learns were applied."""
    records = {r.name: r for r in kb.patterns()}
    stats = dict(kb.all_symbol_stats())
    return {
        "patterns": {n: (r.events, r.length, r.frequency, dict(r.metadata)) for n, r in records.items()},
        "symbols": stats,
        "counters": kb.counters(),
        "vocabulary": kb.vocabulary_size(),
        "affinities": {s: dict(a) for s, a in kb.all_affinities().items()},  # type: ignore[attr-defined]
        "with_symbol": {s: sorted(kb.patterns_with_symbol(s)) for s in stats},
        "starting_with": {s: sorted(kb.patterns_starting_with(s)) for s in stats},
    }


def check_invariants(kb: KnowledgeView) -> None:
    """The structural invariants of a knowledge base, whatever was learned."""
    records = list(kb.patterns())
    counters = kb.counters()
    stats = kb.all_symbol_stats()
    names_in_order = [r.name for r in records]
    assert len(set(names_in_order)) == len(records) == kb.pattern_count() == counters.total_unique_patterns
    assert counters.total_pattern_frequencies == counters.total_unique_patterns
    assert sum(s.frequency for s in stats.values()) == counters.total_symbols_in_patterns_frequencies
    assert sum(r.frequency * r.length for r in records) == counters.total_symbols_in_patterns_frequencies
    assert kb.vocabulary_size() == len(stats)
    for symbol, st in stats.items():
        holders = [r.name for r in records if any(symbol in e for e in r.events)]
        assert list(kb.patterns_with_symbol(symbol)) == holders, symbol
        assert st.pattern_member_frequency == len(holders), symbol
        assert st.frequency == sum(r.frequency * sum(e.count(symbol) for e in r.events) for r in records)
        assert list(kb.patterns_starting_with(symbol)) == [r.name for r in records if r.first_symbol == symbol]
        assert kb.symbol_stats(symbol) == st


# ---------------------------------------------------------------------------------------------- child processes
def learn_concurrently(path: str, plans: Sequence[LearnPlan], window: int) -> None:
    """Child: learn `plans` with up to `window` writes in flight, as a worker's concurrent requests would."""

    async def run(store: LmdbStore) -> None:
        gate = asyncio.Semaphore(window)

        async def one(plan: LearnPlan) -> None:
            async with gate:
                await store.write(NODE, [plan])

        await asyncio.gather(*(one(p) for p in plans))

    store = LmdbStore(path, map_size=TEST_MAP_SIZE)
    try:
        asyncio.run(run(store))
    finally:
        store.close()


def learn_until_killed(path: str, plans: Sequence[LearnPlan], conn: Connection, window: int) -> None:
    """Child: learn `plans` in order, up to `window` in flight; send each plan's index once its commit is done."""

    async def run(store: LmdbStore) -> None:
        gate = asyncio.Semaphore(window)

        async def one(index: int, plan: LearnPlan) -> None:
            async with gate:
                await store.write(NODE, [plan])
                conn.send(index)

        await asyncio.gather(*(one(i, p) for i, p in enumerate(plans)))

    store = LmdbStore(path, map_size=TEST_MAP_SIZE)
    conn.send("ready")
    asyncio.run(run(store))
    conn.send("done")
    os._exit(0)  # the parent kills us before this in practice


def hold_write_lock(path: str, ready: Event, release: Event) -> None:
    """Child: another process holding LMDB's writer lock, so the parent's writes queue up behind it."""
    env = open_environment(path, map_size=TEST_MAP_SIZE)
    try:
        txn = env.begin(write=True)
        ready.set()
        release.wait(30)
        txn.abort()
    finally:
        env.close()


def compare_nearest(memory: Any, lmdb_view: KnowledgeView, queries: Sequence[Sequence[float]]) -> None:
    for query in queries:
        for k in (1, 3, 50):
            assert lmdb_view.nearest_vectors(query, k) == memory.nearest_vectors(query, k), (query, k)
