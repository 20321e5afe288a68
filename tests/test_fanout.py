"""``sdax.fan_out``: one run of a template per item, at most N items open at once.

Every test counts what matters for cleanup: each item's resource is opened in
the template's pre and closed in its post, and :class:`Pool` checks that every
opened one was closed exactly once, and how many were open at once. The items'
work waits on events or ``asyncio.sleep(0)`` to interleave; no test measures time.
"""

from __future__ import annotations

import asyncio
import itertools
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from _support import HANG_GUARD, guarded

import sdax
from sdax import (
    AsyncDagTaskProcessor,
    AsyncTask,
    FanOut,
    FanOutItem,
    FanOutResult,
    SdaxExecutionError,
    SdaxTimeoutError,
    fan_out,
    task,
    task_func,
)
from sdax.testing import explore_async

pytestmark = pytest.mark.usefixtures("engine_core")

Work = Callable[[Any], Awaitable[None]]


@dataclass
class Pool:
    """Resources opened by the items' pres and closed by their posts."""

    open: set[int] = field(default_factory=set)
    opened: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    most_open: int = 0

    def acquire(self, index: int) -> None:
        assert index not in self.open, f"item {index} opened twice at once"
        self.open.add(index)
        self.opened.append(index)
        self.most_open = max(self.most_open, len(self.open))

    def release(self, index: int) -> None:
        self.open.remove(index)  # KeyError: closed without being open
        self.closed.append(index)

    def check_released(self) -> None:
        """Every opened resource was closed, once each."""
        assert not self.open, f"left open: {sorted(self.open)}"
        assert sorted(self.opened) == sorted(self.closed)


async def nothing(ctx: Any) -> None:
    return None


def per_item(pool: Pool, work: Work = nothing, *, index: Callable[[Any], int] | None = None) -> Any:
    """A template of one task: pre opens the item's resource, execute works, post closes it."""
    key = index or (lambda ctx: ctx.index)

    async def pre(ctx: Any) -> None:
        pool.acquire(key(ctx))

    async def post(ctx: Any) -> None:
        pool.release(key(ctx))

    return (
        AsyncDagTaskProcessor.builder()
        .add_task(
            task(
                "item",
                pre_execute=task_func(pre),
                execute=task_func(work),
                post_execute=task_func(post),
            )
        )
        .build()
    )


def numbers(n: int) -> Callable[[Any], range]:
    return lambda ctx: range(n)


# -- results, order, concurrency, laziness ---------------------------------------------------


async def test_results_are_the_item_contexts_in_item_order() -> None:
    pool = Pool()

    async def work(ctx: FanOutItem[str, int]) -> None:
        for _ in range(5 - ctx.item):  # later items end first
            await asyncio.sleep(0)
        ctx.value = ctx.item * 10

    fan = fan_out(per_item(pool, work), over=numbers(5), max_concurrency=5)
    result = await guarded(fan("parent"))
    assert isinstance(result, FanOutResult)
    assert [r.index for r in result] == [0, 1, 2, 3, 4]
    assert [r.value for r in result] == [0, 10, 20, 30, 40]
    assert {r.parent for r in result} == {"parent"}
    assert result.items == 5 and result.failures == {}
    assert pool.closed == [4, 3, 2, 1, 0]
    pool.check_released()


@pytest.mark.parametrize("limit", [1, 3, 10])
async def test_at_most_max_concurrency_items_are_open_at_once(limit: int) -> None:
    pool = Pool()
    pulled_while_open: list[int] = []

    def items(ctx: Any) -> Iterator[int]:
        for i in range(25):
            pulled_while_open.append(len(pool.open))
            yield i

    async def work(ctx: Any) -> None:
        for _ in range(ctx.index % 4):
            await asyncio.sleep(0)

    fan = fan_out(per_item(pool, work), over=items, max_concurrency=limit)
    result = await guarded(fan(None))
    assert len(result) == 25
    assert pool.most_open == limit
    # An item is pulled only when a slot is free.
    assert max(pulled_while_open) < limit
    pool.check_released()


async def test_items_are_pulled_only_when_a_slot_is_free() -> None:
    pool = Pool()
    pulled = itertools.count()
    go = asyncio.Event()

    def endless(ctx: Any) -> Iterator[int]:
        for i in itertools.count():
            next(pulled)
            yield i

    async def work(ctx: Any) -> None:
        if ctx.index == 40:
            raise ValueError("stop here")
        await (go.wait() if ctx.index == 0 else asyncio.sleep(0))

    async def release_first() -> None:
        while len(pool.opened) < 41:
            await asyncio.sleep(0)
        go.set()

    fan = fan_out(per_item(pool, work), over=endless, max_concurrency=4)
    releaser = asyncio.ensure_future(release_first())
    with pytest.raises(SdaxExecutionError):
        await guarded(fan(None))
    await releaser
    # An endless generator, read no further than the stop: 41 items started
    # (on the public path of 3.11 items begin a loop turn after they were
    # pulled: up to 3 more may have begun before item 40 failed).
    assert 41 <= next(pulled) <= 44
    assert 41 <= len(pool.opened) <= next(pulled)
    pool.check_released()


async def test_an_async_iterable_and_an_awaitable_iterable_are_sources() -> None:
    pool = Pool()

    async def agen(ctx: Any) -> AsyncIterator[str]:
        for word in ("a", "b", "c"):
            await asyncio.sleep(0)
            yield word

    async def later(ctx: Any) -> list[str]:
        await asyncio.sleep(0)
        return ["x", "y"]

    template = per_item(pool)
    first = await guarded(fan_out(template, over=agen, max_concurrency=2)(None))
    second = await guarded(fan_out(template, over=later, max_concurrency=2)(None))
    assert [r.item for r in first] == ["a", "b", "c"]
    assert [r.item for r in second] == ["x", "y"]
    pool.check_released()


async def test_a_fan_out_is_a_phase_as_it_is_and_through_task_func() -> None:
    # Executes of one run run concurrently: each fan-out has its own pool.
    pools = [Pool(), Pool(), Pool()]
    seen: list[Any] = []

    async def work(ctx: FanOutItem[dict[str, Any], int]) -> None:
        ctx.parent["sum"] += ctx.item

    direct, wrapped, called = (
        fan_out(per_item(pool, work), over=lambda ctx: ctx["items"], max_concurrency=3)
        for pool in pools
    )

    async def gather(ctx: dict[str, Any]) -> None:
        seen.append(await called(ctx))

    assert isinstance(direct, FanOut) and direct.max_concurrency == 3
    outer = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("direct", execute=direct))
        .add_task(AsyncTask("wrapped", execute=task_func(wrapped, timeout=HANG_GUARD)))
        .add_task(AsyncTask("gather", execute=task_func(gather)))
        .build()
    )
    ctx = {"items": [1, 2, 3, 4], "sum": 0}
    await guarded(outer.process_tasks(ctx))
    assert ctx["sum"] == 30
    assert [r.item for r in seen[0]] == [1, 2, 3, 4]
    for pool in pools:
        assert len(pool.closed) == 4
        pool.check_released()


async def test_the_template_is_not_rebuilt_per_call_or_item() -> None:
    pool = Pool()
    template = per_item(pool)
    fan = fan_out(template, over=numbers(3), max_concurrency=2)
    plan = template.analysis.plan
    await guarded(fan(None))
    await guarded(fan(None))
    assert fan.template is template and template.analysis.plan is plan
    pool.check_released()


async def test_a_custom_context_and_a_shared_parent_context() -> None:
    @dataclass
    class Page:
        url: str
        client: str
        body: str = ""

    async def fetch(page: Page) -> None:
        page.body = f"{page.client}:{page.url}"

    template = (
        AsyncDagTaskProcessor.builder().add_task(task("fetch", execute=task_func(fetch))).build()
    )
    fan = fan_out(
        template,
        over=lambda ctx: ctx["urls"],
        context=lambda ctx, url: Page(url, ctx["client"]),
        max_concurrency=2,
    )
    pages = await guarded(fan({"urls": ["/a", "/b"], "client": "c1"}))
    assert [p.body for p in pages] == ["c1:/a", "c1:/b"]

    async def count(ctx: dict[str, int]) -> None:
        ctx["calls"] += 1

    counter = (
        AsyncDagTaskProcessor.builder().add_task(task("count", execute=task_func(count))).build()
    )
    shared = {"calls": 0}
    same = fan_out(counter, over=numbers(4), context=lambda ctx, item: ctx, max_concurrency=4)
    result = await guarded(same(shared))
    assert shared["calls"] == 4 and all(r is shared for r in result)


async def test_keep_results_false_keeps_no_result() -> None:
    pool = Pool()
    fan = fan_out(per_item(pool), over=numbers(50), max_concurrency=5, keep_results=False)
    result = await guarded(fan(None))
    assert list(result) == [] and result.items == 50
    assert len(pool.closed) == 50
    pool.check_released()


# -- failures ----------------------------------------------------------------------------------


class ItemError(Exception):
    pass


def failing_at(
    bad: set[int], errors: dict[int, Exception], hold: asyncio.Event | None = None
) -> Work:
    async def work(ctx: Any) -> None:
        if ctx.index in bad:
            errors[ctx.index] = error = ItemError(f"item {ctx.index}")
            raise error
        if hold is not None and ctx.index == 0:
            await hold.wait()
        await asyncio.sleep(0)

    return work


async def test_stop_lets_running_items_end_and_starts_no_more() -> None:
    pool = Pool()
    errors: dict[int, Exception] = {}
    hold = asyncio.Event()
    ended: list[int] = []

    async def work(ctx: Any) -> None:
        await failing_at({2}, errors, hold)(ctx)
        ended.append(ctx.index)

    async def post(ctx: Any) -> None:
        pool.release(ctx.index)
        if ctx.index == 2:
            hold.set()  # item 0 still runs: it goes on to its end

    async def pre(ctx: Any) -> None:
        pool.acquire(ctx.index)

    template = (
        AsyncDagTaskProcessor.builder()
        .add_task(task("item", pre_execute=task_func(pre), execute=task_func(work),
                       post_execute=task_func(post)))
        .build()
    )  # fmt: skip
    fan = fan_out(template, over=numbers(100), max_concurrency=3)
    with pytest.raises(SdaxExecutionError) as info:
        await guarded(fan(None))
    assert info.value.leaf_exceptions() == [errors[2]]
    assert info.value.leaf_exceptions()[0] is errors[2]
    assert "fan-out item 2" in errors[2].__notes__
    assert 0 in ended  # not cancelled by the failure
    assert sorted(pool.opened) == [0, 1, 2]
    pool.check_released()


async def test_skip_records_failures_and_the_others_go_on() -> None:
    pool = Pool()
    errors: dict[int, Exception] = {}
    fan = fan_out(
        per_item(pool, failing_at({1, 4}, errors)),
        over=numbers(6),
        max_concurrency=2,
        on_item_failure="skip",
    )
    result = await guarded(fan(None))
    assert [r.index for r in result] == [0, 2, 3, 5]
    assert sorted(result.failures) == [1, 4]
    for index, failure in result.failures.items():
        assert isinstance(failure, SdaxExecutionError)
        assert failure.leaf_exceptions() == [errors[index]]
        assert f"fan-out item {index}" in errors[index].__notes__
    assert len(pool.opened) == 6
    pool.check_released()


async def test_collect_runs_every_item_then_fails_with_all_leaves_in_item_order() -> None:
    pool = Pool()
    errors: dict[int, Exception] = {}
    fan = fan_out(
        per_item(pool, failing_at({5, 1, 3}, errors)),
        over=numbers(8),
        max_concurrency=3,
        on_item_failure="collect",
    )
    with pytest.raises(SdaxExecutionError) as info:
        await guarded(fan(None))
    leaves = info.value.leaf_exceptions()
    assert leaves == [errors[1], errors[3], errors[5]]
    assert all(a is b for a, b in zip(leaves, [errors[1], errors[3], errors[5]], strict=True))
    assert len(pool.opened) == 8
    pool.check_released()


@pytest.mark.parametrize("mode", ["skip", "collect"])
async def test_more_failures_than_max_item_failures_stop_the_fan_out(mode: str) -> None:
    pool = Pool()
    errors: dict[int, Exception] = {}
    fan = fan_out(
        per_item(pool, failing_at({2, 4, 6, 8}, errors)),
        over=numbers(50),
        max_concurrency=1,
        on_item_failure=mode,  # type: ignore[arg-type]  # parametrized
        max_item_failures=2,
    )
    with pytest.raises(SdaxExecutionError) as info:
        await guarded(fan(None))
    assert info.value.leaf_exceptions() == [errors[2], errors[4], errors[6]]
    assert len(pool.opened) == 7  # items 0..6: none after the third failure
    pool.check_released()


async def test_skip_within_max_item_failures_returns() -> None:
    errors: dict[int, Exception] = {}
    pool = Pool()
    fan = fan_out(
        per_item(pool, failing_at({2, 4}, errors)),
        over=numbers(6),
        max_concurrency=2,
        on_item_failure="skip",
        max_item_failures=2,
    )
    result = await guarded(fan(None))
    assert sorted(result.failures) == [2, 4] and len(result) == 4
    pool.check_released()


async def test_an_item_retry_reruns_from_the_first_pre_after_its_posts() -> None:
    trace: list[str] = []
    contexts: list[Any] = []

    async def pre(ctx: Any) -> None:
        contexts.append(ctx)
        trace.append(f"pre {ctx.item}")

    async def work(ctx: Any) -> None:
        trace.append(f"work {ctx.item}")
        if trace.count(f"work {ctx.item}") < 3:
            await asyncio.sleep(0)
            raise ConnectionError("flaky")

    async def post(ctx: Any) -> None:
        await asyncio.sleep(0)
        trace.append(f"post {ctx.item}")

    template = (
        AsyncDagTaskProcessor.builder()
        .add_task(task("t", pre_execute=task_func(pre), execute=task_func(work),
                       post_execute=task_func(post)))
        .build()
    )  # fmt: skip
    fan = fan_out(template, over=lambda ctx: ["a"], max_concurrency=1, item_retries=2)
    result = await guarded(fan(None))
    assert trace == ["pre a", "work a", "post a"] * 3
    assert len({id(c) for c in contexts}) == 3  # a fresh context per attempt
    assert result[0] is contexts[-1]


async def test_an_item_is_not_retried_for_a_failure_that_is_not_retryable() -> None:
    pool = Pool()
    errors: dict[int, Exception] = {}
    fan = fan_out(
        per_item(pool, failing_at({0}, errors)),
        over=numbers(1),
        max_concurrency=1,
        item_retries=3,
    )
    with pytest.raises(SdaxExecutionError) as info:
        await guarded(fan(None))
    assert info.value.leaf_exceptions() == [errors[0]]
    assert pool.opened == [0]
    fan = fan_out(
        per_item(pool, failing_at({0}, errors)),
        over=numbers(1),
        max_concurrency=1,
        item_retries=2,
        item_retryable_exceptions=(ItemError,),
    )
    with pytest.raises(SdaxExecutionError):
        await guarded(fan(None))
    assert pool.opened == [0, 0, 0, 0]
    pool.check_released()


async def test_an_interrupt_from_an_item_stops_every_item_and_is_raised() -> None:
    pool = Pool()
    interrupt = KeyboardInterrupt()

    async def work(ctx: Any) -> None:
        if ctx.index == 3:
            raise interrupt
        await asyncio.Event().wait()  # only a cancellation ends it

    fan = fan_out(per_item(pool, work), over=numbers(20), max_concurrency=5)
    with pytest.raises(KeyboardInterrupt) as info:
        await guarded(fan(None))
    assert info.value is interrupt
    # No item after the interrupt (item 4 was pulled before it only where
    # items begin a loop turn after they are pulled: 3.11's public path).
    assert {0, 1, 2, 3} <= set(pool.opened) <= {0, 1, 2, 3, 4}
    pool.check_released()


# -- cancellation and deadlines ----------------------------------------------------------------


async def slow(ctx: Any) -> None:
    await asyncio.sleep(0.01)


async def test_a_deadline_around_a_fan_out_of_1000_items_releases_every_started_item() -> None:
    pool = Pool()
    fan = fan_out(per_item(pool, slow), over=numbers(1000), max_concurrency=10)
    with pytest.raises(TimeoutError):
        await guarded(asyncio.wait_for(fan(None), 0.05))
    assert 0 < len(pool.opened) < 1000
    pool.check_released()


async def test_a_run_timeout_over_a_fan_out_task_releases_every_started_item() -> None:
    pool = Pool()
    fan = fan_out(per_item(pool, slow), over=numbers(1000), max_concurrency=10)
    outer = AsyncDagTaskProcessor.builder().add_task(AsyncTask("fan", execute=fan)).build()
    with pytest.raises(SdaxTimeoutError):
        await guarded(outer.process_tasks(None, timeout=0.05))
    assert 0 < len(pool.opened) < 1000
    pool.check_released()


def stuck_posts_template(
    pool: Pool, posts: list[int], work: Callable[[Any], Awaitable[None]]
) -> AsyncDagTaskProcessor[Any, Any]:
    """Items acquire in pre, run ``work``, release in a post that never ends by itself."""

    async def pre(ctx: Any) -> None:
        pool.acquire(ctx.index)

    async def stuck_post(ctx: Any) -> None:
        posts.append(ctx.index)
        pool.release(ctx.index)
        await asyncio.Event().wait()

    return (
        AsyncDagTaskProcessor.builder()
        .add_task(task("t", pre_execute=task_func(pre), execute=task_func(work),
                       post_execute=task_func(stuck_post)))
        .build(cleanup_grace=0.01)
    )  # fmt: skip


async def test_a_cancel_during_the_items_posts_bounds_them_by_the_templates_grace() -> None:
    pool = Pool()
    posts: list[int] = []
    template = stuck_posts_template(pool, posts, nothing)
    call = asyncio.ensure_future(fan_out(template, over=numbers(100), max_concurrency=4)(None))
    while len(posts) < 4:
        await asyncio.sleep(0)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await guarded(call)
    assert sorted(posts) == [0, 1, 2, 3]
    pool.check_released()


async def test_a_cancel_repeated_while_the_items_clean_up_reaches_them() -> None:
    # The first cancel lands in the items' executes; their posts start after
    # it and would wait for ever, but each has the template's grace from its
    # start. A second cancel while they wait must not lose any of them.
    pool = Pool()
    posts: list[int] = []

    async def work(ctx: Any) -> None:
        await asyncio.Event().wait()

    template = stuck_posts_template(pool, posts, work)
    call = asyncio.ensure_future(fan_out(template, over=numbers(100), max_concurrency=4)(None))
    while len(pool.opened) < 4:
        await asyncio.sleep(0)
    call.cancel()
    while len(posts) < 4:
        await asyncio.sleep(0)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await guarded(call)
    assert sorted(posts) == [0, 1, 2, 3]
    pool.check_released()


async def test_a_second_cancel_during_the_cleanup_still_waits_for_every_item() -> None:
    pool = Pool()
    in_post = asyncio.Event()

    async def pre(ctx: Any) -> None:
        pool.acquire(ctx.index)

    async def post(ctx: Any) -> None:
        in_post.set()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        pool.release(ctx.index)

    template = (
        AsyncDagTaskProcessor.builder()
        .add_task(task("t", pre_execute=task_func(pre), execute=task_func(slow),
                       post_execute=task_func(post)))
        .build(cleanup_grace=1.0)
    )  # fmt: skip
    call = asyncio.ensure_future(fan_out(template, over=numbers(100), max_concurrency=4)(None))
    while len(pool.opened) < 4:
        await asyncio.sleep(0)
    call.cancel()
    await in_post.wait()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await guarded(call)
    assert len(pool.opened) == 4
    pool.check_released()


# -- nesting -----------------------------------------------------------------------------------


async def test_a_template_may_hold_a_fan_out() -> None:
    pool = Pool()
    inner = fan_out(
        per_item(pool, index=lambda ctx: ctx.parent.index * 100 + ctx.index),
        over=lambda ctx: range(ctx.item),
        max_concurrency=2,
    )
    outer_template = (
        AsyncDagTaskProcessor.builder().add_task(AsyncTask("inner", execute=inner)).build()
    )
    fan = fan_out(outer_template, over=lambda ctx: [3, 1, 2], max_concurrency=2)
    result = await guarded(fan(None))
    assert [r.item for r in result] == [3, 1, 2]
    assert sorted(pool.opened) == [0, 1, 2, 100, 200, 201]
    pool.check_released()


async def test_a_nested_failure_carries_both_indices() -> None:
    errors: dict[int, Exception] = {}
    inner = fan_out(per_item(Pool(), failing_at({1}, errors)), over=numbers(3), max_concurrency=1)
    outer_template = (
        AsyncDagTaskProcessor.builder().add_task(AsyncTask("inner", execute=inner)).build()
    )
    fan = fan_out(outer_template, over=numbers(2), max_concurrency=1)
    with pytest.raises(SdaxExecutionError) as info:
        await guarded(fan(None))
    (leaf,) = info.value.leaf_exceptions()
    assert leaf is errors[1]
    assert "fan-out item 1" in leaf.__notes__ and "fan-out item 0" in leaf.__notes__


# -- bad input ---------------------------------------------------------------------------------


def test_bad_options_fail_when_the_fan_out_is_made() -> None:
    template = per_item(Pool())
    over = numbers(1)
    with pytest.raises(ValueError, match="max_concurrency must be >= 1, got 0"):
        fan_out(template, over=over, max_concurrency=0)
    with pytest.raises(TypeError, match="max_concurrency must be an int"):
        fan_out(template, over=over, max_concurrency=True)
    with pytest.raises(TypeError, match=r"built processor.*call \.build\(\)"):
        fan_out(AsyncDagTaskProcessor.builder(), over=over, max_concurrency=1)  # type: ignore[arg-type]  # the mistake tested
    with pytest.raises(TypeError, match="built processor"):
        fan_out(object(), over=over, max_concurrency=1)  # type: ignore[arg-type]  # the mistake tested
    with pytest.raises(TypeError, match=r"^fan_out\(\) over= must be callable, got \[1, 2\]$"):
        fan_out(template, over=[1, 2], max_concurrency=1)  # type: ignore[arg-type]  # the mistake tested
    with pytest.raises(TypeError, match=r"^fan_out\(\) context= must be callable, got 42$"):
        fan_out(template, over=over, context=42, max_concurrency=1)  # type: ignore[arg-type]  # the mistake tested
    with pytest.raises(ValueError, match="on_item_failure must be one of"):
        fan_out(template, over=over, max_concurrency=1, on_item_failure="ignore")  # type: ignore[arg-type]  # the mistake tested
    with pytest.raises(ValueError, match="max_item_failures applies to"):
        fan_out(template, over=over, max_concurrency=1, max_item_failures=3)
    with pytest.raises(ValueError, match="max_item_failures must be >= 0"):
        fan_out(template, over=over, max_concurrency=1, on_item_failure="skip",
                max_item_failures=-1)  # fmt: skip
    with pytest.raises(ValueError, match="item_retries must be >= 0"):
        fan_out(template, over=over, max_concurrency=1, item_retries=-1)
    with pytest.raises(ValueError, match="needs a non-empty item_retryable_exceptions"):
        fan_out(template, over=over, max_concurrency=1, item_retries=1,
                item_retryable_exceptions=())  # fmt: skip
    with pytest.raises(ValueError, match="item_retry_delay must be >= 0"):
        fan_out(template, over=over, max_concurrency=1, item_retry_delay=-1)
    with pytest.raises(TypeError, match="keep_results must be a bool"):
        fan_out(template, over=over, max_concurrency=1, keep_results=1)  # type: ignore[arg-type]  # the mistake tested


async def test_over_returning_a_non_iterable_fails_the_fan_out_clearly() -> None:
    fan = fan_out(per_item(Pool()), over=lambda ctx: 42, max_concurrency=1)
    with pytest.raises(SdaxExecutionError) as info:
        await guarded(fan(None))
    (leaf,) = info.value.leaf_exceptions()
    assert isinstance(leaf, TypeError)
    assert "over(ctx) must return an iterable or an async iterable, got int 42" in str(leaf)


async def test_over_raising_fails_the_fan_out_with_that_exception() -> None:
    error = LookupError("no items")

    def over(ctx: Any) -> list[int]:
        raise error

    fan = fan_out(per_item(Pool()), over=over, max_concurrency=1, on_item_failure="skip")
    with pytest.raises(SdaxExecutionError) as info:
        await guarded(fan(None))
    assert info.value.leaf_exceptions() == [error]
    assert "fan-out: over(ctx) raised" in error.__notes__


@pytest.mark.parametrize("mode", ["stop", "skip", "collect"])
async def test_an_iterator_raising_halfway_stops_and_releases_every_started_item(
    mode: str,
) -> None:
    pool = Pool()
    error = OSError("the source broke")
    hold = asyncio.Event()

    async def items(ctx: Any) -> AsyncIterator[int]:
        for i in range(5):
            yield i
        while len(pool.opened) < 5:  # the items began
            await asyncio.sleep(0)
        hold.set()
        raise error

    async def work(ctx: Any) -> None:
        await hold.wait()

    fan = fan_out(per_item(pool, work), over=items, max_concurrency=10, on_item_failure=mode)  # type: ignore[arg-type]  # parametrized
    with pytest.raises(SdaxExecutionError) as info:
        await guarded(fan(None))
    assert info.value.leaf_exceptions() == [error]
    assert "fan-out: the items' iterator raised after 5 items" in error.__notes__
    assert sorted(pool.opened) == [0, 1, 2, 3, 4]
    pool.check_released()


async def test_a_context_that_raises_stops_and_releases_every_started_item() -> None:
    pool = Pool()
    error = ValueError("bad item")
    hold = asyncio.Event()

    def make(ctx: Any, item: int) -> FanOutItem[Any, int]:
        if item == 3:
            hold.set()
            raise error
        return FanOutItem(ctx, item, item)

    async def items(ctx: Any) -> AsyncIterator[int]:
        for i in range(10):
            while len(pool.opened) < i:  # each item begins before the next is pulled
                await asyncio.sleep(0)
            yield i

    async def work(ctx: Any) -> None:
        await hold.wait()

    fan = fan_out(per_item(pool, work), over=items, context=make, max_concurrency=10)
    with pytest.raises(SdaxExecutionError) as info:
        await guarded(fan(None))
    assert info.value.leaf_exceptions() == [error]
    assert "fan-out: context(ctx, item) raised for item 3" in error.__notes__
    assert sorted(pool.opened) == [0, 1, 2]
    pool.check_released()


class ThrowWhen:
    """Await a coroutine; at its first wait once ``ready()``, throw ``exc`` into it."""

    def __init__(self, coro: Awaitable[Any], exc: BaseException, ready: Callable[[], bool]) -> None:
        self._coro = coro
        self._exc = exc
        self._ready = ready

    def __await__(self) -> Generator[Any, Any, Any]:
        steps = self._coro.__await__()
        thrown = False
        try:
            out = next(steps)
            while True:
                if not thrown and self._ready():
                    thrown = True
                    out = steps.throw(self._exc)  # what it waited on is abandoned
                    continue
                try:
                    sent = yield out
                except BaseException as exc:
                    out = steps.throw(exc)
                else:
                    out = steps.send(sent)
        except StopIteration as stop:
            return stop.value


class Source:
    """``over``: a sync or async generator of 100 items that logs the task its ``finally`` ran in.

    The test keeps each generator it made: only the fan-out can close it
    (neither reference counting nor the loop's async-generator finalizer).
    """

    def __init__(self, kind: str, fail_on_close: BaseException | None = None) -> None:
        self.kind = kind
        self.fail_on_close = fail_on_close
        self.made: list[Any] = []
        self.called_in: list[asyncio.Task[Any] | None] = []
        self.closed_in: list[asyncio.Task[Any] | None] = []

    def _closed(self) -> None:
        self.closed_in.append(asyncio.current_task())
        if self.fail_on_close is not None:
            raise self.fail_on_close

    def __call__(self, ctx: Any) -> Any:
        self.called_in.append(asyncio.current_task())

        def sync_items() -> Iterator[int]:
            try:
                yield from range(100)
            finally:
                self._closed()

        async def async_items() -> AsyncIterator[int]:
            try:
                for i in range(100):
                    yield i
            finally:
                self._closed()

        items = sync_items() if self.kind == "sync" else async_items()
        self.made.append(items)
        return items


WAYS = ["exhausted", "failure", "context", "cancel", "interrupt", "thrown"]


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_the_items_iterator_is_closed_in_the_fan_outs_task_before_it_ends(
    kind: str, way: str
) -> None:
    pool = Pool()
    source = Source(kind)
    error = ItemError("the fan-out's own wait got this")
    interrupt = KeyboardInterrupt()
    stop_at = 2

    async def work(ctx: Any) -> None:
        if ctx.index == stop_at and way == "failure":
            raise error
        if ctx.index == stop_at and way == "interrupt":
            raise interrupt
        if way == "cancel" or (way == "thrown" and ctx.index > 0):
            await asyncio.Event().wait()  # only a cancellation ends it
        await asyncio.sleep(0)

    def make(ctx: Any, item: int) -> FanOutItem[Any, int]:
        if item == stop_at and way == "context":
            raise error
        return FanOutItem(ctx, item, item)

    fan = fan_out(per_item(pool, work), over=source, context=make, max_concurrency=2)
    call: Awaitable[Any] = fan(None)
    if way == "thrown":
        # Item 0 ends at once and wakes the fan-out, so that it waits again
        # with item 1 open, wherever items begin (eagerly, or a turn later).
        call = ThrowWhen(call, error, lambda: 1 in pool.opened)
    if way == "cancel":
        task = asyncio.ensure_future(call)
        while len(pool.opened) < 2:
            await asyncio.sleep(0)
        task.cancel()
        call = task
    expected: type[BaseException] = {
        "exhausted": BaseException,
        "failure": SdaxExecutionError,
        "context": SdaxExecutionError,
        "cancel": asyncio.CancelledError,
        "interrupt": KeyboardInterrupt,
        "thrown": ItemError,
    }[way]
    raised: BaseException | None = None
    try:
        await guarded(call)
    except expected as exc:
        raised = exc
    if way == "exhausted":
        assert raised is None and len(pool.opened) == 100
    elif way == "thrown":
        assert raised is error and 1 in pool.opened
    elif way == "interrupt":
        assert raised is interrupt
    elif way in ("failure", "context"):
        assert isinstance(raised, SdaxExecutionError)
        assert raised.leaf_exceptions() == [error]
    else:
        assert isinstance(raised, asyncio.CancelledError)
    # Closed once, in the task that ran the fan-out, before the fan-out ended.
    assert len(source.called_in) == 1
    assert source.closed_in == source.called_in
    pool.check_released()


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_an_iterator_that_raises_when_closed_fails_the_fan_out(kind: str) -> None:
    pool = Pool()
    broken = OSError("the cursor would not close")
    source = Source(kind, fail_on_close=broken)
    errors: dict[int, Exception] = {}
    fan = fan_out(per_item(pool, failing_at({1}, errors)), over=source, max_concurrency=1)
    with pytest.raises(SdaxExecutionError) as info:
        await guarded(fan(None))
    assert info.value.leaf_exceptions() == [errors[1], broken]
    assert "fan-out: closing the items' iterator raised" in broken.__notes__
    assert source.closed_in == source.called_in
    pool.check_released()


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_an_iterator_that_raises_when_closed_after_a_cancel_keeps_the_cancel(
    kind: str,
) -> None:
    pool = Pool()
    broken = OSError("the cursor would not close")
    source = Source(kind, fail_on_close=broken)
    reported: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda loop, context: reported.append(context))

    async def work(ctx: Any) -> None:
        await asyncio.Event().wait()

    fan = fan_out(per_item(pool, work), over=source, max_concurrency=2)
    call = asyncio.ensure_future(fan(None))
    try:
        while len(pool.opened) < 2:
            await asyncio.sleep(0)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await guarded(call)
    finally:
        loop.set_exception_handler(previous)
    assert [context["exception"] for context in reported] == [broken]
    assert "fan-out: closing the items' iterator raised" in broken.__notes__
    pool.check_released()


async def test_the_fault_explorer_finds_nothing_broken_in_a_fan_out_phase() -> None:
    # It throws its faults into the fan-out's own wait: the fan-out must then
    # cancel its running items and wait for their posts, as for a cancel.
    class Ctx:
        def __init__(self) -> None:
            self.open = 0

    async def pre(item: FanOutItem[Ctx, int]) -> None:
        item.parent.open += 1
        await asyncio.sleep(0.001)

    async def post(item: FanOutItem[Ctx, int]) -> None:
        await asyncio.sleep(0.001)
        item.parent.open -= 1

    template = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("i", pre_execute=task_func(pre), post_execute=task_func(post)))
        .build()
    )
    fan = fan_out(template, over=numbers(5), max_concurrency=2)
    for phase in (fan, task_func(fan, timeout=5)):
        processor = AsyncDagTaskProcessor.builder().add_task(AsyncTask("f", execute=phase)).build()
        result = await explore_async(processor, Ctx, lambda ctx: ctx.open == 0)
        assert result.ok, result.report()


@pytest.mark.parametrize("awaited", [False, True])
@pytest.mark.parametrize("text", ["abc", b"abc", bytearray(b"abc")])
async def test_a_string_is_no_source_of_items(text: str | bytes, awaited: bool) -> None:
    pool = Pool()

    async def later(ctx: Any) -> str | bytes:
        return text

    fan = fan_out(per_item(pool), over=later if awaited else lambda ctx: text, max_concurrency=2)
    with pytest.raises(SdaxExecutionError) as info:
        await guarded(fan(None))
    (leaf,) = info.value.leaf_exceptions()
    assert isinstance(leaf, TypeError)
    assert str(leaf).startswith(
        "fan-out: over(ctx) must not return a str, bytes or bytearray (that would be one "
        f"item per character), got {type(text).__name__} "
    )
    assert pool.opened == []


def test_the_public_classes_are_at_home_in_sdax() -> None:
    for cls in (FanOut, FanOutItem, FanOutResult):
        assert cls.__module__ == "sdax" and getattr(sdax, cls.__name__) is cls
    assert repr(FanOutItem(None, "x" * 200, 7)).startswith("FanOutItem(index=7, item='xxx")
    assert len(repr(FanOutItem(None, "x" * 200, 7))) < 100


async def test_nothing_of_an_item_is_kept_after_its_post() -> None:
    class Ctx:
        __slots__ = ("__weakref__", "item")

        def __init__(self, item: int) -> None:
            self.item = item

    made: list[weakref.ref[Ctx]] = []
    alive_when_pulled: list[int] = []

    def items(ctx: Any) -> Iterator[int]:
        for i in range(300):
            alive_when_pulled.append(sum(ref() is not None for ref in made))
            yield i

    def make(ctx: Any, item: int) -> Ctx:
        made.append(weakref.ref(context := Ctx(item)))
        return context

    async def work(ctx: Ctx) -> None:
        if ctx.item % 2:
            await asyncio.sleep(0)

    fan = fan_out(
        per_item(Pool(), work, index=lambda ctx: ctx.item),
        over=items,
        context=make,
        max_concurrency=5,
        keep_results=False,
    )
    await guarded(fan(None))
    # No cycle collection needed: an item's context is freed with its end.
    assert max(alive_when_pulled) <= 5
    assert all(ref() is None for ref in made)
