"""Timing the shapes: clocks, interleaved rounds, build rounds, medians.

Like ``bench/shapes.py``, this uses the standard library and the public API that
sdax 0.7.1 and this package share, so ``bench/reference.py`` can run it in the
reference package's interpreter.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from types import ModuleType
from typing import TYPE_CHECKING, Any

from bench.shapes import (
    BASELINES,
    GROUPS,
    SDAX_CASES,
    Deps,
    Group,
    Runner,
    build_graph,
)

if TYPE_CHECKING:
    import pytest

Scope = Callable[[], AbstractContextManager[Any]]
"""Entered around each timed call of a case (switches sdax cores in report.py)."""


Clock = Callable[[], float]
"""A clock: seconds, as a float (one of ``CLOCKS``)."""

CLOCKS: dict[str, Clock] = {"cpu": time.process_time, "wall": time.perf_counter}
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
    clock: Clock = time.perf_counter,
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
    clock: Clock = time.perf_counter,
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


def measure_groups(
    sdax: ModuleType,
    loop: asyncio.AbstractEventLoop,
    rounds: int,
    warmup: int,
    clock: Clock = time.perf_counter,
    groups: Sequence[Group] = GROUPS,
) -> Iterator[tuple[str, dict[str, list[float]]]]:
    """Time each group's baselines and sdax cases interleaved, for one ``sdax`` module."""
    for group in groups:
        runners = baseline_runners(group)
        for key in group.cases:
            runners[key] = (SDAX_CASES[key][1](sdax), nullcontext)
        yield group.key, time_interleaved(loop, runners, rounds, warmup, clock)


def time_runs(
    benchmark: Any,
    config: pytest.Config,
    loop: asyncio.AbstractEventLoop,
    runner: Runner,
    rounds: int,
    warmup: int,
) -> None:
    """Time ``runner`` with pytest-benchmark, one ``loop.run_until_complete`` per round.

    ``--bench-rounds`` replaces ``rounds`` when given.
    """
    benchmark.pedantic(
        lambda: loop.run_until_complete(runner()),
        rounds=config.getoption("--bench-rounds") or rounds,
        iterations=1,
        warmup_rounds=warmup,
    )
