"""Fan-out: per-item cost and peak memory, against hand-written asyncio and aiometer.

Run it as ``python -m bench.fanout_report`` (``--quick`` for fewer items and
rounds). It reports; it never asserts. Every contender does the same per item,
at the same concurrency: acquire, work, release, with the release guaranteed
(``try``/``finally``, or the template's post):

* ``sdax fan_out``: ``sdax.fan_out`` over a template of one task whose pre
  acquires, execute works and post releases (results not kept);
* ``sdax runs, one by one``: the same template run once per item in a loop,
  the floor that any fan-out built on template runs pays;
* ``TaskGroup + Semaphore``: ``asyncio.TaskGroup``, one task per item, each
  taking an ``asyncio.Semaphore(N)`` around acquire/work/release;
* ``aiometer.amap``: ``aiometer.amap(fn, items, max_at_once=N)`` (if installed:
  the ``bench`` extra has it).

The work is zero (nothing awaits), which is where per-item overhead shows.
Timings are the best of several rounds; memory is ``tracemalloc``'s peak in a
round of its own (tracemalloc slows what it watches).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

import sdax
from sdax import AsyncDagTaskProcessor, AsyncTask, fan_out, task_func

try:
    import aiometer
except ImportError:  # the bench extra is not installed
    aiometer = None

CONCURRENCY = 100


class Counter:
    """What each contender's acquire and release count (checked after each round)."""

    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0


COUNTER = Counter()


async def acquire(ctx: Any) -> None:
    COUNTER.opened += 1


async def work(ctx: Any) -> None:
    return None


async def release(ctx: Any) -> None:
    COUNTER.closed += 1


TEMPLATE = (
    AsyncDagTaskProcessor.builder()
    .add_task(AsyncTask("item", task_func(acquire), task_func(work), task_func(release)))
    .build()
)
FAN = fan_out(TEMPLATE, over=lambda n: range(n), max_concurrency=CONCURRENCY, keep_results=False)


async def sdax_fan_out(n: int) -> None:
    await FAN(n)


async def sdax_runs(n: int) -> None:
    run = TEMPLATE.process_tasks
    for i in range(n):
        await run(i)


async def task_group_semaphore(n: int) -> None:
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(item: int) -> None:
        async with semaphore:
            await acquire(item)
            try:
                await work(item)
            finally:
                await release(item)

    async with asyncio.TaskGroup() as group:
        for i in range(n):
            group.create_task(one(i))


async def aiometer_amap(n: int) -> None:
    async def one(item: int) -> None:
        await acquire(item)
        try:
            await work(item)
        finally:
            await release(item)

    async with aiometer.amap(one, range(n), max_at_once=CONCURRENCY) as results:
        async for _ in results:
            pass


CONTENDERS: dict[str, Callable[[int], Awaitable[None]]] = {
    "sdax fan_out": sdax_fan_out,
    "sdax runs, one by one": sdax_runs,
    "TaskGroup + Semaphore": task_group_semaphore,
}
if aiometer is not None:
    CONTENDERS["aiometer.amap"] = aiometer_amap


async def _round(fn: Callable[[int], Awaitable[None]], n: int) -> float:
    COUNTER.opened = COUNTER.closed = 0
    gc.collect()
    start = time.perf_counter()
    await fn(n)
    elapsed = time.perf_counter() - start
    if COUNTER.opened != n or COUNTER.closed != n:
        raise RuntimeError(f"{fn.__name__}: {COUNTER.opened} opened, {COUNTER.closed} closed")
    return elapsed


async def per_item_us(n: int, rounds: int) -> dict[str, float]:
    """Best time per item in microseconds, the contenders interleaved round by round."""
    best = dict.fromkeys(CONTENDERS, float("inf"))
    for _ in range(rounds):
        for name, fn in CONTENDERS.items():
            best[name] = min(best[name], await _round(fn, n))
    return {name: seconds / n * 1e6 for name, seconds in best.items()}


async def peak_kib(fn: Callable[[int], Awaitable[None]], n: int) -> float:
    """tracemalloc's peak during one round, in KiB above what was held before."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        await fn(n)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (peak - base) / 1024


def _rounds_for(n: int, quick: bool) -> int:
    rounds = 20 if n <= 1_000 else 7 if n <= 10_000 else 3
    return max(1, rounds // 3) if quick else rounds


async def report(sizes: list[int], quick: bool) -> str:
    lines = [
        f"sdax {sdax.__version__}, core {sdax.IMPLEMENTATION}, asyncio path "
        f"{sdax.ASYNCIO_PATH}, Python {sys.version.split()[0]}, "
        f"loop {type(asyncio.get_running_loop()).__name__}, max_concurrency={CONCURRENCY}",
        "",
        "Per item, zero work (µs; best of rounds; ratio to TaskGroup + Semaphore)",
        "",
        "| contender | " + " | ".join(f"{n:,} items" for n in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    timings = {n: await per_item_us(n, _rounds_for(n, quick)) for n in sizes}
    for name in CONTENDERS:
        cells = []
        for n in sizes:
            us = timings[n][name]
            ratio = us / timings[n]["TaskGroup + Semaphore"]
            cells.append(f"{us:.2f} ({ratio:.2f}x)")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Peak memory of one round (tracemalloc, KiB)",
        "",
        "| contender | " + " | ".join(f"{n:,} items" for n in sizes) + " |",
        "|---|" + "---|" * len(sizes),
    ]
    for name, fn in CONTENDERS.items():
        cells = [f"{await peak_kib(fn, n):,.0f}" for n in sizes]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer items and rounds")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = parser.parse_args(argv)
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    if args.uvloop:
        import uvloop

        runner: Any = uvloop.run
    else:
        runner = asyncio.run
    print(runner(report(sizes, args.quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
