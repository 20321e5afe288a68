"""Run time: one run of a plan, its calls, attempts, cleanup and events.

A run copies the plan's counters and walks them: it starts the ready phase
calls (on the fast or the public asyncio path), drives their attempts and
retries, bounds the cleanup, tells observers, and reports failures. The one
way in for the layers above.
"""

from sdax._engine._current import CallInfo, current_call
from sdax._engine._eager import ASYNCIO_PATH, PATH_REASON
from sdax._engine._errors import SdaxExecutionError, SdaxTimeoutError, flatten_exceptions
from sdax._engine._events import PhaseEvent, RunInfo, RunObserver
from sdax._engine._export import (
    FORMATS,
    NodeKind,
    PlanNode,
    PlanSource,
    plan_dot,
    plan_mermaid,
    plan_nodes,
    plan_text,
    render_plan,
)
from sdax._engine._fanout import FanOut, FanOutItem, FanOutResult, fan_out
from sdax._engine._html import html_page, timeline_html, timeline_page, timeline_svg
from sdax._engine._phase_runner import AsyncPhaseRunner
from sdax._engine._processor import (
    AsyncDagLevelAdapterBuilder,
    AsyncDagTaskProcessor,
    AsyncDagTaskProcessorBuilder,
    AsyncTaskProcessor,
    AsyncTaskProcessorBuilder,
    LevelKey,
)
from sdax._engine._report import RunReport
from sdax._engine._run import DEFAULT_CLEANUP_GRACE, LAZY_START, Run
from sdax._engine._timeline import (
    BAR_CHARS,
    Outcome,
    PhaseRecord,
    RunTimeline,
    describe_error,
    render_timeline,
    run_outcome,
)
from sdax._engine._trace import timeline_trace

__all__ = [
    "ASYNCIO_PATH",
    "BAR_CHARS",
    "DEFAULT_CLEANUP_GRACE",
    "FORMATS",
    "LAZY_START",
    "PATH_REASON",
    "AsyncDagLevelAdapterBuilder",
    "AsyncDagTaskProcessor",
    "AsyncDagTaskProcessorBuilder",
    "AsyncPhaseRunner",
    "AsyncTaskProcessor",
    "AsyncTaskProcessorBuilder",
    "CallInfo",
    "FanOut",
    "FanOutItem",
    "FanOutResult",
    "LevelKey",
    "NodeKind",
    "Outcome",
    "PhaseEvent",
    "PhaseRecord",
    "PlanNode",
    "PlanSource",
    "Run",
    "RunInfo",
    "RunObserver",
    "RunReport",
    "RunTimeline",
    "SdaxExecutionError",
    "SdaxTimeoutError",
    "current_call",
    "describe_error",
    "fan_out",
    "flatten_exceptions",
    "html_page",
    "plan_dot",
    "plan_mermaid",
    "plan_nodes",
    "plan_text",
    "render_plan",
    "render_timeline",
    "run_outcome",
    "timeline_html",
    "timeline_page",
    "timeline_svg",
    "timeline_trace",
]
