"""Observe, observe-sequence, STM, learn, clear and finalize over HTTP (api.md §4-§6)."""

from __future__ import annotations

from tests.api.conftest import learn, observe


async def test_observe_response_and_stm(client, new_session) -> None:
    sid = await new_session()
    body = await observe(client, sid, "b", "a")
    assert body["status"] == "okay" and body["stm_length"] == 1 and body["time"] == 1
    assert body["processor_id"] == "node-a" and body["unique_id"].startswith("obs-")
    assert body["auto_learned_pattern"] is None
    stm = await (await client.get(f"/sessions/{sid}/stm")).json()
    assert stm == {"stm": [["a", "b"]], "session_id": sid, "length": 1}


async def test_empty_observation_counts_time_only(client, new_session) -> None:
    sid = await new_session()
    response = await client.post(f"/sessions/{sid}/observe", json={})
    assert (await response.json())["time"] == 1
    assert (await (await client.get(f"/sessions/{sid}/stm")).json())["length"] == 0


async def test_learn_and_pattern_read(client, new_session) -> None:
    sid = await new_session()
    await observe(client, sid, "hello", "world")
    await observe(client, sid, "foo")
    response = await client.post(f"/sessions/{sid}/learn")
    assert await response.json() == {
        "status": "learned",
        "pattern_name": "PTRN|9893efcd120fe1d7d4622c39f6a5b8c0f5babdef",
        "session_id": sid,
        "processor_id": None,
        "message": "Learned pattern PTRN|9893efcd120fe1d7d4622c39f6a5b8c0f5babdef from 0 events",
    }
    empty = await client.post(f"/sessions/{sid}/learn")
    assert empty.status == 400 and await empty.json() == {"detail": "Cannot learn from empty STM"}


async def test_auto_learn_rolling(client, new_session) -> None:
    sid = await new_session(config={"max_pattern_length": 3, "stm_mode": "ROLLING"})
    names = [(await observe(client, sid, s))["auto_learned_pattern"] for s in "ABCDE"]
    assert names[:2] == [None, None] and all(n.startswith("PTRN|") for n in names[2:])
    assert (await (await client.get(f"/sessions/{sid}/stm")).json())["stm"] == [["D"], ["E"]]


async def test_observe_sequence_all_flags(client, new_session) -> None:
    sid = await new_session()
    body = {"observations": [{"strings": ["a", "b"]}, {"strings": ["c"], "unique_id": "mine"}, {"strings": ["d"]}],
            "learn_after_each": True, "learn_at_end": True, "clear_stm_between": True}
    result = await (await client.post(f"/sessions/{sid}/observe-sequence", json=body)).json()
    assert result["status"] == "completed" and result["observations_processed"] == 3
    assert result["results"][1]["unique_id"] == "mine"
    assert result["auto_learned_patterns"][0].startswith("PTRN|")
    assert result["auto_learned_patterns"][1:] == ["", ""]
    assert result["final_learned_pattern"] is None and result["isolated"] is True
    assert result["final_stm_length"] == 0


async def test_observe_sequence_learn_at_end(client, new_session) -> None:
    sid = await new_session()
    body = {"observations": [{"strings": ["a"]}, {"strings": ["b"]}], "learn_at_end": True}
    result = await (await client.post(f"/sessions/{sid}/observe-sequence", json=body)).json()
    assert result["final_learned_pattern"] == "PTRN|76d7efca2e96cb5eeddf4e06ac96a0f424630135"
    assert result["auto_learned_patterns"] == [result["final_learned_pattern"]]
    stats = await (await client.get("/symbols/stats?node_id=node-a")).json()
    assert set(stats["symbols"]) == {"a", "b"}


async def test_observe_sequence_vectors_see_vectors_learned_earlier_in_the_batch(client, new_session) -> None:
    sid = await new_session()
    body = {"observations": [{"vectors": [[1.0, 0.0]]}, {"vectors": [[0.0, 1.0]]}, {"vectors": [[0.9, 0.1]]}],
            "learn_after_each": True}
    await client.post(f"/sessions/{sid}/observe-sequence", json=body)
    await observe(client, sid, vectors=[[1.0, 0.1]])
    stm = (await (await client.get(f"/sessions/{sid}/stm")).json())["stm"]
    assert len(stm[-1]) == 4  # its own name plus the three nearest indexed vectors


async def test_clear_stm_and_clear_all(client, new_session) -> None:
    a, b = await new_session(), await new_session()
    await observe(client, a, "x")
    await observe(client, a, "y")
    await learn(client, a)
    await observe(client, b, "q")
    await observe(client, a, "z", emotives={"e": 1.0})
    cleared = await (await client.post(f"/sessions/{a}/clear-stm")).json()
    assert cleared == {"status": "cleared", "session_id": a}
    assert (await (await client.get(f"/sessions/{a}/percept-data")).json())["percept_data"] == {}
    everything = await (await client.post(f"/sessions/{a}/clear-all")).json()
    assert everything == {"status": "cleared", "session_id": a, "scope": "all"}
    assert (await (await client.get("/symbols/stats?node_id=node-a")).json())["symbols"] == {}
    assert (await (await client.get(f"/sessions/{b}/stm")).json())["stm"] == [["q"]]


async def test_finalize_training(client, new_session) -> None:
    sid = await new_session()
    await observe(client, sid, "a")
    await observe(client, sid, "b")
    await learn(client, sid)
    body = await (await client.post(f"/sessions/{sid}/finalize-training")).json()
    assert body["status"] == "completed" and body["patterns_processed"] == 1 and body["node_id"] == "node-a"
    assert body["message"].startswith("Computed Shannon entropy and TF vectors for 1 patterns in ")


async def test_sessions_of_one_node_keep_their_own_stm(client, new_session) -> None:
    import asyncio

    sessions = [await new_session() for _ in range(10)]

    async def feed(sid: str, tag: int) -> None:
        for i in range(8):
            await observe(client, sid, f"s{tag}-{i}")

    await asyncio.gather(*(feed(sid, n) for n, sid in enumerate(sessions)))
    for n, sid in enumerate(sessions):
        stm = (await (await client.get(f"/sessions/{sid}/stm")).json())["stm"]
        assert stm == [[f"s{n}-{i}"] for i in range(8)]
