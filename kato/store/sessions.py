"""Durable session snapshots in their own LMDB environment, written without fsync.

Why a second environment: snapshots are written on every session change, from the event loop, and must cost
microseconds. With `sync=False` and `metasync=False` a commit is a few page writes into the OS page cache: the data
survives a crash of the process (what a worker restart needs) but not a power cut. With `writemap` a commit writes
into the shared map instead of issuing a pwrite per page (~7 -> ~2.5 µs a snapshot; the file is then sized to the
map, sparsely). Keeping them apart from the knowledge base means the knowledge base keeps fsync'd commits and its
writer lock is never taken for a snapshot.

The write transaction of `put`/`delete` begins and ends on the calling thread inside the call, as LMDB requires.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

from kato import forks
from kato.store import layout
from kato.store.environment import GIB, open_environment

DEFAULT_SESSIONS_MAP_SIZE = 16 * GIB
_ID_LEN = struct.Struct(">I")


class LmdbSessionSnapshots:
    """`SessionSnapshots`: session_id -> opaque bytes. Open one per process, after it started."""

    def __init__(self, path: str | os.PathLike[str], *, map_size: int = DEFAULT_SESSIONS_MAP_SIZE) -> None:
        self._fork = forks.generation()
        self._env = open_environment(path, map_size=map_size, max_dbs=0, sync=False, metasync=False,
                                     writemap=True)
        self._closed = False

    @staticmethod
    def _key(session_id: str) -> bytes:
        return layout.text_key(session_id)

    def put(self, session_id: str, data: bytes) -> None:
        raw_id = layout.encode_text(session_id)
        with self._env.begin(write=True) as txn:
            txn.put(self._key(session_id), _ID_LEN.pack(len(raw_id)) + raw_id + bytes(data))

    def get(self, session_id: str) -> bytes | None:
        with self._env.begin() as txn:
            value = txn.get(self._key(session_id))
        return None if value is None else _split(value)[1]

    def delete(self, session_id: str) -> bool:
        with self._env.begin(write=True) as txn:
            return txn.delete(self._key(session_id))

    def items(self) -> Iterator[tuple[str, bytes]]:
        """Every snapshot, read in one transaction and returned as a list iterator (the transaction is closed)."""
        with self._env.begin() as txn:
            return iter([_split(value) for value in txn.cursor().iternext(keys=False)])

    def heads(self, size: int) -> Iterator[tuple[str, bytes]]:
        """Id and leading bytes of every snapshot, read from the map in place (`buffers=True`): only those bytes
        are copied, whatever the size of the STMs."""
        heads = []
        with self._env.begin(buffers=True) as txn:
            for value in txn.cursor().iternext(keys=False):
                (id_size,) = _ID_LEN.unpack_from(value)
                start = _ID_LEN.size
                heads.append((layout.decode_text(value[start:start + id_size]),
                              bytes(value[start + id_size:start + id_size + size])))
        return iter(heads)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if forks.generation() == self._fork:
                self._env.close()


def _split(value: bytes) -> tuple[str, bytes]:
    """(session_id, data): the id is stored with the data because long ids are hashed in the key."""
    (size,) = _ID_LEN.unpack_from(value)
    start = _ID_LEN.size
    return layout.decode_text(value[start:start + size]), value[start + size:]
