"""Minimal reproductions of engine bugs the stress suite found, kept as regression tests.

Each was a strict xfail until the engine was fixed; each has a twin that shows
the same path without the bug's trigger. Fixed in c3abe7e:

* ``open()`` + deadline + a failure raised ``SdaxExecutionError`` instead of
  ``SdaxTimeoutError``;
* a cancellation delivered between ``run_next()`` calls after the deadline
  passed was swallowed (``SdaxTimeoutError`` instead, task not cancelled);
* a task-group post whose task group swallowed the budget's cancellation
  (Python 3.11's ``TaskGroup`` ignores a cancellation that arrives while it
  waits for its subtasks after its body raised) was retried after the cleanup
  budget ran out.
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
    task_group_func,
)
from sdax.tasks import SdaxTaskGroup


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


@pytest.mark.eager_start  # the pre must finish before a 0 s deadline fires
async def test_cancel_between_phases_after_the_deadline_reaches_the_caller() -> None:
    task = await cancel_between_phases(timeout=0)
    assert task.done()
    if not task.cancelled():
        raise AssertionError(f"the caller got {task.exception()!r}")


async def stubborn() -> None:
    """A subtask that takes 20 ms to give in when cancelled."""
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        await asyncio.sleep(0.02)
        raise


def flaky_group_post(attempts: list[int]) -> AsyncDagTaskProcessor[Any, Any]:
    """A task-group post that fails retryably while its group holds a stubborn subtask."""

    async def post(ctx: Any, tg: SdaxTaskGroup) -> None:
        attempts.append(1)
        tg.create_task(stubborn())
        await asyncio.sleep(0)
        raise ConnectionError("flaky")

    return (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("a", post_execute=task_group_func(post, retries=3, initial_delay=0)))
        .build()
    )


async def test_flaky_group_post_is_retried_without_budget() -> None:
    attempts: list[int] = []
    with pytest.raises(SdaxExecutionError):
        await flaky_group_post(attempts).process_tasks(None)
    assert len(attempts) == 4


async def test_no_retry_after_the_budget_even_when_a_task_group_swallows_it() -> None:
    # The 10 ms budget runs out while the first attempt's task group waits 20 ms
    # for its subtask (timer order, not timing, makes this certain).
    attempts: list[int] = []
    with pytest.raises(SdaxExecutionError):
        await flaky_group_post(attempts).process_tasks(None, cleanup_timeout=0.01)
    assert len(attempts) == 1


# Found by the random search once phase functions could raise a CancelledError
# of their own: the engine took any cancelled call after a stop (or a post after
# the cleanup budget ran out) for one it had cancelled itself, so it dropped the
# call's own CancelledError, or reported a budget TimeoutError in its place.


async def test_a_post_that_cancels_itself_after_the_budget_keeps_its_exception() -> None:
    own = asyncio.CancelledError("second gave up by itself")

    async def slow(ctx: Any) -> None:
        await asyncio.sleep(1)

    async def gives_up(ctx: Any) -> None:
        raise own

    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("second", post_execute=task_func(gives_up)))
        .add_task(AsyncTask("first", post_execute=task_func(slow)), depends_on=("second",))
        .build()
    )
    with pytest.raises(SdaxExecutionError) as caught:
        await processor.process_tasks(None, cleanup_timeout=0.001)
    leaves = list(caught.value.exceptions)
    assert [type(e) for e in leaves] == [TimeoutError, asyncio.CancelledError]
    assert leaves[1] is own


async def test_a_pre_that_cancels_itself_as_the_run_stops_keeps_its_exception() -> None:
    # Both wake-ups come in the same loop turn (one callback wakes both, so
    # load on the machine cannot split them): the second pre resumes and
    # raises before the run has handled the first one's failure.
    own = asyncio.CancelledError("y gave up by itself")
    boom = ValueError("x failed")
    both = asyncio.Event()
    asyncio.get_running_loop().call_later(0.01, both.set)

    async def x(ctx: Any) -> None:
        await both.wait()
        raise boom

    async def y(ctx: Any) -> None:
        await both.wait()
        raise own

    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("x", pre_execute=task_func(x)))
        .add_task(AsyncTask("y", pre_execute=task_func(y)))
        .build()
    )
    with pytest.raises(SdaxExecutionError) as caught:
        await processor.process_tasks(None)
    assert [id(e) for e in caught.value.exceptions] == [id(boom), id(own)]
