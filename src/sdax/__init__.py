"""sdax: a fast in-process asyncio orchestrator with guaranteed cleanup.

Declare tasks with up to three phases (``pre_execute``, ``execute``,
``post_execute``), give them dependencies (or levels), build a processor once
and run it many times. Every cleanup that is owed runs exactly once, whatever
fails, times out or is cancelled.

``IMPLEMENTATION`` says which integer core is active: ``"cython"`` (compiled)
or ``"python"`` (the pure fallback, also forced by ``SDAX_NO_EXTENSIONS=1``).
``ASYNCIO_PATH`` says how phase calls start: ``"fast"`` (asyncio internals,
checked once on this interpreter) or ``"public"`` (public asyncio API only,
also forced by ``SDAX_PUBLIC_ASYNCIO=1``).
"""

from sdax._accel import IMPLEMENTATION
from sdax._current import CallInfo, current_call
from sdax._eager import ASYNCIO_PATH
from sdax._errors import (
    SdaxExecutionError,
    SdaxTimeoutError,
    flatten_exceptions,
)
from sdax._fanout import FanOut, FanOutItem, FanOutResult, fan_out
from sdax._version import __version__
from sdax.limits import CapacityLimit
from sdax.sdax_core import (
    AsyncDagLevelAdapterBuilder,
    AsyncDagTaskProcessor,
    AsyncDagTaskProcessorBuilder,
    AsyncPhaseRunner,
    AsyncTaskProcessor,
    PhaseId,
)
from sdax.tasks import (
    AsyncTask,
    RetryableException,
    SdaxTaskGroup,
    TaskFunction,
    join,
    task,
    task_func,
    task_group_func,
    task_group_task,
    task_sync_func,
)

__all__ = [
    "ASYNCIO_PATH",
    "IMPLEMENTATION",
    "AsyncDagLevelAdapterBuilder",
    "AsyncDagTaskProcessor",
    "AsyncDagTaskProcessorBuilder",
    "AsyncPhaseRunner",
    "AsyncTask",
    "AsyncTaskProcessor",
    "CallInfo",
    "CapacityLimit",
    "FanOut",
    "FanOutItem",
    "FanOutResult",
    "PhaseId",
    "RetryableException",
    "SdaxExecutionError",
    "SdaxTaskGroup",
    "SdaxTimeoutError",
    "TaskFunction",
    "__version__",
    "current_call",
    "fan_out",
    "flatten_exceptions",
    "join",
    "task",
    "task_func",
    "task_group_func",
    "task_group_task",
    "task_sync_func",
]
