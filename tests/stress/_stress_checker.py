"""The rule checker of the stress suite: reads a run's event log, names broken rules.

``check_run(model, record)`` returns a :class:`Verdict` whose ``violations``
each name one rule of ``_stress_rules.RULES``. The checker never looks at clocks: every
expectation follows from the order of the logged events, so a slow machine
changes which cases happen, never whether a case passes.

Stops: a run is *stopped* by the first of: an outside cancellation request,
the run's deadline firing, an interrupt raised by a phase function, or a pre
failure (a pre's last attempt raised something that is not retried, or timed
out). The engine learns of each of these before it starts anything else, so
no pre or execute call may start after it. A phase function cancelling its own
run during its eager step (``cancel_inside``) only takes effect at the run's
next suspension, so it explains skipped work but bounds nothing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Hashable, Iterable
from itertools import pairwise
from math import inf

from _stress_log import (
    EXEC,
    PHASES,
    POST,
    PRE,
    Event,
    GraphModel,
    LoopFindings,
    RunRecord,
)
from _stress_rules import (
    RULES,
    Attempt,
    Call,
    Verdict,
    Violation,
    check_loop,
    retry_eligible,
)

from sdax import SdaxExecutionError, SdaxTimeoutError, flatten_exceptions


class _RunCheck:
    """The checks of one run; ``verdict`` collects what they find."""

    def __init__(self, model: GraphModel, record: RunRecord) -> None:
        self.model = model
        self.rec = record
        self.verdict = Verdict()
        self.calls: dict[tuple[Hashable, str], Call] = {}
        self.run_events: list[tuple[int, Event]] = []

    def fail(self, rule: str, detail: str) -> None:
        self.verdict.violations.append(Violation(rule, self.rec.run_id, detail))

    # -- reading the log ---------------------------------------------------------

    def parse(self) -> None:
        running: dict[tuple[Hashable, str], Attempt] = {}
        for seq, ev in self.rec.events:
            if ev.run != self.rec.run_id:
                self.fail("isolation", f"event of run {ev.run} in this run's log: {ev}")
                continue
            if ev.phase is None:
                self.run_events.append((seq, ev))
                if ev.kind == "anomaly":
                    rule, _, detail = ev.info.partition(":")
                    self.fail(rule if rule in RULES else "isolation", detail.strip() or ev.info)
                continue
            task = self.model.tasks.get(ev.task)
            pm = None if task is None else task.phase(ev.phase)
            if pm is None:
                self.fail("unknown-call", f"{ev.phase} of task {ev.task!r} ran")
                continue
            key = (ev.task, ev.phase)
            if ev.kind == "start":
                call = self.calls.setdefault(key, Call(ev.task, ev.phase, pm))
                if key in running or ev.attempt != len(call.attempts):
                    self.fail(
                        "once",
                        f"{call.describe()} attempt {ev.attempt} started at #{seq} "
                        f"after {len(call.attempts)} attempt(s)"
                        + (" while one was running" if key in running else ""),
                    )
                att = Attempt(len(call.attempts), seq, task=ev.info)
                if call.attempts and call.attempts[-1].task != att.task:
                    self.fail(
                        "once",
                        f"{call.describe()} attempt {ev.attempt} runs in {att.task}, the one "
                        f"before in {call.attempts[-1].task}: a second call, not a retry",
                    )
                call.attempts.append(att)
                running[key] = att
            elif ev.kind == "suspend":
                if key in running and running[key].suspend is None:
                    running[key].suspend = seq
            else:
                ended = running.pop(key, None)
                if ended is None:
                    self.fail("once", f"{ev.kind} of {ev.task!r} {ev.phase} at #{seq} ends nothing")
                    continue
                ended.end, ended.end_kind, ended.exc = seq, ev.kind, ev.exc
                if ev.kind == "closed":
                    self.fail("attempt-closed", f"task {ev.task!r} {ev.phase} at #{seq}")
        for (name, phase), att in running.items():
            self.fail(
                "attempt-unfinished", f"task {name!r} {phase} attempt {att.index} never ended"
            )

    def first_run_event(self, kind: str, info: str | None = None) -> float:
        for seq, ev in self.run_events:
            if ev.kind == kind and (info is None or ev.info == info):
                return seq
        return inf

    def calls_of(self, phase: str) -> list[Call]:
        return [c for c in self.calls.values() if c.phase == phase]

    # -- the rules ---------------------------------------------------------------

    def check(self) -> Verdict:
        self.parse()
        f = self.verdict.features
        self.deadline = self.first_run_event("deadline")
        self.budget = self.first_run_event("budget")
        self.cancel_outside = self.first_run_event("cancel", "outside")
        self.cancel_cm = self.first_run_event("cancel", "timeout_cm")
        self.cancel_inside = self.first_run_event("cancel_inside")
        self.first_cancel = self.first_run_event("cancel")
        self.driver_end = self.first_run_event("driver_end")
        self.interrupts = sorted(
            (a.end, a.exc)
            for c in self.calls.values()
            for a in c.attempts
            if a.end_kind == "interrupt"
        )
        interrupt_at = self.interrupts[0][0] if self.interrupts else inf
        outside_stop = min(self.deadline, self.cancel_outside, self.cancel_cm, interrupt_at)
        self.pre_failure = self.first_pre_failure(min(outside_stop, self.cancel_inside))
        self.stop = min(outside_stop, self.pre_failure)
        self.any_stop = min(self.stop, self.cancel_inside)
        for name, seq in (
            ("deadline", self.deadline),
            ("budget", self.budget),
            ("cancel", self.cancel_outside),
            ("timeout-cm", self.cancel_cm),
            ("cancel-inside", self.cancel_inside),
            ("interrupt", interrupt_at),
            ("pre-failure", self.pre_failure),
        ):
            if seq < inf:
                f.add(name)
        if any(len(c.attempts) > 1 for c in self.calls.values()):
            f.add("retry")
        if any(isinstance(c.last.exc, asyncio.CancelledError) for c in self.calls.values()):
            f.add("self-cancel")
        if self.rec.driver != "process":
            f.add(f"driver-{self.rec.driver}")
        self.check_retries()
        self.check_pre()
        self.check_exec()
        self.check_posts()
        self.check_cancellations()
        self.check_outcome()
        self.check_observer()
        self.check_end()
        return self.verdict

    def first_pre_failure(self, other_stop: float) -> float:
        """Where the first pre failure happened (inf: none)."""
        first = inf
        for call in sorted(self.calls_of(PRE), key=lambda c: c.last.end):
            last = call.last
            if last.end_kind == "raise" and not retry_eligible(call, last):
                first = min(first, last.end)
            elif last.end_kind == "cancelled" and min(first, other_stop) > last.end:
                # Nothing stopped the run before: only its own timeout cancelled it.
                if call.model.timeout is not None and not retry_eligible(call, last):
                    first = min(first, last.end)
        return first

    def check_retries(self) -> None:
        for call in self.calls.values():
            for prev, att in pairwise(call.attempts):
                if not retry_eligible(call, prev):
                    self.fail(
                        "retry-policy",
                        f"{call.describe()} attempt {att.index} started after attempt "
                        f"{prev.index} ended with {prev.end_kind} "
                        f"{type(prev.exc).__name__ if prev.exc else ''}".rstrip(),
                    )
            last = call.last
            if last.end_kind in ("raise", "cancelled") and retry_eligible(call, last):
                # The retry must follow unless the run stopped (pre/execute) or the
                # cleanup budget ran out (post); a timed-out attempt counts only
                # when nothing else can have cancelled it.
                excuse = self.budget if call.phase == POST else self.any_stop
                if last.end_kind == "cancelled" and excuse < last.end:
                    continue
                if call.phase == POST and self.grace_cut(call, last):
                    continue  # the grace ran out during the attempt or the wait for its retry
                if excuse == inf:
                    self.fail(
                        "retry-policy",
                        f"{call.describe()} attempt {last.index} ended with {last.end_kind} "
                        f"and {call.model.retries} retries, but no retry followed",
                    )

    def check_pre(self) -> None:
        tasks = self.model.tasks
        for call in self.calls_of(PRE):
            for anc in self.model.ancestors[call.task]:
                if tasks[anc].pre is None:
                    continue
                dep = self.calls.get((anc, PRE))
                if dep is None or not dep.succeeded or dep.last.end > call.start:
                    self.fail(
                        "pre-order",
                        f"pre of {call.task!r} started at #{call.start} before the pre of "
                        f"{anc!r} succeeded",
                    )
        for call in self.calls.values():
            if call.phase != POST and call.start > self.stop:
                self.fail(
                    "stop",
                    f"{call.describe()} started at #{call.start}, after the run stopped "
                    f"at #{self.stop}",
                )

    def pres_succeeded(self, before: float) -> bool:
        for name, task in self.model.tasks.items():
            if task.pre is None:
                continue
            call = self.calls.get((name, PRE))
            if call is None or not call.succeeded or call.last.end > before:
                return False
        return True

    def check_exec(self) -> None:
        execs = self.calls_of(EXEC)
        for call in execs:
            if not self.pres_succeeded(call.start):
                self.fail(
                    "exec-needs-pres",
                    f"execute of {call.task!r} started at #{call.start} before every pre succeeded",
                )
        posts = [c.start for c in self.calls_of(POST)]
        cleanup = min(posts, default=inf)
        if self.rec.started and self.pres_succeeded(inf) and self.any_stop > cleanup:
            for name, task in self.model.tasks.items():
                if task.exec is not None and (name, EXEC) not in self.calls:
                    self.fail("exec-skipped", f"execute of {name!r} never ran")
        if any(c.last.end_kind in ("raise", "cancelled") for c in execs):
            self.verdict.features.add("exec-failure")

    def owed(self, name: Hashable) -> bool:
        task = self.model.tasks[name]
        if task.post is None:
            return False
        if task.pre is not None:
            return (name, PRE) in self.calls
        if not self.rec.started:
            return False
        for anc in self.model.ancestors[name]:
            if self.model.tasks[anc].pre is not None:
                dep = self.calls.get((anc, PRE))
                if dep is None or not dep.succeeded:
                    return False
        return True

    def check_posts(self) -> None:
        posts = {c.task: c for c in self.calls_of(POST)}
        for name in self.model.tasks:
            owed = self.owed(name)
            if owed and name not in posts:
                self.fail("post-owed", f"the post of {name!r} is owed but never ran")
            elif not owed and name in posts:
                self.fail("post-not-owed", f"the post of {name!r} ran but was not owed")
        pe_end = max(
            (a.end for c in self.calls.values() if c.phase != POST for a in c.attempts),
            default=-1.0,
        )
        for call in posts.values():
            if call.start < pe_end:
                self.fail(
                    "post-after-pre-exec",
                    f"post of {call.task!r} started at #{call.start}, before pre/execute "
                    f"work ended at #{pe_end:g}",
                )
            for other in posts.values():
                if call.task in self.model.ancestors[other.task] and call.start < other.last.end:
                    self.fail(
                        "post-order",
                        f"post of {call.task!r} started at #{call.start} before the post of "
                        f"its dependent {other.task!r} ended at #{other.last.end:g}",
                    )
            for att in call.attempts:
                if (
                    self.budget < att.end
                    and att.end_kind != "cancelled"
                    and (att.start < self.budget or att.suspend is not None)
                ):
                    self.fail(
                        "budget",
                        f"post of {call.task!r} attempt {att.index} ran on after the cleanup "
                        f"budget ran out at #{self.budget} (ended with {att.end_kind})",
                    )
                if att.index > 0 and att.start > self.budget:
                    self.fail(
                        "budget",
                        f"post of {call.task!r} was retried at #{att.start}, after the cleanup "
                        "budget ran out",
                    )
            if call.last.end_kind in ("raise", "cancelled"):
                self.verdict.features.add("post-failure")

    def grace_cut(self, call: Call, att: Attempt) -> bool:
        """Whether the grace of a cancellation or of the deadline may have cut post ``att``.

        Once a cancellation arrived (from outside, from an ``asyncio.timeout()``
        around the run, or from a phase function, which lands when the driver
        next waits) or the run's deadline fired, every post has the grace from
        its start or from that moment, its retries included: any post attempt
        that ended after it may have been cut, if the run lets a grace cut posts
        at all (no cleanup budget, not ``cleanup_grace=inf``).
        """
        if not self.rec.grace_cuts:
            return False
        until = att.end if att.end_kind == "cancelled" else inf  # or in the wait for a retry
        return min(self.first_cancel, self.deadline, self.cancel_inside) < until

    def check_cancellations(self) -> None:
        for call in self.calls.values():
            for att in call.attempts:
                if att.end_kind != "cancelled" or call.model.timeout is not None:
                    continue
                if call.phase == POST:
                    if self.budget < att.end:
                        self.verdict.features.add("post-cut-by-budget")
                    elif self.grace_cut(call, att):
                        self.verdict.features.add("post-cut-by-grace")
                    else:
                        self.fail(
                            "post-shielded",
                            f"post of {call.task!r} was cancelled at #{att.end:g}",
                        )
                elif not self.any_stop < att.end:
                    self.fail(
                        "unexplained-cancel",
                        f"{call.describe()} was cancelled at #{att.end:g} and nothing had "
                        "stopped the run",
                    )

    # -- what reaches the caller -------------------------------------------------

    def expected_failures(
        self,
    ) -> tuple[
        dict[int, tuple[BaseException, Call]], set[tuple[Hashable, str]], set[tuple[Hashable, str]]
    ]:
        """Failures the run must report: our exceptions, and which calls report a TimeoutError.

        Returns:
            ``(definite, timeout_allowed, timeout_required)``: the exceptions our
            functions raised that must be leaves (by id), the calls that may
            report one engine-made ``TimeoutError``, and those that must.
        """
        definite: dict[int, tuple[BaseException, Call]] = {}
        allowed: set[tuple[Hashable, str]] = set()
        required: set[tuple[Hashable, str]] = set()
        for key, call in self.calls.items():
            last = call.last
            eligible = retry_eligible(call, last)
            own = call.model.timeout is not None
            if last.end_kind == "raise":
                if not eligible:
                    assert last.exc is not None
                    definite[id(last.exc)] = (last.exc, call)
                elif call.phase == POST and self.budget < inf:
                    allowed.add(key)  # the budget cancelled its retry
                    required.add(key)
            elif last.end_kind == "cancelled":
                if call.phase == POST:
                    allowed.add(key)
                    if self.budget < last.end or not (eligible or self.grace_cut(call, last)):
                        required.add(key)  # a grace cut is no failure
                elif own:
                    allowed.add(key)
                    if not self.any_stop < last.end and not eligible:
                        required.add(key)
        return definite, allowed, required

    def check_leaves(self, leaves: list[BaseException], where: str) -> None:
        definite, allowed, required = self.expected_failures()
        note_of = {key: f"sdax: raised by {call.describe()}" for key, call in self.calls.items()}
        seen: Counter[int] = Counter()
        timeouts: Counter[tuple[Hashable, str]] = Counter()
        phases: list[int] = []
        for leaf in leaves:
            if id(leaf) in definite:
                seen[id(leaf)] += 1
                call = definite[id(leaf)][1]
                phases.append(PHASES.index(call.phase))
                if call.model.kind != "group" and note_of[(call.task, call.phase)] not in getattr(
                    leaf, "__notes__", ()
                ):
                    self.fail("failure-note", f"{leaf!r} of {call.describe()} has no note")
                continue
            notes = getattr(leaf, "__notes__", ())
            key = next((k for k, n in note_of.items() if n in notes), None)
            if type(leaf) is TimeoutError and key is not None and key in allowed:
                timeouts[key] += 1
                phases.append(PHASES.index(key[1]))
                continue
            self.fail("failures-extra", f"{where} holds {leaf!r} (notes {list(notes)})")
        for exc_id, (exc, call) in definite.items():
            if seen[exc_id] == 0:
                self.fail("failures-missing", f"{exc!r} of {call.describe()} is not in {where}")
            elif seen[exc_id] > 1:
                self.fail("failures-extra", f"{exc!r} is in {where} {seen[exc_id]} times")
        for key in required:
            if timeouts[key] == 0:
                self.fail(
                    "failures-missing",
                    f"no TimeoutError of {self.calls[key].describe()} in {where}",
                )
        for key, count in timeouts.items():
            if count > 1:
                self.fail("failures-extra", f"{count} TimeoutErrors of {key!r} in {where}")
        if phases != sorted(phases):
            self.fail("failure-order", f"phases of the failures in {where}: {phases}")
        if timeouts:
            self.verdict.features.add(
                "timeout-failure-post" if any(k[1] == POST for k in timeouts) else "timeout-failure"
            )

    def check_outcome(self) -> None:
        out = self.rec.outcome
        definite, _, required = self.expected_failures()
        got = "nothing" if out is None else f"{type(out).__name__}: {out!r}"
        cancelled = min(self.cancel_outside, self.cancel_inside) < inf or not self.rec.started
        if self.interrupts:
            if out is not self.interrupts[0][1]:
                self.fail("outcome", f"expected the first interrupt, got {got}")
        elif cancelled:
            if not isinstance(out, asyncio.CancelledError):
                self.fail("outcome", f"expected CancelledError, got {got}")
        elif self.cancel_cm < inf:
            if type(out) is not TimeoutError:
                self.fail("outcome", f"expected the asyncio.timeout's TimeoutError, got {got}")
        elif self.deadline < inf:
            if isinstance(out, SdaxTimeoutError):
                self.check_leaves(
                    [leaf for e in out.failures for leaf in flatten_exceptions(e)],
                    "SdaxTimeoutError.failures",
                )
                cause = out.__cause__
                if out.failures and not (
                    isinstance(cause, SdaxExecutionError)
                    and [id(e) for e in cause.exceptions] == [id(e) for e in out.failures]
                ):
                    self.fail("outcome", f"SdaxTimeoutError's __cause__ is {cause!r}")
                if not out.failures and cause is not None:
                    self.fail("outcome", f"SdaxTimeoutError without failures has cause {cause!r}")
            else:
                self.fail("outcome", f"expected SdaxTimeoutError, got {got}")
        elif isinstance(out, SdaxExecutionError):
            self.check_leaves(flatten_exceptions(out), "SdaxExecutionError")
        elif out is not None:
            self.fail("outcome", f"expected failures or success, got {got}")
        elif definite or required:
            self.fail(
                "outcome",
                f"expected SdaxExecutionError with {len(definite) + len(required)} failure(s), "
                "the run succeeded",
            )

    def check_observer(self) -> None:
        errors = self.rec.observer_errors
        if errors is None or not self.rec.started:
            return
        if len(errors) != 1:
            self.fail("observer", f"run_finished was called {len(errors)} times")
            return
        if self.rec.driver != "process":
            return  # the runner raises from __aexit__; its errors are compared elsewhere
        out = self.rec.outcome
        expected: type[BaseException] | None = None if out is None else type(out)
        if self.cancel_cm < inf and expected is TimeoutError:
            expected = asyncio.CancelledError  # asyncio.timeout() converts it outside the run
        got = None if errors[0] is None else type(errors[0])
        if got is not expected:
            self.fail("observer", f"run_finished got {errors[0]!r}, the caller got {out!r}")

    def check_end(self) -> None:
        if not self.rec.started:
            return
        if self.driver_end == inf:
            self.fail("hang", "the run never returned")
            return
        for seq, ev in self.rec.events:
            if seq > self.driver_end and ev.phase is not None:
                self.fail("after-end", f"{ev.kind} of {ev.task!r} {ev.phase} at #{seq}")


def check_run(model: GraphModel, record: RunRecord) -> Verdict:
    """Check one run's log against every rule."""
    return _RunCheck(model, record).check()


def check_all(model: GraphModel, records: Iterable[RunRecord], findings: LoopFindings) -> Verdict:
    """Check every run of a scenario and its loop; merge the verdicts."""
    total = Verdict(violations=check_loop(findings))
    for record in records:
        verdict = check_run(model, record)
        total.violations.extend(verdict.violations)
        total.features |= verdict.features
    return total
