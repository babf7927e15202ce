"""Start a coroutine at once, and make it a Task only if it has to wait.

Why: most direct-lane requests (observe, clear-stm, stm, predictions) finish without awaiting anything, yet a Task
per request costs its creation, a copy of the context and a turn of the loop: ~4 % of a worker's samples in py-spy
under the sequential benchmark. Python 3.12's eager task factory does this for every task; kato runs on 3.11, so
the one caller that matters starts its coroutines here.

Unlike a Task, the eager first step runs in the caller's context and with no current task: the direct lane's
handlers use neither (no `asyncio.timeout`, no context variables).
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Coroutine, Generator
from typing import Any


def start(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Run `coro` up to its first suspension; the Task that carries on from there, or None if it finished."""
    try:
        awaited = coro.send(None)
    except StopIteration:
        return None
    return loop.create_task(_rest(coro, awaited))


@types.coroutine
def _rest(coro: Coroutine[Any, Any, None], awaited: Any) -> Generator[Any, None, None]:
    """What a Task does with a coroutine, from its second step: hand the Task each future the coroutine awaits,
    resume it when that future is done, and pass anything thrown into the Task (cancellation) on to it."""
    while True:
        try:
            yield awaited
        except BaseException as exc:
            try:
                awaited = coro.throw(exc)
            except StopIteration:
                return
        else:
            try:
                awaited = coro.send(None)
            except StopIteration:
                return
