"""Garbage-collector settings for a worker: keep the cyclic collector off the loaded knowledge.

A worker's heap is mostly long-lived objects (decoded patterns, column indexes, memoized cuts) that reference
counting alone keeps right; a request allocates about a thousand short-lived containers that reference counting
frees. With Python's defaults (threshold 700) requests keep starting young collections whose survivors push towards
full collections, and each full collection walks every loaded record: at 100,000 patterns that was a 100 ms stall
landing in whichever request allocated at that moment (docs/BENCHMARKS.md, "Engine"). So: raise the young
threshold, and move what has been loaded so far out of the collector's view (`gc.freeze()`, O(1)) now and then,
since the store decodes records lazily. A cycle frozen by mistake is only leaked, never freed early.
"""

from __future__ import annotations

import asyncio
import gc

THRESHOLDS = (50_000, 20, 100)
REFREEZE_SECONDS = 30.0


def apply() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


async def refreeze_forever(interval: float = REFREEZE_SECONDS) -> None:
    while True:
        await asyncio.sleep(interval)
        gc.freeze()
