"""A session's snapshot: the bytes a worker writes on every request so that a restarted worker loses nothing.

Format: the expiry as 8 bytes (read without decoding, for counting and sweeping), then one JSON document. It is
written on every request, so what rarely changes is encoded once per session: the config (re-encoded only when a
config update replaces the config object). The STM is encoded in full each time (orjson: ~26 µs at the 1,000-event
cap); keeping per-event JSON and joining it measured no faster at that size, as joining 1,000 small byte strings
costs about what orjson's whole encoding does.
"""

from __future__ import annotations

import dataclasses
import struct
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


class SnapshotEncoder:
    """Per-session: the config JSON of the last snapshot, reused while the config object is the same."""

    __slots__ = ("_config", "_config_json")

    def __init__(self) -> None:
        self._config: EngineConfig | None = None
        self._config_json = orjson.Fragment(b"null")

    def body(self, session: Session) -> bytes:
        state = session.state
        if state.config is not self._config:
            self._config = state.config
            self._config_json = orjson.Fragment(orjson.dumps(config_to_dict(state.config)))
        try:
            return orjson.dumps(_document(session, state, self._config_json, state.stm, state.emotives,
                                          state.metadata))
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
