"""Processors and builders: the entry points of sdax.

Build a processor once (``AsyncDagTaskProcessor.builder()`` for a dependency
graph, ``AsyncTaskProcessor.builder()`` for levels), then run it as often as
needed, concurrently too: ``await processor.process_tasks(ctx)``, or phase by
phase with ``async with processor.open(ctx) as runner``.
"""

from __future__ import annotations

from sdax._build import (
    LevelBoundary as LevelBoundary,
)
from sdax._build import (
    PhaseId as PhaseId,
)
from sdax._engine import (
    AsyncDagLevelAdapterBuilder as AsyncDagLevelAdapterBuilder,
)
from sdax._engine import (
    AsyncDagTaskProcessor as AsyncDagTaskProcessor,
)
from sdax._engine import (
    AsyncDagTaskProcessorBuilder as AsyncDagTaskProcessorBuilder,
)
from sdax._engine import (
    AsyncPhaseRunner as AsyncPhaseRunner,
)
from sdax._engine import (
    AsyncTaskProcessor as AsyncTaskProcessor,
)
from sdax._engine import (
    AsyncTaskProcessorBuilder as AsyncTaskProcessorBuilder,
)
from sdax._engine import (
    LevelKey as LevelKey,
)
from sdax._engine import (
    SdaxExecutionError as SdaxExecutionError,
)
from sdax._engine import (
    SdaxTimeoutError as SdaxTimeoutError,
)
from sdax._engine import (
    flatten_exceptions as flatten_exceptions,
)
from sdax._public import fixup_module_metadata
from sdax.sdax_task_analyser import (
    ExecutionGraph as ExecutionGraph,
)
from sdax.sdax_task_analyser import (
    ExecutionWave as ExecutionWave,
)
from sdax.sdax_task_analyser import (
    TaskAnalysis as TaskAnalysis,
)
from sdax.sdax_task_analyser import (
    TaskAnalyzer as TaskAnalyzer,
)
from sdax.tasks import (
    AsyncTask as AsyncTask,
)
from sdax.tasks import (
    SdaxTaskGroup as SdaxTaskGroup,
)
from sdax.tasks import (
    TaskFunction as TaskFunction,
)
from sdax.tasks import (
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
