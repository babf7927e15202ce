"""Opening LMDB environments the one way kato allows.

Process rules (DESIGN.md rule 3, and the lmdb documentation on multiprocessing):
- Every process opens the environment itself *after it starts*. An open environment must never cross a fork: the
  child would share the parent's lock-table slots and memory map state. kato's supervisor therefore starts its
  workers with the `spawn` start method, and `LmdbStore` refuses to be used from a process other than the one that
  opened it.
- A process opens a given environment at most once at a time: LMDB's POSIX locks are per process, so closing a
  second handle would silently drop the first one's locks (python-lmdb 3 refuses the second open).
- One large `map_size` chosen at open (it is address space, not disk), never resized at run time; every process
  uses the same `max_dbs`; `max_readers` is large enough for every worker's concurrent read transactions.
"""

from __future__ import annotations

import os
from pathlib import Path

import lmdb

from kato.store import layout

GIB = 1 << 30
DEFAULT_MAP_SIZE = 64 * GIB
DEFAULT_MAX_READERS = 1024


class StoreProcessError(RuntimeError):
    """The environment is used against the process rules above, or holds a layout this kato cannot read."""


def open_environment(
    path: str | os.PathLike[str],
    *,
    map_size: int = DEFAULT_MAP_SIZE,
    max_readers: int = DEFAULT_MAX_READERS,
    max_dbs: int = layout.MAX_DBS,
    sync: bool = True,
    metasync: bool | None = None,
    writemap: bool = False,
) -> lmdb.Environment:
    """Open (creating the directory if needed) an environment in this process.

    `sync=False` skips the fsync at commit: committed data then survives a crash of the process (it is in the
    OS page cache) but not of the machine. `metasync` follows `sync` unless given. `writemap` commits by writing
    into the shared map instead of with pwrite calls (LMDB then sizes the file to the map, sparsely).
    """
    Path(path).mkdir(parents=True, exist_ok=True)
    return lmdb.open(
        os.fspath(path),
        map_size=map_size,
        max_readers=max_readers,
        max_dbs=max_dbs,
        subdir=True,
        sync=sync,
        metasync=sync if metasync is None else metasync,
        lock=True,
        writemap=writemap,
    )


def migrate(path: str | os.PathLike[str], *, map_size: int = DEFAULT_MAP_SIZE) -> None:
    """Create the knowledge base's named databases at `path` once, before the workers start.

    The supervisor runs this in its own process and closes the environment again before spawning workers (an open
    environment must not be inherited). Stores also run `migrate_environment` at open, so this is an optimisation
    of the first start and a place to fail early on a layout mismatch, not a requirement.
    """
    env = open_environment(path, map_size=map_size)
    try:
        migrate_environment(env)
    finally:
        env.close()


def migrate_environment(env: lmdb.Environment) -> None:
    """Create the named databases and record the layout version (idempotent; safe from many processes at once).

    Runs in one write transaction: LMDB serializes it with every other writer, so concurrent first starts agree.
    """
    with env.begin(write=True) as txn:
        for spec in layout.DATABASES:
            env.open_db(spec.name, txn=txn, dupsort=spec.dupsort, create=True)
        meta = env.open_db(layout.META, txn=txn, create=False)
        stored = txn.get(layout.META_LAYOUT, db=meta)
        if stored is None:
            txn.put(layout.META_LAYOUT, str(layout.LAYOUT_VERSION).encode(), db=meta)
        elif int(stored) != layout.LAYOUT_VERSION:
            raise StoreProcessError(f"store layout {int(stored)} found, this kato reads layout {layout.LAYOUT_VERSION}")


def open_databases(env: lmdb.Environment) -> dict[bytes, lmdb._Database]:
    """Handles of every named database (they must exist: `migrate` first).

    LMDB only allows writes through handles opened by a write transaction, so this begins one; callers run it on
    the thread that owns the process's writes (the store's writer thread).
    """
    with env.begin(write=True) as txn:
        return {spec.name: env.open_db(spec.name, txn=txn, dupsort=spec.dupsort, create=False)
                for spec in layout.DATABASES}


def reader_check(env_or_path: lmdb.Environment | str | os.PathLike[str]) -> int:
    """Clear reader-table slots left by dead processes; returns how many were cleared.

    The supervisor calls this after a worker dies: a killed process's read transaction would otherwise pin old
    pages (the file grows) until its slot is reused. Given a path, the environment is opened just for the check
    (the supervisor holds no environment open while it spawns workers).
    """
    if isinstance(env_or_path, lmdb.Environment):
        return env_or_path.reader_check()
    env = open_environment(env_or_path)
    try:
        return env.reader_check()
    finally:
        env.close()
