"""Session lifecycle and configuration over HTTP (api.md §2, §12)."""

from __future__ import annotations

import asyncio
import re

from tests.api.conftest import observe

SESSION_ID = re.compile(r"session-[0-9a-f]{32}-[0-9]{13}")
ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")


async def test_create_returns_reference_shape(client) -> None:
    response = await client.post("/sessions", json={"node_id": "n", "metadata": {"k": "v"}, "ttl_seconds": "90"})
    assert response.status == 200
    body = await response.json()
    assert list(body) == ["session_id", "node_id", "created_at", "expires_at", "ttl_seconds", "metadata",
                          "session_config"]
    assert SESSION_ID.fullmatch(body["session_id"]) and ISO_Z.fullmatch(body["created_at"])
    assert body["ttl_seconds"] == 90 and body["metadata"] == {"k": "v"} and body["node_id"] == "n"
    assert body["session_config"]["max_predictions"] == 100


async def test_create_applies_valid_config_and_drops_invalid(client) -> None:
    ok = await (await client.post("/sessions", json={"node_id": "n", "config": {"max_predictions": 5}})).json()
    assert ok["session_config"]["max_predictions"] == 5
    bad = await (await client.post("/sessions", json={"node_id": "n", "config": {"max_predictions": 5,
                                                                                   "recall_threshold": 2}})).json()
    assert bad["session_config"]["max_predictions"] == 100


async def test_get_exists_delete(client, new_session) -> None:
    sid = await new_session()
    body = await (await client.get(f"/sessions/{sid}")).json()
    assert body["session_id"] == sid and body["ttl_seconds"] in (3599, 3600)
    assert await (await client.get(f"/sessions/{sid}/exists")).json() == {
        "exists": True, "expired": False, "session_id": sid}
    assert await (await client.delete(f"/sessions/{sid}")).json() == {"status": "deleted", "session_id": sid}
    again = await client.delete(f"/sessions/{sid}")
    assert again.status == 404 and (await again.json())["error"]["code"] == "SESSION_NOT_FOUND"
    missing = await client.get(f"/sessions/{sid}")
    assert missing.status == 404 and await missing.json() == {"detail": f"Session {sid} not found or expired"}
    assert (await (await client.get(f"/sessions/{sid}/exists")).json())["exists"] is False


async def test_count_is_exact(client, new_session) -> None:
    before = (await (await client.get("/sessions/count")).json())["active_session_count"]
    a, b = await new_session(), await new_session("other")
    assert (await (await client.get("/sessions/count")).json())["active_session_count"] == before + 2
    await client.delete(f"/sessions/{a}")
    assert (await (await client.get("/sessions/count")).json())["active_session_count"] == before + 1
    assert b


async def test_ttl_expiry_and_extend(client, new_session) -> None:
    short = await new_session(ttl_seconds=1)
    extended = await new_session()
    response = await client.post(f"/sessions/{extended}/extend?ttl_seconds=1")
    assert await response.json() == {"status": "extended", "session_id": extended, "ttl_seconds": 1}
    await asyncio.sleep(1.3)
    for sid in (short, extended):
        assert (await (await client.get(f"/sessions/{sid}/exists")).json())["exists"] is False
        assert (await client.get(f"/sessions/{sid}/stm")).status == 404


async def test_sliding_expiry_keeps_a_used_session(client, new_session) -> None:
    sid = await new_session(ttl_seconds=2)
    for _ in range(3):
        await asyncio.sleep(0.8)
        await observe(client, sid, "a")
    assert (await (await client.get(f"/sessions/{sid}/stm")).json())["length"] == 3


async def test_extend_rejects_bad_ttl(client, new_session) -> None:
    sid = await new_session()
    for query in ("abc", "1.5", "0", "-3"):
        response = await client.post(f"/sessions/{sid}/extend?ttl_seconds={query}")
        assert response.status == 422
        assert (await response.json())["detail"][0]["loc"] == ["query", "ttl_seconds"]


async def test_config_get_and_update(client, new_session) -> None:
    sid = await new_session()
    response = await client.post(f"/sessions/{sid}/config", json={"config": {"max_predictions": 7}})
    assert await response.json() == {"status": "okay", "message": "Configuration updated", "session_id": sid}
    config = (await (await client.get(f"/sessions/{sid}/config")).json())["config"]
    assert config["max_predictions"] == 7
    response = await client.post(f"/sessions/{sid}/config", json={"persistence": 0, "recall_threshold": "x"})
    assert response.status == 400
    assert await response.json() == {"detail": {
        "error": "Configuration validation failed",
        "validation_errors": {"recall_threshold": "Must be a number between 0.0 and 1.0",
                              "persistence": "Must be an integer between 1 and 100"},
    }}


async def test_unknown_session_is_404_before_body_validation(client) -> None:
    response = await client.post("/sessions/nope/observe", data=b"{bad", headers={"Content-Type": "application/json"})
    assert response.status == 404
    assert await response.json() == {"error": {"code": "SESSION_NOT_FOUND",
                                               "message": "Session nope not found or expired", "session_id": "nope"}}


async def test_session_header_and_trace_id(client, new_session) -> None:
    sid = await new_session()
    response = await client.get(f"/sessions/{sid}/stm", headers={"X-Trace-ID": "t-1"})
    assert response.headers["X-Session-ID"] == sid and response.headers["X-Trace-ID"] == "t-1"
    assert (await client.get("/health")).headers["X-Trace-ID"].startswith("kato-")


async def test_methods_and_unknown_paths(client, new_session) -> None:
    listed = await client.get("/sessions")
    assert listed.status == 405 and listed.headers["Allow"] == "POST"
    assert await listed.json() == {"detail": "Method Not Allowed"}
    assert await (await client.get("/nope")).json() == {"detail": "Not Found"}
    sid = await new_session()
    assert (await client.get(f"/sessions/{sid}/nope")).status == 404
    assert (await client.get(f"/sessions/{sid}/learn")).status == 405


async def test_snapshots_let_a_new_registry_load_the_session(client, new_session) -> None:
    from kato.api.context import CONTEXT
    from kato.sessions import SessionRegistry

    sid = await new_session()
    await observe(client, sid, "b", "a", emotives={"e": 1.5}, metadata={"m": [1]})
    ctx = client.server.app[CONTEXT]
    fresh = SessionRegistry(ctx.registry._snapshots)
    loaded = fresh.get(sid)
    assert loaded is not None and loaded.state == ctx.registry.get(sid).state


async def test_snapshot_round_trips_after_a_config_update_and_with_huge_integers(client, new_session) -> None:
    """The snapshot caches the config's JSON per config object and falls back to the standard library for
    integers orjson cannot write; both must give back exactly the live state."""
    from kato.api.context import CONTEXT
    from kato.sessions import SessionRegistry

    sid = await new_session(metadata={"big": 2**80})
    await observe(client, sid, "a")
    response = await client.post(f"/sessions/{sid}/config", json={"config": {"max_predictions": 7}})
    assert response.status == 200, await response.text()
    await observe(client, sid, "b", metadata={"n": 2**70})
    ctx = client.server.app[CONTEXT]
    loaded = SessionRegistry(ctx.registry._snapshots).get(sid)
    live = ctx.registry.get(sid)
    assert loaded is not None and loaded.state == live.state and loaded.metadata == live.metadata
    assert loaded.state.config.max_predictions == 7
