"""Isolation: contextvars per phase call, the current task inside a phase, and many
concurrent runs of one processor."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest
from _support import HANG_GUARD, build_dag, no_new_pending_tasks

from sdax import (
    AsyncTask,
    SdaxExecutionError,
    SdaxTaskGroup,
    task_func,
    task_group_func,
    task_sync_func,
)


def make_var() -> contextvars.ContextVar[str]:
    # A fresh variable per test: no state shared between tests.
    return contextvars.ContextVar("isolation_test_var", default="unset")


@pytest.mark.parametrize("suspend", [False, True], ids=["at-once", "after-await"])
async def test_value_set_in_a_pre_is_not_seen_elsewhere(suspend: bool) -> None:
    var = make_var()
    seen: dict[str, str] = {}

    async def setter(ctx: Any) -> None:
        var.set("set by A.pre")
        if suspend:
            await asyncio.sleep(0)
        seen["A.pre after set"] = var.get()

    def reader(label: str) -> Any:
        async def read(ctx: Any) -> None:
            if suspend:
                await asyncio.sleep(0)
            seen[label] = var.get()

        return read

    processor = build_dag(
        AsyncTask(
            "A",
            pre_execute=task_func(setter),
            execute=task_func(reader("A.exec")),
            post_execute=task_func(reader("A.post")),
        ),
        (AsyncTask("B", pre_execute=task_func(reader("B.pre"))), ("A",)),
    )
    token = var.set("caller")
    try:
        await processor.process_tasks({})
        assert var.get() == "caller"
    finally:
        var.reset(token)
    assert seen == {
        "A.pre after set": "set by A.pre",
        "A.exec": "caller",
        "A.post": "caller",
        "B.pre": "caller",
    }


async def test_sync_and_group_functions_get_their_own_context_too() -> None:
    var = make_var()
    seen: list[str] = []

    def sync_setter(ctx: Any) -> None:
        seen.append(var.get())
        var.set("sync")

    async def group_setter(ctx: Any, tg: SdaxTaskGroup) -> None:
        seen.append(var.get())
        var.set("group")

        async def sub() -> None:
            seen.append("sub sees " + var.get())

        tg.create_task(sub())

    async def read(ctx: Any) -> None:
        seen.append(var.get())

    processor = build_dag(
        AsyncTask("S", pre_execute=task_sync_func(sync_setter)),
        (AsyncTask("G", pre_execute=task_group_func(group_setter)), ("S",)),
        (AsyncTask("R", pre_execute=task_func(read)), ("G",)),
    )
    await processor.process_tasks({})
    assert seen == ["unset", "unset", "sub sees group", "unset"]
    assert var.get() == "unset"


async def test_caller_values_are_seen_in_every_phase() -> None:
    var = make_var()
    seen: list[str] = []

    async def read(ctx: Any) -> None:
        seen.append(var.get())
        await asyncio.sleep(0)
        seen.append(var.get())

    processor = build_dag(
        AsyncTask(
            "A",
            pre_execute=task_func(read),
            execute=task_func(read),
            post_execute=task_func(read),
        )
    )
    var.set("from caller")
    await processor.process_tasks({})
    assert seen == ["from caller"] * 6


async def test_retry_attempts_run_in_the_call_context() -> None:
    var = make_var()
    seen: list[str] = []

    async def flaky(ctx: Any) -> None:
        seen.append(var.get())
        var.set(f"attempt {len(seen)}")
        if len(seen) < 3:
            raise ConnectionError("again")

    processor = build_dag(AsyncTask("A", pre_execute=task_func(flaky, retries=2, initial_delay=0)))
    var.set("caller")
    await processor.process_tasks({})
    assert seen[0] == "caller"
    assert len(seen) == 3
    assert var.get() == "caller"


async def test_current_task_inside_a_phase_is_its_own_and_stays_the_same() -> None:
    found: list[tuple[bool, bool]] = []
    caller = asyncio.current_task()

    async def check(ctx: Any) -> None:
        before = asyncio.current_task()
        await asyncio.sleep(0)
        after = asyncio.current_task()
        found.append((before is after and before is not None, before is not caller))

    processor = build_dag(AsyncTask("A", pre_execute=task_func(check), execute=task_func(check)))
    await processor.process_tasks({})
    assert found == [(True, True), (True, True)]
    assert asyncio.current_task() is caller


async def test_task_group_inside_a_phase_cancels_the_phase_on_subtask_failure() -> None:
    got: list[str] = []

    async def with_group(ctx: Any) -> None:
        async def bad() -> None:
            await asyncio.sleep(0)
            raise ValueError("sub")

        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(bad())
                await asyncio.Event().wait()  # interrupted by the group
        except* ValueError:
            got.append("caught")

    processor = build_dag(
        AsyncTask("A", pre_execute=task_func(with_group, timeout=5.0)),
        AsyncTask("B", execute=task_func(with_group)),
    )
    with no_new_pending_tasks():
        async with asyncio.timeout(HANG_GUARD):
            await processor.process_tasks({})
    assert got == ["caught", "caught"]


@pytest.mark.parametrize(
    "suspend_first",
    [
        pytest.param(False, id="during-first-step"),
        pytest.param(True, id="after-await"),
    ],
)
async def test_cancelling_current_task_inside_a_phase_cancels_only_that_phase(
    suspend_first: bool,
) -> None:
    # The phase cancels its own task (as asyncio.timeout does) and handles it.
    got: list[str] = []

    async def self_cancel(ctx: Any) -> None:
        if suspend_first:
            await asyncio.sleep(0)
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            task.uncancel()
            got.append("handled")

    async def other(ctx: Any) -> None:
        await asyncio.sleep(0)
        got.append("other")

    processor = build_dag(
        AsyncTask("A", pre_execute=task_func(self_cancel)),
        (AsyncTask("B", pre_execute=task_func(other)), ("A",)),
    )
    await processor.process_tasks({})
    assert got == ["handled", "other"]


async def test_many_concurrent_runs_each_see_only_their_own_context() -> None:
    var = make_var()
    bad_runs = set(range(1, 100, 7))

    async def pre(ctx: dict[str, Any]) -> None:
        ctx["log"].append(("pre", var.get()))
        var.set("changed by pre")
        await asyncio.sleep(0)

    async def execute(ctx: dict[str, Any]) -> None:
        ctx["log"].append(("exec", var.get()))
        await asyncio.sleep(0)
        if ctx["id"] in bad_runs:
            raise ValueError(ctx["id"])
        ctx["log"].append(("exec done", ctx["id"]))

    async def post(ctx: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        ctx["log"].append(("post", var.get()))

    processor = build_dag(
        AsyncTask(
            "A",
            pre_execute=task_func(pre),
            execute=task_func(execute),
            post_execute=task_func(post),
        ),
        (AsyncTask("B", execute=task_func(execute)), ("A",)),
    )

    async def one(i: int, ctx: dict[str, Any]) -> None:
        var.set(f"run {i}")
        await processor.process_tasks(ctx)

    contexts: list[dict[str, Any]] = [{"id": i, "log": []} for i in range(100)]
    with no_new_pending_tasks():
        results = await asyncio.gather(
            *(one(i, ctx) for i, ctx in enumerate(contexts)), return_exceptions=True
        )
    for i, (ctx, result) in enumerate(zip(contexts, results, strict=True)):
        mine = f"run {i}"
        if i in bad_runs:
            assert isinstance(result, SdaxExecutionError)
            leaves = result.leaf_exceptions()
            assert len(leaves) == 2
            assert all(isinstance(e, ValueError) and e.args == (i,) for e in leaves)
            assert ("exec done", i) not in ctx["log"]
        else:
            assert result is None
            assert ctx["log"].count(("exec done", i)) == 2
        assert ctx["log"][0] == ("pre", mine)
        assert ctx["log"].count(("exec", mine)) == 2
        assert ctx["log"][-1] == ("post", mine)
        # Nothing from another run leaked into this context.
        assert all(entry[1] in (mine, i) for entry in ctx["log"])


async def test_cancelling_one_of_many_concurrent_runs_leaves_the_others_alone() -> None:
    started = asyncio.Event()
    events: dict[int, list[str]] = {i: [] for i in range(10)}

    async def execute(ctx: int) -> None:
        events[ctx].append("exec start")
        if ctx == 3:
            started.set()
        for _ in range(5):
            await asyncio.sleep(0)
        events[ctx].append("exec end")

    async def post(ctx: int) -> None:
        events[ctx].append("post")

    processor = build_dag(AsyncTask("A", execute=task_func(execute), post_execute=task_func(post)))
    tasks = [asyncio.create_task(processor.process_tasks(i)) for i in range(10)]
    await started.wait()
    tasks[3].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for i, result in enumerate(results):
        if i == 3:
            assert isinstance(result, asyncio.CancelledError)
            assert events[i] == ["exec start", "post"]
        else:
            assert result is None
            assert events[i] == ["exec start", "exec end", "post"]


async def test_current_task_can_be_printed_inside_a_phase() -> None:
    shown: list[str] = []

    async def log_task(ctx: Any) -> None:
        shown.append(repr(asyncio.current_task()))

    processor = build_dag(AsyncTask("A", pre_execute=task_func(log_task)))
    await processor.process_tasks({})
    assert len(shown) == 1


async def test_done_callback_on_the_current_task_of_a_phase_runs_when_it_ends() -> None:
    called: list[str] = []

    async def register(ctx: Any) -> None:
        task = asyncio.current_task()
        assert task is not None
        task.add_done_callback(lambda _: called.append("done"))

    processor = build_dag(AsyncTask("A", pre_execute=task_func(register)))
    await processor.process_tasks({})
    for _ in range(3):
        await asyncio.sleep(0)
    assert called == ["done"]
