#!/usr/bin/env python3
"""In-process prediction benchmark (issue 3): median and p99 per `predict` call.

Knowledge base of N patterns of 5 single-symbol events over a vocabulary of 200; the state is 3 symbols taken from a
learned pattern, half the time with one symbol replaced; default config (recall_threshold 0.1).

    python3 scripts/bench_engine.py                 # N = 1,000 / 10,000 / 100,000 on the in-memory store
    python3 scripts/bench_engine.py --sizes 1000 --queries 500
    python3 scripts/bench_engine.py --gc default    # Python's default GC settings

Garbage collection: a loaded knowledge base is hundreds of thousands of long-lived objects, and every full
(generation 2) collection walks all of them: about 100 ms at 100,000 patterns, landing in whichever call
happens to allocate at that moment (that was the p99). By default (`--gc tuned`) the benchmark does what a server
should do once its knowledge is loaded: `gc.collect(); gc.freeze()`, which moves the loaded objects out of the
collector's sight (they are still freed by reference counting), and `gc.set_threshold(50_000, 20, 100)`, so the
short-lived objects of a request die by reference counting before any collection starts (with the default
threshold of 700 a prediction triggers a young collection or two, and their survivors push towards full ones).
`--gc freeze` does only the first, `--gc default` neither; the GC columns count the collections and the time they
took during the measured calls.

The first measured pass also fills the per-pattern caches (`PatternRecord.derived`) for the patterns the queries
touch; "first pass" reports that pass's median separately from the median over all passes.
"""

from __future__ import annotations

import argparse
import gc
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


class GcWatch:
    """Counts collections per generation, and the time they take, while installed."""

    def __init__(self) -> None:
        self.counts = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.counts[info["generation"]] += 1
            self.seconds[info["generation"]] += time.perf_counter() - self._started


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
    parser.add_argument("--gc", choices=["tuned", "freeze", "default"], default="tuned",
                        help="freeze the loaded knowledge base and raise the thresholds (default), only freeze, "
                             "or Python's defaults")
    args = parser.parse_args()
    config = EngineConfig()
    if args.gc == "tuned":
        gc.set_threshold(50_000, 20, 100)
    print(f"{'N':>8} {'median ms':>10} {'p99 ms':>8} {'first pass':>11} {'gen2 GCs':>9} {'GC ms':>8}"
          f"  (median of {args.repeats} passes of {args.queries} queries; gc {args.gc})")
    for n in args.sizes:
        gc.unfreeze()
        rng = random.Random(n)
        kb, patterns = build(n, rng)
        queries = states(patterns, args.queries, rng)
        if args.gc != "default":
            gc.collect()
            gc.freeze()
        measure(kb, queries[:10], config)  # warm caches
        watch = GcWatch()
        gc.callbacks.append(watch)
        medians, p99s = [], []
        for _ in range(args.repeats):
            timings = sorted(measure(kb, queries, config))
            medians.append(statistics.median(timings))
            p99s.append(timings[int(len(timings) * 0.99) - 1])
        gc.callbacks.remove(watch)
        print(f"{n:>8} {statistics.median(medians) * 1000:>10.3f} {statistics.median(p99s) * 1000:>8.3f}"
              f" {medians[0] * 1000:>11.3f} {watch.counts[2]:>9} {sum(watch.seconds) * 1000:>8.1f}")
        del kb, patterns, queries


if __name__ == "__main__":
    main()
