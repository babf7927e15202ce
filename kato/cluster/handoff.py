"""Passing a connection to the worker that owns the session of its next request (SCM_RIGHTS).

Forwarding a request costs a second HTTP round trip inside the host; handing the whole connection over costs one
`sendmsg`. Every public connection is read through a `SessionConnection`: whenever a request starts while this
worker has nothing in flight on the connection (no request being handled, no response bytes unsent), its request
line is read; if the session belongs to another worker, that worker gets the socket and the bytes already read, and
this worker forgets the connection. The owner adopts it the same way, so a pooled keep-alive connection (a load
balancer's) that carries many sessions moves to each request's owner instead of being forwarded. Requests that start
while the connection is busy here (pipelining), framings the reader does not follow (chunked bodies, upgrades) and
failed handoffs are served here, which forwards them (`kato.cluster.routing`).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path

from kato.cluster.routing import session_in_path

log = logging.getLogger("kato.handoff")

MAX_PEEK = 16384  # a request head longer than this is not worth a handoff: serve it here
MAX_MESSAGE = 60000  # bytes already read that fit one datagram with the descriptor


def handoff_path(run_dir: Path, slot: int) -> Path:
    return run_dir / f"handoff-{slot}.sock"


def _body_length(head: bytes) -> int | None:
    """The Content-Length of a request head (0 without one); None when the framing is anything else (chunked,
    an upgrade, conflicting lengths), after which the connection is no longer read request by request."""
    length = 0
    seen = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            value = value.strip()
            if seen or not value.isdigit():
                return None
            length, seen = int(value), True
        elif name in (b"transfer-encoding", b"upgrade"):
            return None
    return length


class SessionConnection(asyncio.Protocol):
    """One public connection: aiohttp's request handler inside, created when this worker first serves a request
    on it, and a look at each request that starts at a quiet moment (see the module docstring)."""

    def __init__(self, make_handler: Callable[[], asyncio.Protocol], owner_of: Callable[[str], int], slot: int,
                 handoff: Callable[[int, socket.socket, bytes], bool], primed: bytes = b"") -> None:
        self._make_handler = make_handler
        self._owner_of = owner_of
        self._slot = slot
        self._handoff = handoff
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._buffer = b""  # the start of a request not yet given to the handler
        self._remaining = 0  # bytes of the current request's body still to pass before the next request starts
        self._opaque = False  # framing not followed: everything goes straight to the handler from now on
        self._primed = primed  # bytes another worker read and handed over with the connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        primed, self._primed = self._primed, b""
        if primed:
            self.data_received(primed)  # before the loop reads more, so a body can never overtake its head

    def data_received(self, data: bytes) -> None:
        if self._opaque:
            self._feed(data)
            return
        while data:
            if self._remaining:
                take = min(self._remaining, len(data))
                self._remaining -= take
                self._feed(data[:take])
                data = data[take:]
                continue
            buffer = self._buffer + data
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_PEEK:
                    self._opaque = True
                    self._buffer = b""
                    self._feed(buffer)
                else:
                    self._buffer = buffer
                return
            self._buffer = b""
            head = buffer[:end]
            length = _body_length(head)
            if self._quiet():
                owner = self._owner(head)
                if owner is not None and owner != self._slot and len(buffer) <= MAX_MESSAGE and self._send(owner,
                                                                                                        buffer):
                    return
            if length is None:
                self._opaque = True
                self._feed(buffer)
                return
            start = end + 4
            body = buffer[start:start + length]
            self._remaining = length - len(body)
            self._feed(buffer[:start + len(body)])
            data = buffer[start + len(body):]

    def _quiet(self) -> bool:
        """Nothing of this connection in progress here: no handler yet, or an idle one with every response sent.

        Reads two attributes of aiohttp's handler; should they ever be missing, the answer is "busy", so requests
        are forwarded rather than handed over."""
        inner = self._inner
        if inner is None:
            return True
        transport = self._transport
        return (getattr(inner, "_request_in_progress", True) is False and not getattr(inner, "_messages", True)
                and transport is not None and transport.get_write_buffer_size() == 0)

    def _owner(self, head: bytes) -> int | None:
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3:
            return None
        session = session_in_path(parts[1].decode("latin-1"))
        return None if session is None else self._owner_of(session)

    def _send(self, owner: int, data: bytes) -> bool:
        transport = self._transport
        assert transport is not None
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
            self._inner = self._make_handler()
            self._inner.connection_made(self._transport)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()


class Handoff:
    """One worker's end of the handoff channel: sends connections to owners, adopts the ones sent to it."""

    def __init__(self, run_dir: Path, slot: int, make_protocol: Callable[[bytes], asyncio.Protocol]) -> None:
        """`make_protocol(primed)`: the protocol of an adopted connection, given the bytes already read."""
        self._run_dir = run_dir
        self._make_protocol = make_protocol
        self.sent = 0
        self.adopted = 0
        path = handoff_path(run_dir, slot)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self._inbox = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._inbox.bind(str(path))
        self._inbox.setblocking(False)
        self._path = path
        self._outbox = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._outbox.setblocking(False)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_reader(self._inbox.fileno(), self._receive, loop)

    def close(self, loop: asyncio.AbstractEventLoop) -> None:
        with contextlib.suppress(Exception):
            loop.remove_reader(self._inbox.fileno())
        self._inbox.close()
        self._outbox.close()
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()

    def send(self, owner: int, sock: socket.socket, data: bytes) -> bool:
        fd = os.dup(sock.fileno())
        try:
            # sendmsg directly: socket.send_fds ignores its address argument on Python 3.11
            rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))]
            self._outbox.sendmsg([data], rights, 0, str(handoff_path(self._run_dir, owner)))
        except OSError:  # the owner is restarting or its inbox is full: serve here, forwarding per request
            return False
        finally:
            os.close(fd)
        self.sent += 1
        return True

    def _receive(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            try:
                data, fds, _, _ = socket.recv_fds(self._inbox, MAX_MESSAGE + 1, 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                log.exception("handoff receive failed")
                return
            for fd in fds:
                connection = socket.socket(fileno=fd)
                connection.setblocking(False)
                loop.create_task(self._adopt(loop, connection, data))

    async def _adopt(self, loop: asyncio.AbstractEventLoop, connection: socket.socket, data: bytes) -> None:
        try:
            await loop.connect_accepted_socket(lambda: self._make_protocol(data), connection)
        except OSError:
            connection.close()
            return
        self.adopted += 1
