"""Minimal reproductions of the engine bugs the stress suite found.

Each bug is a strict xfail: when the engine is fixed the test passes, pytest
reports it as XPASS(strict) and fails, and then the marker here and the bug's
entry in ``_stress_checker.KNOWN_ENGINE_BUGS`` are removed together. Each has
a passing twin that shows the same path without the bug's trigger works.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sdax import (
    AsyncDagTaskProcessor,
    AsyncTask,
    SdaxExecutionError,
    SdaxTimeoutError,
    task_func,
)


class Boom(Exception):
    """A phase failure."""


async def fail(ctx: Any) -> None:
    raise Boom("execute failed")


async def forever(ctx: Any) -> None:
    await asyncio.Event().wait()


async def nothing(ctx: Any) -> None:
    pass


def failing_and_hanging() -> AsyncDagTaskProcessor[Any, Any]:
    """``a``'s execute fails at once; ``b``'s waits until cancelled."""
    return (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("a", execute=task_func(fail)))
        .add_task(AsyncTask("b", execute=task_func(forever)))
        .build()
    )


async def drive(runner: Any) -> None:
    async with runner:
        while await runner.run_next():
            pass


async def test_process_tasks_deadline_with_failures_raises_sdax_timeout_error() -> None:
    with pytest.raises(SdaxTimeoutError) as caught:
        await failing_and_hanging().process_tasks(None, timeout=0.01)
    assert [type(e) for e in caught.value.failures] == [Boom]


@pytest.mark.xfail(
    strict=True,
    raises=SdaxExecutionError,
    reason="engine bug open-deadline-failures: leaving open()'s async-with after the "
    "deadline expired raises SdaxExecutionError when a task failed (process_tasks "
    "raises SdaxTimeoutError)",
)
async def test_open_deadline_with_failures_raises_sdax_timeout_error() -> None:
    with pytest.raises(SdaxTimeoutError) as caught:
        await drive(failing_and_hanging().open(None, timeout=0.01))
    assert [type(e) for e in caught.value.failures] == [Boom]


def one_task() -> AsyncDagTaskProcessor[Any, Any]:
    return (
        AsyncDagTaskProcessor.builder()
        .add_task(
            AsyncTask(
                "a",
                pre_execute=task_func(nothing),
                execute=task_func(nothing),
                post_execute=task_func(nothing),
            )
        )
        .build()
    )


async def cancel_between_phases(timeout: float | None) -> asyncio.Task[None]:
    """Run the pre phase, wait between phases, get cancelled there; return the task."""
    paused = asyncio.Event()

    async def body() -> None:
        async with one_task().open(None, timeout=timeout) as runner:
            await runner.run_next()  # the pre phase; a 0 s deadline is now due
            paused.set()
            await asyncio.Event().wait()  # the cancellation lands here
            await runner.run_next()

    task = asyncio.create_task(body())
    await paused.wait()
    for _ in range(3):
        await asyncio.sleep(0)  # the deadline timer (if any) fires
    task.cancel()
    await asyncio.wait([task], timeout=5.0)
    return task


async def test_cancel_between_phases_reaches_the_caller() -> None:
    task = await cancel_between_phases(timeout=None)
    assert task.cancelled()


@pytest.mark.xfail(
    strict=True,
    reason="engine bug open-cancel-after-deadline: a cancellation delivered in open()'s "
    "async-with body after the deadline expired is swallowed; aclose() raises "
    "SdaxTimeoutError instead and the task is not cancelled",
)
async def test_cancel_between_phases_after_the_deadline_reaches_the_caller() -> None:
    task = await cancel_between_phases(timeout=0)
    assert task.done()
    if not task.cancelled():
        raise AssertionError(f"the caller got {task.exception()!r}")
