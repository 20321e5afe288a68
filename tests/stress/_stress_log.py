"""The data the stress suite records and checks: task models, events, run records.

Everything here is plain data, shared by the harness (which records it while
runs happen) and the checker (which reads it afterwards). Hand-made instances
of these classes are how the checker's own tests feed it broken logs.

Vocabulary:
    call: one phase of one task in one run (``(task, phase)``); it has one or
        more attempts (more when it is retried).
    attempt: one call of the user's phase function; its events are ``start``,
        optionally ``suspend`` (logged right before its first ``await``), and
        one end: ``ok``, ``raise`` (an ``Exception``), ``interrupt`` (a
        ``KeyboardInterrupt``), ``cancelled`` (a ``CancelledError`` reached it)
        or ``closed`` (its coroutine was closed without being run to the end).
    run events: ``driver_start`` (the first engine call is made in this very
        step), ``driver_end`` (the engine call returned or raised),
        ``cancel`` (an outside cancellation was requested: ``info`` is
        ``"outside"`` for a canceller task or ``"timeout_cm"`` for an
        ``asyncio.timeout()`` around the call), ``cancel_inside`` (a phase
        function cancelled its own run's task during its eager step),
        ``deadline`` (the run's deadline timer fired), ``budget`` (the cleanup
        budget timer fired), ``anomaly`` (a phase function saw something
        wrong while it ran: ``info`` names the rule).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise

from sdax import RetryableException
from sdax.tasks import DEFAULT_RETRYABLE_EXCEPTIONS

PRE = "pre"
EXEC = "exec"
POST = "post"
PHASES = (PRE, EXEC, POST)

PHASE_FIELD = {PRE: "pre_execute", EXEC: "execute", POST: "post_execute"}
"""The AsyncTask field of each phase, as the engine names it in its notes."""

ATTEMPT_ENDS = frozenset({"ok", "raise", "interrupt", "cancelled", "closed"})
RUN_EVENTS = frozenset(
    {"driver_start", "driver_end", "cancel", "cancel_inside", "deadline", "budget", "anomaly"}
)


class Boom(Exception):
    """A failure raised by a phase function; never retried."""


class Flaky(ConnectionError):
    """A retryable failure (a ``ConnectionError``)."""


class FlakyToo(RetryableException):
    """Another retryable failure (a ``RetryableException``)."""


RETRYABLE: tuple[type[BaseException], ...] = DEFAULT_RETRYABLE_EXCEPTIONS
"""What the engine retries: the stress tasks keep sdax's default set."""


@dataclass(frozen=True, slots=True)
class PhaseModel:
    """What the checker needs to know about one phase function.

    Attributes:
        timeout: Its per-attempt timeout, or None.
        retries: Its retries.
        kind: ``"async"``, ``"sync"`` or ``"group"`` (a task-group function,
            whose failures reach the engine wrapped in an ExceptionGroup).
    """

    timeout: float | None = None
    retries: int = 0
    kind: str = "async"


@dataclass(frozen=True, slots=True)
class TaskModel:
    """A task: its name and which phases it has."""

    name: Hashable
    pre: PhaseModel | None = None
    exec: PhaseModel | None = None
    post: PhaseModel | None = None

    def phase(self, phase: str) -> PhaseModel | None:
        """The model of ``phase`` (``"pre"``, ``"exec"`` or ``"post"``), or None."""
        if phase == PRE:
            return self.pre
        if phase == EXEC:
            return self.exec
        return self.post


@dataclass(frozen=True)
class GraphModel:
    """The tasks of a processor and who depends on whom.

    Attributes:
        tasks: The tasks by name.
        deps: The direct dependencies of each task (for the level builder:
            every task of the next lower level).
        ancestors: Everything each task depends on, transitively.
    """

    tasks: Mapping[Hashable, TaskModel]
    deps: Mapping[Hashable, tuple[Hashable, ...]]
    ancestors: Mapping[Hashable, frozenset[Hashable]] = field(default_factory=dict)

    @staticmethod
    def of(tasks: Iterable[TaskModel], deps: Mapping[Hashable, Iterable[Hashable]]) -> GraphModel:
        """Build the model and its transitive closure (``deps`` must be acyclic)."""
        by_name = {t.name: t for t in tasks}
        direct = {name: tuple(deps.get(name, ())) for name in by_name}
        ancestors: dict[Hashable, frozenset[Hashable]] = {}

        def close(name: Hashable) -> frozenset[Hashable]:
            # Iterative post-order walk (graphs are small, but keep it simple and safe).
            stack: list[tuple[Hashable, bool]] = [(name, False)]
            while stack:
                node, expanded = stack.pop()
                if node in ancestors:
                    continue
                if expanded:
                    found: set[Hashable] = set()
                    for d in direct[node]:
                        found.add(d)
                        found |= ancestors[d]
                    ancestors[node] = frozenset(found)
                else:
                    stack.append((node, True))
                    stack.extend((d, False) for d in direct[node] if d not in ancestors)
            return ancestors[name]

        for name in by_name:
            close(name)
        return GraphModel(by_name, direct, ancestors)

    @staticmethod
    def of_levels(tasks: Iterable[tuple[TaskModel, int]]) -> GraphModel:
        """The model of a level-built processor: each level waits for the one below."""
        placed = list(tasks)
        levels = sorted({level for _, level in placed})
        below: dict[int, tuple[Hashable, ...]] = {}
        for prev, level in pairwise(levels):
            below[level] = tuple(t.name for t, lv in placed if lv == prev)
        deps = {t.name: below.get(level, ()) for t, level in placed}
        return GraphModel.of([t for t, _ in placed], deps)


@dataclass(frozen=True, slots=True)
class Event:
    """One record of the event log.

    Attributes:
        run: The id of the run whose context the phase function was given
            (for run events: the run it is about).
        kind: See the module docstring.
        task: The task name (phase events only).
        phase: ``"pre"``, ``"exec"`` or ``"post"`` (phase events only).
        attempt: 0 for the first attempt of a call, 1 for its first retry...
        exc: The exception of a ``raise``/``interrupt`` end.
        info: Free text (which rule an anomaly breaks, where a cancel came from;
            for ``start``: which task object runs the attempt, ``task#N``).
    """

    run: int
    kind: str
    task: Hashable = None
    phase: str | None = None
    attempt: int = 0
    exc: BaseException | None = None
    info: str = ""


@dataclass
class RunRecord:
    """One run as the checker sees it.

    Attributes:
        run_id: The run's id (its context object carries it).
        events: ``(seq, event)`` pairs in log order; ``seq`` is the position
            in the whole scenario's log, so runs can be interleaved.
        outcome: What the engine call raised (None: it returned).
        driver: ``"process"`` (``process_tasks``), ``"open"`` (a runner driven
            with ``run_next()`` back to back) or ``"open_pause"`` (with a
            ``sleep(0)`` between phases).
        started: Whether the run's driver reached the engine call (a task
            cancelled before its first step never does).
        observer_errors: For a run with an observer: the ``error`` argument of
            each ``run_finished`` call it received; None without an observer.
        grace_cuts: Whether the grace of a cancellation or of the deadline may
            cut a post (False when the run shields its posts without bound,
            ``cleanup_grace=math.inf``, or has a cleanup budget, which is then
            the grace).
    """

    run_id: int
    events: list[tuple[int, Event]]
    outcome: BaseException | None = None
    driver: str = "process"
    started: bool = True
    observer_errors: list[BaseException | None] | None = None
    grace_cuts: bool = True


@dataclass
class LoopFindings:
    """What the harness saw on the event loop of one scenario.

    Attributes:
        pending: Tasks still pending after every run finished.
        live_timers: Timer handles neither run nor cancelled after every run.
        loop_errors: Calls of the loop's exception handler.
        warnings: Warnings emitted while the scenario ran.
        escaped: An exception that escaped the event loop itself.
        hung: Runs that did not finish within the hang guard.
    """

    pending: list[str] = field(default_factory=list)
    live_timers: list[str] = field(default_factory=list)
    loop_errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    escaped: str | None = None
    hung: list[int] = field(default_factory=list)
