"""The five session-isolation scenarios of ../shared/seeds/, against real worker processes (1 and 3 workers).

In the reference, sessions of one node shared a processor's STM and overwrote each other; here each session has
one owner and no state is shared, whichever worker a request lands on.
"""

from __future__ import annotations

import asyncio
import itertools

import aiohttp
import pytest


async def create(http: aiohttp.ClientSession, node: str) -> str:
    async with http.post("/sessions", json={"node_id": node}) as response:
        assert response.status == 200
        return (await response.json())["session_id"]


async def observe(http: aiohttp.ClientSession, sid: str, *strings: str) -> None:
    async with http.post(f"/sessions/{sid}/observe", json={"strings": list(strings)}) as response:
        assert response.status == 200, await response.text()


async def stm(http: aiohttp.ClientSession, sid: str) -> list[list[str]]:
    async with http.get(f"/sessions/{sid}/stm") as response:
        assert response.status == 200
        return (await response.json())["stm"]


async def routing_stats(http: aiohttp.ClientSession, workers: int) -> list[dict]:
    """Each worker's routing counters, asking /status until every worker has answered once."""
    seen: dict[str, dict] = {}
    for _ in range(200):
        if len(seen) == workers:
            break
        async with http.get("/status") as response:
            worker = (await response.json())["processors"]["processors"][0]
            seen[worker["processor_id"]] = worker["routing"]
    return list(seen.values())


def client(url: str) -> aiohttp.ClientSession:
    # Many connections, so requests land on every worker (the kernel spreads accepted connections).
    return aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=64, force_close=True))


@pytest.mark.parametrize(("node_a", "node_b"), [("node-1", "node-2"), ("shared", "shared")],
                         ids=["different_node_ids", "same_node_id"])
def test_stm_isolation_between_two_sessions(cluster, node_a: str, node_b: str) -> None:
    async def scenario() -> None:
        async with client(cluster.url) as http:
            a, b = await create(http, node_a), await create(http, node_b)
            await observe(http, a, "hello")
            await observe(http, b, "foo")
            await observe(http, a, "world")
            await observe(http, b, "bar")
            assert await stm(http, a) == [["hello"], ["world"]]
            assert await stm(http, b) == [["foo"], ["bar"]]

    asyncio.run(scenario())


def test_stm_isolation_concurrent_same_node(cluster) -> None:
    async def scenario() -> None:
        async with client(cluster.url) as http:
            sessions = await asyncio.gather(*(create(http, "busy") for _ in range(50)))

            async def feed(n: int, sid: str) -> None:
                for i in range(20):
                    await observe(http, sid, f"s{n}-e{i}")

            await asyncio.gather(*(feed(n, sid) for n, sid in enumerate(sessions)))
            results = await asyncio.gather(*(stm(http, sid) for sid in sessions))
            for n, events in enumerate(results):
                assert events == [[f"s{n}-e{i}"] for i in range(20)]

    asyncio.run(scenario())


def test_get_or_create_session_isolation(cluster) -> None:
    async def scenario() -> None:
        async with client(cluster.url) as http:
            first = await create(http, "goc")
            async with http.get(f"/sessions/{first}") as response:  # "get": the same session comes back
                assert response.status == 200 and (await response.json())["session_id"] == first
            await observe(http, first, "mine")
            second = await create(http, "goc")  # "create": another session, its own STM
            assert second != first
            await observe(http, second, "yours")
            async with http.get(f"/sessions/{first}") as response:
                assert (await response.json())["session_id"] == first
            await observe(http, first, "again")
            assert await stm(http, first) == [["mine"], ["again"]]
            assert await stm(http, second) == [["yours"]]

    asyncio.run(scenario())


def test_stm_isolation_after_learn(cluster) -> None:
    async def scenario() -> None:
        async with client(cluster.url) as http:
            a, b = await create(http, "learner"), await create(http, "learner")
            await observe(http, a, "x")
            await observe(http, a, "y")
            await observe(http, b, "keep")
            async with http.post(f"/sessions/{a}/learn") as response:
                assert (await response.json())["pattern_name"].startswith("PTRN|")
            assert await stm(http, a) == []
            assert await stm(http, b) == [["keep"]]
            await observe(http, b, "x")
            await observe(http, b, "y")
            async with http.get(f"/sessions/{b}/predictions") as response:
                names = [p["name"] for p in (await response.json())["predictions"]]
            assert names  # b sees the pattern a learned (shared knowledge), never a's STM
            assert await stm(http, b) == [["keep"], ["x"], ["y"]]

    asyncio.run(scenario())


def test_connections_are_handed_to_the_owner(cluster) -> None:
    """With several workers, a new connection whose first request is about another worker's session is passed to
    that worker (SCM_RIGHTS) rather than forwarded request by request."""

    async def scenario() -> list[dict]:
        async with client(cluster.url) as http:
            sessions = [await create(http, "handoff") for _ in range(12)]
            for sid in sessions:
                await observe(http, sid, "a")
            return await routing_stats(http, cluster.workers)

    stats = asyncio.run(scenario())
    if cluster.workers == 1:
        assert [{k: s[k] for k in ("forwarded", "handed_off", "adopted")} for s in stats] == [
            {"forwarded": 0, "handed_off": 0, "adopted": 0}]
    else:
        assert len(stats) == cluster.workers
        assert sum(s["adopted"] for s in stats) == sum(s["handed_off"] for s in stats) > 0


def test_a_body_sent_after_its_head_follows_the_connection_to_the_owner(cluster) -> None:
    """The handed-over connection's already-read head must reach the owner before the body still in the socket."""
    import json
    import socket
    import time

    async def make() -> str:
        async with client(cluster.url) as http:
            return await create(http, "split")

    sid = asyncio.run(make())
    host, port = cluster.url.rsplit("/", 1)[1].split(":")
    body = json.dumps({"strings": ["late"]}).encode()
    for _ in range(12):  # new connections land on every worker
        with socket.create_connection((host, int(port))) as conn:
            conn.sendall(f"POST /sessions/{sid}/observe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
            time.sleep(0.02)
            conn.sendall(body)
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer[:300]

    async def check() -> list:
        async with client(cluster.url) as http:
            return await stm(http, sid)

    assert asyncio.run(check()) == [["late"]] * 12


def test_a_pooled_keep_alive_connection_moves_to_each_requests_owner(cluster) -> None:
    """One keep-alive connection carrying many sessions (a load balancer's pool): each request is served by its
    session's owner, the connection handed over between requests instead of requests being forwarded; pipelined
    requests (sent before the previous answer) are still answered in order."""
    import json
    import socket

    async def make() -> list[str]:
        async with client(cluster.url) as http:
            return [await create(http, "pooled") for _ in range(8)]

    sessions = asyncio.run(make())
    host, port = cluster.url.rsplit("/", 1)[1].split(":")

    def request(sid: str, symbol: str) -> bytes:
        body = json.dumps({"strings": [symbol]}).encode()
        return (f"POST /sessions/{sid}/observe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    def read_response(conn: socket.socket, pending: bytes) -> tuple[int, dict, bytes]:
        while b"\r\n\r\n" not in pending:
            pending += conn.recv(65536)
        head, rest = pending.split(b"\r\n\r\n", 1)
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        while len(rest) < length:
            rest += conn.recv(65536)
        return int(head.split(b" ")[1]), json.loads(rest[:length]), rest[length:]

    with socket.create_connection((host, int(port))) as conn:
        pending = b""
        for round_ in range(3):
            for sid in sessions:
                conn.sendall(request(sid, f"r{round_}"))
                status, body, pending = read_response(conn, pending)
                assert status == 200 and body["session_id"] == sid and body["stm_length"] == round_ + 1
        conn.sendall(b"".join(request(sid, "piped") for sid in sessions))  # pipelined: forwarded where needed
        for sid in sessions:
            status, body, pending = read_response(conn, pending)
            assert status == 200 and body["session_id"] == sid and body["stm_length"] == 4

    async def check() -> tuple[list[list[list[str]]], list[dict]]:
        async with client(cluster.url) as http:
            stms = [await stm(http, sid) for sid in sessions]
            return stms, await routing_stats(http, cluster.workers)

    stms, stats = asyncio.run(check())
    assert stms == [[["r0"], ["r1"], ["r2"], ["piped"]]] * len(sessions)
    if cluster.workers > 1:
        from kato.cluster.ring import owner_of

        owners = [owner_of(sid, cluster.workers) for sid in sessions] * 3
        moves = sum(a != b for a, b in itertools.pairwise(owners))
        assert sum(s["adopted"] for s in stats) == sum(s["handed_off"] for s in stats) >= moves > 0
        assert sum(s["forwarded"] for s in stats) <= len(sessions)  # only pipelined requests may be forwarded


def test_sessions_created_over_one_connection_spread_over_every_worker(cluster) -> None:
    """A load balancer creates sessions over one pooled connection: they are spread over the workers by the ring,
    not all kept by the worker that accepted the connection, and each is served (by its owner) right away."""
    from kato.cluster.ring import owner_of

    async def scenario() -> list[str]:
        one = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(cluster.url, connector=one) as http:
            sessions = [await create(http, "spread") for _ in range(30)]
            for i, sid in enumerate(sessions):
                async with http.post(f"/sessions/{sid}/observe", json={"strings": [f"s{i}"]}) as response:
                    assert response.status == 200 and (await response.json())["stm_length"] == 1
        async with client(cluster.url) as http:
            assert [await stm(http, sid) for sid in sessions] == [[[f"s{i}"]] for i in range(30)]
        return sessions

    sessions = asyncio.run(scenario())
    assert {owner_of(sid, cluster.workers) for sid in sessions} == set(range(cluster.workers))
