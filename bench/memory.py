"""The memory figures of the benchmark report: what a processor keeps, what a run takes.

tracemalloc sees what Python's allocators hand out; glibc's ``mallinfo2`` (see
``bench/machine.py``) sees the C heap, where a compiled core takes its blocks.
Each is read in a run of its own, since tracemalloc keeps its tables in the C heap.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from pathlib import Path
from typing import Any

import sdax
from bench import shapes
from bench.cores import using_core
from bench.machine import malloc_in_use
from bench.measure import per_call
from bench.timing import Clock

Probe = dict[str, Any]
"""What the probe task is armed for ("snapshot", "malloc" or None), and what it saw."""


def _probe_task(probe_state: Probe) -> Any:
    """An extra task whose execute reads the memory when armed: once every pre is done."""

    async def probe(ctx: object) -> None:
        if probe_state["armed"] == "snapshot":
            probe_state["snapshot"] = tracemalloc.take_snapshot()
        elif probe_state["armed"] == "malloc":
            probe_state["malloc"] = malloc_in_use()

    return sdax.AsyncTask("probe", execute=sdax.task_func(probe))


def _traced_build_and_runs(
    loop: asyncio.AbstractEventLoop,
    tasks: list[Any],
    deps: shapes.Deps,
    probe_state: Probe,
    out: dict[str, Any],
) -> tuple[Any, tracemalloc.Snapshot, tracemalloc.Snapshot]:
    """Under tracemalloc: the build's peak and what it keeps, a run's peak, two snapshots.

    Returns:
        The processor, a snapshot before a run and one from inside it.
    """
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
    assert snap1 is not None
    return processor, snap0, snap1


def _malloc_mid_run(
    loop: asyncio.AbstractEventLoop, processor: Any, probe_state: Probe, out: dict[str, Any]
) -> None:
    """The C heap's growth from before a run to its middle, in a run without tracemalloc."""
    gc.collect()
    before_malloc = malloc_in_use()
    if before_malloc is not None:
        probe_state["armed"] = "malloc"
        loop.run_until_complete(processor.process_tasks(shapes.Ctx()))
        out["mid_run_malloc"] = probe_state["malloc"] - before_malloc


def _malloc_retained(label: str, tasks: list[Any], deps: shapes.Deps, out: dict[str, Any]) -> None:
    """The processor as the C heap sees it: a second build, without tracemalloc."""
    gc.collect()
    heap0 = malloc_in_use()
    if heap0 is not None:
        with using_core(label):
            again = shapes.build_graph(sdax, tasks, deps)
        gc.collect()
        out["retained_malloc"] = malloc_in_use() - heap0  # type: ignore[operator]
        del again


def _mid_run_growth(snap0: tracemalloc.Snapshot, snap1: tracemalloc.Snapshot) -> dict[str, Any]:
    """The blocks alive mid-run that were not before it: totals and the five largest."""
    # Leave out tracemalloc's own snapshot and this module's probe.
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__)]
    stats = snap1.filter_traces(ignore).compare_to(snap0.filter_traces(ignore), "lineno")
    grown = [s for s in stats if s.size_diff > 0]
    top = sorted(grown, key=lambda s: s.size_diff, reverse=True)[:5]
    return {
        "mid_run_bytes": sum(s.size_diff for s in grown),
        "mid_run_blocks": sum(max(s.count_diff, 0) for s in grown),
        "mid_run_top": [
            (
                f"{Path(s.traceback[0].filename).name}:{s.traceback[0].lineno}",
                s.size_diff,
                s.count_diff,
            )
            for s in top
        ],
    }


def measure_memory(label: str, n: int, clock: Clock) -> dict[str, Any]:
    """Build-time and run-time memory of an ``n``-task random-DAG processor.

    A run is measured twice: its peak (tracemalloc's peak above the memory in use
    before it) and a snapshot taken from inside the run, by an extra task's execute
    phase, when every pre has finished: the blocks alive then that were not alive
    before the run show what a run keeps per task.
    """
    deps = shapes.random_dag(n)
    tasks = shapes.make_tasks(sdax, deps)
    probe_state: Probe = {"armed": None, "snapshot": None, "malloc": None}
    tasks.append(_probe_task(probe_state))
    deps.append(("probe", ()))
    loop = asyncio.new_event_loop()
    out: dict[str, Any] = {"tasks": n}
    with using_core(label):
        processor, snap0, snap1 = _traced_build_and_runs(loop, tasks, deps, probe_state, out)
        _malloc_mid_run(loop, processor, probe_state, out)
        loop.close()
    graph = getattr(getattr(processor, "_plan", None), "graph", None)
    if graph is not None and hasattr(graph, "run"):
        with using_core(label):
            out["state_setup"] = per_call(graph.run, 20, clock)
    del processor, graph
    _malloc_retained(label, tasks, deps, out)
    out.update(_mid_run_growth(snap0, snap1))
    return out
