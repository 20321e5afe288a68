"""Phase ordering of a successful run: pre by dependencies, execute together, post reversed.

Interleavings are forced with events, never with timing: a test that would need a wrong
order to finish is wrapped in a generous hang guard, so a wrong engine fails it instead of
hanging the suite.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _support import EXEC, HANG_GUARD, POST, PRE, Recorder, build_dag, no_new_pending_tasks

from sdax import (
    AsyncDagTaskProcessor,
    AsyncTask,
    AsyncTaskProcessor,
    join,
    task_func,
)

pytestmark = pytest.mark.usefixtures("engine_core")  # on both twins of the core


async def run(processor: AsyncDagTaskProcessor[Any, Any], ctx: Any = None) -> None:
    async with asyncio.timeout(HANG_GUARD):
        await processor.process_tasks({} if ctx is None else ctx)


async def test_chain_pre_in_order_post_in_reverse() -> None:
    rec = Recorder()
    processor = build_dag(
        rec.task("A", pre={"steps": 2}, post={"steps": 2}),
        (rec.task("B", pre={"steps": 1}, post={"steps": 1}), ("A",)),
        (rec.task("C"), ("B",)),
    )
    with no_new_pending_tasks():
        await run(processor)
    assert rec.names(PRE, "end") == ["A", "B", "C"]
    assert rec.names(POST, "end") == ["C", "B", "A"]
    assert rec.before(("A", PRE, "end"), ("B", PRE, "start"))
    assert rec.before(("B", PRE, "end"), ("C", PRE, "start"))
    assert rec.before(("C", POST, "end"), ("B", POST, "start"))
    assert rec.before(("B", POST, "end"), ("A", POST, "start"))


async def test_every_phase_runs_exactly_once_with_the_context() -> None:
    seen: list[tuple[str, object]] = []

    def fn(label: str) -> Any:
        async def phase(ctx: Any) -> None:
            seen.append((label, ctx))
            await asyncio.sleep(0)

        return phase

    processor = build_dag(
        AsyncTask(
            "A",
            pre_execute=task_func(fn("A.pre")),
            execute=task_func(fn("A.exec")),
            post_execute=task_func(fn("A.post")),
        ),
        (AsyncTask("B", execute=task_func(fn("B.exec"))), ("A",)),
    )
    ctx = object()
    await run(processor, ctx)
    assert sorted(label for label, _ in seen) == ["A.exec", "A.post", "A.pre", "B.exec"]
    assert all(c is ctx for _, c in seen)


async def test_diamond_waits_for_both_prerequisites() -> None:
    rec = Recorder()
    processor = build_dag(
        rec.task("A"),
        (rec.task("B", pre={"steps": 1}, post={"steps": 3}), ("A",)),
        (rec.task("C", pre={"steps": 4}, post={"steps": 1}), ("A",)),
        (rec.task("D"), ("B", "C")),
    )
    await run(processor)
    for dep in ("B", "C"):
        assert rec.before((dep, PRE, "end"), ("D", PRE, "start"))
        assert rec.before(("A", PRE, "end"), (dep, PRE, "start"))
        assert rec.before(("D", POST, "end"), (dep, POST, "start"))
        assert rec.before((dep, POST, "end"), ("A", POST, "start"))


async def test_pre_looks_through_join_nodes() -> None:
    rec = Recorder()
    processor = build_dag(
        rec.task("A", pre={"steps": 3}),
        rec.task("B", pre={"steps": 1}),
        (join("J1"), ("A", "B")),
        (join("J2"), ("J1",)),
        (rec.task("C"), ("J2",)),
    )
    await run(processor)
    assert rec.before(("A", PRE, "end"), ("C", PRE, "start"))
    assert rec.before(("B", PRE, "end"), ("C", PRE, "start"))
    assert rec.before(("C", POST, "end"), ("A", POST, "start"))
    assert rec.before(("C", POST, "end"), ("B", POST, "start"))


async def test_pre_looks_through_tasks_without_pre() -> None:
    rec = Recorder()
    processor = build_dag(
        rec.task("A", pre={"steps": 3}),
        (rec.task("M", phases=(EXEC,)), ("A",)),
        (rec.task("N", phases=(POST,)), ("M",)),
        (rec.task("C"), ("N",)),
    )
    await run(processor)
    assert rec.before(("A", PRE, "end"), ("C", PRE, "start"))
    # Post looks through M (no post) but waits for N's post, which waits for C's post.
    assert rec.before(("C", POST, "end"), ("N", POST, "start"))
    assert rec.before(("N", POST, "end"), ("A", POST, "start"))


async def test_independent_pres_run_concurrently() -> None:
    rec = Recorder()
    a_started = asyncio.Event()
    b_started = asyncio.Event()
    processor = build_dag(
        # Each waits for the other to have started: only concurrent pres finish.
        rec.task("A", pre={"before": a_started.set, "wait_for": b_started}),
        rec.task("B", pre={"before": b_started.set, "wait_for": a_started}),
    )
    await run(processor)
    assert sorted(map(str, rec.names(PRE, "end"))) == ["A", "B"]


async def test_dependent_pre_does_not_wait_for_unrelated_slow_pre() -> None:
    rec = Recorder()
    b_done = asyncio.Event()
    processor = build_dag(
        rec.task("A"),
        (rec.task("B", pre={"then_set": b_done}), ("A",)),
        # C is unrelated to A and B; it only finishes once B's pre has run.
        rec.task("C", pre={"wait_for": b_done}),
    )
    await run(processor)
    assert rec.before(("B", PRE, "end"), ("C", PRE, "end"))


async def test_execute_starts_after_every_pre_ended() -> None:
    rec = Recorder()
    processor = build_dag(
        rec.task("A", pre={"steps": 1}),
        rec.task("B", pre={"steps": 5}),
        (rec.task("C", pre={"steps": 2}), ("A",)),
    )
    await run(processor)
    last_pre_end = max(rec.index(n, PRE, "end") for n in "ABC")
    first_exec_start = min(rec.index(n, EXEC, "start") for n in "ABC")
    assert last_pre_end < first_exec_start


async def test_executes_run_concurrently_without_dependency_order() -> None:
    rec = Recorder()
    b_done = asyncio.Event()
    processor = build_dag(
        # A's execute can only end after B's, although B depends on A.
        rec.task("A", exec={"wait_for": b_done}),
        (rec.task("B", exec={"steps": 2, "then_set": b_done}), ("A",)),
    )
    await run(processor)
    assert rec.before(("B", EXEC, "end"), ("A", EXEC, "end"))


async def test_post_starts_after_every_execute_ended() -> None:
    rec = Recorder()
    processor = build_dag(
        rec.task("A", exec={"steps": 6}),
        rec.task("B", exec={"steps": 1}),
    )
    await run(processor)
    last_exec_end = max(rec.index(n, EXEC, "end") for n in "AB")
    first_post_start = min(rec.index(n, POST, "start") for n in "AB")
    assert last_exec_end < first_post_start


async def test_post_does_not_wait_for_unrelated_branch() -> None:
    rec = Recorder()
    a_post_done = asyncio.Event()
    processor = build_dag(
        rec.task("A", post={"then_set": a_post_done}),
        (rec.task("B", post={"steps": 2}), ("A",)),
        # C's post (an unrelated branch) only finishes after A's post ran, which itself
        # waits for B's post: a wave-by-wave cleanup would deadlock here.
        rec.task("C", post={"wait_for": a_post_done}),
        (rec.task("D"), ("C",)),
    )
    await run(processor)
    assert rec.before(("B", POST, "end"), ("A", POST, "start"))
    assert rec.before(("A", POST, "end"), ("C", POST, "end"))
    assert rec.before(("D", POST, "end"), ("C", POST, "start"))


async def test_post_waits_for_transitive_dependents_through_tasks_without_post() -> None:
    rec = Recorder()
    processor = build_dag(
        rec.task("A"),
        (rec.task("M", phases=(PRE, EXEC)), ("A",)),
        (join("J"), ("M",)),
        (rec.task("Z", post={"steps": 4}), ("J",)),
    )
    await run(processor)
    assert rec.before(("Z", POST, "end"), ("A", POST, "start"))


async def test_post_only_task_runs_its_post_when_prerequisites_completed() -> None:
    rec = Recorder()
    processor = build_dag(
        rec.task("A"),
        (rec.task("P", phases=(POST,)), ("A",)),
        rec.task("Q", phases=(POST,)),
    )
    await run(processor)
    assert rec.count("P", POST) == 1
    assert rec.count("Q", POST) == 1
    assert rec.before(("P", POST, "end"), ("A", POST, "start"))


async def test_sibling_posts_run_concurrently() -> None:
    rec = Recorder()
    a_started = asyncio.Event()
    b_started = asyncio.Event()
    processor = build_dag(
        rec.task("A", post={"before": a_started.set, "wait_for": b_started}),
        rec.task("B", post={"before": b_started.set, "wait_for": a_started}),
    )
    await run(processor)
    assert sorted(map(str, rec.names(POST, "end"))) == ["A", "B"]


async def test_empty_processor_runs() -> None:
    processor = AsyncDagTaskProcessor.builder().build()
    with no_new_pending_tasks():
        await run(processor)


async def test_only_join_nodes_run() -> None:
    processor = build_dag(
        join("J1"),
        (join("J2"), ("J1",)),
    )
    await run(processor)


async def test_processor_is_reusable_and_runs_are_independent() -> None:
    rec = Recorder()
    processor = build_dag(
        rec.task("A", pre={"steps": 1}),
        (rec.task("B"), ("A",)),
    )
    for _ in range(3):
        await run(processor)
    for name in "AB":
        for phase in (PRE, EXEC, POST):
            assert rec.count(name, phase) == 3
            assert rec.count(name, phase, "end") == 3


async def test_dependency_declared_before_its_task_is_added() -> None:
    rec = Recorder()
    processor = build_dag(
        (rec.task("B"), ("A",)),
        rec.task("A", pre={"steps": 2}),
    )
    await run(processor)
    assert rec.before(("A", PRE, "end"), ("B", PRE, "start"))
    assert rec.before(("B", POST, "end"), ("A", POST, "start"))


@pytest.mark.parametrize("suspend", [0, 1])
async def test_phases_that_never_suspend_keep_the_same_order(suspend: int) -> None:
    rec = Recorder()
    steps = {"steps": suspend}
    processor = build_dag(
        rec.task("A", pre=steps, exec=steps, post=steps),
        (rec.task("B", pre=steps, exec=steps, post=steps), ("A",)),
        (rec.task("C", pre=steps, exec=steps, post=steps), ("B",)),
    )
    await run(processor)
    assert rec.names(PRE, "end") == ["A", "B", "C"]
    assert rec.names(POST, "end") == ["C", "B", "A"]
    assert sorted(map(str, rec.names(EXEC, "end"))) == ["A", "B", "C"]
    assert max(rec.index(n, PRE, "end") for n in "ABC") < min(
        rec.index(n, EXEC, "start") for n in "ABC"
    )


class TestLevels:
    """The level adapter: pre level by level upwards, post downwards."""

    async def test_levels_are_barriers_for_pre_and_post(self) -> None:
        rec = Recorder()
        processor = (
            AsyncTaskProcessor.builder()
            .add_task(rec.task("A", pre={"steps": 3}, post={"steps": 1}), level=0)
            .add_task(rec.task("B", pre={"steps": 1}, post={"steps": 3}), level=0)
            .add_task(rec.task("C", pre={"steps": 1}, post={"steps": 2}), level=1)
            .add_task(rec.task("D", pre={"steps": 2}, post={"steps": 1}), level=1)
            .add_task(rec.task("E"), level=2)
            .build()
        )
        await run(processor)
        for low in "AB":
            for high in "CD":
                assert rec.before((low, PRE, "end"), (high, PRE, "start"))
                assert rec.before((high, POST, "end"), (low, POST, "start"))
            assert rec.before(("E", POST, "end"), (low, POST, "start"))
        for mid in "CD":
            assert rec.before((mid, PRE, "end"), ("E", PRE, "start"))
            assert rec.before(("E", POST, "end"), (mid, POST, "start"))

    async def test_levels_need_not_be_contiguous_or_added_in_order(self) -> None:
        rec = Recorder()
        processor = (
            AsyncTaskProcessor.builder()
            .add_task(rec.task("high"), level=10)
            .add_task(rec.task("low", pre={"steps": 2}), level=-3)
            .build()
        )
        await run(processor)
        assert rec.before(("low", PRE, "end"), ("high", PRE, "start"))
        assert rec.before(("high", POST, "end"), ("low", POST, "start"))

    async def test_elevator_builder_is_the_level_builder(self) -> None:
        rec = Recorder()
        processor = (
            AsyncTaskProcessor.elevator_builder()
            .add_task(rec.task("A", pre={"steps": 1}), level=1)
            .add_task(rec.task("B"), level=2)
            .build()
        )
        await run(processor)
        assert rec.names(PRE, "end") == ["A", "B"]
        assert rec.names(POST, "end") == ["B", "A"]

    async def test_graph_builder_of_task_processor(self) -> None:
        rec = Recorder()
        processor = (
            AsyncTaskProcessor.graph_builder()
            .add_task(rec.task("A", pre={"steps": 1}))
            .add_task(rec.task("B"), depends_on=("A",))
            .build()
        )
        await run(processor)
        assert rec.names(PRE, "end") == ["A", "B"]
