"""The benchmark shapes, shared by the pytest benchmarks, ``report.py`` and the reference run.

This module uses the standard library and the public API that sdax 0.7.1 and this
package have in common (``AsyncTask``, ``task_func``, ``AsyncTaskProcessor.builder()``,
``AsyncDagTaskProcessor.builder()``, ``process_tasks``), nothing else, and so does
``bench/timing.py``: ``bench/reference.py`` runs both in another interpreter, the
reference package's venv for instance, against whatever ``sdax`` it imports.

Vocabulary: a *runner* is a zero-argument callable returning a fresh awaitable; one
benchmark round is ``loop.run_until_complete(runner())`` on a loop made beforehand, so
neither loop creation nor processor building is inside the timed region.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

Runner = Callable[[], Awaitable[None]]
"""One timed run: returns a new awaitable each call."""

N_TASKS = 1000
PHASES3 = ("pre_execute", "execute", "post_execute")
EXEC_ONLY = ("execute",)
TIMEOUT = 10.0
CONCURRENT_RUNS = 100
TASKS_PER_CONCURRENT_RUN = 100
BUILD_SEED = 20240504
DEPS_PER_TASK = 4


class Ctx:
    """The context object handed to every phase function (it stays empty)."""


async def zero_work(ctx: object) -> None:
    """A phase function that returns at once, without suspending."""
    return None


async def suspend_once(ctx: object) -> None:
    """A phase function that suspends exactly once (one event-loop round trip)."""
    await asyncio.sleep(0)


# -- raw asyncio baselines ----------------------------------------------------------------


def gather_runner(fn: Callable[[object], Awaitable[None]], n: int = N_TASKS) -> Runner:
    """``asyncio.gather`` of ``n`` calls of ``fn``: each coroutine becomes a task."""

    async def run() -> None:
        ctx = Ctx()
        await asyncio.gather(*[fn(ctx) for _ in range(n)])

    return run


def gather_wait_for_runner(
    fn: Callable[[object], Awaitable[None]], n: int = N_TASKS, timeout: float = TIMEOUT
) -> Runner:
    """Like :func:`gather_runner`, each call wrapped in ``asyncio.wait_for(..., timeout)``."""

    async def run() -> None:
        ctx = Ctx()
        await asyncio.gather(*[asyncio.wait_for(fn(ctx), timeout) for _ in range(n)])

    return run


def taskgroup_rounds_runner(
    fn: Callable[[object], Awaitable[None]], n: int = N_TASKS, rounds: int = 3
) -> Runner:
    """A hand-written three-phase run: one ``TaskGroup`` of ``n`` tasks per phase."""

    async def run() -> None:
        ctx = Ctx()
        for _ in range(rounds):
            async with asyncio.TaskGroup() as group:
                for _ in range(n):
                    group.create_task(fn(ctx))  # type: ignore[arg-type]

    return run


def many_runs_runner(
    fn: Callable[[object], Awaitable[None]],
    concurrent: bool,
    runs: int = CONCURRENT_RUNS,
    n: int = TASKS_PER_CONCURRENT_RUN,
) -> Runner:
    """``runs`` hand-written runs (a gather of ``n`` tasks each), at once or one by one.

    The raw-asyncio control for the concurrency groups: it shows what the event
    loop itself charges for many runs in flight, apart from any orchestrator.
    """
    one_run = gather_runner(fn, n)

    async def run() -> None:
        if concurrent:
            await asyncio.gather(*[one_run() for _ in range(runs)])
        else:
            for _ in range(runs):
                await one_run()

    return run


BASELINES: dict[str, tuple[str, Callable[[], Runner]]] = {
    "gather": (
        "raw asyncio: gather of 1,000 zero-work tasks",
        lambda: gather_runner(zero_work),
    ),
    "gather_wait_for": (
        "raw asyncio: gather of 1,000 zero-work wait_for(timeout=10)",
        lambda: gather_wait_for_runner(zero_work),
    ),
    "gather_suspend": (
        "raw asyncio: gather of 1,000 tasks that sleep(0) once",
        lambda: gather_runner(suspend_once),
    ),
    "gather_suspend_wait_for": (
        "raw asyncio: gather of 1,000 wait_for(sleep(0) once, timeout=10)",
        lambda: gather_wait_for_runner(suspend_once),
    ),
    "taskgroup_3_rounds": (
        "raw asyncio: 3 TaskGroup rounds of 1,000 tasks that sleep(0) once",
        lambda: taskgroup_rounds_runner(suspend_once),
    ),
    "gather_runs_concurrent": (
        "raw asyncio: 100 concurrent gathers of 100 zero-work tasks",
        lambda: many_runs_runner(zero_work, True),
    ),
    "gather_runs_sequential": (
        "raw asyncio: 100 sequential gathers of 100 zero-work tasks",
        lambda: many_runs_runner(zero_work, False),
    ),
    "gather_runs_concurrent_suspend": (
        "raw asyncio: 100 concurrent gathers of 100 tasks that sleep(0) once",
        lambda: many_runs_runner(suspend_once, True),
    ),
    "gather_runs_sequential_suspend": (
        "raw asyncio: 100 sequential gathers of 100 tasks that sleep(0) once",
        lambda: many_runs_runner(suspend_once, False),
    ),
}
"""Baselines by key: (description, runner factory)."""


# -- sdax processors ----------------------------------------------------------------------


def level_processor(
    sdax: ModuleType,
    levels: int,
    per_level: int,
    phases: Sequence[str],
    fn: Callable[[object], Awaitable[None]],
    timeout: float | None = None,
    exec_fn: Callable[[object], Awaitable[None]] | None = None,
) -> Any:
    """A processor from the level builder: ``levels`` levels of ``per_level`` tasks.

    Every task has the given phases, all calling ``fn`` (one TaskFunction shared by
    all tasks), except the execute phase when ``exec_fn`` is given.
    """
    tf = sdax.task_func(fn) if timeout is None else sdax.task_func(fn, timeout=timeout)
    functions = dict.fromkeys(phases, tf)
    if exec_fn is not None:
        functions["execute"] = sdax.task_func(exec_fn)
    builder = sdax.AsyncTaskProcessor.builder()
    for level in range(levels):
        for i in range(per_level):
            task = sdax.AsyncTask(f"L{level}T{i}", **functions)
            builder.add_task(task, level)
    return builder.build()


def single_run(processor: Any) -> Runner:
    """One ``process_tasks`` per round."""

    async def run() -> None:
        await processor.process_tasks(Ctx())

    return run


def concurrent_runs(processor: Any, runs: int = CONCURRENT_RUNS) -> Runner:
    """``runs`` runs of one processor at once (``asyncio.gather``), per round."""

    async def run() -> None:
        await asyncio.gather(*[processor.process_tasks(Ctx()) for _ in range(runs)])

    return run


def sequential_runs(processor: Any, runs: int = CONCURRENT_RUNS) -> Runner:
    """``runs`` runs of one processor one after the other, per round."""

    async def run() -> None:
        for _ in range(runs):
            await processor.process_tasks(Ctx())

    return run


SDAX_CASES: dict[str, tuple[str, Callable[[ModuleType], Runner]]] = {
    "three_phases": (
        "1,000 tasks, pre+execute+post, one level",
        lambda s: single_run(level_processor(s, 1, N_TASKS, PHASES3, zero_work)),
    ),
    "single_level": (
        "1,000 tasks, execute only, one level",
        lambda s: single_run(level_processor(s, 1, N_TASKS, EXEC_ONLY, zero_work)),
    ),
    "multi_level": (
        "10 levels of 100 tasks, pre+execute+post",
        lambda s: single_run(level_processor(s, 10, N_TASKS // 10, PHASES3, zero_work)),
    ),
    "suspending": (
        "1,000 tasks, every phase sleeps(0) once, one level",
        lambda s: single_run(level_processor(s, 1, N_TASKS, PHASES3, suspend_once)),
    ),
    "single_level_timeout": (
        "1,000 tasks, execute only, timeout=10 on each",
        lambda s: single_run(level_processor(s, 1, N_TASKS, EXEC_ONLY, zero_work, timeout=TIMEOUT)),
    ),
    "suspend_exec": (
        "1,000 tasks, execute only, sleeps(0) once",
        lambda s: single_run(level_processor(s, 1, N_TASKS, EXEC_ONLY, suspend_once)),
    ),
    "suspend_exec_timeout": (
        "1,000 tasks, execute only, sleeps(0) once, timeout=10 on each",
        lambda s: single_run(
            level_processor(s, 1, N_TASKS, EXEC_ONLY, suspend_once, timeout=TIMEOUT)
        ),
    ),
    "concurrent": (
        "100 concurrent runs of one 100-task three-phase processor",
        lambda s: concurrent_runs(
            level_processor(s, 1, TASKS_PER_CONCURRENT_RUN, PHASES3, zero_work)
        ),
    ),
    "sequential": (
        "100 sequential runs of one 100-task three-phase processor",
        lambda s: sequential_runs(
            level_processor(s, 1, TASKS_PER_CONCURRENT_RUN, PHASES3, zero_work)
        ),
    ),
    "concurrent_suspend": (
        "100 concurrent runs of one 100-task processor whose executes sleep(0) once",
        lambda s: concurrent_runs(
            level_processor(
                s, 1, TASKS_PER_CONCURRENT_RUN, PHASES3, zero_work, exec_fn=suspend_once
            )
        ),
    ),
    "sequential_suspend": (
        "100 sequential runs of one 100-task processor whose executes sleep(0) once",
        lambda s: sequential_runs(
            level_processor(
                s, 1, TASKS_PER_CONCURRENT_RUN, PHASES3, zero_work, exec_fn=suspend_once
            )
        ),
    ),
}
"""sdax cases by key: (description, runner factory taking the ``sdax`` module)."""


@dataclass(frozen=True)
class Group:
    """One benchmark group: baselines and sdax cases that are compared side by side."""

    key: str
    title: str
    baselines: tuple[str, ...]
    cases: tuple[str, ...]


GROUPS: tuple[Group, ...] = (
    Group("three-phases", "Three phases", ("gather",), ("three_phases",)),
    Group("single-level", "Single level", ("gather",), ("single_level",)),
    Group("multi-level", "Multi level", ("gather",), ("multi_level",)),
    Group("suspending", "Suspending", ("taskgroup_3_rounds",), ("suspending",)),
    Group(
        "timeout",
        "Timeout overhead (zero work)",
        ("gather", "gather_wait_for"),
        ("single_level", "single_level_timeout"),
    ),
    Group(
        "timeout-suspending",
        "Timeout overhead (phase suspends)",
        ("gather_suspend", "gather_suspend_wait_for"),
        ("suspend_exec", "suspend_exec_timeout"),
    ),
    Group(
        "concurrency",
        "Concurrency (zero work)",
        ("gather_runs_concurrent", "gather_runs_sequential"),
        ("concurrent", "sequential"),
    ),
    Group(
        "concurrency-suspending",
        "Concurrency (executes suspend)",
        ("gather_runs_concurrent_suspend", "gather_runs_sequential_suspend"),
        ("concurrent_suspend", "sequential_suspend"),
    ),
)


# -- build shapes ---------------------------------------------------------------------------

Deps = list[tuple[str, tuple[str, ...]]]
"""A graph to build: (task name, names of its dependencies), dependencies first."""


def random_dag(n: int, deps: int = DEPS_PER_TASK, seed: int = BUILD_SEED) -> Deps:
    """A seeded random DAG: task ``i`` depends on ``min(deps, i)`` distinct earlier tasks."""
    rng = random.Random(seed)
    names = [f"t{i}" for i in range(n)]
    sample = rng.sample
    return [(names[i], tuple(names[j] for j in sample(range(i), min(deps, i)))) for i in range(n)]


def chain(n: int) -> Deps:
    """``n`` tasks, each depending on the one before."""
    names = [f"t{i}" for i in range(n)]
    return [(names[0], ())] + [(names[i], (names[i - 1],)) for i in range(1, n)]


def fan(n: int) -> Deps:
    """One source, ``n`` tasks depending on it, one sink depending on all of them."""
    middle = [f"t{i}" for i in range(n)]
    return [("source", ()), *((m, ("source",)) for m in middle), ("sink", tuple(middle))]


@dataclass(frozen=True)
class BuildShape:
    """A build benchmark: a graph family at one size."""

    key: str
    title: str
    tasks: int
    make: Callable[[], Deps]
    rounds: int
    target_s: float | None


def build_shapes(million: bool = False, quick: bool = False) -> list[BuildShape]:
    """The build series; ``million`` adds the 1,000,000-task graph, ``quick`` shrinks it."""
    if quick:
        return [
            BuildShape("random-1k", "random DAG", 1_000, lambda: random_dag(1_000), 3, None),
            BuildShape("random-10k", "random DAG", 10_000, lambda: random_dag(10_000), 2, 0.05),
            BuildShape("chain-10k", "chain", 10_000, lambda: chain(10_000), 1, None),
            BuildShape("fan-10k", "fan 1 -> n -> 1", 10_002, lambda: fan(10_000), 1, None),
        ]
    shapes = [
        BuildShape("random-10k", "random DAG", 10_000, lambda: random_dag(10_000), 7, 0.05),
        BuildShape("random-100k", "random DAG", 100_000, lambda: random_dag(100_000), 9, 0.6),
    ]
    if million:
        shapes.append(
            BuildShape("random-1m", "random DAG", 1_000_000, lambda: random_dag(1_000_000), 5, 10.0)
        )
    shapes += [
        BuildShape("chain-100k", "chain", 100_000, lambda: chain(100_000), 3, 0.3),
        BuildShape("fan-100k", "fan 1 -> n -> 1", 100_002, lambda: fan(100_000), 3, 0.3),
    ]
    return shapes


def make_tasks(sdax: ModuleType, deps: Deps) -> list[Any]:
    """The AsyncTask objects of a build shape, every one with all three phases.

    They are made before the timer starts (they are the user's data); the three
    TaskFunctions are shared by all tasks, as a generated graph would share them.
    """
    pre = sdax.task_func(zero_work)
    exe = sdax.task_func(zero_work)
    post = sdax.task_func(zero_work)
    task_cls = sdax.AsyncTask
    return [task_cls(name, pre_execute=pre, execute=exe, post_execute=post) for name, _ in deps]


def add_all(builder: Any, tasks: Sequence[Any], deps: Deps) -> None:
    """Every ``add_task`` of a build shape, in declaration order."""
    add = builder.add_task
    for task, (_, depends_on) in zip(tasks, deps, strict=True):
        add(task, depends_on=depends_on)


def build_graph(sdax: ModuleType, tasks: Sequence[Any], deps: Deps) -> Any:
    """The timed region of a build benchmark: builder, every add_task, build()."""
    builder = sdax.AsyncDagTaskProcessor.builder()
    add_all(builder, tasks, deps)
    return builder.build()


FAMILIES: dict[str, Callable[[int], Deps]] = {"random": random_dag, "chain": chain, "fan": fan}
"""Build graph families by name, for ``--build family:tasks:rounds`` specs."""


def parse_build_specs(text: str) -> list[tuple[str, int, int]]:
    """Parse ``"random:10000:3,chain:5000:1"`` into (family, tasks, rounds) triples."""
    specs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        family, tasks, rounds = item.split(":")
        if family not in FAMILIES:
            raise ValueError(f"unknown graph family {family!r} (known: {', '.join(FAMILIES)})")
        specs.append((family, int(tasks), int(rounds)))
    return specs
