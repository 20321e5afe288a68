"""Run timelines as data, and their text Gantt chart (see :mod:`sdax.report`, their home).

Declared below the public faces so that the chart is drawn from records
alone; :class:`sdax.report.RunReport` records them.
"""

# No ``from __future__ import annotations`` here: the classes name their
# public module as ``__module__``, and typing.get_type_hints() looks string
# annotations up there; evaluated ones need no lookup.

import asyncio
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Literal

from sdax._build import PHASE_LABELS, PhaseId, describe_name, validate
from sdax._engine._errors import SdaxTimeoutError

__all__ = [
    "BAR_CHARS",
    "Outcome",
    "PhaseRecord",
    "RunTimeline",
    "describe_error",
    "describe_retry",
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
        start: When the attempt started, in seconds after the run started (an
            attempt that never began, cancelled before it could, starts and ends
            at the cancel).
        end: When it ended, in seconds after the run started.
        outcome: How it ended (see :data:`Outcome`).
        error: The exception it ended with (failures and cancellations).
        retry_delay: For a retried attempt: the pause its retry policy planned
            before the next one (the next attempt may begin later: the loop
            may be busy).
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
        succeed. A retried attempt shows two times: the pause its policy
        planned (``retry planned after 9.6 ms``) and the time until the next
        attempt really began, measured (``began after 10.3 ms``); one whose
        next attempt never began (it is not among the records, or is a
        cancelled one of zero length) shows ``abandoned`` instead.
        The result depends only on the records.

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


def describe_retry(
    record: PhaseRecord, retry: PhaseRecord | None, time_text: Callable[[float], str]
) -> str:
    """The words for a retried attempt's two times, shared by the chart and the page.

    ``"retry planned after 9.6 ms, began after 10.3 ms"``: the pause the retry
    policy drew (``record.retry_delay``; left out when unknown), then the time
    from this attempt's end until ``retry`` (the next attempt) really began,
    measured (later when the loop was busy). A retry the run never began
    (``retry`` is ``None``, or a cancelled record of zero length: the run
    stopped during the pause) says ``abandoned`` instead of the second time.

    Args:
        record: The retried attempt.
        retry: The attempt after it, when there is one.
        time_text: Writes a duration in seconds as text (each output has its units).
    """
    planned = (
        [] if record.retry_delay is None else [f"planned after {time_text(record.retry_delay)}"]
    )
    if retry is None or (retry.outcome == "cancelled" and retry.end <= retry.start):
        return f"retry {', '.join([*planned, 'abandoned'])}"
    began = f"began after {time_text(max(retry.start - record.end, 0.0))}"
    return f"retry {', '.join([*planned, began])}"


def _status(record: PhaseRecord, unit: tuple[float, str, int], retry: PhaseRecord | None) -> str:
    error = "" if record.error is None else f": {describe_error(record.error)}"
    if record.outcome == "ok":
        return ""
    if record.outcome == "retried":
        return describe_retry(record, retry, lambda s: _format_time(s, unit)) + error
    if record.outcome == "cancelled":
        return "cancelled"
    return f"{record.outcome.upper()}{error}"


def render_timeline(timeline: RunTimeline, width: int = 40) -> str:
    """Draw ``timeline`` as a text Gantt chart (see :meth:`RunTimeline.render`).

    Raises:
        ValueError: ``width`` is below 10.
    """
    validate.bounded_int(width, 10, "width")
    records = sorted(timeline.records, key=lambda r: r.start)
    span = max([timeline.duration, *(r.end for r in records)])
    unit = _unit_for(span)
    lines = [timeline.summary()]
    if not records:
        lines.append("(no phase was called)")
        return "\n".join(lines)
    attempts = {(r.task, r.phase, r.attempt): r for r in records}
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
        retry = attempts.get((record.task, record.phase, record.attempt + 1))
        status = _status(record, unit, retry)
        lines.append(f"{row}  {status}" if status else row)
    used = [o for o in BAR_CHARS if any(r.outcome == o for r in records)]
    lines.append("")
    lines.append("   ".join(f"{BAR_CHARS[o]} {_LEGEND[o]}" for o in used))
    return "\n".join(lines)
