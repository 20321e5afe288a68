"""Leaks: many runs keep memory flat, and a finished run keeps no context alive.

Memory: one small processor runs many times in a row, cycling through the
ways a run can end (success, suspending phases, a failure, a retry, an
``asyncio.timeout`` around the call, the run's deadline, the cleanup budget,
an observer). Traced memory (``tracemalloc``) after the last run may exceed
the figure after the warm-up by a small constant slack only. The default is
3,000 runs (a few seconds: tracemalloc slows every allocation down);
``SDAX_LEAK_RUNS=100000`` makes the full 100,000-run check.
``test_memory_check_can_fail`` shows that a leak of one small object (a 32-byte
bytearray) per run breaks the bound.

References: the context object of a run must die as soon as the caller drops
it (and the exception it got, if any): without ``gc.collect()``, with the
collector running normally and with it disabled (``gc.disable()``), so that a
reference cycle through the context cannot hide behind a timely collection.
"""

from __future__ import annotations

import asyncio
import gc
import os
import tracemalloc
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from _support import Quiet

from sdax import (
    AsyncDagTaskProcessor,
    AsyncDagTaskProcessorBuilder,
    AsyncTask,
    SdaxExecutionError,
    SdaxTimeoutError,
    join,
    task_func,
)

LEAK_RUNS = int(os.environ.get("SDAX_LEAK_RUNS", "3000"))
WARMUP = 1000
SLACK = 32 * 1024
"""Bytes the traced memory may grow by over the measured runs, whatever their number."""

MODES = ("ok", "suspend", "fail", "retry", "cancel", "deadline", "budget", "observed")


class Boom(Exception):
    """A phase failure."""


class Ctx:
    """A context object that can be weakly referenced."""

    __slots__ = ("__weakref__", "attempts", "keep", "mode")

    def __init__(self, mode: str, keep: list[object] | None = None) -> None:
        self.mode = mode
        self.attempts = 0
        self.keep = keep


async def pre(ctx: Ctx) -> None:
    if ctx.mode in ("cancel", "deadline"):
        await asyncio.sleep(0)


async def execute(ctx: Ctx) -> None:
    if ctx.mode == "suspend":
        await asyncio.sleep(0)
    elif ctx.mode == "fail":
        raise Boom("execute failed")
    elif ctx.mode == "retry":
        ctx.attempts += 1
        if ctx.attempts == 1:
            raise ConnectionError("try again")
    elif ctx.mode == "interrupt":
        raise KeyboardInterrupt


async def post(ctx: Ctx) -> None:
    if ctx.mode == "budget":
        await asyncio.sleep(0)
    if ctx.keep is not None:
        ctx.keep.append(bytearray(32))  # the deliberate leak of test_memory_check_can_fail


def small_processor() -> AsyncDagTaskProcessor[Ctx, Any]:
    """A -> B -> join -> C, with every phase on A and B."""
    phases = {
        "pre_execute": task_func(pre),
        "execute": task_func(execute, retries=1, initial_delay=0.0),
        "post_execute": task_func(post),
    }
    builder: AsyncDagTaskProcessorBuilder[Ctx, str] = AsyncDagTaskProcessor.builder()
    return (
        builder.add_task(AsyncTask("A", **phases))
        .add_task(AsyncTask("B", **phases), depends_on="A")
        .add_task(join("J"), depends_on="B")
        .add_task(AsyncTask("C", execute=task_func(execute)), depends_on="J")
        .build()
    )


EXPECTED: dict[str, type[BaseException] | None] = {
    "ok": None,
    "suspend": None,
    "fail": SdaxExecutionError,
    "retry": None,
    "cancel": TimeoutError,
    "deadline": SdaxTimeoutError,
    "budget": SdaxExecutionError,
    "observed": None,
    "interrupt": KeyboardInterrupt,
}


async def one_run(processor: AsyncDagTaskProcessor[Ctx, Any], ctx: Ctx) -> None:
    """Run ``processor`` once over ``ctx`` the way its mode says; check how it ended."""
    mode = ctx.mode
    try:
        if mode == "cancel":
            async with asyncio.timeout(0):
                await processor.process_tasks(ctx)
        elif mode == "deadline":
            await processor.process_tasks(ctx, timeout=0)
        elif mode == "budget":
            await processor.process_tasks(ctx, cleanup_timeout=0)
        elif mode == "observed":
            await processor.process_tasks(ctx, observer=Quiet())
        else:
            await processor.process_tasks(ctx)
    except (Exception, KeyboardInterrupt) as exc:
        # The exact public type: a SdaxExecutionError of Exceptions is an
        # instance of its ExceptionGroup variant, so type() alone cannot say it.
        public = SdaxExecutionError if isinstance(exc, SdaxExecutionError) else type(exc)
        assert public is EXPECTED[mode], (mode, exc)
    else:
        assert EXPECTED[mode] is None, mode


async def traced_growth(runs: int, keep: list[object] | None = None) -> tuple[int, int]:
    """Traced bytes after the warm-up and after ``runs`` more runs of one processor."""
    processor = small_processor()
    own = not tracemalloc.is_tracing()
    if own:
        tracemalloc.start()
    try:
        for i in range(WARMUP):
            await one_run(processor, Ctx(MODES[i % len(MODES)]))
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(runs):
            await one_run(processor, Ctx(MODES[i % len(MODES)], keep))
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        if own:
            tracemalloc.stop()
    return before, after


async def test_many_runs_keep_memory_flat() -> None:
    before, after = await traced_growth(LEAK_RUNS)
    print(
        f"\nsdax leaks: {LEAK_RUNS} runs after {WARMUP} warm-up runs: traced memory "
        f"{before} B -> {after} B (growth {after - before} B, slack {SLACK} B)"
    )
    assert after - before < SLACK


async def test_memory_check_can_fail() -> None:
    keep: list[object] = []
    before, after = await traced_growth(2000, keep)
    assert after - before > SLACK, "a leak of one object per run went unnoticed"


# -- the context dies with the run ------------------------------------------------------

Runner = Callable[[AsyncDagTaskProcessor[Ctx, Any], Ctx], Awaitable[None]]


async def run_directly(processor: AsyncDagTaskProcessor[Ctx, Any], ctx: Ctx) -> None:
    await one_run(processor, ctx)


async def run_in_runner(processor: AsyncDagTaskProcessor[Ctx, Any], ctx: Ctx) -> None:
    try:
        async with processor.open(ctx) as runner:
            while await runner.run_next():
                pass
    except (Exception, KeyboardInterrupt) as exc:
        assert EXPECTED[ctx.mode] is not None, exc
    del runner


async def run_as_cancelled_task(processor: AsyncDagTaskProcessor[Ctx, Any], ctx: Ctx) -> None:
    task = asyncio.ensure_future(processor.process_tasks(ctx))
    await asyncio.sleep(0)  # the pre phase is suspended now
    task.cancel()
    await asyncio.wait([task])
    assert task.cancelled()
    del task
    # asyncio's loop holds the finished task until it runs its next callback.
    await asyncio.sleep(0)


async def context_survives(mode: str, runner: Runner, collector: str) -> bool:
    """Whether the context of a finished run is still alive once the caller dropped it.

    ``collector``: ``"enabled"`` (the cyclic collector runs as usual, but is not
    asked to) or ``"disabled"`` (``gc.disable()`` around the run).
    """
    processor = small_processor()
    gc.collect()
    was_enabled = gc.isenabled()
    if collector == "disabled":
        gc.disable()
    try:
        ctx = Ctx(mode)
        ref = weakref.ref(ctx)
        await runner(processor, ctx)
        del ctx
        # A cancelled caller may leave asyncio a wake-up call for a future it
        # stopped awaiting (its CancelledError holds the caller's frames); the
        # loop drops it on its next turn. That is asyncio's, not a cycle.
        await asyncio.sleep(0)
        return ref() is not None
    finally:
        if was_enabled:
            gc.enable()


# "suspend" (a phase call that suspends) and "observed" (an observer, nothing
# suspends) each exercise one kind of engine object that once formed a
# reference cycle with the run; the others combine them with failures,
# cancellations, interrupts, the deadline and the cleanup budget.
MODE_CASES = [
    "ok",
    "suspend",
    "retry",
    "observed",
    "fail",
    "interrupt",
    "cancel",
    "deadline",
    "budget",
]


@pytest.mark.parametrize("collector", ["enabled", "disabled"])
@pytest.mark.parametrize("mode", MODE_CASES)
async def test_context_dies_with_the_run(mode: str, collector: str) -> None:
    assert not await context_survives(mode, run_directly, collector)


@pytest.mark.parametrize("collector", ["enabled", "disabled"])
@pytest.mark.parametrize("mode", MODE_CASES[:2] + MODE_CASES[4:5])
async def test_context_dies_with_the_phase_runner(mode: str, collector: str) -> None:
    assert not await context_survives(mode, run_in_runner, collector)


@pytest.mark.parametrize("collector", ["enabled", "disabled"])
async def test_context_dies_with_a_cancelled_task(collector: str) -> None:
    assert not await context_survives("cancel", run_as_cancelled_task, collector)


async def test_reference_check_can_fail() -> None:
    """A context caught in a cycle of the caller's own making is seen alive."""

    async def run_in_cycle(processor: AsyncDagTaskProcessor[Ctx, Any], ctx: Ctx) -> None:
        await one_run(processor, ctx)
        ctx.keep = [ctx]  # ctx -> list -> ctx

    assert await context_survives("ok", run_in_cycle, "disabled")


async def test_processor_keeps_no_context() -> None:
    processor = small_processor()
    refs = []
    for mode in ("ok", "suspend", "retry", "observed"):
        ctx = Ctx(mode)
        refs.append(weakref.ref(ctx))
        await one_run(processor, ctx)
        del ctx
    gc.collect()
    assert [r() for r in refs] == [None] * len(refs)
    assert processor.analysis.total_tasks == 4
