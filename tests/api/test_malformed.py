"""Bad input gets the reference's status and body shape and changes nothing (DESIGN.md rule 5, api.md §18)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.conftest import learn, observe

RAW = object()  # marker: the body is sent as raw bytes
J = "application/json"

# (method, path, body, content type, status, first error type or detail)
CASES: list[tuple[str, str, Any, str | None, int, Any]] = [
    ("POST", "/sessions/{sid}/observe", None, None, 422, "missing"),
    ("POST", "/sessions/{sid}/observe", (RAW, b""), J, 422, "missing"),
    ("POST", "/sessions/{sid}/observe", (RAW, b"null"), J, 422, "missing"),
    ("POST", "/sessions/{sid}/observe", (RAW, b"{bad json"), J, 422, "json_invalid"),
    ("POST", "/sessions/{sid}/observe", (RAW, b"\xff\xfe{}"), J, 422, "json_invalid"),
    ("POST", "/sessions/{sid}/observe", (RAW, b'{"strings": ["a"]'), J, 422, "json_invalid"),
    ("POST", "/sessions/{sid}/observe", (RAW, b"NaN"), J, 422, "json_invalid"),
    ("POST", "/sessions/{sid}/observe", (RAW, b'{"strings":["b"]}'), "text/plain", 422, "model_attributes_type"),
    ("POST", "/sessions/{sid}/observe", [], J, 422, "model_attributes_type"),
    ("POST", "/sessions/{sid}/observe", "x", J, 422, "model_attributes_type"),
    ("POST", "/sessions/{sid}/observe", 12, J, 422, "model_attributes_type"),
    ("POST", "/sessions/{sid}/observe", {"strings": None}, J, 422, "list_type"),
    ("POST", "/sessions/{sid}/observe", {"strings": "abc"}, J, 422, "list_type"),
    ("POST", "/sessions/{sid}/observe", {"strings": [1, True, None]}, J, 422, "string_type"),
    ("POST", "/sessions/{sid}/observe", {"strings": [["a"]]}, J, 422, "string_type"),
    ("POST", "/sessions/{sid}/observe", {"strings": [{"a": {"b": [1, {"c": None}]}}]}, J, 422, "string_type"),
    ("POST", "/sessions/{sid}/observe", {"strings": ["x" * 5000]}, J, 422, "string_too_long"),
    ("POST", "/sessions/{sid}/observe", {"vectors": "x"}, J, 422, "list_type"),
    ("POST", "/sessions/{sid}/observe", {"vectors": [1, 2]}, J, 422, "list_type"),
    ("POST", "/sessions/{sid}/observe", {"vectors": [["a"]]}, J, 422, "float_parsing"),
    ("POST", "/sessions/{sid}/observe", {"vectors": [[None]]}, J, 422, "float_type"),
    ("POST", "/sessions/{sid}/observe", {"vectors": [[1.0, 2.0], [1.0, 2.0, 3.0]]}, J, 422, "value_error"),
    ("POST", "/sessions/{sid}/observe", (RAW, b'{"vectors": [[1e999]]}'), J, 422, "finite_number"),
    ("POST", "/sessions/{sid}/observe", {"vectors": [["inf"]]}, J, 422, "finite_number"),
    ("POST", "/sessions/{sid}/observe", {"emotives": {"joy": "x"}}, J, 422, "float_parsing"),
    ("POST", "/sessions/{sid}/observe", {"emotives": {"joy": None}}, J, 422, "float_type"),
    ("POST", "/sessions/{sid}/observe", {"emotives": [1]}, J, 422, "dict_type"),
    ("POST", "/sessions/{sid}/observe", {"emotives": {"joy": [1]}}, J, 422, "float_type"),
    ("POST", "/sessions/{sid}/observe", {"metadata": "x"}, J, 422, "dict_type"),
    ("POST", "/sessions/{sid}/observe", {"metadata": [1]}, J, 422, "dict_type"),
    ("POST", "/sessions/{sid}/observe", (RAW, b'{"strings": ["ok"], "emotives": {"e": -1e400}}'), J, 422,
     "finite_number"),
    ("POST", "/sessions/{sid}/observe-sequence", {}, J, 422, "missing"),
    ("POST", "/sessions/{sid}/observe-sequence", {"observations": None}, J, 422, "list_type"),
    ("POST", "/sessions/{sid}/observe-sequence", {"observations": [{"strings": ["a"]}, 5]}, J, 422,
     "model_attributes_type"),
    ("POST", "/sessions/{sid}/observe-sequence", {"observations": [{"strings": ["a"]}, {"strings": [1]}]}, J, 422,
     "string_type"),
    ("POST", "/sessions/{sid}/observe-sequence", {"observations": [{"unique_id": 5}]}, J, 422, "string_type"),
    ("POST", "/sessions/{sid}/observe-sequence", {"observations": [], "learn_at_end": "maybe"}, J, 422,
     "bool_parsing"),
    ("POST", "/sessions/{sid}/observe-sequence", {"observations": [], "learn_after_each": "yes"}, J, 422,
     "bool_parsing"),
    ("POST", "/sessions/{sid}/observe-sequence", {"observations": [], "clear_stm_between": [True]}, J, 422,
     "bool_type"),
    ("POST", "/sessions/{sid}/config", [], J, 422, "dict_type"),
    ("POST", "/sessions/{sid}/config", None, None, 422, "missing"),
    ("POST", "/sessions/{sid}/config", {"config": 5}, J, 400, "config"),
    ("POST", "/sessions/{sid}/config", {"config": None}, J, 400, "config"),
    ("POST", "/sessions/{sid}/config", {"max_predictions": 10**30}, J, 400, "max_predictions"),
    ("POST", "/sessions/{sid}/config", {"recall_threshold": True}, J, 400, "recall_threshold"),
    ("POST", "/sessions/{sid}/config", {"filter_pipeline": "abc"}, J, 400, "filter_pipeline"),
    ("POST", "/sessions/{sid}/config", {"fuzzy_token_threshold": 5}, J, 400, "fuzzy_token_threshold"),
    ("POST", "/sessions/{sid}/config", {"max_pattern_length": True}, J, 400, "max_pattern_length"),
    ("POST", "/sessions/{sid}/extend?ttl_seconds=abc", None, None, 422, "int_parsing"),
    ("POST", "/sessions/{sid}/extend?ttl_seconds=-1", None, None, 422, "greater_than_equal"),
    ("POST", "/sessions", {}, J, 422, "missing"),
    ("POST", "/sessions", {"node_id": 5}, J, 422, "string_type"),
    ("POST", "/sessions", {"node_id": None}, J, 422, "string_type"),
    ("POST", "/sessions", {"node_id": "x", "ttl_seconds": 1.5}, J, 422, "int_from_float"),
    ("POST", "/sessions", {"node_id": "x", "ttl_seconds": -5}, J, 422, "greater_than_equal"),
    ("POST", "/sessions", {"node_id": "x", "ttl_seconds": True}, J, 422, "int_type"),
    ("POST", "/sessions", {"node_id": "x", "metadata": [1]}, J, 422, "dict_type"),
    ("POST", "/sessions", {"node_id": "x", "config": "x"}, J, 422, "dict_type"),
    ("POST", "/sessions/session-missing/observe", {"strings": [1]}, J, 404, "SESSION_NOT_FOUND"),
    ("GET", "/sessions/session-missing/predictions", None, None, 404, "SESSION_NOT_FOUND"),
    ("GET", "/stats?minutes=ten", None, None, 422, "int_parsing"),
]


async def _state(client, sid: str) -> tuple:
    stm = await (await client.get(f"/sessions/{sid}/stm")).json()
    config = await (await client.get(f"/sessions/{sid}/config")).json()
    percept = await (await client.get(f"/sessions/{sid}/percept-data")).json()
    symbols = await (await client.get("/symbols/stats?node_id=node-a")).json()
    count = await (await client.get("/sessions/count")).json()
    return stm, config, percept, symbols, count


@pytest.mark.parametrize(("method", "path", "body", "content_type", "status", "expected"), CASES)
async def test_malformed_request_changes_nothing(
    client, new_session, method: str, path: str, body: Any, content_type: str | None, status: int, expected: Any
) -> None:
    sid = await new_session()
    await observe(client, sid, "a", emotives={"e": 1.0})
    await observe(client, sid, "b")
    await learn(client, sid)
    await observe(client, sid, "c")
    before = await _state(client, sid)
    headers = {"Content-Type": content_type} if content_type else {}
    if isinstance(body, tuple) and body and body[0] is RAW:
        data = body[1]
    elif body is None:
        data = None
    else:
        data = json.dumps(body).encode()
    response = await client.request(method, path.format(sid=sid), data=data, headers=headers)
    assert response.status == status, await response.text()
    payload = await response.json()
    if status == 422:
        assert payload["detail"][0]["type"] == expected
        assert all({"type", "loc", "msg", "input"} <= set(item) for item in payload["detail"])
    elif status == 400:
        assert expected in payload["detail"]["validation_errors"]
    else:
        assert payload["error"]["code"] == expected
    assert await _state(client, sid) == before


async def test_body_over_the_limit_is_413(client, new_session) -> None:
    sid = await new_session()
    response = await client.post(f"/sessions/{sid}/observe", data=b"x" * (16 * 1024 * 1024 + 10),
                                 headers={"Content-Type": J})
    assert response.status == 413
    assert await response.json() == {"detail": "Request Entity Too Large"}
