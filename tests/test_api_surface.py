"""The public names, their homes and their basic contracts, as in the reference package.

Code written against the reference imports from ``sdax``, ``sdax.sdax_core``, ``sdax.tasks``
and ``sdax.sdax_task_analyser``; every public name must be found in the same places and
behave the same at the level checked here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import importlib.metadata
import inspect
import pickle
from dataclasses import dataclass
from typing import Any

import pytest
from _support import assign

import sdax
from sdax import (
    AsyncDagLevelAdapterBuilder,
    AsyncDagTaskProcessor,
    AsyncDagTaskProcessorBuilder,
    AsyncTask,
    AsyncTaskProcessor,
    RetryableException,
    SdaxExecutionError,
    SdaxTaskGroup,
    TaskFunction,
    flatten_exceptions,
    join,
    task,
    task_func,
    task_group_func,
    task_group_task,
    task_sync_func,
)
from sdax.sdax_core import AsyncPhaseRunner, PhaseId
from sdax.sdax_task_analyser import TaskAnalysis, TaskAnalyzer

TOP_LEVEL_NAMES = (
    "AsyncTask",
    "TaskFunction",
    "RetryableException",
    "SdaxTaskGroup",
    "task",
    "join",
    "task_func",
    "task_group_func",
    "task_group_task",
    "task_sync_func",
    "AsyncTaskProcessor",
    "AsyncDagTaskProcessor",
    "AsyncDagTaskProcessorBuilder",
    "AsyncDagLevelAdapterBuilder",
    "SdaxExecutionError",
    "flatten_exceptions",
)

PUBLIC_NAMES = [
    *(("sdax", name) for name in (*TOP_LEVEL_NAMES, "__version__")),
    *(
        ("sdax.sdax_core", name)
        for name in (
            "AsyncTaskProcessor",
            "AsyncTaskProcessorBuilder",
            "AsyncDagTaskProcessor",
            "AsyncDagTaskProcessorBuilder",
            "AsyncDagLevelAdapterBuilder",
            "AsyncPhaseRunner",
            "PhaseId",
            "LevelKey",
            "SdaxExecutionError",
            "flatten_exceptions",
            "AsyncTask",
            "TaskFunction",
            "join",
        )
    ),
    *(
        ("sdax.tasks", name)
        for name in (
            "AsyncTask",
            "TaskFunction",
            "RetryableException",
            "SdaxTaskGroup",
            "task",
            "join",
            "task_func",
            "task_group_func",
            "task_group_task",
            "task_sync_func",
        )
    ),
    *(
        ("sdax.sdax_task_analyser", name)
        for name in ("TaskAnalyzer", "TaskAnalysis", "ExecutionGraph", "ExecutionWave")
    ),
]


@dataclass
class Ctx:
    value: int = 0


async def bump(ctx: Ctx) -> None:
    ctx.value += 1


async def bump_with_group(ctx: Ctx, tg: SdaxTaskGroup) -> None:
    ctx.value += 1


# --------------------------------------------------------------------------------------------
# Where the names live
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("module_name", "name"), PUBLIC_NAMES)
def test_public_name_is_importable_from_its_reference_module(module_name: str, name: str) -> None:
    module = importlib.import_module(module_name)
    assert getattr(module, name) is not None


FACES = (
    "sdax",
    "sdax.export",
    "sdax.limits",
    "sdax.observe",
    "sdax.report",
    "sdax.sdax_core",
    "sdax.sdax_task_analyser",
    "sdax.tasks",
)


def _shown() -> dict[str, list[str]]:
    # Every name a face shows (its __all__), with the faces that show it.
    shown: dict[str, list[str]] = {}
    for module_name in FACES:
        for name in importlib.import_module(module_name).__all__:
            shown.setdefault(name, []).append(module_name)
    return shown


SHOWN = _shown()


def test_the_reference_names_are_shown_where_the_reference_shows_them() -> None:
    for module_name, name in PUBLIC_NAMES:
        if name != "__version__":
            assert module_name in SHOWN.get(name, []), (module_name, name)


@pytest.mark.parametrize("name", sorted(n for n, faces in SHOWN.items() if len(faces) > 1))
def test_a_name_shown_by_several_faces_is_the_same_object_in_each(name: str) -> None:
    found = [getattr(importlib.import_module(m), name) for m in SHOWN[name]]
    assert all(obj is found[0] for obj in found), SHOWN[name]


@pytest.mark.parametrize(("module_name", "name"), [(m, n) for n, ms in SHOWN.items() for m in ms])
def test_every_shown_name_is_importable(module_name: str, name: str) -> None:
    assert hasattr(importlib.import_module(module_name), name)


def test_top_level_all_lists_the_public_names() -> None:
    assert set(TOP_LEVEL_NAMES) <= set(sdax.__all__)
    for name in sdax.__all__:
        assert hasattr(sdax, name), name


def test_version_is_a_string_matching_the_distribution() -> None:
    assert isinstance(sdax.__version__, str)
    assert sdax.__version__ == importlib.metadata.version("sdax")


def test_phase_ids_are_three_distinct_enum_members_in_lifecycle_order() -> None:
    assert list(PhaseId) == [PhaseId.PRE_EXEC, PhaseId.EXECUTE, PhaseId.POST_EXEC]
    assert len({PhaseId.PRE_EXEC, PhaseId.EXECUTE, PhaseId.POST_EXEC}) == 3


# --------------------------------------------------------------------------------------------
# Declarations: AsyncTask, TaskFunction and their helpers
# --------------------------------------------------------------------------------------------


def test_async_task_is_a_frozen_dataclass() -> None:
    declared = AsyncTask("A", execute=task_func(bump))
    assert dataclasses.is_dataclass(declared)
    assert declared.name == "A"
    assert declared.pre_execute is None
    assert declared.post_execute is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        assign(declared, "name", "B")
    with pytest.raises(dataclasses.FrozenInstanceError):
        assign(declared, "execute", None)


def test_task_function_is_a_frozen_dataclass() -> None:
    tf = task_func(bump)
    assert dataclasses.is_dataclass(tf)
    with pytest.raises(dataclasses.FrozenInstanceError):
        assign(tf, "retries", 5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        assign(tf, "timeout", 1.0)


def test_task_function_defaults() -> None:
    tf = TaskFunction(bump)
    assert tf.function is bump
    assert tf.timeout is None
    assert tf.retries == 0
    assert tf.initial_delay == 1.0
    assert tf.backoff_factor == 2.0
    assert tf.retryable_exceptions == (TimeoutError, ConnectionError, RetryableException)
    assert tf.has_task_group_argument is False


@pytest.mark.parametrize("helper", [task_func, task_sync_func])
def test_plain_helpers_keep_the_defaults(helper: Any) -> None:
    tf = helper(bump)
    assert tf.timeout is None
    assert tf.retries == 0
    assert tf.initial_delay == 1.0
    assert tf.backoff_factor == 2.0
    assert tf.retryable_exceptions == (TimeoutError, ConnectionError, RetryableException)
    assert tf.has_task_group_argument is False


@pytest.mark.parametrize("helper", [task_group_func, task_group_task])
def test_task_group_helpers_enable_the_group_argument(helper: Any) -> None:
    tf = helper(bump_with_group, retries=2)
    assert tf.function is bump_with_group
    assert tf.has_task_group_argument is True
    assert tf.retries == 2
    assert tf.initial_delay == 1.0
    assert tf.backoff_factor == 2.0


def test_task_func_passes_configuration_through() -> None:
    tf = task_func(
        bump,
        timeout=2.5,
        retries=4,
        initial_delay=0.25,
        backoff_factor=3.0,
        retryable_exceptions=(KeyError,),
    )
    assert (tf.timeout, tf.retries, tf.initial_delay, tf.backoff_factor) == (2.5, 4, 0.25, 3.0)
    assert tf.retryable_exceptions == (KeyError,)


async def test_task_function_built_directly_runs_in_a_processor() -> None:
    processor = (
        AsyncDagTaskProcessor[Ctx, str]
        .builder()
        .add_task(AsyncTask("A", execute=TaskFunction(bump)))
        .build()
    )
    ctx = Ctx()
    await processor.process_tasks(ctx)
    assert ctx.value == 1


def test_task_without_any_function_is_rejected() -> None:
    with pytest.raises(ValueError):
        task("Empty")


def test_task_with_functions_builds_an_async_task() -> None:
    declared = task("A", pre_execute=task_func(bump), post_execute=task_func(bump))
    assert isinstance(declared, AsyncTask)
    assert declared.name == "A"
    assert declared.pre_execute is not None
    assert declared.execute is None
    assert declared.post_execute is not None


def test_join_has_no_phases() -> None:
    node = join("Sync")
    assert isinstance(node, AsyncTask)
    assert node.name == "Sync"
    assert (node.pre_execute, node.execute, node.post_execute) == (None, None, None)


async def test_task_group_functions_receive_an_sdax_task_group() -> None:
    seen: list[bool] = []

    async def record(ctx: Ctx, tg: SdaxTaskGroup) -> None:
        seen.append(isinstance(tg, SdaxTaskGroup))

    processor = (
        AsyncDagTaskProcessor[Ctx, str]
        .builder()
        .add_task(
            AsyncTask(
                "A",
                pre_execute=task_group_func(record),
                execute=task_group_func(record),
                post_execute=task_group_func(record),
            )
        )
        .build()
    )
    await processor.process_tasks(Ctx())
    assert seen == [True, True, True]


def test_retryable_exception_is_an_exception_subclass() -> None:
    # differs from reference: RetryableException is an Exception subclass; the reference
    # derives it from BaseException, so `except Exception` misses it.
    assert issubclass(RetryableException, Exception)
    with pytest.raises(Exception, match="again"):
        raise RetryableException("again")


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def test_execution_error_is_an_exception_group() -> None:
    # The class is a BaseExceptionGroup; an instance whose failures are all
    # Exceptions is also an ExceptionGroup (the pair CPython uses itself).
    assert issubclass(SdaxExecutionError, BaseExceptionGroup)
    error = SdaxExecutionError("run failed", [ValueError("a")])
    assert isinstance(error, ExceptionGroup)
    assert isinstance(error, Exception)
    assert type(error).__name__ == "SdaxExecutionError"
    assert error.message == "run failed"
    assert [str(e) for e in error.exceptions] == ["a"]


def test_execution_error_holding_a_cancelled_error_is_a_base_exception_group() -> None:
    cancelled = asyncio.CancelledError()
    error = SdaxExecutionError("run failed", [ValueError("a"), cancelled])
    assert isinstance(error, SdaxExecutionError)
    assert isinstance(error, BaseExceptionGroup)
    assert not isinstance(error, Exception)
    assert error.exceptions[1] is cancelled
    # except* splits it into groups of the same kind
    values, rest = error.split(ValueError)
    assert isinstance(values, SdaxExecutionError) and isinstance(values, ExceptionGroup)
    assert isinstance(rest, SdaxExecutionError) and not isinstance(rest, Exception)


def test_execution_error_pickles_as_the_public_class() -> None:
    error = SdaxExecutionError("run failed", [ValueError("a")])
    error.add_note("a note")
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, SdaxExecutionError) and isinstance(copy, ExceptionGroup)
    assert copy.message == "run failed" and copy.__notes__ == ["a note"]


def test_leaf_exceptions_and_flatten_walk_nested_groups() -> None:
    a, b, c = ValueError("a"), KeyError("b"), TypeError("c")
    error = SdaxExecutionError(
        "run failed", [a, ExceptionGroup("inner", [b, ExceptionGroup("deeper", [c])])]
    )
    assert {id(e) for e in error.leaf_exceptions()} == {id(a), id(b), id(c)}
    assert len(error.leaf_exceptions()) == 3
    assert {id(e) for e in flatten_exceptions(error)} == {id(a), id(b), id(c)}
    assert len(flatten_exceptions(error)) == 3


def test_flatten_of_a_plain_exception_is_that_exception() -> None:
    error = RuntimeError("alone")
    assert flatten_exceptions(error) == [error]


# --------------------------------------------------------------------------------------------
# Processors and builders
# --------------------------------------------------------------------------------------------


def test_builder_entry_points_return_the_reference_builder_types() -> None:
    assert isinstance(AsyncTaskProcessor.builder(), AsyncDagLevelAdapterBuilder)
    assert isinstance(AsyncTaskProcessor.elevator_builder(), AsyncDagLevelAdapterBuilder)
    assert isinstance(AsyncTaskProcessor.graph_builder(), AsyncDagTaskProcessorBuilder)
    assert isinstance(AsyncDagTaskProcessor.builder(), AsyncDagTaskProcessorBuilder)


async def test_every_builder_builds_a_dag_processor_with_an_analysis() -> None:
    graph = AsyncDagTaskProcessor.builder().add_task(AsyncTask("A", execute=task_func(bump)))
    levels = AsyncTaskProcessor.builder().add_task(AsyncTask("A", execute=task_func(bump)), 0)
    for processor in (graph.build(), levels.build()):
        assert isinstance(processor, AsyncDagTaskProcessor)
        assert isinstance(processor.analysis, TaskAnalysis)
        ctx = Ctx()
        await processor.process_tasks(ctx)
        assert ctx.value == 1


async def test_two_type_arguments_give_a_usable_builder() -> None:
    builder = AsyncDagTaskProcessor[Ctx, str].builder()
    assert isinstance(builder, AsyncDagTaskProcessorBuilder)
    ctx = Ctx()
    await builder.add_task(AsyncTask("A", execute=task_func(bump))).build().process_tasks(ctx)
    assert ctx.value == 1


async def test_one_type_argument_gives_a_usable_builder() -> None:
    # differs from reference: AsyncDagTaskProcessor[Ctx] (one type argument) works; the
    # reference raises TypeError("Too few arguments") on Python 3.11.
    builder = AsyncDagTaskProcessor[Ctx].builder()  # type: ignore[misc]
    assert isinstance(builder, AsyncDagTaskProcessorBuilder)
    ctx = Ctx()
    await builder.add_task(AsyncTask("A", execute=task_func(bump))).build().process_tasks(ctx)
    assert ctx.value == 1


def test_level_can_be_passed_positionally() -> None:
    processor = (
        AsyncTaskProcessor[Ctx, str]
        .builder()
        .add_task(AsyncTask("First", pre_execute=task_func(bump)), 0)
        .add_task(AsyncTask("Second", pre_execute=task_func(bump)), 1)
        .build()
    )
    waves = processor.analysis.pre_execute_graph.waves
    assert [w.tasks for w in waves] == [("First",), ("Second",)]


def test_bare_string_dependency_means_one_task() -> None:
    # differs from reference: depends_on="Database" names the single task "Database"; the
    # reference iterates the string and looks for tasks "D", "a", "t", ...
    processor = (
        AsyncDagTaskProcessor[Ctx, str]
        .builder()
        .add_task(AsyncTask("Database", pre_execute=task_func(bump)))
        .add_task(AsyncTask("Auth", pre_execute=task_func(bump)), depends_on="Database")
        .build()
    )
    assert tuple(processor.analysis.dependencies["Auth"]) == ("Database",)
    assert [w.tasks for w in processor.analysis.pre_execute_graph.waves] == [
        ("Database",),
        ("Auth",),
    ]


def test_builders_keep_built_processors_unchanged() -> None:
    builder = AsyncDagTaskProcessor.builder().add_task(AsyncTask("A", execute=task_func(bump)))
    first = builder.build()
    builder.add_task(AsyncTask("B", execute=task_func(bump)))
    second = builder.build()
    assert first is not second
    assert first.analysis.total_tasks == 1
    assert second.analysis.total_tasks == 2


async def test_open_returns_a_phase_runner() -> None:
    processor = AsyncDagTaskProcessor.builder().add_task(AsyncTask("A", execute=task_func(bump)))
    ctx = Ctx()
    async with processor.build().open(ctx) as runner:
        assert isinstance(runner, AsyncPhaseRunner)
        while await runner.run_next():
            pass
    assert ctx.value == 1


def test_task_analyzer_chains_and_analyzes() -> None:
    analyzer = TaskAnalyzer[Ctx, str]()
    assert analyzer.add_task(AsyncTask("A", execute=task_func(bump))) is analyzer
    analyzer.add_task(AsyncTask("B", execute=task_func(bump)), depends_on=("A",))
    analysis = analyzer.analyze()
    assert isinstance(analysis, TaskAnalysis)
    assert analysis.total_tasks == 2
    assert analysis.dependencies == {"A": (), "B": ("A",)}


def test_task_analyzer_dicts_stay_the_source_of_truth() -> None:
    # As in the reference, tasks and dependencies are plain dicts that code may
    # read, replace or edit between add_task calls; analyze() uses what they hold.
    a, b, c = (AsyncTask(x, execute=task_func(bump)) for x in "ABC")
    analyzer = TaskAnalyzer[Ctx, str](tasks={"A": a}, dependencies={"A": ()})
    analyzer.add_task(b, depends_on=["A"])
    assert analyzer.tasks == {"A": a, "B": b}
    assert analyzer.dependencies == {"A": (), "B": ("A",)}
    analyzer.dependencies["A"] = ("B",)  # an edit that makes a cycle
    with pytest.raises(ValueError, match="Cycle detected"):
        analyzer.analyze()
    analyzer.dependencies = {"B": ("A",)}
    analyzer.add_task(c, depends_on="B")
    analyzer.tasks.pop("A")
    analyzer.tasks["A"] = a  # now declared last
    analysis = analyzer.analyze()
    assert list(analysis.tasks) == ["B", "C", "A"]
    assert analysis.dependencies == {"B": ("A",), "C": ("B",), "A": ()}
    assert analysis.topological_order == ("A", "B", "C")
    assert analyzer == TaskAnalyzer(dict(analyzer.tasks), dict(analyzer.dependencies))
    assert "dependencies={'B': ('A',), 'C': ('B',)}" in repr(analyzer)


def test_task_analyzer_tasks_dict_sees_later_add_task_calls() -> None:
    # Once code holds the tasks dict, add_task writes into that very dict.
    a, b, c = (AsyncTask(x, execute=task_func(bump)) for x in "ABC")
    analyzer = TaskAnalyzer[Ctx, str]()
    analyzer.add_task(a)
    held = analyzer.tasks
    analyzer.add_task(b, depends_on="A")
    assert held == {"A": a, "B": b}
    held["C"] = c  # declared straight into the dict, after B
    with pytest.raises(ValueError, match="Task 'C' already exists"):
        analyzer.add_task(AsyncTask("C", execute=task_func(bump)))
    analysis = analyzer.analyze()
    assert list(analysis.tasks) == ["A", "B", "C"]
    assert analysis.dependencies == {"A": (), "B": ("A",), "C": ()}


def test_task_analyzer_keeps_duplicates_out_across_a_dependencies_read() -> None:
    # Reading the dependencies moves the tasks added so far into the tasks dict;
    # names from before and after that read are still checked for duplicates.
    tasks = [AsyncTask(x, execute=task_func(bump)) for x in "ABCD"]
    analyzer = TaskAnalyzer[Ctx, str]()
    analyzer.add_task(tasks[0]).add_task(tasks[1], depends_on="A")
    assert analyzer.dependencies == {"A": (), "B": ("A",)}
    analyzer.add_task(tasks[2], depends_on=("A", "B"))
    for name in "ABC":
        with pytest.raises(ValueError, match=f"Task '{name}' already exists"):
            analyzer.add_task(AsyncTask(name, execute=task_func(bump)))
    analyzer.add_task(tasks[3], depends_on="C")
    analysis = analyzer.analyze()
    assert list(analysis.tasks.values()) == tasks
    assert analysis.dependencies == {"A": (), "B": ("A",), "C": ("A", "B"), "D": ("C",)}
    assert analyzer.tasks == dict(zip("ABCD", tasks, strict=True))


def test_task_analyzer_analysis_is_not_changed_by_later_add_task() -> None:
    a, b = (AsyncTask(x, execute=task_func(bump)) for x in "AB")
    analyzer = TaskAnalyzer[Ctx, str]()
    first = analyzer.add_task(a).analyze()
    analyzer.add_task(b, depends_on="A")
    second = analyzer.analyze()
    third = analyzer.add_task(AsyncTask("C", execute=task_func(bump))).analyze()
    assert list(first.tasks) == ["A"]
    assert first.dependencies == {"A": ()}
    assert first.total_tasks == 1
    assert second.dependencies == {"A": (), "B": ("A",)}
    assert list(third.tasks) == ["A", "B", "C"]


def test_task_analyzer_tasks_can_be_replaced() -> None:
    a, b, c = (AsyncTask(x, execute=task_func(bump)) for x in "ABC")
    analyzer = TaskAnalyzer[Ctx, str]()
    analyzer.add_task(a).add_task(b, depends_on="A")
    analyzer.tasks = {"B": b}
    analyzer.add_task(c, depends_on="B")
    with pytest.raises(ValueError, match="Task 'B' already exists"):
        analyzer.add_task(b)
    analyzer.add_task(a)  # "A" left with the old dict
    analysis = analyzer.analyze()
    assert list(analysis.tasks) == ["B", "C", "A"]
    assert analysis.dependencies == {"B": ("A",), "C": ("B",), "A": ()}


# --------------------------------------------------------------------------------------------
# Public classes are plain Python classes: tests and applications can patch them
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "attribute"),
    [
        (AsyncDagTaskProcessor, "builder"),
        (AsyncDagTaskProcessor, "process_tasks"),
        (AsyncDagTaskProcessor, "open"),
        (AsyncTaskProcessor, "builder"),
        (AsyncDagTaskProcessorBuilder, "add_task"),
        (AsyncDagTaskProcessorBuilder, "build"),
        (AsyncDagLevelAdapterBuilder, "add_task"),
        (AsyncDagLevelAdapterBuilder, "build"),
        (AsyncPhaseRunner, "run_next"),
        (TaskAnalyzer, "analyze"),
        (TaskAnalysis, "pre_wave_containing"),
    ],
)
def test_public_class_attribute_can_be_monkeypatched_and_restored(
    monkeypatch: pytest.MonkeyPatch, cls: type[Any], attribute: str
) -> None:
    original = inspect.getattr_static(cls, attribute)
    replacement = staticmethod(lambda *args, **kwargs: "patched")
    monkeypatch.setattr(cls, attribute, replacement)
    assert inspect.getattr_static(cls, attribute) is replacement
    assert getattr(cls, attribute)() == "patched"
    monkeypatch.undo()
    assert inspect.getattr_static(cls, attribute) is original


def test_patched_builder_is_used_by_callers(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_builder = AsyncDagTaskProcessor.builder

    def spying_builder() -> Any:
        calls.append("builder")
        return real_builder()

    monkeypatch.setattr(AsyncDagTaskProcessor, "builder", staticmethod(spying_builder))
    builder = AsyncDagTaskProcessor.builder()
    assert calls == ["builder"]
    assert isinstance(builder, AsyncDagTaskProcessorBuilder)

    monkeypatch.undo()
    AsyncDagTaskProcessor.builder()
    assert calls == ["builder"]


async def test_patched_process_tasks_is_used_by_built_processors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[Any] = []

    async def fake_process_tasks(self: Any, ctx: Any) -> None:
        seen.append(ctx)

    processor = AsyncDagTaskProcessor.builder().add_task(AsyncTask("A", execute=task_func(bump)))
    built = processor.build()
    monkeypatch.setattr(AsyncDagTaskProcessor, "process_tasks", fake_process_tasks)
    ctx = Ctx()
    await built.process_tasks(ctx)
    assert seen == [ctx]
    assert ctx.value == 0

    monkeypatch.undo()
    await built.process_tasks(ctx)
    assert ctx.value == 1
