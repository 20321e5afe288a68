"""Concurrency limits: per run (``max_concurrency``) and shared (``CapacityLimit``).

Phase functions here count themselves in and out of a :class:`Gauge`, so a test can
check the peak number of calls that ran at once. Calls suspend with ``sleep(0)`` or
wait for events; the few real sleeps only let a timeout pass, and no test asserts on
durations.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any

import pytest
from _support import HANG_GUARD, Quiet, build_dag, no_new_pending_tasks

from sdax import (
    AsyncDagTaskProcessor,
    AsyncTask,
    CapacityLimit,
    RetryableException,
    SdaxExecutionError,
    SdaxTaskGroup,
    SdaxTimeoutError,
    TaskFunction,
    task_func,
    task_group_func,
    task_sync_func,
)
from sdax.observe import RunObserver

PhaseFn = Callable[[Any], Awaitable[None]]


class Gauge:
    """Counts the calls inside it: how many now, the peak, and how many entered."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.entered = 0

    def enter(self) -> None:
        self.now += 1
        self.entered += 1
        self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        self.now -= 1


def counted(
    *gauges: Gauge, steps: int = 3, log: list[Hashable] | None = None, name: Hashable = None
) -> PhaseFn:
    """A phase function that enters the gauges, suspends ``steps`` times, and leaves."""

    async def fn(ctx: Any) -> None:
        for g in gauges:
            g.enter()
        if log is not None:
            log.append(name)
        try:
            for _ in range(steps):
                await asyncio.sleep(0)
        finally:
            for g in gauges:
                g.leave()

    return fn


async def guarded(awaitable: Awaitable[None]) -> None:
    """Await ``awaitable``; fail instead of hanging, and on leaked tasks."""
    with no_new_pending_tasks():
        async with asyncio.timeout(HANG_GUARD):
            await awaitable


async def wait_until(condition: Callable[[], bool]) -> None:
    """Let the loop run until ``condition()`` holds."""
    async with asyncio.timeout(HANG_GUARD):
        while not condition():
            await asyncio.sleep(0)


def fan_out(
    width: int,
    pre: Callable[[str], TaskFunction[Any] | None],
    execute: Callable[[str], TaskFunction[Any] | None],
    post: Callable[[str], TaskFunction[Any] | None],
) -> AsyncDagTaskProcessor[Any, Any]:
    """``root -> m0..m{width-1} -> sink``, each task's phases made by the callables."""
    builder = AsyncDagTaskProcessor.builder()

    def add(name: str, deps: Iterable[str]) -> None:
        builder.add_task(
            AsyncTask(name, pre_execute=pre(name), execute=execute(name), post_execute=post(name)),
            depends_on=tuple(deps),
        )

    add("root", ())
    middle = [f"m{i}" for i in range(width)]
    for name in middle:
        add(name, ("root",))
    add("sink", middle)
    return builder.build()


OBSERVED = pytest.mark.parametrize("observed", [False, True], ids=["plain", "observed"])


def observer_for(observed: bool) -> RunObserver | None:
    return Quiet() if observed else None


# -- per run: max_concurrency -----------------------------------------------------------------


@OBSERVED
@pytest.mark.parametrize("limit", [1, 2, 5])
async def test_max_concurrency_caps_every_phase_of_the_run(limit: int, observed: bool) -> None:
    gauges = {"pre": Gauge(), "exec": Gauge(), "post": Gauge()}
    overall = Gauge()
    processor = fan_out(
        10,
        lambda n: task_func(counted(gauges["pre"], overall)),
        lambda n: task_func(counted(gauges["exec"], overall)),
        lambda n: task_func(counted(gauges["post"], overall)),
    )
    await guarded(
        processor.process_tasks(object(), max_concurrency=limit, observer=observer_for(observed))
    )
    # The fan-out has 10 pres/posts ready at once, and 12 executes.
    assert gauges["pre"].peak == min(limit, 10)
    assert gauges["exec"].peak == min(limit, 12)
    assert gauges["post"].peak == min(limit, 10)
    assert overall.peak == limit
    assert [g.entered for g in gauges.values()] == [12, 12, 12]


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"max_concurrency": None}, {"max_concurrency": 10**9}],
    ids=["absent", "none", "huge"],
)
async def test_no_or_a_huge_max_concurrency_does_not_limit(kwargs: dict[str, Any]) -> None:
    gauge = Gauge()
    processor = fan_out(10, lambda n: None, lambda n: task_func(counted(gauge)), lambda n: None)
    await guarded(processor.process_tasks(object(), **kwargs))
    assert gauge.peak == 12


async def test_max_concurrency_applies_to_each_run_on_its_own() -> None:
    everywhere = Gauge()
    per_run: dict[int, Gauge] = {}

    async def work(ctx: int) -> None:
        gauge = per_run.setdefault(ctx, Gauge())
        gauge.enter()
        everywhere.enter()
        for _ in range(3):
            await asyncio.sleep(0)
        everywhere.leave()
        gauge.leave()

    builder = AsyncDagTaskProcessor.builder()
    for i in range(6):
        builder.add_task(AsyncTask(i, execute=task_func(work)))
    processor = builder.build()
    await guarded(_gather(processor.process_tasks(ctx, max_concurrency=2) for ctx in range(3)))
    assert [per_run[ctx].peak for ctx in range(3)] == [2, 2, 2]
    assert everywhere.peak == 6  # the runs do not share one budget


async def _gather(awaitables: Iterable[Awaitable[None]]) -> None:
    await asyncio.gather(*awaitables)


async def test_queued_calls_start_in_the_order_they_became_ready() -> None:
    started: list[Hashable] = []
    names = ["e", "b", "d", "a", "c"]
    builder = AsyncDagTaskProcessor.builder()
    for name in names:
        builder.add_task(AsyncTask(name, execute=task_func(counted(log=started, name=name))))
    await guarded(builder.build().process_tasks(object(), max_concurrency=1))
    assert started == names  # executes become ready in declaration order


async def test_retrying_calls_stay_within_max_concurrency() -> None:
    gauge = Gauge()
    attempts: dict[str, int] = {}

    def flaky(name: str) -> TaskFunction[Any]:
        async def fn(ctx: Any) -> None:
            gauge.enter()
            try:
                await asyncio.sleep(0)
                attempts[name] = attempts.get(name, 0) + 1
                if attempts[name] == 1:
                    raise RetryableException(name)
            finally:
                gauge.leave()

        return task_func(fn, retries=1, initial_delay=0)

    processor = fan_out(8, lambda n: None, flaky, lambda n: None)
    await guarded(processor.process_tasks(object(), max_concurrency=3))
    assert gauge.peak == 3
    assert set(attempts.values()) == {2}


async def test_a_call_waiting_for_max_concurrency_gets_its_whole_timeout() -> None:
    # "a" holds the only place longer than "b"'s timeout; "b" waits for it, then finishes
    # at once: it fails only if its timeout started while it waited.
    order: list[str] = []

    async def slow(ctx: Any) -> None:
        order.append("a start")
        await asyncio.sleep(0.3)
        order.append("a end")

    async def quick(ctx: Any) -> None:
        order.append("b start")
        await asyncio.sleep(0)

    processor = build_dag(
        AsyncTask("a", execute=task_func(slow)),
        AsyncTask("b", execute=task_func(quick, timeout=0.1)),
    )
    await guarded(processor.process_tasks(object(), max_concurrency=1))
    assert order == ["a start", "a end", "b start"]


async def test_max_concurrency_holds_for_runs_driven_phase_by_phase() -> None:
    gauges = [Gauge(), Gauge(), Gauge()]
    processor = fan_out(
        6,
        lambda n: task_func(counted(gauges[0])),
        lambda n: task_func(counted(gauges[1])),
        lambda n: task_func(counted(gauges[2])),
    )
    async with asyncio.timeout(HANG_GUARD):
        async with processor.open(object(), max_concurrency=2) as runner:
            while await runner.run_next():
                pass
    assert [g.peak for g in gauges] == [2, 2, 2]
    assert [g.entered for g in gauges] == [8, 8, 8]


async def test_after_a_failing_pre_the_queued_pres_never_start() -> None:
    started: list[Hashable] = []
    posts: list[Hashable] = []

    async def fails(ctx: Any) -> None:
        started.append("a")
        await asyncio.sleep(0)
        raise ValueError("a")

    def pre(name: str) -> TaskFunction[Any]:
        if name == "a":
            return task_func(fails)
        return task_func(counted(log=started, name=name))

    builder = AsyncDagTaskProcessor.builder()
    for name in "abcd":
        builder.add_task(
            AsyncTask(
                name, pre_execute=pre(name), post_execute=task_func(counted(log=posts, name=name))
            )
        )
    with pytest.raises(SdaxExecutionError) as info:
        await guarded(builder.build().process_tasks(object(), max_concurrency=1))
    assert [type(e) for e in info.value.leaf_exceptions()] == [ValueError]
    assert started == ["a"]
    assert posts == ["a"]  # only the task whose pre started is cleaned up


async def test_cancelling_a_run_drops_the_calls_queued_by_max_concurrency() -> None:
    started: list[Hashable] = []
    posts: list[Hashable] = []
    hold = asyncio.Event()

    async def holds(ctx: Any) -> None:
        started.append("a")
        await hold.wait()

    builder = AsyncDagTaskProcessor.builder()
    for name in "abc":
        fn = holds if name == "a" else counted(log=started, name=name)
        builder.add_task(
            AsyncTask(
                name,
                pre_execute=task_func(fn),
                post_execute=task_func(counted(log=posts, name=name)),
            )
        )
    run = asyncio.create_task(builder.build().process_tasks(object(), max_concurrency=1))
    await wait_until(lambda: started == ["a"])
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await guarded(run)
    assert started == ["a"]
    assert posts == ["a"]


@pytest.mark.parametrize(
    ("value", "error"),
    [(0, ValueError), (-1, ValueError), (1.5, TypeError), ("2", TypeError), (True, TypeError)],
)
async def test_bad_max_concurrency_is_refused(value: Any, error: type[Exception]) -> None:
    called: list[str] = []

    async def fn(ctx: Any) -> None:
        called.append("x")

    processor = build_dag(AsyncTask("x", execute=task_func(fn)))
    with pytest.raises(error, match="max_concurrency"):
        await processor.process_tasks(object(), max_concurrency=value)
    with pytest.raises(error, match="max_concurrency"):
        processor.open(object(), max_concurrency=value)
    assert called == []


# -- CapacityLimit on its own -----------------------------------------------------------------


def test_capacity_limit_counts_its_slots() -> None:
    limit = CapacityLimit("db", 2)
    assert (limit.name, limit.capacity, limit.in_use, limit.waiting) == ("db", 2, 0, 0)
    assert limit.try_acquire() and limit.try_acquire()
    assert not limit.try_acquire()
    assert limit.in_use == 2
    assert "db" in repr(limit) and "in_use=2" in repr(limit)
    limit.release()
    limit.release()
    assert limit.in_use == 0
    with pytest.raises(RuntimeError, match="released more often than acquired"):
        limit.release()


async def test_capacity_limit_serves_waiters_in_arrival_order() -> None:
    limit = CapacityLimit("db", 1)
    await limit.acquire()
    served: list[int] = []

    async def take(i: int) -> None:
        await limit.acquire()
        served.append(i)
        limit.release()

    arrivals = [3, 0, 4, 1, 2]
    tasks = []
    for i in arrivals:
        tasks.append(asyncio.create_task(take(i)))
        await wait_until(lambda: limit.waiting == len(tasks))
    limit.release()
    await guarded(_gather(tasks))
    assert served == arrivals
    assert (limit.in_use, limit.waiting) == (0, 0)


async def test_a_freed_slot_goes_to_the_longest_waiter_not_to_a_newcomer() -> None:
    limit = CapacityLimit("db", 2)
    await limit.acquire()
    await limit.acquire()
    waiter = asyncio.create_task(limit.acquire())
    await wait_until(lambda: limit.waiting == 1)
    limit.release()  # handed to the waiter before it even runs again
    assert limit.in_use == 2
    assert not limit.try_acquire()
    await guarded(waiter)
    assert (limit.in_use, limit.waiting) == (2, 0)


async def test_a_waiter_cancelled_while_waiting_leaves_the_queue() -> None:
    limit = CapacityLimit("db", 1)
    await limit.acquire()
    waiter = asyncio.create_task(limit.acquire())
    await wait_until(lambda: limit.waiting == 1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert (limit.in_use, limit.waiting) == (1, 0)
    limit.release()
    assert limit.in_use == 0


async def test_a_waiter_cancelled_just_after_being_handed_a_slot_passes_it_on() -> None:
    limit = CapacityLimit("db", 1)
    await limit.acquire()
    first = asyncio.create_task(limit.acquire())
    second = asyncio.create_task(limit.acquire())
    await wait_until(lambda: limit.waiting == 2)
    limit.release()  # the slot now belongs to ``first``...
    first.cancel()  # ...which is cancelled before it could resume
    with pytest.raises(asyncio.CancelledError):
        await first
    await guarded(second)
    assert (limit.in_use, limit.waiting) == (1, 0)
    limit.release()
    assert limit.in_use == 0


@pytest.mark.parametrize(
    ("capacity", "error"),
    [
        (0, ValueError),
        (-3, ValueError),
        (1.0, TypeError),
        ("2", TypeError),
        (True, TypeError),
        (None, TypeError),
    ],
)
def test_bad_capacity_is_refused(capacity: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match=r"'db'.*capacity"):
        CapacityLimit("db", capacity)


@pytest.mark.parametrize(
    "make",
    [
        lambda fn, limits: task_func(fn, limits=limits),
        lambda fn, limits: task_group_func(fn, limits=limits),
        lambda fn, limits: task_sync_func(lambda ctx: None, limits=limits),
        lambda fn, limits: TaskFunction(fn, limits=limits),
    ],
    ids=["task_func", "task_group_func", "task_sync_func", "TaskFunction"],
)
@pytest.mark.parametrize("limits", ["db", 3, None, [CapacityLimit("ok", 1), "db"]])
def test_limits_must_be_capacity_limits(make: Callable[..., Any], limits: Any) -> None:
    async def fn(ctx: Any) -> None:
        return None

    with pytest.raises(TypeError, match="limits"):
        make(fn, limits)


def test_limits_are_kept_as_a_tuple() -> None:
    async def fn(ctx: Any) -> None:
        return None

    db, api = CapacityLimit("db", 1), CapacityLimit("api", 1)
    assert task_func(fn).limits == ()
    assert task_func(fn, limits=db).limits == (db,)
    assert task_func(fn, limits=[db, api]).limits == (db, api)
    assert task_func(fn, limits=iter([api])).limits == (api,)


# -- CapacityLimit in runs --------------------------------------------------------------------


def limited_fn(limit: CapacityLimit, gauge: Gauge, steps: int = 3) -> PhaseFn:
    """Checks, inside the call, that the limit holds; counts the call in the gauge."""

    async def fn(ctx: Any) -> None:
        gauge.enter()
        try:
            assert limit.in_use <= limit.capacity
            assert gauge.now <= limit.capacity, "more calls inside than the limit has slots"
            for _ in range(steps):
                await asyncio.sleep(0)
        finally:
            gauge.leave()

    return fn


@OBSERVED
async def test_capacity_holds_across_concurrent_runs_of_one_processor(observed: bool) -> None:
    db = CapacityLimit("db", 3)
    gauge = Gauge()

    def limited(name: str) -> TaskFunction[Any]:
        return task_func(limited_fn(db, gauge), limits=db)

    processor = fan_out(6, limited, limited, limited)
    await guarded(
        _gather(
            processor.process_tasks(object(), observer=observer_for(observed)) for _ in range(5)
        )
    )
    assert gauge.peak == 3
    assert gauge.entered == 5 * 8 * 3
    assert (db.in_use, db.waiting) == (0, 0)


async def test_capacity_is_shared_by_processors_that_use_the_same_limit() -> None:
    db = CapacityLimit("db", 2)
    gauge = Gauge()
    first = fan_out(
        4, lambda n: None, lambda n: task_func(limited_fn(db, gauge), limits=db), lambda n: None
    )
    second = fan_out(
        4,
        lambda n: task_func(limited_fn(db, gauge), limits=db),
        lambda n: None,
        lambda n: task_group_func(_group_of(limited_fn(db, gauge)), limits=db),
    )
    runs = [first.process_tasks(object()) for _ in range(3)]
    runs += [second.process_tasks(object()) for _ in range(3)]
    await guarded(_gather(runs))
    assert gauge.peak == 2
    assert gauge.entered == 6 * 6 * 2 - 3 * 6  # first: 6 executes; second: 6 pres + 6 posts
    assert (db.in_use, db.waiting) == (0, 0)


def _group_of(fn: PhaseFn) -> Callable[[Any, SdaxTaskGroup], Awaitable[None]]:
    async def grouped(ctx: Any, group: SdaxTaskGroup) -> None:
        group.create_task(fn(ctx))

    return grouped


async def test_runs_waiting_for_a_limit_are_served_in_arrival_order() -> None:
    db = CapacityLimit("db", 1)
    release = asyncio.Event()
    served: list[Hashable] = []

    async def fn(ctx: Hashable) -> None:
        served.append(ctx)
        if ctx == "holder":
            await release.wait()

    processor = build_dag(AsyncTask("t", execute=task_func(fn, limits=db)))
    runs = [asyncio.create_task(processor.process_tasks("holder"))]
    await wait_until(lambda: db.in_use == 1)
    arrivals = [5, 2, 7, 0, 3]
    for i, ctx in enumerate(arrivals):
        runs.append(asyncio.create_task(processor.process_tasks(ctx)))
        await wait_until(lambda i=i: db.waiting == i + 1)  # type: ignore[misc]
    release.set()
    await guarded(_gather(runs))
    assert served == ["holder", *arrivals]


def _waiting_scenario(
    db: CapacityLimit, holder: PhaseFn, *, waiters: int = 2, **holder_options: Any
) -> tuple[AsyncDagTaskProcessor[Any, Any], list[Hashable]]:
    """A holder call and ``waiters`` calls queued behind it on ``db`` (capacity 1)."""
    entered: list[Hashable] = []
    builder = AsyncDagTaskProcessor.builder()
    builder.add_task(AsyncTask("holder", execute=task_func(holder, limits=db, **holder_options)))
    for i in range(waiters):
        builder.add_task(
            AsyncTask(f"w{i}", execute=task_func(counted(log=entered, name=f"w{i}"), limits=db))
        )
    return builder.build(), entered


async def test_a_failing_call_gives_its_slot_back() -> None:
    db = CapacityLimit("db", 1)

    async def holder(ctx: Any) -> None:
        await wait_until(lambda: db.waiting == 2)
        raise ValueError("boom")

    processor, entered = _waiting_scenario(db, holder)
    with pytest.raises(SdaxExecutionError) as info:
        await guarded(processor.process_tasks(object()))
    assert [type(e) for e in info.value.leaf_exceptions()] == [ValueError]
    assert entered == ["w0", "w1"]
    assert (db.in_use, db.waiting) == (0, 0)


async def test_a_timed_out_call_gives_its_slot_back() -> None:
    db = CapacityLimit("db", 1)

    async def holder(ctx: Any) -> None:
        await asyncio.Event().wait()

    processor, entered = _waiting_scenario(db, holder, timeout=0.05)
    with pytest.raises(SdaxExecutionError) as info:
        await guarded(processor.process_tasks(object()))
    assert [type(e) for e in info.value.leaf_exceptions()] == [TimeoutError]
    assert entered == ["w0", "w1"]
    assert (db.in_use, db.waiting) == (0, 0)


async def test_cancelling_a_run_frees_its_slot_and_its_place_in_the_queue() -> None:
    db = CapacityLimit("db", 1)

    async def holder(ctx: Any) -> None:
        await asyncio.Event().wait()

    processor, entered = _waiting_scenario(db, holder)
    run = asyncio.create_task(processor.process_tasks(object()))
    await wait_until(lambda: db.waiting == 2)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await guarded(run)
    assert entered == []
    assert (db.in_use, db.waiting) == (0, 0)


async def test_a_run_deadline_frees_slots_and_queue_places() -> None:
    db = CapacityLimit("db", 1)

    async def holder(ctx: Any) -> None:
        await asyncio.Event().wait()

    processor, entered = _waiting_scenario(db, holder)
    with pytest.raises(SdaxTimeoutError):
        await guarded(processor.process_tasks(object(), timeout=0.05))
    assert entered == []
    assert (db.in_use, db.waiting) == (0, 0)


async def test_a_failing_pre_frees_the_slots_its_siblings_held_or_waited_for() -> None:
    db = CapacityLimit("db", 1)
    entered: list[Hashable] = []

    async def holds(ctx: Any) -> None:
        await asyncio.Event().wait()

    async def fails(ctx: Any) -> None:
        await wait_until(lambda: db.waiting == 2)
        raise ValueError("pre failed")

    builder = AsyncDagTaskProcessor.builder()
    builder.add_task(AsyncTask("holder", pre_execute=task_func(holds, limits=db)))
    for name in ("w0", "w1"):
        builder.add_task(
            AsyncTask(name, pre_execute=task_func(counted(log=entered, name=name), limits=db))
        )
    builder.add_task(AsyncTask("fails", pre_execute=task_func(fails)))
    with pytest.raises(SdaxExecutionError) as info:
        await guarded(builder.build().process_tasks(object()))
    assert [type(e) for e in info.value.leaf_exceptions()] == [ValueError]
    assert entered == []
    assert (db.in_use, db.waiting) == (0, 0)


async def test_posts_cut_by_the_cleanup_budget_free_their_slots() -> None:
    db = CapacityLimit("db", 1)

    async def holder(ctx: Any) -> None:
        await asyncio.Event().wait()

    entered: list[Hashable] = []
    builder = AsyncDagTaskProcessor.builder()
    builder.add_task(AsyncTask("holder", post_execute=task_func(holder, limits=db)))
    for name in ("w0", "w1"):
        builder.add_task(
            AsyncTask(name, post_execute=task_func(counted(log=entered, name=name), limits=db))
        )
    with pytest.raises(SdaxExecutionError) as info:
        await guarded(builder.build().process_tasks(object(), cleanup_timeout=0.05))
    leaves = info.value.leaf_exceptions()
    assert leaves and all(isinstance(e, TimeoutError) for e in leaves)
    assert (db.in_use, db.waiting) == (0, 0)


async def test_a_call_gives_its_slot_back_between_retries() -> None:
    db = CapacityLimit("db", 1)
    order: list[str] = []

    async def flaky(ctx: Any) -> None:
        order.append("flaky")
        if len(order) == 1:
            await wait_until(lambda: db.waiting == 1)
            raise RetryableException("first attempt")

    async def other(ctx: Any) -> None:
        order.append("other")
        await asyncio.sleep(0)

    processor = build_dag(
        AsyncTask("flaky", execute=task_func(flaky, limits=db, retries=1, initial_delay=0.01)),
        AsyncTask("other", execute=task_func(other, limits=db)),
    )
    await guarded(processor.process_tasks(object()))
    # "other" waited for the first attempt; the retry had to queue behind it.
    assert order == ["flaky", "other", "flaky"]
    assert (db.in_use, db.waiting) == (0, 0)


async def test_a_waiting_call_timeout_starts_only_once_it_holds_its_slot() -> None:
    db = CapacityLimit("db", 1)
    order: list[str] = []

    async def slow(ctx: Any) -> None:
        order.append("slow start")
        await asyncio.sleep(0.3)
        order.append("slow end")

    async def quick(ctx: Any) -> None:
        order.append("quick start")
        await asyncio.sleep(0)

    processor = build_dag(
        AsyncTask("slow", execute=task_func(slow, limits=db)),
        AsyncTask("quick", execute=task_func(quick, limits=db, timeout=0.1)),
    )
    await guarded(processor.process_tasks(object()))
    assert order == ["slow start", "slow end", "quick start"]


async def test_a_limit_shared_by_a_chain_and_a_fan_out_never_deadlocks() -> None:
    db = CapacityLimit("db", 1)
    gauge = Gauge()
    log: list[tuple[str, str]] = []

    def fn(name: str, phase: str) -> TaskFunction[Any]:
        inner = limited_fn(db, gauge)

        async def logged(ctx: Any) -> None:
            log.append((name, phase))
            await inner(ctx)

        return task_func(logged, limits=db)

    builder = AsyncDagTaskProcessor.builder()

    def add(name: str, *deps: str) -> None:
        builder.add_task(
            AsyncTask(name, fn(name, "pre"), fn(name, "exec"), fn(name, "post")), depends_on=deps
        )

    add("a")
    add("b", "a")
    add("c", "b")
    add("root")
    for i in range(4):
        add(f"f{i}", "root")
    add("sink", *(f"f{i}" for i in range(4)), "c")
    processor = builder.build()
    await guarded(_gather(processor.process_tasks(object()) for _ in range(3)))
    assert gauge.peak == 1
    assert gauge.entered == 3 * 9 * 3
    assert (db.in_use, db.waiting) == (0, 0)


async def test_several_limits_on_one_function_are_all_held_and_never_deadlock() -> None:
    db, api = CapacityLimit("db", 2), CapacityLimit("api", 1)
    gauges = {"db": Gauge(), "api": Gauge()}
    both_held: list[bool] = []

    async def uses_both(ctx: Any) -> None:
        both_held.append(db.in_use >= 1 and api.in_use >= 1)
        gauges["db"].enter()
        gauges["api"].enter()
        await asyncio.sleep(0)
        gauges["api"].leave()
        gauges["db"].leave()

    async def uses_db(ctx: Any) -> None:
        gauges["db"].enter()
        await asyncio.sleep(0)
        gauges["db"].leave()

    builder = AsyncDagTaskProcessor.builder()
    for i in range(3):
        # The same two limits declared in both orders: they are taken in one fixed order.
        builder.add_task(AsyncTask(f"ab{i}", execute=task_func(uses_both, limits=(db, api))))
        builder.add_task(AsyncTask(f"ba{i}", execute=task_func(uses_both, limits=[api, db])))
        builder.add_task(AsyncTask(f"d{i}", execute=task_func(uses_db, limits=db)))
    processor = builder.build()
    await guarded(_gather(processor.process_tasks(object()) for _ in range(4)))
    assert both_held == [True] * 24
    assert gauges["api"].peak == 1
    assert gauges["db"].peak == 2
    assert (db.in_use, db.waiting, api.in_use, api.waiting) == (0, 0, 0, 0)


async def test_a_task_group_function_holds_its_slot_until_its_subtasks_end() -> None:
    db = CapacityLimit("db", 1)
    gauge = Gauge()

    async def sub(ctx: Any) -> None:
        gauge.enter()
        for _ in range(3):
            await asyncio.sleep(0)
        gauge.leave()

    async def spawns(ctx: Any, group: SdaxTaskGroup) -> None:
        group.create_task(sub(ctx))
        group.create_task(sub(ctx))

    builder = AsyncDagTaskProcessor.builder()
    for name in "abc":
        builder.add_task(AsyncTask(name, execute=task_group_func(spawns, limits=db)))
    await guarded(builder.build().process_tasks(object()))
    assert gauge.peak == 2  # the two subtasks of one call, never more
    assert gauge.entered == 6


async def test_an_inline_sync_function_takes_a_slot() -> None:
    db = CapacityLimit("db", 1)
    seen: list[int] = []
    hold = asyncio.Event()

    async def holder(ctx: Any) -> None:
        await hold.wait()

    def sync(ctx: Any) -> None:
        seen.append(db.in_use)

    processor = build_dag(
        AsyncTask("holder", execute=task_func(holder, limits=db)),
        AsyncTask("sync", execute=task_sync_func(sync, limits=db)),
    )
    run = asyncio.create_task(processor.process_tasks(object()))
    await wait_until(lambda: db.waiting == 1)
    assert seen == []  # the sync function waits for the slot like any other call
    hold.set()
    await guarded(run)
    assert seen == [1]
    assert (db.in_use, db.waiting) == (0, 0)
