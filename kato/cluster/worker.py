"""One worker process: its own event loop, store handles and sessions; started by the supervisor.

Run as `python -m kato.cluster.worker SLOT WORKERS LISTEN_FD STATUS_FD` with the settings as JSON on stdin. It
serves the shared public socket and its own Unix socket (requests forwarded by other workers), reports "ready"
and then a heartbeat on STATUS_FD, and drains and exits 0 on SIGTERM or SIGINT.
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

from kato.api.app import create_app
from kato.cluster.routing import OwnerRouter, socket_path
from kato.config import Settings, from_json
from kato.server import open_backend

log = logging.getLogger("kato.worker")
HEARTBEAT_SECONDS = 1.0


async def _heartbeat(status_fd: int) -> None:
    """Tell the supervisor this worker's loop still turns (gunicorn's arbiter kills silent workers)."""
    while True:
        with contextlib.suppress(BlockingIOError):
            os.write(status_fd, b".")
        await asyncio.sleep(HEARTBEAT_SECONDS)


async def serve(app: web.Application, settings: Settings, listener: socket.socket, unix_path: Path,
                status_fd: int) -> None:
    """Serve until SIGTERM/SIGINT, then drain: stop accepting, let in-flight requests finish (bounded by the
    drain timeout), run the cleanups (the store's writer flushes), return."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=settings.drain_timeout)
    await runner.setup()
    for site in (web.SockSite(runner, listener), web.UnixSite(runner, str(unix_path))):
        await site.start()
    os.write(status_fd, b"R")  # only now: both sockets accept
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    beat = asyncio.create_task(_heartbeat(status_fd))
    try:
        await stop.wait()
    finally:
        beat.cancel()
        await runner.cleanup()


def build(settings: Settings, slot: int, workers: int) -> tuple[web.Application, Callable[[], None]]:
    store, snapshots, close = open_backend(settings)
    router = OwnerRouter(slot=slot, workers=workers, run_dir=settings.run_dir)
    app = create_app(settings, store, snapshots, worker_id=slot, router=router)

    async def close_router(app: web.Application) -> AsyncIterator[None]:
        yield
        await router.close()

    app.cleanup_ctx.append(close_router)
    return app, close


def main(argv: list[str]) -> int:
    slot, workers, listen_fd, status_fd = (int(a) for a in argv[:4])
    settings = from_json(json.loads(sys.stdin.read()))
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
