"""What the engine may read from a node's knowledge base, and the records it reads.

The engine never holds a knowledge base; it is handed a `KnowledgeView` per call. Implementations: the in-memory
one in `kato.store.memory` (tests, benchmarks) and the LMDB one in `kato.store`. Every method is a read of the
node's long-term memory as of one consistent moment (one read transaction in LMDB).

Three optional methods give the prediction path per-process state that the view's owner keeps and drops with its
other caches (the engine itself holds none): `columnar()`, the node's `ColumnarIndex` of pattern symbols,
`alignment_memo()`, an `AlignmentMemo` of projection alignments (valid for every version of the node), and
`score_memo()`, a `BoundedMemo` of per-pattern scores valid for exactly the version the view reads. A view without
them gets the plain paths.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Event = tuple[str, ...]
Events = tuple[Event, ...]


# Entries of a view's memo of per-pattern scores (`score_memo()`): distinct (present, frequency) pairs of a version.
# About 300 bytes an entry, and a process keeps one memo per cached node (up to 4,096 nodes): ~1.2 MB per busy node.
SCORE_MEMO_SIZE = 1 << 12


class BoundedMemo(dict):
    """A memo cleared when full: that costs only recomputation, lookups stay plain dict reads, and clearing is safe
    under concurrent readers, unlike reordering an LRU list."""

    __slots__ = ("limit",)

    def __init__(self, limit: int = 1 << 12) -> None:
        super().__init__()
        self.limit = limit

    def add(self, key: Any, value: Any) -> Any:
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value


@dataclass(frozen=True, slots=True)
class FinalizedMetrics:
    """Whole-pattern metrics frozen by finalize-training (engine.md §12.4)."""

    entropy: float
    normalized_entropy: float
    global_normalized_entropy: float
    tf_vector: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class PatternRecord:
    """One stored pattern (engine.md §4.4); `name` is the bare 40-hex sha1."""

    name: str
    events: Events
    length: int
    frequency: int
    emotives: tuple[Mapping[str, float], ...] = ()
    metadata: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    finalized: FinalizedMetrics | None = None
    # Derived once per record: predictions read them for every candidate.
    symbols: tuple[str, ...] = field(init=False, repr=False, compare=False)
    lengths: tuple[int, ...] = field(init=False, repr=False, compare=False)
    # Wire forms derived from this immutable record, memoized by the prediction path (`sequence`, `emotives`).
    derived: dict[str, Any] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbols", tuple(s for event in self.events for s in event))
        object.__setattr__(self, "lengths", tuple(len(event) for event in self.events))

    @property
    def first_symbol(self) -> str:
        return self.events[0][0]


@dataclass(frozen=True, slots=True)
class SymbolStats:
    """Per-symbol statistics: total occurrences and the number of distinct patterns holding the symbol."""

    frequency: int = 0
    pattern_member_frequency: int = 0


@dataclass(frozen=True, slots=True)
class Counters:
    """The three global counters of engine.md §4.3 (total_pattern_frequencies counts new patterns only)."""

    total_symbols_in_patterns_frequencies: int = 0
    total_pattern_frequencies: int = 0
    total_unique_patterns: int = 0


class KnowledgeView(Protocol):
    """Read interface of one node's knowledge base."""

    def pattern(self, name: str) -> PatternRecord | None:
        """The pattern with this bare name, or None."""

    def patterns(self) -> Iterable[PatternRecord]:
        """Every pattern of the node, in a stable order (first-learn order)."""

    def pattern_count(self) -> int:
        """Number of distinct patterns."""

    def patterns_with_symbol(self, symbol: str) -> Sequence[str]:
        """Names of the patterns that contain `symbol`, in first-learn order."""

    def patterns_starting_with(self, symbol: str) -> Sequence[str]:
        """Names of the patterns whose first symbol is `symbol`, in first-learn order (engine.md §11)."""

    def symbol_stats(self, symbol: str) -> SymbolStats | None:
        """Statistics of one symbol, None if it was never learned."""

    def all_symbol_stats(self) -> Mapping[str, SymbolStats]:
        """Every learned symbol's statistics."""

    def vocabulary_size(self) -> int:
        """Number of distinct learned symbols (N of engine.md §9)."""

    def counters(self) -> Counters:
        """The node's global counters."""

    def affinity(self, symbol: str) -> Mapping[str, float]:
        """Accumulated affinity of a symbol per emotive ({} if none)."""

    def nearest_vectors(self, vector: Sequence[float], k: int) -> list[str]:
        """Names of the k nearest *indexed* vectors by Euclidean distance ([] if none or dimensions differ)."""
