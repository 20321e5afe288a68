"""No recursion anywhere: chains of 100,000 tasks build, run, fail and clean up.

Processors are immutable, so each chain is built once per module and run several times;
every run keeps its own log in its context object. Phase functions do no work; the tests
check counts and orders, never timings.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass, field
from typing import Any

import pytest

from sdax import (
    AsyncDagTaskProcessor,
    AsyncTask,
    AsyncTaskProcessor,
    SdaxExecutionError,
    join,
    task_func,
)

N = 100_000


@dataclass
class ChainCtx:
    """One run's instructions and log."""

    fail_pre_at: int | None = None
    fail_exec_at: int | None = None
    pre: list[int] = field(default_factory=list)
    executed: int = 0
    post: list[int] = field(default_factory=list)
    error: Exception = field(default_factory=lambda: ValueError("injected"))


PhaseFn = Callable[[ChainCtx], Coroutine[Any, Any, None]]


async def execute(ctx: ChainCtx) -> None:
    ctx.executed += 1
    if ctx.fail_exec_at == ctx.executed - 1:
        raise ctx.error


# One shared execute function (executes have no order to check, only a count), so that
# building the chains stays cheap.
EXECUTE = task_func(execute)


def chain_task(i: int, name: Hashable) -> AsyncTask[ChainCtx, Any]:
    async def pre(ctx: ChainCtx) -> None:
        ctx.pre.append(i)
        if ctx.fail_pre_at == i:
            raise ctx.error

    async def post(ctx: ChainCtx) -> None:
        ctx.post.append(i)

    return AsyncTask(
        name, pre_execute=task_func(pre), execute=EXECUTE, post_execute=task_func(post)
    )


@pytest.fixture(scope="module")
def plain_chain() -> AsyncDagTaskProcessor[ChainCtx, Any]:
    """Task i depends on task i-1; declared from the last task to the first."""
    builder = AsyncDagTaskProcessor.builder()
    for i in reversed(range(N)):
        builder.add_task(chain_task(i, i), depends_on=(i - 1,) if i else ())
    return builder.build()


@pytest.fixture(scope="module")
def joined_chain() -> AsyncDagTaskProcessor[ChainCtx, Any]:
    """Task i depends on a join node that depends on task i-1; declared in reverse."""
    builder = AsyncDagTaskProcessor.builder()
    for i in reversed(range(N)):
        builder.add_task(chain_task(i, ("task", i)), depends_on=(("join", i - 1),) if i else ())
        builder.add_task(join(("join", i)), depends_on=(("task", i),))
    return builder.build()


CHAINS = ["plain_chain", "joined_chain"]


@pytest.mark.parametrize("chain", CHAINS)
async def test_long_chain_runs_in_order(chain: str, request: pytest.FixtureRequest) -> None:
    processor: AsyncDagTaskProcessor[ChainCtx, Any] = request.getfixturevalue(chain)
    ctx = ChainCtx()
    await processor.process_tasks(ctx)
    assert ctx.pre == list(range(N))
    assert ctx.executed == N
    assert ctx.post == list(range(N - 1, -1, -1))


@pytest.mark.parametrize("chain", CHAINS)
async def test_long_chain_last_pre_fails_cleans_up_everything_in_reverse(
    chain: str, request: pytest.FixtureRequest
) -> None:
    processor: AsyncDagTaskProcessor[ChainCtx, Any] = request.getfixturevalue(chain)
    ctx = ChainCtx(fail_pre_at=N - 1)
    with pytest.raises(SdaxExecutionError) as info:
        await processor.process_tasks(ctx)
    assert info.value.leaf_exceptions() == [ctx.error]
    assert ctx.pre == list(range(N))
    assert ctx.executed == 0
    # Every started task (all of them: the last one's pre started too) is cleaned up
    # exactly once, dependents first.
    assert ctx.post == list(range(N - 1, -1, -1))


@pytest.mark.parametrize("chain", CHAINS)
async def test_long_chain_first_pre_fails_cleans_up_only_that_task(
    chain: str, request: pytest.FixtureRequest
) -> None:
    processor: AsyncDagTaskProcessor[ChainCtx, Any] = request.getfixturevalue(chain)
    ctx = ChainCtx(fail_pre_at=0)
    with pytest.raises(SdaxExecutionError) as info:
        await processor.process_tasks(ctx)
    assert info.value.leaf_exceptions() == [ctx.error]
    assert ctx.pre == [0]
    assert ctx.executed == 0
    assert ctx.post == [0]


async def test_long_chain_middle_pre_fails(
    plain_chain: AsyncDagTaskProcessor[ChainCtx, Any],
) -> None:
    middle = N // 2
    ctx = ChainCtx(fail_pre_at=middle)
    with pytest.raises(SdaxExecutionError):
        await plain_chain.process_tasks(ctx)
    assert ctx.pre == list(range(middle + 1))
    assert ctx.post == list(range(middle, -1, -1))


async def test_long_chain_execute_failure_runs_every_execute_and_post(
    joined_chain: AsyncDagTaskProcessor[ChainCtx, Any],
) -> None:
    ctx = ChainCtx(fail_exec_at=7)
    with pytest.raises(SdaxExecutionError) as info:
        await joined_chain.process_tasks(ctx)
    assert info.value.leaf_exceptions() == [ctx.error]
    assert ctx.executed == N
    assert ctx.post == list(range(N - 1, -1, -1))


def test_long_chain_analysis(plain_chain: AsyncDagTaskProcessor[ChainCtx, Any]) -> None:
    analysis = plain_chain.analysis
    assert analysis.total_tasks == N
    assert analysis.topological_order[:3] == (0, 1, 2)
    assert analysis.topological_order[-1] == N - 1
    pre_graph = analysis.pre_execute_graph
    assert len(pre_graph.waves) == N
    last = analysis.pre_wave_containing(N - 1)
    assert last is not None and last.depends_on_tasks == (N - 2,)
    assert len(analysis.post_execute_graph.waves) == N


def test_long_cycle_is_found_without_recursion() -> None:
    async def noop(ctx: Any) -> None:
        return None

    tf = task_func(noop)
    builder = AsyncDagTaskProcessor.builder()
    for i in range(N):
        # 0 depends on N-1 closes the ring.
        builder.add_task(AsyncTask(i, execute=tf), depends_on=((i - 1) % N,))
    with pytest.raises(ValueError, match="Cycle detected") as info:
        builder.build()
    path = str(info.value).split("Cycle detected: ", 1)[1].split(" -> ")
    assert len(path) == N + 1
    assert path[0] == path[-1]


async def test_many_levels() -> None:
    levels = 5_000
    ctx = ChainCtx()
    builder = AsyncTaskProcessor.builder()
    for i in range(levels):
        builder.add_task(chain_task(i, f"level-{i}"), level=i)
    processor = builder.build()
    await processor.process_tasks(ctx)
    assert ctx.pre == list(range(levels))
    assert ctx.post == list(range(levels - 1, -1, -1))


async def test_wide_graph_with_failure() -> None:
    width = 20_000
    ctx = ChainCtx(fail_pre_at=width // 2)
    builder = AsyncDagTaskProcessor.builder().add_task(chain_task(-1, "root"))
    for i in range(width):
        builder.add_task(chain_task(i, i), depends_on=("root",))
    builder.add_task(join("all"), depends_on=range(width))
    builder.add_task(chain_task(width, "leaf"), depends_on=("all",))
    processor = builder.build()
    with pytest.raises(SdaxExecutionError) as info:
        await processor.process_tasks(ctx)
    assert info.value.leaf_exceptions() == [ctx.error]
    # The pres never suspend: the failure stops the wave at once, and exactly the started
    # ones are cleaned up, root last.
    started = set(ctx.pre)
    assert -1 in started and width not in started
    assert len(ctx.post) == len(ctx.pre) == len(started)
    assert set(ctx.post) == started
    assert ctx.post[-1] == -1
