"""A rate-limited API fan-out: 50 calls, never more than 5 at once against the API.

Two runs of one processor fan out 25 simulated API calls each, at the same time.
Both share one ``CapacityLimit`` of 5 slots for the API, so the API never sees more
than 5 calls in flight, whichever run they come from; each run also caps itself with
``max_concurrency`` so that one run cannot take every slot. A call that hits a
(simulated) transient error is retried; it gives its slot back while it waits.

Run it with::

    python examples/rate_limited_fanout.py
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

from sdax import AsyncDagTaskProcessor, AsyncTask, CapacityLimit, task_func

CALLS_PER_RUN = 25
RUNS = 2
API_SLOTS = 5
PER_RUN = 4

API = CapacityLimit("api", API_SLOTS)  # one object, shared by every run that declares it


class Meter:
    """Counts calls in flight and remembers the peak."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    def __enter__(self) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)

    def __exit__(self, *exc: object) -> None:
        self.now -= 1


class FakeApi:
    """A slow, slightly flaky remote API."""

    def __init__(self, seed: int = 7) -> None:
        self.meter = Meter()
        self.random = random.Random(seed)
        self.calls = 0

    async def get(self, item: int) -> int:
        with self.meter:
            self.calls += 1
            await asyncio.sleep(self.random.uniform(0.005, 0.02))
            if self.random.random() < 0.1:
                raise ConnectionError(f"item {item}: connection reset")
            return item * item


@dataclass
class Batch:
    """The context of one run."""

    name: str
    api: FakeApi
    items: list[int]
    meter: Meter = field(default_factory=Meter)
    results: dict[int, int] = field(default_factory=dict)


def fetch(index: int) -> Any:
    """The execute phase of task ``fetch <index>``: one API call."""

    async def call(batch: Batch) -> None:
        item = batch.items[index]
        with batch.meter:
            batch.results[item] = await batch.api.get(item)

    # Only attempts hold an "api" slot: not the wait for it, not the pause before a retry.
    return task_func(call, limits=API, retries=3, initial_delay=0.01)


def build_processor() -> AsyncDagTaskProcessor[Batch, str]:
    async def open_session(batch: Batch) -> None:
        batch.results.clear()

    async def close_session(batch: Batch) -> None:
        print(f"  {batch.name}: {len(batch.results)} results, peak {batch.meter.peak} in flight")

    builder = AsyncDagTaskProcessor[Batch, str].builder()
    builder.add_task(
        AsyncTask(
            "session", pre_execute=task_func(open_session), post_execute=task_func(close_session)
        )
    )
    for i in range(CALLS_PER_RUN):
        builder.add_task(AsyncTask(f"fetch {i}", execute=fetch(i)), depends_on="session")
    return builder.build()


async def main() -> None:
    api = FakeApi()
    processor = build_processor()
    batches = [
        Batch(f"run {r + 1}", api, list(range(r * CALLS_PER_RUN, (r + 1) * CALLS_PER_RUN)))
        for r in range(RUNS)
    ]
    print(f"{RUNS} concurrent runs x {CALLS_PER_RUN} API calls, max_concurrency={PER_RUN} per run")
    await asyncio.gather(
        *(processor.process_tasks(batch, max_concurrency=PER_RUN) for batch in batches)
    )
    results = {k: v for batch in batches for k, v in batch.results.items()}
    assert results == {i: i * i for i in range(RUNS * CALLS_PER_RUN)}
    print(f"{len(results)} results, {api.calls - len(results)} retried calls")
    print(f"peak API calls in flight: {api.meter.peak} (CapacityLimit {API.name!r}: {API_SLOTS})")
    print(f"peak calls in flight per run: {max(b.meter.peak for b in batches)} (max {PER_RUN})")
    print(f"slots in use after the runs: {API.in_use}")


if __name__ == "__main__":
    asyncio.run(main())
