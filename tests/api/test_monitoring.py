"""Service and monitoring endpoints, the OpenAPI document and the event socket (api.md §10-§11)."""

from __future__ import annotations

import json

from aiohttp import WSMsgType


async def test_root_health_status(client) -> None:
    root = await (await client.get("/")).json()
    assert root["service"] == "KATO API" and root["version"] == "3.10.1" and root["session_support"] is True
    health = await (await client.get("/health")).json()
    assert health["service_name"] == "kato" and health["processor_status"] == "healthy"
    assert health["timestamp"].endswith("+00:00")
    status = await (await client.get("/status")).json()
    assert status["base_processor_id"] == "kato" and status["sessions"]["backend"] == "lmdb"


async def test_metrics_json_and_prometheus(client, new_session) -> None:
    await new_session()
    body = await (await client.get("/metrics")).json()
    assert body["sessions"]["total_created"] == 1.0 and body["error"] is None
    assert set(body["rates"]) == {"requests_per_second", "requests_per_minute", "errors_per_minute"}
    text = await (await client.get("/metrics", headers={"Accept": "text/plain"})).text()
    assert "# TYPE kato_requests_total counter" in text and "kato_sessions_active 1" in text


async def test_stats_and_metric_history(client) -> None:
    stats = await (await client.get("/stats?minutes=5")).json()
    assert stats["time_range_minutes"] == 5 and "kato_requests_total" in stats["time_series"]
    missing = await client.get("/metrics/nope?minutes=1")
    assert missing.status == 404
    assert await missing.json() == {"detail": "No data available for metric 'nope' in the last 1 minutes"}


async def test_other_monitoring_endpoints(client) -> None:
    for path in ("/concurrency", "/cache/stats", "/connection-pools", "/distributed-stm/stats"):
        response = await client.get(path)
        assert response.status == 200 and "timestamp" in await response.json()
    invalidated = await (await client.post("/cache/invalidate?session_id=x")).json()
    assert invalidated["status"] == "disabled" and invalidated["session_id"] == "x"


async def test_openapi_lists_every_route(client) -> None:
    doc = await (await client.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    for path in ("/sessions", "/sessions/{session_id}/observe", "/sessions/{session_id}/predictions",
                 "/pattern/{pattern_id}", "/symbols/{symbol}/affinity", "/metrics", "/ws/events"):
        assert path in doc["paths"]
    assert "requestBody" in doc["paths"]["/sessions/{session_id}/observe-sequence"]["post"]


async def test_event_socket(client, new_session) -> None:
    socket = await client.ws_connect("/ws/events")
    snapshot = json.loads((await socket.receive()).data)
    assert snapshot["event_type"] == "state.snapshot"
    await socket.send_str("ping")
    assert (await socket.receive()).data == "pong"
    sid = await new_session()
    created = json.loads((await socket.receive()).data)
    assert created["event_type"] == "session.created" and created["data"]["session_id"] == sid
    await client.delete(f"/sessions/{sid}")
    destroyed = json.loads((await socket.receive()).data)
    assert destroyed["event_type"] == "session.destroyed" and destroyed["data"]["reason"] == "explicit_delete"
    await socket.close()
    assert (await socket.receive()).type in (WSMsgType.CLOSED, WSMsgType.CLOSE)


def test_resource_samples_are_reused_within_the_interval(tmp_path) -> None:
    """Health checks polled back to back share one sample, so CPU use is never measured over a few ms."""
    from kato.api.resources import ResourceSampler

    sampler = ResourceSampler(tmp_path, min_interval=60.0)
    assert sampler.sample() is sampler.sample()
    fresh = ResourceSampler(tmp_path, min_interval=0.0)
    assert fresh.sample() is not fresh.sample()
