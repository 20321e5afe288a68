"""The rules of the stress suite, and the pieces the checker reads a log into.

``RULES`` names every rule a run is checked against (the checker in
``_stress_checker.py`` reports a :class:`Violation` naming one); ``check_loop``
turns what the harness saw on the event loop into violations.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from math import inf

from _stress_log import PHASE_FIELD, RETRYABLE, LoopFindings, PhaseModel

RULES: dict[str, str] = {
    "once": "a phase runs once: its retries follow in order, in the same task, never overlap",
    "attempt-unfinished": "every attempt that started ended before its run returned",
    "attempt-closed": "a phase function is run to its end or cancelled, never just closed",
    "unknown-call": "phase functions run only for phases the task has",
    "retry-policy": "a retry follows only a retryable failure with retries left, and always does",
    "pre-order": "a pre starts only after the pres of everything it depends on succeeded",
    "stop": "after a pre failure, cancellation, interrupt or deadline no pre/execute starts",
    "exec-needs-pres": "an execute starts only after every pre succeeded",
    "exec-skipped": "when every pre succeeded and nothing stopped the run, every execute runs",
    "post-owed": "every owed post runs",
    "post-not-owed": "no post runs that is not owed",
    "post-order": "a post starts after the posts of every task depending on it finished",
    "post-after-pre-exec": "the cleanup starts after every pre and execute ended",
    "post-shielded": (
        "a post is cut short only by its own timeout, the cleanup budget, or the grace of "
        "an outside cancellation that landed while it ran"
    ),
    "unexplained-cancel": "a pre/execute is cancelled only by its own timeout or a stop",
    "budget": "after the cleanup budget ran out, posts are cancelled when they suspend",
    "failures-missing": "every recorded failure is a leaf of the raised error",
    "failures-extra": "the raised error holds recorded failures only, each once",
    "failure-note": "each reported exception carries a note naming its task and phase",
    "failure-order": "failures are reported pre first, then execute, then post",
    "outcome": "interrupt > cancellation > deadline > failures > success reaches the caller",
    "isolation": "a phase sees its own run's context, contextvars and task",
    "observer": "an observer hears of each started run's end once, with what the caller gets",
    "after-end": "no phase function of a run runs after the run returned",
    "pending-tasks": "nothing is left pending on the loop",
    "live-timers": "no timer is left scheduled on the loop",
    "loop-errors": "the loop's exception handler is never called",
    "warnings": "no warning is emitted",
    "escaped": "nothing escapes the event loop",
    "hang": "every run finishes",
}


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule."""

    rule: str
    run: int | None
    detail: str

    def __str__(self) -> str:
        where = "" if self.run is None else f"run {self.run}: "
        return f"[{self.rule}] {where}{self.detail} ({RULES.get(self.rule, '?')})"


@dataclass
class Attempt:
    """One attempt of a call, as read from the log."""

    index: int
    start: int
    suspend: int | None = None
    end: float = inf
    end_kind: str | None = None
    exc: BaseException | None = None
    task: str = ""


@dataclass
class Call:
    """One phase of one task in one run."""

    task: Hashable
    phase: str
    model: PhaseModel
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def start(self) -> int:
        return self.attempts[0].start

    @property
    def last(self) -> Attempt:
        return self.attempts[-1]

    @property
    def succeeded(self) -> bool:
        return self.last.end_kind == "ok"

    def describe(self) -> str:
        return f"task {self.task!r} {PHASE_FIELD[self.phase]}"


@dataclass
class Verdict:
    """The checker's findings for one run (or one loop).

    Attributes:
        violations: Broken rules.
        features: What happened in the run (for the suite's statistics).
    """

    violations: list[Violation] = field(default_factory=list)
    features: set[str] = field(default_factory=set)


def _retryable(exc: BaseException | None) -> bool:
    return isinstance(exc, Exception) and isinstance(exc, RETRYABLE)


def retry_eligible(call: Call, att: Attempt) -> bool:
    """Whether the engine may retry after ``att`` (it failed retryably, retries remain)."""
    if att.index >= call.model.retries:
        return False
    if att.end_kind == "raise":
        return _retryable(att.exc)
    # A cancelled attempt may have timed out: its TimeoutError is retryable.
    return att.end_kind == "cancelled" and call.model.timeout is not None


def check_loop(findings: LoopFindings) -> list[Violation]:
    """Check what the harness saw on the event loop of a scenario."""
    found: list[Violation] = []
    for rule, items in (
        ("pending-tasks", findings.pending),
        ("live-timers", findings.live_timers),
        ("loop-errors", findings.loop_errors),
        ("warnings", findings.warnings),
    ):
        found.extend(Violation(rule, None, item) for item in items)
    if findings.escaped is not None:
        found.append(Violation("escaped", None, findings.escaped))
    found.extend(Violation("hang", run, "did not finish within the guard") for run in findings.hung)
    return found
