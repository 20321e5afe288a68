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

from sdax._engine import (
    ASYNCIO_PATH as ASYNCIO_PATH,
    CallInfo as CallInfo,
    FanOut as FanOut,
    FanOutItem as FanOutItem,
    FanOutResult as FanOutResult,
    SdaxExecutionError as SdaxExecutionError,
    SdaxTimeoutError as SdaxTimeoutError,
    current_call as current_call,
    fan_out as fan_out,
    flatten_exceptions as flatten_exceptions,
)
from sdax._kernels import (
    IMPLEMENTATION as IMPLEMENTATION,
)
from sdax._public import fixup_module_metadata
from sdax._version import (
    __version__ as __version__,
)
from sdax.limits import (
    CapacityLimit as CapacityLimit,
)
from sdax.sdax_core import (
    AsyncDagLevelAdapterBuilder as AsyncDagLevelAdapterBuilder,
    AsyncDagTaskProcessor as AsyncDagTaskProcessor,
    AsyncDagTaskProcessorBuilder as AsyncDagTaskProcessorBuilder,
    AsyncPhaseRunner as AsyncPhaseRunner,
    AsyncTaskProcessor as AsyncTaskProcessor,
    PhaseId as PhaseId,
)
from sdax.tasks import (
    AsyncTask as AsyncTask,
    RetryableException as RetryableException,
    SdaxTaskGroup as SdaxTaskGroup,
    TaskFunction as TaskFunction,
    join as join,
    task as task,
    task_func as task_func,
    task_group_func as task_group_func,
    task_group_task as task_group_task,
    task_sync_func as task_sync_func,
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

fixup_module_metadata(__name__, globals())
