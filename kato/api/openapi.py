"""`/openapi.json`: every route of the application and the request bodies kato validates."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kato import REFERENCE_VERSION, __version__
from kato.api.errors import json_response

routes = web.RouteTableDef()

_STRINGS = {"type": "array", "items": {"type": "string"}}
_OBSERVATION = {
    "type": "object",
    "properties": {
        "strings": _STRINGS,
        "vectors": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
        "emotives": {"type": "object", "additionalProperties": {"type": "number"}},
        "metadata": {"type": "object"},
    },
}
SCHEMAS: dict[str, Any] = {
    "CreateSessionRequest": {
        "type": "object",
        "required": ["node_id"],
        "properties": {
            "node_id": {"type": "string"},
            "metadata": {"type": ["object", "null"]},
            "ttl_seconds": {"type": ["integer", "null"], "minimum": 0},
            "config": {"type": ["object", "null"]},
        },
    },
    "ObservationData": _OBSERVATION,
    "ObservationSequenceRequest": {
        "type": "object",
        "required": ["observations"],
        "properties": {
            "observations": {"type": "array", "items": {
                "allOf": [_OBSERVATION, {"properties": {"unique_id": {"type": ["string", "null"]}}}],
            }},
            "learn_after_each": {"type": "boolean"},
            "learn_at_end": {"type": "boolean"},
            "clear_stm_between": {"type": "boolean"},
        },
    },
    "SessionConfigUpdate": {"type": "object", "description": "Config fields, bare or wrapped as {\"config\": {...}}"},
}
_BODIES = {
    ("POST", "/sessions"): "CreateSessionRequest",
    ("POST", "/sessions/{session_id}/observe"): "ObservationData",
    ("POST", "/sessions/{session_id}/observe-sequence"): "ObservationSequenceRequest",
    ("POST", "/sessions/{session_id}/config"): "SessionConfigUpdate",
}


def build_document(app: web.Application) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if not path or route.method == "HEAD":
            continue
        path = "/symbols/{symbol}/affinity" if path == "/symbols/{tail}" else path
        operation: dict[str, Any] = {
            "summary": (route.handler.__doc__ or route.handler.__name__).strip().splitlines()[0],
            "operationId": route.handler.__name__,
            "responses": {"200": {"description": "Successful Response"}},
        }
        parameters = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                      for p in ("session_id", "pattern_id", "symbol", "metric_name", "test_id") if f"{{{p}}}" in path]
        if parameters:
            operation["parameters"] = parameters
        schema = _BODIES.get((route.method, path))
        if schema:
            operation["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}
            operation["responses"]["422"] = {"description": "Validation Error"}
        paths.setdefault(path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "KATO API (kato)", "version": f"{REFERENCE_VERSION} (kato {__version__})"},
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI document of this server."""
    return json_response(build_document(request.app))
