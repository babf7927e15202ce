"""The storage contract the server relies on: read views per node, ordered write batches, session snapshots.

Two implementations keep it: `kato.store.memory.MemoryStore` (tests, benchmarks) and the LMDB store. A write batch
is one transaction: its operations apply in order, all or nothing, and the caller is answered after the commit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from kato.engine.knowledge import KnowledgeView
from kato.engine.learning import LearnPlan, WriteSet
from kato.engine.session import PendingVector


@dataclass(frozen=True, slots=True)
class FinalizeTraining:
    """Compute and store whole-pattern metrics for every pattern of the node (engine.md §12.4), inside the write."""


@dataclass(frozen=True, slots=True)
class ClearNode:
    """Remove every key of the node (patterns, statistics, counters, affinities, vectors) and nothing else."""


Op = PendingVector | LearnPlan | FinalizeTraining | ClearNode
# Result per op: WriteSet | None for a LearnPlan, the number of patterns for FinalizeTraining, None otherwise.
OpResult = WriteSet | int | None


class NodeView(KnowledgeView, Protocol):
    """A consistent read view of one node, plus the whole-node reads of the pattern and symbol endpoints."""

    def all_affinities(self) -> Mapping[str, Mapping[str, float]]: ...


class KnowledgeStore(Protocol):
    def view(self, node_id: str) -> AbstractContextManager[NodeView]:
        """A read view valid inside the `with` block (one read transaction)."""

    async def write(self, node_id: str, ops: Sequence[Op]) -> list[OpResult]:
        """Apply the ops in order in one durable transaction; returns one result per op."""

    def close(self) -> None: ...


class SessionSnapshots(Protocol):
    """Durable copies of session state (opaque bytes), so a restarted worker loses no session."""

    def put(self, session_id: str, data: bytes) -> None: ...

    def get(self, session_id: str) -> bytes | None: ...

    def delete(self, session_id: str) -> bool: ...

    def items(self) -> Iterator[tuple[str, bytes]]: ...

    def heads(self, size: int) -> Iterator[tuple[str, bytes]]:
        """Every snapshot's id and the first `size` bytes of its data, without copying the rest (counting and
        sweeping read only a fixed-size header, and are called by health checks)."""
        ...
