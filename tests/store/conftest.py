"""Fixtures of the store tests: a real LMDB store in a temporary directory, and the spawn context."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from multiprocessing.context import SpawnContext
from pathlib import Path

import pytest

from kato.store.lmdb_store import LmdbStore
from tests.store.support import TEST_MAP_SIZE


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "knowledge"


@pytest.fixture
def store(store_path: Path) -> Iterator[LmdbStore]:
    opened = LmdbStore(store_path, map_size=TEST_MAP_SIZE)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def spawn() -> SpawnContext:
    """Worker processes start fresh and open the environment themselves, as kato's supervisor does."""
    return multiprocessing.get_context("spawn")
