"""The helpers that declare tasks (public in :mod:`sdax.tasks`): ``task``, ``task_func`` & co.

The classes they build are declared in :mod:`sdax._build._declare`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable
from concurrent.futures import Executor
from functools import update_wrapper
from typing import Any, TypeVar

from sdax._build import _validate as validate
from sdax._build._capacity import CapacityLimit
from sdax._build._declare import (
    DEFAULT_RETRYABLE_EXCEPTIONS,
    AsyncTask,
    RetryableException,
    SdaxTaskGroup,
    TaskFunction,
)
from sdax._build._executors import SyncCall, check_executor

__all__ = [
    "join",
    "task",
    "task_func",
    "task_group_func",
    "task_group_task",
    "task_sync_func",
]


T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def _limits(limits: CapacityLimit | Iterable[CapacityLimit]) -> tuple[CapacityLimit, ...]:
    """The limits as the tuple a TaskFunction holds (with TaskFunction's own message)."""
    return validate.instances(limits, CapacityLimit, "limits")


def task(
    name: K,
    *,
    pre_execute: TaskFunction[T] | None = None,
    execute: TaskFunction[T] | None = None,
    post_execute: TaskFunction[T] | None = None,
) -> AsyncTask[T, K]:
    """Declare a task that has at least one phase function.

    Args:
        name: The task's key.
        pre_execute: Optional pre phase.
        execute: Optional execute phase.
        post_execute: Optional post phase.

    Returns:
        The task.

    Raises:
        ValueError: If no phase function is given (use :func:`join` for a
            pure synchronization node).
    """
    if pre_execute is None and execute is None and post_execute is None:
        raise ValueError(
            f"Task {name!r} must have at least one phase function; "
            "use join() for a node without functions"
        )
    return AsyncTask(name, pre_execute, execute, post_execute)


def join(name: K) -> AsyncTask[Any, K]:
    """Declare a join node: a task without phase functions.

    It only groups dependencies: tasks depending on it wait for everything it
    depends on.

    Args:
        name: The node's key.

    Returns:
        The node.
    """
    return AsyncTask(name)


def task_func(
    function: Callable[[T], Awaitable[Any]],
    *,
    timeout: float | None = None,
    retries: int = 0,
    initial_delay: float = 1.0,
    backoff_factor: float = 2.0,
    retryable_exceptions: tuple[type[BaseException], ...] = DEFAULT_RETRYABLE_EXCEPTIONS,
    limits: CapacityLimit | Iterable[CapacityLimit] = (),
) -> TaskFunction[T]:
    """Wrap an async function ``function(ctx)`` as a phase function.

    Args:
        function: The async callable.
        timeout: Seconds per attempt, or ``None``.
        retries: Extra attempts after a retryable failure.
        initial_delay: Base retry delay in seconds.
        backoff_factor: Growth of the retry delay per attempt.
        retryable_exceptions: Exception types that allow a retry.
        limits: Capacity limits each attempt holds while it runs.

    Returns:
        The phase function.
    """
    return TaskFunction(
        function,
        timeout,
        retries,
        initial_delay,
        backoff_factor,
        retryable_exceptions,
        limits=_limits(limits),
    )


def task_group_func(
    function: Callable[[T, SdaxTaskGroup], Awaitable[Any]],
    *,
    timeout: float | None = None,
    retries: int = 0,
    initial_delay: float = 1.0,
    backoff_factor: float = 2.0,
    retryable_exceptions: tuple[type[BaseException], ...] = DEFAULT_RETRYABLE_EXCEPTIONS,
    limits: CapacityLimit | Iterable[CapacityLimit] = (),
) -> TaskFunction[T]:
    """Wrap an async function ``function(ctx, task_group)`` as a phase function.

    Each attempt gets a fresh :class:`SdaxTaskGroup`; the attempt ends when the
    function and every subtask it created have finished.

    Args:
        function: The async callable taking the context and a task group.
        timeout: Seconds per attempt (subtasks included), or ``None``.
        retries: Extra attempts after a retryable failure.
        initial_delay: Base retry delay in seconds.
        backoff_factor: Growth of the retry delay per attempt.
        retryable_exceptions: Exception types that allow a retry.
        limits: Capacity limits each attempt holds while it runs.

    Returns:
        The phase function.
    """
    return TaskFunction(
        function,
        timeout,
        retries,
        initial_delay,
        backoff_factor,
        retryable_exceptions,
        True,
        _limits(limits),
    )


task_group_task = task_group_func
"""Alias of :func:`task_group_func`."""


def task_sync_func(
    function: Callable[[Any], Any],
    *,
    retries: int = 0,
    initial_delay: float = 1.0,
    backoff_factor: float = 2.0,
    retryable_exceptions: tuple[type[BaseException], ...] = DEFAULT_RETRYABLE_EXCEPTIONS,
    executor: Executor | str | None = None,
    timeout: float | None = None,
    arg: Callable[[T], Any] | None = None,
    result: Callable[[T, Any], None] | None = None,
    limits: CapacityLimit | Iterable[CapacityLimit] = (),
) -> TaskFunction[T]:
    """Wrap a plain (blocking) function as a phase function.

    Without ``executor`` the function runs inline on the event loop thread, as
    ``function(ctx)``: it blocks the loop while it runs, so keep it short (a
    timeout cannot interrupt it). With ``executor`` each attempt runs there
    and the loop stays free; see :mod:`sdax._build._executors` for the rules
    (contextvars reach thread pools; process pools get picklable data only;
    the task's cleanup waits for work that outlived a timeout or a
    cancellation).

    Args:
        function: The synchronous callable.
        retries: Extra attempts after a retryable failure (each resubmits).
        initial_delay: Base retry delay in seconds.
        backoff_factor: Growth of the retry delay per attempt.
        retryable_exceptions: Exception types that allow a retry.
        executor: ``None``, ``"thread"`` or a ``concurrent.futures.Executor``.
        timeout: Seconds the phase waits for each attempt (with an executor).
        arg: Maps the context to what ``function`` receives (default: the
            context itself). Use it to send only picklable data to a process.
        result: Called as ``result(ctx, value)`` on the event loop thread with
            the function's return value, e.g. to store it in the context.
        limits: Capacity limits each attempt holds while it runs.

    Returns:
        The phase function.

    Raises:
        TypeError: If ``function`` (or ``arg``/``result``) is not callable, or
            ``executor`` is not an executor.
    """
    validate.callables("task_sync_func", function, arg=arg, result=result)
    check_executor(executor)
    if executor is not None or arg is not None or result is not None:
        call = SyncCall(function, arg, result)
        return TaskFunction(
            call,
            timeout,
            retries,
            initial_delay,
            backoff_factor,
            retryable_exceptions,
            False,
            _limits(limits),
            executor,
        )

    async def run_inline(ctx: T) -> Any:
        return function(ctx)

    update_wrapper(run_inline, function, assigned=("__name__", "__qualname__"), updated=())
    return TaskFunction(
        run_inline,
        timeout,
        retries,
        initial_delay,
        backoff_factor,
        retryable_exceptions,
        limits=_limits(limits),
    )
