"""Plan export (public in :mod:`sdax.export`): a processor's graph as text, Mermaid or DOT.

The output depends only on the graph; names of any hashable type are shown
readably and escaped for each format.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from sdax._build import (
    PHASE_FIELDS,
    PHASE_LABELS,
    ExecutionGraph,
    LevelBoundary,
    PhaseId,
    TaskAnalysis,
)
from sdax._engine._processor import (
    AsyncDagLevelAdapterBuilder,
    AsyncDagTaskProcessor,
    AsyncDagTaskProcessorBuilder,
)

__all__ = [
    "FORMATS",
    "NodeKind",
    "PlanNode",
    "PlanSource",
    "plan_dot",
    "plan_mermaid",
    "plan_nodes",
    "plan_text",
    "render_plan",
]

PlanSource: TypeAlias = (
    AsyncDagTaskProcessor[Any, Any]
    | TaskAnalysis[Any, Any]
    | AsyncDagTaskProcessorBuilder[Any, Any]
    | AsyncDagLevelAdapterBuilder[Any]
)
"""What the export functions accept: a processor, its analysis, or a builder."""

NodeKind = Literal["task", "join", "level start", "level end"]
"""A node with phase functions, one without (``join()``), or a level's entry/exit."""

FORMATS: tuple[str, ...] = ("text", "mermaid", "dot")
"""The format names :func:`render_plan` accepts."""

# (field, short name) of each phase, in run order.
_PHASE_FIELDS = tuple((PHASE_FIELDS[phase], PHASE_LABELS[phase]) for phase in PhaseId)


@dataclass(frozen=True, slots=True)
class PlanNode:
    """One node of a plan, as the exporters show it.

    Attributes:
        key: The task's name (or the level node).
        index: Its position in declaration order (also its diagram id, ``n<index>``).
        label: How it is shown (see :func:`plan_nodes`).
        kind: What sort of node it is.
        phases: Short names of the phases it has: ``"pre"``, ``"execute"``, ``"post"``.
        depends_on: Indexes of the nodes it depends on, as declared (duplicates dropped).
    """

    key: Hashable
    index: int
    label: str
    kind: NodeKind
    phases: tuple[str, ...]
    depends_on: tuple[int, ...]


def _analysis_of(source: Any) -> TaskAnalysis[Any, Any]:
    if isinstance(source, TaskAnalysis):
        return source
    if isinstance(source, AsyncDagTaskProcessor):
        return source.analysis
    if isinstance(source, AsyncDagTaskProcessorBuilder | AsyncDagLevelAdapterBuilder):
        return source.build().analysis
    raise TypeError(
        "expected an sdax processor, TaskAnalysis or builder, "
        f"got {type(source).__name__} {source!r:.80}"
    )


def _label(key: Hashable) -> str:
    if isinstance(key, LevelBoundary):
        level, side = key
        return f"level {level} {'start' if side == 'below' else 'end'}"
    if isinstance(key, str) and key.isprintable():
        return key
    return repr(key)


def plan_nodes(source: PlanSource) -> tuple[PlanNode, ...]:
    """The nodes of a plan, in declaration order.

    Labels: a string name as it is (``repr`` when it holds unprintable
    characters), any other key by ``repr``, a level node as
    ``level N start`` or ``level N end``.

    Raises:
        TypeError: ``source`` is not a processor, TaskAnalysis or builder.
        ValueError: A builder's graph is invalid (from ``build()``).
    """
    analysis = _analysis_of(source)
    index = {key: i for i, key in enumerate(analysis.tasks)}
    nodes = []
    for i, (key, task) in enumerate(analysis.tasks.items()):
        phases = tuple(short for field, short in _PHASE_FIELDS if getattr(task, field) is not None)
        kind: NodeKind
        if isinstance(key, LevelBoundary):
            kind = "level start" if key[1] == "below" else "level end"
        else:
            kind = "task" if phases else "join"
        deps = tuple(dict.fromkeys(index[d] for d in analysis.dependencies.get(key, ())))
        nodes.append(PlanNode(key, i, _label(key), kind, phases, deps))
    return tuple(nodes)


# -- text ------------------------------------------------------------------------------


def _text_name(node: PlanNode) -> str:
    return f"<{node.label}>" if node.kind.startswith("level") else node.label


def _wave_lines(graph: ExecutionGraph[Any], names: dict[Hashable, str]) -> list[str]:
    lines = []
    for wave in graph.waves:
        line = f"  wave {wave.wave_num}: {', '.join(names[t] for t in wave.tasks)}"
        if wave.depends_on_tasks:
            line += f"  (after {', '.join(names[t] for t in wave.depends_on_tasks)})"
        lines.append(line)
    return lines


def _waves_title(phase: str, graph: ExecutionGraph[Any]) -> str:
    count = len(graph.waves)
    return f"{phase}: {count} {'wave' if count == 1 else 'waves'}"


def plan_text(source: PlanSource) -> str:
    """Describe a plan in plain text.

    Lists every node, dependencies first, with its phases and what it waits
    for; then the waves of ``pre_execute`` (tasks that start together and what
    they wait for), the tasks of ``execute``, and the waves of
    ``post_execute`` (what each cleanup waits for).

    Returns:
        The description, lines separated by ``"\\n"``, without a final newline.

    Raises:
        TypeError: ``source`` is not a processor, TaskAnalysis or builder.
    """
    analysis = _analysis_of(source)
    nodes = plan_nodes(analysis)
    by_key = {node.key: node for node in nodes}
    names = {node.key: _text_name(node) for node in nodes}
    pre, post = analysis.pre_execute_graph, analysis.post_execute_graph
    lines = [
        f"Plan: {analysis.total_tasks} nodes ({analysis.tasks_with_pre_execute} with "
        f"pre_execute, {analysis.tasks_with_execute} with execute, "
        f"{analysis.tasks_with_post_execute} with post_execute, {analysis.nodes} without "
        "functions)",
        "",
        "Nodes, dependencies first:",
    ]
    ordered = [by_key[key] for key in analysis.topological_order]
    if ordered:
        name_w = max(len(names[n.key]) for n in ordered)
        what = {n.index: ", ".join(n.phases) or n.kind for n in ordered}
        what_w = max(len(w) for w in what.values())
        for node in ordered:
            row = f"  {names[node.key]:<{name_w}}  {what[node.index]:<{what_w}}"
            if node.depends_on:
                deps = ", ".join(names[nodes[d].key] for d in node.depends_on)
                row += f"  after {deps}"
            lines.append(row.rstrip())
    else:
        lines.append("  (none)")
    lines.append("")
    lines.append(_waves_title("pre_execute", pre))
    lines.extend(_wave_lines(pre, names))
    executes = analysis.execute_task_names
    lines.append(f"execute: {len(executes)} {'task' if len(executes) == 1 else 'tasks'}")
    if executes:
        lines.append(f"  {', '.join(names[t] for t in executes)}")
    lines.append(_waves_title("post_execute", post))
    lines.extend(_wave_lines(post, names))
    return "\n".join(lines)


# -- Mermaid ---------------------------------------------------------------------------

_MERMAID_ENTITIES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;"}


def _mermaid_escape(text: str) -> str:
    return "".join(_MERMAID_ENTITIES.get(ch, ch) for ch in text)


def _mermaid_node(node: PlanNode) -> str:
    text = _mermaid_escape(node.label)
    if node.kind == "task":
        return f'n{node.index}["{text}<br/>{", ".join(node.phases)}"]'
    if node.kind == "join":
        return f'n{node.index}(("{text}"))'
    return f'n{node.index}(["{text}"])'


def plan_mermaid(source: PlanSource, direction: str = "TD") -> str:
    """A Mermaid flowchart of the plan.

    Each node is ``n<index>`` (declaration order): a box with the name and
    phases for a task, a circle for a join, a dashed stadium for a level's
    start or end. Arrows go from a dependency to the task that waits for it.

    Args:
        source: The processor, analysis or builder.
        direction: ``"TD"`` (top down), ``"LR"``, ``"BT"`` or ``"RL"``.

    Returns:
        The flowchart, lines separated by ``"\\n"``, without a final newline.

    Raises:
        TypeError: ``source`` is not a processor, TaskAnalysis or builder.
        ValueError: ``direction`` is not one of the four.
    """
    if direction not in ("TD", "LR", "BT", "RL"):
        raise ValueError(f"direction must be TD, LR, BT or RL, got {direction!r}")
    nodes = plan_nodes(source)
    lines = [f"flowchart {direction}"]
    lines.extend(f"    {_mermaid_node(node)}" for node in nodes)
    lines.extend(f"    n{dep} --> n{node.index}" for node in nodes for dep in node.depends_on)
    joins = [f"n{n.index}" for n in nodes if n.kind == "join"]
    levels = [f"n{n.index}" for n in nodes if n.kind.startswith("level")]
    if joins:
        lines.append("    classDef join fill:#f4f4f4,stroke:#888")
        lines.append(f"    class {','.join(joins)} join")
    if levels:
        lines.append("    classDef level fill:#ffffff,stroke:#888,stroke-dasharray:4 3")
        lines.append(f"    class {','.join(levels)} level")
    return "\n".join(lines)


# -- Graphviz DOT ----------------------------------------------------------------------


def _dot_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _dot_node(node: PlanNode) -> str:
    if node.kind == "task":
        label = _dot_string(node.label + "\n" + ", ".join(node.phases))
        return f"n{node.index} [label={label}];"
    if node.kind == "join":
        return f"n{node.index} [label={_dot_string(node.label)}, shape=ellipse];"
    return f'n{node.index} [label={_dot_string(node.label)}, style="rounded,dashed", fontsize=10];'


def plan_dot(source: PlanSource, name: str = "sdax_plan") -> str:
    """A Graphviz DOT digraph of the plan (render it with ``dot -Tsvg``).

    Nodes are ``n<index>`` (declaration order): rounded boxes with the name
    and phases for tasks, ellipses for joins, dashed boxes for level nodes.
    Edges go from a dependency to the task that waits for it.

    Args:
        source: The processor, analysis or builder.
        name: The graph's name.

    Returns:
        The DOT text, lines separated by ``"\\n"``, without a final newline.

    Raises:
        TypeError: ``source`` is not a processor, TaskAnalysis or builder.
    """
    nodes = plan_nodes(source)
    lines = [
        f"digraph {_dot_string(name)} {{",
        "    rankdir=TB;",
        '    node [shape=box, style=rounded, fontname="Helvetica"];',
    ]
    lines.extend(f"    {_dot_node(node)}" for node in nodes)
    lines.extend(f"    n{dep} -> n{node.index};" for node in nodes for dep in node.depends_on)
    lines.append("}")
    return "\n".join(lines)


_RENDERERS: dict[str, Callable[[PlanSource], str]] = {
    "text": plan_text,
    "mermaid": plan_mermaid,
    "dot": plan_dot,
}


def render_plan(source: PlanSource, format: str = "text") -> str:
    """The plan in one of :data:`FORMATS` (``"text"``, ``"mermaid"`` or ``"dot"``).

    Raises:
        TypeError: ``source`` is not a processor, TaskAnalysis or builder.
        ValueError: Unknown ``format``.
    """
    renderer = _RENDERERS.get(format)
    if renderer is None:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    return renderer(source)
