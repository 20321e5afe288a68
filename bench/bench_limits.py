"""What concurrency limits cost when they do not limit anything.

One shape, 1,000 tasks with an execute phase only, one level, run four ways:

* ``plain``: ``process_tasks(ctx)``, no limit at all;
* ``none``: ``process_tasks(ctx, max_concurrency=None)``, the same thing spelled out;
* ``huge``: ``process_tasks(ctx, max_concurrency=10**9)``, a per-run limit never reached;
* ``capacity``: every execute declares a ``CapacityLimit`` of 10**9 slots (shared, never
  full), so each call takes and gives back a slot.

The first two must cost the same: that is the zero-cost promise of the no-limit path.
``huge`` shows the price of the per-run check, ``capacity`` the price of a declared
limit. Each shape comes twice: phases that return at once, and phases that suspend once.

Run with the other benchmarks (``--benchmark-group-by=group``)::

    python -m pytest bench/bench_limits.py --benchmark-only --benchmark-group-by=group

or as a script, which times the cases interleaved on each available core and prints
the medians as a table::

    python bench/bench_limits.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

if __package__ in (None, ""):
    # Run as a script: make the repository root importable for ``bench.*``.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sdax
from bench.cores import CORES, core_scope, unavailable_reason, using_core
from bench.shapes import (
    EXEC_ONLY,
    N_TASKS,
    Ctx,
    Runner,
    gather_runner,
    level_processor,
    suspend_once,
    zero_work,
)
from bench.timing import median, time_interleaved, time_runs

ROUNDS = 30
WARMUP = 3
HUGE = 10**9

PhaseFn = Callable[[object], Any]


def capacity_processor(sdax_module: ModuleType, fn: PhaseFn) -> Any:
    """1,000 execute-only tasks, each holding a slot of one huge CapacityLimit."""
    limit = sdax_module.CapacityLimit("huge", HUGE)
    execute = sdax_module.task_func(fn, limits=limit)
    builder = sdax_module.AsyncTaskProcessor.builder()
    for i in range(N_TASKS):
        builder.add_task(sdax_module.AsyncTask(f"L0T{i}", execute=execute), 0)
    return builder.build()


def limit_runner(sdax_module: ModuleType, case: str, fn: PhaseFn) -> Runner:
    """One run of the 1,000-task execute-only shape, with the case's limit."""
    if case == "capacity":
        processor = capacity_processor(sdax_module, fn)
    else:
        processor = level_processor(sdax_module, 1, N_TASKS, EXEC_ONLY, fn)
    kwargs: dict[str, Any] = {}
    if case == "none":
        kwargs["max_concurrency"] = None
    elif case == "huge":
        kwargs["max_concurrency"] = HUGE

    async def run() -> None:
        await processor.process_tasks(Ctx(), **kwargs)

    return run


CASES: dict[str, str] = {
    "plain": "no max_concurrency",
    "none": "max_concurrency=None",
    "huge": "max_concurrency=10**9",
    "capacity": "CapacityLimit(10**9) on every execute",
}
WORK: dict[str, tuple[str, PhaseFn]] = {
    "zero": ("phases return at once", zero_work),
    "suspend": ("phases sleep(0) once", suspend_once),
}


# -- pytest-benchmark ------------------------------------------------------------------------


@pytest.mark.parametrize("work", list(WORK))
def test_baseline(
    benchmark: Any,
    pytestconfig: pytest.Config,
    bench_loop: asyncio.AbstractEventLoop,
    work: str,
) -> None:
    benchmark.group = f"limits-{work}"
    benchmark.extra_info["case"] = f"raw asyncio: gather of 1,000 ({WORK[work][0]})"
    runner = gather_runner(WORK[work][1])
    time_runs(benchmark, pytestconfig, bench_loop, runner, ROUNDS, WARMUP)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("work", list(WORK))
def test_limits(
    benchmark: Any,
    pytestconfig: pytest.Config,
    bench_loop: asyncio.AbstractEventLoop,
    core: str,
    work: str,
    case: str,
) -> None:
    benchmark.group = f"limits-{work}"
    benchmark.extra_info["case"] = f"1,000 tasks, execute only, {CASES[case]}"
    benchmark.extra_info["core"] = core
    runner = limit_runner(sdax, case, WORK[work][1])
    time_runs(benchmark, pytestconfig, bench_loop, runner, ROUNDS, WARMUP)


# -- script --------------------------------------------------------------------------------


def measure(rounds: int, warmup: int) -> dict[tuple[str, str, str], float]:
    """Median seconds per run for every (work, core, case).

    The four cases of one core and one kind of work are timed interleaved, with
    only their own processors alive (other processors would slow the collector).
    """
    out: dict[tuple[str, str, str], float] = {}
    loop = asyncio.new_event_loop()
    try:
        for work, (_, fn) in WORK.items():
            for core in CORES:
                if unavailable_reason(core) is not None:
                    continue
                with using_core(core):
                    runners = {
                        case: (limit_runner(sdax, case, fn), core_scope(core)) for case in CASES
                    }
                times = time_interleaved(loop, runners, rounds, warmup)
                del runners
                for case, values in times.items():
                    out[(work, core, case)] = median(values)
    finally:
        loop.close()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Time the cases on every available core; print the medians as a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="timed rounds per case")
    parser.add_argument("--warmup", type=int, default=WARMUP, help="untimed rounds first")
    args = parser.parse_args(argv)
    medians = measure(args.rounds, args.warmup)
    cores = sorted({core for _, core, _ in medians})
    print(f"1,000 tasks, execute only; median of {args.rounds} runs; ratio to 'plain'\n")
    print("| phases | core | " + " | ".join(CASES.values()) + " |")
    print("|---|---|" + "---|" * len(CASES))
    for work, (title, _) in WORK.items():
        for core in cores:
            plain = medians[(work, core, "plain")]
            cells = []
            for case in CASES:
                seconds = medians[(work, core, case)]
                cells.append(f"{seconds * 1e3:.3f} ms ({seconds / plain:.2f}x)")
            print(f"| {title} | {core} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
