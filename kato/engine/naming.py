"""Content-addressed names: PTRN for patterns (engine.md §4.2) and VCTR for vectors (§12.5), byte-exact."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

PATTERN_PREFIX = "PTRN|"
VECTOR_PREFIX = "VCTR|"


def pattern_name(events: Sequence[Sequence[str]]) -> str:
    """Bare sha1 of the Python repr of the events as a list of lists, which is what the reference hashes.

    Lists, not tuples: `str()` of a tuple would change the bytes and so the name.
    """
    return hashlib.sha1(str([list(event) for event in events]).encode()).hexdigest()


def strip_pattern_prefix(name: str) -> str:
    return name[len(PATTERN_PREFIX):] if name.startswith(PATTERN_PREFIX) else name


def sum_vectors(vectors: Sequence[Sequence[float]]) -> np.ndarray:
    """Element-wise float64 sum of an observation's vectors, with numpy's broadcasting rules.

    Raises ValueError when the shapes cannot be broadcast together (the reference answers 500 there).
    """
    total = np.asarray(vectors[0], dtype=np.float64)
    for vector in vectors[1:]:
        total = total + np.asarray(vector, dtype=np.float64)
    if total.ndim != 1:
        raise ValueError("vectors must be flat lists of numbers")
    return total


def vector_name(vector: np.ndarray) -> str:
    """`VCTR|` + sha1 of numpy's default string form of the vector (precision 8, line width 75)."""
    return VECTOR_PREFIX + hashlib.sha1(str(vector).encode()).hexdigest()
