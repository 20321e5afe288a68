"""sdax.contrib.otel: runs traced with OpenTelemetry, checked with the SDK's in-memory exporter.

Skipped when OpenTelemetry is not installed (the ``test`` extra installs it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from _support import build_dag, retry_then_fail

pytest.importorskip("opentelemetry.trace")
pytest.importorskip("opentelemetry.sdk.trace")

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode

from sdax import (
    AsyncDagTaskProcessor,
    AsyncTask,
    SdaxExecutionError,
    task_func,
)
from sdax.contrib.otel import OpenTelemetryObserver
from sdax.observe import RunObserver


def _tracing() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _by_name(spans: Sequence[ReadableSpan]) -> dict[str, list[ReadableSpan]]:
    out: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        out.setdefault(span.name, []).append(span)
    return out


def _attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def _parent_id(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def _span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


async def test_a_run_becomes_a_span_with_one_child_per_attempt() -> None:
    provider, exporter = _tracing()
    processor = retry_then_fail(
        ConnectionError("reset"), ValueError("bad request"), OpenTelemetryObserver(provider)
    )
    with pytest.raises(SdaxExecutionError):
        await processor.process_tasks(object())

    spans = exporter.get_finished_spans()
    names = _by_name(spans)
    assert sorted(names) == sorted(
        [
            "sdax run",
            "db pre_execute",
            "('flags', 1) pre_execute",
            "fetch execute",
            "db post_execute",
        ]
    )
    (run,) = names["sdax run"]
    assert run.parent is None
    assert _attrs(run)["sdax.outcome"] == "failed"
    assert _attrs(run)["sdax.tasks"] == 3
    assert run.status.status_code is StatusCode.ERROR
    assert [e.name for e in run.events] == ["sdax.retry", "exception"]
    retry = dict(run.events[0].attributes or {})
    assert retry == {
        "sdax.task": "('flags', 1)",
        "sdax.phase": "pre_execute",
        "sdax.attempt": 1,
        "sdax.retry_delay": 0.0,
        "sdax.error": "ConnectionError: reset",
    }
    run_exc = dict(run.events[1].attributes or {})
    assert str(run_exc["exception.type"]).endswith("SdaxExecutionError")

    children = [s for s in spans if s is not run]
    for span in children:
        assert _parent_id(span) == _span_id(run)
        assert span.context is not None and run.context is not None
        assert span.context.trace_id == run.context.trace_id
        assert _attrs(span)["sdax.run_id"] == _attrs(run)["sdax.run_id"]

    flags = sorted(names["('flags', 1) pre_execute"], key=lambda s: _attrs(s)["sdax.attempt"])
    assert [
        (_attrs(s)["sdax.attempt"], _attrs(s)["sdax.outcome"], s.status.status_code) for s in flags
    ] == [(0, "retried", StatusCode.ERROR), (1, "ok", StatusCode.UNSET)]
    assert _attrs(flags[0])["sdax.task"] == "('flags', 1)"
    assert _attrs(flags[0])["sdax.will_retry"] is True
    assert [e.name for e in flags[0].events] == ["exception"]

    (fetch,) = names["fetch execute"]
    assert _attrs(fetch) == {
        "sdax.run_id": _attrs(run)["sdax.run_id"],
        "sdax.task": "fetch",
        "sdax.phase": "execute",
        "sdax.attempt": 0,
        "sdax.outcome": "failed",
        "sdax.will_retry": False,
    }
    assert fetch.status.status_code is StatusCode.ERROR
    assert fetch.status.description == "ValueError: bad request"
    (exc_event,) = fetch.events
    assert exc_event.name == "exception"
    assert dict(exc_event.attributes or {})["exception.type"] == "ValueError"
    assert dict(exc_event.attributes or {})["exception.message"] == "bad request"

    (post,) = names["db post_execute"]
    assert (_attrs(post)["sdax.outcome"], post.status.status_code) == ("ok", StatusCode.UNSET)
    # The cleanup ends within the run span.
    assert run.start_time is not None and run.end_time is not None
    assert post.end_time is not None and post.end_time <= run.end_time


async def test_a_successful_run_has_no_error_status() -> None:
    async def ok(ctx: object) -> None:
        return None

    provider, exporter = _tracing()
    processor = build_dag(AsyncTask("only", execute=task_func(ok)))
    await processor.process_tasks(object(), observer=OpenTelemetryObserver(provider))
    names = _by_name(exporter.get_finished_spans())
    (run,) = names["sdax run"]
    (only,) = names["only execute"]
    assert _attrs(run)["sdax.outcome"] == "ok"
    assert run.status.status_code is StatusCode.UNSET
    assert run.events == ()
    assert _attrs(only)["sdax.outcome"] == "ok"


async def test_cancelled_attempts_and_runs_are_not_errors() -> None:
    entered = asyncio.Event()

    async def hang(ctx: object) -> None:
        entered.set()
        await asyncio.Event().wait()

    provider, exporter = _tracing()
    processor = build_dag(AsyncTask("hang", execute=task_func(hang)))
    run_task = asyncio.ensure_future(
        processor.process_tasks(object(), observer=OpenTelemetryObserver(provider))
    )
    await entered.wait()
    run_task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run_task
    names = _by_name(exporter.get_finished_spans())
    (run,) = names["sdax run"]
    (hung,) = names["hang execute"]
    assert _attrs(run)["sdax.outcome"] == "cancelled"
    assert run.status.status_code is StatusCode.UNSET
    assert _attrs(hung)["sdax.outcome"] == "cancelled"
    assert hung.status.status_code is StatusCode.UNSET


async def test_the_run_span_nests_under_the_callers_span_and_phase_spans_are_current() -> None:
    provider, exporter = _tracing()
    tracer = provider.get_tracer("test")
    seen: list[int] = []

    async def traced(ctx: object) -> None:
        seen.append(trace.get_current_span().get_span_context().span_id)
        await asyncio.sleep(0)
        with tracer.start_as_current_span("inside"):
            await asyncio.sleep(0)

    processor = build_dag(AsyncTask("t", pre_execute=task_func(traced), execute=task_func(traced)))
    with tracer.start_as_current_span("request") as request:
        await processor.process_tasks(object(), observer=OpenTelemetryObserver(provider))
        # The phase spans were current only inside the phase functions.
        assert trace.get_current_span() is request

    names = _by_name(exporter.get_finished_spans())
    (req,) = names["request"]
    (run,) = names["sdax run"]
    assert _parent_id(run) == _span_id(req)
    phase_ids = {_span_id(names["t pre_execute"][0]), _span_id(names["t execute"][0])}
    assert set(seen) == phase_ids
    assert {_parent_id(s) for s in names["inside"]} == phase_ids


async def test_phase_spans_are_not_made_current_when_asked() -> None:
    provider, exporter = _tracing()
    seen: list[bool] = []

    async def look(ctx: object) -> None:
        seen.append(trace.get_current_span().get_span_context().is_valid)

    processor = build_dag(AsyncTask("t", execute=task_func(look)))
    observer = OpenTelemetryObserver(provider, activate_phase_spans=False, run_span_name="req")
    await processor.process_tasks(object(), observer=observer)
    assert seen == [False]
    assert sorted(s.name for s in exporter.get_finished_spans()) == ["req", "t execute"]


async def test_concurrent_runs_get_separate_traces() -> None:
    async def step(ctx: object) -> None:
        await asyncio.sleep(0)

    provider, exporter = _tracing()
    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("a", pre_execute=task_func(step), execute=task_func(step)))
        .add_observer(OpenTelemetryObserver(provider))
        .build()
    )
    await asyncio.gather(*(processor.process_tasks(object()) for _ in range(3)))
    spans = exporter.get_finished_spans()
    runs = [s for s in spans if s.name == "sdax run"]
    assert len(runs) == 3
    for run in runs:
        children = [s for s in spans if _parent_id(s) == _span_id(run)]
        assert sorted(s.name for s in children) == ["a execute", "a pre_execute"]
        assert {_attrs(s)["sdax.run_id"] for s in children} == {_attrs(run)["sdax.run_id"]}


def test_the_observer_is_a_run_observer() -> None:
    assert isinstance(OpenTelemetryObserver(), RunObserver)
