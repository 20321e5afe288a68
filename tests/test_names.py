"""Task names: any hashable key, mixed in one graph, in building, running, analysis and
messages; ``depends_on`` forms."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import pytest
from _support import EXEC, POST, PRE, Recorder, build_dag

from sdax import (
    AsyncDagTaskProcessor,
    AsyncTask,
    AsyncTaskProcessor,
    SdaxExecutionError,
    join,
    task_func,
)

pytestmark = pytest.mark.usefixtures("engine_core")  # on both twins of the core

MIXED: list[Hashable] = [
    "plain",
    ("database", "connect"),
    (1, "high_priority"),
    42,
    frozenset({"a", "b"}),
    "call:node",
    ("nested", ("tuple", 1)),
    b"bytes",
    3.5,
    None,
]


def chain(rec: Recorder, names: list[Hashable]) -> AsyncDagTaskProcessor[Any, Any]:
    builder = AsyncDagTaskProcessor.builder()
    previous: tuple[Hashable, ...] = ()
    for name in names:
        builder.add_task(rec.task(name, pre={"steps": 1}), depends_on=previous)
        previous = (name,)
    return builder.build()


async def test_mixed_names_build_and_run_in_order() -> None:
    rec = Recorder()
    processor = chain(rec, MIXED)
    await processor.process_tasks({})
    assert rec.names(PRE, "end") == MIXED
    assert rec.names(POST, "end") == MIXED[::-1]
    assert sorted(map(repr, rec.names(EXEC, "end"))) == sorted(map(repr, MIXED))


async def test_mixed_names_in_parallel_waves() -> None:
    rec = Recorder()
    builder = AsyncDagTaskProcessor.builder().add_task(rec.task("root"))
    for name in MIXED[1:]:
        builder.add_task(rec.task(name), depends_on=("root",))
    builder.add_task(join(("join", 0)), depends_on=MIXED[1:])
    builder.add_task(rec.task(("leaf", 99)), depends_on=(("join", 0),))
    processor = builder.build()
    analysis = processor.analysis
    wave = analysis.pre_wave_containing(("database", "connect"))
    assert wave is not None
    assert set(map(repr, wave.tasks)) == set(map(repr, MIXED[1:]))
    assert wave.depends_on_tasks == ("root",)
    leaf_wave = analysis.pre_wave_containing(("leaf", 99))
    assert leaf_wave is not None
    assert set(map(repr, leaf_wave.depends_on_tasks)) == set(map(repr, MIXED[1:]))
    assert set(map(repr, analysis.topological_order)) == set(
        map(repr, ["root", *MIXED[1:], ("join", 0), ("leaf", 99)])
    )
    await processor.process_tasks({})
    for name in MIXED[1:]:
        assert rec.before(("root", PRE, "end"), (name, PRE, "start"))
        assert rec.before((name, PRE, "end"), (("leaf", 99), PRE, "start"))
        assert rec.before((("leaf", 99), POST, "end"), (name, POST, "start"))
    # Deterministic: the same graph gives the same wave contents every time.
    again = builder.build().analysis.pre_wave_containing(("database", "connect"))
    assert again is not None and again.tasks == wave.tasks


def test_spec_structured_keys() -> None:
    processor = build_dag(
        AsyncTask(name=("database", "connect"), execute=task_func(noop)),
        (AsyncTask(name=("auth", "validate"), execute=task_func(noop)), (("database", "connect"),)),
        AsyncTask(name=(1, "high_priority"), execute=task_func(noop)),
    )
    assert processor.analysis.dependencies[("auth", "validate")] == (("database", "connect"),)
    assert set(processor.analysis.execute_task_names) == {
        ("database", "connect"),
        ("auth", "validate"),
        (1, "high_priority"),
    }


async def noop(ctx: Any) -> None:
    return None


def test_cycle_message_with_structured_names() -> None:
    builder = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask(("svc", 1), execute=task_func(noop)), depends_on=(7,))
        .add_task(AsyncTask(7, execute=task_func(noop)), depends_on=("call:node",))
        .add_task(AsyncTask("call:node", execute=task_func(noop)), depends_on=(("svc", 1),))
    )
    with pytest.raises(ValueError, match="Cycle detected") as info:
        builder.build()
    message = str(info.value)
    assert "('svc', 1)" in message
    assert "call:node" in message
    assert " 7 " in message or message.endswith(" 7") or "-> 7" in message


async def test_failure_notes_and_messages_show_structured_names() -> None:
    rec = Recorder()
    err = ValueError("boom")
    processor = build_dag(rec.task(frozenset({"x"}), exec={"fail": err}))
    with pytest.raises(SdaxExecutionError) as info:
        await processor.process_tasks({})
    (leaf,) = info.value.leaf_exceptions()
    assert leaf is err
    assert "frozenset({'x'})" in " ".join(getattr(leaf, "__notes__", []))


async def test_bare_string_dependency_means_one_task() -> None:
    rec = Recorder()
    processor = (
        AsyncDagTaskProcessor.builder()
        .add_task(rec.task("AB", pre={"steps": 2}))
        .add_task(rec.task("C"), depends_on="AB")
        .build()
    )
    assert processor.analysis.dependencies["C"] == ("AB",)
    await processor.process_tasks({})
    assert rec.before(("AB", PRE, "end"), ("C", PRE, "start"))


def test_bare_string_dependency_is_not_split_into_characters() -> None:
    builder = (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("A", execute=task_func(noop)))
        .add_task(AsyncTask("B", execute=task_func(noop)))
        .add_task(AsyncTask("C", execute=task_func(noop)), depends_on="AB")
    )
    with pytest.raises(ValueError, match="non-existent task 'AB'"):
        builder.build()


@pytest.mark.parametrize(
    "make_depends_on",
    [
        lambda: ["A", "B"],
        lambda: ("A", "B"),
        lambda: iter(["A", "B"]),  # made per test: a run of the test uses it up
        lambda: {"A": 1, "B": 2}.keys(),
        lambda: {"A", "B"},
    ],
    ids=["list", "tuple", "iterator", "keys", "set"],
)
async def test_depends_on_accepts_any_collection(make_depends_on: Callable[[], Any]) -> None:
    depends_on = make_depends_on()
    rec = Recorder()
    processor = build_dag(
        rec.task("A", pre={"steps": 1}),
        rec.task("B", pre={"steps": 3}),
        (rec.task("C"), depends_on),
    )
    assert set(processor.analysis.dependencies["C"]) == {"A", "B"}
    await processor.process_tasks({})
    assert rec.before(("A", PRE, "end"), ("C", PRE, "start"))
    assert rec.before(("B", PRE, "end"), ("C", PRE, "start"))


async def test_tuple_dependency_names_are_not_unpacked() -> None:
    rec = Recorder()
    processor = build_dag(
        rec.task(("a", "b"), pre={"steps": 1}),
        (rec.task("C"), [("a", "b")]),
    )
    await processor.process_tasks({})
    assert rec.before((("a", "b"), PRE, "end"), ("C", PRE, "start"))


async def test_user_names_that_look_like_level_boundaries_do_not_collide() -> None:
    rec = Recorder()
    processor = (
        AsyncTaskProcessor.builder()
        .add_task(rec.task((0, "below")), level=0)
        .add_task(rec.task((0, "above")), level=0)
        .add_task(rec.task((1, "below")), level=1)
        .build()
    )
    await processor.process_tasks({})
    assert rec.count((0, "below"), PRE) == 1
    assert rec.count((0, "above"), PRE) == 1
    assert rec.before(((0, "below"), PRE, "end"), ((1, "below"), PRE, "start"))
    assert rec.before(((1, "below"), POST, "end"), ((0, "above"), POST, "start"))


async def test_level_builder_with_mixed_names() -> None:
    rec = Recorder()
    builder = AsyncTaskProcessor.builder()
    for i, name in enumerate(MIXED):
        builder.add_task(rec.task(name), level=i % 3)
    await builder.build().process_tasks({})
    for name in MIXED:
        for phase in (PRE, EXEC, POST):
            assert rec.count(name, phase, "end") == 1


def test_names_that_compare_equal_are_the_same_task() -> None:
    builder = AsyncDagTaskProcessor.builder().add_task(AsyncTask(1, execute=task_func(noop)))
    with pytest.raises(ValueError, match="already exists"):
        builder.add_task(AsyncTask(1.0, execute=task_func(noop)))
