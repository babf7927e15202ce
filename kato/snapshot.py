"""A session's snapshot: the bytes a worker writes on every request so that a restarted worker loses nothing.

Format: the expiry as 8 bytes (read without decoding, for counting and sweeping), then one JSON document. It is
written on every request, so nothing is encoded twice: the config is re-encoded only when a config update replaces
the config object, and the STM, emotives and metadata (up to 1,000 items each) are kept as JSON text that grows at
the end and is cut at the front, the way the engine changes them. Encoding a 1,000-event STM in full each time cost
~25 µs (and ~40 % of an observe-only worker's CPU under load); appending one event costs about one event's worth.
"""

from __future__ import annotations

import dataclasses
import struct
from collections import deque
from itertools import islice
from operator import is_
from typing import TYPE_CHECKING, Any

import orjson

from kato import jsonio
from kato.engine.config import EngineConfig
from kato.engine.state import Percept, SessionState

if TYPE_CHECKING:
    from kato.sessions import Session

_EXPIRY = struct.Struct("<d")
EXPIRY_SIZE = _EXPIRY.size


def expires_of(data: bytes) -> float:
    """A snapshot's expiry without decoding the rest."""
    return _EXPIRY.unpack_from(data)[0]


def config_to_dict(config: EngineConfig) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


class ArrayJson:
    """The JSON array of a tuple that evolves by cuts at the front and appends at the end (an STM under auto-learn,
    rolling mode or the cap; capped accumulators), re-encoding only the appended items.

    The items' JSON lives in one buffer, comma-separated from `_base`, with each item's end offset in `_ends`, so a
    cut at the front moves `_base` and an append extends the buffer; the dead prefix is dropped once it outweighs
    the live part. Any other change (a clear, a learn, a replaced tuple) starts over from the new tuple.
    """

    __slots__ = ("_base", "_buf", "_by_identity", "_ends", "_items", "_json")

    MAX_SCAN = 64  # how far into the old tuple the new first item is looked for

    def __init__(self, *, by_identity: bool) -> None:
        """`by_identity`: kept items must be the same objects, not only equal ones (see `_cut`)."""
        self._by_identity = by_identity
        self._reset()

    def _reset(self) -> None:
        self._items: tuple = ()
        self._buf = bytearray()
        self._base = 0
        self._ends: deque[int] = deque()
        self._json = orjson.Fragment(b"[]")

    def json(self, items: tuple) -> orjson.Fragment:
        """The array's JSON; raises TypeError (and forgets everything) for an item orjson cannot write."""
        if items is self._items:
            return self._json
        try:
            self._update(items)
        except BaseException:
            self._reset()
            raise
        return self._json

    def _update(self, items: tuple) -> None:
        old = self._items
        cut = _cut(old, items, self.MAX_SCAN, self._by_identity)
        if cut is None:
            self._reset()
            kept = 0
        else:
            self._drop(cut)
            kept = len(old) - cut
        for item in items[kept:]:
            self._append(orjson.dumps(item))
        self._items = items
        self._json = orjson.Fragment(b"".join((b"[", self._buf[self._base:], b"]")))

    def _drop(self, count: int) -> None:
        ends = self._ends
        for _ in range(count):
            self._base = ends.popleft() + 1  # past the comma
        if not ends:
            self._buf.clear()
            self._base = 0
        elif self._base > 65536 and self._base * 2 > len(self._buf):
            del self._buf[:self._base]
            self._ends = deque(end - self._base for end in ends)
            self._base = 0

    def _append(self, encoded: bytes) -> None:
        if self._ends:
            self._buf += b","
        self._buf += encoded
        self._ends.append(len(self._buf))


def _cut(old: tuple, new: tuple, max_scan: int, by_identity: bool) -> int | None:
    """How many items were cut from the front of `old` if `new` is `old[cut:]` followed by appended items; None
    when it is not (or when nothing of `old` is kept). Items are located by identity and confirmed by equality
    (tuples of strings: equal means the same JSON) or, `by_identity`, by identity (dicts: equal dicts can differ in
    key order, and 1 == 1.0 == True)."""
    if not old or not new:
        return None
    first = new[0]
    for cut in range(min(len(old), max_scan)):
        if old[cut] is first:
            kept = len(old) - cut
            if kept > len(new):
                return None
            if by_identity:
                same = all(map(is_, islice(new, kept), islice(old, cut, None)))
            else:
                same = new[:kept] == old if cut == 0 else new[:kept] == old[cut:]
            return cut if same else None
    return None


class SnapshotEncoder:
    """Per-session: the JSON of what the last snapshot wrote, reused for what has not changed since."""

    __slots__ = ("_config", "_config_json", "_emotives", "_metadata", "_stm")

    def __init__(self) -> None:
        self._config: EngineConfig | None = None
        self._config_json = orjson.Fragment(b"null")
        self._stm = ArrayJson(by_identity=False)  # events: tuples of strings
        self._emotives = ArrayJson(by_identity=True)  # dicts
        self._metadata = ArrayJson(by_identity=True)

    def body(self, session: Session) -> bytes:
        state = session.state
        if state.config is not self._config:
            self._config = state.config
            self._config_json = orjson.Fragment(orjson.dumps(config_to_dict(state.config)))
        try:
            return orjson.dumps(_document(session, state, self._config_json, self._stm.json(state.stm),
                                          self._emotives.json(state.emotives), self._metadata.json(state.metadata)))
        except TypeError:  # a value orjson cannot write (an integer over 64 bits in metadata): the general path
            return jsonio.dumps(_document(session, state, config_to_dict(state.config), state.stm,
                                          state.emotives, state.metadata))


def _document(session: Session, state: SessionState, config: Any, stm: Any, emotives: Any,
              metadata: Any) -> dict[str, Any]:
    percept = None
    if state.percept is not None:
        percept = {
            "strings": state.percept.strings,
            "vectors": state.percept.vectors,
            "metadata": state.percept.metadata,
        }
    return {
        "v": 1,
        "session_id": session.session_id,
        "node_id": session.node_id,
        "created_at": session.created_at,
        "ttl_seconds": session.ttl_seconds,
        "metadata": session.metadata,
        "config": config,
        "stm": stm,
        "emotives": emotives,
        "metadata_acc": metadata,
        "time": state.time,
        "percept": percept,
    }


def encode(expires_at: float, body: bytes) -> bytes:
    return _EXPIRY.pack(expires_at) + body


def decode_state(data: bytes) -> tuple[dict[str, Any], SessionState]:
    """The session's fields and its engine state from a snapshot."""
    doc = jsonio.loads(data[_EXPIRY.size:])
    config = doc["config"]
    config["filter_pipeline"] = tuple(config["filter_pipeline"])
    percept = doc["percept"]
    state = SessionState(
        config=EngineConfig(**config),
        stm=tuple(tuple(e) for e in doc["stm"]),
        emotives=tuple(doc["emotives"]),
        metadata=tuple(doc["metadata_acc"]),
        time=doc["time"],
        percept=None if percept is None else Percept(
            strings=tuple(percept["strings"]),
            vectors=tuple(tuple(v) for v in percept["vectors"]),
            metadata=percept["metadata"],
        ),
    )
    return doc, state
