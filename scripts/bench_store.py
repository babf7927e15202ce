#!/usr/bin/env python3
"""LMDB store benchmark (issue 4): durable learns/s, pattern reads/s, and the engine's prediction benchmark on LMDB.

    python3 scripts/bench_store.py                      # everything, N = 1,000 / 10,000 / 100,000
    python3 scripts/bench_store.py --only learns --repeats 5
    python3 scripts/bench_store.py --only predict --sizes 1000 10000

- learns: every learn is its own `write` call (as one learn request would be), with `--in-flight` calls pending at
  once per process, fsync'd commits (sync=True). Reported for 1 process and for 4 processes learning into the same
  environment at once (total learns/s over the wall time), and for one caller at a time (no group commit possible).
- reads: `pattern(name)` lookups of random names, in a fresh process cache (decode from LMDB) and warm.
- predict: knowledge base of N patterns of 5 single-symbol events over a vocabulary of 200; state of 3 symbols taken
  from a learned pattern, half the time with one symbol replaced; `predict(stm, EngineConfig(), view)` with the view
  opened per call (as the API does), against the same calls on the in-memory store; also with one learn before
  every call (each view then sees a new node version).

Each figure is the median over `--repeats` runs (predict: median and p99 over all calls).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kato.engine.config import EngineConfig
from kato.engine.learning import LearnPlan, plan_learn
from kato.engine.predictions import predict
from kato.store.lmdb_store import LmdbStore
from kato.store.memory import MemoryKnowledgeBase

VOCABULARY = [f"s{i:03d}" for i in range(200)]
NODE = "bench"
MAP_SIZE = 64 << 30


def random_plans(count: int, seed: int) -> list[LearnPlan]:
    rng = random.Random(seed)
    return [plan_learn(tuple((rng.choice(VOCABULARY),) for _ in range(5))) for _ in range(count)]


# ---------------------------------------------------------------------------------------------- durable learns
def _learn_worker(path: str, plans: Sequence[LearnPlan], in_flight: int, start: object, out: object) -> None:
    store = LmdbStore(path, map_size=MAP_SIZE, sync=True)

    async def run() -> float:
        gate = asyncio.Semaphore(in_flight)

        async def one(plan: LearnPlan) -> None:
            async with gate:
                await store.write(NODE, [plan])

        began = time.perf_counter()
        await asyncio.gather(*(one(p) for p in plans))
        return time.perf_counter() - began

    start.wait()  # type: ignore[attr-defined]
    began = time.time()
    asyncio.run(run())
    out.put((began, time.time(), store.transactions))  # type: ignore[attr-defined]
    store.close()


def durable_learns(processes: int, learns: int, in_flight: int, root: Path) -> tuple[float, float]:
    """(learns per second over the wall time, learns per transaction)."""
    ctx = multiprocessing.get_context("spawn")
    path = root / f"learns-{processes}-{in_flight}-{time.monotonic_ns()}"
    LmdbStore(path, map_size=MAP_SIZE).close()
    start, out = ctx.Event(), ctx.Queue()
    workers = [
        ctx.Process(target=_learn_worker, args=(str(path), random_plans(learns, seed=w), in_flight, start, out))
        for w in range(processes)
    ]
    for w in workers:
        w.start()
    time.sleep(1.5)  # let every worker import and open the environment
    start.set()
    spans = [out.get(timeout=600) for _ in workers]
    for w in workers:
        w.join()
    wall = max(end for _, end, _ in spans) - min(begin for begin, _, _ in spans)
    transactions = sum(t for _, _, t in spans)
    shutil.rmtree(path, ignore_errors=True)
    return processes * learns / wall, processes * learns / transactions


# ---------------------------------------------------------------------------------------------- populate
def populate(store: LmdbStore, memory: MemoryKnowledgeBase | None, n: int, seed: int) -> list[LearnPlan]:
    plans = random_plans(n, seed)
    for start in range(0, n, 2000):
        chunk = plans[start:start + 2000]
        store.write_sync(NODE, chunk)
        if memory is not None:
            for plan in chunk:
                memory.learn(plan)
    return plans


# ---------------------------------------------------------------------------------------------- reads
def pattern_reads(path: Path, names: list[str], lookups: int, rng: random.Random) -> tuple[float, float, float]:
    """(cold reads/s, warm reads/s, reads/s with a view per read) for `pattern(name)`."""
    sample = [rng.choice(names) for _ in range(lookups)]
    store = LmdbStore(path, map_size=MAP_SIZE)  # fresh process cache: every first lookup decodes
    try:
        with store.view(NODE) as view:
            began = time.perf_counter()
            for name in sample:
                view.pattern(name)
            cold = lookups / (time.perf_counter() - began)
        with store.view(NODE) as view:
            began = time.perf_counter()
            for name in sample:
                view.pattern(name)
            warm = lookups / (time.perf_counter() - began)
        began = time.perf_counter()
        for name in sample[:20000]:
            with store.view(NODE) as view:
                view.pattern(name)
        per_view = min(lookups, 20000) / (time.perf_counter() - began)
    finally:
        store.close()
    return cold, warm, per_view


# ---------------------------------------------------------------------------------------------- predictions
def states(plans: Sequence[LearnPlan], count: int, rng: random.Random) -> list[tuple[tuple[str, ...], ...]]:
    out = []
    for i in range(count):
        events = rng.choice(plans).events
        start = rng.randrange(len(events) - 2)
        state = [list(e) for e in events[start:start + 3]]
        if i % 2:
            state[rng.randrange(3)] = [rng.choice(VOCABULARY)]
        out.append(tuple(tuple(e) for e in state))
    return out


def time_calls(fn, stms: Sequence[tuple]) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for stm in stms:
        began = time.perf_counter()
        fn(stm)
        times.append(time.perf_counter() - began)
    return times


def prediction_bench(n: int, queries: int, root: Path, repeats: int) -> dict[str, float]:
    rng = random.Random(n)
    path = root / f"predict-{n}"
    store = LmdbStore(path, map_size=MAP_SIZE, sync=False)
    memory = MemoryKnowledgeBase()
    config = EngineConfig()
    try:
        began = time.perf_counter()
        plans = populate(store, memory, n, seed=7)
        populate_s = time.perf_counter() - began
        stms = states(plans, queries, rng)

        def on_lmdb(stm: tuple) -> None:
            with store.view(NODE) as view:
                predict(stm, config, view)

        def on_memory(stm: tuple) -> None:
            predict(stm, config, memory)

        for stm in stms[:5]:  # first touches: decode into the process cache, like a worker after start
            on_lmdb(stm)
            on_memory(stm)
        lmdb_times: list[float] = []
        memory_times: list[float] = []
        for _ in range(repeats):
            lmdb_times += time_calls(on_lmdb, stms)
            memory_times += time_calls(on_memory, stms)
        # A learn before every call: each view sees a new node version (caches re-validated, index extended).
        lmdb_mixed: list[float] = []
        memory_mixed: list[float] = []
        for stm, plan in zip(stms, random_plans(len(stms), seed=n + 1), strict=True):
            store.write_sync(NODE, [plan])
            memory.learn(plan)
            lmdb_mixed += time_calls(on_lmdb, [stm])
            memory_mixed += time_calls(on_memory, [stm])
    finally:
        store.close()
        shutil.rmtree(path, ignore_errors=True)

    def p99(values: list[float]) -> float:
        return sorted(values)[min(len(values) - 1, int(len(values) * 0.99))]

    return {
        "populate_s": populate_s,
        "lmdb_median_ms": statistics.median(lmdb_times) * 1e3,
        "lmdb_p99_ms": p99(lmdb_times) * 1e3,
        "memory_median_ms": statistics.median(memory_times) * 1e3,
        "memory_p99_ms": p99(memory_times) * 1e3,
        "lmdb_after_learn_ms": statistics.median(lmdb_mixed) * 1e3,
        "memory_after_learn_ms": statistics.median(memory_mixed) * 1e3,
    }


# ---------------------------------------------------------------------------------------------- main
def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["learns", "reads", "predict"], action="append")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--learns", type=int, default=5000, help="learns per process")
    parser.add_argument("--in-flight", type=int, default=64, help="concurrent learn calls per process")
    parser.add_argument("--dir", type=Path, default=None, help="where to create the environments (default: tmp)")
    args = parser.parse_args(argv)
    parts = set(args.only or ["learns", "reads", "predict"])
    root = Path(tempfile.mkdtemp(prefix="kato-bench-", dir=args.dir))
    print(f"machine: {machine()}; data in {root}")
    try:
        if "learns" in parts:
            for processes in (1, 4):
                runs = [durable_learns(processes, args.learns, args.in_flight, root) for _ in range(args.repeats)]
                rate = statistics.median(r[0] for r in runs)
                grouping = statistics.median(r[1] for r in runs)
                print(f"durable learns, {processes} process(es) x {args.in_flight} in flight: "
                      f"{rate:,.0f} learns/s ({grouping:.1f} learns per commit)")
            runs = [durable_learns(1, 500, 1, root) for _ in range(args.repeats)]
            print(f"durable learns, 1 process, one caller at a time: {statistics.median(r[0] for r in runs):,.0f}"
                  " learns/s")
        if "reads" in parts:
            path = root / "reads"
            store = LmdbStore(path, map_size=MAP_SIZE, sync=False)
            names = [p.name for p in populate(store, None, max(args.sizes), seed=3)]
            store.close()
            rng = random.Random(5)
            runs = [pattern_reads(path, names, 100000, rng) for _ in range(args.repeats)]
            cold, warm, per_view = (statistics.median(r[i] for r in runs) for i in range(3))
            print(f"pattern reads ({len(names):,} patterns): {cold:,.0f}/s cold cache, {warm:,.0f}/s warm, "
                  f"{per_view:,.0f}/s with one view per read")
            shutil.rmtree(path, ignore_errors=True)
        if "predict" in parts:
            for n in args.sizes:
                r = prediction_bench(n, args.queries, root, args.repeats)
                print(f"predict N={n:>7,}: lmdb median {r['lmdb_median_ms']:.2f} ms p99 {r['lmdb_p99_ms']:.2f} ms | "
                      f"memory median {r['memory_median_ms']:.2f} ms p99 {r['memory_p99_ms']:.2f} ms | "
                      f"ratio {r['lmdb_median_ms'] / r['memory_median_ms']:.2f} | populate {r['populate_s']:.1f} s")
                print(f"    with a learn before each call: lmdb median {r['lmdb_after_learn_ms']:.2f} ms | "
                      f"memory median {r['memory_after_learn_ms']:.2f} ms")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
