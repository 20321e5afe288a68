"""explore() finds five kinds of planted cleanup bugs, and passes the corrected code.

One small processor moves money over a pooled connection: ``conn`` takes a
connection in its pre and gives it back in its post; ``transfer`` writes the
two halves of a transfer in its execute; its post commits or rolls back. The
pool and the database are plain Python objects that keep score of what was
done to them (the user's side of the test: the explorer mocks nothing).
Each planted bug replaces one function with a plausible wrong version.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from sdax import AsyncDagTaskProcessor, AsyncTask, task_func
from sdax.testing import ExploreResult, explore, have_virtual_time

pytestmark = pytest.mark.skipif(
    not have_virtual_time(), reason="needs looptime (sdax[testing]): too slow in real time"
)


@dataclass
class Db:
    """A pool of connections over a tiny ledger; it records every misuse."""

    free: list[int] = field(default_factory=lambda: [1, 2])
    out: set[int] = field(default_factory=set)
    open_tx: set[int] = field(default_factory=set)
    pending: dict[int, list[int]] = field(default_factory=dict)
    ledger: list[int] = field(default_factory=list)
    misuse: list[str] = field(default_factory=list)

    async def acquire(self) -> int:
        if not self.free:  # a free connection comes at once; none: wait for one
            await asyncio.sleep(0.05)
            raise ConnectionError("pool exhausted")
        conn = self.free.pop()
        self.out.add(conn)
        return conn

    def release(self, conn: int) -> None:
        if conn not in self.out:
            self.misuse.append(f"connection {conn} released twice")
            return
        if conn in self.open_tx:
            self.misuse.append(f"connection {conn} released inside a transaction")
        self.out.discard(conn)
        self.free.append(conn)

    def reset(self, conn: int) -> None:
        """Drop what is left of a transaction (what a pool does before reusing a connection)."""
        self.pending.pop(conn, None)
        self.open_tx.discard(conn)

    async def ping(self, conn: int) -> None:
        await asyncio.sleep(0.01)

    async def flush_stats(self, conn: int) -> None:
        await asyncio.sleep(1.0)  # slow: longer than sdax's cleanup grace

    def _usable(self, conn: int, what: str) -> bool:
        if conn not in self.out:
            self.misuse.append(f"{what} on connection {conn}, which was released")
            return False
        return True

    async def begin(self, conn: int) -> None:
        if self._usable(conn, "begin"):
            self.open_tx.add(conn)
            self.pending[conn] = []

    async def write(self, conn: int, amount: int) -> None:
        await asyncio.sleep(0.01)
        if self._usable(conn, "write"):
            self.pending[conn].append(amount)

    async def commit(self, conn: int) -> None:
        await asyncio.sleep(0.01)
        if self._usable(conn, "commit"):
            self.ledger.extend(self.pending.pop(conn, []))
            self.open_tx.discard(conn)

    async def rollback(self, conn: int) -> None:
        await asyncio.sleep(0.01)
        if self._usable(conn, "rollback"):
            self.pending.pop(conn, None)
            self.open_tx.discard(conn)


@dataclass
class Ctx:
    db: Db = field(default_factory=Db)
    conn: int | None = None
    written: bool = False


def check(ctx: Ctx) -> None:
    db = ctx.db
    assert not db.misuse, "; ".join(db.misuse)
    assert not db.out, f"connection(s) {sorted(db.out)} never released"
    assert sum(db.ledger) == 0, f"the ledger holds half a transfer: {db.ledger}"


# -- correct functions -----------------------------------------------------------------


async def take_connection(ctx: Ctx) -> None:
    ctx.conn = await ctx.db.acquire()
    await ctx.db.ping(ctx.conn)  # the connection is ours before this can fail


async def give_back(ctx: Ctx) -> None:
    conn, ctx.conn = ctx.conn, None
    if conn is not None:
        try:
            await ctx.db.flush_stats(conn)
        finally:
            # A commit or rollback that failed may have left a transaction open.
            ctx.db.reset(conn)
            ctx.db.release(conn)


async def begin(ctx: Ctx) -> None:
    assert ctx.conn is not None
    await ctx.db.begin(ctx.conn)


async def move_money(ctx: Ctx) -> None:
    assert ctx.conn is not None
    await ctx.db.write(ctx.conn, -10)
    await ctx.db.write(ctx.conn, +10)
    ctx.written = True


async def finish(ctx: Ctx) -> None:
    conn = ctx.conn
    if conn is None or conn not in ctx.db.open_tx:
        return
    if ctx.written:
        await ctx.db.commit(conn)
    else:
        await ctx.db.rollback(conn)


# -- the planted bugs ------------------------------------------------------------------


async def take_connection_keeps_it_only_at_the_end(ctx: Ctx) -> None:
    # Bug: a pre that fails half-way (in ping) leaves the post nothing to release.
    conn = await ctx.db.acquire()
    await ctx.db.ping(conn)
    ctx.conn = conn


async def give_back_then_log(ctx: Ctx) -> None:
    # Bug: on a retry the connection is released a second time.
    if ctx.conn is not None:
        ctx.db.release(ctx.conn)
        await ctx.db.ping(ctx.conn)  # "log the release": may fail and be retried


async def give_back_after_flushing(ctx: Ctx) -> None:
    # Bug: a cancellation cuts the slow flush, and the release after it never runs.
    if ctx.conn is not None:
        await ctx.db.flush_stats(ctx.conn)
        ctx.db.release(ctx.conn)


async def finish_releases_first(ctx: Ctx) -> None:
    # Bug: on the failure path the connection goes back before the rollback.
    conn = ctx.conn
    if conn is None or conn not in ctx.db.open_tx:
        return
    if ctx.written:
        await ctx.db.commit(conn)
    else:
        ctx.db.release(conn)
        await ctx.db.rollback(conn)


async def finish_always_commits(ctx: Ctx) -> None:
    # Bug: commits whatever the execute managed to write.
    conn = ctx.conn
    if conn is not None and conn in ctx.db.open_tx:
        await ctx.db.commit(conn)


def build(**bugs: Any) -> AsyncDagTaskProcessor[Ctx, str]:
    """The processor, with the functions named in ``bugs`` replaced."""
    fns: dict[str, Any] = {
        "take": take_connection,
        "give_back": give_back,
        "finish": finish,
        **bugs,
    }
    post_retries = 2 if fns["give_back"] is give_back_then_log else 0
    return (
        AsyncDagTaskProcessor[Ctx, str]
        .builder()
        .add_task(
            AsyncTask(
                "conn",
                pre_execute=task_func(fns["take"]),
                post_execute=task_func(fns["give_back"], retries=post_retries),
            )
        )
        .add_task(
            AsyncTask(
                "transfer",
                pre_execute=task_func(begin),
                execute=task_func(move_money),
                post_execute=task_func(fns["finish"]),
            ),
            depends_on=("conn",),
        )
        .build()
    )


def run(processor: AsyncDagTaskProcessor[Ctx, str]) -> ExploreResult:
    return explore(processor, Ctx, check, pairs=20)


def broken_lines(result: ExploreResult) -> str:
    return "\n".join(line for f in result.findings for line in f.broken)


def test_the_correct_processor_passes_every_scenario() -> None:
    result = run(build())
    assert result.ok, result.report()
    assert result.scenarios_run > 20


@pytest.mark.parametrize(
    ("bug", "expected"),
    [
        pytest.param(
            {"take": take_connection_keeps_it_only_at_the_end},
            "never released",
            id="missing-release-after-a-pre-failed-half-way",
        ),
        pytest.param(
            {"give_back": give_back_then_log},
            "released twice",
            id="double-release-on-retry",
        ),
        pytest.param(
            {"give_back": give_back_after_flushing},
            "never released",
            id="release-skipped-on-cancel",
        ),
        pytest.param(
            {"finish": finish_releases_first},
            "rollback on connection",
            id="release-order-wrong",
        ),
        pytest.param(
            {"finish": finish_always_commits},
            "half a transfer",
            id="commit-after-failure",
        ),
    ],
)
def test_a_planted_cleanup_bug_is_found(bug: dict[str, Any], expected: str) -> None:
    result = run(build(**bug))
    assert not result.ok
    assert expected in broken_lines(result), result.report()
    # Only the user's invariant broke: sdax kept its own promises throughout.
    assert all(line.startswith("check(ctx)") for f in result.findings for line in f.broken)


@pytest.mark.parametrize(
    ("bug", "scenario"),
    [
        ({"take": take_connection_keeps_it_only_at_the_end}, "raise-suspend@pre:conn"),
        ({"give_back": give_back_then_log}, "retry-once@post:conn"),
        ({"give_back": give_back_after_flushing}, "cancel@post:conn"),
        ({"finish": finish_releases_first}, "raise-start@execute:transfer"),
        ({"finish": finish_always_commits}, "raise-suspend#2@execute:transfer"),
    ],
)
def test_the_scenario_that_shows_a_bug_is_among_the_findings(
    bug: dict[str, Any], scenario: str
) -> None:
    result = run(build(**bug))
    assert scenario in [f.scenario for f in result.findings], result.report()
    again = explore(build(**bug), Ctx, check, only=scenario)
    assert again.scenarios_run == 1
    assert [f.scenario for f in again.findings] == [scenario]


def test_a_processor_with_two_bugs_reads_as_two_causes() -> None:
    # The pre that keeps its connection only at the end, and the post that
    # always commits: many scenarios show each bug, the report groups them.
    result = run(build(take=take_connection_keeps_it_only_at_the_end, finish=finish_always_commits))
    causes = result.causes
    assert [c.broken for c in causes] == [
        ("check(ctx) failed: connection(s) [2] never released",),
        ("check(ctx) failed: the ledger holds half a transfer: [-10]",),
    ]
    # Every finding is in exactly one cause; the most frequent cause comes first.
    grouped = [s for c in causes for s in c.scenarios]
    assert sorted(grouped) == sorted(f.scenario for f in result.findings)
    assert len(causes[0].scenarios) >= len(causes[1].scenarios) > 1
    # The trace shown is that of a single fault where there is one.
    assert [c.example.scenario for c in causes] == [
        "raise-suspend@pre:conn",
        "raise-suspend#2@execute:transfer",
    ]
    text = result.report()
    head = text.split("\n\nCAUSE ")[0].splitlines()
    assert head[0].startswith(f"sdax explore: {result.scenarios_run} scenarios, ")
    assert f"{len(result.findings)} broken (2 causes)" in head[0]
    assert head[-2:] == [
        f"  1. {len(causes[0].scenarios)} scenarios: {causes[0].broken[0]}",
        f"  2. {len(causes[1].scenarios)} scenarios: {causes[1].broken[0]}",
    ]
    # One trace per cause, with the ids of all its scenarios.
    assert text.count("trace (loop time, call, event):") == 2
    assert text.count("CAUSE ") == 2
    listed = text.replace(",\n    ", ", ")
    for cause in causes:
        assert ", ".join(cause.scenarios) in listed
