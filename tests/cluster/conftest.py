"""A real `kato serve --workers N` per test: supervisor and workers as processes, on 127.0.0.1, always stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    process: subprocess.Popen
    url: str
    run_dir: Path
    workers: int
    log: Path

    def worker_pid(self, slot: int) -> int | None:
        try:
            return int((self.run_dir / f"worker-{slot}.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"kato exited: {self.log.read_text()[-3000:]}")
            if "kato ready on" in self.log.read_text():
                return
            time.sleep(0.05)
        raise TimeoutError(f"kato not ready: {self.log.read_text()[-3000:]}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()


@contextlib.contextmanager
def start_cluster(tmp_path: Path, workers: int, **env: str) -> Iterator[Cluster]:
    port = free_port()
    run_dir = tmp_path / "run"
    log = tmp_path / "kato.log"
    environment = dict(os.environ, KATO_DATA_DIR=str(tmp_path / "data"), KATO_PORT=str(port), KATO_SYNC="false",
                       KATO_RUN_DIR=str(run_dir), KATO_HOST="127.0.0.1", **env)
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "kato.cli", "serve", "--workers", str(workers)],
                                   env=environment, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    cluster = Cluster(process, f"http://127.0.0.1:{port}", run_dir, workers, log)
    try:
        cluster.wait_ready()
        yield cluster
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # the supervisor and every worker it started
        process.wait()


@pytest.fixture(params=[1, 3], ids=["1-worker", "3-workers"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    with start_cluster(tmp_path, request.param) as running:
        yield running
