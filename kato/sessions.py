"""Sessions as the server holds them: identity, TTL, metadata and the engine's `SessionState`.

The registry lives in the worker that owns the sessions (DESIGN.md rule 2); it is the only place a session is
mutated, and it writes a snapshot on every change so that a restarted worker loads the session back on first touch.
Expiry is sliding (api.md §2.2): every lookup moves `expires_at` to now + the session's TTL.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

from kato import snapshot
from kato.engine.config import EngineConfig
from kato.engine.state import SessionState
from kato.snapshot import EXPIRY_SIZE, expires_of
from kato.store.interface import SessionSnapshots


class Session:
    """One session as its owner holds it. Assigning `state` drops the cached snapshot body, so a request that
    only slides the expiry re-writes 8 bytes of header plus the cached body instead of re-encoding the STM."""

    __slots__ = ("_body", "_encoder", "_state", "created_at", "expires_at", "lock", "metadata", "node_id",
                 "session_id", "ttl_seconds")

    def __init__(self, session_id: str, node_id: str, created_at: float, expires_at: float, ttl_seconds: int,
                 metadata: dict[str, Any], state: SessionState) -> None:
        self.session_id = session_id
        self.node_id = node_id
        self.created_at = created_at
        self.expires_at = expires_at
        self.ttl_seconds = ttl_seconds
        self.metadata = metadata
        self._state = state
        self._body: bytes | None = None
        self._encoder = snapshot.SnapshotEncoder()
        self.lock = asyncio.Lock()

    @property
    def state(self) -> SessionState:
        return self._state

    @state.setter
    def state(self, state: SessionState) -> None:
        self._state = state
        self._body = None

    def alive(self, now: float) -> bool:
        return self.expires_at > now


def new_session_id(now: float) -> str:
    return f"session-{uuid.uuid4().hex}-{int(now * 1000)}"


# ---------------------------------------------------------------------------------------------------- snapshots

def encode(session: Session) -> bytes:
    """The snapshot: expiry + the JSON body, the body cached per state (a read only slides the expiry)."""
    body = session._body
    if body is None:
        body = session._body = session._encoder.body(session)
    return snapshot.encode(session.expires_at, body)


def decode(data: bytes) -> Session:
    doc, state = snapshot.decode_state(data)
    return Session(
        session_id=doc["session_id"],
        node_id=doc["node_id"],
        created_at=doc["created_at"],
        expires_at=expires_of(data),
        ttl_seconds=doc["ttl_seconds"],
        metadata=doc["metadata"],
        state=state,
    )


# ---------------------------------------------------------------------------------------------------- registry

class SessionRegistry:
    """The sessions this worker owns, backed by durable snapshots.

    `owns` says whether this worker owns a session id. New ids are drawn uniformly, whichever worker creates them,
    so sessions spread over the workers even when one pooled connection (a load balancer's) creates them all; a
    session another worker owns is written to the store only, and its owner loads it on first touch.
    """

    def __init__(
        self,
        snapshots: SessionSnapshots,
        clock: Callable[[], float] = time.time,
        owns: Callable[[str], bool] = lambda session_id: True,
    ) -> None:
        self._sessions: dict[str, Session] = {}
        self._snapshots = snapshots
        self._clock = clock
        self._owns = owns
        self.created_total = 0
        self.deleted_total = 0

    def now(self) -> float:
        return self._clock()

    def create(self, node_id: str, ttl_seconds: int, metadata: dict[str, Any], config: EngineConfig) -> Session:
        now = self._clock()
        session = Session(
            session_id=new_session_id(now),
            node_id=node_id,
            created_at=now,
            expires_at=now + ttl_seconds,
            ttl_seconds=ttl_seconds,
            metadata=metadata,
            state=SessionState(config=config),
        )
        if self._owns(session.session_id):
            self._sessions[session.session_id] = session
        self.save(session)
        self.created_total += 1
        return session

    def _load(self, session_id: str) -> Session | None:
        session = self._sessions.get(session_id)
        if session is None:
            data = self._snapshots.get(session_id)
            if data is None:
                return None
            session = decode(data)
            self._sessions[session_id] = session
        return session

    def peek(self, session_id: str) -> Session | None:
        """The live session without extending its TTL (the `exists` probe)."""
        session = self._load(session_id)
        if session is None:
            return None
        if not session.alive(self._clock()):
            self._drop(session_id)
            return None
        return session

    def get(self, session_id: str) -> Session | None:
        """The live session, with its expiry slid forward (api.md §2.2); the caller saves it after its change."""
        session = self.peek(session_id)
        if session is not None:
            session.expires_at = self._clock() + session.ttl_seconds
        return session

    def save(self, session: Session) -> None:
        self._snapshots.put(session.session_id, encode(session))

    def delete(self, session_id: str) -> bool:
        if self.peek(session_id) is None:
            return False
        self._drop(session_id)
        self.deleted_total += 1
        return True

    def _drop(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)
        self._snapshots.delete(session_id)

    def count(self) -> int:
        """Live sessions across every worker: counted from the shared snapshots, exact, never cached."""
        now = self._clock()
        live = 0
        for session_id, head in self._snapshots.heads(EXPIRY_SIZE):
            session = self._sessions.get(session_id)
            expires_at = session.expires_at if session is not None else expires_of(head)
            live += expires_at > now
        return live

    def sweep(self) -> int:
        """Forget expired sessions held in memory and in the snapshots."""
        now = self._clock()
        expired = [sid for sid, s in self._sessions.items() if not s.alive(now)]
        for session_id, head in self._snapshots.heads(EXPIRY_SIZE):
            if session_id not in self._sessions and expires_of(head) <= now:
                expired.append(session_id)
        for session_id in expired:
            self._drop(session_id)
        return len(expired)

    def local_sessions(self) -> list[Session]:
        return list(self._sessions.values())
