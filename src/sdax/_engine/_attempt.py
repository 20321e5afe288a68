"""One attempt of a phase function, and its retries; what a call needs from its run.

An attempt is a coroutine: the user's function called once (inside a task
group for ``task_group_func``, in an executor for blocking functions), with
the attempt's capacity limits held and its timeout applied. The retries of a
call that failed retryably run in the same task, one attempt after the other,
with a randomized exponential back-off. ``_call`` drives these coroutines.
"""

from __future__ import annotations

import asyncio
import enum
import random
from asyncio import CancelledError
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from typing import Any, Protocol

from sdax._build import (
    KIND_ASYNC,
    KIND_EXECUTOR,
    KIND_GROUP,
    CapacityLimit,
    PhaseSpec,
    SdaxTaskGroup,
    run_in_executor,
)
from sdax._engine._errors import flatten_exceptions

__all__ = [
    "CANCELLED",
    "FAILED",
    "NOT_STARTED",
    "OK",
    "CallEnd",
    "CallOwner",
    "NotAwaitable",
    "attempt",
    "first_attempt",
    "first_retry_due",
    "is_retryable",
    "make_coroutine",
    "retry_attempts",
    "retry_delay",
]


class CallEnd(enum.Enum):
    """How a phase call ended, as its continuation reports it to the run."""

    OK = "ok"
    FAILED = "failed"
    CANCELLED = "cancelled"
    NOT_STARTED = "not started"  # public path, 3.11: cancelled before its first step


# Module names for the members: the hot path reads a global, not an attribute.
OK = CallEnd.OK
FAILED = CallEnd.FAILED
CANCELLED = CallEnd.CANCELLED
NOT_STARTED = CallEnd.NOT_STARTED


class CallOwner(Protocol):
    """What a phase call needs from the run that started it: the narrow face of ``_run.Run``.

    Continuations (``_call``), attempts and observed specs (``_observe``) see
    the run only through this.
    """

    @property
    def ctx(self) -> Any:
        """The user's context object of the run."""

    @property
    def refuses_new_calls(self) -> bool:
        """Whether a call that has not begun may no longer begin (public path, 3.11)."""

    def report(
        self,
        task: asyncio.Task[Any] | None,
        node: int,
        outcome: CallEnd,
        error: BaseException | None,
    ) -> None:
        """The call of ``node`` ended with ``outcome`` (and ``error``, unless OK)."""

    def may_retry(self) -> bool:
        """Whether a failed call may make another attempt now."""

    def retry_refused(self, node: int, error: BaseException) -> BaseException:
        """What a call whose retry was refused fails with."""

    def cancel_failure(self, node: int, error: BaseException) -> BaseException | None:
        """The failure a cancelled call counts as, or ``None`` if the run asked for it."""

    def stops_on_cancel(self) -> bool:
        """Whether a cancel request to the driving task keeps new calls from starting."""

    def unfinished(self, node: int, work: Future[Any]) -> None:
        """Executor work of ``node`` outlived its attempt."""

    def describe(self, node: int) -> str:
        """``task 'name' <phase>`` for messages and reprs."""

    def cancels(self, node: int) -> None:
        """The run's cancel request reaches the call of ``node`` where it next waits."""

    def attempting(self, node: int, number: int) -> None:
        """The call of ``node`` begins attempt ``number`` (2 for the first retry)."""


class NotAwaitable(TypeError):
    """A phase function returned something that cannot be awaited."""

    def __init__(self, value: Any) -> None:
        super().__init__(value)
        self.value = value


class _GroupHandle(SdaxTaskGroup):
    """The task group of one attempt of a task-group phase function."""

    __slots__ = ("_group",)

    def __init__(self, group: asyncio.TaskGroup) -> None:
        self._group = group

    def create_task(
        self, coro: Awaitable[Any], *, name: str | None = None, context: Any | None = None
    ) -> asyncio.Task[Any]:
        """Start ``coro`` as a subtask of this attempt."""
        if not isinstance(coro, Coroutine):
            coro = _await(coro)
        return self._group.create_task(coro, name=name, context=context)


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


async def _group_attempt(fn: Any, ctx: Any) -> Any:
    async with asyncio.TaskGroup() as group:
        result = fn(ctx, _GroupHandle(group))
        if isinstance(result, Awaitable):
            return await result
    # Raised outside the group, so it is not wrapped in the group's ExceptionGroup.
    raise NotAwaitable(result)


def make_coroutine(
    spec: PhaseSpec, ctx: Any, owner: CallOwner | None = None, node: int = -1
) -> Coroutine[Any, Any, Any]:
    """Start one attempt of a phase function and return its coroutine.

    ``owner.unfinished(node, future)`` hears about executor work that is
    still running when the attempt is cancelled.

    Raises:
        NotAwaitable: The function returned something that is not awaitable.
        BaseException: Whatever calling the function raised.
    """
    kind = spec.kind
    if kind is KIND_GROUP:
        return _group_attempt(spec.fn, ctx)
    if kind is KIND_EXECUTOR:
        executor = spec.executor
        assert executor is not None  # the executor kind is the one that has one
        if owner is None:
            return run_in_executor(spec.fn, executor, ctx, None)
        return run_in_executor(spec.fn, executor, ctx, _Unfinished(owner, node), (owner, node))
    result = spec.fn(ctx)
    if isinstance(result, Coroutine):
        return result
    if isinstance(result, Awaitable):
        return _await(result)
    raise NotAwaitable(result)


class _Unfinished:
    """Tells a run about executor work that outlived its attempt."""

    __slots__ = ("node", "owner")

    def __init__(self, owner: CallOwner, node: int) -> None:
        self.owner = owner
        self.node = node

    def __call__(self, work: Future[Any]) -> None:
        self.owner.unfinished(self.node, work)


async def _timed(coro: Coroutine[Any, Any, Any], timeout: float) -> Any:
    async with asyncio.timeout(timeout):
        return await coro


async def _limited(
    spec: PhaseSpec, ctx: Any, owner: CallOwner, node: int, began: Callable[[], None] | None
) -> Any:
    held: list[CapacityLimit] = []
    try:
        for limit in spec.limits:
            if not limit.try_acquire():
                await limit.acquire()
            held.append(limit)
        if began is not None:
            began()
        coro = make_coroutine(spec, ctx, owner, node)
        if spec.timeout is None:
            return await coro
        async with asyncio.timeout(spec.timeout):
            return await coro
    finally:
        for limit in reversed(held):
            limit.release()


def attempt(
    spec: PhaseSpec,
    ctx: Any,
    owner: CallOwner,
    node: int,
    began: Callable[[], None] | None = None,
) -> Coroutine[Any, Any, Any]:
    """One attempt with its limits and timeout applied inside the coroutine.

    ``began()`` is called when the attempt really starts: once it holds its
    capacity-limit slots.
    """
    if spec.limits:
        return _limited(spec, ctx, owner, node, began)
    if began is not None:
        began()
    coro = make_coroutine(spec, ctx, owner, node)
    if spec.timeout is None:
        return coro
    return _timed(coro, spec.timeout)


async def first_attempt(spec: PhaseSpec, ctx: Any, owner: CallOwner, node: int) -> Any:
    """The first attempt of a call, begun inside the call's own task (public path).

    Everything the user's function does at call time then runs with that task
    current, as on the fast path.
    """
    if spec.limits:
        coro = attempt(spec, ctx, owner, node)
    elif spec.kind is KIND_ASYNC:
        coro = spec.fn(ctx)
    else:
        coro = make_coroutine(spec, ctx, owner, node)
    # A traceback through this frame must not keep the run or the context.
    del spec, ctx, owner
    return await coro


def is_retryable(exc: BaseException, retryable: tuple[type[BaseException], ...]) -> bool:
    """Whether every leaf of ``exc`` is one of the retryable types."""
    if not isinstance(exc, Exception):
        return False
    if not isinstance(exc, BaseExceptionGroup):
        return isinstance(exc, retryable)
    return all(isinstance(leaf, retryable) for leaf in flatten_exceptions(exc))


def first_retry_due(spec: PhaseSpec, exc: BaseException) -> bool:
    """Whether a first attempt that failed with ``exc`` is to be retried."""
    return spec.retries > 0 and is_retryable(exc, spec.retryable)


def retry_delay(spec: PhaseSpec, retry: int) -> float:
    """Delay before retry number ``retry`` (0 for the first retry)."""
    return spec.initial_delay * spec.backoff_factor**retry * random.uniform(0.5, 1.0)


async def retry_attempts(
    spec: PhaseSpec, ctx: Any, error: BaseException, owner: CallOwner, node: int
) -> Any:
    """Run the retries of a call whose first attempt failed with ``error``."""
    # Hooks of an observed spec (sdax._observe.ObservedSpec), absent otherwise.
    notify = getattr(spec, "retrying", None)
    notify_cancelled = getattr(spec, "retry_cancelled", None)
    retry = 0
    while True:
        if not owner.may_retry():
            # The run stopped (or the cleanup budget ran out): no new attempt.
            try:
                raise owner.retry_refused(node, error)
            finally:
                del error  # no frame -> error cycle
        delay = retry_delay(spec, retry)
        if notify is not None:
            notify(error, delay)
        try:
            await asyncio.sleep(delay)
        except CancelledError as exc:
            if notify_cancelled is not None:
                notify_cancelled(exc)
            raise
        owner.attempting(node, retry + 2)
        try:
            return await attempt(spec, ctx, owner, node)
        except Exception as exc:
            retry += 1
            if retry >= spec.retries or not is_retryable(exc, spec.retryable):
                del error  # no frame -> error cycle
                raise
            error = exc
