"""sdax.report: the RunReport observer, its records and the text Gantt chart.

The drawing tests build timelines by hand (no real timing); the end-to-end tests
check the structure of what a real run records, never its times.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Hashable

import pytest
from _support import build_dag, retry_then_fail

from sdax import (
    AsyncDagTaskProcessor,
    AsyncTask,
    AsyncTaskProcessor,
    SdaxExecutionError,
    SdaxTimeoutError,
    task_func,
)
from sdax.observe import PhaseEvent, RunInfo
from sdax.report import (
    PhaseRecord,
    RunReport,
    RunTimeline,
    describe_error,
    render_timeline,
    run_outcome,
)
from sdax.sdax_core import PhaseId

PRE, EXEC, POST = PhaseId.PRE_EXEC, PhaseId.EXECUTE, PhaseId.POST_EXEC


def _timeline() -> RunTimeline:
    return RunTimeline(
        7,
        4,
        0.5,
        (
            PhaseRecord("A", PRE, 0, 0.0, 0.1, "ok"),
            PhaseRecord(("b", 1), PRE, 0, 0.0, 0.05, "retried", ConnectionError("reset"), 0.025),
            PhaseRecord(("b", 1), PRE, 1, 0.075, 0.15, "ok"),
            PhaseRecord("A", EXEC, 0, 0.15, 0.25, "failed", ValueError("bad")),
            PhaseRecord(("b", 1), EXEC, 0, 0.15, 0.225, "cancelled"),
            PhaseRecord("A", POST, 0, 0.25, 0.5, "ok"),
        ),
        SdaxExecutionError("SDAX task execution failed", [ValueError("bad")]),
    )


EXPECTED_CHART = """\
run 7: 4 tasks, 5 phase calls, 6 attempts (1 retried, 1 failed, 1 cancelled), 500.0 ms, \
failed: SdaxExecutionError: SDAX task execution failed (1 sub-exception)

task      phase    try     start      time  |0           500.0 ms|
A         pre        1    0.0 ms  100.0 ms  |====                |
('b', 1)  pre        1    0.0 ms   50.0 ms  |~~                  |  retry planned after 25.0 ms, \
began after 25.0 ms: ConnectionError: reset
('b', 1)  pre        2   75.0 ms   75.0 ms  |   ===              |
A         execute    1  150.0 ms  100.0 ms  |      XXXX          |  FAILED: ValueError: bad
('b', 1)  execute    1  150.0 ms   75.0 ms  |      ///           |  cancelled
A         post       1  250.0 ms  250.0 ms  |          ==========|

= ok   ~ failed, retried   X failed   / cancelled"""


def test_render_draws_the_exact_chart() -> None:
    assert _timeline().render(20) == EXPECTED_CHART


def test_render_sorts_rows_by_start_time() -> None:
    timeline = _timeline()
    shuffled = RunTimeline(
        timeline.run_id,
        timeline.tasks,
        timeline.duration,
        tuple(reversed(timeline.records)),
        timeline.error,
    )
    # Rows come in order of start time; attempts that start together keep
    # their given (here reversed) order.
    expected = EXPECTED_CHART.splitlines()
    expected[3], expected[4] = expected[4], expected[3]
    expected[6], expected[7] = expected[7], expected[6]
    assert shuffled.render(20).splitlines() == expected


def test_render_function_equals_method() -> None:
    assert render_timeline(_timeline(), 20) == EXPECTED_CHART


def test_render_uses_seconds_from_one_second_on() -> None:
    timeline = RunTimeline(1, 1, 2.0, (PhaseRecord("slow", EXEC, 0, 0.5, 2.0, "ok"),))
    assert timeline.render(10) == (
        "run 1: 1 tasks, 1 phase calls, 1 attempt, 2.000 s, ok\n"
        "\n"
        "task  phase    try    start     time  |0  2.000 s|\n"
        "slow  execute    1  0.500 s  1.500 s  |  ========|\n"
        "\n"
        "= ok"
    )


def test_render_of_a_run_without_calls() -> None:
    timeline = RunTimeline(3, 0, 0.0, ())
    assert timeline.render() == (
        "run 3: 0 tasks, 0 phase calls, 0 attempts, 0.0 ms, ok\n(no phase was called)"
    )


def test_render_of_instant_attempts_gives_each_one_column() -> None:
    timeline = RunTimeline(
        2,
        2,
        0.0,
        (
            PhaseRecord("a", PRE, 0, 0.0, 0.0, "ok"),
            PhaseRecord("b", PRE, 0, 0.0, 0.0, "unfinished"),
        ),
        asyncio.CancelledError(),
    )
    assert timeline.render(10).splitlines() == [
        "run 2: 2 tasks, 2 phase calls, 2 attempts (1 unfinished), 0.0 ms, cancelled",
        "",
        "task  phase  try   start    time  |0   0.0 ms|",
        "a     pre      1  0.0 ms  0.0 ms  |=         |",
        "b     pre      1  0.0 ms  0.0 ms  |?         |  UNFINISHED",
        "",
        "= ok   ? unfinished",
    ]


def test_a_short_attempt_late_in_the_run_keeps_one_column_inside_the_axis() -> None:
    timeline = RunTimeline(1, 1, 1.0, (PhaseRecord("z", POST, 0, 1.0, 1.0, "ok"),))
    row = timeline.render(10).splitlines()[3]
    assert row.endswith("|         =|")


def test_a_retry_that_never_ran_is_shown_as_abandoned() -> None:
    timeline = RunTimeline(
        4,
        1,
        0.1,
        (PhaseRecord("r", EXEC, 0, 0.0, 0.05, "retried", ConnectionError("x"), 0.5),),
        asyncio.CancelledError(),
    )
    assert timeline.render(10).splitlines()[3] == (
        "r     execute    1  0.0 ms  50.0 ms  |~~~~~     |  "
        "retry planned after 500.0 ms, abandoned: ConnectionError: x"
    )


@pytest.mark.parametrize("width", [9, 0, -1, True])
def test_render_rejects_a_narrow_axis(width: int) -> None:
    with pytest.raises(ValueError, match="width must be an int >= 10"):
        _timeline().render(width)


def test_describe_error_forms() -> None:
    assert describe_error(ValueError("bad")) == "ValueError: bad"
    assert describe_error(asyncio.CancelledError()) == "CancelledError"
    assert describe_error(KeyError("k")) == "KeyError: 'k'"
    assert describe_error(RuntimeError("first\nsecond")) == "RuntimeError: first"
    long = describe_error(ValueError("x" * 500))
    assert long == "ValueError: " + "x" * 97 + "..."


def test_run_outcome_names() -> None:
    assert run_outcome(None) == "ok"
    assert run_outcome(SdaxExecutionError("m", [ValueError()])) == "failed"
    assert run_outcome(SdaxTimeoutError("late")) == "timed out"
    assert run_outcome(asyncio.CancelledError()) == "cancelled"
    assert run_outcome(KeyboardInterrupt()) == "interrupted"


def test_record_duration() -> None:
    assert PhaseRecord("a", PRE, 0, 0.25, 1.0, "ok").duration == 0.75


# -- the observer, fed with events built by hand ------------------------------------------


def _event(
    run: RunInfo,
    task: Hashable,
    phase: PhaseId,
    attempt: int,
    started: float,
    time: float,
    **extra: object,
) -> PhaseEvent:
    return PhaseEvent(run, task, phase, attempt, time, started, **extra)  # type: ignore[arg-type]


def test_report_builds_records_from_events() -> None:
    run = RunInfo(5, None, 100.0, 3)
    report = RunReport()
    error = ConnectionError("reset")
    report.run_started(run)
    report.phase_started(_event(run, "a", PRE, 0, 100.0, 100.0))
    report.phase_started(_event(run, "b", PRE, 0, 100.1, 100.1))
    report.phase_failed(_event(run, "a", PRE, 0, 100.0, 100.2, error=error, will_retry=True))
    report.phase_retrying(_event(run, "a", PRE, 1, 100.2, 100.2, error=error, delay=0.5))
    report.phase_finished(_event(run, "b", PRE, 0, 100.1, 100.3))
    report.phase_started(_event(run, "a", PRE, 1, 100.7, 100.7))
    report.phase_cancelled(_event(run, "a", PRE, 1, 100.7, 100.8))
    report.phase_started(_event(run, "b", POST, 0, 100.8, 100.8))
    report.run_finished(run, None, 101.0)

    timeline = report.last
    assert (timeline.run_id, timeline.tasks, timeline.error) == (5, 3, None)
    assert timeline.duration == pytest.approx(1.0)
    got = [
        (r.task, r.phase, r.attempt, r.outcome, r.error, r.retry_delay) for r in timeline.records
    ]
    assert got == [
        ("a", PRE, 0, "retried", error, 0.5),
        ("b", PRE, 0, "ok", None, None),
        ("a", PRE, 1, "cancelled", None, None),
        ("b", POST, 0, "unfinished", None, None),  # no end event before the run ended
    ]
    times = [t for r in timeline.records for t in (r.start, r.end)]
    assert times == pytest.approx([0.0, 0.2, 0.1, 0.3, 0.7, 0.8, 0.8, 1.0])
    assert report.records == timeline.records
    assert report.render(10) == timeline.render(10)


def test_report_keeps_concurrent_runs_apart_and_bounds_the_history() -> None:
    report = RunReport(max_runs=2)
    runs = [RunInfo(i, None, 0.0, 1) for i in (1, 2, 3)]
    for run in runs:
        report.run_started(run)
    for run in runs:
        report.phase_started(_event(run, f"t{run.run_id}", EXEC, 0, 0.0, 0.0))
    for run in reversed(runs):
        report.phase_finished(_event(run, f"t{run.run_id}", EXEC, 0, 0.0, 0.1))
        report.run_finished(run, None, 0.2)
    assert [t.run_id for t in report.runs] == [2, 1]  # run 3 finished first, then dropped
    assert [[r.task for r in t.records] for t in report.runs] == [["t2"], ["t1"]]
    report.clear()
    assert report.runs == ()


def test_report_without_a_finished_run() -> None:
    report = RunReport()
    with pytest.raises(LookupError, match="no run has finished yet"):
        _ = report.last
    with pytest.raises(LookupError):
        report.render()


@pytest.mark.parametrize("bad", [0, -3, 1.5, True])
def test_report_rejects_a_bad_history_size(bad: object) -> None:
    with pytest.raises(ValueError, match="max_runs"):
        RunReport(max_runs=bad)  # type: ignore[arg-type]


# -- end to end: what a real run records ----------------------------------------------------


def _summary(timeline: RunTimeline) -> list[tuple[Hashable, PhaseId, int, str]]:
    return [(r.task, r.phase, r.attempt, r.outcome) for r in timeline.records]


async def test_a_real_run_records_retries_failures_and_cleanup() -> None:
    processor = retry_then_fail(ConnectionError("once"), ValueError("bad"))
    report = RunReport()
    with pytest.raises(SdaxExecutionError):
        await processor.process_tasks(object(), observer=report)

    timeline = report.last
    assert timeline.outcome == "failed"
    assert isinstance(timeline.error, SdaxExecutionError)
    assert _summary(timeline) == [
        ("db", PRE, 0, "ok"),
        (("flags", 1), PRE, 0, "retried"),
        (("flags", 1), PRE, 1, "ok"),
        ("fetch", EXEC, 0, "failed"),
        ("db", POST, 0, "ok"),
    ]
    retried = timeline.records[1]
    assert isinstance(retried.error, ConnectionError)
    assert retried.retry_delay == 0.0
    assert isinstance(timeline.records[3].error, ValueError)
    for record in timeline.records:
        assert 0.0 <= record.start <= record.end <= timeline.duration
    # Each phase starts after the one it waits for has ended.
    db_pre, _, flags_ok, fetch, db_post = timeline.records
    assert db_pre.end <= flags_ok.start and flags_ok.end <= fetch.start <= db_post.start
    chart = report.render()
    assert "retry planned after 0.0 ms, began after " in chart
    assert "ms: ConnectionError: once" in chart
    assert "FAILED: ValueError: bad" in chart


async def test_a_pre_failure_records_the_cancelled_sibling() -> None:
    started = asyncio.Event()

    async def wait_forever(ctx: object) -> None:
        started.set()
        await asyncio.Event().wait()

    async def fail_after_start(ctx: object) -> None:
        await started.wait()
        raise RuntimeError("stop")

    async def cleanup(ctx: object) -> None:
        return None

    processor = (
        AsyncTaskProcessor.builder()
        .add_task(
            AsyncTask("slow", pre_execute=task_func(wait_forever), post_execute=task_func(cleanup)),
            level=0,
        )
        .add_task(AsyncTask("boom", pre_execute=task_func(fail_after_start)), level=0)
        .build()
    )
    report = RunReport()
    with pytest.raises(SdaxExecutionError):
        await processor.process_tasks(object(), observer=report)
    assert sorted(map(repr, _summary(report.last))) == sorted(
        map(
            repr,
            [
                ("slow", PRE, 0, "cancelled"),
                ("boom", PRE, 0, "failed"),
                ("slow", POST, 0, "ok"),
            ],
        )
    )
    assert report.last.records[-1].task == "slow"  # the cleanup comes last


async def test_a_processor_level_report_records_every_run_and_runner_runs() -> None:
    async def work(ctx: list[str]) -> None:
        ctx.append("work")

    report = RunReport()
    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("w", execute=task_func(work)))
        .add_observer(report)
        .build()
    )
    await asyncio.gather(processor.process_tasks([]), processor.process_tasks([]))
    async with processor.open([]) as runner:
        while await runner.run_next():
            pass
    assert len(report.runs) == 3
    assert len({t.run_id for t in report.runs}) == 3
    for timeline in report.runs:
        assert _summary(timeline) == [("w", EXEC, 0, "ok")]
        assert timeline.outcome == "ok"
        assert timeline.tasks == 1


async def test_a_run_cancelled_during_a_retry_pause_leaves_the_retry_abandoned() -> None:
    failed = asyncio.Event()

    async def fails(ctx: object) -> None:
        failed.set()
        raise ConnectionError("down")

    processor = build_dag(AsyncTask("r", execute=task_func(fails, retries=3, initial_delay=60.0)))
    report = RunReport()
    run = asyncio.ensure_future(processor.process_tasks(object(), observer=report))
    await failed.wait()
    await asyncio.sleep(0)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    timeline = report.last
    assert timeline.outcome == "cancelled"
    # The retry that never ran is reported as a cancelled attempt.
    assert _summary(timeline) == [("r", EXEC, 0, "retried"), ("r", EXEC, 1, "cancelled")]
    rendered = timeline.render()
    assert re.search(r"retry planned after [\d.]+ ms, abandoned: ConnectionError: down", rendered)
    assert "began after" not in rendered
    assert "cancelled" in rendered
