"""Build time: declarations, validation, analysis and the plan.

What a processor is made of before anything runs: the task and phase-function
declarations, one rule per input check, the analyzer's bookkeeping, the level
builder's graph, phase names, capacity limits and sync-call declarations, and
the plan (names mapped to integer arrays once per build). ``validate`` is the
module of input rules (one function per rule, with its message). The engine reads
the plan; nothing here starts a run. The one way in for the layers above.
"""

from sdax._build import _validate as validate
from sdax._build._analysis import TaskTable, check_task
from sdax._build._analyzer import ExecutionGraph, ExecutionWave, TaskAnalysis, TaskAnalyzer
from sdax._build._capacity import CapacityLimit
from sdax._build._declare import (
    DEFAULT_RETRYABLE_EXCEPTIONS,
    AsyncTask,
    RetryableException,
    SdaxTaskGroup,
    TaskFunction,
)
from sdax._build._executors import (
    CALL_IN_THREAD,
    SyncCall,
    check_executor,
    default_thread_pool,
    run_in_executor,
)
from sdax._build._levels import LevelBoundary, add_levels
from sdax._build._phases import PHASE_FIELDS, PHASE_LABELS, PhaseId, describe_name
from sdax._build._tasks import (
    join,
    task,
    task_func,
    task_group_func,
    task_group_task,
    task_sync_func,
)
from sdax._build._plan import KIND_ASYNC, KIND_EXECUTOR, KIND_GROUP, PhaseSpec, Plan

__all__ = [
    "CALL_IN_THREAD",
    "DEFAULT_RETRYABLE_EXCEPTIONS",
    "KIND_ASYNC",
    "KIND_EXECUTOR",
    "KIND_GROUP",
    "PHASE_FIELDS",
    "PHASE_LABELS",
    "AsyncTask",
    "CapacityLimit",
    "ExecutionGraph",
    "ExecutionWave",
    "LevelBoundary",
    "PhaseId",
    "PhaseSpec",
    "Plan",
    "RetryableException",
    "SdaxTaskGroup",
    "SyncCall",
    "TaskAnalysis",
    "TaskAnalyzer",
    "TaskFunction",
    "TaskTable",
    "add_levels",
    "check_executor",
    "check_task",
    "default_thread_pool",
    "describe_name",
    "join",
    "run_in_executor",
    "task",
    "task_func",
    "task_group_func",
    "task_group_task",
    "task_sync_func",
    "validate",
]
