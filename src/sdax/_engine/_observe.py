"""Per-run phase specs: observed calls, and cleanups that wait for leftover work.

A run with observers gets its own copy of the phase spec lists in which every
spec is an :class:`ObservedSpec`: its function wraps one attempt of the real
one with start/finish/failure/cancel events and applies the attempt timeout
itself (so a timeout is seen as the ``TimeoutError`` it becomes). Runs
without observers use the processor's lists as they are, so unobserved runs
pay nothing for this.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import warnings
from asyncio import CancelledError
from collections.abc import Hashable, Sequence
from typing import Any

from sdax._build import KIND_ASYNC, PhaseId, PhaseSpec
from sdax._engine._attempt import CallOwner, attempt, is_retryable
from sdax._engine._events import PhaseEvent, RunInfo, RunObserver

__all__ = ["AfterWorkSpec", "Dispatch", "ObservedSpec", "after_work", "observed_specs"]

_run_ids = itertools.count(1)


_HOOKS = (
    "run_started",
    "run_finished",
    "phase_started",
    "phase_finished",
    "phase_failed",
    "phase_retrying",
    "phase_cancelled",
)


class Dispatch:
    """Sends events to the observers of one run, isolating their errors.

    Only the hooks some observer overrides are called (``wants``), so events
    nobody listens to are never built.

    Args:
        observers: The observers, processor-level ones first.
        ctx: The run's context object.
        tasks: Number of tasks of the processor.
    """

    __slots__ = ("_ctx", "_tasks", "_warned", "info", "observers", "wants")

    def __init__(self, observers: Sequence[RunObserver], ctx: Any, tasks: int) -> None:
        self.observers = tuple(observers)
        self._ctx = ctx
        self._tasks = tasks
        self.info = RunInfo(0, ctx, time.monotonic(), tasks)
        self._warned = False
        self.wants = frozenset(
            hook
            for hook in _HOOKS
            for observer in self.observers
            if getattr(type(observer), hook, None) is not getattr(RunObserver, hook)
        )

    def start(self) -> None:
        """The run starts now: give it its id and start time, and say so."""
        self.info = RunInfo(next(_run_ids), self._ctx, time.monotonic(), self._tasks)
        self.emit("run_started", self.info)

    def emit(self, hook: str, *args: Any) -> None:
        """Call ``hook(*args)`` on every observer; warn once if one raises."""
        for observer in self.observers:
            try:
                getattr(observer, hook)(*args)
            except Exception as exc:
                if not self._warned:
                    self._warned = True
                    warnings.warn(
                        f"sdax observer {observer!r} raised {exc!r} in {hook}(); "
                        "its further errors in this run are ignored",
                        RuntimeWarning,
                        stacklevel=2,
                    )


class _SpecWrapper:
    """A run-local phase spec that wraps another one.

    The run sees an ``async def`` without timeout or limits (so every call
    takes the eager path); ``fn`` runs one attempt of the wrapped spec, which
    applies its own timeout and limits. The retry policy is the wrapped one's.
    """

    __slots__ = (
        "_inner",
        "_node",
        "_owner",
        "backoff_factor",
        "initial_delay",
        "retries",
        "retryable",
        "task_function",
    )

    # What the run reads as the call's shape: a plain ``async def`` with no
    # timeout, limits or executor (the wrapped spec applies its own).
    kind = KIND_ASYNC
    timeout = None
    limits = ()
    executor = None
    fast = True

    def __init__(self, inner: Any, owner: CallOwner, node: int) -> None:
        self._inner = inner
        self._owner = owner
        self._node = node
        # The declaration and its retry policy are the wrapped spec's.
        self.task_function = inner.task_function
        self.retries = inner.retries
        self.retryable = inner.retryable
        self.initial_delay = inner.initial_delay
        self.backoff_factor = inner.backoff_factor


class ObservedSpec(_SpecWrapper):
    """A phase spec whose attempts report to a run's observers.

    It looks like a :class:`PhaseSpec` to the run (an ``async def`` without a
    timeout, so it takes the eager path), while each call of ``fn`` runs one
    attempt of the wrapped spec. An attempt "starts" once it holds its
    capacity-limit slots, so queueing is not counted as running time. A
    cancellation the run did not ask for is reported as the failure the run
    records for it.
    """

    __slots__ = ("_attempts", "_dispatch", "_phase", "_started", "_task")

    def __init__(
        self,
        inner: PhaseSpec,
        dispatch: Dispatch,
        task: Hashable,
        phase: PhaseId,
        owner: CallOwner,
        node: int,
    ) -> None:
        super().__init__(inner, owner, node)
        self._dispatch = dispatch
        self._task = task
        self._phase = phase
        self._attempts = 0
        self._started = 0.0

    @property
    def fn(self) -> Any:
        """One observed attempt (a property: storing the bound method would be a cycle)."""
        return self._attempt

    def _emit(self, hook: str, **extra: Any) -> None:
        dispatch = self._dispatch
        if hook in dispatch.wants:
            now = time.monotonic()
            started = now if hook == "phase_started" else self._started
            dispatch.emit(
                hook,
                PhaseEvent(
                    dispatch.info,
                    self._task,
                    self._phase,
                    self._attempts - 1,
                    now,
                    started,
                    **extra,
                ),
            )

    def _begin(self) -> None:
        self._attempts += 1
        self._started = time.monotonic()
        self._emit("phase_started")

    async def _attempt(self, ctx: Any) -> Any:
        inner = self._inner
        attempts = self._attempts
        try:
            result = await attempt(inner, ctx, self._owner, self._node, self._begin)
        except CancelledError as exc:
            if self._attempts == attempts:
                # Cancelled while waiting for a slot: the attempt never began.
                self._attempts += 1
                self._started = time.monotonic()
            failure = self._owner.cancel_failure(self._node, exc)
            if failure is None:
                self._emit("phase_cancelled", error=exc)
            else:
                self._emit("phase_failed", error=failure)
            raise
        except BaseException as exc:
            retry = self._attempts <= inner.retries and is_retryable(exc, inner.retryable)
            self._emit("phase_failed", error=exc, will_retry=retry)
            raise
        self._emit("phase_finished")
        return result

    def retrying(self, error: BaseException, delay: float) -> None:
        """Report that the next attempt starts after ``delay`` seconds."""
        if "phase_retrying" in self._dispatch.wants:
            self._attempts += 1
            self._started = time.monotonic()
            self._emit("phase_retrying", error=error, delay=delay)
            self._attempts -= 1

    def retry_cancelled(self, error: BaseException) -> None:
        """The pause before the next attempt was cancelled: that attempt never runs."""
        self._attempts += 1
        self._started = time.monotonic()
        self._emit("phase_cancelled", error=error)


def observed_specs(
    specs: Sequence[PhaseSpec | None],
    names: Sequence[Hashable],
    dispatch: Dispatch,
    phase: PhaseId,
    owner: CallOwner,
) -> list[Any]:
    """A run's own copy of a phase's spec list, every spec observed."""
    return [
        None if spec is None else ObservedSpec(spec, dispatch, names[node], phase, owner, node)
        for node, spec in enumerate(specs)
    ]


class AfterWorkSpec(_SpecWrapper):
    """A post spec that first waits for executor work its task left running.

    The wait never cancels the work; the run's cleanup budget bounds it (the
    post is then cancelled while waiting and reported as timed out).
    """

    __slots__ = ("_work",)

    def __init__(self, inner: Any, work: list[Any], owner: CallOwner, node: int) -> None:
        super().__init__(inner, owner, node)
        self._work = work

    @property
    def fn(self) -> Any:
        """Wait, then attempt (a property: storing the bound method would be a cycle)."""
        return self._after

    async def _after(self, ctx: Any) -> Any:
        pending = [asyncio.wrap_future(w) for w in self._work if not w.done()]
        if pending:
            await asyncio.wait(pending)
        return await attempt(self._inner, ctx, self._owner, self._node)


def after_work(specs: Sequence[Any], work: dict[int, list[Any]], owner: CallOwner) -> list[Any]:
    """A copy of the post specs in which tasks with leftover work wait for it first."""
    patched = list(specs)
    for node, futures in work.items():
        if patched[node] is not None:
            patched[node] = AfterWorkSpec(patched[node], futures, owner, node)
    return patched
