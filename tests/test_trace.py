"""The run as a trace: RunReport.write_trace / timeline_trace.

The trace must be what the Chrome trace-event format asks (the JSON object
form): every event with ``ph``, ``name``, ``pid``, ``tid`` and ``ts``;
complete events (``X``) with ``dur``; instant events (``i``) with a scope;
metadata events (``M``) naming the process and each task's track.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from _support.trace import validate_trace

from sdax import AsyncDagTaskProcessor, AsyncTask, SdaxExecutionError, task_func
from sdax.report import PhaseRecord, RunReport, RunTimeline, timeline_trace
from sdax.sdax_core import PhaseId

PRE, EXEC, POST = PhaseId.PRE_EXEC, PhaseId.EXECUTE, PhaseId.POST_EXEC
PHASES = {PRE: "pre", EXEC: "execute", POST: "post"}


def _timeline() -> RunTimeline:
    return RunTimeline(
        5,
        3,
        0.5,
        (
            PhaseRecord("db", PRE, 0, 0.0, 0.1, "ok"),
            PhaseRecord(("user", 1), PRE, 0, 0.01, 0.05, "retried", ConnectionError("reset"), 0.02),
            PhaseRecord(("user", 1), PRE, 1, 0.07, 0.12, "ok"),
            PhaseRecord("db", EXEC, 0, 0.12, 0.3, "failed", ValueError("bad row")),
            PhaseRecord(("user", 1), EXEC, 0, 0.12, 0.25, "cancelled"),
            PhaseRecord("db", POST, 0, 0.3, 0.45, "ok"),
        ),
        SdaxExecutionError("SDAX task execution failed", [ValueError("bad row")]),
    )


def test_trace_is_valid_and_has_a_track_per_task() -> None:
    timeline = _timeline()
    events = validate_trace(timeline_trace(timeline))
    assert {e["pid"] for e in events} == {timeline.run_id}
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert names == {0: "run", 1: "db", 2: "('user', 1)"}  # in order of first start
    (process,) = [e for e in events if e["name"] == "process_name"]
    assert process["args"]["name"] == "sdax run 5"
    sort = {e["tid"]: e["args"]["sort_index"] for e in events if e["name"] == "thread_sort_index"}
    assert sorted(sort, key=sort.__getitem__) == [0, 1, 2]


def test_each_attempt_is_a_complete_event_with_its_facts() -> None:
    timeline = _timeline()
    events = validate_trace(timeline_trace(timeline))
    tid = {e["args"]["name"]: e["tid"] for e in events if e["name"] == "thread_name"}
    attempts = [e for e in events if e["ph"] == "X" and e["tid"] != 0]
    assert len(attempts) == len(timeline.records)
    expected_outcomes = ["ok", "retried", "ok", "failed", "cancelled", "ok"]
    by_start = sorted(timeline.records, key=lambda r: r.start)
    assert [e["args"]["outcome"] for e in attempts] == [
        expected_outcomes[timeline.records.index(r)] for r in by_start
    ]
    for event, record in zip(attempts, by_start, strict=True):
        task = record.task if isinstance(record.task, str) else repr(record.task)
        assert event["tid"] == tid[task]
        assert event["name"] == f"{task} {PHASES[record.phase]}"
        assert event["ts"] == pytest.approx(record.start * 1e6)
        assert event["dur"] == pytest.approx(record.duration * 1e6)
        assert event["args"]["attempt"] == record.attempt + 1
        assert event["args"]["phase"] == PHASES[record.phase]
        assert ("error" in event["args"]) == (record.error is not None)
    retried = next(e for e in attempts if e["args"]["outcome"] == "retried")
    assert retried["args"]["retry_delay_ms"] == pytest.approx(20.0)
    assert retried["args"]["error"] == "ConnectionError: reset"
    (run,) = [e for e in events if e["ph"] == "X" and e["tid"] == 0]
    assert run["dur"] == pytest.approx(timeline.duration * 1e6)
    assert run["args"]["outcome"] == "failed"


def test_failures_and_cancels_are_instant_events_at_their_end() -> None:
    timeline = _timeline()
    events = validate_trace(timeline_trace(timeline))
    tid = {e["args"]["name"]: e["tid"] for e in events if e["name"] == "thread_name"}
    instants = {
        (e["tid"], round(e["ts"]), e["name"]) for e in events if e["ph"] == "i" and e["s"] == "t"
    }
    assert instants == {
        (tid["('user', 1)"], 50_000, "failed, retried"),
        (tid["db"], 300_000, "failed"),
        (tid["('user', 1)"], 250_000, "cancelled"),
    }
    (run_end,) = [e for e in events if e["ph"] == "i" and e["s"] == "p"]
    assert run_end["ts"] == pytest.approx(timeline.duration * 1e6)
    assert run_end["name"] == "run failed"


def test_run_metadata_is_in_other_data() -> None:
    timeline = _timeline()
    other = timeline_trace(timeline)["otherData"]
    assert other["run_id"] == 5 and other["tasks"] == 3 and other["attempts"] == 6
    assert other["outcome"] == "failed"
    assert other["summary"] == timeline.summary()
    assert other["generator"].startswith("sdax ")


def test_a_run_that_succeeded_has_no_instant_events() -> None:
    timeline = RunTimeline(1, 1, 0.1, (PhaseRecord("a", EXEC, 0, 0.0, 0.1, "ok"),))
    events = validate_trace(timeline_trace(timeline))
    assert not [e for e in events if e["ph"] == "i"]


async def test_write_trace_writes_a_real_run(tmp_path: Path) -> None:
    calls = 0

    async def flaky(ctx: Any) -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.001)
        if calls == 1:
            raise ConnectionError("reset")

    processor = (
        AsyncDagTaskProcessor[Any, Any]
        .builder()
        .add_task(AsyncTask("a", pre_execute=task_func(flaky, retries=1, initial_delay=0.001)))
        .add_task(AsyncTask("b", execute=task_func(asyncio.sleep)), depends_on=("a",))
        .build()
    )
    report = RunReport()
    await processor.process_tasks(0, observer=report)
    path = tmp_path / "run.json"
    report.write_trace(path)
    trace = json.loads(path.read_text(encoding="utf-8"))
    assert trace == json.loads(json.dumps(timeline_trace(report.last)))
    events = validate_trace(trace)
    outcomes = [(e["name"], e["args"]["outcome"]) for e in events if e["ph"] == "X" and e["tid"]]
    assert outcomes == [("a pre", "retried"), ("a pre", "ok"), ("b execute", "ok")]
