"""A CPU-heavy step sent to a process pool, or to a Dask cluster.

Counting primes is pure CPU work: run inline, it would stall the event loop. Here
each chunk of the count is a ``task_sync_func`` with an executor, so it runs in
another process while the loop stays free (a ticker task keeps ticking meanwhile).

Work that crosses a process boundary gets picklable data and returns a value:
``arg=`` picks what the worker receives from the context, ``result=`` stores the
answer into the context back on the event loop thread. The worker never sees (and
cannot change) the context object itself.

Only the executor decides where the step runs. Run it with::

    python examples/cpu_heavy_step.py                          # a local process pool
    python examples/cpu_heavy_step.py --dask                   # a local Dask cluster
    python examples/cpu_heavy_step.py --dask tcp://host:8786   # a running Dask cluster
    python examples/cpu_heavy_step.py --dask scheduler.json    # ...or its scheduler file

Dask needs ``pip install "sdax[dask]"``; without it, ``--dask`` says so and uses a
local process pool instead. Dask sends this script's functions to its workers by
value, so remote workers need no copy of this file.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import multiprocessing
import sys
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sdax import AsyncDagTaskProcessor, AsyncTask, TaskFunction, task_func, task_sync_func

LIMIT = 100_000
CHUNKS = 4
LOCAL = "local"


def count_primes(bounds: tuple[int, int]) -> int:
    """Primes in ``[low, high)``, by trial division: deliberately CPU-bound."""
    low, high = bounds
    count = 0
    for n in range(max(low, 2), high):
        if n % 2 == 0:
            count += n == 2
            continue
        d = 3
        while d * d <= n:
            if n % d == 0:
                break
            d += 2
        else:
            count += 1
    return count


@dataclass
class Job:
    """The context of one run."""

    chunks: list[tuple[int, int]]
    counts: dict[int, int] = field(default_factory=dict)
    ticks: int = 0
    busy: bool = True


@dataclass(frozen=True)
class ChunkOf:
    """``arg=``: what the worker receives, the bounds of chunk ``index``."""

    index: int

    def __call__(self, job: Job) -> tuple[int, int]:
        return job.chunks[self.index]


@dataclass(frozen=True)
class StoreCount:
    """``result=``: store the worker's answer for chunk ``index`` in the context."""

    index: int

    def __call__(self, job: Job, count: int) -> None:
        job.counts[self.index] = count


def build_processor(executor: Executor) -> AsyncDagTaskProcessor[Job, str]:
    """One task per chunk, sent to ``executor``, and a ticker on the event loop."""
    builder = AsyncDagTaskProcessor[Job, str].builder()
    for i in range(CHUNKS):
        step: TaskFunction[Job] = task_sync_func(
            count_primes,
            executor=executor,
            arg=ChunkOf(i),  # only this chunk's bounds are pickled
            result=StoreCount(i),  # called on the event loop thread with the answer
            timeout=60,
            retries=1,
        )
        builder.add_task(AsyncTask(f"chunk {i}", execute=step))

    async def tick(job: Job) -> None:
        # Runs on the event loop while the chunks run elsewhere.
        while len(job.counts) < CHUNKS:
            job.ticks += 1
            await asyncio.sleep(0.01)

    builder.add_task(AsyncTask("ticker", execute=task_func(tick)))
    return builder.build()


def split(limit: int, chunks: int) -> list[tuple[int, int]]:
    size = -(-limit // chunks)
    return [(i * size, min(limit, (i + 1) * size)) for i in range(chunks)]


async def run_on(executor: Executor, label: str) -> int:
    """Count the primes with the chunks sent to ``executor``; print and return the count."""
    job = Job(split(LIMIT, CHUNKS))
    started = time.perf_counter()
    await build_processor(executor).process_tasks(job)
    total = sum(job.counts.values())
    elapsed = time.perf_counter() - started
    print(
        f"{label}: {total} primes below {LIMIT:,} in {elapsed:.2f} s; "
        f"the event loop ticked {job.ticks} times meanwhile"
    )
    return total


async def on_process_pool() -> int:
    """The step on a pool of two worker processes."""
    # "spawn" starts clean worker processes on every platform.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        return await run_on(pool, "process pool")


async def on_dask(address: str | None) -> int:
    """The step on Dask: a local cluster (``address`` None) or a running one."""
    try:
        # Imported by name: Dask's classes carry no type annotations.
        distributed = importlib.import_module("distributed")
        from sdax.contrib.dask import dask_executor
    except ImportError:
        print(
            'Dask is not installed (pip install "sdax[dask]"): '
            "running the step on a local process pool instead"
        )
        return await on_process_pool()
    if address is not None:
        executor = dask_executor(address)  # opens a client; shutdown() closes it
        try:
            return await run_on(executor, f"Dask at {address}")
        finally:
            executor.shutdown()
    cluster_options: dict[str, Any] = {
        "n_workers": 1,  # one worker process keeps the example quick to start
        "threads_per_worker": 2,
        "processes": True,
        "dashboard_address": ":0",
    }
    with distributed.LocalCluster(**cluster_options) as cluster:
        with distributed.Client(cluster) as client:
            return await run_on(dask_executor(client), "Dask (local cluster, 1 worker process)")


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dask",
        nargs="?",
        const=LOCAL,
        metavar="ADDRESS",
        help="run on Dask: a local cluster, or the scheduler at ADDRESS (or scheduler file)",
    )
    args = parser.parse_args(argv)
    if args.dask is None:
        await on_process_pool()
    else:
        await on_dask(None if args.dask == LOCAL else args.dask)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
