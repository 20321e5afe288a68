"""A check that knows the scenario (``check(ctx, scenario)``), and faults chosen per phase.

A correct app: the post closes the connection, and closing takes a wait. A
fault that strikes inside that post cuts the close short, so the app's own
invariant ("closed") cannot hold there; a check that gets the scenario
excuses exactly those runs, and ``phases=`` can leave posts out instead.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from sdax import AsyncDagTaskProcessor, AsyncTask, PhaseId, task_func
from sdax.testing import PHASES, Fault, Scenario, explore, have_virtual_time

needs_looptime = pytest.mark.skipif(
    not have_virtual_time(), reason="needs looptime (sdax[testing]): too slow in real time"
)


@dataclass
class Conn:
    open: bool = False


async def connect(ctx: Conn) -> None:
    ctx.open = True
    await asyncio.sleep(0.01)


async def close(ctx: Conn) -> None:
    if ctx.open:
        await asyncio.sleep(0.01)  # the goodbye; a fault here leaves it open
        ctx.open = False


async def query(ctx: Conn) -> None:
    await asyncio.sleep(0.01)


def build() -> AsyncDagTaskProcessor[Conn, None]:
    return (
        AsyncDagTaskProcessor[Conn, None]
        .builder()
        .add_task(AsyncTask("db", pre_execute=task_func(connect), post_execute=task_func(close)))
        .add_task(AsyncTask("q", execute=task_func(query)), depends_on=("db",))
        .build()
    )


def closed(ctx: Conn) -> None:
    assert not ctx.open, "the connection is still open"


def closed_unless_the_close_was_cut(ctx: Conn, scenario: Scenario) -> None:
    if scenario.struck("post", "db"):
        return  # a close that was itself killed cannot finish
    assert not ctx.open, "the connection is still open"


@needs_looptime
def test_faults_inside_the_post_break_a_one_parameter_check() -> None:
    result = explore(build(), Conn, closed)
    assert not result.ok
    assert all("@post:db" in f.scenario for f in result.findings), result.report()


@needs_looptime
def test_a_two_parameter_check_excuses_exactly_the_runs_whose_post_fault_struck() -> None:
    result = explore(build(), Conn, closed_unless_the_close_was_cut)
    assert result.ok, result.report()


@needs_looptime
def test_without_faults_in_posts_the_plain_check_holds() -> None:
    result = explore(build(), Conn, closed, phases=["pre", "execute"])
    assert result.ok, result.report()
    assert result.scenarios_run > 5
    assert explore(build(), Conn, closed, phases=[PhaseId.POST_EXEC]).findings


def test_the_check_gets_the_scenario_that_ran_with_what_struck() -> None:
    seen: list[Scenario] = []

    async def record(ctx: Conn, scenario: Scenario) -> bool:
        seen.append(scenario)
        return True

    # The pre's fault stops the run before q's execute starts: that one never strikes.
    ids = ["baseline", "raise-start@pre:db + raise-suspend@execute:q"]
    explore(build(), Conn, record, only=ids)
    baseline, pair = seen
    assert baseline.id == "baseline" and baseline.faults == ()
    assert pair.id == ids[1]
    first, second = pair.faults
    assert (first.task, first.phase, first.phase_name, first.kind, first.at) == (
        "db",
        PhaseId.PRE_EXEC,
        "pre",
        "raise-start",
        1,
    )
    assert first.struck and not second.struck
    assert pair.struck() and pair.struck("pre") and not pair.struck("execute")
    assert not pair.struck(task="q")


def test_a_one_parameter_check_gets_only_the_context_and_a_default_makes_two() -> None:
    calls: list[tuple[object, ...]] = []

    def one(ctx: Conn) -> None:
        calls.append((ctx,))

    def two(ctx: Conn, scenario: Scenario | None = None) -> None:
        calls.append((ctx, scenario))

    explore(build(), Conn, one, only="baseline")
    explore(build(), Conn, two, only="baseline")
    assert [len(c) for c in calls] == [1, 2]
    assert isinstance(calls[1][1], Scenario)


def test_a_failing_two_parameter_check_is_named_so() -> None:
    def never(ctx: Conn, scenario: Scenario) -> bool:
        return False

    finding = explore(build(), Conn, never, only="baseline").findings[0]
    assert finding.broken == ("check(ctx, scenario) returned False",)


def test_unknown_phases_are_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown phase 'teardown'; known: pre, execute, post"):
        explore(build(), Conn, phases=["pre", "teardown"])
    assert PHASES == ("pre", "execute", "post")
    assert Fault("hang", "db", PhaseId.EXECUTE).phase_name == "execute"
