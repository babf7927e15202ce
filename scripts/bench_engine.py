#!/usr/bin/env python3
"""In-process prediction benchmark (issue 3): median and p99 per `predict` call.

Knowledge base of N patterns of 5 single-symbol events over a vocabulary of 200; the state is 3 symbols taken from a
learned pattern, half the time with one symbol replaced; default config (recall_threshold 0.1).

    python3 scripts/bench_engine.py                 # N = 1,000 / 10,000 / 100,000 on the in-memory store
    python3 scripts/bench_engine.py --sizes 1000 --queries 500
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kato.engine.config import EngineConfig
from kato.engine.learning import plan_learn
from kato.engine.predictions import predict
from kato.store.memory import MemoryKnowledgeBase

VOCABULARY = [f"s{i:03d}" for i in range(200)]


def build(n: int, rng: random.Random) -> tuple[MemoryKnowledgeBase, list[tuple[str, ...]]]:
    kb = MemoryKnowledgeBase()
    patterns = []
    for _ in range(n):
        events = tuple((rng.choice(VOCABULARY),) for _ in range(5))
        patterns.append(tuple(e[0] for e in events))
        kb.learn(plan_learn(events))
    return kb, patterns


def states(patterns: list[tuple[str, ...]], count: int, rng: random.Random) -> list[tuple[tuple[str, ...], ...]]:
    out = []
    for _ in range(count):
        source = rng.choice(patterns)
        start = rng.randrange(0, 3)
        symbols = list(source[start:start + 3])
        if rng.random() < 0.5:
            symbols[rng.randrange(3)] = rng.choice(VOCABULARY)
        out.append(tuple((s,) for s in symbols))
    return out


def measure(kb: MemoryKnowledgeBase, queries: list, config: EngineConfig) -> list[float]:
    timings = []
    for stm in queries:
        started = time.perf_counter()
        predict(stm, config, kb)
        timings.append(time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = EngineConfig()
    print(f"{'N':>8} {'median ms':>10} {'p99 ms':>8}  (median of {args.repeats} runs of {args.queries} queries)")
    for n in args.sizes:
        rng = random.Random(n)
        kb, patterns = build(n, rng)
        queries = states(patterns, args.queries, rng)
        measure(kb, queries[:10], config)  # warm caches
        medians, p99s = [], []
        for _ in range(args.repeats):
            timings = sorted(measure(kb, queries, config))
            medians.append(statistics.median(timings))
            p99s.append(timings[int(len(timings) * 0.99) - 1])
        print(f"{n:>8} {statistics.median(medians) * 1000:>10.3f} {statistics.median(p99s) * 1000:>8.3f}")


if __name__ == "__main__":
    main()
