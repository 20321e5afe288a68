"""Plan export: describe a processor's task graph as text, Mermaid or Graphviz DOT.

Give any of the functions a processor, its :class:`TaskAnalysis`, or a builder
(which is then built)::

    print(plan_text(processor))      # waves, dependencies, phases of each task
    print(plan_mermaid(processor))   # a Mermaid flowchart, e.g. for a README
    print(plan_dot(processor))       # Graphviz: dot -Tsvg plan.dot > plan.svg

The output depends only on the graph: tasks appear in declaration order (the
text lists them dependencies first), and the same graph always gives the same
text. Names of any hashable type are shown readably (strings as they are,
other keys by ``repr``) and escaped for each format. The entry and exit nodes
that the level builder adds are shown as ``level N start`` / ``level N end``.
"""

from __future__ import annotations

from sdax._engine import (
    FORMATS as FORMATS,
    NodeKind as NodeKind,
    PlanNode as PlanNode,
    PlanSource as PlanSource,
    plan_dot as plan_dot,
    plan_mermaid as plan_mermaid,
    plan_nodes as plan_nodes,
    plan_text as plan_text,
    render_plan as render_plan,
)
from sdax._public import fixup_module_metadata

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

fixup_module_metadata(__name__, globals())
