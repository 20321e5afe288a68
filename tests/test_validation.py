"""Bad input fails when it is declared (``task_func``/``add_task``/``build``), with a
ValueError or TypeError whose message names the task and states the rule."""

from __future__ import annotations

import asyncio
import math
import re
from typing import Any, cast

import pytest
from _support import Recorder

from sdax import (
    AsyncDagTaskProcessor,
    AsyncTask,
    AsyncTaskProcessor,
    SdaxExecutionError,
    TaskFunction,
    join,
    task_func,
    task_group_func,
    task_sync_func,
)


async def noop(ctx: Any) -> None:
    return None


def make(name: Any) -> AsyncTask[Any, Any]:
    return AsyncTask(name, execute=task_func(noop))


# -- graph shape --------------------------------------------------------------------------


def test_cycle_message_shows_the_path() -> None:
    builder = (
        AsyncDagTaskProcessor.builder()
        .add_task(make("A"), depends_on=("C",))
        .add_task(make("B"), depends_on=("A",))
        .add_task(make("C"), depends_on=("B",))
    )
    with pytest.raises(ValueError, match=re.escape("Cycle detected: A -> C -> B -> A")):
        builder.build()


def test_self_dependency_is_a_cycle() -> None:
    builder = AsyncDagTaskProcessor.builder().add_task(make("A"), depends_on=("A",))
    with pytest.raises(ValueError, match=re.escape("Cycle detected: A -> A")):
        builder.build()


def test_cycle_through_join_nodes_behind_a_valid_part() -> None:
    builder = (
        AsyncDagTaskProcessor.builder()
        .add_task(make("root"))
        .add_task(make("X"), depends_on=("root", "J"))
        .add_task(join("J"), depends_on=("Y",))
        .add_task(make("Y"), depends_on=("X",))
    )
    with pytest.raises(ValueError, match="Cycle detected") as info:
        builder.build()
    message = str(info.value)
    path = message.split("Cycle detected: ", 1)[1].split(" -> ")
    assert path[0] == path[-1]
    assert set(path) == {"X", "J", "Y"}
    assert "root" not in path


def test_missing_dependency_names_both_tasks() -> None:
    builder = AsyncDagTaskProcessor.builder().add_task(make("A"), depends_on=("X",))
    with pytest.raises(ValueError, match=re.escape("Task 'A' depends on non-existent task 'X'")):
        builder.build()


def test_missing_dependency_with_structured_names() -> None:
    builder = AsyncDagTaskProcessor.builder().add_task(
        make(("svc", 1)), depends_on=(("db", "connect"),)
    )
    with pytest.raises(ValueError, match="non-existent task") as info:
        builder.build()
    assert "('svc', 1)" in str(info.value)
    assert "('db', 'connect')" in str(info.value)


def test_duplicate_name_is_rejected_and_builder_stays_usable() -> None:
    builder = AsyncDagTaskProcessor.builder().add_task(make("A"))
    with pytest.raises(ValueError, match=re.escape("Task 'A' already exists")):
        builder.add_task(AsyncTask("A", pre_execute=task_func(noop)), depends_on=("Z",))
    builder.add_task(make("B"), depends_on=("A",))
    processor = builder.build()
    assert processor.analysis.total_tasks == 2
    # The rejected task left no trace: A has no pre and no dependency on "Z".
    assert processor.analysis.tasks["A"].pre_execute is None
    assert processor.analysis.dependencies["A"] == ()


async def test_builder_after_rejected_duplicate_runs() -> None:
    rec = Recorder()
    builder = AsyncDagTaskProcessor.builder().add_task(rec.task("A"))
    with pytest.raises(ValueError):
        builder.add_task(rec.task("A"))
    processor = builder.add_task(rec.task("B"), depends_on=("A",)).build()
    await processor.process_tasks({})
    assert rec.count("A", "pre") == 1
    assert rec.count("B", "post") == 1


def test_level_builder_duplicate_message_and_usability() -> None:
    builder = AsyncTaskProcessor.builder().add_task(make("A"), level=0)
    with pytest.raises(ValueError, match=re.escape("Task 'A' already exists")):
        builder.add_task(make("A"), level=1)
    processor = builder.add_task(make("B"), level=1).build()
    assert "A" in processor.analysis.tasks
    assert "B" in processor.analysis.tasks


def test_join_name_collides_like_any_task() -> None:
    builder = AsyncDagTaskProcessor.builder().add_task(join("J"))
    with pytest.raises(ValueError, match="already exists"):
        builder.add_task(make("J"))


# -- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [["A"], {"a": 1}, {"s"}], ids=["list", "dict", "set"])
def test_unhashable_task_name_is_a_type_error(name: Any) -> None:
    with pytest.raises(TypeError, match="hashable"):
        AsyncDagTaskProcessor.builder().add_task(make(name))


@pytest.mark.parametrize("name", [["A"], {"a": 1}], ids=["list", "dict"])
def test_unhashable_task_name_in_level_builder(name: Any) -> None:
    with pytest.raises(TypeError, match="hashable"):
        AsyncTaskProcessor.builder().add_task(make(name), level=0)


@pytest.mark.parametrize("depends_on", [(["x"],), [{"y": 1}]], ids=["tuple", "list"])
def test_unhashable_dependency_name_is_a_type_error_naming_the_task(depends_on: Any) -> None:
    # Dependency names are looked at once, by build().
    builder = AsyncDagTaskProcessor.builder().add_task(make("x")).add_task(make("A"), depends_on)
    with pytest.raises(TypeError, match="hashable") as info:
        builder.build()
    assert "'A'" in str(info.value)
    assert repr(depends_on[0]) in str(info.value)


def test_add_task_needs_an_async_task() -> None:
    with pytest.raises(TypeError):
        AsyncDagTaskProcessor.builder().add_task(cast(Any, "A"))


@pytest.mark.parametrize("depends_on", [5, None, 3.5], ids=["int", "None", "float"])
def test_depends_on_that_is_not_a_collection_of_names(depends_on: Any) -> None:
    with pytest.raises(TypeError) as info:
        AsyncDagTaskProcessor.builder().add_task(make("A"), depends_on=depends_on)
    assert "'A'" in str(info.value)


# -- phase functions ------------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["pre_execute", "execute", "post_execute"])
def test_non_callable_phase_function_fails_at_add_task(phase: str) -> None:
    bad = AsyncTask("T", **{phase: TaskFunction(cast(Any, 3))})
    with pytest.raises(TypeError) as info:
        AsyncDagTaskProcessor.builder().add_task(bad)
    message = str(info.value)
    assert "'T'" in message
    assert phase in message
    assert "callable" in message


def test_non_callable_phase_function_fails_in_level_builder() -> None:
    bad = AsyncTask("T", post_execute=task_func(cast(Any, "not callable")))
    with pytest.raises(TypeError) as info:
        AsyncTaskProcessor.builder().add_task(bad, level=0)
    assert "'T'" in str(info.value)
    assert "post_execute" in str(info.value)


@pytest.mark.parametrize("phase", ["pre_execute", "execute", "post_execute"])
def test_phase_that_is_not_a_task_function(phase: str) -> None:
    bad = AsyncTask("T", **{phase: cast(Any, noop)})
    with pytest.raises(TypeError) as info:
        AsyncDagTaskProcessor.builder().add_task(bad)
    assert "'T'" in str(info.value)
    assert phase in str(info.value)
    assert "TaskFunction" in str(info.value)


def test_task_sync_func_of_a_non_callable() -> None:
    with pytest.raises(TypeError):
        task_sync_func(cast(Any, 3))


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("timeout", -1, ValueError),
        ("timeout", -0.001, ValueError),
        ("timeout", math.nan, ValueError),
        ("timeout", True, TypeError),
        ("timeout", "1", TypeError),
        ("retries", -1, ValueError),
        ("retries", 1.0, TypeError),
        ("retries", True, TypeError),
        ("retries", "2", TypeError),
        ("initial_delay", -0.5, ValueError),
        ("initial_delay", math.nan, ValueError),
        ("initial_delay", False, TypeError),
        ("backoff_factor", 0, ValueError),
        ("backoff_factor", -2.0, ValueError),
        ("backoff_factor", math.nan, ValueError),
        ("backoff_factor", True, TypeError),
    ],
)
@pytest.mark.parametrize("helper", [task_func, task_group_func, TaskFunction])
def test_bad_numbers_are_rejected_naming_the_field(
    helper: Any, field: str, value: Any, error: type[Exception]
) -> None:
    with pytest.raises(error, match=field):
        helper(noop, **{field: value})


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("retries", -1, ValueError),
        ("retries", 0.5, TypeError),
        ("initial_delay", -1, ValueError),
        ("backoff_factor", 0, ValueError),
    ],
)
def test_bad_numbers_in_task_sync_func(field: str, value: Any, error: type[Exception]) -> None:
    def plain(ctx: Any) -> None:
        return None

    with pytest.raises(error, match=field):
        task_sync_func(plain, **{field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timeout", 0),
        ("timeout", 0.0),
        ("timeout", None),
        ("timeout", 1e9),
        ("timeout", math.inf),
        ("retries", 0),
        ("retries", 10),
        ("initial_delay", 0),
        ("backoff_factor", 0.5),
        ("backoff_factor", 1),
    ],
)
def test_edge_values_that_are_accepted(field: str, value: Any) -> None:
    tf = task_func(noop, **{field: value})
    assert getattr(tf, field) == value


def test_messages_state_the_rule() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        task_func(noop, timeout=-1)
    with pytest.raises(ValueError, match="> 0"):
        task_func(noop, backoff_factor=0)
    with pytest.raises(ValueError, match=">= 0"):
        task_func(noop, retries=-1)


@pytest.mark.parametrize("bad", [(int,), (ValueError, "x"), "ValueError", 3])
def test_retryable_exceptions_must_be_exception_classes(bad: Any) -> None:
    with pytest.raises(TypeError, match="retryable_exceptions"):
        task_func(noop, retryable_exceptions=bad)


# -- levels ---------------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["1", 1.0, None, True], ids=["str", "float", "None", "bool"])
def test_level_must_be_an_int(level: Any) -> None:
    with pytest.raises(TypeError) as info:
        AsyncTaskProcessor.builder().add_task(make("A"), level=level)
    assert "'A'" in str(info.value)
    assert "level" in str(info.value)


def test_rejected_level_task_leaves_level_builder_usable() -> None:
    builder = AsyncTaskProcessor.builder()
    with pytest.raises(TypeError):
        builder.add_task(make("A"), level=cast(Any, "zero"))
    processor = builder.add_task(make("A"), level=0).build()
    assert "A" in processor.analysis.tasks


@pytest.mark.parametrize("level", [-1, -(10**12)])
async def test_a_negative_level_is_a_level_like_any_other(level: int) -> None:
    # As in the reference (its level keys hold any int): levels run in
    # increasing order, so level -1 comes before level 0.
    rec = Recorder()
    processor = (
        AsyncTaskProcessor.builder()
        .add_task(rec.task("zero", pre={"steps": 2}), level=0)
        .add_task(rec.task("below", pre={"steps": 2}), level=level)
        .build()
    )
    await processor.process_tasks(object())
    assert rec.names("pre", "end") == ["below", "zero"]
    assert rec.names("post", "end") == ["zero", "below"]


# -- tasks without phase functions ------------------------------------------------------------


def test_a_task_without_phase_functions_is_a_join_node() -> None:
    # The reference's join() is exactly such a task ("a join node has no
    # pre_execute, execute, or post_execute functions"): accepted, as a join.
    from sdax.export import plan_text

    def plan(node: AsyncTask[Any, Any]) -> str:
        return plan_text(
            AsyncDagTaskProcessor.builder()
            .add_task(make("A"))
            .add_task(make("B"))
            .add_task(node, depends_on=("A", "B"))
            .add_task(make("C"), depends_on="J")
            .build()
        )

    assert AsyncTask("J") == join("J")
    assert plan(AsyncTask("J")) == plan(join("J"))


@pytest.mark.parametrize("level_builder", [False, True], ids=["graph", "levels"])
async def test_a_task_without_phase_functions_runs_nothing_and_orders_the_rest(
    level_builder: bool,
) -> None:
    rec = Recorder()
    low, high = rec.task("low", pre={"steps": 2}), rec.task("high")
    if level_builder:
        processor: Any = (
            AsyncTaskProcessor.builder()
            .add_task(low, level=0)
            .add_task(AsyncTask("empty"), level=1)
            .add_task(high, level=2)
            .build()
        )
    else:
        processor = (
            AsyncDagTaskProcessor.builder()
            .add_task(low)
            .add_task(AsyncTask("empty"), depends_on="low")
            .add_task(high, depends_on="empty")
            .build()
        )
    await processor.process_tasks(object())
    assert rec.names("pre", "end") == ["low", "high"]
    assert rec.names("post", "end") == ["high", "low"]
    assert "empty" not in {entry.name for entry in rec.log}


# -- runtime type errors ----------------------------------------------------------------------


async def test_phase_returning_a_non_awaitable_fails_with_type_error_naming_task_and_phase() -> (
    None
):
    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("Plain", execute=task_func(cast(Any, lambda ctx: 5))))
        .build()
    )
    with pytest.raises(SdaxExecutionError) as info:
        await processor.process_tasks({})
    (leaf,) = info.value.leaf_exceptions()
    assert isinstance(leaf, TypeError)
    assert "Plain" in str(leaf)
    assert "execute" in str(leaf)
    assert "awaitable" in str(leaf)


async def test_phase_returning_a_non_coroutine_awaitable_works() -> None:
    ran: list[str] = []

    def returns_future(ctx: Any) -> Any:
        fut = asyncio.get_running_loop().create_future()
        fut.set_result("done")
        ran.append("called")
        return fut

    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("F", pre_execute=task_func(returns_future)))
        .build()
    )
    await processor.process_tasks({})
    assert ran == ["called"]
