"""Start a coroutine at once, and make it a Task only if it has to wait.

Why: most direct-lane requests (observe, clear-stm, stm, predictions) finish without awaiting anything, yet a Task
per request costs its creation, a copy of the context and a turn of the loop: ~4 % of a worker's samples in py-spy
under the sequential benchmark. Python 3.12's eager task factory does this for every task; kato supports 3.11, so
the one caller that matters starts its coroutines here.

The first step runs in the caller's context with no Task of its own, so callers start eagerly only outside any
Task (`asyncio.current_task()` is None): otherwise the step would run inside another request's Task, and anything
that reads the current task (`asyncio.timeout`) would attach to the wrong one. The direct lane's handlers use no
context variables.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any

_RESUMED = object()


def start(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Run `coro` up to its first suspension; the Task that carries on from there, or None if it finished."""
    try:
        awaited = coro.send(None)
    except StopIteration:
        return None
    return loop.create_task(_Resumed(coro, awaited))


class _Resumed(Coroutine[Any, Any, None]):
    """A coroutine whose first step already ran, as a Task steps it: the first `send` hands the Task the future the
    coroutine is waiting on, later ones resume it. Anything thrown in (cancellation), even before that first `send`,
    reaches the coroutine where it waits, so its `finally` blocks and the primitives it waits on (a lock's waiter
    list) clean up as under a plain Task. A class rather than a generator: from 3.12 `create_task` refuses
    generator-based coroutines."""

    __slots__ = ("_awaited", "_coro")

    def __init__(self, coro: Coroutine[Any, Any, None], awaited: Any) -> None:
        self._coro = coro
        self._awaited = awaited

    def send(self, value: Any) -> Any:
        awaited = self._awaited
        if awaited is not _RESUMED:
            self._awaited = _RESUMED
            return awaited
        return self._coro.send(value)

    def throw(self, typ: Any, value: Any = None, traceback: Any = None) -> Any:
        self._awaited = _RESUMED
        if value is None and traceback is None:
            return self._coro.throw(typ)
        return self._coro.throw(typ, value, traceback)

    def close(self) -> None:
        self._awaited = _RESUMED
        self._coro.close()

    def __await__(self) -> Generator[Any, None, None]:
        raise TypeError("a resumed coroutine is stepped by its Task, never awaited")
