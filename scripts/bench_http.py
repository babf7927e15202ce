#!/usr/bin/env python3
"""Sequential HTTP benchmark (issue 5): one client, one keep-alive connection.

Train 1,000 patterns of 5 single-symbol events over 200 symbols through the API (clear-stm, 5 observes, learn),
then run 300 queries (clear-stm, 3 observes, predictions). Reports the training time and p50/p99 per call.

    python3 scripts/bench_http.py                       # starts `kato serve` on a free port with a temp data dir
    python3 scripts/bench_http.py --url http://127.0.0.1:8000
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def local_server(workers: int, sync: bool):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as data:
        env = dict(os.environ, KATO_DATA_DIR=data, KATO_PORT=str(port), KATO_SYNC=str(sync).lower())
        process = subprocess.Popen([sys.executable, "-m", "kato.cli", "serve", "--workers", str(workers)], env=env,
                                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(600):  # the port is bound at once; wait until a worker answers
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as probe:
                        probe.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        if probe.recv(16).startswith(b"HTTP/1.1 200"):
                            break
                except OSError:
                    pass
                time.sleep(0.1)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=30)


class Connection:
    """A minimal blocking HTTP/1.1 keep-alive client on one socket, so the numbers are the server's, not a client
    library's (aiohttp's client alone costs about 0.2 ms per request here; an asyncio stream client ~0.1 ms)."""

    def __init__(self, url: str) -> None:
        host, port = url.split("//", 1)[1].rstrip("/").split(":")
        self.sock = socket.create_connection((host, int(port)))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.host = f"{host}:{port}"
        self.buffer = b""

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        """Status and raw body: a call ends when its response is fully received (as for wrk); decoding the JSON is
        the client's own work and happens outside the timing."""
        payload = orjson.dumps(body) if body is not None else b""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(payload)}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        self.sock.sendall(head.encode() + b"\r\n" + payload)
        data = self.buffer
        while (end := data.find(b"\r\n\r\n")) < 0:
            data += self._recv()
        header_lines = data[:end].split(b"\r\n")
        length = 0
        for line in header_lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        start = end + 4
        while len(data) < start + length:
            data += self._recv()
        self.buffer = data[start + length:]
        return int(header_lines[0].split()[1]), data[start:start + length]

    def _recv(self) -> bytes:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


def run(url: str, patterns: int, queries: int, seed: int) -> dict[str, list[float]]:
    rng = random.Random(seed)
    vocabulary = [f"s{i:03d}" for i in range(200)]
    timings: dict[str, list[float]] = defaultdict(list)
    http = Connection(url)
    try:
        def call(kind: str, method: str, path: str, body: dict | None = None) -> dict:
            started = time.perf_counter()
            status, data = http.request(method, path, body)
            timings[kind].append(time.perf_counter() - started)
            payload = orjson.loads(data)
            if status != 200:
                raise RuntimeError(f"{method} {path}: {status} {payload}")
            return payload

        sid = call("create", "POST", "/sessions", {"node_id": f"bench-{seed}"})["session_id"]
        learned = []
        started = time.perf_counter()
        for _ in range(patterns):
            call("clear-stm", "POST", f"/sessions/{sid}/clear-stm")
            symbols = [rng.choice(vocabulary) for _ in range(5)]
            for symbol in symbols:
                call("observe", "POST", f"/sessions/{sid}/observe", {"strings": [symbol]})
            call("learn", "POST", f"/sessions/{sid}/learn")
            learned.append(symbols)
        timings["train_total"].append(time.perf_counter() - started)
        for _ in range(queries):
            call("clear-stm", "POST", f"/sessions/{sid}/clear-stm")
            source = rng.choice(learned)
            start = rng.randrange(3)
            symbols = source[start:start + 3]
            if rng.random() < 0.5:
                symbols[rng.randrange(3)] = rng.choice(vocabulary)
            for symbol in symbols:
                call("observe", "POST", f"/sessions/{sid}/observe", {"strings": [symbol]})
            call("predictions", "GET", f"/sessions/{sid}/predictions")
    finally:
        http.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url")
    parser.add_argument("--patterns", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-sync", action="store_true", help="start the local server with fsync off")
    args = parser.parse_args()
    results: dict[str, list[float]] = defaultdict(list)
    for repeat in range(args.repeats):
        if args.url:
            timings = run(args.url, args.patterns, args.queries, repeat)
        else:
            with local_server(args.workers, not args.no_sync) as url:
                timings = run(url, args.patterns, args.queries, repeat)
        for kind, values in timings.items():
            if kind == "train_total":
                results[kind].append(values[0])
            else:
                ordered = sorted(values)
                results[f"{kind} p50"].append(statistics.median(ordered))
                results[f"{kind} p99"].append(ordered[max(0, int(len(ordered) * 0.99) - 1)])
    print(f"median of {args.repeats} runs; {args.patterns} patterns, {args.queries} queries")
    print(f"  training total: {statistics.median(results.pop('train_total')):.2f} s")
    for name in sorted(results):
        print(f"  {name:<18} {statistics.median(results[name]) * 1000:8.3f} ms")


if __name__ == "__main__":
    main()
