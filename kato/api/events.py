"""WebSocket `/ws/events` (api.md §11): a snapshot on connect, ping/pong, session created/destroyed broadcasts.

Per worker, as in the reference: a socket sees the events of the worker that accepted it.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from aiohttp import WSMsgType, web

from kato.api.context import Context, context
from kato.api.timefmt import iso_offset

routes = web.RouteTableDef()


def _frame(event_type: str, timestamp: str, data: dict[str, Any]) -> str:
    return json.dumps({"event_type": event_type, "timestamp": timestamp, "data": data}, ensure_ascii=False)


async def broadcast(ctx: Context, event_type: str, data: dict[str, Any]) -> None:
    if not ctx.sockets:
        return
    frame = _frame(event_type, iso_offset(time.time()), data)
    for socket in list(ctx.sockets):
        try:
            await socket.send_str(frame)
        except (ConnectionError, RuntimeError):
            ctx.sockets.discard(socket)


@routes.get("/ws/events")
async def events(request: web.Request) -> web.WebSocketResponse:
    ctx = context(request)
    socket = web.WebSocketResponse(heartbeat=30)
    await socket.prepare(request)
    await socket.send_str(_frame("state.snapshot", datetime.now().isoformat(), {
        "active_sessions": ctx.registry.count(),
        "system_status": "healthy",
    }))
    ctx.sockets.add(socket)
    try:
        async for message in socket:
            if message.type == WSMsgType.TEXT and message.data == "ping":
                await socket.send_str("pong")
    finally:
        ctx.sockets.discard(socket)
    return socket
