#!/usr/bin/env python3
"""Load test for kato or any server speaking the KATO 3.10.1 HTTP API (issue 7).

What it does, in order:
1. setup: creates sessions (spread over --nodes node ids) and trains each node's knowledge base with --patterns
   random patterns through observe-sequence (learn_at_end), several trainers at once;
2. the measured run: --concurrency clients, each driving its own sessions through a random mix of operations
   (default 60% observe, 10% learn, 20% predictions, 5% stm, 5% clear-stm) until --duration has passed or
   --requests requests were made, printing one progress line per second to stderr;
3. cleanup: wipes the knowledge bases it trained (clear-all) and deletes its sessions, unless --keep.

It ends with requests/s, p50/p90/p99/max latency per operation and errors by status, as a table on stdout and,
with --json FILE, as JSON. --plot FILE.png draws the latency percentiles over time (needs matplotlib: the `plot`
extra). --soak (or --pids) also samples RSS and open file descriptors of the server's processes every
--sample-interval seconds and reports their growth, to catch leaks in long runs.

    python3 scripts/loadtest.py                                   # 30 s against http://127.0.0.1:8000
    python3 scripts/loadtest.py --concurrency 32 --duration 2m --json run.json --plot run.png
    python3 scripts/loadtest.py --requests 20000 --learn 0 --predictions 40 --observe 50
    python3 scripts/loadtest.py --soak --duration 10m             # plus RSS/fd growth of `kato serve`

Node ids are fresh per run (loadtest-<random>), so runs never see each other's patterns.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import sys
import time
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import numpy as np
import orjson

OPERATIONS = ("observe", "learn", "predictions", "stm", "clear-stm")
DEFAULT_MIX = {"observe": 60.0, "learn": 10.0, "predictions": 20.0, "stm": 5.0, "clear-stm": 5.0}
PERCENTILES = (50, 90, 99)
REPORT_VERSION = 1


# --------------------------------------------------------------------------------------------------------------
# command line


def parse_duration(text: str) -> float:
    """Seconds from "90", "90s", "10m", "1h", "1m30s" (a bare number is seconds)."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 30s, 10m, 1h, 1m30s)")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


def _share(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("a share cannot be negative")
    return value


def _pids(text: str) -> list[int]:
    try:
        return [int(p) for p in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of process ids: {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loadtest.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="base URL of a KATO-compatible server")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight at once")
    bound = parser.add_mutually_exclusive_group()
    bound.add_argument("--duration", type=parse_duration, help="run this long: 30s, 10m, 1h (default 30s)")
    bound.add_argument("--requests", type=int, help="run until this many mix requests were made")
    mix = parser.add_argument_group("mix", "relative shares of the operations (need not sum to 100)")
    for op in OPERATIONS:
        mix.add_argument(f"--{op}", type=_share, default=DEFAULT_MIX[op], dest=op.replace("-", "_"),
                         help=f"share of {op}")
    work = parser.add_argument_group("workload")
    work.add_argument("--sessions", type=int, default=0, help="sessions in the mix (default: one per client)")
    work.add_argument("--nodes", type=int, default=1, help="node ids (knowledge bases) the sessions spread over")
    work.add_argument("--patterns", type=int, default=500, help="patterns trained into each node before the run")
    work.add_argument("--symbols", type=int, default=200, help="size of the symbol alphabet")
    work.add_argument("--seed", type=int, default=1, help="seed of the workload (node ids stay random)")
    work.add_argument("--timeout", type=float, default=30.0, help="seconds before a request counts as timed out")
    work.add_argument("--keep", action="store_true", help="keep the sessions and trained knowledge bases")
    out = parser.add_argument_group("output")
    out.add_argument("--json", metavar="FILE", help="also write the report as JSON (- for stdout)")
    out.add_argument("--plot", metavar="FILE.png", help="draw latency percentiles over time (needs matplotlib)")
    out.add_argument("--quiet", action="store_true", help="no progress lines")
    soak = parser.add_argument_group("soak", "sample RSS and open file descriptors of the server processes")
    soak.add_argument("--soak", action="store_true",
                      help="sample the server's processes (default duration then 10m)")
    soak.add_argument("--pids", type=_pids,
                      help="sample these processes and their children (implies --soak); default: the processes "
                           "listening on the URL's port, else every `kato ... serve` process tree")
    soak.add_argument("--sample-interval", type=float, default=5.0, help="seconds between samples")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.soak = args.soak or bool(args.pids)
    if args.duration is None and args.requests is None:
        args.duration = 600.0 if args.soak else 30.0
    args.mix = {op: getattr(args, op.replace("-", "_")) for op in OPERATIONS}
    if sum(args.mix.values()) <= 0:
        parser.error("the mix is empty: give at least one operation a positive share")
    if args.concurrency < 1 or args.nodes < 1 or args.patterns < 1 or args.symbols < 2:
        parser.error("--concurrency, --nodes and --patterns must be >= 1 and --symbols >= 2")
    if (args.duration is not None and args.duration <= 0) or (args.requests is not None and args.requests < 1):
        parser.error("--duration and --requests must be positive")
    args.sessions = max(args.sessions, args.concurrency)
    return args


# --------------------------------------------------------------------------------------------------------------
# measurements


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def summarize(latencies: Sequence[float] | np.ndarray) -> dict[str, float | None]:
    """p50/p90/p99/max/mean in milliseconds (None for no data: a missing figure, not a zero)."""
    if len(latencies) == 0:
        return {**{f"p{p}_ms": None for p in PERCENTILES}, "max_ms": None, "mean_ms": None}
    values = np.asarray(latencies, dtype=np.float64)
    points = np.percentile(values, PERCENTILES)
    return {**{f"p{p}_ms": _ms(v) for p, v in zip(PERCENTILES, points, strict=True)},
            "max_ms": _ms(float(values.max())), "mean_ms": _ms(float(values.mean()))}


class Recorder:
    """Every latency per operation (8 bytes each, for exact percentiles at the end) plus a per-second window
    that is summarized and dropped at each tick, so the timeline costs nothing per request."""

    def __init__(self) -> None:
        self.latencies: dict[str, array] = {op: array("d") for op in OPERATIONS}
        self.errors: dict[str, Counter[str]] = {op: Counter() for op in OPERATIONS}
        self.window: list[float] = []
        self.window_count = 0
        self.window_errors = 0
        self.timeline: list[dict[str, Any]] = []
        self.completed = 0
        self.started = time.monotonic()
        self.last_tick = self.started

    def record(self, op: str, seconds: float | None, status: int | str) -> None:
        """`seconds` is None when no response arrived (timeout, refused connection): it has no latency."""
        self.completed += 1
        self.window_count += 1
        if seconds is not None:
            self.latencies[op].append(seconds)
            self.window.append(seconds)
        if not (isinstance(status, int) and status < 400):
            self.errors[op][str(status)] += 1
            self.window_errors += 1

    def tick(self) -> dict[str, Any]:
        """Close the current window into one timeline entry and return it."""
        now = time.monotonic()
        span = max(now - self.last_tick, 1e-9)
        entry = {"t": round(now - self.started, 3), "requests": self.window_count,
                 "requests_per_second": round(self.window_count / span, 1), "errors": self.window_errors,
                 **{k: v for k, v in summarize(self.window).items() if k != "mean_ms"}}
        self.timeline.append(entry)
        self.window, self.window_count, self.window_errors, self.last_tick = [], 0, 0, now
        return entry

    def report(self, elapsed: float) -> dict[str, Any]:
        operations: dict[str, Any] = {}
        everything = []
        total_errors: Counter[str] = Counter()
        for op in OPERATIONS:
            values = np.frombuffer(self.latencies[op], dtype=np.float64) if self.latencies[op] else np.empty(0)
            count = len(values) + sum(c for s, c in self.errors[op].items() if not s.isdigit())
            if count == 0:
                continue
            everything.append(values)
            total_errors.update(self.errors[op])
            operations[op] = {"count": count, "requests_per_second": round(count / elapsed, 1),
                              **summarize(values), "errors": dict(sorted(self.errors[op].items()))}
        merged = np.concatenate(everything) if everything else np.empty(0)
        return {
            "elapsed_seconds": round(elapsed, 3),
            "requests": self.completed,
            "requests_per_second": round(self.completed / elapsed, 1) if elapsed > 0 else 0.0,
            "latency": summarize(merged),
            "errors": {"total": sum(total_errors.values()), "by_status": dict(sorted(total_errors.items()))},
            "operations": operations,
            "timeline": self.timeline,
        }


# --------------------------------------------------------------------------------------------------------------
# server processes (soak mode)


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return fh.read().decode(errors="replace")
    except OSError:
        return None


def _cmdline(pid: int) -> list[str]:
    raw = _read(f"/proc/{pid}/cmdline")
    return [part for part in raw.split("\0") if part] if raw else []


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process visible in /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _read(f"/proc/{entry}/stat")
            if stat:
                # the command name (field 2) may hold spaces and parentheses: split after its last ")"
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def _descendants(roots: Iterable[int], parents: dict[int, int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, stack = set(), list(roots)
    while stack:
        pid = stack.pop()
        if pid in parents and pid not in found:
            found.add(pid)
            stack.extend(children.get(pid, ()))
    return found


def is_kato_server(cmdline: Sequence[str]) -> bool:
    """`kato serve ...`, `python -m kato.cli serve ...`, `/opt/kato/.venv/bin/kato serve`."""
    return "serve" in cmdline and any("kato" in part for part in cmdline)


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in (_read(table) or "").splitlines()[1:]:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def _holders(inodes: set[str]) -> set[int]:
    """Processes with one of these socket inodes open (only processes we may inspect: our own, or all as root)."""
    wanted = {f"socket:[{inode}]" for inode in inodes}
    holders = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{entry}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{entry}/fd/{fd}") in wanted:
                        holders.add(int(entry))
                        break
    return holders


def find_server_processes(url: str, pids: Sequence[int] | None) -> tuple[set[int], str]:
    """The processes to sample and how they were found.

    Given pids: those and their descendants. Otherwise, when the URL is on this machine, whoever listens on its
    port, widened to the topmost `kato serve` ancestor and all its descendants (the supervisor and every worker,
    even if only some of them hold the socket). Otherwise every `kato ... serve` process tree on the machine.
    """
    parents = _parents()
    if pids:
        return _descendants(pids, parents), "pids"
    parts = urlsplit(url)
    if parts.hostname in ("127.0.0.1", "localhost", "::1", "0.0.0.0"):
        holders = _holders(_listening_inodes(parts.port or 80))
        if holders:
            roots = set()
            for pid in holders:
                while parents.get(pid, 0) > 1 and is_kato_server(_cmdline(parents[pid])):
                    pid = parents[pid]
                roots.add(pid)
            return _descendants(roots, parents), f"listener on port {parts.port or 80}"
    me = os.getpid()
    roots = {pid for pid in parents if pid != me and is_kato_server(_cmdline(pid))}
    return _descendants(roots, parents), "command line `kato ... serve`"


@dataclass
class ProcessSeries:
    pid: int
    cmdline: str
    t: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    anon: list[int] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)


def _growth(t: Sequence[float], values: Sequence[float]) -> dict[str, float | int | None]:
    """First, last, difference and the least-squares slope per minute (robust to one noisy end point)."""
    if not values:
        return {"first": None, "last": None, "growth": None, "slope_per_minute": None}
    slope = None
    if len(values) >= 2 and t[-1] > t[0]:
        slope = round(float(np.polyfit(np.asarray(t), np.asarray(values, dtype=np.float64), 1)[0]) * 60.0, 3)
        slope += 0.0  # no "-0.0" for a flat series
    return {"first": values[0], "last": values[-1], "growth": values[-1] - values[0], "slope_per_minute": slope}


def _anon_rss(pid: int) -> int | None:
    """Resident anonymous memory (heap, stacks) in bytes. RSS also counts the pages of the memory-mapped LMDB
    files that a process touched, which grow with the store and are page cache, not a leak; a leak shows here."""
    for line in (_read(f"/proc/{pid}/status") or "").splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
    return None


class ProcessSampler:
    """RSS, anonymous RSS and open descriptors of the server's processes, re-discovered at every sample so a
    restarted worker shows up as a new series rather than hiding a leak behind a reset."""

    def __init__(self, url: str, pids: Sequence[int] | None, started: float) -> None:
        self.url, self.pids, self.started = url, pids, started
        self.series: dict[int, ProcessSeries] = {}
        self.totals: list[dict[str, Any]] = []
        self.method = ""
        self.page = os.sysconf("SC_PAGE_SIZE")

    def sample(self) -> None:
        pids, self.method = find_server_processes(self.url, self.pids)
        t = round(time.monotonic() - self.started, 3)
        rss_total = anon_total = fds_total = alive = 0
        for pid in sorted(pids):
            statm = _read(f"/proc/{pid}/statm")
            anon = _anon_rss(pid)
            try:
                fds = len(os.listdir(f"/proc/{pid}/fd"))
            except OSError:
                continue
            if not statm or anon is None:
                continue
            rss = int(statm.split()[1]) * self.page
            series = self.series.get(pid)
            if series is None:
                series = self.series[pid] = ProcessSeries(pid, " ".join(_cmdline(pid))[:120])
            series.t.append(t)
            series.rss.append(rss)
            series.anon.append(anon)
            series.fds.append(fds)
            rss_total += rss
            anon_total += anon
            fds_total += fds
            alive += 1
        self.totals.append({"t": t, "processes": alive, "rss_bytes": rss_total, "rss_anon_bytes": anon_total,
                            "open_fds": fds_total})

    def report(self, interval: float) -> dict[str, Any]:
        t = [s["t"] for s in self.totals]
        return {
            "found_by": self.method,
            "interval_seconds": interval,
            "samples": len(self.totals),
            "total": {key: _growth(t, [s[key] for s in self.totals])
                      for key in ("rss_bytes", "rss_anon_bytes", "open_fds")},
            "per_process": [
                {"pid": s.pid, "cmdline": s.cmdline, "first_seen": s.t[0], "last_seen": s.t[-1], "samples": len(s.t),
                 "rss_bytes": _growth(s.t, s.rss), "rss_anon_bytes": _growth(s.t, s.anon),
                 "open_fds": _growth(s.t, s.fds)}
                for s in self.series.values()
            ],
            "timeline": self.totals,
        }


# --------------------------------------------------------------------------------------------------------------
# workload


def make_patterns(rng: random.Random, count: int, symbols: int) -> list[list[list[str]]]:
    """`count` distinct random patterns of 3-8 events of 1-3 symbols each (distinct so each one is learned)."""
    alphabet = [f"s{i:04d}" for i in range(symbols)]
    seen: set[tuple[tuple[str, ...], ...]] = set()
    patterns = []
    while len(patterns) < count:
        pattern = [sorted(rng.sample(alphabet, rng.randint(1, 3))) for _ in range(rng.randint(3, 8))]
        key = tuple(tuple(event) for event in pattern)
        if key not in seen:
            seen.add(key)
            patterns.append(pattern)
    return patterns


class SetupError(RuntimeError):
    """The server refused the setup (creating sessions, training): the mix would measure nothing useful."""


class Client:
    """One aiohttp session (keep-alive pool as large as the concurrency) and the recorder of the measured run."""

    def __init__(self, http: aiohttp.ClientSession, recorder: Recorder) -> None:
        self.http, self.recorder = http, recorder

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        data = orjson.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else None
        async with self.http.request(method, path, data=data, headers=headers) as response:
            return response.status, await response.read()

    async def setup_call(self, method: str, path: str, body: Any = None) -> Any:
        """A request of the setup or cleanup phase: not measured, and any failure stops the run."""
        try:
            status, payload = await self.call(method, path, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SetupError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if status != 200:
            raise SetupError(f"{method} {path}: HTTP {status}: {payload[:300].decode(errors='replace')}")
        return orjson.loads(payload)

    async def measured(self, op: str, method: str, path: str, body: Any = None) -> int | str:
        started = time.perf_counter()
        try:
            status, _ = await self.call(method, path, body)
        except TimeoutError:
            self.recorder.record(op, None, "timeout")
            return "timeout"
        except aiohttp.ClientError as exc:
            kind = type(exc).__name__
            self.recorder.record(op, None, kind)
            return kind
        self.recorder.record(op, time.perf_counter() - started, status)
        return status


@dataclass
class SessionState:
    """What the client knows of one session, so each request it sends is valid: a learn needs a non-empty STM."""

    session_id: str
    node_id: str
    stm_length: int = 0
    pattern: list[list[str]] = field(default_factory=list)
    cursor: int = 0


class Budget:
    """When the measured run stops: a deadline, or a number of requests handed out one by one."""

    def __init__(self, duration: float | None, requests: int | None) -> None:
        self.deadline = time.monotonic() + duration if duration is not None else None
        self.remaining = requests
        self.stopped = False

    def take(self) -> bool:
        if self.stopped:
            return False
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return False
        if self.remaining is not None:
            if self.remaining <= 0:
                return False
            self.remaining -= 1
        return True

    def stop(self) -> None:
        self.stopped = True


async def create_sessions(client: Client, count: int, nodes: list[str], parallel: int) -> list[SessionState]:
    gate = asyncio.Semaphore(parallel)

    async def one(index: int) -> SessionState:
        node = nodes[index % len(nodes)]
        async with gate:
            body = await client.setup_call("POST", "/sessions", {"node_id": node, "metadata": {"loadtest": True}})
        return SessionState(body["session_id"], node)

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def train(client: Client, trainers: list[SessionState], patterns: list[list[list[str]]]) -> int:
    """Every node learns every pattern, one observe-sequence request per pattern; a node's patterns are split
    over its trainer sessions. Returns the number of requests made."""
    by_node: dict[str, list[SessionState]] = {}
    for trainer in trainers:
        by_node.setdefault(trainer.node_id, []).append(trainer)

    async def feed(trainer: SessionState, share: list[list[list[str]]]) -> None:
        for pattern in share:
            body = {"observations": [{"strings": event} for event in pattern], "learn_at_end": True}
            result = await client.setup_call("POST", f"/sessions/{trainer.session_id}/observe-sequence", body)
            if not result.get("final_learned_pattern"):
                raise SetupError(f"training: pattern {pattern} was not learned: {result}")

    jobs = []
    for group in by_node.values():
        for index, trainer in enumerate(group):
            jobs.append(feed(trainer, patterns[index::len(group)]))
    await asyncio.gather(*jobs)
    return len(patterns) * len(by_node)


def choose_operation(rng: random.Random, mix: dict[str, float]) -> str:
    return rng.choices(OPERATIONS, weights=[mix[op] for op in OPERATIONS])[0]


async def drive(client: Client, sessions: list[SessionState], patterns: list[list[list[str]]], alphabet: int,
                mix: dict[str, float], budget: Budget, rng: random.Random) -> None:
    """One concurrent client: round-robin over its own sessions, one request at a time.

    Observations replay the trained patterns event by event (so predictions have something to match), with one
    in ten events random noise and one in five carrying an emotive. A learn drawn while the session's STM is
    empty is sent as an observe instead, because learning an empty STM is a 400 by specification.
    """
    turn = 0
    while budget.take():
        state = sessions[turn % len(sessions)]
        turn += 1
        op = choose_operation(rng, mix)
        if op == "learn" and state.stm_length == 0:
            op = "observe"
        sid = state.session_id
        if op == "observe":
            if state.cursor >= len(state.pattern):
                state.pattern, state.cursor = rng.choice(patterns), 0
            event = state.pattern[state.cursor]
            state.cursor += 1
            if rng.random() < 0.1:
                event = [f"s{rng.randrange(alphabet):04d}"]
            body: dict[str, Any] = {"strings": event}
            if rng.random() < 0.2:
                body["emotives"] = {"utility": round(rng.uniform(-1, 1), 3)}
            if await client.measured(op, "POST", f"/sessions/{sid}/observe", body) == 200:
                state.stm_length += 1
        elif op == "learn":
            if await client.measured(op, "POST", f"/sessions/{sid}/learn") == 200:
                state.stm_length, state.cursor = 0, len(state.pattern)
        elif op == "clear-stm":
            if await client.measured(op, "POST", f"/sessions/{sid}/clear-stm") == 200:
                state.stm_length, state.cursor = 0, len(state.pattern)
        elif op == "predictions":
            await client.measured(op, "GET", f"/sessions/{sid}/predictions")
        else:
            await client.measured(op, "GET", f"/sessions/{sid}/stm")


async def progress(recorder: Recorder, budget: Budget, total: int | None, quiet: bool) -> None:
    """One line a second to stderr; also closes the timeline windows, so it runs even when quiet."""
    while True:
        await asyncio.sleep(1.0)
        entry = recorder.tick()
        if quiet:
            continue
        done = f"{recorder.completed}/{total}" if total else f"{recorder.completed}"
        p99 = entry["p99_ms"]
        print(f"[{entry['t']:7.1f}s] {entry['requests_per_second']:8.1f} req/s  errors {entry['errors']:4d}  "
              f"p99 {'-' if p99 is None else f'{p99:.1f}'} ms  done {done}", file=sys.stderr, flush=True)


async def sample_processes(sampler: ProcessSampler, interval: float) -> None:
    while True:
        sampler.sample()
        await asyncio.sleep(interval)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    run_id = os.urandom(4).hex()
    nodes = [f"loadtest-{run_id}-{n}" for n in range(args.nodes)]
    patterns = make_patterns(rng, args.patterns, args.symbols)
    recorder = Recorder()
    connector = aiohttp.TCPConnector(limit=max(args.concurrency, 8), limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    report: dict[str, Any] = {
        "tool": "kato-loadtest", "version": REPORT_VERSION, "url": args.url,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": {"concurrency": args.concurrency, "duration_seconds": args.duration, "requests": args.requests,
                   "mix": args.mix, "sessions": args.sessions, "nodes": args.nodes, "patterns": args.patterns,
                   "symbols": args.symbols, "seed": args.seed, "timeout_seconds": args.timeout},
    }
    async with aiohttp.ClientSession(base_url=args.url.rstrip("/"), connector=connector, timeout=timeout) as http:
        client = Client(http, recorder)
        started = time.monotonic()
        trainers = await create_sessions(client, min(args.concurrency, 8) * args.nodes, nodes, args.concurrency)
        sessions = await create_sessions(client, args.sessions, nodes, args.concurrency)
        trained = await train(client, trainers, patterns)
        report["setup"] = {"sessions": len(trainers) + len(sessions), "training_requests": trained,
                           "seconds": round(time.monotonic() - started, 3)}
        if not args.quiet:
            print(f"setup: {len(sessions)} sessions on {args.nodes} node(s), {trained} patterns learned in "
                  f"{report['setup']['seconds']:.1f} s", file=sys.stderr, flush=True)

        budget = Budget(args.duration, args.requests)
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGINT, budget.stop)
        recorder.started = recorder.last_tick = time.monotonic()
        sampler = ProcessSampler(args.url, args.pids, recorder.started) if args.soak else None
        background = [asyncio.create_task(progress(recorder, budget, args.requests, args.quiet))]
        if sampler:
            background.append(asyncio.create_task(sample_processes(sampler, args.sample_interval)))
        owned = [sessions[i::args.concurrency] for i in range(args.concurrency)]
        try:
            await asyncio.gather(*(drive(client, mine, patterns, args.symbols, args.mix, budget,
                                         random.Random(f"{args.seed}-{i}"))
                                   for i, mine in enumerate(owned)))
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGINT)
        elapsed = time.monotonic() - recorder.started
        if recorder.window_count:
            recorder.tick()
        if sampler:
            sampler.sample()
        report.update(recorder.report(elapsed))
        report["interrupted"] = budget.stopped
        report["processes"] = sampler.report(args.sample_interval) if sampler else None

        if not args.keep:
            await cleanup(client, trainers, sessions)
    return report


async def cleanup(client: Client, trainers: list[SessionState], sessions: list[SessionState]) -> None:
    """Wipe each trained knowledge base once (clear-all through one of its trainers), then delete every session."""
    wiped: set[str] = set()
    for trainer in trainers:
        if trainer.node_id not in wiped:
            wiped.add(trainer.node_id)
            await client.setup_call("POST", f"/sessions/{trainer.session_id}/clear-all")
    gate = asyncio.Semaphore(16)

    async def delete(state: SessionState) -> None:
        async with gate:
            await client.setup_call("DELETE", f"/sessions/{state.session_id}")

    await asyncio.gather(*(delete(s) for s in [*trainers, *sessions]))


# --------------------------------------------------------------------------------------------------------------
# output


def _fmt(value: float | None, width: int = 9) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.2f}"


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value / 2**20:.1f} MiB"


def format_table(report: dict[str, Any]) -> str:
    config = report["config"]
    bound = f"{report['elapsed_seconds']:.1f} s"
    lines = [
        f"kato load test: {report['url']}, concurrency {config['concurrency']}, {bound}, "
        f"{report['requests']} requests, {report['requests_per_second']:.1f} req/s, "
        f"{report['errors']['total']} errors" + (" (interrupted)" if report.get("interrupted") else ""),
        "",
        f"{'operation':<12}{'count':>9}{'req/s':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'errors':>8}",
    ]
    rows = [*report["operations"].items(), ("all", {"count": report["requests"],
                                                     "requests_per_second": report["requests_per_second"],
                                                     **report["latency"],
                                                     "errors": report["errors"]["by_status"]})]
    for op, row in rows:
        lines.append(f"{op:<12}{row['count']:>9}{row['requests_per_second']:>9.1f}{_fmt(row['p50_ms'])}"
                     f"{_fmt(row['p90_ms'])}{_fmt(row['p99_ms'])}{_fmt(row['max_ms'])}"
                     f"{sum(row['errors'].values()):>8}")
    by_status = report["errors"]["by_status"]
    lines += ["", "errors by status: " + (", ".join(f"{k}: {v}" for k, v in by_status.items()) or "none")]
    processes = report.get("processes")
    if processes:
        total = processes["total"]
        rss, anon, fds = total["rss_bytes"], total["rss_anon_bytes"], total["open_fds"]
        lines += [
            "",
            f"server processes ({processes['found_by']}; {processes['samples']} samples every "
            f"{processes['interval_seconds']:g} s):",
            f"  total rss {_mib(rss['first'])} -> {_mib(rss['last'])} "
            f"(growth {_mib(rss['growth'])}, {_mib(rss['slope_per_minute'])}/min); "
            f"anonymous {_mib(anon['first'])} -> {_mib(anon['last'])} "
            f"(growth {_mib(anon['growth'])}, {_mib(anon['slope_per_minute'])}/min)",
            f"  total fds {fds['first']} -> {fds['last']} (growth {fds['growth']}, {fds['slope_per_minute']}/min)",
        ]
        for proc in processes["per_process"]:
            prss, panon, pfds = proc["rss_bytes"], proc["rss_anon_bytes"], proc["open_fds"]
            lines.append(f"  pid {proc['pid']:>7}: rss {_mib(prss['first'])} -> {_mib(prss['last'])}, anonymous "
                         f"{_mib(panon['first'])} -> {_mib(panon['last'])} ({_mib(panon['slope_per_minute'])}/min), "
                         f"fds {pfds['first']} -> {pfds['last']}  {proc['cmdline'][:50]}")
    return "\n".join(lines)


def load_pyplot() -> Any:
    """matplotlib's pyplot on a file-only backend, or SystemExit with how to get it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("loadtest.py: --plot needs matplotlib: pip install 'kato[plot]' "
                         "(or pip install 'matplotlib>=3.8')") from None
    return plt


def plot(report: dict[str, Any], path: str) -> None:
    """Latency percentiles and throughput per second; a second panel with RSS and fds when sampled."""
    plt = load_pyplot()
    from matplotlib.ticker import ScalarFormatter

    timeline = report["timeline"]
    processes = report.get("processes")
    panels = 2 if processes else 1
    fig, axes = plt.subplots(panels, 1, figsize=(11, 4.5 * panels), squeeze=False, sharex=True)
    ax = axes[0][0]
    t = [e["t"] for e in timeline]
    for key, style in (("p50_ms", "-"), ("p90_ms", "-"), ("p99_ms", "-"), ("max_ms", ":")):
        ax.plot(t, [np.nan if e[key] is None else e[key] for e in timeline], style, label=key.replace("_ms", ""))
    ax.set_ylabel("latency per second window (ms)")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.grid(True, which="both", alpha=0.3)
    rate = ax.twinx()
    rate.plot(t, [e["requests_per_second"] for e in timeline], color="grey", alpha=0.5, label="req/s")
    rate.set_ylabel("requests/s")
    lines, labels = ax.get_legend_handles_labels()
    more, more_labels = rate.get_legend_handles_labels()
    ax.legend(lines + more, labels + more_labels, loc="upper left", fontsize="small")
    ax.set_title(f"{report['url']}  concurrency {report['config']['concurrency']}  "
                 f"{report['requests_per_second']:.0f} req/s  p99 {report['latency']['p99_ms']} ms")
    if processes:
        low = axes[1][0]
        pt = [s["t"] for s in processes["timeline"]]
        low.plot(pt, [s["rss_bytes"] / 2**20 for s in processes["timeline"]], label="rss (MiB)")
        low.plot(pt, [s.get("rss_anon_bytes", 0) / 2**20 for s in processes["timeline"]], "--",
                 label="anonymous rss (MiB)")
        low.set_ylabel("server rss (MiB)")
        fds = low.twinx()
        fds.plot(pt, [s["open_fds"] for s in processes["timeline"]], color="tab:red", label="open fds")
        fds.set_ylabel("open fds")
        low.grid(True, alpha=0.3)
        lines, labels = low.get_legend_handles_labels()
        more, more_labels = fds.get_legend_handles_labels()
        low.legend(lines + more, labels + more_labels, loc="upper left", fontsize="small")
    axes[-1][0].set_xlabel("seconds since the start of the run")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.plot:
        load_pyplot()  # fail before the run, not after it
    try:
        report = asyncio.run(run(args))
    except SetupError as exc:
        print(f"loadtest.py: setup failed: {exc}", file=sys.stderr)
        return 1
    except (aiohttp.ClientError, OSError) as exc:
        print(f"loadtest.py: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 1
    table = format_table(report)
    if args.json == "-":
        print(table, file=sys.stderr)
        print(json.dumps(report, indent=2))
    else:
        print(table)
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if args.plot:
        plot(report, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
