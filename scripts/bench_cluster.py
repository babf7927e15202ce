#!/usr/bin/env python3
"""Cluster throughput (issue 6): requests/s of a request mix at a given concurrency, against 1 and 2 workers, and
the cost of forwarding a request to its session's owner.

Load comes from wrk (Debian package `wrk`) with a Lua script, so the client does not eat the server's CPU the way a
Python client would. Each configuration starts its own `kato serve` on a free port with a fresh data directory.

    python3 scripts/bench_cluster.py                         # mix and observe-only, 1 and 2 workers, 10 s each
    python3 scripts/bench_cluster.py --workers 2 --duration 30 --mix observe=100
    python3 scripts/bench_cluster.py --rounds 3 --clients session   # ratios per round, alternating 1 and 2 workers
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
MIX = {"observe": 60, "learn": 10, "predictions": 20, "stm": 5, "clear-stm": 5}

LUA = r"""
local sessions = {}
local weights = {}
local ops = {}
local total = 0
local counter = 0
local threads = 0

-- In "session" mode wrk runs one thread per connection and each thread keeps to one session (args[4] = "session").
function setup(thread)
  threads = threads + 1
  thread:set("index", threads)
end

function init(args)
  for sid in string.gmatch(args[1], "[^,]+") do table.insert(sessions, sid) end
  if args[4] == "session" then sessions = {sessions[(index - 1) % #sessions + 1]} end
  for spec in string.gmatch(args[2], "[^,]+") do
    local name, weight = string.match(spec, "([%w%-]+)=(%d+)")
    total = total + tonumber(weight)
    table.insert(ops, name); table.insert(weights, total)
  end
  math.randomseed(os.time() + tonumber(args[3]))
end

function request()
  counter = counter + 1
  local sid = sessions[math.random(#sessions)]
  local pick = math.random(total)
  local op = ops[#ops]
  for i, limit in ipairs(weights) do if pick <= limit then op = ops[i]; break end end
  local base = "/sessions/" .. sid
  if op == "observe" then
    local body = '{"strings":["s' .. math.random(200) .. '"]}'
    return wrk.format("POST", base .. "/observe", {["Content-Type"] = "application/json"}, body)
  elseif op == "learn" then return wrk.format("POST", base .. "/learn")
  elseif op == "predictions" then return wrk.format("GET", base .. "/predictions")
  elseif op == "stm" then return wrk.format("GET", base .. "/stm")
  else return wrk.format("POST", base .. "/clear-stm") end
end

function done(summary, latency, requests)
  io.write(string.format("JSON {\"requests\":%d,\"duration_us\":%d,\"p50_us\":%d,\"p99_us\":%d," ..
    "\"connect_errors\":%d,\"read_errors\":%d,\"status_errors\":%d,\"timeouts\":%d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect, summary.errors.read, summary.errors.status, summary.errors.timeout))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(workers: int, sync: bool):
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        env = dict(os.environ, KATO_DATA_DIR=str(Path(tmp) / "data"), KATO_PORT=str(port), KATO_SYNC=str(sync).lower(),
                   KATO_RUN_DIR=str(run_dir))
        log = Path(tmp) / "kato.log"
        with open(log, "wb") as out:
            process = subprocess.Popen([sys.executable, "-m", "kato.cli", "serve", "--workers", str(workers)],
                                       env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while "kato ready on" not in log.read_text():
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(log.read_text())
                time.sleep(0.1)
            yield f"http://127.0.0.1:{port}", run_dir
        finally:
            process.terminate()
            process.wait(timeout=60)


async def new_sessions(url: str, sessions: int) -> list[str]:
    """Fresh sessions for one run, so that no run starts from the STMs an earlier run grew."""
    async with aiohttp.ClientSession(url) as http:
        ids = []
        for _ in range(sessions):
            async with http.post("/sessions", json={"node_id": "bench"}) as response:
                ids.append((await response.json())["session_id"])
        return ids


async def prepare(url: str, sessions: int, patterns: int) -> None:
    """A knowledge base of `patterns` patterns of 5 symbols for predictions to read."""
    ids = await new_sessions(url, sessions)
    async with aiohttp.ClientSession(url) as http:
        for i in range(patterns):
            body = {"observations": [{"strings": [f"s{(i * 7 + j * 13) % 200}"]} for j in range(5)],
                    "learn_at_end": True}
            async with http.post(f"/sessions/{ids[i % len(ids)]}/observe-sequence", json=body) as response:
                assert response.status == 200


def run_wrk(url: str, sessions: list[str], mix: dict[str, int], concurrency: int, duration: int,
            clients: str) -> dict:
    """`clients`: "session" = each connection is one client with its own session (one wrk thread per connection);
    "pooled" = connections shared by all sessions, a random session per request (one wrk thread)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA)
    try:
        spec = ",".join(f"{k}={v}" for k, v in mix.items() if v)
        threads = concurrency if clients == "session" else 1
        out = subprocess.run(["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{duration}s", "--latency",
                              "-s", script.name, url, "--", ",".join(sessions), spec, "1", clients],
                             capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script.name)
    result = json.loads(re.search(r"^JSON (.*)$", out, re.M).group(1))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


async def forwarding_cost(run_dir: Path, requests: int) -> tuple[float, float]:
    """Median latency of a request sent to its owner's Unix socket vs. to the other worker's (forwarded)."""
    from kato.cluster.ring import owner_of

    async def timed(slot: int, sid: str) -> float:
        connector = aiohttp.UnixConnector(path=str(run_dir / f"worker-{slot}.sock"))
        async with aiohttp.ClientSession(connector=connector) as http:
            samples = []
            for _ in range(requests):
                started = time.perf_counter()
                async with http.get(f"http://kato/sessions/{sid}/stm") as response:
                    await response.read()
                samples.append(time.perf_counter() - started)
            return statistics.median(samples)

    connector = aiohttp.UnixConnector(path=str(run_dir / "worker-0.sock"))
    async with aiohttp.ClientSession(connector=connector) as http, \
            http.post("http://kato/sessions", json={"node_id": "fw"}) as response:
        sid = (await response.json())["session_id"]
    owner = owner_of(sid, 2)
    return await timed(owner, sid), await timed(1 - owner, sid)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sessions", type=int, default=64)
    parser.add_argument("--patterns", type=int, default=200)
    parser.add_argument("--mix", help="e.g. observe=60,learn=10,predictions=20,stm=5,clear-stm=5")
    parser.add_argument("--no-sync", action="store_true")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat every configuration, alternating worker counts; ratios are per round")
    parser.add_argument("--clients", choices=["session", "pooled"], nargs="+", default=["session", "pooled"],
                        help="session: a connection per client session; pooled: random session per request")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install wrk")
    mixes = {"mix": MIX, "observe-only": {"observe": 100}}
    if args.mix:
        mixes = {"custom": {k: int(v) for k, v in (p.split("=") for p in args.mix.split(","))}}
    rows = []
    measured = False
    for round_ in range(args.rounds):
        for workers in args.workers:
            for clients in args.clients:
                # A fresh server per client mode: no row meets a knowledge base grown by an earlier row's learns.
                with server(workers, not args.no_sync) as (url, run_dir):
                    asyncio.run(prepare(url, args.sessions, args.patterns))
                    for name, mix in mixes.items():
                        sessions = asyncio.run(new_sessions(url, args.sessions))
                        result = run_wrk(url, sessions, mix, args.concurrency, args.duration, clients)
                        errors = sum(result[k] for k in ("connect_errors", "read_errors", "status_errors", "timeouts"))
                        rows.append((round_, workers, f"{name}/{clients}", result["rps"], result["p50_us"] / 1000,
                                     result["p99_us"] / 1000, errors))
                    if workers == 2 and not measured:
                        measured = True
                        direct, forwarded = asyncio.run(forwarding_cost(run_dir, 500))
                        extra = (forwarded - direct) * 1000
                        print(f"forwarding: owner {direct * 1000:.3f} ms, via the other worker "
                              f"{forwarded * 1000:.3f} ms (+{extra:.3f} ms per forwarded request)")
    print(f"{'round':>5} {'workers':>7} {'load':<22} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for round_, workers, name, rps, p50, p99, errors in rows:
        print(f"{round_:>5} {workers:>7} {name:<22} {rps:>9.0f} {p50:>8.2f} {p99:>8.2f} {errors:>7}")
    # The machine's speed drifts between runs: compare 2 workers with the 1-worker run of the same round.
    for name in dict.fromkeys(n for _, _, n, *_ in rows):
        ratios = []
        for round_ in range(args.rounds):
            by = {w: rps for r, w, n, rps, *_ in rows if n == name and r == round_}
            if 1 in by and 2 in by:
                ratios.append(by[2] / by[1])
        if ratios:
            listed = ", ".join(f"{r:.2f}" for r in ratios)
            print(f"{name}: 2 workers / 1 worker = {statistics.median(ratios):.2f}x (median of rounds: {listed})")


if __name__ == "__main__":
    main()
