#!/usr/bin/env python3
"""Interleaved A/B of the prediction engine between two checkouts (issue 3), for a machine whose speed drifts.

This machine's speed changes by up to 2x within minutes, so two benchmark runs a minute apart compare windows, not
code. Here two long-lived processes, one per checkout, load the same knowledge base (`bench_engine.build`) and take
turns: each round both run the same 100 queries (which of the two goes first alternates), and the result is the
median over rounds of the per-round ratio of their medians. Drift slower than a round cancels out.

    git worktree add /tmp/before <commit>
    python3 scripts/bench_engine_ab.py /tmp/before .            # N = 1,000, 60 rounds
    python3 scripts/bench_engine_ab.py /tmp/before . --size 10000 --rounds 30
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import gc, random, sys, time
root = sys.argv[1]
sys.path[:0] = [root + "/scripts", root]
import bench_engine
from kato.engine.config import EngineConfig
from kato.engine.predictions import predict
rng = random.Random(0)
kb, patterns = bench_engine.build(int(sys.argv[2]), rng)
queries = bench_engine.states(patterns, 500, rng)
config = EngineConfig()
for stm in queries:
    predict(stm, config, kb)
gc.collect(); gc.freeze(); gc.set_threshold(50_000, 20, 100)
print("ready", flush=True)
clock = time.perf_counter
for line in sys.stdin:
    start = int(line) * 100 % 500
    times = []
    for stm in queries[start:start + 100]:
        t = clock(); predict(stm, config, kb); times.append(clock() - t)
    print(sorted(times)[len(times) // 2], flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    roots = [str(args.before.resolve()), str(args.after.resolve())]
    children = [subprocess.Popen([sys.executable, "-c", CHILD, root, str(args.size)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True) for root in roots]
    try:
        for child in children:
            if child.stdout.readline().strip() != "ready":
                raise SystemExit(f"a checkout failed to load: {roots[children.index(child)]}")
        medians: list[list[float]] = [[], []]
        for r in range(args.rounds):
            for i in (0, 1) if r % 2 == 0 else (1, 0):
                children[i].stdin.write(f"{r}\n")
                children[i].stdin.flush()
                medians[i].append(float(children[i].stdout.readline()))
    finally:
        for child in children:
            child.stdin.close()
            child.wait()
    before, after = medians
    ratio = statistics.median(b / a for a, b in zip(before, after, strict=True))
    print(f"N = {args.size}, {args.rounds} rounds of 100 queries")
    print(f"  before median {statistics.median(before) * 1e3:.3f} ms, "
          f"after median {statistics.median(after) * 1e3:.3f} ms")
    print(f"  after / before, median of per-round ratios: {ratio:.3f}")


if __name__ == "__main__":
    main()
