"""The one middleware of a worker: trace and count the request, carry it to its session's owner, resolve the
session (api.md §1.2, §2.4), and turn every failure into the reference's JSON shapes.

One function rather than a stack of three: it is on every request's path, reads the path once, and each layer of
aiohttp middleware costs a wrapper call per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from urllib.parse import unquote

from aiohttp import web

from kato.api.context import CONTEXT, SESSION, Context
from kato.api.errors import ApiError, json_response, session_not_found
from kato.api.paths import session_segments
from kato.cluster.routing import FORWARDED, OwnerRouter

log = logging.getLogger("kato.api")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

_HTTP_DETAILS = {404: "Not Found", 405: "Method Not Allowed", 413: "Request Entity Too Large"}


def _http_error(exc: web.HTTPException) -> web.Response:
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    return json_response({"detail": _HTTP_DETAILS.get(exc.status, exc.reason)}, exc.status, headers)


def checks_session(method: str, parts: list[str]) -> bool:
    """Whether the reference's middleware validates the session of /sessions/{id}[/...]: not for the plain GET of
    the session and its `exists` probe, which answer their own 404 (api.md §2.4)."""
    return not (method == "GET" and (len(parts) == 3 or (len(parts) == 4 and parts[3] == "exists")))


def build_middleware(router: OwnerRouter | None) -> Middleware:
    """The worker's middleware; with a router of more than one worker, other workers' sessions are forwarded."""
    routed = router is not None and router.workers > 1

    @web.middleware
    async def kato(request: web.Request, handler: Handler) -> web.StreamResponse:
        ctx = request.app[CONTEXT]
        stats = ctx.stats
        stats.total += 1
        stats.in_flight += 1
        if stats.in_flight > stats.peak_in_flight:
            stats.peak_in_flight = stats.in_flight
        started = time.perf_counter()
        try:
            parts = session_segments(request.raw_path)
            if parts is None:
                response = await _sessionless(request, handler)
            else:
                owner = router.owner_of_path(parts) if routed and FORWARDED not in request.headers else None
                if owner is not None and owner != router.slot:
                    response = await router.forward(request, owner)
                elif checks_session(request.method, parts):
                    response = await _with_session(ctx, unquote(parts[2]), request, handler)
                else:
                    response = await _sessionless(request, handler)
        except ApiError as exc:
            response = exc.response()
        except web.HTTPException as exc:
            response = _http_error(exc)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, request.path)
            response = json_response({"detail": "Internal Server Error"}, 500)
        finally:
            stats.in_flight -= 1
            stats.seconds += time.perf_counter() - started
        if response.status >= 500:
            stats.errors += 1
        if not response.prepared:
            response.headers["X-Trace-ID"] = request.headers.get("X-Trace-ID") or f"kato-{ctx.ids.next()}"
        return response

    return kato


async def _sessionless(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    echoed = request.headers.get("X-Session-ID") or request.cookies.get("session_id")
    if echoed and not response.prepared:
        response.headers["X-Session-ID"] = echoed
    return response


async def _with_session(ctx: Context, session_id: str, request: web.Request,
                        handler: Handler) -> web.StreamResponse:
    """Resolve the session before the body is read, so an unknown session is a 404 whatever the body holds."""
    registry = ctx.registry
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
        response = _http_error(exc)
    if registry.peek(session_id) is session:
        registry.save(session)  # one snapshot per request: the new state and the slid expiry
    if not response.prepared:
        response.headers["X-Session-ID"] = session_id
    return response
