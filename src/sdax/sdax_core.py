"""Processors and builders: the entry points of sdax.

Build a processor once (``AsyncDagTaskProcessor.builder()`` for a dependency
graph, ``AsyncTaskProcessor.builder()`` for levels), then run it as often as
needed, concurrently too: ``await processor.process_tasks(ctx)``, or phase by
phase with ``async with processor.open(ctx) as runner``.
"""

from __future__ import annotations

from sdax._build import (
    LevelBoundary as LevelBoundary,
    PhaseId as PhaseId,
)
from sdax._engine import (
    AsyncDagLevelAdapterBuilder as AsyncDagLevelAdapterBuilder,
    AsyncDagTaskProcessor as AsyncDagTaskProcessor,
    AsyncDagTaskProcessorBuilder as AsyncDagTaskProcessorBuilder,
    AsyncPhaseRunner as AsyncPhaseRunner,
    AsyncTaskProcessor as AsyncTaskProcessor,
    AsyncTaskProcessorBuilder as AsyncTaskProcessorBuilder,
    LevelKey as LevelKey,
    SdaxExecutionError as SdaxExecutionError,
    SdaxTimeoutError as SdaxTimeoutError,
    flatten_exceptions as flatten_exceptions,
)
from sdax._public import fixup_module_metadata
from sdax.sdax_task_analyser import (
    ExecutionGraph as ExecutionGraph,
    ExecutionWave as ExecutionWave,
    TaskAnalysis as TaskAnalysis,
    TaskAnalyzer as TaskAnalyzer,
)
from sdax.tasks import (
    AsyncTask as AsyncTask,
    SdaxTaskGroup as SdaxTaskGroup,
    TaskFunction as TaskFunction,
    join as join,
)

__all__ = [
    "AsyncDagLevelAdapterBuilder",
    "AsyncDagTaskProcessor",
    "AsyncDagTaskProcessorBuilder",
    "AsyncPhaseRunner",
    "AsyncTask",
    "AsyncTaskProcessor",
    "AsyncTaskProcessorBuilder",
    "ExecutionGraph",
    "ExecutionWave",
    "LevelBoundary",
    "LevelKey",
    "PhaseId",
    "SdaxExecutionError",
    "SdaxTaskGroup",
    "SdaxTimeoutError",
    "TaskAnalysis",
    "TaskAnalyzer",
    "TaskFunction",
    "flatten_exceptions",
    "join",
]

fixup_module_metadata(__name__, globals())
