"""The workflow behind ``sdax demo``: one API request, as six tasks.

``GET /users/42/dashboard`` needs an authenticated user, a rate-limit slot,
the feature flags, a database connection, the user's row and some
recommendations. The I/O is simulated with short sleeps (the whole request
takes about a tenth of a second). Two things go wrong, on purpose:

- the feature-flag service drops the first connection: the call is retried
  and the second attempt succeeds;
- the recommendation service answers 503: that execute fails, the other one
  still finishes, and the cleanup owed (the rate-limit slot, the database
  connection) runs before the failure is reported.

``build_processor()`` is importable, so ``sdax graph
sdax._demo:build_processor`` draws this plan.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from sdax._engine import SdaxExecutionError
from sdax.report import RunReport, describe_error
from sdax.sdax_core import AsyncDagTaskProcessor
from sdax.tasks import AsyncTask, task_func

__all__ = ["DemoContext", "RecommendationsUnavailable", "build_processor", "run_demo"]

REQUEST = "GET /users/42/dashboard"
"""The simulated request."""


class RecommendationsUnavailable(Exception):
    """The recommendation service answered 503 (not retryable)."""


@dataclass
class DemoContext:
    """The state of one simulated request.

    Attributes:
        user_id: The authenticated user (set by Auth).
        flags: The feature flags (set by FeatureFlags).
        user: The user's row (set by FetchUser).
        recommendations: Never set: that call fails.
        connection_open: Whether the database connection is open.
        slot_taken: Whether a rate-limit slot is held.
        flag_calls: How many times the flag service was called.
        log: What happened, as ``(seconds since start, task, message)``.
        out: Where the log is printed as it happens (``None``: nowhere).
    """

    user_id: int | None = None
    flags: dict[str, bool] = field(default_factory=dict)
    user: dict[str, Any] | None = None
    recommendations: list[str] | None = None
    connection_open: bool = False
    slot_taken: bool = False
    flag_calls: int = 0
    log: list[tuple[float, str, str]] = field(default_factory=list)
    out: TextIO | None = None
    started: float = field(default_factory=time.monotonic)

    def say(self, task: str, message: str) -> None:
        """Log (and print) one line."""
        elapsed = time.monotonic() - self.started
        self.log.append((elapsed, task, message))
        if self.out is not None:
            print(f"  {elapsed * 1000:6.1f} ms  {task:<20}  {message}", file=self.out)


# -- the phase functions --------------------------------------------------------------


async def check_auth(ctx: DemoContext) -> None:
    """Verify the request's token."""
    await asyncio.sleep(0.020)
    ctx.user_id = 42
    ctx.say("Auth", "token verified: user 42")


async def take_rate_limit_slot(ctx: DemoContext) -> None:
    """Take one slot of the user's request budget."""
    await asyncio.sleep(0.005)
    ctx.slot_taken = True
    ctx.say("RateLimit", "slot taken (9 of 10 left)")


async def give_back_rate_limit_slot(ctx: DemoContext) -> None:
    """Give the slot back (cleanup: must cope with a slot never taken)."""
    await asyncio.sleep(0.002)
    if ctx.slot_taken:
        ctx.slot_taken = False
        ctx.say("RateLimit", "slot given back")


async def load_feature_flags(ctx: DemoContext) -> None:
    """Load the flags; the service drops the first connection of every request."""
    ctx.flag_calls += 1
    await asyncio.sleep(0.010)
    if ctx.flag_calls == 1:
        ctx.say("FeatureFlags", "connection reset by the flag service (will retry)")
        raise ConnectionError("flag service reset the connection")
    ctx.flags = {"new_dashboard": True}
    ctx.say("FeatureFlags", f"flags loaded on attempt {ctx.flag_calls}")


async def open_database(ctx: DemoContext) -> None:
    """Open the database connection."""
    await asyncio.sleep(0.025)
    ctx.connection_open = True
    ctx.say("Database", "connection opened")


async def close_database(ctx: DemoContext) -> None:
    """Close the connection (cleanup: must cope with one never opened)."""
    await asyncio.sleep(0.005)
    if ctx.connection_open:
        ctx.connection_open = False
        ctx.say("Database", "connection closed")


async def fetch_user(ctx: DemoContext) -> None:
    """Read the user's row."""
    await asyncio.sleep(0.030)
    ctx.user = {"id": ctx.user_id, "name": "Ada"}
    ctx.say("FetchUser", "user row loaded")


async def fetch_recommendations(ctx: DemoContext) -> None:
    """Ask the recommendation service; it is down today."""
    await asyncio.sleep(0.015)
    ctx.say("FetchRecommendations", "recommendation service answered 503")
    raise RecommendationsUnavailable("recommendation service answered 503")


def build_processor() -> AsyncDagTaskProcessor[DemoContext, str]:
    """The demo's processor: six tasks over a dependency graph."""
    return (
        AsyncDagTaskProcessor[DemoContext, str]
        .builder()
        .add_task(AsyncTask("Auth", pre_execute=task_func(check_auth)))
        .add_task(
            AsyncTask(
                "RateLimit",
                pre_execute=task_func(take_rate_limit_slot),
                post_execute=task_func(give_back_rate_limit_slot),
            ),
            depends_on=("Auth",),
        )
        .add_task(
            AsyncTask(
                "FeatureFlags",
                pre_execute=task_func(load_feature_flags, retries=2, initial_delay=0.010),
            ),
            depends_on=("Auth",),
        )
        .add_task(
            AsyncTask(
                "Database",
                pre_execute=task_func(open_database),
                post_execute=task_func(close_database),
            )
        )
        .add_task(
            AsyncTask("FetchUser", execute=task_func(fetch_user, timeout=1.0)),
            depends_on=("RateLimit", "Database"),
        )
        .add_task(
            AsyncTask("FetchRecommendations", execute=task_func(fetch_recommendations)),
            depends_on=("FeatureFlags", "Database"),
        )
        .build()
    )


async def run_demo(out: TextIO, width: int = 40, report: RunReport | None = None) -> int:
    """Run the demo request, printing what happens and the timeline.

    Args:
        out: Where to print.
        width: Width of the timeline's time axis.
        report: The report that records the run (default: a new one); pass
            one to keep the timeline (``sdax demo --html/--trace``).

    Returns:
        0 when the run went as the story says (the recommendation failure
        reported, every cleanup done), 1 otherwise.
    """
    processor = build_processor()
    report = RunReport() if report is None else report
    ctx = DemoContext(out=out)
    print(f"sdax demo: {REQUEST}, as {processor.analysis.total_tasks} tasks", file=out)
    print("(simulated I/O; the flag service and the recommendation service misbehave)", file=out)
    print("", file=out)
    ctx.started = time.monotonic()
    error: SdaxExecutionError | None = None
    try:
        await processor.process_tasks(ctx, observer=report)
    except SdaxExecutionError as exc:
        error = exc
    print("", file=out)
    print(report.render(width), file=out)
    print("", file=out)
    cleaned = not ctx.connection_open and not ctx.slot_taken
    leaves = [] if error is None else error.leaf_exceptions()
    expected = len(leaves) == 1 and isinstance(leaves[0], RecommendationsUnavailable)
    if expected:
        print(
            f"The request failed, as this demo intends: {describe_error(leaves[0])}.",
            file=out,
        )
        print(
            "FetchUser still finished, and the cleanup owed ran before the error was raised "
            "(rate-limit slot given back, database connection closed).",
            file=out,
        )
    else:
        print(
            f"Unexpected outcome: {'no error' if error is None else describe_error(error)}",
            file=out,
        )
    if not cleaned:
        print("Unexpected: a cleanup did not run.", file=out)
    return 0 if expected and cleaned else 1
