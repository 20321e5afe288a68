"""Task declarations: what a task is, and the helpers that build one.

A task has a name (any hashable key) and up to three phase functions
(``pre_execute``, ``execute``, ``post_execute``). Each phase function is a
:class:`TaskFunction`: the callable plus its timeout and retry policy.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Hashable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sdax._executors import SyncCall, check_executor
from sdax.limits import CapacityLimit

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

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


class RetryableException(Exception):
    """Base class for failures that a task function may retry.

    Raise a subclass of it from a phase function to ask for a retry (when the
    function has retries left and this class is among its retryable
    exceptions, which it is by default).

    Unlike the reference implementation, this is an ``Exception`` subclass, so
    a retryable failure that runs out of retries can be reported inside an
    ``ExceptionGroup`` like any other failure.
    """


DEFAULT_RETRYABLE_EXCEPTIONS: tuple[type[BaseException], ...] = (
    TimeoutError,
    ConnectionError,
    RetryableException,
)


class SdaxTaskGroup(ABC):
    """The task group handed to functions built with :func:`task_group_func`.

    Subtasks created here belong to the current attempt of the phase: the
    phase is finished only when all of them are, and a failing subtask fails
    the attempt (with ``asyncio.TaskGroup`` semantics).
    """

    @abstractmethod
    def create_task(
        self,
        coro: Awaitable[Any],
        *,
        name: str | None = None,
        context: Any | None = None,
    ) -> Any:
        """Start ``coro`` as a subtask of this group and return its task.

        Args:
            coro: The coroutine (or other awaitable) to run.
            name: Optional task name.
            context: Optional ``contextvars.Context`` to run it in.

        Returns:
            The ``asyncio.Task`` running it.
        """


def _check_number(field: str, value: Any, *, minimum: float, inclusive: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{field} must be a number, got {value!r}")
    if math.isnan(value) or (value < minimum if inclusive else value <= minimum):
        op = ">=" if inclusive else ">"
        raise ValueError(f"{field} must be {op} {minimum:g}, got {value!r}")


def _normalize_limits(value: Any) -> tuple[CapacityLimit, ...]:
    if isinstance(value, CapacityLimit):
        return (value,)
    if not isinstance(value, Iterable):
        raise TypeError(f"limits must be a CapacityLimit or a tuple of them, got {value!r}")
    limits = tuple(value)
    for item in limits:
        if not isinstance(item, CapacityLimit):
            raise TypeError(f"limits must contain CapacityLimit objects only, got {item!r}")
    return limits


def _normalize_retryable(value: Any) -> tuple[type[BaseException], ...]:
    if isinstance(value, type):
        value = (value,)
    if not isinstance(value, tuple | list):
        raise TypeError(
            f"retryable_exceptions must be an exception class or a tuple of them, got {value!r}"
        )
    for item in value:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise TypeError(
                f"retryable_exceptions must contain exception classes only, got {item!r}"
            )
    return tuple(value)


@dataclass(frozen=True, slots=True)
class TaskFunction(Generic[T]):
    """One phase function of a task, with its timeout and retry policy.

    Attributes:
        function: The callable. Called as ``function(ctx)`` (or
            ``function(ctx, task_group)`` when ``has_task_group_argument``), it
            must return an awaitable.
        timeout: Seconds allowed for each attempt, or ``None`` for no limit.
            ``0`` allows only an attempt that finishes without waiting.
        retries: Extra attempts after a retryable failure.
        initial_delay: Base delay in seconds before the first retry.
        backoff_factor: Growth of the delay per attempt: the delay before
            retry ``n`` (counting from 0) is
            ``initial_delay * backoff_factor ** n * uniform(0.5, 1.0)``.
        retryable_exceptions: A failure is retried only when every leaf
            exception of it is an instance of one of these.
        has_task_group_argument: Whether ``function`` takes a
            :class:`SdaxTaskGroup` as its second argument.
        limits: Capacity limits to hold while an attempt runs (see
            :mod:`sdax.limits`).
        executor: Where a blocking ``function`` runs: ``None`` (inline on the
            event loop), ``"thread"`` (a shared thread pool) or a
            ``concurrent.futures.Executor``. See :func:`task_sync_func`.

    Raises:
        TypeError: A field has the wrong type.
        ValueError: A number is out of range (negative timeout, retries or
            delay; a backoff factor that is not positive).
    """

    function: Callable[[T], Awaitable[Any]] | Callable[[T, SdaxTaskGroup], Awaitable[Any]]
    timeout: float | None = None
    retries: int = 0
    initial_delay: float = 1.0
    backoff_factor: float = 2.0
    retryable_exceptions: tuple[type[BaseException], ...] = DEFAULT_RETRYABLE_EXCEPTIONS
    has_task_group_argument: bool = False
    limits: tuple[CapacityLimit, ...] = ()
    executor: Executor | str | None = None

    def __post_init__(self) -> None:
        if self.timeout is not None:
            _check_number("timeout", self.timeout, minimum=0, inclusive=True)
        if isinstance(self.retries, bool) or not isinstance(self.retries, int):
            raise TypeError(f"retries must be an int, got {self.retries!r}")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries!r}")
        _check_number("initial_delay", self.initial_delay, minimum=0, inclusive=True)
        _check_number("backoff_factor", self.backoff_factor, minimum=0, inclusive=False)
        retryable = _normalize_retryable(self.retryable_exceptions)
        if retryable is not self.retryable_exceptions:
            object.__setattr__(self, "retryable_exceptions", retryable)
        if self.retries > 0 and not retryable:
            raise ValueError(
                f"retries={self.retries} needs a non-empty retryable_exceptions "
                "(with none, nothing could ever be retried)"
            )
        if not isinstance(self.has_task_group_argument, bool):
            raise TypeError(
                f"has_task_group_argument must be a bool, got {self.has_task_group_argument!r}"
            )
        limits = _normalize_limits(self.limits)
        if limits != self.limits or type(self.limits) is not tuple:
            object.__setattr__(self, "limits", limits)
        check_executor(self.executor)
        if self.executor is not None:
            if self.has_task_group_argument:
                raise TypeError("a task-group function cannot run in an executor")
            if inspect.iscoroutinefunction(self.function):
                raise TypeError(
                    "executor needs a plain (blocking) function, got the coroutine function "
                    f"{self.function!r}"
                )

    def call(self, arg: T, task_group: SdaxTaskGroup) -> Awaitable[Any]:
        """Call the function once, passing the task group if it takes one.

        Args:
            arg: The run's context object.
            task_group: The task group of the current attempt.

        Returns:
            Whatever the function returns (an awaitable).
        """
        if self.has_task_group_argument:
            return self.function(arg, task_group)  # type: ignore[call-arg]
        if self.executor is not None:
            from sdax._executors import run_in_executor

            fn: Any = self.function
            call = fn if isinstance(fn, SyncCall) else SyncCall(fn)
            return run_in_executor(call, self.executor, arg, None)
        return self.function(arg)  # type: ignore[call-arg]


@dataclass(frozen=True, slots=True, init=False)
class AsyncTask(Generic[T, K]):
    """A named task with up to three phase functions.

    Attributes:
        name: The task's key in the graph; any hashable value.
        pre_execute: Acquires resources; runs in dependency order.
        execute: The main work; runs after every pre succeeded.
        post_execute: Releases resources; runs once for every task whose pre
            started (or that has no pre and whose prerequisites completed),
            in reverse dependency order.
    """

    name: K
    pre_execute: TaskFunction[T] | None = None
    execute: TaskFunction[T] | None = None
    post_execute: TaskFunction[T] | None = None

    def __init__(
        self,
        name: K,
        pre_execute: TaskFunction[T] | None = None,
        execute: TaskFunction[T] | None = None,
        post_execute: TaskFunction[T] | None = None,
    ) -> None:
        # Graphs can have a million tasks: set the slots directly, which is
        # what the frozen dataclass's own __init__ does, only faster.
        _set_name(self, name)
        _set_pre(self, pre_execute)
        _set_exec(self, execute)
        _set_post(self, post_execute)


_set_name = AsyncTask.__dict__["name"].__set__
_set_pre = AsyncTask.__dict__["pre_execute"].__set__
_set_exec = AsyncTask.__dict__["execute"].__set__
_set_post = AsyncTask.__dict__["post_execute"].__set__


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
        limits=limits,  # type: ignore[arg-type]
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
        limits,  # type: ignore[arg-type]
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
    and the loop stays free; see :mod:`sdax._executors` for the rules
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
    if not callable(function):
        raise TypeError(f"task_sync_func needs a callable, got {function!r}")
    for label, value in (("arg", arg), ("result", result)):
        if value is not None and not callable(value):
            raise TypeError(f"task_sync_func {label}= must be callable, got {value!r}")
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
            limits,  # type: ignore[arg-type]
            executor,
        )

    async def run_inline(ctx: T) -> Any:
        return function(ctx)

    run_inline.__name__ = getattr(function, "__name__", run_inline.__name__)
    run_inline.__qualname__ = getattr(function, "__qualname__", run_inline.__qualname__)
    run_inline.__wrapped__ = function  # type: ignore[attr-defined]
    return TaskFunction(
        run_inline,
        timeout,
        retries,
        initial_delay,
        backoff_factor,
        retryable_exceptions,
        limits=limits,  # type: ignore[arg-type]
    )
