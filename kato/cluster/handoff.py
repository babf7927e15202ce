"""Passing a connection to the worker that owns the session of its next request (SCM_RIGHTS).

Forwarding a request costs a second HTTP round trip inside the host; handing the whole connection over costs one
`sendmsg`. `kato.api.connection` decides when (a request about another worker's session starts while nothing of
the connection is in progress here); this module is the channel: each worker's datagram inbox, the send, and the
adoption of a received socket with the bytes already read from it. A pooled keep-alive connection (a load
balancer's) that carries many sessions thus moves to each request's owner instead of being forwarded. Requests that
cannot be handed over (pipelined behind another, unusual framing, an owner restarting) are served where they are,
which forwards them (`kato.cluster.routing`).
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

from kato.api.connection import MAX_MESSAGE

log = logging.getLogger("kato.handoff")

def handoff_path(run_dir: Path, slot: int) -> Path:
    return run_dir / f"handoff-{slot}.sock"


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
        try:
            fd = os.dup(sock.fileno())
        except OSError:  # out of descriptors: serve here
            return False
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
