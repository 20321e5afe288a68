"""What a run's page and trace cost: their size and the time to write them.

A run of 1,000 tasks (10 levels of 100, each task with all three phases and
two dependencies on the level below) is recorded with ``RunReport``; its
phases sleep a few milliseconds, a few are flaky (retried), a few time out
once (retried), two executes fail, and one post outlasts the cleanup budget.
Then the page (``write_html``), the SVG (``write_svg``) and the trace
(``write_trace``) are written, each timed (best of ``--repeat``)::

    python bench/pictures.py                   # 1,000 tasks
    python bench/pictures.py --tasks 10000     # 10,000 (100 levels)
    python bench/pictures.py --keep /tmp/out   # keep the files written

``tools/make-doc-pictures`` uses :func:`large_run` for the docs' screenshot.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script: make the repository root importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sdax import AsyncDagTaskProcessor, AsyncTask, SdaxExecutionError, task_func
from sdax.report import RunReport

LEVEL = 100  # tasks per level


def _sleeper(seconds: float) -> Callable[[Any], Any]:
    async def phase(ctx: Any) -> None:
        await asyncio.sleep(seconds)

    return phase


def _flaky(seconds: float) -> Callable[[Any], Any]:
    calls = 0

    async def phase(ctx: Any) -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(seconds)
        if calls == 1:
            raise ConnectionError("connection reset (first attempt)")

    return phase


def _slow_once(seconds: float) -> Callable[[Any], Any]:
    calls = 0

    async def phase(ctx: Any) -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(seconds * (20 if calls == 1 else 1))

    return phase


def _failing(seconds: float) -> Callable[[Any], Any]:
    async def phase(ctx: Any) -> None:
        await asyncio.sleep(seconds)
        raise LookupError("record not found")

    return phase


def large_processor(tasks: int = 1000, seed: int = 24) -> AsyncDagTaskProcessor[Any, Any]:
    """``tasks`` tasks in levels of 100, with the troubles the module's docstring lists."""
    rng = random.Random(seed)
    builder = AsyncDagTaskProcessor[Any, Any].builder()
    levels = max(1, tasks // LEVEL)
    names = [[f"L{level:02d}-{i:03d}" for i in range(LEVEL)] for level in range(levels)]
    failing = {names[levels // 2][7], names[levels - 1][42]}
    for level, row in enumerate(names):
        for name in row:
            ms = rng.uniform
            pre = task_func(_sleeper(ms(0.5, 3) / 1e3))
            execute = task_func(_sleeper(ms(1, 8) / 1e3))
            post = task_func(_sleeper(ms(0.5, 2) / 1e3))
            luck = rng.random()
            if luck < 0.03:
                pre = task_func(_flaky(ms(0.5, 3) / 1e3), retries=1, initial_delay=0.002)
            elif luck < 0.05:
                execute = task_func(_slow_once(2e-3), timeout=0.02, retries=1, initial_delay=0.001)
            if name in failing:
                execute = task_func(_failing(ms(1, 4) / 1e3))
            if level == 0 and name.endswith("-050"):
                post = task_func(_sleeper(0.2))  # outlasts the cleanup budget
            task = AsyncTask(name, pre_execute=pre, execute=execute, post_execute=post)
            deps = () if level == 0 else tuple(rng.sample(names[level - 1], 2))
            builder.add_task(task, depends_on=deps)
    return builder.build()


async def large_run(tasks: int = 1000, seed: int = 24) -> RunReport:
    """Run :func:`large_processor` once with a ``RunReport``; return the report."""
    processor = large_processor(tasks, seed)
    report = RunReport()
    try:
        await processor.process_tasks({}, observer=report, cleanup_timeout=0.08)
    except SdaxExecutionError:
        pass  # two executes fail, on purpose
    return report


def _best(repeat: int, write: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        write()
        best = min(best, time.perf_counter() - started)
    return best


def main(argv: Sequence[str] | None = None) -> int:
    """Record the run, write its page, SVG and trace, print sizes and times."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tasks", type=int, default=1000, help="tasks (rounded to 100s)")
    parser.add_argument("--repeat", type=int, default=5, help="writes per format (best kept)")
    parser.add_argument("--keep", type=Path, help="folder to keep the files in")
    args = parser.parse_args(argv)
    report = asyncio.run(large_run(args.tasks))
    print(report.last.summary())
    folder = args.keep or Path(tempfile.mkdtemp(prefix="sdax-pictures-"))
    folder.mkdir(parents=True, exist_ok=True)
    writers: dict[str, Callable[[Path], None]] = {
        "page (write_html)": report.write_html,
        "SVG (write_svg)": report.write_svg,
        "trace (write_trace)": report.write_trace,
    }
    suffixes = {
        "page (write_html)": "html",
        "SVG (write_svg)": "svg",
        "trace (write_trace)": "json",
    }
    for what, write in writers.items():
        path = folder / f"run-{args.tasks}.{suffixes[what]}"
        seconds = _best(args.repeat, lambda: write(path))  # noqa: B023
        size = path.stat().st_size
        print(f"{what:<20} {size / 1024:9.1f} KiB  {seconds * 1e3:8.1f} ms  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
