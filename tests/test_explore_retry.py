"""retry-once strikes at every wait up to ``depth``: a retry after a partial acquire leaks.

The pre opens two connections per attempt (a primary, then a replica), each
followed by its handshake, and is retried on ``ConnectionError``. A handshake
that fails closes its own connection, but the pre starts each attempt with a
fresh list: when the *second* handshake fails, the first attempt's primary is
forgotten, and the post, which closes what the list holds, never closes it.
A retryable failure at the first wait leaks nothing, so only a retry-once at
the second wait shows the bug.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from sdax import AsyncDagTaskProcessor, AsyncTask, task_func
from sdax.sdax_core import PhaseId
from sdax.testing import explore, have_virtual_time
from sdax.testing._scenarios import Plan

pytestmark = pytest.mark.skipif(
    not have_virtual_time(), reason="needs looptime (sdax[testing]): retry delays in real time"
)


@dataclass
class Net:
    """Connections by name; a failed handshake closes its own connection."""

    opened: int = 0
    open: set[int] = field(default_factory=set)

    def connect(self) -> int:
        self.opened += 1
        self.open.add(self.opened)
        return self.opened

    async def handshake(self, conn: int) -> None:
        try:
            await asyncio.sleep(0.01)
        except BaseException:
            self.open.discard(conn)
            raise

    def close(self, conn: int) -> None:
        self.open.discard(conn)


@dataclass
class Ctx:
    net: Net = field(default_factory=Net)
    conns: list[int] = field(default_factory=list)


async def connect_both(ctx: Ctx) -> None:
    ctx.conns = []  # the bug: the first attempt's connections are forgotten
    for _ in ("primary", "replica"):
        conn = ctx.net.connect()
        ctx.conns.append(conn)
        await ctx.net.handshake(conn)


async def connect_both_fixed(ctx: Ctx) -> None:
    for conn in ctx.conns:  # what a failed attempt left open is closed first
        ctx.net.close(conn)
    ctx.conns = []
    for _ in ("primary", "replica"):
        conn = ctx.net.connect()
        ctx.conns.append(conn)
        await ctx.net.handshake(conn)


async def close_all(ctx: Ctx) -> None:
    for conn in ctx.conns:
        ctx.net.close(conn)


def build(pre: Callable[[Ctx], Awaitable[None]] = connect_both) -> AsyncDagTaskProcessor[Ctx, None]:
    return (
        AsyncDagTaskProcessor[Ctx, None]
        .builder()
        .add_task(
            AsyncTask(
                "db",
                pre_execute=task_func(pre, retries=1, retryable_exceptions=(ConnectionError,)),
                post_execute=task_func(close_all),
            )
        )
        .build()
    )


def all_closed(ctx: Ctx) -> None:
    assert not ctx.net.open, f"connection(s) {sorted(ctx.net.open)} left open"


def test_a_retry_after_the_second_handshake_leaks_and_the_explorer_finds_it() -> None:
    result = explore(build(), Ctx, all_closed)
    found = [f.scenario for f in result.findings]
    assert "retry-once#2@pre:db" in found, result.report()
    # At the first wait a retry leaks nothing: the failed handshake closed it.
    assert "retry-once@pre:db" not in found
    leak = next(f for f in result.findings if f.scenario == "retry-once#2@pre:db")
    assert leak.broken[0].startswith("check(ctx) failed: connection(s) [1] left open")
    assert leak.outcome == "nothing (success)"  # the retry succeeded: only the leak is wrong


def test_the_fixed_pre_passes_every_scenario() -> None:
    result = explore(build(connect_both_fixed), Ctx, all_closed)
    assert result.ok, result.report()


def test_retry_once_strikes_at_each_wait_up_to_depth_and_takes_part_in_pairs() -> None:
    plan = Plan(build())
    pre = ("db", PhaseId.PRE_EXEC)
    retries = [f.id for f in plan.single_faults(["retry-once"], {pre: 5}, depth=3)]
    assert retries == ["retry-once@pre:db", "retry-once#2@pre:db", "retry-once#3@pre:db"]
    only_one_wait = plan.single_faults(["retry-once"], {pre: 1}, depth=3)
    assert [f.id for f in only_one_wait] == ["retry-once@pre:db"]
    # The pairs are drawn from the single faults: deep retries among them.
    scenarios = plan.scenarios(["retry-once", "raise-suspend"], 50, 0, {pre: 2}, 3)
    pairs = {s.id for s in scenarios if len(s.faults) == 2}
    assert pairs == {
        f"{kind}@pre:db + raise-suspend@post:db"
        for kind in ("raise-suspend", "raise-suspend#2", "retry-once", "retry-once#2")
    }


def test_a_deep_retry_id_runs_that_scenario_again() -> None:
    again = explore(build(), Ctx, all_closed, only="retry-once#2@pre:db")
    assert [f.scenario for f in again.findings] == ["retry-once#2@pre:db"]
