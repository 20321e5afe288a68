"""How one phase function is called: eagerly first, as a task only if it waits.

The cheapest way to run a coroutine that never suspends is to send it ``None``
once. A run does exactly that for every phase function (the *eager step*),
inside its own copy of the context and with ``asyncio.current_task()``
pointing at a task object reserved for the call. Only when the function
suspends does that task object get initialized, with a continuation that
resumes the coroutine where it stopped; code that captured the task during the
eager step (``asyncio.timeout()``, ``asyncio.TaskGroup``, ``wait_for`` on
3.12+) holds the very task that runs the rest of the call.

The continuation also enforces the attempt's timeout (a timer handle, not
``wait_for``), runs the retries, and reports the outcome of the call to the
run that started it.
"""

from __future__ import annotations

import asyncio
import random
from asyncio import CancelledError
from collections.abc import Awaitable, Callable, Coroutine, Generator
from contextvars import Context
from typing import Any

from sdax._errors import flatten_exceptions
from sdax._plan import KIND_GROUP, PhaseSpec
from sdax.tasks import SdaxTaskGroup

__all__ = [
    "CANCELLED",
    "FAILED",
    "NOTHING",
    "OK",
    "Continuation",
    "NotAwaitable",
    "PhaseTask",
    "is_retryable",
    "make_coroutine",
    "new_phase_task",
    "retry_attempts",
    "retry_delay",
    "set_current_task",
]

OK = 0
FAILED = 1
CANCELLED = 2

NOTHING: Any = object()  # marks "no pending first yield"


class PhaseTask(asyncio.Task):  # type: ignore[type-arg]
    """The task of one phase call.

    It is allocated before the eager step and initialized only if the call
    suspends, so until then it is a task object that has not started. The two
    accessors that would read unset fields of such an object are guarded.
    """

    __slots__ = ()

    def _is_initialized(self) -> bool:
        try:
            self.get_loop()
        except RuntimeError:
            return False
        return True

    def get_coro(self) -> Any:
        """The coroutine of the task, or ``None`` while the call runs eagerly."""
        if not self._is_initialized():
            return None
        return super().get_coro()

    def get_context(self) -> Any:
        """The context of the task, or ``None`` while the call runs eagerly."""
        if not self._is_initialized():
            return None
        return super().get_context()


new_phase_task: Callable[[type[PhaseTask]], PhaseTask] = asyncio.Task.__new__  # type: ignore[assignment]

_swap = getattr(asyncio.tasks, "_swap_current_task", None)
_current: dict[Any, Any] | None = (
    None if _swap is not None else asyncio.tasks._current_tasks  # type: ignore[attr-defined]
)


def set_current_task(loop: asyncio.AbstractEventLoop, task: Any) -> Any:
    """Make ``task`` the current task of ``loop`` (``None`` for no task).

    Returns:
        The task that was current before.
    """
    if _current is None:
        return _swap(loop, task)  # type: ignore[misc]
    prev = _current.get(loop)
    if task is None:
        _current.pop(loop, None)
    else:
        _current[loop] = task
    return prev


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
        return await fn(ctx, _GroupHandle(group))


def make_coroutine(spec: PhaseSpec, ctx: Any) -> Coroutine[Any, Any, Any]:
    """Start one attempt of a phase function and return its coroutine.

    Raises:
        NotAwaitable: The function returned something that is not awaitable.
        BaseException: Whatever calling the function raised.
    """
    if spec.kind == KIND_GROUP:
        return _group_attempt(spec.fn, ctx)
    result = spec.fn(ctx)
    if isinstance(result, Coroutine):
        return result
    if isinstance(result, Awaitable):
        return _await(result)
    raise NotAwaitable(result)


def is_retryable(exc: BaseException, retryable: tuple[type[BaseException], ...]) -> bool:
    """Whether every leaf of ``exc`` is one of the retryable types."""
    if not isinstance(exc, Exception):
        return False
    if not isinstance(exc, BaseExceptionGroup):
        return isinstance(exc, retryable)
    return all(isinstance(leaf, retryable) for leaf in flatten_exceptions(exc))


def retry_delay(spec: PhaseSpec, retry: int) -> float:
    """Delay before retry number ``retry`` (0 for the first retry)."""
    return spec.initial_delay * spec.backoff_factor**retry * random.uniform(0.5, 1.0)


async def retry_attempts(spec: PhaseSpec, ctx: Any, first_retry: int) -> Any:
    """Run the remaining attempts of a call, from retry ``first_retry`` on."""
    retry = first_retry
    while True:
        await asyncio.sleep(retry_delay(spec, retry))
        try:
            coro = make_coroutine(spec, ctx)
            if spec.timeout is None:
                return await coro
            async with asyncio.timeout(spec.timeout):
                return await coro
        except Exception as exc:
            retry += 1
            if retry >= spec.retries or not is_retryable(exc, spec.retryable):
                raise


class Continuation(Coroutine[Any, Any, None]):
    """Drives the rest of a phase call inside its task, then reports.

    It resumes an attempt that suspended during its eager step (first handing
    the task the awaitable the attempt is waiting on), applies the attempt's
    deadline, switches to the retry attempts when the failure allows it, and
    finally calls ``report(task, node, outcome, error)``. The report is made from
    within the task's last step, so a run learns about it without waiting
    for task callbacks.
    """

    __slots__ = (
        "_cancelling",
        "_coro",
        "_ctx",
        "_node",
        "_report",
        "_retrying",
        "_spec",
        "_task",
        "_timed_out",
        "_timer",
        "_yielded",
    )

    def __init__(
        self,
        report: Callable[[PhaseTask, int, int, BaseException | None], None],
        node: int,
        spec: PhaseSpec,
        ctx: Any,
        coro: Coroutine[Any, Any, Any],
        yielded: Any,
        retrying: bool,
    ) -> None:
        self._report = report
        self._node = node
        self._spec = spec
        self._ctx = ctx
        self._coro = coro
        self._yielded = yielded
        self._retrying = retrying
        self._task: PhaseTask | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timed_out = False
        self._cancelling = 0

    def arm(self, task: PhaseTask, deadline: float | None) -> None:
        """Bind the task running this continuation and start the attempt's timer."""
        self._task = task
        if deadline is not None:
            self._cancelling = task.cancelling()
            self._timer = task.get_loop().call_at(deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        self._timed_out = True
        assert self._task is not None
        self._task.cancel()

    def send(self, value: Any) -> Any:
        """Resume the call (the task's step)."""
        yielded = self._yielded
        if yielded is not NOTHING:
            self._yielded = NOTHING
            return yielded
        return self._step(self._coro.send, value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        """Deliver an exception (usually a cancellation) into the call."""
        self._yielded = NOTHING
        if isinstance(typ, BaseException):
            exc = typ
        elif val is None:
            exc = typ()
        else:
            exc = val
        return self._step(self._coro.throw, exc)

    def close(self) -> None:
        """Close the underlying coroutine."""
        self._stop_timer()
        self._coro.close()

    def __await__(self) -> Generator[Any, None, None]:
        raise TypeError("a phase continuation is driven by its task, not awaited")

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _step(self, op: Callable[[Any], Any], arg: Any) -> Any:
        try:
            return op(arg)
        except StopIteration:
            outcome, error = OK, None
        except CancelledError as exc:
            task = self._task
            if self._timed_out and task is not None and task.uncancel() <= self._cancelling:
                outcome, error = FAILED, TimeoutError()
            else:
                outcome, error = CANCELLED, exc
        except BaseException as exc:  # noqa: BLE001 - every failure is reported
            outcome, error = FAILED, exc
        self._stop_timer()
        self._timed_out = False
        spec = self._spec
        if (
            outcome == FAILED
            and not self._retrying
            and spec.retries > 0
            and is_retryable(error, spec.retryable)  # type: ignore[arg-type]
        ):
            self._retrying = True
            self._coro = retry_attempts(spec, self._ctx, 0)
            return self._step(self._coro.send, None)
        self._report(self._task, self._node, outcome, error)  # type: ignore[arg-type]
        raise StopIteration
