"""Which requests the direct lane takes: the plain shape only; everything else stays with aiohttp."""

from __future__ import annotations

import pytest

from kato.api.direct import MAX_BODY, DirectLane

SID = "session-0123456789abcdef0123456789abcdef-1795655003569"
JSON = "Content-Type: application/json"


def head(first: str, *headers: str) -> bytes:
    return "\r\n".join([first, "Host: kato", *headers]).encode("latin-1")


TAKEN = [
    (head(f"POST /sessions/{SID}/observe HTTP/1.1", JSON, "Content-Length: 17"), 17),
    (head(f"POST /sessions/{SID}/observe HTTP/1.1", "content-type: Application/JSON; charset=utf-8"), 5),
    (head(f"GET /sessions/{SID}/stm HTTP/1.1"), 0),
    (head(f"GET /sessions/{SID}/predictions HTTP/1.1", "Connection: Keep-Alive", "X-Empty:"), 0),
    (head(f"POST /sessions/{SID}/learn HTTP/1.1"), 0),
    (head(f"POST /sessions/{SID}/clear-stm HTTP/1.1", "X-Trace-ID:  abc  "), 0),
    (head("POST /sessions/custom_id-1/observe HTTP/1.1", JSON), 2),
]
LEFT = [
    (head(f"post /sessions/{SID}/observe HTTP/1.1", JSON), 2),  # methods are case-sensitive
    (head(f"POST /sessions/{SID}/observe HTTP/1.0", JSON), 2),
    (head(f"GET /sessions/{SID}/stm?x=1 HTTP/1.1"), 0),
    (head("GET /sessions/a%2Fb/stm HTTP/1.1"), 0),
    (head(f"GET /sessions/{SID}/stm/ HTTP/1.1"), 0),
    (head(f"GET /sessions/{SID}/observe HTTP/1.1"), 0),  # wrong method for the route
    (head(f"POST /sessions/{SID}/observe-sequence HTTP/1.1", JSON), 2),
    (head(f"GET /sessions/{SID} HTTP/1.1"), 0),
    (head(f"GET /sessions/{'x' * 300}/stm HTTP/1.1"), 0),
    (head(f"GET  /sessions/{SID}/stm HTTP/1.1"), 0),
    (head(f"POST /sessions/{SID}/observe HTTP/1.1", "Bad Name: x", JSON), 2),
    (head(f"POST /sessions/{SID}/observe HTTP/1.1", JSON, " folded"), 2),
    (head(f"POST /sessions/{SID}/observe HTTP/1.1", JSON, "Expect: 100-continue"), 2),
    (head(f"POST /sessions/{SID}/observe HTTP/1.1", JSON, "Transfer-Encoding: chunked"), 2),
    (head(f"GET /sessions/{SID}/stm HTTP/1.1", "Upgrade: websocket"), 0),
    (head(f"GET /sessions/{SID}/stm HTTP/1.1", "Connection: close"), 0),
    (head(f"POST /sessions/{SID}/observe HTTP/1.1", "Content-Type: text/plain"), 2),
    (head(f"POST /sessions/{SID}/observe HTTP/1.1"), 2),  # a body without a content type
    (head(f"POST /sessions/{SID}/observe HTTP/1.1", JSON), MAX_BODY + 1),
    (head(f"GET /sessions/{SID}/stm HTTP/1.1", "X-Name: caf\xe9"), 0),
    (head(f"GET /sessions/{SID}/stm HTTP/1.1", "X-Name: a\x01b"), 0),
    (head(f"GET /sessions/{SID}/stm HTTP/1.1", "NoColon"), 0),
]


@pytest.mark.parametrize(("raw", "length"), TAKEN)
def test_plain_requests_take_the_direct_lane(raw: bytes, length: int) -> None:
    request = DirectLane(None, None).request(raw, length)  # type: ignore[arg-type]
    assert request is not None
    assert request.match_info["session_id"] == raw.split(b"/")[2].decode()


@pytest.mark.parametrize(("raw", "length"), LEFT)
def test_anything_else_is_left_to_aiohttp(raw: bytes, length: int) -> None:
    assert DirectLane(None, None).request(raw, length) is None  # type: ignore[arg-type]
