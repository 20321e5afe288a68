"""The measuring half of the benchmark report: runtime, build, primitive costs, reference.

Every runtime shape is timed with its raw-asyncio baseline, the pure core and the
compiled core interleaved round by round in one process (see
``timing.time_interleaved``). The reference package is measured by running
``bench/reference.py`` in its own interpreter, against baselines taken in that same
subprocess. Everything measured lands in a :class:`Report`, plain data that
``bench/render.py`` turns into tables; the memory figures are in ``bench/memory.py``.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from contextvars import copy_context
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import sdax
from bench import shapes, timing
from bench.cores import built_with, complete_run, core_scope, using_core
from bench.tables import fmt_s
from bench.timing import Clock

HERE = Path(__file__).resolve().parent


@dataclass
class Report:
    """Everything measured, as plain data (also dumped by ``--json``)."""

    info: dict[str, Any] = field(default_factory=dict)
    runtime: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # group->key->s
    wall: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # same, wall clock
    build: dict[str, dict[str, float | None]] = field(default_factory=dict)  # shape -> col
    build_meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    memory: dict[str, dict[str, Any]] = field(default_factory=dict)  # core -> figures
    primitives: dict[str, float] = field(default_factory=dict)  # operation -> s
    reference: dict[str, Any] | None = None


def progress(text: str) -> None:
    """Say on stderr how far the run got (stdout is the report)."""
    print(text, file=sys.stderr, flush=True)


# -- runtime -------------------------------------------------------------------------------


def _time_group(
    loop: asyncio.AbstractEventLoop,
    group: shapes.Group,
    cores: Sequence[str],
    rounds: int,
    warmup: int,
    clock: Clock,
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """One group's baselines and every core's cases, interleaved: (times, wall times)."""
    runners = timing.baseline_runners(group)
    for label in cores:
        for key in group.cases:
            with using_core(label):
                runner = shapes.SDAX_CASES[key][1](sdax)
            runners[f"{key}@{label}"] = (runner, core_scope(label))
    wall: dict[str, list[float]] = {}
    times = timing.time_interleaved(loop, runners, rounds, warmup, clock, wall)
    return times, wall


def measure_runtime(
    cores: Sequence[str], rounds: int, warmup: int, clock: Clock, report: Report
) -> None:
    """Time every runtime group on the given cores into ``report.runtime``/``.wall``."""
    loop = asyncio.new_event_loop()
    try:
        for group in shapes.GROUPS:
            times, wall = _time_group(loop, group, cores, rounds, warmup, clock)
            report.runtime[group.key] = times
            report.wall[group.key] = wall
            progress(f"  runtime {group.key}: done")
    finally:
        loop.close()


# -- build ---------------------------------------------------------------------------------


def timed_build(
    label: str, tasks: Sequence[Any], deps: shapes.Deps, clock: Clock
) -> tuple[float, float]:
    """One build with core ``label``: (seconds end to end, seconds in ``build()``).

    The same steps as ``shapes.build_graph``, with a clock read between the last
    ``add_task`` and ``build()``.
    """
    with using_core(label):
        gc.collect()
        t0 = clock()
        builder = sdax.AsyncDagTaskProcessor.builder()
        shapes.add_all(builder, tasks, deps)
        t1 = clock()
        processor = builder.build()
        t2 = clock()
    if built_with(processor) != label:
        raise RuntimeError(f"the build did not use the {label} core (see bench/cores.py)")
    return t2 - t0, t2 - t1


def _time_builds(
    cores: Sequence[str], rounds: int, tasks: Sequence[Any], deps: shapes.Deps, clock: Clock
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per core, seconds end to end and in ``build()``; the cores' order rotates per round."""
    totals: dict[str, list[float]] = {label: [] for label in cores}
    builds: dict[str, list[float]] = {label: [] for label in cores}
    for r in range(rounds):
        order = list(cores[r % len(cores) :]) + list(cores[: r % len(cores)])
        for label in order:
            total, in_build = timed_build(label, tasks, deps, clock)
            totals[label].append(total)
            builds[label].append(in_build)
    return totals, builds


def _dict_baseline(deps: shapes.Deps, tasks: Sequence[Any], rounds: int, clock: Clock) -> float:
    """Median seconds of a dict from the names to the tasks, built in C.

    What this machine charges for n scattered inserts, whatever the library.
    """
    names = [name for name, _ in deps]
    by_name = []
    for _ in range(rounds):
        gc.collect()
        t0 = clock()
        dict(zip(names, tasks, strict=True))
        by_name.append(clock() - t0)
    return timing.median(by_name)


def _measure_one_build(
    cores: Sequence[str], shape: shapes.BuildShape, clock: Clock
) -> dict[str, float | None]:
    """The report row of one build shape: the dict baseline, then per core."""
    deps = shape.make()
    tasks = shapes.make_tasks(sdax, deps)
    totals, builds = _time_builds(cores, shape.rounds, tasks, deps, clock)
    by_name = _dict_baseline(deps, tasks, shape.rounds, clock)
    del tasks, deps
    gc.collect()
    row: dict[str, float | None] = {"dict": by_name}
    for label in cores:
        row[label] = timing.median(totals[label])
        row[f"{label}:build"] = timing.median(builds[label])
    return row


def measure_build(
    cores: Sequence[str], build: Sequence[shapes.BuildShape], clock: Clock, report: Report
) -> None:
    """Time every build shape on the given cores into ``report.build``/``.build_meta``."""
    for shape in build:
        row = report.build.setdefault(shape.key, {})
        row.update(_measure_one_build(cores, shape, clock))
        report.build_meta[shape.key] = {
            "title": shape.title,
            "tasks": shape.tasks,
            "rounds": shape.rounds,
            "target_s": shape.target_s,
        }
        summary = ", ".join(f"{label} {fmt_s(row[label])}" for label in cores)
        progress(f"  build {shape.key}: {summary}")


def reference_build_specs(quick: bool) -> str:
    """The reference's build sizes: its build is quadratic, so it gets small graphs."""
    if quick:
        return "random:1000:1"
    return (
        "random:1000:3,random:10000:1,chain:1000:1,chain:5000:1,fan:1000:1,fan:10000:1,fan:100000:1"
    )


def extra_build_shapes(spec: str) -> list[shapes.BuildShape]:
    """Our figures for the reference's (smaller) build sizes, so rows line up."""
    out = []
    for family, n, _ in shapes.parse_build_specs(spec):
        title = {"random": "random DAG", "chain": "chain", "fan": "fan 1 -> n -> 1"}[family]
        tasks = n + 2 if family == "fan" else n
        key = f"{family}-{n // 1000}k" if n % 1000 == 0 else f"{family}-{n}"

        def make(family: str = family, n: int = n) -> shapes.Deps:
            return shapes.FAMILIES[family](n)

        out.append(shapes.BuildShape(key, title, tasks, make, 3, None))
    return out


# -- primitive costs -----------------------------------------------------------------------


def per_call(fn: Callable[[], object], number: int, clock: Clock, repeat: int = 5) -> float:
    """Median seconds per ``fn()`` call over ``repeat`` batches of ``number`` calls."""
    batches = []
    for _ in range(repeat):
        t0 = clock()
        for _ in range(number):
            fn()
        batches.append((clock() - t0) / number)
    return timing.median(batches)


async def _await_each(body: Callable[[], Any], n: int) -> None:
    for _ in range(n):
        await body()


def per_await(
    loop: asyncio.AbstractEventLoop, body: Callable[[], Any], n: int, clock: Clock
) -> float:
    """Median seconds per ``await body()`` inside one task, over 5 batches of ``n``."""
    times = []
    for _ in range(5):
        t0 = clock()
        loop.run_until_complete(_await_each(body, n))
        times.append((clock() - t0) / n)
    return timing.median(times)


def _sender(ctx: object) -> Callable[[], None]:
    """A callable that drives a zero-work coroutine to completion with one ``send(None)``."""
    zero_work = shapes.zero_work

    def send_once() -> None:
        try:
            zero_work(ctx).send(None)
        except StopIteration:
            pass

    return send_once


def _coroutine_costs(number: int, clock: Clock) -> dict[str, float]:
    """A coroutine driven by hand, bare and as an eager phase step drives it."""
    zero_work = shapes.zero_work
    ctx = shapes.Ctx()

    def eager_step() -> None:
        context = copy_context()
        try:
            context.run(zero_work(ctx).send, None)
        except StopIteration:
            pass

    return {
        "coroutine: create + send(None) to completion": per_call(_sender(ctx), number, clock),
        "same, inside copy_context().run (an eager phase step)": per_call(
            eager_step, number, clock
        ),
        "copy_context()": per_call(copy_context, number, clock),
    }


def _task_costs(
    loop: asyncio.AbstractEventLoop, number: int, quick: bool, clock: Clock
) -> dict[str, float]:
    """What asyncio charges inside a task: a round trip, a task of its own, timeouts."""
    zero_work = shapes.zero_work
    ctx = shapes.Ctx()
    n = number // 4
    out = {
        "await asyncio.sleep(0) in a task (one event-loop round trip)": per_await(
            loop, lambda: asyncio.sleep(0), n, clock
        )
    }

    def gather_batch() -> None:
        loop.run_until_complete(shapes.gather_runner(zero_work, 1_000)())

    out["asyncio task of a zero-work coroutine (gather of 1,000, per task)"] = (
        per_call(gather_batch, 3 if quick else 10, clock) / 1_000
    )

    def timed_await() -> Any:
        async def body() -> None:
            async with asyncio.timeout(10):
                await zero_work(ctx)

        return body()

    out["async with asyncio.timeout(10) around a zero-work await"] = per_await(
        loop, timed_await, n, clock
    )
    out["asyncio.wait_for(zero-work, 10) awaited in a task"] = per_await(
        loop, lambda: asyncio.wait_for(zero_work(ctx), 10), n, clock
    )
    return out


def _loop_costs(loop: asyncio.AbstractEventLoop, number: int, clock: Clock) -> dict[str, float]:
    """What the event loop charges: a timer that does not fire, a whole benchmark round."""
    out = {}
    callback = _sender(shapes.Ctx())

    def timer() -> None:
        loop.call_at(loop.time() + 10, callback).cancel()

    out["loop.call_at(...) + cancel() (a timer that does not fire)"] = per_call(
        timer, number, clock
    )

    async def empty() -> None:
        return None

    out["loop.run_until_complete(empty coroutine): in every benchmark round"] = per_call(
        lambda: loop.run_until_complete(empty()), number // 10, clock
    )
    return out


def bookkeeping_per_node(
    label: str, phases: Sequence[str], runs: int, clock: Clock
) -> float | None:
    """Seconds per node of the core's per-run bookkeeping alone (no phase calls).

    Walks a fresh ``RunState`` of a 1,000-task one-level processor through a
    successful run (``cores.complete_run``). ``None`` if the engine's private API
    is not the one this knows.
    """
    with using_core(label):
        processor = shapes.level_processor(sdax, 1, shapes.N_TASKS, phases, shapes.zero_work)
        try:
            graph = processor._plan.graph
        except AttributeError:
            return None
        try:
            return per_call(partial(complete_run, graph), runs, clock) / len(processor._plan.names)
        except (AttributeError, TypeError):
            return None


def _sdax_costs(
    loop: asyncio.AbstractEventLoop, cores: Sequence[str], number: int, quick: bool, clock: Clock
) -> dict[str, float]:
    """Per core: the ready-set bookkeeping per node, and a whole 1-task run."""
    out: dict[str, float] = {}
    for label in cores:
        for phases, what in ((shapes.EXEC_ONLY, "execute only"), (shapes.PHASES3, "3 phases")):
            cost = bookkeeping_per_node(label, phases, 20 if quick else 200, clock)
            if cost is not None:
                key = f"sdax ({label}): ready-set bookkeeping of a run, per node ({what})"
                out[key] = cost
    ctx = shapes.Ctx()
    for label in cores:
        with using_core(label):
            one = shapes.level_processor(sdax, 1, 1, ("execute",), shapes.zero_work)
            key = f"sdax ({label}): process_tasks of a 1-task execute-only processor, in a task"
            out[key] = per_await(loop, partial(one.process_tasks, ctx), number // 10, clock)
    return out


def measure_primitives(cores: Sequence[str], quick: bool, clock: Clock) -> dict[str, float]:
    """What the building blocks of a run cost on this machine, in seconds per operation."""
    number = 2_000 if quick else 20_000
    loop = asyncio.new_event_loop()
    try:
        out = _coroutine_costs(number, clock)
        out.update(_task_costs(loop, number, quick, clock))
        out.update(_loop_costs(loop, number, clock))
        out.update(_sdax_costs(loop, cores, number, quick, clock))
    finally:
        loop.close()
    return out


# -- reference -----------------------------------------------------------------------------


def run_reference(
    python: str, rounds: int, warmup: int, build_specs: str, clock: str
) -> dict[str, Any]:
    """Run ``reference.py`` in the reference interpreter and return its JSON."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("SDAX_")}
    cmd = [python, str(HERE / "reference.py"), "--rounds", str(rounds), "--warmup", str(warmup)]
    cmd += ["--build", build_specs, "--build-budget", "20", "--clock", clock]
    progress(f"  reference: {' '.join(cmd)}")
    proc = subprocess.run(
        cmd, env=env, cwd="/", stdout=subprocess.PIPE, stderr=None, text=True, check=True
    )
    data: dict[str, Any] = json.loads(proc.stdout)
    data["build"] = {k: (None if v is None else timing.median(v)) for k, v in data["build"].items()}
    return data
