"""`kato serve`: resolve settings and hand them to the supervisor; and how a process opens its store."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

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


def serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        settings = settings_from_args(args)
    except (ValueError, OSError) as exc:
        print(f"kato serve: {exc}", file=sys.stderr)
        return 2
    from kato.cluster.supervisor import Supervisor

    log.info("kato starting %d workers on %s:%d (store %s, data %s)", settings.workers, settings.host, settings.port,
             settings.store, settings.data_dir)
    try:
        return Supervisor(settings).run()
    except (ValueError, OSError) as exc:
        print(f"kato serve: {exc}", file=sys.stderr)
        return 2


