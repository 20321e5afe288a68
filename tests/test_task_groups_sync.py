"""``task_sync_func`` (plain functions run inline) and ``task_group_func`` (a task group
per attempt, whose subtasks belong to the phase)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from _support import EXEC, HANG_GUARD, POST, PRE, Recorder, build_dag, no_new_pending_tasks

from sdax import (
    AsyncDagTaskProcessor,
    AsyncTask,
    RetryableException,
    SdaxExecutionError,
    SdaxTaskGroup,
    task_group_func,
    task_group_task,
    task_sync_func,
)

pytestmark = pytest.mark.usefixtures("engine_core")  # on both twins of the core


async def run(processor: AsyncDagTaskProcessor[Any, Any], ctx: Any) -> SdaxExecutionError | None:
    with no_new_pending_tasks():
        try:
            async with asyncio.timeout(HANG_GUARD):
                await processor.process_tasks(ctx)
        except SdaxExecutionError as exc:
            return exc
    return None


# -- task_sync_func -----------------------------------------------------------------------


async def test_sync_function_runs_inline_in_the_caller_thread_and_mutates_the_context() -> None:
    threads: list[int] = []

    def double(ctx: dict[str, Any]) -> int:
        threads.append(threading.get_ident())
        ctx["result"] = ctx.get("input", 0) * 2
        return int(ctx["result"])

    def read(ctx: dict[str, Any]) -> None:
        threads.append(threading.get_ident())
        ctx["seen"] = ctx["result"]

    processor = build_dag(
        AsyncTask("double", pre_execute=task_sync_func(double)),
        (AsyncTask("read", execute=task_sync_func(read)), ("double",)),
    )
    ctx: dict[str, Any] = {"input": 21}
    assert await run(processor, ctx) is None
    assert ctx == {"input": 21, "result": 42, "seen": 42}
    assert threads == [threading.get_ident()] * 2


@pytest.mark.eager_start
async def test_sync_function_blocks_the_loop_while_it_runs() -> None:
    # Inline means no other task of the loop runs in between: a callback scheduled before
    # the run has not run yet when the sync function is called.
    flags: list[bool] = []
    ticked: list[bool] = []

    def check(ctx: Any) -> None:
        flags.append(bool(ticked))

    asyncio.get_running_loop().call_soon(ticked.append, True)
    processor = build_dag(AsyncTask("check", pre_execute=task_sync_func(check)))
    assert await run(processor, {}) is None
    assert flags == [False]


async def test_sync_function_exception_fails_the_task_and_post_runs() -> None:
    rec = Recorder()
    err = ValueError("sync failure")

    def fail(ctx: Any) -> None:
        raise err

    processor = build_dag(
        AsyncTask("S", pre_execute=task_sync_func(fail), post_execute=rec.tf("S", POST)),
        (rec.task("child"), ("S",)),
    )
    exc = await run(processor, {})
    assert exc is not None
    assert exc.leaf_exceptions() == [err]
    assert rec.events("S", POST) == ["start", "end"]
    assert rec.count("child", PRE) == 0


async def test_sync_function_is_retried() -> None:
    calls: list[int] = []

    def flaky(ctx: Any) -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RetryableException("again")
        return "done"

    processor = build_dag(AsyncTask("S", execute=task_sync_func(flaky, retries=2, initial_delay=0)))
    assert await run(processor, {}) is None
    assert len(calls) == 3


async def test_sync_function_in_every_phase() -> None:
    order: list[str] = []

    def step(label: str) -> Any:
        def fn(ctx: Any) -> str:
            order.append(label)
            return label

        return fn

    processor = build_dag(
        AsyncTask(
            "A",
            pre_execute=task_sync_func(step("A.pre")),
            execute=task_sync_func(step("A.exec")),
            post_execute=task_sync_func(step("A.post")),
        ),
        (
            AsyncTask(
                "B",
                pre_execute=task_sync_func(step("B.pre")),
                post_execute=task_sync_func(step("B.post")),
            ),
            ("A",),
        ),
    )
    assert await run(processor, {}) is None
    assert order == ["A.pre", "B.pre", "A.exec", "B.post", "A.post"]


@pytest.mark.parametrize("bad", [3, None, "not callable"])
def test_task_sync_func_rejects_non_callables(bad: Any) -> None:
    with pytest.raises(TypeError):
        task_sync_func(bad)


# -- task_group_func ----------------------------------------------------------------------


async def test_subtasks_are_awaited_even_when_the_function_returns_early() -> None:
    rec = Recorder()
    log = rec.log
    sub_done: list[int] = []

    async def sub(steps: int) -> None:
        for _ in range(steps):
            await asyncio.sleep(0)
        sub_done.append(len(log))

    async def parent(ctx: Any, tg: SdaxTaskGroup) -> str:
        tg.create_task(sub(5), name="slow")
        tg.create_task(sub(2), name="fast")
        return "returned at once"

    processor = build_dag(
        AsyncTask("G", pre_execute=task_group_func(parent)),
        (rec.task("child"), ("G",)),
    )
    assert await run(processor, {}) is None
    assert len(sub_done) == 2
    assert max(sub_done) <= rec.index("child", PRE, "start")


async def test_execute_phase_waits_for_subtasks_before_posts() -> None:
    rec = Recorder()
    log = rec.log
    sub_done: list[int] = []

    async def sub() -> None:
        for _ in range(4):
            await asyncio.sleep(0)
        sub_done.append(len(log))

    async def parent(ctx: Any, tg: SdaxTaskGroup) -> None:
        tg.create_task(sub())

    processor = build_dag(
        AsyncTask("G", execute=task_group_func(parent), post_execute=rec.tf("G", POST))
    )
    assert await run(processor, {}) is None
    assert sub_done == [rec.index("G", POST, "start")]


async def test_subtask_results_can_be_gathered() -> None:
    async def value(v: int) -> int:
        await asyncio.sleep(0)
        return v

    async def parent(ctx: dict[str, Any], tg: SdaxTaskGroup) -> int:
        first = tg.create_task(value(1), name="a")
        second = tg.create_task(value(2), name="b")
        a, b = await asyncio.gather(first, second)
        ctx["sum"] = a + b
        return int(a + b)

    processor = build_dag(AsyncTask("G", execute=task_group_func(parent)))
    ctx: dict[str, Any] = {}
    assert await run(processor, ctx) is None
    assert ctx == {"sum": 3}


async def test_failing_subtask_fails_the_task_and_cancels_other_subtasks() -> None:
    rec = Recorder()
    err = ValueError("subtask failed")
    sibling_events: list[str] = []

    async def bad() -> None:
        await asyncio.sleep(0)
        raise err

    async def long() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            sibling_events.append("cancelled")
            raise

    async def parent(ctx: Any, tg: SdaxTaskGroup) -> None:
        tg.create_task(long())
        tg.create_task(bad())

    processor = build_dag(
        AsyncTask("G", pre_execute=task_group_func(parent), post_execute=rec.tf("G", POST)),
        (rec.task("child"), ("G",)),
    )
    exc = await run(processor, {})
    assert exc is not None
    assert exc.leaf_exceptions() == [err]
    assert sibling_events == ["cancelled"]
    assert rec.events("G", POST) == ["start", "end"]
    assert rec.count("child", PRE) == 0


async def test_function_failure_cancels_its_subtasks() -> None:
    err = KeyError("parent failed")
    sub_events: list[str] = []

    async def long() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            sub_events.append("cancelled")
            raise

    async def parent(ctx: Any, tg: SdaxTaskGroup) -> None:
        tg.create_task(long())
        await asyncio.sleep(0)
        raise err

    processor = build_dag(AsyncTask("G", execute=task_group_func(parent)))
    exc = await run(processor, {})
    assert exc is not None
    assert exc.leaf_exceptions() == [err]
    assert sub_events == ["cancelled"]


async def test_each_attempt_gets_a_fresh_task_group() -> None:
    groups: list[SdaxTaskGroup] = []
    finished: list[int] = []

    async def sub(attempt: int) -> None:
        await asyncio.sleep(0)
        if attempt == 0:
            raise RetryableException("first attempt fails")
        finished.append(attempt)

    async def parent(ctx: Any, tg: SdaxTaskGroup) -> None:
        attempt = len(groups)
        groups.append(tg)
        tg.create_task(sub(attempt))

    processor = build_dag(
        AsyncTask("G", execute=task_group_func(parent, retries=2, initial_delay=0))
    )
    assert await run(processor, {}) is None
    assert len(groups) == 2
    assert groups[0] is not groups[1]
    assert finished == [1]


async def test_group_timeout_covers_subtasks() -> None:
    sub_events: list[str] = []

    async def hang() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            sub_events.append("cancelled")
            raise

    async def parent(ctx: Any, tg: SdaxTaskGroup) -> None:
        tg.create_task(hang())

    processor = build_dag(AsyncTask("G", execute=task_group_func(parent, timeout=0.01)))
    exc = await run(processor, {})
    assert exc is not None
    assert [type(e) for e in exc.leaf_exceptions()] == [TimeoutError]
    assert sub_events == ["cancelled"]


async def test_group_handle_is_an_sdax_task_group_and_accepts_awaitables() -> None:
    seen: list[object] = []

    class Wrapped:
        def __await__(self) -> Any:
            return asyncio.sleep(0, "from awaitable").__await__()

    async def parent(ctx: Any, tg: SdaxTaskGroup) -> None:
        seen.append(isinstance(tg, SdaxTaskGroup))
        task = tg.create_task(Wrapped(), name="wrapped")
        seen.append(await task)

    processor = build_dag(AsyncTask("G", execute=task_group_func(parent)))
    assert await run(processor, {}) is None
    assert seen == [True, "from awaitable"]


async def test_task_group_task_is_an_alias() -> None:
    ran: list[str] = []

    async def parent(ctx: Any, tg: SdaxTaskGroup) -> None:
        async def sub() -> None:
            ran.append("sub")

        tg.create_task(sub())

    assert task_group_task is task_group_func
    processor = build_dag(AsyncTask("G", pre_execute=task_group_task(parent)))
    assert await run(processor, {}) is None
    assert ran == ["sub"]


async def test_group_function_that_never_suspends_and_creates_no_subtask() -> None:
    calls: list[str] = []

    async def parent(ctx: Any, tg: SdaxTaskGroup) -> None:
        calls.append("called")

    processor = build_dag(
        AsyncTask(
            "G",
            pre_execute=task_group_func(parent),
            execute=task_group_func(parent),
            post_execute=task_group_func(parent),
        )
    )
    assert await run(processor, {}) is None
    assert calls == ["called"] * 3


@pytest.mark.parametrize("phase", [PRE, EXEC, POST])
async def test_group_subtasks_in_every_phase_finish_before_the_next_step(phase: str) -> None:
    rec = Recorder()
    log = rec.log
    marks: list[int] = []

    async def sub() -> None:
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        marks.append(len(log))

    async def parent(ctx: Any, tg: SdaxTaskGroup) -> None:
        tg.create_task(sub())

    field = {PRE: "pre_execute", EXEC: "execute", POST: "post_execute"}[phase]
    processor = build_dag(
        rec.task("root"),
        (AsyncTask("G", **{field: task_group_func(parent)}), ("root",)),
        (rec.task("leaf"), ("G",)),
    )
    assert await run(processor, {}) is None
    assert len(marks) == 1
    if phase == PRE:
        assert marks[0] <= rec.index("leaf", PRE, "start")
    elif phase == EXEC:
        assert marks[0] <= min(rec.index(n, POST, "start") for n in ("root", "leaf"))
    else:
        assert rec.index("leaf", POST, "end") < marks[0] <= rec.index("root", POST, "start")
