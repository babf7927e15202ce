"""Predictions, percept and cognition data, pattern and symbol reads (api.md §7-§9)."""

from __future__ import annotations

from tests.api.conftest import learn, observe


async def test_predictions_both_shapes(client, new_session) -> None:
    sid = await new_session()
    for s in ("a", "b", "c", "d"):
        await observe(client, sid, s)
    await learn(client, sid)
    await observe(client, sid, "a")
    single = await (await client.get(f"/sessions/{sid}/predictions")).json()
    assert single["count"] == 1 and single["future_potentials"] == []
    assert single["predictions"][0]["future"] == ["b", "c", "d"] and single["predictions"][0]["potential"] == 2.25
    assert (single["processor_id"], single["time"], single["unique_id"]) == (None, None, None)
    await observe(client, sid, "b")
    multi = await (await client.get(f"/sessions/{sid}/predictions")).json()
    (p,) = multi["predictions"]
    assert p["type"] == "prototypical" and p["future"] == [["c"], ["d"]]
    assert multi["future_potentials"][0]["future"] == [["c"], ["d"]]


async def test_percept_and_cognition_data(client, new_session) -> None:
    sid = await new_session()
    await observe(client, sid, "a")
    await observe(client, sid, "b")
    await learn(client, sid)
    await observe(client, sid, "b", "a", emotives={"joy": 1}, metadata={"k": "v"})
    percept = await (await client.get(f"/sessions/{sid}/percept-data")).json()
    assert percept == {"percept_data": {"strings": ["a", "b"], "vectors": [], "emotives": {"joy": 1.0}, "path": [],
                                        "metadata": {"k": "v"}}, "session_id": sid, "node_id": "node-a"}
    cognition = (await (await client.get(f"/sessions/{sid}/cognition-data")).json())["cognition_data"]
    assert cognition["short_term_memory"] == [["a", "b"]] and cognition["time"] == 3
    assert cognition["emotives"] == {"joy": 1.0} and cognition["symbols"] == ["a", "b"]
    assert cognition["predictions"][0]["name"] == "76d7efca2e96cb5eeddf4e06ac96a0f424630135"


async def test_pattern_read_prefix_variants_and_node_echo(client, new_session) -> None:
    sid = await new_session("my-node.x")
    await observe(client, sid, "a", emotives={"e": 2})
    await observe(client, sid, "b", metadata={"m": True})
    name = await learn(client, sid)
    for path in (name, name.replace("|", "%7C"), name[5:]):
        body = await (await client.get(f"/pattern/{path}?node_id=my-node.x")).json()
        assert body["node_id"] == "my_node_x_kato"
        assert body["pattern"]["status"] == "okay"
        assert body["pattern"]["pattern"] == {"name": name, "pattern_data": [["a"], ["b"]], "length": 2,
                                              "frequency": 1, "emotives": [{"e": 2.0}], "metadata": {"m": ["True"]}}
    other = await (await client.get(f"/pattern/{name}?node_id=my_node.x")).json()  # a different node in kato
    assert other["pattern"] == {"status": "error", "message": f"Pattern {name} not found"}


async def test_symbol_stats_and_affinities(client, new_session) -> None:
    sid = await new_session()
    await observe(client, sid, "x/y", "a b", emotives={"joy": 2})
    await observe(client, sid, "x/y", emotives={"joy": 4})
    await learn(client, sid)
    stats = (await (await client.get("/symbols/stats", headers={"x-node-id": "node-a"})).json())["symbols"]
    assert stats["x/y"] == {"name": "x/y", "frequency": 2, "pattern_member_frequency": 1}
    affinities = (await (await client.get("/symbols/affinity?node_id=node-a")).json())["affinities"]
    assert affinities == {"a b": {"joy": 3.0}, "x/y": {"joy": 3.0}}
    one = await (await client.get("/symbols/x%2Fy/affinity?node_id=node-a")).json()
    assert one == {"symbol": "x/y", "affinity": {"joy": 3.0}, "node_id": "node_a_kato"}
    unknown = await (await client.get("/symbols/zzz/affinity?node_id=node-a")).json()
    assert unknown["affinity"] == {}


async def test_deprecated_node_endpoints(client) -> None:
    percept = await (await client.get("/percept-data", headers={"x-test-id": "abc"})).json()
    assert percept["node_id"] == "test_abc_kato" and percept["percept_data"] == {}
    cognition = await (await client.get("/cognition-data")).json()
    assert cognition["node_id"] == "default_node_kato" and cognition["cognition_data"]["short_term_memory"] == []
