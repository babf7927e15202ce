"""One public connection, read request by request: where each request on it is served.

The connection's bytes are framed here before aiohttp sees them (a head, then Content-Length bytes of body). When a
request starts at a quiet moment (nothing of this connection in progress in this worker, every response sent):
- if its session belongs to another worker, the connection itself goes to that worker with the bytes already read
  (`handoff`, SCM_RIGHTS), so a pooled keep-alive connection follows each request's owner instead of being
  forwarded (when those bytes are over one datagram or the hand-over fails, it is served here and the middleware
  forwards it);
- if it is one of the hot session routes in the plain shape, the direct lane serves it (`kato.api.direct`);
- otherwise aiohttp's handler for this connection serves it (created when first needed).
Requests read while one is in progress wait behind it, so answers leave in request order. Framings not followed
here (chunked bodies, upgrades, oversized heads) give the connection to aiohttp for good.

aiohttp's handler sees the transport through a detachable view: when the direct lane takes over from an idle
handler, the handler is retired (its keep-alive timer would otherwise close a connection still in use).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import weakref
from collections.abc import Callable
from typing import Any

from kato.api import eager
from kato.api.direct import DirectLane, DirectRequest

log = logging.getLogger("kato.connection")

MAX_PEEK = 16384  # a request head longer than this is left to aiohttp
MAX_MESSAGE = 60000  # bytes already read that can travel with a handed-over connection (one datagram)
MAX_PENDING = 65536  # bytes read behind a direct request in progress before the connection stops being read

OwnerOf = Callable[[bytes], "int | None"]
HandOff = Callable[[int, socket.socket, bytes], bool]


def body_length(head: bytes) -> int | None:
    """The Content-Length of a request head (0 without one); None when the framing is anything else (chunked,
    an upgrade, conflicting lengths), after which the connection is no longer read request by request."""
    length = 0
    seen = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            value = value.strip()
            if seen or not value.isdigit() or len(value) > 18:  # int() of thousands of digits raises
                return None
            length, seen = int(value), True
        elif name in (b"transfer-encoding", b"upgrade"):
            return None
    return length


class _HandlerTransport:
    """The transport as aiohttp's handler sees it; once detached, the handler can no longer touch the connection."""

    __slots__ = ("_transport", "detached")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self.detached = False

    def write(self, data: Any) -> None:
        if not self.detached:
            self._transport.write(data)

    def writelines(self, data: Any) -> None:
        if not self.detached:
            self._transport.writelines(data)

    def close(self) -> None:
        if not self.detached:
            self._transport.close()

    def abort(self) -> None:
        if not self.detached:
            self._transport.abort()

    def pause_reading(self) -> None:
        if not self.detached:
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if not self.detached:
            self._transport.resume_reading()

    def is_closing(self) -> bool:
        return self.detached or self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class Connections:
    """The public connections of one worker, for the idle sweep and the drain."""

    def __init__(self, keepalive_seconds: float = 75.0) -> None:
        self._live: weakref.WeakSet[PublicConnection] = weakref.WeakSet()
        self.keepalive_seconds = keepalive_seconds
        self.closing = False

    def add(self, connection: PublicConnection) -> None:
        self._live.add(connection)

    def sweep(self, now: float) -> None:
        """Close connections the direct lane left idle for longer than the keep-alive (aiohttp times out its own)."""
        for connection in list(self._live):
            connection.close_if_idle(now - self.keepalive_seconds)

    def close_idle(self) -> None:
        """Drain: no new requests on direct connections; idle ones close now, busy ones after their answer."""
        self.closing = True
        for connection in list(self._live):
            connection.close_if_idle(float("inf"), draining=True)

    def busy(self) -> bool:
        """A direct request has begun (its head is read) but is not yet in the handlers: the drain waits for it."""
        return any(connection.receiving_body for connection in list(self._live))


class PublicConnection(asyncio.Protocol):
    """See the module docstring. `owner_of(target)`: the worker owning the session of a request target (None for
    requests about no session or with one worker); `handoff(owner, socket, bytes)` gives the connection away."""

    def __init__(self, make_handler: Callable[[], asyncio.Protocol], connections: Connections,
                 lane: DirectLane | None = None, slot: int = 0, owner_of: OwnerOf | None = None,
                 handoff: HandOff | None = None, primed: bytes = b"") -> None:
        self._make_handler = make_handler
        self._connections = connections
        self._lane = lane
        self._slot = slot
        self._owner_of = owner_of
        self._handoff = handoff
        self._primed = primed  # bytes another worker read and handed over with the connection
        self._transport: asyncio.Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inner: asyncio.Protocol | None = None
        self._inner_transport: _HandlerTransport | None = None
        self._buffer = b""  # the start of a request not yet served or given to the handler
        self._remaining = 0  # body bytes of the handler's current request still to pass on
        self._opaque = False  # framing not followed: everything goes to the handler from now on
        self._serving = False  # a direct request is in progress
        self._answered = False  # ... and its answer is written (waiting for the client to read it)
        self._pending: list[bytes] = []  # bytes read while it is
        self._pending_size = 0
        self._paused = False  # reading paused: too much pending
        self._write_paused = False  # the transport's buffer is over its high-water mark
        self._awaiting: tuple[DirectRequest, int] | None = None  # a direct request whose body is still arriving
        self._body: list[bytes] = []
        self._body_size = 0
        self._eof = False
        self._active_at = 0.0  # the last read or answer
        self._eager = False  # a direct answer is running eagerly, inside the read that brought its request

    # ------------------------------------------------------------------------------------------ protocol events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._loop = asyncio.get_running_loop()
        self._active_at = self._loop.time()
        self._connections.add(self)
        primed, self._primed = self._primed, b""
        if primed:
            self.data_received(primed)  # before the loop reads more, so a body can never overtake its head

    def data_received(self, data: bytes) -> None:
        assert self._loop is not None
        self._active_at = self._loop.time()
        if self._opaque:
            self._feed(data)
        elif self._awaiting is not None:
            self._receive_body(data)
        elif self._serving:
            self._pending.append(data)
            self._pending_size += len(data)
            if self._pending_size > MAX_PENDING and not self._paused and self._transport is not None:
                self._paused = True  # a client pipelining without reading: stop reading until we catch up
                self._transport.pause_reading()
        else:
            self._consume(data)

    def eof_received(self) -> bool | None:
        if self._serving:
            self._eof = True
            return True  # the answer in progress is still written; the connection closes after it
        return self._inner.eof_received() if self._inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._inner is not None:
            self._inner.connection_lost(exc)
            self._inner = None

    def pause_writing(self) -> None:
        self._write_paused = True
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._inner is not None:
            self._inner.resume_writing()
        if self._serving and self._answered:
            self._continue()

    # ------------------------------------------------------------------------------------------ routing requests

    def _consume(self, data: bytes) -> None:
        while data:
            if self._remaining:
                take = min(self._remaining, len(data))
                self._remaining -= take
                self._feed(data[:take])
                data = data[take:]
                continue
            buffer = self._buffer + data
            data = b""
            end = buffer.find(b"\r\n\r\n", max(0, len(self._buffer) - 3))  # only where the new bytes can end it
            if end < 0:
                if len(buffer) > MAX_PEEK:
                    self._opaque = True
                    self._buffer = b""
                    self._feed(buffer)
                else:
                    self._buffer = buffer
                return
            head = buffer[:end]
            length = body_length(head)
            quiet = self._quiet()
            owner = self._owner(head) if self._owner_of is not None else None
            if quiet and owner is not None and owner != self._slot and len(buffer) <= MAX_MESSAGE \
                    and self._send(owner, buffer):
                return
            if length is None:
                self._opaque = True
                self._buffer = b""
                self._feed(buffer)
                return
            start = end + 4
            if quiet and (owner is None or owner == self._slot) and not self._connections.closing \
                    and self._lane is not None:
                request = self._lane.request(head, length)
                if request is not None:
                    self._buffer = b""
                    if len(buffer) < start + length:  # the body is on its way: collect it, no parsing again
                        self._retire_handler()  # committed to the direct lane; the sweep keeps its time
                        self._awaiting = (request, length)
                        self._body = [buffer[start:]]
                        self._body_size = len(buffer) - start
                        return
                    request.body = buffer[start:start + length]
                    self._serve(request, buffer[start + length:])
                    return
            self._buffer = b""
            body = buffer[start:start + length]
            self._remaining = length - len(body)
            self._feed(buffer[:start + len(body)])
            data = buffer[start + len(body):]

    def _quiet(self) -> bool:
        """Nothing of this connection in progress here: no direct request, no handler or an idle one, and every
        response sent.

        Reads two private attributes of aiohttp's handler; should they ever be missing, the answer is "busy", so
        requests are served by the handler rather than handed over or served directly."""
        if self._serving:
            return False
        transport = self._transport
        if transport is None or transport.get_write_buffer_size():
            return False
        inner = self._inner
        if inner is None:
            return True
        # Waiting for its next request, the state aiohttp's own keep-alive tests: between taking a request off its
        # queue and starting it, the handler has neither a queue nor a request in progress, yet is not idle.
        waiter = getattr(inner, "_waiter", None)
        return waiter is not None and not waiter.done() and not getattr(inner, "_messages", True)

    def _owner(self, head: bytes) -> int | None:
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3:
            return None
        assert self._owner_of is not None
        return self._owner_of(parts[1])

    def _send(self, owner: int, data: bytes) -> bool:
        transport = self._transport
        assert transport is not None and self._handoff is not None
        sock = transport.get_extra_info("socket")
        if sock is None:
            return False
        transport.pause_reading()
        if not self._handoff(owner, sock, data):
            transport.resume_reading()
            return False
        transport.abort()  # closes only this process's descriptor (the handler, if any, sees connection_lost)
        return True

    def _feed(self, data: bytes) -> None:
        if not data:
            return
        if self._inner is None:
            assert self._transport is not None
            self._inner_transport = _HandlerTransport(self._transport)
            self._inner = self._make_handler()
            self._inner.connection_made(self._inner_transport)  # type: ignore[arg-type]
            if self._write_paused:
                self._inner.pause_writing()
        self._inner.data_received(data)

    def _retire_handler(self) -> None:
        """Let go of an idle aiohttp handler: from now on it cannot write, close or time out the connection."""
        inner, self._inner = self._inner, None
        if inner is not None and self._inner_transport is not None:
            self._inner_transport.detached = True
            self._inner_transport = None
            inner.connection_lost(None)

    # ------------------------------------------------------------------------------------------ the direct lane

    def _receive_body(self, data: bytes) -> None:
        assert self._awaiting is not None
        request, length = self._awaiting
        self._body.append(data)
        self._body_size += len(data)
        if self._body_size < length:
            return
        received = b"".join(self._body)
        self._awaiting, self._body, self._body_size = None, [], 0
        request.body = received[:length]
        self._serve(request, received[length:])

    def _serve(self, request: DirectRequest, rest: bytes) -> None:
        self._retire_handler()
        self._serving = True
        self._answered = False
        self._pending = [rest] if rest else []
        self._pending_size = len(rest)
        assert self._loop is not None
        # A request read behind an eager answer (pipelining) gets a Task rather than a deeper recursion, and so does
        # one whose predecessor finished inside its own Task (see `kato.api.eager`).
        if self._eager or asyncio.current_task(self._loop) is not None:
            self._loop.create_task(self._answer(request))
            return
        self._eager = True
        try:
            eager.start(self._loop, self._answer(request))
        finally:
            self._eager = False

    async def _answer(self, request: DirectRequest) -> None:
        transport = self._transport
        assert transport is not None and self._lane is not None
        try:
            response = await self._lane.serve(request)
            data = self._lane.encode(response, closing=self._connections.closing)  # draining may have begun
        except Exception:
            log.exception("direct lane failed on %s %s", request.method, request.raw_path)
            transport.close()
            return
        if transport.is_closing():
            return
        transport.write(data)
        self._answered = True
        if not self._write_paused:  # else once the client has read enough (resume_writing)
            self._continue()

    def _continue(self) -> None:
        """After a direct answer: the next request, if one was read meanwhile."""
        transport = self._transport
        assert transport is not None and self._loop is not None
        self._serving = False
        self._active_at = self._loop.time()
        pending = b"".join(self._pending)
        self._pending, self._pending_size = [], 0
        if self._connections.closing:
            transport.close()  # draining: nothing read after this answer is started
            return
        if self._paused:
            self._paused = False
            transport.resume_reading()
        if pending:
            self._consume(pending)
        if self._eof and not self._serving:
            transport.close()

    @property
    def receiving_body(self) -> bool:
        return self._awaiting is not None

    def close_if_idle(self, idle_before: float, *, draining: bool = False) -> None:
        """Close the connection if nothing happened on it since `idle_before` (aiohttp's handler, when there is
        one, keeps its own time). A request being served finishes (when draining, its answer closes the
        connection); one whose body is arriving is waited for when draining, and dropped by the idle sweep; an
        answer the client stopped reading is dropped by the idle sweep."""
        transport = self._transport
        if transport is None or self._inner is not None or self._active_at >= idle_before:
            return
        if self._serving:
            if self._answered and not draining:
                transport.abort()  # close() would wait for the unread answer to drain
            return
        if self._awaiting is not None and draining:
            return
        transport.close()
