"""The supervisor: owns the listening socket, the hash ring's slots and the worker processes.

Its loop reads like the design: wait (a self-pipe wakes it; signal handlers only enqueue), handle the queued
signals, then reap dead workers, kill workers that stopped heart-beating, and spawn whatever slot is empty. A
worker that dies comes back in the same slot, so the ring never changes while the server runs. Workers are fresh
interpreters (spawn, never fork): no store handle crosses a process boundary.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from kato.cluster import systemd
from kato.cluster.routing import socket_path
from kato.config import Settings, to_json

log = logging.getLogger("kato.supervisor")

READER_CHECK_SECONDS = 60.0
FAST_FAILURE_SECONDS = 1.0


@dataclass
class Worker:
    slot: int | None  # None: a warm spare waiting for a slot
    process: subprocess.Popen
    status_fd: int
    started: float
    last_beat: float
    ready: bool = False
    drained: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid


# Each worker is one process per core already: numerical libraries must not start their own thread pools on top
# (OpenBLAS's idle threads spin and take CPU from the other workers). A value the operator set is kept.
_SINGLE_THREADED = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def worker_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The supervisor's environment minus what systemd addressed to the supervisor alone."""
    env = {k: v for k, v in environ.items() if k not in ("NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS")}
    for name, value in _SINGLE_THREADED.items():
        env.setdefault(name, value)
    return env


@dataclass
class Supervisor:
    settings: Settings
    workers: dict[int, Worker] = field(default_factory=dict)
    spare: Worker | None = None
    _signals: list[int] = field(default_factory=list)
    _stopping: bool = False
    _announced: bool = False
    _failures: dict[int, int] = field(default_factory=dict)
    _not_before: dict[int, float] = field(default_factory=dict)
    _own_run_dir: bool = False
    _spare_not_before: float = 0.0

    # ------------------------------------------------------------------------------------------------ lifecycle
    def run(self) -> int:
        self._prepare()
        self._install_signals()
        self.spawn_missing()
        last_check = time.monotonic()
        while True:
            self.sleep()
            for signum in self._take_signals():
                self.handle_signal(signum)
            if self._stopping:
                return self.stop()
            self.reap()
            self.murder()
            self.spawn_missing()
            self.announce_ready()
            if time.monotonic() - last_check > READER_CHECK_SECONDS:
                self.reader_check()
                last_check = time.monotonic()

    def _prepare(self) -> None:
        settings = self.settings
        self._own_run_dir = settings.run_dir is None
        run_dir = settings.run_dir or Path(tempfile.mkdtemp(prefix=f"kato-{settings.port}-"))
        run_dir.mkdir(parents=True, exist_ok=True)
        self.settings = settings = replace(settings, run_dir=run_dir)
        if settings.store == "memory" and settings.workers > 1:
            raise ValueError("the memory store holds one process's knowledge: use store = \"lmdb\" with workers > 1")
        if settings.store == "lmdb":
            from kato.store import KNOWLEDGE_DIR
            from kato.store.environment import migrate

            migrate(settings.data_dir / KNOWLEDGE_DIR, map_size=settings.map_size)  # opened and closed here
        self.listener = systemd.inherited_listener() or self._bind()
        self.listener.set_inheritable(True)
        host, port = self.listener.getsockname()[:2]
        self.address = f"http://{host}:{port}"

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.settings.host, self.settings.port))
        listener.listen(systemd.LISTEN_BACKLOG)
        return listener

    # ------------------------------------------------------------------------------------------------ signals
    def _install_signals(self) -> None:
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGHUP):
            signal.signal(signum, self._enqueue)

    def _enqueue(self, signum: int, frame: object) -> None:
        self._signals.append(signum)
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"!")

    def _take_signals(self) -> list[int]:
        taken, self._signals[:] = list(self._signals), []
        return taken

    def handle_signal(self, signum: int) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            log.info("received %s: draining (a second signal exits at once)", signal.Signals(signum).name)
            self._stopping = True
        elif signum == signal.SIGHUP:
            log.info("received SIGHUP: nothing to reload; settings are read at start")

    # ------------------------------------------------------------------------------------------------ the loop
    def sleep(self, timeout: float = 1.0) -> None:
        fds = [self._wake_r, *(w.status_fd for w in self.workers.values())]
        try:
            readable, _, _ = select.select(fds, [], [], timeout)
        except InterruptedError:
            return
        now = time.monotonic()
        for fd in readable:
            try:
                data = os.read(fd, 4096)
            except (BlockingIOError, OSError):
                continue
            if fd == self._wake_r:
                continue
            worker = next((w for w in self.workers.values() if w.status_fd == fd), None)
            if worker is None or not data:
                continue
            worker.last_beat = now
            if b"D" in data:
                worker.drained = True
            if b"R" in data and not worker.ready:
                worker.ready = True
                if self._announced:  # a restarted slot: the others serve already, so this one may too
                    self._open(worker)
                self._failures.pop(worker.slot, None)
                log.info("worker %d ready (pid %d)", worker.slot, worker.pid)

    def reap(self) -> None:
        if self.spare is not None and self.spare.process.poll() is not None:
            log.warning("spare worker (pid %d) died with %s", self.spare.pid, self.spare.process.returncode)
            os.close(self.spare.status_fd)
            self.spare = None
            self._spare_not_before = time.monotonic() + 5.0  # whatever killed it would kill the next one too
        for slot, worker in list(self.workers.items()):
            code = worker.process.poll()
            if code is None:
                continue
            cause = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
            log.warning("worker %d (pid %d) died: %s", slot, worker.pid, cause)
            self._forget(worker)
            if time.monotonic() - worker.started < FAST_FAILURE_SECONDS and not worker.ready:
                failures = self._failures[slot] = self._failures.get(slot, 0) + 1
                self._not_before[slot] = time.monotonic() + min(5.0, 0.2 * 2**failures)
            self.reader_check()

    def murder(self) -> None:
        """Kill workers that stopped heart-beating: a hung worker is restarted, not waited on."""
        now = time.monotonic()
        for worker in self.workers.values():
            if worker.ready and now - worker.last_beat > self.settings.worker_timeout:
                log.error("worker %d (pid %d) silent for %.0f s: killing it", worker.slot, worker.pid,
                          now - worker.last_beat)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGKILL)

    def spawn_missing(self) -> None:
        now = time.monotonic()
        for slot in range(self.settings.workers):
            if slot not in self.workers and now >= self._not_before.get(slot, 0.0):
                self.assign(self.spare or self.spawn(), slot)
                self.spare = None
        serving = len(self.workers) == self.settings.workers and all(w.ready for w in self.workers.values())
        if self.spare is None and self.settings.spare_worker and serving and now >= self._spare_not_before:
            self.spare = self.spawn()

    def spawn(self) -> Worker:
        """A fresh interpreter that imports everything and then waits for a slot."""
        status_r, status_w = os.pipe()
        os.set_blocking(status_r, False)
        listen_fd = self.listener.fileno()
        process = subprocess.Popen(
            [sys.executable, "-m", "kato.cluster.worker", str(self.settings.workers), str(listen_fd), str(status_w)],
            stdin=subprocess.PIPE,
            pass_fds=(listen_fd, status_w),
            env=worker_environment(os.environ),
        )
        os.close(status_w)
        now = time.monotonic()
        return Worker(None, process, status_r, now, now)

    def assign(self, worker: Worker, slot: int) -> None:
        assignment = {"slot": slot, "settings": to_json(self.settings)}
        worker.process.stdin.write(json.dumps(assignment).encode() + b"\n")
        worker.process.stdin.close()
        worker.slot = slot
        worker.started = worker.last_beat = time.monotonic()
        self.workers[slot] = worker
        self._write_pidfile(worker)
        log.info("worker %d started (pid %d)", slot, worker.pid)

    def announce_ready(self) -> None:
        if self._announced or len(self.workers) < self.settings.workers:
            return
        if all(w.ready for w in self.workers.values()):
            self._announced = True
            for worker in self.workers.values():
                self._open(worker)
            log.info("kato ready on %s with %d workers", self.address, self.settings.workers)
            systemd.notify(f"READY=1\nSTATUS=serving on {self.address} with {self.settings.workers} workers")

    @staticmethod
    def _open(worker: Worker) -> None:
        """Let a worker accept public connections (see `kato.cluster.worker.serve`)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGUSR2)

    def reader_check(self) -> None:
        if self.settings.store != "lmdb":
            return
        from kato.store import KNOWLEDGE_DIR, SESSIONS_DIR
        from kato.store.environment import reader_check

        for name in (KNOWLEDGE_DIR, SESSIONS_DIR):
            path = self.settings.data_dir / name
            if path.exists():
                try:
                    cleared = reader_check(path)
                except Exception:  # the check is housekeeping; never let it take the supervisor down
                    log.exception("reader check of %s failed", path)
                    continue
                if cleared:
                    log.info("reader check cleared %d stale slots in %s", cleared, path)

    # ------------------------------------------------------------------------------------------------ shutdown
    def stop(self) -> int:
        """Drain in two phases (see `kato.cluster.worker.serve`): every worker stops accepting and finishes its
        in-flight requests while the Unix sockets between workers stay up; then all of them close and exit."""
        systemd.notify("STOPPING=1")
        self.listener.close()  # once the workers close theirs too, new connections are refused, not queued
        if self.spare is not None:
            self.spare.process.stdin.close()  # an unassigned spare exits on end of input
        self._signal_all(signal.SIGUSR1)
        deadline = time.monotonic() + self.settings.drain_timeout
        while not self._wait_phase(deadline, lambda: all(w.drained for w in self.workers.values())):
            pass
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.drain_timeout + 5.0
        while not self._wait_phase(deadline, lambda: not self.workers):
            pass
        self._kill_all()
        if self._own_run_dir:
            with contextlib.suppress(OSError):
                self.settings.run_dir.rmdir()
        log.info("kato stopped")
        return 0

    def _signal_all(self, signum: int) -> None:
        for worker in self.workers.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signum)

    def _wait_phase(self, deadline: float, done: Callable[[], bool]) -> bool:
        """One turn of a shutdown phase; True when the phase is over (done, timed out, or a second signal)."""
        if done() or time.monotonic() >= deadline:
            return True
        self.sleep(0.05)
        if any(s in (signal.SIGTERM, signal.SIGINT) for s in self._take_signals()):
            log.warning("second signal: exiting at once")
            self._kill_all()
            return True
        for slot, worker in list(self.workers.items()):
            if worker.process.poll() is not None:
                log.info("worker %d (pid %d) exited with %s", slot, worker.pid, worker.process.returncode)
                self._forget(worker)
        return False

    def _kill_all(self) -> None:
        if self.spare is not None:
            with contextlib.suppress(ProcessLookupError):
                self.spare.process.kill()
            self.spare.process.wait()
            os.close(self.spare.status_fd)
            self.spare = None
        for worker in list(self.workers.values()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGKILL)
            worker.process.wait()
            self._forget(worker)

    def _forget(self, worker: Worker) -> None:
        self.workers.pop(worker.slot, None)
        with contextlib.suppress(OSError):
            os.close(worker.status_fd)
        with contextlib.suppress(FileNotFoundError):
            self._pidfile(worker.slot).unlink()
        with contextlib.suppress(FileNotFoundError):
            socket_path(self.settings.run_dir, worker.slot).unlink()

    def _pidfile(self, slot: int) -> Path:
        return self.settings.run_dir / f"worker-{slot}.pid"

    def _write_pidfile(self, worker: Worker) -> None:
        self._pidfile(worker.slot).write_text(f"{worker.pid}\n")
