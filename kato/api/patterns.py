"""Node-level reads: one pattern, symbol statistics and affinities, the two deprecated endpoints (api.md §8-§9).

These are answered by whichever worker receives them: they read the shared store, never a session.
"""

from __future__ import annotations

from urllib.parse import unquote

from aiohttp import web

from kato.api.context import context
from kato.api.errors import json_response
from kato.api.nodes import kb_id, node_of
from kato.engine.naming import PATTERN_PREFIX, strip_pattern_prefix

routes = web.RouteTableDef()

_DEPRECATED = "This endpoint is deprecated. Use /sessions/{session_id}/%s for session-aware data."


def _echo(request: web.Request, node_id: str) -> str:
    return kb_id(node_id, context(request).settings.service_name)


@routes.get("/pattern/{pattern_id}")
async def pattern(request: web.Request) -> web.Response:
    ctx = context(request)
    node_id = node_of(request)
    sent = unquote(request.raw_path.split("?", 1)[0][len("/pattern/"):])
    with ctx.store.view(node_id) as kb:
        record = kb.pattern(strip_pattern_prefix(sent))
    if record is None:
        body = {"status": "error", "message": f"Pattern {sent} not found"}
    else:
        body = {"status": "okay", "pattern": {
            "name": PATTERN_PREFIX + record.name,
            "pattern_data": record.events,
            "length": record.length,
            "frequency": record.frequency,
            "emotives": record.emotives,
            "metadata": record.metadata,
        }}
    return json_response({"pattern": body, "node_id": _echo(request, node_id)})


@routes.get("/symbols/affinity")
async def affinities(request: web.Request) -> web.Response:
    node_id = node_of(request)
    with context(request).store.view(node_id) as kb:
        body = {symbol: dict(values) for symbol, values in kb.all_affinities().items()}
    return json_response({"affinities": body, "node_id": _echo(request, node_id)})


@routes.get("/symbols/stats")
async def symbol_stats(request: web.Request) -> web.Response:
    node_id = node_of(request)
    with context(request).store.view(node_id) as kb:
        body = {
            symbol: {"name": symbol, "frequency": s.frequency, "pattern_member_frequency": s.pattern_member_frequency}
            for symbol, s in kb.all_symbol_stats().items()
        }
    return json_response({"symbols": body, "node_id": _echo(request, node_id)})


@routes.get("/symbols/{tail:.+}")
async def symbol_affinity(request: web.Request) -> web.Response:
    """Matched on the raw path, so a percent-encoded `/` stays inside the symbol (api.md §18.5)."""
    raw = request.raw_path.split("?", 1)[0][len("/symbols/"):]
    if not raw.endswith("/affinity") or "/" in raw[: -len("/affinity")]:
        raise web.HTTPNotFound()
    symbol = unquote(raw[: -len("/affinity")])
    node_id = node_of(request)
    with context(request).store.view(node_id) as kb:
        values = dict(kb.affinity(symbol))
    return json_response({"symbol": symbol, "affinity": values, "node_id": _echo(request, node_id)})


@routes.get("/percept-data")
async def deprecated_percept_data(request: web.Request) -> web.Response:
    return json_response({
        "percept_data": {},
        "node_id": _echo(request, node_of(request)),
        "warning": _DEPRECATED % "percept-data",
    })


@routes.get("/cognition-data")
async def deprecated_cognition_data(request: web.Request) -> web.Response:
    return json_response({
        "cognition_data": {
            "predictions": [], "emotives": {}, "symbols": [], "command": "", "metadata": {}, "path": [],
            "strings": [], "vectors": [], "short_term_memory": [],
        },
        "node_id": _echo(request, node_of(request)),
        "warning": _DEPRECATED % "cognition-data",
    })
