"""Errors as values with a status and a body; `error_middleware` is the one place that turns them into responses.

The bodies are the reference's wire shapes (api.md §1.3): `{"detail": ...}` for HTTP errors, FastAPI's list of
`{"type","loc","msg","input"}` for validation, and the session middleware's `{"error": {...}}` for unknown sessions.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kato import jsonio


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=jsonio.dumps(body), status=status, content_type="application/json", headers=headers)


class ApiError(Exception):
    """An answer other than 200: raise it anywhere in a handler."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = headers

    def response(self) -> web.Response:
        return json_response(self.body, self.status, self.headers)


def detail(status: int, message: Any) -> ApiError:
    return ApiError(status, {"detail": message})


def session_not_found(session_id: str) -> ApiError:
    return ApiError(404, {"error": {
        "code": "SESSION_NOT_FOUND",
        "message": f"Session {session_id} not found or expired",
        "session_id": session_id,
    }})


def error_item(kind: str, loc: list[Any], msg: str, value: Any, ctx: dict[str, Any] | None = None) -> dict[str, Any]:
    item = {"type": kind, "loc": loc, "msg": msg, "input": value}
    if ctx is not None:
        item["ctx"] = ctx
    return item


class ValidationFailed(ApiError):
    """422 with the list of problems, FastAPI's shape."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(422, {"detail": errors})
        self.errors = errors
