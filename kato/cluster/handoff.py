"""Passing an accepted connection to the worker that owns its first request's session (SCM_RIGHTS).

Forwarding a request costs a second HTTP round trip inside the host; handing the whole connection over costs one
`sendmsg`. A worker peeks at the first request line of every public connection: if the session belongs to another
worker, it sends that worker the socket and the bytes already read, and forgets the connection. The owner adopts it
as if it had accepted it. Later requests on the same connection that concern other sessions are forwarded by
`kato.cluster.routing` (a keep-alive connection can carry any session), as is everything when a handoff fails.
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

MAX_PEEK = 16384  # a request line longer than this is not worth a handoff: serve it here
MAX_MESSAGE = 60000  # bytes already read that fit one datagram with the descriptor


def handoff_path(run_dir: Path, slot: int) -> Path:
    return run_dir / f"handoff-{slot}.sock"


class PeekingProtocol(asyncio.Protocol):
    """Wraps aiohttp's request handler for one public connection until the first request line is known."""

    def __init__(self, make_handler: Callable[[], asyncio.Protocol], owner_of: Callable[[str], int], slot: int,
                 handoff: Callable[[int, socket.socket | None, bytes], bool]) -> None:
        self._make_handler = make_handler
        self._owner_of = owner_of
        self._slot = slot
        self._handoff = handoff
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)
            return
        self._buffer += data
        end = self._buffer.find(b"\r\n")
        if end < 0 and len(self._buffer) < MAX_PEEK:
            return
        owner = self._owner(self._buffer[:end] if end >= 0 else b"")
        if owner is not None and owner != self._slot and len(self._buffer) <= MAX_MESSAGE and self._send(owner):
            return
        self._adopt()

    def _owner(self, request_line: bytes) -> int | None:
        parts = request_line.split(b" ")
        if len(parts) != 3:
            return None
        session = session_in_path(parts[1].decode("latin-1"))
        return None if session is None else self._owner_of(session)

    def _send(self, owner: int) -> bool:
        transport = self._transport
        assert transport is not None
        sock = transport.get_extra_info("socket")
        if sock is None:
            return False
        transport.pause_reading()
        if not self._handoff(owner, sock, self._buffer):
            transport.resume_reading()
            return False
        transport.abort()  # closes only this process's descriptor; the owner holds its own
        return True

    def _adopt(self) -> None:
        self._inner = self._make_handler()
        self._inner.connection_made(self._transport)
        buffered, self._buffer = self._buffer, b""
        if buffered:
            self._inner.data_received(buffered)

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

    def __init__(self, run_dir: Path, slot: int, make_handler: Callable[[], asyncio.Protocol]) -> None:
        self._run_dir = run_dir
        self._make_handler = make_handler
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
            await loop.connect_accepted_socket(lambda: _Primed(self._make_handler(), data), connection)
        except OSError:
            connection.close()
            return
        self.adopted += 1


class _Primed(asyncio.Protocol):
    """A handler fed the bytes the previous worker already read, inside `connection_made`: before the loop reads
    anything more from the socket, so a request body that follows its head can never overtake it."""

    def __init__(self, inner: asyncio.Protocol, data: bytes) -> None:
        self._inner = inner
        self._data = data

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)
        data, self._data = self._data, b""
        if data:
            self._inner.data_received(data)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()
