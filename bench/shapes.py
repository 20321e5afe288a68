"""The benchmark shapes, shared by the pytest benchmarks, ``report.py`` and the reference run.

This module uses the standard library and the public API that sdax 0.7.1 and this
package have in common (``AsyncTask``, ``task_func``, ``AsyncTaskProcessor.builder()``,
``AsyncDagTaskProcessor.builder()``, ``process_tasks``), nothing else. It therefore also
runs as a script in another interpreter, the reference package's venv for instance::

    /tmp/refvenv/bin/python bench/shapes.py --rounds 15

which measures every runtime shape (and the build series it is asked for) against
whatever ``sdax`` that interpreter imports, beside the raw-asyncio baselines measured
in the same process, and prints one JSON object. ``report.py --reference`` does that.

Vocabulary: a *runner* is a zero-argument callable returning a fresh awaitable; one
benchmark round is ``loop.run_until_complete(runner())`` on a loop made beforehand, so
neither loop creation nor processor building is inside the timed region.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
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


# -- timing ---------------------------------------------------------------------------------

Scope = Callable[[], AbstractContextManager[Any]]
"""Entered around each timed call of a case (switches sdax cores in report.py)."""


CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}
"""Clocks by name. ``cpu`` (this process's CPU time) leaves out the time the process
waits while other processes use the CPUs; every shape here is CPU-bound (no I/O,
``sleep(0)`` only), so on a quiet machine both clocks agree."""


def baseline_runners(group: Group) -> dict[str, tuple[Runner, Scope]]:
    """Fresh runners of a group's raw-asyncio baselines, each with no scope."""
    return {key: (BASELINES[key][1](), nullcontext) for key in group.baselines}


def time_interleaved(
    loop: asyncio.AbstractEventLoop,
    runners: Mapping[str, tuple[Runner, Scope]],
    rounds: int,
    warmup: int = 2,
    clock: Callable[[], float] = time.perf_counter,
    wall: dict[str, list[float]] | None = None,
) -> dict[str, list[float]]:
    """Time one run of every runner per round, rotating their order each round.

    Interleaving puts the cases side by side in time, so a burst of noise on
    the machine hits all of them alike; the rotation removes any advantage of
    going first. GC is collected before each timed call, and left enabled.

    Args:
        loop: The event loop every run goes on.
        runners: Per key, the runner and the scope entered around its timed call.
        rounds: Timed rounds.
        warmup: Untimed rounds first.
        clock: The clock to time with (see ``CLOCKS``).
        wall: If given, also gets the wall-clock seconds per key.

    Returns:
        Seconds per run, ``rounds`` values per key (warm-up rounds dropped).
    """
    keys = list(runners)
    out: dict[str, list[float]] = {k: [] for k in keys}
    perf = time.perf_counter
    for r in range(warmup + rounds):
        shift = r % len(keys)
        for key in keys[shift:] + keys[:shift]:
            runner, scope = runners[key]
            with scope():
                gc.collect()
                w0 = perf()
                t0 = clock()
                loop.run_until_complete(runner())
                t1 = clock()
                w1 = perf()
            if r >= warmup:
                out[key].append(t1 - t0)
                if wall is not None:
                    wall.setdefault(key, []).append(w1 - w0)
    return out


def time_build(
    sdax: ModuleType,
    tasks: Sequence[Any],
    deps: Deps,
    rounds: int,
    scope: Scope = nullcontext,
    clock: Callable[[], float] = time.perf_counter,
) -> list[float]:
    """Seconds per ``build_graph`` call, ``rounds`` values."""
    times: list[float] = []
    for _ in range(rounds):
        with scope():
            gc.collect()
            t0 = clock()
            processor = build_graph(sdax, tasks, deps)
            t1 = clock()
        del processor
        times.append(t1 - t0)
    return times


def median(values: Sequence[float]) -> float:
    """Median of the values (``nan`` for none)."""
    return statistics.median(values) if values else float("nan")


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


def measure_groups(
    sdax: ModuleType,
    loop: asyncio.AbstractEventLoop,
    rounds: int,
    warmup: int,
    clock: Callable[[], float] = time.perf_counter,
    groups: Sequence[Group] = GROUPS,
) -> Iterator[tuple[str, dict[str, list[float]]]]:
    """Time each group's baselines and sdax cases interleaved, for one ``sdax`` module."""
    for group in groups:
        runners = baseline_runners(group)
        for key in group.cases:
            runners[key] = (SDAX_CASES[key][1](sdax), nullcontext)
        yield group.key, time_interleaved(loop, runners, rounds, warmup, clock)


def _sdax_version(sdax: ModuleType) -> str:
    try:
        from importlib.metadata import version

        return version("sdax")
    except Exception:  # any failure just means "unknown"
        return str(getattr(sdax, "__version__", "unknown"))


def main(argv: Sequence[str] | None = None) -> int:
    """Measure the shapes with the ``sdax`` this interpreter imports; print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds per case")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
    parser.add_argument(
        "--build",
        default="",
        help="build shapes as family:tasks:rounds,... (families: random, chain, fan)",
    )
    parser.add_argument(
        "--clock", choices=sorted(CLOCKS), default="cpu", help="cpu (default) or wall time"
    )
    parser.add_argument(
        "--build-budget",
        type=float,
        default=60.0,
        help="skip the larger builds of a family once one round took this many seconds",
    )
    args = parser.parse_args(argv)

    import sdax

    result: dict[str, Any] = {
        "python": sys.version.split()[0],
        "sdax_version": _sdax_version(sdax),
        "sdax_file": sdax.__file__,
        "implementation": str(getattr(sdax, "IMPLEMENTATION", "n/a")),
        "rounds": args.rounds,
        "clock": args.clock,
        "runtime": {},
        "build": {},
    }
    loop = asyncio.new_event_loop()
    try:
        clock = CLOCKS[args.clock]
        for group_key, times in measure_groups(sdax, loop, args.rounds, args.warmup, clock):
            result["runtime"][group_key] = times
            print(f"measured {group_key}", file=sys.stderr, flush=True)
    finally:
        loop.close()

    over_budget: set[str] = set()
    for family, n, rounds in parse_build_specs(args.build):
        key = f"{family}:{n}"
        if family in over_budget:
            result["build"][key] = None
            continue
        deps = FAMILIES[family](n)
        tasks = make_tasks(sdax, deps)
        build_times = time_build(sdax, tasks, deps, rounds, clock=CLOCKS[args.clock])
        result["build"][key] = build_times
        print(f"built {key}: {median(build_times):.3f} s", file=sys.stderr, flush=True)
        if max(build_times) > args.build_budget:
            over_budget.add(family)
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
