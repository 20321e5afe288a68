"""Hypothesis strategies for stress scenarios.

Shrinking goes towards small graphs of tasks that return at once, run by one
plain ``process_tasks`` call without deadline, budget or cancellation, so a
failing case shrinks to the smallest thing that still breaks a rule.
"""

from __future__ import annotations

from collections.abc import Hashable
from functools import cache
from math import inf

from _stress_harness import (
    CANCEL_RUN_NOW,
    FLAKY,
    FLAKY_TIMEOUT,
    HANG,
    INTERRUPT_AFTER_SUSPEND,
    INTERRUPT_NOW,
    OK_NOW,
    RAISE_AFTER_SLEEP,
    RAISE_AFTER_SUSPEND,
    RAISE_NOW,
    SELF_CANCEL,
    SELF_CANCEL_NOW,
    SLEEP,
    SUSPEND,
    SYNC_ACTIONS,
    TIMEOUT,
    Behaviour,
    RunSpec,
    Scenario,
    TaskSpec,
)
from _stress_log import EXEC, PHASES, POST, PRE
from hypothesis import strategies as st

COMMON_ACTIONS = [
    OK_NOW,
    OK_NOW,
    OK_NOW,
    SUSPEND,
    SUSPEND,
    SUSPEND,
    SLEEP,
    SLEEP,
    RAISE_NOW,
    RAISE_AFTER_SUSPEND,
    RAISE_AFTER_SLEEP,
    TIMEOUT,
    FLAKY,
    FLAKY,
    FLAKY_TIMEOUT,
]
# The actions of a calm scenario: nothing fails, so a run can do all its work.
CALM_ACTIONS = [OK_NOW, OK_NOW, SUSPEND, SUSPEND, SLEEP]
DELAYS = [0.0005, 0.001, 0.002, 0.005]
ATTEMPT_TIMEOUTS = [0.0, 0.001, 0.003]
RUN_SECONDS = [None, None, None, None, 0.0, 0.0005, 0.002, 0.005, 0.02]
CANCELS: list[tuple[str, float] | None] = [
    None,
    None,
    None,
    None,
    ("ticks", 0),
    ("ticks", 1),
    ("ticks", 2),
    ("ticks", 3),
    ("ticks", 5),
    ("ticks", 8),
    ("sleep", 0.0005),
    ("sleep", 0.001),
    ("sleep", 0.003),
]
OUTER_TIMEOUTS = [None, None, None, None, None, None, 0.0005, 0.002, 0.01]
DRIVERS = ["process", "process", "open", "open_pause"]
# cleanup_grace: mostly the default; 0 cuts at once, inf shields without bound.
GRACES = [None, None, None, None, 0.0, 0.0005, 0.003, inf]

# Strategies are built once: building them per draw costs more than running a case.
_drivers = st.sampled_from(DRIVERS)
_run_seconds = st.sampled_from(RUN_SECONDS)
_cancels = st.sampled_from(CANCELS)
_outer = st.sampled_from(OUTER_TIMEOUTS)
_graces = st.sampled_from(GRACES)
_delays = st.sampled_from(DELAYS)
_attempt_timeouts = st.sampled_from(ATTEMPT_TIMEOUTS)
_generous_timeouts = st.sampled_from([None, None, None, 5.0])
_few_retries = st.sampled_from([0, 0, 1])
_retries = st.integers(0, 3)
_fails = st.integers(1, 3)
_keep = st.sampled_from([False, False, False, True])
_phase_sets = st.sets(st.sampled_from(PHASES))
_name_styles = st.sampled_from(["str", "int", "tuple", "mixed"])
_builders = st.sampled_from(["graph", "level"])
_levels = st.integers(-1, 3)
# Tasks declared after their dependencies: the plan then walks declaration order.
_in_order = st.sampled_from([False, False, True])
_rare = st.integers(0, 9)
_kinds = {
    sync: st.sampled_from(["async", "async", "async", "group"] + ["sync"] * sync)
    for sync in (False, True)
}


def task_name(style: str, i: int) -> Hashable:
    """Name of task ``i``: strings, ints, tuples, or all three mixed."""
    if style == "mixed":
        style = ("str", "int", "tuple")[i % 3]
    if style == "int":
        return i
    if style == "tuple":
        return ("t", i)
    return f"t{i}"


@st.composite
def run_specs(draw: st.DrawFn) -> RunSpec:
    """Options of one run."""
    return RunSpec(
        driver=draw(_drivers),
        timeout=draw(_run_seconds),
        cleanup_timeout=draw(_run_seconds),
        cancel=draw(_cancels),
        outer_timeout=draw(_outer),
        observed=draw(st.booleans()),
        cleanup_grace=draw(_graces),
    )


_run_specs = run_specs()


@st.composite
def _behaviours(draw: st.DrawFn, actions: st.SearchStrategy[str]) -> Behaviour:
    action = draw(actions)
    kind = draw(_kinds[action in SYNC_ACTIONS])
    if action in (TIMEOUT, FLAKY_TIMEOUT):
        timeout: float | None = draw(_attempt_timeouts)
    else:
        timeout = draw(_generous_timeouts)
    if action in (FLAKY, FLAKY_TIMEOUT):
        retries = draw(_retries)
        fails = draw(_fails)
    else:
        retries = 0 if action == CANCEL_RUN_NOW else draw(_few_retries)
        fails = 0
    return Behaviour(
        action=action,
        kind=kind,
        delay=draw(_delays),
        timeout=None if kind == "sync" else timeout,
        retries=retries,
        fails=fails,
        keep_task=draw(_keep),
    )


@cache
def behaviours(actions: tuple[str, ...]) -> st.SearchStrategy[Behaviour]:
    """One phase function, its action drawn from ``actions``."""
    return _behaviours(st.sampled_from(actions))


@cache
def _ints(low: int, high: int) -> st.SearchStrategy[int]:
    return st.integers(low, high)


@cache
def _dep_sets(below: int) -> st.SearchStrategy[set[int]]:
    return st.sets(st.integers(0, below - 1), max_size=3)


@cache
def _run_lists(low: int, high: int) -> st.SearchStrategy[list[RunSpec]]:
    return st.lists(_run_specs, min_size=low, max_size=high)


@st.composite
def scenarios(
    draw: st.DrawFn,
    max_tasks: int = 7,
    min_runs: int = 1,
    max_runs: int = 4,
    *,
    calm: bool = False,
    plain_first: bool = False,
    min_tasks: int = 1,
) -> Scenario:
    """A processor (graph or levels) and the concurrent runs to make of it.

    Args:
        draw: Hypothesis's draw function.
        max_tasks: The most tasks.
        min_tasks: The fewest tasks.
        min_runs: The fewest runs.
        max_runs: The most runs.
        calm: Half of the scenarios are calm: their functions never fail
            (``CALM_ACTIONS``).
        plain_first: The first run has no deadline, budget, cancellation or
            outer timeout, so that nothing but a failure stops it.
    """
    n = draw(_ints(min_tasks, max_tasks))
    style = draw(_name_styles)
    names = [task_name(style, i) for i in range(n)]
    builder = draw(_builders)
    runs = tuple(draw(_run_lists(min_runs, max_runs)))
    if plain_first and runs:
        runs = (RunSpec(), *runs[1:])

    rare = draw(_rare)  # 3 in 10 scenarios may interrupt or self-cancel
    actions = list(COMMON_ACTIONS)
    if rare in (0, 2):
        actions += [INTERRUPT_NOW, INTERRUPT_AFTER_SUSPEND]
    if rare in (1, 2):
        actions += [CANCEL_RUN_NOW, CANCEL_RUN_NOW, SELF_CANCEL_NOW, SELF_CANCEL]
    if calm and draw(st.booleans()):
        actions = list(CALM_ACTIONS)
    # A function that hangs needs every run to have something that ends it.
    stoppable = all(r.timeout is not None or r.cancel or r.outer_timeout for r in runs)
    # A post that hangs needs every run to have a cleanup budget, or a cancel
    # whose grace cuts it (every post has the grace once a cancel arrived).
    cut = all(
        r.cleanup_timeout is not None or ((r.cancel or r.outer_timeout) and r.cleanup_grace != inf)
        for r in runs
    )
    per_phase = {
        PRE: behaviours(tuple(actions + [HANG] * stoppable)),
        EXEC: behaviours(tuple(actions + [HANG] * stoppable)),
        POST: behaviours(tuple(actions + [HANG] * cut)),
    }
    tasks = []
    for name in names:
        phases = draw(_phase_sets)
        tasks.append(TaskSpec(name, {p: draw(per_phase[p]) for p in PHASES if p in phases}))
    if builder == "level":
        levels = {name: draw(_levels) for name in names}
        return Scenario("level", tuple(tasks), levels=levels, runs=runs)
    deps = {}
    for i, name in enumerate(names):
        picked = draw(_dep_sets(i)) if i else set()
        deps[name] = tuple(names[j] for j in sorted(picked))
    order = range(n) if draw(_in_order) else draw(st.permutations(range(n)))
    return Scenario("graph", tuple(tasks[i] for i in order), deps=deps, runs=runs)
