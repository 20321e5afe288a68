"""The observer protocol and its events (see :mod:`sdax.observe`, their public home).

Declared here, below the public faces, because the run engine builds the
events and calls the hooks.
"""

# No ``from __future__ import annotations`` here: the classes name their
# public module as ``__module__``, and typing.get_type_hints() looks string
# annotations up there; evaluated ones need no lookup.

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from sdax._build import PhaseId

__all__ = ["PhaseEvent", "RunInfo", "RunObserver"]


@dataclass(frozen=True, slots=True)
class RunInfo:
    """Identifies one run.

    Attributes:
        run_id: A number unique within the process.
        ctx: The run's context object.
        started: When the run started.
        tasks: Number of tasks in the processor.
    """

    run_id: int
    ctx: Any
    started: float
    tasks: int


@dataclass(frozen=True, slots=True, init=False)
class PhaseEvent:
    """Something that happened to one attempt of one phase call.

    Attributes:
        run: The run it belongs to.
        task: The task's name.
        phase: Which phase.
        attempt: 0 for the first attempt, 1 for the first retry, ...
        time: When it happened.
        started: When the attempt started (equal to ``time`` for a start).
        error: The exception, for failures, retries and cancellations.
        will_retry: For a failure: whether another attempt follows.
        delay: For a retry: the delay before the next attempt, in seconds.
    """

    run: RunInfo
    task: Hashable
    phase: PhaseId
    attempt: int
    time: float
    started: float
    error: BaseException | None = None
    will_retry: bool = False
    delay: float | None = None

    def __init__(
        self,
        run: RunInfo,
        task: Hashable,
        phase: PhaseId,
        attempt: int,
        time: float,
        started: float,
        error: BaseException | None = None,
        will_retry: bool = False,
        delay: float | None = None,
    ) -> None:
        # Events are built on the hot path of observed runs: set the slots
        # directly (what the frozen dataclass does, only faster).
        for field, value in (
            ("run", run),
            ("task", task),
            ("phase", phase),
            ("attempt", attempt),
            ("time", time),
            ("started", started),
            ("error", error),
            ("will_retry", will_retry),
            ("delay", delay),
        ):
            _SETTERS[field](self, value)

    @property
    def duration(self) -> float:
        """Seconds from the attempt's start to this event."""
        return self.time - self.started


_SETTERS = {name: PhaseEvent.__dict__[name].__set__ for name in PhaseEvent.__slots__}


class RunObserver:
    """Base class of observers; every hook does nothing by default."""

    def run_started(self, run: RunInfo) -> None:
        """A run started."""

    def run_finished(self, run: RunInfo, error: BaseException | None, time: float) -> None:
        """A run ended, after its cleanup; ``error`` is what it raises, if anything."""

    def phase_started(self, event: PhaseEvent) -> None:
        """An attempt of a phase call started."""

    def phase_finished(self, event: PhaseEvent) -> None:
        """An attempt of a phase call succeeded."""

    def phase_failed(self, event: PhaseEvent) -> None:
        """An attempt failed (``event.will_retry`` tells whether another follows)."""

    def phase_retrying(self, event: PhaseEvent) -> None:
        """A retry is scheduled after ``event.delay`` seconds."""

    def phase_cancelled(self, event: PhaseEvent) -> None:
        """An attempt was cancelled (a sibling failed, the run was cancelled, ...)."""
