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
import enum
from asyncio import CancelledError
from collections.abc import Coroutine, Generator
from heapq import heappop, heappush
from inspect import CORO_CREATED, getcoroutinestate
from typing import Any

from sdax._build import PhaseSpec
from sdax._engine._attempt import (
    CANCELLED,
    FAILED,
    NOT_STARTED,
    OK,
    CallEnd,
    CallOwner,
    first_attempt,
    first_retry_due,
    retry_attempts,
)
from sdax._engine._eager import clock_resolution, rearm_yielded

__all__ = [
    "CANCELLED",
    "FAILED",
    "NOTHING",
    "NOT_STARTED",
    "OK",
    "AttemptTimer",
    "CallEnd",
    "Continuation",
    "Deadlines",
    "LazyContinuation",
]


class AttemptTimer(enum.Enum):
    """The state of a continuation's attempt deadline (``None``: it has none)."""

    ARMED = "armed"  # the deadline is pending
    FIRED = "fired"  # the deadline passed: the attempt was cancelled


NOTHING: Any = object()  # marks "no pending first yield"
# What an ended call's slots hold (None): they are read only while it runs,
# and ``__repr__``/``call()`` check for it.
_RELEASED: Any = None
_ARMED = AttemptTimer.ARMED
_FIRED = AttemptTimer.FIRED


class Deadlines:
    """One event-loop timer for every attempt deadline of a run.

    Arming a loop timer per attempt costs a timer handle and its
    cancellation; here an attempt costs a heap push, and the run keeps a
    single timer for the earliest deadline. Attempts that ended before their
    deadline are dropped lazily.

    Args:
        loop: The run's event loop.
    """

    __slots__ = ("_at", "_handle", "_heap", "_loop", "_seq")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[tuple[float, int, Continuation]] = []
        self._handle: asyncio.TimerHandle | None = None
        self._at = 0.0
        self._seq = 0

    def add(self, deadline: float, cont: Continuation) -> None:
        """Expire ``cont`` at ``deadline`` unless it ends first."""
        self._seq += 1
        heappush(self._heap, (deadline, self._seq, cont))
        if self._handle is None or deadline < self._at:
            self._arm(deadline)

    def _arm(self, deadline: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._at = deadline
        self._handle = self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._handle = None
        heap = self._heap
        now = self._loop.time() + clock_resolution(self._loop)
        while heap and heap[0][0] <= now:
            heappop(heap)[2].expire()
        while heap and not heap[0][2].armed:
            heappop(heap)
        if heap:
            self._arm(heap[0][0])

    def close(self) -> None:
        """Forget every deadline and stop the timer."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._heap.clear()


class Continuation(Coroutine[Any, Any, None]):
    """Drives the rest of a phase call inside its task, then reports.

    It resumes an attempt that suspended during its eager step (first handing
    the task the awaitable the attempt is waiting on), applies the attempt's
    deadline, switches to the retry attempts when the failure allows it, and
    finally calls ``owner.report(task, node, outcome, error)``. The report is
    made from within the task's last step, so the run learns about it without
    waiting for task callbacks.

    Args:
        owner: The run; it provides ``ctx``, ``report`` and ``describe``.
        node: The node whose phase is called.
        spec: The phase function.
        coro: The attempt in progress (or the retry attempts).
        yielded: What the attempt yielded during its eager step, or
            ``NOTHING`` when the task must start ``coro`` itself.
        task: The task that runs this continuation (initialized next), or
            ``None`` until ``bind`` names it (public path).
        retrying: Whether ``coro`` already runs the retry attempts.
    """

    __slots__ = ("_cancelling", "_coro", "_node", "_owner", "_spec", "_task", "_timer", "_yielded")

    def __init__(
        self,
        owner: CallOwner,
        node: int,
        spec: PhaseSpec,
        coro: Coroutine[Any, Any, Any],
        yielded: Any,
        task: asyncio.Task[Any] | None,
        retrying: bool,
    ) -> None:
        self._owner = owner
        self._node = node
        self._spec = spec
        self._coro = coro
        self._yielded = yielded
        self._task: Any = task  # None until bind() on the public path
        self._timer: AttemptTimer | None = None
        # -1: the retry attempts run (no more switching); >= 0: cancel requests
        # the task had when the attempt's timer was armed.
        self._cancelling = -1 if retrying else 0

    def call(self) -> tuple[CallOwner, int] | None:
        """The run and node of this call while it runs (``sdax.current_call()``)."""
        return None if self._owner is None else (self._owner, self._node)

    def bind(self, task: asyncio.Task[Any]) -> None:
        """Name the task that runs this continuation (public path: known after its first step)."""
        self._task = task

    def start_timer(self, deadline: float, deadlines: Deadlines) -> None:
        """Cancel the attempt at ``deadline`` (loop time); it then fails with TimeoutError.

        Only the first attempt is timed this way: once the call switched to
        its retries (possible during an eager first step), each retry times
        itself, so there is nothing to arm.
        """
        if self._cancelling < 0:
            return
        self._cancelling = self._task.cancelling()
        self._timer = _ARMED
        deadlines.add(deadline, self)

    @property
    def armed(self) -> bool:
        """Whether the attempt's deadline is still pending."""
        return self._timer is _ARMED

    def expire(self) -> None:
        """The deadline passed: cancel the attempt if it is still running."""
        if self._timer is _ARMED:
            self._timer = _FIRED
            self._task.cancel()

    def send(self, value: Any) -> Any:
        """Resume the call (one step of its task)."""
        yielded = self._yielded
        if yielded is not NOTHING:
            self._yielded = NOTHING
            return rearm_yielded(yielded)
        try:
            return self._coro.send(value)
        except BaseException as exc:
            return self._ended(exc)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        """Deliver an exception (usually a cancellation) into the call."""
        self._yielded = NOTHING
        if isinstance(typ, BaseException):
            exc = typ
        elif val is None:
            exc = typ()
        else:
            exc = val
        try:
            return self._coro.throw(exc)
        except BaseException as err:
            # This frame is in err's traceback: it must not hold err itself.
            del typ, val, exc
            return self._ended(err)

    def close(self) -> None:
        """Close the underlying coroutine."""
        self._timer = None
        self._coro.close()

    def __await__(self) -> Generator[Any, None, None]:
        raise TypeError("a phase continuation is driven by its task, not awaited")

    def __repr__(self) -> str:
        if self._owner is None:
            return "<sdax phase call (ended)>"
        return f"<sdax phase call: {self._owner.describe(self._node)}>"

    def _ended(self, exc: BaseException) -> Any:
        """The attempt in progress ended with ``exc``: retry it or report it."""
        timer = self._timer
        self._timer = None
        error: BaseException | None
        outcome: CallEnd
        if isinstance(exc, StopIteration):
            outcome, error = OK, None
        elif isinstance(exc, CancelledError):
            if timer is _FIRED and self._task.uncancel() <= self._cancelling:
                outcome, error = FAILED, TimeoutError()
                error.__cause__ = exc
            else:
                outcome, error = CANCELLED, exc
        else:
            outcome, error = FAILED, exc
        spec = self._spec
        if (
            outcome is FAILED
            and self._cancelling >= 0
            and error is not None
            and first_retry_due(spec, error)
        ):
            self._cancelling = -1
            self._coro = retry_attempts(spec, self._owner.ctx, error, self._owner, self._node)
            return self.send(None)
        owner, task = self._owner, self._task
        # The task keeps its coroutine (this object) until the task is freed:
        # let go of the task, the run and the finished attempt now.
        self._owner = self._task = self._coro = _RELEASED
        owner.report(task, self._node, outcome, error)
        raise StopIteration


class LazyContinuation(Continuation):
    """A continuation whose task may be stopped before its first step.

    On the public path without eager tasks (3.11), a call's task starts on a
    later loop turn. If the run stops first (its task is cancelled), or the
    task that drives the run was asked to cancel meanwhile, the call never
    begins: it reports ``NOT_STARTED``, so the run does not count it as
    started. A post always begins.
    """

    __slots__ = ("_base", "_driver")

    def watch(self, driver: asyncio.Task[Any] | None) -> None:
        """Remember the run's driving task and its cancel requests at this moment."""
        self._driver = driver
        self._base = 0 if driver is None else driver.cancelling()

    def send(self, value: Any) -> Any:
        """Resume the call; on the first step, first check that it may still begin."""
        driver = self._driver
        if driver is not None:
            self._driver = None  # hold the driver (and its frames) no longer than needed
            owner = self._owner
            if owner.stops_on_cancel() and (
                driver.cancelling() > self._base or owner.refuses_new_calls
            ):
                return self._never_began()
        return super().send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        """Deliver an exception; before the first step, report that the call never began."""
        self._driver = None
        coro = self._coro
        if getattr(coro, "cr_code", None) is _FIRST_ATTEMPT_CODE and (
            getcoroutinestate(coro) == CORO_CREATED
        ):
            del coro
            typ = val = tb = None
            if self._owner.stops_on_cancel():
                return self._never_began()
            # A post always begins: its first step runs, then the cancellation
            # (the cleanup budget, or the attempt's timer) lands where it
            # suspends. The request is moved, not added: the count of cancel
            # requests stays as the canceller left it, which tells a timeout
            # from another cancellation.
            task, owner, node = self._task, self._owner, self._node
            yielded = Continuation.send(self, None)  # a first step that ends raises here
            task.uncancel()
            owner.cancels(node)  # from now on, a CancelledError is the canceller's
            task.cancel()
            return yielded
        try:
            return super().throw(typ, val, tb)
        finally:
            typ = val = tb = None  # this frame is in the error's traceback
            del coro

    def _never_began(self) -> Any:
        self._coro.close()
        self._timer = None
        owner, task = self._owner, self._task
        self._owner = self._task = self._coro = _RELEASED
        owner.report(task, self._node, NOT_STARTED, None)
        raise StopIteration


_FIRST_ATTEMPT_CODE = first_attempt.__code__
