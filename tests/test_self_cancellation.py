"""A phase that raises ``CancelledError`` itself: a failure of that call, kept by identity.

Nobody in the run cancelled the call, so its ``CancelledError`` is neither an
outside cancellation nor something sdax decided: the failure reported is the
very object the function raised, in ``failures()`` (before and after
``aclose()``), among the raised group's leaves and in observer events. It
never escapes as if the caller had been cancelled, dependents do not run, and
a pre that raised it still owes its post.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _support import build_dag

from sdax import AsyncDagTaskProcessor, AsyncTask, SdaxExecutionError, task_func
from sdax.observe import PhaseEvent, RunObserver

pytestmark = pytest.mark.usefixtures("engine_core")  # on both twins of the core


class Log:
    """What the phases did, and the CancelledError the pre raised."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.raised: asyncio.CancelledError | None = None


def processor(log: Log, suspend: bool) -> AsyncDagTaskProcessor[Any, str]:
    async def give_up(ctx: Any) -> None:
        log.calls.append("a-pre")
        if suspend:
            await asyncio.sleep(0)
        log.raised = asyncio.CancelledError("gave up on its own")
        raise log.raised

    def record(name: str) -> Any:
        async def phase(ctx: Any) -> None:
            log.calls.append(name)

        return task_func(phase)

    return build_dag(
        AsyncTask("a", pre_execute=task_func(give_up), post_execute=record("a-post")),
        (AsyncTask("b", pre_execute=record("b-pre"), execute=record("b-exec")), "a"),
    )


SUSPEND = pytest.mark.parametrize("suspend", [False, True], ids=["at-once", "after-await"])


@SUSPEND
async def test_process_tasks_raises_the_group_holding_the_very_object(suspend: bool) -> None:
    log = Log()
    with pytest.raises(SdaxExecutionError) as info:
        await processor(log, suspend).process_tasks(None)
    assert info.value.leaf_exceptions() == [log.raised]
    assert info.value.exceptions[0] is log.raised
    assert not isinstance(info.value, Exception)  # it holds a BaseException
    # Dependents did not run; the pre that gave up still got its post.
    assert log.calls == ["a-pre", "a-post"]
    current = asyncio.current_task()
    assert current is not None and current.cancelling() == 0


@SUSPEND
async def test_run_next_returns_and_failures_keep_identity(suspend: bool) -> None:
    log = Log()
    runner = processor(log, suspend).open(None)
    # The pre phase fails: run_next() returns as after any failure, it does
    # not raise the CancelledError as if the caller had been cancelled.
    assert await runner.run_next() is True
    assert runner.has_failures()
    assert runner.failures() == [log.raised]
    assert runner.failures()[0] is log.raised
    await runner.aclose()  # behaves as after any failure: runs the post, raises nothing
    assert runner.failures()[0] is log.raised
    assert log.calls == ["a-pre", "a-post"]
    with pytest.raises(SdaxExecutionError) as info:
        runner.raise_failures()
    assert info.value.exceptions[0] is log.raised


@SUSPEND
async def test_async_with_raises_the_group_not_a_cancellation(suspend: bool) -> None:
    log = Log()
    with pytest.raises(SdaxExecutionError) as info:
        async with processor(log, suspend).open(None) as runner:
            while await runner.run_next():
                pass
    assert info.value.exceptions[0] is log.raised
    assert log.calls == ["a-pre", "a-post"]


class Failures(RunObserver):
    """Keeps the error of every phase_failed and phase_cancelled event."""

    def __init__(self) -> None:
        self.failed: list[BaseException | None] = []
        self.cancelled: list[BaseException | None] = []

    def phase_failed(self, event: PhaseEvent) -> None:
        self.failed.append(event.error)

    def phase_cancelled(self, event: PhaseEvent) -> None:
        self.cancelled.append(event.error)


@SUSPEND
async def test_observers_see_the_very_object(suspend: bool) -> None:
    log = Log()
    seen = Failures()
    with pytest.raises(SdaxExecutionError):
        await processor(log, suspend).process_tasks(None, observer=seen)
    assert seen.failed == [log.raised]
    assert seen.failed[0] is log.raised
    assert seen.cancelled == []
