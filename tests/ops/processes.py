"""Real `kato serve` processes for the operations tests: on 127.0.0.1, on a free port, always stopped.

Each server runs in its own process group, so the `finally` that stops it also reaches every worker the
supervisor started, even when the supervisor itself is stuck.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
         timeout: float = 10.0) -> tuple[int, Any]:
    """(status, decoded JSON or text) of one request; HTTP errors are answers, not exceptions."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def wait_for_port(port: int, timeout: float, alive: Callable[[], bool] = lambda: True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the process meant to listen on port {port} exited")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@dataclass
class KatoProcess:
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def wait_serving(self, timeout: float = 30.0) -> None:
        """Until GET /health answers 200 (the supervisor accepts before its workers are ready)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"kato serve exited with {self.process.returncode}:\n{self.output()}")
            with contextlib.suppress(OSError):
                if http("GET", f"{self.url}/health", timeout=2.0)[0] == 200:
                    return
            time.sleep(0.05)
        raise TimeoutError(f"kato serve did not answer /health within {timeout} s:\n{self.output()}")

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM and the exit status (the drain is bounded by the drain timeout, 10 s by default)."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


def spawn_kato(directory: Path, *, workers: int = 1, port: int | None = None, env: dict[str, str] | None = None,
               argv: list[str] | None = None, **popen: Any) -> KatoProcess:
    """Start `python -m kato.cli serve` (not waiting for it) with its data and run directories in `directory`."""
    port = port or free_port()
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "kato.log"
    environment = dict(os.environ, KATO_DATA_DIR=str(directory / "data"), KATO_HOST="127.0.0.1",
                       KATO_PORT=str(port), KATO_SYNC="false", KATO_RUN_DIR=str(directory / "run"))
    for name in ("NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        environment.pop(name, None)
    environment.update(env or {})
    command = argv or [sys.executable, "-m", "kato.cli", "serve", "--workers", str(workers)]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, env=environment, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True, **popen)
    return KatoProcess(process, port, log)


def stop_kato(kato: KatoProcess) -> None:
    """Make sure nothing of this server is left: SIGKILL its whole process group if it still runs."""
    if kato.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(kato.process.pid, signal.SIGKILL)
    kato.process.wait(timeout=10)
    # workers of a supervisor that died first may still hold the group
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(kato.process.pid, signal.SIGKILL)


@contextlib.contextmanager
def running_kato(directory: Path, workers: int = 1, **kwargs: Any) -> Iterator[KatoProcess]:
    kato = spawn_kato(directory, workers=workers, **kwargs)
    try:
        kato.wait_serving()
        yield kato
    finally:
        stop_kato(kato)


def short_dir(tmp_path: Path, name: str) -> Path:
    """A directory for Unix sockets: their paths are limited to 107 bytes, and pytest's tmp_path can be long."""
    candidate = tmp_path / name
    if len(str(candidate)) < 80:
        candidate.mkdir(parents=True, exist_ok=True)
        return candidate
    import tempfile

    return Path(tempfile.mkdtemp(prefix=f"kato-{name}-"))
