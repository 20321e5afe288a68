"""Failures of phase functions: what stops, what still runs, and what is reported.

Reported errors are checked leaf by leaf, by identity with the exception the phase
function raised.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from _support import EXEC, HANG_GUARD, POST, PRE, Recorder, build_dag, no_new_pending_tasks

from sdax import (
    AsyncDagTaskProcessor,
    AsyncTask,
    AsyncTaskProcessor,
    SdaxExecutionError,
    flatten_exceptions,
    join,
    task_func,
    task_group_func,
)
from sdax.tasks import SdaxTaskGroup

pytestmark = pytest.mark.usefixtures("engine_core")  # on both twins of the core


async def run_failing(
    processor: AsyncDagTaskProcessor[Any, Any], ctx: Any = None
) -> SdaxExecutionError:
    """Run, expect an SdaxExecutionError, check nothing is left pending, return it."""
    with no_new_pending_tasks():
        with pytest.raises(SdaxExecutionError) as info:
            async with asyncio.timeout(HANG_GUARD):
                await processor.process_tasks({} if ctx is None else ctx)
    return info.value


@pytest.mark.parametrize("steps", [0, 1], ids=["raise-at-once", "raise-after-await"])
async def test_pre_failure_cancels_running_pres_and_cleans_up_started_ones(steps: int) -> None:
    rec = Recorder()
    boom = ValueError("boom")
    processor = build_dag(
        rec.task("ok", pre={"steps": 0}),
        rec.task("slow", pre={"wait_for": asyncio.Event()}),
        rec.task("bad", pre={"steps": steps, "fail": boom}),
        (rec.task("after_bad"), ("bad",)),
        (rec.task("after_ok", pre={"steps": 5}), ("ok",)),
        (rec.task("after_slow"), ("slow",)),
    )
    exc = await run_failing(processor)
    assert exc.leaf_exceptions() == [boom]
    assert exc.leaf_exceptions()[0] is boom
    assert flatten_exceptions(exc) == [boom]
    assert rec.events("slow", PRE) == ["start", "cancel"]
    assert rec.count("after_bad", PRE) == 0
    assert rec.count("after_slow", PRE) == 0
    # Execute is skipped entirely.
    assert rec.names(EXEC) == []
    # Every started task is cleaned up once; the others are not.
    for name in ("ok", "slow", "bad"):
        assert rec.count(name, POST) == 1
        assert rec.count(name, POST, "end") == 1
    for name in ("after_bad", "after_slow"):
        assert rec.count(name, POST) == 0
    # after_ok may or may not have started before the failure; it is cleaned up iff it did.
    assert rec.count("after_ok", POST) == rec.count("after_ok", PRE)
    if rec.count("after_ok", PRE):
        assert rec.before(("after_ok", POST, "end"), ("ok", POST, "start"))


async def test_pre_failure_starts_no_new_pre() -> None:
    rec = Recorder()
    boom = RuntimeError("boom")
    processor = build_dag(
        rec.task("A", pre={"steps": 3}),
        rec.task("bad", pre={"steps": 1, "fail": boom}),
        (rec.task("B"), ("A",)),
    )
    exc = await run_failing(processor)
    assert exc.leaf_exceptions() == [boom]
    assert rec.events("A", PRE) == ["start", "cancel"]
    assert rec.count("B", PRE) == 0
    assert rec.count("B", POST) == 0
    assert rec.count("A", POST) == 1
    assert rec.count("bad", POST) == 1


async def test_cancelled_siblings_are_not_failures() -> None:
    rec = Recorder()
    boom = KeyError("boom")
    processor = build_dag(
        rec.task("s1", pre={"steps": 10}),
        rec.task("s2", pre={"wait_for": asyncio.Event()}),
        rec.task("bad", pre={"steps": 2, "fail": boom}),
    )
    exc = await run_failing(processor)
    assert exc.leaf_exceptions() == [boom]
    assert not any(isinstance(e, asyncio.CancelledError) for e in exc.leaf_exceptions())


async def test_post_only_tasks_under_a_failed_pre_do_not_run_their_post() -> None:
    rec = Recorder()
    boom = ValueError("boom")
    processor = build_dag(
        rec.task("bad", pre={"fail": boom}),
        (rec.task("under_bad", phases=(POST,)), ("bad",)),
        (join("J"), ("bad",)),
        (rec.task("under_join", phases=(POST,)), ("J",)),
    )
    exc = await run_failing(processor)
    assert exc.leaf_exceptions() == [boom]
    assert rec.count("bad", POST) == 1
    assert rec.count("under_bad", POST) == 0
    assert rec.count("under_join", POST) == 0


async def test_post_only_task_whose_prerequisites_completed_runs_its_post_after_pre_failure() -> (
    None
):
    rec = Recorder()
    boom = ValueError("boom")
    bad_may_fail = asyncio.Event()
    processor = build_dag(
        rec.task("A", pre={"steps": 0}),
        (rec.task("P", phases=(POST,)), ("A",)),
        (rec.task("N", pre={"then_set": bad_may_fail}), ("P",)),
        rec.task("bad", pre={"wait_for": bad_may_fail, "fail": boom}),
    )
    exc = await run_failing(processor)
    assert exc.leaf_exceptions() == [boom]
    assert rec.count("P", POST) == 1
    assert rec.before(("N", POST, "end"), ("P", POST, "start"))
    assert rec.before(("P", POST, "end"), ("A", POST, "start"))


async def test_failed_pre_task_still_gets_its_post() -> None:
    rec = Recorder()
    boom = OSError("boom")
    processor = build_dag(
        rec.task("A"),
        (rec.task("bad", pre={"steps": 1, "fail": boom}), ("A",)),
    )
    exc = await run_failing(processor)
    assert exc.leaf_exceptions() == [boom]
    assert rec.events("bad", POST) == ["start", "end"]
    assert rec.before(("bad", POST, "end"), ("A", POST, "start"))


async def test_execute_failure_lets_other_executes_finish() -> None:
    rec = Recorder()
    boom = ValueError("boom")
    processor = build_dag(
        rec.task("bad", exec={"steps": 1, "fail": boom}),
        rec.task("long", exec={"steps": 20}),
        (rec.task("child"), ("bad",)),
    )
    exc = await run_failing(processor)
    assert exc.leaf_exceptions() == [boom]
    assert rec.events("long", EXEC) == ["start", "end"]
    assert rec.events("child", EXEC) == ["start", "end"]
    for name in ("bad", "long", "child"):
        assert rec.events(name, POST) == ["start", "end"]
    assert rec.before(("child", POST, "end"), ("bad", POST, "start"))
    assert rec.before(("long", EXEC, "end"), ("long", POST, "start"))


async def test_execute_failure_does_not_stop_an_execute_that_waits_for_it() -> None:
    rec = Recorder()
    boom = ValueError("boom")
    failed = asyncio.Event()
    processor = build_dag(
        rec.task("bad", exec={"steps": 1, "then_set": failed, "fail": boom}),
        rec.task("waiter", exec={"wait_for": failed, "steps": 2}),
    )
    exc = await run_failing(processor)
    assert exc.leaf_exceptions() == [boom]
    assert rec.events("waiter", EXEC) == ["start", "end"]


async def test_all_execute_failures_are_aggregated() -> None:
    rec = Recorder()
    errors = [ValueError("e0"), TypeError("e1"), KeyError("e2")]
    builder = AsyncDagTaskProcessor.builder()
    for i, err in enumerate(errors):
        builder.add_task(rec.task(f"t{i}", exec={"steps": i, "fail": err}))
    builder.add_task(rec.task("fine"))
    exc = await run_failing(builder.build())
    leaves = exc.leaf_exceptions()
    assert len(leaves) == 3
    assert {id(e) for e in leaves} == {id(e) for e in errors}
    assert rec.count("fine", POST, "end") == 1
    for i in range(3):
        assert rec.count(f"t{i}", POST, "end") == 1


async def test_post_failure_does_not_stop_other_posts() -> None:
    rec = Recorder()
    boom = ValueError("post boom")
    processor = build_dag(
        rec.task("root", post={"steps": 1}),
        (rec.task("bad", post={"steps": 1, "fail": boom}), ("root",)),
        (rec.task("sibling", post={"steps": 3}), ("root",)),
        (rec.task("leaf"), ("bad",)),
    )
    exc = await run_failing(processor)
    assert exc.leaf_exceptions() == [boom]
    for name in ("root", "sibling", "leaf"):
        assert rec.events(name, POST) == ["start", "end"]
    assert rec.events("bad", POST) == ["start", "fail"]
    # The failed post still counts as done for ordering: its prerequisites clean up after it.
    assert rec.before(("bad", POST, "fail"), ("root", POST, "start"))
    assert rec.before(("sibling", POST, "end"), ("root", POST, "start"))


async def test_failures_of_all_phases_are_reported_in_phase_order() -> None:
    rec = Recorder()
    exec_err = ValueError("exec")
    post_err = RuntimeError("post")
    processor = build_dag(
        rec.task("A", post={"fail": post_err}),
        rec.task("B", exec={"steps": 1, "fail": exec_err}),
    )
    exc = await run_failing(processor)
    assert exc.leaf_exceptions() == [exec_err, post_err]


async def test_pre_and_post_failures_are_both_reported() -> None:
    rec = Recorder()
    pre_err = ValueError("pre")
    post_err = RuntimeError("post")
    processor = build_dag(rec.task("A", pre={"fail": pre_err}, post={"fail": post_err}))
    exc = await run_failing(processor)
    assert exc.leaf_exceptions() == [pre_err, post_err]
    assert rec.count("A", EXEC) == 0


async def test_error_is_an_exception_group_usable_with_except_star() -> None:
    rec = Recorder()
    boom = ValueError("boom")
    processor = build_dag(rec.task("A", exec={"fail": boom}))
    caught: list[BaseException] = []
    try:
        await processor.process_tasks({})
    except* ValueError as group:
        caught.extend(flatten_exceptions(group))
    assert caught == [boom]
    exc = await run_failing(processor)
    assert isinstance(exc, ExceptionGroup)
    assert isinstance(exc, SdaxExecutionError)


async def test_reported_exception_notes_name_task_and_phase() -> None:
    rec = Recorder()
    pre_err = ValueError("pre")
    processor = build_dag(rec.task(("svc", 1), pre={"fail": pre_err}))
    exc = await run_failing(processor)
    (leaf,) = exc.leaf_exceptions()
    notes = " ".join(getattr(leaf, "__notes__", []))
    assert "('svc', 1)" in notes
    assert "pre_execute" in notes


async def test_task_group_failures_are_flattened_to_their_leaves() -> None:
    first = ValueError("sub 1")
    second = KeyError("sub 2")

    async def parent(ctx: Any, tg: SdaxTaskGroup) -> None:
        async def fail(err: Exception) -> None:
            await asyncio.sleep(0)
            raise err

        tg.create_task(fail(first))
        tg.create_task(fail(second))

    processor = build_dag(AsyncTask("G", execute=task_group_func(parent)))
    exc = await run_failing(processor)
    leaves = exc.leaf_exceptions()
    assert {id(e) for e in leaves} == {id(first), id(second)}
    assert {id(e) for e in flatten_exceptions(exc)} == {id(first), id(second)}


async def test_exception_raised_when_calling_the_function_fails_the_task() -> None:
    rec = Recorder()
    boom = ValueError("raised by the call itself")

    def not_async(ctx: Any) -> Any:
        raise boom

    processor = build_dag(
        AsyncTask("A", pre_execute=task_func(not_async), post_execute=rec.tf("A", POST))
    )
    exc = await run_failing(processor)
    assert exc.leaf_exceptions() == [boom]
    assert rec.count("A", POST, "end") == 1


async def test_non_awaitable_result_fails_the_task_with_a_type_error() -> None:
    rec = Recorder()
    processor = build_dag(
        AsyncTask(
            "NotAsync",
            pre_execute=task_func(cast(Any, lambda ctx: 5)),
            post_execute=rec.tf("NotAsync", POST),
        ),
        rec.task("sibling", pre={"steps": 2}),
    )
    exc = await run_failing(processor)
    (leaf,) = exc.leaf_exceptions()
    assert isinstance(leaf, TypeError)
    assert "NotAsync" in str(leaf)
    assert "pre_execute" in str(leaf)
    assert rec.count("NotAsync", POST, "end") == 1


@pytest.mark.parametrize("phase", ["execute", "post_execute"])
async def test_non_awaitable_result_in_later_phases_names_the_phase(phase: str) -> None:
    functions: dict[str, Any] = {phase: task_func(cast(Any, lambda ctx: None))}
    processor = build_dag(AsyncTask("T", **functions))
    exc = await run_failing(processor)
    (leaf,) = exc.leaf_exceptions()
    assert isinstance(leaf, TypeError)
    assert "T" in str(leaf)
    assert phase in str(leaf)


async def test_a_failed_run_does_not_affect_the_next_run() -> None:
    rec = Recorder()
    should_fail = [True]

    async def maybe_fail(ctx: Any) -> None:
        await asyncio.sleep(0)
        if should_fail[0]:
            raise ValueError("first run only")

    processor = build_dag(
        AsyncTask("A", pre_execute=task_func(maybe_fail)),
        (rec.task("B"), ("A",)),
    )
    await run_failing(processor)
    assert rec.count("B", PRE) == 0
    should_fail[0] = False
    await processor.process_tasks({})
    assert rec.count("B", PRE) == 1
    assert rec.count("B", POST) == 1


async def test_level_adapter_pre_failure_stops_higher_levels() -> None:
    rec = Recorder()
    boom = ValueError("boom")
    processor = (
        AsyncTaskProcessor.builder()
        .add_task(rec.task("L0"), level=0)
        .add_task(rec.task("L1a", pre={"steps": 1, "fail": boom}), level=1)
        .add_task(rec.task("L1b", pre={"steps": 5}), level=1)
        .add_task(rec.task("L2"), level=2)
        .build()
    )
    exc = await run_failing(processor)
    assert exc.leaf_exceptions() == [boom]
    assert rec.count("L2", PRE) == 0
    assert rec.count("L2", POST) == 0
    assert rec.events("L1b", PRE) == ["start", "cancel"]
    for name in ("L0", "L1a", "L1b"):
        assert rec.count(name, POST, "end") == 1
    assert rec.before(("L1a", POST, "end"), ("L0", POST, "start"))
    assert rec.before(("L1b", POST, "end"), ("L0", POST, "start"))


async def test_exceptions_raised_are_the_originals_not_copies() -> None:
    class Custom(Exception):
        def __init__(self, payload: object) -> None:
            super().__init__("custom")
            self.payload = payload

    payload = object()
    err = Custom(payload)
    processor = build_dag(AsyncTask("A", execute=task_func(Recorder().fn("A", EXEC, fail=err))))
    exc = await run_failing(processor)
    (leaf,) = exc.leaf_exceptions()
    assert leaf is err
    assert isinstance(leaf, Custom)
    assert leaf.payload is payload


async def test_group_function_returning_a_non_awaitable_names_task_and_phase() -> None:
    processor = build_dag(AsyncTask("Grp", execute=task_group_func(cast(Any, lambda ctx, tg: 5))))
    exc = await run_failing(processor)
    (leaf,) = exc.leaf_exceptions()
    assert isinstance(leaf, TypeError)
    assert "Grp" in str(leaf)
    assert "execute" in str(leaf)
