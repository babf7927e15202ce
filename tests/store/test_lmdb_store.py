"""The LMDB store against the in-memory reference, node isolation, group commit, snapshots (one process)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
from multiprocessing.context import SpawnContext
from pathlib import Path

import lmdb
import pytest

from kato.engine.config import EngineConfig
from kato.engine.learning import plan_learn
from kato.engine.predictions import predict
from kato.engine.session import PendingVector
from kato.store import open_store
from kato.store.environment import StoreProcessError, reader_check
from kato.store.interface import ClearNode, FinalizeTraining
from kato.store.lmdb_store import LmdbKnowledgeBase, LmdbStore
from kato.store.memory import MemoryKnowledgeBase, MemoryStore, apply_ops
from kato.store.sessions import LmdbSessionSnapshots
from tests.store.support import (
    NODE,
    TEST_MAP_SIZE,
    check_invariants,
    compare_nearest,
    hold_write_lock,
    random_batches,
    snapshot,
)

PROBES = ["s1", "nope", "x" * 600]


def test_every_op_matches_the_in_memory_store(store: LmdbStore) -> None:
    memory = MemoryKnowledgeBase()
    rng = random.Random(5)
    queries = [[float(rng.randint(-3, 3)) for _ in range(3)] for _ in range(4)] + [[0.0, 1.0]]
    for step, batch in enumerate(random_batches(seed=11, count=260)):
        expected = apply_ops(memory, batch)
        assert store.write_sync(NODE, batch) == expected, step
        if step % 20 == 0 or any(isinstance(op, ClearNode | FinalizeTraining) for op in batch):
            with store.view(NODE) as view:
                assert snapshot(view, PROBES) == snapshot(memory, PROBES), step
                compare_nearest(memory, view, queries)
                check_invariants(view)
    with store.view(NODE) as view:
        assert snapshot(view, PROBES) == snapshot(memory, PROBES)
        assert view.pattern_count() > 10  # the workload really stored something after its last clear


def test_cached_views_follow_every_write(store: LmdbStore) -> None:
    """Reads between writes go through the per-process caches; they must never show an older state."""
    memory = MemoryKnowledgeBase()
    for step, batch in enumerate(random_batches(seed=3, count=120)):
        with store.view(NODE) as before:
            old = snapshot(before, PROBES)
        apply_ops(memory, batch)
        store.write_sync(NODE, batch)
        with store.view(NODE) as after:
            assert snapshot(after, PROBES) == snapshot(memory, PROBES), step
            assert old is not None


def test_a_view_keeps_its_transaction_while_writes_land(store: LmdbStore) -> None:
    first = plan_learn((("a",), ("b",)))
    store.write_sync(NODE, [first])
    with store.view(NODE) as view:
        assert view.pattern(first.name).frequency == 1
        store.write_sync(NODE, [first, plan_learn((("c",), ("d",)))])
        assert view.pattern(first.name).frequency == 1
        assert view.pattern_count() == 1 and list(view.patterns_with_symbol("c")) == []
    with store.view(NODE) as view:
        assert view.pattern(first.name).frequency == 2 and view.pattern_count() == 2


def test_clear_removes_one_node_only(store: LmdbStore) -> None:
    nodes = ["a", "ab", "", "a-b", "a_b", "a.b", "a\x00", "n" * 300]
    memories = {node: MemoryKnowledgeBase() for node in nodes}
    for index, node in enumerate(nodes):
        for batch in random_batches(seed=100 + index, count=15):
            batch = [op for op in batch if not isinstance(op, ClearNode)]
            apply_ops(memories[node], batch)
            store.write_sync(node, batch)
    store.write_sync("a", [ClearNode()])
    memories["a"].clear()
    for node in nodes:
        with store.view(node) as view:
            assert snapshot(view, PROBES) == snapshot(memories[node], PROBES), node
    with store.view("a") as view:
        assert view.pattern_count() == 0 and view.patterns() == [] and view.all_symbol_stats() == {}
        assert view.nearest_vectors([0.0, 0.0, 0.0], 3) == []
    # Nothing of "a" is left in any database, and the cleared node learns again from scratch.
    plan = plan_learn((("q",), ("r",)))
    store.write_sync("a", [PendingVector("VCTR|v", (1.0, 2.0)), plan])
    memories["a"].queue_vector(PendingVector("VCTR|v", (1.0, 2.0)))
    memories["a"].learn(plan)
    with store.view("a") as view:
        assert snapshot(view, PROBES) == snapshot(memories["a"], PROBES)
        assert view.nearest_vectors([1.0, 2.0], 3) == ["VCTR|v"]


def test_reference_merged_node_ids_stay_apart(store: LmdbStore) -> None:
    """COMPATIBILITY.md: the reference merges `a-b`, `a.b`, `a_b` into one knowledge base; kato does not."""
    plan = plan_learn((("x",), ("y",)))
    store.write_sync("a-b", [plan])
    for other in ("a.b", "a_b", "a", "ab"):
        with store.view(other) as view:
            assert view.pattern(plan.name) is None and view.pattern_count() == 0
    with store.view("a-b") as view:
        assert view.pattern(plan.name) is not None


async def test_group_commit_answers_each_caller_after_one_shared_commit(
    store: LmdbStore, store_path: Path, spawn: SpawnContext
) -> None:
    """While another process holds the writer lock, 200 learns queue up and then commit together."""
    plans = [plan_learn(((f"a{i % 7}",), (f"b{i % 5}",))) for i in range(200)]
    ready, release = spawn.Event(), spawn.Event()
    holder = spawn.Process(target=hold_write_lock, args=(str(store_path), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        before = store.transactions
        tasks = [asyncio.ensure_future(store.write(NODE, [plan])) for plan in plans]
        await asyncio.sleep(0.2)
        assert not any(task.done() for task in tasks)  # nobody is answered before the commit
        release.set()
        results = await asyncio.gather(*tasks)
    finally:
        release.set()
        holder.join(30)
        if holder.is_alive():
            holder.kill()
    assert store.transactions - before <= 2
    memory = MemoryKnowledgeBase()
    assert [r[0] for r in results] == [memory.learn(plan) for plan in plans]
    with store.view(NODE) as view:
        assert snapshot(view) == snapshot(memory)


async def test_a_failing_batch_fails_alone(store: LmdbStore, store_path: Path, spawn: SpawnContext) -> None:
    good = [plan_learn(((f"g{i}",), ("h",))) for i in range(6)]
    doomed = plan_learn((("doomed",), ("h",)))
    ready, release = spawn.Event(), spawn.Event()
    holder = spawn.Process(target=hold_write_lock, args=(str(store_path), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        before = store.transactions
        batches = [[good[0]], [good[1], good[2]], [doomed, object()], [good[3]], [ClearNode(), "nonsense"],
                   [good[4], good[5]]]
        tasks = [asyncio.ensure_future(store.write(NODE, batch)) for batch in batches]  # type: ignore[arg-type]
        await asyncio.sleep(0.1)
        release.set()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        release.set()
        holder.join(30)
        if holder.is_alive():
            holder.kill()
    assert isinstance(outcomes[2], TypeError) and isinstance(outcomes[4], TypeError)
    assert all(isinstance(o, list) for i, o in enumerate(outcomes) if i not in (2, 4))
    assert store.transactions - before <= 2
    memory = MemoryKnowledgeBase()
    for plan in good:
        memory.learn(plan)
    with store.view(NODE) as view:
        assert snapshot(view, ["doomed"]) == snapshot(memory, ["doomed"])  # no trace of the failed batches


def test_write_after_close_and_reader_check(store_path: Path) -> None:
    store = LmdbStore(store_path, map_size=TEST_MAP_SIZE)
    assert store.reader_check() >= 0
    store.close()
    store.close()
    with pytest.raises(RuntimeError):
        store.write_sync(NODE, [])
    with pytest.raises(RuntimeError), store.view(NODE):
        pass


def test_reopened_store_sees_everything(store_path: Path) -> None:
    memory = MemoryKnowledgeBase()
    kb = LmdbKnowledgeBase(LmdbStore(store_path, map_size=TEST_MAP_SIZE), NODE)
    for batch in random_batches(seed=21, count=60):
        apply_ops(memory, batch)
        kb.store.write_sync(NODE, batch)
    kb.close()
    reopened = LmdbStore(store_path, map_size=TEST_MAP_SIZE, sync=False)
    try:
        with reopened.view(NODE) as view:
            assert snapshot(view, PROBES) == snapshot(memory, PROBES)
    finally:
        reopened.close()


def test_record_cache_limit_keeps_answers_right(store_path: Path) -> None:
    store = LmdbStore(store_path, map_size=TEST_MAP_SIZE, record_cache=3)
    try:
        memory = MemoryKnowledgeBase()
        for batch in random_batches(seed=8, count=40):
            apply_ops(memory, batch)
            store.write_sync(NODE, batch)
        with store.view(NODE) as view:
            assert snapshot(view, PROBES) == snapshot(memory, PROBES)
    finally:
        store.close()


def test_session_snapshots_round_trip_and_survive_reopening(tmp_path: Path) -> None:
    store, sessions = open_store(tmp_path / "data", map_size=TEST_MAP_SIZE)
    store.close()
    long_id = "s" * 1000
    sessions.put("one", b"\x00state-1")
    sessions.put(long_id, b"long")
    sessions.put("two", b"")
    sessions.put("one", b"state-1b")
    assert sessions.get("one") == b"state-1b" and sessions.get(long_id) == b"long" and sessions.get("two") == b""
    assert sessions.get("missing") is None
    assert sessions.delete("two") is True and sessions.delete("two") is False
    sessions.close()
    reopened = LmdbSessionSnapshots(tmp_path / "data" / "sessions")
    try:
        assert sorted(reopened.items()) == [("one", b"state-1b"), (long_id, b"long")]
        assert sorted(reopened.heads(3)) == [("one", b"sta"), (long_id, b"lon")]
        assert sorted(reopened.heads(100)) == sorted(reopened.items())
    finally:
        reopened.close()
    memory = MemoryStore()
    memory.put("one", b"state-1b")
    assert list(memory.heads(3)) == [("one", b"sta")]


def test_predictions_on_lmdb_equal_predictions_in_memory(store: LmdbStore) -> None:
    """Through the shared column index too: a view older than the index gets its own, and clears reset it."""
    rng = random.Random(17)
    vocabulary = [f"w{i}" for i in range(12)]
    plans = [plan_learn(tuple((rng.choice(vocabulary),) for _ in range(rng.randint(2, 5)))) for _ in range(150)]
    early, late = MemoryKnowledgeBase(), MemoryKnowledgeBase()
    for plan in plans[:100]:
        early.learn(plan)
        late.learn(plan)
    store.write_sync(NODE, plans[:100])
    stms = [tuple((rng.choice(vocabulary),) for _ in range(rng.randint(1, 4))) for _ in range(25)]
    configs = [EngineConfig(), EngineConfig(recall_threshold=0.0), EngineConfig(max_predictions=3)]
    with store.view(NODE) as older:
        for plan in plans[100:]:
            late.learn(plan)
        store.write_sync(NODE, plans[100:])
        with store.view(NODE) as newer:
            for stm in stms:
                for config in configs:
                    assert predict(stm, config, newer) == predict(stm, config, late)
        for stm in stms:
            assert predict(stm, EngineConfig(), older) == predict(stm, EngineConfig(), early)
    store.write_sync(NODE, [ClearNode(), *plans[:30]])
    fresh = MemoryKnowledgeBase()
    for plan in plans[:30]:
        fresh.learn(plan)
    with store.view(NODE) as view:
        for stm in stms:
            assert predict(stm, EngineConfig(), view) == predict(stm, EngineConfig(), fresh)


def _use_inherited_store(store: LmdbStore) -> None:
    try:
        with store.view(NODE):
            pass
    except StoreProcessError:
        os._exit(0)
    os._exit(1)


def test_a_store_refuses_to_cross_a_fork(store: LmdbStore, store_path: Path) -> None:
    """Workers must open the environment themselves; an inherited store fails loudly instead of sharing locks."""
    child = multiprocessing.get_context("fork").Process(target=_use_inherited_store, args=(store,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    with store.view(NODE) as view:  # the parent's store is unaffected
        assert view.pattern_count() == 0


def test_reader_check_by_path(store_path: Path) -> None:
    LmdbStore(store_path, map_size=TEST_MAP_SIZE).close()
    assert reader_check(store_path) >= 0


def test_a_full_map_fails_that_batch_and_the_writer_lives_on(tmp_path: Path) -> None:
    store = LmdbStore(tmp_path / "small", map_size=1 << 20)
    try:
        rng = random.Random(4)
        huge = [plan_learn(tuple((f"x{rng.random()}",) for _ in range(20))) for _ in range(3000)]
        with pytest.raises(lmdb.MapFullError):
            store.write_sync(NODE, huge)
        small = plan_learn((("a",), ("b",)))
        assert store.write_sync(NODE, [small])[0].is_new
        with store.view(NODE) as view:
            assert view.pattern_count() == 1 and view.pattern(small.name) is not None
    finally:
        store.close()


def test_alignment_memo_is_per_node_and_survives_writes(store: LmdbStore) -> None:
    store.write_sync(NODE, [plan_learn((("a",), ("b",), ("c",)))])
    store.write_sync("other", [plan_learn((("a",), ("b",), ("c",)))])
    with store.view(NODE) as view:
        predict((("a",), ("b",)), EngineConfig(), view)
        memo = view.alignment_memo()
        assert len(memo) == 1
    store.write_sync(NODE, [plan_learn((("a",), ("d",)))])
    with store.view(NODE) as view:
        assert view.alignment_memo() is memo
    with store.view("other") as view:
        assert view.alignment_memo() is not memo and len(view.alignment_memo()) == 0


def test_score_memo_belongs_to_one_version(store: LmdbStore) -> None:
    """Per-pattern scores depend on the whole node (π, N, totals): a write must not let a view read old ones."""
    plans = [plan_learn((("a",), ("b",), ("c",))), plan_learn((("a",), ("x",), ("y",)))]
    reference = MemoryKnowledgeBase()
    reference.learn(plans[0])
    store.write_sync(NODE, plans[:1])
    stm = (("a",), ("b",))
    with store.view(NODE) as view:
        first = predict(stm, EngineConfig(), view)
        memo = view.score_memo()
        assert first == predict(stm, EngineConfig(), reference) and len(memo) > 0
    reference.learn(plans[1])  # the same present and frequency, another π of "a" and another vocabulary
    store.write_sync(NODE, plans[1:])
    with store.view(NODE) as view:
        second = predict(stm, EngineConfig(), view)
        assert view.score_memo() is not memo
    assert second == predict(stm, EngineConfig(), reference)
    before = next(p for p in first.predictions if p["name"] == plans[0].name)
    after = next(p for p in second.predictions if p["name"] == plans[0].name)
    assert before["present"] == after["present"] and before["frequency"] == after["frequency"]
    assert before["global_normalized_entropy"] != after["global_normalized_entropy"]
