"""``sdax.current_call()``: each phase call can see itself and how its run has gone so far."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _support import build_dag

import sdax
from sdax import (
    AsyncDagTaskProcessor,
    AsyncTask,
    CallInfo,
    PhaseId,
    SdaxExecutionError,
    current_call,
    task_func,
    task_sync_func,
)
from sdax.observe import RunObserver


def seen_by(log: list[CallInfo | None], *, suspend: bool = False, fail: bool = False) -> Any:
    """A phase function that records what current_call() says (before and after a wait)."""

    async def fn(ctx: Any) -> None:
        log.append(current_call())
        if suspend:
            await asyncio.sleep(0)
            log.append(current_call())
        if fail:
            raise ValueError("failed on purpose")

    return task_func(fn)


def single(**phases: Any) -> AsyncDagTaskProcessor[Any, Any]:
    return build_dag(AsyncTask("t", **phases))


def test_outside_a_call_there_is_none() -> None:
    assert current_call() is None

    async def main() -> CallInfo | None:
        return current_call()

    assert asyncio.run(main()) is None


@pytest.mark.parametrize("suspend", [False, True], ids=["at-once", "after-a-wait"])
async def test_each_phase_sees_its_task_phase_and_attempt(suspend: bool) -> None:
    log: list[CallInfo | None] = []
    processor = single(
        pre_execute=seen_by(log, suspend=suspend),
        execute=seen_by(log, suspend=suspend),
        post_execute=seen_by(log, suspend=suspend),
    )
    await processor.process_tasks(None)
    assert all(info is not None for info in log)
    got = [(i.task, i.phase, i.attempt) for i in log if i is not None]
    per_call = 2 if suspend else 1
    expected = [("t", phase, 1) for phase in PhaseId for _ in range(per_call)]
    assert got == expected
    post = log[-1]
    assert post is not None and post.pre_completed is True and post.run_ok


async def test_retries_count_their_attempts() -> None:
    attempts: list[int] = []

    async def flaky(ctx: Any) -> None:
        info = current_call()
        assert info is not None
        attempts.append(info.attempt)
        if info.attempt < 3:
            raise ConnectionError("not yet")

    await single(execute=task_func(flaky, retries=3, initial_delay=0)).process_tasks(None)
    assert attempts == [1, 2, 3]


async def test_a_post_sees_whether_its_pre_completed_and_the_run_failed() -> None:
    log: list[CallInfo | None] = []
    processor = build_dag(
        AsyncTask("ok", pre_execute=seen_by([]), post_execute=seen_by(log)),
        AsyncTask("bad", pre_execute=seen_by([], fail=True), post_execute=seen_by(log)),
        AsyncTask("bare", post_execute=seen_by(log)),
    )
    with pytest.raises(SdaxExecutionError):
        await processor.process_tasks(None)
    by_task = {i.task: i for i in log if i is not None}
    assert by_task["ok"].pre_completed is True
    assert by_task["bad"].pre_completed is False
    assert all(i.run_failed and not i.run_ok for i in by_task.values())
    # A task without a pre: "did its pre complete" has no answer.
    assert by_task["bare"].pre_completed is None


async def test_a_post_sees_an_outside_cancellation() -> None:
    log: list[CallInfo | None] = []
    waiting = asyncio.Event()

    async def hangs(ctx: Any) -> None:
        waiting.set()
        await asyncio.sleep(10)

    processor = single(execute=task_func(hangs), post_execute=seen_by(log))
    run = asyncio.create_task(processor.process_tasks(None))
    await waiting.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    (info,) = log
    assert info is not None and info.run_cancelled and not info.run_failed
    assert info.pre_completed is None  # no pre


async def test_a_post_sees_the_deadline() -> None:
    log: list[CallInfo | None] = []

    async def slow(ctx: Any) -> None:
        await asyncio.sleep(10)

    processor = single(execute=task_func(slow), post_execute=seen_by(log))
    with pytest.raises(sdax.SdaxTimeoutError):
        await processor.process_tasks(None, timeout=0.01)
    (info,) = log
    assert info is not None and info.deadline_passed and not info.run_ok


async def test_concurrent_runs_answer_each_for_itself() -> None:
    # The same processor, twice at once: only the run whose context says so fails.
    log: dict[str, CallInfo | None] = {}

    async def pre(ctx: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        if ctx["fail"]:
            raise ValueError(ctx["name"])

    async def post(ctx: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        log[ctx["name"]] = current_call()

    processor = single(pre_execute=task_func(pre), post_execute=task_func(post))
    results = await asyncio.gather(
        processor.process_tasks({"name": "good", "fail": False}),
        processor.process_tasks({"name": "bad", "fail": True}),
        return_exceptions=True,
    )
    assert results[0] is None and isinstance(results[1], SdaxExecutionError)
    good, bad = log["good"], log["bad"]
    assert good is not None and good.run_ok and good.pre_completed is True
    assert bad is not None and bad.run_failed and bad.pre_completed is False


async def test_a_thread_pool_call_sees_its_call() -> None:
    log: list[CallInfo | None] = []

    def blocking(ctx: Any) -> None:
        log.append(current_call())

    await single(execute=task_sync_func(blocking, executor="thread")).process_tasks(None)
    (info,) = log
    assert info is not None and info.task == "t" and info.phase is PhaseId.EXECUTE


async def test_tasks_a_call_starts_are_not_the_call() -> None:
    seen: list[CallInfo | None] = []

    async def child() -> None:
        seen.append(current_call())

    async def parent(ctx: Any) -> None:
        await asyncio.create_task(child())

    await single(execute=task_func(parent)).process_tasks(None)
    assert seen == [None]


async def test_a_processor_run_inside_a_phase_keeps_each_call_apart() -> None:
    # The outer pre runs a whole inner processor before its own first wait.
    inner_log: list[CallInfo | None] = []
    outer_log: list[CallInfo | None] = []
    inner = build_dag(AsyncTask("inner", execute=seen_by(inner_log)))

    async def outer_pre(ctx: Any) -> None:
        outer_log.append(current_call())
        await inner.process_tasks(None)
        outer_log.append(current_call())

    processor = build_dag(
        AsyncTask("outer", pre_execute=task_func(outer_pre)),
        AsyncTask("next", pre_execute=seen_by(outer_log)),
    )
    await processor.process_tasks(None)
    assert [i.task for i in inner_log if i is not None] == ["inner"]
    # (Where the inner run waits, "next" may take its turn in between.)
    assert sorted((str(i.task), i.phase) for i in outer_log if i is not None) == [
        ("next", PhaseId.PRE_EXEC),
        ("outer", PhaseId.PRE_EXEC),
        ("outer", PhaseId.PRE_EXEC),
    ]


async def test_observed_runs_answer_the_same() -> None:
    log: list[CallInfo | None] = []

    class Quiet(RunObserver):
        pass

    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("t", pre_execute=seen_by(log, suspend=True)))
        .add_observer(Quiet())  # every hook is optional
        .build()
    )
    await processor.process_tasks(None)
    assert [(i.task, i.phase) for i in log if i is not None] == [("t", PhaseId.PRE_EXEC)] * 2
