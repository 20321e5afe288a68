"""An outside cancellation during the cleanup: a bounded grace, then at-most-once cuts.

The posts running when the cancellation arrives get ``cleanup_grace`` seconds
(0.1 s by default) to finish; one still running then is cancelled where it
waits, and that is not a failure of its own. Posts that had not started still
start, once, each with the same grace from its start (tests/test_cleanup_bound.py
covers cancellations that land before the cleanup). ``CancelledError`` reaches
the caller after the last owed post ended. ``0`` cuts at once, ``math.inf``
shields without bound, and with ``cleanup_timeout`` the budget is the grace.
Nothing here measures time: a hang guard only keeps a broken engine from
hanging the suite.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from sdax import AsyncDagTaskProcessor, AsyncTask, task_func
from sdax.observe import PhaseEvent, RunObserver

pytestmark = pytest.mark.usefixtures("engine_core")  # on both twins of the core

HANG_GUARD = 5.0


class Cleanup:
    """Records the posts; the downstream post waits on ``release`` (never set by default)."""

    def __init__(self, upstream_hangs: bool = False) -> None:
        self.log: list[str] = []
        self.release = asyncio.Event()
        self.in_post = asyncio.Event()
        self.upstream_hangs = upstream_hangs

    def processor(self, **build: Any) -> AsyncDagTaskProcessor[Any, str]:
        async def acquire(ctx: Any) -> None:
            pass

        def releaser(name: str, hang: bool) -> Any:
            async def post(ctx: Any) -> None:
                self.log.append(f"{name}-release")
                self.in_post.set()
                if hang:
                    try:
                        await self.release.wait()
                    except asyncio.CancelledError:
                        self.log.append(f"{name}-cut")
                        raise
                self.log.append(f"{name}-released")

            return task_func(post)

        return (
            AsyncDagTaskProcessor.builder()
            .add_task(
                AsyncTask(
                    "upstream",
                    pre_execute=task_func(acquire),
                    post_execute=releaser("upstream", self.upstream_hangs),
                )
            )
            .add_task(
                AsyncTask(
                    "downstream",
                    pre_execute=task_func(acquire),
                    post_execute=releaser("downstream", True),
                ),
                depends_on="upstream",
            )
            .build(**build)
        )


async def ends_cancelled(run: asyncio.Future[None], cleanup: Cleanup) -> None:
    """Wait for the caller's view of the run (bounded), then require CancelledError.

    ``run`` may itself be a ``wait_for`` around the run. If it does not end,
    the hung posts are released so that nothing outlives the test, and the
    test fails: the run outlived its caller's cancellation.
    """
    done, _ = await asyncio.wait({run}, timeout=HANG_GUARD)
    if not done:
        cleanup.release.set()
        await asyncio.wait({run}, timeout=HANG_GUARD)
        pytest.fail("the cancelled run did not end")
    with pytest.raises(asyncio.CancelledError):
        run.result()


async def cancel_in_cleanup(run: asyncio.Task[None], cleanup: Cleanup) -> None:
    await asyncio.wait_for(cleanup.in_post.wait(), HANG_GUARD)
    cleanup.in_post.clear()
    run.cancel()


async def test_a_cancel_during_cleanup_ends_the_run_after_the_grace() -> None:
    cleanup = Cleanup()
    run = asyncio.ensure_future(cleanup.processor().process_tasks(None))
    await cancel_in_cleanup(run, cleanup)
    # The caller gets CancelledError once the grace cut the hung post and the
    # post that had not started yet ran: within wait_for's second.
    await ends_cancelled(asyncio.ensure_future(asyncio.wait_for(run, timeout=1)), cleanup)
    assert cleanup.log == [
        "downstream-release",
        "downstream-cut",
        "upstream-release",
        "upstream-released",
    ]


async def test_a_post_that_finishes_within_the_grace_is_not_cut() -> None:
    cleanup = Cleanup()
    run = asyncio.ensure_future(cleanup.processor(cleanup_grace=math.inf).process_tasks(None))
    await cancel_in_cleanup(run, cleanup)
    await asyncio.sleep(0)
    cleanup.release.set()  # the rollback completes
    await ends_cancelled(run, cleanup)
    assert "downstream-cut" not in cleanup.log
    assert cleanup.log.count("downstream-released") == 1
    assert cleanup.log[-1] == "upstream-released"


async def test_zero_cuts_at_once_and_no_post_runs_twice() -> None:
    cleanup = Cleanup()
    run = asyncio.ensure_future(cleanup.processor().process_tasks(None, cleanup_grace=0))
    await cancel_in_cleanup(run, cleanup)
    await ends_cancelled(run, cleanup)
    assert cleanup.log.count("downstream-release") == 1
    assert cleanup.log.count("upstream-release") == 1
    assert cleanup.log[:2] == ["downstream-release", "downstream-cut"]


async def test_infinity_shields_without_bound() -> None:
    cleanup = Cleanup()
    run = asyncio.ensure_future(cleanup.processor().process_tasks(None, cleanup_grace=math.inf))
    await cancel_in_cleanup(run, cleanup)
    for _ in range(20):
        await asyncio.sleep(0)
    assert not run.done()  # still shielded, as long as the post runs
    cleanup.release.set()
    await ends_cancelled(run, cleanup)
    assert "downstream-cut" not in cleanup.log


async def test_a_post_that_starts_after_the_cancel_has_its_own_grace() -> None:
    cleanup = Cleanup(upstream_hangs=True)
    run = asyncio.ensure_future(cleanup.processor(cleanup_grace=0.01).process_tasks(None))
    await cancel_in_cleanup(run, cleanup)  # cuts downstream after the grace
    # upstream starts after the cancel and is cut after its own grace, with no
    # second cancel (ends_cancelled releases nothing unless the run hangs)
    await ends_cancelled(run, cleanup)
    assert cleanup.log == [
        "downstream-release",
        "downstream-cut",
        "upstream-release",
        "upstream-cut",
    ]


class Events(RunObserver):
    """The post events of a run."""

    def __init__(self) -> None:
        self.failed: list[str] = []
        self.cancelled: list[str] = []

    def phase_failed(self, event: PhaseEvent) -> None:
        self.failed.append(str(event.task))

    def phase_cancelled(self, event: PhaseEvent) -> None:
        self.cancelled.append(str(event.task))


async def test_a_cut_post_is_not_a_failure() -> None:
    cleanup = Cleanup()
    events = Events()
    runner = cleanup.processor(cleanup_grace=0).open(None, observer=events)

    async def drive() -> None:
        async with runner:
            while await runner.run_next():
                pass

    run = asyncio.ensure_future(drive())
    await cancel_in_cleanup(run, cleanup)
    await ends_cancelled(run, cleanup)
    assert runner.failures() == []
    assert events.failed == []
    assert events.cancelled == ["downstream"]


async def test_with_a_cleanup_budget_the_budget_is_the_grace() -> None:
    cleanup = Cleanup()
    run = asyncio.ensure_future(
        cleanup.processor(cleanup_grace=0).process_tasks(None, cleanup_timeout=0.05)
    )
    await cancel_in_cleanup(run, cleanup)
    for _ in range(5):
        await asyncio.sleep(0)
    # grace 0 would have cut at once: the budget, not the grace, bounds it
    assert "downstream-cut" not in cleanup.log
    await ends_cancelled(run, cleanup)
    assert cleanup.log[:2] == ["downstream-release", "downstream-cut"]


@pytest.mark.parametrize(
    ("value", "error"),
    [(-1, ValueError), (math.nan, ValueError), ("1", TypeError), (True, TypeError)],
)
def test_bad_grace_values_are_refused_naming_the_option(value: Any, error: type) -> None:
    processor = Cleanup().processor()
    with pytest.raises(error, match="cleanup_grace"):
        processor.open(None, cleanup_grace=value)
    with pytest.raises(error, match="cleanup_grace"):
        Cleanup().processor(cleanup_grace=value)


def test_the_processor_keeps_its_grace() -> None:
    assert Cleanup().processor().cleanup_grace == 0.1
    assert Cleanup().processor(cleanup_grace=2).cleanup_grace == 2.0
    assert Cleanup().processor(cleanup_grace=math.inf).cleanup_grace == math.inf
