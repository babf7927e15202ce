"""One worker process: its own event loop, store handles and sessions; started by the supervisor.

Run as `python -m kato.cluster.worker WORKERS LISTEN_FD STATUS_FD`; the slot and the settings arrive later on
stdin. It serves the shared public socket and its own Unix socket (requests forwarded by other workers), reports
"ready" and then a heartbeat on STATUS_FD, and drains and exits 0 on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import uvloop
from aiohttp import web

from kato import gcpolicy
from kato.api.app import create_app
from kato.api.connection import Connections, PublicConnection
from kato.api.context import CONTEXT
from kato.api.direct import LANE
from kato.cluster import systemd
from kato.cluster.handoff import Handoff
from kato.cluster.routing import OwnerRouter, socket_path
from kato.config import Settings, from_json
from kato.server import open_backend

log = logging.getLogger("kato.worker")
HEARTBEAT_SECONDS = 1.0
SWEEP_SECONDS = 10.0
ROUTER = web.AppKey("router", OwnerRouter)


async def _heartbeat(status_fd: int) -> None:
    """Tell the supervisor this worker's loop still turns (gunicorn's arbiter kills silent workers)."""
    while True:
        with contextlib.suppress(BlockingIOError):
            os.write(status_fd, b".")
        await asyncio.sleep(HEARTBEAT_SECONDS)


async def _sweep_idle(connections: Connections) -> None:
    """Close direct-lane connections idle past the keep-alive, at most a quarter of it late."""
    loop = asyncio.get_running_loop()
    interval = max(0.25, min(SWEEP_SECONDS, connections.keepalive_seconds / 4))
    while True:
        await asyncio.sleep(interval)
        connections.sweep(loop.time())


async def serve(app: web.Application, settings: Settings, listener: socket.socket, unix_path: Path,
                status_fd: int) -> None:
    """Serve until told to stop, in two phases so that no accepted request is cut off:

    SIGUSR1 (from the supervisor) stops accepting public connections, waits for this worker's in-flight requests
    and reports "drained"; the Unix socket stays open, because another worker may still be forwarding a request it
    accepted earlier. SIGTERM (or SIGINT) then closes everything: in-flight requests get the drain timeout, the
    cleanups run (the store's writer flushes) and the worker exits.
    """
    # aiohttp's own keep-alive (3,630 s for an AppRunner) and the direct lane's idle sweep close at the same age
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=settings.drain_timeout,
                           keepalive_timeout=settings.keepalive_seconds)
    await runner.setup()
    loop = asyncio.get_running_loop()
    router = app[ROUTER]
    handler_factory = runner.server

    connections = Connections(settings.keepalive_seconds)
    lane = app[LANE]

    def connection(primed: bytes = b"") -> PublicConnection:
        if router.workers <= 1:
            return PublicConnection(handler_factory, connections, lane, primed=primed)
        return PublicConnection(handler_factory, connections, lane, router.slot, router.owner_of_target,
                                handoff.send, primed)

    handoff = Handoff(settings.run_dir, router.slot, connection)
    handoff.start(loop)
    app[CONTEXT].routing_stats = lambda: {
        "forwarded": router.forwarded, "handed_off": handoff.sent, "adopted": handoff.adopted,
        "direct": lane.served,
    }

    await web.UnixSite(runner, str(unix_path)).start()
    # Public connections only once the supervisor says every slot is served (SIGUSR2): until then a request could
    # land here for a session whose owner is still starting. The handler is in place before "ready" is reported.
    go = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR2, go.set)
    os.write(status_fd, b"R")  # ready for forwarded requests and handoffs
    servers: list[asyncio.base_events.Server] = []

    async def open_public() -> None:
        await go.wait()
        servers.append(await loop.create_server(connection, sock=listener, backlog=systemd.LISTEN_BACKLOG))

    opening = asyncio.create_task(open_public())

    def close_public() -> None:
        opening.cancel()
        for server in servers:
            server.close()
        connections.close_idle()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    stats = app[CONTEXT].stats

    async def drain() -> None:
        close_public()
        while stats.in_flight or connections.busy():
            await asyncio.sleep(0.02)
        os.write(status_fd, b"D")

    draining: list[asyncio.Task] = []
    loop.add_signal_handler(signal.SIGUSR1, lambda: draining or draining.append(asyncio.create_task(drain())))
    beat = asyncio.create_task(_heartbeat(status_fd))
    sweep = asyncio.create_task(_sweep_idle(connections))
    gcpolicy.apply()
    refreeze = asyncio.create_task(gcpolicy.refreeze_forever())
    try:
        await stop.wait()
    finally:
        beat.cancel()
        sweep.cancel()
        refreeze.cancel()
        close_public()
        handoff.close(loop)
        await runner.cleanup()


def build(settings: Settings, slot: int, workers: int) -> tuple[web.Application, Callable[[], None]]:
    store, snapshots, close = open_backend(settings)
    router = OwnerRouter(slot=slot, workers=workers, run_dir=settings.run_dir,
                         link_idle_seconds=min(20.0, settings.keepalive_seconds / 2))
    app = create_app(settings, store, snapshots, worker_id=slot, router=router)
    app[ROUTER] = router

    async def close_router(app: web.Application) -> AsyncIterator[None]:
        yield
        await router.close()

    app.cleanup_ctx.append(close_router)
    return app, close


def main(argv: list[str]) -> int:
    """Import everything, then wait for an assignment (one JSON line on stdin: slot and settings).

    The wait is what makes a warm spare: the supervisor keeps one such process ready, so a crashed worker's slot is
    served again in the time it takes to open the store, not to start an interpreter and import numpy.
    """
    workers, listen_fd, status_fd = (int(a) for a in argv[:3])
    for signum in (signal.SIGUSR1, signal.SIGUSR2):  # until the loop handles them, they must not kill the process
        signal.signal(signum, signal.SIG_IGN)
    line = sys.stdin.readline()
    if not line:
        return 0  # the supervisor went away before assigning a slot
    assignment = json.loads(line)
    slot = assignment["slot"]
    settings = from_json(assignment["settings"])
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s worker-{slot} %(name)s %(levelname)s %(message)s")
    os.set_blocking(status_fd, False)
    listener = socket.socket(fileno=listen_fd)
    unix_path = socket_path(settings.run_dir, slot)
    with contextlib.suppress(FileNotFoundError):
        unix_path.unlink()
    app, close = build(settings, slot, workers)
    try:
        uvloop.run(serve(app, settings, listener, unix_path, status_fd))
    finally:
        close()
        with contextlib.suppress(FileNotFoundError):
            unix_path.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
