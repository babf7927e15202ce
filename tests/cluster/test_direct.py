"""The direct lane answers exactly what aiohttp's path answers, and shares connections with it correctly.

Each request is sent twice, to two sessions with the same history: once on the public port in the plain shape the
direct lane takes, once on the worker's Unix socket, which aiohttp always serves. The answers must be the same
bytes once the per-session and per-request values (ids, node names, trace ids, the date) are blanked.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from kato.cluster import systemd
from tests.cluster.conftest import Cluster, start_cluster


@pytest.fixture
def one_worker(tmp_path: Path):
    with start_cluster(tmp_path, 1) as running:
        yield running


class RawClient:
    """One keep-alive HTTP/1.1 connection spoken by hand, so the bytes sent are exactly the test's."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.pending = b""

    @classmethod
    def tcp(cls, cluster: Cluster) -> RawClient:
        host, port = cluster.url.rsplit("/", 1)[1].split(":")
        return cls(socket.create_connection((host, int(port)), timeout=10))

    @classmethod
    def unix(cls, cluster: Cluster) -> RawClient:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        sock.connect(str(cluster.run_dir / "worker-0.sock"))
        return cls(sock)

    def send(self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        lines = [f"{method} {path} HTTP/1.1", "Host: kato"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    def receive(self) -> tuple[str, list[tuple[str, str]], bytes]:
        while b"\r\n\r\n" not in self.pending:
            chunk = self.sock.recv(65536)
            assert chunk, "connection closed"
            self.pending += chunk
        head, rest = self.pending.split(b"\r\n\r\n", 1)
        status, *lines = head.decode().split("\r\n")
        headers = [(name, value) for name, _, value in (line.partition(": ") for line in lines)]
        length = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))  # 0 for a 100
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            assert chunk, "connection closed"
            rest += chunk
        self.pending = rest[length:]
        return status, headers, rest[:length]

    def request(self, *args, **kwargs) -> tuple[str, list[tuple[str, str]], bytes]:
        self.send(*args, **kwargs)
        return self.receive()

    def close(self) -> None:
        self.sock.close()


def create(client: RawClient, node: str) -> str:
    _, _, body = client.request("POST", "/sessions", {"Content-Type": "application/json"},
                                json.dumps({"node_id": node}).encode())
    return json.loads(body)["session_id"]


def direct_served(cluster: Cluster) -> int:
    with urllib.request.urlopen(f"{cluster.url}/status") as response:
        return json.load(response)["processors"]["processors"][0]["routing"]["direct"]


def blank(answer: tuple[str, list[tuple[str, str]], bytes], sid: str, node: str) -> tuple:
    status, headers, body = answer
    text = body.decode().replace(sid, "SID").replace(node, "NODE")
    text = re.sub(r"(kato|obs)-[0-9a-f]{32}", r"\1-X", text)
    kept = []
    for name, value in headers:
        value = value.replace(sid, "SID")
        if name == "Date":
            value = "DATE"
        elif name == "X-Trace-ID":
            value = re.sub(r"^kato-[0-9a-f]{32}$", "kato-X", value)
        elif name == "Content-Length":
            value = "N"  # the blanked bodies are compared instead
        kept.append((name, value))
    return status, kept, text


JSON = {"Content-Type": "application/json"}
CASES: list[tuple[str, str, dict[str, str], bytes, bool]] = [  # method, route, headers, body, takes the direct lane
    ("GET", "stm", {}, b"", True),
    ("POST", "learn", {}, b"", True),  # 400: empty STM
    ("GET", "predictions", {}, b"", True),
    ("POST", "observe", JSON, b'{"strings":["b","a"]}', True),
    ("POST", "observe", {"content-type": "Application/JSON; charset=utf-8"}, b'{"strings":["c"]}', True),
    ("POST", "observe", JSON, b'{"strings":', True),  # 422 json_invalid
    ("POST", "observe", JSON, b'{"strings":["\xff"]}', True),  # invalid UTF-8
    ("POST", "observe", JSON, b"[1]", True),
    ("POST", "observe", JSON, b"", True),  # 422 missing body
    ("POST", "observe", JSON, b"null", True),
    ("POST", "observe", JSON, b'{"strings":[1, null]}', True),
    ("POST", "observe", JSON, b'{"strings":["a"],"emotives":{"joy":1e400}}', True),
    ("POST", "observe", JSON, b'{"strings":["a"],"emotives":{"joy":99999999999999999999999}}', True),
    ("POST", "observe", JSON, '{"strings":["ünï","日本"]}'.encode(), True),
    ("POST", "observe", {**JSON, "X-Trace-ID": "trace-1"}, b'{"strings":["d"]}', True),
    ("POST", "observe", {**JSON, "X-Session-ID": "someone"}, b'{"strings":["e"]}', True),
    ("POST", "observe", JSON, b'{"strings":["f"],"emotives":{"joy":1.5},"metadata":{"k":["v",1]}}', True),
    ("GET", "predictions", {}, b"", True),
    ("GET", "stm", {"Connection": "keep-alive"}, b"", True),
    ("POST", "learn", {}, b"", True),
    ("POST", "observe", JSON, b'{"strings":["b"]}', True),
    ("POST", "observe", JSON, b'{"strings":["c"]}', True),
    ("GET", "predictions", {}, b"", True),
    ("POST", "observe", {"Content-Type": "text/plain"}, b'{"strings":["x"]}', False),  # aiohttp's path
    ("GET", "predictions?x=1", {}, b"", False),
    ("POST", "clear-stm", {}, b"", True),
    ("GET", "stm", {}, b"", True),
    ("POST", "clear-stm", JSON, b'{"ignored": true}', True),
]


def test_direct_answers_are_aiohttps_answers(one_worker: Cluster) -> None:
    public, private = RawClient.tcp(one_worker), RawClient.unix(one_worker)
    try:
        a, b = create(public, "direct-a"), create(private, "direct-b")
        before = direct_served(one_worker)
        for method, route, headers, body, _ in CASES:
            mine = public.request(method, f"/sessions/{a}/{route}", headers, body)
            theirs = private.request(method, f"/sessions/{b}/{route}", headers, body)
            assert blank(mine, a, "direct-a") == blank(theirs, b, "direct-b"), (method, route, body)
        unknown = [(public if lane else private).request("POST", "/sessions/nope/observe", JSON, b'{"strings":["a"]}')
                   for lane in (True, False)]
        assert blank(unknown[0], "nope", "-") == blank(unknown[1], "nope", "-")
        assert unknown[0][0] == "HTTP/1.1 404 Not Found"
        assert direct_served(one_worker) - before == sum(lane for *_, lane in CASES) + 1
    finally:
        public.close()
        private.close()


def test_direct_and_aiohttp_requests_share_a_connection_in_order(one_worker: Cluster) -> None:
    """Requests of both lanes alternate and pipeline on one connection; answers come back in request order."""
    client = RawClient.tcp(one_worker)
    try:
        sid = create(client, "mixed")
        for symbol in ("a", "b"):
            assert client.request("POST", f"/sessions/{sid}/observe", JSON,
                                  json.dumps({"strings": [symbol]}).encode())[0] == "HTTP/1.1 200 OK"
            assert client.request("GET", f"/sessions/{sid}")[0] == "HTTP/1.1 200 OK"  # aiohttp
        # pipelined: direct, aiohttp, direct, aiohttp, direct, all sent before any answer is read
        client.send("POST", f"/sessions/{sid}/observe", JSON, b'{"strings":["c"]}')
        client.send("GET", f"/sessions/{sid}/config")
        client.send("POST", f"/sessions/{sid}/observe", JSON, b'{"strings":["d"]}')
        client.send("GET", f"/sessions/{sid}/exists")
        client.send("GET", f"/sessions/{sid}/stm")
        answers = [client.receive() for _ in range(5)]
        assert [status for status, _, _ in answers] == ["HTTP/1.1 200 OK"] * 5
        assert json.loads(answers[0][2])["stm_length"] == 3
        assert "config" in json.loads(answers[1][2]) or "session_config" in json.loads(answers[1][2])
        assert json.loads(answers[2][2])["stm_length"] == 4
        assert json.loads(answers[3][2])["exists"] is True
        assert json.loads(answers[4][2])["stm"] == [["a"], ["b"], ["c"], ["d"]]
    finally:
        client.close()


def test_a_body_in_pieces_and_a_head_byte_by_byte(one_worker: Cluster) -> None:
    client = RawClient.tcp(one_worker)
    try:
        sid = create(client, "pieces")
        body = json.dumps({"strings": ["slow"]}).encode()
        head = (f"POST /sessions/{sid}/observe HTTP/1.1\r\nHost: kato\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        for i in range(len(head)):
            client.sock.sendall(head[i:i + 1])
        client.sock.sendall(body[:5])
        client.sock.sendall(body[5:])
        status, _, answer = client.receive()
        assert status == "HTTP/1.1 200 OK" and json.loads(answer)["stm_length"] == 1
    finally:
        client.close()


def test_connection_close_and_http_1_0_are_left_to_aiohttp(one_worker: Cluster) -> None:
    client = RawClient.tcp(one_worker)
    try:
        sid = create(client, "closing")
        before = direct_served(one_worker)
        client.send("GET", f"/sessions/{sid}/stm", {"Connection": "close"})
        status, headers, _ = client.receive()
        assert status == "HTTP/1.1 200 OK" and ("Connection", "close") in headers
        assert client.sock.recv(10) == b""
    finally:
        client.close()
    with socket.create_connection(("127.0.0.1", int(one_worker.url.rsplit(":", 1)[1])), timeout=10) as raw:
        raw.sendall(f"GET /sessions/{sid}/stm HTTP/1.0\r\n\r\n".encode())
        reply = b""
        while chunk := raw.recv(65536):
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 200 OK") or reply.startswith(b"HTTP/1.0 200 OK")
    assert direct_served(one_worker) == before


def test_a_client_pipelining_thousands_of_requests_is_answered_in_order(one_worker: Cluster) -> None:
    """Reading stops while a backlog waits behind a request in progress, and resumes: nothing lost or reordered."""
    import threading

    client = RawClient.tcp(one_worker)
    try:
        sid = create(client, "pipelined")
        count = 3000
        body = b'{"strings":["p"]}'
        one = (f"POST /sessions/{sid}/observe HTTP/1.1\r\nHost: kato\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        sender = threading.Thread(target=client.sock.sendall, args=(one * count,))
        sender.start()
        times = [json.loads(client.receive()[2])["time"] for _ in range(count)]
        sender.join()
        assert times == list(range(1, count + 1))
    finally:
        client.close()


def test_expect_100_continue_reaches_the_owner_of_any_session(tmp_path: Path) -> None:
    """The worker that takes the request answers the expectation; the owner must not be asked to answer it again
    (its interim 100 would be read as the forwarded answer)."""
    with start_cluster(tmp_path, 2) as cluster:
        setup = RawClient.tcp(cluster)
        sids = [create(setup, "expect") for _ in range(12)]  # spread over both workers
        setup.close()
        for n, sid in enumerate(sids):
            client = RawClient.unix(cluster)  # worker 0's own socket: a session of worker 1 is forwarded, not handed
            client.send("POST", f"/sessions/{sid}/observe", {**JSON, "Expect": "100-continue"},
                        json.dumps({"strings": [f"s{n}"]}).encode())
            status, _, body = client.receive()
            if status.startswith("HTTP/1.1 100"):
                status, _, body = client.receive()
            assert status == "HTTP/1.1 200 OK", (status, body)
            _, _, stm = client.request("GET", f"/sessions/{sid}/stm")
            assert json.loads(stm)["stm"] == [[f"s{n}"]]
            client.close()


def _closed_by_server_within(client: RawClient, seconds: float) -> float:
    """Seconds until the server closed the idle connection (a read returns EOF), or fail after `seconds`."""
    start = time.monotonic()
    client.sock.settimeout(seconds)
    try:
        assert client.sock.recv(1) == b"", "the server sent bytes on an idle connection"
    except TimeoutError:
        pytest.fail(f"an idle connection stayed open longer than {seconds} s")
    return time.monotonic() - start


def test_idle_connections_close_after_the_keepalive_on_both_lanes(tmp_path: Path) -> None:
    """`keepalive_seconds` holds for connections aiohttp served (its own keep-alive timer) and for connections the
    direct lane served (the worker's idle sweep), and the public socket listens with kato's backlog."""
    with start_cluster(tmp_path, 1, KATO_KEEPALIVE_SECONDS="1") as cluster:
        through_aiohttp = RawClient.tcp(cluster)
        through_aiohttp.send("POST", "/sessions", {"Content-Type": "application/json"}, b'{"node_id": "k"}')
        status, _, body = through_aiohttp.receive()
        assert status.startswith("HTTP/1.1 200")
        sid = json.loads(body)["session_id"]
        direct = RawClient.tcp(cluster)
        direct.send("GET", f"/sessions/{sid}/stm")
        assert direct.receive()[0].startswith("HTTP/1.1 200")
        assert _closed_by_server_within(through_aiohttp, 5) < 5
        assert _closed_by_server_within(direct, 5) < 5
        port = cluster.url.rsplit(":", 1)[1]
        if shutil.which("ss"):
            listing = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout
            assert listing.split()[2] == str(min(systemd.LISTEN_BACKLOG, _somaxconn())), listing


def _somaxconn() -> int:
    return int(Path("/proc/sys/net/core/somaxconn").read_text())
