"""The middleware stack, outermost first: errors and tracing, then the session check (api.md §1.2, §2.4)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from urllib.parse import unquote

from aiohttp import web

from kato.api.context import SESSION, context
from kato.api.errors import ApiError, json_response, session_not_found
from kato.api.paths import session_segments

log = logging.getLogger("kato.api")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_HTTP_DETAILS = {404: "Not Found", 405: "Method Not Allowed", 413: "Request Entity Too Large"}


@web.middleware
async def errors_and_tracing(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every response gets X-Trace-ID; every failure becomes a JSON body, including a 500 (DESIGN.md deviation 6)."""
    ctx = context(request)
    stats = ctx.stats
    stats.total += 1
    stats.in_flight += 1
    stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
    started = time.perf_counter()
    try:
        response = await handler(request)
    except ApiError as exc:
        response = exc.response()
    except web.HTTPException as exc:
        message = _HTTP_DETAILS.get(exc.status, exc.reason)
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        response = json_response({"detail": message}, exc.status, headers)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        response = json_response({"detail": "Internal Server Error"}, 500)
    finally:
        stats.in_flight -= 1
        stats.seconds += time.perf_counter() - started
    if response.status >= 500:
        stats.errors += 1
    if not response.prepared:
        response.headers["X-Trace-ID"] = request.headers.get("X-Trace-ID") or f"kato-{uuid.uuid4().hex}"
    return response


def session_id_of(request: web.Request) -> str | None:
    """The session a path names when the reference's middleware validates it (api.md §2.4), else None."""
    parts = session_segments(request.raw_path)
    if parts is None:
        return None
    if request.method == "GET" and (len(parts) == 3 or (len(parts) == 4 and parts[3] == "exists")):
        return None
    return unquote(parts[2])


@web.middleware
async def sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve the session before the body is read, so an unknown session is a 404 whatever the body holds."""
    session_id = session_id_of(request)
    if session_id is None:
        response = await handler(request)
        echoed = request.headers.get("X-Session-ID") or request.cookies.get("session_id")
        if echoed and not response.prepared:
            response.headers["X-Session-ID"] = echoed
        return response
    registry = context(request).registry
    session = registry.get(session_id)
    if session is None:
        raise session_not_found(session_id)
    request[SESSION] = session
    try:
        response = await handler(request)
    except ApiError as exc:
        response = exc.response()
    except web.HTTPException as exc:
        if exc.status not in (404, 405):
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        response = json_response({"detail": _HTTP_DETAILS[exc.status]}, exc.status, headers)
    if registry.peek(session_id) is session:
        registry.save(session)  # one snapshot per request: the new state and the slid expiry
    if not response.prepared:
        response.headers["X-Session-ID"] = session_id
    return response

