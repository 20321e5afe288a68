"""sdax.export: plan text, Mermaid and DOT, checked against exact expected output."""

from __future__ import annotations

from typing import Any

import pytest
from _support import build_dag

from sdax import AsyncDagTaskProcessor, AsyncTask, AsyncTaskProcessor, join, task_func
from sdax.export import (
    FORMATS,
    PlanNode,
    plan_dot,
    plan_mermaid,
    plan_nodes,
    plan_text,
    render_plan,
)
from sdax.sdax_core import AsyncDagLevelAdapterBuilder, AsyncDagTaskProcessorBuilder


async def _fn(ctx: object) -> None:
    return None


def _graph_builder() -> AsyncDagTaskProcessorBuilder[Any, Any]:
    """Mixed keys: a string, a tuple, a join, and a name that needs escaping."""
    f = task_func(_fn)
    return (
        AsyncDagTaskProcessor.builder()
        .add_task(AsyncTask("db", pre_execute=f, post_execute=f))
        .add_task(AsyncTask(("user", 42), pre_execute=f, execute=f), depends_on=("db",))
        .add_task(AsyncTask(7, pre_execute=f), depends_on=("db",))
        .add_task(join("ready"), depends_on=(("user", 42), 7))
        .add_task(AsyncTask('say "hi" #1 <b>\\', execute=f, post_execute=f), depends_on=("ready",))
    )


def _level_builder() -> AsyncDagLevelAdapterBuilder[Any]:
    f = task_func(_fn)
    return (
        AsyncTaskProcessor.builder()
        .add_task(AsyncTask("db", pre_execute=f, post_execute=f), level=0)
        .add_task(AsyncTask("auth", pre_execute=f), level=1)
        .add_task(AsyncTask(("flags", 1), pre_execute=f), level=1)
        .add_task(AsyncTask("fetch", execute=f), level=2)
    )


GRAPH_TEXT = """\
Plan: 5 nodes (3 with pre_execute, 2 with execute, 2 with post_execute, 1 without functions)

Nodes, dependencies first:
  db                pre, post
  ('user', 42)      pre, execute   after db
  7                 pre            after db
  ready             join           after ('user', 42), 7
  say "hi" #1 <b>\\  execute, post  after ready

pre_execute: 2 waves
  wave 0: db
  wave 1: ('user', 42), 7  (after db)
execute: 2 tasks
  ('user', 42), say "hi" #1 <b>\\
post_execute: 2 waves
  wave 0: say "hi" #1 <b>\\
  wave 1: db  (after say "hi" #1 <b>\\)"""

GRAPH_MERMAID = """\
flowchart TD
    n0["db<br/>pre, post"]
    n1["('user', 42)<br/>pre, execute"]
    n2["7<br/>pre"]
    n3(("ready"))
    n4["say #quot;hi#quot; #35;1 #lt;b#gt;\\<br/>execute, post"]
    n0 --> n1
    n0 --> n2
    n1 --> n3
    n2 --> n3
    n3 --> n4
    classDef join fill:#f4f4f4,stroke:#888
    class n3 join"""

GRAPH_DOT = """\
digraph "sdax_plan" {
    rankdir=TB;
    node [shape=box, style=rounded, fontname="Helvetica"];
    n0 [label="db\\npre, post"];
    n1 [label="('user', 42)\\npre, execute"];
    n2 [label="7\\npre"];
    n3 [label="ready", shape=ellipse];
    n4 [label="say \\"hi\\" #1 <b>\\\\\\nexecute, post"];
    n0 -> n1;
    n0 -> n2;
    n1 -> n3;
    n2 -> n3;
    n3 -> n4;
}"""

LEVEL_TEXT = """\
Plan: 10 nodes (3 with pre_execute, 1 with execute, 1 with post_execute, 6 without functions)

Nodes, dependencies first:
  <level 0 start>  level start
  db               pre, post    after <level 0 start>
  <level 0 end>    level end    after db
  <level 1 start>  level start  after <level 0 end>
  auth             pre          after <level 1 start>
  ('flags', 1)     pre          after <level 1 start>
  <level 1 end>    level end    after auth, ('flags', 1)
  <level 2 start>  level start  after <level 1 end>
  fetch            execute      after <level 2 start>
  <level 2 end>    level end    after fetch

pre_execute: 2 waves
  wave 0: db
  wave 1: auth, ('flags', 1)  (after db)
execute: 1 task
  fetch
post_execute: 1 wave
  wave 0: db"""

LEVEL_MERMAID = """\
flowchart LR
    n0(["level 0 start"])
    n1["db<br/>pre, post"]
    n2(["level 0 end"])
    n3(["level 1 start"])
    n4["auth<br/>pre"]
    n5["('flags', 1)<br/>pre"]
    n6(["level 1 end"])
    n7(["level 2 start"])
    n8["fetch<br/>execute"]
    n9(["level 2 end"])
    n0 --> n1
    n1 --> n2
    n2 --> n3
    n3 --> n4
    n3 --> n5
    n4 --> n6
    n5 --> n6
    n6 --> n7
    n7 --> n8
    n8 --> n9
    classDef level fill:#ffffff,stroke:#888,stroke-dasharray:4 3
    class n0,n2,n3,n6,n7,n9 level"""

LEVEL_DOT = """\
digraph "levels" {
    rankdir=TB;
    node [shape=box, style=rounded, fontname="Helvetica"];
    n0 [label="level 0 start", style="rounded,dashed", fontsize=10];
    n1 [label="db\\npre, post"];
    n2 [label="level 0 end", style="rounded,dashed", fontsize=10];
    n3 [label="level 1 start", style="rounded,dashed", fontsize=10];
    n4 [label="auth\\npre"];
    n5 [label="('flags', 1)\\npre"];
    n6 [label="level 1 end", style="rounded,dashed", fontsize=10];
    n7 [label="level 2 start", style="rounded,dashed", fontsize=10];
    n8 [label="fetch\\nexecute"];
    n9 [label="level 2 end", style="rounded,dashed", fontsize=10];
    n0 -> n1;
    n1 -> n2;
    n2 -> n3;
    n3 -> n4;
    n3 -> n5;
    n4 -> n6;
    n5 -> n6;
    n6 -> n7;
    n7 -> n8;
    n8 -> n9;
}"""


def test_graph_builder_text() -> None:
    assert plan_text(_graph_builder().build()) == GRAPH_TEXT


def test_graph_builder_mermaid() -> None:
    assert plan_mermaid(_graph_builder().build()) == GRAPH_MERMAID


def test_graph_builder_dot() -> None:
    assert plan_dot(_graph_builder().build()) == GRAPH_DOT


def test_level_builder_text() -> None:
    assert plan_text(_level_builder().build()) == LEVEL_TEXT


def test_level_builder_mermaid() -> None:
    assert plan_mermaid(_level_builder().build(), direction="LR") == LEVEL_MERMAID


def test_level_builder_dot() -> None:
    assert plan_dot(_level_builder().build(), name="levels") == LEVEL_DOT


def test_every_source_kind_gives_the_same_output() -> None:
    processor = _graph_builder().build()
    for source in (processor, processor.analysis, _graph_builder()):
        assert render_plan(source, "text") == GRAPH_TEXT
        assert render_plan(source, "mermaid") == GRAPH_MERMAID
        assert render_plan(source, "dot") == GRAPH_DOT
    assert FORMATS == ("text", "mermaid", "dot")


def test_output_is_deterministic_across_builds() -> None:
    first = [plan_text(_level_builder()), plan_mermaid(_level_builder())]
    second = [plan_text(_level_builder()), plan_mermaid(_level_builder())]
    assert first == second


def test_a_user_tuple_that_looks_like_a_level_node_is_a_task() -> None:
    f = task_func(_fn)
    builder = AsyncTaskProcessor.builder().add_task(AsyncTask((0, "below"), execute=f), level=0)
    nodes = plan_nodes(builder)
    assert [(n.label, n.kind) for n in nodes] == [
        ("level 0 start", "level start"),
        ("(0, 'below')", "task"),
        ("level 0 end", "level end"),
    ]
    assert nodes[1] == PlanNode((0, "below"), 1, "(0, 'below')", "task", ("execute",), (0,))


def test_unprintable_names_are_shown_by_repr() -> None:
    f = task_func(_fn)
    processor = build_dag(AsyncTask("two\nlines", execute=f))
    assert plan_nodes(processor)[0].label == "'two\\nlines'"
    assert "n0[\"'two\\nlines'<br/>execute\"]" in plan_mermaid(processor)


def test_duplicate_dependencies_give_one_edge() -> None:
    f = task_func(_fn)
    processor = build_dag(
        AsyncTask("a", execute=f),
        (AsyncTask("b", execute=f), ("a", "a")),
    )
    assert plan_mermaid(processor).count("n0 --> n1") == 1
    assert plan_nodes(processor)[1].depends_on == (0,)


def test_an_empty_plan() -> None:
    processor = AsyncDagTaskProcessor.builder().build()
    assert plan_text(processor) == (
        "Plan: 0 nodes (0 with pre_execute, 0 with execute, 0 with post_execute, "
        "0 without functions)\n"
        "\n"
        "Nodes, dependencies first:\n"
        "  (none)\n"
        "\n"
        "pre_execute: 0 waves\n"
        "execute: 0 tasks\n"
        "post_execute: 0 waves"
    )
    assert plan_mermaid(processor) == "flowchart TD"
    assert plan_dot(processor).splitlines()[-1] == "}"


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="expected an sdax processor, TaskAnalysis or builder"):
        plan_text(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="format must be one of text, mermaid, dot"):
        render_plan(_graph_builder(), "svg")
    with pytest.raises(ValueError, match="direction must be"):
        plan_mermaid(_graph_builder(), direction="up")


def test_an_invalid_builder_fails_when_exported() -> None:
    f = task_func(_fn)
    builder = AsyncDagTaskProcessor.builder().add_task(AsyncTask("a", execute=f), depends_on="z")
    with pytest.raises(ValueError, match="non-existent task"):
        plan_text(builder)
