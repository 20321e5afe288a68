"""Print the sdax benchmark table (Markdown): raw asyncio, pure core, compiled core.

Usage (from the repository root, in a venv where this sdax is installed)::

    python bench/report.py                 # full run, a few minutes
    python bench/report.py --quick         # smoke run, well under a minute
    python bench/report.py --reference /tmp/refvenv/bin/python   # add sdax 0.7.1
    python -m bench --million              # include the 1,000,000-task build

Every runtime shape is timed with its raw-asyncio baseline, the pure core and the
compiled core interleaved round by round in this one process (see
``shapes.time_interleaved``); the table shows medians and the ratios to the
baseline, which are what the issue-4 targets are about. ``--reference`` runs
``bench/shapes.py`` in the given interpreter (which imports its own ``sdax``) and
adds its figures, measured against baselines taken in that same subprocess.
"""

# ruff: noqa: RUF001 - the tables print the multiplication and minus signs on purpose
from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import itertools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from contextvars import copy_context
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script: make the repository root importable for ``bench.*``.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sdax
from bench import shapes
from bench.cores import CORES, built_with, unavailable_reason, using_core

HERE = Path(__file__).resolve().parent

CLOCK: Callable[[], float] = shapes.CLOCKS["cpu"]
"""The clock of every measurement in this run (set from ``--clock`` in ``main``)."""

# Issue-4 runtime targets: ratio of the sdax median to the group's raw baseline.
RATIO_TARGETS: dict[str, tuple[str, str, float]] = {
    # group: (sdax case, baseline, at most)
    "three-phases": ("three_phases", "gather", 0.5),
    "single-level": ("single_level", "gather", 0.25),
    "multi-level": ("multi_level", "gather", 0.6),
    "suspending": ("suspending", "taskgroup_3_rounds", 1.2),
}
TIMEOUT_TARGET_US = 3.0
CONCURRENCY_TARGET = 0.9  # sdax (concurrent/sequential) at least 0.9x raw asyncio's


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo (or what ``platform`` says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_average() -> str:
    """The 1-minute load average (other processes competing for the CPUs)."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "n/a"


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _mallinfo2() -> Callable[[], _MallInfo2] | None:
    try:
        fn = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = _MallInfo2
    fn.argtypes = []
    return fn


_MALLINFO2 = _mallinfo2()


def malloc_in_use() -> int | None:
    """Bytes in use in the C heap (glibc ``mallinfo2``: heap blocks + mmapped blocks).

    Sees what tracemalloc cannot: memory a compiled module takes with ``malloc``.
    ``None`` where glibc's ``mallinfo2`` is missing.
    """
    if _MALLINFO2 is None:
        return None
    info = _MALLINFO2()
    return int(info.uordblks + info.hblkhd)


def source_revision(package_dir: Path) -> str:
    """The git commit of the measured sdax source, noting uncommitted changes in it."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(package_dir), *args], capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", ".")
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"commit {head}" + (" + uncommitted changes" if dirty else "")


def core_scope(label: str) -> Callable[[], AbstractContextManager[Any]]:
    return lambda: using_core(label)


def fmt_ms(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "n/a"
    ms = seconds * 1e3
    return f"{ms:.3f} ms" if ms < 1 else f"{ms:.2f} ms" if ms < 100 else f"{ms:.0f} ms"


def fmt_s(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "n/a"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def fmt_ratio(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.2f}×"


def mark(ok: bool | None) -> str:
    return "" if ok is None else (" ✓" if ok else " ✗")


class Times:
    """The per-round times of one group; statistics pair values of the same round.

    A ratio (or difference) is computed round by round, from runs that were timed
    next to each other, and then the median is taken: a burst of load on the
    machine moves both runs of a round, and so hardly moves the ratio.
    """

    def __init__(self, raw: dict[str, list[float]]) -> None:
        self.raw = raw

    def __contains__(self, key: str) -> bool:
        return key in self.raw

    def med(self, key: str) -> float:
        return shapes.median(self.raw[key])

    def ratios(self, a: str, b: str) -> list[float]:
        return [x / y for x, y in zip(self.raw[a], self.raw[b], strict=True)]

    def ratio(self, a: str, b: str) -> float:
        """Median over rounds of ``a / b``."""
        return shapes.median(self.ratios(a, b))

    def spread(self, a: str, b: str) -> str:
        """Interquartile range of the per-round ``a / b``, as text."""
        values = self.ratios(a, b)
        if len(values) < 4:
            return ""
        q1, _, q3 = statistics.quantiles(values, n=4)
        return f" [{q1:.2f}–{q3:.2f}]"

    def diff(self, a: str, b: str) -> float:
        """Median over rounds of ``a - b``."""
        return shapes.median([x - y for x, y in zip(self.raw[a], self.raw[b], strict=True)])


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


# -- measuring ------------------------------------------------------------------------------


def measure_runtime(cores: Sequence[str], rounds: int, warmup: int, report: Report) -> None:
    loop = asyncio.new_event_loop()
    try:
        for group in shapes.GROUPS:
            runners: dict[str, tuple[shapes.Runner, shapes.Scope]] = {}
            for key in group.baselines:
                runners[key] = (shapes.BASELINES[key][1](), nullcontext)
            for label in cores:
                for key in group.cases:
                    with using_core(label):
                        runner = shapes.SDAX_CASES[key][1](sdax)
                    runners[f"{key}@{label}"] = (runner, core_scope(label))
            wall: dict[str, list[float]] = {}
            times = shapes.time_interleaved(loop, runners, rounds, warmup, CLOCK, wall)
            report.runtime[group.key] = times
            report.wall[group.key] = wall
            print(f"  runtime {group.key}: done", file=sys.stderr, flush=True)
    finally:
        loop.close()


def timed_build(label: str, tasks: Sequence[Any], deps: shapes.Deps) -> tuple[float, float]:
    """One build with core ``label``: (seconds end to end, seconds in ``build()``).

    The same steps as ``shapes.build_graph``, with a clock read between the last
    ``add_task`` and ``build()``.
    """
    with using_core(label):
        gc.collect()
        t0 = CLOCK()
        builder = sdax.AsyncDagTaskProcessor.builder()
        add = builder.add_task
        for task, (_, depends_on) in zip(tasks, deps, strict=True):
            add(task, depends_on=depends_on)
        t1 = CLOCK()
        processor = builder.build()
        t2 = CLOCK()
    if built_with(processor) != label:
        raise RuntimeError(f"the build did not use the {label} core (see bench/cores.py)")
    return t2 - t0, t2 - t1


def measure_build(
    cores: Sequence[str],
    build: Sequence[shapes.BuildShape],
    report: Report,
) -> None:
    for shape in build:
        deps = shape.make()
        tasks = shapes.make_tasks(sdax, deps)
        totals: dict[str, list[float]] = {label: [] for label in cores}
        builds: dict[str, list[float]] = {label: [] for label in cores}
        for r in range(shape.rounds):
            order = list(cores[r % len(cores) :]) + list(cores[: r % len(cores)])
            for label in order:
                total, in_build = timed_build(label, tasks, deps)
                totals[label].append(total)
                builds[label].append(in_build)
        # What this machine charges for n scattered inserts, whatever the library:
        # a dict from the names to the tasks, built in C.
        names = [name for name, _ in deps]
        by_name = []
        for _ in range(shape.rounds):
            gc.collect()
            t0 = CLOCK()
            dict(zip(names, tasks, strict=True))
            by_name.append(CLOCK() - t0)
        del tasks, deps, names
        gc.collect()
        row = report.build.setdefault(shape.key, {})
        row["dict"] = shapes.median(by_name)
        for label in cores:
            row[label] = shapes.median(totals[label])
            row[f"{label}:build"] = shapes.median(builds[label])
        report.build_meta[shape.key] = {
            "title": shape.title,
            "tasks": shape.tasks,
            "rounds": shape.rounds,
            "target_s": shape.target_s,
        }
        summary = ", ".join(f"{label} {fmt_s(row[label])}" for label in cores)
        print(f"  build {shape.key}: {summary}", file=sys.stderr, flush=True)


def per_call(fn: Callable[[], object], number: int, repeat: int = 5) -> float:
    """Median seconds per ``fn()`` call over ``repeat`` batches of ``number`` calls."""
    batches = []
    for _ in range(repeat):
        t0 = CLOCK()
        for _ in range(number):
            fn()
        batches.append((CLOCK() - t0) / number)
    return shapes.median(batches)


def bookkeeping_per_node(label: str, phases: Sequence[str], runs: int) -> float | None:
    """Seconds per node of the core's per-run bookkeeping alone (no phase calls).

    Walks a fresh ``RunState`` of a 1,000-task one-level processor through a
    successful run, as the engine does: ``pre_begin``, ``pre_done`` for every
    handed-out node, ``post_begin``, ``post_done`` likewise. ``None`` if the
    engine's private API is not the one this knows.
    """
    with using_core(label):
        processor = shapes.level_processor(sdax, 1, shapes.N_TASKS, phases, shapes.zero_work)
        try:
            graph = processor._plan.graph
        except AttributeError:
            return None

        def walk() -> None:
            state = graph.run()
            ready: list[int] = []
            state.pre_begin(ready)
            while ready:
                state.pre_done(ready.pop(), ready)
            state.post_begin(ready)
            while ready:
                state.post_done(ready.pop(), ready)

        try:
            return per_call(walk, runs) / len(processor._plan.names)
        except (AttributeError, TypeError):
            return None


def measure_primitives(cores: Sequence[str], quick: bool) -> dict[str, float]:
    """What the building blocks of a run cost on this machine, in seconds per operation."""
    number = 2_000 if quick else 20_000
    loop = asyncio.new_event_loop()
    out: dict[str, float] = {}
    zero_work = shapes.zero_work
    ctx = shapes.Ctx()

    def send_once() -> None:
        try:
            zero_work(ctx).send(None)
        except StopIteration:
            pass

    out["coroutine: create + send(None) to completion"] = per_call(send_once, number)

    def eager_step() -> None:
        context = copy_context()
        try:
            context.run(zero_work(ctx).send, None)
        except StopIteration:
            pass

    out["same, inside copy_context().run (an eager phase step)"] = per_call(eager_step, number)
    out["copy_context()"] = per_call(copy_context, number)

    async def inside_task(body: Callable[[], Any], n: int) -> None:
        for _ in range(n):
            await body()

    def per_await(body: Callable[[], Any], n: int) -> float:
        times = []
        for _ in range(5):
            t0 = CLOCK()
            loop.run_until_complete(inside_task(body, n))
            times.append((CLOCK() - t0) / n)
        return shapes.median(times)

    n = number // 4
    out["await asyncio.sleep(0) in a task (one event-loop round trip)"] = per_await(
        lambda: asyncio.sleep(0), n
    )

    def gather_batch() -> None:
        loop.run_until_complete(shapes.gather_runner(zero_work, 1_000)())

    out["asyncio task of a zero-work coroutine (gather of 1,000, per task)"] = (
        per_call(gather_batch, 3 if quick else 10) / 1_000
    )

    def timed_await() -> Any:
        async def body() -> None:
            async with asyncio.timeout(10):
                await zero_work(ctx)

        return body()

    out["async with asyncio.timeout(10) around a zero-work await"] = per_await(timed_await, n)
    out["asyncio.wait_for(zero-work, 10) awaited in a task"] = per_await(
        lambda: asyncio.wait_for(zero_work(ctx), 10), n
    )

    def timer() -> None:
        loop.call_at(loop.time() + 10, send_once).cancel()

    out["loop.call_at(...) + cancel() (a timer that does not fire)"] = per_call(timer, number)

    async def empty() -> None:
        return None

    out["loop.run_until_complete(empty coroutine): in every benchmark round"] = per_call(
        lambda: loop.run_until_complete(empty()), number // 10
    )
    for label in cores:
        for phases, what in ((shapes.EXEC_ONLY, "execute only"), (shapes.PHASES3, "3 phases")):
            cost = bookkeeping_per_node(label, phases, 20 if quick else 200)
            if cost is not None:
                key = f"sdax ({label}): ready-set bookkeeping of a run, per node ({what})"
                out[key] = cost
    for label in cores:
        with using_core(label):
            one = shapes.level_processor(sdax, 1, 1, ("execute",), zero_work)
            key = f"sdax ({label}): process_tasks of a 1-task execute-only processor, in a task"
            out[key] = per_await(partial(one.process_tasks, ctx), number // 10)
    loop.close()
    return out


def measure_memory(label: str, n: int) -> dict[str, Any]:
    """Build-time and run-time memory of an ``n``-task random-DAG processor.

    A run is measured twice: its peak (tracemalloc's peak above the memory in use
    before it) and a snapshot taken from inside the run, by an extra task's execute
    phase, when every pre has finished: the blocks alive then that were not alive
    before the run show what a run keeps per task.
    """
    deps = shapes.random_dag(n)
    tasks = shapes.make_tasks(sdax, deps)
    probe_state: dict[str, Any] = {"armed": None, "snapshot": None, "malloc": None}

    async def probe(ctx: object) -> None:
        if probe_state["armed"] == "snapshot":
            probe_state["snapshot"] = tracemalloc.take_snapshot()
        elif probe_state["armed"] == "malloc":
            probe_state["malloc"] = malloc_in_use()

    tasks.append(sdax.AsyncTask("probe", execute=sdax.task_func(probe)))
    deps.append(("probe", ()))
    loop = asyncio.new_event_loop()
    out: dict[str, Any] = {"tasks": n}
    with using_core(label):
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            processor = shapes.build_graph(sdax, tasks, deps)
            peak = tracemalloc.get_traced_memory()[1]
            gc.collect()
            out["build_peak"] = peak - base
            out["retained"] = tracemalloc.get_traced_memory()[0] - base
            loop.run_until_complete(processor.process_tasks(shapes.Ctx()))  # warm-up run
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            loop.run_until_complete(processor.process_tasks(shapes.Ctx()))
            out["run_peak"] = tracemalloc.get_traced_memory()[1] - before
            gc.collect()
            snap0 = tracemalloc.take_snapshot()
            probe_state["armed"] = "snapshot"
            loop.run_until_complete(processor.process_tasks(shapes.Ctx()))
            snap1 = probe_state["snapshot"]
        finally:
            tracemalloc.stop()
        # The C heap, in a run without tracemalloc (whose own tables live there).
        gc.collect()
        before_malloc = malloc_in_use()
        if before_malloc is not None:
            probe_state["armed"] = "malloc"
            loop.run_until_complete(processor.process_tasks(shapes.Ctx()))
            out["mid_run_malloc"] = probe_state["malloc"] - before_malloc
        loop.close()
    assert snap1 is not None
    graph = getattr(getattr(processor, "_plan", None), "graph", None)
    if graph is not None and hasattr(graph, "run"):
        with using_core(label):
            out["state_setup"] = per_call(graph.run, 20)
    # The processor as the C heap sees it: a second build, without tracemalloc.
    del processor, graph
    gc.collect()
    heap0 = malloc_in_use()
    if heap0 is not None:
        with using_core(label):
            again = shapes.build_graph(sdax, tasks, deps)
        gc.collect()
        out["retained_malloc"] = malloc_in_use() - heap0  # type: ignore[operator]
        del again
    # Leave out tracemalloc's own snapshot and this module's probe.
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__)]
    stats = snap1.filter_traces(ignore).compare_to(snap0.filter_traces(ignore), "lineno")
    grown = [s for s in stats if s.size_diff > 0]
    out["mid_run_bytes"] = sum(s.size_diff for s in grown)
    out["mid_run_blocks"] = sum(max(s.count_diff, 0) for s in grown)
    top = sorted(grown, key=lambda s: s.size_diff, reverse=True)[:5]
    out["mid_run_top"] = [
        (
            f"{Path(s.traceback[0].filename).name}:{s.traceback[0].lineno}",
            s.size_diff,
            s.count_diff,
        )
        for s in top
    ]
    return out


def run_reference(
    python: str, rounds: int, warmup: int, build_specs: str, clock: str
) -> dict[str, Any]:
    """Run ``shapes.py`` in the reference interpreter and return its JSON."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("SDAX_")}
    cmd = [
        python,
        str(HERE / "shapes.py"),
        "--rounds",
        str(rounds),
        "--warmup",
        str(warmup),
        "--build",
        build_specs,
        "--build-budget",
        "20",
        "--clock",
        clock,
    ]
    print(f"  reference: {' '.join(cmd)}", file=sys.stderr, flush=True)
    proc = subprocess.run(
        cmd, env=env, cwd="/", stdout=subprocess.PIPE, stderr=None, text=True, check=True
    )
    data: dict[str, Any] = json.loads(proc.stdout)
    data["build"] = {k: (None if v is None else shapes.median(v)) for k, v in data["build"].items()}
    return data


# -- rendering -------------------------------------------------------------------------------


def render(report: Report, cores_all: Sequence[str]) -> str:
    info = report.info
    ref = report.reference
    lines: list[str] = []
    add = lines.append
    add(f"## sdax benchmark report (started {info['date']})")
    add("")
    add(f"- Python {info['python']} ({info['implementation']}), {info['platform']}")
    add(
        f"- CPU: {info['cpu']}, {info['cpus']} logical CPUs; 1-minute load average "
        f"{info['load_start']} at the start, {info['load_end']} at the end "
        f"(run took {info['duration_s']} s)"
    )
    add(
        f"- sdax {info['sdax_version']} ({info['sdax_path']}, {info['revision']}); "
        f"active core at import: {info['active']}"
    )
    for label in cores_all:
        reason = info["unavailable"].get(label)
        add(f"- {label} core ({CORES[label]}): " + ("measured" if reason is None else reason))
    if ref is not None:
        add(
            f"- reference: sdax {ref['sdax_version']} on Python {ref['python']} "
            f"({ref['sdax_file']}), measured in its own process against its own baselines"
        )
    ratios = [
        w / c
        for group, keys in report.wall.items()
        for key, walls in keys.items()
        for w, c in zip(walls, report.runtime[group][key], strict=True)
        if c > 0
    ]
    clock_text = (
        "CPU time of this process (`time.process_time`)"
        if info["clock"] == "cpu"
        else "wall time (`time.perf_counter`)"
    )
    add(
        f"- clock: {clock_text}; wall ÷ CPU time of the runtime rounds: median "
        f"{shapes.median(ratios):.2f} (1.00 on an idle machine; more means other processes "
        "took the CPUs)"
        if ratios
        else f"- clock: {clock_text}"
    )
    add(
        f"- runtime: {info['rounds']} timed rounds (+{info['warmup']} warm-up) per case, "
        "cases interleaved round by round (rotating order); GC enabled, collected before each "
        "round."
    )
    add("")
    cores = [c for c in cores_all if info["unavailable"].get(c) is None]
    rt = {g: Times(t) for g, t in report.runtime.items()}
    ref_rt = {g: Times(t) for g, t in ref["runtime"].items()} if ref else {}

    def table_head(first: str, baseline: str) -> None:
        head = [first, baseline, *cores_all]
        if ref:
            head.append(f"reference {ref['sdax_version']}")
        head.append("target")
        add("| " + " | ".join(head) + " |")
        add("|" + "---|" * len(head))

    if report.runtime:
        # Runtime ratios.
        add(
            "### Runtime: median per run, and ratio to the raw-asyncio baseline of the same group "
            "(median of per-round ratios, [interquartile range])"
        )
        add("")
        table_head("shape", "raw asyncio baseline")
        for group in shapes.GROUPS:
            if group.key not in RATIO_TARGETS:
                continue
            case, base, target = RATIO_TARGETS[group.key]
            data = rt[group.key]
            row = [f"{group.title}: {shapes.SDAX_CASES[case][0]}"]
            row.append(f"{fmt_ms(data.med(base))} ({shapes.BASELINES[base][0].split(': ')[1]})")
            for label in cores_all:
                key = f"{case}@{label}"
                if key not in data:
                    row.append("not built")
                    continue
                r = data.ratio(key, base)
                row.append(
                    f"{fmt_ms(data.med(key))} = **{fmt_ratio(r)}**{data.spread(key, base)}"
                    f"{mark(r <= target)}"
                )
            if ref:
                rd = ref_rt[group.key]
                row.append(
                    f"{fmt_ms(rd.med(case))} = {fmt_ratio(rd.ratio(case, base))} "
                    f"(its baseline {fmt_ms(rd.med(base))})"
                )
            row.append(f"≤ {target}×")
            add("| " + " | ".join(row) + " |")
        add("")

        # Timeout overhead.
        add(
            "### Timeout overhead per phase call: median over rounds of (run with `timeout=10` − "
            "run without) / 1,000"
        )
        add("")
        table_head("phase", "asyncio.wait_for (raw)")
        per = shapes.N_TASKS / 1e6
        for group_key, title, (base, base_wf), (plain, timed) in (
            ("timeout", "zero work (never suspends)", ("gather", "gather_wait_for"),
             ("single_level", "single_level_timeout")),
            ("timeout-suspending", "sleeps(0) once", ("gather_suspend", "gather_suspend_wait_for"),
             ("suspend_exec", "suspend_exec_timeout")),
        ):  # fmt: skip
            data = rt[group_key]
            row = [title, f"{data.diff(base_wf, base) / per:.2f} µs"]
            for label in cores_all:
                if f"{timed}@{label}" not in data:
                    row.append("not built")
                    continue
                us = data.diff(f"{timed}@{label}", f"{plain}@{label}") / per
                row.append(f"**{us:.2f} µs**{mark(us <= TIMEOUT_TARGET_US)}")
            if ref:
                row.append(f"{ref_rt[group_key].diff(timed, plain) / per:.2f} µs")
            row.append(f"≤ {TIMEOUT_TARGET_US:g} µs")
            add("| " + " | ".join(row) + " |")
        add("")

        # Concurrency.
        add(
            "### Concurrency: 100 runs of one 100-task processor, at once vs one after the other "
            "(throughput in runs/s; ratio = concurrent ÷ sequential throughput, median of "
            "per-round ratios)"
        )
        add("")
        table_head("work", "raw asyncio (100 gathers of 100)")
        runs = shapes.CONCURRENT_RUNS
        for group_key, title, suffix in (
            ("concurrency", "zero work, three phases", ""),
            ("concurrency-suspending", "executes sleep(0) once", "_suspend"),
        ):

            def cell(data: Times, conc: str, seq: str) -> tuple[str, float]:
                r = data.ratio(seq, conc)
                text = (
                    f"{runs / data.med(conc):,.0f} vs {runs / data.med(seq):,.0f} runs/s = "
                    f"**{fmt_ratio(r)}**{data.spread(seq, conc)}"
                )
                return text, r

            data = rt[group_key]
            raw_text, raw_ratio = cell(
                data, f"gather_runs_concurrent{suffix}", f"gather_runs_sequential{suffix}"
            )
            row = [title, raw_text]
            for label in cores_all:
                if f"concurrent{suffix}@{label}" not in data:
                    row.append("not built")
                    continue
                text, r = cell(data, f"concurrent{suffix}@{label}", f"sequential{suffix}@{label}")
                row.append(text + mark(r >= CONCURRENCY_TARGET * raw_ratio))
            if ref:
                row.append(cell(ref_rt[group_key], f"concurrent{suffix}", f"sequential{suffix}")[0])
            row.append(f"ratio ≥ {CONCURRENCY_TARGET}× raw asyncio's")
            add("| " + " | ".join(row) + " |")
        add("")

    if report.build:
        # Build.
        add(
            "### Build: `builder()`, every `add_task`, `build()`; every task with three phases "
            "(random DAG: 4 random earlier dependencies per task, seeded). Medians; "
            "(build() n%) is the share of the time spent in `build()`, the rest is `add_task`."
        )
        add("")
        head = ["graph", "tasks", *cores_all]
        if len(cores) == 2:
            head.append("pure ÷ compiled")
        if ref:
            head.append(f"reference {ref['sdax_version']}")
        head.append("target")
        add("| " + " | ".join(head) + " |")
        add("|" + "---|" * len(head))
        ref_build = ref["build"] if ref else {}
        by_size = sorted(
            report.build,
            key=lambda k: (report.build_meta[k]["title"], report.build_meta[k]["tasks"]),
        )
        for key in by_size:
            row_data = report.build[key]
            meta = report.build_meta[key]
            target = meta["target_s"]
            row = [meta["title"], f"{meta['tasks']:,}"]
            for label in cores_all:
                t = row_data.get(label)
                ok = None if target is None or t is None else t <= target
                if t is None:
                    row.append("not built")
                    continue
                part = row_data.get(f"{label}:build")
                share = "" if part is None else f" (build() {part / t:.0%})"
                row.append(fmt_s(t) + mark(ok) + share)
            if len(cores) == 2:
                pure, comp = row_data["pure"], row_data["compiled"]
                speed = None if pure is None or comp is None else pure / comp
                row.append(fmt_ratio(speed) + mark(None if speed is None else speed >= 5))
            if ref:
                family = key.split("-")[0]
                rkey = f"{family}:{meta['tasks'] - 2 if family == 'fan' else meta['tasks']}"
                if rkey in ref_build:
                    v = ref_build[rkey]
                    row.append("skipped (budget)" if v is None else fmt_s(v))
                else:
                    row.append("not run")
            row.append("" if target is None else f"< {fmt_s(target)}")
            add("| " + " | ".join(row) + " |")
        add("")

        # Growth.
        series = sorted(
            (meta["tasks"], key)
            for key, meta in report.build_meta.items()
            if meta["title"] == "random DAG"
        )
        steps = [(a, b) for a, b in itertools.pairwise(series) if b[0] == 10 * a[0]]
        if steps:
            add("Growth of the random-DAG build, 10× tasks → N× time (target: N ≤ 12):")
            add("")
            head = ["step", *cores_all, "`dict(zip(names, tasks))` (machine baseline)"]
            add("| " + " | ".join(head) + " |")
            add("|" + "---|" * len(head))
            for (na, ka), (nb, kb) in steps:
                row = [f"{na:,} → {nb:,}"]
                for label in cores_all:
                    ta, tb = report.build[ka].get(label), report.build[kb].get(label)
                    if ta is None or tb is None:
                        row.append("n/a")
                    else:
                        row.append(f"{tb / ta:.1f}×{mark(tb / ta <= 12)}")
                da, db = report.build[ka].get("dict"), report.build[kb].get("dict")
                row.append("n/a" if not da or db is None else f"{db / da:.1f}×")
                add("| " + " | ".join(row) + " |")
            add("")
            add(
                "The baseline column is a C-level dict of the same names: the growth this "
                "machine's caches impose on n scattered memory accesses, with no library "
                "code at all."
            )
            add("")

    # Primitive costs and per-call figures.
    add("### What costs what on this machine (median per operation)")
    add("")
    add("| operation | cost |")
    add("|---|---|")
    for name, seconds in report.primitives.items():
        add(f"| {name} | {seconds * 1e6:.2f} µs |")
    for label in cores:
        for gkey, case, calls in (
            ("three-phases", "three_phases", 3 * shapes.N_TASKS),
            ("single-level", "single_level", shapes.N_TASKS),
        ):
            key = f"{case}@{label}"
            if gkey in rt and key in rt[gkey]:
                us = rt[gkey].med(key) / calls * 1e6
                add(f"| sdax ({label}): one zero-work phase call, within {case} | {us:.2f} µs |")
    add("")

    # Memory.
    if report.memory:
        n = next(iter(report.memory.values()))["tasks"]
        add(f"### Memory of a {n:,}-task processor (random DAG, three phases; tracemalloc)")
        add("")
        add(
            "| core | build peak | processor retained | same, C heap | per-run state setup | "
            "run peak | run peak per task | alive mid-run | C heap growth mid-run | "
            "largest mid-run allocations (bytes, blocks) |"
        )
        add("|---|---|---|---|---|---|---|---|---|---|")
        for label, m in report.memory.items():
            top = "; ".join(
                f"{where} {size:,} B / {count:+d}" for where, size, count in m["mid_run_top"]
            )
            setup = f"{m['state_setup'] * 1e6:.0f} µs" if "state_setup" in m else "n/a"
            cells = [
                label,
                f"{m['build_peak'] / 2**20:.1f} MiB",
                f"{m['retained'] / 2**20:.1f} MiB",
                (
                    f"{m['retained_malloc'] / 2**20:.1f} MiB"
                    if m.get("retained_malloc") is not None
                    else "n/a"
                ),
                setup,
                f"{m['run_peak'] / 1024:.0f} KiB",
                f"{m['run_peak'] / n:.1f} B",
                f"{m['mid_run_bytes'] / 1024:.0f} KiB in {m['mid_run_blocks']:,} blocks",
                (
                    f"{m['mid_run_malloc'] / 1024:.0f} KiB = {m['mid_run_malloc'] / n:.1f} B/task"
                    if m.get("mid_run_malloc") is not None
                    else "n/a"
                ),
                top,
            ]
            add("| " + " | ".join(cells) + " |")
        add("")
        add(
            "Task objects and dependency tuples are made before measuring (they are the "
            "user's). *Run peak*: tracemalloc peak during one `process_tasks` above the "
            "memory in use before it. *Alive mid-run*: blocks allocated since the run began "
            "and still alive when the last execute runs (every pre done). *Per-run state "
            "setup*: `graph.run()`, the copy of the counters a run starts from. tracemalloc "
            "only sees memory taken through Python's allocators (a C `malloc` in the compiled "
            "core is invisible to it); *C heap growth mid-run* is glibc's `mallinfo2()` "
            "(blocks in use, heap and mmapped) at the same point of a run without tracemalloc, "
            "minus before the run, and *same, C heap* the growth of it over a second build: "
            "they see `malloc` and Python's large blocks, not pymalloc's small objects."
        )
        add("")
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------------------


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark sdax (raw asyncio vs pure vs compiled core); print Markdown."
    )
    parser.add_argument("--quick", action="store_true", help="small, fast smoke run")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per runtime case")
    parser.add_argument("--reference", metavar="PYTHON", help="interpreter of a reference sdax")
    parser.add_argument(
        "--million",
        action="store_true",
        default=os.environ.get("SDAX_BENCH_MILLION", "").strip() not in ("", "0"),
        help="also build 1,000,000 tasks (or SDAX_BENCH_MILLION=1)",
    )
    parser.add_argument(
        "--clock",
        choices=sorted(shapes.CLOCKS),
        default="cpu",
        help="cpu: this process's CPU time (default; robust to other load), or wall time",
    )
    parser.add_argument("--no-runtime", action="store_true", help="skip the runtime shapes")
    parser.add_argument("--no-build", action="store_true", help="skip the build series")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory figures")
    parser.add_argument("--output", type=Path, help="also write the Markdown to this file")
    parser.add_argument("--json", type=Path, help="also write the raw figures as JSON")
    args = parser.parse_args(argv)
    global CLOCK
    CLOCK = shapes.CLOCKS[args.clock]

    rounds = args.rounds or (3 if args.quick else 25)
    warmup = 1 if args.quick else 2
    cores_all = list(CORES)
    unavailable = {label: unavailable_reason(label) for label in cores_all}
    cores = [label for label in cores_all if unavailable[label] is None]
    report = Report()
    report.info = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "load_start": load_average(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "sdax_version": sdax.__version__,
        "sdax_path": str(Path(sdax.__file__).parent),
        "revision": source_revision(Path(sdax.__file__).parent),
        "active": sdax.IMPLEMENTATION,
        "unavailable": unavailable,
        "rounds": rounds,
        "warmup": warmup,
        "quick": args.quick,
        "clock": args.clock,
    }
    started = time.perf_counter()
    print("runtime shapes...", file=sys.stderr, flush=True)
    if not args.no_runtime:
        measure_runtime(cores, rounds, warmup, report)

    ref_specs = reference_build_specs(args.quick)
    if not args.no_build:
        print("build series...", file=sys.stderr, flush=True)
        build = shapes.build_shapes(million=args.million, quick=args.quick)
        if args.reference:
            known = {s.key for s in build}
            build = [s for s in extra_build_shapes(ref_specs) if s.key not in known] + build
        measure_build(cores, build, report)
    print("primitive costs...", file=sys.stderr, flush=True)
    report.primitives = measure_primitives(cores, args.quick)
    if not args.no_memory:
        n = 10_000 if args.quick else 100_000
        print(f"memory ({n:,} tasks)...", file=sys.stderr, flush=True)
        for label in cores:
            report.memory[label] = measure_memory(label, n)
    if args.reference:
        print("reference package...", file=sys.stderr, flush=True)
        report.reference = run_reference(
            args.reference, rounds, warmup, "" if args.no_build else ref_specs, args.clock
        )
    report.info["load_end"] = load_average()
    report.info["duration_s"] = round(time.perf_counter() - started)
    print(f"done in {report.info['duration_s']} s", file=sys.stderr, flush=True)

    text = render(report, cores_all)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    if args.json:
        args.json.write_text(json.dumps(report.__dict__, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
