"""The golden scenarios of the reference, replayed over HTTP against `kato serve` started from this checkout."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def golden_dir() -> Path | None:
    candidates = [os.environ.get("KATO_GOLDEN_DIR"), ROOT.parent / "shared" / "golden", Path("/work/shared/golden")]
    for candidate in candidates:
        if candidate and (Path(candidate) / "replay.py").exists():
            return Path(candidate)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", params=[1, 3], ids=["1-worker", "3-workers"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`kato serve` from this checkout; with 3 workers most requests are handed over or forwarded to an owner."""
    port = free_port()
    data = tmp_path_factory.mktemp("golden-data")
    env = dict(os.environ, KATO_DATA_DIR=str(data), KATO_PORT=str(port), KATO_HOST="127.0.0.1", KATO_SYNC="false")
    process = subprocess.Popen([sys.executable, "-m", "kato.cli", "serve", "--workers", str(request.param)],
                               env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError(process.stderr.read().decode()) from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.parametrize("scenarios", ["public.jsonl", "api_edges.jsonl"])
def test_golden_replay_passes_every_scenario(server: str, scenarios: str) -> None:
    directory = golden_dir()
    if directory is None:
        pytest.skip("golden scenarios not found (set KATO_GOLDEN_DIR)")
    result = subprocess.run([sys.executable, str(directory / "replay.py"), server, str(directory / scenarios)],
                            capture_output=True, text=True, timeout=600)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " 0 failed" in summary
