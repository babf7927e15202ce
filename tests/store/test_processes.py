"""Many real processes on one environment: no lost increment, and nothing acknowledged is lost to SIGKILL."""

from __future__ import annotations

import os
import random
import signal
from itertools import accumulate
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext
from pathlib import Path

from kato.store.lmdb_store import LmdbStore
from kato.store.memory import MemoryKnowledgeBase
from tests.store.support import (
    NODE,
    TEST_MAP_SIZE,
    check_invariants,
    learn_concurrently,
    learn_until_killed,
    order_free_snapshot,
    overlapping_plans,
    snapshot,
)

PROCESSES = 4
LEARNS_PER_PROCESS = 500
KILL_ROUNDS = 20


def test_four_processes_learning_at_once_lose_no_increment(store_path: Path, spawn: SpawnContext) -> None:
    streams = [overlapping_plans(seed=worker, count=LEARNS_PER_PROCESS) for worker in range(PROCESSES)]
    LmdbStore(store_path, map_size=TEST_MAP_SIZE).close()  # migrate once, like the supervisor
    workers = [spawn.Process(target=learn_concurrently, args=(str(store_path), plans, 8)) for plans in streams]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
            assert worker.exitcode == 0
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
                worker.join()
    memory = MemoryKnowledgeBase()
    for plans in streams:
        for plan in plans:
            memory.learn(plan)
    store = LmdbStore(store_path, map_size=TEST_MAP_SIZE)
    try:
        with store.view(NODE) as view:
            assert order_free_snapshot(view) == order_free_snapshot(memory)
            assert view.counters().total_pattern_frequencies < PROCESSES * LEARNS_PER_PROCESS  # patterns repeated
            check_invariants(view)
    finally:
        store.close()


def test_sigkill_mid_stream_loses_nothing_acknowledged(store_path: Path, spawn: SpawnContext) -> None:
    """Every round: a child learns a stream, the parent kills it after a random number of acknowledgements,
    reopens the environment and finds exactly a prefix of the stream committed, at least everything acked."""
    rng = random.Random(2024)
    memory = MemoryKnowledgeBase()
    for round_ in range(KILL_ROUNDS):
        plans = overlapping_plans(seed=1000 + round_, count=400, pool=40)
        wanted = rng.randint(1, 60)
        parent_end, child_end = spawn.Pipe(duplex=False)
        child = spawn.Process(target=learn_until_killed, args=(str(store_path), plans, child_end, 4))
        acked: list[int] = []
        child.start()
        try:
            child_end.close()
            assert parent_end.poll(60) and parent_end.recv() == "ready"
            while len(acked) < wanted:
                assert parent_end.poll(60), "child stopped acknowledging"
                acked.append(parent_end.recv())
            os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
            child.join(30)
            assert child.exitcode == -signal.SIGKILL
            acked.extend(_drain(parent_end))  # acks already in the pipe were sent after their commit too
        finally:
            if child.is_alive():
                child.kill()
                child.join()
            parent_end.close()

        store = LmdbStore(store_path, map_size=TEST_MAP_SIZE)
        try:
            assert store.reader_check() >= 0
            with store.view(NODE) as view:
                check_invariants(view)
                # Every learn stores >= 2 symbols, so the symbols counter tells how many learns committed.
                before = memory.counters().total_symbols_in_patterns_frequencies
                grown = view.counters().total_symbols_in_patterns_frequencies - before
                prefix_sums = [0, *accumulate(plan.length for plan in plans)]
                assert grown in prefix_sums, "a partial learn or a learn out of order was committed"
                committed = prefix_sums.index(grown)
                assert committed >= len(acked) and all(index < committed for index in acked), (committed, acked)
                for plan in plans[:committed]:
                    memory.learn(plan)
                assert snapshot(view) == snapshot(memory), round_
        finally:
            store.close()


def _drain(conn: Connection) -> list[int]:
    """Acks left in the pipe of a killed child (messages are tiny, so each was written whole or not at all)."""
    out = []
    try:
        while conn.poll(0):
            message = conn.recv()
            if isinstance(message, int):
                out.append(message)
    except EOFError:
        pass
    return out
