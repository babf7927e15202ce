"""scripts/loadtest.py against a real `kato serve`: it stops by itself, makes no errors on a healthy server, and
its JSON report has the shape docs/OPERATIONS.md and docs/BENCHMARKS.md rely on."""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.ops.processes import ROOT, KatoProcess, free_port, http, running_kato

SCRIPT = ROOT / "scripts" / "loadtest.py"
PERCENTILE_KEYS = {"p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms"}


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kato_loadtest", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


loadtest = load_script()


def run_loadtest(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def check_report(report: dict[str, Any], operations: set[str]) -> None:
    assert report["tool"] == "kato-loadtest" and report["version"] == 1
    assert report["errors"] == {"total": 0, "by_status": {}}, report["errors"]
    assert set(report["operations"]) == operations
    counted = 0
    for op, row in report["operations"].items():
        assert set(row) >= PERCENTILE_KEYS, op
        assert row["count"] > 0 and row["errors"] == {}
        assert 0 < row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"] <= row["max_ms"], (op, row)
        counted += row["count"]
    assert counted == report["requests"]
    assert report["requests_per_second"] > 0 and report["elapsed_seconds"] > 0
    assert set(report["latency"]) >= PERCENTILE_KEYS
    assert report["timeline"], "no per-second timeline"
    assert sum(entry["requests"] for entry in report["timeline"]) == report["requests"]
    assert {"t", "requests", "requests_per_second", "errors", "p50_ms", "p90_ms", "p99_ms", "max_ms"} \
        <= set(report["timeline"][0])


def test_duration_run_reports_every_operation_without_errors(kato_server: KatoProcess, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = run_loadtest("--url", kato_server.url, "--duration", "3s", "--concurrency", "4", "--patterns", "40",
                          "--json", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    check_report(report, {"observe", "learn", "predictions", "stm", "clear-stm"})
    assert 2.5 < report["elapsed_seconds"] < 10
    assert report["setup"]["training_requests"] == 40
    assert report["processes"] is None and report["interrupted"] is False
    # progress on stderr, one line a second; the table on stdout
    assert result.stderr.count(" req/s ") >= 2, result.stderr
    assert "operation" in result.stdout and "p99 ms" in result.stdout and "errors by status: none" in result.stdout
    # the run cleaned up after itself: no session left behind
    assert http("GET", f"{kato_server.url}/sessions/count") == (200, {"active_session_count": 0})


def test_request_count_run_with_its_own_mix_samples_the_server_processes(tmp_path: Path) -> None:
    with running_kato(tmp_path / "kato", workers=2) as kato:
        out = tmp_path / "report.json"
        result = run_loadtest("--url", kato.url, "--requests", "400", "--concurrency", "4", "--patterns", "20",
                              "--stm", "0", "--clear-stm", "0", "--learn", "5", "--soak", "--sample-interval",
                              "0.5", "--quiet", "--json", str(out))
        assert result.returncode == 0, result.stderr
        report = json.loads(out.read_text())
        check_report(report, {"observe", "learn", "predictions"})
        assert report["requests"] == 400
        assert result.stderr == ""
        processes = report["processes"]
        assert processes["found_by"].startswith("listener on port")
        pids = {proc["pid"] for proc in processes["per_process"]}
        assert kato.process.pid in pids and len(pids) >= 3  # the supervisor and both workers
        assert processes["samples"] >= 2
        for key in ("rss_bytes", "rss_anon_bytes", "open_fds"):
            growth = processes["total"][key]
            assert growth["first"] > 0 and growth["last"] > 0
            assert growth["growth"] == growth["last"] - growth["first"]
        assert processes["total"]["rss_anon_bytes"]["last"] < processes["total"]["rss_bytes"]["last"]
        assert "server processes (listener on port" in result.stdout


def test_plot_draws_a_png_or_says_how_to_get_matplotlib(tmp_path: Path) -> None:
    image = tmp_path / "latency.png"
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        # fails before any request: the URL is never contacted
        result = run_loadtest("--url", "http://127.0.0.1:9", "--requests", "1", "--plot", str(image))
        assert result.returncode != 0
        assert "matplotlib" in result.stderr and "pip install" in result.stderr
        return
    report = {
        "url": "http://x", "config": {"concurrency": 1}, "requests_per_second": 10.0, "latency": {"p99_ms": 3.0},
        "timeline": [{"t": t, "requests_per_second": 10.0, "p50_ms": 1.0, "p90_ms": 2.0, "p99_ms": 3.0,
                      "max_ms": None if t == 2 else 4.0} for t in (1, 2, 3)],
        "processes": {"timeline": [{"t": 1, "rss_bytes": 2**20, "open_fds": 5}]},
    }
    loadtest.plot(report, str(image))
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("text", "expected"), [("90", 90.0), ("30s", 30.0), ("10m", 600.0), ("1h", 3600.0),
                                                ("1m30s", 90.0), ("0.5s", 0.5)])
def test_durations_are_read_like_people_write_them(text: str, expected: float) -> None:
    assert loadtest.parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "10x", "m", "5 m", "1h-2m"])
def test_durations_that_mean_nothing_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        loadtest.parse_duration(text)


def test_defaults_are_a_30_second_run_of_the_issue_mix_and_soak_defaults_to_10_minutes() -> None:
    args = loadtest.parse_args([])
    assert args.duration == 30.0 and args.requests is None and args.url == "http://127.0.0.1:8000"
    assert args.mix == {"observe": 60.0, "learn": 10.0, "predictions": 20.0, "stm": 5.0, "clear-stm": 5.0}
    assert loadtest.parse_args(["--soak"]).duration == 600.0
    assert loadtest.parse_args(["--pids", "1,2"]).soak is True


def test_an_empty_mix_is_refused() -> None:
    with pytest.raises(SystemExit):
        loadtest.parse_args(["--observe", "0", "--learn", "0", "--predictions", "0", "--stm", "0",
                             "--clear-stm", "0"])


def test_percentiles_of_nothing_are_missing_not_zero() -> None:
    assert set(loadtest.summarize([]).values()) == {None}
    summary = loadtest.summarize([0.001 * i for i in range(1, 101)])
    assert summary["max_ms"] == 100.0 and 49 < summary["p50_ms"] < 52 and summary["p99_ms"] > 98


def test_growth_slope_is_per_minute() -> None:
    growth = loadtest._growth([0.0, 30.0, 60.0], [100, 150, 200])
    assert growth == {"first": 100, "last": 200, "growth": 100, "slope_per_minute": 100.0}
    assert loadtest._growth([0.0], [7])["slope_per_minute"] is None


def test_server_processes_are_recognised_by_their_command_line() -> None:
    assert loadtest.is_kato_server(["/opt/kato/.venv/bin/python", "/opt/kato/.venv/bin/kato", "serve"])
    assert loadtest.is_kato_server([sys.executable, "-m", "kato.cli", "serve", "--workers", "2"])
    assert not loadtest.is_kato_server([sys.executable, "scripts/loadtest.py", "--url", "http://kato:8000"])


def test_an_unreachable_server_is_a_clear_failure_not_a_traceback() -> None:
    result = run_loadtest("--url", f"http://127.0.0.1:{free_port()}", "--requests", "10", "--quiet")
    assert result.returncode == 1
    assert "setup failed" in result.stderr and "Traceback" not in result.stderr
