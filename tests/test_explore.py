"""sdax.testing.explore(): scenarios, ids, checks, virtual time and the report."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from sdax import (
    AsyncDagTaskProcessor,
    AsyncTask,
    AsyncTaskProcessor,
    task_func,
    task_group_func,
    task_sync_func,
)
from sdax._demo import DemoContext, build_processor
from sdax.sdax_core import PhaseId
from sdax.testing import KINDS, ExploreResult, _explorer, explore, explore_async, have_virtual_time
from sdax.testing._checks import check_promises
from sdax.testing._faults import RunState
from sdax.testing._scenarios import Plan

needs_looptime = pytest.mark.skipif(
    not have_virtual_time(), reason="needs looptime (sdax[testing]): too slow in real time"
)
FAST = ["raise-start", "raise-suspend", "interrupt"]
"""Fault kinds that cost no waiting in real time."""


@dataclass
class Box:
    log: list[str] = field(default_factory=list)
    held: int = 0


async def take(ctx: Box) -> None:
    ctx.held += 1
    await asyncio.sleep(0.01)


async def work(ctx: Box) -> None:
    await asyncio.sleep(0.01)
    ctx.log.append("worked")


async def give(ctx: Box) -> None:
    try:
        await asyncio.sleep(0.001)
    finally:
        ctx.held = max(0, ctx.held - 1)


def small() -> AsyncDagTaskProcessor[Box, str]:
    return (
        AsyncDagTaskProcessor[Box, str]
        .builder()
        .add_task(AsyncTask("a", pre_execute=task_func(take), post_execute=task_func(give)))
        .add_task(AsyncTask("b", execute=task_func(work)), depends_on=("a",))
        .build()
    )


def never_ok(ctx: Box) -> bool:
    return False


@needs_looptime
def test_the_demo_processor_keeps_every_sdax_promise_in_every_scenario() -> None:
    result = explore(build_processor(), DemoContext)
    assert result.ok, result.report()
    # baseline + 6 kinds over 9 calls (no raise-start on posts; one retried call) + pairs
    assert result.scenarios_run > 60


@needs_looptime
def test_the_count_is_the_baseline_the_single_faults_and_the_pairs() -> None:
    plan = Plan(small())
    singles = plan.single_faults()
    result = explore(small(), Box, pairs=3, depth=1)
    assert result.scenarios_run == 1 + len(singles) + 3
    kinds = {f.kind for f in singles}
    assert kinds == set(KINDS) - {"retry-once"}  # nothing here is retried


def test_a_finding_id_runs_that_scenario_again() -> None:
    first = explore(small(), Box, never_ok, kinds=FAST, pairs=5)
    assert len(first.findings) == first.scenarios_run
    for finding in first.findings[1:8]:
        again = explore(small(), Box, never_ok, only=finding.scenario)
        assert again.scenarios_run == 1
        assert [f.scenario for f in again.findings] == [finding.scenario]
        assert again.findings[0].outcome == finding.outcome


def test_the_pairs_are_drawn_from_the_seed() -> None:
    def ids(seed: int) -> list[str]:
        result = explore(small(), Box, never_ok, kinds=FAST, pairs=4, seed=seed)
        return [f.scenario for f in result.findings if " + " in f.scenario]

    assert ids(1) == ids(1)
    assert len(ids(1)) == 4
    assert ids(1) != ids(2)


def test_an_unknown_scenario_id_is_an_error_that_shows_an_id() -> None:
    with pytest.raises(ValueError, match=r"no fault 'hang@pre:nope'.*ids look like"):
        explore(small(), Box, only="hang@pre:nope")


def test_the_user_check_may_return_false_raise_or_be_async() -> None:
    async def async_check(ctx: Box) -> None:
        await asyncio.sleep(0)
        assert ctx.held == 0, "held"

    def raises(ctx: Box) -> None:
        raise ValueError("bad check")

    assert explore(small(), Box, async_check, kinds=FAST).ok
    broken = explore(small(), Box, never_ok, only="baseline").findings[0].broken
    assert broken == ("check(ctx) returned False",)
    broken = explore(small(), Box, raises, only="baseline").findings[0].broken
    assert broken == ("check(ctx) raised ValueError: bad check",)


def test_a_generator_factory_cleans_up_after_each_scenario() -> None:
    opened: list[Box] = []
    closed: list[Box] = []

    def make() -> Iterator[Box]:
        box = Box()
        opened.append(box)
        yield box
        closed.append(box)

    async def make_async() -> AsyncIterator[Box]:
        box = Box()
        opened.append(box)
        yield box
        closed.append(box)

    for factory in (make, make_async):
        opened.clear()
        closed.clear()
        result = explore(small(), factory, kinds=FAST, pairs=2)
        assert len(opened) == result.scenarios_run
        assert closed == opened


@needs_looptime
def test_a_hang_without_any_timeout_gets_a_deadline() -> None:
    result = explore(small(), Box, never_ok, only="hang@execute:b")
    assert result.findings[0].outcome.startswith("SdaxTimeoutError")
    post = explore(small(), Box, never_ok, only="hang@post:a").findings[0]
    assert "SdaxExecutionError [TimeoutError]" in post.outcome


@needs_looptime
def test_a_hang_ends_at_the_calls_own_timeout() -> None:
    processor = (
        AsyncDagTaskProcessor[Box, str]
        .builder()
        .add_task(AsyncTask("b", execute=task_func(work, timeout=2.0)))
        .build()
    )
    finding = explore(processor, Box, never_ok, only="hang@execute:b").findings[0]
    assert finding.outcome == "SdaxExecutionError [TimeoutError]"
    ended = [ev for ev in finding.trace if ev.what == "cancelled"]
    assert ended and abs(ended[0].time - 2.0) < 0.05


def test_interrupts_and_outside_cancels_reach_the_caller() -> None:
    interrupted = explore(small(), Box, never_ok, only="interrupt@pre:a").findings[0]
    assert interrupted.outcome.startswith("KeyboardInterrupt: injected by sdax.testing")
    cancelled = explore(small(), Box, never_ok, only="cancel@execute:b").findings[0]
    assert cancelled.outcome == "CancelledError"


@needs_looptime
def test_a_retry_once_fault_is_retried_and_not_reported() -> None:
    processor = (
        AsyncDagTaskProcessor[Box, str]
        .builder()
        .add_task(AsyncTask("b", execute=task_func(work, retries=1, initial_delay=5.0)))
        .build()
    )
    finding = explore(processor, Box, never_ok, only="retry-once@execute:b").findings[0]
    assert finding.outcome == "nothing (success)"
    starts = [ev for ev in finding.trace if ev.source == "call" and ev.what == "start"]
    assert [ev.attempt for ev in starts] == [0, 1]


def test_a_task_left_running_on_the_loop_is_reported() -> None:
    async def leaks(ctx: Box) -> None:
        ctx.log.append("spawned")
        asyncio.get_running_loop().create_task(asyncio.sleep(3600))

    processor = (
        AsyncDagTaskProcessor[Box, str]
        .builder()
        .add_task(AsyncTask("leaky", execute=task_func(leaks)))
        .build()
    )
    result = explore(processor, Box, only="baseline")
    assert "task(s) left pending on the loop" in result.findings[0].broken[0]


def test_task_groups_sync_functions_and_levels_are_explored() -> None:
    async def body(ctx: Box, tg: Any) -> None:
        tg.create_task(work(ctx))
        await asyncio.sleep(0.01)

    def blocking(ctx: Box) -> None:
        ctx.log.append("blocking")

    processor = (
        AsyncTaskProcessor.builder()
        .add_task(AsyncTask("a", pre_execute=task_func(take), post_execute=task_func(give)), 0)
        .add_task(AsyncTask("group", execute=task_group_func(body)), 1)
        .add_task(AsyncTask("inline", execute=task_sync_func(blocking)), 1)
        .add_task(AsyncTask("pooled", execute=task_sync_func(blocking, executor="thread")), 1)
        .build()
    )

    def held_released(ctx: Box) -> None:
        assert ctx.held == 0

    result = explore(processor, Box, held_released, pairs=10)
    assert result.ok, result.report()
    assert any("executor calls get no faults" in note for note in result.notes)
    # A virtual clock would not wait for the executor's thread.
    assert not result.virtual_time
    assert not any("pooled" in f.id for f in Plan(processor).single_faults())


def test_without_looptime_the_runs_use_real_time_and_say_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_explorer, "have_virtual_time", lambda: False)
    result = explore(small(), Box, kinds=["raise-start"], pairs=0)
    assert not result.virtual_time
    assert any("looptime is not installed" in note for note in result.notes)
    assert result.ok
    with pytest.raises(RuntimeError, match="needs looptime"):
        explore(small(), Box, virtual_time=True)


@needs_looptime
def test_virtual_time_lets_long_delays_pass_at_once() -> None:
    async def slow(ctx: Box) -> None:
        await asyncio.sleep(300)

    processor = (
        AsyncDagTaskProcessor[Box, str]
        .builder()
        .add_task(AsyncTask("slow", execute=task_func(slow)))
        .build()
    )
    finding = explore(processor, Box, never_ok, only="baseline").findings[0]
    assert finding.trace[-1].time == pytest.approx(300.0)


async def test_explore_refuses_a_running_loop_and_explore_async_works() -> None:
    with pytest.raises(RuntimeError, match="explore_async"):
        explore(small(), Box)
    result = await explore_async(small(), Box, kinds=FAST, pairs=2)
    assert isinstance(result, ExploreResult) and result.ok


def test_the_progress_bar_goes_to_stderr_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    explore(small(), Box, kinds=FAST, pairs=2, progress=True)
    err = capsys.readouterr().err
    assert "sdax explore [" in err and err.endswith("0 broken\n")
    explore(small(), Box, kinds=FAST, pairs=2, progress=False)
    assert capsys.readouterr().err == ""


def test_the_report_shows_the_scenario_its_id_what_broke_and_the_trace() -> None:
    result = explore(small(), Box, never_ok, only="raise-start@pre:a")
    text = result.report()
    assert text.splitlines()[0].startswith("sdax explore: 1 scenario, 1 broken (1 cause), ")
    assert "  1. 1 scenario: check(ctx) returned False" in text
    assert "CAUSE 1 of 1: 1 scenario" in text
    assert "    raise-start@pre:a\n  shown: raise-start@pre:a" in text
    assert 'reproduce: explore(..., only="raise-start@pre:a")' in text
    assert "- check(ctx) returned False" in text
    assert "explorer: fault InjectedFault (raise-start, at its start)" in text
    with pytest.raises(AssertionError, match="CAUSE 1 of 1"):
        result.assert_ok()
    assert "BROKEN  raise-start@pre:a" in result.findings[0].render()


# -- the promise checks themselves, on traces sdax would never produce ---------------


def _state(plan: Plan) -> RunState:
    loop = asyncio.new_event_loop()
    try:
        return RunState({}, loop)
    finally:
        loop.close()


def test_the_checks_catch_a_missing_post_a_double_post_and_a_wrong_outcome() -> None:
    plan = Plan(small())
    a_pre, a_post, b_exe = ("a", PhaseId.PRE_EXEC), ("a", PhaseId.POST_EXEC), ("b", PhaseId.EXECUTE)
    state = _state(plan)
    state.add("call", "start", a_pre)
    state.add("call", "return", a_pre)
    state.add("sdax", "finished", a_pre)
    broken = check_promises(plan, state, None, None, True)
    assert broken == ["post of a was owed (its pre started) but ran 0 time(s)"]
    for _ in range(2):
        state.add("call", "start", a_post)
        state.add("call", "return", a_post)
    broken = check_promises(plan, state, ValueError("x"), None, True)
    assert broken == [
        "post of a was owed (its pre started) but ran 2 time(s)",
        "the caller got ValueError: x; no call failed, expected success",
    ]
    state.add("sdax", "failed", a_pre, error=ValueError("pre"))
    state.add("call", "start", b_exe)
    broken = check_promises(plan, state, None, None, True)
    assert "execute of b started after the run stopped (pre of a failed)" in broken
