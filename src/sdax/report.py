"""Run reports: a built-in observer that records timelines and draws them.

Attach a :class:`RunReport` to a processor or to one run; once the run has
ended, read its timeline as data (:attr:`RunReport.last`, a
:class:`RunTimeline` of :class:`PhaseRecord` objects) or as a text Gantt
chart (:meth:`RunReport.render`)::

    report = RunReport()
    await processor.process_tasks(ctx, observer=report)
    print(report.render())

The drawing depends only on the records, so a timeline built by hand draws
exactly the same every time.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Literal

from sdax import _validate
from sdax._errors import SdaxTimeoutError
from sdax._phases import PHASE_LABELS, PhaseId, describe_name
from sdax.observe import PhaseEvent, RunInfo, RunObserver

__all__ = [
    "Outcome",
    "PhaseRecord",
    "RunReport",
    "RunTimeline",
    "describe_error",
    "render_timeline",
    "run_outcome",
]

Outcome = Literal["ok", "failed", "retried", "cancelled", "unfinished"]
"""How one attempt ended.

``"ok"``: it succeeded. ``"failed"``: it raised and no retry followed.
``"retried"``: it raised and another attempt was scheduled. ``"cancelled"``:
it was cancelled (a sibling failed, the run was cancelled or hit its
deadline). ``"unfinished"``: the run ended without news of it.
"""

BAR_CHARS: dict[Outcome, str] = {
    "ok": "=",
    "retried": "~",
    "failed": "X",
    "cancelled": "/",
    "unfinished": "?",
}
"""The character that draws each outcome's bar."""

_LEGEND: dict[Outcome, str] = {
    "ok": "ok",
    "retried": "failed, retried",
    "failed": "failed",
    "cancelled": "cancelled",
    "unfinished": "unfinished",
}
_MESSAGE_LIMIT = 100  # characters of an error message shown in a chart row
_EPSILON = 1e-9  # absorbs float noise when times land on column boundaries


def describe_error(error: BaseException) -> str:
    """One line naming an exception: ``"TypeName: first line of its message"``.

    Long messages are cut to about 100 characters.
    """
    text = str(error).strip().splitlines()
    name = type(error).__name__
    if not text:
        return name
    message = text[0]
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 3] + "..."
    return f"{name}: {message}"


@dataclass(frozen=True, slots=True)
class PhaseRecord:
    """One attempt of one phase call, as it happened.

    Attributes:
        task: The task's name.
        phase: The phase.
        attempt: 0 for the first attempt, 1 for the first retry, ...
        start: When the attempt started, in seconds after the run started.
        end: When it ended, in seconds after the run started.
        outcome: How it ended (see :data:`Outcome`).
        error: The exception it ended with (failures and cancellations).
        retry_delay: For a retried attempt: the pause before the next one.
    """

    task: Hashable
    phase: PhaseId
    attempt: int
    start: float
    end: float
    outcome: Outcome
    error: BaseException | None = None
    retry_delay: float | None = None

    @property
    def duration(self) -> float:
        """Seconds from the attempt's start to its end."""
        return self.end - self.start


def run_outcome(error: BaseException | None) -> str:
    """Name what a run raised: ``"ok"`` (nothing), ``"failed"``, ``"timed out"``,
    ``"cancelled"`` or ``"interrupted"`` (``KeyboardInterrupt``, ``SystemExit``, ...).
    """
    if error is None:
        return "ok"
    if isinstance(error, SdaxTimeoutError):
        return "timed out"
    if isinstance(error, Exception):
        return "failed"
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    return "interrupted"


@dataclass(frozen=True, slots=True)
class RunTimeline:
    """Everything a :class:`RunReport` recorded about one run.

    Attributes:
        run_id: The run's number (see :class:`sdax.observe.RunInfo`).
        tasks: Number of tasks of the processor (join and level nodes included).
        duration: Seconds from the run's start to its end (after cleanup).
        records: Every attempt, in the order the attempts started.
        error: What the run raised, or ``None`` when it succeeded.
    """

    run_id: int
    tasks: int
    duration: float
    records: tuple[PhaseRecord, ...]
    error: BaseException | None = None

    @property
    def outcome(self) -> str:
        """``"ok"``, ``"failed"``, ``"timed out"``, ``"cancelled"`` or ``"interrupted"``."""
        return run_outcome(self.error)

    def summary(self) -> str:
        """One line: run number, size, attempt counts, duration and outcome."""
        calls = len({(r.task, r.phase) for r in self.records})
        counts = [
            f"{sum(1 for r in self.records if r.outcome == outcome)} {outcome}"
            for outcome in ("retried", "failed", "cancelled", "unfinished")
            if any(r.outcome == outcome for r in self.records)
        ]
        detail = f" ({', '.join(counts)})" if counts else ""
        attempts = len(self.records)
        unit = _unit_for(max(self.duration, *(r.end for r in self.records), 0.0))
        line = (
            f"run {self.run_id}: {self.tasks} tasks, {calls} phase calls, "
            f"{attempts} {'attempt' if attempts == 1 else 'attempts'}{detail}, "
            f"{_format_time(self.duration, unit)}, {self.outcome}"
        )
        if self.error is not None and self.outcome != "cancelled":
            line += f": {describe_error(self.error)}"
        return line

    def render(self, width: int = 40) -> str:
        """Draw the timeline as a text Gantt chart.

        One row per attempt, in order of start time: task, phase, attempt
        number (from 1), start and duration, a bar on a time axis ``width``
        characters wide, and how the attempt ended when it did not simply
        succeed (a retried attempt whose next attempt is not among the records
        is shown as ``retry ... abandoned``). The result depends only on the
        records.

        Args:
            width: Characters of the time axis (at least 10).

        Returns:
            The chart, lines separated by ``"\\n"``, without a final newline.

        Raises:
            ValueError: ``width`` is below 10.
        """
        return render_timeline(self, width)


def _unit_for(span: float) -> tuple[float, str, int]:
    # One unit for the whole chart keeps its columns aligned.
    if span >= 1.0:
        return 1.0, "s", 3
    return 1000.0, "ms", 1


def _format_time(seconds: float, unit: tuple[float, str, int]) -> str:
    scale, name, digits = unit
    return f"{seconds * scale:.{digits}f} {name}"


def _bar(record: PhaseRecord, span: float, width: int) -> str:
    if span <= 0:
        first, last = 0, 1
    else:
        first = math.floor(record.start / span * width + _EPSILON)
        last = math.ceil(record.end / span * width - _EPSILON)
    first = min(max(first, 0), width - 1)
    last = min(max(last, first + 1), width)
    return " " * first + BAR_CHARS[record.outcome] * (last - first) + " " * (width - last)


def _status(record: PhaseRecord, unit: tuple[float, str, int], followed: bool) -> str:
    error = "" if record.error is None else f": {describe_error(record.error)}"
    if record.outcome == "ok":
        return ""
    if record.outcome == "retried":
        delay = (
            "" if record.retry_delay is None else f" after {_format_time(record.retry_delay, unit)}"
        )
        if not followed:
            # The run stopped (cancelled, deadline) during the pause before the retry.
            return f"retry{delay} abandoned{error}"
        return f"retried{delay}{error}"
    if record.outcome == "cancelled":
        return "cancelled"
    return f"{record.outcome.upper()}{error}"


def render_timeline(timeline: RunTimeline, width: int = 40) -> str:
    """Draw ``timeline`` as a text Gantt chart (see :meth:`RunTimeline.render`).

    Raises:
        ValueError: ``width`` is below 10.
    """
    _validate.bounded_int(width, 10, "width")
    records = sorted(timeline.records, key=lambda r: r.start)
    span = max([timeline.duration, *(r.end for r in records)])
    unit = _unit_for(span)
    lines = [timeline.summary()]
    if not records:
        lines.append("(no phase was called)")
        return "\n".join(lines)
    attempts = {(r.task, r.phase, r.attempt) for r in records}
    names = [describe_name(r.task) for r in records]
    phases = [PHASE_LABELS[r.phase] for r in records]
    starts = [_format_time(r.start, unit) for r in records]
    times = [_format_time(r.duration, unit) for r in records]
    name_w = max(4, *map(len, names))
    phase_w = max(5, *map(len, phases))
    try_w = max(3, *(len(str(r.attempt + 1)) for r in records))
    start_w = max(5, *map(len, starts))
    time_w = max(4, *map(len, times))
    right = _format_time(span, unit)
    axis = "0" + right.rjust(width - 1) if width > len(right) + 1 else right.rjust(width)
    lines.append("")
    lines.append(
        f"{'task':<{name_w}}  {'phase':<{phase_w}}  {'try':>{try_w}}  "
        f"{'start':>{start_w}}  {'time':>{time_w}}  |{axis}|"
    )
    for record, name, phase, start, took in zip(records, names, phases, starts, times, strict=True):
        row = (
            f"{name:<{name_w}}  {phase:<{phase_w}}  {record.attempt + 1:>{try_w}}  "
            f"{start:>{start_w}}  {took:>{time_w}}  |{_bar(record, span, width)}|"
        )
        followed = (record.task, record.phase, record.attempt + 1) in attempts
        status = _status(record, unit, followed)
        lines.append(f"{row}  {status}" if status else row)
    used = [o for o in BAR_CHARS if any(r.outcome == o for r in records)]
    lines.append("")
    lines.append("   ".join(f"{BAR_CHARS[o]} {_LEGEND[o]}" for o in used))
    return "\n".join(lines)


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
        if row is None:  # no start seen: place the record at its end
            row = [event.task, event.phase, event.attempt, event.started, None, None, None, None]
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
        _validate.bounded_int(max_runs, 1, "max_runs", optional=True)
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
