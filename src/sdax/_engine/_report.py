"""The run report (public in :mod:`sdax.report`): an observer that records timelines.

The records and their drawing are in :mod:`sdax._engine._timeline`.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from sdax._build import (
    PHASE_LABELS as PHASE_LABELS,  # the chart's phase names
    validate,
)
from sdax._engine._events import PhaseEvent, RunInfo, RunObserver
from sdax._engine._html import timeline_html, timeline_svg
from sdax._engine._timeline import (
    BAR_CHARS as BAR_CHARS,  # the chart's characters
    Outcome,
    PhaseRecord,
    RunTimeline,
)
from sdax._engine._trace import timeline_trace

__all__ = [
    "RunReport",
]


class _Recording:
    """The attempts of one run in progress, as mutable rows.

    A row is ``[task, phase, attempt, start, end, outcome, error, delay]``
    with monotonic times. The records are made only when the timeline is
    read, so the run itself pays for appending rows and nothing more.
    Phases are keyed by ``id()``: hashing an enum member is slow.
    """

    __slots__ = ("end", "error", "info", "open", "retried", "rows")

    def __init__(self, info: RunInfo) -> None:
        self.info = info
        self.error: BaseException | None = None
        self.end = info.started
        self.rows: list[list[Any]] = []
        self.open: dict[tuple[Hashable, int, int], list[Any]] = {}
        self.retried: dict[tuple[Hashable, int], list[Any]] = {}

    def started(self, event: PhaseEvent) -> None:
        row = [
            event.task,
            event.phase,
            event.attempt,
            event.started,
            None,
            "unfinished",
            None,
            None,
        ]
        self.rows.append(row)
        self.open[(event.task, id(event.phase), event.attempt)] = row

    def ended(
        self, event: PhaseEvent, outcome: Outcome, error: BaseException | None = None
    ) -> None:
        row = self.open.pop((event.task, id(event.phase), event.attempt), None)
        if row is None:  # never began (cancelled in a retry pause or for a slot): zero length
            row = [event.task, event.phase, event.attempt, event.time, None, None, None, None]
            self.rows.append(row)
        row[4] = event.time
        row[5] = outcome
        row[6] = error
        if outcome == "retried":
            self.retried[(event.task, id(event.phase))] = row

    def retrying(self, event: PhaseEvent) -> None:
        row = self.retried.pop((event.task, id(event.phase)), None)
        if row is not None and row[2] == event.attempt - 1:
            row[7] = event.delay

    def finish(self, error: BaseException | None, time: float) -> None:
        """Note how and when the run ended (the records are made later)."""
        self.error = error
        self.end = time
        self.open.clear()
        self.retried.clear()

    def timeline(self) -> RunTimeline:
        """The finished run's timeline."""
        origin = self.info.started
        time = self.end
        records = tuple(
            PhaseRecord(
                task,
                phase,
                attempt,
                start - origin,
                (time if end is None else end) - origin,
                outcome,
                err,
                delay,
            )
            for task, phase, attempt, start, end, outcome, err, delay in self.rows
        )
        return RunTimeline(self.info.run_id, self.info.tasks, time - origin, records, self.error)


class RunReport(RunObserver):
    """An observer that records the timeline of every run it watches.

    Attach it to one run (``process_tasks(ctx, observer=report)``) or to a
    processor (``builder.add_observer(report)``); concurrent runs are kept
    apart. Finished runs are kept in :attr:`runs`, oldest first, up to
    ``max_runs`` of them.

    Args:
        max_runs: How many finished runs to keep (``None``: all of them;
            keep a bound for a processor that serves many requests).

    Raises:
        ValueError: ``max_runs`` is below 1.
    """

    def __init__(self, max_runs: int | None = 100) -> None:
        validate.bounded_int(max_runs, 1, "max_runs", optional=True)
        # Finished runs; a _Recording becomes a RunTimeline when first read.
        self._runs: deque[RunTimeline | _Recording] = deque(maxlen=max_runs)
        self._active: dict[int, _Recording] = {}

    def _timeline(self, index: int) -> RunTimeline:
        run = self._runs[index]
        if isinstance(run, _Recording):
            run = self._runs[index] = run.timeline()
        return run

    # -- data ---------------------------------------------------------------------

    @property
    def runs(self) -> tuple[RunTimeline, ...]:
        """The finished runs kept, oldest first."""
        return tuple(self._timeline(i) for i in range(len(self._runs)))

    @property
    def last(self) -> RunTimeline:
        """The run that finished last.

        Raises:
            LookupError: No watched run has finished yet.
        """
        if not self._runs:
            raise LookupError("no run has finished yet")
        return self._timeline(-1)

    @property
    def records(self) -> tuple[PhaseRecord, ...]:
        """The attempts of the last finished run (see :attr:`last`)."""
        return self.last.records

    def render(self, width: int = 40) -> str:
        """The text Gantt chart of the last finished run (see :meth:`RunTimeline.render`)."""
        return self.last.render(width)

    def write_html(self, path: str | os.PathLike[str], width: int = 960) -> None:
        """Write the last finished run as a self-contained HTML page (see :func:`timeline_html`)."""
        Path(path).write_text(timeline_html(self.last, width), encoding="utf-8")

    def write_svg(self, path: str | os.PathLike[str], width: int = 960) -> None:
        """Write the last finished run's picture as one SVG file (see :func:`timeline_svg`)."""
        Path(path).write_text(timeline_svg(self.last, width), encoding="utf-8")

    def write_trace(self, path: str | os.PathLike[str]) -> None:
        """Write the last finished run as a trace-event JSON file (see :func:`timeline_trace`)."""
        Path(path).write_text(json.dumps(timeline_trace(self.last)), encoding="utf-8")

    def clear(self) -> None:
        """Forget the finished runs (runs in progress go on being recorded)."""
        self._runs.clear()

    # -- hooks ----------------------------------------------------------------------

    def _recording(self, run: RunInfo) -> _Recording:
        recording = self._active.get(run.run_id)
        if recording is None:
            recording = self._active[run.run_id] = _Recording(run)
        return recording

    def run_started(self, run: RunInfo) -> None:
        """Start recording ``run``."""
        self._recording(run)

    def run_finished(self, run: RunInfo, error: BaseException | None, time: float) -> None:
        """Close the run's records and keep its timeline."""
        recording = self._recording(run)
        recording.finish(error, time)
        self._runs.append(recording)
        del self._active[run.run_id]

    def phase_started(self, event: PhaseEvent) -> None:
        """Open a record for the attempt."""
        self._recording(event.run).started(event)

    def phase_finished(self, event: PhaseEvent) -> None:
        """Close the attempt's record as ``"ok"``."""
        self._recording(event.run).ended(event, "ok")

    def phase_failed(self, event: PhaseEvent) -> None:
        """Close the attempt's record as ``"retried"`` or ``"failed"``."""
        outcome: Outcome = "retried" if event.will_retry else "failed"
        self._recording(event.run).ended(event, outcome, event.error)

    def phase_retrying(self, event: PhaseEvent) -> None:
        """Note the delay before the next attempt on the failed attempt's record."""
        self._recording(event.run).retrying(event)

    def phase_cancelled(self, event: PhaseEvent) -> None:
        """Close the attempt's record as ``"cancelled"``."""
        self._recording(event.run).ended(event, "cancelled", event.error)
