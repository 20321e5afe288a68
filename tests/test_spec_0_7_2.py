"""What the 0.7.2 spec adds to 0.7.1, statement by statement, one test each.

The 0.7.2 README (``shared/spec/sdax-0.7.2-README.md``) differs from 0.7.1 in
two places: the task-group rules (``tests/test_task_group_attempts.py`` holds
the three rules of the list; the sentence after it is here) and the paragraph
on external cancellation, whose statements are tested here. The rest of the
text is 0.7.1's, whose examples ``tests/test_spec_examples.py`` runs.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sdax import AsyncDagTaskProcessor, AsyncTask, SdaxTaskGroup, task_func, task_group_func


class Log:
    """The calls of one run, and an event a test may set once a call is under way."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.waiting = asyncio.Event()

    def fn(self, name: str, *, wait: bool = False, retries: int = 0) -> Any:
        """A phase function that logs its calls; ``wait``: it then waits to be cancelled."""

        async def call(ctx: Any) -> None:
            self.calls.append(name)
            if wait:
                self.waiting.set()
                await asyncio.sleep(10)

        return task_func(call, retries=retries, initial_delay=0)


async def cancel_when_waiting(processor: AsyncDagTaskProcessor[Any, Any], log: Log) -> None:
    """Run ``processor``, cancel it once a call waits, and expect the cancellation back."""
    run = asyncio.create_task(processor.process_tasks(None, cleanup_grace=0))
    await log.waiting.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run


@pytest.mark.parametrize("phase", ["pre_execute", "execute"])
async def test_a_cancel_never_calls_a_started_callback_again(phase: str) -> None:
    # Even with retries left: the cancelled attempt is not retried.
    log = Log()
    task = AsyncTask(
        "t", post_execute=log.fn("post"), **{phase: log.fn(phase, wait=True, retries=3)}
    )
    processor = AsyncDagTaskProcessor.builder().add_task(task).build()
    await cancel_when_waiting(processor, log)
    assert log.calls.count(phase) == 1


async def test_a_cancel_during_pre_advances_directly_to_cleanup() -> None:
    log = Log()
    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("a", pre_execute=log.fn("a.pre"), post_execute=log.fn("a.post")))
        .add_task(
            AsyncTask(
                "b",
                pre_execute=log.fn("b.pre", wait=True),
                execute=log.fn("b.exec"),
                post_execute=log.fn("b.post"),
            ),
            depends_on="a",
        )
        .add_task(AsyncTask("c", pre_execute=log.fn("c.pre")), depends_on="b")
        .build()
    )
    await cancel_when_waiting(processor, log)
    # No later pre and no execute: straight to the posts of what was reached.
    assert log.calls == ["a.pre", "b.pre", "b.post", "a.post"]


async def test_a_cancel_during_execute_advances_directly_to_cleanup() -> None:
    log = Log()
    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(
            AsyncTask(
                "a",
                pre_execute=log.fn("a.pre"),
                execute=log.fn("a.exec", wait=True),
                post_execute=log.fn("a.post"),
            )
        )
        .build()
    )
    await cancel_when_waiting(processor, log)
    assert log.calls == ["a.pre", "a.exec", "a.post"]


async def test_a_cancel_during_post_never_calls_it_again_and_still_attempts_the_rest() -> None:
    # c's post is under way when the cancel lands: it is cut, not called again;
    # b's and a's posts had not started: they are still attempted, in order.
    log = Log()
    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("a", pre_execute=log.fn("a.pre"), post_execute=log.fn("a.post")))
        .add_task(
            AsyncTask("b", pre_execute=log.fn("b.pre"), post_execute=log.fn("b.post")),
            depends_on="a",
        )
        .add_task(
            AsyncTask("c", pre_execute=log.fn("c.pre"), post_execute=log.fn("c.post", wait=True)),
            depends_on="b",
        )
        .build()
    )
    await cancel_when_waiting(processor, log)
    assert log.calls == ["a.pre", "b.pre", "c.pre", "c.post", "b.post", "a.post"]


async def test_only_task_group_callbacks_get_a_child_scope() -> None:
    # A task_func callback gets no task group: a task it starts is its own
    # business, and the run does not wait for it. A task_group_func callback's
    # children belong to its attempt: the attempt ends when they have.
    finished: list[str] = []

    async def child(name: str) -> None:
        await asyncio.sleep(0.01)
        finished.append(name)

    kept: list[asyncio.Task[None]] = []

    async def plain(ctx: Any, *extra: Any) -> None:
        assert extra == ()
        kept.append(asyncio.create_task(child("plain")))

    async def grouped(ctx: Any, tg: SdaxTaskGroup) -> None:
        tg.create_task(child("grouped"))

    plain_run = AsyncDagTaskProcessor.builder().add_task(AsyncTask("p", execute=task_func(plain)))
    await plain_run.build().process_tasks(None)
    assert finished == []  # the run ended before its callback's task
    await kept[0]
    assert finished == ["plain"]

    grouped_run = AsyncDagTaskProcessor.builder().add_task(
        AsyncTask("g", execute=task_group_func(grouped))
    )
    await grouped_run.build().process_tasks(None)
    assert finished == ["plain", "grouped"]


@pytest.mark.parametrize("wrapper", ["asyncio.timeout", "wait_for"])
async def test_a_timeout_around_the_run_ends_it_whatever_a_post_does(wrapper: str) -> None:
    # The post never returns by itself: the caller's timeout lands while it
    # waits, its grace runs out, it is cut, and the not-yet-started post of
    # the task it depends on still runs. The caller gets its TimeoutError.
    log: list[str] = []
    never = asyncio.Event()

    async def stuck(ctx: Any) -> None:
        log.append("stuck begins")
        try:
            await never.wait()
        finally:
            log.append("stuck cut")

    async def release(ctx: Any) -> None:
        log.append("released")

    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(
            AsyncTask("base", pre_execute=task_func(release), post_execute=task_func(release))
        )
        .add_task(
            AsyncTask("top", pre_execute=task_func(release), post_execute=task_func(stuck)),
            depends_on="base",
        )
        .build()
    )

    async def call() -> None:
        if wrapper == "wait_for":
            await asyncio.wait_for(processor.process_tasks(None, cleanup_grace=0.01), 0.02)
        else:
            async with asyncio.timeout(0.02):
                await processor.process_tasks(None, cleanup_grace=0.01)

    guard = asyncio.ensure_future(call())
    done, _ = await asyncio.wait({guard}, timeout=10)
    if not done:
        never.set()
        await guard
        pytest.fail("the run outlived its caller's timeout")
    with pytest.raises(TimeoutError):
        guard.result()
    assert log == ["released", "released", "stuck begins", "stuck cut", "released"]
