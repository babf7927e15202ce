"""`kato.api.eager`: a coroutine started at once behaves as if a Task had run it from the start."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from kato.api import eager


async def test_a_coroutine_that_never_waits_finishes_inside_start() -> None:
    steps: list[str] = []

    async def answer() -> None:
        steps.append("ran")

    assert eager.start(asyncio.get_running_loop(), answer()) is None
    assert steps == ["ran"]  # before start returned: no turn of the loop


async def test_a_coroutine_that_waits_is_carried_on_by_a_task() -> None:
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[int] = loop.create_future()
    steps: list[object] = []

    async def answer() -> None:
        steps.append("first")
        steps.append(await gate)
        await asyncio.sleep(0)  # a bare yield
        steps.append(await asyncio.sleep(0.001, "slept"))

    task = eager.start(loop, answer())
    assert task is not None and steps == ["first"]
    gate.set_result(7)
    await task
    assert steps == ["first", 7, "slept"]


async def test_an_error_after_the_first_step_reaches_the_task() -> None:
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[None] = loop.create_future()

    async def answer() -> None:
        await gate
        raise LookupError("late")

    task = eager.start(loop, answer())
    assert task is not None
    gate.set_result(None)
    with pytest.raises(LookupError, match="late"):
        await task


async def _cancelled_while_waiting(answer: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """`answer` started eagerly up to its first wait, its Task run once, then cancelled."""
    task = eager.start(asyncio.get_running_loop(), answer)
    assert task is not None
    await asyncio.sleep(0)
    task.cancel()
    return task


async def test_cancelling_the_task_cancels_the_coroutine_where_it_waits() -> None:
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    seen: list[str] = []

    async def answer() -> None:
        try:
            await gate
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        finally:
            seen.append("cleaned up")

    task = await _cancelled_while_waiting(answer())
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["cancelled", "cleaned up"]
    assert gate.cancelled()  # the Task cancelled the future it was waiting on, as for any coroutine


async def test_a_coroutine_may_swallow_the_cancellation_and_finish() -> None:
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    seen: list[str] = []

    async def answer() -> None:
        try:
            await gate
        except asyncio.CancelledError:
            seen.append("kept going")
        await asyncio.sleep(0)
        seen.append("done")

    await (await _cancelled_while_waiting(answer()))
    assert seen == ["kept going", "done"]


async def test_a_cancellation_before_the_tasks_first_step_reaches_the_coroutine() -> None:
    """Cancelled before its Task ever ran: the coroutine still sees the cancellation where it waits, so the lock it
    queued for forgets it and the next holder gets the lock."""
    lock = asyncio.Lock()
    await lock.acquire()
    seen: list[str] = []

    async def answer() -> None:
        try:
            async with lock:
                seen.append("got the lock")
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    task = eager.start(asyncio.get_running_loop(), answer())
    assert task is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["cancelled"]
    lock.release()

    async def next_holder() -> str:
        async with lock:
            return "next"

    assert await asyncio.wait_for(next_holder(), 1) == "next"


async def test_create_task_accepts_the_resumed_coroutine_as_a_coroutine() -> None:
    """From Python 3.12 `create_task` takes only coroutines (no generator-based ones); the wrapper is one."""
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[None] = loop.create_future()

    async def answer() -> None:
        await gate

    task = eager.start(loop, answer())
    assert task is not None and asyncio.iscoroutine(task.get_coro())
    gate.set_result(None)
    await task
