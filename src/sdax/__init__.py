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
)
from sdax._engine import (
    CallInfo as CallInfo,
)
from sdax._engine import (
    SdaxExecutionError as SdaxExecutionError,
)
from sdax._engine import (
    SdaxTimeoutError as SdaxTimeoutError,
)
from sdax._engine import (
    current_call as current_call,
)
from sdax._engine import (
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
)
from sdax.sdax_core import (
    AsyncDagTaskProcessor as AsyncDagTaskProcessor,
)
from sdax.sdax_core import (
    AsyncDagTaskProcessorBuilder as AsyncDagTaskProcessorBuilder,
)
from sdax.sdax_core import (
    AsyncPhaseRunner as AsyncPhaseRunner,
)
from sdax.sdax_core import (
    AsyncTaskProcessor as AsyncTaskProcessor,
)
from sdax.sdax_core import (
    PhaseId as PhaseId,
)
from sdax.tasks import (
    AsyncTask as AsyncTask,
)
from sdax.tasks import (
    RetryableException as RetryableException,
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
from sdax.tasks import (
    task as task,
)
from sdax.tasks import (
    task_func as task_func,
)
from sdax.tasks import (
    task_group_func as task_group_func,
)
from sdax.tasks import (
    task_group_task as task_group_task,
)
from sdax.tasks import (
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
    "PhaseId",
    "RetryableException",
    "SdaxExecutionError",
    "SdaxTaskGroup",
    "SdaxTimeoutError",
    "TaskFunction",
    "__version__",
    "current_call",
    "flatten_exceptions",
    "join",
    "task",
    "task_func",
    "task_group_func",
    "task_group_task",
    "task_sync_func",
]

fixup_module_metadata(__name__, globals())
