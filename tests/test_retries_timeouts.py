"""Retries (which failures, how often, with which delay) and per-attempt timeouts.

Retry tests use ``initial_delay=0`` (or a patched jitter) so they stay fast; timeout tests
use functions that wait forever and tiny timeouts, and never assert on durations.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import pytest
from _support import EXEC, HANG_GUARD, POST, PRE, Recorder, build_dag, no_new_pending_tasks

import sdax._engine._attempt
from sdax import (
    AsyncDagTaskProcessor,
    AsyncTask,
    RetryableException,
    SdaxExecutionError,
    TaskFunction,
    task_func,
    task_group_func,
)
from sdax._build import PhaseSpec
from sdax.tasks import SdaxTaskGroup

FIELD = {PRE: "pre_execute", EXEC: "execute", POST: "post_execute"}


class Attempts:
    """A phase function that fails with the given exceptions, one per attempt, then ends."""

    def __init__(self, failures: list[BaseException | None], *, suspend: bool) -> None:
        self.failures = failures
        self.suspend = suspend
        self.calls = 0

    async def __call__(self, ctx: Any) -> None:
        index = self.calls
        self.calls += 1
        if self.suspend:
            await asyncio.sleep(0)
        if index < len(self.failures):
            err = self.failures[index]
            if err is not None:
                raise err


def single(phase: str, tf: TaskFunction[Any], rec: Recorder) -> AsyncDagTaskProcessor[Any, Any]:
    """One task "T" with ``tf`` as ``phase`` and logging functions for the other phases."""
    functions: dict[str, Any] = {FIELD[p]: rec.tf("T", p) for p in (PRE, EXEC, POST) if p != phase}
    functions[FIELD[phase]] = tf
    return build_dag(
        AsyncTask("T", **functions),
        (rec.task("after"), ("T",)),
    )


async def run(processor: AsyncDagTaskProcessor[Any, Any]) -> SdaxExecutionError | None:
    with no_new_pending_tasks():
        try:
            async with asyncio.timeout(HANG_GUARD):
                await processor.process_tasks({})
        except SdaxExecutionError as exc:
            return exc
    return None


# -- the delay formula --------------------------------------------------------------------


def test_retry_delay_formula_uses_backoff_and_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    jitter_calls: list[tuple[float, float]] = []

    def fake_uniform(a: float, b: float) -> float:
        jitter_calls.append((a, b))
        return 0.625

    monkeypatch.setattr(random, "uniform", fake_uniform)
    spec = PhaseSpec(task_func(Attempts([], suspend=False), initial_delay=0.2, backoff_factor=3.0))
    delays = [sdax._engine._attempt.retry_delay(spec, n) for n in range(5)]
    assert delays == pytest.approx([0.2 * 3.0**n * 0.625 for n in range(5)])
    assert jitter_calls == [(0.5, 1.0)] * 5


def test_retry_delay_stays_within_jitter_bounds() -> None:
    spec = PhaseSpec(task_func(Attempts([], suspend=False), initial_delay=1.0, backoff_factor=2.0))
    for n in range(4):
        for _ in range(50):
            delay = sdax._engine._attempt.retry_delay(spec, n)
            assert 0.5 * 2.0**n <= delay <= 1.0 * 2.0**n


def test_retry_delay_with_default_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda a, b: b)
    spec = PhaseSpec(task_func(Attempts([], suspend=False)))
    assert [sdax._engine._attempt.retry_delay(spec, n) for n in range(3)] == [1.0, 2.0, 4.0]


@pytest.mark.parametrize("suspend", [False, True], ids=["at-once", "after-await"])
async def test_each_retry_waits_the_delay_of_its_number(
    monkeypatch: pytest.MonkeyPatch, suspend: bool
) -> None:
    asked: list[int] = []
    real = sdax._engine._attempt.retry_delay

    def spy(spec: PhaseSpec, retry: int) -> float:
        asked.append(retry)
        real(spec, retry)
        return 0.0

    monkeypatch.setattr(sdax._engine._attempt, "retry_delay", spy)
    fn = Attempts([RetryableException(i) for i in range(3)], suspend=suspend)
    rec = Recorder()
    processor = single(PRE, task_func(fn, retries=3, initial_delay=60.0), rec)
    assert await run(processor) is None
    assert fn.calls == 4
    assert asked == [0, 1, 2]


async def test_jitter_scales_the_real_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    # With the jitter forced to 0 even an hour-long initial delay costs nothing: the run
    # finishes (under the hang guard) only if every retry sleeps delay * jitter.
    jitter_calls: list[tuple[float, float]] = []

    def zero(a: float, b: float) -> float:
        jitter_calls.append((a, b))
        return 0.0

    monkeypatch.setattr(random, "uniform", zero)
    fn = Attempts([ConnectionError(), ConnectionError()], suspend=True)
    rec = Recorder()
    processor = single(EXEC, task_func(fn, retries=2, initial_delay=3600.0), rec)
    assert await run(processor) is None
    assert fn.calls == 3
    assert jitter_calls == [(0.5, 1.0)] * 2


# -- which failures are retried -----------------------------------------------------------


@pytest.mark.parametrize("suspend", [False, True], ids=["at-once", "after-await"])
@pytest.mark.parametrize("phase", [PRE, EXEC, POST])
@pytest.mark.parametrize("failing_attempts", [1, 3])
async def test_retryable_failures_are_retried_until_success(
    phase: str, suspend: bool, failing_attempts: int
) -> None:
    rec = Recorder()
    fn = Attempts([RetryableException(i) for i in range(failing_attempts)], suspend=suspend)
    processor = single(phase, task_func(fn, retries=3, initial_delay=0), rec)
    assert await run(processor) is None
    assert fn.calls == failing_attempts + 1
    # The other phases ran once each; the dependent ran completely.
    for other in (PRE, EXEC, POST):
        if other != phase:
            assert rec.count("T", other) == 1
        assert rec.count("after", other, "end") == 1


@pytest.mark.parametrize("suspend", [False, True], ids=["at-once", "after-await"])
@pytest.mark.parametrize("phase", [PRE, EXEC, POST])
async def test_exhausted_retries_report_the_last_failure_after_cleanup(
    phase: str, suspend: bool
) -> None:
    rec = Recorder()
    errors: list[BaseException | None] = [RetryableException(i) for i in range(3)]
    fn = Attempts(errors, suspend=suspend)
    processor = single(phase, task_func(fn, retries=2, initial_delay=0), rec)
    exc = await run(processor)
    assert exc is not None
    assert fn.calls == 3
    assert exc.leaf_exceptions() == [errors[2]]
    assert isinstance(errors[2], Exception)
    if phase != POST:
        assert rec.events("T", POST) == ["start", "end"]


@pytest.mark.parametrize("suspend", [False, True], ids=["at-once", "after-await"])
async def test_non_retryable_failure_is_not_retried(suspend: bool) -> None:
    rec = Recorder()
    err = ValueError("not retryable")
    fn = Attempts([err], suspend=suspend)
    processor = single(EXEC, task_func(fn, retries=3, initial_delay=0), rec)
    exc = await run(processor)
    assert exc is not None
    assert fn.calls == 1
    assert exc.leaf_exceptions() == [err]


@pytest.mark.parametrize(
    "err",
    [
        TimeoutError("user timeout"),
        ConnectionError("conn"),
        ConnectionResetError("reset"),
        RetryableException("retry"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_default_retryable_exceptions(err: Exception) -> None:
    class Sub(RetryableException):
        pass

    rec = Recorder()
    fn = Attempts([err, Sub()], suspend=True)
    processor = single(PRE, task_func(fn, retries=2, initial_delay=0), rec)
    assert await run(processor) is None
    assert fn.calls == 3


async def test_custom_retryable_exceptions_replace_the_defaults() -> None:
    rec = Recorder()
    fn = Attempts([ValueError("retry me")], suspend=False)
    processor = single(
        EXEC, task_func(fn, retries=1, initial_delay=0, retryable_exceptions=(ValueError,)), rec
    )
    assert await run(processor) is None
    assert fn.calls == 2

    err = RetryableException("not in the custom list")
    fn2 = Attempts([err], suspend=False)
    processor = single(
        EXEC, task_func(fn2, retries=3, initial_delay=0, retryable_exceptions=(ValueError,)), rec
    )
    exc = await run(processor)
    assert exc is not None
    assert fn2.calls == 1
    assert exc.leaf_exceptions() == [err]


async def test_retries_stop_at_the_first_non_retryable_failure() -> None:
    rec = Recorder()
    final = KeyError("stop")
    fn = Attempts([ConnectionError(), final, None], suspend=True)
    processor = single(PRE, task_func(fn, retries=5, initial_delay=0), rec)
    exc = await run(processor)
    assert exc is not None
    assert fn.calls == 2
    assert exc.leaf_exceptions() == [final]


async def test_zero_retries_means_one_attempt() -> None:
    rec = Recorder()
    err = RetryableException("once")
    fn = Attempts([err], suspend=False)
    processor = single(PRE, task_func(fn, retries=0), rec)
    exc = await run(processor)
    assert exc is not None
    assert fn.calls == 1
    assert exc.leaf_exceptions() == [err]


def group_function(
    attempt_errors: list[list[Exception]], calls: list[int]
) -> Callable[[Any, SdaxTaskGroup], Any]:
    async def parent(ctx: Any, tg: SdaxTaskGroup) -> None:
        index = len(calls)
        calls.append(index)
        errors = attempt_errors[index] if index < len(attempt_errors) else []

        async def fail(err: Exception) -> None:
            await asyncio.sleep(0)
            raise err

        for err in errors:
            tg.create_task(fail(err))

    return parent


async def test_group_failure_is_retried_when_every_leaf_is_retryable() -> None:
    rec = Recorder()
    calls: list[int] = []
    fn = group_function([[ConnectionError(), RetryableException()]], calls)
    processor = single(EXEC, task_group_func(fn, retries=1, initial_delay=0), rec)
    assert await run(processor) is None
    assert calls == [0, 1]


async def test_group_failure_with_one_non_retryable_leaf_is_not_retried() -> None:
    rec = Recorder()
    calls: list[int] = []
    bad = ValueError("not retryable")
    fine = ConnectionError("retryable")
    fn = group_function([[fine, bad]], calls)
    processor = single(EXEC, task_group_func(fn, retries=3, initial_delay=0), rec)
    exc = await run(processor)
    assert exc is not None
    assert calls == [0]
    assert {id(e) for e in exc.leaf_exceptions()} == {id(fine), id(bad)}


async def test_retried_pre_does_not_cancel_sibling_pres() -> None:
    rec = Recorder()
    fn = Attempts([RetryableException(), RetryableException()], suspend=True)
    processor = build_dag(
        AsyncTask("flaky", pre_execute=task_func(fn, retries=2, initial_delay=0)),
        rec.task("sibling", pre={"steps": 10}),
        (rec.task("child"), ("flaky",)),
    )
    assert await run(processor) is None
    assert rec.events("sibling", PRE) == ["start", "end"]
    assert rec.events("child", PRE) == ["start", "end"]


async def test_dependents_start_only_after_the_successful_attempt() -> None:
    rec = Recorder()
    log = rec.log
    flaky_done: list[int] = []

    async def flaky(ctx: Any) -> None:
        await asyncio.sleep(0)
        if not flaky_done:
            flaky_done.append(len(log))
            raise RetryableException()
        flaky_done.append(len(log))

    processor = build_dag(
        AsyncTask("flaky", pre_execute=task_func(flaky, retries=1, initial_delay=0)),
        (rec.task("child"), ("flaky",)),
    )
    assert await run(processor) is None
    assert len(flaky_done) == 2
    assert flaky_done[1] <= rec.index("child", PRE, "start")


# -- timeouts -----------------------------------------------------------------------------


class Hang:
    """Hangs on its first ``hangs`` attempts (recording the cancellation), then returns."""

    def __init__(self, hangs: int, *, suspend_on_success: bool = True) -> None:
        self.hangs = hangs
        self.suspend_on_success = suspend_on_success
        self.calls = 0
        self.cancelled = 0

    async def __call__(self, ctx: Any) -> None:
        index = self.calls
        self.calls += 1
        if index < self.hangs:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        if self.suspend_on_success:
            await asyncio.sleep(0)


@pytest.mark.parametrize("phase", [PRE, EXEC, POST])
async def test_timeout_fails_the_phase_with_timeout_error_and_post_runs(phase: str) -> None:
    rec = Recorder()
    fn = Hang(1)
    processor = single(phase, task_func(fn, timeout=0.01), rec)
    exc = await run(processor)
    assert exc is not None
    (leaf,) = exc.leaf_exceptions()
    assert isinstance(leaf, TimeoutError)
    assert fn.cancelled == 1
    if phase != POST:
        assert rec.events("T", POST) == ["start", "end"]
    if phase == PRE:
        assert rec.count("after", PRE) == 0
        assert rec.count("T", EXEC) == 0


async def test_timeout_in_pre_cancels_sibling_pres() -> None:
    rec = Recorder()
    processor = build_dag(
        AsyncTask("T", pre_execute=task_func(Hang(1), timeout=0.01)),
        rec.task("sibling", pre={"wait_for": asyncio.Event()}),
    )
    exc = await run(processor)
    assert exc is not None
    assert [type(e) for e in exc.leaf_exceptions()] == [TimeoutError]
    assert rec.events("sibling", PRE) == ["start", "cancel"]
    assert rec.events("sibling", POST) == ["start", "end"]


@pytest.mark.parametrize("suspend_on_success", [False, True])
async def test_timeout_is_per_attempt_and_retryable(suspend_on_success: bool) -> None:
    rec = Recorder()
    fn = Hang(2, suspend_on_success=suspend_on_success)
    processor = single(EXEC, task_func(fn, timeout=0.01, retries=2, initial_delay=0), rec)
    assert await run(processor) is None
    assert fn.calls == 3
    assert fn.cancelled == 2


async def test_timeouts_exhausting_retries_report_timeout_error() -> None:
    rec = Recorder()
    fn = Hang(10)
    processor = single(PRE, task_func(fn, timeout=0.005, retries=2, initial_delay=0), rec)
    exc = await run(processor)
    assert exc is not None
    assert fn.calls == 3
    assert [type(e) for e in exc.leaf_exceptions()] == [TimeoutError]
    assert rec.events("T", POST) == ["start", "end"]


async def test_timeout_zero_lets_an_attempt_that_never_suspends_succeed() -> None:
    rec = Recorder()
    fn = Attempts([], suspend=False)
    processor = single(EXEC, task_func(fn, timeout=0), rec)
    assert await run(processor) is None
    assert fn.calls == 1


async def test_timeout_zero_fails_an_attempt_that_suspends() -> None:
    rec = Recorder()
    fn = Attempts([], suspend=True)
    processor = single(EXEC, task_func(fn, timeout=0), rec)
    exc = await run(processor)
    assert exc is not None
    assert [type(e) for e in exc.leaf_exceptions()] == [TimeoutError]


async def test_timeout_zero_retry_that_never_suspends_succeeds() -> None:
    rec = Recorder()
    fn = Hang(1, suspend_on_success=False)
    processor = single(PRE, task_func(fn, timeout=0, retries=1, initial_delay=0), rec)
    assert await run(processor) is None
    assert fn.calls == 2


async def test_phase_timeout_does_not_leak_after_the_phase() -> None:
    rec = Recorder()
    cancelling: list[int] = []

    async def quick(ctx: Any) -> None:
        await asyncio.sleep(0)

    async def later(ctx: Any) -> None:
        # Outlives the previous phase's deadline; a leaked timer would cancel us or the run.
        await asyncio.sleep(0.05)
        task = asyncio.current_task()
        assert task is not None
        cancelling.append(task.cancelling())

    processor = build_dag(
        AsyncTask(
            "T",
            pre_execute=task_func(quick, timeout=0.01),
            execute=task_func(later),
            post_execute=task_func(later),
        ),
        (rec.task("after"), ("T",)),
    )
    assert await run(processor) is None
    await asyncio.sleep(0.03)
    assert cancelling == [0, 0]
    me = asyncio.current_task()
    assert me is not None and me.cancelling() == 0


async def test_asyncio_timeout_inside_a_phase_is_the_phase_s_own() -> None:
    caught: list[str] = []

    async def inner(ctx: Any) -> None:
        try:
            async with asyncio.timeout(0.01):
                await asyncio.Event().wait()
        except TimeoutError:
            caught.append("inner")
        await asyncio.sleep(0)

    rec = Recorder()
    for tf in (task_func(inner), task_func(inner, timeout=5.0)):
        processor = single(EXEC, tf, rec)
        assert await run(processor) is None
    assert caught == ["inner", "inner"]


async def test_phase_timeout_fires_through_a_longer_inner_asyncio_timeout() -> None:
    async def inner(ctx: Any) -> None:
        async with asyncio.timeout(30.0):
            await asyncio.Event().wait()

    rec = Recorder()
    processor = single(EXEC, task_func(inner, timeout=0.01), rec)
    exc = await run(processor)
    assert exc is not None
    assert [type(e) for e in exc.leaf_exceptions()] == [TimeoutError]


async def test_wait_for_inside_a_phase_with_a_phase_timeout() -> None:
    results: list[str] = []

    async def inner(ctx: Any) -> None:
        try:
            await asyncio.wait_for(asyncio.Event().wait(), 0.01)
        except TimeoutError:
            results.append("wait_for timed out")
        results.append(await asyncio.wait_for(asyncio.sleep(0, "value"), 1.0))

    rec = Recorder()
    processor = single(PRE, task_func(inner, timeout=5.0), rec)
    assert await run(processor) is None
    assert results == ["wait_for timed out", "value"]


async def test_unhandled_inner_timeout_fails_the_task_and_is_retryable() -> None:
    calls: list[int] = []

    async def inner(ctx: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            async with asyncio.timeout(0.001):
                await asyncio.Event().wait()

    rec = Recorder()
    processor = single(EXEC, task_func(inner, retries=1, initial_delay=0), rec)
    assert await run(processor) is None
    assert len(calls) == 2
