"""Session lifecycle and configuration: api.md §2 and §12."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp import web

from kato.api.context import Context, context, session_of
from kato.api.errors import ValidationFailed, detail, error_item, json_response
from kato.api.events import broadcast
from kato.api.timefmt import iso_offset, iso_z
from kato.api.validation import parse_config_update, parse_create_session, parse_int_query, read_body
from kato.engine.config import ConfigValidationError, validate_create, validate_update
from kato.sessions import Session

routes = web.RouteTableDef()


def session_body(session: Session, ttl_seconds: int) -> dict[str, Any]:
    return {
        "session_id": session.session_id,
        "node_id": session.node_id,
        "created_at": iso_z(session.created_at),
        "expires_at": iso_z(session.expires_at),
        "ttl_seconds": ttl_seconds,
        "metadata": session.metadata,
        "session_config": session.state.config.to_wire(),
    }


@routes.post("/sessions")
async def create_session(request: web.Request) -> web.Response:
    ctx = context(request)
    spec = parse_create_session(await read_body(request))
    ttl = spec.ttl_seconds or ctx.settings.session_ttl
    config = ctx.settings.engine.with_overrides(validate_create(spec.config))
    session = ctx.registry.create(spec.node_id, ttl, spec.metadata, config)
    await broadcast(ctx, "session.created", {
        "session_id": session.session_id,
        "node_id": session.node_id,
        "created_at": iso_offset(session.created_at),
    })
    return json_response(session_body(session, ttl))


@routes.get("/sessions/count")
async def count_sessions(request: web.Request) -> web.Response:
    return json_response({"active_session_count": context(request).registry.count()})


@routes.get("/sessions/{session_id}")
async def get_session(request: web.Request) -> web.Response:
    registry = context(request).registry
    session_id = request.match_info["session_id"]
    session = registry.get(session_id)
    if session is None:
        raise detail(404, f"Session {session_id} not found or expired")
    registry.save(session)
    remaining = max(0, int(session.expires_at - registry.now()))
    return json_response(session_body(session, remaining))


@routes.delete("/sessions/{session_id}")
async def delete_session(request: web.Request) -> web.Response:
    ctx = context(request)
    session = session_of(request)
    async with session.lock:
        ctx.registry.delete(session.session_id)
    await broadcast(ctx, "session.destroyed", {
        "session_id": session.session_id,
        "destroyed_at": iso_offset(ctx.registry.now()),
        "reason": "explicit_delete",
    })
    return json_response({"status": "deleted", "session_id": session.session_id})


@routes.get("/sessions/{session_id}/exists")
async def session_exists(request: web.Request) -> web.Response:
    session_id = request.match_info["session_id"]
    alive = context(request).registry.peek(session_id) is not None
    return json_response({"exists": alive, "expired": False, "session_id": session_id})


@routes.post("/sessions/{session_id}/extend")
async def extend_session(request: web.Request) -> web.Response:
    ctx: Context = context(request)
    session = session_of(request)
    ttl = parse_int_query(request, "ttl_seconds", 3600)
    if ttl < 1:
        raise ValidationFailed([error_item("greater_than_equal", ["query", "ttl_seconds"],
                                           "Input should be greater than or equal to 1", str(ttl), {"ge": 1})])
    session.expires_at = ctx.registry.now() + ttl
    return json_response({"status": "extended", "session_id": session.session_id, "ttl_seconds": ttl})


@routes.get("/sessions/{session_id}/config")
async def get_config(request: web.Request) -> web.Response:
    session = session_of(request)
    return json_response({"session_id": session.session_id, "config": session.state.config.to_wire()})


@routes.post("/sessions/{session_id}/config")
async def update_config(request: web.Request) -> web.Response:
    ctx = context(request)
    session = session_of(request)
    body = parse_config_update(await read_body(request))
    try:
        changes = validate_update(body)
    except ConfigValidationError as exc:
        raise detail(400, {"error": "Configuration validation failed", "validation_errors": exc.errors}) from None
    async with session.lock:
        config = session.state.config.updated(changes, ctx.settings.engine)
        session.state = replace(session.state, config=config)
    return json_response({"status": "okay", "message": "Configuration updated", "session_id": session.session_id})


@routes.get("/sessions/test/{test_id}")
async def session_routing_test(request: web.Request) -> web.Response:
    """Kept for route parity; the session check answers first, as in the reference (api.md §2.4)."""
    return json_response({"test_id": request.match_info["test_id"], "message": "Session routing works"})
