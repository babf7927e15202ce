"""What every handler of one worker shares: settings, the store, the sessions it owns, counters, event sockets."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from kato.api.ids import HexIds
from kato.config import Settings
from kato.sessions import Session, SessionRegistry
from kato.store.interface import KnowledgeStore


@dataclass(slots=True)
class RequestStats:
    total: int = 0
    errors: int = 0
    seconds: float = 0.0
    in_flight: int = 0
    peak_in_flight: int = 0


@dataclass(slots=True)
class Context:
    settings: Settings
    store: KnowledgeStore
    registry: SessionRegistry
    started_at: float = field(default_factory=time.time)
    stats: RequestStats = field(default_factory=RequestStats)
    sockets: set[web.WebSocketResponse] = field(default_factory=set)
    worker_id: int = 0
    ids: HexIds = field(default_factory=HexIds)
    # Counters of the process model (forwarded requests, handed-off connections), filled in by the worker.
    routing_stats: Callable[[], dict[str, int]] | None = None

    def uptime(self) -> float:
        return time.time() - self.started_at


CONTEXT = web.AppKey("kato", Context)
SESSION = web.RequestKey("session", Session)


def context(request: web.Request) -> Context:
    return request.app[CONTEXT]


def session_of(request: web.Request) -> Session:
    """The session the session middleware resolved for this request."""
    return request[SESSION]
