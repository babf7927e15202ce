"""Which worker owns a session: jump consistent hash of a stable digest of the session id.

Every process computes the same owner for the same id (a digest, never Python's per-process `hash()`), and going
from N to N+1 workers moves only about 1/(N+1) of the sessions (Lamping and Veach's jump hash).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

_MULTIPLIER = 2862933555777941757
_MASK = (1 << 64) - 1


def jump_hash(key: int, buckets: int) -> int:
    """The bucket in [0, buckets) of a 64-bit key."""
    if buckets <= 0:
        raise ValueError("buckets must be positive")
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * _MULTIPLIER + 1) & _MASK
        j = int((b + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return b


def session_key(session_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(session_id.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


@lru_cache(maxsize=16384)
def owner_of(session_id: str, workers: int) -> int:
    """The worker slot that owns `session_id` among `workers` slots.

    Asked at least twice per request with several workers (where the connection goes, then the middleware's check)
    and the digest plus the hash loop cost ~14k instructions; the answer is a pure function of the arguments, so
    recent ones are remembered (~1k on a hit)."""
    return jump_hash(session_key(session_id), workers)
