"""The direct lane: the hot session routes served from the connection's bytes, without aiohttp's request objects.

aiohttp spends ~130 µs of CPU per request here (request and response objects, router, middleware chain, writer)
against ~15 µs for a bare protocol, several times what an observe costs kato itself. The routes a client calls in
its inner loop (observe, stm, learn, clear-stm, predictions) are therefore served from a request head this module
parses, through the same middleware and the same handlers as aiohttp's path, so the answers are the same bytes:
only the framing (which `kato.api.connection` does) and the response's head are written here.

Only the plain shape takes this lane: HTTP/1.1, a session id of the server's own alphabet, no query string, no
percent-encoding, a JSON body (or none) of a bounded size, no Expect, Upgrade, Transfer-Encoding or Content-Encoding,
no Connection other than keep-alive, ASCII headers in the token grammar. Anything else goes to aiohttp, which
answers it as it always has.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http import SERVER_SOFTWARE
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from kato.api import observations, predictions

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[Any, Handler], Awaitable[web.StreamResponse]]

_PHRASES = {status.value: status.phrase for status in HTTPStatus}  # aiohttp's reasons (an enum call per answer costs)
MAX_BODY = 65536  # larger bodies go to aiohttp, which streams them and enforces the configured limit
MAX_HEADERS = 100  # aiohttp refuses more than 128 header lines
MAX_HEADER_LINE = 8190  # ... and longer lines

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # a header name (RFC 9110 token)
_ID_CHARS = re.compile(r"[A-Za-z0-9_\-]{1,256}")  # ids the server mints, and nothing percent-encoded


def _plain_name(name: str) -> bool:
    return name.replace("-", "").isalnum() or _TOKEN.fullmatch(name) is not None


def _media_type(content_type: str | None) -> str:
    """The media type of a Content-Type value, lowercased and without parameters, as aiohttp reads it."""
    if content_type is None:
        return "application/octet-stream"
    return content_type.partition(";")[0].strip().lower()


def _plain_id(session_id: str) -> bool:
    return (session_id.replace("-", "").isalnum() and len(session_id) <= 256) or \
        _ID_CHARS.fullmatch(session_id) is not None


_ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", "observe"): observations.observe,
    ("GET", "stm"): observations.stm,
    ("POST", "learn"): observations.learn,
    ("POST", "clear-stm"): observations.clear_stm,
    ("GET", "predictions"): predictions.predictions,
}
_EMPTY_QUERY: MultiDictProxy[str] = MultiDictProxy(MultiDict())


class DirectRequest:
    """What the middleware and the hot handlers read of a request, and nothing else."""

    __slots__ = ("_state", "app", "body", "handler", "headers", "match_info", "method", "raw_path")

    query = _EMPTY_QUERY
    cookies: dict[str, str] = {}  # noqa: RUF012 (read-only: the hot routes never set cookies)

    def __init__(self, app: web.Application, method: str, raw_path: str, session_id: str,
                 headers: CIMultiDictProxy[str], handler: Handler) -> None:
        self.app = app
        self.method = method
        self.raw_path = raw_path
        self.match_info = {"session_id": session_id}
        self.headers = headers
        self.handler = handler
        self.body = b""
        self._state: dict[Any, Any] = {}

    @property
    def path(self) -> str:
        return self.raw_path

    @property
    def content_type(self) -> str:
        return _media_type(self.headers.get("Content-Type"))

    async def read(self) -> bytes:
        return self.body

    def __getitem__(self, key: Any) -> Any:
        return self._state[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._state[key] = value

    def get(self, key: Any, default: Any = None) -> Any:
        return self._state.get(key, default)


class DirectLane:
    """One worker's direct lane: parses heads into `DirectRequest`s and serves them through `middleware`."""

    def __init__(self, app: web.Application, middleware: Middleware, max_body: int = MAX_BODY) -> None:
        """`max_body`: the configured request size limit; larger bodies go to aiohttp, which answers 413."""
        self._app = app
        self._middleware = middleware
        self._max_body = min(max_body, MAX_BODY)
        self._date_second = -1
        self._date = ""
        self.served = 0

    def request(self, head: bytes, body_length: int) -> DirectRequest | None:
        """The request of `head` if it takes the direct lane, else None (aiohttp serves it).

        Parsed with str methods rather than regular expressions (which cost several times more here); anything
        outside the plain shape is refused, never repaired."""
        if body_length > self._max_body or not head.isascii():
            return None
        lines = head.decode("ascii").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or parts[2] != "HTTP/1.1" or not parts[1].startswith("/sessions/"):
            return None
        session_id, _, action = parts[1][10:].partition("/")
        handler = _ROUTES.get((parts[0], action))
        if handler is None or not _plain_id(session_id):
            return None
        if len(lines) > MAX_HEADERS + 1:
            return None
        pairs = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            value = value.strip(" \t")
            if not colon or len(line) > MAX_HEADER_LINE or not _plain_name(name) or not value.isprintable():
                return None
            pairs.append((name, value))
        headers = CIMultiDict(pairs)
        # Each name once (aiohttp refuses repeated Host, Content-Type...; a repeated Connection could say close)
        # and a Host, as HTTP/1.1 requires; no framing or coding aiohttp would handle differently.
        if len({name.lower() for name, _ in pairs}) != len(pairs) or "Host" not in headers:
            return None
        if "Expect" in headers or "Transfer-Encoding" in headers or "Upgrade" in headers \
                or "Content-Encoding" in headers:
            return None
        connection = headers.get("Connection")
        if connection is not None and connection.lower() != "keep-alive":
            return None
        if body_length and _media_type(headers.get("Content-Type")) != "application/json":
            return None
        return DirectRequest(self._app, parts[0], parts[1], session_id, CIMultiDictProxy(headers), handler)

    async def serve(self, request: DirectRequest) -> web.Response:
        """The middleware's answer (the same object aiohttp's path would write)."""
        response = await self._middleware(request, request.handler)
        self.served += 1
        if not isinstance(response, web.Response) or not isinstance(response.body, bytes):
            raise TypeError(f"{request.raw_path}: a direct route answered without a bytes body")
        return response

    def encode(self, response: web.Response, closing: bool = False) -> bytes:
        """The answer on the wire, with the head aiohttp would have written for it (and `Connection: close` when
        the connection closes after it)."""
        body = response.body
        assert isinstance(body, bytes)
        status = response.status
        head = [f"HTTP/1.1 {status} {_PHRASES.get(status, '')}"]
        head += [f"{name}: {value}" for name, value in response.headers.items()]
        head += [f"Content-Length: {len(body)}", f"Date: {self._http_date()}", f"Server: {SERVER_SOFTWARE}"]
        if closing:
            head.append("Connection: close")
        head += ["", ""]
        return "\r\n".join(head).encode("utf-8") + body

    def _http_date(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._date_second:
            self._date_second = second
            self._date = formatdate(now, usegmt=True)
        return self._date


LANE = web.AppKey("direct_lane", DirectLane)
