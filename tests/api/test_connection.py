"""The public connection in process, where the test can interleave with the server's event loop: the moments
between aiohttp's request handling and the direct lane, backpressure, odd framing, the idle sweep."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop
from aiohttp import web

from kato.api import direct
from kato.api.app import create_app
from kato.api.connection import Connections, PublicConnection
from kato.api.context import CONTEXT
from kato.api.direct import LANE
from kato.config import Settings
from kato.server import open_backend


class Worker:
    """A worker's app and public connections on an ephemeral port, in this process."""

    def __init__(self, data_dir: Path) -> None:
        self.settings = Settings(data_dir=data_dir, store="memory", sync=False)
        self.protocols: list[PublicConnection] = []
        self.connections = Connections()

    async def __aenter__(self) -> Worker:
        store, snapshots, self._close = open_backend(self.settings)
        self.app = create_app(self.settings, store, snapshots)
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()

        def protocol() -> PublicConnection:
            connection = PublicConnection(self.runner.server, self.connections, self.app[LANE])
            self.protocols.append(connection)
            return connection

        self.server = await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.runner.cleanup()
        self._close()

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)


def request(method: str, path: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: kato"]
    if body or method == "POST":
        lines += [f"Content-Length: {len(body)}", "Content-Type: application/json"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def answer(reader: asyncio.StreamReader) -> tuple[str, bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode().split("\r\n")
    length = next(int(line.split(":")[1]) for line in lines if line.lower().startswith("content-length"))
    return lines[0], await asyncio.wait_for(reader.readexactly(length), 5)


async def new_session(worker: Worker) -> str:
    reader, writer = await worker.connect()
    writer.write(request("POST", "/sessions", b'{"node_id": "n"}'))
    _, body = await answer(reader)
    writer.close()
    return json.loads(body)["session_id"]


async def grow_stm(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, sid: str, events: int) -> None:
    """`events` observes of ten 4,000-character symbols each (~40 KB of STM per event)."""
    for i in range(events):
        writer.write(request("POST", f"/sessions/{sid}/observe",
                             json.dumps({"strings": [f"{i}-{j}{'x' * 4000}" for j in range(10)]}).encode()))
        assert (await answer(reader))[0] == "HTTP/1.1 200 OK"


def run(tmp_path: Path, scenario: Callable[[Worker], Awaitable[None]]) -> None:
    async def main() -> None:
        async with Worker(tmp_path / "data") as worker:
            await scenario(worker)

    uvloop.run(main())


def test_a_direct_request_right_behind_an_aiohttp_one_waits_for_its_answer(tmp_path: Path) -> None:
    """aiohttp takes a request off its queue a loop turn before it starts it; a direct request read in between
    must not overtake it (nor retire the handler and lose its answer)."""

    async def scenario(worker: Worker) -> None:
        sid = await new_session(worker)
        for turns in range(6):
            reader, writer = await worker.connect()
            writer.write(request("GET", f"/sessions/{sid}"))  # aiohttp's lane
            for _ in range(turns):
                await asyncio.sleep(0)
            writer.write(request("GET", f"/sessions/{sid}/stm"))  # the direct lane
            first, second = await answer(reader), await answer(reader)
            assert "ttl_seconds" in json.loads(first[1]) and "stm" in json.loads(second[1]), turns
            writer.close()

    run(tmp_path, scenario)


def test_answers_wait_for_a_client_that_does_not_read(tmp_path: Path) -> None:
    """Pipelined requests from a client that stops reading are not answered into an unbounded buffer."""

    async def scenario(worker: Worker) -> None:
        sid = await new_session(worker)
        reader, writer = await worker.connect()
        await grow_stm(reader, writer, sid, 10)  # an STM of ~400 KB, so that each stm answer is large
        server_side = worker.protocols[-1]
        server_side._transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        writer.write(request("GET", f"/sessions/{sid}/stm") * 12)
        await asyncio.sleep(0.5)
        one_answer = 420_000
        assert server_side._transport.get_write_buffer_size() < 2 * one_answer  # not 12 answers' worth
        for _ in range(12):
            status, _ = await answer(reader)
            assert status == "HTTP/1.1 200 OK"
        writer.close()

    run(tmp_path, scenario)


def test_absurd_framing_is_answered_not_raised(tmp_path: Path) -> None:
    async def scenario(worker: Worker) -> None:
        sid = await new_session(worker)
        reader, writer = await worker.connect()
        writer.write(f"GET /sessions/{sid}/stm HTTP/1.1\r\nHost: k\r\nContent-Length: {'0' * 5000}\r\n\r\n".encode())
        status, _ = await answer(reader)
        assert status.split()[1] in ("200", "400")
        writer.close()

    run(tmp_path, scenario)


def test_the_idle_sweep_closes_a_connection_left_with_half_a_request(tmp_path: Path) -> None:
    async def scenario(worker: Worker) -> None:
        reader, writer = await worker.connect()
        writer.write(b"GET /sess")
        await asyncio.sleep(0.1)
        loop = asyncio.get_running_loop()
        worker.connections.sweep(loop.time())  # not yet idle for the keep-alive time
        assert not worker.protocols[-1]._transport.is_closing()
        worker.connections.sweep(loop.time() + worker.connections.keepalive_seconds + 1)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()

    run(tmp_path, scenario)


def test_a_drain_waits_for_a_body_on_its_way_and_answers_with_connection_close(tmp_path: Path) -> None:
    async def scenario(worker: Worker) -> None:
        sid = await new_session(worker)
        reader, writer = await worker.connect()
        writer.write(request("GET", f"/sessions/{sid}"))  # an aiohttp request first: its handler is retired next
        await answer(reader)
        whole = request("POST", f"/sessions/{sid}/observe", b'{"strings": ["late"]}')
        writer.write(whole[:-5])
        await asyncio.sleep(0.1)
        assert worker.connections.busy()
        worker.connections.close_idle()  # the drain begins
        worker.connections.sweep(asyncio.get_running_loop().time())  # nothing idle yet
        writer.write(whole[-5:])
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).decode()
        assert head.startswith("HTTP/1.1 200 OK") and "Connection: close" in head
        assert not worker.connections.busy()

    run(tmp_path, scenario)


def test_the_idle_sweep_drops_an_answer_the_client_stopped_reading(tmp_path: Path) -> None:
    async def scenario(worker: Worker) -> None:
        sid = await new_session(worker)
        reader, writer = await worker.connect()
        await grow_stm(reader, writer, sid, 50)  # an STM of ~2 MB: more than the socket buffers hold
        server_side = worker.protocols[-1]
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        writer.write(request("GET", f"/sessions/{sid}/stm") * 2)
        await asyncio.sleep(0.5)
        assert server_side._serving
        worker.connections.sweep(asyncio.get_running_loop().time() + worker.connections.keepalive_seconds + 1)
        assert server_side._transport.is_closing()
        writer.close()

    run(tmp_path, scenario)


def test_a_long_pipelined_burst_is_answered_in_order_without_deep_recursion(tmp_path: Path) -> None:
    """Direct answers start eagerly inside the read that brought them; a request read behind one is served by a
    Task, so 3,000 requests in one write never nest 3,000 answers on the stack."""

    async def scenario(worker: Worker) -> None:
        sid = await new_session(worker)
        reader, writer = await worker.connect()
        burst = []
        for i in range(3000):
            burst.append(request("POST", f"/sessions/{sid}/observe", json.dumps({"strings": [f"e{i}"]}).encode()))
            burst.append(request("POST", f"/sessions/{sid}/clear-stm"))
        writer.write(request("POST", f"/sessions/{sid}/observe", b'{"strings": ["first"]}') + b"".join(burst)
                     + request("GET", f"/sessions/{sid}/stm"))
        status, body = await answer(reader)
        assert status == "HTTP/1.1 200 OK" and json.loads(body)["status"] == "okay"
        for i in range(3000):
            status, body = await answer(reader)
            assert status == "HTTP/1.1 200 OK" and json.loads(body)["status"] == "okay", i
            status, body = await answer(reader)
            assert json.loads(body)["status"] == "cleared", i
        _, body = await answer(reader)
        assert json.loads(body)["stm"] == []
        writer.close()

    run(tmp_path, scenario)


def test_an_eager_answer_never_runs_inside_another_requests_task(tmp_path: Path, monkeypatch) -> None:
    """A waits (its session's lock is held), so a Task carries it on; B, pipelined behind it, is started when A
    ends, inside A's Task: B gets a Task of its own instead of running its first step in A's."""
    seen: list[object] = []
    stm = direct._ROUTES[("GET", "stm")]

    async def probe(request: web.Request) -> web.StreamResponse:
        seen.append(asyncio.current_task())
        return await stm(request)

    monkeypatch.setitem(direct._ROUTES, ("GET", "stm"), probe)

    async def scenario(worker: Worker) -> None:
        sid = await new_session(worker)
        session = worker.app[CONTEXT].registry.get(sid)
        await session.lock.acquire()
        reader, writer = await worker.connect()
        writer.write(request("POST", f"/sessions/{sid}/observe", b'{"strings": ["a"]}')
                     + request("GET", f"/sessions/{sid}/stm"))
        await asyncio.sleep(0.05)
        tasks_before = asyncio.all_tasks()
        session.lock.release()
        assert (await answer(reader))[0] == "HTTP/1.1 200 OK"
        status, body = await answer(reader)
        assert status == "HTTP/1.1 200 OK" and json.loads(body)["stm"] == [["a"]]
        (task,) = seen
        assert task is not None and task not in tasks_before  # B's own Task, not A's (which existed before)
        writer.close()

    run(tmp_path, scenario)
