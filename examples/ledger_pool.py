"""A money transfer over a pool of SQLite connections, and the explorer that proves its cleanup.

Four tasks move ``amount`` from one account to another:

- ``conn`` takes a connection from a tiny pool (pre) and gives it back (post);
- ``tx`` begins a transaction on it (pre), and commits or rolls back (post);
- ``debit`` and ``credit`` each update one account (execute).

The ledger must hold all of a transfer or none of it, and every connection
must go back to the pool. ``wrong_processor`` has one deliberately wrong
post: it commits whenever a transaction is open, even when the debit or the
credit failed. ``sdax.testing.explore()`` finds it (a failed credit leaves
the money debited and nowhere credited); ``fixed_processor`` commits only a
complete transfer, and passes every scenario.

Run it: ``python examples/ledger_pool.py`` (needs ``aiosqlite``; with
``looptime`` too, the exploration runs in virtual time). The same check from
the command line, run from this directory::

    sdax check ledger_pool:wrong_processor --ctx ledger_pool:make_ctx --check ledger_pool:check
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from sdax import AsyncDagTaskProcessor, AsyncTask, task_func
from sdax.testing import explore

START_BALANCE = 100


class Pool:
    """A fixed set of open connections to one SQLite file."""

    def __init__(self, connections: list[aiosqlite.Connection]) -> None:
        self._all = connections
        self._free: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        for conn in connections:
            self._free.put_nowait(conn)
        self._discarded: list[aiosqlite.Connection] = []
        self.misuse: list[str] = []

    @classmethod
    async def open(cls, path: Path, size: int = 2) -> Pool:
        """Open ``size`` connections in autocommit mode (transactions are explicit)."""
        return cls([await aiosqlite.connect(path, isolation_level=None) for _ in range(size)])

    @property
    def in_use(self) -> int:
        """Connections taken and neither given back nor discarded."""
        return len(self._all) - len(self._discarded) - self._free.qsize()

    async def acquire(self) -> aiosqlite.Connection:
        """A free connection; waits for one when all are taken."""
        return await self._free.get()

    def release(self, conn: aiosqlite.Connection) -> None:
        """Give ``conn`` back; a connection inside a transaction is misuse."""
        if conn.in_transaction:
            self.misuse.append("a connection went back to the pool inside a transaction")
        self._free.put_nowait(conn)

    def discard(self, conn: aiosqlite.Connection) -> None:
        """Take ``conn`` out of the pool for good (its state is unknown); closed with the pool."""
        self._discarded.append(conn)

    async def close(self) -> None:
        """Close every connection."""
        for conn in self._all:
            await conn.close()


@dataclass
class Transfer:
    """One request: move ``amount`` from ``source`` to ``target``."""

    pool: Pool
    path: Path
    source: int = 1
    target: int = 2
    amount: int = 30
    conn: aiosqlite.Connection | None = None
    debited: bool = False
    credited: bool = False


# -- phase functions --------------------------------------------------------------------


async def take_connection(ctx: Transfer) -> None:
    ctx.conn = await ctx.pool.acquire()


async def give_back_connection(ctx: Transfer) -> None:
    conn, ctx.conn = ctx.conn, None
    if conn is None:
        return
    try:
        if conn.in_transaction:  # the tx post could not finish: leave nothing half-done
            await conn.rollback()
    finally:
        if conn.in_transaction:
            # The rollback was cut short (or is still on its way): nobody
            # else may get this connection in an unknown state.
            ctx.pool.discard(conn)
        else:
            ctx.pool.release(conn)


async def begin(ctx: Transfer) -> None:
    assert ctx.conn is not None
    await ctx.conn.execute("BEGIN IMMEDIATE")


async def debit(ctx: Transfer) -> None:
    assert ctx.conn is not None
    await ctx.conn.execute(
        "UPDATE accounts SET balance = balance - ? WHERE id = ?", (ctx.amount, ctx.source)
    )
    ctx.debited = True


async def credit(ctx: Transfer) -> None:
    assert ctx.conn is not None
    await ctx.conn.execute(
        "UPDATE accounts SET balance = balance + ? WHERE id = ?", (ctx.amount, ctx.target)
    )
    ctx.credited = True


async def finish_wrong(ctx: Transfer) -> None:
    """The planted bug: commits whatever the executes managed to do."""
    conn = ctx.conn
    if conn is not None and conn.in_transaction:
        await conn.commit()


async def finish(ctx: Transfer) -> None:
    """Commit a complete transfer; roll back anything less."""
    conn = ctx.conn
    if conn is None or not conn.in_transaction:
        return
    if ctx.debited and ctx.credited:
        await conn.commit()
    else:
        await conn.rollback()


def build_processor(fixed: bool) -> AsyncDagTaskProcessor[Transfer, str]:
    """The transfer's processor, with the wrong or the fixed ``tx`` post."""
    return (
        AsyncDagTaskProcessor[Transfer, str]
        .builder()
        .add_task(
            AsyncTask(
                "conn",
                pre_execute=task_func(take_connection),
                post_execute=task_func(give_back_connection),
            )
        )
        .add_task(
            AsyncTask(
                "tx",
                pre_execute=task_func(begin),
                post_execute=task_func(finish if fixed else finish_wrong),
            ),
            depends_on=("conn",),
        )
        .add_task(AsyncTask("debit", execute=task_func(debit)), depends_on=("tx",))
        .add_task(AsyncTask("credit", execute=task_func(credit)), depends_on=("tx",))
        .build()
    )


wrong_processor = build_processor(fixed=False)
fixed_processor = build_processor(fixed=True)


async def make_ctx() -> AsyncIterator[Transfer]:
    """A fresh database with two accounts and a pool of two connections (then removed)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.db"
        async with aiosqlite.connect(path) as setup:
            await setup.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER)")
            await setup.executemany(
                "INSERT INTO accounts VALUES (?, ?)", [(1, START_BALANCE), (2, START_BALANCE)]
            )
            await setup.commit()
        pool = await Pool.open(path)
        try:
            yield Transfer(pool, path)
        finally:
            await pool.close()


async def check(ctx: Transfer) -> None:
    """The ledger holds all of the transfer or none; every connection is back."""
    assert ctx.pool.in_use == 0, f"{ctx.pool.in_use} connection(s) never given back"
    assert not ctx.pool.misuse, "; ".join(ctx.pool.misuse)
    async with aiosqlite.connect(ctx.path) as reader:
        rows = await reader.execute_fetchall("SELECT id, balance FROM accounts ORDER BY id")
    balances = {row[0]: row[1] for row in rows}
    untouched = {1: START_BALANCE, 2: START_BALANCE}
    done = {1: START_BALANCE - ctx.amount, 2: START_BALANCE + ctx.amount}
    assert balances in (untouched, done), f"the ledger holds part of a transfer: {balances}"


OPTIONS = {"virtual_time": False, "hang_deadline": 0.1}
"""Real time: aiosqlite works in threads of its own, which a virtual clock would skip past."""


def main() -> int:
    """Explore both processors; succeed when the wrong one fails and the fixed one passes."""
    wrong = explore(wrong_processor, make_ctx, check, **OPTIONS)
    print("the wrong post:", wrong.summary())
    if wrong.findings:
        first = wrong.findings[0]
        print(f"  first broken scenario: {first.scenario}")
        print(f"  {first.broken[0]}")
    fixed = explore(fixed_processor, make_ctx, check, **OPTIONS)
    print("the fixed post:", fixed.summary())
    if not fixed.ok:
        print(fixed.report())
    return 0 if wrong.findings and fixed.ok else 1


if __name__ == "__main__":
    sys.exit(main())
