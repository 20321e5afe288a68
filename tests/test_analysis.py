"""The analysis of a task graph: pre and post waves, statistics and orders.

The expectations were read off the reference (sdax 0.7.1) on small graphs with string names:

- a pre wave groups the tasks that have a pre_execute and IDENTICAL effective predecessor
  sets, where "effective" looks through tasks without a pre_execute (joins, execute-only or
  post-only tasks) to the nearest predecessors that have one;
- waves are numbered by their index in ``waves``, in the order in which their first task
  appears in the topological order; wave 0 is the one without dependencies;
- task names inside a wave and ``depends_on_tasks`` are sorted;
- the post graph mirrors this on the reversed graph, over the tasks with a post_execute;
- ``topological_order`` is Kahn's order with a first-in-first-out queue, declaration order
  breaking ties.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Hashable, Sequence
from typing import Any

import pytest
from _support import assign, build_dag, csr, random_dag

from sdax import (
    AsyncDagTaskProcessor,
    AsyncTask,
    AsyncTaskProcessor,
    TaskFunction,
    join,
    task_func,
)
from sdax._kernels import core
from sdax.sdax_task_analyser import ExecutionGraph, ExecutionWave, TaskAnalysis, TaskAnalyzer

WaveShape = tuple[int, tuple[Hashable, ...], tuple[Hashable, ...]]


async def noop(ctx: None) -> None:
    pass


def phase(enabled: bool) -> TaskFunction[None] | None:
    return task_func(noop) if enabled else None


def make(
    name: Hashable, *, pre: bool = False, ex: bool = False, post: bool = False
) -> AsyncTask[None, Hashable]:
    return AsyncTask(name, pre_execute=phase(pre), execute=phase(ex), post_execute=phase(post))


def analyze(
    *declarations: tuple[AsyncTask[None, Hashable], Sequence[Hashable]],
) -> TaskAnalysis[None, Hashable]:
    analyzer = TaskAnalyzer[None, Hashable]()
    for declared, depends_on in declarations:
        analyzer.add_task(declared, depends_on=tuple(depends_on))
    return analyzer.analyze()


def shape(graph: ExecutionGraph[Any]) -> list[WaveShape]:
    return [(w.wave_num, tuple(w.tasks), tuple(w.depends_on_tasks)) for w in graph.waves]


def assert_well_numbered(graph: ExecutionGraph[Any]) -> None:
    for index, wave in enumerate(graph.waves):
        assert wave.wave_num == index
    roots = [w for w in graph.waves if not w.depends_on_tasks]
    if graph.waves:
        assert roots == [graph.waves[0]]


# --------------------------------------------------------------------------------------------
# Pre and post waves on small graphs
# --------------------------------------------------------------------------------------------


def test_chain_gives_one_wave_per_task_both_ways() -> None:
    analysis = analyze(
        (make("A", pre=True, ex=True, post=True), ()),
        (make("B", pre=True, ex=True, post=True), ("A",)),
        (make("C", pre=True, ex=True, post=True), ("B",)),
    )
    assert shape(analysis.pre_execute_graph) == [
        (0, ("A",), ()),
        (1, ("B",), ("A",)),
        (2, ("C",), ("B",)),
    ]
    assert shape(analysis.post_execute_graph) == [
        (0, ("C",), ()),
        (1, ("B",), ("C",)),
        (2, ("A",), ("B",)),
    ]
    assert analysis.topological_order == ("A", "B", "C")
    assert analysis.execute_task_names == ("A", "B", "C")
    assert (analysis.total_tasks, analysis.nodes) == (3, 0)
    assert analysis.tasks_with_pre_execute == 3
    assert analysis.tasks_with_execute == 3
    assert analysis.tasks_with_post_execute == 3


def test_diamond_groups_the_two_middle_tasks() -> None:
    analysis = analyze(
        (make("A", pre=True, post=True), ()),
        (make("B", pre=True, post=True), ("A",)),
        (make("C", pre=True, post=True), ("A",)),
        (make("D", pre=True, post=True), ("B", "C")),
    )
    assert shape(analysis.pre_execute_graph) == [
        (0, ("A",), ()),
        (1, ("B", "C"), ("A",)),
        (2, ("D",), ("B", "C")),
    ]
    assert shape(analysis.post_execute_graph) == [
        (0, ("D",), ()),
        (1, ("B", "C"), ("D",)),
        (2, ("A",), ("B", "C")),
    ]
    assert analysis.tasks_with_execute == 0
    assert analysis.execute_task_names == ()


def test_pre_waves_look_through_a_join_node() -> None:
    analysis = analyze(
        (make("A", pre=True, post=True), ()),
        (make("B", pre=True, post=True), ()),
        (join("J"), ("A", "B")),
        (make("C", pre=True, post=True), ("J",)),
        (make("D", pre=True), ("A", "B")),
    )
    # C (behind the join) and D (directly) have the same effective predecessors.
    assert shape(analysis.pre_execute_graph) == [(0, ("A", "B"), ()), (1, ("C", "D"), ("A", "B"))]
    assert shape(analysis.post_execute_graph) == [(0, ("C",), ()), (1, ("A", "B"), ("C",))]
    assert analysis.pre_wave_containing("J") is None
    assert analysis.post_wave_containing("J") is None
    assert analysis.post_wave_containing("D") is None
    assert analysis.nodes == 1
    assert analysis.total_tasks == 5
    assert analysis.tasks_with_pre_execute == 4
    assert analysis.tasks_with_post_execute == 3
    # FIFO Kahn: J and D become ready together (declaration order), C only after J.
    assert analysis.topological_order == ("A", "B", "J", "D", "C")


def test_pre_waves_look_through_an_execute_only_task() -> None:
    analysis = analyze(
        (make("A", pre=True, post=True), ()),
        (make("X", ex=True), ("A",)),
        (make("C", pre=True, post=True), ("X",)),
        (make("D", pre=True), ("A",)),
    )
    assert shape(analysis.pre_execute_graph) == [(0, ("A",), ()), (1, ("C", "D"), ("A",))]
    assert shape(analysis.post_execute_graph) == [(0, ("C",), ()), (1, ("A",), ("C",))]
    assert analysis.execute_task_names == ("X",)
    assert analysis.pre_wave_containing("X") is None
    assert analysis.nodes == 0
    assert analysis.topological_order == ("A", "X", "D", "C")


def test_post_only_tasks_appear_only_in_the_post_graph() -> None:
    analysis = analyze(
        (make("A", pre=True, post=True), ()),
        (make("P", post=True), ("A",)),
        (make("Q", post=True), ("P",)),
        (make("R", pre=True, ex=True), ("A",)),
    )
    assert shape(analysis.pre_execute_graph) == [(0, ("A",), ()), (1, ("R",), ("A",))]
    assert shape(analysis.post_execute_graph) == [
        (0, ("Q",), ()),
        (1, ("P",), ("Q",)),
        (2, ("A",), ("P",)),
    ]
    assert analysis.pre_wave_containing("P") is None
    assert analysis.pre_wave_containing("Q") is None
    assert analysis.post_wave_containing("R") is None
    assert analysis.tasks_with_pre_execute == 2
    assert analysis.tasks_with_execute == 1
    assert analysis.tasks_with_post_execute == 3
    assert analysis.execute_task_names == ("R",)
    assert analysis.topological_order == ("A", "P", "R", "Q")


def test_post_waves_look_through_tasks_without_post() -> None:
    analysis = analyze(
        (make("A", pre=True, post=True), ()),
        (make("B", ex=True, post=True), ("A",)),
        (make("C", pre=True), ("A",)),
        (make("D", post=True), ("B", "C")),
    )
    assert shape(analysis.pre_execute_graph) == [(0, ("A",), ()), (1, ("C",), ("A",))]
    # A's cleanup waits for B (a direct dependent) and for D, reached through C.
    assert shape(analysis.post_execute_graph) == [
        (0, ("D",), ()),
        (1, ("B",), ("D",)),
        (2, ("A",), ("B", "D")),
    ]
    post_a = analysis.post_wave_containing("A")
    assert post_a is not None
    assert post_a.wave_num == 2


def test_tasks_at_the_same_depth_with_different_predecessors_get_separate_waves() -> None:
    analysis = analyze(
        (make("Z", pre=True), ()),
        (make("M", pre=True), ()),
        (make("B", pre=True), ("Z",)),
        (make("A", pre=True), ("M",)),
        (make("C", pre=True), ("M", "Z")),
    )
    assert shape(analysis.pre_execute_graph) == [
        (0, ("M", "Z"), ()),
        (1, ("B",), ("Z",)),
        (2, ("A",), ("M",)),
        (3, ("C",), ("M", "Z")),
    ]
    assert analysis.topological_order == ("Z", "M", "B", "A", "C")
    assert analysis.post_execute_graph.waves == ()


def test_waves_are_numbered_in_topological_order_not_declaration_order() -> None:
    analysis = analyze(
        (make("A", pre=True), ()),
        (make("B", pre=True), ()),
        (make("X", pre=True), ("B",)),
        (make("Y", pre=True), ("A",)),
        (make("W", pre=True), ("Y",)),
    )
    # Y becomes ready (after A) before X (after B), although X is declared first.
    assert analysis.topological_order == ("A", "B", "Y", "X", "W")
    assert shape(analysis.pre_execute_graph) == [
        (0, ("A", "B"), ()),
        (1, ("Y",), ("A",)),
        (2, ("X",), ("B",)),
        (3, ("W",), ("Y",)),
    ]
    wave_of_x = analysis.pre_wave_containing("X")
    assert wave_of_x is not None
    assert wave_of_x.wave_num == 2


def test_names_inside_waves_and_dependency_lists_are_sorted() -> None:
    analysis = analyze(
        (make("Charlie", pre=True, post=True), ()),
        (make("Bravo", pre=True, post=True), ()),
        (make("Alpha", pre=True, post=True), ()),
        (make("Zulu", pre=True, post=True), ("Charlie", "Alpha", "Bravo")),
        (make("Yankee", pre=True, post=True), ("Bravo", "Alpha", "Charlie")),
    )
    assert shape(analysis.pre_execute_graph) == [
        (0, ("Alpha", "Bravo", "Charlie"), ()),
        (1, ("Yankee", "Zulu"), ("Alpha", "Bravo", "Charlie")),
    ]
    assert shape(analysis.post_execute_graph) == [
        (0, ("Yankee", "Zulu"), ()),
        (1, ("Alpha", "Bravo", "Charlie"), ("Yankee", "Zulu")),
    ]
    # dependencies keep what was declared, in the declared order.
    assert analysis.dependencies["Zulu"] == ("Charlie", "Alpha", "Bravo")
    assert analysis.topological_order == ("Charlie", "Bravo", "Alpha", "Zulu", "Yankee")


def test_dependency_declared_after_its_dependent_is_accepted() -> None:
    analysis = analyze(
        (make("X", pre=True), ("A",)),
        (make("A", pre=True), ()),
    )
    assert analysis.topological_order == ("A", "X")
    assert shape(analysis.pre_execute_graph) == [(0, ("A",), ()), (1, ("X",), ("A",))]
    assert list(analysis.dependencies) == ["X", "A"]


def test_graph_without_pre_or_post_has_no_waves() -> None:
    analysis = analyze((make("A", ex=True), ()), (make("B", ex=True), ("A",)))
    assert analysis.pre_execute_graph.waves == ()
    assert analysis.post_execute_graph.waves == ()
    assert analysis.pre_wave_containing("A") is None
    assert analysis.post_wave_containing("B") is None
    assert analysis.execute_task_names == ("A", "B")
    assert analysis.topological_order == ("A", "B")


def test_empty_graph() -> None:
    analysis = AsyncDagTaskProcessor.builder().build().analysis
    assert analysis.total_tasks == 0
    assert analysis.nodes == 0
    assert analysis.pre_execute_graph.waves == ()
    assert analysis.post_execute_graph.waves == ()
    assert analysis.topological_order == ()
    assert analysis.execute_task_names == ()


def test_wave_numbers_are_indexes_and_wave_zero_is_the_only_root() -> None:
    graphs = [
        analyze(
            (make("A", pre=True, post=True), ()),
            (make("B", pre=True, post=True), ("A",)),
            (make("C", pre=True, post=True), ("A",)),
            (make("D", pre=True, post=True), ("B",)),
            (make("E", pre=True, post=True), ("C", "D")),
        ),
        analyze(
            (make("R", ex=True), ()),
            (make("S", pre=True, post=True), ("R",)),
            (make("T", pre=True, post=True), ("R",)),
            (join("J"), ("S", "T")),
            (make("U", pre=True, post=True), ("J",)),
            (make("V", pre=True), ("S",)),
        ),
    ]
    for analysis in graphs:
        assert_well_numbered(analysis.pre_execute_graph)
        assert_well_numbered(analysis.post_execute_graph)
        for name, declared in analysis.tasks.items():
            wave = analysis.pre_wave_containing(name)
            if declared.pre_execute is None:
                assert wave is None
            else:
                assert wave is not None
                assert name in wave.tasks
                assert wave == analysis.pre_execute_graph.waves[wave.wave_num]
            post_wave = analysis.post_wave_containing(name)
            if declared.post_execute is None:
                assert post_wave is None
            else:
                assert post_wave is not None
                assert name in post_wave.tasks
                assert post_wave == analysis.post_execute_graph.waves[post_wave.wave_num]


def test_graph_wave_containing_matches_the_analysis_lookup() -> None:
    analysis = analyze(
        (make("A", pre=True, post=True), ()),
        (make("B", pre=True, post=True), ("A",)),
    )
    assert analysis.pre_execute_graph.wave_containing("B") == analysis.pre_wave_containing("B")
    assert analysis.post_execute_graph.wave_containing("B") == analysis.post_wave_containing("B")
    assert analysis.pre_execute_graph.wave_containing("missing") is None


# --------------------------------------------------------------------------------------------
# Statistics, task table, dependencies
# --------------------------------------------------------------------------------------------


def test_statistics_count_each_phase_and_the_function_less_nodes() -> None:
    analysis = analyze(
        (make("Full", pre=True, ex=True, post=True), ()),
        (make("PreOnly", pre=True), ()),
        (make("ExecOnly", ex=True), ("Full",)),
        (make("PostOnly", post=True), ("Full",)),
        (join("Sync1"), ("PreOnly", "ExecOnly")),
        (join("Sync2"), ("Sync1",)),
    )
    assert analysis.total_tasks == 6
    assert analysis.tasks_with_pre_execute == 2
    assert analysis.tasks_with_execute == 2
    assert analysis.tasks_with_post_execute == 2
    assert analysis.nodes == 2
    assert analysis.execute_task_names == ("ExecOnly", "Full")


def test_tasks_and_dependencies_keep_the_declarations() -> None:
    first = make("First", pre=True)
    second = make("Second", ex=True)
    analysis = analyze((first, ()), (second, ("First",)))
    assert analysis.tasks["First"] is first
    assert analysis.tasks["Second"] is second
    assert list(analysis.tasks) == ["First", "Second"]
    assert analysis.dependencies == {"First": (), "Second": ("First",)}


def test_processor_exposes_the_same_analysis_as_the_analyzer() -> None:
    processor = build_dag(
        make("A", pre=True, post=True),
        (make("B", pre=True, post=True), ("A",)),
    )
    direct = analyze((make("A", pre=True, post=True), ()), (make("B", pre=True, post=True), ("A",)))
    assert shape(processor.analysis.pre_execute_graph) == shape(direct.pre_execute_graph)
    assert shape(processor.analysis.post_execute_graph) == shape(direct.post_execute_graph)
    assert processor.analysis.topological_order == direct.topological_order


# --------------------------------------------------------------------------------------------
# The level adapter
# --------------------------------------------------------------------------------------------


def test_level_adapter_builds_waves_from_levels() -> None:
    processor = (
        AsyncTaskProcessor.builder()
        .add_task(make("A", pre=True, ex=True, post=True), level=0)
        .add_task(make("B", pre=True, post=True), level=0)
        .add_task(make("C", pre=True, ex=True), level=1)
        .add_task(make("D", ex=True, post=True), level=1)
        .add_task(make("E", pre=True, post=True), level=3)
        .build()
    )
    analysis = processor.analysis
    assert shape(analysis.pre_execute_graph) == [
        (0, ("A", "B"), ()),
        (1, ("C",), ("A", "B")),
        (2, ("E",), ("A", "B", "C")),
    ]
    assert shape(analysis.post_execute_graph) == [
        (0, ("E",), ()),
        (1, ("D",), ("E",)),
        (2, ("A", "B"), ("D", "E")),
    ]
    assert analysis.execute_task_names == ("A", "C", "D")
    assert analysis.tasks_with_pre_execute == 4
    assert analysis.tasks_with_execute == 3
    assert analysis.tasks_with_post_execute == 4
    # Two function-less nodes (an entry and an exit) per level that holds tasks.
    user_names = {"A", "B", "C", "D", "E"}
    assert analysis.nodes == 6
    assert analysis.total_tasks == 11
    extra = [name for name in analysis.tasks if name not in user_names]
    assert len(extra) == 6
    level_markers = set()
    for name in extra:
        assert isinstance(name, tuple)
        level_markers.add(name[:2])
        declared = analysis.tasks[name]
        assert (declared.pre_execute, declared.execute, declared.post_execute) == (None, None, None)
    assert level_markers == {(lvl, side) for lvl in (0, 1, 3) for side in ("below", "above")}


# --------------------------------------------------------------------------------------------
# Mixed key types
# --------------------------------------------------------------------------------------------


def test_mixed_key_types_list_wave_members_in_declaration_order() -> None:
    # reference crashes here
    # differs from reference: mixed key types work; names that cannot be compared are listed in
    # declaration order instead of sorted order.
    analysis = analyze(
        (make("root", pre=True, post=True), ()),
        (make(("db", "connect"), pre=True, post=True), ()),
        (make(7, pre=True, post=True), ()),
        (make(("cache", 1), pre=True, post=True), ("root", ("db", "connect"), 7)),
        (make("leaf", pre=True, post=True), ("root", ("db", "connect"), 7)),
        (make(frozenset({"x"}), ex=True), ("leaf",)),
    )
    assert shape(analysis.pre_execute_graph) == [
        (0, ("root", ("db", "connect"), 7), ()),
        (1, (("cache", 1), "leaf"), ("root", ("db", "connect"), 7)),
    ]
    assert shape(analysis.post_execute_graph) == [
        (0, (("cache", 1), "leaf"), ()),
        (1, ("root", ("db", "connect"), 7), (("cache", 1), "leaf")),
    ]
    wave = analysis.pre_wave_containing(7)
    assert wave is not None
    assert wave.wave_num == 0
    assert analysis.topological_order == (
        "root",
        ("db", "connect"),
        7,
        ("cache", 1),
        "leaf",
        frozenset({"x"}),
    )
    assert analysis.execute_task_names == (frozenset({"x"}),)
    assert analysis.total_tasks == 6


async def test_mixed_key_types_run_end_to_end() -> None:
    # reference crashes here
    # differs from reference: mixed key types work.
    log: list[Hashable] = []

    def record(name: Hashable) -> TaskFunction[None]:
        async def run(ctx: None) -> None:
            log.append(name)

        return task_func(run)

    processor = (
        AsyncDagTaskProcessor[None, Hashable]
        .builder()
        .add_task(AsyncTask("text", pre_execute=record("text")), depends_on=())
        .add_task(AsyncTask(3, pre_execute=record(3)), depends_on=())
        .add_task(AsyncTask(("t", 1), pre_execute=record(("t", 1))), depends_on=("text", 3))
        .build()
    )
    await processor.process_tasks(None)
    assert set(log[:2]) == {3, "text"}
    assert log[2] == ("t", 1)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def test_cycle_is_rejected() -> None:
    with pytest.raises(ValueError, match="Cycle detected"):
        analyze((make("A", pre=True), ("B",)), (make("B", pre=True), ("A",)))


def test_self_dependency_is_a_cycle() -> None:
    with pytest.raises(ValueError, match="Cycle detected"):
        analyze((make("A", pre=True), ("A",)))


def test_missing_dependency_is_rejected() -> None:
    with pytest.raises(ValueError, match="non-existent task"):
        analyze((make("A", pre=True), ("Ghost",)))


def test_duplicate_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="already exists"):
        analyze((make("A", pre=True), ()), (make("A", ex=True), ()))


def test_builder_validates_at_build_time() -> None:
    with pytest.raises(ValueError, match="Cycle detected"):
        (
            AsyncDagTaskProcessor.builder()
            .add_task(make("A", pre=True), depends_on=("B",))
            .add_task(make("B", pre=True), depends_on=("A",))
            .build()
        )
    with pytest.raises(ValueError, match="non-existent task"):
        AsyncDagTaskProcessor.builder().add_task(make("A", pre=True), depends_on=("B",)).build()


# --------------------------------------------------------------------------------------------
# Representation and immutability
# --------------------------------------------------------------------------------------------


def test_reprs_are_readable_and_name_the_tasks() -> None:
    analysis = analyze(
        (make("Alpha", pre=True, post=True), ()),
        (make("Bravo", pre=True, post=True), ("Alpha",)),
    )
    wave = analysis.pre_execute_graph.waves[1]
    assert isinstance(wave, ExecutionWave)
    assert "Bravo" in repr(wave)
    assert "Alpha" in repr(wave)  # the wave's dependency
    graph_text = repr(analysis.pre_execute_graph)
    assert "Alpha" in graph_text
    assert "Bravo" in graph_text
    analysis_text = repr(analysis)
    assert "Alpha" in analysis_text
    assert "Bravo" in analysis_text
    for text in (repr(wave), graph_text, analysis_text):
        assert " object at 0x" not in text


def test_analysis_and_waves_are_frozen() -> None:
    analysis = analyze(
        (make("A", pre=True, post=True), ()),
        (make("B", pre=True, post=True), ("A",)),
    )
    wave = analysis.pre_execute_graph.waves[0]
    attempts: list[tuple[object, str, object]] = [
        (analysis, "total_tasks", 99),
        (analysis, "pre_execute_graph", analysis.post_execute_graph),
        (wave, "tasks", ("Z",)),
        (wave, "wave_num", 5),
        (analysis.pre_execute_graph, "waves", ()),
    ]
    for obj, attribute, value in attempts:
        with pytest.raises(AttributeError):
            assign(obj, attribute, value)
    assert analysis.total_tasks == 2
    assert wave.tasks == ("A",)
    # Where they are dataclasses, they are frozen ones.
    for obj, field_name in (
        (analysis, "nodes"),
        (wave, "depends_on_tasks"),
        (analysis.pre_execute_graph, "waves"),
    ):
        if dataclasses.is_dataclass(obj):
            with pytest.raises(dataclasses.FrozenInstanceError):
                assign(obj, field_name, None)


# --------------------------------------------------------------------------------------------
# Declaration order as the walk: the same analysis as the topological walk
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_graphs_declared_dependencies_first_analyze_as_with_the_topological_walk(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    # When every task comes after its dependencies the plan walks declaration
    # order; forcing it back onto the topological order must change nothing.
    rng = random.Random(seed)
    n = rng.randint(1, 60)
    deps = random_dag(rng, n, fan_in=[0, 1, 2, 3, 5])
    declarations = [
        (
            make(f"t{v}", pre=rng.random() < 0.7, ex=True, post=rng.random() < 0.7),
            [f"t{u}" for u in deps[v]],
        )
        for v in range(n)
    ]
    assert core.forward_order(n, *csr(deps)) is not None
    natural = analyze(*declarations)
    monkeypatch.setattr(core, "forward_order", lambda *args: None)  # the module Plan uses
    walked = analyze(*declarations)
    assert shape(natural.pre_execute_graph) == shape(walked.pre_execute_graph)
    assert shape(natural.post_execute_graph) == shape(walked.post_execute_graph)
    assert natural.topological_order == walked.topological_order
