"""A failure's consequences go through the event loop, as with a ``TaskGroup``.

When a pre fails, a sibling pre whose wake-up was already due in the same
loop iteration resumes before the run reacts: it finishes and is logged. A
sibling still waiting is cancelled, and no new pre starts. Each case runs many
times, so an ordering race cannot pass by luck.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _support import build_dag

from sdax import AsyncTask, SdaxExecutionError, task_func

pytestmark = pytest.mark.usefixtures("engine_core")  # on both twins of the core

ROUNDS = 25


async def one_round() -> list[str]:
    log: list[str] = []
    loop = asyncio.get_running_loop()
    gate: asyncio.Future[None] = loop.create_future()
    never = asyncio.Event()
    boom = ValueError("first pre fails")

    async def first(ctx: Any) -> None:
        await gate
        log.append("first-fails")
        raise boom

    async def second(ctx: Any) -> None:
        await gate  # woken by the same callback, in the same loop iteration
        log.append("second-done")

    async def waiting(ctx: Any) -> None:
        try:
            await never.wait()
        except asyncio.CancelledError:
            log.append("waiting-cancelled")
            raise

    async def later(ctx: Any) -> None:
        log.append("later-started")

    processor = build_dag(
        AsyncTask("first", pre_execute=task_func(first)),
        AsyncTask("second", pre_execute=task_func(second)),
        AsyncTask("waiting", pre_execute=task_func(waiting)),
        (AsyncTask("later", pre_execute=task_func(later)), "second"),
    )
    loop.call_later(0.005, gate.set_result, None)
    with pytest.raises(SdaxExecutionError) as info:
        await processor.process_tasks(None)
    assert info.value.exceptions == (boom,)
    return log


async def test_a_sibling_already_due_finishes_before_the_run_stops() -> None:
    for _ in range(ROUNDS):
        log = await one_round()
        assert log[:2] == ["first-fails", "second-done"], log
        assert "waiting-cancelled" in log
        assert "later-started" not in log  # no new pre after the failure
