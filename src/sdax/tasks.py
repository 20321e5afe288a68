"""Task declarations: what a task is, and the helpers that build one.

A task has a name (any hashable key) and up to three phase functions
(``pre_execute``, ``execute``, ``post_execute``). Each phase function is a
:class:`TaskFunction`: the callable plus its timeout and retry policy.

The classes are declared in :mod:`sdax._declare` (where the engine reads
them) and are at home here: ``sdax.tasks.AsyncTask`` is their public name.
"""

from __future__ import annotations

from sdax._build import (
    DEFAULT_RETRYABLE_EXCEPTIONS as DEFAULT_RETRYABLE_EXCEPTIONS,
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
from sdax._public import fixup_module_metadata

__all__ = [
    "DEFAULT_RETRYABLE_EXCEPTIONS",
    "AsyncTask",
    "RetryableException",
    "SdaxTaskGroup",
    "TaskFunction",
    "join",
    "task",
    "task_func",
    "task_group_func",
    "task_group_task",
    "task_sync_func",
]

fixup_module_metadata(__name__, globals())
