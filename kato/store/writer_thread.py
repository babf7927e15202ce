"""The one thread per process that begins write transactions on the knowledge-base environment.

A write transaction must stay on the thread that began it, and the event loop must never wait on LMDB's writer lock
(held by another process, perhaps) or on an fsync; so callers queue batches here and await a future. The thread
group-commits: every batch queued when it wakes goes into one transaction, so one fsync serves them all, and each
caller is answered after that commit (asyncio callers of one loop with one wake-up of that loop).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import threading
from dataclasses import dataclass

import lmdb

from kato.store.environment import migrate_environment, open_databases
from kato.store.interface import Op, OpResult
from kato.store.writer import GroupWriter, StoreFinalized

MAX_GROUP = 4096  # batches per transaction; bounds the work one fsync waits for

Outcome = tuple[list[OpResult] | None, BaseException | None]


@dataclass(frozen=True, slots=True)
class Job:
    """One caller's batch. `loop` is the caller's event loop (its future is an asyncio one), or None for a
    blocking caller waiting on a `concurrent.futures.Future`."""

    node_id: str
    ops: tuple[Op | StoreFinalized, ...]
    future: asyncio.Future[list[OpResult]] | concurrent.futures.Future[list[OpResult]]
    loop: asyncio.AbstractEventLoop | None = None


def _settle(future: asyncio.Future[list[OpResult]] | concurrent.futures.Future[list[OpResult]],
            outcome: Outcome) -> None:
    results, error = outcome
    # A caller may have cancelled meanwhile (a blocking caller's future can be cancelled from any thread).
    with contextlib.suppress(asyncio.InvalidStateError, concurrent.futures.InvalidStateError):
        if future.cancelled():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(results)  # type: ignore[arg-type]


def _settle_all(items: list[tuple[asyncio.Future[list[OpResult]], Outcome]]) -> None:
    """Runs on the caller's loop: answer every caller of that loop from one wake-up."""
    for future, outcome in items:
        _settle(future, outcome)


_STOP = object()


class WriterThread:
    """The process's single writer: migrates, opens the database handles, then commits queued batches in groups.

    A failing batch fails alone: the group's transaction is aborted and re-run without it (batches are pure
    functions of the stored state, so re-running the others gives the same result), then committed once.
    """

    def __init__(self, env: lmdb.Environment, name: str = "kato-store-writer") -> None:
        self._env = env
        self._queue: queue.SimpleQueue[Job | object] = queue.SimpleQueue()
        self.transactions = 0  # committed write transactions (groups), for tests and benchmarks
        self.batches = 0  # batches committed
        self.dbs: dict[bytes, lmdb._Database] = {}
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._stopped = False
        self._gate = threading.Lock()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            raise self._startup_error

    def submit(self, job: Job) -> None:
        with self._gate:  # never behind the stop marker: a job queued after it would wait forever
            if self._stopped:
                raise RuntimeError("the store is closed")
            self._queue.put(job)

    def stop(self) -> None:
        """Commit what is queued, then end the thread."""
        with self._gate:
            if self._stopped:
                return
            self._stopped = True
            self._queue.put(_STOP)
        self._thread.join()

    def _main(self) -> None:
        try:
            migrate_environment(self._env)
            self.dbs = open_databases(self._env)
        except BaseException as exc:  # reported to the constructor's caller
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        stopping = False
        while not stopping:
            group: list[Job] = []
            item = self._queue.get()
            while True:
                if item is _STOP:
                    stopping = True
                    break
                group.append(item)  # type: ignore[arg-type]
                if len(group) >= MAX_GROUP:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if group:
                self._commit_or_fail(group)

    def _commit_or_fail(self, group: list[Job]) -> None:
        """The writer must outlive any error: callers whose batch it could not even attempt get that error."""
        try:
            self._commit(group)
        except Exception as exc:
            self._answer(group, {index: (None, exc) for index in range(len(group))})

    def _commit(self, group: list[Job]) -> None:
        outcomes: dict[int, Outcome] = {}
        pending = list(range(len(group)))
        while pending:
            txn = self._env.begin(write=True)
            results: dict[int, list[OpResult]] = {}
            failed = None
            try:
                writer = GroupWriter(txn, self.dbs)
                for index in pending:
                    job = group[index]
                    try:
                        results[index] = writer.run(job.node_id, job.ops)
                    except Exception as exc:
                        failed = (index, exc)
                        break
                if failed is None:
                    writer.flush()
                else:
                    txn.abort()
                    outcomes[failed[0]] = (None, failed[1])
                    pending.remove(failed[0])
                    continue
                txn.commit()
            except Exception as exc:  # the commit itself failed (disk full, map full): nothing of the group holds
                _abort_quietly(txn)
                for index in pending:
                    outcomes[index] = (None, exc)
                break
            self.transactions += 1
            self.batches += len(pending)
            for index in pending:
                outcomes[index] = (results[index], None)
            break
        self._answer(group, outcomes)

    @staticmethod
    def _answer(group: list[Job], outcomes: dict[int, Outcome]) -> None:
        per_loop: dict[asyncio.AbstractEventLoop, list] = {}
        for index, job in enumerate(group):
            if job.loop is None:
                _settle(job.future, outcomes[index])
            else:
                per_loop.setdefault(job.loop, []).append((job.future, outcomes[index]))
        for loop, items in per_loop.items():
            # A caller whose loop has closed meanwhile must not stop the writer.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle_all, items)


def _abort_quietly(txn: lmdb.Transaction) -> None:
    with contextlib.suppress(lmdb.Error):
        txn.abort()
