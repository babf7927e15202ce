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

from aiohttp import web

from kato.api.errors import ApiError
from kato.api.paths import session_segments
from kato.cluster.ring import owner_of

log = logging.getLogger("kato.routing")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

FORWARDED = "X-Kato-Forwarded"
# Expect too: the worker that took the request has answered it and holds the whole body; asked again, the owner
# would send an interim 100 that the forwarder would read as its answer.
_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length", "expect",
})
_NOT_COPIED_BACK = _HOP_BY_HOP | {"date", "server", "content-type"}


def socket_path(run_dir: Path, slot: int) -> Path:
    return run_dir / f"worker-{slot}.sock"


def session_in_path(raw_path: str) -> str | None:
    """The session a request is about: the segment after /sessions/, except the collection routes."""
    parts = session_segments(raw_path)
    return None if parts is None else _session_of_segments(parts)


def _session_of_segments(parts: list[str]) -> str | None:
    """The session of a /sessions/{id}[/...] path's segments; None for the collection routes (/sessions/count)."""
    if len(parts) == 3 and parts[2] == "count":
        return None
    return unquote(parts[2])


class _OwnerLink:
    """Keep-alive HTTP/1.1 connections to one owner's Unix socket, spoken by hand: forwarding is on the hot path,
    and a general-purpose client costs several times the request itself. Responses from kato always carry a
    Content-Length."""

    def __init__(self, path: Path, idle_seconds: float) -> None:
        """`idle_seconds`: how long an idle connection may be reused; well under the owner's keep-alive, so a reused
        connection is never one the owner is closing."""
        self.path = str(path)
        self.idle_seconds = idle_seconds
        self._idle: list[tuple[float, asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection, reused when fresh enough; raises OSError when the owner is not listening (nothing sent)."""
        now = asyncio.get_running_loop().time()
        while self._idle:
            since, reader, writer = self._idle.pop()
            if now - since < self.idle_seconds and not reader.at_eof():
                return reader, writer
            writer.close()
        return await asyncio.open_unix_connection(self.path)

    async def exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       request: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        try:
            writer.write(request)
            try:
                head = await reader.readuntil(b"\r\n\r\n")  # one await for the whole head, not one per line
            except asyncio.IncompleteReadError as exc:
                if not exc.partial:
                    raise ConnectionResetError("owner closed the connection") from None
                raise
            status_line, *lines = head[:-4].decode("latin-1").split("\r\n")
            headers: list[tuple[str, str]] = []
            length = 0
            for line in lines:
                name, _, value = line.partition(":")
                name, value = name.strip(), value.strip()
                if name.lower() == "content-length":
                    length = int(value)
                headers.append((name, value))
            body = await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        self._idle.append((asyncio.get_running_loop().time(), reader, writer))
        return int(status_line.split()[1]), headers, body

    def close(self) -> None:
        for _, _, writer in self._idle:
            writer.close()
        self._idle.clear()


@dataclass
class OwnerRouter:
    slot: int
    workers: int
    run_dir: Path
    owner_wait: float = 3.0
    link_idle_seconds: float = 20.0  # see `_OwnerLink`; the worker passes a bound from its keep-alive
    _links: dict[int, _OwnerLink] = field(default_factory=dict)
    forwarded: int = 0

    def owner(self, session_id: str) -> int:
        return owner_of(session_id, self.workers)

    def owner_of_target(self, target: bytes) -> int | None:
        """The owner of the session a raw request target is about; None for requests about no one session."""
        session = session_in_path(target.decode("latin-1"))
        return None if session is None else self.owner(session)

    def owns(self, session_id: str) -> bool:
        return self.owner(session_id) == self.slot

    def _link(self, slot: int) -> _OwnerLink:
        link = self._links.get(slot)
        if link is None:
            link = self._links[slot] = _OwnerLink(socket_path(self.run_dir, slot), self.link_idle_seconds)
        return link

    async def close(self) -> None:
        for link in self._links.values():
            link.close()

    def owner_of_path(self, parts: list[str]) -> int | None:
        """The owner of the session in a /sessions/{id}[/...] path's segments; None for the collection routes."""
        session = _session_of_segments(parts)
        return None if session is None else self.owner(session)

    @staticmethod
    def _unavailable(owner: int, request: web.Request, exc: BaseException) -> ApiError:
        log.warning("owner %d unavailable for %s %s: %r", owner, request.method, request.path, exc)
        return ApiError(503, {"detail": f"Worker {owner} owning this session is restarting"}, {"Retry-After": "1"})

    async def forward(self, request: web.Request, owner: int) -> web.Response:
        body = await request.read()
        lines = [f"{request.method} {request.raw_path} HTTP/1.1", "Host: kato"]
        lines += [f"{k}: {v}" for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP]
        lines += [f"{FORWARDED}: {self.slot}", f"Content-Length: {len(body)}", "", ""]
        message = "\r\n".join(lines).encode("latin-1") + body
        link = self._link(owner)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.owner_wait
        while True:
            try:
                reader, writer = await link.connect()
                break
            except OSError as exc:
                # Nothing reached the owner (it is down or restarting): wait for it, briefly.
                if loop.time() >= deadline:
                    raise self._unavailable(owner, request, exc) from None
                await asyncio.sleep(0.05)
        try:
            status, headers, payload = await link.exchange(reader, writer, message)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            # Cut off mid-way: the owner may have applied it. Reported, never replayed, so no write is doubled.
            raise self._unavailable(owner, request, exc) from None
        self.forwarded += 1
        response = web.Response(status=status, body=payload)
        for name, value in headers:
            lowered = name.lower()
            if lowered == "content-type":
                response.headers["Content-Type"] = value
            elif lowered not in _NOT_COPIED_BACK:
                response.headers.add(name, value)
        return response
