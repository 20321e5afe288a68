"""A run timeline as a trace: the Chrome trace-event JSON format.

Perfetto's UI (ui.perfetto.dev, "Open trace file") and ``chrome://tracing``
open it. The run is one process (``pid``: the run's number) named
``sdax run N``; track 0 (``tid`` 0) holds the run itself, and each task
that was called has its own track (``tid`` 1, 2, ... in order of first
start) named after the task, through ``thread_name`` and
``thread_sort_index`` metadata events.

Each attempt is a complete event (``"ph": "X"``) named ``"<task> <phase>"``
(as :mod:`sdax.contrib.otel` names its spans), with the task, phase,
attempt (from 1), outcome (the mark of :mod:`sdax._engine._marks`), error and retry
delay in ``args``. Attempts that failed, were retried, timed out, were
cancelled or cut get an instant event (``"ph": "i"``, thread scope) at their
end as well, so they stand out when zoomed out; a run that failed gets a
process-wide instant event at its end. Times are microseconds from the run's
start. ``otherData`` holds the run's metadata.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from sdax._build import PHASE_LABELS, describe_name
from sdax._engine._marks import mark_of
from sdax._engine._timeline import PhaseRecord, RunTimeline, describe_error
from sdax._version import __version__

__all__ = ["timeline_trace"]


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 3)


def _attempt_args(record: PhaseRecord, outcome: str) -> dict[str, Any]:
    args: dict[str, Any] = {
        "task": describe_name(record.task),
        "phase": PHASE_LABELS[record.phase],
        "attempt": record.attempt + 1,
        "outcome": outcome,
    }
    if record.error is not None:
        args["error"] = describe_error(record.error)
    if record.retry_delay is not None:
        args["retry_delay_ms"] = round(record.retry_delay * 1e3, 3)
    return args


def timeline_trace(timeline: RunTimeline) -> dict[str, Any]:
    """``timeline`` in the Chrome trace-event format, as a JSON-ready dict.

    ``json.dump`` it to a file; Perfetto's UI and ``chrome://tracing`` open
    it. The run is one process (``pid``: the run's number); track 0 is the
    run itself, and each task that was called has its own track (``tid`` 1,
    2, ... in order of first start, named by ``thread_name`` metadata). Each
    attempt is a complete event (``"ph": "X"``) named ``"<task> <phase>"``,
    with the task, phase, attempt (from 1), outcome, error and retry delay in
    its ``args``; attempts that failed, were retried, cancelled or cut also
    get an instant event (``"ph": "i"``) at their end, and a run that did not
    succeed one at its end. Times are microseconds from the run's start; the
    run's facts are in ``otherData``.
    """
    pid = timeline.run_id
    records = sorted(timeline.records, key=lambda r: r.start)
    tids: dict[Hashable, int] = {}
    for record in records:
        tids.setdefault(record.task, len(tids) + 1)
    events: list[dict[str, Any]] = [
        {
            "ph": "M",
            "name": "process_name",
            "pid": pid,
            "tid": 0,
            "ts": 0,
            "args": {"name": f"sdax run {timeline.run_id}"},
        },
        {"ph": "M", "name": "thread_name", "pid": pid, "tid": 0, "ts": 0, "args": {"name": "run"}},
        {
            "ph": "M",
            "name": "thread_sort_index",
            "pid": pid,
            "tid": 0,
            "ts": 0,
            "args": {"sort_index": 0},
        },
    ]
    for task, tid in tids.items():
        events.append(
            {
                "ph": "M",
                "name": "thread_name",
                "pid": pid,
                "tid": tid,
                "ts": 0,
                "args": {"name": describe_name(task)},
            }
        )
        events.append(
            {
                "ph": "M",
                "name": "thread_sort_index",
                "pid": pid,
                "tid": tid,
                "ts": 0,
                "args": {"sort_index": tid},
            }
        )
    run_args: dict[str, Any] = {"tasks": timeline.tasks, "outcome": timeline.outcome}
    if timeline.error is not None:
        run_args["error"] = describe_error(timeline.error)
    events.append(
        {
            "ph": "X",
            "name": "run",
            "cat": "sdax.run",
            "pid": pid,
            "tid": 0,
            "ts": 0,
            "dur": _us(timeline.duration),
            "args": run_args,
        }
    )
    for record in records:
        mark = mark_of(record)
        tid = tids[record.task]
        phase = PHASE_LABELS[record.phase]
        args = _attempt_args(record, mark.key)
        events.append(
            {
                "ph": "X",
                "name": f"{describe_name(record.task)} {phase}",
                "cat": f"sdax.{phase}",
                "pid": pid,
                "tid": tid,
                "ts": _us(record.start),
                "dur": _us(record.duration),
                "args": args,
            }
        )
        if mark.instant:
            events.append(
                {
                    "ph": "i",
                    "s": "t",
                    "name": mark.label,
                    "cat": f"sdax.{mark.key}",
                    "pid": pid,
                    "tid": tid,
                    "ts": _us(record.end),
                    "args": args,
                }
            )
    if timeline.error is not None:
        events.append(
            {
                "ph": "i",
                "s": "p",
                "name": f"run {timeline.outcome}",
                "cat": "sdax.run",
                "pid": pid,
                "tid": 0,
                "ts": _us(timeline.duration),
                "args": run_args,
            }
        )
    return {
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {
            "generator": f"sdax {__version__}",
            "run_id": timeline.run_id,
            "tasks": timeline.tasks,
            "attempts": len(records),
            "duration_ms": round(timeline.duration * 1e3, 3),
            "outcome": timeline.outcome,
            "summary": timeline.summary(),
        },
    }
