"""Carrying a request to the worker that owns its session.

A request can arrive at any worker (they share the public listening socket). Requests about one session go to the
session's owner over that worker's Unix socket; everything else is answered where it lands. While an owner
restarts, the request waits briefly for it, then gets 503 with Retry-After: never an answer from a non-owner.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import aiohttp
from aiohttp import web
from yarl import URL

from kato.api.errors import ApiError
from kato.cluster.ring import owned_session_id, owner_of

log = logging.getLogger("kato.routing")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

FORWARDED = "X-Kato-Forwarded"
_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length",
})
_NOT_COPIED_BACK = _HOP_BY_HOP | {"date", "server", "content-type"}


def socket_path(run_dir: Path, slot: int) -> Path:
    return run_dir / f"worker-{slot}.sock"


def session_in_path(raw_path: str) -> str | None:
    """The session a request is about: the segment after /sessions/, except the collection routes."""
    parts = raw_path.split("?", 1)[0].split("/")
    if len(parts) < 3 or parts[1] != "sessions" or not parts[2]:
        return None
    if len(parts) == 3 and parts[2] == "count":
        return None
    return unquote(parts[2])


@dataclass
class OwnerRouter:
    slot: int
    workers: int
    run_dir: Path
    owner_wait: float = 3.0
    _clients: dict[int, aiohttp.ClientSession] = field(default_factory=dict)
    forwarded: int = 0

    def owner(self, session_id: str) -> int:
        return owner_of(session_id, self.workers)

    def new_session_id(self, now: float) -> str:
        """Ids this worker owns, so the worker that creates a session keeps it."""
        return owned_session_id(self.slot, self.workers, int(now * 1000))

    def _client(self, slot: int) -> aiohttp.ClientSession:
        client = self._clients.get(slot)
        if client is None or client.closed:
            connector = aiohttp.UnixConnector(path=str(socket_path(self.run_dir, slot)), limit=0)
            client = self._clients[slot] = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                timeout=aiohttp.ClientTimeout(total=None, connect=1.0),
            )
        return client

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.headers.get(FORWARDED) or self.workers <= 1:
            return await handler(request)
        session_id = session_in_path(request.raw_path)
        if session_id is None:
            return await handler(request)
        owner = self.owner(session_id)
        if owner == self.slot:
            return await handler(request)
        return await self.forward(request, owner)

    @staticmethod
    def _unavailable(owner: int, request: web.Request, exc: Exception) -> ApiError:
        log.warning("owner %d unavailable for %s %s: %s", owner, request.method, request.path, exc)
        return ApiError(503, {"detail": f"Worker {owner} owning this session is restarting"}, {"Retry-After": "1"})

    async def forward(self, request: web.Request, owner: int) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers[FORWARDED] = str(self.slot)
        url = URL("http://kato" + request.raw_path, encoded=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.owner_wait
        while True:
            try:
                async with self._client(owner).request(request.method, url, data=body, headers=headers) as answer:
                    payload = await answer.read()
                    self.forwarded += 1
                    response = web.Response(status=answer.status, body=payload,
                                            content_type=answer.content_type, charset=answer.charset)
                    for name, value in answer.headers.items():
                        if name.lower() not in _NOT_COPIED_BACK:
                            response.headers.add(name, value)
                    return response
            except aiohttp.ClientConnectorError as exc:
                # Nothing reached the owner (it is down or restarting): wait for it, briefly.
                if loop.time() >= deadline:
                    raise self._unavailable(owner, request, exc) from None
            except (aiohttp.ClientError, ConnectionError) as exc:
                # Cut off mid-way: the owner may have applied it. Reported, never replayed, so no write is doubled.
                raise self._unavailable(owner, request, exc) from None
                await asyncio.sleep(0.05)
