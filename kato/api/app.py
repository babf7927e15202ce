"""The aiohttp application of one worker: routes plus middleware, stacked explicitly (no import-time effects)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator

from aiohttp import web

from kato.api import events, monitoring, observations, openapi, patterns, predictions, sessions
from kato.api.context import CONTEXT, Context
from kato.api.direct import LANE, DirectLane
from kato.api.middleware import build_middleware
from kato.api.resources import ResourceSampler
from kato.cluster.routing import OwnerRouter
from kato.config import Settings
from kato.sessions import SessionRegistry
from kato.store.interface import KnowledgeStore, SessionSnapshots


async def _housekeeping(app: web.Application) -> AsyncIterator[None]:
    """Sweep expired sessions and sample metrics in the background while the app runs."""
    ctx = app[CONTEXT]

    async def loop() -> None:
        ticks = 0
        while True:
            await asyncio.sleep(ctx.settings.session_sweep_seconds)
            ctx.registry.sweep()
            ticks += 1
            if ticks % 2 == 0:
                monitoring.record_sample(app)

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    for socket in list(ctx.sockets):
        await socket.close()


def create_app(
    settings: Settings,
    store: KnowledgeStore,
    snapshots: SessionSnapshots,
    worker_id: int = 0,
    router: OwnerRouter | None = None,
) -> web.Application:
    """One worker's application; with a `router`, requests about another worker's sessions go to that worker."""
    middleware = build_middleware(router)
    app = web.Application(middlewares=[middleware], client_max_size=settings.max_body_bytes)
    app[LANE] = DirectLane(app, middleware, settings.max_body_bytes)
    registry = SessionRegistry(snapshots, owns=router.owns) if router else SessionRegistry(snapshots)
    app[CONTEXT] = Context(settings=settings, store=store, registry=registry, worker_id=worker_id)
    app[monitoring.SAMPLER] = ResourceSampler(settings.data_dir)
    app[monitoring.HISTORY] = deque(maxlen=360)
    for module in (observations, predictions, sessions, patterns, monitoring, events, openapi):  # hot routes first
        app.router.add_routes(module.routes)
    app.cleanup_ctx.append(_housekeeping)
    return app
