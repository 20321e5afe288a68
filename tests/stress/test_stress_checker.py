"""The stress checker can fail: hand-made logs that break each rule are flagged.

Every case starts from a log the checker accepts (``HAPPY``, or a failing run
that is reported correctly) and changes one thing. Each rule of
``_stress_rules.RULES`` has at least one case here
(``test_every_rule_has_a_breaking_log``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import pytest
from _stress_checker import check_all, check_run
from _stress_log import (
    PHASE_FIELD,
    RUN_EVENTS,
    Boom,
    Event,
    Flaky,
    GraphModel,
    LoopFindings,
    PhaseModel,
    RunRecord,
    TaskModel,
)
from _stress_rules import RULES, Verdict, check_loop

from sdax import SdaxExecutionError, SdaxTimeoutError

P = PhaseModel()
MODEL = GraphModel.of(
    [TaskModel("a", P, P, P), TaskModel("b", P, P, P), TaskModel("j")], {"b": ("a",)}
)
"""``a`` -> ``b`` (``b`` depends on ``a``), both with every phase; ``j`` is a join."""

HAPPY = [
    "driver_start",
    "a pre start",
    "a pre ok",
    "b pre start",
    "b pre ok",
    "a exec start",
    "b exec start",
    "a exec ok",
    "b exec ok",
    "b post start",
    "b post ok",
    "a post start",
    "a post ok",
    "driver_end",
]

Step = str | tuple[str, BaseException]
E = TypeVar("E", bound=BaseException)


def noted(exc: E, task: str, phase: str) -> E:
    """``exc`` with the note the engine adds to reported failures."""
    exc.add_note(f"sdax: raised by task {task!r} {PHASE_FIELD[phase]}")
    return exc


def events(steps: Sequence[Step], run: int = 0) -> list[tuple[int, Event]]:
    """Parse steps like ``"a pre start"``, ``"b exec raise"`` (with an exception),
    ``"a pre start #1"`` (attempt 1), ``"deadline"`` or ``"cancel outside"``."""
    out = []
    for seq, step in enumerate(steps):
        text, exc = (step, None) if isinstance(step, str) else step
        words = text.split()
        if words[0] in RUN_EVENTS:
            out.append((seq, Event(run, words[0], info=" ".join(words[1:]))))
            continue
        attempt = int(words[3][1:]) if len(words) > 3 else 0
        out.append((seq, Event(run, words[2], words[0], words[1], attempt, exc)))
    return out


def replace(steps: Sequence[Step], old: str, *new: Step) -> list[Step]:
    """``steps`` with the step ``old`` replaced by ``new`` (nothing: removed)."""
    i = list(steps).index(old)
    return [*steps[:i], *new, *steps[i + 1 :]]


@dataclass
class Case:
    """A broken log and the rule it breaks."""

    rule: str
    steps: Sequence[Step]
    outcome: BaseException | None = None
    model: GraphModel = MODEL
    driver: str = "process"
    observer_errors: list[BaseException | None] | None = None

    def check(self) -> Verdict:
        record = RunRecord(
            0, events(self.steps), self.outcome, self.driver, True, self.observer_errors
        )
        return check_run(self.model, record)


def boom_in_exec() -> tuple[list[Step], Exception]:
    """HAPPY, but ``b``'s execute raised Boom."""
    exc = noted(Boom("b exec"), "b", "exec")
    return replace(HAPPY, "b exec ok", ("b exec raise", exc)), exc


def failing_cases() -> list[Case]:
    """One or more broken logs per rule."""
    boom_steps, boom = boom_in_exec()
    retrying = GraphModel.of([TaskModel("a", pre=PhaseModel(retries=1), post=P)], {})
    timed = GraphModel.of([TaskModel("a", exec=PhaseModel(timeout=0.001))], {})
    flaky = noted(Flaky("a pre"), "a", "pre")
    interrupt = KeyboardInterrupt()
    post_boom = noted(Boom("a post"), "a", "post")
    pre_boom = noted(Boom("a pre"), "a", "pre")
    return [
        Case("once", replace(HAPPY, "a pre ok", "a pre ok", "a pre start", "a pre ok")),
        Case("once", replace(HAPPY, "a exec start", "a exec start", "a exec start")),
        Case("attempt-unfinished", replace(HAPPY, "a exec ok")),
        Case("attempt-closed", replace(HAPPY, "a exec ok", "a exec closed")),
        Case("unknown-call", replace(HAPPY, "a pre ok", "a pre ok", "j pre start", "j pre ok")),
        Case(
            "retry-policy",
            [
                "driver_start",
                ("a pre start", Boom()),
                ("a pre raise", Boom()),
                "a pre start #1",
                "a pre ok #1",
                "a post start",
                "a post ok",
                "driver_end",
            ],
            model=retrying,
        ),
        Case(
            "retry-policy",  # retryable failure with a retry left, yet no retry
            [
                "driver_start",
                "a pre start",
                ("a pre raise", flaky),
                "a post start",
                "a post ok",
                "driver_end",
            ],
            model=retrying,
        ),
        Case("pre-order", ["driver_start", "b pre start", "a pre start", *HAPPY[2:]]),
        Case("stop", replace(HAPPY, "b pre start", "deadline", "b pre start")),
        Case(
            "stop",
            replace(HAPPY, "a exec start", "cancel outside", "a exec start"),
            outcome=asyncio.CancelledError(),
        ),
        Case(
            "exec-needs-pres",
            ["driver_start", "a pre start", "a pre ok", "a exec start", *HAPPY[3:5], *HAPPY[6:]],
        ),
        Case("exec-skipped", [s for s in HAPPY if not s.startswith("a exec")]),
        Case("post-owed", [s for s in HAPPY if not s.startswith("b post")]),
        Case(
            "post-not-owed",
            [
                "driver_start",
                "a pre start",
                ("a pre raise", pre_boom),
                "b post start",
                "b post ok",
                "a post start",
                "a post ok",
                "driver_end",
            ],
            outcome=SdaxExecutionError("x", [pre_boom]),
        ),
        Case(
            "post-order",
            [*HAPPY[:9], "b post start", "a post start", "b post ok", "a post ok", "driver_end"],
        ),
        Case(
            "post-after-pre-exec",
            [*HAPPY[:7], "b post start", "a exec ok", "b exec ok", "b post ok", *HAPPY[11:]],
        ),
        Case(
            "post-shielded",
            replace(HAPPY, "b post ok", "b post cancelled"),
            outcome=SdaxExecutionError("x", [noted(TimeoutError(), "b", "post")]),
        ),
        Case(
            "post-shielded",  # cut before any cancellation arrived
            [*HAPPY[:9], "b post start", "b post cancelled", "cancel outside", *HAPPY[11:]],
            outcome=asyncio.CancelledError(),
        ),
        Case("unexplained-cancel", replace(HAPPY, "a exec ok", "a exec cancelled")),
        Case(
            "budget",
            replace(HAPPY, "a post start", "budget", "a post start", "a post suspend"),
        ),
        Case(
            "budget",
            replace(HAPPY, "b post start", "b post start", "b post suspend", "budget"),
        ),
        Case("failures-missing", boom_steps, outcome=SdaxExecutionError("x", [ValueError()])),
        Case(
            "outcome",  # a timed-out attempt must be reported as a TimeoutError
            ["driver_start", "a exec start", "a exec suspend", "a exec cancelled", "driver_end"],
            outcome=None,
            model=timed,
        ),
        Case(
            "failures-missing",
            ["driver_start", "a exec start", "a exec suspend", "a exec cancelled", "driver_end"],
            outcome=SdaxExecutionError("x", [ValueError()]),
            model=timed,
        ),
        Case(
            "failures-extra",
            boom_steps,
            outcome=SdaxExecutionError("x", [boom, noted(ValueError(), "a", "exec")]),
        ),
        Case("failures-extra", boom_steps, outcome=SdaxExecutionError("x", [boom, boom])),
        Case(
            "failures-extra",  # a TimeoutError for a call that cannot have timed out
            boom_steps,
            outcome=SdaxExecutionError("x", [boom, noted(TimeoutError(), "a", "exec")]),
        ),
        Case(
            "failure-note",
            replace(HAPPY, "b exec ok", ("b exec raise", bare := Boom())),
            outcome=SdaxExecutionError("x", [bare]),
        ),
        Case(
            "failure-order",
            replace(boom_steps, "a post ok", ("a post raise", post_boom)),
            outcome=SdaxExecutionError("x", [post_boom, boom]),
        ),
        Case("outcome", boom_steps, outcome=None),
        Case("outcome", HAPPY, outcome=ValueError()),
        Case(
            "outcome",
            replace(HAPPY, "b exec ok", ("b exec interrupt", interrupt)),
            outcome=KeyboardInterrupt(),
        ),
        Case("outcome", replace(HAPPY, "b post ok", "b post ok", "cancel outside")),
        Case(
            "outcome",
            replace(HAPPY, "b post ok", "b post ok", "cancel timeout_cm"),
            outcome=asyncio.CancelledError(),
        ),
        Case("outcome", replace(HAPPY, "b exec ok", "b exec ok", "deadline")),
        Case(
            "outcome",  # the deadline wins over failures
            replace(boom_steps, "a exec ok", "a exec ok", "deadline"),
            outcome=SdaxExecutionError("x", [boom]),
        ),
        Case(
            "outcome",  # the same through open(): the runner must keep the priority
            replace(boom_steps, "a exec ok", "a exec ok", "deadline"),
            outcome=SdaxExecutionError("x", [boom]),
            driver="open",
        ),
        Case(
            "outcome",  # a cancellation between phases outranks the deadline
            replace(HAPPY, "b exec ok", "b exec ok", "deadline", "cancel outside"),
            outcome=SdaxTimeoutError("late"),
            driver="open_pause",
        ),
        Case(
            "outcome",  # SdaxTimeoutError's cause must hold its failures
            replace(boom_steps, "a exec ok", "a exec ok", "deadline"),
            outcome=SdaxTimeoutError("late", [boom]),
        ),
        Case("isolation", replace(HAPPY, "a pre ok", "a pre ok", "anomaly isolation: shared")),
        Case("observer", HAPPY, observer_errors=[None, None]),
        Case("observer", HAPPY, observer_errors=[ValueError()]),
        Case("after-end", [*HAPPY, "a post start", "a post ok"]),
        Case("hang", HAPPY[:-1]),
    ]


CASES = failing_cases()


def test_happy_log_passes() -> None:
    verdict = Case("none", HAPPY).check()
    assert verdict.violations == []


def test_failures_reported_correctly_pass() -> None:
    steps, boom = boom_in_exec()
    assert Case("none", steps, outcome=SdaxExecutionError("x", [boom])).check().violations == []
    late = SdaxTimeoutError("late", [boom])
    late.__cause__ = SdaxExecutionError("x", [boom])
    deadline = replace(steps, "a exec ok", "a exec ok", "deadline")
    assert Case("none", deadline, outcome=late).check().violations == []


@pytest.mark.parametrize(
    "steps",
    [
        [*HAPPY[:9], "b post start", "cancel outside", "b post cancelled", *HAPPY[11:]],
        # a post that started after the cancellation has the grace from its start
        [*HAPPY[:9], "cancel outside", "b post start", "b post cancelled", *HAPPY[11:]],
        [
            *HAPPY[:7],
            "cancel outside",
            "a exec cancelled",
            "b exec cancelled",
            *HAPPY[9:10],
            "b post cancelled",
            "a post start",
            "a post cancelled",
            HAPPY[-1],
        ],
    ],
    ids=["running-then", "started-after", "chain"],
)
def test_a_post_cut_by_the_grace_of_a_cancel_passes(steps: list[Step]) -> None:
    verdict = Case("none", steps, outcome=asyncio.CancelledError()).check()
    assert verdict.violations == []
    assert "post-cut-by-grace" in verdict.features


def test_a_post_cut_by_the_grace_after_the_deadline_passes() -> None:
    steps = [*HAPPY[:7], "deadline", "a exec cancelled", "b exec cancelled", *HAPPY[9:10]]
    steps += ["b post cancelled", *HAPPY[11:]]
    verdict = Case("none", steps, outcome=SdaxTimeoutError("late")).check()
    assert verdict.violations == []
    assert "post-cut-by-grace" in verdict.features


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{c.rule}" for i, c in enumerate(CASES)])
def test_broken_log_is_flagged(case: Case) -> None:
    verdict = case.check()
    rules = {v.rule for v in verdict.violations}
    assert case.rule in rules, f"{case.rule} not flagged; found {verdict.violations}"


def test_every_rule_has_a_breaking_log() -> None:
    loop_rules = {"pending-tasks", "live-timers", "loop-errors", "warnings", "escaped"}
    covered = {c.rule for c in CASES} | loop_rules
    assert covered == set(RULES)


def test_loop_findings_are_flagged() -> None:
    findings = LoopFindings(
        pending=["<Task pending>"],
        live_timers=["<timer>"],
        loop_errors=["Task exception was never retrieved"],
        warnings=["RuntimeWarning: coroutine was never awaited"],
        escaped="KeyboardInterrupt()",
        hung=[3],
    )
    rules = [v.rule for v in check_loop(findings)]
    assert rules == ["pending-tasks", "live-timers", "loop-errors", "warnings", "escaped", "hang"]
    assert check_loop(LoopFindings()) == []


def test_event_of_another_run_is_flagged() -> None:
    record = RunRecord(0, [(0, Event(1, "driver_start")), *events(HAPPY)[1:]])
    assert "isolation" in {v.rule for v in check_run(MODEL, record).violations}


def test_merged_verdict_keeps_every_violation() -> None:
    steps, boom = boom_in_exec()
    deadline = replace(steps, "a exec ok", "a exec ok", "deadline")
    records = [
        RunRecord(0, events(deadline), SdaxExecutionError("x", [boom]), "open"),
        RunRecord(1, events(HAPPY, run=1), None),
        RunRecord(2, events(HAPPY[:-1], run=2), None),
    ]
    verdict = check_all(MODEL, records, LoopFindings(warnings=["w"]))
    assert sorted((v.rule, v.run) for v in verdict.violations) == [
        ("hang", 2),
        ("outcome", 0),
        ("warnings", None),
    ]
