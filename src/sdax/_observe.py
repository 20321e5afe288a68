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

from sdax._call import attempt, is_retryable
from sdax._phases import PhaseId
from sdax._plan import KIND_ASYNC, PhaseSpec
from sdax.observe import PhaseEvent, RunInfo, RunObserver

__all__ = ["AfterWorkSpec", "Dispatch", "ObservedSpec", "after_work", "observed_specs"]

_run_ids = itertools.count(1)


class Dispatch:
    """Sends events to the observers of one run, isolating their errors.

    Args:
        observers: The observers, processor-level ones first.
        ctx: The run's context object.
        tasks: Number of tasks of the processor.
    """

    __slots__ = ("_warned", "info", "observers")

    def __init__(self, observers: Sequence[RunObserver], ctx: Any, tasks: int) -> None:
        self.observers = tuple(observers)
        self.info = RunInfo(next(_run_ids), ctx, time.monotonic(), tasks)
        self._warned = False

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


class ObservedSpec:
    """A phase spec whose attempts report to a run's observers.

    It looks like a :class:`PhaseSpec` to the run (an ``async def`` without a
    timeout, so it takes the eager path), while each call of ``fn`` runs one
    attempt of the wrapped spec.
    """

    __slots__ = (
        "_attempts",
        "_dispatch",
        "_inner",
        "_node",
        "_owner",
        "_phase",
        "_task",
        "backoff_factor",
        "executor",
        "fast",
        "fn",
        "initial_delay",
        "kind",
        "limits",
        "retries",
        "retryable",
        "task_function",
        "timeout",
    )

    def __init__(
        self,
        inner: PhaseSpec,
        dispatch: Dispatch,
        task: Hashable,
        phase: PhaseId,
        owner: Any,
        node: int,
    ) -> None:
        self._inner = inner
        self._owner = owner
        self._node = node
        self._dispatch = dispatch
        self._task = task
        self._phase = phase
        self._attempts = 0
        self.task_function = inner.task_function
        self.retries = inner.retries
        self.retryable = inner.retryable
        self.initial_delay = inner.initial_delay
        self.backoff_factor = inner.backoff_factor
        self.kind = KIND_ASYNC
        self.timeout = None
        self.limits = ()
        self.executor = None
        self.fast = True
        self.fn = self._attempt

    def _event(self, started: float, **extra: Any) -> PhaseEvent:
        return PhaseEvent(
            self._dispatch.info,
            self._task,
            self._phase,
            self._attempts - 1,
            time.monotonic(),
            started,
            **extra,
        )

    async def _attempt(self, ctx: Any) -> Any:
        inner = self._inner
        dispatch = self._dispatch
        self._attempts += 1
        started = time.monotonic()
        dispatch.emit("phase_started", self._event(started))
        try:
            result = await attempt(inner, ctx, self._owner, self._node)
        except CancelledError as exc:
            dispatch.emit("phase_cancelled", self._event(started, error=exc))
            raise
        except BaseException as exc:
            retry = (
                self._attempts <= inner.retries
                and is_retryable(exc, inner.retryable)
            )
            dispatch.emit("phase_failed", self._event(started, error=exc, will_retry=retry))
            raise
        dispatch.emit("phase_finished", self._event(started))
        return result

    def retrying(self, error: BaseException, delay: float) -> None:
        """Report that the next attempt starts after ``delay`` seconds."""
        now = time.monotonic()
        self._dispatch.emit(
            "phase_retrying",
            PhaseEvent(
                self._dispatch.info,
                self._task,
                self._phase,
                self._attempts,
                now,
                now,
                error=error,
                delay=delay,
            ),
        )


def observed_specs(
    specs: Sequence[PhaseSpec | None],
    names: Sequence[Hashable],
    dispatch: Dispatch,
    phase: PhaseId,
    owner: Any,
) -> list[Any]:
    """A run's own copy of a phase's spec list, every spec observed."""
    return [
        None if spec is None else ObservedSpec(spec, dispatch, names[node], phase, owner, node)
        for node, spec in enumerate(specs)
    ]


class AfterWorkSpec:
    """A post spec that first waits for executor work its task left running.

    The wait never cancels the work; the run's cleanup budget bounds it (the
    post is then cancelled while waiting and reported as timed out).
    """

    __slots__ = (
        "_inner",
        "_node",
        "_owner",
        "_work",
        "backoff_factor",
        "executor",
        "fast",
        "fn",
        "initial_delay",
        "kind",
        "limits",
        "retries",
        "retryable",
        "task_function",
        "timeout",
    )

    def __init__(self, inner: Any, work: list[Any], owner: Any, node: int) -> None:
        self._inner = inner
        self._work = work
        self._owner = owner
        self._node = node
        self.task_function = inner.task_function
        self.retries = inner.retries
        self.retryable = inner.retryable
        self.initial_delay = inner.initial_delay
        self.backoff_factor = inner.backoff_factor
        self.kind = KIND_ASYNC
        self.timeout = None
        self.limits = ()
        self.executor = None
        self.fast = True
        self.fn = self._after

    async def _after(self, ctx: Any) -> Any:
        pending = [asyncio.wrap_future(w) for w in self._work if not w.done()]
        if pending:
            await asyncio.wait(pending)
        return await attempt(self._inner, ctx, self._owner, self._node)


def after_work(
    specs: Sequence[Any], work: dict[int, list[Any]], owner: Any
) -> list[Any]:
    """A copy of the post specs in which tasks with leftover work wait for it first."""
    patched = list(specs)
    for node, futures in work.items():
        if patched[node] is not None:
            patched[node] = AfterWorkSpec(patched[node], futures, owner, node)
    return patched
