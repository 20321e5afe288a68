"""A caller's cancellation or the run's deadline bounds the whole cleanup, wherever it lands.

Once the run was cancelled from outside (in pre, in execute or in the
cleanup) or its deadline passed, every owed post still starts exactly once,
and each is cut if it has not ended ``cleanup_grace`` after it started (a
post running at the cancellation: after the cancellation). So the caller
regains control even when posts that start after the cancellation hang. A
run that nothing stopped never cuts a post; ``math.inf`` shields without
bound; with ``cleanup_timeout`` the budget bounds the cleanup, not the grace.

Nothing here measures time: the grace is short, and a generous guard around
each run only keeps a broken engine from hanging the suite. What the tests
check is the order of the calls and which of them were cut (a hang that was
interrupted records the CancelledError it got).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Iterable
from typing import Any

import pytest

from sdax import AsyncDagTaskProcessor, AsyncTask, SdaxTimeoutError, task_func
from sdax._engine import Run
from sdax._engine._run import Bound
from sdax.tasks import TaskFunction
from sdax.testing import explore, have_virtual_time

pytestmark = pytest.mark.usefixtures("engine_core")  # on both twins of the core

GUARD = 30.0  # fails a test only if the run hangs
GRACE = 0.01


class Calls:
    """Phase functions that log their start, their end, and a cancellation that cut them."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.hanging = asyncio.Event()  # set when a hanging function starts waiting
        self.release = asyncio.Event()  # ends every hang (never set unless a test does)

    def call(self, label: str, hang: bool = False, **options: Any) -> TaskFunction[Any]:
        async def phase(ctx: Any) -> None:
            self.log.append(label)
            if hang:
                self.hanging.set()
                try:
                    await self.release.wait()
                except asyncio.CancelledError:
                    self.log.append(f"{label} cancelled")
                    raise
            self.log.append(f"{label} done")

        return task_func(phase, **options)

    def processor(
        self, hangs: Iterable[str], chain: int = 1, **build: Any
    ) -> AsyncDagTaskProcessor[Any, str]:
        """Tasks ``t0`` <- ``t1`` <- ... (each depends on the one before), every phase.

        ``hangs`` names the calls that wait until cancelled, e.g. ``"t0.exec"``.
        """
        hang = set(hangs)
        builder = AsyncDagTaskProcessor[Any, str].builder()
        for i in range(chain):
            name = f"t{i}"
            builder.add_task(
                AsyncTask(
                    name,
                    **{
                        field: self.call(f"{name}.{short}", f"{name}.{short}" in hang)
                        for field, short in (
                            ("pre_execute", "pre"),
                            ("execute", "exec"),
                            ("post_execute", "post"),
                        )
                    },
                ),
                depends_on=() if i == 0 else (f"t{i - 1}",),
            )
        return builder.build(**build)


async def guarded(run: Awaitable[Any], calls: Calls) -> BaseException | None:
    """Await ``run``; fail the test if it does not end within the guard."""
    task = asyncio.ensure_future(run)
    done, _ = await asyncio.wait({task}, timeout=GUARD)
    if not done:
        calls.release.set()  # let the hung posts end, so that nothing outlives the test
        await asyncio.wait({task}, timeout=GUARD)
        pytest.fail("the caller did not regain control")
    try:
        task.result()
    except BaseException as exc:  # a CancelledError too: what reached the caller
        return exc
    return None


async def cancel_when_hanging(run: asyncio.Task[Any], calls: Calls) -> None:
    await asyncio.wait_for(calls.hanging.wait(), GUARD)
    calls.hanging.clear()
    run.cancel()


PHASES = ["t0.pre", "t0.pre done", "t0.exec", "t0.exec done", "t0.post"]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("t0.pre", ["t0.pre", "t0.pre cancelled", "t0.post", "t0.post cancelled"]),
        ("t0.exec", [*PHASES[:3], "t0.exec cancelled", "t0.post", "t0.post cancelled"]),
        ("t0.post", [*PHASES, "t0.post cancelled"]),
    ],
    ids=["in-pre", "in-execute", "in-post"],
)
async def test_a_cancel_anywhere_bounds_a_hanging_post(where: str, expected: list[str]) -> None:
    calls = Calls()
    processor = calls.processor([where, "t0.post"], cleanup_grace=GRACE)
    run = asyncio.ensure_future(processor.process_tasks(None))
    await cancel_when_hanging(run, calls)
    error = await guarded(run, calls)
    assert isinstance(error, asyncio.CancelledError)
    assert calls.log == expected


async def test_an_asyncio_timeout_around_the_run_bounds_a_post_that_starts_after_it() -> None:
    calls = Calls()
    processor = calls.processor(["t0.exec", "t0.post"], cleanup_grace=GRACE)

    async def caller() -> None:
        async with asyncio.timeout(0.01):
            await processor.process_tasks(None)

    error = await guarded(caller(), calls)
    assert type(error) is TimeoutError
    assert calls.log == [*PHASES[:3], "t0.exec cancelled", "t0.post", "t0.post cancelled"]


async def test_the_deadline_bounds_a_post_that_starts_after_it() -> None:
    calls = Calls()
    processor = calls.processor(["t0.exec", "t0.post"], cleanup_grace=GRACE)
    error = await guarded(processor.process_tasks(None, timeout=0.01), calls)
    assert isinstance(error, SdaxTimeoutError)
    assert error.failures == []  # neither the cancelled execute nor the cut post failed
    assert calls.log == [*PHASES[:3], "t0.exec cancelled", "t0.post", "t0.post cancelled"]


@pytest.mark.parametrize(
    ("hangs", "posts"),
    [
        (
            ["t2.post"],
            ["t2.post", "t2.post cancelled", "t1.post", "t1.post done", "t0.post", "t0.post done"],
        ),
        (
            ["t0.post", "t1.post", "t2.post"],
            [
                "t2.post",
                "t2.post cancelled",
                "t1.post",
                "t1.post cancelled",
                "t0.post",
                "t0.post cancelled",
            ],
        ),
    ],
    ids=["downstream-hangs", "every-post-hangs"],
)
async def test_a_chain_of_posts_after_a_cancel_starts_in_order_and_ends(
    hangs: list[str], posts: list[str]
) -> None:
    calls = Calls()
    processor = calls.processor(["t2.exec", *hangs], chain=3, cleanup_grace=GRACE)
    run = asyncio.ensure_future(processor.process_tasks(None))
    await cancel_when_hanging(run, calls)
    error = await guarded(run, calls)
    assert isinstance(error, asyncio.CancelledError)
    assert [entry for entry in calls.log if ".post" in entry] == posts
    for post in ("t0.post", "t1.post", "t2.post"):
        assert calls.log.count(post) == 1  # each owed post started once


async def test_the_grace_covers_the_retries_of_a_post() -> None:
    calls = Calls()
    attempts: list[str] = []

    async def flaky_post(ctx: Any) -> None:
        attempts.append("post")
        raise ConnectionError("the rollback failed; retry in a while")

    processor = (
        AsyncDagTaskProcessor[Any, str]
        .builder()
        .add_task(
            AsyncTask(
                "t0",
                execute=calls.call("t0.exec", hang=True),
                post_execute=task_func(flaky_post, retries=3, initial_delay=GUARD),
            )
        )
        .build(cleanup_grace=GRACE)
    )
    run = asyncio.ensure_future(processor.process_tasks(None))
    await cancel_when_hanging(run, calls)
    error = await guarded(run, calls)  # cut while it waits for its first retry
    assert isinstance(error, asyncio.CancelledError)
    assert attempts == ["post"]


async def test_a_cancel_in_pre_bounds_the_posts_of_every_started_pre() -> None:
    calls = Calls()
    processor = calls.processor(["t1.pre", "t0.post", "t1.post"], chain=2, cleanup_grace=GRACE)
    run = asyncio.ensure_future(processor.process_tasks(None))
    await cancel_when_hanging(run, calls)
    error = await guarded(run, calls)
    assert isinstance(error, asyncio.CancelledError)
    assert calls.log == [
        "t0.pre",
        "t0.pre done",
        "t1.pre",
        "t1.pre cancelled",
        "t1.post",
        "t1.post cancelled",
        "t0.post",
        "t0.post cancelled",
    ]


async def test_infinity_still_shields_posts_that_start_after_the_cancel() -> None:
    calls = Calls()
    processor = calls.processor(["t0.exec", "t0.post"], cleanup_grace=math.inf)
    run = asyncio.ensure_future(processor.process_tasks(None))
    await cancel_when_hanging(run, calls)  # cancels the execute
    await asyncio.wait_for(calls.hanging.wait(), GUARD)  # the post started and waits
    for _ in range(20):
        await asyncio.sleep(0)
    assert not run.done()
    calls.release.set()
    error = await guarded(run, calls)
    assert isinstance(error, asyncio.CancelledError)
    assert calls.log[-2:] == ["t0.post", "t0.post done"]


async def test_with_a_cleanup_budget_the_grace_does_not_cut() -> None:
    calls = Calls()
    waits: list[int] = []

    async def slow_post(ctx: Any) -> None:
        for turn in range(5):  # each wait would be cut at once by a grace of 0
            await asyncio.sleep(0)
            waits.append(turn)

    processor = (
        AsyncDagTaskProcessor[Any, str]
        .builder()
        .add_task(
            AsyncTask(
                "t0", execute=calls.call("t0.exec", hang=True), post_execute=task_func(slow_post)
            )
        )
        .build(cleanup_grace=0)
    )
    run = asyncio.ensure_future(processor.process_tasks(None, cleanup_timeout=GUARD))
    await cancel_when_hanging(run, calls)
    error = await guarded(run, calls)
    assert isinstance(error, asyncio.CancelledError)
    assert waits == [0, 1, 2, 3, 4]


async def test_a_run_nothing_stopped_never_cuts_a_post() -> None:
    calls = Calls()
    waits: list[int] = []

    async def slow_post(ctx: Any) -> None:
        for turn in range(3):
            await asyncio.sleep(0.001 * turn)  # longer than a grace of 0
            waits.append(turn)

    processor = (
        AsyncDagTaskProcessor[Any, str]
        .builder()
        .add_task(AsyncTask("t0", execute=calls.call("t0.exec"), post_execute=task_func(slow_post)))
        .build(cleanup_grace=0)
    )
    assert await guarded(processor.process_tasks(None), calls) is None
    assert waits == [0, 1, 2]


# -- the phase runner -----------------------------------------------------------


async def drive(processor: AsyncDagTaskProcessor[Any, str]) -> list[bool]:
    results = []
    async with processor.open(None) as runner:
        while True:
            results.append(await runner.run_next())
            if not results[-1]:
                return results


@pytest.mark.parametrize("where", ["t0.pre", "t0.exec", "t0.post"])
async def test_a_cancelled_runner_driver_bounds_the_posts(where: str) -> None:
    calls = Calls()
    processor = calls.processor([where, "t0.post"], cleanup_grace=GRACE)
    run = asyncio.ensure_future(drive(processor))
    await cancel_when_hanging(run, calls)
    error = await guarded(run, calls)
    assert isinstance(error, asyncio.CancelledError)
    assert calls.log[-2:] == ["t0.post", "t0.post cancelled"]
    assert calls.log.count("t0.post") == 1


async def test_a_cancel_of_the_async_with_body_between_phases_bounds_the_posts() -> None:
    calls = Calls()
    processor = calls.processor(["t0.post"], cleanup_grace=GRACE)
    between = asyncio.Event()

    async def body() -> None:
        async with processor.open(None) as runner:
            assert await runner.run_next()  # pre
            between.set()
            await asyncio.Event().wait()  # the cancellation lands here, not in the run

    run = asyncio.ensure_future(body())
    await asyncio.wait_for(between.wait(), GUARD)
    run.cancel()
    error = await guarded(run, calls)
    assert isinstance(error, asyncio.CancelledError)
    assert calls.log == ["t0.pre", "t0.pre done", "t0.post", "t0.post cancelled"]


@pytest.mark.parametrize("where", ["t0.exec", "t0.post"])
async def test_a_cancelled_closer_stops_the_phase_another_task_drives(where: str) -> None:
    calls = Calls()
    processor = calls.processor([where, "t0.post"], cleanup_grace=GRACE)
    runner = processor.open(None)

    async def driver() -> list[bool]:
        results = []
        while True:
            results.append(await runner.run_next())
            if not results[-1]:
                return results

    driving = asyncio.ensure_future(driver())
    await asyncio.wait_for(calls.hanging.wait(), GUARD)
    calls.hanging.clear()
    closer = asyncio.ensure_future(runner.aclose())
    for _ in range(3):
        await asyncio.sleep(0)
    assert not closer.done()  # it waits for the phase in progress
    closer.cancel()
    error = await guarded(closer, calls)
    assert isinstance(error, asyncio.CancelledError)
    assert await guarded(driving, calls) is None  # the driver was not cancelled
    assert driving.result()[-1] is False
    assert calls.log.count("t0.post") == 1
    assert calls.log[-2:] == ["t0.post", "t0.post cancelled"]
    if where == "t0.exec":
        assert "t0.exec cancelled" in calls.log


async def test_the_runner_deadline_bounds_the_posts() -> None:
    calls = Calls()
    processor = calls.processor(["t0.exec", "t0.post"], cleanup_grace=GRACE)

    async def body() -> None:
        async with processor.open(None, timeout=0.01) as runner:
            while await runner.run_next():
                pass

    error = await guarded(body(), calls)
    assert isinstance(error, SdaxTimeoutError)
    assert calls.log == [*PHASES[:3], "t0.exec cancelled", "t0.post", "t0.post cancelled"]


# -- the explorer's check of the bound ------------------------------------------


def slow_cleanup() -> AsyncDagTaskProcessor[Any, str]:
    """``b`` depends on ``a``; the execute of ``b`` waits; both posts wait 5 s."""

    async def wait(ctx: Any) -> None:
        await asyncio.sleep(5)

    async def fine(ctx: Any) -> None:
        pass

    return (
        AsyncDagTaskProcessor[Any, str]
        .builder()
        .add_task(AsyncTask("a", pre_execute=task_func(fine), post_execute=task_func(wait)))
        .add_task(
            AsyncTask("b", execute=task_func(wait), post_execute=task_func(wait)), depends_on="a"
        )
        .build(cleanup_grace=0.1)
    )


def bound_only_running_posts(original: Any) -> Any:
    def grant(self: Any) -> None:
        original(self)
        self._bounds.state = Bound.NONE  # posts that start later get no grace: the old rule

    return grant


@pytest.mark.skipif(not have_virtual_time(), reason="needs looptime (sdax[testing])")
@pytest.mark.parametrize("broken", [False, True], ids=["engine", "late-posts-unbounded"])
def test_the_explorer_checks_that_a_cancelled_run_ends_within_the_bound(
    broken: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if broken:
        monkeypatch.setattr(Run, "_grant_grace", bound_only_running_posts(Run._grant_grace))
    result = explore(slow_cleanup(), dict, only="cancel@execute:b", virtual_time=True)
    assert result.scenarios_run == 1
    found = [line for f in result.findings for line in f.broken if "cleanup's bound" in line]
    if broken:
        # two posts deep x 0.1 s after the cancel; without the grace, 5 s per post
        assert len(found) == 1 and "2 post(s) deep" in found[0]
    else:
        assert found == []


@pytest.mark.parametrize("bound", ["grace", "budget"])
async def test_a_further_cancel_reaches_a_post_that_caught_its_cut(bound: str) -> None:
    # The post catches the cut of its grace (or of the budget) and waits again;
    # a second cancel of the caller must reach it, as a repeated Task.cancel()
    # reaches any task, or the caller could never get control back.
    cuts: list[int] = []
    waiting = asyncio.Event()

    async def post(ctx: Any) -> None:
        for attempt in (1, 2):
            try:
                waiting.set()
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cuts.append(attempt)
                waiting.clear()

    async def hang(ctx: Any) -> None:
        await asyncio.Event().wait()

    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("t", execute=task_func(hang), post_execute=task_func(post)))
        .build()
    )
    options: dict[str, Any] = (
        {"cleanup_grace": GRACE} if bound == "grace" else {"cleanup_timeout": GRACE}
    )
    if bound == "budget":
        # The budget starts with the cleanup: the first cancel only stops execute.
        options["cleanup_grace"] = math.inf
    run = asyncio.ensure_future(processor.process_tasks(None, **options))
    await asyncio.sleep(0)
    run.cancel()  # execute is cancelled, the post starts and is cut once
    async with asyncio.timeout(GUARD):
        while cuts != [1]:
            await asyncio.sleep(GRACE)
        await waiting.wait()  # the post caught the cut and waits again
        run.cancel()
        with pytest.raises((asyncio.CancelledError, SdaxTimeoutError, TimeoutError)) as caught:
            await run
    assert cuts == [1, 2]
    if bound == "grace":
        assert isinstance(caught.value, asyncio.CancelledError)
