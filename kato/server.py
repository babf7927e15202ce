"""`kato serve`: resolve settings, open the store, run the HTTP application on uvloop."""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from collections.abc import Callable

from aiohttp import web

from kato.api.app import create_app
from kato.config import Settings, load_settings
from kato.store.interface import KnowledgeStore, SessionSnapshots

log = logging.getLogger("kato.server")


def open_backend(settings: Settings) -> tuple[KnowledgeStore, SessionSnapshots, Callable[[], None]]:
    """The store of the settings, opened in this process (never inherited across a fork)."""
    if settings.store == "memory":
        from kato.store.memory import MemoryStore

        store = MemoryStore()
        return store, store, store.close
    from kato.store import open_store

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    knowledge, snapshots = open_store(settings.data_dir, sync=settings.sync, map_size=settings.map_size)

    def close() -> None:
        knowledge.close()
        snapshots.close()

    return knowledge, snapshots, close


def settings_from_args(args: argparse.Namespace) -> Settings:
    return load_settings(args.config, host=args.host, port=args.port, workers=args.workers, data_dir=args.data_dir)


def run_single(settings: Settings, sock: socket.socket | None = None, worker_id: int = 0) -> None:
    """Run one worker process's event loop until SIGTERM/SIGINT."""
    import uvloop

    store, snapshots, close = open_backend(settings)
    app = create_app(settings, store, snapshots, worker_id=worker_id)
    try:
        web.run_app(
            app,
            host=None if sock else settings.host,
            port=None if sock else settings.port,
            sock=sock,
            print=None,
            access_log=None,
            shutdown_timeout=settings.drain_timeout,
            loop=uvloop.new_event_loop(),
            handle_signals=True,
        )
    finally:
        close()


def serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        settings = settings_from_args(args)
    except (ValueError, OSError) as exc:
        print(f"kato serve: {exc}", file=sys.stderr)
        return 2
    log.info("kato serving on http://%s:%d (store %s, data %s)", settings.host, settings.port, settings.store,
             settings.data_dir)
    run_single(settings)
    return 0


