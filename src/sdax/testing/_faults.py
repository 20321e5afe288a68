"""Faults injected into phase calls, and the trace of what every call did.

A fault wraps the user's real phase function: the wrapper starts the user's
coroutine and steps it exactly as the event loop would, so the user's own
code runs up to the point where the fault strikes. At that point the wrapper
either raises before the user's code runs (``raise-start``), throws an
exception into the user's code where it waits (``raise-suspend``,
``interrupt``, ``retry-once``), keeps the user's code waiting until a timeout,
deadline or cancellation ends the wait (``hang``), or cancels the whole run
from outside while the call waits (``cancel``). A call that never waits meets
the fault at its end instead: its work is done, then the fault strikes.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Generator, Hashable
from dataclasses import dataclass, field
from typing import Any

from sdax.sdax_core import PhaseId

__all__ = [
    "KINDS",
    "PHASE_NAMES",
    "Attempt",
    "Event",
    "Fault",
    "InjectedFault",
    "RunState",
    "task_label",
]

KINDS: tuple[str, ...] = (
    "raise-start",
    "raise-suspend",
    "hang",
    "cancel",
    "interrupt",
    "retry-once",
)
"""Every fault kind, in the order scenarios are generated."""

PHASE_NAMES: dict[PhaseId, str] = {
    PhaseId.PRE_EXEC: "pre",
    PhaseId.EXECUTE: "execute",
    PhaseId.POST_EXEC: "post",
}
"""The short phase names used in scenario ids and traces."""

Call = tuple[Hashable, PhaseId]


class InjectedFault(Exception):
    """The exception the explorer raises inside a phase call (``raise-*`` faults)."""


def task_label(name: Hashable) -> str:
    """How a task name is written in scenario ids and traces."""
    if isinstance(name, str) and name and not any(c in name for c in " +@:'\"\n"):
        return name
    return repr(name)


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: what goes wrong, in which phase call.

    Attributes:
        kind: One of :data:`KINDS`.
        task: The task's name.
        phase: The phase whose call the fault strikes.
        retry_with: For ``retry-once``: the retryable exception class the
            call is failed with.
        at: For the kinds that strike where the call waits: at its
            ``at``-th suspension (1 for ``raise-start``).
        struck: Whether the fault struck in the run. Only the scenario a
            two-parameter ``check(ctx, scenario)`` gets knows it; a fault
            that did not strike (its call never started, or never waited
            that often) left the run alone.
    """

    kind: str
    task: Hashable
    phase: PhaseId
    retry_with: type[BaseException] | None = field(default=None, compare=False)
    at: int = 1
    struck: bool = field(default=False, compare=False)

    @property
    def phase_name(self) -> str:
        """The phase as scenario ids write it: ``"pre"``, ``"execute"`` or ``"post"``."""
        return PHASE_NAMES[self.phase]

    @property
    def call(self) -> Call:
        """The phase call the fault strikes, as ``(task, phase)``."""
        return (self.task, self.phase)

    @property
    def id(self) -> str:
        """The fault's id, e.g. ``hang@pre:Database``."""
        kind = self.kind if self.at == 1 else f"{self.kind}#{self.at}"
        return f"{kind}@{self.phase_name}:{task_label(self.task)}"


@dataclass(frozen=True, slots=True)
class Event:
    """One line of a scenario's trace.

    Attributes:
        seq: Position in the trace.
        time: Event-loop time, in seconds since the scenario's run started.
        source: ``"call"`` (the wrapped phase function), ``"sdax"`` (what
            sdax told an observer) or ``"explorer"`` (a fault or the run).
        what: ``start``, ``return``, ``raise``, ``cancelled``, ``fault``,
            ``finished``, ``failed``, ``retry``, ``cancel-run``, ...
        task: The task, for call and sdax events.
        phase: The phase, for call and sdax events.
        attempt: The attempt (0 for the first), for call and sdax events.
        error: The exception involved, if any.
        detail: Free text shown in the trace.
    """

    seq: int
    time: float
    source: str
    what: str
    task: Hashable = None
    phase: PhaseId | None = None
    attempt: int = 0
    error: BaseException | None = None
    detail: str = ""

    @property
    def call(self) -> Call:
        """``(task, phase)`` of the event."""
        return (self.task, self.phase)  # type: ignore[return-value]  # (None, None) for run events

    def line(self) -> str:
        """The event as one line of a report."""
        where = ""
        if self.phase is not None:
            where = f"{PHASE_NAMES[self.phase]} {task_label(self.task)}"
            if self.attempt:
                where += f" (attempt {self.attempt + 1})"
        text = self.what
        if self.error is not None:
            text += f" {type(self.error).__name__}"
            message = str(self.error)
            if message and self.what != "fault":
                text += f": {message}"
        if self.detail:
            text += f" {self.detail}"
        prefix = {"call": "", "sdax": "sdax: ", "explorer": "explorer: "}[self.source]
        return f"{self.time:9.3f}s  {where:<28} {prefix}{text}"


def _cancel_awaited(awaited: Any) -> None:
    # What Task.cancel() does to the future a task waits on: the user's code
    # then unwinds from a wait that really ended.
    if asyncio.isfuture(awaited) and not awaited.done():
        awaited.cancel()


class RunState:
    """The faults and the trace of one scenario's run."""

    def __init__(self, faults: dict[Call, Fault], loop: asyncio.AbstractEventLoop) -> None:
        self.faults = faults
        self.loop = loop
        self.events: list[Event] = []
        self.attempts: dict[Call, int] = {}
        self.reached: set[Fault] = set()
        self.run_task: asyncio.Task[Any] | None = None
        self.cancels_sent = 0
        self.suspensions: dict[Call, int] = {}
        """The most times an attempt of each call waited (suspended)."""
        self._seq = itertools.count()
        self._t0 = loop.time()

    def add(
        self,
        source: str,
        what: str,
        call: Call | None = None,
        attempt: int = 0,
        error: BaseException | None = None,
        detail: str = "",
    ) -> None:
        """Append one event to the trace."""
        task, phase = call if call is not None else (None, None)
        self.events.append(
            Event(
                next(self._seq),
                self.loop.time() - self._t0,
                source,
                what,
                task,
                phase,
                attempt,
                error,
                detail,
            )
        )

    def elapsed(self) -> float:
        """Event-loop seconds since the run started."""
        return self.loop.time() - self._t0

    def fault_for(self, call: Call, attempt: int) -> Fault | None:
        """The fault striking this attempt of ``call``, if any."""
        fault = self.faults.get(call)
        if fault is None or (fault.kind == "retry-once" and attempt > 0):
            return None
        return fault

    def inject(self, fault: Fault, call: Call, attempt: int, where: str) -> BaseException:
        """Make (and record) the exception a fault raises."""
        message = f"injected by sdax.testing: {fault.id} (attempt {attempt + 1}, {where})"
        exc: BaseException
        if fault.kind == "interrupt":
            exc = KeyboardInterrupt(message)
        elif fault.kind == "retry-once" and fault.retry_with is not None:
            exc = fault.retry_with(message)
        else:
            exc = InjectedFault(message)
        self.reached.add(fault)
        self.add("explorer", "fault", call, attempt, exc, f"({fault.kind}, {where})")
        return exc

    def schedule_cancel(self, fault: Fault, call: Call, attempt: int, where: str) -> None:
        """Cancel the run from outside at the next turn of the loop."""
        self.reached.add(fault)
        self.add("explorer", "fault", call, attempt, None, f"(cancel, {where})")
        self.loop.call_soon(self._cancel_run)

    def _cancel_run(self) -> None:
        task = self.run_task
        if task is None or task.done():
            self.add("explorer", "cancel-skipped", detail="(the run had finished)")
            return
        task.cancel()
        self.cancels_sent += 1
        self.add("explorer", "cancel-run", detail="(the run is cancelled from outside)")


def _forever(loop: asyncio.AbstractEventLoop) -> Generator[Any, Any, None]:
    waiter = loop.create_future()
    try:
        yield from waiter
    finally:
        waiter.cancel()


def _at_end(state: RunState, fault: Fault, call: Call, attempt: int) -> Generator[Any, Any, None]:
    where = "at its end (it never waited)"
    if fault.kind == "hang":
        state.reached.add(fault)
        state.add("explorer", "fault", call, attempt, None, f"(hang, {where})")
        yield from _forever(state.loop)
    elif fault.kind == "cancel":
        state.schedule_cancel(fault, call, attempt, where)
        yield  # one turn of the loop: the cancellation lands while the call waits
    else:
        raise state.inject(fault, call, attempt, where)


def _ordinal(n: int) -> str:
    return {1: "first", 2: "second", 3: "third"}.get(n, f"{n}th")


def _steps(
    state: RunState, call: Call, attempt: int, fault: Fault | None, inner: Any
) -> Generator[Any, Any, Any]:
    """Step the user's awaitable as a task would; strike at its ``fault.at``-th suspension."""
    send: Any = None
    throw: BaseException | None = None
    waits = 0
    try:
        while True:
            try:
                if throw is not None:
                    exc, throw = throw, None
                    out = inner.throw(exc)
                else:
                    out = inner.send(send)
            except StopIteration as stop:
                if fault is not None:
                    yield from _at_end(state, fault, call, attempt)
                return stop.value
            send = None
            waits += 1
            if fault is not None and waits == fault.at:
                pending, fault = fault, None
                where = f"at its {_ordinal(waits)} suspension"
                if pending.kind == "cancel":
                    state.schedule_cancel(pending, call, attempt, where)
                elif pending.kind == "hang":
                    state.reached.add(pending)
                    state.add("explorer", "fault", call, attempt, None, f"(hang, {where})")
                    try:
                        yield from _forever(state.loop)
                    except GeneratorExit:
                        inner.close()
                        raise
                    except BaseException as exc:
                        # Whatever ended the hang (a timeout, the deadline, a
                        # cancellation) reaches the user's code where it waits.
                        _cancel_awaited(out)
                        throw = exc
                        continue
                else:
                    _cancel_awaited(out)
                    throw = state.inject(pending, call, attempt, where)
                    continue
            try:
                send = yield out
            except GeneratorExit:
                inner.close()
                raise
            except BaseException as exc:
                throw = exc
    finally:
        if waits > state.suspensions.get(call, 0):
            state.suspensions[call] = waits


def _attempt(state: RunState, call: Call, make: Callable[[], Any]) -> Generator[Any, Any, Any]:
    attempt = state.attempts.get(call, 0)
    state.attempts[call] = attempt + 1
    state.add("call", "start", call, attempt)
    fault = state.fault_for(call, attempt)
    try:
        if fault is not None and fault.kind == "raise-start":
            raise state.inject(fault, call, attempt, "at its start")
        inner = make().__await__()
        value = yield from _steps(state, call, attempt, fault, inner)
    except GeneratorExit:
        raise
    except asyncio.CancelledError as exc:
        state.add("call", "cancelled", call, attempt, exc)
        raise
    except BaseException as exc:
        state.add("call", "raise", call, attempt, exc)
        raise
    state.add("call", "return", call, attempt)
    return value


class Attempt:
    """One attempt of a wrapped phase call (an awaitable)."""

    __slots__ = ("_call", "_make", "_state")

    def __init__(self, state: RunState, call: Call, make: Callable[[], Any]) -> None:
        self._state = state
        self._call = call
        self._make = make

    def __await__(self) -> Generator[Any, Any, Any]:
        return _attempt(self._state, self._call, self._make)
