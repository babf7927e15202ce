"""Shared fixtures: every engine test runs against each knowledge-base implementation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kato.store.memory import MemoryKnowledgeBase


@pytest.fixture(params=["memory", "lmdb"])
def kb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    if request.param == "memory":
        yield MemoryKnowledgeBase()
        return
    from kato.store.lmdb_store import LmdbKnowledgeBase, LmdbStore

    base = LmdbKnowledgeBase(LmdbStore(tmp_path / "kb", map_size=1 << 30), "node")
    try:
        yield base
    finally:
        base.close()
