"""The task-group rules of the 0.7.2 README, one test each.

- The supplied task group belongs to one attempt: it cannot be used once the
  task function has returned.
- An attempt's timeout includes its children: timed-out children are
  cancelled and drained before the attempt finishes.
- A retry gets a fresh task group, and only after every child of the
  preceding attempt has stopped.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _support import HANG_GUARD, build_dag

from sdax import (
    AsyncTask,
    RetryableException,
    SdaxExecutionError,
    SdaxTaskGroup,
    task_func,
    task_group_func,
)


async def stubborn(log: list[str], name: str) -> None:
    """A child that takes a few loop turns to give in when cancelled."""
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        for _ in range(3):
            await asyncio.sleep(0)
        log.append(f"{name} stopped")
        raise


async def test_the_task_group_cannot_be_used_after_its_attempt() -> None:
    kept: list[SdaxTaskGroup] = []

    async def parent(ctx: Any, tg: SdaxTaskGroup) -> None:
        kept.append(tg)

    processor = build_dag(AsyncTask("G", execute=task_group_func(parent)))
    async with asyncio.timeout(HANG_GUARD):
        await processor.process_tasks(None)

    async def late() -> None:
        pass

    coro = late()
    with pytest.raises(RuntimeError):
        kept[0].create_task(coro)
    coro.close()


async def test_a_timed_out_attempt_drains_its_children_before_it_finishes() -> None:
    log: list[str] = []

    async def parent(ctx: Any, tg: SdaxTaskGroup) -> None:
        tg.create_task(stubborn(log, "child"))
        await asyncio.Event().wait()

    async def cleanup(ctx: Any) -> None:
        log.append("post")

    processor = build_dag(
        AsyncTask(
            "G",
            execute=task_group_func(parent, timeout=0.01),
            post_execute=task_func(cleanup),
        )
    )
    with pytest.raises(SdaxExecutionError) as info:
        async with asyncio.timeout(HANG_GUARD):
            await processor.process_tasks(None)
    assert [type(e) for e in info.value.leaf_exceptions()] == [TimeoutError]
    # The child had stopped before the attempt ended, so before the cleanup.
    assert log == ["child stopped", "post"]


async def test_a_retry_gets_a_fresh_group_after_the_old_children_stopped() -> None:
    log: list[str] = []
    groups: list[SdaxTaskGroup] = []

    async def parent(ctx: Any, tg: SdaxTaskGroup) -> None:
        attempt = len(groups)
        groups.append(tg)
        log.append(f"attempt {attempt}")
        if attempt == 0:
            tg.create_task(stubborn(log, "child of attempt 0"))
            await asyncio.sleep(0)
            raise RetryableException("first attempt fails")

    processor = build_dag(
        AsyncTask("G", execute=task_group_func(parent, retries=1, initial_delay=0))
    )
    async with asyncio.timeout(HANG_GUARD):
        await processor.process_tasks(None)
    assert groups[0] is not groups[1]
    assert log == ["attempt 0", "child of attempt 0 stopped", "attempt 1"]
