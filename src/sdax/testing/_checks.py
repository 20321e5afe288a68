"""sdax's own promises, checked against the trace of one run.

Each function returns the broken rules as short sentences (empty: all held).
The rules are the ones docs/rules.md states: every owed post runs exactly once
and no other post runs; pres wait for their prerequisites; posts wait for
the posts of their dependents; nothing starts after a stop; what reaches the
caller follows from what happened; after a cancellation or the deadline, the
caller regains control within the cleanup's bound.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Hashable
from dataclasses import dataclass, field

from sdax import SdaxExecutionError, SdaxTimeoutError, flatten_exceptions
from sdax.sdax_core import PhaseId
from sdax.testing._faults import PHASE_NAMES, Call, Event, RunState, task_label
from sdax.testing._scenarios import Plan

__all__ = ["RunFacts", "check_promises", "describe"]

PRE, EXE, POST = PhaseId.PRE_EXEC, PhaseId.EXECUTE, PhaseId.POST_EXEC


def describe(exc: BaseException | None) -> str:
    """A short description of what the caller got."""
    if exc is None:
        return "nothing (success)"
    if isinstance(exc, SdaxExecutionError):
        leaves = ", ".join(type(e).__name__ for e in flatten_exceptions(exc))
        return f"{type(exc).__name__} [{leaves}]"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@dataclass
class RunFacts:
    """What a run did, by call, read from its trace."""

    starts: dict[Call, list[int]] = field(default_factory=dict)
    ends: dict[Call, list[int]] = field(default_factory=dict)
    retries: dict[Call, int] = field(default_factory=dict)
    finished: dict[Call, int] = field(default_factory=dict)
    failed: dict[Call, Event] = field(default_factory=dict)
    last_end: dict[Call, Event] = field(default_factory=dict)
    sdax_started: set[Call] = field(default_factory=set)
    interrupts: list[BaseException] = field(default_factory=list)
    stop: int | None = None
    stop_reason: str = ""

    @classmethod
    def read(cls, events: list[Event], group_calls: frozenset[Call] = frozenset()) -> RunFacts:
        """Collect the facts of a trace.

        Args:
            events: The trace.
            group_calls: The calls of ``task_group_func`` functions: an
                interrupt their body raises ends the call (and stops the run)
                only once sdax's task group has wound down its subtasks.
        """
        facts = cls()
        for ev in events:
            call = ev.call
            if ev.source == "call":
                if ev.what == "start":
                    facts.starts.setdefault(call, []).append(ev.seq)
                elif ev.what in ("return", "raise", "cancelled"):
                    facts.ends.setdefault(call, []).append(ev.seq)
                    facts.last_end[call] = ev
                if ev.what == "raise" and not isinstance(ev.error, Exception):
                    assert ev.error is not None
                    facts.interrupts.append(ev.error)
                    if call not in group_calls:
                        facts._stop(ev.seq, f"{type(ev.error).__name__} in {_name(call)}")
            elif ev.source == "sdax":
                if ev.what == "started":
                    facts.sdax_started.add(call)
                elif ev.what == "retry":
                    facts.retries[call] = facts.retries.get(call, 0) + 1
                elif ev.what == "finished":
                    facts.finished[call] = ev.seq
                elif ev.what == "failed":
                    facts.failed[call] = ev
                    if ev.phase is PRE:
                        facts._stop(ev.seq, f"{_name(call)} failed")
                    elif call in group_calls and not isinstance(ev.error, Exception):
                        facts._stop(ev.seq, f"{type(ev.error).__name__} in {_name(call)}")
            elif ev.what == "cancel-run":
                facts._stop(ev.seq, "the run was cancelled")
        return facts

    def _stop(self, seq: int, reason: str) -> None:
        if self.stop is None:
            self.stop = seq
            self.stop_reason = reason


def _name(call: Call) -> str:
    task, phase = call
    return f"{PHASE_NAMES[phase]} of {task_label(task)}"


def _post_owed(plan: Plan, facts: RunFacts, name: Hashable) -> bool:
    if plan.has(name, PRE):
        return (name, PRE) in facts.starts or (name, PRE) in facts.sdax_started
    return all((p, PRE) in facts.finished for p in plan.pre_prereqs[name])


def _check_posts(plan: Plan, facts: RunFacts) -> list[str]:
    broken: list[str] = []
    for name in plan.order:
        if not plan.has(name, POST) or (name, POST) in plan.unwrapped:
            continue
        call = (name, POST)
        calls = len(facts.starts.get(call, ())) - facts.retries.get(call, 0)
        owed = _post_owed(plan, facts, name)
        if owed and calls != 1:
            why = "its pre started" if plan.has(name, PRE) else "its prerequisites' pres succeeded"
            broken.append(f"{_name(call)} was owed ({why}) but ran {calls} time(s)")
        elif not owed and calls:
            broken.append(f"{_name(call)} ran although it was not owed")
    for name, after in plan.post_after.items():
        starts = facts.starts.get((name, POST))
        if not starts:
            continue
        for other in after:
            ends = facts.ends.get((other, POST))
            if facts.starts.get((other, POST)) and (not ends or ends[-1] > starts[0]):
                broken.append(
                    f"{_name((name, POST))} started before {_name((other, POST))} had "
                    f"finished ({task_label(other)} depends on {task_label(name)})"
                )
    return broken


def _check_starts(
    plan: Plan, facts: RunFacts, state: RunState, deadline: float | None
) -> list[str]:
    broken: list[str] = []
    for name in plan.order:
        starts = facts.starts.get((name, PRE))
        if not starts:
            continue
        for dep in plan.pre_prereqs[name]:
            done = facts.finished.get((dep, PRE))
            if done is None or done > starts[0]:
                broken.append(
                    f"{_name((name, PRE))} started before {_name((dep, PRE))} had succeeded"
                )
    pres = [c for c in plan.functions if c[1] is PRE]
    for call, seqs in facts.starts.items():
        if call[1] is not EXE:
            continue
        missing = [c for c in pres if facts.finished.get(c, seqs[0] + 1) > seqs[0]]
        if missing:
            broken.append(f"{_name(call)} started before {_name(missing[0])} had succeeded")
    if facts.stop is not None:
        for ev in state.events:
            if (
                ev.seq > facts.stop
                and ev.source == "call"
                and ev.what == "start"
                and ev.phase in (PRE, EXE)
            ):
                broken.append(
                    f"{_name(ev.call)} started after the run stopped ({facts.stop_reason})"
                )
    if deadline is not None:
        for ev in state.events:
            if ev.source == "call" and ev.what == "start" and ev.phase in (PRE, EXE):
                if ev.time > deadline + 1e-9:
                    broken.append(f"{_name(ev.call)} started after the run's deadline")
    return broken


def _check_outcome(
    facts: RunFacts,
    state: RunState,
    outcome: BaseException | None,
    deadline: float | None,
) -> list[str]:
    got = describe(outcome)
    if facts.interrupts:
        first = facts.interrupts[0]
        if outcome is not first:
            return [f"the caller got {got}; expected the first interrupt, {describe(first)}"]
        return []
    if state.cancels_sent:
        if not isinstance(outcome, asyncio.CancelledError):
            return [f"the caller got {got}; expected CancelledError (the run was cancelled)"]
        return []
    deadline_passed = deadline is not None and state.elapsed() >= deadline
    if isinstance(outcome, SdaxTimeoutError):
        if not deadline_passed:
            return [f"the caller got {got}, but no deadline had passed"]
        return []
    if facts.failed:
        if not isinstance(outcome, SdaxExecutionError):
            return [
                f"the caller got {got}; expected SdaxExecutionError ({len(facts.failed)} failed)"
            ]
        leaves = flatten_exceptions(outcome)
        broken = []
        for call, ev in facts.failed.items():
            last = facts.last_end.get(call)
            if ev.error is None or last is None or last.error is not ev.error:
                continue
            if not any(leaf is ev.error for leaf in leaves):
                broken.append(
                    f"the failure of {_name(call)} ({describe(ev.error)}) is not a leaf of "
                    "what the caller got"
                )
        return broken
    if outcome is not None:
        return [f"the caller got {got}; no call failed, expected success"]
    return []


def _check_bound(
    plan: Plan, state: RunState, deadline: float | None, grace: float, budget: float | None
) -> list[str]:
    """The run ended within its cleanup's bound (loop time, exact when virtual).

    With a budget: the budget after the first post started. Else, once a
    cancellation arrived or the deadline passed: each post has the grace from
    its start (or the stop), so the longest chain of posts times the grace
    after the later of the stop and the first post's start.
    """
    events = state.events
    posts = [e.time for e in events if e.source == "call" and e.phase is POST and e.what == "start"]
    ended = [e.time for e in events if e.what == "run-ended"]
    if not posts or not ended:
        return []
    first = min(posts)
    if budget is not None:
        bound, why = first + budget, f"the cleanup budget of {budget:g} s"
    else:
        stops = [e.time for e in events if e.what == "cancel-run"]
        if deadline is not None and deadline <= first:
            stops.append(deadline)
        if not stops or grace == math.inf:
            return []
        depth: dict[Hashable, int] = {}
        for name in reversed(plan.order):
            if name in plan.post_after:
                depth[name] = 1 + max((depth[o] for o in plan.post_after[name]), default=0)
        chain = max(depth.values(), default=0)
        bound = max(first, min(stops)) + chain * grace
        why = f"{chain} post(s) deep x cleanup_grace {grace:g} s after the stop"
    if ended[0] > bound + 1e-3:
        return [
            f"the run ended at {ended[0]:.3f} s, after its cleanup's bound ({why}): {bound:.3f} s"
        ]
    return []


def check_promises(
    plan: Plan,
    state: RunState,
    outcome: BaseException | None,
    deadline: float | None,
    virtual_time: bool,
    grace: float = math.inf,
    budget: float | None = None,
) -> list[str]:
    """Every sdax rule the run broke, as sentences.

    Args:
        plan: The processor's plan.
        state: The run's trace.
        outcome: What the caller got (``None``: the run returned).
        deadline: The run's ``timeout``, if it had one.
        virtual_time: Whether loop time is virtual (times are then exact and
            the "nothing starts after the deadline" and the cleanup's bound
            rules are checked).
        grace: The run's ``cleanup_grace``.
        budget: The run's ``cleanup_timeout``, if it had one.
    """
    groups = frozenset(c for c, tf in plan.functions.items() if tf.has_task_group_argument)
    facts = RunFacts.read(state.events, groups)
    broken = _check_posts(plan, facts)
    broken += _check_starts(plan, facts, state, deadline if virtual_time else None)
    broken += _check_outcome(facts, state, outcome, deadline)
    if virtual_time:
        broken += _check_bound(plan, state, deadline, grace, budget)
    return broken
