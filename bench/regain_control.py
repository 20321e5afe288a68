"""How long a caller waits for control after a cancellation or a deadline (issue 19, point 1).

Each case runs one processor whose cleanup would hang (or sleep long) once
the run is stopped, and measures the wall time from the call to the moment
the caller regains control. A run that has not ended after ``--cap`` seconds
counts as hung; it is then cancelled again until it ends, so that the next
case can run. The grace is the default (0.1 s). This script reports, it never asserts.

    python bench/regain_control.py [--cap 12] [--uvloop]

Run it with the interpreter of each checkout to compare two states of sdax
(it imports whichever ``sdax`` that interpreter has installed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

import sdax
from sdax import AsyncDagTaskProcessor, AsyncTask, task_func

STOP_AFTER = 0.2  # the caller's asyncio.timeout(), or the run's deadline


async def nothing(ctx: Any) -> None:
    pass


async def wait_for_ever(ctx: Any) -> None:
    await asyncio.Event().wait()


async def sleep_long(ctx: Any) -> None:
    await asyncio.sleep(5)


async def sleep_ten(ctx: Any) -> None:
    await asyncio.sleep(10)


def one_task(
    pre: Any = nothing, execute: Any = nothing, post: Any = wait_for_ever
) -> AsyncDagTaskProcessor[Any, str]:
    return (
        AsyncDagTaskProcessor[Any, str]
        .builder()
        .add_task(
            AsyncTask(
                "t",
                pre_execute=task_func(pre),
                execute=task_func(execute),
                post_execute=task_func(post),
            )
        )
        .build()
    )


def chain_of_three(upstream: Any = nothing) -> AsyncDagTaskProcessor[Any, str]:
    """``c`` -> ``b`` -> ``a``; the execute of ``c`` sleeps; the post of ``c`` (first) hangs.

    The posts of ``b`` and ``a`` (which start after it) run ``upstream``.
    """
    builder = AsyncDagTaskProcessor[Any, str].builder()
    builder.add_task(
        AsyncTask("a", pre_execute=task_func(nothing), post_execute=task_func(upstream))
    )
    builder.add_task(
        AsyncTask("b", pre_execute=task_func(nothing), post_execute=task_func(upstream)),
        depends_on="a",
    )
    builder.add_task(
        AsyncTask(
            "c",
            pre_execute=task_func(nothing),
            execute=task_func(sleep_long),
            post_execute=task_func(wait_for_ever),
        ),
        depends_on="b",
    )
    return builder.build()


async def under_timeout(processor: AsyncDagTaskProcessor[Any, str]) -> None:
    async with asyncio.timeout(STOP_AFTER):
        await processor.process_tasks(None)


async def with_deadline(processor: AsyncDagTaskProcessor[Any, str]) -> None:
    await processor.process_tasks(None, timeout=STOP_AFTER)


Case = tuple[str, Callable[[], Coroutine[Any, Any, None]]]

CASES: list[Case] = [
    ("cancel in pre (pre sleeps 5 s, post hangs)", lambda: under_timeout(one_task(pre=sleep_long))),
    (
        "cancel in execute (execute sleeps 5 s, post hangs)",
        lambda: under_timeout(one_task(execute=sleep_long)),
    ),
    (
        "cancel in execute (execute sleeps 5 s, post sleeps 10 s)",
        lambda: under_timeout(one_task(execute=sleep_long, post=sleep_ten)),
    ),
    ("cancel in post (post hangs)", lambda: under_timeout(one_task())),
    (
        "deadline timeout=0.2 (execute sleeps 5 s, post hangs)",
        lambda: with_deadline(one_task(execute=sleep_long)),
    ),
    (
        "3-post chain, cancel in execute, downstream post hangs",
        lambda: under_timeout(chain_of_three()),
    ),
    (
        "3-post chain, cancel in execute, every post hangs",
        lambda: under_timeout(chain_of_three(wait_for_ever)),
    ),
]


async def measure(case: Case, cap: float) -> tuple[float, str]:
    started = time.perf_counter()
    run = asyncio.ensure_future(case[1]())
    done, _ = await asyncio.wait({run}, timeout=cap)
    if not done:
        # Free it for the next case: each further cancellation cuts the posts
        # running then (a hung post that starts later needs one more).
        cancels = 0
        while not run.done() and cancels < 100:
            run.cancel()
            cancels += 1
            await asyncio.wait({run}, timeout=1.0)
        return time.perf_counter() - started, f"hung (freed by {cancels} more cancel(s))"
    error = run.exception() if not run.cancelled() else asyncio.CancelledError()
    return time.perf_counter() - started, type(error).__name__ if error else "returned"


async def main(cap: float) -> None:
    path = getattr(sdax, "ASYNCIO_PATH", "?")
    where = os.path.dirname(os.path.dirname(sdax.__file__))
    print(
        f"sdax from {where}; core {sdax.IMPLEMENTATION}; asyncio path {path}; "
        f"Python {sys.version.split()[0]}; loop {type(asyncio.get_running_loop()).__module__}; "
        f"stop after {STOP_AFTER:g} s; cap {cap:g} s"
    )
    width = max(len(name) for name, _ in CASES)
    print(f"{'case':<{width}}  {'regained control':>16}  outcome")
    for case in CASES:
        seconds, outcome = await measure(case, cap)
        shown = f"> {cap:g} s" if outcome.startswith("hung") else f"{seconds:.3f} s"
        print(f"{case[0]:<{width}}  {shown:>16}  {outcome}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cap", type=float, default=12.0, help="seconds after which a run is hung")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = parser.parse_args()
    factory = None
    if args.uvloop:
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main(args.cap))
