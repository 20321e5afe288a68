"""Task declarations: the phase function with its policy, and the named task.

The classes users meet as ``sdax.tasks.X`` (their public home, which
re-exports them); the helpers that build them stay in :mod:`sdax.tasks`.
The engine reads these classes from here, below the public faces.
"""

# No ``from __future__ import annotations`` here: the classes name their
# public module as ``__module__``, and typing.get_type_hints() looks string
# annotations up there; evaluated ones need no lookup.

import inspect
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Hashable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sdax._build import _validate
from sdax._build._capacity import CapacityLimit
from sdax._build._executors import SyncCall, check_executor

__all__ = [
    "DEFAULT_RETRYABLE_EXCEPTIONS",
    "AsyncTask",
    "RetryableException",
    "SdaxTaskGroup",
    "TaskFunction",
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
            _validate.number_at_least(self.timeout, 0, "timeout")
        _validate.int_at_least(self.retries, 0, "retries")
        _validate.number_at_least(self.initial_delay, 0, "initial_delay")
        _validate.number_at_least(self.backoff_factor, 0, "backoff_factor", inclusive=False)
        retryable = _validate.exception_types(self.retryable_exceptions, "retryable_exceptions")
        if retryable is not self.retryable_exceptions:
            object.__setattr__(self, "retryable_exceptions", retryable)
        if self.retries > 0 and not retryable:
            raise ValueError(
                f"retries={self.retries} needs a non-empty retryable_exceptions "
                "(with none, nothing could ever be retried)"
            )
        _validate.flag(self.has_task_group_argument, "has_task_group_argument")
        limits = _validate.instances(self.limits, CapacityLimit, "limits")
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
            return self.function(arg, task_group)  # type: ignore[call-arg]  # arity per has_task_group_argument
        if self.executor is not None:
            from sdax._build._executors import run_in_executor

            fn: Any = self.function
            call = fn if isinstance(fn, SyncCall) else SyncCall(fn)
            return run_in_executor(call, self.executor, arg, None)
        return self.function(arg)  # type: ignore[call-arg]  # arity per has_task_group_argument


@dataclass(frozen=True, slots=True, init=False)
class AsyncTask(Generic[T, K]):
    """A named task with up to three phase functions.

    A task with none is a join node (see :func:`sdax.join`): it only groups
    dependencies.

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
