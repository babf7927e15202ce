"""An application per test on a real store in a temp directory (and on the in-memory store), driven over a real
socket by pytest-aiohttp's client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from kato.api.app import create_app
from kato.config import Settings
from kato.server import open_backend


@pytest.fixture(params=["lmdb", "memory"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", store=request.param, sync=False, map_size=1 << 30,
                    session_sweep_seconds=0.2)


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], settings: Settings) -> AsyncIterator[TestClient]:
    store, snapshots, close = open_backend(settings)
    app = create_app(settings, store, snapshots)
    client = await aiohttp_client(app)
    yield client
    await client.close()
    close()


@pytest.fixture
def new_session(client: TestClient) -> Callable[..., Any]:
    async def make(node_id: str = "node-a", **body: Any) -> str:
        response = await client.post("/sessions", json={"node_id": node_id, **body})
        assert response.status == 200, await response.text()
        return (await response.json())["session_id"]

    return make


async def observe(client: TestClient, session_id: str, *strings: str, **body: Any) -> dict:
    response = await client.post(f"/sessions/{session_id}/observe", json={"strings": list(strings), **body})
    assert response.status == 200, await response.text()
    return await response.json()


async def learn(client: TestClient, session_id: str) -> str:
    response = await client.post(f"/sessions/{session_id}/learn")
    assert response.status == 200, await response.text()
    return (await response.json())["pattern_name"]
