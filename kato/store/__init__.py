"""Storage of knowledge bases and session snapshots."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kato.store.lmdb_store import LmdbStore
    from kato.store.sessions import LmdbSessionSnapshots

KNOWLEDGE_DIR = "knowledge"
SESSIONS_DIR = "sessions"


def open_store(
    data_dir: str | os.PathLike[str], *, sync: bool = True, map_size: int | None = None
) -> tuple[LmdbStore, LmdbSessionSnapshots]:
    """The LMDB knowledge store (`<data_dir>/knowledge`, fsync'd when `sync`) and the session snapshots
    (`<data_dir>/sessions`, never fsync'd). Call in each process after it started; close both when done."""
    from kato.store.environment import DEFAULT_MAP_SIZE
    from kato.store.lmdb_store import LmdbStore
    from kato.store.sessions import LmdbSessionSnapshots

    root = Path(data_dir)
    store = LmdbStore(root / KNOWLEDGE_DIR, sync=sync, map_size=map_size or DEFAULT_MAP_SIZE)
    try:
        sessions = LmdbSessionSnapshots(root / SESSIONS_DIR)
    except BaseException:
        store.close()
        raise
    return store, sessions
