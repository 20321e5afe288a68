"""The phase runner: ``processor.open(ctx)``, ``run_next()``, ``aclose()`` and the
read-outs (``next_phase_id``, ``last_phase_id``, ``has_failures``, ``failures``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _support import EXEC, HANG_GUARD, POST, PRE, Interrupt, Recorder, no_new_pending_tasks

from sdax import AsyncDagTaskProcessor, SdaxExecutionError
from sdax.sdax_core import PhaseId

pytestmark = pytest.mark.usefixtures("engine_core")  # on both twins of the core


def simple(rec: Recorder, **per_phase: dict[str, Any]) -> AsyncDagTaskProcessor[Any, Any]:
    return (
        AsyncDagTaskProcessor.builder()
        .add_task(rec.task("A", **per_phase))
        .add_task(rec.task("B"), depends_on=("A",))
        .build()
    )


async def test_run_next_walks_the_three_phases() -> None:
    rec = Recorder()
    processor = simple(rec)
    seen: list[tuple[bool, PhaseId | None, PhaseId | None]] = []
    with no_new_pending_tasks():
        async with processor.open({}) as runner:
            assert runner.last_phase_id() is None
            assert runner.next_phase_id() is PhaseId.PRE_EXEC
            while True:
                more = await runner.run_next()
                seen.append((more, runner.last_phase_id(), runner.next_phase_id()))
                if not more:
                    break
            assert not runner.has_failures()
            assert runner.failures() == []
    assert seen == [
        (True, PhaseId.PRE_EXEC, PhaseId.EXECUTE),
        (True, PhaseId.EXECUTE, PhaseId.POST_EXEC),
        (False, PhaseId.POST_EXEC, None),
    ]
    for name in "AB":
        for phase in (PRE, EXEC, POST):
            assert rec.count(name, phase, "end") == 1


async def test_phases_run_only_when_asked() -> None:
    rec = Recorder()
    processor = simple(rec)
    async with processor.open({}) as runner:
        assert rec.log == []
        await runner.run_next()
        assert {e.phase for e in rec.log} == {PRE}
        await runner.run_next()
        assert {e.phase for e in rec.log} == {PRE, EXEC}
        await runner.run_next()
        assert rec.names(POST, "end") == ["B", "A"]


async def test_spec_loop_with_match() -> None:
    rec = Recorder()
    processor = simple(rec)
    order: list[str] = []
    async with processor.open({}) as runner:
        while await runner.run_next():
            match runner.last_phase_id():
                case PhaseId.PRE_EXEC:
                    order.append("audit pre")
                case PhaseId.EXECUTE:
                    order.append("metrics")
                case _:
                    order.append("unexpected")
    assert order == ["audit pre", "metrics"]
    assert rec.count("A", POST, "end") == 1


async def test_leaving_without_running_anything_is_a_no_op() -> None:
    rec = Recorder()
    processor = simple(rec)
    async with processor.open({}) as runner:
        pass
    assert rec.log == []
    assert runner.last_phase_id() is None
    assert not runner.has_failures()
    assert await runner.run_next() is False
    assert rec.log == []


async def test_leaving_after_pre_skips_execute_and_runs_post() -> None:
    rec = Recorder()
    processor = simple(rec)
    async with processor.open({}) as runner:
        assert await runner.run_next() is True
        assert runner.next_phase_id() is PhaseId.EXECUTE
    assert rec.names(EXEC) == []
    assert rec.names(POST, "end") == ["B", "A"]
    assert runner.last_phase_id() is PhaseId.POST_EXEC


async def test_leaving_after_execute_runs_post() -> None:
    rec = Recorder()
    processor = simple(rec)
    async with processor.open({}) as runner:
        await runner.run_next()
        await runner.run_next()
        assert runner.next_phase_id() is PhaseId.POST_EXEC
    assert rec.names(POST, "end") == ["B", "A"]
    for name in "AB":
        assert rec.count(name, EXEC, "end") == 1


async def test_pre_failure_goes_straight_to_post_and_raises_on_exit() -> None:
    rec = Recorder()
    boom = ValueError("boom")
    processor = simple(rec, pre={"steps": 1, "fail": boom})
    seen: list[tuple[bool, PhaseId | None, PhaseId | None]] = []
    with pytest.raises(SdaxExecutionError) as info:
        async with processor.open({}) as runner:
            while True:
                more = await runner.run_next()
                seen.append((more, runner.last_phase_id(), runner.next_phase_id()))
                if more and runner.last_phase_id() is PhaseId.PRE_EXEC:
                    assert runner.has_failures()
                    assert runner.failures() == [boom]
                if not more:
                    break
    assert info.value.leaf_exceptions() == [boom]
    assert seen == [
        (True, PhaseId.PRE_EXEC, PhaseId.POST_EXEC),
        (False, PhaseId.POST_EXEC, None),
    ]
    assert rec.names(EXEC) == []
    assert rec.events("A", POST) == ["start", "end"]
    assert rec.count("B", POST) == 0
    assert runner.has_failures()
    assert runner.failures() == [boom]


async def test_failures_are_readable_before_and_after_close() -> None:
    rec = Recorder()
    exec_err = ValueError("exec")
    post_err = KeyError("post")
    processor = simple(rec, exec={"fail": exec_err}, post={"fail": post_err})
    runner = processor.open({})
    await runner.run_next()
    assert not runner.has_failures()
    await runner.run_next()
    assert runner.has_failures()
    assert runner.failures() == [exec_err]
    await runner.aclose()
    assert runner.failures() == [exec_err, post_err]
    assert runner.has_failures()
    with pytest.raises(SdaxExecutionError) as info:
        runner.raise_failures()
    assert info.value.leaf_exceptions() == [exec_err, post_err]


async def test_aclose_does_not_raise_failures_but_leaving_the_block_does() -> None:
    rec = Recorder()
    boom = ValueError("boom")
    processor = simple(rec, exec={"fail": boom})
    runner = processor.open({})
    assert await runner.run_next() is True
    assert await runner.run_next() is True
    await runner.aclose()  # must not raise
    assert runner.failures() == [boom]

    with pytest.raises(SdaxExecutionError) as info:
        async with processor.open({}) as runner2:
            while await runner2.run_next():
                pass
    assert info.value.leaf_exceptions()[-1] is boom


async def test_raise_failures_without_failures_does_nothing() -> None:
    rec = Recorder()
    processor = simple(rec)
    async with processor.open({}) as runner:
        while await runner.run_next():
            runner.raise_failures()
        runner.raise_failures()


async def test_aclose_twice_and_run_next_after_close() -> None:
    rec = Recorder()
    processor = simple(rec)
    runner = processor.open({})
    await runner.run_next()
    await runner.aclose()
    await runner.aclose()
    assert await runner.run_next() is False
    assert await runner.run_next() is False
    assert runner.next_phase_id() is None
    for name in "AB":
        assert rec.count(name, PRE) == 1
        assert rec.count(name, EXEC) == 0
        assert rec.count(name, POST) == 1


async def test_run_next_after_completion_returns_false() -> None:
    rec = Recorder()
    processor = simple(rec)
    async with processor.open({}) as runner:
        while await runner.run_next():
            pass
        assert await runner.run_next() is False
    assert await runner.run_next() is False
    for name in "AB":
        for phase in (PRE, EXEC, POST):
            assert rec.count(name, phase) == 1


async def drive(runner: Any) -> list[bool]:
    results: list[bool] = []
    while True:
        more = await runner.run_next()
        results.append(more)
        if not more:
            return results


@pytest.mark.parametrize(
    ("phase", "executes"),
    [
        pytest.param(PRE, 0, id="during-pre-skips-execute"),
        pytest.param(EXEC, 1, id="during-execute"),
    ],
)
async def test_aclose_from_another_task_runs_each_owed_phase_once(
    phase: PhaseId, executes: int
) -> None:
    rec = Recorder()
    gate = asyncio.Event()
    processor = simple(rec, **{"pre" if phase is PRE else "exec": {"wait_for": gate}})
    runner = processor.open({})
    with no_new_pending_tasks():
        driver = asyncio.create_task(drive(runner))
        while rec.count("A", phase) == 0:
            await asyncio.sleep(0)
        closer = asyncio.create_task(runner.aclose())
        for _ in range(3):
            await asyncio.sleep(0)
        assert not closer.done()  # aclose waits for the phase in progress
        gate.set()
        async with asyncio.timeout(HANG_GUARD):
            results = await driver
            await closer
    assert results[-1] is False
    if phase is PRE:
        assert True not in results[1:]
    for name in "AB":
        assert rec.count(name, PRE) == 1
        assert rec.count(name, EXEC) == rec.count(name, EXEC, "end") == executes
        assert rec.events(name, POST) == ["start", "end"]
    assert runner.last_phase_id() is PhaseId.POST_EXEC
    assert await runner.run_next() is False


async def test_aclose_from_another_task_during_post_waits_for_it() -> None:
    rec = Recorder()
    gate = asyncio.Event()
    processor = simple(rec, post={"wait_for": gate})
    runner = processor.open({})
    driver = asyncio.create_task(drive(runner))
    while rec.count("A", POST) == 0:
        await asyncio.sleep(0)
    closer = asyncio.create_task(runner.aclose())
    for _ in range(3):
        await asyncio.sleep(0)
    assert not closer.done()
    gate.set()
    async with asyncio.timeout(HANG_GUARD):
        results = await driver
        await closer
    assert results == [True, True, False]
    for name in "AB":
        assert rec.count(name, POST) == 1


async def test_concurrent_run_next_is_refused() -> None:
    rec = Recorder()
    gate = asyncio.Event()
    processor = simple(rec, pre={"wait_for": gate})
    runner = processor.open({})
    first = asyncio.create_task(runner.run_next())
    while rec.count("A", PRE) == 0:
        await asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        await runner.run_next()
    gate.set()
    assert await first is True
    await runner.aclose()
    assert rec.count("A", PRE) == 1
    assert rec.count("A", POST) == 1


@pytest.mark.parametrize("phase", [PRE, EXEC, POST])
async def test_cancelling_the_driver_during_a_phase_runs_posts_and_propagates(phase: str) -> None:
    rec = Recorder()
    running = asyncio.Event()
    processor = simple(rec, **{phase: {"before": running.set, "wait_for": asyncio.Event()}})
    if phase == POST:
        # A post is never cut short: make the blocking post finish on its own later.
        gate = asyncio.Event()
        processor = simple(rec, post={"before": running.set, "wait_for": gate})

    async def driven() -> None:
        async with processor.open({}) as runner:
            while await runner.run_next():
                pass

    with no_new_pending_tasks():
        task = asyncio.create_task(driven())
        await running.wait()
        task.cancel()
        if phase == POST:
            for _ in range(3):
                await asyncio.sleep(0)
            gate.set()
        done, _ = await asyncio.wait({task}, timeout=HANG_GUARD)
    assert done
    assert task.cancelled()
    if phase != POST:
        assert rec.events("A", phase) == ["start", "cancel"]
    assert rec.events("A", POST) == ["start", "end"]
    assert rec.count("A", POST) == 1
    if phase == PRE:
        assert rec.count("B", PRE) == 0
        assert rec.count("B", POST) == 0
        assert rec.names(EXEC) == []
    else:
        assert rec.events("B", POST) == ["start", "end"]


async def test_cancelled_driver_without_async_with_still_cleans_up() -> None:
    rec = Recorder()
    running = asyncio.Event()
    processor = simple(rec, exec={"before": running.set, "wait_for": asyncio.Event()})
    runner = processor.open({})
    task = asyncio.create_task(drive(runner))
    await running.wait()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=HANG_GUARD)
    assert done and task.cancelled()
    for name in "AB":
        assert rec.events(name, POST) == ["start", "end"]
    # Nothing is owed anymore: closing and driving do nothing.
    await runner.aclose()
    assert await runner.run_next() is False
    for name in "AB":
        assert rec.count(name, POST) == 1


async def test_exception_in_the_block_runs_cleanup_and_propagates() -> None:
    rec = Recorder()
    processor = simple(rec)
    err = LookupError("from the block")
    with pytest.raises(LookupError) as info:
        async with processor.open({}) as runner:
            await runner.run_next()
            raise err
    assert info.value is err
    assert rec.names(EXEC) == []
    assert rec.names(POST, "end") == ["B", "A"]


async def test_body_exception_and_run_failures() -> None:
    rec = Recorder()
    boom = ValueError("pre failed")
    processor = simple(rec, pre={"fail": boom})
    err = LookupError("from the block")
    with pytest.raises(BaseException) as info:
        async with processor.open({}) as runner:
            await runner.run_next()
            raise err
    # Either the block's own exception or the run's failures reach the caller (chained),
    # but never silently nothing; cleanup ran once.
    leaves = [info.value]
    if isinstance(info.value, BaseExceptionGroup):
        leaves = list(info.value.exceptions)
    assert err in leaves or boom in leaves
    assert rec.events("A", POST) == ["start", "end"]


async def test_runner_context_is_the_given_object() -> None:
    seen: list[object] = []

    async def record(ctx: object) -> None:
        seen.append(ctx)

    rec = Recorder()
    processor = simple(rec)
    ctx = object()
    runner = processor.open(ctx)
    assert runner.ctx is ctx
    await runner.aclose()
    assert seen == []


async def test_many_runners_of_one_processor_interleave() -> None:
    rec = Recorder()
    processor = simple(rec, pre={"steps": 1})
    runners = [processor.open({}) for _ in range(5)]
    for runner in runners:
        assert await runner.run_next() is True
    for runner in runners[::2]:
        assert await runner.run_next() is True
    for runner in runners:
        await runner.aclose()
    assert rec.count("A", PRE) == 5
    assert rec.count("A", EXEC) == 3
    assert rec.count("A", POST) == 5


async def test_interrupt_during_run_next_cleans_up_and_propagates() -> None:
    rec = Recorder()
    err = Interrupt()
    processor = simple(rec, exec={"steps": 1, "fail": err})
    runner = processor.open({})
    assert await runner.run_next() is True
    with pytest.raises(Interrupt) as info:
        await runner.run_next()
    assert info.value is err
    assert rec.names(POST, "end") == ["B", "A"]
    assert runner.next_phase_id() is None
    assert runner.last_phase_id() is PhaseId.POST_EXEC
    await runner.aclose()
    assert await runner.run_next() is False
    assert rec.count("A", POST) == 1


async def test_interrupt_in_async_with_block_propagates_unchanged() -> None:
    rec = Recorder()
    err = Interrupt()
    processor = simple(rec, pre={"fail": err})
    with pytest.raises(Interrupt) as info:
        async with processor.open({}) as runner:
            while await runner.run_next():
                pass
    assert info.value is err
    assert rec.events("A", POST) == ["start", "end"]
    assert rec.count("B", PRE) == 0
