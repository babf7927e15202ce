"""The optional candidate filter pipeline of engine.md §6 (session `filter_pipeline`).

Deviations (docs/COMPATIBILITY.md): MinHash bands hash with a stable digest instead of Python's per-process
`hash()`, and `bloom` is a real pre-filter that can never drop a pattern sharing a symbol with the state.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from functools import lru_cache

from kato.engine.config import EngineConfig
from kato.engine.knowledge import PatternRecord

_MERSENNE = (1 << 61) - 1


def _stable_hash(text: str, salt: int = 0) -> int:
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8, salt=salt.to_bytes(8, "little"))
    return int.from_bytes(digest.digest(), "little")


@lru_cache(maxsize=8)
def _permutations(count: int) -> tuple[tuple[int, int], ...]:
    """A constant table per `count` (the same in every process): cached as a constant, not as state."""
    return tuple(
        (_stable_hash("a", i) % (_MERSENNE - 1) + 1, _stable_hash("b", i) % _MERSENNE) for i in range(count)
    )


def _record_signature(record: PatternRecord, count: int) -> tuple[int, ...]:
    """A pattern's signature, memoized on the immutable record (dropped with it), never in the engine."""
    key = f"minhash:{count}"
    signature = record.derived.get(key)
    if signature is None:
        signature = record.derived[key] = minhash_signature(frozenset(s for e in record.events for s in e), count)
    return signature


def minhash_signature(tokens: frozenset[str], count: int) -> tuple[int, ...]:
    """A MinHash signature over distinct tokens, identical in every process and under any hash seed."""
    hashes = [_stable_hash(t) for t in tokens]
    if not hashes:
        return (_MERSENNE,) * count
    return tuple(min((a * h + b) % _MERSENNE for h in hashes) for a, b in _permutations(count))


def _length_stage(config: EngineConfig, state: Sequence[str]) -> Callable[[PatternRecord], bool]:
    rmin = config.length_min_ratio or 0.5
    rmax = config.length_max_ratio or 2.0
    low, high = max(1, int(len(state) * rmin)), int(len(state) * rmax)
    return lambda record: low <= record.length <= high


def _jaccard_stage(config: EngineConfig, state: Sequence[str]) -> Callable[[PatternRecord], bool]:
    tokens = set(state)

    def keep(record: PatternRecord) -> bool:
        pattern_tokens = {s for e in record.events for s in e}
        shared = len(pattern_tokens & tokens)
        union = len(pattern_tokens | tokens)
        return shared >= config.jaccard_min_overlap and union > 0 and shared / union >= config.jaccard_threshold

    return keep


def _minhash_stage(config: EngineConfig, state: Sequence[str]) -> Callable[[PatternRecord], bool]:
    count = max(config.minhash_num_hashes, config.minhash_bands * config.minhash_rows)
    rows, bands = config.minhash_rows, config.minhash_bands
    mine = minhash_signature(frozenset(state), count)
    my_bands = {(b, *mine[b * rows:(b + 1) * rows]) for b in range(bands)}

    def keep(record: PatternRecord) -> bool:
        theirs = _record_signature(record, count)
        if not any((b, *theirs[b * rows:(b + 1) * rows]) in my_bands for b in range(bands)):
            return False
        estimate = sum(x == y for x, y in zip(mine, theirs, strict=True)) / count
        return estimate >= config.minhash_threshold

    return keep


def _bloom_stage(config: EngineConfig, state: Sequence[str]) -> Callable[[PatternRecord], bool]:
    """A Bloom filter of the state's symbols; false positives only keep more, so no sharing pattern is lost."""
    items = max(1, len(set(state)))
    rate = min(max(config.bloom_false_positive_rate, 1e-6), 0.5)
    size = max(64, int(-items * math.log(rate) / (math.log(2) ** 2)))
    probes = max(1, round(size / items * math.log(2)))
    bits = bytearray((size + 7) // 8)

    def positions(symbol: str) -> list[int]:
        h1, h2 = _stable_hash(symbol, 1), _stable_hash(symbol, 2) | 1
        return [(h1 + i * h2) % size for i in range(probes)]

    for symbol in set(state):
        for p in positions(symbol):
            bits[p >> 3] |= 1 << (p & 7)

    def keep(record: PatternRecord) -> bool:
        return any(
            all(bits[p >> 3] & (1 << (p & 7)) for p in positions(s)) for s in {s for e in record.events for s in e}
        )

    return keep


_STAGES: dict[str, Callable[[EngineConfig, Sequence[str]], Callable[[PatternRecord], bool]]] = {
    "length": _length_stage,
    "jaccard": _jaccard_stage,
    "minhash": _minhash_stage,
    "bloom": _bloom_stage,
}


def run_pipeline(
    candidates: list[PatternRecord],
    config: EngineConfig,
    state: Sequence[str],
    similarity_check: Callable[[PatternRecord], bool],
) -> list[PatternRecord]:
    """Apply the session's stages in order; unknown names are skipped, an empty stage ends the pipeline."""
    for name in config.filter_pipeline:
        if name == "rapidfuzz":
            keep = similarity_check
        elif name in _STAGES:
            keep = _STAGES[name](config, state)
        else:
            continue
        candidates = [c for c in candidates if keep(c)][: config.max_candidates_per_stage]
        if not candidates:
            return []
    return candidates
